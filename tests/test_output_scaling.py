"""Weight and output scaling and the digital bias (hw.io.weight_scaling_omega, learn_out_scaling, digital_bias;
aihwkit's MappingParameter), against closed forms. Each test failed on the old code, which had no such keys."""

import numpy as np
import pytest

from archsim.algorithms.output_scaling import OutputScaledStore, mapping_scales
from archsim.algorithms.recorder import StepRecorder
from archsim.algorithms.registry import make_store
from archsim.config import load_run_config
from archsim.errors import ConfigError
from archsim.ops import Digital

#: a read path and device with nothing random: 16-bit converters, no read noise, no device-to-device spread, no
#: cycle-to-cycle noise; the expected-value update of a constant-step device moves a weight by exactly dW
IDEAL = [
    "hw.io.out_noise=0",
    "hw.adc.bits=16",
    "hw.dac.bits=16",
    "hw.device.model=constant_step",
    "hw.device.w_max_dtod=0",
    "hw.device.w_min_dtod=0",
    "hw.device.dw_min_dtod=0",
    "hw.device.up_down_dtod=0",
    "hw.device.dw_min_std=0",
    "hw.update.mode=expected",
]
OUT, IN = 5, 9  # the last input column is the bias


def store(sets, name="analog_sgd", bias=True, seed=0):
    config = load_run_config(None, None, [f"algorithm.name={name}"] + IDEAL + sets)
    weights = np.random.default_rng(seed).uniform(-0.2, 0.2, (OUT, IN))
    made = make_store(0, weights, True, config.hw, config.algorithm, config.training, seed, bias=bias)
    return made, weights, config


def inputs(batch=4, seed=1):
    x = np.random.default_rng(seed).uniform(-1, 1, (batch, IN))
    x[:, -1] = 1.0  # the network's always-on bias input
    return x


# 16-bit ADC over +-12: a quantisation step of 12 / 32767 = 3.7e-4 per output, times alpha after the scale
READ_TOLERANCE = 1e-3


@pytest.mark.parametrize("columnwise", [False, True])
def test_scaled_weights_fill_omega_and_the_read_still_gives_w_x(columnwise):
    omega = 0.6
    scaled, weights, _ = store([f"hw.io.weight_scaling_omega={omega}", f"hw.io.weight_scaling_columnwise={columnwise}"])
    analog = scaled.inner.effective_weights()
    if columnwise:
        np.testing.assert_allclose(np.abs(analog).max(axis=1), omega, rtol=1e-12)
    else:
        assert np.abs(analog).max() == pytest.approx(omega, rel=1e-12)
    np.testing.assert_allclose(scaled.effective_weights(), weights, rtol=1e-12, atol=1e-15)
    x = inputs()
    y, _ = scaled.forward(x)
    np.testing.assert_allclose(y, x @ weights.T, atol=READ_TOLERANCE)
    # the analog read alone is W x / alpha: the digital scale is what restores it (up to 3x here)
    assert np.abs(scaled.inner.forward(x)[0] - x @ weights.T).max() > 10 * READ_TOLERANCE
    d = np.random.default_rng(2).uniform(-1, 1, (4, OUT))
    dx, _ = scaled.backward(d)
    np.testing.assert_allclose(dx, d @ weights, atol=READ_TOLERANCE * 3)


def test_mapping_scales_are_max_over_omega_with_zero_rows_left_alone():
    weights = np.array([[0.3, -0.6], [0.0, 0.0]])
    np.testing.assert_allclose(mapping_scales(weights, 0.5, columnwise=True), [1.2, 1.0])
    np.testing.assert_allclose(mapping_scales(weights, 0.5, columnwise=False), [1.2, 1.2])
    np.testing.assert_allclose(mapping_scales(weights, 0.0, columnwise=False), [1.0, 1.0])


