"""Pieces every weight store shares: array seeds, whole-pulse writes and their count traffic.

A *store* holds one layer's weight matrix and offers ``forward(x, rec, deps)``,
``backward(d, rec, deps)``, ``update(x, d, rec, deps)``, ``effective_weights()`` and a ``roles``
tuple naming the analog arrays it uses. Each call records the hardware operations it caused on a
:class:`~archsim.algorithms.recorder.StepRecorder` (when one is given), so the algorithms meet the cost
side only through the operation stream.

Learning rates follow aihwkit's TransferCompound conventions: the fast array A learns with
``algorithm.fast_lr``; a transfer writes ``algorithm.transfer_lr * training.lr`` times the read value
onto C; Analog SGD, Digital SGD and mixed precision use ``training.lr``. Every update is
``W -= lr * sum_b d_b x_b^T`` with the batch mean already folded into ``d``.
"""

from __future__ import annotations

import math

import numpy as np

from archsim.algorithms.recorder import StepRecorder
from archsim.ops import ArrayId

#: The seed role of the array that holds the weights: Analog SGD's and mixed precision's W and the Tiki-Taka
#: family's slow array C draw the same devices from the same run seed, so algorithm comparisons are paired.
WEIGHT_SEED_ROLE = "W"


def array_seed(run_seed: int, layer: int, role: str) -> int:
    """Independent, reproducible seed of one array's device-to-device sampling and noise streams.

    ``role`` is the seed role: pass :data:`WEIGHT_SEED_ROLE` for the array that holds the weights."""
    return int(np.random.SeedSequence([run_seed, layer, ord(role[0])]).generate_state(1)[0])


def count_bits(max_count: int) -> int:
    """Bits of a signed pulse count in ``[-max_count, max_count]``: ``ceil(log2(2 max_count + 1))``."""
    return max(1, math.ceil(math.log2(2 * int(max_count) + 1)))


def devices_written(array, counts: np.ndarray) -> dict[tuple[int, int], int]:
    """Per physical block, the devices whose counts travel to the block's pulse generators.

    A whole-pulse write drives one line at a time with a count for every device on it, so a block receives
    one count per device of each line it writes; like :meth:`AnalogArray.apply_pulses`, a block writes along
    whichever direction (input lines or output lines) needs fewer counts."""
    rows, cols = array.hw.tile.rows, array.hw.tile.cols
    found = {}
    for r, c, n_rows, n_cols in array.blocks:
        block = counts[c * cols:c * cols + n_cols, r * rows:r * rows + n_rows]   # (out, in) slice
        nonzero = block != 0
        if not nonzero.any():
            continue
        by_input_lines = int(nonzero.any(axis=0).sum()) * n_cols
        by_output_lines = int(nonzero.any(axis=1).sum()) * n_rows
        found[(r, c)] = min(by_input_lines, by_output_lines)
    return found


def stream_accumulate(rec: StepRecorder, words: int, arithmetic: list[tuple[str, int]], phase: str,
                      deps) -> list[int]:
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


def write_whole_pulses(array, counts: np.ndarray, max_count: int, layer: int, role: str,
                       rec: StepRecorder | None, phase: str, deps: list[int]) -> list[int]:
    """Fire signed whole-pulse ``counts`` at ``array`` (up where positive). The counts travel from the
    digital unit to each written block first: one count of :func:`count_bits` ``(max_count)`` bits per
    device written (:func:`devices_written`)."""
    if not np.any(counts):
        return deps
    written = devices_written(array, counts) if rec is not None else {}
    stats = array.apply_pulses(counts)
    if rec is None:
        return []
    width = count_bits(max_count)
    moves = [rec.move("digital", ArrayId(layer, role, b.row_block, b.col_block),
                      written[(b.row_block, b.col_block)] * width, phase, deps) for b in stats.blocks]
    return rec.updates(layer, role, stats, moves, phase=phase)
