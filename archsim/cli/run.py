"""``archsim run``: train a workload on a hardware description; report accuracy, latency and energy."""

from __future__ import annotations

import argparse
from pathlib import Path

from archsim.cli import add_config_arguments
from archsim.config.loader import DEFAULT_WORKLOAD, load_run_config

NAME = "run"
HELP = "train a workload on a hardware description and report accuracy, latency and energy"
DESCRIPTION = """Train WORKLOAD (default workloads/fcn_digits.yaml) on --hw (default hw_configs/default.yaml),
cost every training step on the architecture, and write to --out:
  report.json          accuracy, latency and energy per step (by component and phase), totals
  config.resolved.yaml the fully resolved configuration (`archsim run` on it reproduces the run)
  epochs.csv           the metric and training loss per epoch
  *.png                training curve, energy per step by component/phase, latency by phase
  trace.json           with --trace: a Chrome trace (open in Perfetto) of a few steps"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--seed", type=int, default=None, help="override training.seed")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="cost only the first N training steps (training.max_steps): a cost study of a "
        "large network; the report says training was cut short",
    )
    parser.add_argument("--out", default="archsim-out", help="output folder (default: archsim-out)")
    parser.add_argument("--trace", action="store_true", help="also write a Chrome trace of a few steps")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from archsim.api import simulate

    sets = list(args.sets)
    if args.epochs is not None:
        sets.append(f"training.epochs={args.epochs}")
    if args.seed is not None:
        sets.append(f"training.seed={args.seed}")
    if args.steps is not None:
        sets.append(f"training.max_steps={args.steps}")
    config = load_run_config(args.workload, args.hw, sets)
    out = Path(args.out)
    report = simulate(
        config, out=out, progress=not args.no_progress, trace=args.trace, source=str(args.workload or DEFAULT_WORKLOAD)
    )
    print_summary(report.data, out)
    return 0


def print_summary(report: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    metric = report["metric"]
    table = Table(title=f"archsim run — {report.get('algorithm', '')}", show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    unit = " %" if "accuracy" in metric["name"] else ""
    table.add_row(metric["name"], f"{metric['final']:.4g}{unit}")
    per_step = report.get("per_step")
    if per_step:
        table.add_row("latency per step", f"{per_step['latency_ns']:.4g} ns ({per_step['latency_cycles']:.6g} cycles)")
        table.add_row("energy per step", f"{per_step['energy_pj'] / 1e3:.4g} nJ")
        for name, value in per_step["energy_pj_by_component"].items():
            table.add_row(f"  {name}", f"{value / 1e3:.4g} nJ")
        for name, value in per_step["energy_pj_by_phase"].items():
            table.add_row(
                f"  phase {name}", f"{value / 1e3:.4g} nJ, span {per_step['latency_ns_by_phase'][name]:.4g} ns"
            )
        hardware = report["hardware"]
        table.add_row(
            "tiles used",
            f"{hardware['tiles_used']} of {hardware['tile_count']} ({hardware['tile_rows']}x{hardware['tile_cols']})",
        )
    sim = report["simulation"]
    table.add_row("steps / samples", f"{report['totals']['steps']} / {report['totals']['samples']}")
    table.add_row(
        "simulation",
        f"{sim['wall_s']:.3g} s; training steps {sim['train_wall_s']:.3g} s, "
        f"{sim['train_samples_per_s']:.4g} samples/s",
    )
    table.add_row("output", str(out))
    console.print(table)
    for warning in report.get("warnings", []):
        console.print(f"warning: {warning}")
