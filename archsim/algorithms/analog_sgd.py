"""Analog SGD: the gradient goes straight onto one analog array W as stochastic pulse trains."""

from __future__ import annotations

import numpy as np

from archsim.algorithms.common import WEIGHT_SEED_ROLE, array_seed
from archsim.config.hw import HwConfig
from archsim.config.roles import role_device
from archsim.ops import Role


class AnalogSgdStore:
    """One analog array W read forward and backward and updated by pulsed rank-1 updates at ``lr``."""

    roles = ("W",)

    def __init__(self, layer: int, weights: np.ndarray, hw: HwConfig, lr: float, seed: int):
        from archsim.analog import AnalogArray

        self.layer = layer
        self.lr = lr
        out_size, in_size = weights.shape
        self.W = AnalogArray(
            out_size, in_size, hw, seed=array_seed(seed, layer, WEIGHT_SEED_ROLE), device=role_device(hw, "W")
        )
        self.W.set_weights(weights)

    def effective_weights(self) -> np.ndarray:
        return self.W.get_weights()

    def forward(self, x, rec=None, deps=()):
        y, stats = self.W.forward(x)
        done = rec.reads(self.layer, "W", stats, "forward", "forward", deps) if rec else []
        return y, done

    def backward(self, d, rec=None, deps=()):
        z, stats = self.W.backward(d)
        done = rec.reads(self.layer, "W", stats, "backward", "backward", deps) if rec else []
        return z, done

    def update(self, x, d, rec=None, deps=()):
        stats = self.W.update(x, d, self.lr)
        return rec.updates(self.layer, "W", stats, deps) if rec else []


def roles(algorithm) -> tuple[Role, ...]:
    """The arrays one layer puts on analog tiles."""
    return ("W",)


def build(layer: int, weights: np.ndarray, hw, algorithm, training, seed: int) -> AnalogSgdStore:
    return AnalogSgdStore(layer, weights, hw, training.lr, seed)
