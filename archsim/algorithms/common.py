"""Pieces every weight store shares: array seeds, whole-pulse writes and their count traffic.

A *store* holds one layer's weight matrix and offers ``forward(x, rec, deps)``,
``backward(d, rec, deps)``, ``update(x, d, rec, deps)``, ``effective_weights()`` and a ``roles``
tuple naming the analog arrays it uses. Each call records the hardware operations it caused on a
:class:`~archsim.algorithms.recorder.StepRecorder` (when one is given), so the algorithms meet the cost
side only through the operation stream.

Learning rates follow aihwkit's TransferCompound conventions: the fast array A learns with
``algorithm.fast_lr`` (or, under ``auto_scale``, relative to its running input and error maxima: see
:class:`~archsim.algorithms.transfer_parts.AutoScaledRate`); a transfer writes
``algorithm.transfer_lr * training.lr`` times the read value onto C; Analog SGD, Digital SGD and mixed precision
use ``training.lr``. Every update is ``W -= lr * sum_b d_b x_b^T`` with the batch mean already folded into ``d``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

from archsim.algorithms.recorder import StepRecorder
from archsim.ops import Phase, Role

#: The seed role of the array that holds the weights: Analog SGD's and mixed precision's W and the Tiki-Taka
#: family's slow array C draw the same devices from the same run seed, so algorithm comparisons are paired.
WEIGHT_SEED_ROLE = "W"


class WeightStore(Protocol):
    """What every store offers (see the module docstring); each call returns the recorded ops to wait for."""

    @property
    def roles(self) -> tuple[Role, ...]: ...

    def forward(
        self, x: np.ndarray, rec: StepRecorder | None = None, deps: Iterable[int] = ()
    ) -> tuple[np.ndarray, list[int]]: ...

    def backward(
        self, d: np.ndarray, rec: StepRecorder | None = None, deps: Iterable[int] = ()
    ) -> tuple[np.ndarray, list[int]]: ...

    def update(
        self, x: np.ndarray, d: np.ndarray, rec: StepRecorder | None = None, deps: Iterable[int] = ()
    ) -> list[int]: ...

    def effective_weights(self) -> np.ndarray: ...


def array_seed(run_seed: int, layer: int, role: str) -> int:
    """Independent, reproducible seed of one array's device-to-device sampling and noise streams.

    ``role`` is the seed role: pass :data:`WEIGHT_SEED_ROLE` for the array that holds the weights."""
    return int(np.random.SeedSequence([run_seed, layer, ord(role[0])]).generate_state(1)[0])


def stream_accumulate(
    rec: StepRecorder, words: int, arithmetic: list[tuple[str, int]], phase: Phase, deps
) -> list[int]:
    """A digital accumulator pass over ``words`` stored values: read them from the buffer, apply the
    ``arithmetic`` (kind, count) ops in order, write them back. The pass streams (double-buffered: the next
    chunk loads while one is computed and the previous one stored), so the buffer traffic overlaps the
    arithmetic instead of preceding and following it; returns the ops to wait for."""
    bits = words * rec.digital_bits
    load = rec.buffer("read", bits, phase, deps)
    last = None
    for kind, count in arithmetic:
        last = rec.digital(kind, count, phase, deps if last is None else (last,))
    store = rec.buffer("write", bits, phase, deps)
    return [load, last, store] if last is not None else [load, store]


def write_whole_pulses(
    array, counts: np.ndarray, layer: int, role: Role, rec: StepRecorder | None, phase: Phase, deps: list[int]
) -> list[int]:
    """Fire signed whole-pulse ``counts`` at ``array`` (up where positive); the recorder charges the counts'
    trip to each written block (:meth:`StepRecorder.pulse_writes`: one count per device written, as wide as
    the largest count needs)."""
    if not np.any(counts):
        return deps
    stats = array.apply_pulses(counts)
    if rec is None:
        return []
    return rec.pulse_writes(layer, role, stats, counts, deps, phase=phase)
