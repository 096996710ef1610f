"""The engine's fast paths against its reference paths: the compiled replay against the Python evaluation of a
record, structures made from an interned shape against SimPy without the cache, and the deferred StepCost."""

import dataclasses
import random

import numpy as np
import pytest
from test_engine import TT_ARRAYS, TT_SETS, comparable, random_step_family, run

from archsim.config import load_hw_config
from archsim.engine import Engine
from archsim.engine import replay as compiled
from archsim.engine.ledger import StepCost, deferred_step_cost
from archsim.hw import Architecture
from archsim.mapping import Mapping
from archsim.ops import ArrayId, Digital, Move, Mvm, PulseUpdate, TransferRead, TransferWrite


def test_the_compiled_schedule_validates_its_arrays():
    # two operations on one resource, the second waiting for the first
    skeleton = compiled.describe([(), (0,)], [[0], [0]], [1], [0, 1], [(0, 0), (1, 0)], 1, [0, 0], [3, 4])
    out = np.empty(compiled.out_size(skeleton), dtype=np.int64)
    first_work = np.empty(1, dtype=np.int64)
    assert compiled.schedule(skeleton, np.array([3, 4], dtype=np.int64), np.zeros(1, dtype=np.int64), out, first_work)
    # latency, the phase's span, the resource's busy cycles, the starts, the ends
    assert out.tolist() == [7, 0, 7, 7, 0, 3, 3, 7]
    with pytest.raises(TypeError):
        compiled.schedule(skeleton, np.array([3, 4], dtype=np.int32), np.zeros(1, dtype=np.int64), out, first_work)
    with pytest.raises(ValueError):
        compiled.schedule(skeleton, np.array([3], dtype=np.int64), np.zeros(1, dtype=np.int64), out, first_work)


def counted_step_family(mapping, seed):
    """A Tiki-Taka-like step whose operations stay while the counts that only set cycles (a read's retries, a
    pulsed write's BL, some of them zero) and the data's counts (pulses, read loads, some of them zero) change."""
    shape_rng = random.Random(seed)
    fast, slow = mapping.blocks(0, "A"), mapping.blocks(0, "C")
    stochastic = [shape_rng.random() < 0.7 for _ in fast]

    def draw(rng):
        ops = []
        for k, (a, c) in enumerate(zip(fast, slow, strict=False)):
            load = rng.choice((None, 0.0, rng.random(), rng.random()))
            # each block's read waits for the previous block's digital work: few contended grants, so most steps
            # keep the recorded order and replay
            ops.append(Move("digital", c, 512, "forward", (len(ops) - 5,) if ops else ()))
            ops.append(Mvm(c, "forward", 4, 64, 32, 8, 8, rng.choice((0, 0, 0, 1)), "forward", (len(ops) - 1,), load))
            ops.append(Digital("add", 256 * rng.randint(1, 2), "forward", (len(ops) - 1,)))
            if k == 0:
                # re-reads only: no pass at all without retries (no time, and none of a read's charges)
                ops.append(Mvm(c, "backward", 0, 64, 32, 8, 8, 0 if rng.random() < 0.2 else 2, "backward", (len(ops) - 1,)))
            bl = 0 if rng.random() < 0.05 else rng.choice((5, 5, 6))
            ops.append(
                PulseUpdate(a, 4, bl, rng.randint(0, 99), rng.randint(0, 99), rng.randint(0, 99), "update",
                            (len(ops) - 1,), stochastic[k])
            )
            ops.append(TransferRead(a, 1, 64, 8, 8, rng.choice((0, 0, 1)), "transfer", (len(ops) - 1,), rng.random()))
            ops.append(Move(a, c, 512, "transfer", (len(ops) - 1,)))
            ops.append(TransferWrite(c, 1, 0 if rng.random() < 0.05 else rng.choice((7, 8)), rng.randint(0, 50), "transfer", (len(ops) - 1,),
                                     stochastic=not stochastic[k]))
        return ops

    return draw


