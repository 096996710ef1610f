"""Every numba kernel against its slow reference (archsim.devices.reference) on small arrays, for every device
model (the kernels are built per model), and the on-disk cache of those specialisations.

Kernels and references draw the same counter-based random numbers, so the same seed must give the same
result up to floating-point rounding (both evaluate the same float64 expressions; 1e-12 relative leaves
room only for a last-bit difference in a libm call).
"""

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from archsim.config.device import DEVICE_MODELS, DeviceConfig, UpdateConfig
from archsim.devices import kernels, reference
from archsim.devices import update as update_module
from archsim.devices.models import device_model, mean_steps, sample_device_state
from archsim.devices.kernels import _normal
from archsim.devices.registry import BY_CODE, SOFT_BOUNDS
from archsim.devices.rng import (
    COL_SALT,
    DEVICE_SALT,
    NORMAL_BIN_BITS,
    NORMAL_BINS,
    NORMAL_TABLE,
    ROW_SALT,
    py_normal,
    py_stream,
    py_subkey,
    seed_key,
)
from archsim.devices.update import apply_pulse_counts, pulse_protocol, pulsed_update, update_management

RTOL = 1e-12

# Model-specific settings that make every branch of each response formula matter.
MODEL_SETTINGS = {
    "constant_step": {},
    "linear_step": {"gamma_up": 0.4, "gamma_down": 0.7},
    "soft_bounds": {"up_down": 0.2},
    "power": {"gamma_up": 1.5, "gamma_down": 0.6},
    "exponential": {"gamma_up": 2.0, "gamma_down": -1.0},
    "exp_step": {},
    "pow_step": {"gamma_up": 1.3, "gamma_down": 0.8},
    "piecewise": {"piecewise_up": [1.2, 1.0, 0.6, 0.2], "piecewise_down": [0.1, 0.5, 1.0, 1.4]},
}


def make_device(model, **extra):
    values = dict(
        model=model, dw_min=0.02, w_max=0.8, w_min=-0.7, dw_min_std=0.3, dw_min_std_add=0.1, write_noise_std=0.5
    )
    values.update(MODEL_SETTINGS[model])
    values.update(extra)
    return DeviceConfig(**values)


def make_state(cfg, shape, seed=0):
    state = sample_device_state(cfg, shape, np.random.default_rng(seed))
    start = np.random.default_rng(seed + 1).uniform(-0.5, 0.5, shape)
    np.clip(start, state.bound_min, state.bound_max, out=state.w)
    if state.w_apparent is not None:
        state.w_apparent[...] = state.w
    return state


def assert_same_state(fast, slow):
    np.testing.assert_allclose(fast.w, slow.w, rtol=RTOL, atol=1e-15)
    if fast.w_apparent is not None:
        np.testing.assert_allclose(fast.w_apparent, slow.w_apparent, rtol=RTOL, atol=1e-15)


def test_all_models_covered():
    assert set(MODEL_SETTINGS) == set(DEVICE_MODELS)


@numba.njit
def draws(key, n, table):
    """The first n table-normal draws of one counter-based stream."""
    out = np.empty(n)
    for k in range(n):
        out[k] = _normal(key, k, table)
    return out


def test_normal_draws_match_reference():
    key = seed_key(11, 3)
    # 40_000 draws visit both tail bins (probability 2/4096 each draw) about 20 times
    fast = draws(np.uint64(key), 40_000, NORMAL_TABLE)
    slow = np.array([py_normal(key, k) for k in range(40_000)])
    np.testing.assert_allclose(fast, slow, rtol=RTOL)
    assert (np.abs(fast) > NORMAL_TABLE[NORMAL_BINS - 1]).sum() > 0


