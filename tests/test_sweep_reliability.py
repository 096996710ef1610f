"""Sweeps: infeasible points found up front and recorded (not failed, not retried), claims so that two
sweeps on one database never run the same point, and old databases migrated in place."""

import os
import sqlite3
import time

import pytest

from archsim.sweep.runner import find_infeasible, pending_points, record_infeasible, run_sweep
from archsim.sweep.spec import load_spec, resolve_points
from archsim.sweep.store import CLAIM_STALE_S, COLUMNS, ResultStore
from clihelp import one_error_line, run_inprocess
from conftest import ROOT

WORKLOAD = ROOT / "workloads" / "fcn_digits.yaml"


def write_spec(tmp_path, body):
    path = tmp_path / "sweep.yaml"
    path.write_text(f"workload: {WORKLOAD}\nset:\n  training.epochs: 1\n  dataset.max_train: 20\n{body}")
    return path


@pytest.fixture
def tiles_spec(tmp_path):
    # 256x256 tiles: the 64-input network needs 2 tiles (one per layer), so a 1-tile chip cannot hold it.
    return load_spec(write_spec(tmp_path, "grid:\n  hw.tile.count: [1, 4]\n  hw.adc.bits: [6, 8]\n"))


def test_infeasible_points_are_found_before_running(tiles_spec):
    points = resolve_points(tiles_spec)
    reasons = find_infeasible(points, tiles_spec)
    infeasible = sorted(p.number for p in points if p.run_id in reasons)
    assert infeasible == [1, 2]
    reason = reasons[points[0].run_id]
    assert reason.startswith("grid.hw.tile.count[0] (point 1): the workload needs 2 tiles but the chip has 1"), reason


def test_infeasible_points_are_recorded_once_and_never_retried(tmp_path, tiles_spec):
    points = resolve_points(tiles_spec)
    reasons = find_infeasible(points, tiles_spec)
    with ResultStore(tmp_path / "r.db") as store:
        assert record_infeasible(points, reasons, store) == 2
        assert record_infeasible(points, reasons, store) == 0
        todo, summary = pending_points(points, store)
        assert sorted(p.number for p in todo) == [3, 4] and summary.skipped == 2
        rows = {row["run_id"]: row for row in store.rows()}
    assert {rows[p.run_id]["status"] for p in points[:2]} == {"infeasible"}
    assert "needs 2 tiles" in rows[points[0].run_id]["error"]


def test_dry_run_lists_infeasible_points(tmp_path):
    spec = write_spec(tmp_path, "grid:\n  hw.tile.count: [1, 4]\n")
    result = run_inprocess("sweep", spec, "--dry-run", "--db", tmp_path / "r.db")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "infeasible" in lines[0] and "needs 2 tiles" in lines[0]
    assert "to run" in lines[1]
    assert lines[-1] == "2 points valid; 1 to run; 1 infeasible (not run)"
    assert not (tmp_path / "r.db").exists()


def test_a_point_claimed_by_another_sweep_is_left_to_it(tmp_path, tiles_spec):
    ids = [p.run_id for p in resolve_points(tiles_spec)]
    db = tmp_path / "r.db"
    with ResultStore(db) as first, ResultStore(db) as second:
        assert first.claim(ids[:3]) == ids[:3]
        assert second.claim(ids) == ids[3:]
        assert second.claimed_elsewhere() == set(ids[:3])
        first.release_claims()
        assert second.claim(ids) == ids  # released claims are free again
    with ResultStore(db) as third:  # closing a store releases its claims
        assert third.claim(ids) == ids


def test_run_sweep_skips_points_held_elsewhere(tmp_path, tiles_spec):
    points = resolve_points(tiles_spec)
    db = tmp_path / "r.db"
    with ResultStore(db) as holder, ResultStore(db) as store:
        holder.claim([p.run_id for p in points])
        summary = run_sweep(points, store, None)  # nothing left for this sweep: no cluster needed
        assert summary.elsewhere == 4 and summary.done == summary.failed == 0


def test_claims_of_a_dead_or_silent_sweep_are_taken_over(tmp_path):
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        now = time.time()
        dead_pid = 2 ** 22 + 12345  # above the default pid_max: no such process
        host = store.owner.split(":")[0]
        store.connection.executemany("INSERT INTO claims VALUES (?, ?, ?)", [
            ("dead", f"{host}:{dead_pid}:x", now),
            ("silent", f"otherhost:1:x", now - CLAIM_STALE_S - 1),
            ("alive", f"otherhost:1:y", now),
            ("alive_here", f"{host}:{os.getppid()}:z", now),
        ])
        assert sorted(store.claim(["dead", "silent", "alive", "alive_here"])) == ["dead", "silent"]


def test_version_1_database_is_migrated(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, status TEXT NOT NULL CHECK (status IN "
                           "('done', 'failed')), params TEXT NOT NULL, metric_name TEXT, metric REAL, latency_ns "
                           "REAL, energy_pj REAL, report TEXT, error TEXT, config TEXT NOT NULL, seed INTEGER, "
                           "started_at TEXT, finished_at TEXT NOT NULL, worker TEXT, archsim_version TEXT)")
        connection.execute(f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ('a', 'done', '{{}}', 'm', 1.0, 1.0, "
                           "1.0, '{}', NULL, 'x', 0, NULL, 't', NULL, '0.1.0')")
        connection.execute("PRAGMA user_version=1")
    with ResultStore(db) as store:
        store.record_infeasible(run_id="b", params={}, config_yaml="x", seed=0, reason="too big", finished_at="u")
        assert store.statuses() == {"a": "done", "b": "infeasible"}


def test_db_under_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    spec = write_spec(tmp_path, "")
    line = one_error_line(run_inprocess("sweep", spec, "--db", tmp_path / "afile" / "r.db"))
    assert line == f"error: --db: cannot create {tmp_path / 'afile' / 'r.db'}: {tmp_path / 'afile'} is a file, not a folder"
