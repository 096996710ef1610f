"""The sweep results database (SQLite, WAL mode): one row per run, keyed by its run_id.

Only the coordinating process writes, and each finished point is written in one transaction, so a
sweep killed at any moment (even with SIGKILL) leaves every row either fully written or absent: at
most the points in flight are lost, and a re-run finds them missing and runs them again. The run_id is
the primary key, so a point can never appear twice; a failed row is replaced when its retry finishes,
and a ``done`` row is never overwritten.

Columns of ``runs`` (energies in picojoules, latencies in nanoseconds, both per training step):

==================  =======================================================================
run_id              hash of the resolved configuration and seed (primary key)
status              ``done`` or ``failed``
params              JSON object: swept key path -> value
metric_name         the report's ``metric.name`` (e.g. accuracy)
metric              the report's ``metric.final``
latency_ns          ``per_step.latency_ns``: latency of one training step (ns)
energy_pj           ``per_step.energy_pj``: energy of one training step (pJ)
report              the whole report, JSON (NULL for a failed run)
error               ``Type: message`` and the traceback of a failed run (NULL when done)
config              the resolved configuration YAML (``archsim run`` reproduces the run from it)
seed                training.seed of the run
started_at          UTC ISO 8601 time the worker started the run (NULL if unknown)
finished_at         UTC ISO 8601 time the run finished or failed
worker              host:pid of the process that ran it
archsim_version     version of archsim that recorded the row
==================  =======================================================================
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any, Iterator

from archsim import __version__
from archsim.errors import ArchsimError

SCHEMA_VERSION = 1
STATUSES = ("done", "failed")

_CREATE = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    params TEXT NOT NULL,
    metric_name TEXT,
    metric REAL,
    latency_ns REAL,
    energy_pj REAL,
    report TEXT,
    error TEXT,
    config TEXT NOT NULL,
    seed INTEGER,
    started_at TEXT,
    finished_at TEXT NOT NULL,
    worker TEXT,
    archsim_version TEXT
)"""

COLUMNS = ("run_id", "status", "params", "metric_name", "metric", "latency_ns", "energy_pj", "report", "error",
           "config", "seed", "started_at", "finished_at", "worker", "archsim_version")

# A finished point replaces a failed attempt but never a done row (two sweeps sharing a database
# may race to the same point; the first success wins and the row stays unique).
_UPSERT = f"""
INSERT INTO runs ({", ".join(COLUMNS)}) VALUES ({", ".join("?" for _ in COLUMNS)})
ON CONFLICT(run_id) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])}
WHERE runs.status != 'done'"""


def _json_default(value: Any) -> Any:
    """JSON for the numpy scalars and arrays a report may carry."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=False)


def _number(value: Any) -> float | None:
    """A finite float or None (SQLite would store NaN as NULL anyway; be explicit)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def is_sqlite_file(path: str | Path) -> bool:
    """Whether ``path`` is an SQLite database (by its 16-byte header)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


class ResultStore:
    """The results database of one or more sweeps. Use as a context manager, from one thread."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise ArchsimError(f"{self.path}: no such results database")
        if self.path.exists() and self.path.stat().st_size > 0 and not is_sqlite_file(self.path):
            raise ArchsimError(f"{self.path}: not an SQLite results database")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per finished point.
            self.connection = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            self.connection.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed point survives even a power cut, not just a killed process.
            self.connection.execute("PRAGMA synchronous=FULL")
            if create:
                self.connection.execute(_CREATE)
                self.connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise ArchsimError(f"{self.path}: cannot use as a results database: {exc}") from None

    def _check_schema(self) -> None:
        found = {row[1] for row in self.connection.execute("PRAGMA table_info(runs)")}
        if not found:
            raise ArchsimError(f"{self.path}: has no 'runs' table; expected a database written by archsim sweep")
        missing = [c for c in COLUMNS if c not in found]
        if missing:
            raise ArchsimError(f"{self.path}: the runs table lacks columns {', '.join(missing)}; "
                               "expected a database written by archsim sweep")

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    # -- reading ------------------------------------------------------------------------------
    def statuses(self) -> dict[str, str]:
        """run_id -> status of every recorded run."""
        return dict(self.connection.execute("SELECT run_id, status FROM runs"))

    def done_ids(self) -> set[str]:
        return {run_id for run_id, status in self.statuses().items() if status == "done"}

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every run as a dict of its columns, ``params`` and ``report`` decoded, in finishing order."""
        cursor = self.connection.execute(f"SELECT {', '.join(COLUMNS)} FROM runs ORDER BY finished_at, run_id")
        for values in cursor:
            row = dict(zip(COLUMNS, values))
            row["params"] = json.loads(row["params"]) if row["params"] else {}
            row["report"] = json.loads(row["report"]) if row["report"] else None
            yield row

    # -- writing (coordinating process only) ---------------------------------------------------
    def _write(self, values: dict[str, Any]) -> None:
        values = {**values, "archsim_version": __version__}
        with self.connection:  # BEGIN ... COMMIT, or ROLLBACK on error: the row is all or nothing
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.execute(_UPSERT, [values.get(c) for c in COLUMNS])

    def record_done(self, *, run_id: str, params: dict, config_yaml: str, seed: int, report: dict,
                    started_at: str | None, finished_at: str, worker: str | None = None) -> None:
        """Write a finished run in one transaction; the headline numbers are copied out of ``report``."""
        metric = report.get("metric") or {}
        per_step = report.get("per_step") or {}
        self._write({"run_id": run_id, "status": "done", "params": to_json(params),
                     "metric_name": metric.get("name"), "metric": _number(metric.get("final")),
                     "latency_ns": _number(per_step.get("latency_ns")),
                     "energy_pj": _number(per_step.get("energy_pj")), "report": to_json(report),
                     "error": None, "config": config_yaml, "seed": seed, "started_at": started_at,
                     "finished_at": finished_at, "worker": worker})

    def record_failed(self, *, run_id: str, params: dict, config_yaml: str, seed: int, error: str,
                      started_at: str | None, finished_at: str, worker: str | None = None) -> None:
        """Write a failed run in one transaction (a re-run of the sweep retries it)."""
        self._write({"run_id": run_id, "status": "failed", "params": to_json(params), "error": error,
                     "config": config_yaml, "seed": seed, "started_at": started_at,
                     "finished_at": finished_at, "worker": worker})
