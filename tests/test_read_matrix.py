"""The read matrices behind the analog reads: the conversion that sums the read load's lines in its pass, one-hot
reads that convert only the lines they drive, and the forward product's route; each must give the same bits as
the plain computation it replaces."""

import numpy as np
import pytest

import archsim.analog.array as array_module
from archsim.analog import AnalogArray
from archsim.analog.io import _SWAPPED_PRODUCT_MIN_CELLS, IOModel, _product, analog_read
from archsim.analog.kernels import (
    _convert_lines,
    _convert_summing_inputs,
    _gather_input_lines,
    _input_line_sums,
    _picked_input_sums,
)
from archsim.config import load_hw_config

N = 32
QUIET = ["io.out_noise=0.0", "io.bound_management=none", f"tile.rows={N}", f"tile.cols={N}", "tile.adcs=8"]


def _bounds(shape, rng):
    low = rng.uniform(-1.2, -0.8, shape).astype(np.float32)
    inverse_range = (1.0 / rng.uniform(1.6, 2.4, shape)).astype(np.float32)
    return low, inverse_range


OFF = 0.05  # G_off / G_on


def _line(positions, cells):
    """A line's sum of G / G_on: its cells' positions added in order, then the line's conductance."""
    return OFF * cells + (1.0 - OFF) * float(sum(positions.tolist()))


def _positions(weights32, low, inverse_range):
    """Each cell's place in its range, clipped to [0, 1], computed in float32 as the kernels do, as float64."""
    return np.clip((weights32 - low) * inverse_range, np.float32(0), np.float32(1)).astype(np.float64)


@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (64, 5), (130, 257)])
def test_the_summing_conversion_gives_astypes_matrix_and_the_sequential_input_sums(shape):
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    weights = rng.uniform(-1.5, 1.5, shape)  # some beyond the bounds: clipped positions
    low, inverse_range = _bounds(shape, rng)
    matrix, sums = np.full(shape, np.nan, dtype=np.float32), np.full(shape[1], np.nan)
    _convert_summing_inputs(weights, low, inverse_range, OFF, matrix, sums)
    np.testing.assert_array_equal(matrix, weights.astype(np.float32))
    position = _positions(weights.astype(np.float32), low, inverse_range)
    # each input line summed over its outputs in order: exactly the sequential float64 sum
    np.testing.assert_array_equal(sums, [_line(position[:, j], shape[0]) for j in range(shape[1])])
    everything = np.empty(shape[1])
    _input_line_sums(matrix, low, inverse_range, np.empty(0, dtype=np.int64), OFF, everything)
    np.testing.assert_array_equal(sums, everything)


@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (130, 257)])
def test_picked_input_sums_equal_those_lines_in_the_whole_matrix(shape):
    rng = np.random.default_rng(shape[1])
    weights = rng.uniform(-1.5, 1.5, shape).astype(np.float32)
    low, inverse_range = _bounds(shape, rng)
    lines = np.unique(rng.integers(0, shape[1], 5)).astype(np.int64)
    whole = np.empty(shape[1])
    _input_line_sums(weights, low, inverse_range, np.empty(0, dtype=np.int64), OFF, whole)
    picked = np.full(lines.size, np.nan)
    _picked_input_sums(np.ascontiguousarray(weights[:, lines].T), low, inverse_range, lines, OFF, picked)
    np.testing.assert_array_equal(picked, whole[lines])
    position = _positions(weights, low, inverse_range)
    np.testing.assert_array_equal(picked, [_line(position[:, j], shape[0]) for j in lines])
    # gathered from the float64 weights or from their float32 matrix, with the same sums in the same pass
    for source in (weights.astype(np.float64), weights):
        columns, gathered = np.full((lines.size, shape[0]), np.nan, dtype=np.float32), np.full(lines.size, np.nan)
        _gather_input_lines(source, lines, columns, low, inverse_range, OFF, gathered, True)
        np.testing.assert_array_equal(columns, weights[:, lines].T)
        np.testing.assert_array_equal(gathered, picked)
        untouched = np.full(lines.size, -1.0)
        _gather_input_lines(source, lines, columns, low, inverse_range, OFF, untouched, False)
        assert (untouched == -1.0).all()


