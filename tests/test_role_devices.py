"""Per-role devices (hw.role_devices): the arrays A, C, R (and W) may be different technologies, and accuracy and
cost both follow each array's own device. Every test here failed on the old code, which built every array from
hw.device and charged every array with hw.device's electrics."""

import numpy as np
import pytest

from archsim.algorithms.registry import make_store
from archsim.config import load_hw_config, load_run_config, resolved_yaml
from archsim.config.roles import role_device
from archsim.devices.models import device_model
from archsim.engine import Engine
from archsim.errors import ConfigError
from archsim.hw import Architecture
from archsim.mapping import Mapping
from archsim.nn.trainer import Trainer
from archsim.ops import ArrayId, Mvm, PulseUpdate
from archsim.sweep.worker import config_from_text
from conftest import run_cli

ECRAM_A = ["hw.role_devices.A.preset=ecram"]


def store_of(sets, name="ttv2", seed=3, shape=(6, 5)):
    config = load_run_config(None, None, [f"algorithm.name={name}", f"training.seed={seed}"] + sets)
    return make_store(0, np.zeros(shape), True, config.hw, config.algorithm, config.training, seed=seed)


# -- configuration -----------------------------------------------------------------------------------------
def test_a_role_with_a_preset_starts_from_that_preset_and_one_without_from_hw_device():
    config = load_run_config(
        None, None, ECRAM_A + ["hw.device.dw_min=0.0004", "hw.role_devices.C.w_max=0.5", "hw.role_devices.A.w_max=1.5"]
    )
    hw = config.hw
    a, c = role_device(hw, "A"), role_device(hw, "C")
    # A: the ecram preset (not hw.device's soft bounds, nor its dw_min), with the role's own key on top
    assert (a.model, a.dw_min, a.write_energy, a.w_max) == ("linear_step", 0.002, 1e-15, 1.5)
    # C: hw.device as resolved (seed_mnist with dw_min 0.0004) with w_max changed
    assert (c.model, c.dw_min, c.w_max, c.w_min) == ("soft_bounds", 0.0004, 0.5, -0.7)
    assert role_device(hw, "R") is hw.device and hw.role_devices.R is None


def test_the_resolved_configuration_reproduces_the_role_devices():
    config = load_run_config(None, None, ECRAM_A + ["hw.role_devices.C.dw_min=0.0005"])
    again = config_from_text(resolved_yaml(config))
    assert again.hw.role_devices == config.hw.role_devices
    assert again.hw.device == config.hw.device


@pytest.mark.parametrize(
    "sets,key",
    [
        (["hw.role_devices.W.preset=ecram"], "hw.role_devices.W"),  # tiki_taka has A and C
        (["hw.role_devices.R.dw_min=0.01"], "hw.role_devices.R"),  # R only with a reference array
        (["algorithm.name=analog_sgd", "hw.role_devices.A.preset=ecram"], "hw.role_devices.A"),
        (["algorithm.name=digital_sgd", "hw.role_devices.W.preset=ecram"], "hw.role_devices.W"),
    ],
)
def test_a_device_for_a_role_the_algorithm_does_not_use_is_an_error(sets, key):
    with pytest.raises(ConfigError) as caught:
        load_run_config(None, None, sets)
    assert f"--set: {key}: algorithm" in str(caught.value)
    assert "expected no device" in str(caught.value)


def test_a_reference_array_takes_its_role_device():
    store = store_of(["algorithm.reference_array=true", "hw.role_devices.R.preset=capacitor"])
    assert store.R.device.model == "linear_step" and store.A.device.model == "soft_bounds"


def test_an_unused_role_fails_through_the_cli_in_one_line():
    result = run_cli("run", "--set", "hw.role_devices.W.preset=ecram", "--set", "training.epochs=1")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: --set: hw.role_devices.W: algorithm tiki_taka has no W array (its analog arrays: A, C); "
        "expected no device for W (null)"
    ]