def test_normal_draws_are_standard_normal():
    n = 2_000_000
    z = draws(np.uint64(seed_key(5)), n, NORMAL_TABLE)
    # Standard errors for n draws of N(0,1): mean 1/sqrt(n), variance sqrt(2/n), E z^4 sqrt(96/n)
    # (Var z^4 = E z^8 - 9 = 96); the tail beyond Phi^-1(1 - 1/4096) has probability 2/4096 per draw,
    # binomial standard error sqrt(p (1 - p) / n). Five standard errors each.
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * np.sqrt(2 / n)
    assert abs((z**4).mean() - 3.0) < 5 * np.sqrt(96 / n)
    p_tail = 2 / NORMAL_BINS
    tail = (np.abs(z) > NORMAL_TABLE[NORMAL_BINS - 1]).mean()
    assert abs(tail - p_tail) < 5 * np.sqrt(p_tail * (1 - p_tail) / n)
    assert abs(z).max() > 4.0  # the exact tail reaches beyond the last table quantile


@pytest.mark.parametrize("model", DEVICE_MODELS)
def test_mean_step_matches_reference(model):
    cfg = make_device(model)
    state = make_state(cfg, (4, 6))
    dm = device_model(cfg)
    w = np.random.default_rng(3).uniform(-0.9, 0.9, (4, 6))
    for up in (True, False):
        fast = mean_steps(dm, state, w, up)
        slow = [
            [reference.ref_mean_step(dm, float(w[i, j]), up, *reference._params(state, i, j)) for j in range(6)]
            for i in range(4)
        ]
        np.testing.assert_allclose(fast, slow, rtol=RTOL, atol=1e-15)


