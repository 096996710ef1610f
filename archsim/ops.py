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

from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

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
