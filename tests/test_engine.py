"""The SimPy engine: hand-computed latencies and energies from the ERT, the exact ledger, caching, trace."""

import dataclasses
import json
import math
import random
import typing

import networkx as nx
import pytest

from archsim.config import load_hw_config
from archsim.engine import COMPONENTS, Engine
from archsim.errors import ArchsimError
from archsim.hw import Architecture
from archsim.mapping import Mapping
from archsim.ops import (
    PHASES,
    ArrayId,
    BufferAccess,
    Digital,
    Move,
    Mvm,
    Operation,
    PulseUpdate,
    TransferRead,
    TransferWrite,
)

QUANTUM_PJ = 2.0 ** -12  # ledger resolution: each charge is rounded to this once


def setup(*sets, arrays=None, **engine_options):
    hw = load_hw_config("default", ["leakage.gate_unused_tiles=false", *sets])
    arch = Architecture(hw)
    mapping = Mapping.build(arch, arrays or {(0, "W"): (hw.tile.cols, hw.tile.rows)})
    engine = Engine(arch, mapping, **engine_options)
    ert = {(e["component"], e["action"]): e for e in arch.ert()}
    return hw, arch, mapping, engine, ert


def cycles(ns, hw):
    return math.ceil(ns * hw.clock / 1e9 - 1e-9)


def leakage_pj(ert, n_cycles):
    """Static energy over n_cycles from the ERT's per-instance, per-cycle leakage entries."""
    return sum(e["energy_pj"] * e["parameters"]["instances"] for (c, _), e in ert.items() if c == "leakage") * n_cycles


# ------------------------------------------------------------------------------------------------
# hand-computed single operations
# ------------------------------------------------------------------------------------------------

def test_one_mvm_on_one_tile():
    hw, arch, mapping, engine, ert = setup("tile.adcs=256")  # one ADC per column
    rows, cols = hw.tile.rows, hw.tile.cols
    cost = engine.run_step([Mvm(ArrayId(0, "W", 0, 0), "forward", 1, rows, cols, 8, 8)])
    read = cycles(ert[("array_read", "read_cell")]["latency_ns"], hw)
    convert = cycles(ert[("adc", "convert")]["latency_ns"], hw)  # one conversion per ADC
    assert cost.latency_cycles == read + convert == 11
    expected = {"adc": cols * ert[("adc", "convert")]["energy_pj"],
                "dac": rows * ert[("dac", "drive")]["energy_pj"],
                "array_read": rows * cols * ert[("array_read", "read_cell")]["energy_pj"],
                "leakage": leakage_pj(ert, cost.latency_cycles)}
    for component, energy in expected.items():
        assert cost.energy_pj_by_component[component] == pytest.approx(energy, abs=QUANTUM_PJ)
    assert cost.energy_pj == pytest.approx(sum(expected.values()), abs=4 * QUANTUM_PJ)
    assert cost.energy_pj_by_phase["forward"] == cost.energy_pj
    assert cost.latency_ns == pytest.approx(11 * 1e9 / hw.clock)


def test_adc_shared_by_eight_columns_takes_eight_conversion_times():
    rate = "100MHz"  # 10 ns conversions, so that conversion dominates the 10 ns read
    _, _, _, alone, ert = setup("tile.adcs=256", f"adc.sample_rate={rate}")
    hw, _, _, shared, ert_shared = setup("tile.adcs=32", f"adc.sample_rate={rate}")
    mvm = Mvm(ArrayId(0, "W", 0, 0), "forward", 1, hw.tile.rows, hw.tile.cols, 8, 8)
    one, eight = alone.run_step([mvm]), shared.run_step([mvm])
    read = cycles(ert[("array_read", "read_cell")]["latency_ns"], hw)
    conversion = cycles(ert[("adc", "convert")]["latency_ns"], hw)
    assert one.latency_cycles == read + conversion == 20
    assert eight.latency_cycles == read + cycles(8 * ert_shared[("adc", "convert")]["latency_ns"], hw) == 90
    # the same 256 conversions either way: ADC energy does not change with sharing
    assert eight.energy_pj_by_component["adc"] == one.energy_pj_by_component["adc"]
    # four vectors pipeline through the sample-and-holds: 4 x max(read, convert) + min(read, convert)
    four = shared.run_step([Mvm(ArrayId(0, "W", 0, 0), "forward", 4, hw.tile.rows, hw.tile.cols, 8, 8)])
    assert four.latency_cycles == 4 * 80 + 10


