"""From operations to plans (resources held, cycles) and ledger charges (component energies).

An operation's *structure key* is the operation with its data-dependent, energy-only counts removed
(device pulses, driver pulses, samples of a pulsed update). Everything in the key fixes timing, so
bound-management ``retries`` (extra MVM passes) and the BL actually used are part of it. Plans are
compiled once per structure key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from archsim.engine.ledger import to_quanta
from archsim.errors import ArchsimError
from archsim.hw.components import DIGITAL_KINDS, CrossbarModel
from archsim.ops import (
    DATA_FIELDS,
    DIRECTIONS,
    PHASES,
    ArrayId,
    BufferAccess,
    Digital,
    Move,
    Mvm,
    Phase,
    PulseUpdate,
    TransferRead,
    TransferWrite,
    data_of,
)

#: Resource kinds in the global order in which an operation acquires them (ordered acquisition: no deadlock).
#: "readout" is a tile's DACs and ADC bank, which serve one read at a time; "pulse" its pulse generators.
RESOURCE_RANK = {"array": 0, "readout": 1, "pulse": 2, "link": 3, "buffer": 4, "dram": 5, "digital": 6}


@dataclass(frozen=True, slots=True)
class OpPlan:
    """What one operation of a step structure does to time: resources held for ``cycles`` cycles."""

    label: str
    resources: tuple[tuple, ...]
    cycles: int
    phase: Phase
    deps: tuple[int, ...]
    background: bool
    static_quanta: tuple[tuple[str, int], ...] | None  # charges when no data-dependent count exists


#: The count of each kind of operation that :func:`shape_key` leaves out: it only sets the plan's cycles (the first
#: field of the operation's data record).
CYCLE_COUNT_FIELDS = {kind: fields[0] for kind, fields in DATA_FIELDS.items()}


def shape_key(op) -> tuple:
    """The timing-relevant content of ``op`` but the counts that only set its cycles (hashable): a read's
    ``retries``, a pulsed write's ``bl`` (:data:`CYCLE_COUNT_FIELDS`). A pulsed write's ``stochastic`` is part
    of it (it fixes whether the write charges translators)."""
    kind = type(op)
    if kind is Mvm:
        return (
            kind,
            op.array,
            op.direction,
            op.vectors,
            op.active_rows,
            op.active_cols,
            op.in_bits,
            op.out_bits,
            op.phase,
            op.deps,
        )
    if kind is PulseUpdate or kind is TransferWrite:
        return (kind, op.array, op.phase, op.deps, op.stochastic)
    if kind is Move:
        return (kind, op.src, op.dst, op.bits, op.phase, op.deps)
    if kind is Digital:
        return (kind, op.kind, op.count, op.phase, op.deps)
    if kind is TransferRead:
        return (kind, op.array, op.columns, op.active_rows, op.in_bits, op.out_bits, op.phase, op.deps)
    if kind is BufferAccess:
        return (kind, op.kind, op.bits, op.phase, op.deps, op.layer, op.footprint)
    raise ArchsimError(f"unknown operation {op!r}; expected one of the classes of archsim.ops")


def structure_key(op) -> tuple:
    """The timing-relevant content of ``op`` (hashable): its :func:`shape_key` and the counts that set its cycles
    (a read's ``drive_fraction`` and a write's pulse counts only scale energy)."""
    key = shape_key(op)
    count = CYCLE_COUNT_FIELDS.get(type(op))
    return key if count is None else (*key, getattr(op, count))


class Costing:
    """Turns operations into :class:`OpPlan` s and ledger charges against one architecture and mapping."""

    def __init__(self, arch, mapping, background_transfers: bool):
        self.arch = arch
        self.mapping = mapping
        self.background_transfers = background_transfers
        # The digital units work as one wide vector machine: an operation spreads over every lane of every unit.
        self.capacity = {("buffer",): arch.hw.buffer.ports}
        self.digital_units = arch.hw.digital.units
        pulses = arch.pulse_generator
        # each role's cells have its own device electrics (hw.role_devices): reads and writes are charged with them
        self.crossbar_of = CrossbarModel.by_role(arch.hw)
        self.row_pulse_pj = pulses.row_pulse_pj
        self.col_pulse_pj = pulses.col_pulse_pj
        self.translator_slot_pj = arch.digital.translator_slot_pj
        self.shift_add_pj = arch.digital.shift_add_pj
        self.line_buffer = arch.components["line_buffer"]
        self._row_blocks: dict[int, int] = {}
        self._places: dict = {}  # a move's end (array or unit) -> where it sits (the mapping never changes)
        # a read's shape (role, direction, vectors, lines, retries, bits) -> what it fixes of its charges; cleared
        # with the engine's remembered structures (:meth:`forget`)
        self._read_charges: dict[tuple, tuple] = {}

    def forget(self) -> None:
        """Drop what the costing remembers per data-dependent shape (the engine bounds its memory with it)."""
        self._read_charges.clear()

    # -- plans -----------------------------------------------------------------------------------
    def plan(self, op, index: int) -> OpPlan:
        """Compile one operation (at position ``index`` of its step)."""
        if op.phase not in PHASES:
            raise ArchsimError(
                f"operation {index} ({type(op).__name__}) has phase {op.phase!r}; expected one of {', '.join(PHASES)}"
            )
        for dep in op.deps:
            if not (isinstance(dep, int) and 0 <= dep < index):
                raise ArchsimError(
                    f"operation {index} ({type(op).__name__}) depends on {dep!r}; expected indices "
                    f"of earlier operations of the same step"
                )
        background = self.background_transfers and op.phase == "transfer"
        arch = self.arch
        kind = type(op)
        if kind in (Mvm, TransferRead):
            tile = self.mapping.tile_of(op.array)
            if kind is Mvm:
                if op.direction not in DIRECTIONS:
                    raise ArchsimError(
                        f"operation {index} (Mvm) has direction {op.direction!r}; expected forward or backward"
                    )
                label = f"mvm {op.direction} {_name(op.array)}"
            else:
                label = f"transfer_read {_name(op.array)}"
            _, outputs, _, _, passes, out_bits = self._read_shape(op)
            # the array read energy depends on the data (drive_fraction): charged per operation, not per plan
            return OpPlan(
                label,
                _ordered((("array", *op.array), ("readout", tile))),
                arch.mvm_cycles(passes, outputs, out_bits),
                op.phase,
                op.deps,
                background,
                None,
            )
        if kind in (PulseUpdate, TransferWrite):
            tile = self.mapping.tile_of(op.array)
            label = f"{'update' if kind is PulseUpdate else 'transfer_write'} {_name(op.array)}"
            return OpPlan(
                label,
                _ordered((("array", *op.array), ("pulse", tile))),
                arch.pulse_cycles(op.bl),
                op.phase,
                op.deps,
                background,
                None,
            )
        if kind is Digital:
            if op.kind not in DIGITAL_KINDS:
                raise ArchsimError(
                    f"operation {index} (Digital) has kind {op.kind!r}; expected one of {', '.join(DIGITAL_KINDS)}"
                )
            charges: tuple[tuple[str, int], ...] = (("digital", to_quanta(op.count * arch.digital.energy_pj[op.kind])),)
            cycles = arch.digital.cycles(op.kind, op.count, self.digital_units)
            return OpPlan(
                f"digital {op.kind} x{op.count}",
                (("digital",),),
                cycles,
                op.phase,
                op.deps,
                background,
                _nonzero(charges),
            )
        if kind is Move:
            src, dst = self.mapping.node_of(op.src), self.mapping.node_of(op.dst)
            path = arch.route(src, dst)
            hops = len(path) - 1
            charges = (("noc", to_quanta(arch.noc.move_energy_pj(op.bits, hops))),)
            resources, cycles = arch.channels(path), arch.noc.move_cycles(op.bits, hops)
            if "io" in (op.src, op.dst):  # to or from off-chip DRAM through the I/O router
                charges += (("dram", to_quanta(op.bits * arch.dram.energy_per_bit_pj)),)
                resources += (("dram",),)
                cycles = max(cycles, arch.dram.cycles(op.bits))
            return OpPlan(
                f"move {_name(op.src)}->{_name(op.dst)} {op.bits}b",
                _ordered(resources),
                cycles,
                op.phase,
                op.deps,
                background,
                _nonzero(charges),
            )
        if kind is BufferAccess:
            if op.kind not in ("read", "write", "keep"):
                raise ArchsimError(
                    f"operation {index} (BufferAccess) has kind {op.kind!r}; expected read, write or keep"
                )
            if op.kind == "keep":
                return OpPlan(f"buffer keep {op.bits}b", (), 0, op.phase, op.deps, background, ())
            if op.layer is not None:
                return self._line_buffer_plan(op, background)
            charges = (("buffer", to_quanta(op.bits * arch.buffer.energy_per_bit_pj[op.kind])),)
            return OpPlan(
                f"buffer {op.kind} {op.bits}b",
                (("buffer",),),
                arch.buffer.cycles(op.bits),
                op.phase,
                op.deps,
                background,
                _nonzero(charges),
            )
        raise ArchsimError(f"unknown operation {op!r}")  # pragma: no cover - structure_key rejects it first

    def line_buffer_split(self, op: BufferAccess) -> tuple[int, int, int]:
        """``(local bits, global bits, row blocks)`` of a line-buffer access: the layer's line buffer spans the
        line buffers of its row blocks' tiles; a fill is streamed through it whole, and the share of the reads
        whose rows it cannot hold (``footprint`` beyond its capacity) comes from the global buffer instead."""
        assert op.layer is not None
        row_blocks = self._row_blocks.get(op.layer)
        if row_blocks is None:
            row_blocks = len({a.row_block for a in self.mapping.blocks(op.layer)}) or 1
            self._row_blocks[op.layer] = row_blocks
        capacity = self.line_buffer.capacity_bits * row_blocks
        if op.kind == "write" or op.footprint <= capacity:
            return op.bits, 0, row_blocks
        local = op.bits * capacity // op.footprint
        return local, op.bits - local, row_blocks

    def _line_buffer_plan(self, op: BufferAccess, background: bool) -> OpPlan:
        arch, line = self.arch, self.line_buffer
        local, overflow, row_blocks = self.line_buffer_split(op)
        charges: tuple[tuple[str, int], ...] = (("line_buffer", to_quanta(local * line.energy_per_bit_pj[op.kind])),)
        resources: tuple[tuple, ...] = (("buffer", "line", op.layer),)
        cycles = line.cycles(local, row_blocks)
        label = f"line buffer L{op.layer} {op.kind} {op.bits}b"
        if overflow:
            charges += (("buffer", to_quanta(overflow * arch.buffer.energy_per_bit_pj[op.kind])),)
            resources += (("buffer",),)
            cycles = max(cycles, arch.buffer.cycles(overflow))
            label += f" ({overflow}b beyond its capacity, from the global buffer)"
        return OpPlan(label, _ordered(resources), cycles, op.phase, op.deps, background, _nonzero(charges))

    # -- energy of data-dependent operations ------------------------------------------------------
    def read_quanta(self, op) -> tuple[tuple[str, int], ...]:
        """Charges of an analog read: conversions, integrations, row drives, the cells' read current ``V^2 G t``
        scaled by the read's measured load (``drive_fraction``: drive and conductances, see
        :meth:`CrossbarModel.read_pj <archsim.hw.components.CrossbarModel.read_pj>`), and the shift-adds that
        combine bit-serial passes. All but the load's share are worked out once per read shape."""
        charges, cell_passes, cells = self.read_parts(op)
        array_read = to_quanta(cells.read_pj(cell_passes, op.drive_fraction))
        return charges + (("array_read", array_read),) if array_read else charges

    def read_parts(self, op) -> tuple[tuple[tuple[str, int], ...], int, CrossbarModel]:
        """What a read's shape fixes of its charges (:meth:`read_quanta`): the charges but the cells' read current,
        its cell-passes and its cells' model (whose ``read_pj(cell_passes, drive_fraction)`` is that current)."""
        key: tuple
        if type(op) is Mvm:
            key = (op.array.role, op.direction, op.vectors, op.active_rows, op.active_cols, op.retries)
        else:
            key = (op.array.role, None, op.columns, op.active_rows, 0, op.retries)
        key += (op.in_bits, op.out_bits)
        fixed = self._read_charges.get(key)
        if fixed is None:
            fixed = self._fixed_read_charges(op)
            self._read_charges[key] = fixed
        return fixed

    def _read_shape(self, op) -> tuple[int, int, int, int, int, int]:
        """``(driven lines, outputs, reads, cells per pass, passes, ADC bits)`` of an analog read: its vectors and
        re-reads, each one pass with a multi-level DAC or ``in_bits`` 1-bit passes with a bit-serial one."""
        if type(op) is Mvm:
            driven, outputs = (
                (op.active_rows, op.active_cols) if op.direction == "forward" else (op.active_cols, op.active_rows)
            )
            reads = op.vectors + op.retries
            cells_per_pass = op.active_rows * op.active_cols
        else:  # one-hot reads: one driven line, one line of cells conducts
            driven, outputs = 1, op.active_rows
            reads = op.columns + op.retries
            cells_per_pass = op.active_rows
        return (
            driven,
            outputs,
            reads,
            cells_per_pass,
            reads * self.arch.dac.passes(op.in_bits),
            min(max(op.out_bits, 1), 16),
        )

    def _fixed_read_charges(self, op) -> tuple[tuple[tuple[str, int], ...], int, CrossbarModel]:
        """A read's charges that its structure fixes, its cell-passes and its cells' model."""
        dac, adc = self.arch.dac, self.arch.adc
        driven, outputs, reads, cells_per_pass, passes, out_bits = self._read_shape(op)
        # bit-serial passes are shifted and added per output at the tile (ISAAC's shift-and-add units)
        shift_adds = (passes - reads) * outputs
        charges = _nonzero(
            (
                ("digital", to_quanta(shift_adds * self.shift_add_pj)),
                ("adc", to_quanta(passes * outputs * adc.energy_per_conversion_pj(out_bits))),
                ("integrator", to_quanta(passes * outputs * adc.integrator_pj)),
                ("dac", to_quanta(passes * driven * dac.drive_energy_pj(op.in_bits))),
            )
        )
        return charges, passes * cells_per_pass, self.crossbar_of[op.array.role]

    def dynamic_quanta(self, op) -> tuple[tuple[str, int], ...]:
        """Charges of operations whose counts depend on data: reads (:meth:`read_quanta`) and pulsed writes.

        A pulsed write charges its device pulses (``V^2 G t`` or the device's stated write energy), the cells its
        pulses half-select (a driven line's other cells see half the write voltage for the slot: by default
        ``(V/2)^2 G t``, NeuroSim V2's accounting of parallel writes; ``hw.array.half_select_energy_ratio``), its
        drivers, and, if stochastic, its translators: a random number and a comparison on every line of the block
        in every slot."""
        if type(op) is Mvm or type(op) is TransferRead:
            return self.read_quanta(op)
        shape = self.mapping.shape_of(op.array)
        array_write, pulse_generator = self.write_pulse_charger(op, shape.rows, shape.cols)(data_of(op))
        charges = [("array_write", array_write), ("pulse_generator", pulse_generator)]
        if op.stochastic:
            charges.append(("digital", self.translator_quanta(op, shape.rows, shape.cols)))
        return tuple(charges)

    def write_pulse_charger(self, op, rows: int, cols: int):
        """The device-pulse and half-select charge and the drivers' charge of the pulsed writes on ``op``'s array (its
        role's cells) on a block of ``rows`` x ``cols`` active cells, as a function of a write's data record
        (:data:`archsim.ops.DATA_FIELDS`; :meth:`dynamic_quanta` calls it; the engine keeps one per write of a step
        shape)."""
        cells = self.crossbar_of[op.array.role]
        pulse_pj, half_pj = cells.write_pulse_pj, cells.half_selected_pj
        row_pj, col_pj = self.row_pulse_pj, self.col_pulse_pj

        def charges(record: tuple) -> tuple[int, int]:
            bl, _, row_pulses, col_pulses, device_pulses = record
            # driver pulses None (a stochastic transfer write): one row pulse per device pulse (a one-column write
            # drives a row only where it writes) and one column pulse per BL slot
            row_pulses = device_pulses if row_pulses is None else row_pulses
            col_pulses = bl if col_pulses is None else col_pulses
            # a row (column) pulse spans the block's columns (rows), as the pulse generator model counts lines
            half_selected = max(0, row_pulses * cols + col_pulses * rows - 2 * device_pulses)
            return (
                to_quanta(device_pulses * pulse_pj + half_selected * half_pj),
                to_quanta(row_pulses * row_pj + col_pulses * col_pj),
            )

        return charges

    def translator_quanta(self, op, rows: int, cols: int) -> int:
        """A stochastic pulsed write's translators: a random number and a comparison on every line in every slot."""
        return to_quanta((rows + cols) * op.bl * self.translator_slot_pj)

    # -- step-level rules ---------------------------------------------------------------------------
    def step_plans(self, ops, plans: list[OpPlan]) -> list[OpPlan]:
        """Rules that need the whole step, applied to its compiled plans:

        - a pulsed write of an array waits for every earlier read of that array in the step (the functional
          model reads the weights as they were before the write);
        - state kept resident ("keep") and then the step's buffer writes fill the buffer; what lies beyond its
          capacity spills to DRAM, and reads and writes go to DRAM in the share that spilled;
        - a move that repeats an earlier one of the step (same source and destination routers and tile,
          same bits, same dependencies: one input sent to the A, C and R arrays of one tile) is not sent again;
          it completes with the first.
        """
        out = list(plans)
        reads: dict[ArrayId, list[int]] = {}
        sent: dict[tuple, int] = {}
        capacity = self.arch.hw.buffer.size * 8
        written = sum(op.bits for op in ops if type(op) is BufferAccess and op.kind == "keep")
        spilled = max(0, written - capacity)
        for index, op in enumerate(ops):
            kind = type(op)
            if kind is BufferAccess:
                if op.kind == "keep":
                    continue
                if op.layer is not None:  # a line buffer's: only its overflow reads touch the global buffer
                    overflow = self.line_buffer_split(op)[1]
                    over = round(overflow * spilled / written) if written and overflow else 0
                    if over:
                        out[index] = self._spill_overflow(plans[index], op, overflow, over)
                    continue
                if op.kind == "write":
                    over = max(0, written + op.bits - max(capacity, written))
                    written += op.bits
                    spilled += over
                else:
                    over = round(op.bits * spilled / written) if written else 0
                if over:
                    out[index] = self._spill(plans[index], op, over)
                continue
            if kind is Mvm or kind is TransferRead:
                reads.setdefault(op.array, []).append(index)
            elif kind is PulseUpdate or kind is TransferWrite:
                earlier = reads.get(op.array)
                if earlier and not set(earlier) <= set(op.deps):
                    out[index] = replace(plans[index], deps=tuple(sorted(set(op.deps) | set(earlier))))
            elif kind is Move:
                key = (self._place(op.src), self._place(op.dst), op.bits, op.phase, op.deps)
                first = sent.setdefault(key, index)
                if first != index:
                    out[index] = replace(
                        plans[index],
                        label=plans[index].label + f" (sent with op {first})",
                        resources=(),
                        cycles=0,
                        deps=(first,),
                        static_quanta=(),
                    )
        return out

    def _spill(self, plan: OpPlan, op, bits: int) -> OpPlan:
        """The part of a buffer access beyond the buffer's capacity goes to DRAM instead."""
        arch = self.arch
        kept = op.bits - bits
        charges = (
            ("buffer", to_quanta(kept * arch.buffer.energy_per_bit_pj[op.kind])),
            ("dram", to_quanta(bits * arch.dram.energy_per_bit_pj)),
        )
        return replace(
            plan,
            label=plan.label + f" ({bits}b spilled to DRAM)",
            resources=_ordered(plan.resources + (("dram",),)),
            cycles=max(arch.buffer.cycles(kept), arch.dram.cycles(bits)),
            static_quanta=_nonzero(charges),
        )

    def _spill_overflow(self, plan: OpPlan, op: BufferAccess, overflow: int, bits: int) -> OpPlan:
        """A line buffer's overflow reads come from the global buffer, and from DRAM in the share that spilled."""
        arch = self.arch
        local = op.bits - overflow
        charges = (
            ("line_buffer", to_quanta(local * self.line_buffer.energy_per_bit_pj[op.kind])),
            ("buffer", to_quanta((overflow - bits) * arch.buffer.energy_per_bit_pj[op.kind])),
            ("dram", to_quanta(bits * arch.dram.energy_per_bit_pj)),
        )
        return replace(
            plan,
            label=plan.label + f" ({bits}b of it spilled to DRAM)",
            resources=_ordered(plan.resources + (("dram",),)),
            cycles=max(plan.cycles, arch.dram.cycles(bits)),
            static_quanta=_nonzero(charges),
        )

    def _place(self, location) -> tuple:
        place = self._places.get(location)
        if place is None:
            place = ("tile", self.mapping.tile_of(location)) if isinstance(location, ArrayId) else ("unit", location)
            self._places[location] = place
        return place


def _ordered(resources) -> tuple[tuple, ...]:
    return tuple(sorted(resources, key=lambda key: (RESOURCE_RANK[key[0]], key[1:])))


def _nonzero(charges) -> tuple[tuple[str, int], ...]:
    return tuple((component, q) for component, q in charges if q)


def _name(location) -> str:
    if isinstance(location, ArrayId):
        return f"L{location.layer}{location.role}[{location.row_block},{location.col_block}]"
    return str(location)
