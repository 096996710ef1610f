"""The Tiki-Taka family's parts on an ideal fast array: chopper timing, AGAD's reference, buffer rules."""

import numpy as np
import pytest

from archsim.algorithms.registry import make_store
from archsim.config import load_run_config


class _NoStats:
    blocks = ()


class IdealArray:
    """An exact (out, in) matrix standing in for A: updates and reads without pulses, noise or bounds."""

    def __init__(self, shape, offset=0.0):
        self.w = np.full(shape, float(offset))

    def update(self, x, d, lr):
        self.w -= lr * d.T @ x
        return _NoStats()

    def read_columns(self, indices):
        return self.w[:, indices].T.copy(), _NoStats()

    def get_weights(self):
        return self.w.copy()


def ideal_store(name, shape=(1, 10), offset=0.0, sets=()):
    config = load_run_config(None, None, [f"algorithm.name={name}", "algorithm.transfer_every=1",
                                          "algorithm.n_reads_per_transfer=1", *sets])
    store = make_store(0, np.zeros(shape), True, config.hw, config.algorithm, config.training, seed=0)
    store.A = IdealArray(shape, offset)
    return store


def run_constant_gradient(store, steps):
    """Apply the same gradient (x = 1, d = 1) one sample per step; return, per transfer, the line read, A's
    raw reading, the chopper sign it was read with, and the value handed to the write policy."""
    log = []
    write = store.writer.write

    def spy(owner, transfer, rec, reads):
        log.append((int(transfer.indices[0]), float(owner.A.w[0, transfer.indices[0]]), float(transfer.signs[0]),
                    float(transfer.values[0, 0])))
        return write(owner, transfer, rec, reads)

    store.writer.write = spy
    x = np.ones((1, store.shape[1]))
    d = np.ones((1, store.shape[0]))
    for _ in range(steps):
        store.update(x, d)
    return log


def test_chopper_sign_is_constant_between_two_reads_of_a_column():
    """Constant gradient, 1x10 layer, flip probability 1: each column's chopper flips right after each of its
    reads, so between two reads A's column moved by 10 updates of one sign, and un-chopped with the sign it
    is read with, every column receives the same increment, -10 rate, in every period (the rate of A at
    x = d = 1: with auto_scale, whose running maxima stay 1, ``auto_scale_lr * BL * dw0``). (With all
    choppers flipping together at the end of a sweep, column j would receive (2j - 8) fast_lr.)"""
    store = ideal_store("chopped_ttv2", sets=["algorithm.chopper_probability=1", "algorithm.chopper_schedule=random"])
    log = run_constant_gradient(store, 60)
    previous = {}
    received = []
    for column, raw, sign, _ in log:
        if column in previous:
            received.append((raw - previous[column]) * sign)
        previous[column] = raw
    assert len(received) == 50
    np.testing.assert_allclose(received, -10 * store.fast_rate.lr, rtol=1e-12)


def test_agad_reads_against_the_previous_period_and_cancels_a_constant_offset():
    """AGAD with a regular chopper period of 2 sweeps and tail weight >= period (the running mean is the
    last read): after its warm-up every value handed to the buffer is the change of A since the end of the
    previous period, un-chopped — always in the gradient's direction — and the same whatever A's constant
    offset (its symmetric point), which a plain chopped read carries with alternating sign."""
    sets = ["algorithm.chopper_probability=0.5", "algorithm.agad_tail_weight=5"]
    store = ideal_store("agad", sets=sets)
    plain = run_constant_gradient(store, 100)
    shifted = run_constant_gradient(ideal_store("agad", offset=0.3, sets=sets), 100)
    values = np.array([v for *_, v in plain])
    # from the first switch on (2 sweeps of 10 reads), A is read against the previous period's estimate
    np.testing.assert_allclose(values[20:], [v for *_, v in shifted][20:], atol=1e-12)
    settled = values[30:]                      # after the warm-up of period + 1 = 3 sweeps
    assert np.all(settled < 0)
    # the first read after a switch sees one sweep (10 updates) of change, the next one two
    assert set(np.round(settled / -store.fast_rate.lr, 9)) == {10.0, 20.0}


