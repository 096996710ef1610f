"""The operation stream: the only meeting point of the functional side and the cost side.

A training step is a list of plain-data operations. An operation's ``deps`` are the indices (in the
same step list) of the operations it must wait for. ``phase`` is one of :data:`PHASES`. Arrays are
named logically by :class:`ArrayId` (layer, role, row block, column block); the mapping decides which
physical tile holds each one, so algorithms never see hardware placement, and the engine never sees
devices or algorithms.

Counts that depend on data (device pulses, bound-management re-reads, which columns a TTv2 transfer
wrote) only scale energy; everything else is the step's *structure* and fixes its timing.

Operations are plain data, not changed once recorded. They are not frozen dataclasses because a step records
dozens of them: a frozen dataclass takes five times as long to build (its ``__init__`` sets each field through
``object.__setattr__``), which was a tenth of the costing's overhead on a small network.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Literal, NamedTuple, get_args

#: The part of a training step an operation belongs to.
Phase = Literal["forward", "backward", "update", "transfer"]
PHASES: tuple[Phase, ...] = get_args(Phase)
#: Roles of the arrays one layer may use. W: single array; A fast; C slow; R reference (zero shifting).
Role = Literal["W", "A", "C", "R"]
ROLES: tuple[Role, ...] = get_args(Role)
#: Which way a read drives an array: forward W x (inputs on the rows), backward W^T d (inputs on the columns).
Direction = Literal["forward", "backward"]
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
#: SRAM buffer traffic: a read, a write, or state already resident for the step (no traffic; it takes buffer
#: capacity before the step's writes, e.g. TTv2's H).
BufferKind = Literal["read", "write", "keep"]


class ArrayId(NamedTuple):
    """One physical-tile-sized block of one logical array of one layer."""

    layer: int
    role: Role
    row_block: int  # which block of tile.rows inputs
    col_block: int  # which block of tile.cols outputs


#: A place on the chip that data moves between: an array block, or a shared unit ("digital", "buffer", "io").
Location = ArrayId | str


@dataclass(slots=True)
class Mvm:
    """Analog matrix-vector products on one array block (forward: W x; backward: W^T d)."""

    array: ArrayId
    direction: Direction
    vectors: int  # input vectors (batch rows, conv positions)
    active_rows: int  # active crossbar rows: driven inputs of a forward read, read outputs of a backward one
    active_cols: int  # active crossbar columns: read outputs of a forward read, driven inputs of a backward one
    in_bits: int  # DAC resolution used
    out_bits: int  # ADC resolution used
    retries: int = 0  # extra reads taken by bound management (data-dependent), over all vectors
    phase: Phase = "forward"
    deps: tuple[int, ...] = ()
    # the read's load (data-dependent): its cell current relative to every driven line at full scale on cells at
    # the on-state conductance, over all passes (AnalogArray.read_load: drive |x_q| / inp_bound or a bit-serial
    # pass's 1 bits, times G / G_on); None: every driven line at full scale on cells at the mean conductance
    drive_fraction: float | None = None


@dataclass(slots=True)
class PulseUpdate:
    """Stochastic pulsed rank-1 updates, one per sample, on one array block."""

    array: ArrayId
    samples: int  # rank-1 updates applied
    bl: int  # pulse slots per update actually used (after update-BL management), summed
    row_pulses: int  # row driver pulses over all samples
    col_pulses: int  # column driver pulses over all samples
    device_pulses: int  # coincidences = device write pulses (data-dependent)
    phase: Phase = "update"
    deps: tuple[int, ...] = ()
    # True: stochastic pulse trains, whose translators draw a random number and compare it on every line in
    # every slot; False: whole-pulse counts delivered from the digital side (TTv2, mixed precision).
    stochastic: bool = True


@dataclass(slots=True)
class TransferRead:
    """Tiki-Taka: read ``columns`` one-hot vectors of the fast array through the real IO path."""

    array: ArrayId
    columns: int
    active_rows: int  # outputs read per vector
    in_bits: int
    out_bits: int
    retries: int = 0
    phase: Phase = "transfer"
    deps: tuple[int, ...] = ()
    drive_fraction: float | None = None  # as for Mvm


@dataclass(slots=True)
class TransferWrite:
    """Tiki-Taka: write the read columns as pulses onto the slow array."""

    array: ArrayId
    columns: int
    bl: int  # pulse slots used, summed over written columns
    device_pulses: int  # device write pulses (data-dependent)
    phase: Phase = "transfer"
    deps: tuple[int, ...] = ()
    # Driver pulses (data-dependent). None: one row pulse per device pulse (a one-column write drives a
    # row only where it writes) and one column pulse per BL slot.
    row_pulses: int | None = None
    col_pulses: int | None = None
    stochastic: bool = True  # as for PulseUpdate


@dataclass(slots=True)
class Digital:
    """Digital arithmetic on a shared unit: ``count`` operations of ``kind``."""

    kind: str  # one of archsim.hw.components.DIGITAL_KINDS: "add", "mult", "compare", "max", "rng",
    # "sign", "exp", "div", "activation"
    count: int
    phase: Phase = "forward"
    deps: tuple[int, ...] = ()


@dataclass(slots=True)
class Move:
    """``bits`` moved over the NoC from ``src`` to ``dst``."""

    src: Location
    dst: Location
    bits: int
    phase: Phase = "forward"
    deps: tuple[int, ...] = ()


@dataclass(slots=True)
class BufferAccess:
    """SRAM buffer traffic: the global buffer's, or (``layer`` set) a convolution's line buffer's."""

    kind: BufferKind
    bits: int
    phase: Phase = "forward"
    deps: tuple[int, ...] = ()
    # None: the global buffer; a layer index: that convolution's line buffer in its own tiles
    layer: int | None = None
    # bits a line buffer must hold at once (k input rows of one sample); reads beyond its capacity come from
    # the global buffer
    footprint: int = 0


