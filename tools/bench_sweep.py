"""Sweep parallel speed-up: wall time of `archsim sweep` over N equal points on 1 and on 2 local workers.

The points are the digits FCN trained for one epoch on --max-train samples, differing only in seed,
so every point costs the same. Each measurement is the whole command as a user runs it (process start,
validation, the local Dask cluster and its workers starting, the points, writing the database), on a
fresh database. A warm-up sweep first fills numba's on-disk cache so no measurement pays for
compilation. Runs of 1 and 2 workers alternate so that a noisy neighbour hurts both alike; the
medians are reported, with speedup = median(1 worker) / median(2 workers).

The machine's own two-core scaling is measured alongside (``machine_scaling``: one point run by two
plain processes at once against one alone, 2.0 on two idle cores): on a shared machine another
user's work caps what any two-worker sweep can reach, and this figure shows by how much.

    python tools/bench_sweep.py [--points 8] [--repeats 3] [--max-train 1000] [--epochs 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = ROOT / "workloads" / "fcn_digits.yaml"


def write_spec(folder: Path, points: int, max_train: int, epochs: int) -> Path:
    spec = folder / "bench_sweep.yaml"
    spec.write_text(f"description: {points} equal points (seeds) for the speed-up benchmark\n"
                    f"workload: {WORKLOAD}\n"
                    f"set:\n  training.epochs: {epochs}\n  dataset.max_train: {max_train}\n"
                    f"seeds: {list(range(points))}\n", encoding="utf-8")
    return spec


def run_sweep(spec: Path, db: Path, workers: int) -> float:
    """Wall time of one `archsim sweep` (s); fails loudly unless every point is done."""
    command = [sys.executable, "-m", "archsim", "sweep", str(spec), "--db", str(db), "--workers", str(workers)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"bench_sweep: `{' '.join(command)}` failed ({result.returncode}):\n{result.stderr}")
    return elapsed


ONE_POINT = """
import sys
from archsim.config.loader import load_run_config
from archsim.run import execute
execute(load_run_config(sys.argv[1], None, sys.argv[2:]))
"""


def machine_scaling(max_train: int, epochs: int) -> float:
    """Throughput of two plain processes running one point each at once, relative to one alone (x)."""
    command = [sys.executable, "-c", ONE_POINT, str(WORKLOAD), f"training.epochs={epochs}",
               f"dataset.max_train={max_train}"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    alone = time.perf_counter() - start
    start = time.perf_counter()
    pair = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(2)]
    if any(p.wait(timeout=3600) != 0 for p in pair):
        raise SystemExit("bench_sweep: the calibration point failed")
    together = time.perf_counter() - start
    return 2 * alone / together


def point_seconds(db: Path) -> list[float]:
    """Simulation wall time of each point, as the reports record it (s)."""
    with sqlite3.connect(db) as connection:
        reports = [json.loads(r) for (r,) in connection.execute("SELECT report FROM runs WHERE status='done'")]
    return [r["simulation"]["wall_s"] for r in reports]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=8, help="equal points per sweep (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="sweeps per worker count; the median is used")
    parser.add_argument("--max-train", type=int, default=1000, help="training samples per point (default 1000)")
    parser.add_argument("--epochs", type=int, default=40, help="epochs per point (default 40: ~5 s a point)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args()
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))

    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        folder = Path(tmp)
        spec = write_spec(folder, args.points, args.max_train, args.epochs)
        warm_folder = folder / "warm"
        warm_folder.mkdir()
        warm = write_spec(warm_folder, 2, args.max_train, args.epochs)
        log("warm-up (fills the numba cache)...")
        run_sweep(warm, folder / "warm.db", 2)
        seconds: dict[int, list[float]] = {1: [], 2: []}
        per_point: list[float] = []
        scaling: list[float] = []
        for repeat in range(args.repeats):
            scaling.append(machine_scaling(args.max_train, args.epochs))
            log(f"repeat {repeat + 1}/{args.repeats}: two plain processes scale by {scaling[-1]:.2f}x")
            for workers in (1, 2):
                db = folder / f"r{repeat}_w{workers}.db"
                elapsed = run_sweep(spec, db, workers)
                seconds[workers].append(elapsed)
                per_point += point_seconds(db)
                log(f"repeat {repeat + 1}/{args.repeats}: {workers} worker(s): {elapsed:.2f} s")
    medians = {w: statistics.median(s) for w, s in seconds.items()}
    result = {
        "benchmark": "sweep_speedup",
        "points": args.points, "repeats": args.repeats, "max_train": args.max_train, "epochs": args.epochs,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "seconds": {str(w): s for w, s in seconds.items()},
        "median_s": {str(w): m for w, m in medians.items()},
        "point_median_s": statistics.median(per_point) if per_point else None,
        "speedup": medians[1] / medians[2],
        "machine_scaling": statistics.median(scaling),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.points} points, median of {args.repeats}: 1 worker {medians[1]:.2f} s, 2 workers "
              f"{medians[2]:.2f} s -> speedup {result['speedup']:.2f}x "
              f"(one point simulates in {result['point_median_s']:.2f} s; two plain processes on this machine "
              f"scale by {result['machine_scaling']:.2f}x)")


if __name__ == "__main__":
    main()
