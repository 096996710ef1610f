"""The Python API: archsim.load_config / simulate / Report / run_sweep / load_sweep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import archsim
from archsim.config.loader import load_run_config
from archsim.errors import ArchsimError, ConfigError
from archsim.run import execute

ROOT = Path(__file__).resolve().parents[1]
#: A run of a few steps: 60 samples, batch 10, two epochs.
SMALL = {"training.epochs": 2, "dataset.max_train": 60}


def without_wall_time(report: dict) -> dict:
    report = json.loads(json.dumps(report))
    report.pop("simulation")
    return report


@pytest.fixture(scope="module")
def small_report() -> archsim.Report:
    return archsim.simulate(None, **SMALL)


def test_import_archsim_is_cheap_and_exports_the_api_lazily():
    code = (
        "import sys, archsim; heavy = [m for m in ('numpy', 'numba', 'simpy', 'yaml', 'archsim.api') "
        "if m in sys.modules]; print(heavy); print(archsim.simulate.__module__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.splitlines() == ["[]", "archsim.api"]


def test_simulate_is_the_run_of_the_resolved_configuration(small_report):
    sets = [f"{k}={v}" for k, v in SMALL.items()]
    direct = execute(load_run_config(None, None, sets))
    assert without_wall_time(small_report.data) == without_wall_time(direct)


def test_overrides_as_dotted_keys_or_identifiers_and_a_loaded_config():
    config = archsim.load_config("fcn_digits", hw="isaac_like", overrides={"hw.adc.bits": 6})
    assert (config.hw.name, config.hw.adc.bits) == ("isaac_like", 6)
    from archsim.api import with_overrides

    dotted = with_overrides(config, {"hw.tile.count": 512, "model.layers.0.out": 32})
    spelled = with_overrides(config, {"hw__tile__count": 512, "model__layers__0__out": 32})
    assert dotted == spelled
    assert (dotted.hw.tile.count, dotted.model.layers[0].out) == (512, 32)
    assert config.hw.tile.count == archsim.load_config("fcn_digits", hw="isaac_like").hw.tile.count  # unchanged
    quantity = with_overrides(config, {"hw.array.read_time": "20ns"})
    assert quantity.hw.array.read_time == pytest.approx(20e-9)


def test_a_bare_key_is_an_error_that_names_the_full_path():
    with pytest.raises(ConfigError, match=r"epochs: expected a dotted key path .*did you mean 'training.epochs'"):
        archsim.simulate(epochs=2)


def test_a_bad_value_is_the_schema_error_for_that_key():
    with pytest.raises(ConfigError, match=r"hw\.adc\.bits: 17 is out of range"):
        archsim.load_config(overrides={"hw.adc.bits": 17})
    config = archsim.load_config()
    from archsim.api import with_overrides

    with pytest.raises(ConfigError, match=r"hw\.array\.read_time: expected a time with a unit"):
        with_overrides(config, {"hw.array.read_time": 1e-8})


def test_report_accessors_read_the_report(small_report):
    report = small_report
    data = report.data
    assert report.metric == data["metric"]["final"] == report.series("metric")[-1]
    assert report.metric_name == "test_accuracy"
    assert [row["epoch"] for row in report.per_epoch] == [1, 2]
    assert report.series("train_loss") == data["train_loss"]["per_epoch"]
    assert report.energy_pj == data["per_step"]["energy_pj"]
    assert sum(report.energy_pj_by_component.values()) == pytest.approx(report.energy_pj, rel=1e-12)
    assert sum(report.energy_pj_by_phase.values()) == pytest.approx(report.energy_pj, rel=1e-12)
    assert report.energy(component="adc") == report.energy_pj_by_component["adc"] > 0
    assert report.energy(phase="transfer") == report.energy_pj_by_phase["transfer"] > 0  # Tiki-Taka transfers
    assert report.latency_ns == report.latency_cycles * 1.0  # the default chip runs at 1 GHz
    # the per-epoch costs average to the run's per-step cost (equal steps per epoch)
    mean_epoch_energy = sum(report.series("energy_pj_per_step")) / 2
    assert mean_epoch_energy == pytest.approx(report.energy_pj, rel=1e-9)
    assert report.totals["steps"] == 2 * 6
    if "energy_pj_by_component_phase" not in data["per_step"]:
        with pytest.raises(ValueError, match="by component and by phase separately"):
            report.energy(component="adc", phase="update")
    with pytest.raises(KeyError, match="'adcs' is not one of"):
        report.energy(component="adcs")
    with pytest.raises(KeyError, match="not a per-epoch series"):
        report.series("accuracy")


def test_report_json_round_trip_and_plots(small_report, tmp_path):
    path = tmp_path / "report.json"
    text = small_report.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text) == small_report.data
    again = archsim.Report.from_json(path)
    assert again == small_report
    assert archsim.Report.from_json(text) == small_report
    written = small_report.plot(tmp_path / "figures")
    assert sorted(p.name for p in written) == ["energy_per_step.png", "latency_per_step.png", "training_curve.png"]
    assert all(p.stat().st_size > 0 for p in written)


def test_a_run_without_costing_has_no_cost_accessors():
    report = archsim.simulate(costing=False, **SMALL)
    assert report.metric == report.per_epoch[-1]["metric"]
    with pytest.raises(ValueError, match="without costing"):
        _ = report.energy_pj


def test_archsim_run_reports_what_simulate_reports(small_report, tmp_path):
    from archsim.cli import main

    out = tmp_path / "out"
    args = ["run", "--no-progress", "--out", str(out)]
    for key, value in SMALL.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    written = json.loads((out / "report.json").read_text())
    assert without_wall_time(written) == without_wall_time(small_report.data)


def test_sweep_runs_points_and_load_sweep_reads_them(tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        f"workload: {ROOT / 'workloads' / 'fcn_digits.yaml'}\n"
        "set:\n  training.epochs: 1\n  dataset.max_train: 40\n"
        "grid:\n  hw.adc.bits: [6, 8]\n"
    )
    result = archsim.run_sweep(spec, tmp_path / "results.db", workers=1)
    assert (result.summary.done, result.summary.failed) == (2, 0)
    runs = result.done()
    assert sorted(run.params["hw.adc.bits"] for run in runs) == [6, 8]
    for run in runs:
        assert run.report.data["hardware"]["adc_bits"] == run.params["hw.adc.bits"]
        assert run.report.energy_pj > 0
    again = archsim.run_sweep(spec, tmp_path / "results.db", workers=1)  # nothing left to run
    assert (again.summary.done, again.summary.skipped) == (0, 2)
    with pytest.raises(ArchsimError, match="not a sweep results database"):
        list(archsim.load_sweep(spec))


def test_energy_by_component_and_phase_reads_the_table_when_the_report_has_one():
    per_step = {
        "energy_pj": 6.0,
        "energy_pj_by_component": {"adc": 4.0, "noc": 2.0},
        "energy_pj_by_phase": {"forward": 5.0, "update": 1.0},
        "energy_pj_by_component_phase": {
            "adc": {"forward": 4.0, "update": 0.0},
            "noc": {"forward": 1.0, "update": 1.0},
        },
    }
    report = archsim.Report({"metric": {"name": "m", "final": 1.0, "per_epoch": [1.0]}, "per_step": per_step})
    assert report.energy(component="noc", phase="update") == 1.0
    assert report.energy(component="adc") == 4.0 and report.energy(phase="forward") == 5.0 and report.energy() == 6.0
    with pytest.raises(KeyError, match="'backward' is not one of forward, update"):
        report.energy(component="adc", phase="backward")
