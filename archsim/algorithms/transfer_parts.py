"""The parts the Tiki-Taka family is assembled from (:mod:`archsim.algorithms.tiki_taka`).

A transfer reads lines (columns or rows) of the fast array A and moves what it read onto the slow array C.
Between the read and the write sit interchangeable parts:

* **reference** — what A's reading is taken against: :class:`NoReference`; :class:`ArrayReference`, a
  reference array R programmed to A's symmetric point ("zero shifting", Kim et al. 2019; aihwkit's reference
  device); :class:`DynamicReference`, AGAD's on-the-fly reference (Rasch et al., Nat. Commun. 15:7133, 2024;
  aihwkit's DynamicTransferCompound).
* **chopper** — :class:`NoChopper` or :class:`LineChopper`, a random sign per line applied to A's inputs at
  update and undone at read (aihwkit's ChoppedTransferCompound ``in_chopper``).
* **fast rate** — :class:`FixedRate` (A learns at ``fast_lr``) or :class:`AutoScaledRate` (aihwkit's
  ``auto_scale``: relative to running abs-maxima of A's inputs and errors).
* **write policy** — :class:`PulsedWrite` (TTv1: the read values become a stochastic pulsed update of C) or
  :class:`WholePulseWrite` (TTv2: whole pulses counted in digital), whose **accumulation** is a digital
  buffer H (:class:`HBuffer`) or none (aihwkit's ``no_buffer``: each read is quantised on its own).

Each part records its own digital work and buffer traffic on the step recorder; the operation counts follow
Rasch et al. 2024 Table 1 (per transfer of N values: TTv2's buffer 2N, AGAD 6N).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from archsim.algorithms.common import stream_accumulate, write_whole_pulses
from archsim.algorithms.recorder import StepRecorder


@dataclass
class Lines:
    """How the transferred lines map onto (out, in) matrices: columns (inputs) or rows (outputs) of A."""

    shape: tuple[int, int]  # (out, in)
    by_column: bool

    @property
    def count(self) -> int:
        return self.shape[1] if self.by_column else self.shape[0]

    @property
    def length(self) -> int:
        """Values per line read (outputs of a column read, inputs of a row read)."""
        return self.shape[0] if self.by_column else self.shape[1]

    def take(self, matrix: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """The lines ``indices`` of an (out, in) matrix as (len(indices), length)."""
        return matrix[:, indices].T if self.by_column else matrix[indices, :]

    def put(self, matrix: np.ndarray, indices: np.ndarray, values: np.ndarray) -> None:
        if self.by_column:
            matrix[:, indices] = values.T
        else:
            matrix[indices, :] = values


@dataclass
class Transfer:
    """One batch of line reads travelling through the parts: what a part may look at or change."""

    indices: np.ndarray  # lines read, in order
    sweeps: np.ndarray  # per line: the number of full sweeps of the pointer completed before its read
    values: np.ndarray  # (len(indices), line length): A's reading, then referenced and un-chopped
    signs: np.ndarray  # per line: the chopper sign in force since that line's previous read
    switched: np.ndarray  # per line: whether its chopper flipped right after its previous read
    writable: np.ndarray  # per line: whether the write may happen (AGAD's warm-up holds it back)
    deps: list[int] = field(default_factory=list)  # ops the next digital step waits for


# -- references ------------------------------------------------------------------------------------
class NoReference:
    """A is read as it is (Tiki-Taka v1, TTv2 without a reference array)."""

    arrays: tuple = ()

    def fast_offset(self):
        return None

    def at_periphery(self, transfer: Transfer, rec: StepRecorder | None, reads: dict, read_deps) -> dict:
        """Work beside A, before the values leave the tile; returns the reads the values now wait for."""
        return reads

    def in_digital(self, transfer: Transfer, rec: StepRecorder | None) -> None:
        """Work in the digital unit, after the values arrived (``transfer.deps``)."""


class ArrayReference(NoReference):
    """Zero shifting: A starts at its symmetric point and a reference array R programmed to the same values
    is read beside it, so A - R is zero where A has no drive. The difference is formed at the tile's
    periphery, before the values leave (one add per value)."""

    def __init__(self, R, store):
        self.R = R
        self.store = store
        self.arrays = (("R", R),)

    def fast_offset(self) -> np.ndarray:
        return self.R.get_weights()

    def at_periphery(self, transfer: Transfer, rec: StepRecorder | None, reads: dict, read_deps) -> dict:
        store = self.store
        read = self.R.read_columns if store.lines.by_column else self.R.read_rows
        reference, stats = read(transfer.indices)
        transfer.values = transfer.values - reference
        if rec is None:
            return reads
        r_reads = rec.transfer_reads(store.layer, "R", stats, store.transfer_direction, read_deps)
        return {
            key: (rec.digital("add", bits // rec.transfer_bits, "transfer", [op, r_reads[key][0]]), bits)
            for key, (op, bits) in reads.items()
        }


class DynamicReference(NoReference):
    """AGAD's reference (Rasch et al. 2024; aihwkit's DynamicTransferCompound), per device of A.

    A running mean ``m`` of A's raw reading is kept over the current chopper period (weight of the newest
    read ``tail_weight / period``, capped at 1, as aihwkit's ``tail_weightening``). Right after a line's chopper
    switches, its ``m`` becomes the line's reference ``p``; until the next switch A is read against ``p``. As the
    chopper changed sign, the gradient now drives A away from where it settled in the previous period, so
    the (un-chopped) difference is the signal of both periods — twice the signal, no reference array, and
    A's symmetric-point offset cancels. No write happens during the first ``period + 1`` sweeps (aihwkit's
    warm-up, while no reference has been formed yet).

    Digital work per value: the subtraction of ``p`` and the running-mean update (subtract, multiply, add);
    with the buffer's accumulate and compare that is Rasch et al. 2024 Table 1's 6N per transfer.
    """

    def __init__(self, lines: Lines, period: int, tail_weight: float):
        self.lines = lines
        self.period = int(period)
        self.momentum = min(tail_weight / self.period, 1.0)
        self.running = np.zeros(lines.shape)  # m: running mean of A's reading in the current period
        self.past = np.zeros(lines.shape)  # p: the previous period's estimate, the reference

    def in_digital(self, transfer: Transfer, rec: StepRecorder | None) -> None:
        lines = self.lines
        raw = transfer.values
        running = lines.take(self.running, transfer.indices)
        past = lines.take(self.past, transfer.indices)
        switched = transfer.switched
        past[switched] = running[switched]
        lines.put(self.past, transfer.indices, past)
        transfer.values = raw - past
        lines.put(self.running, transfer.indices, running * (1.0 - self.momentum) + raw * self.momentum)
        transfer.writable = transfer.writable & (transfer.sweeps > self.period)
        if rec is not None:
            # m and p of the lines read stream through (2N words in); new m, and new p where switched, go back
            n = raw.size
            word = rec.digital_bits
            load = rec.buffer("read", 2 * n * word, "transfer", transfer.deps)
            diff = rec.digital("add", n, "transfer", transfer.deps)
            delta = rec.digital("add", n, "transfer", transfer.deps)
            scaled = rec.digital("mult", n, "transfer", (delta,))
            mean = rec.digital("add", n, "transfer", (scaled,))
            stored = int(switched.sum()) * lines.length + n
            transfer.deps = [load, diff, mean, rec.buffer("write", stored * word, "transfer", transfer.deps)]


# -- the fast array's learning rate ----------------------------------------------------------------
class FixedRate:
    """A learns at a fixed rate: each vector's update is ``-lr * d_b x_b^T``."""

    def __init__(self, lr: float):
        self.lr = lr

    def update_inputs(
        self, x: np.ndarray, d: np.ndarray, rec: StepRecorder | None, deps
    ) -> tuple[np.ndarray, float, list]:
        """What A's pulsed update takes: (inputs, learning rate, ops to wait for); a fixed rate passes x as is."""
        return x, self.lr, list(deps)


