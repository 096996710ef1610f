"""ADC cost across resolution, data-dependent read energy, DRAM and buffer capacity (each failed on the old code)."""

import pytest

from archsim.config import load_hw_config, load_run_config
from archsim.engine import Engine
from archsim.hw import Architecture
from archsim.mapping import Mapping
from archsim.nn.trainer import Trainer
from archsim.ops import ArrayId, BufferAccess, Move, Mvm


def build(*sets, arrays=None):
    hw = load_hw_config("default", list(sets))
    arch = Architecture(hw)
    return hw, arch, Mapping.build(arch, arrays or {(0, "W"): (hw.tile.cols, hw.tile.rows)})


def test_adc_energy_stops_halving_below_the_floor():
    _, arch, _ = build("adc.energy_floor_bits=4")
    energies = {b: arch.adc.energy_per_conversion_pj(b) for b in (2, 3, 4, 5)}
    assert energies[2] == energies[3] == energies[4]
    assert energies[5] > energies[4]


@pytest.mark.parametrize("architecture, expected", [("sar", 4 / 8), ("ramp", 2.0 ** -4), ("flash", 1.0)])
def test_conversion_time_at_fewer_bits_follows_the_architecture(architecture, expected):
    _, arch, _ = build(f"adc.architecture={architecture}", "adc.sample_rate=50MHz", "tile.adcs=1", "tile.cols=16",
                       "tile.rows=16", "array.read_time=1ns", "adc.max_conversion_cycles=64")
    full = arch.mvm_cycles(1, 16, 8) - arch.read_cycles
    low = arch.mvm_cycles(1, 16, 4) - arch.read_cycles
    assert low == pytest.approx(full * expected, abs=1)


def test_dac_energy_scales_with_the_read_time():
    _, short, _ = build("array.read_time=10ns")
    _, long, _ = build("array.read_time=100ns")
    assert long.dac.drive_energy_pj(1) == pytest.approx(10 * short.dac.drive_energy_pj(1))


def test_array_read_energy_follows_the_drive():
    hw, arch, mapping = build()
    block = ArrayId(0, "W", 0, 0)
    engine = Engine(arch, mapping, cache=False)
    full = engine.run_step([Mvm(block, "forward", 1, 256, 256, 8, 8)])
    quarter = engine.run_step([Mvm(block, "forward", 1, 256, 256, 8, 8, drive_fraction=0.25)])
    cell_on = hw.array.read_voltage ** 2 / hw.array.r_on * hw.array.read_time * 1e12     # V^2 G_on t, pJ
    g_mean = 0.5 * (1 + 1 / hw.array.on_off_ratio) / hw.array.r_on
    # a load of 0.25: a quarter of full drive on cells at G_on; no load stated: full drive at G_mean
    assert quarter.energy_pj_by_component["array_read"] == pytest.approx(0.25 * 256 * 256 * cell_on, rel=1e-6)
    assert full.energy_pj_by_component["array_read"] == pytest.approx(
        256 * 256 * hw.array.read_voltage ** 2 * g_mean * hw.array.read_time * 1e12, rel=1e-6)
    assert quarter.latency_cycles == full.latency_cycles


def test_inputs_from_dram_are_charged_and_limited_by_its_bandwidth():
    hw, arch, mapping = build("dram.bandwidth=1.0e+9")   # 1 bit per cycle at 1 GHz
    cost = Engine(arch, mapping, cache=False).run_step([Move("io", "digital", 10000)])
    assert cost.energy_pj_by_component["dram"] == pytest.approx(10000 * hw.dram.energy_per_bit * 1e12, rel=1e-6)
    assert cost.latency_cycles >= 10000


def test_buffer_writes_beyond_capacity_spill_to_dram():
    hw, arch, mapping = build("buffer.size=1024")           # 8192 bits
    engine = Engine(arch, mapping, cache=False)
    fits = engine.run_step([BufferAccess("write", 8192), BufferAccess("read", 8192, deps=(0,))])
    spills = engine.run_step([BufferAccess("write", 16384), BufferAccess("read", 16384, deps=(0,))])
    assert fits.energy_pj_by_component["dram"] == 0
    # half of what was written spilled: half of it goes out and comes back from DRAM
    assert spills.energy_pj_by_component["dram"] == pytest.approx(2 * 8192 * hw.dram.energy_per_bit * 1e12, rel=1e-6)
    assert spills.energy_pj_by_component["buffer"] == pytest.approx(fits.energy_pj_by_component["buffer"], rel=1e-6)


def test_training_keeps_activations_and_errors_in_the_buffer_and_reads_labels_from_dram():
    config = load_run_config("lsq_paper", None, ["dataset.lsq_samples=10", "training.epochs=1"])
    trainer = Trainer(config)
    seen = []
    trainer.run_epoch(0, lambda ops, samples, loss: seen.append(ops))
    ops = seen[0]
    bits = trainer.digital_bits
    writes = sum(op.bits for op in ops if isinstance(op, BufferAccess) and op.kind == "write")
    reads = sum(op.bits for op in ops if isinstance(op, BufferAccess) and op.kind == "read")
    assert writes == reads == (40 + 100) * bits      # x (40 inputs) and d (100 outputs) of the one sample
    from_dram = [op for op in ops if isinstance(op, Move) and op.src == "io"]
    assert sum(op.bits for op in from_dram) == 40 * trainer.in_bits + 100 * bits


def test_state_kept_beyond_capacity_is_read_from_dram_in_the_share_that_spilled():
    """TTv2's H of a 512x512 array in fp32 (1 MiB) in a 256 KiB buffer: three quarters of its reads go to DRAM."""
    hw, arch, mapping = build("buffer.size=262144")
    engine = Engine(arch, mapping, cache=False)
    h_bits = 512 * 512 * 32
    cost = engine.run_step([BufferAccess("keep", h_bits, "transfer"), BufferAccess("read", 512 * 32, "transfer")])
    assert cost.energy_pj_by_component["dram"] == pytest.approx(0.75 * 512 * 32 * hw.dram.energy_per_bit * 1e12,
                                                                rel=1e-3)


def test_banked_buffer_accesses_cost_the_bank_size():
    _, one, _ = build("buffer.banks=1")
    _, four, _ = build("buffer.banks=4")
    assert four.buffer.energy_per_bit_pj["read"] == pytest.approx(one.buffer.energy_per_bit_pj["read"] / 2)


def test_bit_serial_passes_are_shift_added_per_output():
    hw, arch, mapping = build("dac.mode=bit_serial")
    block = ArrayId(0, "W", 0, 0)
    cost = Engine(arch, mapping, cache=False).run_step([Mvm(block, "forward", 2, 256, 256, 8, 8)])
    assert cost.energy_pj_by_component["digital"] == pytest.approx(2 * 7 * 256 * arch.digital.shift_add_pj, rel=1e-6)
