"""Device physics against closed forms, and statistical properties of the pulsed update.

Statistical tests use fixed seeds; every tolerance is derived from the statistics of the quantity tested
(the derivation is in a comment next to it), never tuned to an observed value.
"""

import numpy as np
import pytest

from archsim.config.device import DEVICE_MODELS, DeviceConfig, UpdateConfig
from archsim.devices.models import (device_model, mean_steps, response_parts, sample_device_state,
                                   symmetric_points)
from archsim.devices.update import apply_pulse_counts, pulse_protocol, pulsed_update, update_management

NO_SPREAD = dict(dw_min_dtod=0.0, up_down_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0, gamma_up_dtod=0.0, pow_gamma_dtod=0.0,
                 gamma_down_dtod=0.0)
NO_NOISE = dict(dw_min_std=0.0, dw_min_std_add=0.0, write_noise_std=0.0)


def state_for(cfg, shape, seed=0):
    return sample_device_state(cfg, shape, np.random.default_rng(seed))


# ---------------------------------------------------------------------------------------------
# saturation and symmetric points
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", DEVICE_MODELS)
def test_long_up_and_down_runs_saturate_at_the_bounds(model):
    # dw_min = 0.01 and 6000 pulses: the slowest approach (exponential, gamma 1: rate dw_min / (b (e - 1))
    # per pulse near the bound, b <= 0.6 (1 + 3 * 0.3) = 1.1, so >= 0.0053) leaves a residual < exp(-30).
    cfg = DeviceConfig(model=model, dw_min=0.01, w_max=0.6, w_min=-0.5, **NO_NOISE, w_max_dtod=0.3, w_min_dtod=0.3,
                       **{k: v for k, v in NO_SPREAD.items() if not k.startswith("w_")})
    dm = device_model(cfg)
    state = state_for(cfg, (1, 50))
    # A run saturates at the bound, or (exp_step: q = max(1 - A e^{gamma z}, 0)) where the step vanishes first.
    apply_pulse_counts(state, dm, np.full((1, 50), 6000), 1)
    at_bound = np.abs(state.w - state.bound_max) < 1e-9
    stalled = mean_steps(dm, state, state.w, up=True) < 1e-9 * cfg.dw_min
    assert np.all(at_bound | stalled) and (model == "exp_step" or at_bound.all())
    apply_pulse_counts(state, dm, np.full((1, 50), -6000), 2)
    at_bound = np.abs(state.w - state.bound_min) < 1e-9
    stalled = mean_steps(dm, state, state.w, up=False) < 1e-9 * cfg.dw_min
    assert np.all(at_bound | stalled) and (model == "exp_step" or at_bound.all())


def test_soft_bounds_approach_the_bound_geometrically():
    # Noise-free soft bounds from w0: w_n = b - (b - w0) (1 - s/b)^n, s and b as stored (float32).
    cfg = DeviceConfig(model="soft_bounds", dw_min=0.01, w_max=0.6, w_min=-0.6, **NO_NOISE, **NO_SPREAD)
    dm = device_model(cfg)
    state = state_for(cfg, (1, 1))
    for n in (1, 10, 100):
        state.w[...] = -0.2
        apply_pulse_counts(state, dm, np.full((1, 1), n), 0)
        s, b = float(state.scale_up[0, 0]), float(state.bound_max[0, 0])
        expected = b - (b + 0.2) * (1 - s / b) ** n
        np.testing.assert_allclose(state.w[0, 0], expected, rtol=1e-12)


