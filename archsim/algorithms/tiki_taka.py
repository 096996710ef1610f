"""The Tiki-Taka family: a fast array A takes the SGD pulses, transfers move what A learned onto a slow
array C (and C, or gamma*A + C, is the weight). The members differ only in the parts between A's read and
C's write (:mod:`archsim.algorithms.transfer_parts`); :data:`VARIANTS` says which parts each one uses.

* ``tiki_taka`` (TTv1, Gokmen & Haensch 2020): every ``transfer_every`` samples, ``n_reads_per_transfer``
  lines of A are read through the real IO path and written onto C as pulses: C[:, k] += transfer_lr*lr*A[:, k].
* ``residual``: TTv1 with A read against a reference array R programmed to A's symmetric point (zero
  shifting); effective W = gamma*(A - R) + C.
* ``ttv2`` (Gokmen 2021; aihwkit's BufferedTransferCompound): reads accumulate in a digital buffer H; where
  |H| passes the threshold that many whole pulses go to C.
* ``chopped_ttv2`` (Rasch et al. 2024; aihwkit's ChoppedTransferCompound): TTv2 with a random sign per
  line on A's inputs, undone at read; a line's sign may flip only right after that line has been read.
* ``agad`` (Rasch et al. 2024; aihwkit's DynamicTransferCompound): chopped TTv2 whose reference is formed on
  the fly from A's reading over the previous chopper period.

``ttv2`` and ``chopped_ttv2`` may also read A against a reference array (``reference_array``), as
aihwkit's reference device allows.

Deliberate differences from aihwkit: H is kept in weight units with the threshold ``ttv2_threshold`` times
C's mean step at w = 0 (``AnalogArray.dw0``, so a written pulse moves C by about one threshold; aihwkit
scales by A's granularity, the same when A and C are one device type); at most
``ttv2_max_pulses`` pulses per transfer (aihwkit's ``transfer_update.desired_bl``, 1 in its presets); under
``ttv2`` H keeps its remainder by default (its ``forget_buffer`` preset; aihwkit's default forgets, as archsim's
``chopped_ttv2`` and ``agad`` do; every preset is in :mod:`archsim.algorithms.registry`);
``n_reads_per_transfer`` may exceed 1 (aihwkit's chopped devices allow one read per transfer); a transfer
follows the training step in which its samples were applied; ``auto_granularity`` counts the samples between
two reads of a line (aihwkit counts vectors: the same for dense layers).

``chopped_ttv2`` and ``agad`` learn on A with aihwkit's ``auto_scale`` by their presets (:class:`AutoScaledRate`:
A's rate is ``auto_scale_lr * BL * dw0_A`` over running abs-maxima of its inputs and errors, so A's content
does not depend on the gradient's scale and the chopper's sign changes meet a signal of known size);
``fast_lr`` is then not read. ``ttv2`` keeps a fixed ``fast_lr`` unless ``auto_scale: true``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.algorithms.common import WEIGHT_SEED_ROLE, array_seed
from archsim.algorithms.recorder import StepRecorder
from archsim.algorithms.transfer_parts import (
    ArrayReference,
    AutoScaledRate,
    DynamicReference,
    FixedRate,
    HBuffer,
    LineChopper,
    Lines,
    NoChopper,
    NoReference,
    PulsedWrite,
    Transfer,
    WholePulseWrite,
)
from archsim.config.hw import HwConfig
from archsim.config.roles import role_device
from archsim.config.workload import AlgorithmConfig, TrainingConfig
from archsim.ops import ArrayId, Direction, Phase, Role


@dataclass(frozen=True)
class Variant:
    """Which parts one member of the family uses."""

    reference: str  # "none", "array" (zero shifting), "dynamic" (AGAD), "config" (algorithm.reference_array)
    chopper: bool  # per-line input choppers
    buffered: bool  # TTv2's digital buffer H and whole-pulse writes; else TTv1's pulsed write
    chopper_regular: bool = False  # the chopper schedule when chopper_schedule is "auto" (aihwkit's default)


VARIANTS: dict[str, Variant] = {
    "tiki_taka": Variant(reference="config", chopper=False, buffered=False),
    "residual": Variant(reference="array", chopper=False, buffered=False),
    "ttv2": Variant(reference="config", chopper=False, buffered=True),
    # aihwkit: ChoppedTransferCompound in_chop_random=True, DynamicTransferCompound in_chop_random=False (the
    # values null keys take, e.g. the chopper probability, are the registry's presets)
    "chopped_ttv2": Variant(reference="config", chopper=True, buffered=True, chopper_regular=False),
    "agad": Variant(reference="dynamic", chopper=True, buffered=True, chopper_regular=True),
}


def buffer_threshold(algorithm: AlgorithmConfig, dw0: float, lines: int) -> float:
    """The TTv2 family's buffer threshold in weight units: ``ttv2_threshold`` times ``dw0`` (C's mean step at
    w = 0) and, with ``auto_granularity`` > 0, times ``auto_granularity / (lines * transfer_every)``: aihwkit's
    ChoppedTransferCompound buffer granularity, with ``lines * transfer_every`` the samples between two reads
    of one line of A (aihwkit counts vectors; the same for a dense layer)."""
    threshold = algorithm.ttv2_threshold * dw0
    granularity = algorithm.auto_granularity
    if granularity > 0:
        threshold *= granularity / (lines * algorithm.transfer_every)
    return threshold


def reference_kind(algorithm: AlgorithmConfig) -> str:
    """The reference ``algorithm`` reads A against: "none", "array" (zero shifting) or "dynamic" (AGAD)."""
    reference = VARIANTS[algorithm.name].reference
    if reference == "config":
        reference = "array" if algorithm.reference_array else "none"
    return reference


def roles(algorithm: AlgorithmConfig) -> tuple[Role, ...]:
    """The arrays one analog layer holds: A and C, and R when A is read against a reference array."""
    return ("A", "C", "R") if reference_kind(algorithm) == "array" else ("A", "C")


class TikiTakaStore:
    """One layer on a fast array A and a slow array C (and a reference array R when zero shifting), with
    the parts of its variant (:data:`VARIANTS`)."""

    def __init__(
        self,
        layer: int,
        weights: np.ndarray,
        hw: HwConfig,
        algorithm: AlgorithmConfig,
        training: TrainingConfig,
        seed: int,
    ):
        from archsim.analog import AnalogArray

        variant = VARIANTS[algorithm.name]
        self.layer = layer
        self.variant = algorithm.name
        out_size, in_size = weights.shape
        self.shape = (out_size, in_size)
        self.lines = Lines(self.shape, algorithm.transfer_direction == "column")
        # each role's arrays are built with its own device (hw.role_devices); C draws the weight array's devices
        self.A = AnalogArray(out_size, in_size, hw, seed=array_seed(seed, layer, "A"), device=role_device(hw, "A"))
        self.C = AnalogArray(
            out_size, in_size, hw, seed=array_seed(seed, layer, WEIGHT_SEED_ROLE), device=role_device(hw, "C")
        )
        self.C.set_weights(weights)
        self.A.set_weights(np.zeros_like(weights))

        chopper_probability = algorithm.setting("chopper_probability") or 0.0
        reference = reference_kind(algorithm)
        self.reference: NoReference  # or one of its refinements: ArrayReference, DynamicReference
        if reference == "array":
            # Zero shifting: A is driven to its symmetric point and R is programmed to the same values.
            symmetric = self.A.symmetric_points()
            self.A.set_weights(symmetric)
            R = AnalogArray(out_size, in_size, hw, seed=array_seed(seed, layer, "R"), device=role_device(hw, "R"))
            R.set_weights(symmetric)
            self.reference = ArrayReference(R, self)
        elif reference == "dynamic":
            period = max(int(np.ceil(1.0 / chopper_probability)), 2)
            self.reference = DynamicReference(self.lines, period, algorithm.agad_tail_weight)
        else:
            self.reference = NoReference()
        self.roles = ("A", "C") + tuple(role for role, _ in self.reference.arrays)

        rng = np.random.default_rng(array_seed(seed, layer, "X"))
        if variant.chopper:
            schedule = algorithm.chopper_schedule
            regular = variant.chopper_regular if schedule == "auto" else schedule == "regular"
            self.chopper: NoChopper = LineChopper(self.lines.count, chopper_probability, regular, rng)
        else:
            self.chopper = NoChopper(self.lines.count)

        self.transfer_scale = algorithm.transfer_lr * training.lr
        if variant.buffered:
            self.writer: PulsedWrite | WholePulseWrite = WholePulseWrite(
                self.transfer_scale,
                buffer_threshold(algorithm, self.C.dw0, self.lines.count),
                algorithm.ttv2_max_pulses,
                HBuffer(self.shape),
                momentum=algorithm.momentum,
                forget_buffer=bool(algorithm.setting("forget_buffer")),
                cap=algorithm.agad_buffer_cap,
            )
        else:
            if variant.chopper or reference == "dynamic":
                raise ValueError(f"{algorithm.name}: choppers and a dynamic reference need the digital write path")
            self.writer = PulsedWrite(self.transfer_scale)

        self.gamma = algorithm.gamma
        self.fast_rate: FixedRate = FixedRate(algorithm.fast_lr)
        if variant.buffered and algorithm.setting("auto_scale"):
            bl = self.A.update_config.bl
            self.fast_rate = AutoScaledRate(algorithm.auto_scale_lr, bl, self.A.dw0, algorithm.auto_momentum)
        self.transfer_every = algorithm.transfer_every
        self.reads_per_transfer = algorithm.n_reads_per_transfer
        self.pointer = 0
        self.sweeps = 0  # full sweeps of the pointer over A's lines so far
        self.samples_pending = 0
        # transfer_every counts training samples; a conv layer's update holds this many vectors (its output
        # positions) per sample, and the network that owns the layer sets it
        self.vectors_per_sample = 1
        self.transfers = 0  # transfer events so far

    # -- state ---------------------------------------------------------------------------------
    @property
    def R(self):
        return self.reference.R if isinstance(self.reference, ArrayReference) else None

    @property
    def H(self) -> np.ndarray:
        assert isinstance(self.writer, WholePulseWrite) and self.writer.buffer is not None, "H: buffered variants only"
        return self.writer.buffer.H

    @property
    def pulses_written(self) -> int:
        """Whole pulses written onto C so far (buffered variants)."""
        return getattr(self.writer, "pulses_written", 0)

    @property
    def transfer_direction(self) -> str:
        return "column" if self.lines.by_column else "row"

    @property
    def n_vectors(self) -> int:
        return self.lines.count

    # -- weights -------------------------------------------------------------------------------
    def fast_weights(self) -> np.ndarray:
        fast = self.A.get_weights()
        offset = self.reference.fast_offset()
        return fast - offset if offset is not None else fast

    def effective_weights(self) -> np.ndarray:
        slow = self.C.get_weights()
        return slow + self.gamma * self.fast_weights() if self.gamma else slow

    # -- reads ---------------------------------------------------------------------------------
    def _read(self, direction: Direction, v: np.ndarray, rec, deps, phase: Phase):
        read = self.C.forward if direction == "forward" else self.C.backward
        out, stats = read(v)
        done = rec.reads(self.layer, "C", stats, direction, phase, deps) if rec else []
        if self.gamma:
            arrays = [("A", self.A)] + list(self.reference.arrays)
            for role, array in arrays:
                value, stats = (array.forward if direction == "forward" else array.backward)(v)
                out = out + (self.gamma if role == "A" else -self.gamma) * value
                if rec:
                    done += rec.reads(self.layer, role, stats, direction, phase, deps)
            if rec:
                done = [rec.digital("add", out.size * (len(arrays)), phase, done)]
        return out, done

    def forward(self, x, rec=None, deps=()):
        return self._read("forward", x, rec, deps, "forward")

    def backward(self, d, rec=None, deps=()):
        return self._read("backward", d, rec, deps, "backward")

    # -- update and transfer -------------------------------------------------------------------
    def resident_words(self) -> int:
        """Digital state kept between steps: H, and AGAD's running mean and reference (words)."""
        words = self.H.size if isinstance(self.writer, WholePulseWrite) and self.writer.buffer is not None else 0
        if isinstance(self.reference, DynamicReference):
            words += self.reference.running.size + self.reference.past.size
        return words

    def update(self, x, d, rec=None, deps=()):
        if rec is not None and self.resident_words():
            rec.keep(self.resident_words() * rec.digital_bits)  # resident all step: charged with no phase span
        x, d, deps = self.chopper.chop(x, d, self.lines, rec, deps)
        x_update, lr, deps = self.fast_rate.update_inputs(x, d, rec, deps)
        stats = self.A.update(x_update, d, lr)
        done = rec.updates(self.layer, "A", stats, deps) if rec else []
        self.samples_pending += x.shape[0] // self.vectors_per_sample
        due = self.samples_pending // self.transfer_every
        self.samples_pending -= due * self.transfer_every
        # The step's transfers all follow its updates, so transfers of distinct lines commute: they run as
        # one batched read and write. A batch that would visit a line twice runs one transfer at a time.
        if due * self.reads_per_transfer <= self.n_vectors:
            if due:
                done = self.transfer(rec, done, due)
        else:
            for _ in range(due):
                done = self.transfer(rec, done)
        return done

    def _next_lines(self, transfers: int) -> tuple[np.ndarray, np.ndarray]:
        """The next lines to read and, per line, the sweeps completed before its read."""
        total = transfers * self.reads_per_transfer
        positions = self.pointer + np.arange(total)
        indices = positions % self.n_vectors
        sweeps = self.sweeps + positions // self.n_vectors
        self.sweeps += (self.pointer + total) // self.n_vectors
        self.pointer = (self.pointer + total) % self.n_vectors
        return indices, sweeps

    def transfer(self, rec: StepRecorder | None, deps, transfers: int = 1) -> list[int]:
        """Read the next ``transfers`` x ``n_reads_per_transfer`` lines of A and move them onto C;
        returns the ops to wait for."""
        self.transfers += transfers
        indices, sweeps = self._next_lines(transfers)
        read = self.A.read_columns if self.lines.by_column else self.A.read_rows
        values, stats = read(indices)  # (n, out) for columns, (n, in) for rows
        reads = rec.transfer_reads(self.layer, "A", stats, self.transfer_direction, deps) if rec else {}
        transfer = Transfer(
            indices,
            sweeps,
            values,
            self.chopper.signs[indices].copy(),
            self.chopper.switched[indices].copy(),
            np.ones(len(indices), dtype=bool),
        )
        reads = self.reference.at_periphery(transfer, rec, reads, deps)
        if self.writer.digital and rec is not None:
            transfer.deps = [
                rec.move(ArrayId(self.layer, "A", *key), "digital", bits, "transfer", [op])
                for key, (op, bits) in reads.items()
            ]
        self.reference.in_digital(transfer, rec)
        self.chopper.unchop(transfer, rec)
        done = self.writer.write(self, transfer, rec, reads)
        return done + self.chopper.after_read(transfer, rec)

    def moves_to_c(self, rec: StepRecorder, stats, reads: dict) -> list[int]:
        """Read values travel from each A block to the C block at the same position (A and C share one
        block grid, and a one-hot read of A block (r, c) feeds exactly C block (r, c))."""
        moves = []
        for block in stats.blocks:
            key = (block.row_block, block.col_block)
            op, bits = reads[key]
            moves.append(
                rec.move(ArrayId(self.layer, "A", *key), ArrayId(self.layer, "C", *key), bits, "transfer", [op])
            )
        return moves


def build(layer: int, weights: np.ndarray, hw, algorithm, training, seed: int) -> TikiTakaStore:
    return TikiTakaStore(layer, weights, hw, algorithm, training, seed)
