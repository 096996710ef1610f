"""The pipelined schedule (hw.mapping.schedule): samples stream through the layers; where it stalls (utilisation)."""

import json

import pytest
import yaml

from archsim.config import load_run_config
from archsim.engine import Engine
from archsim.engine.costing import Costing
from archsim.engine.engine import per_sample, pipeline_ops
from archsim.errors import ArchsimError
from archsim.hw import Architecture
from archsim.mapping import Mapping
from archsim.nn.trainer import Trainer
from archsim.ops import ArrayId, Digital, Mvm, PulseUpdate, TransferRead, TransferWrite
from conftest import run_cli

#: A 3-layer FCN on the 8x8 digits.
THREE_LAYERS = {
    "model": {
        "input_shape": [64],
        "layers": [
            {"type": "dense", "out": 48, "activation": "sigmoid"},
            {"type": "dense", "out": 32, "activation": "sigmoid"},
            {"type": "dense", "out": 10},
        ],
        "loss": "cross_entropy",
    },
    "dataset": {"name": "digits", "test_fraction": 0.2},
    "training": {"epochs": 1, "batch_size": 8, "lr": 0.05, "seed": 0},
    "algorithm": {"name": "analog_sgd"},
}


def workload(tmp_path, **sections):
    tree = {key: dict(value) for key, value in THREE_LAYERS.items()}
    for key, value in sections.items():
        tree[key].update(value)
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return str(path)


def recorded_steps(path, sets=(), steps=1):
    """(config, mapping-ready arrays, [(ops, samples)]) of the first ``steps`` training steps."""
    config = load_run_config(path, None, [f"training.max_steps={steps}", *sets])
    trainer = Trainer(config)
    got = []
    trainer.run_epoch(0, lambda ops, samples, loss: got.append((ops, samples)))
    return config, trainer.network.arrays(), got


def engines(config, arrays, **options):
    arch = Architecture(config.hw)
    mapping = Mapping.build(arch, arrays)
    return arch, mapping, {s: Engine(arch, mapping, schedule=s, **options) for s in ("sequential", "pipelined")}


def sequential_work(arch, mapping, ops):
    """Cycles each single-slot resource works in the sequential schedule: a lower bound on any schedule's step
    (cutting an operation into samples never takes less time on its resources)."""
    costing = Costing(arch, mapping, False)
    plans = costing.step_plans(ops, [costing.plan(op, i) for i, op in enumerate(ops)])
    work: dict[tuple, int] = {}
    for plan in plans:
        for key in plan.resources:
            if costing.capacity.get(key, 1) == 1:
                work[key] = work.get(key, 0) + plan.cycles
    return work


def test_pipelined_step_is_shorter_than_sequential_but_not_than_its_busiest_resource(tmp_path):
    config, arrays, [(ops, samples)] = recorded_steps(workload(tmp_path))
    assert samples == 8 and len(arrays) == 3
    arch, mapping, by_schedule = engines(config, arrays, cache=False)
    sequential = by_schedule["sequential"].run_step(ops, samples)
    pipelined = by_schedule["pipelined"].run_step(ops, samples)
    assert pipelined.latency_cycles < sequential.latency_cycles
    busiest = max(sequential_work(arch, mapping, ops).values())
    assert pipelined.latency_cycles >= busiest
    # the busiest resource of the pipelined step works at most the whole step
    shares = by_schedule["pipelined"].utilisation(last_step=True)
    assert max(shares.values()) <= 1.0


def test_schedules_charge_the_same_energy_but_leakage(tmp_path):
    config, arrays, [(ops, samples)] = recorded_steps(workload(tmp_path))
    _, _, by_schedule = engines(config, arrays, cache=False)
    costs = {s: engine.run_step(ops, samples) for s, engine in by_schedule.items()}

    def dynamic(cost):
        return {key: q for key, q in cost.energy_quanta.items() if key[0] != "leakage"}

    assert dynamic(costs["sequential"]) == dynamic(costs["pipelined"])
    leak = {s: cost.energy_pj_by_component["leakage"] for s, cost in costs.items()}
    ratio = costs["pipelined"].latency_cycles / costs["sequential"].latency_cycles
    assert leak["pipelined"] == pytest.approx(leak["sequential"] * ratio, rel=1e-6)  # follows latency


