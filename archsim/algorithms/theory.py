"""Closed-form predictions of the seed paper's theory, for tests and figures.

Analog SGD with an asymmetric linear (soft-bounds) device moves each weight on average by
``E[dw] = -lr * (E[g] * F(w) + E|g| * G(w))`` with ``F = (q- + q+)/2`` and ``G = (q- - q+)/2``.
For ``q+ = (1+c)(1 - w/tau)`` and ``q- = (1-c)(1 + w/tau)`` this is ``F = 1 - c w/tau`` and
``G = w/tau - c``. Analog SGD therefore settles where ``E[g] F(w) + s G(w) = 0`` with ``s = E|g|``:
for c = 0 this is the minimum of the penalised objective ``f(W) + sum_ij s_ij/(2 tau) W_ij^2`` — the
implicit penalty — and not the minimum of f.

For the empirical least squares ``f(W) = 1/(2n) sum ||W x_n - y_n||^2`` over the training samples,
``E[g] = (W - W_ls) S`` with ``S = X^T X / n``, and ``s_ij = E|(W x - y)_i x_j|`` depends on W;
:func:`lsq_analog_sgd_fixed_point` solves the two self-consistently.
"""

from __future__ import annotations

import numpy as np


def lsq_minimum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Minimiser W_ls of the empirical least squares f(W) = 1/(2n) sum ||W x_n - y_n||^2."""
    return np.linalg.lstsq(x, y, rcond=None)[0].T


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
