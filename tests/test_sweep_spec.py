"""Sweep files: expansion (grid, zip, random, seeds), identities, and one-line errors naming point and key."""

import textwrap

import pytest
import yaml

from archsim.config.loader import load_run_config, resolved_yaml
from archsim.errors import ConfigError
from archsim.sweep.spec import config_identity, expand, load_spec, resolve_points, unique_points
from archsim.sweep.worker import config_from_text
from conftest import ROOT, run_cli

WORKLOAD = ROOT / "workloads" / "fcn_digits.yaml"


def write_spec(tmp_path, body, name="sweep.yaml"):
    path = tmp_path / name
    path.write_text(f"workload: {WORKLOAD}\n" + textwrap.dedent(body))
    return path


def error_of(path):
    with pytest.raises(ConfigError) as caught:
        resolve_points(load_spec(path))
    return str(caught.value)


def test_grid_zip_random_seeds_expand_in_documented_order(tmp_path):
    path = write_spec(tmp_path, """
        set: {training.epochs: 1}
        grid:
          hw.adc.bits: [4, 8]
          hw.dac.bits: [6, 7]
        zip:
          hw.tile.rows: [64, 128, 256]
          hw.tile.cols: [64, 128, 256]
        random:
          n: 2
          seed: 3
          params:
            training.lr: {range: [0.01, 0.1], log: true}
        seeds: [5, 6]
    """)
    points = resolve_points(load_spec(path))
    assert len(points) == 2 * 2 * 3 * 2 * 2
    assert [p.number for p in points] == list(range(1, len(points) + 1))
    first, second = points[0].params, points[1].params
    assert first["training.seed"] == 5 and second["training.seed"] == 6  # seeds innermost
    assert {k: v for k, v in first.items() if k != "training.seed"} == \
        {k: v for k, v in second.items() if k != "training.seed"}
    # the last grid key varies faster than the first
    assert [p.params["hw.dac.bits"] for p in points[::12]] == [6, 7, 6, 7]
    assert [p.params["hw.adc.bits"] for p in points[::12]] == [4, 4, 8, 8]
    # zipped keys move together; fixed `set` keys are not swept parameters
    assert all(p.params["hw.tile.rows"] == p.params["hw.tile.cols"] for p in points)
    assert "training.epochs" not in first
    # each point's resolved configuration carries its values
    config = config_from_text(points[-1].config_yaml)
    assert (config.hw.adc.bits, config.hw.dac.bits, config.hw.tile.rows, config.training.seed,
            config.training.epochs) == (8, 7, 256, 6, 1)
    assert len({p.run_id for p in points}) == len(points)


def test_random_samples_are_reproducible_and_within_bounds(tmp_path):
    body = """
        random:
          n: 50
          seed: 11
          params:
            training.lr: {range: [0.001, 0.1], log: true}
            hw.tile.count: {range: [2, 9]}
            hw.adc.bits: {choices: [4, 6, 8]}
    """
    samples = [{a.key: a.value for a in combo} for combo in expand(load_spec(write_spec(tmp_path, body)))]
    again = [{a.key: a.value for a in combo} for combo in expand(load_spec(write_spec(tmp_path, body, "again.yaml")))]
    assert samples == again
    assert all(0.001 <= s["training.lr"] <= 0.1 for s in samples)
    assert all(isinstance(s["hw.tile.count"], int) and 2 <= s["hw.tile.count"] <= 9 for s in samples)
    assert {s["hw.tile.count"] for s in samples} == set(range(2, 10))  # both ends reachable
    assert {s["hw.adc.bits"] for s in samples} == {4, 6, 8}
    other = [{a.key: a.value for a in combo} for combo in expand(load_spec(write_spec(tmp_path, body.replace("seed: 11", "seed: 12"),
                                                           "other.yaml")))]
    assert other != samples