def test_two_tiles_in_parallel_take_the_max_two_reads_on_one_digital_unit_the_sum():
    hw, arch, mapping, engine, ert = setup("tile.adcs=256", "digital.units=1", arrays={(0, "W"): (256, 512)})
    a, b = ArrayId(0, "W", 0, 0), ArrayId(0, "W", 1, 0)
    assert mapping.tile_of(a) != mapping.tile_of(b)
    read = cycles(ert[("array_read", "read_cell")]["latency_ns"], hw)
    convert = cycles(ert[("adc", "convert")]["latency_ns"], hw)
    single = [engine.run_step([Mvm(x, "forward", v, 256, 256, 8, 8)]).latency_cycles for x, v in ((a, 1), (b, 3))]
    assert single == [read + convert, 3 * read + convert]
    both = engine.run_step([Mvm(a, "forward", 1, 256, 256, 8, 8), Mvm(b, "forward", 3, 256, 256, 8, 8)])
    assert both.latency_cycles == max(single)
    # the same two reads on one tile queue on its crossbar and readout
    same_tile = engine.run_step([Mvm(a, "forward", 1, 256, 256, 8, 8), Mvm(a, "forward", 3, 256, 256, 8, 8)])
    assert same_tile.latency_cycles == sum(single)

    # a vector operation spreads over every lane of every digital unit; two operations run one after the other
    lane_cycles = round(ert[("digital", "activation")]["latency_ns"] / arch.cycle_ns)
    work = [math.ceil(n * lane_cycles / (hw.digital.lanes * hw.digital.units)) for n in (100, 3000)]
    queued = engine.run_step([Digital("activation", 100), Digital("activation", 3000)])
    assert queued.latency_cycles == sum(work)
    assert queued.energy_pj_by_component["digital"] == pytest.approx(3100 * ert[("digital", "activation")]["energy_pj"],
                                                                     abs=2 * QUANTUM_PJ)
    _, _, _, one_unit, _ = setup("digital.units=1")
    assert one_unit.run_step([Digital("activation", 3000)]).latency_cycles == math.ceil(
        3000 * lane_cycles / hw.digital.lanes)


def test_noc_move_hops_follow_the_networkx_shortest_path():
    hw, arch, mapping, engine, ert = setup("tile.count=16", "mapping.placement=linear",
                                           arrays={(0, "W"): (256, 256 * 16)})  # 4x4 mesh, block r on tile r
    far, near = ArrayId(0, "W", 15, 0), ArrayId(0, "W", 0, 0)
    src, dst = mapping.node_of(far), mapping.node_of(near)
    hops = nx.shortest_path_length(arch.graph, src, dst)
    assert hops == 6
    bits = 1000
    flits = math.ceil(bits / hw.noc.link_width)
    cost = engine.run_step([Move(far, near, bits)])
    hop_cycles = round(ert[("noc", "flit_hop")]["latency_ns"] / arch.cycle_ns)
    assert hop_cycles == hw.noc.router_delay + hw.noc.link_delay
    assert cost.latency_cycles == hops * hop_cycles + flits
    assert cost.energy_pj_by_component["noc"] == pytest.approx(flits * hops * ert[("noc", "flit_hop")]["energy_pj"],
                                                               abs=QUANTUM_PJ)
    # two moves over the same links queue; moves on disjoint routes overlap
    other = ArrayId(0, "W", 14, 0)
    both = engine.run_step([Move(far, near, bits), Move(other, near, bits)])
    assert both.latency_cycles > cost.latency_cycles
    moves = [(far, ArrayId(0, "W", 11, 0)), (near, ArrayId(0, "W", 1, 0))]
    route_hops = [nx.shortest_path_length(arch.graph, mapping.node_of(a), mapping.node_of(b)) for a, b in moves]
    disjoint = engine.run_step([Move(a, b, bits) for a, b in moves])
    # the two routes share no link, so the step takes as long as the longer move, not the sum of both
    assert disjoint.latency_cycles == max(route_hops) * hop_cycles + flits
    assert disjoint.latency_cycles < sum(h * hop_cycles + flits for h in route_hops)


