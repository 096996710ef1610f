"""Regenerate the seed paper's claims as PNG figures plus a markdown table.

    python tools/reproduce_paper.py [--out tools/results] [--seeds 3] [--digits-epochs 30] [--mnist DIR] [--quick]

(a) least squares: error vs iterations for Digital SGD, Analog SGD and Tiki-Taka at several step sizes;
(b) Analog SGD's floor vs tau and vs gradient (label) noise, beside the implicit-penalty prediction;
(c) symmetric-point offset c in {0, 0.1, 0.2, 0.3}: Tiki-Taka with and without zero shifting;
(d) test accuracy on digits (and MNIST when --mnist is given) for Digital SGD, Analog SGD and Tiki-Taka
    at tau in {0.6, 0.7, 0.8}, over several seeds;
(e) the seed paper's general response functions: Analog SGD's simulated floor beside the stationary point of
    E[g] F(W) + E|g| G(W) = 0 for soft bounds with an offset, power and exponential devices;
(f) residual learning (the gradient taken at the effective weight gamma A + C): error against gamma on an
    offset device, with and without zero shifting (A read against a reference array at its symmetric point).

Errors on least squares are ||W - W_ls||^2 / ||W_ls||^2 with W_ls the exact minimiser of the training
loss; the prediction is the closed-form minimiser of the penalised objective f(W) + sum s_ij/(2 tau) W_ij^2
(archsim.algorithms.theory).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from archsim.algorithms.theory import (lsq_analog_sgd_fixed_point, lsq_analog_sgd_stationary_point,  # noqa: E402
                                       lsq_minimum)
from archsim.config import load_run_config  # noqa: E402
from archsim.nn.trainer import Trainer  # noqa: E402

LSQ = ROOT / "workloads" / "lsq_paper.yaml"
DIGITS = ROOT / "workloads" / "fcn_digits.yaml"
MNIST = ROOT / "workloads" / "fcn_mnist.yaml"
NAMES = {"digital_sgd": "Digital SGD", "analog_sgd": "Analog SGD", "tiki_taka": "Tiki-Taka",
         "residual": "Tiki-Taka + zero shifting"}


EPOCHS: list[str] = []   # --quick shortens the least-squares runs (set in main)


def lsq_run(sets: list[str], record_points: int = 40, average_tail: float = 0.5):
    """Train the least-squares workload; returns (iterations, errors, final error, tail-mean W, trainer)."""
    if {f"algorithm.name={name}" for name in ("tiki_taka", "residual", "ttv2", "chopped_ttv2", "agad")} & set(sets):
        sets = ["algorithm.transfer_lr=5.0"] + sets   # the seed paper's transfer scale, a Tiki-Taka family key
    config = load_run_config(LSQ, None, EPOCHS + sets)
    trainer = Trainer(config, record=False)
    optimum = lsq_minimum(trainer.data.train_x, trainer.data.train_y)
    scale = float(np.sum(optimum ** 2))
    total_steps = trainer.steps_per_epoch() * config.training.epochs
    every = max(1, total_steps // record_points)
    iterations, errors = [], []
    tail_sum = np.zeros_like(optimum)
    tail_count = 0
    step = 0

    def on_step(ops, samples, loss):
        nonlocal step, tail_sum, tail_count
        step += 1
        if step % every == 0 or step >= total_steps * (1 - average_tail):
            weights = trainer.network.weights()[0]
            if step % every == 0:
                iterations.append(step)
                errors.append(float(np.sum((weights - optimum) ** 2) / scale))
            if step >= total_steps * (1 - average_tail):
                tail_sum += weights
                tail_count += 1

    for epoch in range(config.training.epochs):
        trainer.run_epoch(epoch, on_step)
    final = float(np.sum((trainer.network.weights()[0] - optimum) ** 2) / scale)
    tail_mean = tail_sum / max(tail_count, 1)
    return iterations, errors, final, tail_mean, trainer, optimum


def relative_error(weights, optimum) -> float:
    return float(np.sum((weights - optimum) ** 2) / np.sum(optimum ** 2))


def figure_a(out: Path, quick: bool, lines: list[str]) -> None:
    rates = [1e-3, 3e-3] if not quick else [1e-3]
    fig, axes = plt.subplots(1, len(rates), figsize=(5 * len(rates), 3.8), squeeze=False)
    lines += ["### (a) Least squares: final error ||W - W_ls||² / ||W_ls||²", "",
              "| step size | Digital SGD | Analog SGD | Tiki-Taka |", "|---|---|---|---|"]
    for ax, lr in zip(axes[0], rates):
        finals = []
        for algorithm in ("digital_sgd", "analog_sgd", "tiki_taka"):
            it, err, final, *_ = lsq_run([f"algorithm.name={algorithm}", f"training.lr={lr}"])
            ax.semilogy(it, err, label=NAMES[algorithm])
            finals.append(final)
        ax.set_title(f"least squares, step size {lr:g}")
        ax.set_xlabel("iteration (samples)")
        ax.set_ylabel("||W - W_ls||² / ||W_ls||²")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        lines.append(f"| {lr:g} | " + " | ".join(f"{v:.2e}" for v in finals) + " |")
    fig.tight_layout()
    fig.savefig(out / "a_lsq_convergence.png", dpi=120)
    plt.close(fig)
    lines.append("")


def figure_b(out: Path, quick: bool, lines: list[str]) -> None:
    taus = [1.0, 2.0, 3.0, 5.0] if not quick else [1.0, 3.0]
    noises = [0.25, 0.5, 1.0, 2.0] if not quick else [0.5, 1.0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    lines += ["### (b) Analog SGD floor vs the implicit-penalty prediction", "",
              "| tau | label noise | simulated floor | predicted floor | distance to prediction / bias |",
              "|---|---|---|---|---|"]
    for ax, sweep, label in ((axes[0], [(t, 1.0) for t in taus], "tau"),
                             (axes[1], [(3.0, n) for n in noises], "label noise std")):
        xs, simulated, predicted = [], [], []
        for tau, noise in sweep:
            sets = ["algorithm.name=analog_sgd", f"dataset.lsq_noise={noise}", f"hw.device.w_max={tau}",
                    f"hw.device.w_min={-tau}"]
            _, _, _, tail_mean, trainer, optimum = lsq_run(sets)
            prediction, _ = lsq_analog_sgd_fixed_point(trainer.data.train_x, trainer.data.train_y, tau)
            xs.append(tau if label == "tau" else noise)
            simulated.append(relative_error(tail_mean, optimum))
            predicted.append(relative_error(prediction, optimum))
            ratio = np.linalg.norm(tail_mean - prediction) / np.linalg.norm(prediction - optimum)
            lines.append(f"| {tau:g} | {noise:g} | {simulated[-1]:.3e} | {predicted[-1]:.3e} | {ratio:.3f} |")
        ax.loglog(xs, simulated, "o-", label="Analog SGD (time-averaged W)")
        ax.loglog(xs, predicted, "k--", label="penalised-objective minimum")
        ax.set_xlabel(label)
        ax.set_ylabel("||W - W_ls||² / ||W_ls||²")
        ax.set_title(f"Analog SGD floor vs {label}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "b_asgd_floor.png", dpi=120)
    plt.close(fig)
    lines.append("")


def figure_c(out: Path, quick: bool, lines: list[str]) -> None:
    offsets = [0.0, 0.1, 0.2, 0.3]
    results = {name: [] for name in ("analog_sgd", "tiki_taka", "residual")}
    for c in offsets:
        for algorithm in results:
            *_, final, _, _, _ = lsq_run([f"algorithm.name={algorithm}", f"hw.device.up_down={c}",
                                          "hw.device.up_down_scaling=plus_minus"])   # the paper's (1 +- c)
            results[algorithm].append(final)
    fig, ax = plt.subplots(figsize=(5, 3.8))
    for algorithm, finals in results.items():
        ax.semilogy(offsets, finals, "o-", label=NAMES[algorithm])
    ax.set_xlabel("symmetric-point offset c (symmetric point at c·tau)")
    ax.set_ylabel("final ||W - W_ls||² / ||W_ls||²")
    ax.set_title("offset symmetric point")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "c_symmetric_point_offset.png", dpi=120)
    plt.close(fig)
    lines += ["### (c) Symmetric-point offset: final least-squares error", "",
              "| c | Analog SGD | Tiki-Taka | Tiki-Taka + zero shifting |", "|---|---|---|---|"]
    for i, c in enumerate(offsets):
        lines.append(f"| {c:g} | " + " | ".join(f"{results[a][i]:.2e}" for a in results) + " |")
    lines.append("")


#: (label, --set overrides of hw.device) of the response families of figure (e); tau = 3 as the workload.
FAMILIES = [("soft bounds, offset c = 0.2", ["hw.device.up_down=0.2", "hw.device.up_down_scaling=plus_minus"]),
            ("power, gamma 2", ["hw.device.model=power", "hw.device.gamma_up=2", "hw.device.gamma_down=2"]),
            ("exponential, gamma 2", ["hw.device.model=exponential", "hw.device.gamma_up=2",
                                      "hw.device.gamma_down=2"])]


def figure_e(out: Path, quick: bool, lines: list[str]) -> None:
    lines += ["### (e) Analog SGD on general response functions vs the stationary point E[g]F + E|g|G = 0", "",
              "| device | simulated floor | predicted floor | distance to prediction / bias |", "|---|---|---|---|"]
    labels, simulated, predicted = [], [], []
    for label, device_sets in FAMILIES:
        _, _, _, tail_mean, trainer, optimum = lsq_run(["algorithm.name=analog_sgd"] + device_sets)
        prediction, _ = lsq_analog_sgd_stationary_point(trainer.data.train_x, trainer.data.train_y,
                                                        trainer.config.hw.device)
        labels.append(label)
        simulated.append(relative_error(tail_mean, optimum))
        predicted.append(relative_error(prediction, optimum))
        ratio = np.linalg.norm(tail_mean - prediction) / np.linalg.norm(prediction - optimum)
        lines.append(f"| {label} | {simulated[-1]:.3e} | {predicted[-1]:.3e} | {ratio:.3f} |")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    positions = np.arange(len(labels))
    ax.bar(positions - 0.2, simulated, 0.4, label="Analog SGD (time-averaged W)")
    ax.bar(positions + 0.2, predicted, 0.4, label="stationary point of E[g]F + E|g|G = 0")
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_ylabel("||W - W_ls||² / ||W_ls||²")
    ax.set_title("Analog SGD floor by device response")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "e_response_families.png", dpi=120)
    plt.close(fig)
    lines.append("")


def figure_f(out: Path, quick: bool, lines: list[str]) -> None:
    gammas = [0.0, 0.1, 0.3, 0.6] if not quick else [0.0, 0.3]
    offset = ["hw.device.up_down=0.2", "hw.device.up_down_scaling=plus_minus"]
    variants = {"without zero shifting": "false", "with zero shifting": "true"}
    results = {name: [] for name in variants}
    for gamma in gammas:
        for name, reference in variants.items():
            *_, final, _, _, _ = lsq_run(["algorithm.name=tiki_taka", f"algorithm.gamma={gamma}",
                                          f"algorithm.reference_array={reference}"] + offset)
            results[name].append(final)
    fig, ax = plt.subplots(figsize=(5, 3.8))
    for name, finals in results.items():
        ax.semilogy(gammas, finals, "o-", label=f"residual learning {name}")
    ax.set_xlabel("gamma (effective weight gamma A + C)")
    ax.set_ylabel("final ||W - W_ls||² / ||W_ls||²")
    ax.set_title("residual learning, offset c = 0.2")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "f_residual_gamma.png", dpi=120)
    plt.close(fig)
    lines += ["### (f) Residual learning on an offset device (c = 0.2): final error against gamma", "",
              "| gamma | without zero shifting | with zero shifting |", "|---|---|---|"]
    for i, gamma in enumerate(gammas):
        lines.append(f"| {gamma:g} | " + " | ".join(f"{results[n][i]:.2e}" for n in results) + " |")
    lines.append("")


def classification(workload: Path, sets: list[str]) -> float:
    config = load_run_config(workload, None, sets)
    trainer = Trainer(config, record=False)
    for epoch in range(config.training.epochs):
        result = trainer.run_epoch(epoch)
    return result.metric


def figure_d(out: Path, seeds: int, epochs: int, mnist: str | None, lines: list[str]) -> None:
    taus = [0.6, 0.7, 0.8]
    sets_data = [("digits", DIGITS, [f"training.epochs={epochs}"])]
    if mnist:
        sets_data.append(("MNIST", MNIST, [f"dataset.path={mnist}", "training.epochs=3"]))
    for label, workload, base in sets_data:
        lines += [f"### (d) Test accuracy on {label} (%, mean ± std over {seeds} seeds, {base[-1]})", "",
                  "| tau | Digital SGD | Analog SGD | Tiki-Taka |", "|---|---|---|---|"]
        table = {}
        for tau in taus:
            row = []
            for algorithm in ("digital_sgd", "analog_sgd", "tiki_taka"):
                accs = [classification(workload, base + [f"algorithm.name={algorithm}", f"training.seed={seed}",
                                                         f"hw.device.w_max={tau}", f"hw.device.w_min={-tau}"])
                        for seed in range(seeds)]
                table[(tau, algorithm)] = accs
                spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
                row.append(f"{statistics.mean(accs):.2f} ± {spread:.2f}")
            lines.append(f"| {tau:g} | " + " | ".join(row) + " |")
        lines.append("")
        fig, ax = plt.subplots(figsize=(5, 3.8))
        for algorithm in ("digital_sgd", "analog_sgd", "tiki_taka"):
            means = [statistics.mean(table[(t, algorithm)]) for t in taus]
            ax.plot(taus, means, "o-", label=NAMES[algorithm])
        ax.set_xlabel("device bound tau")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{label}: FCN, soft-bounds device")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / f"d_accuracy_{label.lower()}.png", dpi=120)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "tools" / "results"), help="output folder")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per digits configuration")
    parser.add_argument("--digits-epochs", type=int, default=30, help="epochs per digits run")
    parser.add_argument("--mnist", default=None, help="folder of MNIST IDX files (optional)")
    parser.add_argument("--quick", action="store_true", help="fewer points (a smoke run)")
    parser.add_argument("--only", default="abcdef", help="which figures to make, e.g. 'ab'")
    parser.add_argument("--lsq-epochs", type=int, default=None, help="epochs of each least-squares run "
                        "(default: the workload's 12; --quick: 6)")
    args = parser.parse_args()
    lsq_epochs = args.lsq_epochs or (6 if args.quick else None)
    if lsq_epochs:
        EPOCHS.append(f"training.epochs={lsq_epochs}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    lines = ["## Reproducing the seed paper", "",
             f"Made by `python tools/reproduce_paper.py {' '.join(sys.argv[1:])}`.", ""]
    if "a" in args.only:
        figure_a(out, args.quick, lines)
    if "b" in args.only:
        figure_b(out, args.quick, lines)
    if "c" in args.only:
        figure_c(out, args.quick, lines)
    if "d" in args.only:
        figure_d(out, args.seeds if not args.quick else 1, args.digits_epochs, args.mnist, lines)
    if "e" in args.only:
        figure_e(out, args.quick, lines)
    if "f" in args.only:
        figure_f(out, args.quick, lines)
    lines.append(f"_Wall time: {time.time() - start:.0f} s._")
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
