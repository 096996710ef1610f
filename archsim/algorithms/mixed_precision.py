"""Mixed precision (Nandakumar et al., Front. Neurosci. 2020; aihwkit's MixedPrecisionCompound): the
rank-1 gradients accumulate in a digital matrix chi and are written to the analog array W in whole pulses
once they pass a threshold — the accurate, costly baseline.

Digital work per sample of an (N_out, N_in) layer: the outer product lr * d x^T accumulated into chi
(N_out N_in multiplies and adds) and the lr scaling of d (N_out multiplies): 2 N^2 + N for a square layer,
Rasch et al. 2024 (Nat. Commun. 15:7133) Table 1's count. Every ``mp_transfer_every`` samples chi is compared
with the threshold (one compare per element) and the whole-pulse counts travel to W's pulse generators.

Deliberate difference from aihwkit: a transfer happens at the end of the training step in which
``mp_transfer_every`` samples have accumulated (aihwkit counts mat-vecs inside the mini-batch), because a
step's pulsed writes follow its reads.
"""

from __future__ import annotations

import numpy as np

from archsim.algorithms.analog_sgd import AnalogSgdStore
from archsim.algorithms.common import stream_accumulate, write_whole_pulses
from archsim.config.hw import HwConfig
from archsim.config.workload import AlgorithmConfig
from archsim.ops import Role


class MixedPrecisionStore(AnalogSgdStore):
    """Analog W read as in Analog SGD; updates accumulate digitally in chi and reach W as whole pulses."""

    def __init__(self, layer, weights, hw: HwConfig, lr, seed, algorithm: AlgorithmConfig):
        super().__init__(layer, weights, hw, lr, seed)
        self.chi = np.zeros_like(weights, dtype=np.float64)
        # weight units per written pulse: the array's real mean step at w = 0, as aihwkit's granularity
        self.step = algorithm.mp_threshold * self.W.dw0
        self.max_pulses = hw.update.bl
        self.transfer_every = algorithm.mp_transfer_every
        self.samples_pending = 0
        self.vectors_per_sample = 1  # set by the network: a conv layer updates once per output position

    def update(self, x, d, rec=None, deps=()):
        self.chi -= self.lr * (d.T @ x)
        batch = x.shape[0]
        self.samples_pending += batch // self.vectors_per_sample
        done = list(deps)
        if rec is not None:
            rec.keep(self.chi.size * rec.digital_bits)  # chi stays resident in the buffer
            done = stream_accumulate(
                rec,
                self.chi.size,
                [("mult", batch * self.chi.shape[0]), ("mult", batch * self.chi.size), ("add", batch * self.chi.size)],
                "update",
                deps,
            )
        if self.samples_pending < self.transfer_every:
            return done
        self.samples_pending %= self.transfer_every
        pulses = np.clip(np.trunc(self.chi / self.step), -self.max_pulses, self.max_pulses).astype(np.int64)
        self.chi -= pulses * self.step
        if rec is not None:
            done = [rec.digital("compare", self.chi.size, "update", done)]
        return write_whole_pulses(self.W, pulses, self.layer, "W", rec, "update", done)


def roles(algorithm) -> tuple[Role, ...]:
    """The arrays one layer puts on analog tiles."""
    return ("W",)


def build(layer: int, weights: np.ndarray, hw, algorithm, training, seed: int) -> MixedPrecisionStore:
    return MixedPrecisionStore(layer, weights, hw, training.lr, seed, algorithm)