def generic_charges(costing, ops):
    """A step's charges as the generic accounting adds them: every operation's static charges, then the
    data-dependent ones in program order (the order the ledger's keys come in)."""
    plans = costing.step_plans(ops, [costing.plan(op, index) for index, op in enumerate(ops)])
    quanta = {}
    for op, plan in zip(ops, plans, strict=True):
        for component, q in plan.static_quanta or ():
            quanta[(component, op.phase)] = quanta.get((component, op.phase), 0) + q
    for op, plan in zip(ops, plans, strict=True):
        if plan.static_quanta is None:
            for component, q in costing.dynamic_quanta(op):
                quanta[(component, op.phase)] = quanta.get((component, op.phase), 0) + q
    return plans, list(quanta.items())


@pytest.mark.parametrize("policy", ["inline", "background"])
def test_structures_made_from_a_shape_equal_compiled_ones_and_simpy(policy):
    hw = load_hw_config("default", list(TT_SETS))
    mapping = Mapping.build(Architecture(hw), TT_ARRAYS)
    for seed in range(3):
        draw = counted_step_family(mapping, seed)
        rng = random.Random(seed)
        steps = [draw(rng) for _ in range(40)]
        full = run(policy, False, steps)
        fast = run(policy, True, steps)
        assert [comparable(c) for c in full[1]] == [comparable(c) for c in fast[1]]
        assert comparable(full[3]) == comparable(fast[3])
        assert full[0].utilisation() == fast[0].utilisation()
        assert full[0].chrome_trace() == fast[0].chrome_trace()
        if policy == "inline":
            assert fast[0].replays + fast[0].scheduled >= 5
        # every step's plans and charges (keys in order) are those of compiling it afresh
        engine = Engine(fast[0].arch, fast[0].mapping, transfer_policy=policy)
        for ops in steps:
            cost = engine.run_step(ops)
            plans, charges = generic_charges(engine.costing, ops)
            assert engine._plans[engine._next_sid - 1 if not cost.cached else last_sid(engine, ops)] == plans
            assert [(k, q) for k, q in cost.energy_quanta.items() if k[0] != "leakage"] == charges


def last_sid(engine, ops):
    from archsim.engine.costing import CYCLE_COUNT_FIELDS, shape_key

    shape = engine._shapes[(1, tuple(shape_key(op) for op in ops))]
    return shape.structures[tuple(getattr(ops[i], CYCLE_COUNT_FIELDS[type(ops[i])]) for i, _ in shape.counted)]


def test_a_step_cost_derived_on_first_access_equals_one_made_at_once():
    quanta = {("adc", "forward"): 4096 * 3 + 1, ("leakage", "forward"): 17, ("dac", "backward"): 5}
    made = StepCost.from_quanta(quanta, 120, 1.25, {"forward": 100, "backward": 20}, ops=7, cached=True)
    deferred = deferred_step_cost(quanta, 120, 1.25, {"forward": 100, "backward": 20}, ops=7, cached=True)
    assert deferred.cached and deferred.ops == 7 and deferred.steps == 1  # (fields with class defaults)
    assert deferred == made and made == deferred
    assert dataclasses.asdict(deferred) == dataclasses.asdict(made)
    assert repr(deferred) == repr(made)
    assert deferred != dataclasses.replace(made, latency_cycles=121)
    assert isinstance(deferred, StepCost)


