"""archsim run: the report's schema and balance, the one-key effects, determinism."""

import json
import math

import pytest

from archsim.config import load_run_config
from archsim.run import COMPONENTS, execute
from archsim.ops import PHASES
from conftest import run_cli

SMALL = ["training.epochs=1", "dataset.max_train=200"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run_cli("run", "--no-progress", "--out", out, "--epochs", "1", "--set", "dataset.max_train=300",
                     "--trace")
    assert result.returncode == 0, result.stderr
    return out, result


def test_report_schema_and_values(default_run):
    out, result = default_run
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "archsim.report/1"
    assert report["seed"] == 0
    metric = report["metric"]
    assert metric["name"] == "test_accuracy" and 0 < metric["final"] <= 100 and len(metric["per_epoch"]) == 1
    per_step = report["per_step"]
    for key in ("latency_cycles", "latency_ns", "energy_pj"):
        assert per_step[key] > 0
    assert set(per_step["energy_pj_by_component"]) <= set(COMPONENTS)
    assert set(per_step["energy_pj_by_phase"]) == set(PHASES)
    assert set(per_step["latency_ns_by_phase"]) == set(PHASES)
    for component in ("adc", "dac", "array_read", "array_write", "pulse_generator", "digital", "noc", "leakage"):
        assert per_step["energy_pj_by_component"][component] > 0, component
    for phase in PHASES:
        assert per_step["energy_pj_by_phase"][phase] > 0, phase
        assert 0 < per_step["latency_ns_by_phase"][phase] <= per_step["latency_ns"] * (1 + 1e-12)
    totals = report["totals"]
    assert totals["steps"] == 30 and totals["samples"] == 300
    assert totals["energy_pj"] == pytest.approx(per_step["energy_pj"] * totals["steps"], rel=1e-12)
    hardware = report["hardware"]
    # two layers, each one 256x256 block; same_tile placement puts A and C of a block on one tile
    assert hardware["tiles_used"] == 2 and hardware["tile_rows"] == 256 and hardware["adc_bits"] == 8
    assert report["simulation"]["wall_s"] > 0 and report["simulation"]["samples_per_s"] > 0
    simulation = report["simulation"]
    # the training steps are part of the run: their time excludes loading, building and evaluating
    assert 0 < simulation["train_wall_s"] < simulation["wall_s"]
    assert simulation["train_samples_per_s"] > simulation["samples_per_s"] and simulation["train_cpu_s"] > 0
    for name in ("config.resolved.yaml", "epochs.csv", "training_curve.png", "energy_per_step.png",
                 "latency_per_step.png", "trace.json"):
        assert (out / name).is_file(), name
    assert "test_accuracy" in result.stdout and "energy per step" in result.stdout


def test_ledger_balances(default_run):
    report = json.loads((default_run[0] / "report.json").read_text())
    per_step = report["per_step"]
    total = per_step["energy_pj"]
    assert math.fsum(per_step["energy_pj_by_component"].values()) == pytest.approx(total, rel=1e-12)
    assert math.fsum(per_step["energy_pj_by_phase"].values()) == pytest.approx(total, rel=1e-12)


def test_trace_is_chrome_json(default_run):
    trace = json.loads((default_run[0] / "trace.json").read_text())
    events = trace["traceEvents"]
    assert events and all({"name", "ph", "ts", "pid", "tid"} <= set(e) for e in events if e["ph"] == "X")
    assert any(e.get("cat") == "transfer" or "transfer" in str(e.get("args", "")) for e in events)


def without_simulation(report):
    return {k: v for k, v in report.items() if k != "simulation"}


def test_same_config_and_seed_give_identical_report(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        result = run_cli("run", "--no-progress", "--out", out, "--set", "training.epochs=1",
                         "--set", "dataset.max_train=100")
        assert result.returncode == 0, result.stderr
    ra = json.loads((a / "report.json").read_text())
    rb = json.loads((b / "report.json").read_text())
    assert json.dumps(without_simulation(ra), sort_keys=True) == json.dumps(without_simulation(rb), sort_keys=True)
    # the resolved configuration alone reproduces the run
    c = tmp_path / "c"
    result = run_cli("run", a / "config.resolved.yaml", "--no-progress", "--out", c)
    assert result.returncode == 0, result.stderr
    rc = json.loads((c / "report.json").read_text())
    assert json.dumps(without_simulation(rc), sort_keys=True) == json.dumps(without_simulation(ra), sort_keys=True)


def test_adc_bits_moves_energy_and_accuracy():
    eight = execute(load_run_config(None, None, SMALL + ["hw.adc.bits=8"]))
    four = execute(load_run_config(None, None, SMALL + ["hw.adc.bits=4"]))
    assert four["per_step"]["energy_pj_by_component"]["adc"] < eight["per_step"]["energy_pj_by_component"]["adc"]
    assert four["metric"]["final"] != eight["metric"]["final"]


def test_transfer_every_scales_transfer_energy():
    # without static power, so that the transfer phase's energy is its operations' alone
    static_free = SMALL + ["hw.leakage.static_fraction=0"]
    every1 = execute(load_run_config(None, None, static_free + ["algorithm.transfer_every=1"]))
    every10 = execute(load_run_config(None, None, static_free + ["algorithm.transfer_every=10"]))
    ratio = every1["per_step"]["energy_pj_by_phase"]["transfer"] / every10["per_step"]["energy_pj_by_phase"]["transfer"]
    # transfer reads/writes are 10x fewer; data-dependent pulse counts move it a little
    assert 7 < ratio < 13
