"""The array read energy follows the data: the lines a read drives and the conductances it reads (each test of the
engine's charge failed on the old code, which charged every read at full drive on cells at the mean conductance)."""

import numpy as np
import pytest

from archsim.algorithms.recorder import StepRecorder
from archsim.analog import AnalogArray
from archsim.analog.io import IOModel, analog_read
from archsim.config import load_hw_config
from archsim.engine import Engine
from archsim.hw import Architecture
from archsim.mapping import Mapping

N = 32
QUIET = ["io.out_noise=0.0", "io.bound_management=none", f"tile.rows={N}", f"tile.cols={N}", "tile.adcs=8"]


def read_energy(hw, array, x, direction="forward"):
    """array_read energy (pJ) the engine charges for one read of ``x`` on ``array``."""
    arch = Architecture(hw)
    mapping = Mapping.build(arch, {(0, "W"): (array.out_size, array.in_size)})
    rec = StepRecorder(hw.read_input_bits(), hw.adc.bits)
    _, stats = array.forward(x) if direction == "forward" else array.backward(x)
    rec.reads(0, "W", stats, direction, direction, [])
    return Engine(arch, mapping, cache=False).run_step(rec.ops).energy_pj_by_component["array_read"], stats


def cell_on_pj(hw):
    """V_read^2 G_on t_read (pJ)."""
    return hw.array.read_voltage**2 / hw.array.r_on * hw.array.read_time * 1e12


def test_a_read_of_zeros_costs_no_array_energy():
    hw = load_hw_config("default", QUIET)
    array = AnalogArray(N, N, hw, seed=1)
    energy, stats = read_energy(hw, array, np.zeros((3, N)))
    assert stats.blocks[0].drive_fraction == 0.0
    assert energy == 0.0


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_full_drive_on_cells_at_g_on_costs_the_closed_form(direction):
    hw = load_hw_config("default", QUIET)
    array = AnalogArray(N, N, hw, seed=2)
    array.set_weights(np.full((N, N), 1e3))  # clipped to every device's upper bound: G = G_on
    energy, stats = read_energy(hw, array, np.ones((2, N)), direction)
    assert stats.blocks[0].drive_fraction == pytest.approx(1.0)
    assert energy == pytest.approx(2 * N * N * cell_on_pj(hw), rel=1e-6)


def test_cells_at_g_off_cost_the_off_conductance():
    hw = load_hw_config("default", QUIET)
    array = AnalogArray(N, N, hw, seed=3)
    array.set_weights(np.full((N, N), -1e3))  # every device at its lower bound: G = G_off
    energy, _ = read_energy(hw, array, np.ones((1, N)))
    assert energy == pytest.approx(N * N * cell_on_pj(hw) / hw.array.on_off_ratio, abs=2**-12)  # one ledger quantum


def test_bit_serial_passes_drive_the_ones_of_each_level():
    # 4-bit two's complement: a full-scale input is level 7 = 0b0111, three of four passes drive the line
    hw = load_hw_config("default", QUIET + ["dac.mode=bit_serial", "dac.bits=1", "io.serial_input_bits=4"])
    array = AnalogArray(N, N, hw, seed=4)
    array.set_weights(np.full((N, N), 1e3))
    energy, stats = read_energy(hw, array, np.ones((1, N)))
    assert stats.blocks[0].drive_fraction == pytest.approx(3 / 4)
    assert energy == pytest.approx(4 * N * N * (3 / 4) * cell_on_pj(hw), rel=1e-6)


def test_the_load_matches_a_slow_reference():
    hw = load_hw_config("default", QUIET)
    rng = np.random.default_rng(5)
    array = AnalogArray(N, N, hw, seed=5)
    array.set_weights(rng.uniform(-0.5, 0.5, (N, N)))
    x = rng.uniform(-1, 1, (4, N))
    _, stats = array.forward(x)
    # slow and obvious: per vector, per line, per cell
    io = IOModel.from_hw(hw)
    w, (lo, hi) = array.get_weights(), array.get_bounds()
    g_off = 1 / hw.array.on_off_ratio
    total = 0.0
    for v in range(4):
        scale = np.abs(x[v]).max()
        for i in range(N):
            level = np.clip(np.rint(x[v, i] * io.inp_bound / scale / io.inp_step), -io.inp_levels, io.inp_levels)
            drive = abs(level) * io.inp_step / io.inp_bound
            for j in range(N):
                total += drive * (g_off + (1 - g_off) * (w[j, i] - lo[j, i]) / (hi[j, i] - lo[j, i]))
    # the load is computed from the float32 weights a read sees
    assert stats.blocks[0].drive_fraction == pytest.approx(total / (4 * N * N), rel=1e-5)