@pytest.mark.parametrize("c", [0.0, 0.3, -0.5])
def test_alternating_train_settles_at_c_tau(c):
    # Soft bounds with offset c (plus_minus scaling): q+ = (1 + c)(1 - w/tau), q- = (1 - c)(1 + w/tau),
    # symmetric point c*tau. The noise-free up/down map's fixed point w* obeys s+(w*) = s-(w* + s+(w*)),
    # i.e. G(w*) = O(dw^2 / tau), so |w* - c tau| <= dw_min (first order in dw_min, slope of G ~ 1/tau).
    tau, dw = 0.6, 0.002
    cfg = DeviceConfig(model="soft_bounds", dw_min=dw, up_down=c, up_down_scaling="plus_minus", w_max=tau, w_min=-tau, **NO_NOISE, **NO_SPREAD)
    dm = device_model(cfg)
    state = state_for(cfg, (1, 4))
    state.w[...] = state.bound_min
    cycles = 4000  # contraction per cycle ~ (s+ + s-)/tau = 2 dw / tau: exp(-4000 * 0.0067) ~ 3e-12
    mean, _ = pulse_protocol(state, dm, np.tile([1, -1], cycles), 3)
    assert abs(mean[-1] - c * tau) <= dw
    # closed form; parameters are stored as float32 (relative rounding 6e-8), hence 1e-6 * tau
    np.testing.assert_allclose(symmetric_points(dm, state), c * tau, rtol=0, atol=1e-6 * tau)


def test_aihwkit_up_down_scaling_symmetric_point():
    # aihwkit's C++ populate: up_down = c > 0 leaves scale_up = dw_min and sets scale_down = (1 - c) dw_min;
    # soft bounds then balance at w = tau (su - sd) / (su + sd) = tau c / (2 - c).
    c, tau = 0.4, 1.0
    cfg = DeviceConfig(model="soft_bounds", up_down=c, up_down_scaling="shrink_smaller", w_max=tau, w_min=-tau,
                       **NO_NOISE, **NO_SPREAD)
    dm = device_model(cfg)
    state = state_for(cfg, (2, 2))
    np.testing.assert_allclose(state.scale_up, cfg.dw_min, rtol=1e-6)
    np.testing.assert_allclose(state.scale_down, cfg.dw_min * (1 - c), rtol=1e-6)
    np.testing.assert_allclose(symmetric_points(dm, state), tau * c / (2 - c), rtol=1e-6)


NONLINEAR = {"power": {"gamma_up": 1.5, "gamma_down": 0.8}, "exponential": {"gamma_up": 2.0, "gamma_down": 0.5},
             "pow_step": {"gamma_up": 1.2}, "piecewise": {"piecewise_up": [1.5, 1.0, 0.3],
                                                        "piecewise_down": [0.2, 0.9, 1.6]},
             "linear_step": {"gamma_up": 0.6, "gamma_down": 0.3}, "soft_bounds": {"up_down": 0.2}}


@pytest.mark.parametrize("model", DEVICE_MODELS)
def test_symmetric_point_agrees_with_simulated_alternating_train(model):
    # The closed form (G = 0) and the alternating train's fixed point differ by O(dw_min) (see above); the
    # steps here are at most max(q) * dw_min * (1 + 3 * 0.1 spread), hence the tolerance 3 * dw_min.
    dw = 0.002
    cfg = DeviceConfig(model=model, dw_min=dw, w_max=0.6, w_min=-0.6, dw_min_dtod=0.1, up_down_dtod=0.05,
                       w_max_dtod=0.1, w_min_dtod=0.1, **NO_NOISE, **NONLINEAR.get(model, {}))
    dm = device_model(cfg)
    state = state_for(cfg, (5, 8), seed=4)
    auto = symmetric_points(dm, state)
    if model == "constant_step":
        # Steps never balance: a train drifts by (s+ - s-) per cycle, which can be arbitrarily slow, to the
        # bound of the larger step, where it ends oscillating within one step: compare with its exact limit.
        simulated = symmetric_points(dm, state, method="fixed_point")
    else:
        simulated = symmetric_points(dm, state, method="simulate", cycles=20000)
    np.testing.assert_allclose(auto, simulated, rtol=0, atol=3 * dw)
    assert np.all(auto >= state.bound_min) and np.all(auto <= state.bound_max)