def test_an_unknown_role_and_a_bad_role_key_name_their_key_path():
    with pytest.raises(ConfigError, match=r"hw\.role_devices\.B: unknown key \(allowed: A, C, R, W\)"):
        load_run_config(None, None, ["hw.role_devices.B.preset=ecram"])
    with pytest.raises(ConfigError, match=r"hw\.role_devices\.A\.w_min: w_min \(0\.9\) must be below w_max"):
        load_run_config(None, None, ["hw.role_devices.A.w_min=0.9"])


# -- accuracy side -----------------------------------------------------------------------------------------
def test_each_array_is_built_with_its_role_device_and_thresholds_follow_the_right_array():
    store = store_of(ECRAM_A + ["algorithm.ttv2_threshold=2.0"])
    ecram = load_run_config(None, None, ECRAM_A).hw.role_devices.A
    assert store.A.device.model == "linear_step" and store.C.device.model == "soft_bounds"
    # update management of A scales by A's own step at w = 0; TTv2's threshold is C's (a pulse moves C)
    assert store.A.dw0 == pytest.approx(device_model(ecram).dw0)
    assert store.A.dw0 != pytest.approx(store.C.dw0)
    assert store.writer.threshold == pytest.approx(2.0 * store.C.dw0)
    mixed = store_of(["algorithm.name=mixed_precision", "hw.role_devices.W.dw_min=0.004"], name="mixed_precision")
    assert mixed.step == pytest.approx(mixed.W.dw0) and mixed.W.device.dw_min == 0.004


def test_changing_only_a_keeps_c_devices_paired():
    """Same seed, only A's device changed: C draws exactly the same devices; A's own draws change."""
    base, ecram = store_of([]), store_of(ECRAM_A)
    for got, want in zip(ecram.C.get_bounds(), base.C.get_bounds(), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ecram.C.get_weights(), base.C.get_weights())
    assert not np.array_equal(ecram.A.get_bounds()[1], base.A.get_bounds()[1])


def digits_accuracy(sets, epochs=3):
    config = load_run_config(None, None, [f"training.epochs={epochs}", "algorithm.name=ttv2"] + sets)
    trainer = Trainer(config, record=False)
    for epoch in range(epochs):
        result = trainer.run_epoch(epoch)
    return result.metric, trainer


def test_an_ecram_fast_array_over_an_rram_slow_array_trains_digits_differently():
    """Three epochs of TTv2 on digits (359 test images: binomial std ~2.6 points near 50 %). Both runs are far
    above chance (10 %): 25 % is > 5 std below either. ECRAM-A reaches ~41 %, all-RRAM ~60 % at this point: a
    different fast device is a different training run, not the same one relabelled (> 5 points apart)."""
    rram, _ = digits_accuracy([])
    ecram, trainer = digits_accuracy(ECRAM_A)
    assert rram > 25.0 and ecram > 25.0
    assert abs(rram - ecram) > 5.0
    stores = [layer.store for layer in trainer.network.matrix_layers]
    assert all(s.A.device.model == "linear_step" and s.C.device.model == "soft_bounds" for s in stores)


# -- cost side ---------------------------------------------------------------------------------------------
def step_energy(sets, ops):
    hw = load_hw_config("default", sets)
    arch = Architecture(hw)
    mapping = Mapping.build(arch, {(0, "A"): (hw.tile.cols, hw.tile.rows), (0, "C"): (hw.tile.cols, hw.tile.rows)})
    return hw, Engine(arch, mapping, cache=False).run_step(ops).energy_pj_by_component