def test_pulsed_update_latency_is_bl_slots_and_energy_scales_with_pulses():
    hw, arch, mapping, engine, ert = setup()
    block = ArrayId(0, "W", 0, 0)
    cost = engine.run_step([PulseUpdate(block, samples=10, bl=310, row_pulses=500, col_pulses=700,
                                        device_pulses=1234)])
    assert cost.latency_cycles == cycles(310 * ert[("array_write", "device_pulse")]["latency_ns"], hw)
    half_selected = 500 * 256 + 700 * 256 - 2 * 1234   # cells on a pulsed line that are not coincidences
    assert cost.energy_pj_by_component["array_write"] == pytest.approx(
        1234 * ert[("array_write", "device_pulse")]["energy_pj"]
        + half_selected * ert[("array_write", "half_selected_cell")]["energy_pj"], abs=QUANTUM_PJ)
    assert cost.energy_pj_by_component["pulse_generator"] == pytest.approx(
        500 * ert[("pulse_generator", "row_pulse")]["energy_pj"] + 700 * ert[("pulse_generator", "col_pulse")]["energy_pj"],
        abs=QUANTUM_PJ)
    assert cost.energy_pj_by_phase["update"] == cost.energy_pj


# ------------------------------------------------------------------------------------------------
# multi-step Tiki-Taka runs: ledger, policies, cache
# ------------------------------------------------------------------------------------------------

SIZES = (96, 48, 10)
TT_ARRAYS = {(layer, role): (SIZES[layer + 1], SIZES[layer]) for layer in range(2) for role in "AC"}
TT_SETS = ("tile.rows=64", "tile.cols=32", "tile.count=16", "tile.adcs=8")


def tiki_taka_step(mapping, rng, batch=4, retry_probability=0.15, vary_bl=False):
    """A Tiki-Taka step as the algorithms emit it: reads of C, pulsed updates of A, transfers A -> C
    (``vary_bl``: every update and transfer draws its BL, as update-BL management does)."""
    ops = []

    def add(op):
        ops.append(op)
        return len(ops) - 1

    previous = ()
    for layer in range(2):
        outs = []
        for block in mapping.blocks(layer, "C"):
            rows, cols = mapping.shape_of(block)
            move_in = add(Move("digital", block, batch * rows * 8, "forward", previous))
            retries = rng.choice((1, 2)) if rng.random() < retry_probability else 0
            read = add(Mvm(block, "forward", batch, rows, cols, 8, 8, retries, "forward", (move_in,)))
            outs.append(add(Move(block, "digital", batch * cols * 8, "forward", (read,))))
        total = add(Digital("add", batch * SIZES[layer + 1] * len(outs), "forward", tuple(outs)))
        previous = (add(Digital("activation", batch * SIZES[layer + 1], "forward", (total,))),)
    for layer in reversed(range(2)):
        outs = []
        for block in mapping.blocks(layer, "C"):
            rows, cols = mapping.shape_of(block)
            move_in = add(Move("digital", block, batch * cols * 8, "backward", previous))
            read = add(Mvm(block, "backward", batch, rows, cols, 8, 8, 0, "backward", (move_in,)))
            outs.append(add(Move(block, "digital", batch * rows * 8, "backward", (read,))))
        previous = (add(Digital("mult", batch * SIZES[layer], "backward", tuple(outs))),)
    updates = []
    for block in mapping.blocks(role="A"):
        rows, cols = mapping.shape_of(block)
        bl = rng.randrange(1, batch * 31 + 1) if vary_bl else batch * 31
        updates.append(add(PulseUpdate(block, batch, bl, rng.randrange(bl * rows),
                                       rng.randrange(bl * cols), rng.randrange(2000), "update", previous)))
    for block in mapping.blocks(role="A"):
        rows, cols = mapping.shape_of(block)
        read = add(TransferRead(block, 1, rows, 8, 8, 0, "transfer", tuple(updates)))
        slow = ArrayId(block.layer, "C", block.row_block, block.col_block)
        move = add(Move(block, slow, rows * 8, "transfer", (read,)))
        add(TransferWrite(slow, 1, rng.randrange(1, 32) if vary_bl else 31, rng.randrange(100), "transfer", (move,)))
    return ops


