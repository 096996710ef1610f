"""End-to-end sweeps with the real simulator (``archsim.run.execute``) on a tiny configuration.

1. A real Dask scheduler and two workers (separate processes, 127.0.0.1 only) run a sweep submitted
   by ``archsim sweep --scheduler``; one worker is SIGKILLed while it runs a point. Every point must
   still land in the database exactly once.
2. A local ``archsim sweep --workers 2`` is SIGKILLed midway; the database holds only whole rows; the
   same command run again finishes the rest, and every point is there exactly once.

Every socket is on loopback and every wait is bounded.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from archsim.sweep.spec import load_spec, resolve_points
from conftest import ROOT, run_cli

WORKLOAD = ROOT / "workloads" / "fcn_digits.yaml"
LOOPBACK = "127.0.0.1"
LOOPBACK_HTTP = "127.0.0.1:0"  # Dask's HTTP servers would otherwise listen on every interface
WAIT_S = 120.0  # upper bound on any one wait in these tests


def tiny_sweep(tmp_path, n_points, max_train=40):
    """n_points runs of the digits FCN that differ only in seed (equal cost, distinct run_ids)."""
    path = tmp_path / "sweep.yaml"
    path.write_text(f"workload: {WORKLOAD}\n"
                    f"set:\n  training.epochs: 1\n  dataset.max_train: {max_train}\n"
                    f"seeds: {list(range(n_points))}\n")
    return path, {p.run_id for p in resolve_points(load_spec(path))}


def db_rows(db):
    """(run_id, status, worker) of every row; empty while the database does not exist yet."""
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as connection:
        try:
            return connection.execute("SELECT run_id, status, worker FROM runs").fetchall()
        except sqlite3.OperationalError:  # the table is not created yet
            return []


def wait_for(condition, what, timeout=WAIT_S, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(process):
    """SIGKILL a process group we started (no-op if it is gone)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


@contextmanager
def dask_cluster(tmp_path, n_workers):
    """A real scheduler and n single-threaded workers, each its own process group, on 127.0.0.1."""
    scheduler_file = tmp_path / "scheduler.json"
    python = sys.executable
    started = []
    logs = []

    def spawn(args, name):
        log = open(tmp_path / f"{name}.log", "w")
        logs.append(log)
        process = subprocess.Popen([python, "-m", *args], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                   start_new_session=True)
        started.append(process)
        return process

    try:
        spawn(["distributed.cli.dask_scheduler", "--host", LOOPBACK, "--port", "0", "--no-dashboard",
               "--dashboard-address", LOOPBACK_HTTP, "--scheduler-file", str(scheduler_file)], "scheduler")
        wait_for(lambda: scheduler_file.exists() and scheduler_file.stat().st_size > 0, "the scheduler file", 60)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith(f"tcp://{LOOPBACK}:")
        workers = {}
        for i in range(n_workers):
            name = f"w{i}"
            # --no-nanny: the worker is the process itself, so SIGKILL really takes it away mid-point.
            workers[name] = spawn(["distributed.cli.dask_worker", address, "--host", LOOPBACK, "--nthreads", "1",
                                   "--no-nanny", "--name", name, "--no-dashboard", "--dashboard-address",
                                   LOOPBACK_HTTP, "--death-timeout", "60"], name)
        yield address, workers
    finally:
        for process in reversed(started):
            stop(process)
        for log in logs:
            log.close()