class AutoScaledRate(FixedRate):
    """aihwkit's ``auto_scale`` (ChoppedTransferCompound; rpu_chopped_transfer_device.cpp): running abs-maxima
    ``m_x`` and ``m_d`` of A's update inputs and errors, and A's rate ``relative_lr * bl * dw0 / (m_x * m_d)``,
    so a vector at the running maxima asks for ``relative_lr * bl`` pulses at its largest coincidence.

    Per vector b of a batch of m, first its own abs-max enters (a maximum that is still 0 takes it, a vector
    that is all zero leaves it), ``m <- (1 - tau) m + tau max|v_b|`` with ``tau = (1 - momentum) / m``, then
    its rate is formed (where a maximum is still 0, without dividing by it).

    Digital work per vector: the two running maxima (two subtract-multiply-adds) and the rate (two
    multiplies: the product of the maxima, the division). The abs-maxima themselves are the ones update
    management finds for A's update anyway (aihwkit recomputes them; hardware would not), charged there."""

    def __init__(self, relative_lr: float, bl: int, dw0: float, momentum: float):
        super().__init__(relative_lr * bl * dw0)  # here lr is the rate's numerator, divided by m_x * m_d
        self.momentum = momentum
        self.m_x = 0.0
        self.m_d = 0.0

    def _follow(self, m: float, value: float, tau: float) -> float:
        if m <= 0.0:
            return value
        if value <= 0.0:
            return m
        return (1.0 - tau) * m + tau * value

    def rates(self, x: np.ndarray, d: np.ndarray, rec: StepRecorder | None, deps) -> tuple[np.ndarray, list]:
        """Per vector of the batch, the learning rate of A's update; returns (rates, ops to wait for)."""
        vectors = x.shape[0]
        tau = (1.0 - self.momentum) / vectors
        x_max = np.abs(x).max(axis=1).tolist()
        d_max = np.abs(d).max(axis=1).tolist()
        rates = np.empty(vectors)
        for b in range(vectors):
            self.m_x = self._follow(self.m_x, x_max[b], tau)
            self.m_d = self._follow(self.m_d, d_max[b], tau)
            scale = self.m_x * self.m_d
            rates[b] = self.lr / scale if scale > 0.0 else self.lr
        if rec is None:
            return rates, list(deps)
        # the abs-maxima are update management's, charged with A's update (StepRecorder.updates)
        running = rec.digital("add", 4 * vectors, "update", deps)
        scaled = rec.digital("mult", 4 * vectors, "update", (running,))
        return rates, [scaled]

    def update_inputs(
        self, x: np.ndarray, d: np.ndarray, rec: StepRecorder | None, deps
    ) -> tuple[np.ndarray, float, list]:
        """Each vector's rate folded into its inputs (rate 1): update management sees the same lr |x| |d|."""
        rates, deps = self.rates(x, d, rec, deps)
        return x * rates[:, None], 1.0, deps