def run(policy, cache, steps, placement="separate_tiles", trace=True, schedule="sequential", sets=TT_SETS):
    hw = load_hw_config("default", [*sets, f"mapping.array_placement={placement}"])
    arch = Architecture(hw)
    mapping = Mapping.build(arch, TT_ARRAYS)
    engine = Engine(arch, mapping, transfer_policy=policy, cache=cache, trace=trace, schedule=schedule)
    costs, carried = [], []
    for ops in steps:
        costs.append(engine.run_step(ops, 4))
        carried.append(engine.carried_operations)
    return engine, costs, carried, engine.totals()


def make_steps(n, seed=3, placement="separate_tiles", vary_bl=False):
    hw = load_hw_config("default", [*TT_SETS, f"mapping.array_placement={placement}"])
    mapping = Mapping.build(Architecture(hw), TT_ARRAYS)
    rng = random.Random(seed)
    return [tiki_taka_step(mapping, rng, vary_bl=vary_bl) for _ in range(n)]


def comparable(cost):
    return (cost.latency_cycles, cost.energy_quanta, cost.latency_ns_by_phase, cost.energy_pj_by_component,
            cost.energy_pj_by_phase, cost.energy_pj_by_component_phase, cost.energy_pj, cost.ops)


@pytest.mark.parametrize("placement", ["same_tile", "separate_tiles"])
def test_cached_equals_uncached_with_background_transfers(placement):
    steps = make_steps(60, placement=placement)
    full, full_costs, full_carried, full_totals = run("background", False, steps, placement)
    fast, fast_costs, fast_carried, fast_totals = run("background", True, steps, placement)
    # the cache was really used, also on boundaries where transfers carry over into the next step
    assert fast.cache_hits >= 20
    assert any(n > 0 for n in full_carried)
    assert sum(1 for cost, n in zip(fast_costs, [0] + fast_carried) if cost.cached and n) >= 5
    assert any(cost.cached for cost in fast_costs) and not any(cost.cached for cost in full_costs)
    assert full_carried == fast_carried
    assert [comparable(c) for c in full_costs] == [comparable(c) for c in fast_costs]
    assert comparable(full_totals) == comparable(fast_totals)
    assert full.chrome_trace() == fast.chrome_trace()