def test_a_digital_bias_is_no_analog_row_and_is_added_and_trained_in_digital():
    scaled, weights, config = store(["hw.io.digital_bias=true"])
    assert scaled.inner.W.shape == (OUT, IN - 1)
    x = inputs()
    y, _ = scaled.forward(x)
    np.testing.assert_allclose(y, x @ weights.T, atol=READ_TOLERANCE)
    d = np.random.default_rng(3).uniform(-0.5, 0.5, (4, OUT))
    dx, _ = scaled.backward(d)
    assert dx.shape == (4, IN) and not dx[:, -1].any()
    scaled.update(x, d)
    lr = config.training.lr
    np.testing.assert_allclose(scaled.bias, weights[:, -1] - lr * d.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("name", ["analog_sgd", "ttv2"])
def test_the_update_moves_the_weights_by_minus_lr_d_x_whatever_the_scale(name):
    """aihwkit's pre_update: the analog update gets d / alpha, so alpha * W_a changes by the unscaled -lr d x^T (the
    expected-value update of a noise-free constant-step device is exact; TTv2's A at fast_lr)."""
    scaled, weights, config = store(["hw.io.weight_scaling_omega=0.5", "hw.io.weight_scaling_columnwise=true"], name)
    x, d = inputs(), np.random.default_rng(4).uniform(-0.05, 0.05, (4, OUT))
    if name == "analog_sgd":
        before = scaled.effective_weights()
        scaled.update(x, d)
        np.testing.assert_allclose(scaled.effective_weights() - before, -config.training.lr * d.T @ x, atol=1e-9)
    else:  # the fast array moves by -fast_lr d x^T / alpha in its own (scaled) units
        fast = scaled.A.get_weights()
        scaled.update(x, d)
        expected = -config.algorithm.fast_lr * (d / scaled.alpha).T @ x
        np.testing.assert_allclose(scaled.A.get_weights() - fast, expected, atol=1e-9)


def test_a_learned_output_scale_follows_its_gradient():
    scaled, weights, config = store(["hw.io.learn_out_scaling=true", "hw.io.out_scaling_columnwise=true"])
    x, d = inputs(), np.random.default_rng(5).uniform(-0.5, 0.5, (4, OUT))
    y, _ = scaled.forward(x)  # the scale starts at 1: y = W x
    np.testing.assert_allclose(y, x @ weights.T, atol=READ_TOLERANCE)
    scaled.update(x, d)
    expected = 1.0 - config.training.lr * (d * (x @ weights.T)).sum(axis=0)
    np.testing.assert_allclose(scaled.learned, expected, atol=config.training.lr * 4 * READ_TOLERANCE)


def test_the_digital_periphery_is_recorded_as_digital_work():
    scaled, _, _ = store(["hw.io.weight_scaling_omega=0.5", "hw.io.digital_bias=true"])
    x = inputs(batch=3)
    rec = StepRecorder(16, 16)
    scaled.forward(x, rec)
    work = [(op.kind, op.count) for op in rec.ops if isinstance(op, Digital)]
    assert ("mult", 3 * OUT) in work and ("add", 3 * OUT) in work  # the scale and the bias, per output


def test_the_default_mapping_wraps_nothing():
    config = load_run_config(None, None, [])
    plain = make_store(0, np.zeros((OUT, IN)), True, config.hw, config.algorithm, config.training, 0, bias=True)
    assert not isinstance(plain, OutputScaledStore)


@pytest.mark.parametrize(
    "sets,key",
    [
        (["hw.io.weight_scaling_columnwise=true"], "hw.io.weight_scaling_columnwise"),
        (["hw.io.out_scaling_columnwise=true"], "hw.io.out_scaling_columnwise"),
        (["hw.io.weight_scaling_omega=-1"], "hw.io.weight_scaling_omega"),
    ],
)
def test_inconsistent_scaling_keys_are_errors(sets, key):
    with pytest.raises(ConfigError, match=f"--set: {key}:"):
        load_run_config(None, None, sets)


def test_the_network_maps_a_digital_bias_layer_without_its_bias_row():
    from archsim.nn.network import Network

    config = load_run_config(None, None, ["hw.io.digital_bias=true"])
    network = Network(config, (64,), 10)
    assert network.arrays()[(0, "A")] == (64, 64) and network.arrays()[(1, "C")] == (10, 64)
    assert network.planned_arrays(config.algorithm) == network.arrays()


def test_a_run_with_the_whole_digital_periphery_trains_and_charges_it(tmp_path):
    """End to end (training, mapping, costing): per-output scaling, a learned scale and a digital bias. Two epochs
    of the default workload reach ~83 % with them (~28 % without, 359 test digits: binomial std < 2.7 points);
    40 % is far from either. The digital periphery's multiplies and adds raise the digital energy per step."""
    import json

    from conftest import run_cli

    options = ["hw.io.weight_scaling_omega=0.6", "hw.io.weight_scaling_columnwise=true",
               "hw.io.learn_out_scaling=true", "hw.io.digital_bias=true"]
    reports = {}
    for name, sets in (("on", options), ("off", [])):
        args = ["run", "--out", tmp_path / name, "--set", "training.epochs=2"]
        for assignment in sets:
            args += ["--set", assignment]
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        reports[name] = json.loads((tmp_path / name / "report.json").read_text())
    assert reports["on"]["metric"]["final"] > 40.0
    digital = {name: r["per_step"]["energy_pj_by_component"]["digital"] for name, r in reports.items()}
    assert digital["on"] > digital["off"]


def test_a_digital_layer_keeps_its_bias_column_whatever_digital_bias_says():
    from archsim.nn.network import Network

    config = load_run_config(None, None, ["hw.io.digital_bias=true", "algorithm.name=digital_sgd"])
    network = Network(config, (64,), 10)
    assert [entry["shape"] for entry in network.layer_arrays()] == [(64, 65), (10, 65)]
    assert network.weights()[0].shape == (64, 65)
