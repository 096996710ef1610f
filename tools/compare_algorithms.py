"""Paired comparison of training algorithms on one workload: final metric per seed, mean with its standard error,
and each algorithm's paired difference from the first (the same seed gives the weight-holding array the same
devices under every algorithm, so differences per seed are paired). Functional runs (accuracy does not depend on
costing).

    python tools/compare_algorithms.py [--seeds 10] [--algorithms ttv2,chopped_ttv2,agad] [--workload W]
                                       [--set KEY=VALUE ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archsim.config import load_run_config  # noqa: E402
from archsim.run import execute  # noqa: E402


def final_metric(workload: Path, algorithm: str, seed: int, sets: list[str]) -> float:
    config = load_run_config(workload, None, [f"algorithm.name={algorithm}", f"training.seed={seed}", *sets])
    return float(execute(config, costing=False)["metric"]["final"])


def standard_error(values: list[float]) -> float:
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1")
    parser.add_argument("--algorithms", default="ttv2,chopped_ttv2,agad", help="comma-separated; first: baseline")
    parser.add_argument("--workload", type=Path, default=ROOT / "workloads" / "fcn_digits.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra overrides")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    results: dict[str, list[float]] = {}
    for algorithm in algorithms:
        results[algorithm] = []
        for seed in range(args.seeds):
            results[algorithm].append(final_metric(args.workload, algorithm, seed, args.set))
            print(f"  {algorithm} seed {seed}: {results[algorithm][-1]:.2f}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"seeds": args.seeds, "results": results}))
        return
    base = results[algorithms[0]]
    print(
        f"{args.workload.name}, seeds 0-{args.seeds - 1}: final metric, mean (standard error), paired difference "
        f"from {algorithms[0]}"
    )
    print("| algorithm | mean | standard error | paired difference | its standard error | t |")
    print("|---|---:|---:|---:|---:|---:|")
    for algorithm, values in results.items():
        diff = [a - b for a, b in zip(values, base, strict=True)]
        d_mean, d_se = statistics.fmean(diff), standard_error(diff)
        t = d_mean / d_se if d_se and not math.isnan(d_se) else float("nan")
        print(
            f"| {algorithm} | {statistics.fmean(values):.2f} | {standard_error(values):.2f} | {d_mean:+.2f} "
            f"| {d_se:.2f} | {t:+.2f} |"
        )


if __name__ == "__main__":
    main()
