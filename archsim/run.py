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
import math
import time
from pathlib import Path

from archsim.config.hw import HwConfig
from archsim.config.loader import RunConfig, config_file, write_resolved
from archsim.engine.ledger import COMPONENTS
from archsim.errors import ArchsimError, ConfigError, InfeasibleError
from archsim.ops import PHASES
from archsim.outputs import OutputFolder

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
        self.engine = Engine(self.architecture, self.mapping, transfer_policy=hw.mapping.transfer_policy, cache=cache)
        # A second engine traces the first few steps only: a whole run's trace would be too large to open.
        self.tracer = (
            Engine(self.architecture, self.mapping, transfer_policy=hw.mapping.transfer_policy, cache=False, trace=True)
            if trace
            else None
        )
        self.steps = 0
        self.traced_transfer = False

    def cost_step(self, ops, samples: int) -> None:
        self.engine.run_step(ops, samples)
        wanted = self.steps < TRACED_STEPS or (not self.traced_transfer and self.steps < TRACE_SEARCH_STEPS)
        if self.tracer is not None and wanted:
            self.tracer.run_step(ops, samples)
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


def execute(
    config: RunConfig,
    out_dir: Path | None = None,
    *,
    progress: bool = False,
    trace: bool = False,
    source: str = "workload",
    costing: bool = True,
) -> dict:
    """Train and cost ``config``; write outputs to ``out_dir`` when given; return the report.

    ``out_dir`` is checked before the training starts and written atomically after it (see
    :class:`archsim.outputs.OutputFolder`).
    """

    wall_start = time.perf_counter()
    folder = OutputFolder(out_dir) if out_dir is not None else None
    if folder is not None:
        folder.open()  # an unwritable --out fails now, not after the training
    try:
        report, per_epoch, cost = _train_and_cost(
            config, progress=progress, trace=trace, source=source, costing=costing, wall_start=wall_start
        )
        if folder is not None:
            write_outputs(config, report, per_epoch, folder, cost if trace else None)
    finally:
        if folder is not None:
            folder.discard()
    return report


#: Most weights (all layers, before algorithm copies) a run may allocate: several float64 arrays per
#: weight and role must fit in a workstation's memory.
MAX_WEIGHTS = 20_000_000


def check_network_size(config: RunConfig, source: str = "workload") -> None:
    """Refuse a network too large to simulate before any of it is allocated.

    Shapes come from the network's own layer classes (which allocate nothing); a shape they cannot
    form is left to the network's checks, which name the layer.
    """
    from archsim.nn.network import FlattenLayer, MatrixLayer, PoolLayer

    shape, total = tuple(config.model.input_shape), 0
    for index, spec in enumerate(config.model.layers):
        kinds: dict[str, type[MatrixLayer | PoolLayer]] = {
            "dense": MatrixLayer,
            "conv2d": MatrixLayer,
            "maxpool2d": PoolLayer,
        }
        kind = kinds.get(spec.type, FlattenLayer)
        try:
            layer = kind(index, spec, shape)
        except (ValueError, TypeError, IndexError):
            return
        if isinstance(layer, MatrixLayer):
            total += layer.matrix_shape[0] * layer.matrix_shape[1]
            if total > MAX_WEIGHTS:
                raise ConfigError(
                    config_file(config, f"model.layers.{index}", source),
                    f"model.layers.{index}",
                    f"the network has more than {MAX_WEIGHTS} weights up to this layer; expected a "
                    "network a workstation can simulate",
                )
        shape = layer.out_shape
        if any(int(n) < 1 for n in shape):
            return


def check_buildable(config: RunConfig, source: str = "workload") -> None:
    """Build ``config``'s data, network and mapping without training; raise the one-line error of a
    configuration that cannot run (a layer that does not fit, a network larger than the chip)."""
    from archsim.hw import Architecture
    from archsim.mapping import Mapping
    from archsim.nn.trainer import Trainer

    check_network_size(config, source)
    trainer = Trainer(config, source=source, record=False)
    try:
        Mapping.build(Architecture(config.hw), trainer.network.arrays())
    except InfeasibleError as exc:
        raise ConfigError(config_file(config, exc.key_path, source), exc.key_path, exc.message) from None