def test_converting_written_lines_again_gives_a_full_conversions_matrix():
    rng = np.random.default_rng(10)
    before, after = rng.uniform(-1, 1, (2, 40, 70))
    lines = np.array([0, 3, 4, 69], dtype=np.int64)
    after[:, np.setdiff1d(np.arange(70), lines)] = before[:, np.setdiff1d(np.arange(70), lines)]
    matrix = before.astype(np.float32)
    _convert_lines(after, lines, matrix)
    np.testing.assert_array_equal(matrix, after.astype(np.float32))


def test_a_transposed_matrix_product_gives_the_plain_product():
    # the forward read's product by a transposed view takes OpenBLAS's other route; it gives x @ matrix for the
    # shapes and batches reads use (bit-serial reads stack passes x vectors). On the development machine the bits
    # are the same (the same kernel on the same operands, the roles of the two swapped); BLAS builds for other
    # processors may order a product's sums differently by route, so this checks float32 agreement only
    rng = np.random.default_rng(11)
    shapes = [(256, 256, 10), (128, 256, 10), (256, 128, 80), (200, 300, 3), (512, 512, 64), (128, 128, 2)]
    shapes += [(int(rng.integers(100, 600)), int(rng.integers(100, 600)), int(rng.integers(2, 130))) for _ in range(30)]
    routed = 0
    for outputs, inputs, batch in shapes:
        weights = rng.uniform(-1, 1, (outputs, inputs)).astype(np.float32)
        x = rng.uniform(-1, 1, (batch, inputs)).astype(np.float32)
        y = _product(x, weights.T)
        assert y.flags.c_contiguous
        np.testing.assert_allclose(y, x @ weights.T, rtol=1e-5, atol=1e-5 * np.sqrt(inputs))
        routed += weights.size >= _SWAPPED_PRODUCT_MIN_CELLS
    assert routed >= 30  # most of these took the other route


def _reference_one_hot(array, ks, transpose, io):
    """The one-hot reads the old way: the whole block's float32 matrix, one-hot vectors over all its lines."""
    rng = np.random.default_rng(np.random.SeedSequence([array.seed, 1]))
    values = array.get_weights().astype(np.float32)
    width = array.out_size if transpose else array.in_size
    one_hot = np.zeros((len(ks), width))
    one_hot[np.arange(len(ks)), ks] = 1.0
    drive = np.zeros(width)
    out, retries = analog_read(values if transpose else values.T, one_hot, io, rng, drive)
    return out, retries, drive


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize(
    "settings",
    [
        ["io.out_noise=0.06", "io.w_noise=0.02"],
        ["io.out_noise=0.0", "adc.out_bound=0.3"],  # bound-management re-reads
        ["dac.mode=bit_serial", "dac.bits=1", "io.serial_input_bits=4"],
    ],
)
def test_one_hot_reads_of_the_driven_lines_only_give_the_whole_blocks_bits(transpose, settings):
    hw = load_hw_config("default", [f"tile.rows={N}", f"tile.cols={N}", "tile.adcs=8", *settings])
    rng = np.random.default_rng(12)
    array = AnalogArray(N, N, hw, seed=12)
    array.set_weights(rng.uniform(-0.6, 0.6, (N, N)))
    ks = [30, 5, 9, 5]  # out of order, a line read twice
    values, stats = (array.read_rows if transpose else array.read_columns)(ks)
    expected, retries, drive = _reference_one_hot(array, ks, transpose, IOModel.from_hw(hw))
    np.testing.assert_array_equal(values, expected)
    assert stats.retries == int(retries.sum())
    if "adc.out_bound=0.3" in settings:
        assert stats.retries > 0
    w, (lo, hi) = array.get_weights().astype(np.float32).astype(np.float64), array.get_bounds()
    g_off = 1 / hw.array.on_off_ratio
    position = np.clip((w - lo) / (hi - lo), 0, 1)
    line_loads = (g_off + (1 - g_off) * position).sum(axis=1 if transpose else 0)
    io = IOModel.from_hw(hw)
    reference = drive @ line_loads / ((len(ks) + retries.sum()) * io.passes * N)
    assert stats.blocks[0].drive_fraction == pytest.approx(reference, rel=1e-6)


