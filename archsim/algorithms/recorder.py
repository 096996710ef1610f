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
    Digital,
    Direction,
    Location,
    Move,
    Mvm,
    Operation,
    Phase,
    PulseUpdate,
    Role,
    TransferRead,
    TransferWrite,
)


def count_bits(largest: int) -> int:
    """Bits of a signed pulse count whose magnitude is at most ``largest`` (sign + magnitude)."""
    return max(int(largest), 1).bit_length() + 1


class StepRecorder:
    """Collects one step's operations; every method returns the indices of the operations it added.

    ``blocks`` (the network's :class:`~archsim.mapping.blocks.BlockLayout`) lets the recorder size what it
    adds per block (x and d sent to an updated block, update management's abs-max); without it those are
    not recorded.
    """

    def __init__(
        self,
        in_bits: int,
        out_bits: int,
        digital_bits: int = 32,
        transfer_bits: int | None = None,
        blocks: BlockLayout | None = None,
    ):
        self.in_bits = in_bits  # DAC resolution (bits per driven input value)
        self.out_bits = out_bits  # ADC resolution (bits per converted output value)
        self.transfer_bits = transfer_bits or out_bits  # ADC resolution of transfer reads (bits)
        self.digital_bits = digital_bits  # word size of digital values moved around (bits)
        self.blocks = blocks
        self.ops: list[Operation] = []

    def add(self, op: Operation) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

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
        ops = self.ops
        forward = direction == "forward"
        in_bits, out_bits = self.in_bits, self.out_bits
        arrivals: dict[int, list[int]] = {}  # output block -> moves of its partial sums
        values: dict[int, int] = {}  # output block -> values per partial sum
        for block in stats.blocks:
            array = ArrayId(layer, role, block.row_block, block.col_block)
            vectors, rows, cols = block.vectors, block.active_rows, block.active_cols
            driven, read, out_block = (rows, cols, block.col_block) if forward else (cols, rows, block.row_block)
            move_in = len(ops)
            ops.append(Move(source, array, vectors * driven * in_bits, phase, deps))
            ops.append(
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
            ops.append(Move(array, "digital", vectors * read * out_bits, phase, (move_in + 1,)))
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
        done = {}
        for block in stats.blocks:
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
        if not stats.blocks:
            return []
        if self.blocks is not None:
            out_size, in_size = self.blocks.size(layer, role)
            samples = max(b.samples for b in stats.blocks)
            deps = (self.digital("max", samples * (out_size + in_size), phase, deps),)
        done = []
        for block in stats.blocks:
            array = ArrayId(layer, role, block.row_block, block.col_block)
            ready = deps
            if self.blocks is not None and phase != "transfer":
                rows, cols = self.blocks.shape(*array)
                ready = (self.move("digital", array, block.samples * (rows + cols) * self.digital_bits, phase, deps),)
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
        done = []
        for block in stats.blocks:
            array = ArrayId(layer, role, block.row_block, block.col_block)
            ready = deps
            if self.blocks is not None:
                rows = block_slices(counts.shape[1], self.blocks.tile_rows)[block.row_block]
                cols = block_slices(counts.shape[0], self.blocks.tile_cols)[block.col_block]
                written = int(np.count_nonzero(counts[cols, rows]))
                ready = (self.move(source, array, written * width, phase, deps),)
            done.append(self._write(array, block, phase, ready, stochastic=False))
        return done

    def _write(self, array: ArrayId, block, phase: Phase, ready: tuple[int, ...], stochastic: bool) -> int:
        """One block's pulsed write: a transfer write in the transfer phase, else a pulsed update. A stochastic
        transfer write leaves its driver pulses to the engine's one-row-pulse-per-device-pulse rule."""
        if phase == "transfer":
            drivers: tuple[int | None, int | None] = (
                (None, None) if stochastic else (block.row_pulses, block.col_pulses)
            )
            return self.add(
                TransferWrite(
                    array, block.samples, block.bl, block.device_pulses, phase, ready, *drivers, stochastic=stochastic
                )
            )
        return self.add(
            PulseUpdate(
                array,
                block.samples,
                block.bl,
                block.row_pulses,
                block.col_pulses,
                block.device_pulses,
                phase,
                ready,
                stochastic=stochastic,
            )
        )

    # -- digital and data movement -----------------------------------------------------------
    def digital(self, kind: str, count: int, phase: Phase, deps: Iterable[int]) -> int:
        return self.add(Digital(kind, int(count), phase, tuple(deps)))

    def move(self, src: Location, dst: Location, bits: int, phase: Phase, deps: Iterable[int]) -> int:
        return self.add(Move(src, dst, int(bits), phase, tuple(deps)))

    def buffer(self, kind: BufferKind, bits: int, phase: Phase, deps: Iterable[int]) -> int:
        return self.add(BufferAccess(kind, int(bits), phase, tuple(deps)))

    def line_buffer(
        self, kind: BufferKind, layer: int, bits: int, footprint: int, phase: Phase, deps: Iterable[int]
    ) -> int:
        """Traffic of conv layer ``layer``'s input line buffer, which sits in the layer's own tiles
        (``hw.line_buffer``): ``footprint`` is what it must hold at once (k input rows of one sample); reads
        beyond its capacity come from the global buffer."""
        return self.add(BufferAccess(kind, int(bits), phase, tuple(deps), layer=layer, footprint=int(footprint)))

    def keep(self, bits: int, phase: Phase = "forward") -> int:
        """Declare ``bits`` of state resident in the buffer during this step (TTv2's H, mixed precision's
        accumulator): it takes capacity first, so what does not fit spills to DRAM and its accesses are charged
        there."""
        return self.add(BufferAccess("keep", int(bits), phase, ()))
