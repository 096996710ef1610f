"""The step schedule and the ledger: rules that hold for every algorithm (each test failed on the old code)."""

import numpy as np
import pytest

from archsim.algorithms.recorder import StepRecorder, count_bits
from archsim.analog.array import BlockReadStats, BlockUpdateStats, ReadStats, UpdateStats
from archsim.config import load_hw_config, load_run_config
from archsim.engine import Engine
from archsim.hw import Architecture
from archsim.mapping import BlockLayout, Mapping
from archsim.nn.trainer import Trainer
from archsim.ops import ArrayId, Digital, Move, Mvm, PulseUpdate


def build(*sets, arrays=None):
    hw = load_hw_config("default", list(sets))
    arch = Architecture(hw)
    mapping = Mapping.build(arch, arrays or {(0, "W"): (hw.tile.cols, hw.tile.rows)})
    return hw, arch, mapping


def test_a_pulsed_update_waits_for_every_earlier_read_of_its_array():
    hw, arch, mapping = build()
    w = ArrayId(0, "W", 0, 0)
    slow = Digital("exp", 40000, "backward")           # the error of the read is late
    read = Mvm(w, "backward", 1, 256, 256, 8, 8, phase="backward", deps=(0,))
    update = PulseUpdate(w, 1, 31, 100, 100, 50)       # its own inputs are ready at once
    engine = Engine(arch, mapping, cache=False)
    alone = [engine.run_step([op]).latency_cycles for op in (slow, Mvm(w, "backward", 1, 256, 256, 8, 8), update)]
    together = Engine(arch, mapping, cache=False).run_step([slow, read, update])
    assert together.latency_cycles == sum(alone)        # digital, then the read, then the update


def _records(workload_sets, hw="default"):
    config = load_run_config("lsq_paper", hw, ["dataset.lsq_samples=10", "training.epochs=1", *workload_sets])
    trainer = Trainer(config)
    seen = []
    trainer.run_epoch(0, lambda ops, samples, loss: seen.append(ops))
    return seen[0]


def test_squared_error_charges_no_softmax():
    ops = _records([])
    kinds = {op.kind for op in ops if isinstance(op, Digital)}
    assert "exp" not in kinds and "div" not in kinds


def test_cross_entropy_charges_its_softmax():
    config = load_run_config("fcn_digits", None, ["dataset.max_train=20", "training.epochs=1"])
    trainer = Trainer(config)
    seen = []
    trainer.run_epoch(0, lambda ops, samples, loss: seen.append(ops))
    exps = [op for op in seen[0] if isinstance(op, Digital) and op.kind == "exp"]
    assert sum(op.count for op in exps) == config.training.batch_size * 10


def _update_stats(blocks):
    return UpdateStats([BlockUpdateStats(r, c, samples, bl, 10, 10, 20) for r, c, samples, bl in blocks])


def test_stochastic_update_records_update_management_and_sends_x_and_d_to_the_tile():
    layout = BlockLayout(256, 256, {(0, "W"): (100, 300)})   # 2 row blocks (256 + 44 inputs), 1 column block
    rec = StepRecorder(8, 8, 32, blocks=layout)
    rec.updates(0, "W", _update_stats([(0, 0, 3, 31), (1, 0, 3, 31)]), [])
    management = [op for op in rec.ops if isinstance(op, Digital)]
    assert [(op.kind, op.count) for op in management] == [("max", 3 * (100 + 300))]
    moves = [op for op in rec.ops if isinstance(op, Move)]
    assert [(m.src, m.dst, m.bits) for m in moves] == [
        ("digital", ArrayId(0, "W", 0, 0), 3 * (256 + 100) * 32), ("digital", ArrayId(0, "W", 1, 0), 3 * (44 + 100) * 32)]
    updates = [op for op in rec.ops if isinstance(op, PulseUpdate)]
    assert all(op.stochastic for op in updates) and all(len(op.deps) == 1 for op in updates)


def test_whole_pulse_counts_travel_one_per_written_device_in_the_width_of_the_largest():
    layout = BlockLayout(256, 256, {(0, "W"): (100, 40)})
    counts = np.zeros((100, 40), dtype=np.int64)
    counts[3, 5], counts[7, 9], counts[50, 0] = 255, -1, 2
    rec = StepRecorder(8, 8, 32, blocks=layout)
    rec.pulse_writes(0, "W", _update_stats([(0, 0, 3, 257)]), counts, [])
    (move,) = [op for op in rec.ops if isinstance(op, Move)]
    assert count_bits(255) == 9 and count_bits(1) == 2
    assert move.bits == 3 * 9
    (write,) = [op for op in rec.ops if isinstance(op, PulseUpdate)]
    assert not write.stochastic
    assert not any(isinstance(op, Digital) for op in rec.ops)


def test_stochastic_translators_charge_a_random_number_and_a_comparison_per_line_per_slot():
    hw, arch, mapping = build()
    w = ArrayId(0, "W", 0, 0)
    engine = Engine(arch, mapping, cache=False)
    stochastic = engine.run_step([PulseUpdate(w, 1, 31, 100, 100, 50)])
    counted = engine.run_step([PulseUpdate(w, 1, 31, 100, 100, 50, stochastic=False)])
    per_slot = arch.digital.translator_slot_pj
    assert per_slot > 0
    assert stochastic.energy_pj_by_component["digital"] == pytest.approx((256 + 256) * 31 * per_slot, rel=1e-6)
    assert counted.energy_pj_by_component["digital"] == 0


def test_partial_sums_of_row_blocks_are_added_where_they_meet():
    rec = StepRecorder(8, 8)
    stats = ReadStats([BlockReadStats(0, 0, 4, 256, 100, 0, 0), BlockReadStats(1, 0, 4, 44, 100, 0, 0)])
    done = rec.reads(0, "W", stats, "forward", "forward", [])
    (add,) = [op for op in rec.ops if isinstance(op, Digital)]
    assert (add.kind, add.count) == ("add", 4 * 100)
    assert done == [rec.ops.index(add)] and len(add.deps) == 2


def test_an_input_shared_by_arrays_of_one_tile_is_sent_once():
    hw, arch, mapping = build(arrays={(0, "A"): (256, 256), (0, "C"): (256, 256)})
    a, c = ArrayId(0, "A", 0, 0), ArrayId(0, "C", 0, 0)
    assert mapping.tile_of(a) == mapping.tile_of(c)
    engine = Engine(arch, mapping, cache=False)
    one = engine.run_step([Move("io", a, 4096)])
    both = engine.run_step([Move("io", a, 4096), Move("io", c, 4096)])
    assert one.energy_pj_by_component["noc"] > 0
    assert both.energy_pj_by_component["noc"] == one.energy_pj_by_component["noc"]
    assert both.latency_cycles == one.latency_cycles


@pytest.mark.parametrize("placement", ["locality"])
def test_noc_energy_does_not_grow_with_unused_tiles(placement):
    energies = []
    for count in (16, 1024):
        hw, arch, mapping = build(f"tile.count={count}", f"mapping.placement={placement}",
                                  arrays={(0, "W"): (256, 512)})
        ops = [Move("digital", ArrayId(0, "W", r, 0), 4096) for r in range(2)]
        ops += [Move(ArrayId(0, "W", r, 0), "digital", 2048) for r in range(2)]
        energies.append(Engine(arch, mapping, cache=False).run_step(ops).energy_pj_by_component["noc"])
    assert energies[0] == energies[1]