def test_noisy_devices_fluctuate_around_their_symmetric_points():
    # With cycle-to-cycle noise the train wanders around each device's symmetric point. The mean over M
    # devices of (w - w_sym) has standard error sd / sqrt(M), sd the observed spread across devices; the
    # alternating-map offset adds at most dw_min (above). Tolerance: 5 standard errors + dw_min.
    dw, c, tau = 0.002, 0.3, 0.6
    cfg = DeviceConfig(model="soft_bounds", dw_min=dw, up_down=c, up_down_scaling="plus_minus", w_max=tau, w_min=-tau, dw_min_std=0.3,
                       dw_min_dtod=0.1, up_down_dtod=0.02, w_max_dtod=0.1, w_min_dtod=0.1)
    dm = device_model(cfg)
    state = state_for(cfg, (1, 2000), seed=8)
    state.w[...] = 0.0
    pulse_protocol(state, dm, np.tile([1, -1], 3000), 11)
    offset = state.w[0] - symmetric_points(dm, state)[0]
    assert abs(offset.mean()) < 5 * offset.std() / np.sqrt(offset.size) + dw


# ---------------------------------------------------------------------------------------------
# update management and the stochastic update
# ---------------------------------------------------------------------------------------------
def test_expected_pulse_counts_under_update_management():
    # Per sample and slot t, coincidences N_t = R_t C_t with R_t = sum_i Bern(p_i), C_t = sum_j Bern(q_j)
    # independent; E N = BL sum p sum q = sum_ij lr |d_i| |x_j| / dw_min under update management, and
    # Var N_t = E[R^2] E[C^2] - (E R E C)^2, slots and samples independent. Tolerance: 5 sigma of the total.
    dw, lr, bl, samples = 0.001, 0.01, 31, 200
    cfg = DeviceConfig(model="constant_step", dw_min=dw, **NO_NOISE, **NO_SPREAD)
    dm = device_model(cfg)
    rng = np.random.default_rng(0)
    x, d = rng.uniform(-1, 1, 30), rng.normal(0, 0.3, 40)
    ucfg = UpdateConfig(bl=bl, update_bl_management=False)
    plan = update_management(np.array([np.abs(x).max()]), np.array([np.abs(d).max()]), lr, dw, ucfg)
    p, q = np.abs(d) * plan.scale_d[0], np.abs(x) * plan.scale_x[0]
    assert p.max() < 1 and q.max() < 1  # no clipping, so the expectation is exact
    np.testing.assert_allclose(bl * p.sum() * q.sum(), lr * np.abs(d).sum() * np.abs(x).sum() / dw, rtol=1e-12)
    # update management balances the two sides: max p == max q
    np.testing.assert_allclose(p.max(), q.max(), rtol=1e-12)
    state = state_for(cfg, (40, 30))
    stats = pulsed_update(state, dm, np.tile(x, (samples, 1)), np.tile(d, (samples, 1)), lr, ucfg, 9, 0)
    mean_r, var_r = p.sum(), (p * (1 - p)).sum()
    mean_c, var_c = q.sum(), (q * (1 - q)).sum()
    var_slot = (var_r + mean_r ** 2) * (var_c + mean_c ** 2) - (mean_r * mean_c) ** 2
    expected = samples * lr * np.abs(d).sum() * np.abs(x).sum() / dw
    assert abs(stats.device_pulses.sum() - expected) < 5 * np.sqrt(samples * bl * var_slot)
    # driver pulses: binomial sums, variance BL sum p (1 - p) per sample
    assert abs(stats.row_pulses.sum() - samples * bl * mean_r) < 5 * np.sqrt(samples * bl * var_r)
    assert abs(stats.col_pulses.sum() - samples * bl * mean_c) < 5 * np.sqrt(samples * bl * var_c)
    assert np.all(stats.bl == bl)


