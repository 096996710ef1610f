"""Every class of bad input gives exactly one stderr line naming file and key path, and exit status 2."""

import pytest

from conftest import run_cli


def one_error_line(result):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


CASES = [
    ("missing.yaml", None, "(file): file not found"),
    ("empty.yaml", "", "(file): file is empty"),
    ("notyaml.yaml", "tile: [1, 2\nadc: {", "(file): not valid YAML"),
    ("unknown.yaml", "adc:\n  bitz: 8\n", "hw.adc.bitz: unknown key; did you mean 'bits'?"),
    ("wrongtype.yaml", "tile:\n  rows: many\n", "hw.tile.rows: expected an integer"),
    ("badunit.yaml", "clock: 1 GHzz\n", "hw.clock: unknown unit"),
    ("wrongkind.yaml", "array:\n  read_time: 1GHz\n", "hw.array.read_time: '1GHz' is a frequency, expected a time"),
    ("bareunit.yaml", "array:\n  read_time: 10\n", "hw.array.read_time: expected a time with a unit"),
    ("zero.yaml", "tile:\n  rows: 0\n", "hw.tile.rows: 0 is out of range"),
    ("negative.yaml", "tile:\n  count: -4\n", "hw.tile.count: -4 is out of range"),
    ("adcbits.yaml", "adc:\n  bits: 17\n", "hw.adc.bits: 17 is out of range; expected a value in [1, 16]"),
    ("badchoice.yaml", "noc:\n  topology: meshh\n", "hw.noc.topology: 'meshh' is not allowed; did you mean 'mesh'?"),
]


@pytest.mark.parametrize("name,text,expected", CASES)
def test_bad_hw_file(tmp_path, name, text, expected):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    line = one_error_line(run_cli("validate", path))
    assert line == f"error: {path}: {expected}" or line.startswith(f"error: {path}: {expected}"), line


def test_probability_out_of_range(tmp_path):
    path = write(tmp_path, "w.yaml", "dataset:\n  test_fraction: 1.5\n")
    line = one_error_line(run_cli("validate", path))
    assert line.startswith(f"error: {path}: dataset.test_fraction: 1.5 is out of range")


def test_unknown_workload_section(tmp_path):
    path = write(tmp_path, "w.yaml", "trainig:\n  epochs: 3\n")
    line = one_error_line(run_cli("validate", path))
    assert line.startswith(f"error: {path}: trainig: unknown section; did you mean 'training'?")


def test_base_loop(tmp_path):
    write(tmp_path, "a.yaml", "base: b.yaml\nclock: 1GHz\n")
    write(tmp_path, "b.yaml", "base: a.yaml\n")
    line = one_error_line(run_cli("validate", tmp_path / "a.yaml"))
    assert ": base: base files form a loop" in line


def test_error_names_the_base_file_that_set_the_key(tmp_path):
    parent = write(tmp_path, "parent.yaml", "tile:\n  rows: -1\n")
    write(tmp_path, "child.yaml", "base: parent.yaml\nclock: 1GHz\n")
    line = one_error_line(run_cli("validate", tmp_path / "child.yaml"))
    assert line.startswith(f"error: {parent}: hw.tile.rows:")


def test_cross_field_check(tmp_path):
    path = write(tmp_path, "dev.yaml", "device:\n  w_min: 1.0\n  w_max: 0.5\n")
    line = one_error_line(run_cli("validate", path))
    assert line.startswith(f"error: {path}: hw.device.w_min: w_min (1.0) must be below w_max (0.5)")


def test_run_set_error():
    line = one_error_line(run_cli("run", "--set", "hw.adc.bits=0"))
    assert line.startswith("error: --set: hw.adc.bits: 0 is out of range")


def test_validate_shipped_files():
    result = run_cli("validate", "hw_configs/default.yaml", "hw_configs/isaac_like.yaml",
                     "workloads/fcn_digits.yaml", "workloads/lsq_paper.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok:") == 4


def test_help_for_every_command():
    for command in ("run", "sweep", "report", "ert", "device-response", "validate"):
        result = run_cli(command, "--help")
        assert result.returncode == 0
        assert "usage: archsim" in result.stdout