def test_pulse_trains_match_reference():
    """The update plan's bit-packed trains, slot by slot, against the reference trains."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 9))
    d = rng.normal(size=(3, 8))
    x[1, 4] = 0.0
    d[2] = 0.0  # a sample with no error: BL 0, no trains
    for bl in (1, 2, 7, 64, 65, 150):  # one slot, one hash, odd lengths, one word full, two and three words
        ucfg = UpdateConfig(bl=bl, update_bl_management=False)
        plan = kernels._update_plan(x, d, 0.3, 0.01, bl, True, False, np.uint64(99), 5, True)
        keys, bls, scale_d, scale_x, row_bits, col_bits = (plan[k] for k in (1, 2, 3, 4, 7, 8))
        assert list(bls) == [bl, bl, 0]
        assert row_bits.shape == (3, 8, -(-bl // 64)) and col_bits.shape == (3, 9, -(-bl // 64))
        for b in range(3):
            assert keys[b] == py_stream(99, 5 + b)
            assert (bls[b], scale_d[b], scale_x[b]) == reference.ref_management(x[b], d[b], 0.3, 0.01, ucfg)
            for bits, values, scale, salt, pulses in (
                (row_bits, d, scale_d, ROW_SALT, plan[9]),
                (col_bits, x, scale_x, COL_SALT, plan[10]),
            ):
                fired = 0
                for v in range(values.shape[1]):
                    train = reference.ref_train(int(keys[b]), v, salt, abs(values[b, v]), scale[b], int(bls[b]))
                    unpacked = [bool((int(bits[b, v, t // 64]) >> (t % 64)) & 1) for t in range(bits.shape[2] * 64)]
                    assert unpacked[: len(train)] == train and not any(unpacked[len(train) :])
                    fired += sum(train)
                assert pulses[b] == fired


@pytest.mark.parametrize("mode", ["stochastic", "mean_count", "expected"])
@pytest.mark.parametrize("model", DEVICE_MODELS)
def test_pulsed_update_matches_reference(model, mode):
    cfg = make_device(model)
    dm = device_model(cfg)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (4, 6))
    d = rng.normal(0, 0.5, (4, 5))
    x[1, 2] = 0.0
    d[2] = 0.0  # a sample with no error: no pulses
    for bl, bl_management in ((31, True), (100, False)):  # 100 slots: bit trains span two words
        ucfg = UpdateConfig(bl=bl, mode=mode, update_bl_management=bl_management)
        fast, slow = make_state(cfg, (5, 6)), make_state(cfg, (5, 6))
        stats = pulsed_update(fast, dm, x, d, 0.05, ucfg, 1234, 17)
        expected = reference.ref_pulsed_update(slow, dm, x, d, 0.05, ucfg, 1234, 17)
        assert_same_state(fast, slow)
        for name, values in expected.items():
            # expected-mode counts are rounded sums that may differ in summation order: allow 1
            tolerance = 1 if mode == "expected" else 0
            np.testing.assert_allclose(getattr(stats, name), values, atol=tolerance, err_msg=name)
        assert sum(expected["device_pulses"]) > 0


@pytest.mark.parametrize("model", DEVICE_MODELS)
def test_apply_counts_matches_reference(model):
    cfg = make_device(model)
    dm = device_model(cfg)
    counts = np.random.default_rng(2).integers(-6, 7, (5, 4))
    fast, slow = make_state(cfg, (5, 4)), make_state(cfg, (5, 4))
    fired = apply_pulse_counts(fast, dm, counts, 4321)
    assert fired == reference.ref_apply_counts(slow, dm, counts, 4321)
    assert_same_state(fast, slow)


@pytest.mark.parametrize("model", DEVICE_MODELS)
def test_pulse_protocol_matches_reference(model):
    cfg = make_device(model)
    dm = device_model(cfg)
    fast, slow = make_state(cfg, (1, 7)), make_state(cfg, (1, 7))
    directions = np.array([1] * 5 + [-1] * 5 + [1] * 3, dtype=np.int8)
    mean, std = pulse_protocol(fast, dm, directions, 77)
    ref_mean, ref_std = reference.ref_pulse_protocol(slow, dm, directions, 77)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-10)
    np.testing.assert_allclose(std, ref_std, rtol=1e-9, atol=1e-15)
    assert_same_state(fast, slow)


def test_update_management_matches_reference():
    rng = np.random.default_rng(4)
    for um in (True, False):
        for ublm in (True, False):
            cfg = UpdateConfig(bl=31, update_management=um, update_bl_management=ublm)
            x_max = np.abs(rng.normal(size=20)) + 1e-3
            d_max = np.abs(rng.normal(size=20)) * 10.0 ** rng.uniform(-4, 1, 20)
            x_max[3], d_max[5] = 0.0, 0.0  # samples without pulses
            for lr in (0.0, 1e-4, 0.01, 1.0, 30.0):  # lr 1 and 30 also reach the clipping branch (k > BL)
                plan = update_management(x_max, d_max, lr, 0.001, cfg)
                for k in range(20):  # the same float operations in the same order: equal to the bit
                    assert (plan.bl[k], plan.scale_d[k], plan.scale_x[k]) == reference.ref_management(
                        [x_max[k]], [d_max[k]], lr, 0.001, cfg
                    )


def test_update_is_independent_of_thread_count(monkeypatch):
    cfg = make_device("soft_bounds")
    dm = device_model(cfg)
    rng = np.random.default_rng(9)
    x, d = rng.uniform(-1, 1, (8, 100)), rng.normal(0, 0.3, (8, 100))
    results = []
    threads = numba.get_num_threads()
    # the parallel kernels, on 1 and on every thread
    monkeypatch.setattr(update_module, "MULTITHREAD_MIN_WORK", 0)
    monkeypatch.setattr(update_module, "THREADS", update_module.ThreadChoice(forced=True))
    try:
        for n in sorted({1, threads}):
            numba.set_num_threads(n)
            for mode in ("stochastic", "expected"):
                state = make_state(cfg, (100, 100))
                pulsed_update(state, dm, x, d, 0.05, UpdateConfig(mode=mode), 5, 0)
                results.append((n, mode, state.w.copy()))
    finally:
        numba.set_num_threads(threads)
    for n, mode, w in results:
        same_mode = [r for r in results if r[1] == mode]
        np.testing.assert_array_equal(w, same_mode[0][2])


@pytest.mark.parametrize("mode", ["stochastic", "mean_count", "expected", "counts"])
def test_single_and_multithreaded_calls_agree(monkeypatch, mode):
    """Small updates run on the calling thread alone, large ones on every thread: the same result either way."""
    cfg = make_device("exp_step")
    dm = device_model(cfg)
    rng = np.random.default_rng(10)
    x, d = rng.uniform(-1, 1, (3, 30)), rng.normal(0, 0.3, (3, 20))
    counts = rng.integers(-4, 5, (20, 30))
    states = []
    monkeypatch.setattr(update_module, "MULTITHREAD_MIN_WORK", 0)
    for threads in (True, False):  # every call multithreaded, then every call on one thread
        monkeypatch.setattr(update_module, "THREADS", update_module.ThreadChoice(forced=threads))
        state = make_state(cfg, (20, 30))
        if mode == "counts":
            apply_pulse_counts(state, dm, counts, 3)
        else:
            pulsed_update(state, dm, x, d, 0.05, UpdateConfig(mode=mode), 5, 0)
        states.append(state)
    np.testing.assert_array_equal(states[0].w, states[1].w)
    np.testing.assert_array_equal(states[0].w_apparent, states[1].w_apparent)


def timed_kernels(monkeypatch, seconds_per_work):
    """Update kernels that do nothing but advance a fake clock by ``seconds_per_work[parallel] * work``, a
    ThreadChoice on that clock, and the ways of the calls made."""
    now, made, work = [0.0], [], [0]

    def factory(code, parallel):
        def kernel(*args):
            made.append(parallel)
            now[0] += seconds_per_work[parallel] * work[0]

        return kernel

    monkeypatch.setattr(update_module.kernels, "_stochastic_update", factory)
    choice = update_module.ThreadChoice(clock=lambda: now[0])

    def call(n, size=1 << 14):
        work[0] = size
        for _ in range(n):
            choice.run("_stochastic_update", SOFT_BOUNDS, size, (np.zeros((4, 4)),))

    return choice, made, call


def test_small_updates_always_run_serially_and_unmeasured(monkeypatch):
    choice, made, call = timed_kernels(monkeypatch, {False: 2.0, True: 1.0})
    call(50, update_module.MULTITHREAD_MIN_WORK - 1)
    assert made == [False] * 50 and not choice._ways


def test_the_faster_way_runs_and_the_slower_is_tried_ever_more_rarely(monkeypatch):
    if numba.get_num_threads() < 2:
        pytest.skip("one numba thread: every call is serial")
    choice, made, call = timed_kernels(monkeypatch, {False: 2.0, True: 1.0})
    call(1000)
    assert made[:4] == [False, False, True, True]  # each way twice: a first call may compile, the second counts
    serial_probes = [at for at, way in enumerate(made) if not way and at >= 4]
    # probes after 16, 32, 64, ... calls of the faster way: about log2(1000 / 16) of them
    gaps = [b - a - 1 for a, b in zip([3, *serial_probes], serial_probes, strict=False)]
    assert gaps == [16, 32, 64, 128, 256, 512][: len(gaps)] and 4 <= len(gaps) <= 6


def test_a_machine_that_gets_busy_is_followed(monkeypatch):
    if numba.get_num_threads() < 2:
        pytest.skip("one numba thread: every call is serial")
    costs = {False: 2.0, True: 1.0}
    choice, made, call = timed_kernels(monkeypatch, costs)
    call(200)
    assert made[-1]
    costs[True] = 20.0  # the threads now wait for their time slices
    made.clear()
    call(300)
    # the threads' median turns slower after two calls; serial runs from then on, with rare probes of the threads
    assert made[:2] == [True, True] and sum(made) <= 2 + 6 and not made[-1]
    costs[True] = 1.0  # quiet again: the next probes find the threads faster
    made.clear()
    call(3000)
    assert all(made[-100:])


def test_forced_ways_skip_the_measuring(monkeypatch):
    for forced in (True, False):
        choice, made, call = timed_kernels(monkeypatch, {False: 1.0, True: 2.0})
        choice.forced = forced
        call(10)
        assert made == [forced] * 10 and not choice._ways


def test_same_sample_numbers_give_same_update_and_different_ones_do_not():
    cfg = make_device("soft_bounds")
    dm = device_model(cfg)
    x, d = np.ones((1, 8)), np.full((1, 8), -0.5)
    ucfg = UpdateConfig()
    a, b, c = (make_state(cfg, (8, 8)) for _ in range(3))
    pulsed_update(a, dm, x, d, 0.1, ucfg, 5, 3)
    pulsed_update(b, dm, x, d, 0.1, ucfg, 5, 3)
    pulsed_update(c, dm, x, d, 0.1, ucfg, 5, 4)
    np.testing.assert_array_equal(a.w, b.w)
    assert not np.array_equal(a.w, c.w)


def test_bad_update_inputs():
    cfg = make_device("soft_bounds")
    dm = device_model(cfg)
    state = make_state(cfg, (3, 4))
    with pytest.raises(ValueError):
        pulsed_update(state, dm, np.ones((2, 3)), np.ones((2, 3)), 0.1, UpdateConfig(), 1, 0)
    with pytest.raises(ValueError):
        pulsed_update(state, dm, np.ones((2, 4)), np.ones((2, 3)), -0.1, UpdateConfig(), 1, 0)
    with pytest.raises(ValueError):
        apply_pulse_counts(state, dm, np.full((3, 4), 0.5), 1)
    assert py_stream(1, 0) != py_stream(1, 1)


# A fresh process loads every kernel specialisation it needs from numba's on-disk cache: it prints, per model,
# whether the mean-step kernel came from the cache and how far its steps are from the reference.
_CACHE_PROBE = """
import sys
import numpy as np
from archsim.config.device import DeviceConfig
from archsim.devices import kernels, reference
from archsim.devices.models import device_model, mean_steps, sample_device_state
for name in sys.argv[1:]:
    cfg = DeviceConfig(model=name, dw_min=0.02, gamma_up=0.5, gamma_down=0.5)
    dm = device_model(cfg)
    state = sample_device_state(cfg, (2, 3), np.random.default_rng(0))
    w = np.linspace(-0.5, 0.5, 6).reshape(2, 3)
    fast = mean_steps(dm, state, w, True)
    slow = [[reference.ref_mean_step(dm, float(w[i, j]), True, *reference._params(state, i, j)) for j in range(3)]
            for i in range(2)]
    hits = sum(kernels._mean_steps(dm.code).stats.cache_hits.values())
    print(name, hits, float(np.max(np.abs(fast - np.array(slow)))))
