"""``archsim device-response`` through the real CLI, and bad device parameters as one-line config errors."""

import csv

import pytest

from conftest import run_cli
from test_cli_errors import one_error_line

QUIET = ["--set", "hw.device.dw_min_std=0", "--set", "hw.device.dw_min_dtod=0", "--set", "hw.device.up_down_dtod=0",
         "--set", "hw.device.w_max_dtod=0", "--set", "hw.device.w_min_dtod=0"]


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_writes_one_row_per_pulse_and_a_plot(tmp_path):
    out, png = tmp_path / "r.csv", tmp_path / "r.png"
    result = run_cli("device-response", "--pulses", 20, "--cycles", 3, "--devices", 50, "--seed", 4,
                     "--csv", out, "--plot", png)
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    assert list(rows[0]) == ["pulse", "direction", "mean_w", "std_w"]
    assert len(rows) == 2 * 20 * 3
    assert [r["pulse"] for r in rows[:3]] == ["1", "2", "3"]
    assert [r["direction"] for r in rows[18:22]] == ["up", "up", "down", "down"]
    assert float(rows[0]["std_w"]) > 0  # device-to-device variation of the default device
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = tmp_path / "again.csv"
    run_cli("device-response", "--pulses", 20, "--cycles", 3, "--devices", 50, "--seed", 4, "--csv", again)
    assert again.read_text() == out.read_text()


def test_noise_free_soft_bounds_follow_the_closed_form(tmp_path):
    # From w_min = -tau, n up pulses of soft bounds: w_n = tau - 2 tau (1 - dw/tau)^n; identical devices.
    out = tmp_path / "r.csv"
    result = run_cli("device-response", "--pulses", 50, "--cycles", 1, "--devices", 3, "--csv", out, *QUIET,
                     "--set", "hw.device.dw_min=0.01", "--set", "hw.device.w_max=0.5", "--set", "hw.device.w_min=-0.5")
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    for n in (1, 10, 50):
        expected = 0.5 - 1.0 * (1 - 0.01 / 0.5) ** n
        assert float(rows[n - 1]["mean_w"]) == pytest.approx(expected, rel=1e-6)
        assert float(rows[n - 1]["std_w"]) < 1e-12


def test_w_init_and_presets(tmp_path):
    out = tmp_path / "r.csv"
    result = run_cli("device-response", "--pulses", 5, "--cycles", 1, "--devices", 4, "--w-init", "0.1",
                     "--csv", out, *QUIET, "--set", "hw.device.model=constant_step")
    assert result.returncode == 0, result.stderr
    assert float(read_rows(out)[0]["mean_w"]) == pytest.approx(0.1 + 0.001, rel=1e-6)
    hw = tmp_path / "hw.yaml"
    hw.write_text("base: " + str((run_cli.__globals__["ROOT"] / "hw_configs" / "default.yaml")) +
                  "\ndevice:\n  preset: reram_es\n")
    result = run_cli("device-response", "--hw", hw, "--pulses", 10, "--cycles", 1, "--devices", 4, "--csv", out)
    assert result.returncode == 0, result.stderr
    assert "exp_step" in result.stdout


BAD = [
    (["--set", "hw.device.w_max=0", "--set", "hw.device.w_min=0"], "hw.device.w_min: w_min (0.0) must be below w_max"),
    (["--set", "hw.device.w_min=0.1", "--set", "hw.device.w_max=0.5"], "hw.device.w_min: [w_min, w_max] = [0.1, 0.5] must contain 0"),
    (["--set", "hw.device.dw_min=-0.001"], "hw.device.dw_min: -0.001 is out of range"),
    (["--set", "hw.update.bl=0"], "hw.update.bl: 0 is out of range"),
    (["--set", "hw.device.model=spiky"], "hw.device.model: 'spiky' is not allowed"),
    (["--set", "hw.device.preset=unobtainium"], "hw.device.preset: unknown preset"),
    (["--set", "hw.device.piecewise_down=[1, 2]"], "hw.device.piecewise_down: expected as many nodes"),
]


@pytest.mark.parametrize("sets,message", BAD)
def test_bad_device_parameters_give_one_config_error(tmp_path, sets, message):
    line = one_error_line(run_cli("device-response", "--pulses", 2, "--cycles", 1, "--devices", 2,
                                  "--csv", tmp_path / "r.csv", *sets))
    assert message in line, line


@pytest.mark.parametrize("args,message", [
    (["--pulses", 0, "--cycles", 1, "--devices", 2], "--pulses: 0 is out of range"),
    (["--pulses", 2, "--cycles", -1, "--devices", 2], "--cycles: -1 is out of range"),
    (["--pulses", 2, "--cycles", 1, "--devices", 0], "--devices: 0 is out of range"),
    (["--pulses", 2, "--cycles", 1, "--devices", 2, "--w-init", "nan"], "--w-init: expected a finite weight"),
])
def test_bad_arguments_give_one_error(tmp_path, args, message):
    line = one_error_line(run_cli("device-response", *args, "--csv", tmp_path / "r.csv"))
    assert message in line, line


def test_missing_output_folder(tmp_path):
    line = one_error_line(run_cli("device-response", "--pulses", 2, "--cycles", 1, "--devices", 2,
                                  "--csv", tmp_path / "nope" / "r.csv"))
    assert "--csv: folder" in line


def test_bad_device_file_is_reported_by_validate(tmp_path):
    path = tmp_path / "dev.yaml"
    path.write_text("device:\n  dw_min: -1\n")
    line = one_error_line(run_cli("validate", path))
    assert line.startswith(f"error: {path}: hw.device.dw_min: -1.0 is out of range")


def test_role_takes_that_arrays_device(tmp_path):
    """--role A follows hw.role_devices.A (the same response as that device as hw.device); a role without a
    section of its own is hw.device; an unknown role is one error line."""
    common = ["--pulses", 30, "--cycles", 1, "--devices", 20, "--seed", 3]
    role, plain, default, other = (tmp_path / f"{n}.csv" for n in ("role", "plain", "default", "other"))
    assert run_cli("device-response", *common, "--role", "A", "--set", "hw.role_devices.A.preset=ecram",
                   "--csv", role).returncode == 0
    run_cli("device-response", *common, "--set", "hw.device.preset=ecram", "--csv", plain)
    run_cli("device-response", *common, "--csv", default)
    run_cli("device-response", *common, "--role", "C", "--set", "hw.role_devices.A.preset=ecram", "--csv", other)
    assert role.read_text() == plain.read_text()
    assert role.read_text() != default.read_text()
    assert other.read_text() == default.read_text()
    result = run_cli("device-response", *common, "--role", "B", "--csv", tmp_path / "x.csv")
    assert result.returncode == 2
    assert one_error_line(result) == "error: --role: 'B' is not an array role; expected one of W, A, C, R"
