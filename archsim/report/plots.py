"""PNG figures of one run: the training curve, energy per step by component and by phase, latency
per step by phase. Plotting lives here, never in the engine."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, key, title in ((axes[0], "energy_pj_by_component", "by component"),
                           (axes[1], "energy_pj_by_phase", "by phase")):
        bottom = 0.0
        for name, value in per_step[key].items():
            if value > 0:
                ax.bar([0], [value / 1e3], bottom=bottom / 1e3, label=name)
                bottom += value
        ax.set_xticks([])
        ax.set_ylabel("energy per step (nJ)")
        ax.set_title(f"energy per step {title}")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    written.append(_save(fig, out / "energy_per_step.png"))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    phases = per_step["latency_ns_by_phase"]
    ax.bar(list(phases), [phases[p] for p in phases], color="tab:blue")
    ax.axhline(per_step["latency_ns"], color="k", linestyle="--", linewidth=1, label="whole step")
    ax.set_ylabel("latency per step (ns)")
    ax.set_title("latency per step by phase (span)")
    ax.legend(fontsize=8)
    written.append(_save(fig, out / "latency_per_step.png"))
    return written
