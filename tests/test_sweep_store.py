"""Sweep bookkeeping with cheap injected point functions on an in-process Dask cluster: resume, failures,
retries, duplicates, interruption, and what a row holds. (The real simulator runs in test_sweep_e2e.py.)"""

import json
import sqlite3
import textwrap
import threading
import time

import pytest
import yaml

from archsim.errors import ArchsimError
from archsim.sweep.runner import SilentDisplay, open_client, run_sweep
from archsim.sweep.spec import load_spec, resolve_points
from archsim.sweep.store import ResultStore
from conftest import ROOT

WORKLOAD = ROOT / "workloads" / "fcn_digits.yaml"
CALLS: list[tuple[int, int]] = []  # (adc bits, seed) of every call of a fake point function
CALLS_LOCK = threading.Lock()
BROKEN_BITS: set[int] = set()


def fake_point(text):
    """A stand-in report computed from the configuration; raises for ADC widths in BROKEN_BITS."""
    tree = yaml.safe_load(text)
    bits, seed = tree["hw"]["adc"]["bits"], tree["training"]["seed"]
    with CALLS_LOCK:
        CALLS.append((bits, seed))
    if bits in BROKEN_BITS:
        raise ValueError(f"cannot simulate {bits}-bit ADCs")
    return {"schema": "archsim.report/1", "seed": seed,
            "metric": {"name": "test_accuracy", "final": 0.1 * bits + 0.01 * seed, "per_epoch": [0.5]},
            "per_step": {"latency_ns": 100.0 * bits, "energy_pj": 2.0 ** bits, "latency_cycles": 100 * bits},
            "totals": {"energy_pj": 10 * 2.0 ** bits}, "simulation": {"wall_s": 0.01}}


def slow_point(text):
    time.sleep(0.1)  # long enough for the coordinator to see points finish a few at a time
    return fake_point(text)


def nan_metric_point(text):
    report = fake_point(text)
    report["metric"]["final"] = float("nan")
    return report


def not_a_report(text):
    return [1, 2, 3]


@pytest.fixture(scope="module")
def client():
    # Workers are threads of this process talking over in-process queues; HTTP servers on loopback.
    with open_client(2, processes=False) as dask_client:
        yield dask_client


@pytest.fixture(autouse=True)
def reset_fakes():
    CALLS.clear()
    BROKEN_BITS.clear()


def points_of(tmp_path, body="grid:\n  hw.adc.bits: [4, 6, 8]\nseeds: [0, 1]\n"):
    path = tmp_path / "sweep.yaml"
    path.write_text(f"workload: {WORKLOAD}\n" + textwrap.dedent(body))
    return resolve_points(load_spec(path))


def rows_of(db):
    with ResultStore(db, create=False) as store:
        return {row["run_id"]: row for row in store.rows()}


def test_rerun_skips_finished_points(tmp_path, client):
    points, db = points_of(tmp_path), tmp_path / "r.db"
    with ResultStore(db) as store:
        first = run_sweep(points, store, client, point_function=fake_point)
    assert (first.done, first.failed, first.skipped) == (6, 0, 0)
    assert sorted(CALLS) == [(4, 0), (4, 1), (6, 0), (6, 1), (8, 0), (8, 1)]
    before = rows_of(db)
    CALLS.clear()
    with ResultStore(db) as store:
        second = run_sweep(points, store, client, point_function=fake_point)
    assert (second.done, second.failed, second.skipped) == (0, 0, 6)
    assert CALLS == []
    assert rows_of(db) == before


def test_a_row_holds_the_headline_numbers_and_the_whole_report(tmp_path, client):
    points, db = points_of(tmp_path, "grid:\n  hw.adc.bits: [6]\n"), tmp_path / "r.db"
    with ResultStore(db) as store:
        run_sweep(points, store, client, point_function=fake_point)
    (row,) = rows_of(db).values()
    assert row["run_id"] == points[0].run_id
    assert (row["status"], row["metric_name"], row["metric"]) == ("done", "test_accuracy", pytest.approx(0.6))
    assert (row["energy_pj"], row["latency_ns"]) == (64.0, 600.0)
    assert row["report"] == fake_point(points[0].config_yaml)
    assert row["params"] == {"hw.adc.bits": 6}
    assert row["config"] == points[0].config_yaml and row["seed"] == 0
    assert row["error"] is None
    assert row["started_at"] <= row["finished_at"] and row["finished_at"].endswith("Z")
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert json.loads(raw.execute("SELECT params FROM runs").fetchone()[0]) == {"hw.adc.bits": 6}