def test_agad_writes_nothing_during_its_warm_up():
    store = ideal_store("agad", sets=["algorithm.chopper_probability=0.5", "algorithm.ttv2_threshold=0.000001"])
    written = []
    store.C.apply_pulses = lambda counts: written.append(np.abs(counts).sum()) or _NoStats()
    run_constant_gradient(store, 30)
    assert sum(written) == 0            # sweeps 0, 1, 2 (period 2 + 1) only fill the reference
    run_constant_gradient(store, 10)
    assert sum(written) > 0


@pytest.mark.parametrize("forget, momentum, expected", [(False, 0.0, 0.4), (False, 0.5, 1.9), (True, 0.5, 1.7)])
def test_buffer_keeps_what_aihwkit_keeps_after_a_write(forget, momentum, expected):
    """H = 3.4 thresholds writes 3 pulses and keeps H - (1 - momentum) * 3 or, forgetting, momentum * H."""
    store = ideal_store("ttv2", sets=[f"algorithm.forget_buffer={str(forget).lower()}",
                                      f"algorithm.momentum={momentum}", "algorithm.transfer_lr=1",
                                      "training.lr=1"])
    threshold = store.writer.threshold
    store.A.w[0, 0] = 3.4 * threshold
    written = []
    store.C.apply_pulses = lambda counts: written.append(counts.copy()) or _NoStats()
    store.transfer(None, [])
    assert written[0][0, 0] == 3
    assert store.H[0, 0] / threshold == pytest.approx(expected)


def test_whole_pulse_counts_travel_as_one_count_per_device_written():
    """Mixed precision writes counts 2 and -31 into a 3x4 layer: the two devices' counts travel, each
    ceil(log2(2*31 + 1)) = 6 bits wide: 12 bits (not 33 pulses x 8 bits)."""
    from archsim.algorithms.recorder import StepRecorder, count_bits
    from archsim.mapping.blocks import BlockLayout
    from archsim.ops import ArrayId, Move

    config = load_run_config(None, None, ["algorithm.name=mixed_precision", "hw.update.bl=31"])
    store = make_store(0, np.zeros((3, 4)), True, config.hw, config.algorithm, config.training, seed=0)
    store.chi[0, 0] = 2.5 * store.step
    store.chi[1, 1] = -31.2 * store.step
    rec = StepRecorder(8, 8, blocks=BlockLayout(config.hw.tile.rows, config.hw.tile.cols, {(0, "W"): (3, 4)}))
    store.update(np.zeros((1, 4)), np.zeros((1, 3)), rec)
    moves = [op for op in rec.ops if isinstance(op, Move) and isinstance(op.dst, ArrayId)]
    assert count_bits(31) == 6
    assert sum(op.bits for op in moves) == 2 * 6


def digital_work_per_transfer(name, out_size=4):
    """Digital ops per transfer of one column of ``out_size`` values, by kind (transfer phase)."""
    from collections import Counter

    from archsim.algorithms.recorder import StepRecorder
    from archsim.ops import Digital

    config = load_run_config(None, None, [f"algorithm.name={name}"])
    store = make_store(0, np.zeros((out_size, 3)), True, config.hw, config.algorithm, config.training, seed=0)
    rec = StepRecorder(8, 8)
    for _ in range(6):
        store.update(np.ones((1, 3)), np.ones((1, out_size)) * 0.1, rec)
    work = Counter()
    for op in rec.ops:
        if isinstance(op, Digital) and op.phase == "transfer":
            work[op.kind] += op.count
    return {kind: count / store.transfers for kind, count in work.items()}


def test_buffer_chopper_and_agad_digital_work_per_transfer():
    """Per transfer of N = 4 values (Rasch et al. 2024 Table 1): TTv2's buffer 2N (accumulate, compare);
    chopped TTv2 adds N sign flips and, for its random switch, one random number and compare per line;
    AGAD 6N (its reference: subtract, running mean subtract-multiply-add) plus the N sign flips."""
    n = 4
    assert digital_work_per_transfer("ttv2") == {"add": n, "compare": n}
    assert digital_work_per_transfer("chopped_ttv2") == {"add": n, "compare": n + 1, "sign": n, "rng": 1}
    agad = digital_work_per_transfer("agad")
    assert agad == {"add": 4 * n, "mult": n, "compare": n, "sign": n}
    assert agad["add"] + agad["mult"] + agad["compare"] == 6 * n


