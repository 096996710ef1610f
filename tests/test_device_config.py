"""Device parameters in aihwkit's spelling, aihwkit's up_down convention and PowStep exponent spreads."""

import numpy as np
import pytest

from archsim.config import load_hw_config
from archsim.config.device import DeviceConfig
from archsim.devices.models import sample_device_state
from archsim.errors import ConfigError


def test_aihwkit_spellings_set_the_archsim_fields():
    cfg = DeviceConfig(model="exp_step", A_up=0.1, A_down=0.2, a=0.3, b=0.4)
    assert (cfg.es_A_up, cfg.es_A_down, cfg.es_a, cfg.es_b) == (0.1, 0.2, 0.3, 0.4)
    assert cfg.A_up is None
    cfg = DeviceConfig(model="pow_step", pow_gamma=2.5)
    assert cfg.gammas() == (2.5, 2.5)
    cfg = DeviceConfig(dw_min_std=0.4, mult_noise=False)
    assert (cfg.dw_min_std, cfg.dw_min_std_add) == (0.0, 0.4)
    hw = load_hw_config(None, ["hw.device.model=pow_step", "hw.device.pow_gamma=3"])
    assert hw.device.gammas() == (3.0, 3.0)


def test_an_alias_contradicting_its_field_is_a_one_line_error():
    with pytest.raises(ConfigError) as error:
        load_hw_config(None, ["hw.device.model=exp_step", "hw.device.A_up=0.1", "hw.device.es_A_up=0.2"])
    assert "hw.device.A_up" in str(error.value) and "\n" not in str(error.value)


def test_up_down_shrinks_only_the_weaker_direction_by_default():
    # aihwkit 1.1 PulsedRPUDevice::populate: up_down > 0 shrinks the down step by (1 - up_down), and vice versa.
    quiet = dict(dw_min=0.01, dw_min_dtod=0.0, up_down_dtod=0.0)
    for c, up, down in ((0.2, 0.01, 0.008), (-0.3, 0.007, 0.01)):
        state = sample_device_state(DeviceConfig(up_down=c, **quiet), (1, 1), np.random.default_rng(0))
        assert state.scale_up[0, 0] == pytest.approx(up) and state.scale_down[0, 0] == pytest.approx(down)
    state = sample_device_state(DeviceConfig(up_down=0.2, up_down_scaling="plus_minus", **quiet), (1, 1),
                                np.random.default_rng(0))
    assert state.scale_up[0, 0] == pytest.approx(0.012) and state.scale_down[0, 0] == pytest.approx(0.008)


def test_pow_step_spreads_its_exponents_as_aihwkit():
    # aihwkit PowStep: gamma_up = gamma (gain + up_bias + r), gamma_down = gamma (gain + down_bias - r) with
    # gain = 1 + pow_gamma_dtod xi shared by both directions and r = pow_up_down_dtod xi'. With n devices the
    # means have standard errors std / sqrt(n) and the shared gain makes up + down and up - down independent.
    gamma, n = 2.0, 90_000
    cfg = DeviceConfig(model="pow_step", pow_gamma=gamma, pow_gamma_dtod=0.1, pow_up_down=0.2,
                       pow_up_down_dtod=0.05)
    state = sample_device_state(cfg, (300, 300), np.random.default_rng(3))
    up, down = state.gamma_up.astype(float).ravel() / gamma, state.gamma_down.astype(float).ravel() / gamma
    total, difference = (up + down) / 2, (up - down) / 2   # gain - 0.1, 0.1 + r
    assert abs(total.mean() - 0.9) < 5 * 0.1 / np.sqrt(n)
    assert abs(total.std() - 0.1) < 5 * 0.1 / np.sqrt(2 * n)
    assert abs(difference.mean() - 0.1) < 5 * 0.05 / np.sqrt(n)
    assert abs(difference.std() - 0.05) < 5 * 0.05 / np.sqrt(2 * n)