# -- choppers --------------------------------------------------------------------------------------
class NoChopper:
    """No chopping: every sign +1."""

    def __init__(self, n_lines: int):
        self.signs = np.ones(n_lines)
        self.switched = np.zeros(n_lines, dtype=bool)

    def chop(self, x, d, lines: Lines, rec, deps):
        return x, d, deps

    def unchop(self, transfer: Transfer, rec) -> None:
        pass

    def after_read(self, transfer: Transfer, rec) -> list[int]:
        """Flip the signs of the lines just read where due; returns the ops this took."""
        return []


class LineChopper(NoChopper):
    """A sign per line of A (aihwkit's ``in_chopper``): multiplied onto A's update inputs along the transferred
    lines, undone when the line is read. A line's sign may flip only right after that line has been read —
    with probability ``probability`` (``regular=False``) or every ``ceil(1/probability)`` (at least 2) sweeps
    (``regular=True``) — so it is constant between two reads of the line and every read sees one sign."""

    def __init__(self, n_lines: int, probability: float, regular: bool, rng: np.random.Generator):
        super().__init__(n_lines)
        self.probability = probability
        self.regular = regular
        self.period = max(int(np.ceil(1.0 / probability)), 2) if probability > 0 else 0
        self.rng = rng

    def chop(self, x, d, lines: Lines, rec, deps):
        if lines.by_column:
            x = x * self.signs
        else:
            d = d * self.signs
        if rec is not None:
            deps = [rec.digital("sign", x.size if lines.by_column else d.size, "update", deps)]
        return x, d, deps

    def unchop(self, transfer: Transfer, rec) -> None:
        transfer.values = transfer.values * transfer.signs[:, None]
        if rec is not None:
            transfer.deps = [rec.digital("sign", transfer.values.size, "transfer", transfer.deps)]

    def after_read(self, transfer: Transfer, rec) -> list[int]:
        indices = transfer.indices
        done: list[int] = []
        if self.probability <= 0:
            flips = np.zeros(len(indices), dtype=bool)
        elif self.regular:
            flips = transfer.sweeps % self.period + 1 == self.period
        else:
            flips = self.rng.random(len(indices)) < self.probability
            if rec is not None:
                draw = rec.digital("rng", len(indices), "transfer", transfer.deps)
                done = [rec.digital("compare", len(indices), "transfer", (draw,))]
        self.signs[indices[flips]] *= -1.0
        self.switched[indices] = flips
        return done


