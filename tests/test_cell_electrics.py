"""Cell electrics follow the device and the design: a device preset's own write energy and resistance range, the
half-select behaviour of the write scheme, a stated buffer energy, deterministic pulse trains (each failed on the
old code, which costed every device with hw.array's NeuroSim V2 RRAM cells)."""

import numpy as np
import pytest

from archsim.algorithms.recorder import StepRecorder
from archsim.analog import AnalogArray
from archsim.config import load_hw_config
from archsim.engine import Engine
from archsim.hw import Architecture
from archsim.mapping import Mapping
from archsim.ops import ArrayId, BufferAccess, Mvm, PulseUpdate

BLOCK = ArrayId(0, "W", 0, 0)


def charged(sets, ops):
    hw = load_hw_config("default", sets)
    arch = Architecture(hw)
    mapping = Mapping.build(arch, {(0, "W"): (hw.tile.cols, hw.tile.rows)})
    return hw, Engine(arch, mapping, cache=False).run_step(ops).energy_pj_by_component


def test_the_ecram_preset_writes_at_its_own_energy():
    # one coincidence on one row and one column pulse: no half-selected cell beyond the rows x cols lines
    update = PulseUpdate(BLOCK, samples=1, bl=1, row_pulses=1, col_pulses=1, device_pulses=1)
    hw, rram = charged([], [update])
    _, ecram = charged(["device.preset=ecram"], [update])
    g_mean = 0.5 * (1 + 1 / hw.array.on_off_ratio) / hw.array.r_on
    rram_pulse = hw.array.write_voltage**2 * g_mean * hw.array.write_pulse_width          # J
    half_selected = hw.tile.cols + hw.tile.rows - 2
    ratio = hw.array.half_select_energy_ratio
    assert rram["array_write"] == pytest.approx((1 + ratio * half_selected) * rram_pulse * 1e12, rel=1e-4)
    # Tang et al. IEDM 2018: ~1 fJ per pulse; the ratio to the RRAM cost is the closed form
    assert ecram["array_write"] / rram["array_write"] == pytest.approx(1e-15 / rram_pulse, rel=1e-3)


def test_a_device_resistance_range_sets_the_read_energy():
    read = Mvm(BLOCK, "forward", 1, 64, 64, 8, 8, drive_fraction=1.0)
    hw, base = charged([], [read])
    _, high = charged(["device.r_on=1MOhm"], [read])
    assert high["array_read"] == pytest.approx(base["array_read"] * hw.array.r_on / 1e6, rel=1e-3)


def test_no_half_select_current_charges_only_the_coincidences():
    update = PulseUpdate(BLOCK, samples=1, bl=4, row_pulses=40, col_pulses=40, device_pulses=10)
    _, half = charged([], [update])
    _, none = charged(["array.half_select_energy_ratio=0"], [update])
    _, single = charged(["array.half_select_energy_ratio=0"], [PulseUpdate(BLOCK, 1, 1, 1, 1, 1)])
    assert none["array_write"] == pytest.approx(10 * single["array_write"], abs=10 * 2**-12)  # ledger quanta
    assert half["array_write"] > 10 * none["array_write"]


def test_a_stated_buffer_energy_replaces_the_sram_scaling():
    hw, stated = charged(["buffer.energy_per_bit=0.5pJ"], [BufferAccess("read", 4096)])
    static = hw.leakage.static_fraction
    assert stated["buffer"] == pytest.approx(4096 * 0.5 * (1 - static), rel=1e-6)


@pytest.mark.parametrize("mode, translators", [("stochastic", True), ("mean_count", False)])
def test_only_stochastic_pulse_trains_charge_random_numbers(mode, translators):
    hw = load_hw_config("default", [f"update.mode={mode}", "tile.rows=32", "tile.cols=32"])
    arch = Architecture(hw)
    mapping = Mapping.build(arch, {(0, "W"): (32, 32)})
    array = AnalogArray(32, 32, hw, seed=0)
    rng = np.random.default_rng(0)
    stats = array.update(rng.uniform(-1, 1, (2, 32)), rng.uniform(-1, 1, (2, 32)), lr=0.05)
    rec = StepRecorder(hw.dac.bits, hw.adc.bits)
    rec.updates(0, "W", stats, [])
    energy = Engine(arch, mapping, cache=False).run_step(rec.ops).energy_pj_by_component
    expected = 2 * 32 * stats.bl * arch.digital.translator_slot_pj if translators else 0.0
    assert energy["digital"] == pytest.approx(expected, abs=2**-12)