@pytest.mark.parametrize(
    ("policy", "schedule", "placement"),
    [
        ("inline", "sequential", "separate_tiles"),
        ("inline", "sequential", "same_tile"),
        ("inline", "pipelined", "separate_tiles"),
        ("background", "sequential", "same_tile"),
        ("background", "pipelined", "separate_tiles"),
    ],
)
def test_replayed_steps_equal_simulated_ones_when_bl_and_pulses_vary_every_step(policy, schedule, placement):
    # every step has its own BL, retries and pulse counts: a new structure each time, the same skeleton
    steps = make_steps(40, seed=5, placement=placement, vary_bl=True)
    full = run(policy, False, steps, placement, schedule=schedule)
    fast = run(policy, True, steps, placement, schedule=schedule)
    # Steps with background work are simulated (they cannot be replayed); pipelined steps replay only while the
    # samples keep their order on every resource, rarely so when the BL of every update is drawn anew.
    if policy == "inline" and schedule == "sequential":
        assert fast[0].replays + fast[0].scheduled >= 10
        assert fast[0].cache_misses < 30
    assert [comparable(c) for c in full[1]] == [comparable(c) for c in fast[1]]
    assert full[2] == fast[2]
    assert comparable(full[3]) == comparable(fast[3])
    assert full[0].utilisation() == fast[0].utilisation()
    assert list(full[0].utilisation()) == list(fast[0].utilisation())  # first-use order too (reports rank by it)
    assert full[0].chrome_trace() == fast[0].chrome_trace()


def test_a_step_whose_grant_order_changes_is_scheduled_anew_and_a_tie_is_simulated():
    _, _, mapping, engine, _ = setup(*TT_SETS, arrays=TT_ARRAYS)
    reference = setup(*TT_SETS, arrays=TT_ARRAYS, cache=False)[3]
    first, second = mapping.blocks(0, "C")[:2]
    assert mapping.tile_of(first) != mapping.tile_of(second)

    def step(retries_first, retries_second):
        # two reads on two tiles, each followed by digital work on the one digital unit: whichever read ends
        # first takes the unit first
        return [
            Mvm(first, "forward", 4, 32, 32, 8, 8, retries_first),
            Mvm(second, "forward", 4, 32, 32, 8, 8, retries_second),
            Digital("add", 4000, deps=(0,)),
            Digital("add", 4000, deps=(1,)),
        ]

    steps = [step(0, 3), step(1, 4), step(3, 0), step(4, 1), step(2, 2)]
    costs = [engine.run_step(ops) for ops in steps]
    expected = [reference.run_step(ops) for ops in steps]
    assert [comparable(c) for c in costs] == [comparable(c) for c in expected]
    # every step but the last is scheduled without SimPy, whatever the unit's order (a record of the first step
    # would not apply to the swapped order); both reads ending in one cycle: which digital op the unit takes first
    # is SimPy's event order, simulated
    assert [c.cached for c in costs] == [True, True, True, True, False]
    assert (engine.replays, engine.scheduled) == (0, 4)


def test_retries_are_part_of_the_structure():
    ops = make_steps(1)[0]
    index = next(i for i, op in enumerate(ops) if isinstance(op, Mvm))
    again = list(ops)
    again[index] = dataclasses.replace(ops[index], retries=ops[index].retries + 3)
    engine = run("inline", True, [])[0]
    first = engine.run_step(ops)
    timed = (engine.cache_misses, engine.replays, engine.scheduled)
    second = engine.run_step(again)
    # a different structure, not a cache hit: timed anew (simulated, replayed or scheduled)
    assert sum(now - before for now, before in zip((engine.cache_misses, engine.replays, engine.scheduled), timed,
                                                   strict=True)) == 1
    assert second.latency_cycles > first.latency_cycles  # bound-management re-reads are extra MVM passes
    timed = (engine.cache_misses, engine.replays, engine.scheduled)
    repeat = engine.run_step(again)
    assert repeat.cached and repeat.latency_cycles == second.latency_cycles
    assert (engine.cache_misses, engine.replays, engine.scheduled) == timed  # recalled


