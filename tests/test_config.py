from pathlib import Path

import pytest
import yaml

from archsim.config import load_hw_config, load_run_config, resolved_yaml, to_plain
from archsim.config.loader import RunConfig
from archsim.config.schema import iter_fields
from archsim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

PUBLIC_KEYS = ["hw.clock", "hw.tile.rows", "hw.tile.cols", "hw.tile.count", "hw.adc.bits", "hw.dac.bits",
               "hw.update.bl", "hw.device.model", "hw.noc.topology", "algorithm.name", "algorithm.transfer_every",
               "algorithm.n_reads_per_transfer", "algorithm.gamma", "training.epochs", "training.batch_size",
               "training.lr", "dataset.name"]


def test_public_key_paths_exist():
    keys = {key for key, _, _ in iter_fields(RunConfig)}
    for key in PUBLIC_KEYS:
        assert key in keys


def test_every_field_has_unit_and_description():
    for key, f, _ in iter_fields(RunConfig):
        assert f.metadata.get("desc"), key
        assert f.metadata.get("unit"), key


@pytest.mark.parametrize("hw", sorted((ROOT / "hw_configs").glob("*.yaml")))
@pytest.mark.parametrize("workload", sorted((ROOT / "workloads").glob("*.yaml")))
def test_shipped_configs_load(hw, workload):
    config = load_run_config(workload, hw)
    assert config.hw.tile.rows >= 1


def test_base_inheritance_and_override(tmp_path):
    (tmp_path / "parent.yaml").write_text("clock: 2GHz\ntile: {rows: 64, cols: 32}\nadc: {bits: 6}\n")
    (tmp_path / "child.yaml").write_text("base: parent.yaml\ntile: {cols: 128}\n")
    hw = load_hw_config(tmp_path / "child.yaml")
    assert hw.clock == 2e9
    assert hw.tile.rows == 64      # inherited
    assert hw.tile.cols == 128     # overridden
    assert hw.adc.bits == 6
    assert hw.tile.count == 64     # schema default


def test_isaac_inherits_default():
    hw = load_hw_config(ROOT / "hw_configs" / "isaac_like.yaml")
    assert (hw.tile.rows, hw.tile.cols, hw.tile.adcs, hw.dac.bits) == (128, 128, 1, 1)
    assert hw.array.read_time == 1e-7
    assert hw.device.model == "soft_bounds"  # from default.yaml


def test_set_overrides_are_typed():
    config = load_run_config(None, None, ["hw.adc.bits=6", "hw.array.read_time=40ns", "training.lr=0.1",
                                          "algorithm.name=analog_sgd", "model.layers.0.out=32"])
    assert config.hw.adc.bits == 6
    assert config.hw.array.read_time == 4e-8
    assert config.training.lr == 0.1
    assert config.algorithm.name == "analog_sgd"
    assert config.model.layers[0].out == 32


def test_set_wins_over_workload_hw_overrides():
    config = load_run_config(ROOT / "workloads" / "lsq_paper.yaml", None, ["hw.device.w_max=2.0"])
    assert config.hw.device.dw_min == 1e-4   # from the workload's hw block
    assert config.hw.device.w_max == 2.0     # from --set


@pytest.mark.parametrize("sets,key", [(["hw.adc.bits=eight"], "hw.adc.bits"),
                                      (["hw.adc.bitz=8"], "hw.adc.bitz"),
                                      (["hw.clock=10ns"], "hw.clock")])
def test_bad_set_names_key(sets, key):
    with pytest.raises(ConfigError) as info:
        load_run_config(None, None, sets)
    assert info.value.file == "--set"
    assert info.value.key_path == key


@pytest.mark.parametrize("workload", sorted((ROOT / "workloads").glob("*.yaml")))
def test_resolved_round_trip(tmp_path, workload):
    config = load_run_config(workload, ROOT / "hw_configs" / "isaac_like.yaml", ["hw.adc.bits=5"])
    out = tmp_path / "config.resolved.yaml"
    out.write_text(resolved_yaml(config))
    again = load_run_config(out)
    assert again == config
    assert to_plain(again) == to_plain(config)
    assert yaml.safe_load(out.read_text()) == to_plain(config)
