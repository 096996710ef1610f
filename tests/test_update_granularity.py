"""Update management scales by each model's mean step at w = 0 (``dw0``), so the realised update at 0 is
``-lr d x`` for every model and preset (aihwkit's weight granularity rule).

Statistical tests use fixed seeds; each tolerance is derived from the statistics of the quantity tested.
"""

import numpy as np
import pytest

from archsim.config.device import DEVICE_MODELS, DeviceConfig, UpdateConfig
from archsim.devices.models import device_model, mean_steps, sample_device_state
from archsim.devices.presets import DEVICE_PRESETS
from archsim.devices.update import pulsed_update

CASES = [dict(model=m) for m in DEVICE_MODELS] + [dict(model="pow_step", gamma_up=2.0, gamma_down=2.0),
                                                   dict(model="piecewise", piecewise_up=[2.0, 1.5, 0.5],
                                                        piecewise_down=[0.5, 1.0, 2.0])]
CASES += [dict(DEVICE_PRESETS[name]) for name in DEVICE_PRESETS]
IDS = [f"{c['model']}-{i}" for i, c in enumerate(CASES)]
N_DEVICES = 100_000


def test_dw0_is_aihwkits_weight_granularity_when_up_down_is_zero():
    # aihwkit calcWeightGranularity: pow_step dw_min 0.5^gamma, exp_step the step at 0, piecewise the middle node.
    assert device_model(DeviceConfig(model="pow_step", gamma_up=2.0, gamma_down=2.0)).dw0 == pytest.approx(0.25e-3)
    cfg = DeviceConfig(model="exp_step")
    z = cfg.es_b
    down = 1 - cfg.es_A_down * np.exp(-cfg.gammas()[1] * z)
    up = 1 - cfg.es_A_up * np.exp(cfg.gammas()[0] * z)
    assert device_model(cfg).dw0 == pytest.approx(cfg.dw_min * (up + down) / 2, rel=1e-12)
    cfg = DeviceConfig(model="piecewise", piecewise_up=[3.0, 2.0, 1.0], piecewise_down=[1.0, 2.0, 3.0])
    assert device_model(cfg).dw0 == pytest.approx(2.0 * cfg.dw_min)
    for model in ("constant_step", "linear_step", "soft_bounds", "power", "exponential"):
        assert device_model(DeviceConfig(model=model)).dw0 == pytest.approx(1e-3, rel=1e-12)


@pytest.mark.parametrize("mode", ["stochastic", "expected"])
@pytest.mark.parametrize("fields", CASES, ids=IDS)
def test_realised_update_at_zero_is_minus_lr_d_x(fields, mode):
    # One sample on 1 x N devices at w = 0: d = -1 (up pulses) or +1 (down), x_j uniform in [0.2, 1], lr = dw0,
    # so each device expects x_j pulses' worth (at most one pulse: BL = 1). The ratio R = sum(dw_j) / sum(lr x_j)
    # of each direction has standard error se = sqrt(sum(r_j^2)) / sum(lr x_j), r_j the residuals
    # dw_j - R lr x_j (pulse-count, cycle-to-cycle and device-to-device noise together). The mean of the two
    # directions must be 1 within 4.5 standard errors (fixed seed; a false failure has probability < 1e-5).
    if fields["model"] in ("pow_step", "piecewise"):
        # Their step at 0 depends on where 0 sits between the device's own bounds (and on gamma), so the bounds'
        # device-to-device spread moves the population mean step off the nominal one at second order
        # (E[r^gamma] != E[r]^gamma; pow_step gamma 2 with 30 % spreads: +5 %). aihwkit's granularity is the
        # nominal device's too; no preset uses these models. Other spreads (gain, up_down) stay on.
        fields = dict(fields, w_max_dtod=0.0, w_min_dtod=0.0, gamma_up_dtod=0.0, gamma_down_dtod=0.0,
                      pow_gamma_dtod=0.0)
    cfg = DeviceConfig(**fields)
    model = device_model(cfg)
    x = np.random.default_rng(1).uniform(0.2, 1.0, size=(1, N_DEVICES))
    lr = model.dw0
    ratios, variances = [], []
    for d_value in (-1.0, 1.0):
        state = sample_device_state(cfg, (1, N_DEVICES), np.random.default_rng(2))
        w0 = state.w.copy()
        pulsed_update(state, model, x, np.array([[d_value]]), lr, UpdateConfig(mode=mode), 7, 0)
        change = (state.w - w0)[0] * (-d_value)       # realised update along -lr d x, per device
        target = lr * x[0]
        ratio = change.sum() / target.sum()
        residual = change - ratio * target
        ratios.append(ratio)
        variances.append((residual ** 2).sum() / target.sum() ** 2)
    mean_ratio = 0.5 * (ratios[0] + ratios[1])
    se = 0.5 * np.sqrt(variances[0] + variances[1])
    assert abs(mean_ratio - 1.0) < 4.5 * se + 1e-9, (ratios, se)


def test_mean_step_at_zero_of_the_nominal_device_is_dw0():
    # Without device-to-device spread or up_down, every device's mean step at 0 (both directions) is dw0.
    for fields in CASES:
        cfg = DeviceConfig(**{**fields, "dw_min_dtod": 0.0, "up_down_dtod": 0.0, "up_down": 0.0,
                              "w_max_dtod": 0.0, "w_min_dtod": 0.0, "gamma_up_dtod": 0.0, "gamma_down_dtod": 0.0,
                              "pow_gamma_dtod": 0.0})
        model = device_model(cfg)
        state = sample_device_state(cfg, (1, 3), np.random.default_rng(0))
        steps = 0.5 * (mean_steps(model, state, np.zeros((1, 3)), True) + mean_steps(model, state, np.zeros((1, 3)), False))
        np.testing.assert_allclose(steps, model.dw0, rtol=1e-6)   # float32 parameters in the state
