"""PNG figures of one run: the training curve, energy per step by component and by phase, latency
per step by phase. Plotting lives here, never in the engine."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def check_plot_path(option: str, path: Path) -> None:
    """Fail with a one-line error unless ``path``'s suffix names an image format matplotlib writes."""
    from archsim.errors import ArchsimError

    formats = sorted(plt.figure().canvas.get_supported_filetypes())
    plt.close("all")
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        shown = f"'.{suffix}'" if suffix else "no suffix"
        raise ArchsimError(
            f"{option}: {str(path)!r} has {shown}; expected an image file name ending in one of "
            f"{', '.join('.' + f for f in formats)}"
        )


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_run(report: dict, out: Path) -> list[Path]:
    """Write the run's figures into ``out``; returns their paths."""
    written = []
    metric = report["metric"]
    epochs = list(range(1, len(metric["per_epoch"]) + 1))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, metric["per_epoch"], marker="o", label=metric["name"])
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric["name"].replace("_", " ") + (" (%)" if "accuracy" in metric["name"] else ""))
    ax.set_title(f"{report.get('algorithm', '')}: training curve")
    ax.grid(alpha=0.3)
    written.append(_save(fig, out / "training_curve.png"))
    per_step = report.get("per_step")
    if per_step is None:
        return written
    epoch_costs = report.get("per_epoch_step") or [per_step]
    x = list(range(1, len(epoch_costs) + 1))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, title in (
        (axes[0], "energy_pj_by_component", "by component"),
        (axes[1], "energy_pj_by_phase", "by phase"),
    ):
        names = [n for n in per_step[key] if any(c[key].get(n, 0.0) > 0 for c in epoch_costs)]
        series = [[c[key].get(n, 0.0) / 1e3 for c in epoch_costs] for n in names]
        if len(x) > 1:
            ax.stackplot(x, series, labels=names)
            ax.set_xlabel("epoch")
        else:
            bottom = 0.0
            for name, values in zip(names, series, strict=False):
                ax.bar([1], values, bottom=bottom, label=name)
                bottom += values[0]
            ax.set_xticks([1])
            ax.set_xlabel("epoch")
        ax.set_ylabel("energy per training step (nJ)")
        ax.set_title(f"energy per step {title}")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    written.append(_save(fig, out / "energy_per_step.png"))
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for phase in per_step["latency_ns_by_phase"]:
        ax.plot(x, [c["latency_ns_by_phase"].get(phase, 0.0) for c in epoch_costs], marker="o", label=phase)
    ax.plot(x, [c["latency_ns"] for c in epoch_costs], "k--", label="whole step")
    ax.set_xlabel("epoch")
    ax.set_ylabel("latency per training step (ns)")
    ax.set_title("latency per step; each phase's span")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    written.append(_save(fig, out / "latency_per_step.png"))
    return written