"""


def test_each_model_is_cached_apart(tmp_path):
    """Specialisations share one cache index per kernel, keyed on the model code the kernel captures: a
    process that compiled two models' kernels leaves both, and the next process loads each one's own code."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    models = ["soft_bounds", "exponential"]

    def probe():
        run = subprocess.run(
            [sys.executable, "-c", _CACHE_PROBE, *models], env=env, capture_output=True, text=True, check=True
        )
        return [line.split() for line in run.stdout.splitlines()]

    first, second = probe(), probe()
    assert [int(row[1]) for row in first] == [0, 0]  # compiled
    assert all(int(row[1]) > 0 for row in second)  # loaded
    for name, _, error in first + second:
        assert float(error) <= RTOL * 0.02, name


def test_serial_and_parallel_kernels_have_their_own_cache_keys():
    """numba's cache key covers a closure's captured values, not its compile options: the loop kind must be
    among the captured values, or a serial and a parallel specialisation would load each other."""
    serial = kernels._stochastic_update(SOFT_BOUNDS, False)
    parallel = kernels._stochastic_update(SOFT_BOUNDS, True)
    captured = lambda kernel: [cell.cell_contents for cell in kernel.py_func.__closure__]
    assert captured(serial) != captured(parallel)
    assert serial.targetoptions.get("parallel") is False and parallel.targetoptions.get("parallel") is True