def test_failing_point_is_recorded_the_sweep_goes_on_and_a_rerun_retries_it(tmp_path, client):
    points, db = points_of(tmp_path), tmp_path / "r.db"
    BROKEN_BITS.add(6)
    with ResultStore(db) as store:
        summary = run_sweep(points, store, client, point_function=fake_point)
    assert (summary.done, summary.failed) == (4, 2)
    rows = rows_of(db)
    failed = {r["params"]["training.seed"]: r for r in rows.values() if r["status"] == "failed"}
    assert set(failed) == {0, 1} and all(r["params"]["hw.adc.bits"] == 6 for r in failed.values())
    assert failed[0]["error"].startswith("ValueError: cannot simulate 6-bit ADCs\nTraceback")
    assert failed[0]["report"] is None and failed[0]["metric"] is None
    # the retry runs only the failed points, and the failed rows become done rows (no duplicates)
    BROKEN_BITS.clear()
    CALLS.clear()
    with ResultStore(db) as store:
        retry = run_sweep(points, store, client, point_function=fake_point)
    assert (retry.done, retry.failed, retry.skipped) == (2, 0, 4)
    assert sorted(CALLS) == [(6, 0), (6, 1)]
    rows = rows_of(db)
    assert len(rows) == 6 and all(r["status"] == "done" and r["error"] is None for r in rows.values())
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT COUNT(*), COUNT(DISTINCT run_id) FROM runs").fetchone() == (6, 6)


def test_repeated_points_run_once(tmp_path, client):
    points, db = points_of(tmp_path, "grid:\n  hw.adc.bits: [8, 6, 8]\n"), tmp_path / "r.db"
    with ResultStore(db) as store:
        summary = run_sweep(points, store, client, point_function=fake_point)
    assert (summary.points, summary.unique, summary.done, summary.repeats) == (3, 2, 2, {3: 1})
    assert sorted(CALLS) == [(6, 0), (8, 0)]
    assert len(rows_of(db)) == 2


def test_a_done_row_is_never_replaced_by_a_failure(tmp_path, client):
    points, db = points_of(tmp_path, "grid:\n  hw.adc.bits: [6]\n"), tmp_path / "r.db"
    with ResultStore(db) as store:
        run_sweep(points, store, client, point_function=fake_point)
        store.record_failed(run_id=points[0].run_id, params={}, config_yaml="", seed=0, error="late failure",
                            started_at=None, finished_at="2099-01-01T00:00:00.000Z")
    (row,) = rows_of(db).values()
    assert row["status"] == "done" and row["error"] is None


class InterruptAfter(SilentDisplay):
    """Raises KeyboardInterrupt (as Ctrl-C would) once ``count`` points are recorded."""

    def __init__(self, count):
        self.count = count

    def update(self, *, done, failed, running):
        if done >= self.count:
            raise KeyboardInterrupt


def test_an_interrupted_sweep_keeps_what_finished_and_resumes(tmp_path, client):
    points = points_of(tmp_path, "grid:\n  hw.adc.bits: [4, 5, 6, 7, 8]\nseeds: [0, 1]\n")
    db = tmp_path / "r.db"
    with ResultStore(db) as store, pytest.raises(KeyboardInterrupt):
        run_sweep(points, store, client, point_function=slow_point, display=InterruptAfter(3))
    kept = rows_of(db)
    assert 3 <= len(kept) < 10 and all(r["status"] == "done" for r in kept.values())
    with ResultStore(db) as store:
        summary = run_sweep(points, store, client, point_function=fake_point)
    assert summary.skipped == len(kept) and summary.done == 10 - len(kept)
    rows = rows_of(db)
    assert set(rows) == {p.run_id for p in points}
    assert all(rows[run_id] == row for run_id, row in kept.items())  # finished rows untouched


def test_non_finite_metric_is_stored_as_null(tmp_path, client):
    points, db = points_of(tmp_path, "grid:\n  hw.adc.bits: [6]\n"), tmp_path / "r.db"
    with ResultStore(db) as store:
        run_sweep(points, store, client, point_function=nan_metric_point)
    (row,) = rows_of(db).values()
    assert row["status"] == "done" and row["metric"] is None and row["energy_pj"] == 64.0


def test_a_point_function_returning_no_report_fails_the_point(tmp_path, client):
    points, db = points_of(tmp_path, "grid:\n  hw.adc.bits: [6]\n"), tmp_path / "r.db"
    with ResultStore(db) as store:
        summary = run_sweep(points, store, client, point_function=not_a_report)
    assert summary.failed == 1
    (row,) = rows_of(db).values()
    assert row["status"] == "failed" and "expected a report dict" in row["error"]


def test_store_refuses_files_that_are_not_results_databases(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(ArchsimError, match="not an SQLite results database"):
        ResultStore(text)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE things (x)")
    with pytest.raises(ArchsimError, match="has no 'runs' table"):
        ResultStore(other, create=False)
