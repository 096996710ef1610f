"""`archsim report` on a sweep database: CSV of all points, the Pareto front, plots, and its errors."""

import csv
import itertools
import random

import pytest

from archsim.report.sweep_report import load_results, sweep_front
from archsim.sweep.store import ResultStore
from conftest import run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_db(path, metric_name="test_accuracy", n_failed=1, seed=4):
    """A database of 3 x 4 synthetic done points plus failures; returns the done points' values."""
    rng = random.Random(seed)
    values = {}
    with ResultStore(path) as store:
        for i, (bits, rows) in enumerate(itertools.product([4, 6, 8], [64, 128, 256, 512])):
            metric = round(rng.uniform(0.5, 1.0), 3)
            energy, latency = float(rng.randint(1, 6) * 10), float(rng.randint(1, 6))
            report = {"schema": "archsim.report/1", "seed": 0,
                      "metric": {"name": metric_name, "final": metric, "per_epoch": [metric]},
                      "per_step": {"energy_pj": energy, "latency_ns": latency},
                      "totals": {"energy_pj": energy * 100, "latency_ns": latency * 100, "samples": 400},
                      "simulation": {"wall_s": 0.5}}
            run_id = f"run{i:02d}"
            store.record_done(run_id=run_id, params={"hw.adc.bits": bits, "hw.tile.rows": rows}, config_yaml="x",
                              seed=0, report=report, started_at="2026-01-01T00:00:00.000Z",
                              finished_at=f"2026-01-01T00:00:{i:02d}.000Z", worker="host:1")
            values[run_id] = (metric, energy, latency)
        for j in range(n_failed):
            store.record_failed(run_id=f"bad{j}", params={"hw.adc.bits": 2, "hw.tile.rows": 64}, config_yaml="x",
                                seed=0, error="ValueError: no\nTraceback ...", started_at=None,
                                finished_at="2026-01-01T00:01:00.000Z")
    return values


def brute_front(values, metric_higher_is_better=True):
    def better_or_equal(a, b):
        (ma, ea, la), (mb, eb, lb) = a, b
        metric_ok = ma >= mb if metric_higher_is_better else ma <= mb
        return metric_ok and ea <= eb and la <= lb

    return sorted(r for r, v in values.items()
                  if not any(better_or_equal(w, v) and w != v for o, w in values.items() if o != r))


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_report_writes_points_front_and_plots(tmp_path):
    db = tmp_path / "results.db"
    values = make_db(db)
    out = tmp_path / "out"
    result = run_cli("report", db, "--out", out, timeout=120)
    assert result.returncode == 0, result.stderr
    points = read_csv(out / "points.csv")
    assert len(points) == 13
    assert {p["status"] for p in points} == {"done", "failed"}
    failed = [p for p in points if p["status"] == "failed"]
    assert failed[0]["error"] == "ValueError: no" and failed[0]["hw.adc.bits"] == "2"
    front = read_csv(out / "pareto.csv")
    assert sorted(p["run_id"] for p in front) == brute_front(values)
    energies = [float(p["energy_pj"]) for p in front]
    assert energies == sorted(energies)
    for name in ("pareto_metric_vs_energy_pj.png", "pareto_metric_vs_latency_ns.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    assert f"{len(front)} on the Pareto front" in result.stdout
    for row in front:
        assert row["run_id"] in result.stdout  # the front is printed as a table


def test_report_with_chosen_axes_and_colour(tmp_path):
    db = tmp_path / "results.db"
    make_db(db)
    result = run_cli("report", db, "--out", tmp_path / "o", "--x", "totals.energy_pj", "--color", "hw.tile.rows",
                     timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "pareto_metric_vs_totals.energy_pj.png").read_bytes()[:8] == PNG_MAGIC
    assert not (tmp_path / "o" / "pareto_metric_vs_latency_ns.png").exists()


def test_loss_metric_is_minimised(tmp_path):
    db = tmp_path / "results.db"
    values = make_db(db, metric_name="test_loss", n_failed=0)
    results = load_results(db)
    assert sorted(r["run_id"] for r in sweep_front(results)) == brute_front(values, metric_higher_is_better=False)
    assert sorted(r["run_id"] for r in sweep_front(results)) != brute_front(values, metric_higher_is_better=True)


def one_error_line(result):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_mixed_metrics_need_a_choice(tmp_path):
    db = tmp_path / "results.db"
    make_db(db)
    with ResultStore(db) as store:
        store.record_done(run_id="lsq", params={}, config_yaml="x", seed=0, started_at=None,
                          finished_at="2026-01-02T00:00:00.000Z",
                          report={"metric": {"name": "test_loss", "final": 0.1},
                                  "per_step": {"energy_pj": 1.0, "latency_ns": 1.0}})
    line = one_error_line(run_cli("report", db, "--out", tmp_path / "o", timeout=120))
    assert "runs report different metrics (test_accuracy, test_loss)" in line and "--metric" in line
    result = run_cli("report", db, "--out", tmp_path / "o", "--metric", "test_loss", timeout=120)
    assert result.returncode == 0, result.stderr
    assert [p["run_id"] for p in read_csv(tmp_path / "o" / "pareto.csv")] == ["lsq"]


@pytest.mark.parametrize("args,expected", [
    (["--color", "hw.adc.bist"], "--color hw.adc.bist: no done run has this quantity; did you mean 'hw.adc.bits'?"),
    (["--x", "energy"], "--x energy: no done run has this quantity; did you mean 'energy_pj'?"),
])
def test_unknown_quantities_are_one_line_errors(tmp_path, args, expected):
    db = tmp_path / "results.db"
    make_db(db)
    line = one_error_line(run_cli("report", db, "--out", tmp_path / "o", *args, timeout=120))
    assert line.startswith(f"error: {expected}"), line


def test_report_refuses_what_is_not_a_results_database(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "not a results database" in one_error_line(run_cli("report", text, timeout=120))
    assert "no such results database" in one_error_line(run_cli("report", tmp_path / "missing.db", timeout=120))
