"""The read path: quantisation error against the uniform-quantiser law, noise, noise and bound management,
tiling with per-tile ADCs, one-hot reads, statistics and determinism."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from archsim.analog import AnalogArray
from archsim.analog.io import IOModel, analog_read, quantise
from archsim.config import load_hw_config

QUIET = ["hw.io.out_noise=0", "hw.io.w_noise=0", "hw.device.w_max=1", "hw.device.w_min=-1",
         "hw.device.w_max_dtod=0", "hw.device.w_min_dtod=0"]


def hw_with(*sets):
    return load_hw_config(None, list(QUIET) + list(sets))


def exact_dac(x, io):
    """What the DAC delivers (noise management off): x quantised to the input grid."""
    return quantise(x, io.inp_step, io.inp_levels)


@pytest.mark.parametrize("bits", [4, 6, 8])
def test_adc_error_variance_is_delta_squared_over_twelve(bits):
    # A uniform quantiser with step D adds an error uniform on [-D/2, D/2] (variance D^2/12) when the signal
    # spans many steps (here the output std 0.27 is >= 1.9 steps even at 4 bits; the Gaussian-input
    # correction to D^2/12 is ~exp(-2 pi^2 (0.27/D)^2) < 1e-31). The mean of n squared errors has standard
    # error D^2/sqrt(180 n) (Var e^2 = D^4/80 - D^4/144 = D^4/180). Tolerance: 5 standard errors.
    hw = hw_with(f"hw.adc.bits={bits}", "hw.adc.out_bound=1.0", "hw.dac.bits=16", "hw.io.noise_management=none",
                 "hw.io.bound_management=none", "hw.tile.rows=64", "hw.tile.cols=64")
    arr = AnalogArray(64, 64, hw, seed=1)
    rng = np.random.default_rng(2)
    arr.set_weights(rng.uniform(-0.1, 0.1, (64, 64)))
    x = rng.uniform(-1, 1, (400, 64))
    y, _ = arr.forward(x)
    exact = exact_dac(x, arr.io) @ arr.get_weights().T
    step = arr.io.out_step
    inside = np.abs(exact) < 1.0 - step  # clipped outputs are not quantisation error
    error = (y - exact)[inside]
    assert error.size > 20000
    assert abs((error ** 2).mean() - step ** 2 / 12) < 5 * step ** 2 / np.sqrt(180 * error.size)
    assert np.abs(error).max() <= step / 2 + 1e-6


def test_fewer_adc_bits_give_larger_error():
    errors = []
    for bits in (3, 5, 7, 9):
        hw = hw_with(f"hw.adc.bits={bits}", "hw.adc.out_bound=2.0", "hw.io.bound_management=none")
        arr = AnalogArray(32, 48, hw, seed=3)
        rng = np.random.default_rng(4)
        arr.set_weights(rng.uniform(-0.2, 0.2, (32, 48)))
        x = rng.uniform(-1, 1, (200, 48))
        y, _ = arr.forward(x)
        errors.append(np.mean((y - x @ arr.get_weights().T) ** 2))
    assert all(a > b for a, b in zip(errors, errors[1:]))


def test_output_noise_and_weight_noise_have_the_configured_variance():
    # High-resolution converters, so the error is the analog noise: out_noise^2 + w_noise^2 ||x_q||^2 per
    # output (times the noise-management scale, here 1 as max|x| = 1). Sample variance relative standard
    # error sqrt(2/n); tolerance 5 of them.
    hw = hw_with("hw.adc.bits=16", "hw.dac.bits=16", "hw.io.out_noise=0.06", "hw.io.w_noise=0.02",
                 "hw.io.bound_management=none")
    arr = AnalogArray(100, 50, hw, seed=5)
    rng = np.random.default_rng(6)
    arr.set_weights(rng.uniform(-0.1, 0.1, (100, 50)))
    x = np.sign(rng.uniform(-1, 1, (200, 50)))  # |x_j| = 1: max|x| = 1 and ||x||^2 = 50 exactly
    y, _ = arr.forward(x)
    error = (y - x @ arr.get_weights().T).ravel()
    variance = 0.06 ** 2 + 0.02 ** 2 * 50
    assert abs(error.var() / variance - 1) < 5 * np.sqrt(2 / error.size)
    assert abs(error.mean()) < 5 * np.sqrt(variance / error.size)


def test_noise_management_makes_reads_scale_invariant():
    hw = hw_with("hw.io.bound_management=none")
    arr = AnalogArray(20, 30, hw, seed=7)
    rng = np.random.default_rng(8)
    arr.set_weights(rng.uniform(-0.3, 0.3, (20, 30)))
    x = rng.uniform(-1, 1, (10, 30))
    y1, _ = arr.forward(x * 1e-3)
    y2, _ = arr.forward(x * 1e3)
    np.testing.assert_allclose(y1 * 1e6, y2, rtol=1e-9)


def test_dac_clips_without_noise_management():
    hw = hw_with("hw.io.noise_management=none", "hw.adc.bits=16", "hw.dac.bits=16", "hw.io.bound_management=none")
    arr = AnalogArray(1, 2, hw, seed=0)
    arr.set_weights(np.array([[0.5, 0.25]]))
    y, _ = arr.forward(np.array([[3.0, -0.5]]))
    # inputs clipped to +-inp_bound = 1: 0.5 * 1 - 0.25 * 0.5
    np.testing.assert_allclose(y, [[0.375]], atol=arr.io.out_step)


def test_bound_management_rereads_saturated_vectors():
    # Outputs up to 2 * 32 * 0.9 = 57.6 exceed out_bound = 12: halving the input up to 3 times (factor 8)
    # brings them within range, so with bound management the result is within one (scaled) ADC step.
    sets = ["hw.adc.bits=12", "hw.tile.rows=64"]
    x = np.ones((5, 64))
    x[1] *= -1
    x[2, ::2] = -1  # this one cancels: no saturation, no re-read
    w = np.full((3, 64), 0.9)
    managed = AnalogArray(3, 64, hw_with(*sets, "hw.io.max_bm_retries=3"), seed=1)
    managed.set_weights(w)
    y, stats = managed.forward(x)
    np.testing.assert_allclose(y, x @ w.T, atol=8 * managed.io.out_step + 64 * managed.io.inp_step)
    # 57.6 / 2 = 28.8 and / 4 = 14.4 still saturate, / 8 = 7.2 does not: 3 re-reads for 4 vectors
    assert stats.retries == 3 * 4
    assert stats.blocks[0].conversions == (5 + 12) * 3
    clipped = AnalogArray(3, 64, hw_with(*sets, "hw.io.bound_management=none"), seed=1)
    clipped.set_weights(w)
    y, stats = clipped.forward(x)
    assert stats.retries == 0
    np.testing.assert_allclose(np.abs(y[[0, 1, 3, 4]]), 12.0, rtol=1e-6)
    capped = AnalogArray(3, 64, hw_with(*sets, "hw.io.max_bm_retries=1"), seed=1)
    capped.set_weights(w)
    y, stats = capped.forward(x)
    assert stats.retries == 4  # one re-read each, still saturated: clipped at 2 * out_bound
    np.testing.assert_allclose(np.abs(y[[0, 1, 3, 4]]), 24.0, rtol=1e-6)


def test_each_tile_quantises_its_own_partial_sum():
    # 3 row blocks of 16 inputs: each block's output goes through its own ADC (with its own noise-management
    # scale), then the digital sum. Compare with exactly that computation.
    hw = hw_with("hw.tile.rows=16", "hw.tile.cols=8", "hw.tile.adcs=8", "hw.adc.bits=4", "hw.adc.out_bound=2.0", "hw.dac.bits=8",
                 "hw.io.bound_management=none")
    arr = AnalogArray(12, 40, hw, seed=2)
    rng = np.random.default_rng(3)
    arr.set_weights(rng.uniform(-0.3, 0.3, (12, 40)))
    x = rng.uniform(-1, 1, (6, 40))
    y, stats = arr.forward(x)
    w, io = arr.get_weights(), arr.io
    expected = np.zeros_like(y)
    for start in (0, 16, 32):
        part = x[:, start:start + 16]
        scale = np.abs(part).max(axis=1, keepdims=True)
        x_q = quantise(part / scale, io.inp_step, io.inp_levels)
        expected += quantise(x_q @ w[:, start:start + 16].T, io.out_step, io.out_levels) * scale
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    whole = np.abs(x).max(axis=1, keepdims=True)
    single = quantise(quantise(x / whole, io.inp_step, io.inp_levels) @ w.T, io.out_step, io.out_levels) * whole
    assert not np.allclose(y, single)
    assert [(b.row_block, b.col_block) for b in stats.blocks] == [(r, c) for r in range(3) for c in range(2)]
    assert [b.active_rows for b in stats.blocks] == [16, 16, 16, 16, 8, 8]
    assert [b.active_cols for b in stats.blocks] == [8, 4] * 3


def test_backward_is_the_transpose_read():
    hw = hw_with("hw.adc.bits=16", "hw.dac.bits=16", "hw.tile.rows=16", "hw.tile.cols=8", "hw.tile.adcs=8",
                 "hw.io.bound_management=none")
    arr = AnalogArray(12, 40, hw, seed=2)
    rng = np.random.default_rng(3)
    arr.set_weights(rng.uniform(-0.3, 0.3, (12, 40)))
    d = rng.uniform(-1, 1, (6, 12))
    z, stats = arr.backward(d)
    # 16-bit converters: error well below 1e-3
    np.testing.assert_allclose(z, d @ arr.get_weights(), atol=1e-3)
    assert len(stats.blocks) == 6 and stats.vectors == 36


def test_one_hot_reads_touch_only_the_block_holding_k():
    hw = hw_with("hw.tile.rows=16", "hw.tile.cols=8", "hw.tile.adcs=8", "hw.adc.bits=16", "hw.dac.bits=16")
    arr = AnalogArray(12, 40, hw, seed=2)
    rng = np.random.default_rng(3)
    arr.set_weights(rng.uniform(-0.3, 0.3, (12, 40)))
    v, stats = arr.read_columns([20, 3, 21])
    np.testing.assert_allclose(v, arr.get_weights()[:, [20, 3, 21]].T, atol=1e-3)
    by_block = {(b.row_block, b.col_block): b for b in stats.blocks}
    assert set(by_block) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert by_block[(1, 0)].vectors == 2 and by_block[(0, 0)].vectors == 1
    assert all(b.active_rows == 1 for b in stats.blocks)
    v, stats = arr.read_rows([11])
    np.testing.assert_allclose(v, arr.get_weights()[[11]], atol=1e-3)
    assert {(b.row_block, b.col_block) for b in stats.blocks} == {(0, 1), (1, 1), (2, 1)}
    assert all(b.active_cols == 1 for b in stats.blocks)
    with pytest.raises(ValueError):
        arr.read_columns([40])


def test_reads_are_deterministic_and_independent_of_blas_threads():
    hw = load_hw_config(None, ["hw.tile.rows=512", "hw.tile.cols=512"])
    results = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            arr = AnalogArray(300, 400, hw, seed=11)
            arr.set_weights(np.random.default_rng(1).uniform(-0.5, 0.5, (300, 400)))
            y, _ = arr.forward(np.random.default_rng(2).uniform(-1, 1, (64, 400)))
            results.append(y)
    np.testing.assert_array_equal(results[0], results[1])


def test_reads_run_blas_on_one_thread_and_restore_the_callers_setting():
    from threadpoolctl import threadpool_info

    from archsim.analog.io import blas_on_calling_thread

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with blas_on_calling_thread():
            assert set(blas_threads()) <= {1}
            with blas_on_calling_thread():  # nested (a read inside a training epoch's context)
                assert set(blas_threads()) <= {1}
            assert set(blas_threads()) <= {1}  # the inner exit leaves the outer context's setting
        assert blas_threads() == before


def test_bit_serial_dac_uses_the_streamed_input_resolution():
    hw = load_hw_config("isaac_like")
    io = IOModel.from_hw(hw)
    assert hw.dac.mode == "bit_serial"
    assert io.input_bits == hw.io.serial_input_bits and io.passes == io.input_bits
    arr = AnalogArray(4, 4, hw, seed=0)
    _, stats = arr.forward(np.ones((2, 4)))
    assert stats.conversions == (2 + stats.retries) * 4 * io.passes


def test_analog_read_handles_zero_vectors():
    io = IOModel.from_hw(hw_with())
    y, retries = analog_read(np.ones((3, 2), dtype=np.float32), np.zeros((2, 3)), io, np.random.default_rng(0))
    np.testing.assert_array_equal(y, 0.0)
    np.testing.assert_array_equal(retries, 0)


# ---------------------------------------------------------------------------------------------
# bit-serial reads: one two's-complement bit plane per pass, converted, shift-added
# ---------------------------------------------------------------------------------------------
SERIAL = ("hw.dac.mode=bit_serial", "hw.dac.bits=1", "hw.io.noise_management=none", "hw.io.bound_management=none",
          "hw.tile.rows=64", "hw.tile.cols=64")


def slow_bit_serial(x, weights, io):
    """Per vector and bit plane, in plain Python loops: noise-free passes, each ADC-converted, shift-added."""
    bits, levels = io.passes, io.inp_levels
    out = np.zeros((x.shape[0], weights.shape[0]))
    for v in range(x.shape[0]):
        m = [int(round(q / io.inp_step)) for q in exact_dac(x[v], io)]
        for k in range(bits):
            plane = np.array([((mi % (1 << bits)) >> k) & 1 for mi in m], dtype=np.float64) * io.inp_bound
            converted = quantise(weights @ plane, io.out_step, io.out_levels)
            out[v] += (-(2 ** k) if k == bits - 1 else 2 ** k) * converted / levels
    return out


@pytest.mark.parametrize("serial_bits", [4, 8])
def test_bit_serial_read_matches_the_slow_per_pass_reference(serial_bits):
    hw = hw_with(*SERIAL, f"hw.io.serial_input_bits={serial_bits}", "hw.adc.bits=6", "hw.adc.out_bound=3.0")
    arr = AnalogArray(20, 30, hw, seed=1)
    rng = np.random.default_rng(2)
    arr.set_weights(rng.uniform(-0.3, 0.3, (20, 30)))
    x = rng.uniform(-1, 1, (25, 30))
    y, stats = arr.forward(x)
    np.testing.assert_allclose(y, slow_bit_serial(x, arr.get_weights().astype(np.float32), arr.io), atol=1e-5)
    assert stats.blocks[0].passes == serial_bits
    assert stats.conversions == 25 * 20 * serial_bits


def test_bit_serial_read_without_conversion_error_is_the_multi_level_read():
    # A fine ADC with a wide range: shift-adding the passes reproduces W x_q to the ADC step times sum 2^k / L.
    sets = ("hw.adc.bits=16", "hw.adc.out_bound=64.0", "hw.io.serial_input_bits=8")
    serial = AnalogArray(16, 40, hw_with(*SERIAL, *sets), seed=3)
    weights = np.random.default_rng(4).uniform(-0.5, 0.5, (16, 40))
    serial.set_weights(weights)
    x = np.random.default_rng(5).uniform(-1, 1, (30, 40))
    y, _ = serial.forward(x)
    exact = exact_dac(x, serial.io) @ serial.get_weights().T
    bound = serial.io.out_step / 2 * (2 ** 8) / serial.io.inp_levels   # |sum_k 2^k e_k| / L, |e_k| <= step/2
    assert np.abs(y - exact).max() <= bound + 1e-5


def test_bit_serial_read_noise_is_the_shift_added_noise_of_every_pass():
    # Each of the B passes adds N(0, out_noise^2); shift-add weighs pass k by 2^k / L (sign plane 2^(B-1) / L),
    # so the read noise variance is out_noise^2 sum_k 4^k / L^2 (here 1.333 out_noise^2 for B = 8, L = 127),
    # against out_noise^2 for a multi-level read. Sample variance of n values: standard error var sqrt(2/n).
    sets = ("hw.adc.bits=16", "hw.adc.out_bound=1000.0", "hw.io.serial_input_bits=8", "hw.io.out_noise=0.1")
    arr = AnalogArray(64, 64, hw_with(*SERIAL, *sets), seed=6)
    arr.set_weights(np.zeros((64, 64)))
    y, _ = arr.forward(np.random.default_rng(7).uniform(-1, 1, (400, 64)))
    expected = 0.1 ** 2 * sum(4 ** k for k in range(8)) / arr.io.inp_levels ** 2
    n = y.size
    assert abs(y.var() - expected) < 5 * expected * np.sqrt(2 / n)


def test_dac_mode_changes_accuracy():
    # The same 8-bit inputs through a 5-bit ADC. A multi-level read has one quantisation error (variance
    # D^2/12); a bit-serial read shift-adds one per pass, variance D^2/12 sum_k 4^k / L^2 = 1.354 D^2/12
    # (B = 8, L = 127). Pass outputs have std ~0.85 > 3 ADC steps, so each error is close to uniform, and
    # |outputs| stay below out_bound (no clipping). The mean of 6400 squared errors has a relative standard
    # error sqrt(4/5)/80 = 1.1 %; tolerance 10 % covers it and the residual non-uniformity.
    common = ("hw.adc.bits=5", "hw.adc.out_bound=4.0", "hw.io.noise_management=none", "hw.io.bound_management=none",
              "hw.io.serial_input_bits=8", "hw.dac.bits=8")
    errors = {}
    for mode in ("multi_level", "bit_serial"):
        arr = AnalogArray(32, 48, hw_with(*common, f"hw.dac.mode={mode}"), seed=8)
        rng = np.random.default_rng(9)
        arr.set_weights(rng.uniform(-0.3, 0.3, (32, 48)))
        x = rng.uniform(-1, 1, (200, 48))
        y, _ = arr.forward(x)
        errors[mode] = np.mean((y - exact_dac(x, arr.io) @ arr.get_weights().T) ** 2)
    expected_ratio = sum(4 ** k for k in range(8)) / 127 ** 2
    assert errors["bit_serial"] / errors["multi_level"] == pytest.approx(expected_ratio, rel=0.1)


@pytest.mark.parametrize(
    "settings",
    [
        [],
        ["io.noise_management=none"],
        ["io.bound_management=none"],
        ["adc.out_bound=1.3", "dac.inp_bound=0.7"],  # bounds a float32 cannot hold exactly
        ["io.w_noise=0.02", "adc.bits=5", "dac.bits=3"],
        ["io.out_noise=0.0", "io.max_bm_retries=1"],
    ],
)
def test_jitted_multi_level_read_gives_the_numpy_paths_bits(settings):
    # the first attempt's element-wise work runs in two jitted passes; every figure (outputs, re-reads, line drive,
    # and the random stream afterwards) must be what the NumPy attempt loop gives, bit for bit
    from archsim.analog.io import _read_attempts

    io = IOModel.from_hw(load_hw_config("default", settings))
    assert io.passes == 1
    rng = np.random.default_rng(11)
    reread = clean = 0
    for vectors, inputs, outputs in [(1, 1, 1), (3, 17, 5), (10, 64, 40), (40, 33, 9)]:
        # outputs around half the ADC's range: some vectors saturate (and are read again), most do not
        matrix = (rng.uniform(-1, 1, (inputs, outputs)) * (2 * io.out_bound / np.sqrt(inputs))).astype(np.float32)
        x = rng.uniform(-1, 1, (vectors, inputs)) * rng.choice([0.0, 1e-3, 1.0, 30.0], (vectors, 1))
        x[:, rng.random(inputs) < 0.3] = 0.0
        seed = int(rng.integers(1 << 30))
        drive_fast, drive_slow = np.full(inputs, 0.25), np.full(inputs, 0.25)
        fast_rng, slow_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        y_fast, retries_fast = analog_read(matrix, x, io, fast_rng, drive_fast)
        y_slow, retries_slow = _read_attempts(
            matrix, x, io, slow_rng, drive_slow, np.empty((vectors, outputs)), np.zeros(vectors, dtype=np.int64)
        )
        np.testing.assert_array_equal(y_fast, y_slow)
        np.testing.assert_array_equal(retries_fast, retries_slow)
        np.testing.assert_array_equal(drive_fast, drive_slow)
        assert fast_rng.random() == slow_rng.random()  # the same draws were taken
        reread += int(retries_fast.sum())
        clean += int((retries_fast == 0).sum())
    assert clean > 0 and (reread > 0) == (io.bound_management and io.max_retries > 0)