def test_read_drive_counts_bound_management_rereads_at_half_scale():
    hw = load_hw_config("default", ["io.out_noise=0.0"])
    io = IOModel.from_hw(hw)
    assert io.bound_management and io.max_retries >= 2 and io.out_bound == 12.0
    # a 4-input, 1-output block of weight 7: vector 0 drives one line (y = 7, in range) and is read once; vector 1
    # drives all four (y = 28, then 14 at half scale, both at the ADC bound, then 7 at a quarter): three reads
    x = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    drive = np.zeros(4)
    _, retries = analog_read(np.full((4, 1), 7.0, dtype=np.float32), x, io, np.random.default_rng(0), drive)
    assert list(retries) == [0, 2]
    assert drive == pytest.approx([1 + 1.75, 1.75, 1.75, 1.75], abs=2 * io.inp_step)


def _slow_line_load(w, lo, hi, g_off, line, transpose):
    """Sum of G / G_on along one driven line: an input line's cells (column ``line``) or an output line's (row)."""
    cells = w[line, :] if transpose else w[:, line]
    low, high = (lo[line, :], hi[line, :]) if transpose else (lo[:, line], hi[:, line])
    return sum(
        g_off + (1 - g_off) * min(max((c - a) / (b - a), 0.0), 1.0) for c, a, b in zip(cells, low, high, strict=True)
    )


@pytest.mark.parametrize("transpose", [False, True])
def test_one_hot_reads_load_only_their_line_and_agree_with_the_full_reduction(transpose):
    # one-hot transfer reads reduce just the driven line's cells; the load must equal the slow per-cell sum and,
    # bit for bit, what the whole-block reduction (kept after a full read of the same weights) gives
    hw = load_hw_config("default", QUIET)
    rng = np.random.default_rng(6)
    array = AnalogArray(N, N, hw, seed=6)
    array.set_weights(rng.uniform(-0.6, 0.6, (N, N)))
    lines = [3, 17]
    read = array.read_rows if transpose else array.read_columns
    _, sparse = read(lines)  # nothing kept yet: only the driven lines are reduced
    loads = [block.drive_fraction for block in sparse.blocks]
    array.forward(rng.uniform(-1, 1, (2, N)))  # a full read keeps the whole block's sums
    _, dense = (array.read_rows if transpose else array.read_columns)(lines)
    assert [block.drive_fraction for block in dense.blocks] == loads
    w, (lo, hi) = array.get_weights(), array.get_bounds()
    w32 = w.astype(np.float32).astype(np.float64)
    g_off = 1 / hw.array.on_off_ratio
    expected = sum(_slow_line_load(w32, lo, hi, g_off, line, transpose) for line in lines) / (len(lines) * N)
    assert loads[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (64, 5), (130, 257)])