def test_sweep_on_a_dask_cluster_survives_a_killed_worker(tmp_path):
    from distributed import Client

    spec, expected = tiny_sweep(tmp_path, 8, max_train=1000)  # ~0.5 s a point: long enough to kill midway
    db = tmp_path / "results.db"
    with dask_cluster(tmp_path, 2) as (address, workers), Client(address, timeout=30) as observer:
        by_name = wait_for(lambda: {w["name"]: a for a, w in observer.scheduler_info()["workers"].items()}
                           if len(observer.scheduler_info()["workers"]) == 2 else None, "two workers", 60)
        victim_address, survivor_address = by_name["w1"], by_name["w0"]
        survivor_pid = observer.run(os.getpid, workers=[survivor_address])[survivor_address]
        sweep = subprocess.Popen([sys.executable, "-m", "archsim", "sweep", str(spec), "--db", str(db),
                                  "--scheduler", address], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            # Midway: some point is recorded, and the victim is in the middle of another one.
            def victim_busy():
                if not any(status == "done" for _, status, _ in db_rows(db)):
                    return None
                keys = observer.processing().get(victim_address, ())
                return [k for k in keys if str(k).startswith("archsim_point-")] or None

            busy_keys = wait_for(victim_busy, "a recorded point while worker w1 runs another")
            workers["w1"].send_signal(signal.SIGKILL)
            interrupted_run_ids = {str(k).split("-")[1] for k in busy_keys}
            assert len(db_rows(db)) < len(expected), "the sweep ended before the worker was killed"
            out, err = sweep.communicate(timeout=WAIT_S)
        finally:
            if sweep.poll() is None:
                stop(sweep)
    assert sweep.returncode == 0, err
    rows = db_rows(db)
    assert sorted(r[0] for r in rows) == sorted(expected)  # every point, exactly once
    assert all(status == "done" for _, status, _ in rows)
    # the point the killed worker was running was rescheduled and finished by the survivor
    finished_by = {run_id: worker for run_id, _, worker in rows}
    for run_id in interrupted_run_ids:
        assert finished_by[run_id].endswith(f":{survivor_pid}")
    assert f"{len(expected)} points: " in out


def test_sigkilled_local_sweep_resumes_without_loss_or_duplicates(tmp_path):
    spec, expected = tiny_sweep(tmp_path, 8, max_train=1000)  # ~0.5 s a point: long enough to kill midway
    db = tmp_path / "results.db"
    command = [sys.executable, "-m", "archsim", "sweep", str(spec), "--db", str(db), "--workers", "2"]
    sweep = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        wait_for(lambda: len(db_rows(db)) >= 2, "two recorded points")
        sweep.send_signal(signal.SIGKILL)  # the coordinator dies mid-sweep, no chance to clean up
        sweep.wait(timeout=30)
        # its local worker processes notice and exit by themselves (nothing is left running)
        wait_for(lambda: not group_alive(sweep.pid), "the orphaned workers to exit", timeout=30)
    finally:
        stop(sweep)  # its orphaned worker processes share its process group
    kept = db_rows(db)
    assert 2 <= len(kept) < len(expected), "the sweep should have been killed midway"
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = connection.execute("SELECT run_id, status, report, finished_at FROM runs").fetchall()
    assert all(status == "done" and json.loads(report)["schema"] == "archsim.report/1"
               for _, status, report, _ in rows)  # only whole rows
    finished_before = {run_id: finished for run_id, _, _, finished in rows}

    result = run_cli("sweep", spec, "--db", db, "--workers", "2", timeout=WAIT_S)
    assert result.returncode == 0, result.stderr
    assert f"{len(kept)} skipped" in result.stdout
    with sqlite3.connect(db) as connection:
        final = connection.execute("SELECT run_id, status, finished_at FROM runs").fetchall()
    assert sorted(r[0] for r in final) == sorted(expected)  # none lost, none twice
    assert all(status == "done" for _, status, _ in final)
    assert all(finished_before[run_id] == finished for run_id, _, finished in final if run_id in finished_before)


def test_report_of_a_real_sweep(tmp_path):
    """The CLI pipeline: a two-point ADC sweep with the real simulator, then its report."""
    spec = tmp_path / "adc.yaml"
    spec.write_text(f"workload: {WORKLOAD}\nset:\n  training.epochs: 1\n  dataset.max_train: 40\n"
                    "grid:\n  hw.adc.bits: [4, 8]\n")
    db = tmp_path / "results.db"
    result = run_cli("sweep", spec, "--db", db, "--workers", "2", timeout=WAIT_S)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT params, metric_name, energy_pj, latency_ns FROM runs").fetchall()
    assert sorted(json.loads(p)["hw.adc.bits"] for p, *_ in rows) == [4, 8]
    assert all(name == "test_accuracy" and energy > 0 and latency > 0 for _, name, energy, latency in rows)
    # one key, two effects: the wider ADC costs more energy per step
    energy = {json.loads(p)["hw.adc.bits"]: e for p, _, e, _ in rows}
    assert energy[8] > energy[4]
    report = run_cli("report", db, "--out", tmp_path / "report", timeout=WAIT_S)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "pareto_metric_vs_energy_pj.png").exists()