def _spy(monkeypatch, names):
    calls = {name: 0 for name in names}
    for name in names:
        original = getattr(array_module, name)

        def counted(*args, _name=name, _original=original):
            calls[_name] += 1
            return _original(*args)

        monkeypatch.setattr(array_module, name, counted)
    return calls


SUMMING = ["_convert_summing_inputs", "_input_line_sums", "_output_line_sums", "_picked_input_sums"]


def _gathers(monkeypatch):
    """Spy on the one-hot reads' gathers: whether each also summed."""
    summed = []
    original = array_module._gather_input_lines

    def gather(weights, lines, columns, low, inverse_range, off, sums, summing):
        summed.append(summing)
        return original(weights, lines, columns, low, inverse_range, off, sums, summing)

    monkeypatch.setattr(array_module, "_gather_input_lines", gather)
    return summed


def test_a_functional_only_run_never_sums_lines(monkeypatch):
    hw = load_hw_config("default", QUIET)
    rng = np.random.default_rng(13)
    array = AnalogArray(N, N, hw, seed=13)
    calls = _spy(monkeypatch, SUMMING)
    gathers = _gathers(monkeypatch)
    for _ in range(3):  # reads in both directions and one-hot reads, their loads never asked for
        array.forward(rng.uniform(-1, 1, (4, N)))
        array.backward(rng.uniform(-1, 1, (4, N)))
        array.read_columns([1, 2])
        array.update(rng.uniform(-1, 1, (4, N)), rng.uniform(-1, 1, (4, N)), 0.1)
    assert calls == dict.fromkeys(SUMMING, 0)
    assert gathers == [False] * 3


def test_once_asked_a_blocks_line_sums_come_with_each_conversion_and_equal_a_fresh_reduction(monkeypatch):
    hw = load_hw_config("default", QUIET)
    rng = np.random.default_rng(14)
    array = AnalogArray(N, N, hw, seed=14)
    array.set_weights(rng.uniform(-0.5, 0.5, (N, N)))
    x, d = rng.uniform(-1, 1, (4, N)), rng.uniform(-1, 1, (4, N))
    assert array.forward(x)[1].blocks[0].drive_fraction > 0
    assert array.backward(d)[1].blocks[0].drive_fraction > 0
    array.update(rng.uniform(-1, 1, (4, N)), rng.uniform(-1, 1, (4, N)), 0.1)  # every input line written
    calls = _spy(monkeypatch, SUMMING)
    forward, backward = array.forward(x)[1].blocks[0], array.backward(d)[1].blocks[0]
    # both directions' sums were made as the matrix was built, in one summing conversion and one row reduction
    assert calls == {
        "_convert_summing_inputs": 1,
        "_input_line_sums": 0,
        "_output_line_sums": 1,
        "_picked_input_sums": 0,
    }
    matrix = array._read_matrix((0, 0))
    assert matrix.input_sums is not None and matrix.output_sums is not None
    loads = forward.drive_fraction, backward.drive_fraction
    assert calls["_input_line_sums"] == 0  # the loads used the kept sums
    fresh = AnalogArray(N, N, hw, seed=14)
    fresh.set_weights(array.get_weights())  # the same weights (no write noise in QUIET), nothing asked before
    fresh_forward, fresh_backward = fresh.forward(x)[1].blocks[0], fresh.backward(d)[1].blocks[0]
    np.testing.assert_array_equal(fresh._read_matrix((0, 0)).values, matrix.values)
    assert (fresh_forward.drive_fraction, fresh_backward.drive_fraction) == loads


def test_a_load_asked_after_a_write_sees_the_weights_its_read_saw():
    hw = load_hw_config("default", QUIET)
    rng = np.random.default_rng(15)
    arrays = [AnalogArray(N, N, hw, seed=15) for _ in range(2)]
    weights = rng.uniform(-0.5, 0.5, (N, N))
    x = rng.uniform(-1, 1, (4, N))
    write = rng.uniform(-1, 1, (4, N)), rng.uniform(-1, 1, (4, N))
    loads = []
    for late, array in enumerate(arrays):
        array.set_weights(weights)
        assert array.forward(x)[1].blocks[0].drive_fraction > 0  # asked once: later conversions sum as they go
        array.update(*write, 0.1)
        block = array.forward(x)[1].blocks[0]
        if late:
            array.update(*write, 0.1)  # the weights change again before this read's load is asked
            array.forward(x)
        loads.append(block.drive_fraction)
    assert loads[0] == loads[1]


