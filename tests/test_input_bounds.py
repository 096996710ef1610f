"""Hostile or odd input: every class ends in one short `error:` line with exit status 2, never a traceback,
a hang or unbounded memory; and the YAML reading rules (duplicate keys, YAML 1.2 numbers) hold in files and
in --set alike."""

import os

import pytest

from archsim.config.loader import load_run_config, parse_set
from archsim.config.yamltext import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from archsim.errors import ArchsimError, did_you_mean, excerpt
from clihelp import one_error_line, run_inprocess

WORKLOAD = "workloads/fcn_digits.yaml"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def validate(*args):
    return run_inprocess("validate", *args)


# -- YAML reading rules ------------------------------------------------------------------------------

def test_duplicate_key_names_the_key_and_both_lines(tmp_path):
    path = write(tmp_path, "w.yaml", "training:\n  epochs: 2\n  lr: 0.1\n  epochs: 3\n")
    line = one_error_line(validate(path))
    assert line == (f"error: {path}: training.epochs: key 'epochs' is written twice in one mapping (lines 2 and 4);"
                    " expected each key once")


def test_duplicate_key_in_a_hardware_file_has_the_hw_key_path(tmp_path):
    (tmp_path / "hw_configs").mkdir()
    path = write(tmp_path / "hw_configs", "chip.yaml", "adc:\n  bits: 6\n  bits: 8\n")
    line = one_error_line(run_inprocess("run", WORKLOAD, "--hw", path))
    assert line.startswith(f"error: {path}: hw.adc.bits: key 'bits' is written twice")


def test_merge_keys_are_not_duplicates(tmp_path):
    path = write(tmp_path, "w.yaml", "training:\n  <<: {epochs: 2}\n  lr: 0.1\n")
    assert load_run_config(path).training.epochs == 2


@pytest.mark.parametrize("text,value", [("1e-3", 1e-3), ("1.0e6", 1e6), ("2E+2", 200.0), ("-5e-1", -0.5),
                                        (".5e1", 5.0), ("3", 3), ("0.25", 0.25), ("1e3ns", "1e3ns")])
def test_exponent_numbers_are_numbers(tmp_path, text, value):
    """YAML 1.1 reads 1e-3 as a string; archsim reads it as YAML 1.2 does, in --set and in files."""
    assert parse_set(f"training.lr={text}")[1] == value
    path = write(tmp_path, "w.yaml", f"training:\n  lr: {text}\n")
    if isinstance(value, float) and value > 0:
        assert load_run_config(path).training.lr == value
        assert load_run_config(None, None, [f"training.lr={text}"]).training.lr == value


# -- bounded input ---------------------------------------------------------------------------------------

def test_alias_bomb_is_refused_quickly_with_a_short_line(tmp_path):
    lines = ['a: &a ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxxxxxxxxxxxx"]']
    for i in range(1, 12):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]")
    lines.append("training:\n  epochs: *l")
    path = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    assert path.stat().st_size < 1000  # 9^11 strings once expanded
    line = one_error_line(validate(path))
    assert f"expands to more than {MAX_NODES} values" in line


def test_deep_nesting_is_refused(tmp_path):
    path = write(tmp_path, "deep.yaml", "training: " + "[" * 20000 + "]" * 20000 + "\n")
    line = one_error_line(validate(path))
    assert f"nested more than {MAX_DEPTH} levels deep" in line


def test_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, "loop.yaml", "training: &a\n  epochs: [*a]\n")
    assert "contains it" in one_error_line(validate(path))


def test_long_base_chain_is_refused(tmp_path):
    write(tmp_path, "b0.yaml", "training:\n  epochs: 1\n")
    for i in range(1, 300):
        write(tmp_path, f"b{i}.yaml", f"base: b{i - 1}.yaml\n")
    assert "files deep in base: chains" in one_error_line(validate(tmp_path / "b299.yaml"))


def test_large_file_is_refused(tmp_path):
    path = write(tmp_path, "big.yaml", "# " + "x" * MAX_FILE_BYTES + "\n")
    assert f"at most {MAX_FILE_BYTES} bytes" in one_error_line(validate(path))


def test_device_file_is_refused_without_reading_it():
    assert "is not a regular file" in one_error_line(validate("/dev/zero"))


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    assert "is not a regular file" in one_error_line(validate(fifo))
    assert "is not a regular file" in one_error_line(run_inprocess("run", fifo))


HUGE = "9" * 400


@pytest.mark.parametrize("assignment,expected", [
    ("model.input_shape.0.x=1", "model.input_shape.0: is a value, not a section"),
    (f"hw.tile.rows={HUGE}", "hw.tile.rows: 99999"),
    (f"hw.array.on_off_ratio={HUGE}", "hw.array.on_off_ratio: expected a finite number"),
    (f"training.lr={HUGE}.5", "training.lr: expected a finite number"),
    ("training.lr=1e400", "training.lr: expected a finite number"),
    ("hw.clock=1e1000000GHz", "hw.clock: '1e1000000GHz' is not a finite frequency"),
    (f"hw.clock={HUGE}GHz", "hw.clock: '99999"),
    ("hw.device.preset=[a]", "hw.device.preset: unknown preset ['a']"),
    ("hw.device.preset={a: 1}", "hw.device.preset: unknown preset {'a': 1}"),
    ("hw.noc.topology=[mesh]", "hw.noc.topology: expected a string"),
    ("training.epochs=[1, 2]", "training.epochs: expected an integer"),
    ("hw.adc.fom_rolloff_db_per_decade=1e6", "hw.adc.fom_rolloff_db_per_decade: 1000000.0 is out of range"),
    ("hw.name=" + "n" * 100_000, None),  # fine as a name, and never echoed whole
    ("training.optimizer=" + "z" * 100_000, "training.optimizer"),
    ("hw.noc.topology=" + "m" * 100_000, "hw.noc.topology: 'mmmm"),
    ("training.lr=" + "[" * 5000, None),
])
def test_odd_set_values_are_one_short_line(assignment, expected):
    result = validate(WORKLOAD, "--set", assignment)
    if expected is None and result.returncode == 0:
        return
    line = one_error_line(result)
    assert line.startswith("error: --set: ") and (expected is None or expected in line), line