def test_update_bl_management_shortens_bl():
    cfg = UpdateConfig(bl=31)
    plan = update_management(np.array([1.0, 1.0, 1.0]), np.array([0.0005, 0.0123, 10.0]), 0.1, 0.001, cfg)
    # BL = ceil(lr max|x| max|d| / dw_min), capped at the configured BL
    assert plan.bl.tolist() == [1, 2, 31]


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_stochastic_mean_change_equals_expected_value_update(noise):
    # Per device, the mean change over R independent trials of one sample has standard error s / sqrt(R)
    # (s the observed std over trials). Pulses within a sample change w by ~n steps, so the soft-bounds
    # step differs from its value at w0 by at most n * s_max / |b|: bias <= E[n^2] s_max^2 / (2 |b|_min),
    # E[n^2] <= E[n]^2 + E[n]. Tolerance per device: 5 standard errors + that bias (400 devices,
    # two-sided 5 sigma: a false failure has probability < 400 * 6e-7).
    dw, lr, trials = 0.001, 0.02, 400
    cfg = DeviceConfig(model="soft_bounds", dw_min=dw, up_down=0.2, w_max=0.6, w_min=-0.6, dw_min_std=noise,
                       dw_min_dtod=0.2, w_max_dtod=0.1, w_min_dtod=0.1)
    dm = device_model(cfg)
    rng = np.random.default_rng(1)
    base = state_for(cfg, (20, 20), seed=2)
    w0 = np.clip(rng.uniform(-0.4, 0.4, (20, 20)), base.bound_min, base.bound_max)
    x, d = rng.uniform(-1, 1, (1, 20)), rng.normal(0, 0.3, (1, 20))
    changes = np.empty((trials, 20, 20))
    for t in range(trials):
        state = base.copy()
        state.w[...] = w0
        pulsed_update(state, dm, x, d, lr, UpdateConfig(), 77, t)
        changes[t] = state.w - w0
    delta = -lr * d[0][:, None] * x[0][None, :]
    f, g = response_parts(dm, base, w0)
    expected = delta * f - np.abs(delta) * g
    n_mean = np.abs(delta) / dw
    s_max = max(base.scale_up.max(), base.scale_down.max())
    bias = (n_mean ** 2 + n_mean) * s_max ** 2 / (2 * min(base.bound_max.min(), -base.bound_min.max()))
    error = np.abs(changes.mean(axis=0) - expected)
    assert np.all(error <= 5 * changes.std(axis=0, ddof=1) / np.sqrt(trials) + bias)
    # the expected-value mode without noise applies exactly dW F - |dW| G
    quiet = DeviceConfig(**{**cfg.__dict__, "dw_min_std": 0.0})
    state = base.copy()
    state.w[...] = w0
    pulsed_update(state, device_model(quiet), x, d, lr, UpdateConfig(mode="expected"), 77, 0)
    np.testing.assert_allclose(state.w - w0, expected, rtol=1e-9, atol=1e-15)


def test_expected_mode_noise_has_the_variance_of_n_pulses():
    # Constant step, multiplicative noise sigma: n = |dW| / dw_min pulses' worth of change has variance
    # n (sigma dw_min)^2. Over M devices the sample variance has relative standard error sqrt(2 / M).
    dw, sigma = 0.001, 0.3
    cfg = DeviceConfig(model="constant_step", dw_min=dw, dw_min_std=sigma, **NO_SPREAD, w_max=10.0, w_min=-10.0)
    dm = device_model(cfg)
    state = state_for(cfg, (200, 200))
    x, d = np.ones((1, 200)), np.full((1, 200), -1.0)
    lr = 0.004  # n = 4 pulses' worth
    pulsed_update(state, dm, x, d, lr, UpdateConfig(mode="expected"), 5, 0)
    change = state.w.ravel()
    assert abs(change.mean() - 4 * dw) < 5 * np.sqrt(4) * sigma * dw / np.sqrt(change.size)
    assert abs(change.var() / (4 * (sigma * dw) ** 2) - 1) < 5 * np.sqrt(2 / change.size)


