"""AnalogArray: layout, weights, updates and their statistics, seeds."""

import numpy as np
import pytest

from archsim.analog import AnalogArray, ReadStats, UpdateStats
from archsim.config import load_hw_config
from archsim.config.device import DeviceConfig


def hw_with(*sets):
    return load_hw_config(None, ["hw.tile.rows=32", "hw.tile.cols=16", "hw.tile.adcs=16", *sets])


def test_blocks_cover_the_matrix():
    arr = AnalogArray(40, 70, hw_with(), seed=0)
    assert arr.blocks == [(r, c, rows, cols) for r, rows in enumerate((32, 32, 6))
                          for c, cols in enumerate((16, 16, 8))]
    assert arr.get_weights().shape == (40, 70)


def test_set_weights_clips_to_each_devices_bounds():
    arr = AnalogArray(10, 12, hw_with(), seed=1)
    low, high = arr.get_bounds()
    target = np.random.default_rng(0).uniform(-2, 2, (10, 12))
    arr.set_weights(target)
    np.testing.assert_array_equal(arr.get_weights(), np.clip(target, low, high))
    with pytest.raises(ValueError):
        arr.set_weights(np.zeros((12, 10)))
    with pytest.raises(ValueError):
        arr.set_weights(np.full((10, 12), np.nan))


def test_same_seed_same_array_and_different_seed_different_devices():
    hw = hw_with()
    a, b, c = AnalogArray(20, 20, hw, seed=3), AnalogArray(20, 20, hw, seed=3), AnalogArray(20, 20, hw, seed=4)
    x, d = np.random.default_rng(0).uniform(-1, 1, (5, 20)), np.random.default_rng(1).normal(0, 0.2, (5, 20))
    for arr in (a, b, c):
        arr.update(x, d, 0.1)
    np.testing.assert_array_equal(a.get_weights(), b.get_weights())
    assert not np.array_equal(a.get_bounds()[1], c.get_bounds()[1])
    ya, _ = a.forward(x)
    yb, _ = b.forward(x)
    np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("mode", ["stochastic", "mean_count", "expected"])
def test_update_moves_weights_against_the_gradient(mode):
    # dW = -lr d x^T: with d = -1 and x = +1 everywhere, every weight goes up.
    arr = AnalogArray(20, 40, hw_with(f"hw.update.mode={mode}"), seed=2)
    before = arr.get_weights()
    stats = arr.update(np.ones((3, 40)), -np.ones((3, 20)), 0.01)
    assert isinstance(stats, UpdateStats)
    assert np.all(arr.get_weights() >= before) and np.any(arr.get_weights() > before)
    assert {(b.row_block, b.col_block) for b in stats.blocks} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert all(b.samples == 3 for b in stats.blocks)
    # lr |x| |d| / dw_min = 10 pulses per device and sample (update-BL management: BL = 10)
    assert all(b.bl == 30 for b in stats.blocks)
    assert stats.device_pulses == 3 * 20 * 40 * 10 if mode != "stochastic" else stats.device_pulses > 0
    assert arr.samples_applied == 3


def test_update_input_checks():
    arr = AnalogArray(4, 5, hw_with(), seed=0)
    with pytest.raises(ValueError):
        arr.update(np.ones((2, 5)), np.ones((3, 4)), 0.1)
    with pytest.raises(ValueError):
        arr.update(np.ones((2, 4)), np.ones((2, 4)), 0.1)
    with pytest.raises(ValueError):
        arr.forward(np.ones(5))


def test_apply_pulses_fires_the_requested_counts():
    hw = hw_with("hw.device.dw_min_std=0", "hw.device.model=constant_step", "hw.device.dw_min_dtod=0",
                 "hw.device.up_down_dtod=0", "hw.device.w_max=1", "hw.device.w_min=-1",
                 "hw.device.w_max_dtod=0", "hw.device.w_min_dtod=0")
    arr = AnalogArray(20, 40, hw, seed=5)
    counts = np.zeros((20, 40), dtype=int)
    counts[:, 3] = 4       # one input line (block row 0): 4 slots
    counts[5, 35] = -2     # block (1, 0)
    stats = arr.apply_pulses(counts)
    np.testing.assert_allclose(arr.get_weights(), counts * hw.device.dw_min, atol=1e-9)
    by_block = {(b.row_block, b.col_block): b for b in stats.blocks}
    assert set(by_block) == {(0, 0), (0, 1), (1, 0)}
    assert (by_block[(0, 0)].samples, by_block[(0, 0)].bl, by_block[(0, 0)].device_pulses) == (1, 4, 64)
    assert (by_block[(1, 0)].bl, by_block[(1, 0)].device_pulses) == (2, 2)
    with pytest.raises(ValueError):
        arr.apply_pulses(np.full((20, 40), 0.5))


def test_symmetric_points_of_the_offset_device():
    device = DeviceConfig(model="soft_bounds", up_down=0.25, up_down_scaling="plus_minus", w_max=0.8, w_min=-0.8, dw_min_dtod=0, up_down_dtod=0,
                          w_max_dtod=0, w_min_dtod=0)
    arr = AnalogArray(6, 50, hw_with(), seed=0, device=device)
    np.testing.assert_allclose(arr.symmetric_points(), 0.25 * 0.8, atol=1e-6)
    assert arr.device is device


def test_write_noise_shows_in_reads_not_in_the_persistent_weight():
    hw = hw_with("hw.device.write_noise_std=10", "hw.io.out_noise=0")
    arr = AnalogArray(8, 8, hw, seed=0)
    arr.set_weights(np.zeros((8, 8)))
    np.testing.assert_array_equal(arr.get_weights(), 0.0)  # ideal programming: no write noise
    arr.apply_pulses(np.ones((8, 8), dtype=int))
    state = arr._states[(0, 0)]
    assert np.all(state.w_apparent != state.w)
    np.testing.assert_array_equal(arr.get_weights(), state.w_apparent)


def test_stats_types():
    arr = AnalogArray(4, 4, hw_with(), seed=0)
    _, stats = arr.forward(np.ones((2, 4)))
    assert isinstance(stats, ReadStats) and stats.vectors == 2 and stats.conversions == 2 * 4
