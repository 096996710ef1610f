"""Reports of a sweep results database: a CSV of every point, the Pareto front, and plots of it.

The front is taken over three objectives: the metric (best value), the energy of one training step
(least, pJ) and the latency of one training step (least, ns). Whether the metric is better high or low
is read from its name (``metric.name`` in each report): accuracy is maximised, and a name containing a
word such as ``loss`` or ``error`` (``test_loss`` of a regression workload) is minimised; see
:func:`archsim.report.pareto.metric_maximized`. Runs with different metrics cannot share one front, so
a database holding several asks for ``--metric``.

Plots put any two quantities on the axes (default: metric against energy per step, and against
latency per step), colour each point by a swept key, and draw the two-objective front of the plotted
axes. A quantity is a column (``metric``, ``energy_pj``, ``latency_ns``), a swept key
(``hw.adc.bits``), or a dotted path into the report (``totals.energy_pj``, ``per_step.energy_pj_by_component.adc``).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsim.errors import ArchsimError, did_you_mean
from archsim.outputs import OutputFolder
from archsim.report.pareto import metric_maximized, pareto_front

#: Quantities a plot or table may use directly, with axis labels (units per training step).
COLUMN_LABELS = {
    "metric": None,  # labelled with the metric's own name
    "energy_pj": "energy per training step (pJ)",
    "latency_ns": "latency per training step (ns)",
}
#: Axis labels of report paths users often plot.
REPORT_LABELS = {
    "totals.energy_pj": "energy of the whole training run (pJ)",
    "totals.latency_ns": "latency of the whole training run (ns)",
    "per_step.latency_cycles": "latency per training step (cycles)",
}
#: Report quantities added to the CSV beside the per-step columns.
REPORT_EXTRAS = ("totals.energy_pj", "totals.latency_ns", "totals.samples", "simulation.wall_s")
DEFAULT_PLOT_AXES = (("energy_pj", "metric"), ("latency_ns", "metric"))
#: Up to this many distinct colour values get a legend entry each; more numeric values get a colour bar.
MAX_COLOR_CATEGORIES = 10


@dataclass
class SweepResults:
    """The runs of a results database, ready to tabulate."""

    rows: list[dict[str, Any]]  # every run (done and failed), as ResultStore.rows() yields them
    param_keys: list[str] = field(default_factory=list)  # swept keys, in order of first appearance
    metric_name: str | None = None  # the one metric the done runs share (after --metric filtering)

    @property
    def done(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["status"] == "done"]


@dataclass
class ReportFiles:
    """What :func:`write_sweep_report` wrote."""

    points_csv: Path
    front_csv: Path
    plots: list[Path]
    front: list[dict[str, Any]]  # the front's rows, by increasing energy per step
    results: SweepResults


def load_results(db: str | Path, metric: str | None = None) -> SweepResults:
    """Read every run of ``db``; keep done runs of one metric (``metric``, or the only one present)."""
    from archsim.sweep.store import ResultStore, is_sqlite_file

    path = Path(db)
    if not path.is_file():
        raise ArchsimError(f"{path}: no such results database")
    if not is_sqlite_file(path):
        raise ArchsimError(f"{path}: not an SQLite results database (expected the --db file of archsim sweep)")
    with ResultStore(path, create=False) as store:
        rows = list(store.rows())
    names = sorted({row["metric_name"] for row in rows if row["status"] == "done" and row["metric_name"]})
    if metric is not None:
        if metric not in names:
            raise ArchsimError(f"--metric {metric}: no done run reports it (found: {', '.join(names) or 'none'})")
        rows = [row for row in rows if row["status"] != "done" or row["metric_name"] == metric]
    elif len(names) > 1:
        raise ArchsimError(
            f"{path}: runs report different metrics ({', '.join(names)}); one front needs one "
            "metric: pass --metric NAME"
        )
    param_keys: list[str] = []
    for row in rows:
        for key in row["params"]:
            if key not in param_keys:
                param_keys.append(key)
    return SweepResults(rows=rows, param_keys=param_keys, metric_name=metric or (names[0] if names else None))


# --------------------------------------------------------------------------------------------------
# Quantities
# --------------------------------------------------------------------------------------------------


def value_of(row: dict[str, Any], name: str) -> Any:
    """A row's value of ``name``: a column, a swept key, or a dotted path into its report (None if absent)."""
    if name in COLUMN_LABELS:
        return row.get(name)
    if name in row["params"]:
        return row["params"][name]
    node: Any = row.get("report")
    for part in name.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def check_quantity(results: SweepResults, name: str, option: str) -> None:
    """Fail with a one-line error unless some done run has a value for ``name``."""
    if any(value_of(row, name) is not None for row in results.done):
        return
    known = list(COLUMN_LABELS) + results.param_keys + list(REPORT_EXTRAS)
    raise ArchsimError(
        f"{option} {name}: no done run has this quantity{did_you_mean(name, known)} "
        "(use metric, energy_pj, "
        f"latency_ns, a swept key ({', '.join(results.param_keys) or 'none'}) or a report path "
        "such as totals.energy_pj)"
    )