def test_every_ledger_component_is_charged_by_the_cost_models():
    """One operation of each kind charges every ledger component and nothing else: no component in the list
    that no cost model charges, and no cost model charging a name the list (and so the report) lacks."""
    engine = setup("adc.integrator_energy=1pJ")[3]
    w = ArrayId(0, "W", 0, 0)
    step = [
        Mvm(w, "forward", 2, 256, 256, 8, 8),
        PulseUpdate(w, 2, 10, 40, 40, 90),
        TransferRead(w, 1, 256, 8, 8),
        TransferWrite(w, 1, 10, 20),
        Digital("add", 100),
        Move("io", "buffer", 512),
        BufferAccess("write", 512),
        BufferAccess("read", 512, layer=0, footprint=8),  # a convolution's line buffer
    ]
    assert {type(op) for op in step} == set(typing.get_args(Operation))  # every kind of operation
    engine.run_step(step)
    totals = engine.totals()
    charged = {component for (component, _), quanta in totals.energy_quanta.items() if quanta > 0}
    assert charged == set(COMPONENTS)


def test_ledger_balances_exactly():
    engine, costs, _, totals = run("background", True, make_steps(30))
    for cost in costs + [totals]:
        assert set(cost.energy_pj_by_phase) == set(PHASES)
        assert sum(cost.energy_pj_by_component.values()) == cost.energy_pj
        assert sum(cost.energy_pj_by_phase.values()) == cost.energy_pj
        assert sum(cost.energy_pj_by_component_phase.values()) == cost.energy_pj
        assert math.fsum(cost.energy_pj_by_component.values()) == cost.energy_pj
        for phase in PHASES:
            assert sum(v for (c, p), v in cost.energy_pj_by_component_phase.items() if p == phase) == \
                cost.energy_pj_by_phase[phase]
    # totals are the sum of the steps plus the leakage of the background tail
    step_quanta = sum(sum(c.energy_quanta.values()) for c in costs)
    assert sum(totals.energy_quanta.values()) >= step_quanta
    tail = sum(totals.energy_quanta.values()) - step_quanta
    assert tail == sum(q for (c, _), q in totals.energy_quanta.items() if c == "leakage") - \
        sum(q for c in costs for (comp, _), q in c.energy_quanta.items() if comp == "leakage")
    # leakage = static power x simulated time (up to one quantum per window and phase)
    leak = totals.energy_pj_by_component["leakage"]
    assert leak == pytest.approx(engine.static_power_w * totals.latency_ns * 1e3, abs=len(costs) * 8 * QUANTUM_PJ)


def test_background_transfers_overlap_the_next_step():
    steps = make_steps(20)
    _, inline_costs, inline_carried, inline_totals = run("inline", True, steps, trace=False)
    _, background_costs, background_carried, background_totals = run("background", True, steps, trace=False)
    assert not any(inline_carried)
    assert background_totals.latency_cycles < inline_totals.latency_cycles
    assert sum(c.latency_cycles for c in background_costs) < sum(c.latency_cycles for c in inline_costs)
    # same work, same dynamic energy; only leakage differs with the time taken
    dynamic = [sum(v for k, v in t.energy_quanta.items() if k[0] != "leakage") for t in (inline_totals, background_totals)]
    assert dynamic[0] == dynamic[1]


def test_chrome_trace_is_valid_trace_event_json():
    engine, costs, _, _ = run("background", True, make_steps(3))
    trace = json.loads(json.dumps(engine.chrome_trace()))
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(events) >= sum(c.ops for c in costs)
    for event in events:
        assert {"name", "ts", "dur", "pid", "tid", "cat"} <= set(event) and event["dur"] >= 0
        assert event["cat"] in PHASES
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M"}
    assert any(name.startswith("tile ") for name in names) and "noc" in names
    # events on one thread never overlap (Perfetto draws them as one lane)
    lanes = {}
    for event in events:
        lanes.setdefault((event["pid"], event["tid"]), []).append((event["ts"], event["ts"] + event["dur"]))
    for spans in lanes.values():
        spans.sort()
        assert all(b[0] >= a[1] - 1e-9 for a, b in zip(spans, spans[1:]))


def test_bad_operations_are_archsim_errors():
    _, _, _, engine, _ = setup()
    with pytest.raises(ArchsimError, match="not placed"):
        engine.run_step([Mvm(ArrayId(5, "W", 0, 0), "forward", 1, 1, 1, 8, 8)])
    with pytest.raises(ArchsimError, match="earlier operations"):
        engine.run_step([Digital("add", 1, "forward", (0,))])
    with pytest.raises(ArchsimError, match="kind"):
        engine.run_step([Digital("sqrt", 1)])