def test_every_update_waits_for_all_samples_reads_of_its_array(tmp_path):
    """The functional model reads the whole batch with the pre-update weights: no part of an array's pulsed
    update may start before the last sample's last read of that array has finished."""
    config, arrays, [(ops, samples)] = recorded_steps(workload(tmp_path))
    _, _, by_schedule = engines(config, arrays, cache=False, trace=True)
    engine = by_schedule["pipelined"]
    engine.run_step(ops, samples)
    reads: dict[ArrayId, int] = {}
    updates: dict[ArrayId, int] = {}
    samples_seen = set()
    for _step, sid, index, start, end in engine._trace:
        plan = engine._plans[sid][index]
        array = next((ArrayId(*key[1:]) for key in plan.resources if key[0] == "array"), None)
        if array is None:
            continue
        if plan.label.startswith("mvm"):
            reads[array] = max(reads.get(array, 0), end)
            samples_seen.add(plan.label.rsplit("sample ", 1)[-1])
        elif plan.label.startswith("update"):
            updates[array] = min(updates.get(array, end), start)
    assert len(samples_seen) == samples  # the reads really were cut into one per sample
    assert set(updates) == set(reads)
    for array, first_update in updates.items():
        assert first_update >= reads[array]
    # and the pipeline really overlaps layers: a later layer reads before the first layer's reads are all done
    first_layer_done = max(end for array, end in reads.items() if array.layer == 0)
    starts = [start for _, sid, index, start, _ in engine._trace
              if engine._plans[sid][index].label.startswith("mvm forward L2")]
    assert min(starts) < first_layer_done


def test_per_sample_operations_and_whole_ones():
    a, c = ArrayId(0, "A", 0, 0), ArrayId(0, "C", 0, 0)
    ops = [
        Mvm(c, "forward", 8, 16, 16, 8, 8),
        Digital("max", 80, "update", (0,)),
        PulseUpdate(a, 4, 40, 20, 20, 10, "update", (1,)),
        Digital("add", 100, "update", (0,)),  # a digital weight update: once per batch
        TransferRead(a, 2, 16, 8, 8, deps=(2,)),
        TransferWrite(c, 2, 20, 7, deps=(4,)),
    ]
    assert per_sample(ops) == [True, True, True, False, False, False]
    streamed, ranks, sample_of = pipeline_ops(ops, 4)
    assert sample_of == [0, 1, 2, 3] * 3 + [None, None, None]
    assert [op.vectors for op in streamed[:4]] == [2, 2, 2, 2]
    assert [op.count for op in streamed[4:8]] == [20, 20, 20, 20]
    assert [op.bl for op in streamed[8:12]] == [10, 10, 10, 10] and sum(op.samples for op in streamed[8:12]) == 4
    assert [op.deps for op in streamed[8:12]] == [(4,), (5,), (6,), (7,)]  # each sample its own
    assert streamed[12].deps == (0, 1, 2, 3)  # a whole operation waits for every sample
    assert streamed[13].deps == (8, 9, 10, 11)
    assert ranks[:4] == [0, 6, 12, 18] and ranks[8] == 2  # older samples first, then program order


