"""Every device model stays finite at extreme valid parameters: mean steps, symmetric points and the weights
after every kind of update are finite and within each device's bounds (no NaN, whatever the parameters).

Parameter sets are drawn with a fixed seed from the corners of the valid ranges (the limits declared in
:mod:`archsim.config.device`) and from the cases known to have overflowed.
"""

import numpy as np
import pytest

from archsim.config.device import (DEVICE_MODELS, MAX_GAMMA, MAX_MAGNITUDE, MAX_SPREAD, MAX_WRITE_NOISE,
                                   DeviceConfig, UpdateConfig)
from archsim.devices import kernels
from archsim.devices import update as update_module
from archsim.devices.models import device_model, mean_steps, sample_device_state, symmetric_points
from archsim.devices.registry import BY_CODE
from archsim.devices.update import apply_pulse_counts, pulse_protocol, pulsed_update

CORNERS = {
    "dw_min": [1e-12, 1e-3, 0.5, MAX_MAGNITUDE],
    "dw_min_dtod": [0.0, 0.3, MAX_SPREAD],
    "dw_min_std": [0.0, 0.3, MAX_MAGNITUDE],
    "dw_min_std_add": [0.0, MAX_MAGNITUDE],
    "up_down": [-0.999, 0.0, 0.999],
    "up_down_scaling": ["plus_minus", "shrink_smaller"],
    "up_down_dtod": [0.0, MAX_SPREAD],
    "w_max": [1e-300, 0.01, 0.6, MAX_MAGNITUDE],
    "w_min": [-MAX_MAGNITUDE, -1.0, -1e-300],
    "w_max_dtod": [0.0, 1.0, MAX_SPREAD],
    "w_min_dtod": [0.0, 1.0, MAX_SPREAD],
    "gamma_up": [-MAX_GAMMA, -1.0, 0.0, 1e-12, 10.0, MAX_GAMMA],
    "gamma_down": [-MAX_GAMMA, 0.0, 10.0, MAX_GAMMA],
    "gamma_up_dtod": [0.0, MAX_SPREAD],
    "gamma_down_dtod": [0.0, MAX_SPREAD],
    "es_A_up": [-MAX_MAGNITUDE, 0.0, 0.00081, MAX_MAGNITUDE],
    "es_A_down": [-MAX_MAGNITUDE, 0.0, 0.36833, MAX_MAGNITUDE],
    "es_a": [-MAX_MAGNITUDE, 0.244, MAX_MAGNITUDE],
    "es_b": [-MAX_MAGNITUDE, 0.2425, MAX_MAGNITUDE],
    "write_noise_std": [0.0, MAX_WRITE_NOISE],
}
KNOWN = [  # issue cases that produced NaN before the steps were capped
    dict(model="exponential", w_max=0.01, w_min=-1.0, gamma_up=10.0, gamma_down=10.0),
    dict(model="exponential", gamma_up=MAX_GAMMA, gamma_down=MAX_GAMMA),
    dict(model="soft_bounds", w_max_dtod=1.0, w_min_dtod=1.0),
    dict(model="power", w_max=0.01, w_min=-MAX_MAGNITUDE, gamma_up=MAX_GAMMA, gamma_down=MAX_GAMMA),
    dict(model="exp_step", es_A_up=0.0, es_a=MAX_MAGNITUDE, gamma_up=MAX_GAMMA),
]


def draw_sets(model: str, count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(count):
        fields = {key: values[rng.integers(len(values))] for key, values in CORNERS.items()}
        n_nodes = int(rng.integers(1, 6))
        fields["piecewise_up"] = list(rng.choice([0.0, 1.0, MAX_MAGNITUDE], n_nodes))
        fields["piecewise_down"] = list(rng.choice([0.0, 1.0, MAX_MAGNITUDE], n_nodes))
        sets.append(dict(fields, model=model))
    return sets


def assert_in_bounds(state):
    assert np.isfinite(state.w).all()
    assert (state.w >= state.bound_min).all() and (state.w <= state.bound_max).all()
    if state.w_apparent is not None:
        assert np.isfinite(state.w_apparent).all()


@pytest.mark.parametrize("model", DEVICE_MODELS)
def test_every_model_stays_finite_at_extreme_valid_parameters(model):
    sets = draw_sets(model, 12, DEVICE_MODELS.index(model)) + [k for k in KNOWN if k["model"] == model]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, (3, 8))
    d = rng.uniform(-1.0, 1.0, (3, 5))
    for fields in sets:
        cfg = DeviceConfig(**fields)
        dm = device_model(cfg)
        assert np.isfinite(dm.dw0) and dm.dw0 > 0.0, fields
        for mode in ("stochastic", "mean_count", "expected"):
            state = sample_device_state(cfg, (5, 8), np.random.default_rng(1))
            for lr in (1e-3, 1e6):
                pulsed_update(state, dm, x, d, lr, UpdateConfig(mode=mode), 3, 0)
                assert_in_bounds(state)
        for w in (state.bound_min, state.bound_max, np.zeros(state.shape), state.w):
            for up in (True, False):
                assert np.isfinite(mean_steps(dm, state, np.clip(w, state.bound_min, state.bound_max), up)).all()
        apply_pulse_counts(state, dm, np.full(state.shape, 40), 5)
        assert_in_bounds(state)
        apply_pulse_counts(state, dm, np.full(state.shape, -40), 6)
        assert_in_bounds(state)
        points = symmetric_points(dm, state)
        assert np.isfinite(points).all()
        flat = sample_device_state(cfg, (1, 6), np.random.default_rng(2))
        mean, std = pulse_protocol(flat, dm, np.array([1] * 5 + [-1] * 5), 9)
        assert np.isfinite(mean).all() and np.isfinite(std).all()
        assert_in_bounds(flat)


@pytest.mark.parametrize("model", [BY_CODE[code].name for code in kernels._DENSE_MODELS])
def test_the_vector_loops_give_the_hit_lists_bits_at_extreme_valid_parameters(model, monkeypatch):
    """The stochastic kernel with vector loops computes every device's pulse, selecting the fired ones: a lane's
    inf or NaN (a zero bound, a huge step) must not leak into a device that did not fire, nor change a fired one."""
    sets = draw_sets(model, 12, 100 + DEVICE_MODELS.index(model)) + [k for k in KNOWN if k["model"] == model]
    rng = np.random.default_rng(4)
    x = rng.uniform(-1.0, 1.0, (3, 8))
    d = rng.uniform(-1.0, 1.0, (3, 5))
    for fields in sets:
        cfg = DeviceConfig(**fields)
        dm = device_model(cfg)
        states = []
        for dense_min_work in (1 << 62, 0):  # the hit list alone, then the vector loops for every call
            monkeypatch.setattr(update_module, "DENSE_MIN_WORK", dense_min_work)
            state = sample_device_state(cfg, (5, 8), np.random.default_rng(1))
            for lr in (1e-3, 1.0, 1e6):
                pulsed_update(state, dm, x, d, lr, UpdateConfig(mode="stochastic"), 3, 0)
                assert_in_bounds(state)
            states.append(state)
        assert np.array_equal(states[0].w, states[1].w), fields
        if states[0].w_apparent is not None:
            assert np.array_equal(states[0].w_apparent, states[1].w_apparent), fields
