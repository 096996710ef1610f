"""The seed paper's general-response theory (archsim.algorithms.theory) against independent references."""

import numpy as np
import pytest

from archsim.algorithms.theory import (device_response, lsq_analog_sgd_fixed_point, lsq_analog_sgd_stationary_point,
                                       lsq_gradient_abs_mean)
from archsim.config.device import DeviceConfig

FAMILIES = [dict(model="soft_bounds", up_down=0.2, up_down_scaling="plus_minus"),
            dict(model="power", gamma_up=2.0, gamma_down=2.0),
            dict(model="exponential", gamma_up=2.0, gamma_down=3.0),
            dict(model="pow_step", gamma_up=1.5, gamma_down=1.5)]


def test_response_of_the_offset_linear_device_is_the_closed_form():
    # q+ = (1 + c)(1 - w/tau), q- = (1 - c)(1 + w/tau): F = 1 - c w/tau, G = w/tau - c
    tau, c = 3.0, 0.2
    response = device_response(DeviceConfig(model="soft_bounds", up_down=c, up_down_scaling="plus_minus",
                                            w_max=tau, w_min=-tau))
    w = np.linspace(-2.5, 2.5, 11)
    f, g = response(w)
    np.testing.assert_allclose(f, 1 - c * w / tau, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g, w / tau - c, rtol=1e-6, atol=1e-7)


def test_stationary_point_of_the_linear_device_is_the_penalised_minimum():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    y = x @ rng.normal(size=(4, 6)).T * 0.5 + rng.normal(size=(300, 4))
    expected, _ = lsq_analog_sgd_fixed_point(x, y, 3.0, iterations=40)
    found, _ = lsq_analog_sgd_stationary_point(x, y, DeviceConfig(model="soft_bounds", w_max=3.0, w_min=-3.0))
    np.testing.assert_allclose(found, expected, atol=1e-7)


@pytest.mark.parametrize("fields", FAMILIES, ids=[f["model"] for f in FAMILIES])
def test_stationary_point_solves_the_scalar_equation_found_by_bisection(fields):
    # One weight: E[g](w) F(w) + E|g|(w) G(w) = 0 with g = (w x - y) x over the samples. The left side is
    # increasing through its root here, so bisection finds it independently of the solver.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 1))
    y = 1.2 * x + rng.normal(size=(500, 1))
    device = DeviceConfig(w_max=3.0, w_min=-3.0, **fields)
    response = device_response(device)

    def balance(w):
        f, g = response(np.array([w]))
        grad = (w * x[:, 0] - y[:, 0]) * x[:, 0]
        return grad.mean() * f[0] + np.abs(grad).mean() * g[0]

    lo, hi = -2.9, 2.9
    assert balance(lo) < 0 < balance(hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if balance(mid) < 0 else (lo, mid)
    found, s = lsq_analog_sgd_stationary_point(x, y, device)
    assert found[0, 0] == pytest.approx(0.5 * (lo + hi), abs=1e-6)
    np.testing.assert_allclose(s, lsq_gradient_abs_mean(found, x, y))