def test_kernel_specialisations_compile_to_symbols_of_their_own():
    """Two device models' kernels from one factory must not share symbol names: compiled in different processes and
    loaded from numba's on-disk cache into one, they would share one environment ("'descr' is NULL")."""
    from archsim.devices import kernels as K

    one = np.ones(1)
    names = []
    for model in (2, 6):
        kernel = K._mean_steps(model)
        kernel(np.zeros(1), True, one, one, one, -one, one, one, np.zeros(9), one, one)
        # (other tests may have compiled more signatures of it in this process)
        names.append(
            {
                name
                for compiled in kernel.overloads.values()
                for name in (compiled.fndesc.mangled_name, compiled.fndesc.env_name)
            }
        )
    assert not names[0] & names[1]
    # every factory names its kernels per specialisation (checked without compiling them)
    factories = [K._alternating_fixed_points, K._simulate_alternating, K._pulse_protocol]
    built = [factory(2).py_func.__qualname__ for factory in factories] + [
        factory(6).py_func.__qualname__ for factory in factories
    ]
    for factory in (K._stochastic_update, K._mean_count_update, K._expected_update, K._apply_counts):
        built += [factory(model, parallel).py_func.__qualname__ for model in (2, 6) for parallel in (False, True)]
    assert len(set(built)) == len(built)


