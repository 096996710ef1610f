"""Time of the default ``archsim run`` on a cold numba cache (a fresh install) and on a warm one.

Each cold run gets its own empty ``NUMBA_CACHE_DIR``, so numba compiles every kernel the run calls; the warm
runs share one directory that a first (untimed) run has filled. Every run is a separate ``archsim run`` process
started from a scratch folder, with this checkout first on ``PYTHONPATH``; the figures are medians over
``--runs`` runs of the wall time and of the CPU time (user + system, this machine's cores are shared, so the
CPU time is the steadier figure).

``--profile`` instead runs the default job once in this process on a cold cache and prints, per compiled
function, the seconds numba spent compiling it (exclusive of the functions it compiled on the way; numba's
``numba:compile`` events). ``--json`` prints one JSON object and nothing else.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_run(cache_dir: str, extra: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one ``archsim run`` process with numba's cache in ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        command = [sys.executable, "-m", "archsim", "run", "--out", out, "--no-progress", *extra]
        subprocess.run(command, cwd=out, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(runs: int, extra: list[str]) -> dict:
    cold, warm = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(timed_run(cache, extra))
    with tempfile.TemporaryDirectory() as cache:
        timed_run(cache, extra)  # fills the cache
        for _ in range(runs):
            warm.append(timed_run(cache, extra))
    median = lambda pairs, k: round(statistics.median(p[k] for p in pairs), 2)
    return {
        "runs": runs,
        "cold_wall_s": median(cold, 0),
        "cold_cpu_s": median(cold, 1),
        "warm_wall_s": median(warm, 0),
        "warm_cpu_s": median(warm, 1),
        "cold_wall_all_s": [round(p[0], 2) for p in cold],
        "warm_wall_all_s": [round(p[0], 2) for p in warm],
    }


def profile(extra: list[str], top: int) -> dict:
    """Compile seconds per function of one in-process default run on an empty cache."""
    cache = tempfile.mkdtemp()
    atexit.register(shutil.rmtree, cache, True)  # numba writes to it until the process ends
    os.environ["NUMBA_CACHE_DIR"] = cache
    sys.path.insert(0, str(ROOT))
    from numba.core import event

    exclusive: dict[str, float] = defaultdict(float)
    calls: Counter = Counter()
    stack: list[list] = []

    class CompileTimer(event.Listener):
        def on_start(self, ev):
            stack.append([ev.data["dispatcher"].py_func.__qualname__, time.perf_counter(), 0.0])

        def on_end(self, ev):
            name, start, children = stack.pop()
            elapsed = time.perf_counter() - start
            exclusive[name] += elapsed - children
            calls[name] += 1
            if stack:
                stack[-1][2] += elapsed

    event.register("numba:compile", CompileTimer())
    from archsim.cli import entry_point

    with tempfile.TemporaryDirectory() as out:
        sys.argv = ["archsim", "run", "--out", out, "--no-progress", *extra]
        start = time.perf_counter()
        stdout = sys.stdout
        sys.stdout = open(os.devnull, "w")
        try:
            entry_point()
        except SystemExit as stop:  # the CLI exits with its status: a failed run's compile times mean nothing
            if stop.code not in (0, None):
                raise SystemExit(f"error: the profiled `archsim run` failed (exit status {stop.code})") from None
        finally:
            sys.stdout.close()
            sys.stdout = stdout
        total = time.perf_counter() - start
    ranked = sorted(exclusive.items(), key=lambda item: -item[1])
    return {
        "run_s": round(total, 2),
        "compile_s": round(sum(exclusive.values()), 2),
        "functions": [{"name": n, "compile_s": round(s, 3), "compilations": calls[n]} for n, s in ranked[:top]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold and warm runs (medians reported)")
    parser.add_argument("--profile", action="store_true", help="compile seconds per function of one cold run")
    parser.add_argument("--top", type=int, default=12, help="functions listed by --profile")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("run_args", nargs="*", help="extra `archsim run` arguments (after --)")
    args = parser.parse_args()
    if args.profile:
        result = profile(args.run_args, args.top)
        if args.json:
            print(json.dumps(result))
            return
        print(f"one cold run: {result['run_s']} s, of which numba compiling {result['compile_s']} s")
        for f in result["functions"]:
            print(f"  {f['compile_s']:7.3f} s  {f['name']}" + (f"  (x{f['compilations']})" * (f["compilations"] > 1)))
        return
    result = measure(args.runs, args.run_args)
    if args.json:
        print(json.dumps(result))
        return
    print(f"default `archsim run`, medians of {args.runs}:")
    print(f"  cold numba cache: {result['cold_wall_s']} s wall, {result['cold_cpu_s']} s CPU  {result['cold_wall_all_s']}")
    print(f"  warm numba cache: {result['warm_wall_s']} s wall, {result['warm_cpu_s']} s CPU  {result['warm_wall_all_s']}")


if __name__ == "__main__":
    main()