def test_forgetting_structures_keeps_results_identical(monkeypatch):
    steps = make_steps(25)
    full = run("background", False, steps)
    monkeypatch.setattr("archsim.engine.engine.MAX_REMEMBERED_STRUCTURES", 4)
    small = run("background", True, steps)
    assert [comparable(c) for c in full[1]] == [comparable(c) for c in small[1]]
    assert comparable(full[3]) == comparable(small[3])
    assert full[0].chrome_trace() == small[0].chrome_trace()


def random_step_family(mapping, seed, n_ops=30):
    """A random operation DAG over a few shared resources; each call of the returned function draws new counts
    (small, so that ends collide in one cycle often) for the same operations and dependencies."""
    shape_rng = random.Random(seed)
    blocks = mapping.blocks(0, "C") + mapping.blocks(0, "A")
    kinds = [shape_rng.choice(("mvm", "digital", "move", "update", "buffer", "again")) for _ in range(n_ops)]
    # "again" repeats an earlier move: the step sends it once, the repeat takes no time and holds nothing, so
    # processes waiting for it resume a level later in the cycle
    moves = [i for i, kind in enumerate(kinds) if kind == "move"]
    kinds = [
        ("again", shape_rng.choice([m for m in moves if m < i])) if kind == "again" and any(m < i for m in moves)
        else ("move" if kind == "again" else kind)
        for i, kind in enumerate(kinds)
    ]
    places = [shape_rng.choice(blocks) for _ in range(n_ops)]
    deps = [tuple(sorted(shape_rng.sample(range(i), min(i, shape_rng.choice((0, 1, 1, 2)))))) for i in range(n_ops)]
    phases = [("forward", "backward", "update")[min(2, 3 * i // n_ops)] for i in range(n_ops)]

    def draw(rng):
        ops = []
        for i, kind in enumerate(kinds):
            block, d, phase = places[i], deps[i], phases[i]
            if kind == "mvm":
                ops.append(Mvm(block, "forward", rng.randint(1, 3), 16, 16, 8, 8, rng.randint(0, 2), phase, d))
            elif kind == "digital":
                ops.append(Digital("add", rng.randint(1, 3) * 256, phase, d))
            elif kind == "move":
                ops.append(Move("digital", block, 64 * rng.randint(1, 3), phase, d))
            elif isinstance(kind, tuple):
                ops.append(ops[kind[1]])
            elif kind == "update":
                ops.append(PulseUpdate(block, 1, rng.randint(1, 4), 10, 10, 5, phase, d))
            else:
                ops.append(BufferAccess("write", 512 * rng.randint(1, 3), phase, d))
        return ops

    return draw


@pytest.mark.parametrize("ports", [2, 3])  # the buffer's slots: requests of one cycle may all fit, or not
def test_replay_equals_simulation_on_random_steps_with_frequent_ties(ports):
    sets = (*TT_SETS, f"buffer.ports={ports}")
    hw = load_hw_config("default", list(sets))
    mapping = Mapping.build(Architecture(hw), TT_ARRAYS)
    replays = 0
    for seed in range(6):
        draw = random_step_family(mapping, seed)
        rng = random.Random(100 + seed)
        steps = [draw(rng) for _ in range(40)]
        full = run("inline", False, steps, sets=sets)
        fast = run("inline", True, steps, sets=sets)
        replays += fast[0].replays + fast[0].scheduled
        assert [comparable(c) for c in full[1]] == [comparable(c) for c in fast[1]]
        assert comparable(full[3]) == comparable(fast[3])
        assert full[0].utilisation() == fast[0].utilisation()
        assert full[0].chrome_trace() == fast[0].chrome_trace()
    assert replays >= 20