Operation = Mvm | PulseUpdate | TransferRead | TransferWrite | Digital | Move | BufferAccess

# ---------------------------------------------------------------------------------------------
# a step as recorded: its calls' templates and the data of its data-dependent operations
# ---------------------------------------------------------------------------------------------
#: Operations whose counts depend on data (the rest of a step is fixed by its structure), and the fields of their
#: data records, in order: first the count that sets the operation's cycles, then what only scales its energy.
DATA_FIELDS: dict[type, tuple[str, ...]] = {
    Mvm: ("retries", "drive_fraction"),
    TransferRead: ("retries", "drive_fraction"),
    PulseUpdate: ("bl", "samples", "row_pulses", "col_pulses", "device_pulses"),
    TransferWrite: ("bl", "columns", "row_pulses", "col_pulses", "device_pulses"),
}
DATA_OPERATIONS = tuple(DATA_FIELDS)
_DATA_GETTERS = {kind: attrgetter(*fields) for kind, fields in DATA_FIELDS.items()}


def read_record(retries: int, drive_fraction: float | None) -> tuple:
    """The data record of a read (:class:`Mvm`, :class:`TransferRead`; :data:`DATA_FIELDS`)."""
    return (retries, drive_fraction)


def write_record(bl: int, samples: int, row_pulses: int | None, col_pulses: int | None, device_pulses: int) -> tuple:
    """The data record of a pulsed write (:class:`PulseUpdate`; a :class:`TransferWrite`, whose samples are its
    columns; :data:`DATA_FIELDS`)."""
    return (bl, samples, row_pulses, col_pulses, device_pulses)


def data_of(op: Any) -> tuple:
    """The data record of a data-dependent operation (:data:`DATA_FIELDS`)."""
    return _DATA_GETTERS[type(op)](op)


def with_data(op: Any, record: tuple) -> Operation:
    """``op`` (a data-dependent operation) with the data ``record`` (:data:`DATA_FIELDS`) instead of its own."""
    kind = type(op)
    if kind is Mvm:
        return Mvm(op.array, op.direction, op.vectors, op.active_rows, op.active_cols, op.in_bits, op.out_bits,
                   record[0], op.phase, op.deps, record[1])  # fmt: skip
    if kind is TransferRead:
        return TransferRead(op.array, op.columns, op.active_rows, op.in_bits, op.out_bits, record[0], op.phase, op.deps,
                            record[1])  # fmt: skip
    bl, samples, row_pulses, col_pulses, device_pulses = record
    if kind is PulseUpdate:
        return PulseUpdate(op.array, samples, bl, row_pulses, col_pulses, device_pulses, op.phase, op.deps,
                           op.stochastic)  # fmt: skip
    assert kind is TransferWrite
    return TransferWrite(op.array, samples, bl, device_pulses, op.phase, op.deps, row_pulses, col_pulses,
                         op.stochastic)  # fmt: skip


class CallTemplate:
    """What one call of the step recorder, with given arguments at a given place in its step, records: its
    operations (those that carry data with the data of the step that first made them), the positions among them
    of the data-dependent ones, and what the call returned. Compared by identity: two steps made of the same
    templates in the same order have operations that differ only in their data."""

    __slots__ = ("ops", "dynamic", "returned")

    def __init__(self, ops: tuple[Operation, ...], returned):
        self.ops = ops
        self.dynamic = tuple(index for index, op in enumerate(ops) if type(op) in DATA_OPERATIONS)
        self.returned = returned


class RecordedStep(Sequence):
    """One training step's operations as recorded: ``signature``, its calls' templates in order, and ``records``,
    the data of its data-dependent operations in program order. A sequence of the operations (made on first use);
    the engine costs a step whose signature it has seen from the records alone."""

    __slots__ = ("signature", "records", "_ops")

    def __init__(self, signature: tuple[CallTemplate, ...], records: list[tuple]):
        self.signature = signature
        self.records = records
        self._ops: list[Operation] | None = None

    def operations(self) -> list[Operation]:
        if self._ops is None:
            records = self.records
            found = recorded_sources(self.signature)
            self._ops = [op if number < 0 else with_data(op, records[number]) for op, number in found]
        return self._ops

    def __getitem__(self, index):
        return self.operations()[index]

    def __len__(self) -> int:
        return len(self.operations())

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations())


def recorded_sources(signature: tuple[CallTemplate, ...]) -> list[tuple[Operation, int]]:
    """Per operation of a step of ``signature`` (its calls' templates), in program order: its template's operation and
    the number of its data record among the step's ``records`` (-1: it carries no data)."""
    found = []
    number = 0
    for template in signature:
        dynamic = set(template.dynamic)
        for position, op in enumerate(template.ops):
            if position in dynamic:
                found.append((op, number))
                number += 1
            else:
                found.append((op, -1))
    return found
