"""The main job: train a workload on a hardware description and cost every step.

:func:`execute` joins the functional side (:class:`archsim.nn.trainer.Trainer`, which emits each
step's operations) and the cost side (mapping + SimPy engine), and returns the report dictionary.
Everything in the report except ``simulation`` is a deterministic function of the resolved
configuration (the seed is ``training.seed``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import time
from pathlib import Path

from archsim.config.hw import HwConfig
from archsim.config.loader import RunConfig, write_resolved
from archsim.engine.ledger import COMPONENTS
from archsim.ops import PHASES

SCHEMA = "archsim.report/1"
#: Steps written to trace.json with --trace (more if none of them held a transfer yet).
TRACED_STEPS = 3
#: ... up to this many steps, looking for one with a transfer (transfer_every may exceed a step's samples).
TRACE_SEARCH_STEPS = 100


class CostModel:
    """The cost side of a run: architecture, mapping and engine for one network's arrays."""

    def __init__(self, hw: HwConfig, arrays: dict, trace: bool = False, cache: bool = True):
        from archsim.engine import Engine
        from archsim.hw import Architecture
        from archsim.mapping import Mapping

        self.architecture = Architecture(hw)
        self.mapping = Mapping.build(self.architecture, arrays)
        self.engine = Engine(self.architecture, self.mapping, transfer_policy=hw.mapping.transfer_policy,
                             cache=cache)
        # A second engine traces the first few steps only: a whole run's trace would be too large to open.
        self.tracer = (Engine(self.architecture, self.mapping, transfer_policy=hw.mapping.transfer_policy,
                              cache=False, trace=True) if trace else None)
        self.steps = 0
        self.traced_transfer = False

    def cost_step(self, ops) -> None:
        self.engine.run_step(ops)
        wanted = self.steps < TRACED_STEPS or (not self.traced_transfer and self.steps < TRACE_SEARCH_STEPS)
        if self.tracer is not None and wanted:
            self.tracer.run_step(ops)
            self.traced_transfer = self.traced_transfer or any(op.phase == "transfer" for op in ops)
        self.steps += 1


def _per_step(totals, steps: int) -> dict:
    steps = max(steps, 1)
    by_component = {c: totals.energy_pj_by_component.get(c, 0.0) / steps for c in COMPONENTS}
    by_phase = {p: totals.energy_pj_by_phase.get(p, 0.0) / steps for p in PHASES}
    return {
        "latency_cycles": totals.latency_cycles / steps,
        "latency_ns": totals.latency_ns / steps,
        "energy_pj": totals.energy_pj / steps,
        "energy_pj_by_component": by_component,
        "energy_pj_by_phase": by_phase,
        "latency_ns_by_phase": {p: totals.latency_ns_by_phase.get(p, 0.0) / steps for p in PHASES},
    }


class _Totals:
    """Difference of two engine totals (the cost of the steps between them)."""

    def __init__(self, now, before):
        def minus(a: dict, b: dict | None) -> dict:
            return {k: v - (b or {}).get(k, 0.0) for k, v in a.items()}

        self.latency_cycles = now.latency_cycles - (before.latency_cycles if before else 0)
        self.latency_ns = now.latency_ns - (before.latency_ns if before else 0.0)
        self.energy_pj = now.energy_pj - (before.energy_pj if before else 0.0)
        self.energy_pj_by_component = minus(now.energy_pj_by_component, before and before.energy_pj_by_component)
        self.energy_pj_by_phase = minus(now.energy_pj_by_phase, before and before.energy_pj_by_phase)
        self.latency_ns_by_phase = minus(now.latency_ns_by_phase, before and before.latency_ns_by_phase)


def _difference(now, before):
    return now if before is None else _Totals(now, before)


