"""Static power from each component's own model, gating, and an order-independent phase split."""

import pytest

from archsim.config import load_hw_config
from archsim.engine import Engine
from archsim.engine.engine import _leak_cycles
from archsim.hw import Architecture
from archsim.mapping import Mapping
from archsim.ops import ArrayId, Mvm


def test_adc_static_power_follows_its_energy_and_sample_rate():
    """A 64-column tile sharing 4 ADCs at 12.5 MS/s leaks far less than one at 1.2 GS/s (old code: the same
    fixed 0.2 mW per ADC whatever the rate)."""
    slow = Architecture(load_hw_config("default", ["adc.sample_rate=50MHz"]))
    fast = Architecture(load_hw_config("default", ["adc.sample_rate=1.2GHz"]))
    for arch in (slow, fast):
        full = arch.adc._energy[arch.adc.bits][0] * arch.hw.adc.sample_rate
        assert arch.leakage.powers_w["adc"] == pytest.approx(arch.hw.leakage.static_fraction * full)
    assert slow.leakage.powers_w["adc"] < fast.leakage.powers_w["adc"] / 5


def test_an_adc_converting_back_to_back_costs_exactly_its_survey_power():
    hw = load_hw_config("default", ["tile.adcs=1", "tile.cols=64", "tile.rows=64", "adc.sample_rate=640MHz",
                                    "array.read_time=1ns"])
    arch = Architecture(hw)
    mapping = Mapping.build(arch, {(0, "W"): (64, 64)})
    cost = Engine(arch, mapping, cache=False).run_step([Mvm(ArrayId(0, "W", 0, 0), "forward", 50, 64, 64, 8, 8)])
    seconds = cost.latency_ns * 1e-9
    dynamic_w = cost.energy_pj_by_component["adc"] * 1e-12 / seconds
    full_w = arch.adc._energy[8][0] * hw.adc.sample_rate
    # the one ADC converts (almost) all the time: dynamic + its static share = the survey's power
    assert dynamic_w + arch.leakage.powers_w["adc"] == pytest.approx(full_w, rel=0.05)


def test_overlapping_phases_share_their_cycles_equally_whatever_their_order():
    spans = (("forward", 0, 10), ("transfer", 5, 20))
    shares = dict(_leak_cycles(20, spans))
    assert shares == {"forward": 5 + 2.5, "transfer": 2.5 + 10}
    assert dict(_leak_cycles(20, tuple(reversed(spans)))) == shares


def test_gated_routers_are_those_on_used_routes():
    arch = Architecture(load_hw_config("default", ["tile.count=64"]))
    everything = arch.leakage_counts()
    gated = arch.leakage_counts({arch.hub})  # one tile on the hub's router (concentration 1)
    assert gated["router_port"] < everything["router_port"] / 8
