"""The sweep results database (SQLite, WAL mode): one row per run, keyed by its run_id.

Only coordinating processes write, and each finished point is written in one transaction, so a
sweep killed at any moment (even with SIGKILL) leaves every row either fully written or absent: at
most the points in flight are lost, and a re-run finds them missing and runs them again. The run_id is
the primary key, so a point can never appear twice; a failed row is replaced when its retry finishes,
and a ``done`` row is never overwritten.

Columns of ``runs`` (energies in picojoules, latencies in nanoseconds, both per training step):

==================  =======================================================================
run_id              hash of the resolved configuration and seed (primary key)
status              ``done``, ``failed`` or ``infeasible`` (the configuration cannot be built, e.g. the
                    network needs more tiles than the chip has: found before running, never retried)
params              JSON object: swept key path -> value
metric_name         the report's ``metric.name`` (e.g. accuracy)
metric              the report's ``metric.final``
latency_ns          ``per_step.latency_ns``: latency of one training step (ns)
energy_pj           ``per_step.energy_pj``: energy of one training step (pJ)
report              the whole report, JSON (NULL for a failed run)
error               ``Type: message`` and the traceback of a failed run, or why a point is infeasible
                    (NULL when done)
config              the resolved configuration YAML (``archsim run`` reproduces the run from it)
seed                training.seed of the run
started_at          UTC ISO 8601 time the worker started the run (NULL if unknown)
finished_at         UTC ISO 8601 time the run finished or failed
worker              host:pid of the process that ran it
archsim_version     version of archsim that recorded the row
==================  =======================================================================

Two sweeps may share a database: before running a point a coordinator *claims* it (table ``claims``:
run_id, owner, heartbeat) in one transaction, and skips points another live coordinator holds. A
claim whose owner stopped (its process is gone, or its heartbeat is older than :data:`CLAIM_STALE_S`)
is taken over, so a killed sweep never blocks its points.

Readers (``archsim report``) open the database read-only and never write, so a results database on
read-only media, or one whose file is read-only, can still be reported.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archsim import __version__
from archsim.errors import ArchsimError
from archsim.outputs import check_parents

SCHEMA_VERSION = 2
STATUSES = ("done", "failed", "infeasible")
#: A claim not refreshed for this long belongs to a coordinator presumed dead (seconds).
CLAIM_STALE_S = 120.0
#: How often a running coordinator refreshes its claims (seconds).
CLAIM_REFRESH_S = 15.0

_CREATE = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed', 'infeasible')),
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

_CREATE_CLAIMS = """
CREATE TABLE IF NOT EXISTS claims (
    run_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    heartbeat REAL NOT NULL
)"""

COLUMNS = (
    "run_id",
    "status",
    "params",
    "metric_name",
    "metric",
    "latency_ns",
    "energy_pj",
    "report",
    "error",
    "config",
    "seed",
    "started_at",
    "finished_at",
    "worker",
    "archsim_version",
)

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
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.read_only = not create
        if not create and not self.path.is_file():
            raise ArchsimError(f"{self.path}: no such results database")
        if self.path.exists() and (
            not self.path.is_file() or (self.path.stat().st_size > 0 and not is_sqlite_file(self.path))
        ):
            raise ArchsimError(f"{self.path}: not an SQLite results database")
        try:
            if create:
                check_parents("--db", self.path)
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per finished point.
                self.connection = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
                self.connection.execute("PRAGMA journal_mode=WAL")
                # FULL: a committed point survives even a power cut, not just a killed process.
                self.connection.execute("PRAGMA synchronous=FULL")
                self._create_or_migrate()
            else:
                self.connection = _connect_read_only(self.path)
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise ArchsimError(f"{self.path}: cannot use as a results database: {exc}") from None
        except OSError as exc:
            raise ArchsimError(f"--db: cannot create {self.path}: {exc.strerror or exc}") from None

    def _create_or_migrate(self) -> None:
        """Create the tables, or bring a version-1 database (no infeasible status, no claims) up to date."""
        with self.connection:
            self.connection.execute("BEGIN IMMEDIATE")  # also proves the database is writable, before any work
            version = self.connection.execute("PRAGMA user_version").fetchone()[0]
            exists = (
                self.connection.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'").fetchone()
                is not None
            )
            if exists and version < 2:  # SQLite cannot alter a CHECK constraint: copy into a new table
                self.connection.execute("ALTER TABLE runs RENAME TO runs_v1")
                self.connection.execute(_CREATE)
                self.connection.execute(f"INSERT INTO runs SELECT {', '.join(COLUMNS)} FROM runs_v1")
                self.connection.execute("DROP TABLE runs_v1")
            self.connection.execute(_CREATE)
            self.connection.execute(_CREATE_CLAIMS)
            self.connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _check_schema(self) -> None:
        found = {row[1] for row in self.connection.execute("PRAGMA table_info(runs)")}
        if not found:
            raise ArchsimError(f"{self.path}: has no 'runs' table; expected a database written by archsim sweep")
        missing = [c for c in COLUMNS if c not in found]
        if missing:
            raise ArchsimError(
                f"{self.path}: the runs table lacks columns {', '.join(missing)}; "
                "expected a database written by archsim sweep"
            )

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        if not self.read_only:
            try:
                self.release_claims()
            except sqlite3.Error:
                pass
        self.connection.close()

    # -- reading ------------------------------------------------------------------------------
    def statuses(self) -> dict[str, str]:
        """run_id -> status of every recorded run."""
        return dict(self.connection.execute("SELECT run_id, status FROM runs"))

    def finished_ids(self) -> set[str]:
        """Runs that will not run again: done, or infeasible."""
        return {run_id for run_id, status in self.statuses().items() if status in ("done", "infeasible")}

    def done_ids(self) -> set[str]:
        return {run_id for run_id, status in self.statuses().items() if status == "done"}

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every run as a dict of its columns, ``params`` and ``report`` decoded, in finishing order."""
        cursor = self.connection.execute(f"SELECT {', '.join(COLUMNS)} FROM runs ORDER BY finished_at, run_id")
        for values in cursor:
            row = dict(zip(COLUMNS, values, strict=False))
            for column, empty in (("params", {}), ("report", None)):
                try:
                    row[column] = json.loads(row[column]) if row[column] else empty
                except (TypeError, ValueError):
                    raise ArchsimError(
                        f"{self.path}: run {row['run_id']}: the {column} column is not valid JSON; "
                        "the database is damaged (delete that row, or re-run the sweep into a "
                        "new database)"
                    ) from None
            if not isinstance(row["params"], dict):
                raise ArchsimError(
                    f"{self.path}: run {row['run_id']}: the params column is not a JSON object; the database is damaged"
                )
            yield row

    # -- writing (coordinating process only) ---------------------------------------------------
    def _write(self, values: dict[str, Any]) -> None:
        values = {**values, "archsim_version": __version__}
        with self.connection:  # BEGIN ... COMMIT, or ROLLBACK on error: the row is all or nothing
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.execute(_UPSERT, [values.get(c) for c in COLUMNS])

    def record_done(
        self,
        *,
        run_id: str,
        params: dict,
        config_yaml: str,
        seed: int,
        report: dict,
        started_at: str | None,
        finished_at: str,
        worker: str | None = None,
    ) -> None:
        """Write a finished run in one transaction; the headline numbers are copied out of ``report``."""
        metric = report.get("metric") or {}
        per_step = report.get("per_step") or {}
        self._write(
            {
                "run_id": run_id,
                "status": "done",
                "params": to_json(params),
                "metric_name": metric.get("name"),
                "metric": _number(metric.get("final")),
                "latency_ns": _number(per_step.get("latency_ns")),
                "energy_pj": _number(per_step.get("energy_pj")),
                "report": to_json(report),
                "error": None,
                "config": config_yaml,
                "seed": seed,
                "started_at": started_at,
                "finished_at": finished_at,
                "worker": worker,
            }
        )

    def record_failed(
        self,
        *,
        run_id: str,
        params: dict,
        config_yaml: str,
        seed: int,
        error: str,
        started_at: str | None,
        finished_at: str,
        worker: str | None = None,
    ) -> None:
        """Write a failed run in one transaction (a re-run of the sweep retries it)."""
        self._write(
            {
                "run_id": run_id,
                "status": "failed",
                "params": to_json(params),
                "error": error,
                "config": config_yaml,
                "seed": seed,
                "started_at": started_at,
                "finished_at": finished_at,
                "worker": worker,
            }
        )

    def record_infeasible(
        self, *, run_id: str, params: dict, config_yaml: str, seed: int, reason: str, finished_at: str
    ) -> None:
        """Write a point whose configuration cannot be built; it is reported, not retried."""
        self._write(
            {
                "run_id": run_id,
                "status": "infeasible",
                "params": to_json(params),
                "error": reason,
                "config": config_yaml,
                "seed": seed,
                "started_at": None,
                "finished_at": finished_at,
                "worker": None,
            }
        )

    # -- claims: two coordinators never run the same point -------------------------------------------
    def claim(self, run_ids: list[str]) -> list[str]:
        """Claim the given points for this coordinator; returns those now held (others are held elsewhere)."""
        now = time.time()
        held = []
        with self.connection:
            self.connection.execute("BEGIN IMMEDIATE")
            finished = {
                r for (r,) in self.connection.execute("SELECT run_id FROM runs WHERE status IN ('done', 'infeasible')")
            }
            claims = {
                r: (owner, beat)
                for r, owner, beat in self.connection.execute("SELECT run_id, owner, heartbeat FROM claims")
            }
            for run_id in run_ids:
                if run_id in finished:
                    continue
                if run_id in claims and claims[run_id][0] != self.owner and _claim_alive(*claims[run_id], now):
                    continue
                self.connection.execute(
                    "INSERT OR REPLACE INTO claims (run_id, owner, heartbeat) VALUES (?, ?, ?)",
                    (run_id, self.owner, now),
                )
                held.append(run_id)
        return held

    def refresh_claims(self) -> None:
        """Keep this coordinator's claims alive (call every :data:`CLAIM_REFRESH_S` seconds)."""
        with self.connection:
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.execute("UPDATE claims SET heartbeat = ? WHERE owner = ?", (time.time(), self.owner))

    def release_claims(self, run_ids: list[str] | None = None) -> None:
        """Drop this coordinator's claims (all of them, or those of ``run_ids``)."""
        with self.connection:
            self.connection.execute("BEGIN IMMEDIATE")
            if run_ids is None:
                self.connection.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))
            else:
                self.connection.executemany(
                    "DELETE FROM claims WHERE owner = ? AND run_id = ?", [(self.owner, r) for r in run_ids]
                )

    def claimed_elsewhere(self) -> set[str]:
        """Points a live coordinator other than this one holds."""
        now = time.time()
        return {
            r
            for r, owner, beat in self.connection.execute("SELECT run_id, owner, heartbeat FROM claims")
            if owner != self.owner and _claim_alive(owner, beat, now)
        }


def _claim_alive(owner: str, heartbeat: float, now: float) -> bool:
    """Whether a claim's coordinator is presumed running: a recent heartbeat, and (same host) a live process."""
    if now - heartbeat > CLAIM_STALE_S:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open ``path`` for reading only; falls back to immutable mode when SQLite cannot create its
    shared-memory file (a read-only folder)."""
    uri = path.resolve().as_uri()
    try:
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=30.0)