# ---------------------------------------------------------------------------------------------
# device-to-device variation, write noise
# ---------------------------------------------------------------------------------------------
def test_device_to_device_spreads_have_the_configured_statistics():
    # n samples of a normal with std s: the mean has standard error s / sqrt(n), the sample std
    # s / sqrt(2 n). Spreads are small enough that aihwkit's sign enforcement (|.|) never acts (> 8 sigma).
    cfg = DeviceConfig(model="linear_step", dw_min=0.002, dw_min_dtod=0.1, up_down=0.2, up_down_dtod=0.05, up_down_scaling="plus_minus",
                       w_max=0.8, w_min=-0.5, w_max_dtod=0.1, w_min_dtod=0.12, gamma_up=0.5, gamma_down=0.4,
                       gamma_up_dtod=0.05, gamma_down_dtod=0.03)
    state = state_for(cfg, (300, 300), seed=3)
    n = state.w.size

    def check(values, mean, std):
        values = np.asarray(values, dtype=np.float64).ravel()
        assert abs(values.mean() - mean) < 5 * std / np.sqrt(n)
        assert abs(values.std() - std) < 5 * std / np.sqrt(2 * n)

    check(state.bound_max / 0.8, 1.0, 0.1)
    check(state.bound_min / -0.5, 1.0, 0.12)
    su, sd = state.scale_up.astype(float), state.scale_down.astype(float)
    check((su + sd) / (2 * 0.002), 1.0, 0.1)         # gain = 1 + dw_min_dtod xi
    check((su - sd) / (2 * 0.002), 0.2, 0.05)        # c + up_down_dtod xi
    check(state.gamma_up, 0.5, 0.05)
    check(state.gamma_down, 0.4, 0.03)
    again = state_for(cfg, (300, 300), seed=3)
    np.testing.assert_array_equal(again.scale_up, state.scale_up)
    assert not np.array_equal(state_for(cfg, (300, 300), seed=4).scale_up, state.scale_up)


def test_write_noise_has_the_configured_std():
    # apparent - true weight ~ N(0, (write_noise_std * dw_min)^2) for every pulsed device;
    # sample std standard error sigma / sqrt(2 n).
    cfg = DeviceConfig(model="soft_bounds", dw_min=0.002, write_noise_std=5.0, **NO_SPREAD)
    dm = device_model(cfg)
    state = state_for(cfg, (100, 100))
    apply_pulse_counts(state, dm, np.ones((100, 100), dtype=np.int64), 3)
    noise = (state.w_apparent - state.w).ravel()
    sigma = 5.0 * 0.002
    assert abs(noise.mean()) < 5 * sigma / np.sqrt(noise.size)
    assert abs(noise.std() - sigma) < 5 * sigma / np.sqrt(2 * noise.size)


def test_response_parts_of_the_offset_linear_device():
    # docs/physics.md: q+ = (1 + c)(1 - w/tau), q- = (1 - c)(1 + w/tau): F = 1 - c w / tau, G = w / tau - c.
    c, tau = 0.3, 0.7
    cfg = DeviceConfig(model="soft_bounds", up_down=c, up_down_scaling="plus_minus", w_max=tau, w_min=-tau, **NO_NOISE, **NO_SPREAD)
    dm = device_model(cfg)
    state = state_for(cfg, (1, 9))
    w = np.linspace(-0.6, 0.6, 9)[None, :]
    f, g = response_parts(dm, state, w)
    np.testing.assert_allclose(f, 1 - c * w / tau, rtol=1e-6)
    np.testing.assert_allclose(g, w / tau - c, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(mean_steps(dm, state, w, True), cfg.dw_min * (1 + c) * (1 - w / tau), rtol=1e-6)