@pytest.mark.parametrize("name, role, step", [("ttv2", "C", "threshold"), ("mixed_precision", "W", "step")])
def test_whole_pulse_thresholds_are_the_arrays_real_step_at_zero(name, role, step):
    """A power-step device with gamma 2 steps by a quarter of its nominal dw_min at w = 0 (aihwkit's granularity
    rule): the TTv2 and mixed-precision thresholds follow the array's dw0, so one written pulse is worth one
    threshold."""
    config = load_run_config(None, None, [f"algorithm.name={name}", "hw.device.model=pow_step",
                                          "hw.device.gamma_up=2", "hw.device.gamma_down=2"])
    store = make_store(0, np.zeros((3, 4)), True, config.hw, config.algorithm, config.training, seed=0)
    array = getattr(store, role)
    threshold = store.writer.threshold if name == "ttv2" else store.step
    assert threshold == array.dw0
    assert array.dw0 < 0.5 * config.hw.device.dw_min


def test_mixed_precision_writes_every_mp_transfer_every_samples():
    config = load_run_config(None, None, ["algorithm.name=mixed_precision", "algorithm.mp_transfer_every=3"])
    store = make_store(0, np.zeros((2, 2)), True, config.hw, config.algorithm, config.training, seed=0)
    written = []
    store.W.apply_pulses = lambda counts: written.append(counts.copy()) or _NoStats()
    x = np.ones((1, 2))
    d = np.full((1, 2), 10 * store.step / store.lr)      # ten thresholds per sample
    for _ in range(6):
        store.update(x, d)
    assert len(written) == 2                              # after samples 3 and 6
    np.testing.assert_array_equal(written[0], -30)        # the three samples' accumulated gradient


def test_auto_scale_rate_at_constant_inputs_is_relative_to_bl_pulses():
    """aihwkit's auto_scale: with constant x and d the running maxima are max|x| and max|d|, and each vector
    moves A by -auto_scale_lr * BL * dw0_A * (d / max|d|)(x / max|x|)^T: at its largest coincidence
    auto_scale_lr * BL = 15.5 steps of dw0, whatever the gradient's scale."""
    x = np.array([[0.5, -2.0, 1.0]] * 4)
    d = np.array([[0.03, -0.01]] * 4)
    for scale in (1.0, 10.0):  # ten times the gradient (in a fresh store): the same update
        store = ideal_store("chopped_ttv2", shape=(2, 3), sets=["algorithm.chopper_probability=0", "hw.update.bl=31"])
        store.update(scale * x, scale * d)
        dw0 = store.C.dw0  # A and C are the same device here
        expected = -4 * 0.5 * 31 * dw0 * np.outer(d[0] / 0.03, x[0] / 2.0)
        np.testing.assert_allclose(store.A.w, expected, rtol=1e-12)


def test_auto_scale_running_maxima_follow_aihwkits_recursion():
    """A maximum that is still 0 takes the first value; then, per vector of a batch of m,
    m <- (1 - tau) m + tau max|v| with tau = (1 - auto_momentum) / m; an all-zero vector leaves it."""
    store = ideal_store("agad", shape=(1, 2), sets=["algorithm.auto_momentum=0.9"])
    rate = store.fast_rate
    rate.rates(np.array([[2.0, 0.0], [0.0, -4.0]]), np.ones((2, 1)), None, [])
    assert rate.m_x == pytest.approx(0.95 * 2.0 + 0.05 * 4.0)      # 2 taken, then tau = 0.1 / 2
    rates, _ = rate.rates(np.array([[0.0, 0.0], [1.0, 0.0]]), np.full((2, 1), 3.0), None, [])
    m_x = 0.95 * 2.1 + 0.05 * 1.0
    m_d = 0.95 * (0.95 * 1.0 + 0.05 * 3.0) + 0.05 * 3.0      # both vectors of d count
    assert rate.m_x == pytest.approx(m_x)
    assert rate.m_d == pytest.approx(m_d)
    assert rates[1] == pytest.approx(rate.lr / (m_x * m_d))