def test_once_asked_one_hot_reads_sum_their_lines_as_they_gather_them(monkeypatch):
    hw = load_hw_config("default", QUIET)
    rng = np.random.default_rng(16)
    array = AnalogArray(N, N, hw, seed=16)
    array.set_weights(rng.uniform(-0.5, 0.5, (N, N)))
    write = rng.uniform(-1, 1, (4, N)), rng.uniform(-1, 1, (4, N))
    assert array.read_columns([3, 4])[1].blocks[0].drive_fraction > 0  # asked: summed lazily this once
    array.update(*write, 0.1)
    calls, gathers = _spy(monkeypatch, SUMMING), _gathers(monkeypatch)
    block = array.read_columns([7, 8, 20])[1].blocks[0]
    assert gathers == [True]
    load = block.drive_fraction
    assert calls == dict.fromkeys(SUMMING, 0)  # the load used the gathered sums
    fresh = AnalogArray(N, N, hw, seed=16)
    fresh.set_weights(array.get_weights())
    assert fresh.read_columns([7, 8, 20])[1].blocks[0].drive_fraction == load


def test_once_loads_are_no_longer_asked_for_conversions_stop_summing(monkeypatch):
    hw = load_hw_config("default", QUIET)
    rng = np.random.default_rng(17)
    array = AnalogArray(N, N, hw, seed=17)
    x = rng.uniform(-1, 1, (4, N))

    def write():
        array.update(rng.uniform(-1, 1, (4, N)), rng.uniform(-1, 1, (4, N)), 0.1)

    assert array.forward(x)[1].blocks[0].drive_fraction > 0  # costing: asked for
    write()
    array.forward(x)  # summed as it was built, but this read's load is never asked for
    assert array._read_matrix((0, 0)).input_sums is not None
    write()
    calls = _spy(monkeypatch, SUMMING)
    block = array.forward(x)[1].blocks[0]
    assert calls == dict.fromkeys(SUMMING, 0) and array._read_matrix((0, 0)).input_sums is None
    assert block.drive_fraction > 0  # asked again: summed lazily, and again with the next conversion
    write()
    array.forward(x)
    assert calls["_convert_summing_inputs"] == 1


def test_a_matrix_is_converted_in_place_unless_an_earlier_reads_load_may_still_look():
    import weakref

    hw = load_hw_config("default", QUIET)
    rng = np.random.default_rng(20)
    array, twin = AnalogArray(N, N, hw, seed=20), AnalogArray(N, N, hw, seed=20)
    x = rng.uniform(-1, 1, (3, N))
    counts = np.zeros((N, N), dtype=np.int64)
    counts[:, [4, 5]] = rng.integers(-3, 4, (N, 2))
    for each in (array, twin):
        each.set_weights(rng.uniform(-0.5, 0.5, (N, N)) if each is array else array.get_weights())
        each.forward(x)
    # nothing holds the matrix: the written lines are converted in place
    before = weakref.ref(array._read_matrix((0, 0)).values)
    array.apply_pulses(counts)
    array.forward(x)
    assert array._read_matrix((0, 0)).values is before()
    np.testing.assert_array_equal(before(), array.get_weights().astype(np.float32))
    # a read's load not yet asked for holds it: the next matrix is a copy, and the load sees the read's weights
    block = array.forward(x)[1].blocks[0]
    held = weakref.ref(array._read_matrix((0, 0)).values)
    array.apply_pulses(counts)
    array.forward(x)
    assert array._read_matrix((0, 0)).values is not held()
    twin.apply_pulses(counts)  # the same pulses: the same keys and sample numbers
    assert block.drive_fraction == twin.forward(x)[1].blocks[0].drive_fraction
    # a write of every line: converted whole, again into the same array when nothing holds it
    before = weakref.ref(array._read_matrix((0, 0)).values)
    array.update(rng.uniform(-1, 1, (4, N)), rng.uniform(-1, 1, (4, N)), 0.1)
    array.forward(x)
    assert array._read_matrix((0, 0)).values is before()
    np.testing.assert_array_equal(before(), array.get_weights().astype(np.float32))