def test_excerpt_is_short_and_cheap_for_huge_values():
    nested = [["x" * 10_000] * 1000] * 1000  # a million references; its repr would be 10 GB
    assert len(excerpt(nested)) < 80
    assert len(excerpt("y" * 10**6)) < 80
    assert len(excerpt(10 ** 400)) < 80
    error = ArchsimError("a\nmessage\n" + "z" * 5000)
    assert "\n" not in str(error) and len(str(error)) <= 600


def test_did_you_mean_never_suggests_the_word_itself():
    assert did_you_mean("energy_pj", ["energy_pj", "energy_pj_x"]) == "; did you mean 'energy_pj_x'?"
    assert did_you_mean("energy_pj", ["energy_pj"]) == ""
    assert did_you_mean("bitz", ["bits", "rows"]) == "; did you mean 'bits'?"


def test_the_helper_has_one_home():
    """The 'did you mean' wording is produced in one place (archsim.errors.did_you_mean)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "archsim"
    users = [p for p in root.rglob("*.py") if "get_close_matches" in p.read_text()]
    assert [p.name for p in users] == ["errors.py"]


def test_too_few_tiles_names_the_file_and_key_path(tmp_path):
    hw = write(tmp_path, "small.yaml", "tile:\n  count: 1\n")
    line = one_error_line(run_inprocess("run", WORKLOAD, "--hw", hw, "--out", tmp_path / "o", "--no-progress",
                                        "--set", "dataset.max_train=10", "--epochs", "1"))
    assert line.startswith(f"error: {hw}: hw.tile.count: the chip has 1 tiles but the network needs 2"), line
    line = one_error_line(run_inprocess("run", WORKLOAD, "--set", "hw.tile.count=1", "--out", tmp_path / "o",
                                        "--no-progress", "--set", "dataset.max_train=10", "--epochs", "1"))
    assert line.startswith("error: --set: hw.tile.count: the chip has 1 tiles but the network needs 2"), line
    assert not (tmp_path / "o").exists()


def test_plot_format_is_checked_before_any_work(tmp_path):
    line = one_error_line(run_inprocess("device-response", "--pulses", "2", "--cycles", "1", "--devices", "2",
                                        "--csv", tmp_path / "r.csv", "--plot", tmp_path / "r.xyz"))
    assert "--plot" in line and "'.xyz'" in line and ".png" in line
    assert not (tmp_path / "r.csv").exists()


def test_malformed_scheduler_fails_at_once(tmp_path):
    spec = write(tmp_path, "s.yaml", f"workload: {os.path.abspath(WORKLOAD)}\n")
    for address in ("tcp:/x", "localhost", "tcp://host:99999", "http://h:1", "tcp://:80"):
        line = one_error_line(run_inprocess("sweep", spec, "--db", tmp_path / "r.db", "--scheduler", address))
        assert "--scheduler" in line and "expected a Dask scheduler address" in line
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize("assignment,expected", [
    ("hw.tile.count=1000000", "hw.tile.count: 1000000 is out of range; expected a value in [1, 4096]"),
    ("hw.tile.rows=100000", "hw.tile.rows: 100000 is out of range"),
    ("algorithm.n_reads_per_transfer=1000000000", "algorithm.n_reads_per_transfer: 1000000000 is out of range"),
    ("dataset.lsq_samples=1000000000", "dataset.lsq_samples: 1000000000 is out of range"),
    ("model.input_shape=[1, 100000, 1]", "model.input_shape.1: 100000 is out of range"),
])
def test_sizes_have_upper_limits(assignment, expected):
    line = one_error_line(validate(WORKLOAD, "--set", assignment))
    assert line.startswith(f"error: --set: {expected}"), line


def test_generated_data_size_is_bounded():
    line = one_error_line(validate(WORKLOAD, "--set", "dataset.name=lsq", "--set", "dataset.lsq_samples=5000000",
                                   "--set", "dataset.lsq_inputs=40"))
    assert "dataset.lsq_samples" in line and "expected at most 5e+07" in line


def test_network_size_is_checked_before_allocation(tmp_path, monkeypatch):
    from archsim.nn import network

    def refuse(*args, **kwargs):
        raise AssertionError("a store was allocated for a network that is too large")

    monkeypatch.setattr(network, "make_store", refuse)
    hw = write(tmp_path, "big.yaml", "tile:\n  count: 4096\n  rows: 4096\n  cols: 4096\n")
    line = one_error_line(run_inprocess("run", WORKLOAD, "--hw", hw, "--no-progress", "--out", tmp_path / "o",
                                        "--set", "model.layers=[{out: 60000}, {out: 60000}, {out: 10}]"))
    assert line.startswith("error: --set: model.layers.1: the network has more than 20000000 weights"), line
