"""``archsim config show / explain / reference``: resolved values, their origins, one key explained."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from archsim.cli import main
from archsim.config.hw import AdcConfig, NocConfig
from archsim.config.loader import load_run_config
from archsim.config.schema import to_plain
from archsim.config.workload import TrainingConfig
from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def show(capsys, *args) -> dict[str, tuple[str, str, str]]:
    """key -> (value, origin, description) from ``archsim config show``."""
    assert main(["config", "show", *map(str, args)]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        key, _, rest = line.partition(" = ")
        value, _, rest = rest.partition("  [")
        origin, _, description = rest.partition("]")
        rows[key.strip()] = (value.strip(), origin, description.strip())
    return rows


@pytest.fixture(autouse=True)
def _in_project_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # origins are shown relative to the working directory


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    """A hardware file on a base file, with a device preset; a workload with a layer list and hw overrides."""
    base = write(tmp_path / "base.yaml", "tile:\n  rows: 128\n  cols: 128\n")
    chip = write(
        tmp_path / "chip.yaml", "base: base.yaml\nadc:\n  bits: 6\ndevice:\n  preset: ecram\n  dw_min: 0.004\n"
    )
    workload = write(
        tmp_path / "work.yaml",
        "model:\n  input_shape: [64]\n  layers:\n    - {type: dense, out: 16, activation: sigmoid}\n"
        "    - {type: dense, out: 10}\ntraining:\n  epochs: 2\nhw:\n  tile:\n    count: 128\n",
    )
    return base, chip, workload


def test_show_names_the_file_the_preset_the_default_and_the_set_behind_each_value(capsys, files):
    from archsim.devices.presets import DEVICE_PRESETS

    base, chip, workload = files
    rows = show(capsys, workload, "--hw", chip, "--set", "hw.dac.bits=4", "--set", "model.layers.0.out=32")
    assert rows["hw.tile.rows"][:2] == ("128 rows", str(base))  # from the base of the chip file
    assert rows["hw.adc.bits"][:2] == ("6 bits", str(chip))
    assert rows["hw.tile.count"][:2] == ("128 tiles", str(workload))  # the workload's hw override
    assert rows["hw.dac.bits"][:2] == ("4 bits", "--set")
    assert rows["training.epochs"][:2] == ("2 epochs", str(workload))
    assert rows["training.lr"][1] == "default"  # in no file
    assert rows["model.layers.0.out"][:2] == ("32 units", "--set")
    assert rows["model.layers.0.activation"][:2] == ("sigmoid", str(workload))
    assert rows["model.layers.0.kernel"][1] == "default"  # the layer's mapping omits it
    assert rows["hw.device.dw_min"][:2] == ("0.004", str(chip))  # the file overrides its preset
    preset_only = next(k for k in DEVICE_PRESETS["ecram"] if k not in ("dw_min", "preset"))
    assert rows[f"hw.device.{preset_only}"][1] == "preset ecram"
    assert rows["hw.adc.bits"][2] == "ADC resolution"
    assert rows["hw.array.read_time"][0].endswith("s")  # quantities are shown with their unit


def test_a_later_base_chain_entry_and_a_replaced_list_take_over(capsys, files, tmp_path):
    _, chip, workload = files
    text = f"base: {workload.name}\nmodel:\n  layers:\n    - {{type: dense, out: 10}}\n"
    later = write(tmp_path / "later.yaml", text)
    rows = show(capsys, later, "--hw", chip)
    assert rows["model.layers.0.out"][:2] == ("10 units", str(later))
    assert rows["model.layers.0.activation"][1] == "default"  # the replaced list keeps nothing of the old one
    assert "model.layers.1.out" not in rows
    assert rows["training.epochs"][1] == str(workload)


def test_show_lists_every_resolved_key_with_its_value(capsys):
    rows = show(capsys)
    config = load_run_config(None, None, [])
    plain = to_plain(config)

    def leaves(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for i, item in enumerate(value):
                    yield from leaves(item, f"{prefix}{key}.{i}.")
            else:
                yield f"{prefix}{key}", value

    expected = dict(leaves(plain))
    assert set(rows) == set(expected)
    assert rows["hw.clock"][0] == expected["hw.clock"]


def test_show_of_a_hardware_file_shows_only_hw(capsys, files):
    base, chip, _ = files
    rows = show(capsys, chip, "--set", "dac.bits=4")
    assert all(key.startswith("hw.") for key in rows)
    assert rows["hw.tile.rows"][:2] == ("128 rows", str(base))
    assert rows["hw.adc.bits"][:2] == ("6 bits", str(chip))
    assert rows["hw.dac.bits"][:2] == ("4 bits", "--set")  # --set keys may omit hw., as for ert


def test_explain_a_key(capsys):
    assert main(["config", "explain", "hw.adc.bits"]) == 0
    out = capsys.readouterr().out
    meta = next(f for f in fields(AdcConfig) if f.name == "bits").metadata
    assert f"description: {meta['desc']}" in out
    assert "type:        int" in out
    assert "unit:        bits" in out
    assert f"allowed:     >= {meta['ge']}, <= {meta['le']}" in out
    assert f"source:      {meta['source']}" in out


def test_explain_a_device_key_lists_the_presets_that_change_it(capsys):
    from archsim.devices.presets import DEVICE_PRESETS

    assert main(["config", "explain", "hw.device.w_max"]) == 0
    out = capsys.readouterr().out
    for name, values in DEVICE_PRESETS.items():
        if "w_max" in values:
            assert f"{name}={values['w_max']}" in out


def test_explain_a_quantity_and_a_list_item(capsys):
    assert main(["config", "explain", "hw.array.read_time"]) == 0
    out = capsys.readouterr().out
    assert "unit:        s  (write it with a unit, e.g. " in out
    assert main(["config", "explain", "model.layers.3.activation"]) == 0
    assert "allowed:     none, sigmoid" in capsys.readouterr().out


def test_explain_a_section_lists_its_keys(capsys):
    assert main(["config", "explain", "hw.noc"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hw.noc: section")
    assert all(f"  {f.name} " in out for f in fields(NocConfig))


def test_explain_an_unknown_key_is_one_error_line():
    result = run_cli("config", "explain", "hw.adc.bitz")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: config explain: hw.adc.bitz: unknown key; did you mean 'hw.adc.bits'? (see `archsim config reference`)"
    ]


def test_show_of_a_bad_file_is_one_error_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  epochz: 3\n")
    result = run_cli("config", "show", bad)
    assert result.returncode == 2
    # the allowed keys are the schema's (whatever keys the training section has today)
    allowed = ", ".join(sorted(f.name for f in fields(TrainingConfig)))
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: training.epochz: unknown key; did you mean 'epochs'? (allowed: {allowed})"
    ]