def _train_and_cost(
    config: RunConfig, *, progress: bool, trace: bool, source: str, costing: bool, wall_start: float
) -> tuple[dict, list[dict], CostModel | None]:
    from archsim.nn.trainer import Trainer

    check_network_size(config, source)
    trainer = Trainer(config, source=source, record=costing)
    try:
        cost = CostModel(config.hw, trainer.network.arrays(), trace=trace) if costing else None
    except OverflowError:  # a value at the edge of its range drives a cost formula past a float
        raise ArchsimError(
            "hw: the configured values make the cost model overflow; expected physically plausible settings"
        ) from None
    except InfeasibleError as exc:  # name the file that set the key that falls short, as config errors do
        raise ConfigError(config_file(config, exc.key_path, source), exc.key_path, exc.message) from None
    epochs = config.training.epochs
    steps_per_epoch = trainer.steps_per_epoch()
    per_epoch: list[dict] = []
    epoch_costs: list[dict] = []  # per-step cost averaged within each epoch
    bar = _progress(progress)

    def on_step(ops, samples, loss):
        if cost is not None:
            cost.cost_step(ops, samples)
        if bar is not None:
            running_loss[0] = loss if running_loss[0] is None else 0.95 * running_loss[0] + 0.05 * loss
            bar.update(task, advance=1, loss=f"loss {running_loss[0]:.3g}")

    with bar if bar is not None else contextlib.nullcontext():
        task = bar.add_task(f"epoch 1/{epochs}", total=trainer.total_steps(), metric="", loss="") if bar else None
        running_loss = [None]
        previous = None
        for epoch in range(epochs):
            if bar is not None:
                bar.update(task, description=f"epoch {epoch + 1}/{epochs}")
            result = trainer.run_epoch(epoch, on_step)
            row = {
                "epoch": epoch + 1,
                "train_loss": result.train_loss,
                "metric": result.metric,
                "steps": result.steps,
                "samples": result.samples,
            }
            if cost is not None:
                now = cost.engine.totals()
                this_epoch = _per_step(_difference(now, previous), result.steps)
                row.update(
                    {"latency_ns_per_step": this_epoch["latency_ns"], "energy_pj_per_step": this_epoch["energy_pj"]}
                )
                epoch_costs.append(this_epoch)
                previous = now
            per_epoch.append(row)
            if bar is not None:
                bar.update(task, metric=f"{trainer.metric_name} {result.metric:.4g}")
            if trainer.cut_short:
                break
    wall = time.perf_counter() - wall_start
    steps = sum(e["steps"] for e in per_epoch)
    samples = sum(e["samples"] for e in per_epoch)
    report = {
        "schema": SCHEMA,
        "seed": config.training.seed,
        "metric": {
            "name": trainer.metric_name,
            "final": per_epoch[-1]["metric"],
            "per_epoch": [e["metric"] for e in per_epoch],
        },
        "train_loss": {"per_epoch": [e["train_loss"] for e in per_epoch]},
        "algorithm": config.algorithm.name,
        "training": {
            "steps": steps,
            "planned_steps": config.training.epochs * steps_per_epoch,
            "cut_short": trainer.cut_short,
        },
        "warnings": _warnings(trainer, steps, config.training.epochs * steps_per_epoch),
    }
    if cost is not None:
        totals = cost.engine.totals()
        report["per_step"] = _per_step(totals, steps)
        report["totals"] = {
            "steps": steps,
            "samples": samples,
            "latency_ns": totals.latency_ns,
            "energy_pj": totals.energy_pj,
        }
        report["per_epoch_step"] = epoch_costs
        report["hardware"] = {
            "name": config.hw.name,
            "tiles_used": cost.mapping.tiles_used,
            "tile_count": config.hw.tile.count,
            "tile_rows": config.hw.tile.rows,
            "tile_cols": config.hw.tile.cols,
            "adc_bits": config.hw.adc.bits,
            "dac_bits": config.hw.dac.bits,
            "clock_hz": config.hw.clock,
            "schedule": config.hw.mapping.schedule,
            # per matrix layer (keyed by its index in model.layers): tiles it occupies, share of their cells used
            "tiles_per_layer": {str(layer): n for layer, n in cost.mapping.tiles_per_layer().items()},
            "cell_utilisation_per_layer": {str(layer): u for layer, u in cost.mapping.cell_utilisation().items()},
        }
        # where the step's time goes: each resource's busy share of the simulated time (pipeline stalls)
        report["utilisation"] = cost.engine.utilisation_summary()
    else:
        report["totals"] = {"steps": steps, "samples": samples}
    report["simulation"] = {
        "wall_s": wall,  # the whole run: loading, building the network and cost model, training, evaluation
        "samples_per_s": samples / wall if wall > 0 else 0.0,
        # the training steps alone (functional work and, with costing, the steps' costing)
        "train_wall_s": trainer.train_wall_s,
        "train_cpu_s": trainer.train_cpu_s,
        "train_samples_per_s": samples / trainer.train_wall_s if trainer.train_wall_s > 0 else 0.0,
        "costing": costing,
    }
    check_finite(report)
    return report, per_epoch, cost


def _warnings(trainer, steps: int, planned: int) -> list[str]:
    """Why the report's figures may not mean what they seem to: one line each."""
    found = []
    if trainer.cut_short:
        found.append(
            f"training cut short by training.max_steps: {steps} of {planned} steps; the costs are "
            f"per-step averages of those steps and the {trainer.metric_name} is of a barely trained network"
        )
    if trainer.data.warning:
        found.append(trainer.data.warning)
    return found


def check_finite(report: dict | list, path: str = "") -> None:
    """Raise a one-line error naming the first report value that is NaN or infinite.

    A report is strict JSON (no NaN or Infinity), and a non-finite cost means a configured value drove
    the cost model beyond the range of a float.
    """
    items = report.items() if isinstance(report, dict) else enumerate(report)
    for key, value in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(value, (dict, list)):
            check_finite(value, here)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ArchsimError(
                f"report: {here} is {value}: the configuration drives this value beyond the "
                "range of a float; expected a finite result (reduce the extreme settings)"
            )


def write_outputs(
    config: RunConfig, report: dict, per_epoch: list[dict], out: OutputFolder | Path, traced=None
) -> None:
    """Write the run's files into ``out``: all of them replace the folder's previous outputs, or none do."""
    folder = out if isinstance(out, OutputFolder) else OutputFolder(out)
    staging = folder.staging or folder.open()
    try:
        write_resolved(config, staging / "config.resolved.yaml")
        text = json.dumps(report, indent=2, sort_keys=False, allow_nan=False)
        (staging / "report.json").write_text(text + "\n", encoding="utf-8")
        with open(staging / "epochs.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(per_epoch[0]))
            writer.writeheader()
            writer.writerows(per_epoch)
        from archsim.report.plots import plot_run

        plot_run(report, staging)
        if traced is not None:
            (staging / "trace.json").write_text(json.dumps(traced.tracer.chrome_trace()), encoding="utf-8")
        folder.commit()
    except OSError as exc:
        raise folder.write_error(exc) from None
    finally:
        folder.discard()


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TextColumn("{task.fields[loss]}"),
        TextColumn("{task.fields[metric]}"),
        TimeRemainingColumn(),
        transient=False,
    )
