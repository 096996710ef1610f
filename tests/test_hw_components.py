"""Component cost models: the ADC survey fit, cell energies, digital units, buffer, NoC."""

import math

import pytest

from archsim.config import load_hw_config
from archsim.hw import Architecture, build_ert, survey_energy_per_conversion


ISAAC_PJ_PER_CONVERSION = 2e-3 / 1.2e9 * 1e12  # ISAAC (ISCA 2016): 2 mW per 8-bit 1.2 GS/s ADC = 1.67 pJ


def adc_energy(hw, bits, rate):
    return survey_energy_per_conversion(bits, rate, hw.adc.fom_walden, hw.adc.fom_schreier_db,
                                        hw.adc.fom_corner_frequency, hw.adc.fom_rolloff_db_per_decade)


def test_isaac_like_reproduces_isaac_adc_energy():
    entry = next(e for e in build_ert(load_hw_config("isaac_like")) if (e["component"], e["action"]) == ("adc", "convert"))
    assert entry["parameters"]["bits"] == 8 and entry["parameters"]["sample_rate_hz"] == 1.28e9
    assert entry["energy_pj"] == pytest.approx(ISAAC_PJ_PER_CONVERSION, rel=0.20)
    assert entry["latency_ns"] == pytest.approx(1e9 / 1.28e9)


def test_adc_energy_doubles_per_bit_at_low_resolution_and_quadruples_when_thermal_limited():
    hw = load_hw_config("default")
    rate = 10e6  # below the survey's speed corner
    energies = {b: adc_energy(hw, b, rate) for b in range(2, 17)}
    for b in range(2, 10):  # Walden (technology-limited) slope: x2 per bit
        assert energies[b + 1][0] / energies[b][0] == pytest.approx(2.0)
        assert energies[b][1] == "walden"
    for b in range(12, 16):  # Schreier (thermal-noise-limited) slope: x4 per bit (6.02 dB per bit)
        assert energies[b + 1][0] / energies[b][0] == pytest.approx(10 ** 0.602, rel=1e-9)
        assert energies[b][1] == "thermal"
    # never decreasing, and not a bare 2^bits: the high-resolution end grows far faster
    values = [energies[b][0] for b in range(2, 17)]
    assert all(b > a for a, b in zip(values, values[1:]))
    assert values[-1] / values[-2] > 3.9 and values[1] / values[0] < 2.1


def test_adc_energy_rises_above_the_speed_corner():
    hw = load_hw_config("default")
    slow, _ = adc_energy(hw, 8, 10e6)
    corner, _ = adc_energy(hw, 8, hw.adc.fom_corner_frequency)
    fast, _ = adc_energy(hw, 8, 10 * hw.adc.fom_corner_frequency)
    assert slow == pytest.approx(corner)  # flat below the corner
    assert fast == pytest.approx(10 * corner)  # Walden regime: proportional to the rate above it


def test_crossbar_cell_energies_are_v2_g_t():
    hw = load_hw_config("neurosim_v2_rram")
    arch = Architecture(hw)
    g_mean = 0.5 * (1 / 100e3 + 1 / 1e6)
    assert arch.crossbar.read_cell_pj == pytest.approx(0.5 ** 2 * g_mean * 10e-9 * 1e12)
    assert arch.crossbar.write_pulse_pj == pytest.approx(4.0 ** 2 * g_mean * 50e-9 * 1e12)
    # NeuroSim V2's 4 V / 50 ns pulse: between 0.8 pJ (off) and 8 pJ (on) per device pulse
    assert 0.8 < arch.crossbar.write_pulse_pj < 8.0


def test_digital_energies_are_horowitz_at_45nm():
    hw = load_hw_config("default", ["tech_node_nm=45"])
    arch = Architecture(hw)
    assert arch.digital.energy_pj["add"] == pytest.approx(0.9)
    assert arch.digital.energy_pj["mult"] == pytest.approx(3.7)
    assert arch.digital.energy_pj["activation"] == pytest.approx(2 * 0.9 + 3.7)
    int8 = Architecture(load_hw_config("default", ["tech_node_nm=45", "digital.precision=int8"]))
    assert int8.digital.energy_pj["add"] == pytest.approx(0.03)
    assert int8.digital.energy_pj["mult"] == pytest.approx(0.2)
    # lanes: 100 activations (a sigmoid: two adds and a multiply, 3 lane-cycles each) on 32 lanes: 300 / 32
    assert arch.digital.cycles("activation", 100) == 10


def test_sram_energy_scales_with_sqrt_of_size():
    small = Architecture(load_hw_config("default", ["tech_node_nm=45", "buffer.size=8192"]))
    big = Architecture(load_hw_config("default", ["tech_node_nm=45", "buffer.size=1048576"]))
    assert small.buffer.energy_per_bit_pj["read"] * 64 == pytest.approx(10.0)  # Horowitz: 8 KB, 64 bits, 10 pJ
    assert big.buffer.energy_per_bit_pj["read"] * 64 == pytest.approx(10.0 * math.sqrt(128))  # ~100 pJ at 1 MB


def test_noc_flit_energy_matches_isaac_router():
    """ISAAC Table I: a 42 mW router moving 8 ports x one 32-bit flit per 1.2 GHz cycle."""
    arch = Architecture(load_hw_config("isaac_like"))
    assert arch.noc.link_width == 32
    dynamic = arch.noc.flit_hop_pj * 8 * 1.2e9 * 1e-12
    static = arch.noc.port_static_power_w * 8
    assert dynamic + static == pytest.approx(42e-3, rel=0.01)   # full load: the router's whole power


def test_leakage_counts_gate_unused_tiles():
    arch = Architecture(load_hw_config("default"))
    everything = arch.leakage_counts()
    gated = arch.leakage_counts({0, 1, 2, 3})
    assert everything["tile"] == 64 and gated["tile"] == 4
    assert gated["adc"] == 4 * arch.hw.tile.adcs
    assert gated["router_port"] < everything["router_port"]
    assert arch.leakage.chip_power_w(gated) < arch.leakage.chip_power_w(everything)
