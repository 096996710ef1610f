"""Steps recorded as call templates and data records (archsim.ops.RecordedStep): a step like an earlier one is
recorded as its data alone, and the engine costs it from those records. Both must be exactly the operations and the
costs of the same steps recorded operation by operation, for every algorithm, a convolution, transfers in the
background and the pipelined schedule."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from archsim.algorithms.recorder import StepRecorder
from archsim.config import load_run_config
from archsim.engine import Engine
from archsim.hw import Architecture
from archsim.mapping import Mapping
from archsim.nn.trainer import Trainer
from archsim.ops import RecordedStep
from archsim.run import CostModel

CASES = [
    ("fcn_digits", ["algorithm.name=analog_sgd"]),
    ("fcn_digits", ["algorithm.name=tiki_taka", "algorithm.transfer_every=1"]),
    ("fcn_digits", ["algorithm.name=ttv2"]),
    ("fcn_digits", ["algorithm.name=chopped_ttv2"]),
    ("fcn_digits", ["algorithm.name=agad"]),
    ("fcn_digits", ["algorithm.name=mixed_precision"]),
    ("fcn_digits", ["algorithm.name=residual"]),
    ("fcn_digits", ["algorithm.name=digital_sgd"]),
    ("fcn_digits", ["algorithm.name=analog_sgd", "hw.update.mode=mean_count", "hw.io.bound_management=iterative"]),
    ("lenet_digits", ["algorithm.name=tiki_taka", "algorithm.transfer_every=1"]),
]


def steps_of(workload, sets, keep_calls, steps=12):
    """The first ``steps`` training steps' recorded operations, with the call templates kept or not."""
    config = load_run_config(workload, None, [f"training.max_steps={steps}", "dataset.max_train=200", *sets])
    trainer = Trainer(config)
    if not keep_calls:
        trainer.call_templates = None  # (each recorder then makes every operation as it records it)
    got = []
    trainer.run_epoch(0, lambda ops, samples, loss: got.append((ops, samples)))
    return config, trainer, got


@pytest.mark.parametrize(("workload", "sets"), CASES)
def test_recorded_steps_are_the_operations_and_cost_what_they_cost(workload, sets):
    config, trainer, recorded = steps_of(workload, sets, keep_calls=True)
    _, _, made = steps_of(workload, sets, keep_calls=False)
    assert len(recorded) == len(made) == 12
    assert all(type(step) is RecordedStep for step, _ in recorded)
    assert all(type(ops) is list for ops, _ in made)
    for (step, _), (ops, _) in zip(recorded, made, strict=True):
        assert list(step) == ops  # every field, data included, equal
    for policy in ("inline", "background"):
        arch = Architecture(config.hw)
        mapping = Mapping.build(arch, trainer.network.arrays())
        from_records, from_lists = (Engine(arch, mapping, transfer_policy=policy) for _ in range(2))
        for (step, samples), (ops, _) in zip(recorded, made, strict=True):
            assert dataclasses.astuple(from_records.run_step(step, samples)) == dataclasses.astuple(
                from_lists.run_step(ops, samples)
            )
        assert from_records.totals() == from_lists.totals()
        assert from_records.utilisation() == from_lists.utilisation()


@pytest.mark.parametrize("algorithm", ["analog_sgd", "tiki_taka"])
def test_steps_like_earlier_ones_come_as_records_alone(algorithm):
    """Analog SGD's and Tiki-Taka's steps repeat their calls (their data aside): most steps' signatures are an
    earlier step's, whose operations the recorder did not make again."""
    _, _, recorded = steps_of("fcn_digits", [f"algorithm.name={algorithm}"], keep_calls=True)
    signatures = [step.signature for step, _ in recorded]
    assert len(set(signatures)) <= len(signatures) // 2
    assert all(template is later for template, later in zip(signatures[1], signatures[-1], strict=True))


def test_the_pipelined_schedule_costs_recorded_steps_as_lists():
    config, trainer, recorded = steps_of("fcn_digits", ["algorithm.name=tiki_taka"], keep_calls=True, steps=6)
    arch = Architecture(config.hw)
    mapping = Mapping.build(arch, trainer.network.arrays())
    engines = [Engine(arch, mapping, schedule="pipelined") for _ in range(2)]
    for step, samples in recorded:
        assert engines[0].run_step(step, samples) == engines[1].run_step(list(step), samples)
    assert engines[0].totals() == engines[1].totals()


def test_a_call_s_result_is_the_caller_s_to_change():
    """A recalled call hands out a copy of what it returned the first time: a caller that extends the indices it got
    must not change what the next step's call returns."""
    calls: dict = {}
    blocks = [
        SimpleNamespace(row_block=r, col_block=0, vectors=2, active_rows=4, active_cols=3, retries=0, drive_fraction=0.5)
        for r in (0, 1)
    ]
    results = []
    for _ in range(3):
        rec = StepRecorder(8, 8, calls=calls)
        done = rec.reads(0, "W", SimpleNamespace(blocks=blocks), "forward", "forward", [])
        results.append(list(done))
        done.append(99)  # (what a caller building its dependencies may do)
        eager = StepRecorder(8, 8)
        eager.reads(0, "W", SimpleNamespace(blocks=blocks), "forward", "forward", [])
        assert rec.ops == eager.ops
    assert results[0] == results[1] == results[2] == [6]  # the add of the two blocks' partial sums
    assert len(calls) == 1


def test_a_run_costs_the_same_with_and_without_kept_calls(monkeypatch):
    """The whole report of a costed run does not depend on whether the recorders keep call templates."""
    from archsim.run import execute

    config = load_run_config("fcn_digits", None, ["training.max_steps=20", "algorithm.name=tiki_taka"])
    kept = execute(config, None)
    original = Trainer.__post_init__

    def without_templates(self):
        original(self)
        self.call_templates = None

    monkeypatch.setattr(Trainer, "__post_init__", without_templates)
    made = execute(config, None)
    assert kept["totals"] == made["totals"]
    assert kept["per_step"] == made["per_step"]
    assert np.isfinite(kept["totals"]["energy_pj"])


def test_cost_model_takes_recorded_steps():
    config, trainer, recorded = steps_of("fcn_digits", ["algorithm.name=analog_sgd"], keep_calls=True, steps=4)
    model = CostModel(config.hw, trainer.network.arrays())
    for step, samples in recorded:
        model.cost_step(step, samples)
    assert model.engine.totals().steps == 4


def test_forgetting_templates_and_signatures_changes_nothing(monkeypatch):
    """With the recorders' templates and the engine's signatures cleared every few steps (their memory bounds),
    the operations and the costs are still those of steps recorded operation by operation."""
    import archsim.algorithms.recorder as recorder_module
    import archsim.engine.engine as engine_module

    monkeypatch.setattr(recorder_module, "MAX_CALL_TEMPLATES", 30)
    monkeypatch.setattr(engine_module, "MAX_RECORDED_SIGNATURES", 2)
    sets = ["algorithm.name=tiki_taka", "algorithm.transfer_every=1"]
    config, trainer, recorded = steps_of("fcn_digits", sets, keep_calls=True)
    _, _, made = steps_of("fcn_digits", sets, keep_calls=False)
    arch = Architecture(config.hw)
    mapping = Mapping.build(arch, trainer.network.arrays())
    from_records, from_lists = Engine(arch, mapping), Engine(arch, mapping)
    for (step, samples), (ops, _) in zip(recorded, made, strict=True):
        assert list(step) == ops
        from_records.run_step(step, samples)
        from_lists.run_step(ops, samples)
    assert len(from_records._recorded) <= 2
    assert from_records.totals() == from_lists.totals()
