"""``archsim run``: train a workload on a hardware description; report accuracy, latency and energy."""

from __future__ import annotations

import argparse
from pathlib import Path

from archsim.cli import add_config_arguments
from archsim.config.loader import load_run_config, write_resolved

NAME = "run"
HELP = "train a workload on a hardware description and report accuracy, latency and energy"
DESCRIPTION = """Train WORKLOAD (default workloads/fcn_digits.yaml) on --hw (default hw_configs/default.yaml)
and write report.json, config.resolved.yaml, epochs.csv and plots to --out."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--seed", type=int, default=None, help="override training.seed")
    parser.add_argument("--out", default="archsim-out", help="output folder (default: archsim-out)")
    parser.add_argument("--trace", action="store_true", help="also write a Chrome trace of a few steps")


def main(args: argparse.Namespace) -> int:
    sets = list(args.sets)
    if args.epochs is not None:
        sets.append(f"training.epochs={args.epochs}")
    if args.seed is not None:
        sets.append(f"training.seed={args.seed}")
    config = load_run_config(args.workload, args.hw, sets)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_resolved(config, out / "config.resolved.yaml")
    print(f"configuration resolved: {out / 'config.resolved.yaml'}")
    return 0
