"""``archsim report``: tables and plots of a sweep results database."""

from __future__ import annotations

import argparse
from pathlib import Path

from archsim.errors import ArchsimError

NAME = "report"
HELP = "CSV, Pareto front table and plots of a sweep results database"
DESCRIPTION = """Read RESULTS (the SQLite database written by archsim sweep) and write into --out:
points.csv (every point, done and failed), pareto.csv (the Pareto front: best metric for least energy
and least latency per training step) and PNG plots of the front, coloured by a swept key. The front is
also printed as a table. Accuracy is maximised; a metric whose name says loss or error is minimised.
Axes and colour take metric, energy_pj, latency_ns, a swept key (hw.adc.bits) or a report path
(totals.energy_pj). Without --x, two plots: metric against energy and against latency per step."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="results database written by `archsim sweep --db`")
    parser.add_argument(
        "--out", default=None, help="output folder (default: <results name>-report beside the database)"
    )
    parser.add_argument("--x", default=None, help="x axis of the plot (default: energy_pj and latency_ns)")
    parser.add_argument("--y", default="metric", help="y axis of the plot (default: metric)")
    parser.add_argument(
        "--color", default=None, help="swept key that colours the points (default: the first swept key that varies)"
    )
    parser.add_argument(
        "--metric", default=None, help="report only runs with this metric name (needed when the database mixes metrics)"
    )


def main(args: argparse.Namespace) -> int:
    from archsim.report.sweep_report import write_sweep_report
    from archsim.sweep.store import is_sqlite_file

    results = Path(args.results)
    if not results.exists():
        raise ArchsimError(f"{results}: no such results database")
    if not is_sqlite_file(results):
        raise ArchsimError(
            f"{results}: not a results database; expected the SQLite file written by `archsim sweep --db`"
        )
    out = Path(args.out) if args.out else results.with_name(results.stem + "-report")
    files = write_sweep_report(results, out, x=args.x, y=args.y, color=args.color, metric=args.metric)

    from rich.console import Console

    from archsim.report.sweep_report import front_table

    done = len(files.results.done)
    failed = len(files.results.rows) - done
    console = Console()
    if not console.is_terminal:  # files and pipes: do not squeeze the table into 80 columns
        console = Console(width=max(console.width, 200))
    if files.front:
        console.print(front_table(files.results, files.front))
    print(
        f"report: {len(files.results.rows)} points ({done} done, {failed} failed); "
        f"{len(files.front)} on the Pareto front"
    )
    for path in [files.points_csv, files.front_csv, *files.plots]:
        print(f"wrote {path}")
    return 0