def _fast_paths_agree_with_simulation(ports: int, seed_base: int, path: str) -> tuple[int, int]:
    """Random step families costed by the full simulation and by the engine's fast paths give the same step costs,
    totals, utilisation (in the same order) and traces. Returns how many steps the fast path counted by the engine's
    attribute ``path`` timed, and how many were simulated."""
    sets = (*TT_SETS, f"buffer.ports={ports}")
    mapping = Mapping.build(Architecture(load_hw_config("default", list(sets))), TT_ARRAYS)
    timed = simulated = 0
    for seed in range(6):
        draw = random_step_family(mapping, seed)
        rng = random.Random(seed_base + seed)
        steps = [draw(rng) for _ in range(30)]
        full = run("inline", False, steps, sets=sets)
        fast = run("inline", True, steps, sets=sets)
        timed += getattr(fast[0], path)
        simulated += fast[0].cache_misses
        assert [comparable(c) for c in full[1]] == [comparable(c) for c in fast[1]]
        assert comparable(full[3]) == comparable(fast[3])
        assert list(full[0].utilisation().items()) == list(fast[0].utilisation().items())
        assert full[0].chrome_trace() == fast[0].chrome_trace()
    return timed, simulated


@pytest.mark.parametrize("ports", [1, 2, 3])
def test_schedules_worked_out_without_simpy_equal_simulation_on_random_steps(ports, monkeypatch):
    # no recorded run applies: every step after the first is scheduled anew and checked, or simulated
    monkeypatch.setattr(Engine, "_replay_record", lambda self, sid: None)
    scheduled, simulated = _fast_paths_agree_with_simulation(ports, 300, "scheduled")
    assert scheduled >= 30 and simulated >= 5  # both paths taken


@pytest.mark.parametrize("ports", [1, 3])
def test_replays_of_recorded_runs_equal_simulation_on_random_steps(ports, monkeypatch):
    # no schedule is worked out anew: every step after the first replays a record, or is simulated and recorded
    monkeypatch.setattr(Engine, "_schedule_step", lambda self, sid: None)
    replays, simulated = _fast_paths_agree_with_simulation(ports, 400, "replays")
    assert replays >= 20 and simulated >= 20  # both paths taken


def test_a_first_step_whose_new_resources_start_work_in_one_cycle_is_simulated():
    from test_engine import setup

    def first(retries):
        # two reads on two tiles: the utilisation table lists resources in the order they first worked
        _, _, mapping, engine, _ = setup(*TT_SETS, arrays=TT_ARRAYS)
        blocks = mapping.blocks(0, "C")[:2]
        assert mapping.tile_of(blocks[0]) != mapping.tile_of(blocks[1])
        ops = [Mvm(block, "forward", 4, 32, 32, 8, 8, r) for block, r in zip(blocks, retries, strict=True)]
        reference = setup(*TT_SETS, arrays=TT_ARRAYS, cache=False)[3]
        assert comparable(engine.run_step(ops)) == comparable(reference.run_step(ops))
        assert list(engine.utilisation()) == list(reference.utilisation())
        return engine

    # ending in different cycles: the order is the order of their ends, and the step is scheduled
    assert first((0, 2)).scheduled == 1
    # ending in one cycle: which one SimPy fires first is its event order; simulated
    engine = first((1, 1))
    assert (engine.scheduled, engine.cache_misses) == (0, 1)


def test_steps_longer_than_the_compiled_schedule_counts_are_simulated_exactly():
    # a DRAM so slow that one load takes more cycles than an int64 holds: such steps are simulated with Python
    # integers, never scheduled in the compiled kernel's int64 (which overflowed, on a fuzzed configuration)
    sets = (*TT_SETS, "dram.bandwidth=1e-12")
    mapping = Mapping.build(Architecture(load_hw_config("default", list(sets))), TT_ARRAYS)
    block = mapping.blocks(0, "C")[0]
    step = [Move("io", "digital", 512, "forward"), Mvm(block, "forward", 4, 64, 32, 8, 8, 0, "forward", (0,))]
    full = run("inline", False, [step] * 3, sets=sets)
    fast = run("inline", True, [step] * 3, sets=sets)
    assert full[1][0].latency_cycles > 2**63
    assert [comparable(c) for c in full[1]] == [comparable(c) for c in fast[1]]
    assert comparable(full[3]) == comparable(fast[3])