def test_line_sum_kernels_match_numpy(shape):
    # each weight's place in its range, clipped to [0, 1] (weights beyond the bounds included), summed both ways and
    # turned into the line's sum of G / G_on; a chosen few input lines give the same bits as all of them
    from archsim.analog.kernels import _input_line_sums, _output_line_sums

    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    low = rng.uniform(-1.2, -0.8, shape).astype(np.float32)
    inverse_range = (1.0 / rng.uniform(1.6, 2.4, shape)).astype(np.float32)
    weights = rng.uniform(-1.5, 1.5, shape).astype(np.float32)
    position = np.clip((weights - low) * inverse_range, np.float32(0), np.float32(1)).astype(np.float64)
    off = 0.1  # G_off / G_on

    def conductance(position_sum, cells):
        return off * cells + (1.0 - off) * position_sum

    per_input, per_output = np.full(shape[1], np.nan), np.full(shape[0], np.nan)
    _input_line_sums(weights, low, inverse_range, np.empty(0, dtype=np.int64), off, per_input)
    _output_line_sums(weights, low, inverse_range, off, per_output)
    # float64 sums of float32 terms: only the order of additions differs, ~1e-16 per term
    np.testing.assert_allclose(per_input, conductance(position.sum(axis=0), shape[0]), rtol=1e-12)
    np.testing.assert_allclose(per_output, conductance(position.sum(axis=1), shape[1]), rtol=1e-12)
    # the per-input lines are summed in order: exactly the sequential sum
    sequential = [conductance(float(sum(position[:, j].tolist())), shape[0]) for j in range(shape[1])]
    np.testing.assert_array_equal(per_input, sequential)
    lines = np.arange(0, shape[1], 3, dtype=np.int64)
    some = np.full(shape[1], -1.0)
    _input_line_sums(weights, low, inverse_range, lines, off, some)
    np.testing.assert_array_equal(some[lines], per_input[lines])
    assert (np.delete(some, lines) == -1.0).all()  # the other lines are left alone
    gathered = np.empty(lines.size)
    rows = lines[lines < shape[0]]
    _output_line_sums(weights[rows], low[rows], inverse_range[rows], off, gathered[: rows.size])
    np.testing.assert_array_equal(gathered[: rows.size], per_output[rows])


@pytest.mark.parametrize("mode", ["stochastic", "mean_count", "expected", "pulses"])
def test_line_sums_carried_over_a_write_of_few_lines_equal_a_fresh_reduction(mode):
    # a write of two input lines: the next read's per-input sums are carried over with those lines summed again,
    # and must equal, bit for bit, what a fresh reduction of the new weights gives
    from archsim.analog import kernels

    hw = load_hw_config("default", QUIET + [f"update.mode={'stochastic' if mode == 'pulses' else mode}"])
    rng = np.random.default_rng(8)
    array = AnalogArray(N, N, hw, seed=8)
    array.set_weights(rng.uniform(-0.5, 0.5, (N, N)))
    x = rng.uniform(-1, 1, (3, N))
    assert array.forward(x)[1].blocks[0].drive_fraction > 0  # keeps the sums of these weights
    written = [2, N - 1]
    if mode == "pulses":
        counts = np.zeros((N, N), dtype=np.int64)
        counts[:, written] = rng.integers(-3, 4, (N, len(written)))
        array.apply_pulses(counts)
    else:
        x_write = np.zeros((2, N))
        x_write[:, written] = rng.uniform(-1, 1, (2, len(written)))
        array.update(x_write, rng.uniform(-1, 1, (2, N)), 0.1)
    calls = []
    original = kernels._input_line_sums

    def spy(weights, low, inverse_range, lines, off, sums):
        calls.append(lines.copy())
        return original(weights, low, inverse_range, lines, off, sums)

    import archsim.analog.array as array_module

    array_module._input_line_sums = spy
    try:
        load = array.forward(x)[1].blocks[0].drive_fraction
    finally:
        array_module._input_line_sums = original
    assert [list(c) for c in calls] == [written]  # only the written lines were summed again
    # the read matrix itself was rebuilt on those lines only, and is what a full conversion gives
    matrix = array._read_matrix((0, 0))
    np.testing.assert_array_equal(matrix.values, array._states[(0, 0)].apparent().astype(np.float32))
    fresh = AnalogArray(N, N, hw, seed=8)
    fresh.set_weights(array.get_weights())
    # the same weights read fresh (set_weights programs w; write noise is off in QUIET): the same load, bit for bit
    fresh_matrix = fresh._read_matrix((0, 0))
    np.testing.assert_array_equal(fresh_matrix.values, matrix.values)
    everywhere = np.ones(N)
    assert fresh._conductance_sums_of((0, 0), fresh_matrix, False, everywhere).tolist() == matrix.input_sums.tolist()
    assert np.isfinite(load)