@pytest.mark.parametrize("name, direction, granularity, lines, expected", [
    ("chopped_ttv2", "column", 1000, 4, 1000 / (4 * 2)),
    ("agad", "row", 1000, 3, 1000 / (3 * 2)),
    ("ttv2", "column", 30, 4, 30 / (4 * 2)),
    ("chopped_ttv2", "column", 0, 4, 1.0),
])
def test_auto_granularity_scales_the_threshold_by_the_samples_between_two_reads(
    name, direction, granularity, lines, expected
):
    """aihwkit's buffer granularity: threshold * auto_granularity / (lines read x transfer_every); 0 (the
    default) keeps the plain threshold."""
    config = load_run_config(None, None, [f"algorithm.name={name}", "algorithm.transfer_every=2",
                                          f"algorithm.transfer_direction={direction}",
                                          f"algorithm.auto_granularity={granularity}"])
    store = make_store(0, np.zeros((3, 4)), True, config.hw, config.algorithm, config.training, seed=0)
    assert store.lines.count == lines
    assert store.writer.threshold == pytest.approx(config.algorithm.ttv2_threshold * store.C.dw0 * expected)


def test_auto_scale_charges_its_running_maxima():
    from collections import Counter

    from archsim.algorithms.recorder import StepRecorder
    from archsim.ops import Digital

    def update_work(name):
        config = load_run_config(None, None, [f"algorithm.name={name}"])
        store = make_store(0, np.zeros((4, 3)), True, config.hw, config.algorithm, config.training, seed=0)
        rec = StepRecorder(8, 8)
        store.update(np.ones((2, 3)), np.ones((2, 4)) * 0.1, rec)
        work = Counter()
        for op in rec.ops:
            if isinstance(op, Digital) and op.phase == "update":
                work[op.kind] += op.count
        return work

    assert update_work("ttv2") == {}
    # two vectors: per vector 4 adds and 4 multiplies (the abs-maxima are update management's, charged with
    # the update when the recorder knows the block layout); chopping 3 inputs of 2 vectors: 6 signs
    assert update_work("chopped_ttv2") == {"add": 8, "mult": 8, "sign": 6}


def test_auto_scale_settings_are_checked():
    from archsim.config.schema import ConfigError

    with pytest.raises(ConfigError, match="fast_lr"):
        load_run_config(None, None, ["algorithm.name=chopped_ttv2", "algorithm.fast_lr=0.1"])
    with pytest.raises(ConfigError, match="auto_scale_lr"):
        load_run_config(None, None, ["algorithm.name=ttv2", "algorithm.auto_scale_lr=0.1"])
    with pytest.raises(ConfigError, match="does not apply"):
        load_run_config(None, None, ["algorithm.name=tiki_taka", "algorithm.auto_granularity=10"])
    config = load_run_config(None, None, ["algorithm.name=agad", "algorithm.auto_scale=false",
                                          "algorithm.fast_lr=0.1"])
    assert config.algorithm.setting("auto_scale") is False
    assert load_run_config(None, None, ["algorithm.name=ttv2", "algorithm.auto_scale=true"]).algorithm.setting(
        "auto_scale") is True


def test_auto_granularity_is_a_rescaled_transfer_rate():
    """Only the ratio of a transfer's scale (transfer_lr * lr) to the threshold decides the pulses written, so
    auto_granularity G on a layer read every P samples is training.lr scaled by P / G (what the README's
    measurement shows bit for bit on the default workload)."""
    def ratio(sets):
        config = load_run_config(None, None, ["algorithm.name=chopped_ttv2", *sets])
        store = make_store(0, np.zeros((3, 4)), True, config.hw, config.algorithm, config.training, seed=0)
        return store.writer.scale / store.writer.threshold

    assert ratio(["algorithm.auto_granularity=1000", "training.lr=0.5"]) == pytest.approx(
        ratio(["training.lr=0.002"]), rel=1e-12)                     # 0.5 * 4 / 1000