def test_utilisation_is_a_share_and_the_bottleneck_is_busy_all_step():
    """A digital unit with a long operation before and after each sample's short read is never idle: it is busy
    the whole step (utilisation 1, the bottleneck) and the step takes exactly its work."""
    hw_config = load_run_config("fcn_digits", None, []).hw
    arch = Architecture(hw_config)
    mapping = Mapping.build(arch, {(0, "W"): (64, 64)})
    block = ArrayId(0, "W", 0, 0)
    ops = [
        Digital("exp", 40000),
        Mvm(block, "forward", 4, 64, 64, 8, 8, deps=(0,)),
        Digital("exp", 40000, deps=(1,)),
    ]
    engine = Engine(arch, mapping, cache=False, schedule="pipelined")
    cost = engine.run_step(ops, 4)
    shares = engine.utilisation(last_step=True)
    assert all(0.0 < share <= 1.0 for share in shares.values())
    assert shares[("digital",)] == 1.0
    assert shares[("readout", mapping.tile_of(block))] < 1.0
    streamed, _, _ = pipeline_ops(ops, 4)
    costing = Costing(arch, mapping, False)
    digital = sum(costing.plan(op, i).cycles for i, op in enumerate(streamed) if isinstance(op, Digital))
    assert cost.latency_cycles == digital
    summary = engine.utilisation_summary()
    assert summary["bottleneck"] == "digital units all units" and summary["schedule"] == "pipelined"


@pytest.mark.parametrize("policy", ["inline", "background"])
def test_pipelined_cache_keys_the_batch_and_equals_uncached(tmp_path, policy):
    path = workload(tmp_path, algorithm={"name": "tiki_taka", "transfer_every": 3, "n_reads_per_transfer": 2})
    config, arrays, steps = recorded_steps(path, [f"hw.mapping.transfer_policy={policy}"], steps=4)
    schedule = [steps[0], steps[1], (steps[0][0], 5), steps[0], steps[1], steps[2], steps[3], steps[0]]
    results = []
    for cache in (False, True):
        arch = Architecture(config.hw)
        mapping = Mapping.build(arch, arrays)
        engine = Engine(arch, mapping, transfer_policy=policy, cache=cache, trace=True, schedule="pipelined")
        costs = [engine.run_step(ops, samples) for ops, samples in schedule]
        results.append((engine, costs, engine.totals(), engine.utilisation()))
    (full, full_costs, full_totals, full_use), (fast, fast_costs, fast_totals, fast_use) = results
    assert not fast_costs[2].cached  # the same operations cut into another batch are another structure
    assert fast.cache_hits >= 1
    assert [(c.latency_cycles, c.energy_quanta) for c in full_costs] == \
        [(c.latency_cycles, c.energy_quanta) for c in fast_costs]
    assert full_costs[2].latency_cycles != full_costs[0].latency_cycles
    assert (full_totals.latency_cycles, full_totals.energy_quanta) == \
        (fast_totals.latency_cycles, fast_totals.energy_quanta)
    assert full_use == fast_use and all(0.0 < share <= 1.0 for share in full_use.values())
    assert full.chrome_trace() == fast.chrome_trace()


def test_pipelined_step_needs_its_batch():
    hw_config = load_run_config("fcn_digits", None, ["hw.mapping.schedule=pipelined"]).hw
    arch = Architecture(hw_config)
    engine = Engine(arch, Mapping.build(arch, {(0, "W"): (8, 8)}))
    assert engine.schedule == "pipelined"
    with pytest.raises(ArchsimError, match="needs the step's batch"):
        engine.run_step([Mvm(ArrayId(0, "W", 0, 0), "forward", 1, 8, 8, 8, 8)])


def test_report_and_trace_show_utilisation(tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", workload(tmp_path), "--steps", "2", "--set", "hw.mapping.schedule=pipelined",
                     "--trace", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["hardware"]["schedule"] == "pipelined"
    use = report["utilisation"]
    assert use["schedule"] == "pipelined" and use["bottleneck"] == next(iter(use["busiest"]))
    assert all(0.0 <= share <= 1.0 for share in use["busiest"].values())
    assert list(use["busiest"].values()) == sorted(use["busiest"].values(), reverse=True)
    trace = json.loads((out / "trace.json").read_text())
    assert trace["otherData"]["schedule"] == "pipelined"
    assert all(0.0 <= share <= 1.0 for share in trace["otherData"]["utilisation"].values())
    names = [e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"]
    assert any("(busy " in name for name in names)


def test_unknown_schedule_is_one_line_error(tmp_path):
    result = run_cli("run", workload(tmp_path), "--steps", "1", "--set", "hw.mapping.schedule=interleaved")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "hw.mapping.schedule" in lines[0] and "pipelined" in lines[0]
