"""A convolution's input line buffer sits in its own tiles (hw.line_buffer): window reads are charged there at the
SRAM energy of its size, and only the share of reads beyond its capacity (its row blocks' line buffers) comes from
the global buffer."""

import math

import pytest

from archsim.config import load_hw_config
from archsim.engine import Engine
from archsim.hw import Architecture
from archsim.mapping import Mapping
from archsim.ops import BufferAccess


def _engine(**sets):
    hw = load_hw_config("default")
    for key, value in sets.items():
        section, field = key.split("__")
        setattr(getattr(hw, section), field, value)
    arch = Architecture(hw)
    # layer 0: 3 row blocks (600 inputs on 256-row tiles), one column block
    mapping = Mapping.build(arch, {(0, "W"): (100, 600)})
    return arch, Engine(arch, mapping, cache=False)


def test_line_buffer_energy_per_bit_follows_the_sram_model():
    arch, _ = _engine()
    hw = arch.hw
    line = arch.components["line_buffer"]
    expected = (
        hw.buffer.reference_access_energy * 1e12 / 64 * math.sqrt(hw.line_buffer.size_bytes(hw.tile.rows) / 8192)
        * hw.tech_node_nm / hw.digital.reference_node_nm
    )
    assert line.energy_per_bit_pj["read"] == pytest.approx(expected)
    # smaller than the global buffer's: it is a smaller SRAM
    assert line.energy_per_bit_pj["read"] < arch.buffer.energy_per_bit_pj["read"]


def test_window_reads_that_fit_are_charged_to_the_line_buffer_only():
    arch, engine = _engine()
    bits = 1_000_000
    footprint = 3 * arch.hw.line_buffer.size_bytes(arch.hw.tile.rows) * 8  # fits the 3 row blocks' line buffers exactly
    cost = engine.run_step([BufferAccess("read", bits, "forward", (), layer=0, footprint=footprint)])
    line = arch.components["line_buffer"]
    assert cost.energy_pj_by_component["line_buffer"] == pytest.approx(bits * line.energy_per_bit_pj["read"], rel=1e-6)
    assert cost.energy_pj_by_component["buffer"] == 0.0
    assert cost.energy_pj_by_component["dram"] == 0.0
    # the 3 row blocks' line buffers read in parallel
    assert cost.latency_cycles >= math.ceil(bits / (3 * arch.hw.line_buffer.width))


def test_reads_beyond_the_capacity_come_from_the_global_buffer():
    arch, engine = _engine()
    bits = 1_000_000
    capacity = 3 * arch.hw.line_buffer.size_bytes(arch.hw.tile.rows) * 8
    cost = engine.run_step([BufferAccess("read", bits, "forward", (), layer=0, footprint=4 * capacity)])
    line = arch.components["line_buffer"]
    local = bits // 4
    assert cost.energy_pj_by_component["line_buffer"] == pytest.approx(local * line.energy_per_bit_pj["read"], rel=1e-6)
    assert cost.energy_pj_by_component["buffer"] == pytest.approx(
        (bits - local) * arch.buffer.energy_per_bit_pj["read"], rel=1e-6
    )


def test_line_buffer_traffic_takes_no_global_capacity():
    """Window reads no longer fill the global buffer and spill to DRAM (the old accounting did)."""
    arch, engine = _engine()
    huge = 64 * arch.hw.buffer.size * 8
    ops = [
        BufferAccess("write", huge, "forward", (), layer=0, footprint=1000),
        BufferAccess("read", huge, "forward", (0,), layer=0, footprint=1000),
    ]
    cost = engine.run_step(ops)
    assert cost.energy_pj_by_component["dram"] == 0.0
    assert cost.energy_pj_by_component["line_buffer"] > 0.0


def test_line_buffer_grows_with_the_tile_rows():
    """A crossbar row is one (channel, tap) of a window: a tile of twice the rows holds twice the line buffer."""
    small = Architecture(load_hw_config("default", ["hw.tile.rows=128"])).components["line_buffer"]
    large = Architecture(load_hw_config("default", ["hw.tile.rows=512"])).components["line_buffer"]
    assert large.capacity_bits == 4 * small.capacity_bits == 4 * 128 * 8 * 16
    assert large.energy_per_bit_pj["read"] == pytest.approx(2 * small.energy_per_bit_pj["read"])


def test_each_powered_tile_leaks_its_line_buffer():
    arch, _ = _engine()
    counts = arch.leakage_counts({0, 1, 2})
    assert counts["line_buffer"] == 3
    line = arch.components["line_buffer"]
    hw = arch.hw
    assert line.static_power_w == pytest.approx(
        hw.leakage.static_fraction * line.energy_per_bit_pj["read"] * 1e-12 * hw.line_buffer.width * hw.clock
    )
