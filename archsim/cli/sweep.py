"""``archsim sweep``: run a design-space sweep in parallel and keep every result in SQLite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archsim.errors import ArchsimError

NAME = "sweep"
HELP = "run a design-space sweep on local worker processes or a Dask cluster; results go to SQLite"
DESCRIPTION = """Expand the sweep file SPEC (keys hw, workload, set, grid, zip, random, seeds; see
workloads/sweeps/ for examples) into points, validate every point, then run them in parallel: on N local
worker processes (a Dask LocalCluster on 127.0.0.1), or on an existing Dask cluster with
--scheduler tcp://host:port. Each finished point is written to the SQLite database --db in one
transaction. Running the same command again skips the points already done and retries failed ones,
so an interrupted sweep resumes where it stopped. Exit status: 0 when every point is done, 1 when
some failed (their errors are in the database), 2 for an invalid sweep file.
Then: archsim report results.db"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="sweep YAML file")
    parser.add_argument("--db", default="results.db", help="SQLite results database (default: results.db)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local worker processes, i.e. points run at once (default: one per CPU)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786, instead of local workers",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and list the points, and which are already done, without running them",
    )


def main(args: argparse.Namespace) -> int:
    from archsim.sweep.runner import (
        RichDisplay,
        check_scheduler_address,
        default_workers,
        describe_summary,
        find_infeasible,
        open_client,
        pending_points,
        record_infeasible,
        run_sweep,
    )
    from archsim.sweep.spec import load_spec, resolve_points
    from archsim.sweep.store import ResultStore

    if args.scheduler is not None and args.workers is not None:
        raise ArchsimError(
            "--workers sets the size of the local cluster; with --scheduler the cluster's "
            "own workers run the points (give one or the other)"
        )
    if args.workers is not None and args.workers < 1:
        raise ArchsimError(f"--workers: expected at least 1, got {args.workers}")
    if args.scheduler is not None:
        check_scheduler_address(args.scheduler)
    spec = load_spec(args.spec)
    points = resolve_points(spec)  # every point validated before anything runs
    infeasible = find_infeasible(points, spec)  # and built, so points that cannot run are known up front
    db = Path(args.db)

    if args.dry_run:
        return _list_points(spec, points, db, infeasible)

    with ResultStore(db) as store:
        record_infeasible(points, infeasible, store)
        todo, _ = pending_points(points, store)
        if not todo:
            summary = run_sweep(points, store, None)
            summary.infeasible = len(infeasible)
            print(describe_summary(summary, db))
            return 0
        workers = None if args.scheduler else min(args.workers or default_workers(), len(todo))
        where = f"the Dask cluster at {args.scheduler}" if args.scheduler else f"{workers} local worker(s)"
        print(f"sweep: {len(points)} points valid; {len(todo)} to run on {where}", flush=True)
        with open_client(workers, args.scheduler) as client:
            if args.scheduler and not client.scheduler_info().get("workers"):
                print("note: the scheduler has no workers yet; points wait until workers join", file=sys.stderr)
            summary = run_sweep(points, store, client, display=RichDisplay())
    summary.infeasible = len(infeasible)
    print(describe_summary(summary, db))
    if summary.lost:
        raise ArchsimError(
            f"{summary.lost} points were cancelled by the Dask cluster and not recorded; "
            "run the same command again to run them"
        )
    return 1 if summary.failed else 0


def _list_points(spec, points, db: Path, infeasible: dict[str, str]) -> int:
    from archsim.sweep.store import ResultStore

    statuses: dict[str, str] = {}
    if db.is_file():
        with ResultStore(db, create=False) as store:
            statuses = store.statuses()
    if spec.description:
        print(spec.description)
    seen: dict[str, int] = {}
    for point in points:
        if point.run_id in seen:
            state = f"repeats point {seen[point.run_id]}"
        else:
            seen[point.run_id] = point.number
            state = statuses.get(point.run_id, "infeasible" if point.run_id in infeasible else "to run")
        reason = f"  ({infeasible[point.run_id]})" if point.run_id in infeasible else ""
        print(f"point {point.number:>4}  {point.run_id}  {state:<10}  {point.describe()}{reason}")
    to_run = sum(1 for run_id in seen if statuses.get(run_id) != "done" and run_id not in infeasible)
    note = f"; {len(infeasible)} infeasible (not run)" if infeasible else ""
    print(f"{len(points)} points valid; {to_run} to run{note}")
    return 0
