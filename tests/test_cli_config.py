"""``archsim config show / explain / reference``: resolved values, their origins, one key explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from archsim.cli import main
from archsim.config.loader import load_run_config
from archsim.config.schema import to_plain
from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HW = str(Path("hw_configs") / "default.yaml")


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


def test_show_names_the_file_the_default_and_the_set_behind_each_value(capsys):
    rows = show(capsys, "--set", "hw.adc.bits=6", "--set", "model.layers.0.out=32")
    assert rows["hw.adc.bits"][:2] == ("6 bits", "--set")
    assert rows["hw.tile.rows"][:2] == ("256 rows", DEFAULT_HW)
    assert rows["hw.adc.transfer_bits"][:2] == ("null", "default")  # in no file
    assert rows["training.epochs"][1] == str(Path("workloads") / "fcn_digits.yaml")
    assert rows["model.layers.0.out"][:2] == ("32 units", "--set")
    assert rows["model.layers.0.activation"][1] == str(Path("workloads") / "fcn_digits.yaml")
    assert rows["model.layers.0.kernel"][1] == "default"  # the layer's mapping omits it
    assert rows["hw.adc.bits"][2] == "ADC resolution"
    assert rows["hw.array.read_time"][0] == "10ns"  # quantities keep their unit


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
    assert rows["hw.clock"][0] == expected["hw.clock"] == "1GHz"


def test_show_follows_base_files_workload_overrides_and_presets(capsys, tmp_path):
    hw = tmp_path / "chip.yaml"
    hw.write_text(
        f"base: {ROOT / 'hw_configs' / 'default.yaml'}\nadc:\n  bits: 6\ndevice:\n  preset: ecram\n  dw_min: 0.004\n"
    )
    workload = tmp_path / "work.yaml"
    workload.write_text(
        f"base: {ROOT / 'workloads' / 'fcn_digits.yaml'}\ntraining:\n  epochs: 2\nhw:\n  tile:\n    count: 128\n"
    )
    rows = show(capsys, workload, "--hw", hw)
    assert rows["hw.adc.bits"][1] == str(hw)
    assert rows["hw.tile.rows"][1] == DEFAULT_HW  # from the base of the chip file
    assert rows["hw.tile.count"][:2] == ("128 tiles", str(workload))  # the workload's hw override
    assert rows["training.epochs"][:2] == ("2 epochs", str(workload))
    assert rows["training.lr"][1] == str(Path("workloads") / "fcn_digits.yaml")
    assert rows["hw.device.gamma_up"][:2] == ("0.1153", "preset ecram")  # the preset's value, not the default
    assert rows["hw.device.dw_min"][:2] == ("0.004", str(hw))  # the file overrides its preset


def test_show_of_a_hardware_file_shows_only_hw(capsys):
    rows = show(capsys, "hw_configs/isaac_like.yaml", "--set", "adc.bits=4")
    assert all(key.startswith("hw.") for key in rows)
    assert rows["hw.tile.rows"][:2] == ("128 rows", str(Path("hw_configs") / "isaac_like.yaml"))
    assert rows["hw.adc.bits"][:2] == ("4 bits", "--set")
    assert rows["hw.array.r_on"][1] == DEFAULT_HW  # isaac_like's base


def test_explain_a_key(capsys):
    assert main(["config", "explain", "hw.adc.bits"]) == 0
    out = capsys.readouterr().out
    assert "description: ADC resolution" in out
    assert "unit:        bits" in out
    assert "default:     8" in out
    assert "allowed:     >= 1, <= 16" in out
    assert "source:      ISAAC (ISCA 2016): 8-bit SAR" in out


def test_explain_a_device_key_lists_the_presets_that_change_it(capsys):
    assert main(["config", "explain", "hw.device.w_max"]) == 0
    out = capsys.readouterr().out
    assert "seed_mnist=0.7" in out and "reram_sb=1.25" in out


def test_explain_a_quantity_and_a_list_item(capsys):
    assert main(["config", "explain", "hw.array.read_time"]) == 0
    out = capsys.readouterr().out
    assert "unit:        s" in out and "default:     10ns" in out
    assert main(["config", "explain", "model.layers.3.activation"]) == 0
    assert "allowed:     none, sigmoid, tanh, relu" in capsys.readouterr().out


def test_explain_a_section_lists_its_keys(capsys):
    assert main(["config", "explain", "hw.noc"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hw.noc: section")
    assert "topology" in out and "link_width" in out


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
    assert result.stderr.strip() == (
        f"error: {bad}: training.epochz: unknown key; did you mean 'epochs'? "
        "(allowed: batch_size, epochs, lr, reduction, seed)"
    )
