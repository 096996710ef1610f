"""Running a sweep's points on Dask workers and recording each result as it finishes.

Dask is the engine on both paths: a :class:`distributed.LocalCluster` of worker processes on this
machine (loopback only), or an existing cluster reached through ``--scheduler tcp://host:port``. The
scheduler reschedules the points of a worker that dies; this process (the coordinator) only submits
points, waits for outcomes and writes each one to the database in its own transaction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from archsim.errors import ArchsimError, ConfigError
from archsim.sweep.spec import SweepPoint, SweepSpec, attribute_error, unique_points
from archsim.sweep.store import CLAIM_REFRESH_S, ResultStore
from archsim.sweep.worker import PointFunction, run_point, run_point_outcome, utc_timestamp

if TYPE_CHECKING:  # distributed and rich are imported where used: a sweep-free run never loads them
    from distributed import Client, Future
    from rich.progress import TaskID

#: How often the coordinator looks for finished points and refreshes the display (seconds).
POLL_INTERVAL_S = 0.1
#: How often it asks the scheduler which points are running (seconds); each ask is a round trip.
RUNNING_REFRESH_S = 0.5
#: How long to wait for an existing scheduler to answer (seconds).
CONNECT_TIMEOUT_S = 10.0


@dataclass
class SweepSummary:
    """Counts of one sweep invocation; each point is counted once, by its run_id."""

    points: int = 0  # points in the sweep file's expansion
    repeats: dict[int, int] = field(default_factory=dict)  # repeated point number -> point it repeats
    skipped: int = 0  # already done in the database before this invocation
    done: int = 0  # finished now
    failed: int = 0  # raised now (recorded as failed, retried by the next invocation)
    infeasible: int = 0  # cannot be built (recorded as infeasible before running; never retried)
    elsewhere: int = 0  # held by another sweep running on the same database (left to it)
    lost: int = 0  # not recorded: the cluster cancelled them (e.g. the scheduler went away)

    @property
    def unique(self) -> int:
        return self.points - len(self.repeats)


class SweepDisplay(Protocol):
    """What the runner reports to while it runs (the CLI shows a rich progress bar)."""

    def start(self, total: int, skipped: int) -> None: ...
    def update(self, *, done: int, failed: int, running: int) -> None: ...
    def note(self, text: str) -> None: ...
    def stop(self) -> None: ...


class SilentDisplay:
    """A display that shows nothing (library use, tests)."""

    def start(self, total: int, skipped: int) -> None:
        pass

    def update(self, *, done: int, failed: int, running: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def stop(self) -> None:
        pass


class RichDisplay:
    """A rich progress bar on stderr counting finished, running, failed and skipped points."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "done {task.fields[done]} · running {task.fields[running]} · "
                "[red]failed {task.fields[failed]}[/red] · skipped {task.fields[skipped]}"
            ),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task: TaskID | None = None
        self.skipped = 0

    def start(self, total: int, skipped: int) -> None:
        self.skipped = skipped
        self.progress.start()
        self.task = self.progress.add_task(
            "sweep", total=total, completed=skipped, done=0, running=0, failed=0, skipped=skipped
        )

    def update(self, *, done: int, failed: int, running: int) -> None:
        assert self.task is not None, "update() before start()"
        self.progress.update(
            self.task, completed=self.skipped + done + failed, done=done, failed=failed, running=running
        )

    def note(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def stop(self) -> None:
        self.progress.stop()


#: Every socket of a local cluster listens on loopback: the scheduler and workers (``host``) and also
#: the HTTP servers Dask starts even with the dashboard off (they would bind all interfaces otherwise).
LOOPBACK_HTTP = "127.0.0.1:0"


_SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")


def check_scheduler_address(address: str) -> None:
    """Refuse a malformed ``--scheduler`` at once (Dask would retry it for its whole timeout)."""
    scheme, sep, rest = address.partition("://")
    host, colon, port = rest.rpartition(":")
    well_formed = (
        sep
        and scheme in _SCHEDULER_SCHEMES
        and colon
        and host
        and port.isdigit()
        and 0 < int(port) < 65536
        and not any(c.isspace() for c in address)
    )
    if not well_formed:
        raise ArchsimError(
            f"--scheduler {address[:80]!r}: expected a Dask scheduler address such as "
            "tcp://10.0.0.5:8786 (scheme tcp, tls, ws, wss or ucx; host; port 1-65535)"
        )


@contextmanager
def open_client(
    workers: int | None = None, scheduler: str | None = None, *, processes: bool = True
) -> Iterator[Client]:
    """A Dask client: on ``scheduler`` if given, else on a new local cluster of ``workers`` workers.

    The local cluster listens on 127.0.0.1 only and shows no dashboard; each worker runs one point at a
    time (``threads_per_worker=1``), so ``workers`` is the number of points run at once. Workers are
    processes (the simulator holds the GIL); ``processes=False`` makes them threads of this process,
    connected in-process, which only tests of the bookkeeping want.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        check_scheduler_address(scheduler)
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ArchsimError(
                f"--scheduler {scheduler}: cannot connect to a Dask scheduler there ({type(exc).__name__}: {exc})"
            ) from None
        with client:
            yield client
        return
    if workers is None or workers < 1:
        raise ArchsimError(f"--workers: expected at least 1 worker, got {workers}")
    # Worker processes share the CPUs: each point's numba kernels get cpus // workers threads, so that
    # points run side by side instead of fighting over cores (Dask already pins BLAS to one thread).
    per_worker = (
        {"host": "127.0.0.1", "env": {"NUMBA_NUM_THREADS": str(max(1, default_workers() // workers))}}
        if processes
        else {}
    )  # thread workers talk in-process: no sockets, no environment of their own
    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=None,
        worker_dashboard_address=LOOPBACK_HTTP,
        silence_logs=logging.ERROR,
        scheduler_kwargs={"dashboard": False, "dashboard_address": LOOPBACK_HTTP},
        **per_worker,
    ) as cluster:
        with Client(cluster, set_as_default=False) as client:
            yield client


def _is_cancellation(exc: BaseException) -> bool:
    return isinstance(exc, (concurrent.futures.CancelledError, asyncio.CancelledError))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def pending_points(points: Sequence[SweepPoint], store: ResultStore) -> tuple[list[SweepPoint], SweepSummary]:
    """The points still to run (new or failed before), one per run_id, and the summary so far."""
    unique, repeats = unique_points(points)
    finished = store.finished_ids()
    todo = [p for p in unique if p.run_id not in finished]
    return todo, SweepSummary(points=len(points), repeats=repeats, skipped=len(unique) - len(todo))


#: The sections that decide whether a configuration can be built (its network, data and tile mapping);
#: points that agree on them are checked once.
BUILD_SECTIONS = ("model", "dataset", "algorithm", "hw.tile", "hw.mapping")


def infeasibility(
    point: SweepPoint, spec: SweepSpec | None = None, seen: dict[str, ConfigError | str | None] | None = None
) -> str | None:
    """Why a resolved point cannot run (its network does not fit the chip, a layer does not fit its
    input...), found by building its network and mapping without training; None when it can run.
    With ``spec``, the reason names the sweep entry that set the key falling short. ``seen`` caches
    outcomes by the sections that decide buildability."""
    from archsim.config.schema import to_plain
    from archsim.run import check_buildable
    from archsim.sweep.worker import RESOLVED_SOURCE, config_from_text

    config = config_from_text(point.config_yaml)
    key = repr([to_plain(_section(config, name)) for name in BUILD_SECTIONS])
    if seen is None or key not in seen:
        try:
            check_buildable(config, source=RESOLVED_SOURCE)
            outcome: ConfigError | str | None = None
        except ConfigError as exc:
            outcome = exc
        except ArchsimError as exc:
            outcome = str(exc)
        if seen is not None:
            seen[key] = outcome
    else:
        outcome = seen[key]
    if not isinstance(outcome, ConfigError):
        return outcome
    if spec is None:
        return outcome.message if outcome.file == RESOLVED_SOURCE else str(outcome)
    named = attribute_error(spec, outcome, point.assignments, point.number)
    return f"{named.key_path}: {named.message}"


def _section(config: object, dotted: str) -> object:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def find_infeasible(points: Sequence[SweepPoint], spec: SweepSpec | None = None) -> dict[str, str]:
    """run_id -> reason, for every point that cannot be built (each run_id checked once)."""
    unique, _ = unique_points(points)
    seen: dict[str, ConfigError | str | None] = {}
    found = {}
    for point in unique:
        reason = infeasibility(point, spec, seen)
        if reason is not None:
            found[point.run_id] = reason
    return found


def record_infeasible(points: Sequence[SweepPoint], reasons: dict[str, str], store: ResultStore) -> int:
    """Record the infeasible points not recorded yet; returns how many were recorded now."""
    finished = store.finished_ids()
    unique, _ = unique_points(points)
    recorded = 0
    for point in unique:
        if point.run_id in reasons and point.run_id not in finished:
            store.record_infeasible(
                run_id=point.run_id,
                params=point.params,
                config_yaml=point.config_yaml,
                seed=point.seed,
                reason=reasons[point.run_id],
                finished_at=utc_timestamp(),
            )
            recorded += 1
    return recorded


def run_sweep(
    points: Sequence[SweepPoint],
    store: ResultStore,
    client: Client | None,
    *,
    point_function: PointFunction = run_point,
    display: SweepDisplay | None = None,
) -> SweepSummary:
    """Run every point not yet done in ``store`` on ``client``'s workers; record each as it finishes.

    ``point_function(resolved_yaml_text) -> report`` is what workers call (it must be importable by
    them); tests inject cheap ones. A point that raises is recorded as failed and the sweep goes on.
    ``client`` may be None when nothing is left to run.
    """
    from distributed import as_completed

    display = display or SilentDisplay()
    todo, summary = pending_points(points, store)
    held = set(store.claim([p.run_id for p in todo]))  # another sweep on this database keeps its points
    summary.elsewhere = len(todo) - len(held)
    todo = [p for p in todo if p.run_id in held]
    display.start(total=summary.unique, skipped=summary.skipped + summary.elsewhere)
    try:
        if not todo:
            return summary
        if client is None:
            raise ValueError("run_sweep needs a Dask client when points remain to run")
        # A fresh suffix per invocation: a retried point must not be served a cached outcome from an
        # earlier submission still held by the scheduler.
        nonce = uuid.uuid4().hex[:8]
        by_key: dict[str, SweepPoint] = {}
        futures = []
        for point in todo:
            key = f"archsim_point-{point.run_id}-{nonce}"
            by_key[key] = point
            futures.append(client.submit(run_point_outcome, point_function, point.config_yaml, key=key, pure=False))
        remaining = as_completed(futures, loop=client.loop)
        running, last_running_check, last_heartbeat = 0, 0.0, time.monotonic()
        try:
            while not remaining.is_empty():
                batch = remaining.next_batch(block=False)
                for future in batch:
                    point = by_key[future.key]
                    _record(store, point, future, summary, display)
                    future.release()
                now = time.monotonic()
                if now - last_running_check >= RUNNING_REFRESH_S:
                    running = _count_running(client, by_key)
                    last_running_check = now
                if now - last_heartbeat >= CLAIM_REFRESH_S:
                    store.refresh_claims()
                    last_heartbeat = now
                outstanding = len(todo) - summary.done - summary.failed - summary.lost
                display.update(done=summary.done, failed=summary.failed, running=min(running, outstanding))
                if not batch:
                    time.sleep(POLL_INTERVAL_S)
        finally:
            # On Ctrl-C or an error, points not yet recorded are dropped; their next run starts afresh.
            unfinished = [f for f in futures if not f.done()]
            if unfinished:
                try:
                    client.cancel(unfinished)
                except Exception:
                    pass
        return summary
    finally:
        store.release_claims()
        display.stop()


def _count_running(client: Client, by_key: dict[str, SweepPoint]) -> int:
    """How many of our points the scheduler has handed to workers right now."""
    try:
        processing = client.processing()
    except Exception:
        return 0
    return sum(1 for keys in processing.values() for key in keys if key in by_key)


def _record(
    store: ResultStore, point: SweepPoint, future: Future, summary: SweepSummary, display: SweepDisplay
) -> None:
    try:
        outcome = future.result()
    except BaseException as exc:
        if _is_cancellation(exc):
            summary.lost += 1
            return
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        outcome = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "",
            "started_at": None,
            "finished_at": utc_timestamp(),
            "worker": None,
        }
    common = dict(
        run_id=point.run_id,
        params=point.params,
        config_yaml=point.config_yaml,
        seed=point.seed,
        started_at=outcome.get("started_at"),
        finished_at=outcome["finished_at"],
        worker=outcome.get("worker"),
    )
    if outcome["ok"]:
        store.record_done(report=outcome["report"], **common)
        summary.done += 1
        return
    error = outcome["error"]
    if outcome.get("traceback"):
        error = f"{error}\n{outcome['traceback']}"
    store.record_failed(error=error, **common)
    summary.failed += 1
    display.note(f"point {point.number} failed ({point.describe()}): {_first_line(outcome['error'])}")


def default_workers() -> int:
    """One worker per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def describe_summary(summary: SweepSummary, db: Path) -> str:
    """One line: what this invocation did."""
    parts = [f"{summary.done} done", f"{summary.failed} failed", f"{summary.skipped} skipped (already done)"]
    if summary.infeasible:
        parts.append(f"{summary.infeasible} infeasible (cannot be built; see archsim report)")
    if summary.elsewhere:
        parts.append(f"{summary.elsewhere} left to another sweep running on this database")
    if summary.lost:
        parts.append(f"{summary.lost} not run (cancelled by the cluster)")
    repeats = f" ({len(summary.repeats)} repeat earlier points and ran once)" if summary.repeats else ""
    return f"sweep: {summary.points} points{repeats}: {', '.join(parts)}; results in {db}"