@pytest.mark.parametrize(
    "model, parallel",
    [(BY_CODE[code].name, False) for code in kernels._DENSE_MODELS] + [(BY_CODE[SOFT_BOUNDS].name, True)],
)
def test_dense_rows_fire_the_hit_lists_pulses_to_the_bit(model, parallel):
    """A sample most of whose columns fired has its devices' first pulses fired in vector loops over the row
    (kernels._dense_passes); a draw that falls in a Gaussian tail stops its device there, which then fires the rest
    of its train a device at a time, as do the devices hit more than twice. The same bits as the hit list alone
    (the kernel built with ``dense=False``), and the reference's update: dense inputs, ~3 pulses per device, write
    noise and both noise kinds on, and enough pulses that tail draws occur in the vector passes."""
    cfg = make_device(model, dw_min=0.002)
    dm = device_model(cfg)
    rng = np.random.default_rng(11)
    n_out, n_in, samples = 24, 160, 3
    x = rng.uniform(0.5, 1.0, (samples, n_in)) * rng.choice([-1.0, 1.0], (samples, n_in))
    d = rng.uniform(0.5, 1.0, (samples, n_out)) * rng.choice([-1.0, 1.0], (samples, n_out))
    plan = kernels._update_plan(x, d, 0.02, dm.dw0, 31, True, False, np.uint64(99), 5, True)
    keys, d_sign, x_sign, row_bits, col_bits = plan[1], plan[5], plan[6], plan[7], plan[8]
    results = []
    for dense in (True, False):
        state = make_state(cfg, (n_out, n_in))
        device_pulses, sample_pulses = np.empty((n_out, samples), dtype=np.int64), np.empty(samples, dtype=np.int64)
        kernels._stochastic_update(dm.code, parallel, dense)(
            state.w, state.w_apparent, state.scale_up, state.scale_down, state.bound_max, state.bound_min,
            state.gamma_up, state.gamma_down, dm.glob, dm.piecewise_up, dm.piecewise_down, d_sign, x_sign, row_bits,
            col_bits, keys, NORMAL_TABLE, dm.noisy, dm.write_noise, device_pulses, sample_pulses,
        )  # fmt: skip
        results.append((state, sample_pulses))
    (dense_state, dense_pulses), (hits_state, hits_pulses) = results
    assert np.array_equal(dense_state.w, hits_state.w)
    assert np.array_equal(dense_state.w_apparent, hits_state.w_apparent)
    assert np.array_equal(dense_pulses, hits_pulses)
    ucfg = UpdateConfig(bl=31, mode="stochastic", update_bl_management=False)
    slow = make_state(cfg, (n_out, n_in))
    expected = reference.ref_pulsed_update(slow, dm, x, d, 0.02, ucfg, 99, 5)
    assert_same_state(dense_state, slow)
    assert list(dense_pulses) == expected["device_pulses"]
    pulses_per_device = sum(expected["device_pulses"]) / (samples * n_out * n_in)
    assert 2.0 < pulses_per_device < 6.0, pulses_per_device
    # the vector passes met tail draws: pulse 0 or 1 of a device hit that often
    tails = 0
    for b in range(samples):
        for i in range(n_out):
            for j in range(n_in):
                hits = int(row_bits[b, i, 0] & col_bits[b, j, 0]).bit_count()
                device_key = py_subkey(int(keys[b]), i * n_in + j, DEVICE_SALT)
                for k in range(min(hits, kernels._DENSE_PASSES)):
                    tails += (py_stream(device_key, k) >> (64 - NORMAL_BIN_BITS)) in (0, NORMAL_BINS - 1)
    assert tails > 0


