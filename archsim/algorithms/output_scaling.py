"""Weight and output scaling and the digital bias: the digital periphery around an analog layer's store
(aihwkit's ``MappingParameter``, Rasch, Gokmen & Haensch, IEEE Design & Test 2019 / arXiv 1906.02698).

With ``hw.io.weight_scaling_omega = omega > 0`` a layer's weights ``W`` are programmed as ``W / alpha`` with
``alpha = max|W| / omega`` (one per output with ``weight_scaling_columnwise``; 1 where the row is all zero), so the
largest weight sits at ``omega`` of the normalised conductance range and the outputs fill more of the ADC's range;
a digital multiply by ``alpha`` per output after the ADC restores ``y = W x``. ``learn_out_scaling`` adds a second
digital scale ``s`` (initially 1, scalar or per output with ``out_scaling_columnwise``) trained by digital SGD.
``digital_bias`` keeps the bias column of ``W`` in digital memory: added after the ADC and trained by digital SGD,
instead of an always-on input row of the arrays. As in aihwkit (``TileWithPeriphery``):

- forward: ``y = s alpha (W_a x) + b``;
- backward: the transpose read is driven with ``s alpha d`` (the gradient through the digital scales);
- update: the analog store is updated with ``s d / alpha`` (aihwkit's ``pre_update``: dividing by the mapping scale
  makes the change of ``alpha W_a`` the unscaled ``-lr s d x^T``); ``b -= lr sum_b d``,
  ``s -= lr sum_b d (alpha W_a x)`` (summed over outputs for a scalar ``s``).

Deliberate difference from aihwkit: ``weight_scaling_lr_compensation`` is not offered (its default, off, is what
happens here; on, it divides the learning rate by the mean scale and multiplies ``d`` by it, the same product for a
pulsed update with update management). Digital work per vector of ``k`` outputs: ``k`` multiplies for the scale in
each direction and before the update, ``k`` adds for the bias, and the bias and scale updates (an accumulate over
the batch, a multiply by the learning rate and an add per parameter); the scales and biases stay resident in the
buffer.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from archsim.algorithms.common import WeightStore
from archsim.algorithms.recorder import StepRecorder
from archsim.config.device import IOConfig
from archsim.ops import Role


def mapping_scales(weights: np.ndarray, omega: float, columnwise: bool) -> np.ndarray:
    """``alpha`` per output (out,) of an (out, in) matrix: ``max|W| / omega`` over each row (``columnwise``) or
    the whole matrix; 1 where that maximum is 0 or ``omega`` is 0 (no scaling)."""
    out = weights.shape[0]
    if omega <= 0.0:
        return np.ones(out)
    peak = np.abs(weights).max(axis=1) if columnwise else np.full(out, np.abs(weights).max() if weights.size else 0.0)
    alpha = peak / omega
    alpha[alpha == 0.0] = 1.0
    return alpha


class OutputScaledStore:
    """An analog store (built by ``build_inner`` from the weights it should hold) behind digital output scales
    and, with ``bias``, a digital bias: the last column of the layer's weights (see the module docstring)."""

    def __init__(self, layer: int, weights: np.ndarray, io: IOConfig, lr: float, bias: bool, build_inner):
        self.layer = layer
        self.lr = lr
        weights = np.asarray(weights, dtype=np.float64)
        self.bias: np.ndarray | None = weights[:, -1].copy() if bias and io.digital_bias else None
        matrix = weights[:, :-1] if self.bias is not None else weights
        self.scaled = io.scales_outputs
        self.alpha = mapping_scales(matrix, io.weight_scaling_omega, io.weight_scaling_columnwise)
        self.learned: np.ndarray | None = None
        if io.learn_out_scaling:
            self.learned = np.ones(weights.shape[0] if io.out_scaling_columnwise else 1)
        self.inner: WeightStore = build_inner(matrix / self.alpha[:, None])
        self._mapped_out: np.ndarray | None = None  # alpha (W_a x) of the last forward read: s's gradient needs it

    # -- what the network and the mapping see ------------------------------------------------------------------
    @property
    def roles(self) -> tuple[Role, ...]:
        return self.inner.roles

    @property
    def vectors_per_sample(self) -> int:
        return int(cast(Any, self.inner).vectors_per_sample)  # only stores that count samples have it

    @vectors_per_sample.setter
    def vectors_per_sample(self, value: int) -> None:
        if hasattr(self.inner, "vectors_per_sample"):
            cast(Any, self.inner).vectors_per_sample = value

    def __getattr__(self, name: str):
        # the wrapped store's arrays and state (A, C, W, H, transfers, ...) read through
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def scale(self) -> np.ndarray:
        """The digital output scale per output, ``s alpha`` (out,)."""
        return self.alpha if self.learned is None else self.alpha * self.learned

    def effective_weights(self) -> np.ndarray:
        weights = self.scale()[:, None] * self.inner.effective_weights()
        return weights if self.bias is None else np.concatenate([weights, self.bias[:, None]], axis=1)

    # -- reads and updates ---------------------------------------------------------------------------------------
    def _analog_inputs(self, x: np.ndarray) -> np.ndarray:
        return x[:, :-1] if self.bias is not None else x

    def forward(self, x, rec: StepRecorder | None = None, deps=()):
        z, done = self.inner.forward(self._analog_inputs(x), rec, deps)
        if self.learned is not None:
            self._mapped_out = z * self.alpha
        y = z * self.scale() if self.scaled else z
        if rec is not None and self.scaled:
            done = [rec.digital("mult", y.size, "forward", done)]
        if self.bias is not None:
            y = y + self.bias
            if rec is not None:
                done = [rec.digital("add", y.size, "forward", done)]
        return y, done

    def backward(self, d, rec: StepRecorder | None = None, deps=()):
        if self.scaled:
            d = d * self.scale()
            if rec is not None:
                deps = [rec.digital("mult", d.size, "backward", deps)]
        dx, done = self.inner.backward(d, rec, deps)
        if self.bias is not None:  # the bias input is not an analog row: its gradient is never used
            dx = np.concatenate([dx, np.zeros((dx.shape[0], 1))], axis=1)
        return dx, done

    def update(self, x, d, rec: StepRecorder | None = None, deps=()):
        deps = list(deps)
        parameters = (0 if self.bias is None else self.bias.size) + (0 if self.learned is None else self.learned.size)
        if rec is not None and parameters:
            rec.keep((parameters + (self.alpha.size if self.scaled else 0)) * rec.digital_bits)
        # every gradient from the values before this update (as autograd computes them)
        inner_d = d
        if self.scaled:
            inner_d = d * ((1.0 if self.learned is None else self.learned) / self.alpha)
        digital: list[int] = []
        if self.learned is not None:
            if self._mapped_out is None or self._mapped_out.shape != d.shape:
                raise RuntimeError("learn_out_scaling: an update must follow the forward read of the same vectors")
            product = (d * self._mapped_out).sum(axis=0)
            gradient = product if self.learned.size > 1 else np.array([product.sum()])
            digital += self._sgd(rec, "learned", gradient, d.size, deps)
        if self.bias is not None:
            digital += self._sgd(rec, "bias", d.sum(axis=0), d.size, deps)
        if rec is not None and self.scaled:
            deps = [rec.digital("mult", d.size, "update", deps)]
        return self.inner.update(self._analog_inputs(x), inner_d, rec, deps) + digital

    def _sgd(self, rec: StepRecorder | None, name: str, gradient: np.ndarray, terms: int, deps) -> list[int]:
        """``parameter -= lr * gradient`` for the digital parameter ``name``; records the accumulation of the
        gradient's ``terms`` products (a multiply and an add each; the bias's need no multiply) and the step."""
        parameter = getattr(self, name)
        parameter -= self.lr * gradient
        if rec is None:
            return []
        if name == "learned":
            deps = [rec.digital("mult", terms, "update", deps)]
        total = rec.digital("add", terms, "update", deps)
        step = rec.digital("mult", parameter.size, "update", (total,))
        return [rec.digital("add", parameter.size, "update", (step,))]
