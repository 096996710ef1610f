"""Closed-form predictions of the seed paper's theory, for tests and figures.

Analog SGD with an asymmetric linear (soft-bounds) device moves each weight on average by
``E[dw] = -lr * (E[g] * F(w) + E|g| * G(w))`` with ``F = (q- + q+)/2`` and ``G = (q- - q+)/2``.
For ``q+ = (1+c)(1 - w/tau)`` and ``q- = (1-c)(1 + w/tau)`` this is ``F = 1 - c w/tau`` and
``G = w/tau - c``. Analog SGD therefore settles where ``E[g] F(w) + s G(w) = 0`` with ``s = E|g|``:
for c = 0 this is the minimum of the penalised objective ``f(W) + sum_ij s_ij/(2 tau) W_ij^2`` — the
implicit penalty — and not the minimum of f.

The same holds for any response (the seed paper, arXiv 2502.06309): with ``F`` and ``G`` computed from the
device model's own mean steps (:func:`device_response`), Analog SGD's stationary point satisfies
``E[g] F(W) + E|g| G(W) = 0`` (the implicit penalty has gradient ``E|g| G/F``);
:func:`lsq_analog_sgd_stationary_point` solves it for any device model.

For the empirical least squares ``f(W) = 1/(2n) sum ||W x_n - y_n||^2`` over the training samples,
``E[g] = (W - W_ls) S`` with ``S = X^T X / n``, and ``s_ij = E|(W x - y)_i x_j|`` depends on W;
:func:`lsq_analog_sgd_fixed_point` solves the two self-consistently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

#: Device-to-device spreads, zeroed to get the nominal device the theory is about.
_SPREADS = (
    "dw_min_dtod",
    "up_down_dtod",
    "w_max_dtod",
    "w_min_dtod",
    "gamma_up_dtod",
    "gamma_down_dtod",
    "pow_gamma_dtod",
    "pow_up_down_dtod",
)


def lsq_minimum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Minimiser W_ls of the empirical least squares f(W) = 1/(2n) sum ||W x_n - y_n||^2."""
    return np.linalg.lstsq(x, y, rcond=None)[0].T


def relative_error(weights: np.ndarray, optimum: np.ndarray) -> float:
    """The seed paper's least-squares metric ``||W - W*||^2 / ||W*||^2``."""
    return float(np.sum((weights - optimum) ** 2) / np.sum(optimum**2))


def lsq_gradient_abs_mean(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """s_ij = E|g_ij| over the training samples of the single-sample gradient g = (W x - y) x^T."""
    residual = x @ weights.T - y
    return (np.abs(residual).T @ np.abs(x)) / len(x)


def lsq_penalised_minimum(x: np.ndarray, y: np.ndarray, s: np.ndarray, tau: float) -> np.ndarray:
    """Closed-form minimiser of f(W) + sum_ij s_ij/(2 tau) W_ij^2 for the empirical least squares.

    Row by row: w_i (S + diag(s_i/tau)) = w_ls_i S with S = X^T X / n.
    """
    covariance = x.T @ x / len(x)
    target = lsq_minimum(x, y) @ covariance
    weights = np.empty_like(s)
    for i in range(s.shape[0]):
        weights[i] = np.linalg.solve(covariance + np.diag(s[i] / tau), target[i])
    return weights


def lsq_analog_sgd_fixed_point(x: np.ndarray, y: np.ndarray, tau: float, iterations: int = 8):
    """Analog SGD's fixed point on the linear device (c = 0): the penalised minimum with s evaluated
    at that same point, found by fixed-point iteration. Returns (W, s)."""
    weights = lsq_minimum(x, y)
    s = np.zeros_like(weights)
    for _ in range(iterations):
        s = lsq_gradient_abs_mean(weights, x, y)
        weights = lsq_penalised_minimum(x, y, s, tau)
    return weights, s


def device_response(device) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``w -> (F(w), G(w))`` of the nominal device (no device-to-device spread) of ``device`` (a
    :class:`~archsim.config.device.DeviceConfig` of any model), from the model's own mean steps normalised by
    the step at 0 that update management scales by (so ``F(0) = 1`` for a device without up/down asymmetry)."""
    from archsim.devices.models import device_model, response_parts, sample_device_state

    nominal = dataclasses.replace(device, **{name: 0.0 for name in _SPREADS})
    model = device_model(nominal)

    def response(w):
        w = np.asarray(w, dtype=np.float64)
        state = sample_device_state(nominal, (1, max(w.size, 1)), np.random.default_rng(0))
        f, g = response_parts(model, state, w.reshape(1, -1))
        return f.reshape(w.shape), g.reshape(w.shape)

    return response


def lsq_analog_sgd_stationary_point(x: np.ndarray, y: np.ndarray, device, iterations: int = 60, damping: float = 0.5):
    """Analog SGD's stationary point on the empirical least squares for any device model: W with
    ``(W - W_ls) S + s(W) R(W) = 0``, ``R = G/F``, ``s = E|g|`` (the equation above divided by F).

    Each iteration linearises R about the current W (``R(W) ~ R(W_k) + R'(W_k)(W - W_k)``, R' by central
    differences) and solves the resulting linear system row by row; steps are damped. For soft bounds with
    c = 0, R = W/tau is linear and the first iteration is :func:`lsq_penalised_minimum`. Returns (W, s).
    """
    response = device_response(device)
    lo, hi = device.w_min, device.w_max
    margin = 1e-6 * (hi - lo)
    h = 1e-5 * (hi - lo)

    def ratio(w):
        f, g = response(np.clip(w, lo + margin, hi - margin))
        return g / f

    covariance = x.T @ x / len(x)
    w_ls = lsq_minimum(x, y)
    target = w_ls @ covariance
    weights = np.clip(w_ls, lo + margin, hi - margin)
    s = np.zeros_like(weights)
    for _ in range(iterations):
        s = lsq_gradient_abs_mean(weights, x, y)
        r = ratio(weights)
        slope = (ratio(weights + h) - ratio(weights - h)) / (2 * h)
        proposal = np.empty_like(weights)
        for i in range(weights.shape[0]):
            system = covariance + np.diag(s[i] * slope[i])
            proposal[i] = np.linalg.solve(system, target[i] - s[i] * (r[i] - slope[i] * weights[i]))
        step = np.clip(proposal, lo + margin, hi - margin) - weights
        weights = weights + (damping if iterations > 1 else 1.0) * step
        if np.abs(step).max() < 1e-10 * (hi - lo):
            break
    return weights, s
