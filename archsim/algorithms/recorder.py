"""Turning what the tiles did into the operation stream of one training step.

Algorithms call the analog arrays, get back read and update statistics per physical block, and hand
them to a :class:`StepRecorder`, which appends plain-data operations (:mod:`archsim.ops`) with their
dependencies. The recorder is the algorithms' only contact with the cost side.

Besides what the algorithms hand it, the recorder adds the digital work every algorithm shares (so that no
algorithm can forget it):

- reads: the partial outputs of a layer's blocks meet at the digital unit and are added there (one add per
  value beyond the first block);
- pulsed rank-1 updates (:meth:`StepRecorder.updates`): update management's abs-max of x and of d per
  sample, and x and d moved to every block that is updated (when the pulse trains are stochastic, the
  translators' random numbers and comparators are charged by the engine, per line per slot, with the update);
- whole-pulse writes (:meth:`StepRecorder.pulse_writes`): the signed counts travel to each block, one count per
  device written in the narrowest width that holds the largest count.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from archsim.mapping.blocks import BlockLayout, block_slices
from archsim.ops import (
    ArrayId,
    BufferAccess,
    BufferKind,
    CallTemplate,
    Digital,
    Direction,
    Location,
    Move,
    Mvm,
    Operation,
    Phase,
    PulseUpdate,
    RecordedStep,
    Role,
    TransferRead,
    TransferWrite,
    data_of,
    read_record,
    write_record,
)

#: Call templates the recorders of a run keep before they are forgotten (a bound on memory: steps whose calls never
#: repeat, e.g. TTv2's writes of data-dependent sizes, would otherwise add templates every step).
MAX_CALL_TEMPLATES = 20_000


def count_bits(largest: int) -> int:
    """Bits of a signed pulse count whose magnitude is at most ``largest`` (sign + magnitude)."""
    return max(int(largest), 1).bit_length() + 1


class StepRecorder:
    """Collects one step's operations; every method returns the indices of the operations it added.

    ``blocks`` (the network's :class:`~archsim.mapping.blocks.BlockLayout`) lets the recorder size what it
    adds per block (x and d sent to an updated block, update management's abs-max); without it those are
    not recorded.

    ``calls`` (a dict the recorders of one training run share; None: operations are made as they are recorded)
    keeps a :class:`~archsim.ops.CallTemplate` per call, by its place in the step and the arguments that fix its
    operations but their data. A call met before only notes its operations' data records, and the step comes out
    as a :class:`~archsim.ops.RecordedStep` (:attr:`step`), whose operations are made when first asked for: the
    engine costs a step of a signature it has seen from the records alone.
    """

    def __init__(
        self,
        in_bits: int,
        out_bits: int,
        digital_bits: int = 32,
        transfer_bits: int | None = None,
        blocks: BlockLayout | None = None,
        calls: dict | None = None,
    ):
        self.in_bits = in_bits  # DAC resolution (bits per driven input value)
        self.out_bits = out_bits  # ADC resolution (bits per converted output value)
        self.transfer_bits = transfer_bits or out_bits  # ADC resolution of transfer reads (bits)
        self.digital_bits = digital_bits  # word size of digital values moved around (bits)
        self.blocks = blocks
        self._calls = calls
        if calls is not None and len(calls) > MAX_CALL_TEMPLATES:
            calls.clear()
        self._made: list[Operation] = []  # operations made so far (all of them unless calls are kept)
        self._out = self._made  # where the call being made puts its operations ...
        self._base = 0  # ... and the step index of the first of them
        self._templates: list[CallTemplate] = []  # with calls kept: the step's calls ...
        self._records: list[tuple] = []  # ... and its data-dependent operations' data records
        self._size = 0  # operations recorded so far

    @property
    def ops(self) -> list[Operation]:
        """The step's operations."""
        if self._calls is None:
            return self._made
        return RecordedStep(tuple(self._templates), self._records).operations()

    @property
    def step(self) -> RecordedStep | list[Operation]:
        """The step: a :class:`~archsim.ops.RecordedStep` when calls are kept, else the list of its operations."""
        if self._calls is None:
            return self._made
        return RecordedStep(tuple(self._templates), self._records)

    def add(self, op: Operation) -> int:
        self._out.append(op)
        return self._base + len(self._out) - 1

    def _recalled(self, key: tuple):
        """The call ``key`` (its place in the step first) if met before: its data records are the caller's to add;
        None when it must be made (:meth:`_make`)."""
        template = self._calls.get(key)  # type: ignore[union-attr]
        if template is None:
            return None
        self._templates.append(template)
        self._size += len(template.ops)
        return template

    def _recalled_reads(self, key: tuple, blocks):
        """:meth:`_recalled` for a call of block reads, their data records noted."""
        template = self._recalled(key)
        if template is not None:
            self._records.extend([read_record(b.retries, b.drive_fraction) for b in blocks])
        return template

    def _recalled_writes(self, key: tuple, blocks, phase: Phase, stochastic: bool | None):
        """:meth:`_recalled` for a call of pulsed writes (stochastic each as its block says when ``stochastic`` is
        None), their data records noted."""
        template = self._recalled(key)
        if template is not None:
            transfer = phase == "transfer"
            self._records.extend(
                [_write_record(b, transfer, b.stochastic if stochastic is None else stochastic) for b in blocks]
            )
        return template

    def _make(self, key: tuple | None, make, *args):
        """Make call ``key`` with ``make(*args)`` (which records through :meth:`add`), keep its template and note its
        data; returns what ``make`` returned."""
        if self._calls is None:
            returned = make(*args)
            self._size = len(self._made)
            return returned
        self._out, self._base = [], self._size
        try:
            returned = make(*args)
        finally:
            made, self._out = self._out, self._made
        template = CallTemplate(tuple(made), returned)
        self._calls[key] = template
        self._templates.append(template)
        self._size += len(made)
        self._records.extend([data_of(made[position]) for position in template.dynamic])
        return _copy(returned)

    # -- analog reads ------------------------------------------------------------------------
    def reads(
        self,
        layer: int,
        role: Role,
        stats,
        direction: Direction,
        phase: Phase,
        deps: Iterable[int],
        source: Location = "digital",
    ) -> list[int]:
        """Inputs move to each block, the block reads, its partial outputs move to the digital unit, where the
        partial sums of blocks that share outputs are added."""
        deps = tuple(deps)
        blocks = stats.blocks
        key = None
        if self._calls is not None:
            key = (self._size, "reads", layer, role, direction, phase, deps, source, _read_shape(blocks))
            template = self._recalled_reads(key, blocks)
            if template is not None:
                return list(template.returned)
        return self._make(key, self._reads, layer, role, blocks, direction, phase, deps, source)

    def _reads(self, layer, role, blocks, direction, phase, deps, source) -> list[int]:
        out, base = self._out, self._base
        forward = direction == "forward"
        in_bits, out_bits = self.in_bits, self.out_bits
        arrivals: dict[int, list[int]] = {}  # output block -> moves of its partial sums
        values: dict[int, int] = {}  # output block -> values per partial sum
        for block in blocks:
            array = ArrayId(layer, role, block.row_block, block.col_block)
            vectors, rows, cols = block.vectors, block.active_rows, block.active_cols
            driven, read, out_block = (rows, cols, block.col_block) if forward else (cols, rows, block.row_block)
            move_in = base + len(out)
            out.append(Move(source, array, vectors * driven * in_bits, phase, deps))
            out.append(
                Mvm(
                    array,
                    direction,
                    vectors,
                    rows,
                    cols,
                    in_bits,
                    out_bits,
                    block.retries,
                    phase,
                    (move_in,),
                    block.drive_fraction,
                )
            )
            out.append(Move(array, "digital", vectors * read * out_bits, phase, (move_in + 1,)))
            moves = arrivals.get(out_block)
            if moves is None:
                arrivals[out_block] = [move_in + 2]
            else:
                moves.append(move_in + 2)
            values[out_block] = vectors * read
        done = []
        for out_block, moves in arrivals.items():
            if len(moves) > 1:
                done.append(self.add(Digital("add", values[out_block] * (len(moves) - 1), phase, tuple(moves))))
            else:
                done.append(moves[0])
        return done

    def transfer_reads(
        self, layer: int, role: Role, stats, direction: str, deps: Iterable[int]
    ) -> dict[tuple[int, int], tuple[int, int]]:
        """One-hot transfer reads (column transfer: forward; row transfer: transpose).

        Returns, per (row_block, col_block), the read's op index and the bits of values it produced."""
        deps = tuple(deps)
        blocks = stats.blocks
        key = None
        if self._calls is not None:
            key = (self._size, "transfer_reads", layer, role, direction, deps, _read_shape(blocks))
            template = self._recalled_reads(key, blocks)
            if template is not None:
                return dict(template.returned)
        return self._make(key, self._transfer_reads, layer, role, blocks, direction, deps)

    def _transfer_reads(self, layer, role, blocks, direction, deps) -> dict[tuple[int, int], tuple[int, int]]:
        done = {}
        for block in blocks:
            array = ArrayId(layer, role, block.row_block, block.col_block)
            outputs = block.active_cols if direction == "column" else block.active_rows
            op = self.add(
                TransferRead(
                    array,
                    block.vectors,
                    outputs,
                    self.in_bits,
                    self.transfer_bits,
                    block.retries,
                    "transfer",
                    deps,
                    block.drive_fraction,
                )
            )
            done[(block.row_block, block.col_block)] = (op, block.vectors * outputs * self.transfer_bits)
        return done

    # -- analog writes -----------------------------------------------------------------------
    def updates(self, layer: int, role: Role, stats, deps: Iterable[int], phase: Phase = "update") -> list[int]:
        """Stochastic pulsed rank-1 updates (``phase`` "transfer": Tiki-Taka's pulsed writes onto C).

        Update management first finds the abs-max of x and of d of every sample; outside transfers, x and d
        then travel from the digital unit to each updated block."""
        deps = tuple(deps)
        blocks = stats.blocks
        if not blocks:
            return []
        key = None
        if self._calls is not None:
            key = (self._size, "updates", layer, role, deps, phase,
                   tuple([(b.row_block, b.col_block, b.samples, b.stochastic) for b in blocks]))  # fmt: skip
            template = self._recalled_writes(key, blocks, phase, None)
            if template is not None:
                return list(template.returned)
        return self._make(key, self._updates, layer, role, blocks, deps, phase)

    def _updates(self, layer, role, blocks, deps, phase) -> list[int]:
        if self.blocks is not None:
            out_size, in_size = self.blocks.size(layer, role)
            samples = max(b.samples for b in blocks)
            deps = (self.add(Digital("max", int(samples * (out_size + in_size)), phase, deps)),)
        done = []
        for block in blocks:
            array = ArrayId(layer, role, block.row_block, block.col_block)
            ready = deps
            if self.blocks is not None and phase != "transfer":
                rows, cols = self.blocks.shape(*array)
                bits = int(block.samples * (rows + cols) * self.digital_bits)
                ready = (self.add(Move("digital", array, bits, phase, deps)),)
            # deterministic pulse counts (hw.update.mode mean_count or expected) need no random numbers
            done.append(self._write(array, block, phase, ready, stochastic=block.stochastic))
        return done

    def pulse_writes(
        self,
        layer: int,
        role: Role,
        stats,
        counts: np.ndarray,
        deps: Iterable[int],
        phase: Phase = "update",
        source: Location = "digital",
    ) -> list[int]:
        """Whole-pulse writes (TTv2's transfers, mixed precision): ``counts`` is the signed (out, in) matrix of
        pulses fired (what ``AnalogArray.apply_pulses`` was given), ``stats`` what it returned.

        Each block receives one count per device it writes, in the narrowest signed width that holds the
        largest count of the call, then fires them."""
        deps = tuple(deps)
        counts = np.asarray(counts)
        width = count_bits(int(np.abs(counts).max(initial=0)))
        blocks = stats.blocks
        written: list[int | None] = [None] * len(blocks)
        if self.blocks is not None:
            row_slices = block_slices(counts.shape[1], self.blocks.tile_rows)
            col_slices = block_slices(counts.shape[0], self.blocks.tile_cols)
            for number, block in enumerate(blocks):
                rows, cols = row_slices[block.row_block], col_slices[block.col_block]
                written[number] = int(np.count_nonzero(counts[cols, rows]))
        key = None
        if self._calls is not None:
            key = (self._size, "pulse_writes", layer, role, deps, phase, source, width,
                   tuple([(b.row_block, b.col_block, n) for b, n in zip(blocks, written, strict=True)]))  # fmt: skip
            template = self._recalled_writes(key, blocks, phase, False)
            if template is not None:
                return list(template.returned)
        return self._make(key, self._pulse_writes, layer, role, blocks, written, width, deps, phase, source)

    def _pulse_writes(self, layer, role, blocks, written, width, deps, phase, source) -> list[int]:
        done = []
        for block, writes in zip(blocks, written, strict=True):
            array = ArrayId(layer, role, block.row_block, block.col_block)
            ready = deps
            if writes is not None:
                ready = (self.add(Move(source, array, int(writes * width), phase, deps)),)
            done.append(self._write(array, block, phase, ready, stochastic=False))
        return done

    def _write(self, array: ArrayId, block, phase: Phase, ready: tuple[int, ...], stochastic: bool) -> int:
        """One block's pulsed write, its data from :func:`_write_record`: a transfer write in the transfer phase, else
        a pulsed update."""
        bl, samples, row_pulses, col_pulses, device_pulses = _write_record(block, phase == "transfer", stochastic)
        if phase == "transfer":
            return self.add(
                TransferWrite(
                    array, samples, bl, device_pulses, phase, ready, row_pulses, col_pulses, stochastic=stochastic
                )
            )
        return self.add(
            PulseUpdate(
                array,
                samples,
                bl,
                row_pulses,
                col_pulses,
                device_pulses,
                phase,
                ready,
                stochastic=stochastic,
            )
        )

    # -- digital and data movement -----------------------------------------------------------
    def _single(self, key: tuple, op_of, *args) -> int:
        """A call that records one operation without data, ``op_of(*args)``."""
        if self._calls is None:
            self._size += 1
            return self.add(op_of(*args))
        template = self._recalled(key)
        if template is not None:
            return template.returned
        return self._make(key, lambda: self.add(op_of(*args)))

    def digital(self, kind: str, count: int, phase: Phase, deps: Iterable[int]) -> int:
        count, deps = int(count), tuple(deps)
        return self._single((self._size, "digital", kind, count, phase, deps), Digital, kind, count, phase, deps)

    def move(self, src: Location, dst: Location, bits: int, phase: Phase, deps: Iterable[int]) -> int:
        bits, deps = int(bits), tuple(deps)
        return self._single((self._size, "move", src, dst, bits, phase, deps), Move, src, dst, bits, phase, deps)

    def buffer(self, kind: BufferKind, bits: int, phase: Phase, deps: Iterable[int]) -> int:
        bits, deps = int(bits), tuple(deps)
        return self._single((self._size, "buffer", kind, bits, phase, deps), BufferAccess, kind, bits, phase, deps)

    def line_buffer(
        self, kind: BufferKind, layer: int, bits: int, footprint: int, phase: Phase, deps: Iterable[int]
    ) -> int:
        """Traffic of conv layer ``layer``'s input line buffer, which sits in the layer's own tiles
        (``hw.line_buffer``): ``footprint`` is what it must hold at once (k input rows of one sample); reads
        beyond its capacity come from the global buffer."""
        bits, footprint, deps = int(bits), int(footprint), tuple(deps)
        key = (self._size, "line_buffer", kind, layer, bits, footprint, phase, deps)
        return self._single(key, BufferAccess, kind, bits, phase, deps, layer, footprint)

    def keep(self, bits: int, phase: Phase = "forward") -> int:
        """Declare ``bits`` of state resident in the buffer during this step (TTv2's H, mixed precision's
        accumulator): it takes capacity first, so what does not fit spills to DRAM and its accesses are charged
        there."""
        bits = int(bits)
        return self._single((self._size, "keep", bits, phase), BufferAccess, "keep", bits, phase, ())


def _read_shape(blocks) -> tuple:
    """What of a call's block reads fixes their operations (the rest is their data records)."""
    return tuple([(b.row_block, b.col_block, b.vectors, b.active_rows, b.active_cols) for b in blocks])


def _write_record(block, transfer: bool, stochastic: bool) -> tuple:
    """The data record of the pulsed write :meth:`StepRecorder._write` makes of ``block``: a stochastic transfer write
    leaves its driver pulses to the engine."""
    drivers = transfer and stochastic
    row_pulses, col_pulses = (None, None) if drivers else (block.row_pulses, block.col_pulses)
    return write_record(block.bl, block.samples, row_pulses, col_pulses, block.device_pulses)


def _copy(returned):
    """A call's result as its caller may keep and change it (a template keeps the original)."""
    if isinstance(returned, list):
        return list(returned)
    if isinstance(returned, dict):
        return dict(returned)
    return returned
