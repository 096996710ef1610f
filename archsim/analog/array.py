"""One logical analog weight matrix, split across physical tiles, with reads and pulsed updates.

The matrix has shape (outputs, inputs). Physical tiles hold ``hw.tile.rows`` inputs x ``hw.tile.cols`` outputs;
block ``(row_block, col_block)`` holds inputs ``row_block * rows ...`` and outputs ``col_block * cols ...``. Each
block quantises its own partial outputs; the partial sums over row blocks are added digitally.

Randomness: device-to-device parameters come from a NumPy generator seeded with ``(seed, 0)``; read noise from
one seeded with ``(seed, 1)``; update noise from counter-based keys of ``(seed, block)`` and the running
sample number, so an update does not depend on thread count or on which other blocks were updated.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from archsim.analog.io import IOModel, analog_read
from archsim.analog.kernels import (
    _convert_lines,
    _convert_summing_inputs,
    _gather_input_lines,
    _input_line_sums,
    _output_line_sums,
    _picked_input_sums,
)
from archsim.config.device import DeviceConfig
from archsim.config.hw import HwConfig, cell_conductances
from archsim.devices.models import DeviceState, device_model, sample_device_state, symmetric_points
from archsim.devices.rng import MASK64, py_stream, seed_key
from archsim.devices.update import apply_pulse_counts, pulsed_update
from archsim.errors import NonFiniteValues
from archsim.mapping.blocks import block_slices

_PURPOSE_D2D, _PURPOSE_READ, _PURPOSE_UPDATE = 0, 1, 2
_ALL_LINES = np.empty(0, dtype=np.int64)  # the kernels' "every line"
# which line sums of a block's read loads have been asked for (bit flags): whole-block forward and transpose
# reads', and one-hot forward reads' (of the lines they drive)
_INPUT_SUMS, _OUTPUT_SUMS, _PICKED_INPUT_SUMS = 1, 2, 4


def _few(lines: int, of: int) -> bool:
    """Whether ``lines`` of ``of`` lines are few enough to work on them alone rather than on the whole block (a
    one-hot read, a transfer's written column): at most a quarter."""
    return lines * 4 <= of


class _ReadMatrix:
    """One build of a physical block's read weights, float32, and the line sums of its read load once known.

    ``values``: the whole block (outputs x inputs, as the block holds them) or, for a one-hot read, only the
    lines it drives (``lines``, block-local; one row per line: an input line's cells in output order, or an
    output line's in input order; ``whole`` the block's matrix it was taken from, if built). ``input_sums`` and
    ``output_sums``: sums of ``G / G_on`` along each input line (over the outputs) and each output line (over the
    inputs), or along each picked line, None until known; ``used``: which of them a read's load has used
    (``_INPUT_SUMS``, ``_OUTPUT_SUMS``). Changed after it is built only to fill in sums, or by the block's next
    build when nothing else holds it any more: a read's load, evaluated later, sees the weights that read saw."""

    __slots__ = ("values", "input_sums", "output_sums", "lines", "whole", "used")

    def __init__(self) -> None:
        self.values: np.ndarray = _NO_VALUES
        self.input_sums: np.ndarray | None = None
        self.output_sums: np.ndarray | None = None
        self.lines: np.ndarray | None = None
        self.whole: _ReadMatrix | None = None
        self.used = 0


_NO_VALUES = np.empty((0, 0), dtype=np.float32)
_NO_SUMS = np.empty(0)


def _references_when_free() -> tuple[int, int]:
    """What :func:`sys.getrefcount` says of a read matrix and of its array that only their owner's dict holds,
    looked at as :meth:`AnalogArray._build_read_matrix` looks (counts of a local and of the call's argument
    differ between Python versions)."""
    owner = {0: _ReadMatrix()}
    previous = owner.get(0)
    assert previous is not None
    previous.values = np.empty(1, dtype=np.float32)
    return sys.getrefcount(previous), sys.getrefcount(previous.values)


_FREE_REFERENCES = _references_when_free()


@dataclass(slots=True)
class BlockReadStats:
    """What one physical block did for a read call."""

    row_block: int
    col_block: int
    vectors: int  # input vectors read
    active_rows: int  # tile rows (inputs) involved: driven for forward, read for transpose reads
    active_cols: int  # tile columns (outputs) involved: read for forward, driven for transpose reads
    retries: int  # bound-management re-reads, summed over vectors
    conversions: int  # ADC conversions: (vectors + retries) x outputs read x passes (bit-serial inputs)
    passes: int = 1  # array passes per read (bit-serial: one per input bit, recombined by shift-add)
    # computes drive_fraction from what the read saw (None: unknown, charged as full drive)
    load: Callable[[], float] | None = field(default=None, repr=False, compare=False)
    _drive_fraction: float | None = field(default=-1.0, init=False, repr=False, compare=False)  # -1: not yet asked

    @property
    def drive_fraction(self) -> float | None:
        """The read's cell current relative to every driven line at full scale on cells at the on-state
        conductance, averaged over (vectors + retries) x passes reads of driven lines x outputs cells:
        ``sum_pass sum_ij drive_i G_ij / (reads x passes x driven x outputs x G_on)`` (see
        :meth:`AnalogArray.read_load`). Computed when first asked (kept in a slot: functools.cached_property takes
        a lock on every first access): only the cost side asks, so a functional-only run never reduces the
        conductances."""
        value = self._drive_fraction
        if value == -1.0:
            value = self._drive_fraction = None if self.load is None else self.load()
        return value


@dataclass(slots=True)
class BlockUpdateStats:
    """What one physical block did for an update call."""

    row_block: int
    col_block: int
    samples: int  # rank-1 updates (or, for apply_pulses, write steps) applied
    bl: int  # pulse slots used, summed over samples
    row_pulses: int  # pulses driven on the output-side lines (d), summed
    col_pulses: int  # pulses driven on the input-side lines (x), summed
    device_pulses: int  # coincidences = device write pulses, summed
    # True when the pulse trains were drawn at random (hw.update.mode stochastic), whose translators draw a random
    # number and compare it on every line in every slot; False for deterministic counts
    stochastic: bool = True


def _block_total(name: str) -> property:
    """A property summing the per-block field ``name`` over the blocks that took part."""
    return property(lambda self: sum(getattr(b, name) for b in self.blocks), doc=f"{name}, summed over blocks")


@dataclass
class ReadStats:
    """Per-block statistics of one read call (forward, backward, read_columns, read_rows)."""

    blocks: list[BlockReadStats] = field(default_factory=list)
    vectors = _block_total("vectors")
    retries = _block_total("retries")
    conversions = _block_total("conversions")


@dataclass
class UpdateStats:
    """Per-block statistics of one update call (update or apply_pulses)."""

    blocks: list[BlockUpdateStats] = field(default_factory=list)
    device_pulses = _block_total("device_pulses")
    row_pulses = _block_total("row_pulses")
    col_pulses = _block_total("col_pulses")
    bl = _block_total("bl")


class AnalogArray:
    """A logical (out_size, in_size) weight matrix on analog tiles (weights in normalised units)."""

    def __init__(self, out_size: int, in_size: int, hw: HwConfig, seed: int, device: DeviceConfig | None = None):
        if int(out_size) < 1 or int(in_size) < 1:
            raise ValueError(f"array size must be at least 1 x 1, got {out_size} x {in_size}")
        self.out_size, self.in_size = int(out_size), int(in_size)
        self.hw = hw
        self.device = device if device is not None else hw.device
        self.seed = int(seed)
        self.model = device_model(self.device)
        self.io = IOModel.from_hw(hw)
        # one-hot transfer reads may convert at their own resolution (hw.adc.transfer_bits)
        self.transfer_io = IOModel.from_hw(hw, hw.adc.transfer_bits) if hw.adc.transfer_bits else self.io
        self.update_config = hw.update
        self.tile_rows, self.tile_cols = hw.tile.rows, hw.tile.cols
        entropy = self.seed & MASK64
        d2d_rng = np.random.default_rng(np.random.SeedSequence([entropy, _PURPOSE_D2D]))
        self._read_rng = np.random.default_rng(np.random.SeedSequence([entropy, _PURPOSE_READ]))
        full = sample_device_state(self.device, (self.out_size, self.in_size), d2d_rng)
        self._row_slices = block_slices(self.in_size, self.tile_rows)
        self._col_slices = block_slices(self.out_size, self.tile_cols)
        self._states: dict[tuple[int, int], DeviceState] = {}
        self._keys: dict[tuple[int, int], int] = {}
        for r, rows in enumerate(self._row_slices):
            for c, cols in enumerate(self._col_slices):
                self._states[(r, c)] = full.view(cols, rows).copy()
                self._keys[(r, c)] = seed_key(self.seed, _PURPOSE_UPDATE, r, c)
        # per block, its read matrix as the weights are now (dropped on a write) and the last one built
        self._read_cache: dict[tuple[int, int], _ReadMatrix] = {}
        self._previous: dict[tuple[int, int], _ReadMatrix] = {}
        g_on, g_off = cell_conductances(hw.array, self.device)
        self._g_off_relative = g_off / g_on
        # Per block, the input lines written since its read matrix was last built (None: unknown, e.g. after
        # set_weights). A write changes only devices on the input lines it drives (x_j, or a count in column j,
        # nonzero): the new matrix and its per-input sums are the previous ones with those lines converted and
        # summed again
        self._written_inputs: dict[tuple[int, int], np.ndarray | None] = {}
        # per block, which line sums of its reads' loads have been asked for (_INPUT_SUMS, _OUTPUT_SUMS,
        # _PICKED_INPUT_SUMS): those of its later matrices are summed as they are built, until a matrix's sums go
        # unused (costing stopped). A functional-only run asks none
        self._summed: dict[tuple[int, int], int] = {}
        self._bounds32: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.samples_applied = 0  # running sample number: keys the update noise

    # -- layout ----------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.out_size, self.in_size

    @property
    def blocks(self) -> list[tuple[int, int, int, int]]:
        """``(row_block, col_block, rows_in_block, cols_in_block)`` for every physical block."""
        return [
            (r, c, rows.stop - rows.start, cols.stop - cols.start)
            for r, rows in enumerate(self._row_slices)
            for c, cols in enumerate(self._col_slices)
        ]

    @property
    def input_bits(self) -> int:
        """Effective DAC input resolution of a read (bits)."""
        return self.io.input_bits

    @property
    def dw0(self) -> float:
        """The device's mean step at w = 0 (normalised weight units): the granularity update management scales
        by (aihwkit's ``calcWeightGranularity``), so ``lr * |d| * |x| / dw0`` pulses realise ``lr * d * x`` at 0.
        Not the nominal dw_min for pow_step, exp_step and piecewise devices."""
        return self.model.dw0

    @property
    def output_bits(self) -> int:
        """ADC resolution (bits)."""
        return self.hw.adc.bits

    # -- weights ---------------------------------------------------------------------------------
    def _assemble(self, name: str) -> np.ndarray:
        out = np.empty((self.out_size, self.in_size))
        for (r, c), state in self._states.items():
            value = state.apparent() if name == "apparent" else getattr(state, name)
            out[self._col_slices[c], self._row_slices[r]] = value
        return out

    def get_weights(self) -> np.ndarray:
        """Copy of the weights a read sees (true conductance-encoded weight plus any write noise), (out, in)."""
        return self._assemble("apparent")

    def get_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Each device's ``(w_min, w_max)`` after device-to-device variation, (out, in) each."""
        return self._assemble("bound_min"), self._assemble("bound_max")

    def set_weights(self, weights: np.ndarray) -> None:
        """Program the weights exactly (clipped to each device's bounds): ideal programming, no write noise."""
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != self.shape:
            raise ValueError(f"expected weights of shape {self.shape}, got {weights.shape}")
        if not np.isfinite(weights).all():
            raise NonFiniteValues("weights")
        for (r, c), state in self._states.items():
            np.clip(weights[self._col_slices[c], self._row_slices[r]], state.bound_min, state.bound_max, out=state.w)
            if state.w_apparent is not None:
                state.w_apparent[...] = state.w
        self._read_cache.clear()
        self._written_inputs = dict.fromkeys(self._states)  # every line may have changed

    def symmetric_points(self) -> np.ndarray:
        """Each device's symmetric point (normalised units), (out, in)."""
        out = np.empty((self.out_size, self.in_size))
        for (r, c), state in self._states.items():
            out[self._col_slices[c], self._row_slices[r]] = symmetric_points(self.model, state)
        return out

    def _read_matrix(self, key: tuple[int, int]) -> _ReadMatrix:
        """Block ``key``'s read weights as they are now (built when first needed after a write)."""
        matrix = self._read_cache.get(key)
        return matrix if matrix is not None else self._build_read_matrix(key)

    def _build_read_matrix(self, key: tuple[int, int]) -> _ReadMatrix:
        """Convert block ``key``'s weights to its read matrix (only the input lines written since the last one, when
        few), with the line sums its loads have been asking for."""
        weights = self._states[key].apparent()
        rows, cols = weights.shape
        written = self._written_inputs.get(key)
        # the written lines, listed only when few (the partial conversion below): counting is cheaper than listing
        lines = None if written is None or not _few(int(np.count_nonzero(written)), cols) else np.flatnonzero(written)
        previous = self._previous.get(key)
        summed = self._summed.get(key, 0)
        if previous is not None:  # sums the previous matrix had and no load used: no longer asked for
            made = (previous.input_sums is not None) * _INPUT_SUMS | (previous.output_sums is not None) * _OUTPUT_SUMS
            unused = made & ~previous.used & summed
            if unused:
                summed = self._summed[key] = summed & ~unused
        matrix = _ReadMatrix()
        # The previous matrix's array is written over unless anything but this array still holds it (a read's load
        # not yet asked for must see the weights that read saw). One array per block instead of two in turn: less
        # memory to keep in cache
        free = (
            previous is not None and (sys.getrefcount(previous), sys.getrefcount(previous.values)) == _FREE_REFERENCES
        )
        if previous is not None and lines is not None:
            # only a few input lines changed since the previous matrix (a transfer's column): convert just those, and
            # carry its per-input sums over
            values = previous.values if free else previous.values.copy()
            if lines.size:
                _convert_lines(weights, lines, values)
            if previous.input_sums is not None and summed & _INPUT_SUMS:
                matrix.input_sums = previous.input_sums.copy()
                if lines.size:
                    low, inverse_range = self._bounds_of(key)
                    _input_line_sums(values, low, inverse_range, lines, self._g_off_relative, matrix.input_sums)
        elif summed & _INPUT_SUMS:
            # this block's forward loads are asked for (costing): its per-input sums come with the conversion
            values = previous.values if free and previous is not None else np.empty((rows, cols), dtype=np.float32)
            matrix.input_sums = np.empty(cols)
            low, inverse_range = self._bounds_of(key)
            _convert_summing_inputs(weights, low, inverse_range, self._g_off_relative, values, matrix.input_sums)
        elif free and previous is not None:
            values = previous.values
            np.copyto(values, weights, casting="same_kind")
        else:
            values = weights.astype(np.float32)
        matrix.values = values
        if summed & _OUTPUT_SUMS:  # summed while the block is in cache
            matrix.output_sums = self._output_sums(key, values)
        self._read_cache[key] = self._previous[key] = matrix
        if written is None:
            self._written_inputs[key] = np.zeros(cols, dtype=bool)
        else:
            written.fill(False)
        return matrix

    def _picked_lines(self, key: tuple[int, int], lines: np.ndarray, transpose: bool) -> _ReadMatrix:
        """Block ``key``'s read weights on its input lines ``lines`` only (one row per line: its cells in output
        order), or with ``transpose`` on its output lines ``lines`` (one row per line: its cells in input order):
        the matrix of a one-hot read of those lines, which sees nothing else, so the rest is not converted."""
        whole = self._read_cache.get(key)
        source = whole.values if whole is not None else self._states[key].apparent()
        matrix = _ReadMatrix()
        matrix.lines, matrix.whole = lines, whole
        if transpose:
            matrix.values = np.ascontiguousarray(source[lines, :], dtype=np.float32)
            return matrix
        matrix.values = np.empty((lines.size, source.shape[0]), dtype=np.float32)
        # once these reads' loads are asked for (costing), their lines are summed as they are gathered
        summing = bool(self._summed.get(key, 0) & _PICKED_INPUT_SUMS) and (whole is None or whole.input_sums is None)
        low, inverse_range = self._bounds_of(key) if summing else (_NO_VALUES, _NO_VALUES)
        sums = np.empty(lines.size) if summing else _NO_SUMS
        _gather_input_lines(source, lines, matrix.values, low, inverse_range, self._g_off_relative, sums, summing)
        if summing:
            matrix.input_sums = sums
        return matrix

    def _note_written(self, key: tuple[int, int], inputs: np.ndarray) -> None:
        """Block ``key`` was written on the input lines where ``inputs`` (bool, one per input) is True."""
        self._read_cache.pop(key, None)
        written = self._written_inputs.get(key)
        if written is not None:
            written |= inputs

    # -- reads -----------------------------------------------------------------------------------
    def _vectors(self, values: np.ndarray, width: int, what: str) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != width:
            raise ValueError(f"expected {what} of shape (batch, {width}), got {values.shape}")
        if not np.isfinite(values).all():
            raise NonFiniteValues(what)
        return values

    def _read_block(
        self,
        key: tuple[int, int],
        matrix: _ReadMatrix,
        weights: np.ndarray,
        inputs: np.ndarray,
        io: IOModel,
        transpose: bool,
        active_rows: int,
        active_cols: int,
    ) -> tuple[np.ndarray, BlockReadStats]:
        """Read the vectors ``inputs`` (vectors x lines driven) through ``weights`` (lines driven x outputs: the view
        of ``matrix`` the product takes) on block ``key``: their outputs and the block's statistics, whose load is
        worked out when the cost side asks. ``transpose``: the lines driven are the block's outputs (its columns);
        ``active_rows`` and ``active_cols``: the block's rows and columns taking part (1 on the driven side of a
        one-hot read)."""
        drive = np.zeros(inputs.shape[1])
        part, retries = analog_read(weights, inputs, io, self._read_rng, drive)
        retried = int(retries.sum())
        vectors = inputs.shape[0]
        driven, outputs = (active_cols, active_rows) if transpose else (active_rows, active_cols)
        load = partial(self.read_load, key, matrix, drive, vectors + retried, io, transpose, driven, outputs)
        passes = self.io.passes
        stats = BlockReadStats(
            *key, vectors, active_rows, active_cols, retried, (vectors + retried) * outputs * passes, passes, load
        )
        return part, stats

    def _bounds_of(self, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Block ``key``'s lower weight bounds and 1 / (upper - lower), float32 (the bounds never change)."""
        bounds = self._bounds32.get(key)
        if bounds is None:
            state = self._states[key]
            low = np.asarray(state.bound_min, dtype=np.float32)
            bounds = (low, np.float32(1.0) / (np.asarray(state.bound_max, dtype=np.float32) - low))
            self._bounds32[key] = bounds
        return bounds

    def _conductance_sums_of(self, key: tuple[int, int], matrix: _ReadMatrix, transpose: bool, drive: np.ndarray):
        """Sums of ``G / G_on`` of block ``key``'s cells along the lines a read drives, for the weights ``matrix``
        (the read's :meth:`_read_matrix` or :meth:`_picked_lines`): one per input line (over the block's outputs)
        for a forward read, one per output line (over its inputs) for a transpose read; for picked lines, one per
        picked line.

        A whole block's sums are kept with its matrix, and once a block's sums of a direction have been asked for,
        those of its later matrices are summed as they are built (:meth:`_build_read_matrix`), in the conversion's
        pass over the block. When few lines are driven (``drive``, one entry per line) and nothing is kept, only
        those lines are reduced (the other entries are 0), O(lines x N) instead of O(N^2). Every route gives the
        same bits (see the kernels)."""
        low, inverse_range = self._bounds_of(key)
        off = self._g_off_relative
        values = matrix.values
        if matrix.lines is not None:  # a one-hot read's lines: from the whole block's sums if known
            whole, lines = matrix.whole, matrix.lines
            if whole is not None:
                kept = whole.output_sums if transpose else whole.input_sums
                if kept is not None:
                    whole.used |= _OUTPUT_SUMS if transpose else _INPUT_SUMS
                    return kept[lines]
            sums = np.empty(lines.size)
            if transpose:
                _output_line_sums(values, low[lines], inverse_range[lines], off, sums)
            else:
                self._summed[key] = self._summed.get(key, 0) | _PICKED_INPUT_SUMS
                _picked_input_sums(values, low, inverse_range, lines, off, sums)
            return sums
        if _few(int(np.count_nonzero(drive)), drive.size):
            lines = np.flatnonzero(drive)
            sums = np.zeros(drive.size)
            if transpose:
                picked = np.empty(lines.size)
                _output_line_sums(values[lines], low[lines], inverse_range[lines], off, picked)
                sums[lines] = picked
            else:
                _input_line_sums(values, low, inverse_range, lines, off, sums)
            return sums
        if transpose:
            self._summed[key] = self._summed.get(key, 0) | _OUTPUT_SUMS
            matrix.output_sums = self._output_sums(key, values)
            return matrix.output_sums
        self._summed[key] = self._summed.get(key, 0) | _INPUT_SUMS
        matrix.input_sums = np.empty(values.shape[1])
        _input_line_sums(values, low, inverse_range, _ALL_LINES, off, matrix.input_sums)
        return matrix.input_sums

    def _output_sums(self, key: tuple[int, int], values: np.ndarray) -> np.ndarray:
        """Per output line of block ``key``'s read weights ``values``, the sum of ``G / G_on`` over its inputs."""
        low, inverse_range = self._bounds_of(key)
        sums = np.empty(values.shape[0])
        _output_line_sums(values, low, inverse_range, self._g_off_relative, sums)
        return sums

    def read_load(
        self,
        key: tuple[int, int],
        matrix: _ReadMatrix,
        drive: np.ndarray,
        reads: int,
        io: IOModel,
        transpose: bool,
        driven: int,
        outputs: int,
    ) -> float:
        """The cell current of a read on block ``key`` whose lines were driven ``drive`` (full-scale passes per
        line, as :func:`archsim.analog.io.analog_read` reports it) through the weights ``matrix`` (the block's read
        matrix at that read, :meth:`_read_matrix`, or the lines a one-hot read drove, :meth:`_picked_lines`, with
        ``drive`` one entry per picked line) and which read ``reads`` vectors (re-reads included), relative to every
        driven line at full scale on cells at the on-state conductance: ``sum_pass sum_ij drive_i G_ij /
        (reads x passes x driven x outputs x G_on)`` with ``drive_i`` the line's share of full scale in a pass
        (:func:`archsim.analog.io.line_drive`) and ``G_ij`` from the weight (:func:`cell_conductances`). The
        array read energy is this times ``V_read^2 G_on t_read`` per cell per pass: 0 for a read of zeros, 1 at
        full drive on cells all at ``G_on``. ``transpose``: lines driven are the block's outputs; ``driven``:
        lines each read drives (1 for a one-hot read)."""
        denominator = reads * io.passes * driven * outputs
        if not denominator:
            return 0.0
        sums = matrix.output_sums if transpose else matrix.input_sums
        if sums is None:
            sums = self._conductance_sums_of(key, matrix, transpose, drive)
        matrix.used |= _OUTPUT_SUMS if transpose else _INPUT_SUMS
        return float(drive @ sums) / denominator

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, ReadStats]:
        """``Y = X W^T`` through the IO path: X (batch, in) -> Y (batch, out)."""
        x = self._vectors(x, self.in_size, "inputs")
        y = np.zeros((x.shape[0], self.out_size))
        stats = ReadStats()
        for r, rows in enumerate(self._row_slices):
            x_block = np.ascontiguousarray(x[:, rows])
            for c, cols in enumerate(self._col_slices):
                matrix = self._read_matrix((r, c))
                n_rows, n_cols = rows.stop - rows.start, cols.stop - cols.start
                part, block = self._read_block((r, c), matrix, matrix.values.T, x_block, self.io, False, n_rows, n_cols)
                y[:, cols] += part
                stats.blocks.append(block)
        return y, stats

    def backward(self, d: np.ndarray) -> tuple[np.ndarray, ReadStats]:
        """Transpose read ``Z = D W``: D (batch, out) -> Z (batch, in)."""
        d = self._vectors(d, self.out_size, "errors")
        z = np.zeros((d.shape[0], self.in_size))
        stats = ReadStats()
        for c, cols in enumerate(self._col_slices):
            d_block = np.ascontiguousarray(d[:, cols])
            for r, rows in enumerate(self._row_slices):
                matrix = self._read_matrix((r, c))
                n_rows, n_cols = rows.stop - rows.start, cols.stop - cols.start
                part, block = self._read_block((r, c), matrix, matrix.values, d_block, self.io, True, n_rows, n_cols)
                z[:, rows] += part
                stats.blocks.append(block)
        return z, stats

    def _indices(self, ks, limit: int, what: str) -> np.ndarray:
        ks = np.asarray(ks)
        if ks.ndim != 1 or (not np.issubdtype(ks.dtype, np.integer) and ks.size):
            raise ValueError(f"expected a 1-D sequence of integer {what} indices")
        ks = ks.astype(np.int64)
        if ks.size and (ks.min() < 0 or ks.max() >= limit):
            raise ValueError(f"{what} indices must lie in [0, {limit}), got {ks.min()}..{ks.max()}")
        return ks

    def _one_hot(self, ks: np.ndarray, lines: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """For the indices ``ks`` that fall in the block lines ``lines``: their positions in ``ks``, the distinct
        block-local lines they name, and one one-hot vector per position over those distinct lines (None if none
        falls there). A one-hot read multiplies a single nonzero input by each weight of its line and adds exact
        zeros for the others, so reading only the lines named gives the same bits as reading the whole block."""
        picked = np.nonzero((ks >= lines.start) & (ks < lines.stop))[0]
        if picked.size == 0:
            return None
        local = ks[picked] - lines.start
        named = np.unique(local)
        one_hot = np.zeros((picked.size, named.size))
        one_hot[np.arange(picked.size), np.searchsorted(named, local)] = 1.0
        return picked, named, one_hot

    def read_columns(self, ks) -> tuple[np.ndarray, ReadStats]:
        """One-hot forward reads ``W e_k`` for each input index k -> V (len(ks), out).

        Only the row block holding k is driven (one row), and all its column blocks are read.
        """
        ks = self._indices(ks, self.in_size, "column")
        values = np.zeros((ks.size, self.out_size))
        stats = ReadStats()
        for r, rows in enumerate(self._row_slices):
            found = self._one_hot(ks, rows)
            if found is None:
                continue
            picked, lines, one_hot = found
            for c, cols in enumerate(self._col_slices):
                matrix = self._picked_lines((r, c), lines, False)
                part, block = self._read_block(
                    (r, c), matrix, matrix.values, one_hot, self.transfer_io, False, 1, cols.stop - cols.start
                )
                values[picked, cols] = part
                stats.blocks.append(block)
        return values, stats

    def read_rows(self, ks) -> tuple[np.ndarray, ReadStats]:
        """One-hot transpose reads ``W^T e_k`` for each output index k -> V (len(ks), in)."""
        ks = self._indices(ks, self.out_size, "row")
        values = np.zeros((ks.size, self.in_size))
        stats = ReadStats()
        for c, cols in enumerate(self._col_slices):
            found = self._one_hot(ks, cols)
            if found is None:
                continue
            picked, lines, one_hot = found
            for r, rows in enumerate(self._row_slices):
                matrix = self._picked_lines((r, c), lines, True)
                part, block = self._read_block(
                    (r, c), matrix, matrix.values, one_hot, self.transfer_io, True, rows.stop - rows.start, 1
                )
                values[picked, rows] = part
                stats.blocks.append(block)
        return values, stats

    # -- updates ---------------------------------------------------------------------------------
    def update(self, x: np.ndarray, d: np.ndarray, lr: float) -> UpdateStats:
        """One pulsed rank-1 update ``dW = -lr d_b x_b^T`` per sample, in order (mode: ``hw.update.mode``)."""
        x = self._vectors(x, self.in_size, "inputs")
        d = self._vectors(d, self.out_size, "errors")
        if x.shape[0] != d.shape[0]:
            raise ValueError(f"inputs and errors need the same batch size, got {x.shape[0]} and {d.shape[0]}")
        lr = float(lr)
        stats = UpdateStats()
        fired_inputs, fired_outputs = np.asarray(x.any(axis=0)), np.asarray(d.any(axis=0))  # lines samples drive
        for (r, c), state in self._states.items():
            rows, cols = self._row_slices[r], self._col_slices[c]
            written = fired_inputs[rows]
            if not (written.any() and fired_outputs[cols].any()):
                continue  # no line of this block fires (e.g. a one-hot transfer elsewhere): nothing happens
            counts = pulsed_update(
                state,
                self.model,
                x[:, rows],
                d[:, cols],
                lr,
                self.update_config,
                self._keys[(r, c)],
                self.samples_applied,
            )
            stats.blocks.append(
                BlockUpdateStats(
                    r,
                    c,
                    counts.samples,
                    int(counts.bl.sum()),
                    int(counts.row_pulses.sum()),
                    int(counts.col_pulses.sum()),
                    int(counts.device_pulses.sum()),
                    self.update_config.mode == "stochastic",
                )
            )
            self._note_written((r, c), written)
        self.samples_applied += x.shape[0]
        return stats

    def apply_pulses(self, counts: np.ndarray) -> UpdateStats:
        """Fire ``counts[i, j]`` pulses at device (i, j): up where positive, down where negative.

        Cost accounting: each block writes its devices line by line along whichever direction needs fewer
        pulse slots — one input line (column) at a time with its rows driven by their own counts, or one
        output line at a time; a line with counts up to m takes m slots. So ``samples`` is the number of
        lines written, ``bl`` the slots summed over them, ``device_pulses`` the pulses fired.
        """
        counts = np.asarray(counts)
        if counts.shape != self.shape:
            raise ValueError(f"expected counts of shape {self.shape}, got {counts.shape}")
        if not np.issubdtype(counts.dtype, np.integer):
            if not np.isfinite(counts).all() or not np.array_equal(counts, np.round(counts)):
                raise ValueError("pulse counts must be integers")
        counts = counts.astype(np.int64)
        stats = UpdateStats()
        for (r, c), state in self._states.items():
            block = np.ascontiguousarray(counts[self._col_slices[c], self._row_slices[r]])
            magnitude = np.abs(block)
            if not magnitude.any():
                continue
            key = py_stream(self._keys[(r, c)], self.samples_applied)
            fired = apply_pulse_counts(state, self.model, block, key)
            by_input, by_output = magnitude.max(axis=0), magnitude.max(axis=1)
            if by_input.sum() <= by_output.sum():
                lines, slots = int((by_input > 0).sum()), int(by_input.sum())
                row_pulses, col_pulses = fired, slots
            else:
                lines, slots = int((by_output > 0).sum()), int(by_output.sum())
                row_pulses, col_pulses = slots, fired
            stats.blocks.append(BlockUpdateStats(r, c, lines, slots, row_pulses, col_pulses, fired))
            self._note_written((r, c), by_input > 0)
        self.samples_applied += 1
        return stats
