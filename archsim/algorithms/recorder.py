"""Turning what the tiles did into the operation stream of one training step.

Algorithms call the analog arrays, get back read and update statistics per physical block, and hand
them to a :class:`StepRecorder`, which appends plain-data operations (:mod:`archsim.ops`) with their
dependencies. The recorder is the algorithms' only contact with the cost side.
"""

from __future__ import annotations

from typing import Iterable

from archsim.ops import (ArrayId, BufferAccess, Digital, Location, Move, Mvm, Operation, PulseUpdate,
                         TransferRead, TransferWrite)


class StepRecorder:
    """Collects one step's operations; every method returns the indices of the operations it added."""

    def __init__(self, in_bits: int, out_bits: int, digital_bits: int = 32, transfer_bits: int | None = None):
        self.in_bits = in_bits          # DAC resolution (bits per driven input value)
        self.out_bits = out_bits        # ADC resolution (bits per converted output value)
        self.transfer_bits = transfer_bits or out_bits  # ADC resolution of transfer reads (bits)
        self.digital_bits = digital_bits  # word size of digital values moved around (bits)
        self.ops: list[Operation] = []

    def add(self, op: Operation) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    # -- analog reads ------------------------------------------------------------------------
    def reads(self, layer: int, role: str, stats, direction: str, phase: str, deps: Iterable[int],
              source: Location = "digital") -> list[int]:
        """Inputs move to each block, the block reads, its partial outputs move to the digital unit."""
        deps = tuple(deps)
        done = []
        for block in stats.blocks:
            array = ArrayId(layer, role, block.row_block, block.col_block)
            driven = block.active_rows if direction == "forward" else block.active_cols
            read = block.active_cols if direction == "forward" else block.active_rows
            move_in = self.add(Move(source, array, block.vectors * driven * self.in_bits, phase, deps))
            mvm = self.add(Mvm(array, direction, block.vectors, block.active_rows, block.active_cols,
                               self.in_bits, self.out_bits, block.retries, phase, (move_in,)))
            done.append(self.add(Move(array, "digital", block.vectors * read * self.out_bits, phase, (mvm,))))
        return done

    def transfer_reads(self, layer: int, role: str, stats, direction: str,
                       deps: Iterable[int]) -> dict[tuple[int, int], tuple[int, int]]:
        """One-hot transfer reads (column transfer: forward; row transfer: transpose).

        Returns, per (row_block, col_block), the read's op index and the bits of values it produced."""
        deps = tuple(deps)
        done = {}
        for block in stats.blocks:
            array = ArrayId(layer, role, block.row_block, block.col_block)
            outputs = block.active_cols if direction == "column" else block.active_rows
            op = self.add(TransferRead(array, block.vectors, outputs, self.in_bits, self.transfer_bits,
                                       block.retries, "transfer", deps))
            done[(block.row_block, block.col_block)] = (op, block.vectors * outputs * self.transfer_bits)
        return done

    # -- analog writes -----------------------------------------------------------------------
    def updates(self, layer: int, role: str, stats, deps: Iterable[int], phase: str = "update") -> list[int]:
        deps = tuple(deps)
        done = []
        for block in stats.blocks:
            array = ArrayId(layer, role, block.row_block, block.col_block)
            if phase == "transfer":
                done.append(self.add(TransferWrite(array, block.samples, block.bl, block.device_pulses,
                                                   phase, deps)))
            else:
                done.append(self.add(PulseUpdate(array, block.samples, block.bl, block.row_pulses,
                                                 block.col_pulses, block.device_pulses, phase, deps)))
        return done

    # -- digital and data movement -----------------------------------------------------------
    def digital(self, kind: str, count: int, phase: str, deps: Iterable[int]) -> int:
        return self.add(Digital(kind, int(count), phase, tuple(deps)))

    def move(self, src: Location, dst: Location, bits: int, phase: str, deps: Iterable[int]) -> int:
        return self.add(Move(src, dst, int(bits), phase, tuple(deps)))

    def buffer(self, kind: str, bits: int, phase: str, deps: Iterable[int]) -> int:
        return self.add(BufferAccess(kind, int(bits), phase, tuple(deps)))
