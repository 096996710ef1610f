"""The pulsed update's one-kernel plan (keys, update management, signs, pulse trains, work count) against the
NumPy glue it replaced (with the slow reference's update management), to the bit: weights, apparent weights and per-sample statistics must be equal,
not close, for every update mode, with and without update (BL) management, zero rows and columns, lr = 0 and
the clipping branch of update management (more pulses needed than BL)."""

import numpy as np
import pytest

from archsim.config.device import DeviceConfig, UpdateConfig
from archsim.devices import kernels, reference
from archsim.devices import update as update_module
from archsim.devices.models import device_model, sample_device_state
from archsim.devices.rng import COL_SALT, NORMAL_TABLE, ROW_SALT, py_stream
from archsim.devices.update import pulsed_update, update_management
from archsim.errors import NonFiniteValues

MANAGEMENT = [(True, True), (True, False), (False, True), (False, False)]


def packed_trains(values, scale, bl, keys, salt):
    """Bit-packed reference trains (samples, lines, words) and their slot counts (samples, lines)."""
    n_samples, n_lines = values.shape
    n_words = max(1, -(-int(bl.max()) // 64))
    bits = np.zeros((n_samples, n_lines, n_words), dtype=np.uint64)
    counts = np.zeros((n_samples, n_lines), dtype=np.int64)
    for b in range(n_samples):
        for v in range(n_lines):
            train = reference.ref_train(int(keys[b]), v, salt, abs(float(values[b, v])), scale[b], int(bl[b]))
            for t, fired in enumerate(train):
                if fired:
                    bits[b, v, t // 64] |= np.uint64(1 << (t % 64))
            counts[b, v] = sum(train)
    return bits, counts


def numpy_glue_update(state, model, x, d, lr, cfg, block_key, first_sample):
    """The pulsed update as NumPy glue around the update kernels (before the plan kernel): per-sample maxima,
    the reference's update management, np.sign, reference trains, the work count and the statistics' sums."""
    n_samples = x.shape[0]
    keys = np.array([py_stream(block_key, first_sample + b) for b in range(n_samples)], dtype=np.uint64)
    x_abs, d_abs = np.abs(x), np.abs(d)
    bl, scale_d, scale_x = reference.ref_management_batch(x_abs.max(axis=1), d_abs.max(axis=1), lr, model.dw0, cfg)
    args = update_module._state_args(state, model)
    d_sign, x_sign = np.sign(d).astype(np.int8), np.sign(x).astype(np.int8)
    device_pulses = np.zeros((state.shape[0], n_samples), dtype=np.int64)
    sample_pulses = np.zeros(n_samples, dtype=np.int64)
    noise = (NORMAL_TABLE, model.noisy, model.write_noise)
    if cfg.mode == "expected":
        kernels._expected_update(model.code, False)(*args, x, d, float(lr), model.dw0, keys, *noise)
        p_d = np.minimum(d_abs * scale_d[:, None], 1.0)
        p_x = np.minimum(x_abs * scale_x[:, None], 1.0)
        device = np.rint(np.minimum((lr / model.dw0) * d_abs.sum(axis=1) * x_abs.sum(axis=1), 2.0**62))
        return (
            bl,
            np.rint(bl * p_d.sum(axis=1)).astype(np.int64),
            np.rint(bl * p_x.sum(axis=1)).astype(np.int64),
            device.astype(np.int64),
            None,
        )
    if cfg.mode == "mean_count":
        d_counts = np.minimum(np.floor(bl[:, None] * d_abs * scale_d[:, None] + 0.5), bl[:, None]).astype(np.int64)
        x_counts = np.minimum(np.floor(bl[:, None] * x_abs * scale_x[:, None] + 0.5), bl[:, None]).astype(np.int64)
        kernels._mean_count_update(model.code, False)(
            *args, d_sign, x_sign, d_counts, x_counts, bl, keys, *noise, device_pulses, sample_pulses
        )
        return bl, d_counts.sum(axis=1), x_counts.sum(axis=1), device_pulses.sum(axis=0), None
    row_bits, row_counts = packed_trains(d, scale_d, bl, keys, ROW_SALT)
    col_bits, col_counts = packed_trains(x, scale_x, bl, keys, COL_SALT)
    work = int(((row_counts > 0).sum(axis=1) * (col_counts > 0).sum(axis=1)).sum())
    kernels._stochastic_update(model.code, False)(
        *args, d_sign, x_sign, row_bits, col_bits, keys, *noise, device_pulses, sample_pulses
    )
    return bl, row_counts.sum(axis=1), col_counts.sum(axis=1), device_pulses.sum(axis=0), work


def batch(rng, n_samples, n_in, n_out, d_scale):
    """Sparse x (zero columns and a zero sample) and d (zero rows and a zero sample)."""
    x = rng.uniform(-1, 1, (n_samples, n_in)) * (rng.random((n_samples, n_in)) < 0.6)
    d = rng.normal(0, d_scale, (n_samples, n_out)) * (rng.random((n_samples, n_out)) < 0.7)
    x[:, 0] = 0.0
    d[:, -1] = 0.0
    x[1] = 0.0
    d[-1] = 0.0
    return x, d


@pytest.mark.parametrize("mode", ["stochastic", "mean_count", "expected"])
@pytest.mark.parametrize("model", ["soft_bounds", "exp_step"])
def test_pulsed_update_is_the_numpy_glue_to_the_bit(model, mode):
    device = DeviceConfig(model=model, dw_min=0.02, dw_min_std=0.3, write_noise_std=0.5 if model == "exp_step" else 0)
    dm = device_model(device)
    rng = np.random.default_rng(3)
    checked_pulses = 0
    for um, ublm in MANAGEMENT:
        # lr 0: no pulses; lr 2 with d ~ 1: k = lr |x| |d| / dw0 >> BL, the clipping branch; BL 100: two words
        for lr, d_scale, bl in ((0.0, 0.3, 31), (0.05, 0.3, 31), (2.0, 1.0, 31), (0.2, 0.5, 100)):
            cfg = UpdateConfig(bl=bl, mode=mode, update_management=um, update_bl_management=ublm)
            x, d = batch(rng, 4, 7, 6, d_scale)
            if lr == 2.0:  # the clipping branch is taken
                assert (lr * np.abs(x).max(axis=1) * np.abs(d).max(axis=1) / dm.dw0 > bl).any()
            fast = sample_device_state(device, (6, 7), np.random.default_rng(1))
            slow = sample_device_state(device, (6, 7), np.random.default_rng(1))
            stats = pulsed_update(fast, dm, x, d, lr, cfg, 4242, 13)
            *expected, work = numpy_glue_update(slow, dm, x, d, lr, cfg, 4242, 13)
            np.testing.assert_array_equal(fast.w, slow.w)
            if fast.w_apparent is not None:
                np.testing.assert_array_equal(fast.w_apparent, slow.w_apparent)
            for name, values in zip(("bl", "row_pulses", "col_pulses", "device_pulses"), expected, strict=True):
                got = getattr(stats, name)
                assert got.dtype == np.int64, name
                np.testing.assert_array_equal(got, values, err_msg=name)
            if work is not None:
                plan = kernels._update_plan(x, d, lr, dm.dw0, bl, um, ublm, np.uint64(4242), 13, True)
                assert plan[11] == work
            checked_pulses += int(stats.device_pulses.sum())
            if lr == 0.0:
                assert not stats.bl.any() and np.array_equal(
                    fast.w, sample_device_state(device, (6, 7), np.random.default_rng(1)).w
                )
    assert checked_pulses > 0


def test_plan_management_is_the_reference_to_the_bit():
    """Random maxima over many decades, zeros, lr 0 and the clipping branch, every management setting."""
    rng = np.random.default_rng(8)
    x_max = np.abs(rng.normal(size=200)) * 10.0 ** rng.uniform(-3, 1, 200)
    d_max = np.abs(rng.normal(size=200)) * 10.0 ** rng.uniform(-6, 1, 200)
    x_max[::17], d_max[::13] = 0.0, 0.0
    for um, ublm in MANAGEMENT:
        for bl in (1, 31, 200):
            cfg = UpdateConfig(bl=bl, update_management=um, update_bl_management=ublm)
            for lr in (0.0, 1e-3, 0.05, 10.0):
                plan = update_management(x_max, d_max, lr, 0.002, cfg)
                expected = reference.ref_management_batch(x_max, d_max, lr, 0.002, cfg)
                for got, want in zip((plan.bl, plan.scale_d, plan.scale_x), expected, strict=True):
                    np.testing.assert_array_equal(got, want)
                if lr == 10.0 and um:
                    assert (lr * x_max * d_max / 0.002 > bl).any()  # the clipping branch was taken


def test_plan_signs_maxima_and_finiteness():
    rng = np.random.default_rng(5)
    x, d = batch(rng, 3, 9, 5, 0.4)
    x[0, 3] = -0.0
    plan = kernels._update_plan(x, d, 0.1, 0.01, 31, True, True, np.uint64(7), 0, False)
    assert plan[0] is True
    np.testing.assert_array_equal(plan[5], np.sign(d).astype(np.int8))
    np.testing.assert_array_equal(plan[6], np.sign(x).astype(np.int8))
    assert plan[7].shape[1] == 0 and plan[11] == 0  # no trains asked for
    for bad in (np.inf, -np.inf, np.nan):
        for side in (0, 1):
            xb, db = x.copy(), d.copy()
            (xb, db)[side][2, 1] = bad
            assert kernels._update_plan(xb, db, 0.1, 0.01, 31, True, True, np.uint64(7), 0, True)[0] is False


def test_bad_inputs_leave_the_state_alone():
    device = DeviceConfig()
    dm = device_model(device)
    state = sample_device_state(device, (3, 4), np.random.default_rng(0))
    before = state.w.copy()
    x, d = np.ones((2, 4)), np.ones((2, 3))
    for bad_x, bad_d, lr, error in (
        (np.full((2, 4), np.nan), d, 0.1, NonFiniteValues),
        (x, np.full((2, 3), np.inf), 0.1, NonFiniteValues),
        (x, d, np.nan, ValueError),
        (x, d, np.inf, ValueError),
        (x, d, -0.1, ValueError),
        (x[:, :3], d, 0.1, ValueError),
        (x, d[:1], 0.1, ValueError),
    ):
        with pytest.raises(error):
            pulsed_update(state, dm, bad_x, bad_d, lr, UpdateConfig(), 1, 0)
    np.testing.assert_array_equal(state.w, before)
    empty = pulsed_update(state, dm, np.zeros((0, 4)), np.zeros((0, 3)), 0.1, UpdateConfig(), 1, 0)
    assert empty.samples == 0 and empty.device_pulses.dtype == np.int64
    with pytest.raises(ValueError):
        update_management(np.array([-1.0]), np.array([1.0]), 0.1, 0.01, UpdateConfig())


@pytest.mark.parametrize("trains", [True, False])
def test_the_plan_on_threads_is_the_serial_plan_to_the_bit(trains):
    """A large batch's plan may draw its samples' trains on numba's threads: it must be the serial plan, every
    output the same (the kernels' scratch outputs aside), with BL from 1 to several words, zero rows and a
    sample that is not finite."""
    rng = np.random.default_rng(11)
    serial, threaded = kernels._update_plan_kernel(False), kernels._update_plan_kernel(True)
    for n_samples, bl, ublm in ((300, 31, True), (97, 200, False), (64, 1, False)):
        x, d = batch(rng, n_samples, 40, 23, 0.3)
        for inputs in ((x, d), (x, np.where(np.arange(n_samples)[:, None] == 5, np.nan, d))):
            args = (*inputs, 0.2, 0.004, bl, True, ublm, np.uint64(31), 7, trains)
            want, got = serial(*args), threaded(*args)
            for index in range(12):
                np.testing.assert_array_equal(got[index], want[index], err_msg=f"output {index}")
            assert want[0] is (inputs[1] is d)
            if trains and want[0]:
                assert want[11] > 0 and want[7].shape[2] == -(-int(want[2].max()) // 64)


def test_plan_maxima_and_signs_over_extreme_values():
    """The plan takes each sample's largest |x| and |d| on their IEEE bits: over subnormals, -0.0, 1e150 and mixed
    signs its management must be the reference's on NumPy's maxima, to the bit, and its signs NumPy's."""
    rng = np.random.default_rng(21)
    x = rng.choice([0.0, -0.0, 5e-324, -2.5e-310, 1e-300, -3.0, 7.5, 1e150, -1e150], size=(40, 13))
    d = rng.normal(0, 1, (40, 9)) * 10.0 ** rng.integers(-320, 60, (40, 9))
    x[3] = -0.0
    cfg = UpdateConfig(bl=31, update_management=True, update_bl_management=True)
    plan = kernels._update_plan(x, d, 1e-3, 0.002, 31, True, True, np.uint64(3), 0, False)
    assert plan[0] is True
    want = reference.ref_management_batch(np.abs(x).max(axis=1), np.abs(d).max(axis=1), 1e-3, 0.002, cfg)
    for got, expected in zip(plan[2:5], want, strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(plan[5], np.sign(d).astype(np.int8))
    np.testing.assert_array_equal(plan[6], np.sign(x).astype(np.int8))