def test_array_writes_are_charged_with_each_roles_write_energy():
    """One coincidence on one row and one column pulse of A, then of C. A is ECRAM (its preset's 1 fJ per pulse,
    Tang et al. IEDM 2018), C keeps the default RRAM cell (V_write^2 G_mean t_pulse): each array's charge is its
    own pulse energy times (1 + half-select ratio x half-selected cells), so A / C is the ratio of the two."""
    write_a = PulseUpdate(ArrayId(0, "A", 0, 0), samples=1, bl=1, row_pulses=1, col_pulses=1, device_pulses=1)
    write_c = PulseUpdate(ArrayId(0, "C", 0, 0), samples=1, bl=1, row_pulses=1, col_pulses=1, device_pulses=1)
    hw, a = step_energy(ECRAM_A, [write_a])
    _, c = step_energy(ECRAM_A, [write_c])
    g_mean = 0.5 * (1 + 1 / hw.array.on_off_ratio) / hw.array.r_on
    rram_pulse = hw.array.write_voltage**2 * g_mean * hw.array.write_pulse_width  # J
    cells = 1 + hw.array.half_select_energy_ratio * (hw.tile.cols + hw.tile.rows - 2)
    assert c["array_write"] == pytest.approx(cells * rram_pulse * 1e12, rel=1e-4)
    assert a["array_write"] == pytest.approx(cells * 1e-15 * 1e12, rel=1e-3)
    assert a["array_write"] / c["array_write"] == pytest.approx(1e-15 / rram_pulse, rel=1e-3)
    # and the other way round: C's own stated energy, A back on hw.device
    _, c_own = step_energy(["hw.role_devices.C.write_energy=10fJ"], [write_c])
    _, a_own = step_energy(["hw.role_devices.C.write_energy=10fJ"], [write_a])
    assert c_own["array_write"] == pytest.approx(cells * 10e-15 * 1e12, rel=1e-3)
    assert a_own["array_write"] == pytest.approx(c["array_write"], rel=1e-9)


def test_array_reads_are_charged_with_each_roles_conductances():
    """A read of A at a load of 1 charges V_read^2 G_on t_read per cell with A's own G_on = 1 / r_on."""
    read_a = Mvm(ArrayId(0, "A", 0, 0), "forward", 1, 64, 64, 8, 8, drive_fraction=1.0)
    read_c = Mvm(ArrayId(0, "C", 0, 0), "forward", 1, 64, 64, 8, 8, drive_fraction=1.0)
    sets = ["hw.role_devices.A.r_on=1MOhm"]
    hw, a = step_energy(sets, [read_a])
    _, c = step_energy(sets, [read_c])
    assert c["array_read"] == pytest.approx(64 * 64 * hw.array.read_voltage**2 / hw.array.r_on * hw.array.read_time
                                            * 1e12, rel=1e-4)
    assert a["array_read"] == pytest.approx(c["array_read"] * hw.array.r_on / 1e6, rel=1e-3)


def test_the_analog_read_load_uses_the_arrays_own_off_conductance():
    """The read statistics use the role device's on/off ratio (hw.config.cell_conductances of its device)."""
    store = store_of(["hw.role_devices.A.on_off_ratio=100"])
    assert store.A._g_off_relative == pytest.approx(0.01)
    assert store.C._g_off_relative == pytest.approx(1 / load_hw_config().array.on_off_ratio)


def test_every_array_role_can_have_its_own_device():
    from archsim.config.roles import ROLE_KEYS
    from archsim.ops import ROLES

    assert set(ROLE_KEYS) == set(ROLES)


def test_config_show_lists_each_resolved_role_device_key_by_key():
    from archsim.cli.config import explain_lines, show_lines

    lines = show_lines(None, None, ECRAM_A + ["hw.role_devices.C.dw_min=0.0005"])
    shown = {line.split(" = ")[0].strip(): line.split(" = ")[1].split()[0] for line in lines}
    assert shown["hw.role_devices.A.model"] == "linear_step" and shown["hw.role_devices.A.write_energy"] == "1fJ"
    assert shown["hw.role_devices.C.dw_min"] == "0.0005" and shown["hw.role_devices.C.w_max"] == "0.7"
    assert shown["hw.role_devices.R"] == "null"
    assert any("[--set]" in line for line in lines if line.startswith("hw.role_devices.A.preset"))
    assert explain_lines("hw.role_devices.A.dw_min")[0] == "hw.device.dw_min"
    # a key C takes from hw.device is shown with the origin of that hw.device key
    inherited = show_lines(None, None, ["hw.device.w_max=0.9", "hw.role_devices.C.dw_min=0.0005"])
    (w_max,) = [line for line in inherited if line.startswith("hw.role_devices.C.w_max ")]
    assert "0.9" in w_max and "[--set via hw.device]" in w_max