# -- write policies --------------------------------------------------------------------------------
class PulsedWrite:
    """Tiki-Taka v1: the read values drive a stochastic pulsed update of C's lines,
    ``C[:, k] += scale * v`` in expectation (one-hot on the line, the values on the other side). The values
    go from A's periphery straight to C, so no digital part (chopper, dynamic reference) may precede it."""

    digital = False  # whether the values pass the digital unit on their way to C

    def __init__(self, scale: float):
        self.scale = scale

    def write(self, store, transfer: Transfer, rec, reads: dict) -> list[int]:
        indices = transfer.indices
        one_hot = np.zeros((len(indices), store.lines.count))
        one_hot[np.arange(len(indices)), indices] = 1.0
        if store.lines.by_column:
            stats = store.C.update(one_hot, -transfer.values, self.scale)
        else:
            stats = store.C.update(transfer.values, -one_hot, self.scale)
        if rec is None:
            return []
        # a one-hot transfer drives only the blocks that hold the transferred lines
        stats = type(stats)([b for b in stats.blocks if (b.row_block, b.col_block) in reads])
        moves = store.moves_to_c(rec, stats, reads)
        return rec.updates(store.layer, "C", stats, moves, phase="transfer")


class HBuffer:
    """TTv2's digital buffer H (Gokmen, Front. Artif. Intell. 2021; aihwkit's BufferedTransferCompound),
    in weight units."""

    def __init__(self, shape: tuple[int, int]):
        self.H = np.zeros(shape)


class WholePulseWrite:
    """TTv2's write: ``scale * v`` is added to H (or, without a buffer, taken on its own); where ``|H|``
    reaches ``threshold`` (weight units), ``trunc(H / threshold)`` pulses, at most ``max_pulses``, go to C.
    Afterwards H keeps ``H - (1 - momentum) * pulses * threshold`` or, with ``forget_buffer``, ``momentum * H``
    where it fired (aihwkit's rule); ``cap`` > 0 bounds a remembering buffer to ``cap * max_pulses`` thresholds
    (aihwkit's DynamicTransferCompound ``buffer_cap``).

    Digital work per value: one accumulate and one threshold compare (Rasch et al. 2024 Table 1: 2N per
    transfer), with H read from and written back to the buffer; the counts then travel to C's blocks."""

    digital = True

    def __init__(
        self,
        scale: float,
        threshold: float,
        max_pulses: int,
        buffer: HBuffer | None,
        momentum: float = 0.0,
        forget_buffer: bool = False,
        cap: float = 0.0,
    ):
        self.scale = scale
        self.threshold = threshold
        self.max_pulses = max_pulses
        self.buffer = buffer
        self.momentum = momentum
        self.forget_buffer = forget_buffer
        self.cap = cap
        self.pulses_written = 0

    def write(self, store, transfer: Transfer, rec, reads: dict) -> list[int]:
        lines, indices = store.lines, transfer.indices
        increment = self.scale * transfer.values  # weight units
        h = increment if self.buffer is None else lines.take(self.buffer.H, indices) + increment
        pulses = np.clip(np.trunc(h / self.threshold), -self.max_pulses, self.max_pulses).astype(np.int64)
        if self.forget_buffer:
            h = np.where(pulses != 0, self.momentum * h, h)
        elif self.momentum:
            h = h - (1.0 - self.momentum) * pulses * self.threshold
        else:
            h = h - pulses * self.threshold
        if self.cap > 0 and not self.forget_buffer:
            bound = self.cap * self.max_pulses * self.threshold
            h = np.clip(h, -bound, bound)
        pulses[~transfer.writable] = 0
        counts = np.zeros(lines.shape, dtype=np.int64)
        if self.buffer is not None:
            lines.put(self.buffer.H, indices, h)
        lines.put(counts, indices, pulses)
        self.pulses_written += int(np.abs(pulses).sum())
        done: list[int] = []
        if rec is not None:
            n = increment.size
            if self.buffer is not None:
                done = stream_accumulate(rec, n, [("add", n), ("compare", n)], "transfer", transfer.deps)
            else:
                add = rec.digital("add", n, "transfer", transfer.deps)
                done = [rec.digital("compare", n, "transfer", (add,))]
        return write_whole_pulses(store.C, counts, store.layer, "C", rec, "transfer", done)