def maximized(name: str, metric_name: str | None) -> bool:
    """Whether more of ``name`` is better: the metric by its name; every cost (energy, latency...) is not."""
    return metric_maximized(metric_name) if name == "metric" else False


def axis_label(name: str, metric_name: str | None) -> str:
    if name == "metric":
        return (metric_name or "metric").replace("_", " ")
    return COLUMN_LABELS.get(name) or REPORT_LABELS.get(name) or name


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _finite_points(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> list[tuple[dict[str, Any], list[float]]]:
    """The rows with a finite value of every one of ``names``, each beside those values (in ``names`` order)."""
    points = []
    for row in rows:
        values = [_finite(value_of(row, name)) for name in names]
        finite = [v for v in values if v is not None]
        if len(finite) == len(names):
            points.append((row, finite))
    return points


# --------------------------------------------------------------------------------------------------
# Front and tables
# --------------------------------------------------------------------------------------------------


def front_of(rows: Sequence[dict[str, Any]], objectives: Sequence[str], metric_name: str | None) -> list[dict]:
    """The rows on the Pareto front of ``objectives`` (rows missing a value are left out)."""
    usable = _finite_points(rows, objectives)
    values = [point_values for _, point_values in usable]
    indices = pareto_front(values, [maximized(o, metric_name) for o in objectives]) if usable else []
    return [usable[i][0] for i in indices]


def sweep_front(results: SweepResults) -> list[dict[str, Any]]:
    """The front of (metric, energy per step, latency per step), by increasing energy per step."""
    front = front_of(results.done, ("metric", "energy_pj", "latency_ns"), results.metric_name)
    return sorted(front, key=lambda row: (row["energy_pj"], row["latency_ns"], row["run_id"]))


def _csv_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value)
    return "" if value is None else value


def write_csv(rows: Sequence[dict[str, Any]], results: SweepResults, path: Path) -> Path:
    """One line per run: identity, status, headline numbers (per step), swept keys, report extras."""
    header = (
        ["run_id", "status", "metric_name", "metric", "energy_pj", "latency_ns"]
        + results.param_keys
        + list(REPORT_EXTRAS)
        + ["seed", "started_at", "finished_at", "worker", "error"]
    )
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            error = (row.get("error") or "").strip().splitlines()
            writer.writerow(
                [
                    _csv_value(row.get(c))
                    for c in ("run_id", "status", "metric_name", "metric", "energy_pj", "latency_ns")
                ]
                + [_csv_value(row["params"].get(k)) for k in results.param_keys]
                + [_csv_value(value_of(row, k)) for k in REPORT_EXTRAS]
                + [_csv_value(row.get(c)) for c in ("seed", "started_at", "finished_at", "worker")]
                + [error[0] if error else ""]
            )
    return path


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def front_table(results: SweepResults, front: Sequence[dict[str, Any]]):
    """The front as a rich Table (print it with a rich Console)."""
    from rich.table import Table

    direction = "higher" if metric_maximized(results.metric_name) else "lower"
    table = Table(
        title=f"Pareto front: {len(front)} of {len(results.done)} done points "
        f"({results.metric_name or 'metric'}: {direction} is better; energy and latency per "
        "step: lower is better)"
    )
    for key in results.param_keys:
        table.add_column(key)
    table.add_column(results.metric_name or "metric", justify="right")
    table.add_column("energy_pj (per step)", justify="right")
    table.add_column("latency_ns (per step)", justify="right")
    table.add_column("run_id")
    for row in front:
        table.add_row(
            *[_format(row["params"].get(k)) for k in results.param_keys],
            _format(row["metric"]),
            _format(row["energy_pj"]),
            _format(row["latency_ns"]),
            row["run_id"],
        )
    return table


# --------------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------------


def default_color_key(results: SweepResults) -> str | None:
    """The first swept key that takes more than one value (the seed only if nothing else varies)."""
    varying = [k for k in results.param_keys if len({repr(row["params"].get(k)) for row in results.done}) > 1]
    preferred = [k for k in varying if k != "training.seed"]
    candidates = preferred or varying
    return candidates[0] if candidates else None