def test_run_id_is_stable_and_survives_the_resolved_round_trip():
    config = load_run_config(WORKLOAD, None, ["training.epochs=1", "hw.adc.bits=6"])
    run_id, seed = config_identity(config)
    text = resolved_yaml(config)
    assert config_identity(config_from_text(text)) == (run_id, seed)
    assert resolved_yaml(config_from_text(text)) == text
    changed = load_run_config(WORKLOAD, None, ["training.epochs=1", "hw.adc.bits=7"])
    assert config_identity(changed)[0] != run_id
    other_seed = load_run_config(WORKLOAD, None, ["training.epochs=1", "hw.adc.bits=6", "training.seed=1"])
    assert config_identity(other_seed)[0] != run_id


def test_equal_points_share_a_run_id_and_run_once(tmp_path):
    # 8 written as 8 and as 8.0: both resolve to the same configuration
    path = write_spec(tmp_path, "grid:\n  hw.adc.bits: [8, 6, 8.0]\n")
    points = resolve_points(load_spec(path))
    unique, repeats = unique_points(points)
    assert [p.number for p in unique] == [1, 2]
    assert repeats == {3: 1}


def test_values_keep_their_types_through_set(tmp_path):
    path = write_spec(tmp_path, """
        set:
          hw.array.read_time: 20ns
          training.lr: 1.0e-05
          algorithm.name: analog_sgd
          model.layers.0.out: 32
    """)
    config = config_from_text(resolve_points(load_spec(path))[0].config_yaml)
    assert config.hw.array.read_time == pytest.approx(20e-9)
    assert config.training.lr == 1e-05
    assert config.algorithm.name == "analog_sgd"
    assert config.model.layers[0].out == 32


def test_relative_base_files_are_taken_from_the_spec_folder(tmp_path):
    folder = tmp_path / "studies"
    folder.mkdir()
    (tmp_path / "my_hw.yaml").write_text("adc:\n  bits: 5\n")
    (folder / "s.yaml").write_text(f"hw: ../my_hw.yaml\nworkload: {WORKLOAD}\n")
    config = config_from_text(resolve_points(load_spec(folder / "s.yaml"))[0].config_yaml)
    assert config.hw.adc.bits == 5