def execute(config: RunConfig, out_dir: Path | None = None, *, progress: bool = False, trace: bool = False,
            source: str = "workload", costing: bool = True) -> dict:
    """Train and cost ``config``; write outputs to ``out_dir`` when given; return the report."""
    from archsim.nn.trainer import Trainer

    wall_start = time.perf_counter()
    trainer = Trainer(config, source=source, record=costing)
    cost = CostModel(config.hw, trainer.network.arrays(), trace=trace) if costing else None
    epochs = config.training.epochs
    steps_per_epoch = trainer.steps_per_epoch()
    per_epoch: list[dict] = []
    epoch_costs: list[dict] = []   # per-step cost averaged within each epoch
    bar = _progress(progress)

    def on_step(ops, samples, loss):
        if cost is not None:
            cost.cost_step(ops)
        if bar is not None:
            running_loss[0] = loss if running_loss[0] is None else 0.95 * running_loss[0] + 0.05 * loss
            bar.update(task, advance=1, loss=f"loss {running_loss[0]:.3g}")

    with (bar if bar is not None else contextlib.nullcontext()):
        task = bar.add_task(f"epoch 1/{epochs}", total=epochs * steps_per_epoch, metric="", loss="") if bar else None
        running_loss = [None]
        previous = None
        for epoch in range(epochs):
            if bar is not None:
                bar.update(task, description=f"epoch {epoch + 1}/{epochs}")
            result = trainer.run_epoch(epoch, on_step)
            row = {"epoch": epoch + 1, "train_loss": result.train_loss, "metric": result.metric,
                   "steps": result.steps, "samples": result.samples}
            if cost is not None:
                now = cost.engine.totals()
                this_epoch = _per_step(_difference(now, previous), result.steps)
                row.update({"latency_ns_per_step": this_epoch["latency_ns"],
                            "energy_pj_per_step": this_epoch["energy_pj"]})
                epoch_costs.append(this_epoch)
                previous = now
            per_epoch.append(row)
            if bar is not None:
                bar.update(task, metric=f"{trainer.metric_name} {result.metric:.4g}")
    wall = time.perf_counter() - wall_start
    steps = sum(e["steps"] for e in per_epoch)
    samples = sum(e["samples"] for e in per_epoch)
    report = {
        "schema": SCHEMA,
        "seed": config.training.seed,
        "metric": {"name": trainer.metric_name, "final": per_epoch[-1]["metric"],
                   "per_epoch": [e["metric"] for e in per_epoch]},
        "train_loss": {"per_epoch": [e["train_loss"] for e in per_epoch]},
        "algorithm": config.algorithm.name,
    }
    if cost is not None:
        totals = cost.engine.totals()
        report["per_step"] = _per_step(totals, steps)
        report["totals"] = {"steps": steps, "samples": samples, "latency_ns": totals.latency_ns,
                            "energy_pj": totals.energy_pj}
        report["per_epoch_step"] = epoch_costs
        report["hardware"] = {"name": config.hw.name, "tiles_used": cost.mapping.tiles_used,
                              "tile_count": config.hw.tile.count,
                              "tile_rows": config.hw.tile.rows, "tile_cols": config.hw.tile.cols,
                              "adc_bits": config.hw.adc.bits, "dac_bits": config.hw.dac.bits,
                              "clock_hz": config.hw.clock}
    else:
        report["totals"] = {"steps": steps, "samples": samples}
    report["simulation"] = {"wall_s": wall, "samples_per_s": samples / wall if wall > 0 else 0.0,
                            "costing": costing}
    if out_dir is not None:
        write_outputs(config, report, per_epoch, Path(out_dir), cost if trace else None)
    return report


def write_outputs(config: RunConfig, report: dict, per_epoch: list[dict], out: Path, traced=None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_resolved(config, out / "config.resolved.yaml")
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    with open(out / "epochs.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(per_epoch[0]))
        writer.writeheader()
        writer.writerows(per_epoch)
    from archsim.report.plots import plot_run

    plot_run(report, out)
    if traced is not None:
        (out / "trace.json").write_text(json.dumps(traced.tracer.chrome_trace()), encoding="utf-8")


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                    TextColumn("{task.fields[loss]}"), TextColumn("{task.fields[metric]}"), TimeRemainingColumn(),
                    transient=False)