def _category(value: Any) -> Any:
    """A hashable stand-in for a colour value: lists and mappings become their JSON text."""
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, sort_keys=True)
    return value


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plot_front(results: SweepResults, x: str, y: str, color: str | None, path: Path) -> Path:
    """Scatter every done point (``x`` against ``y``, coloured by ``color``) and draw their 2-D front."""
    from matplotlib.figure import Figure

    points = _finite_points(results.done, (x, y))
    rows = [row for row, _ in points]
    figure = Figure(figsize=(6.4, 4.6))
    axes = figure.add_subplot()
    xs = [xy[0] for _, xy in points]
    ys = [xy[1] for _, xy in points]
    # A list- or mapping-valued key (model.layers) colours by its JSON text: one legend entry per value.
    colours: list[Any] = [_category(value_of(row, color)) if color else None for row in rows]
    distinct = {repr(c) for c in colours}
    numeric = bool(colours) and all(_finite(c) is not None for c in colours)
    if color is None or not rows:
        axes.scatter(xs, ys, s=28, color="tab:blue", label="points", zorder=2)
    elif numeric and len(distinct) > MAX_COLOR_CATEGORIES:
        scatter = axes.scatter(xs, ys, c=[float(c) for c in colours], cmap="viridis", s=28, zorder=2)
        figure.colorbar(scatter, ax=axes, label=color)
    else:  # a few values (or text): one legend entry each
        import matplotlib

        palette = matplotlib.colormaps["viridis" if numeric else "tab10"]
        categories = sorted(set(colours), key=lambda c: (float(c), "") if numeric else (0.0, str(c)))
        for i, category in enumerate(categories):
            shade = palette(i / max(len(categories) - 1, 1)) if numeric else palette(i % 10)
            chosen = [j for j, c in enumerate(colours) if c == category]
            axes.scatter(
                [xs[j] for j in chosen],
                [ys[j] for j in chosen],
                s=28,
                color=shade,
                label=f"{color} = {category}",
                zorder=2,
            )
    # A front needs axes with a "better" direction; a swept key on an axis is a setting, not an objective.
    swept_axis = x in results.param_keys or y in results.param_keys
    front = [] if swept_axis else front_of(rows, (x, y), results.metric_name)
    if front:
        front.sort(key=lambda row: value_of(row, x))
        fx = [xy[0] for _, xy in _finite_points(front, (x, y))]
        fy = [xy[1] for _, xy in _finite_points(front, (x, y))]
        # The front as a staircase: each front point holds its y until the next one improves on it.
        axes.step(
            fx,
            fy,
            where="post",
            color="black",
            linewidth=1.0,
            alpha=0.7,
            zorder=1,
            label=f"Pareto front ({len(front)} points)",
        )
        axes.scatter(fx, fy, s=80, facecolors="none", edgecolors="black", linewidths=1.2, zorder=3)
    positive = [v for v in xs if v > 0]
    if positive and len(positive) == len(xs) and max(positive) / min(positive) > 100:
        axes.set_xscale("log")
    axes.set_xlabel(axis_label(x, results.metric_name))
    axes.set_ylabel(axis_label(y, results.metric_name))
    axes.set_title(
        f"{axis_label(y, results.metric_name)} vs {axis_label(x, results.metric_name)}"
        + (f", coloured by {color}" if color else ""),
        fontsize=10,
    )
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path


# --------------------------------------------------------------------------------------------------
# The whole report
# --------------------------------------------------------------------------------------------------


def write_sweep_report(
    db: str | Path,
    out: str | Path,
    *,
    x: str | None = None,
    y: str = "metric",
    color: str | None = None,
    metric: str | None = None,
) -> ReportFiles:
    """Write ``points.csv``, ``pareto.csv`` and the front plots of ``db`` into ``out``."""
    results = load_results(db, metric)
    out = Path(out)
    axes = [(x, y)] if x is not None else [(ax, y) for ax, _ in DEFAULT_PLOT_AXES]
    for name, option in [(a, "--x") for a, _ in axes] + [(y, "--y")] + ([(color, "--color")] if color else []):
        if results.done:
            check_quantity(results, name, option)
    color = color or default_color_key(results)
    front = sweep_front(results)
    folder = OutputFolder(out)
    staging = folder.open()
    try:
        write_csv(results.rows, results, staging / "points.csv")
        write_csv(front, results, staging / "pareto.csv")
        plots = []
        if results.done:
            for ax, ay in axes:
                name = f"pareto_{_slug(ay)}_vs_{_slug(ax)}.png"
                plot_front(results, ax, ay, color, staging / name)
                plots.append(out / name)
        folder.commit()
    except OSError as exc:
        raise folder.write_error(exc) from None
    finally:
        folder.discard()
    return ReportFiles(
        points_csv=out / "points.csv", front_csv=out / "pareto.csv", plots=plots, front=front, results=results
    )