def test_only_calls_past_dense_min_work_use_the_kernel_with_vector_loops(monkeypatch):
    """The kernel with vector loops compiles longer: a call below DENSE_MIN_WORK devices visited (every call of the
    default run) uses the kernel without them, so a first run does not compile them."""
    built = []
    original = kernels._stochastic_update

    def recording(model, parallel, dense=True):
        built.append(dense)
        return original(model, parallel, dense)

    monkeypatch.setattr(kernels, "_stochastic_update", recording)
    cfg = make_device("soft_bounds")
    dm = device_model(cfg)
    ucfg = UpdateConfig(bl=31, mode="stochastic", update_bl_management=False)
    rng = np.random.default_rng(3)
    for n, expect_dense in ((16, False), (256, True)):
        state = make_state(cfg, (n, n))
        x, d = rng.uniform(0.5, 1.0, (2, n)), rng.uniform(0.5, 1.0, (2, n))
        built.clear()
        pulsed_update(state, dm, x, d, 0.05, ucfg, 1, 0)
        assert built and set(built) == {expect_dense}, (n, built)
    assert 2 * 16 * 16 < update_module.DENSE_MIN_WORK <= 2 * 256 * 256 // 4


_UPDATE_CACHE_PROBE = """
import numpy as np
from archsim.config.device import DeviceConfig, UpdateConfig
from archsim.devices import kernels
from archsim.devices.models import device_model, sample_device_state
from archsim.devices.registry import SOFT_BOUNDS
from archsim.devices.update import pulsed_update
cfg = DeviceConfig(model="soft_bounds", dw_min=0.02)
dm = device_model(cfg)
ucfg = UpdateConfig(bl=31, mode="stochastic", update_bl_management=False)
for n in (8, 256):  # below and past DENSE_MIN_WORK: the kernels without and with vector loops
    state = sample_device_state(cfg, (n, n), np.random.default_rng(0))
    pulsed_update(state, dm, np.full((2, n), 0.9), np.full((2, n), 0.9), 0.05, ucfg, 1, 0)
for dense in (False, True):
    print(dense, sum(kernels._stochastic_update(SOFT_BOUNDS, False, dense).stats.cache_hits.values()))
"""


def test_stochastic_kernels_with_and_without_vector_loops_are_loaded_from_the_cache(tmp_path):
    """Both stochastic update kernels a run uses come from numba's cache in the next process: what a kernel's
    closure holds must be keyed by value (a captured function would key each process's kernel apart)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env["NUMBA_NUM_THREADS"] = "1"  # serial kernels only

    def probe():
        run = subprocess.run(
            [sys.executable, "-c", _UPDATE_CACHE_PROBE], env=env, capture_output=True, text=True, check=True
        )
        return {line.split()[0]: int(line.split()[1]) for line in run.stdout.splitlines()}

    assert probe() == {"False": 0, "True": 0}  # compiled
    assert all(hits > 0 for hits in probe().values())  # loaded
