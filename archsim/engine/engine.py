"""The SimPy engine: executes each step's operation DAG against the architecture's resources.

Every operation is a SimPy process: it waits for its dependencies, acquires its resources one by one in a
global order (crossbar, the tile's readout = DACs + ADC bank, its pulse generators, NoC channels, buffer
port, digital unit; ordered acquisition cannot deadlock), holds them for its latency in whole clock
cycles and releases them. The process itself is the event its dependants wait for. A resource
(:class:`_Slots`) grants a free slot at once; a busy one queues requests by priority
``(background, step, op index)`` (foreground work first, then older work, then program order) and a
release hands the slot straight to the first in the queue; a resource is never taken away from an
operation holding it.

Transfer policies: ``inline`` transfer operations are part of the step; a step ends when all its
operations have finished. ``background`` transfer operations run at the lowest priority, on resources as
they become idle; a step ends when its foreground operations have finished, and unfinished transfers carry
over into the next step on the same timeline, where they contend with its reads.

Schedules (``hw.mapping.schedule``). ``sequential``: each operation of a step moves the whole batch at once
(a layer's read of all samples, then the next layer's). ``pipelined``: the samples of the batch stream through
the layers one by one, as in PipeLayer (Song et al., HPCA 2017). :func:`pipeline_ops` cuts every per-sample
operation (forward and backward work, and the pulsed rank-1 updates with the update work that feeds them) into
one operation per sample, each depending on the same sample's copies of its dependencies; work done once per
batch (transfers, whole-pulse writes, a digital weight update) stays whole and waits for every sample. The
step-level rule that a pulsed write waits for every earlier read of its array then makes every sample's update
wait for the reads of all the batch's samples, which see the pre-update weights, as the functional model does.
Contended resources serve older samples first. Energy is charged from the step's operations as given, so the
two schedules differ in time (and in leakage, which follows time) only.

Utilisation. Every resource (a crossbar, a tile's readout, its pulse generators, a NoC channel, the buffer, the
digital units, DRAM) counts the cycles it works (held by a running operation; not the cycles it is held while
its holder still queues for a later resource); busy cycles / (slots x elapsed cycles) is its utilisation
(:meth:`Engine.utilisation`), and the busiest resource is where the pipeline stalls.

Leakage is static power x simulated time, its own ledger component. A step's window runs from its start to
its end; each cycle of the window is shared equally among the phases whose spans (first start to last end of
their operations within the window) cover it, so the split does not depend on the order of
:data:`archsim.ops.PHASES`; idle cycles go to the phases that start next (or those that ran last).
:meth:`Engine.totals` finishes outstanding background work and charges that tail too.

Caching. The future of the timeline after a step boundary is fully determined by the step's structure and
by the *carry state* at the boundary: which operations of earlier steps are still outstanding and where
they are (running with so many cycles left, queued after holding so many of their resources, or waiting
for dependencies), in the order SimPy will wake them. With ``cache=True`` the engine memoises each step's
timing by (structure, carry state); on a hit it skips SimPy and rebuilds the carried operations, in that
same order, on a fresh environment at the new time. The result is identical to the continuous simulation;
``tests/test_engine.py`` checks it on multi-step runs with background transfers.

Replay. Data-dependent counts (the BL of an update, bound-management retries, a read's active lines) change
operations' cycles, not what they hold or wait for; a new set of counts makes a new structure, yet its *skeleton*
(the plans without their cycles) repeats. A step that starts with nothing outstanding and runs no background
work is recorded when SimPy simulates it: the order in which every resource was granted, and for every grant
whether the slot was free or handed over by a releasing operation. Another step of the same skeleton is timed
without SimPy by the max-plus recurrence over that record: an operation asks for its first resource when its last
dependency ends, for each next one when it got the previous one (at once, or when its releaser ended), and ends
``cycles`` after the last grant. The engine then checks, resource by resource, that SimPy's rules reproduce the
recorded grants at those times: a free slot goes to the first request, a released one to the waiting request of
highest priority. Where a request meets a release, or two requests meet a free slot, at the same cycle (the order
of SimPy's events would decide), or where the grants differ, the record does not apply. Every decision being the
same at every cycle, the times are SimPy's, and so is everything derived from them.

Schedules without SimPy. Before any record, the engine works the step's schedule out itself
(:mod:`archsim.engine.replay`, compiled over the skeleton laid out once as an integer array): SimPy's rules (a free
slot to the first request, a released one to the waiting request of highest priority; within a cycle the ends
due, in the order their operations started, before the requests they wake; processes that one event resumes in
their wake-up order), refusing the step wherever SimPy's order of events would decide (requests of one cycle from
processes different events resumed, of which some find a free slot and some queue). A refused step is replayed
from a record or simulated in SimPy (and recorded). The schedule also orders the resources by their first work
(the order of the utilisation table); where two ends of one cycle put resources to work that have never worked on
the timeline, that order would be SimPy's event order, and the step is refused too.

Shapes. Data-dependent counts that only set cycles (a read's retries, a pulsed write's BL:
:func:`archsim.engine.costing.shape_key` leaves them out) change almost every step. A step's *shape* (its
operations without those counts) is compiled once; each new set of counts is a structure of the shape whose plans
differ only in cycles (worked out once per operation and count) and whose charges come from a per-structure ledger
(everything but the read loads and the pulse counts summed in advance, keyed in the order the generic accounting
adds them).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any

import numpy as np
import simpy

from archsim.engine import replay as compiled
from archsim.engine.costing import CYCLE_COUNT_FIELDS, Costing, OpPlan, shape_key, structure_key
from archsim.engine.ledger import StepCost, add_into, deferred_step_cost, to_quanta
from archsim.errors import ArchsimError
from archsim.ops import (
    PHASES,
    BufferAccess,
    Digital,
    Move,
    Mvm,
    Operation,
    Phase,
    PulseUpdate,
    RecordedStep,
    TransferRead,
    TransferWrite,
    data_of,
    recorded_sources,
    with_data,
)

TRANSFER_POLICIES = ("inline", "background")
SCHEDULES = ("sequential", "pipelined")
#: Structures remembered before the tables are cleared (bounds memory when BL or retries vary every step).
MAX_REMEMBERED_STRUCTURES = 20000
#: Recorded steps' signatures remembered before they are forgotten (steps whose signatures never repeat would
#: otherwise add one every step).
MAX_RECORDED_SIGNATURES = 4096
#: Steps whose windows are summed into the totals at once (the totals are brought up to date when read).
_FOLD_EVERY = 256
#: Recorded SimPy runs kept per skeleton (the most recent are tried first when replaying a step).
MAX_RECORDS_PER_SKELETON = 4
#: The compiled schedule works in int64; a step whose cycles sum to this or more (a time no path through it can
#: exceed) is simulated instead, where cycles are Python integers of any size.
_SCHEDULE_CYCLE_LIMIT = 2**62


class _CycleEnvironment(simpy.Environment):
    """SimPy's environment on a clock of whole cycles: every start time and delay the engine gives it is an int,
    so its time is one (SimPy types it int | float)."""

    _now: int

    @property
    def now(self) -> int:
        return self._now

    @property
    def idle(self) -> bool:
        """Nothing is scheduled."""
        return not self._queue

    def advance(self, now: int) -> None:
        """Move an idle environment's clock to ``now`` (a cached step's end)."""
        assert not self._queue and now >= self._now
        self._now = now


class _Slots:
    """A resource of ``capacity`` identical slots with a priority queue (lighter than simpy.PriorityResource:
    an uncontended acquisition schedules no event)."""

    __slots__ = ("capacity", "users", "queue")

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.users = 0
        self.queue: list = []  # heap of (priority, event); priorities are unique

    def release(self, releaser: int) -> None:
        """Free a slot; ``releaser`` (the releasing operation's index) is the value the next holder receives."""
        if self.queue:
            heapq.heappop(self.queue)[1].succeed(releaser)  # the slot passes straight to the first waiter
        else:
            self.users -= 1


class _LiveOp:
    """One operation on the timeline."""

    __slots__ = (
        "step",
        "index",
        "sid",
        "plan",
        "priority",
        "pending",
        "held",
        "waiting",
        "timeout",
        "start",
        "end_at",
        "seq",
        "done",
        "handed",
    )

    def __init__(self, step: int, index: int, sid: int, plan: OpPlan, rank: int):
        self.step, self.index, self.sid, self.plan = step, index, sid, plan
        self.priority = (1 if plan.background else 0, step, rank)
        self.pending: list[simpy.Process] | None = None  # dependency events still awaited, or None
        self.held = 0  # resources granted so far, a prefix of plan.resources
        self.waiting: simpy.Event | None = None  # the event of the queued request for the next resource
        self.timeout: simpy.Timeout | None = None  # the hold timeout once running
        self.start: int | None = None
        self.end_at: int | None = None
        self.seq = 0
        self.done: simpy.Process | None = None
        self.handed: list[int] | None = None  # recording: per resource held, the operation that handed it over or -1


@dataclass(slots=True, eq=False)
class _Timing:
    """The timing of one step window, relative to its start (what the cache stores)."""

    latency: int
    phase_spans: tuple[tuple[str, int, int], ...]  # (phase, first start, last end), window-relative
    leak_cycles: tuple[tuple[str, float], ...]  # cycles of the window charged to each phase (shared equally)
    trace: tuple[tuple[int, int, int, int, int], ...]  # (step offset back, sid, op index, start, end)
    carry_out: tuple | None  # None when the engine does not cache
    workers: tuple[tuple, ...] = ()  # the resources that worked within the window, in the order they first did
    busy: Sequence[int] = ()  # ... and the cycles each worked
    # what the ledger takes from it, worked out when first charged: leakage charges by (component, phase), and
    # phase -> cycles of its span
    charged: tuple[tuple[tuple[tuple[str, str], int], ...], dict[str, int]] | None = None


@dataclass(frozen=True, slots=True)
class _Record:
    """What SimPy decided in one step run (see Replay in the module docstring)."""

    finish: tuple[int, ...]  # operations in the order they finished (an order in which to evaluate the recurrence)
    handed: tuple[tuple[int, ...], ...]  # per operation and resource held: the operation that handed it over, or -1
    # per resource granted more than once: (slots, grants as (operation, position), whether any was handed over)
    grants: tuple[tuple[int, tuple[tuple[int, int], ...], bool], ...]
    busy: tuple[tuple[tuple, tuple[int, ...]], ...]  # resources that worked, in the order they first did, and by whom
    deps: tuple[tuple[int, ...], ...]  # per operation: its dependencies (the skeleton's)
    phases: tuple[tuple[str, tuple[int, ...]], ...]  # the phases in report order, and their operations
    plans: list[OpPlan]  # the skeleton's (for _waker) and the operations' queueing ranks
    ranks: list[int]


class _Shape:
    """A step's operations but their cycle counts (a read's retries, a pulsed write's BL: see
    :data:`archsim.engine.costing.CYCLE_COUNT_FIELDS`), compiled once; each set of counts is a structure of the shape.

    Sequential schedule: the step plans are compiled once per shape and a structure only substitutes its
    operations' cycles (a count's cycles are worked out once per operation and count); the pipelined schedule
    compiles every structure in full (its operations' counts are cut among the samples)."""

    __slots__ = ("plans", "counted", "memos", "ledger_parts", "ledger", "ranks", "charges", "structures", "skeletons")

    def __init__(self, plans: list[OpPlan] | None, counted, ranks: list[int], charges: tuple):
        self.plans = plans  # the step plans of the step that compiled it (sequential), or None
        self.counted: tuple[tuple[int, Any], ...] = counted  # (operation index, getter of its count), program order
        # per counted operation: count -> its plan's cycles
        self.memos: list[dict[int, int]] = [{} for _ in counted]
        # per counted operation: count -> what it adds to its structure's ledger (Engine._ledger_part)
        self.ledger_parts: list[dict[int, tuple]] = [{} for _ in counted]
        # the ledger of the structure that compiled it (sequential: Engine._ledger), its counts and their parts
        self.ledger: tuple[tuple[dict, tuple, tuple], tuple[int, ...], list[tuple]] | None = None
        self.ranks = ranks
        self.charges = charges  # (static charges by (component, phase), indices of data-dependent operations)
        self.structures: dict[tuple[int, ...], int] = {}  # counts -> structure id
        # which counted operations take no cycles -> skeleton id (None: not replayable)
        self.skeletons: dict[tuple[bool, ...], int | None] = {}


@dataclass(slots=True)
class _Description:
    """A skeleton as the compiled schedule takes it (:func:`archsim.engine.replay.describe`)."""

    skeleton: np.ndarray
    out_size: int
    resources: tuple[tuple, ...]  # resource keys by dense id
    working: int  # how many resources work
    phases: tuple[str, ...]  # the phases that have operations, in report order
    orders: dict[bytes, tuple[tuple, ...]]  # orders of first work met (resource ids as bytes) -> resource keys
    known: np.ndarray | None = None  # every resource has worked on the timeline (1 per resource), once so


class _PlanTable(dict):
    """Structure id -> its operations' plans; a sequential structure's are made from its shape when first used."""

    def __init__(self, engine: Engine):
        super().__init__()
        self.engine = engine

    def __missing__(self, sid: int) -> list[OpPlan]:
        shape, cycles = self.engine._unmade.pop(sid)
        assert shape.plans is not None
        plans = [
            plan if plan.cycles == cycles[index] else replace(plan, cycles=cycles[index])
            for index, plan in enumerate(shape.plans)
        ]
        self[sid] = plans
        return plans


class Engine:
    """Costs training steps: ``run_step(ops) -> StepCost``; ``totals()``; ``chrome_trace()``.

    ``transfer_policy`` None takes ``hw.mapping.transfer_policy``; ``schedule`` None takes
    ``hw.mapping.schedule``. ``cache`` memoises step timing by structure, times a new structure from a schedule
    worked out without SimPy and checked against SimPy's rules, or by replaying a recorded SimPy run of the same
    skeleton with new cycles (results identical to ``cache=False``; ``scheduled`` and ``replays`` count those
    steps, ``cache_misses`` the steps SimPy simulated). ``trace`` records every operation for :meth:`chrome_trace`.

    ``run_step`` returns a :class:`StepCost` whose fields are worked out from the step's ledger when first read.
    """

    def __init__(
        self,
        arch: Any,
        mapping: Any,
        transfer_policy: str | None = "inline",
        cache: bool = True,
        trace: bool = False,
        schedule: str | None = None,
    ):
        policy = transfer_policy or arch.hw.mapping.transfer_policy
        if policy not in TRANSFER_POLICIES:
            raise ArchsimError(f"transfer policy {policy!r} is unknown; expected one of {', '.join(TRANSFER_POLICIES)}")
        schedule = schedule or arch.hw.mapping.schedule
        if schedule not in SCHEDULES:
            raise ArchsimError(f"schedule {schedule!r} is unknown; expected one of {', '.join(SCHEDULES)}")
        self.arch, self.mapping = arch, mapping
        self.transfer_policy = policy
        self.schedule: str = schedule
        self.cache_enabled, self.trace_enabled = cache, trace
        self.costing = Costing(arch, mapping, policy == "background")
        self.cycle_ns = arch.cycle_ns
        leak = arch.hw.leakage
        counts = arch.leakage_counts(set(mapping.tiles().values()) if leak.gate_unused_tiles else None)
        self.static_power_w = arch.leakage.chip_power_w(counts)
        self.leak_pj_per_cycle = self.static_power_w * self.cycle_ns * 1e3  # W * ns = nJ; x1e3 -> pJ
        # shape and structure interning and compiled plans
        self._shapes: dict[tuple, _Shape] = {}
        # a recorded step's signature -> its shape, and where each of its operations comes from (_sources; None
        # until the signature comes again)
        self._recorded: dict[tuple, tuple[_Shape, list[tuple[Operation, int]] | None]] = {}
        self._last_shape: tuple[int, tuple, _Shape] | None = None  # the last step's: samples, operation keys, shape
        self._structures = 0  # structures made since the tables were last cleared
        self._plans: dict[int, list[OpPlan]] = _PlanTable(self)  # the operations the timeline runs (pipelined: per
        # sample)
        self._unmade: dict[int, tuple[_Shape, list[int]]] = {}  # structures whose plans are not made yet
        # per sequential structure: its charges but the data's share, in ledger order, and how to add that share
        # (reads: index, key, cell-passes, the cells' read_pj; pulsed writes: index, keys, Costing.write_pulse_charger);
        # made when the structure comes again (None until then: most come once, charged from their shape's parts)
        self._ledgers: dict[int, tuple[dict, tuple, tuple] | None] = {}
        self._ranks: dict[int, list[int]] = {}  # their queueing order among one step's operations
        # per structure: its operations' static charges summed by (component, phase), and the indices of the
        # operations whose charges depend on data (reads, pulsed writes)
        self._charges: dict[int, tuple[tuple[tuple[tuple[str, str], int], ...], tuple[int, ...]]] = {}
        self._next_sid = 0
        self._op_plans: dict[tuple, OpPlan] = {}
        self._cache: dict[tuple, _Timing] = {}
        self._skeleton_ids: dict[tuple, int] = {}  # skeleton -> its id
        self._skeleton_of: dict[int, int | None] = {}  # sid -> its skeleton's id (None: not replayable)
        # skeleton id -> recorded SimPy runs, most recent last (as captured, until made into _Record s)
        self._records: dict[int, list[_Record | tuple]] = {}
        self._recording: list[int] | None = None  # while recording a step: its operations in finishing order
        self._granted: dict[tuple, list[tuple[int, int]]] = {}  # ... and each resource's grants, in order
        self.cache_hits = 0  # steps whose timing was recalled or replayed without SimPy
        self.cache_misses = 0
        self.replays = 0  # of the hits, those timed by replaying a recorded run with new cycles
        self.scheduled = 0  # ... and those timed by a schedule worked out without SimPy and checked alike
        # per skeleton: its description for the compiled schedule (see Schedules without SimPy), or None
        self._descriptions: dict[int, _Description | None] = {}
        self._worked: set[tuple] = set()  # resources that have worked on the timeline
        # timeline
        self._env = _CycleEnvironment()
        self._resources: dict[tuple, _Slots] = {}
        self._outstanding: dict[tuple[int, int], _LiveOp] = {}
        self._seq = itertools.count()
        self._carry: tuple | None = ((), ())
        self._step = 0
        self._window_start = 0
        self._spans: dict[str, list[int]] = {}
        self._window_trace: list[tuple] = []
        self._trace: list[tuple[int, int, int, int, int]] = []  # (step, sid, index, start, end), absolute
        self._busy: dict[tuple, int] = {}  # resource -> cycles worked in the current window
        self._total_busy: dict[tuple, int] = {}
        self._last_timing: _Timing | None = None
        # windows closed since the totals were last brought up to date: id -> [timing, how many times]; and their
        # charges (summed into the totals in order, so the ledger's keys keep their order)
        self._unfolded: dict[int, list] = {}
        self._unfolded_quanta: list[dict[tuple[str, str], int]] = []
        # totals
        self._total_quanta: dict[tuple[str, str], int] = {}
        self._total_phase_cycles: dict[str, int] = {}
        self._total_ops = 0

    # ------------------------------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------------------------------
    def run_step(self, ops: Sequence[Operation], samples: int | None = None) -> StepCost:
        """Cost one training step: simulate (or recall) its timing, charge its energy, advance the timeline.

        ``samples``: the batch the step trains on; the pipelined schedule streams them one by one (sequential
        ignores it). A :class:`~archsim.ops.RecordedStep` of a signature seen before is costed from its data records
        alone: its shape is its signature's, its counts the records' first items."""
        recorded = ops if type(ops) is RecordedStep and self.schedule == "sequential" else None
        if recorded is not None:
            known = self._recorded.get(recorded.signature)
            if known is not None:
                shape, sources = known
                if sources is None:  # (worked out when a signature comes a second time: many never do)
                    sources = recorded_sources(recorded.signature)
                    self._recorded[recorded.signature] = (shape, sources)
                records = recorded.records
                counts = tuple([record[0] for record in records])
                return self._cost(shape, counts, _RecordedOps(sources, records), 1)
        ops = list(ops)
        if self.schedule == "pipelined":
            if samples is None or samples < 1:
                raise ArchsimError(
                    f"the pipelined schedule needs the step's batch; got samples={samples!r}, expected an integer >= 1"
                )
            streamed = samples
        else:
            streamed = 1
        # the shape key: the operations but their cycle counts and, pipelined, how many samples they are cut into
        keys = tuple(map(shape_key, ops))
        last = self._last_shape
        if last is not None and last[0] == streamed and last[1] == keys:
            shape = last[2]  # (steps mostly repeat the last one's shape: one comparison, no hashing)
        else:
            shape_key_ = (streamed, keys)
            shape = self._shapes.get(shape_key_) or self._compile_shape(ops, streamed, shape_key_)
            self._last_shape = (streamed, keys, shape)
        counts = tuple([count(ops[index]) for index, count in shape.counted])
        if recorded is not None:
            if len(self._recorded) >= MAX_RECORDED_SIGNATURES:
                self._recorded.clear()
            self._recorded[recorded.signature] = (shape, None)
        return self._cost(shape, counts, ops, streamed)

    def _cost(self, shape: _Shape, counts: tuple[int, ...], ops: Sequence[Operation], streamed: int) -> StepCost:
        """Cost a step of ``shape`` with ``counts`` (its operations' cycle counts, program order): time, charges,
        the timeline."""
        sid = shape.structures.get(counts)
        if sid is None:
            sid = self._structure(shape, ops, counts, streamed)

        quanta = None
        if shape.plans is not None:  # sequential: charged from the structure's ledger, or its shape's parts
            ledger = self._ledgers.get(sid)
            if ledger is None and sid in self._ledgers:  # seen before: worth a ledger now
                ledger = self._ledgers[sid] = self._ledger(shape, ops, counts)
            if ledger is not None:
                quanta = _fast_quanta(ledger, ops)
            else:
                self._ledgers[sid] = None
                quanta = self._first_quanta(shape, ops, counts)
        if quanta is None:
            static, data_dependent = self._charges[sid]
            quanta = dict(static)
            dynamic = self.costing.dynamic_quanta
            for index in data_dependent:
                op = ops[index]
                for component, q in dynamic(op):
                    key = (component, op.phase)
                    quanta[key] = quanta.get(key, 0) + q

        start = self._env.now
        timing = None
        if self.cache_enabled:
            cache_key = (sid, self._carry)
            timing = self._cache.get(cache_key)
        if timing is None and self.cache_enabled and not self._outstanding:
            # a schedule worked out anew first (as cheap as a replay, and it need not match a record), then the
            # records (SimPy's runs, for steps whose schedule is refused)
            timing = self._schedule_step(sid)
            if timing is not None:
                self.scheduled += 1
            else:
                timing = self._replay_record(sid)
                if timing is not None:
                    self.replays += 1
            if timing is not None:
                self._cache[cache_key] = timing
        if timing is None:
            timing = self._simulate_step(sid, self._plans[sid])
            if self.cache_enabled:
                self.cache_misses += 1
                self._cache[cache_key] = timing
            cached = False
        else:
            self.cache_hits += 1
            self._replay(timing, start)
            cached = True
        self._carry = timing.carry_out
        self._step += 1
        return self._close_window(quanta, timing, len(ops), cached)

    def utilisation(self, last_step: bool = False) -> dict[tuple, float]:
        """Each resource's busy share: cycles worked / (slots x elapsed cycles), over the timeline so far or
        (``last_step``) the last step's window; keys are resource keys (:func:`archsim.engine.trace.resource_name`
        names them). Resources never used are absent."""
        self._fold()
        last = self._last_timing
        if last_step:
            busy, elapsed = (dict(zip(last.workers, last.busy, strict=True)), last.latency) if last else ({}, 0)
        else:
            busy, elapsed = self._total_busy, self._env.now
        if elapsed <= 0:
            return {}
        capacity = self.costing.capacity
        return {key: cycles / (capacity.get(key, 1) * elapsed) for key, cycles in busy.items()}

    def utilisation_summary(self, top: int = 10) -> dict:
        """For reports: the ``top`` busiest resources by name, the bottleneck (the busiest) and, per resource
        kind, the mean and largest utilisation over the timeline so far."""
        from archsim.engine.trace import resource_name

        found = self.utilisation()
        ranked = sorted(found.items(), key=lambda kv: -kv[1])  # stable: ties keep first-use order
        kinds: dict[str, list[float]] = {}
        for key, share in found.items():
            kinds.setdefault(_KIND_NAMES.get(key[0], key[0]), []).append(share)
        return {
            "schedule": self.schedule,
            "bottleneck": resource_name(self.mapping, ranked[0][0]) if ranked else None,
            "busiest": {resource_name(self.mapping, key): share for key, share in ranked[:top]},
            "by_kind": {
                kind: {"resources": len(shares), "mean": sum(shares) / len(shares), "max": max(shares)}
                for kind, shares in kinds.items()
            },
        }

    def finish(self) -> StepCost | None:
        """Run outstanding background work to completion; returns the cost of that tail (leakage), if any."""
        if not self._outstanding:
            return None
        start = self._env.now
        self._open_window(start)
        self._env.run()
        timing = self._measure_window(start, carry_out=((), ()))
        self._carry = timing.carry_out
        return self._close_window({}, timing, 0, False, count_step=False)

    def totals(self) -> StepCost:
        """Totals over all steps so far, leakage included; finishes outstanding background work first."""
        self.finish()
        self._fold()
        return StepCost.from_quanta(
            self._total_quanta,
            self._env.now,
            self.cycle_ns,
            self._total_phase_cycles,
            steps=self._step,
            ops=self._total_ops,
        )

    @property
    def carried_operations(self) -> int:
        """Operations of earlier steps still outstanding at the current step boundary (background transfers)."""
        return len(self._outstanding)

    @property
    def now_cycles(self) -> int:
        """The timeline's current time (cycles)."""
        return self._env.now

    def chrome_trace(self) -> dict:
        """Every traced operation as Chrome trace-event JSON (open in Perfetto or chrome://tracing).

        One process per tile (its crossbars, DACs, ADC bank, pulse generators), one for the NoC channels and
        one per shared unit pool; one thread per resource (pool slots assigned greedily).
        """
        from archsim.engine.trace import chrome_trace

        return chrome_trace(self)

    # ------------------------------------------------------------------------------------------
    # compilation
    # ------------------------------------------------------------------------------------------
    def _compile_plans(self, ops: Sequence[Operation], keys: Sequence[tuple]) -> list[OpPlan]:
        plans = []
        for index, (op, key) in enumerate(zip(ops, keys, strict=True)):
            plan = self._op_plans.get(key)
            if plan is None:
                plan = self.costing.plan(op, index)
                self._op_plans[key] = plan
            plans.append(plan)
        return self.costing.step_plans(ops, plans)

    def _compile_shape(self, ops: list[Operation], samples: int, key: tuple) -> _Shape:
        if self._structures >= MAX_REMEMBERED_STRUCTURES:
            self._forget()
        plans = self._compile_plans(ops, [structure_key(op) for op in ops])  # (validates the operations)
        counted = tuple(
            (index, attrgetter(CYCLE_COUNT_FIELDS[type(op)]))
            for index, op in enumerate(ops)
            if type(op) in CYCLE_COUNT_FIELDS
        )
        charges = _static_charges(ops, [plan.static_quanta for plan in plans])
        # the operations with a count are those whose charges depend on data (reads and pulsed writes)
        assert tuple(index for index, _ in counted) == charges[1]
        shape = _Shape(plans if samples == 1 else None, counted, list(range(len(ops))), charges)
        if samples == 1:
            for (index, count), memo in zip(counted, shape.memos, strict=True):
                memo[count(ops[index])] = plans[index].cycles
            counts = tuple(count(ops[index]) for index, count in counted)
            shape.ledger = (
                self._ledger(shape, ops, counts),
                counts,
                [memo[c] for memo, c in zip(shape.ledger_parts, counts, strict=True)],
            )
        self._shapes[key] = shape
        return shape

    def _structure(self, shape: _Shape, ops: Sequence[Operation], counts: tuple[int, ...], samples: int) -> int:
        """Register the structure of ``shape`` with ``counts``; returns its id."""
        if self._structures >= MAX_REMEMBERED_STRUCTURES:
            self._forget()
        sid = self._next_sid
        self._next_sid += 1
        self._structures += 1
        if shape.plans is None:  # pipelined: compiled in full
            self._compile(sid, ops, samples)
        else:
            cycles = [plan.cycles for plan in shape.plans]
            for (index, _), memo, count in zip(shape.counted, shape.memos, counts, strict=True):
                found = memo.get(count)
                if found is None:
                    found = memo[count] = self.costing.plan(ops[index], index).cycles
                cycles[index] = found
            self._unmade[sid] = (shape, cycles)
            self._ranks[sid] = shape.ranks
            self._charges[sid] = shape.charges
            idle = tuple(cycles[index] == 0 for index, _ in shape.counted)
            if idle not in shape.skeletons:
                shape.skeletons[idle] = self._skeleton(self._plans[sid], shape.ranks)
            self._skeleton_of[sid] = shape.skeletons[idle]
        shape.structures[counts] = sid
        return sid

    def _ledger(self, shape: _Shape, ops: Sequence[Operation], counts: tuple[int, ...]) -> tuple[dict, tuple, tuple]:
        """A sequential structure's charges but the data's share, keyed in the order the generic accounting of
        run_step adds them (assuming every read charges its cells), and the terms of that share."""
        base = dict(shape.charges[0])
        reads: list[tuple] = []
        writes: list[tuple] = []
        for (index, _), memo, count in zip(shape.counted, shape.ledger_parts, counts, strict=True):
            part = memo.get(count)
            if part is None:
                part = memo[count] = self._ledger_part(ops[index], index)
            for key, q in part[0]:  # (adding 0 places a key that the data's share fills in)
                base[key] = base.get(key, 0) + q
            (reads if part[2] else writes).append(part[1])
        return base, tuple(reads), tuple(writes)

    def _first_quanta(self, shape: _Shape, ops: Sequence[Operation], counts: tuple[int, ...]) -> dict | None:
        """A sequential step's charges from its shape's ledger (that of the structure that compiled the shape) with
        what its own counts change (as :meth:`_ledger` then :func:`_fast_quanta` would work them out), or None when
        a count changes which charges an operation makes, or a read charges its cells nothing (the generic
        accounting then keeps the ledger's order)."""
        assert shape.ledger is not None
        (base, reads, writes), base_counts, base_parts = shape.ledger
        quanta = dict(base)
        terms: Sequence[tuple] = reads  # a read's term of the data's share follows its count; a write's does not
        if counts != base_counts:
            terms = list(reads)
            read_at = 0
            for (index, _), memo, count, base_count, base_part in zip(
                shape.counted, shape.ledger_parts, counts, base_counts, base_parts, strict=True
            ):
                if count != base_count:
                    part = memo.get(count)
                    if part is None:
                        part = memo[count] = self._ledger_part(ops[index], index)
                    keyed, base_keyed = part[0], base_part[0]
                    if len(keyed) != len(base_keyed):
                        return None
                    for (key, q), (base_key, base_q) in zip(keyed, base_keyed, strict=True):
                        if key != base_key:
                            return None
                        if q != base_q:
                            quanta[key] += q - base_q
                    if part[2]:
                        terms[read_at] = part[1]
                if base_part[2]:
                    read_at += 1
        return _fast_quanta((quanta, terms, writes), ops, copy=False)

    def _ledger_part(self, op: Operation, index: int) -> tuple[tuple[tuple[tuple[str, str], int], ...], tuple, bool]:
        """What a read or pulsed write adds to its structure's ledger (for its count: retries or BL): its charges
        that the count fixes, by key in order, its term of the data's share, and whether it is a read."""
        phase = op.phase
        if type(op) is Mvm or type(op) is TransferRead:
            charges, cell_passes, cells = self.costing.read_parts(op)
            key = ("array_read", phase)
            keyed = tuple(((component, phase), q) for component, q in charges) + ((key, 0),)
            return keyed, (index, key, cell_passes, cells.read_pj), True
        assert type(op) is PulseUpdate or type(op) is TransferWrite
        block = self.mapping.shape_of(op.array)
        written, driven = ("array_write", phase), ("pulse_generator", phase)
        keyed = ((written, 0), (driven, 0))
        if op.stochastic:
            keyed += ((("digital", phase), self.costing.translator_quanta(op, block.rows, block.cols)),)
        return keyed, (index, written, driven, self.costing.write_pulse_charger(op, block.rows, block.cols)), False

    def _compile(self, sid: int, ops: Sequence[Operation], samples: int) -> None:
        keys = [structure_key(op) for op in ops]
        plans = self._compile_plans(ops, keys)
        charges = [plan.static_quanta for plan in plans]
        ranks = list(range(len(plans)))
        if samples > 1:
            streamed, ranks, sample_of = pipeline_ops(ops, samples)
            plans = self._compile_plans(streamed, [structure_key(op) for op in streamed])
            plans = [
                plan if sample is None else replace(plan, label=f"{plan.label} (sample {sample})")
                for plan, sample in zip(plans, sample_of, strict=True)
            ]
        self._plans[sid] = plans
        self._ranks[sid] = ranks
        self._charges[sid] = _static_charges(ops, charges)
        self._skeleton_of[sid] = self._skeleton(plans, ranks)

    def _skeleton(self, plans: list[OpPlan], ranks: list[int]) -> int | None:
        """The id of the skeleton of a structure's plans, or None when a recorded run of it cannot be replayed."""
        if any(plan.background or (plan.resources and not plan.cycles) for plan in plans):
            # background work carries over; a resource held for no time is released at the cycle it is granted
            return None
        # what fixes SimPy's decisions apart from the cycles: holds, waits, queueing ranks, and which operations
        # take no time (they schedule no timeout)
        skeleton = (tuple((plan.resources, plan.deps, plan.cycles == 0) for plan in plans), tuple(ranks))
        return self._skeleton_ids.setdefault(skeleton, len(self._skeleton_ids))

    def _forget(self) -> None:
        """Drop remembered structures and timings, keeping the plans the outstanding operations still need.

        Structure ids are never reused, so the carry state stays valid; only future cache hits are lost."""
        keep = {op.sid for op in self._outstanding.values()}
        if self.trace_enabled:
            keep |= {sid for _, sid, _, _, _ in self._trace}
        plans = {sid: self._plans[sid] for sid in keep}
        self._plans = _PlanTable(self)
        self._plans.update(plans)
        self._unmade.clear()
        self._ranks = {sid: ranks for sid, ranks in self._ranks.items() if sid in keep}
        self._charges = {sid: charges for sid, charges in self._charges.items() if sid in keep}
        self._skeleton_of = dict.fromkeys(keep)  # (skeleton ids restart: these no longer replay)
        self._ledgers.clear()
        self._records.clear()
        self._descriptions.clear()
        self._skeleton_ids.clear()
        self._shapes.clear()
        self._recorded.clear()
        self._last_shape = None
        self._structures = 0
        self._op_plans.clear()
        self._cache.clear()
        self.costing.forget()

    # ------------------------------------------------------------------------------------------
    # simulation
    # ------------------------------------------------------------------------------------------
    def _resource(self, key: tuple) -> _Slots:
        found = self._resources.get(key)
        if found is None:
            found = _Slots(self.costing.capacity.get(key, 1))
            self._resources[key] = found
        return found

    def _open_window(self, start: int) -> None:
        self._window_start = start
        self._spans = {}
        self._window_trace = []
        self._busy = {}

    def _simulate_step(self, sid: int, plans: list[OpPlan]) -> _Timing:
        env = self._env
        start = env.now
        self._open_window(start)
        ranks = self._ranks[sid]
        live = [_LiveOp(self._step, index, sid, plan, ranks[index]) for index, plan in enumerate(plans)]
        skeleton = self._skeleton_of.get(sid) if self.cache_enabled and not self._outstanding else None
        if skeleton is not None:
            self._recording = []
            self._granted = {}
            for op in live:
                op.handed = []
        foreground: list[simpy.Process] = []
        outstanding = self._outstanding
        run = self._run
        for op in live:
            outstanding[(op.step, op.index)] = op
            deps = op.plan.deps
            op.done = env.process(run(op, [live[d].done for d in deps] if deps else None))
            if not op.plan.background:
                foreground.append(op.done)
        step_done = env.all_of(foreground)
        try:
            while not step_done.processed:
                env.step()
            while env.peek() == env.now:  # settle everything that happens at the boundary instant
                env.step()
        except simpy.core.EmptySchedule:  # pragma: no cover - ordered acquisition cannot deadlock
            raise RuntimeError("engine deadlock: operations wait on each other") from None
        if skeleton is not None:
            self._keep_record(skeleton, live)
        return self._measure_window(start, carry_out=self._capture() if self.cache_enabled else None)

    def _keep_record(self, skeleton: int, live: list[_LiveOp]) -> None:
        finish = self._recording
        self._recording = None
        assert finish is not None and len(finish) == len(live)  # no background work: everything finished
        capacity = self.costing.capacity
        workers: dict[tuple, list[int]] = {}  # resource -> the operations that work on it, in program order
        for op in live:
            if op.plan.cycles:
                for key in op.plan.resources:
                    workers.setdefault(key, []).append(op.index)
        handed = tuple(tuple(op.handed or ()) for op in live)
        # a resource granted once is granted at its request whatever the times: nothing to check
        grants = tuple(
            (capacity.get(key, 1), tuple(granted), any(handed[op][at] >= 0 for op, at in granted))
            for key, granted in self._granted.items()
            if len(granted) > 1
        )
        busy = tuple((key, tuple(workers.get(key, ()))) for key in self._busy)
        self._granted = {}
        records = self._records.setdefault(skeleton, [])
        if len(records) >= MAX_RECORDS_PER_SKELETON:
            del records[0]
        # (made into a _Record when first replayed: most steps are scheduled without one)
        records.append((tuple(finish), handed, grants, busy, [op.plan for op in live], [op.priority[2] for op in live]))

    @staticmethod
    def _made_record(
        finish: tuple[int, ...], handed: tuple, grants: tuple, busy: tuple, plans: list[OpPlan], ranks: list[int]
    ) -> _Record:
        phases = tuple(
            (phase, members)
            for phase in PHASES
            if (members := tuple(index for index, plan in enumerate(plans) if plan.phase == phase))
        )
        return _Record(finish, handed, grants, busy, tuple(plan.deps for plan in plans), phases, plans, ranks)

    def _replay_record(self, sid: int) -> _Timing | None:
        """The timing of a step from a recorded run of its skeleton (see Replay in the module docstring), or
        None when no record applies."""
        skeleton = self._skeleton_of.get(sid)
        if skeleton is None:
            return None
        records = self._records.get(skeleton)
        if not records:
            return None
        cycles = self._cycles_of(sid)
        for at in reversed(range(len(records))):
            record = records[at]
            if not isinstance(record, _Record):
                record = records[at] = self._made_record(*record)
            found = _replayed_times(record, cycles)
            if found is not None:
                return self._replayed_timing(sid, record, cycles, *found)
        return None

    def _cycles_of(self, sid: int) -> list[int]:
        """Structure ``sid``'s operations' cycles (without making its plans, when they are not made yet)."""
        unmade = self._unmade.get(sid)
        return unmade[1] if unmade is not None else [plan.cycles for plan in self._plans[sid]]

    def _schedule_step(self, sid: int) -> _Timing | None:
        """The timing of a step from a schedule worked out without SimPy and checked as a recorded one would be (see
        Schedules without SimPy in the module docstring), or None when the check fails or the step does not
        qualify."""
        skeleton = self._skeleton_of.get(sid)
        if skeleton is None:
            return None
        if skeleton not in self._descriptions:
            self._descriptions[skeleton] = self._describe(sid)
        description = self._descriptions[skeleton]
        if description is None:
            return None
        known = description.known
        if known is None:  # (until every resource has worked on the timeline)
            known = np.array([key in self._worked for key in description.resources], dtype=np.int64)
            if known.all():
                description.known = known
        cycles = self._cycles_of(sid)
        if sum(cycles) >= _SCHEDULE_CYCLE_LIMIT:
            return None
        out = np.empty(description.out_size, dtype=np.int64)
        first_work = np.empty(description.working, dtype=np.int64)
        if not compiled._schedule(description.skeleton, np.array(cycles, dtype=np.int64), known, out, first_work):
            return None
        order = first_work.tobytes()
        workers = description.orders.get(order)
        if workers is None:  # (the steps of a skeleton mostly put their resources to work in the same order)
            keys = description.resources
            workers = description.orders[order] = tuple([keys[r] for r in first_work.tolist()])
        return self._timing_from(sid, out, description.phases, workers, range(len(cycles)))

    def _describe(self, sid: int) -> _Description | None:
        plans, ranks = self._plans[sid], self._ranks[sid]
        ids: dict[tuple, int] = {}
        resources = [[ids.setdefault(key, len(ids)) for key in plan.resources] for plan in plans]
        capacity = [self.costing.capacity.get(key, 1) for key in ids]
        nothing_handed: tuple[tuple[int, ...], ...] = tuple((-1,) for _ in plans)
        wakes = [_waker(index, 0, nothing_handed, plans) for index in range(len(plans))]
        roots: dict[tuple, int] = {}
        orders = {order: rank for rank, order in enumerate(sorted({order for _, order in wakes}))}
        phases = tuple(phase for phase in PHASES if any(plan.phase == phase for plan in plans))
        skeleton = compiled.describe(
            [plan.deps for plan in plans],
            resources,
            capacity,
            ranks,
            [(roots.setdefault(root, len(roots)), orders[order]) for root, order in wakes],
            len(phases),
            [phases.index(plan.phase) for plan in plans],
            [plan.cycles for plan in plans],
        )
        return _Description(skeleton, compiled.out_size(skeleton), tuple(ids), int(skeleton[3]), phases, {})

    def _replayed_timing(
        self, sid: int, record: _Record, cycles: list[int], starts: list[int], ends: list[int]
    ) -> _Timing:
        # The recorded order of first work: every resource is already in the timeline's totals (the recorded step
        # put it there), so the order of the last step's shares is all it affects.
        latency = max(ends, default=0)
        phase_spans = tuple(
            (phase, min([starts[op] for op in members]), max([ends[op] for op in members]))
            for phase, members in record.phases
        )
        trace: tuple[tuple[int, int, int, int, int], ...] = ()
        if self.trace_enabled:  # (the order of the records does not matter: the trace sorts them by time)
            trace = tuple((0, sid, index, starts[index], ends[index]) for index in record.finish)
        return _Timing(
            latency,
            phase_spans,
            _leak_cycles(latency, phase_spans),
            trace,
            ((), ()),
            tuple(key for key, _ in record.busy),
            [sum([cycles[op] for op in holders]) for _, holders in record.busy],
        )

    def _timing_from(
        self, sid: int, out: np.ndarray, phases: tuple[str, ...], workers: tuple[tuple, ...], order: Sequence[int]
    ) -> _Timing:
        """A step's timing from the compiled schedule's results (:func:`archsim.engine.replay.schedule`)."""
        n_phases = len(phases)
        found = out[: 1 + 2 * n_phases + len(workers)].tolist()
        latency = found[0]
        phase_spans = tuple(
            (phase, found[1 + 2 * number], found[2 + 2 * number]) for number, phase in enumerate(phases)
        )
        trace: tuple[tuple[int, int, int, int, int], ...] = ()
        if self.trace_enabled:  # (the order of the records does not matter: the trace sorts them by time)
            head = 1 + 2 * n_phases + len(workers)
            n = len(order)
            starts = out[head : head + n].tolist()
            ends = out[head + n : head + 2 * n].tolist()
            trace = tuple((0, sid, index, starts[index], ends[index]) for index in order)
        return _Timing(
            latency,
            phase_spans,
            _leak_cycles(latency, phase_spans),
            trace,
            ((), ()),
            workers,
            found[1 + 2 * n_phases :],
        )

    def _run(self, op: _LiveOp, pending):
        """The process of one operation; it can resume from any state a carry rebuild leaves it in."""
        env = self._env
        if pending:
            op.pending = pending
            # A single dependency is awaited directly; several through one condition. A rebuild keeps the
            # same choice (by the plan's dependency count) so that SimPy schedules the same events.
            yield env.all_of(pending) if len(op.plan.deps) > 1 else pending[0]
            op.pending = None
        resources = op.plan.resources
        while op.held < len(resources):
            if op.waiting is None:
                slots = self._resource(resources[op.held])
                if slots.users < slots.capacity:
                    slots.users += 1
                    if op.handed is not None:
                        op.handed.append(-1)
                        self._granted.setdefault(resources[op.held], []).append((op.index, op.held))
                    op.held += 1
                    continue
                op.waiting = env.event()
                heapq.heappush(slots.queue, (op.priority, op.waiting))
            releaser = yield op.waiting
            if op.handed is not None:
                op.handed.append(releaser)
                self._granted.setdefault(resources[op.held], []).append((op.index, op.held))
            op.waiting = None
            op.held += 1
        cycles = op.plan.cycles
        if op.timeout is None:
            op.start = env.now
            op.end_at = env.now + cycles
            op.seq = next(self._seq)
            if cycles:  # a zero-cycle operation finishes at once (it never straddles a boundary)
                op.timeout = env.timeout(cycles)
        if op.timeout is not None:
            yield op.timeout
        started: int = op.start  # type: ignore[assignment]  # set above, before the hold
        worked = int(env.now) - max(started, self._window_start)
        busy = self._busy
        for key in resources:
            self._resources[key].release(op.index)
            if worked:
                busy[key] = busy.get(key, 0) + worked
        del self._outstanding[(op.step, op.index)]
        if self._recording is not None:
            self._recording.append(op.index)
        assert op.start is not None  # set above, or by the rebuild of a running operation
        self._note_span(op.plan.phase, op.start, env.now)
        if self.trace_enabled:
            self._window_trace.append((op.step, op.sid, op.index, op.start, env.now))

    def _note_span(self, phase: Phase, start: int, end: int) -> None:
        start = max(start, self._window_start)
        span = self._spans.get(phase)
        if span is None:
            self._spans[phase] = [start, end]
        else:
            if start < span[0]:
                span[0] = start
            if end > span[1]:
                span[1] = end

    def _measure_window(self, start: int, carry_out: tuple | None) -> _Timing:
        end = self._env.now
        for op in self._outstanding.values():  # running across the boundary: active (and working) up to it
            if op.start is not None:
                self._note_span(op.plan.phase, op.start, end)
                worked = end - max(op.start, self._window_start)
                if op.timeout is not None and worked > 0:
                    for key in op.plan.resources:
                        self._busy[key] = self._busy.get(key, 0) + worked
        latency = end - start
        spans = tuple(
            (phase, self._spans[phase][0] - start, self._spans[phase][1] - start)
            for phase in PHASES
            if phase in self._spans
        )
        step = self._step
        trace = tuple((step - s, sid, index, a - start, b - start) for s, sid, index, a, b in self._window_trace)
        return _Timing(
            latency,
            spans,
            _leak_cycles(latency, spans),
            trace,
            carry_out,
            tuple(self._busy),
            tuple(self._busy.values()),
        )

    # ------------------------------------------------------------------------------------------
    # carry state: capture and rebuild
    # ------------------------------------------------------------------------------------------
    def _capture(self) -> tuple:
        """The canonical state of outstanding operations at the boundary, relative to the next step."""
        if not self._outstanding:
            return ((), ())
        now = self._env.now
        following = self._step + 1
        running = sorted(
            (op for op in self._outstanding.values() if op.timeout is not None), key=lambda op: (op.end_at, op.seq)
        )
        keep_start = self.trace_enabled
        running_state = []
        for op in running:
            assert op.start is not None and op.end_at is not None  # set with its timeout
            running_state.append(
                (following - op.step, op.sid, op.index, op.end_at - now, (op.start - now) if keep_start else 0)
            )
        others = sorted(
            (op for op in self._outstanding.values() if op.timeout is None), key=lambda op: (op.step, op.index)
        )
        other_state = []
        for op in others:
            if op.pending is not None:
                waiting_for = tuple(d for d in op.plan.deps if (op.step, d) in self._outstanding)
                other_state.append((following - op.step, op.sid, op.index, -1, waiting_for))
            else:
                other_state.append((following - op.step, op.sid, op.index, op.held, ()))
        return tuple(running_state), tuple(other_state)

    def _replay(self, timing: _Timing, start: int) -> None:
        """Apply a cached window: advance time and rebuild the carried operations on a fresh environment."""
        if self.trace_enabled:
            step = self._step
            self._trace.extend(
                (step - back, sid, index, start + a, start + b) for back, sid, index, a, b in timing.trace
            )
        assert timing.carry_out is not None, "a cached timing keeps its carry state"
        if not timing.carry_out[0] and not timing.carry_out[1] and not self._outstanding and self._env.idle:
            self._env.advance(start + timing.latency)  # nothing carries over: the same environment, later
        else:
            self._rebuild(timing.carry_out, start + timing.latency, self._step + 1)

    def _rebuild(self, carry: tuple, now: int, following: int) -> None:
        env = _CycleEnvironment(initial_time=now)
        self._env = env
        self._resources = {}
        self._outstanding = {}
        running_state, other_state = carry
        running = []
        for back, sid, index, remaining, start_offset in running_state:  # timeouts first, in wake-up order
            op = _LiveOp(following - back, index, sid, self._plans[sid][index], self._ranks[sid][index])
            op.start = now + start_offset
            op.end_at = now + remaining
            op.seq = next(self._seq)
            op.timeout = env.timeout(remaining)
            running.append(op)
        others = []
        for back, sid, index, held, waiting_for in other_state:
            op = _LiveOp(following - back, index, sid, self._plans[sid][index], self._ranks[sid][index])
            others.append((op, held, waiting_for))
        for op in running:  # holders first, so that every holder gets its slots back ...
            op.held = len(op.plan.resources)
            for key in op.plan.resources:
                self._resource(key).users += 1
        for op, held, _ in others:
            if held > 0:
                op.held = held
                for key in op.plan.resources[:held]:
                    self._resource(key).users += 1
        for op, held, _ in others:  # ... then the queues, ordered by priority whatever the insertion order
            if held >= 0:
                op.waiting = env.event()
                heapq.heappush(self._resource(op.plan.resources[held]).queue, (op.priority, op.waiting))
        every = running + [op for op, _, _ in others]
        for op in every:
            self._outstanding[(op.step, op.index)] = op
        pending_of = {id(op): waiting_for for op, held, waiting_for in others if held < 0}
        # Processes in program order: a dependency's process exists before its dependants wait on it, and
        # dependants register on it in the order the continuous timeline registered them.
        for op in sorted(every, key=lambda o: (o.step, o.index)):
            waiting_for = pending_of.get(id(op))
            pending = [self._outstanding[(op.step, d)].done for d in waiting_for] if waiting_for else None
            op.done = env.process(self._run(op, pending))

    # ------------------------------------------------------------------------------------------
    # ledger
    # ------------------------------------------------------------------------------------------
    def _close_window(
        self, quanta: dict, timing: _Timing, n_ops: int, cached: bool, count_step: bool = True
    ) -> StepCost:
        if not cached and self.trace_enabled:
            start = self._window_start
            step = self._step - (1 if count_step else 0)
            self._trace.extend(
                (step - back, sid, index, start + a, start + b) for back, sid, index, a, b in timing.trace
            )
        charged = timing.charged
        if charged is None:
            leak = tuple(
                (("leakage", phase), q)
                for phase, cycles in timing.leak_cycles
                if (q := to_quanta(cycles * self.leak_pj_per_cycle))
            )
            charged = timing.charged = (leak, {phase: b - a for phase, a, b in timing.phase_spans})
            self._worked.update(timing.workers)
        for key, q in charged[0]:
            quanta[key] = quanta.get(key, 0) + q
        self._last_timing = timing
        unfolded = self._unfolded.get(id(timing))
        if unfolded is None:
            self._unfolded[id(timing)] = [timing, 1]  # (the entry keeps the timing, hence its id, alive)
        else:
            unfolded[1] += 1
        self._unfolded_quanta.append(quanta)
        self._total_ops += n_ops
        if len(self._unfolded_quanta) >= _FOLD_EVERY:
            self._fold()
        return deferred_step_cost(quanta, timing.latency, self.cycle_ns, charged[1], ops=n_ops, cached=cached)

    def _fold(self) -> None:
        """Bring the totals of busy cycles, phase cycles and charges up to date with the windows closed since."""
        for timing, times in self._unfolded.values():
            for key, cycles in zip(timing.workers, timing.busy, strict=True):
                self._total_busy[key] = self._total_busy.get(key, 0) + cycles * times
            for phase, cycles in timing.charged[1].items():
                self._total_phase_cycles[phase] = self._total_phase_cycles.get(phase, 0) + cycles * times
        self._unfolded.clear()
        for quanta in self._unfolded_quanta:
            add_into(self._total_quanta, quanta)
        self._unfolded_quanta.clear()


class _RecordedOps(Sequence):
    """A recorded step's operations made one at a time, as the costing asks for them (most never are)."""

    __slots__ = ("sources", "records")

    def __init__(self, sources: list[tuple[Operation, int]], records: list[tuple]):
        self.sources, self.records = sources, records

    def __getitem__(self, index):
        op, number = self.sources[index]
        return op if number < 0 else with_data(op, self.records[number])

    def __len__(self) -> int:
        return len(self.sources)

    def record(self, index: int) -> tuple:
        """The data record of data-dependent operation ``index``."""
        return self.records[self.sources[index][1]]


def _static_charges(ops: Sequence[Operation], static: Sequence[tuple | None]) -> tuple[tuple, tuple[int, ...]]:
    """A structure's charges that no data changes, summed by (component, phase) from its operations' ``static``
    charges, and the indices of the operations without them (reads and pulsed writes, charged per step)."""
    totals: dict[tuple[str, str], int] = {}
    for op, charges in zip(ops, static, strict=True):
        for component, q in charges or ():
            totals[(component, op.phase)] = totals.get((component, op.phase), 0) + q
    return tuple(totals.items()), tuple(index for index, charges in enumerate(static) if charges is None)


def _fast_quanta(ledger: tuple[dict, Sequence, Sequence], ops: Sequence[Operation], copy: bool = True) -> dict | None:
    """A sequential structure's step charges from its ledger (:meth:`Engine._ledger`; ``copy`` False: its charges
    are the step's to keep), or None when a read charges its cells nothing (its key would come later in the
    ledger's order: the generic accounting does it)."""
    base, reads, writes = ledger
    quanta = dict(base) if copy else base
    record = ops.record if type(ops) is _RecordedOps else lambda index: data_of(ops[index])
    for index, key, cell_passes, read_pj in reads:
        q = to_quanta(read_pj(cell_passes, record(index)[1]))  # (a read's record: retries, drive fraction)
        if not q:
            return None
        quanta[key] += q
    for index, written, driven, charger in writes:
        written_q, driven_q = charger(record(index))
        quanta[written] += written_q
        quanta[driven] += driven_q
    return quanta


def _replayed_times(record: _Record, cycles: list[int]) -> tuple[list[int], list[int]] | None:
    """The starts and ends of a step's operations from ``record`` evaluated for ``cycles``, or None when SimPy would
    not grant as recorded (see Replay in the module docstring)."""
    ranks, plans = record.ranks, record.plans
    n = len(cycles)
    starts = [0] * n
    ends = [0] * n
    requests: list[list[int]] = [[]] * n  # per operation and resource held: when it asked for it
    handed = record.handed
    deps = record.deps
    for index in record.finish:
        time = 0
        for dep in deps[index]:
            if ends[dep] > time:
                time = ends[dep]
        releasers = handed[index]
        if releasers:
            asked = []
            for releaser in releasers:
                asked.append(time)
                if releaser >= 0 and ends[releaser] > time:
                    time = ends[releaser]
            requests[index] = asked
        starts[index] = time
        ends[index] = time + cycles[index]
    for slots, grants, queued in record.grants:
        if slots == 1 and not queued:
            # every grant found the resource free: it still must, each request at or after the last end (releases
            # come first within a cycle)
            last_end = -1
            for op, position in grants:
                if requests[op][position] < last_end:
                    return None
                last_end = ends[op]
            continue
        if not _same_grants(grants, slots, requests, ends, handed, ranks, plans):
            return None
    return starts, ends


def _same_grants(
    grants: tuple[tuple[int, int], ...],
    slots: int,
    requests: list[list[int]],
    ends: list[int],
    handed: tuple[tuple[int, ...], ...],
    ranks: list[int],
    plans: list[OpPlan],
) -> bool:
    """Whether SimPy grants one resource of ``slots`` slots as recorded (``grants``: (operation, position of the
    resource among those it holds) in grant order; ``handed``: who handed each over, -1 for a free slot) when its
    requests come at ``requests`` and its holders end at ``ends``.

    Within a cycle SimPy first fires the timeouts due then (operations end and release: a release hands its slot to
    the waiting request of highest rank) and only then resumes the processes those ends wake (requests: a free
    slot goes to the first). So at one cycle releases come before requests. Requests in one cycle come in the
    order SimPy wakes their processes: in program order when woken by the same event (the step's start, or the
    same dependencies ending). Their order matters only when some of them find a free slot and others do not;
    the function accepts such ties only between requests woken by one event."""
    asked = sorted((requests[op][position], op, position) for op, position in grants)
    holders: list[tuple[int, int]] = []  # heap of (end, operation)
    waiting: list[tuple[int, int, int]] = []  # heap of (rank, operation, position)
    total, granted, next_request = len(grants), 0, 0
    while granted < total:
        if holders and (next_request == total or holders[0][0] <= asked[next_request][0]):
            release_at, _ = heapq.heappop(holders)
            if waiting:
                _, op, position = heapq.heappop(waiting)
                releaser = handed[op][position]
                if grants[granted] != (op, position) or releaser < 0 or ends[releaser] != release_at:
                    return False
                granted += 1
                heapq.heappush(holders, (ends[op], op))
            continue
        # the requests of this cycle (releases of the cycle came first)
        request_at = asked[next_request][0]
        last = next_request + 1
        while last < total and asked[last][0] == request_at:
            last += 1
        free = slots - len(holders)
        tied = last - next_request
        if 0 < free < tied:
            # some take the free slots, the others wait: which is SimPy's order of waking them, known only for
            # processes woken by one event
            wakes = [
                (_waker(op, position, handed, plans), entry)
                for entry in asked[next_request:last]
                for _, op, position in (entry,)
            ]
            root = wakes[0][0][0]
            if any(woken[0] != root for woken, _ in wakes):
                return False
            wakes.sort(key=lambda wake: wake[0][1])
            asked[next_request:last] = [entry for _, entry in wakes]
        taking = min(free, tied)
        if taking:  # granted at once, in an order that does not matter when all of them fit
            if taking == tied:
                if sorted(grants[granted : granted + taking]) != sorted(
                    (op, at) for _, op, at in asked[next_request:last]
                ):
                    return False
            elif list(grants[granted : granted + taking]) != [
                (op, at) for _, op, at in asked[next_request : next_request + taking]
            ]:
                return False
            for _, op, position in asked[next_request : next_request + taking]:
                if handed[op][position] != -1:
                    return False
                heapq.heappush(holders, (ends[op], op))
            granted += taking
        for _, op, position in asked[next_request + taking : last]:
            heapq.heappush(waiting, (ranks[op], op, position))
        next_request = last
    return True


def _waker(
    op: int, position: int, handed: tuple[tuple[int, ...], ...], plans: list[OpPlan]
) -> tuple[tuple, tuple[int, tuple[int, ...]]]:
    """The event whose processing woke the process of ``op`` before it asked for its resource at ``position``, and
    the order of that wake-up among those the same event causes within the cycle.

    The event: a hand-over of an earlier resource (unique to the operation), or its dependencies ending (none: the
    step's start). Processes waiting for one event resume in program order (they registered in that order when
    the step started). An operation that takes no time and holds nothing ends as it resumes, and its end is a new
    event, queued behind those already scheduled: processes behind a chain of such operations resume a level
    later, in the order of the chain's operations. So wake-ups order by (level, chain from the top)."""
    if any(releaser >= 0 for releaser in handed[op][:position]):
        return ("handed", op), (0, ())
    chain = [op]
    deps = plans[op].deps
    while len(deps) == 1:
        through = plans[deps[0]]
        if through.cycles or through.resources or len(through.deps) != 1:
            break
        chain.append(deps[0])
        deps = through.deps
    return ("deps", deps), (len(chain) - 1, tuple(reversed(chain)))


def _leak_cycles(latency: int, spans: tuple) -> tuple[tuple[str, float], ...]:
    """Share each cycle of a window among phases (see the module docstring): a cycle that several phases'
    spans cover is split equally among them, so the split does not depend on the order phases are listed in."""
    if latency <= 0:
        return ()
    if not spans:
        return (("forward", float(latency)),)
    points = sorted({0, latency, *(a for _, a, _ in spans), *(b for _, _, b in spans)})
    owners = []
    for a, b in itertools.pairwise(points):
        covering = tuple(phase for phase, lo, hi in spans if lo <= a and b <= hi)
        owners.append([covering, b - a])
    following = None
    for segment in reversed(owners):  # idle cycles go to the phases that start next ...
        if not segment[0]:
            segment[0] = following
        else:
            following = segment[0]
    previous = None
    for segment in owners:  # ... or, at the end of the window, to those that ran last
        if not segment[0]:
            segment[0] = previous
        else:
            previous = segment[0]
    cycles: dict[str, float] = {}
    for phases, length in owners:
        for phase in phases:
            cycles[phase] = cycles.get(phase, 0.0) + length / len(phases)
    return tuple((phase, cycles[phase]) for phase in PHASES if phase in cycles)


#: Report names of resource kinds.
_KIND_NAMES = {
    "array": "crossbar",
    "readout": "readout",
    "pulse": "pulse_generators",
    "link": "noc",
    "buffer": "buffer",
    "dram": "dram",
    "digital": "digital",
}

#: The phases whose work is per sample (everything they do scales with the batch).
_PER_SAMPLE_PHASES = ("forward", "backward")


def per_sample(ops: Sequence[Operation]) -> list[bool]:
    """Which operations the pipelined schedule cuts into one per sample: forward and backward work (but not a
    declaration of resident state), stochastic pulsed updates (one rank-1 update per sample) and the update-phase
    work they wait for. Everything else (transfers, whole-pulse writes, a digital weight update) is done once per
    batch."""
    split = [op.phase in _PER_SAMPLE_PHASES and not (type(op) is BufferAccess and op.kind == "keep") for op in ops]
    feeds = [False] * len(ops)
    for index in reversed(range(len(ops))):
        op = ops[index]
        if op.phase != "update":
            continue
        if (type(op) is PulseUpdate and op.stochastic) or feeds[index]:
            split[index] = True
            for dep in op.deps:
                if 0 <= dep < index and ops[dep].phase == "update":
                    feeds[dep] = True
    return split


def _share(total: int, samples: int, sample: int) -> int:
    """Sample ``sample``'s part of ``total`` cut into ``samples`` parts (the remainder to the first ones)."""
    return total // samples + (1 if sample < total % samples else 0)


def _slice(op: Operation, samples: int, sample: int, deps: tuple[int, ...]) -> Operation:
    """One sample's part of a per-sample operation: every size and count divided among the samples."""

    def part(total: int) -> int:
        return _share(total, samples, sample)

    if type(op) is Mvm:
        return replace(op, vectors=part(op.vectors), retries=part(op.retries), deps=deps)
    if type(op) is PulseUpdate:
        return replace(
            op,
            samples=part(op.samples),
            bl=part(op.bl),
            row_pulses=part(op.row_pulses),
            col_pulses=part(op.col_pulses),
            device_pulses=part(op.device_pulses),
            deps=deps,
        )
    if type(op) is TransferRead:
        return replace(op, columns=part(op.columns), retries=part(op.retries), deps=deps)
    if type(op) is TransferWrite:
        rows = None if op.row_pulses is None else part(op.row_pulses)
        cols = None if op.col_pulses is None else part(op.col_pulses)
        return replace(
            op,
            columns=part(op.columns),
            bl=part(op.bl),
            device_pulses=part(op.device_pulses),
            row_pulses=rows,
            col_pulses=cols,
            deps=deps,
        )
    if type(op) is Digital:
        return replace(op, count=part(op.count), deps=deps)
    if type(op) is Move or type(op) is BufferAccess:
        return replace(op, bits=part(op.bits), deps=deps)
    raise ArchsimError(f"unknown operation {op!r}; expected one of the classes of archsim.ops")


def pipeline_ops(ops: Sequence[Operation], samples: int) -> tuple[list[Operation], list[int], list[int | None]]:
    """A step's operations as the pipelined schedule runs them: each per-sample operation (:func:`per_sample`)
    becomes ``samples`` operations, one per sample, depending on the same sample's parts of its dependencies; a
    whole operation depends on every part of its dependencies. Listed operation by operation (so every
    operation still follows all parts of those before it).

    Returns the operations, their queueing ranks (older samples first, then program order; whole operations
    after the last sample's parts) and the sample of each (None: whole)."""
    split = per_sample(ops)
    n = len(ops)
    parts: list[list[int]] = []  # original index -> indices of its parts (one if whole)
    out: list[Operation] = []
    ranks: list[int] = []
    sample_of: list[int | None] = []
    for index, op in enumerate(ops):
        if split[index]:
            mine = []
            for sample in range(samples):
                deps = tuple(parts[d][sample] if split[d] else parts[d][0] for d in op.deps)
                mine.append(len(out))
                out.append(_slice(op, samples, sample, deps))
                ranks.append(sample * n + index)
                sample_of.append(sample)
            parts.append(mine)
        else:
            deps = tuple(sorted({part for d in op.deps for part in parts[d]}))
            parts.append([len(out)])
            out.append(replace(op, deps=deps))
            ranks.append((samples - 1) * n + index)
            sample_of.append(None)
    return out, ranks, sample_of