@pytest.mark.parametrize("body,expected", [
    ("grid:\n  hw.adc.bits: [4, 6, 17]\n",
     "grid.hw.adc.bits[2] (point 3): 17 is out of range; expected a value in [1, 16]"),
    ("grid:\n  hw.adc.bits: [4, 6]\nzip:\n  hw.tile.rows: [64, 0]\n  hw.tile.cols: [64, 64]\n",
     "zip.hw.tile.rows[1] (point 2): 0 is out of range"),
    ("random:\n  n: 3\n  seed: 0\n  params:\n    algorithm.name: {choices: [tiki_taka, tiki_tak]}\n",
     "random.params.algorithm.name["),
    ("seeds: [0, -1]\n", "seeds.1: -1 is out of range; expected a value >= 0"),
    ("grid:\n  hw.tile.cols: [256, 16]\n",
     "hw.tile.adcs (point 2): 32 ADCs exceed the 16 columns of a tile; expected at most cols "
     "(this point sets grid.hw.tile.cols[1]=16)"),
    ("set:\n  hw.adc.bits: 0\n", "set.hw.adc.bits: 0 is out of range"),
    ("grdi:\n  hw.adc.bits: [4]\n", "grdi: unknown key; did you mean 'grid'?"),
    ("grid:\n  hw.adc.bitz: [4]\n", "grid.hw.adc.bitz: unknown key 'bitz'; did you mean 'bits'?"),
    ("grid:\n  trainig.epochs: [1]\n", "grid.trainig.epochs: unknown section 'trainig'; did you mean 'training'?"),
    ("grid:\n  hw.adc.bits.x: [1]\n", "grid.hw.adc.bits.x: hw.adc.bits is a value, not a section"),
    ("grid:\n  hw.adc.bits: 4\n", "grid.hw.adc.bits: expected a list of values, got the number 4"),
    ("grid:\n  hw.adc.bits: []\n", "grid.hw.adc.bits: expected a non-empty list of values"),
    ("grid:\n  hw.adc.bits: [4, 5, 6, 7, 8]\n  hw.tile.count: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nseeds: "
     + str(list(range(2001))) + "\n", "grid: the sweep expands to 100050 points; expected at most 100000"),
    ("random:\n  n: 1000000\n  seed: 0\n  params:\n    training.lr: {range: [0.01, 0.1]}\n",
     "random.n: 1000000 is out of range; expected a value in [1, 100000]"),
    ("random:\n  n: 2\n  seed: 0\n  params:\n    training.lr: {range: [0.01, 0.1], choices: [1]}\n",
     "random.params.training.lr.range: expected exactly one of range"),
    ("set: [1, 2]\n", "set: expected a mapping of names to values, got a list"),
    ("zip:\n  hw.tile.rows: [64, 128]\n  hw.tile.cols: [64]\n",
     "zip.hw.tile.cols: has 1 values but zip.hw.tile.rows has 2"),
    ("random:\n  n: 2\n  seed: 0\n  parms: {}\n", "random.parms: unknown key; did you mean 'params'?"),
    ("random:\n  n: 2\n  seed: 0\n  params:\n    training.lr: {range: [0.1, 0.01]}\n",
     "random.params.training.lr.range: expected low < high"),
    ("random:\n  n: 2\n  params:\n    training.lr: {range: [0.01, 0.1]}\n", "random.seed: expected an integer"),
    ("set:\n  hw.adc.bits: 6\ngrid:\n  hw.adc.bits: [4]\n",
     "grid.hw.adc.bits: hw.adc.bits is already set by set.hw.adc.bits"),
    ("grid:\n  training.seed: [1, 2]\nseeds: [0]\n", "seeds: training.seed is already set by grid.training.seed"),
    ("seeds: [1, 1]\n", "seeds.1: seed 1 repeats seeds.0"),
    ("hw: nowhere.yaml\n", "hw: file"),
])
def test_bad_specs_name_the_entry_and_point(tmp_path, body, expected):
    path = write_spec(tmp_path, body)
    message = error_of(path)
    assert message.startswith(f"{path}: {expected}"), message
    assert "\n" not in message


def test_cli_reports_a_bad_point_in_one_line_with_exit_2_before_running(tmp_path):
    path = write_spec(tmp_path, "grid:\n  hw.adc.bits: [4, 6, 17]\nseeds: [0, 1, 2]\n")
    db = tmp_path / "results.db"
    result = run_cli("sweep", path, "--db", db, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {path}: grid.hw.adc.bits[2] (point 7): 17 is out of range; expected a value in "
                     "[1, 16] (bits)"]
    assert not db.exists()  # nothing ran, nothing was created


def test_cli_dry_run_lists_points(tmp_path):
    path = write_spec(tmp_path, "description: ADC study\ngrid:\n  hw.adc.bits: [4, 6]\nseeds: [0, 1]\n")
    result = run_cli("sweep", path, "--dry-run", "--db", tmp_path / "r.db", timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "ADC study"
    assert lines[1].startswith("point    1 ") and lines[1].endswith("hw.adc.bits=4, training.seed=0")
    assert lines[4].startswith("point    4 ") and lines[4].endswith("hw.adc.bits=6, training.seed=1")
    assert lines[-1] == "4 points valid; 4 to run"


@pytest.mark.parametrize("study", sorted((ROOT / "workloads" / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_studies_are_valid(study):
    points = resolve_points(load_spec(study))
    # shipped studies are examples a workstation runs in minutes: a couple of dozen points at most
    assert 2 <= len(points) <= 24
    spec = yaml.safe_load(study.read_text())
    assert spec.get("description"), "each study says what it asks"
