"""Digital SGD: floating-point weights in digital memory — the reference, and every non-analog layer."""

from __future__ import annotations

import numpy as np

from archsim.algorithms.recorder import StepRecorder
from archsim.ops import Phase, Role


class DigitalStore:
    """Floating-point weights updated by ``W -= lr * d^T x``; every MAC is charged as digital work."""

    roles: tuple[Role, ...] = ()

    def __init__(self, layer: int, weights: np.ndarray, lr: float):
        self.layer = layer
        self.weights = weights.copy()
        self.lr = lr

    def effective_weights(self) -> np.ndarray:
        return self.weights

    def _macs(self, rec: StepRecorder | None, count: int, phase: Phase, deps) -> list[int]:
        if rec is None:
            return []
        load = rec.buffer("read", self.weights.size * rec.digital_bits, phase, deps)
        mult = rec.digital("mult", count, phase, (load,))
        return [rec.digital("add", count, phase, (mult,))]

    def forward(self, x: np.ndarray, rec: StepRecorder | None = None, deps=()) -> tuple[np.ndarray, list[int]]:
        return x @ self.weights.T, self._macs(rec, x.shape[0] * self.weights.size, "forward", deps)

    def backward(self, d: np.ndarray, rec: StepRecorder | None = None, deps=()) -> tuple[np.ndarray, list[int]]:
        return d @ self.weights, self._macs(rec, d.shape[0] * self.weights.size, "backward", deps)

    def update(self, x: np.ndarray, d: np.ndarray, rec: StepRecorder | None = None, deps=()) -> list[int]:
        self.weights -= self.lr * (d.T @ x)
        done = self._macs(rec, x.shape[0] * self.weights.size, "update", deps)
        if rec is not None:
            done = [rec.buffer("write", self.weights.size * rec.digital_bits, "update", done)]
        return done


def roles(algorithm) -> tuple[Role, ...]:
    """The arrays one layer puts on analog tiles."""
    return ()


def build(layer: int, weights: np.ndarray, hw, algorithm, training, seed: int) -> DigitalStore:
    return DigitalStore(layer, weights, training.lr)
