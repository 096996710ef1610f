"""``archsim device-response``: the pulse response of a population of devices, as CSV and an optional plot."""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

from archsim.cli import add_set_option
from archsim.errors import ArchsimError
from archsim.outputs import atomic_file

NAME = "device-response"
HELP = "pulse response of a population of devices (CSV, optional plot)"
DESCRIPTION = """Start M devices (device-to-device variation drawn from --seed) at --w-init (default: each device's
own lower bound w_min) and apply K cycles of N up pulses then N down pulses, one pulse per device per step,
with the configured cycle-to-cycle and write noise. Writes one CSV row per pulse with the columns
pulse,direction,mean_w,std_w: the pulse number (from 1), up or down, and the mean and standard deviation over
devices of the weight (normalised units) after that pulse. The device is hw.device of --hw, changed with
--set, e.g. --set hw.device.model=exp_step or --set hw.device.preset=reram_sb; --role A|C|R|W takes that array
role's device instead (hw.role_devices.<role> resolved on top of hw.device, e.g. --role A --set
hw.role_devices.A.preset=ecram)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hw", default=None, help="hardware YAML (default: hw_configs/default.yaml)")
    add_set_option(parser, "override one field, e.g. --set hw.device.dw_min=0.002 (repeatable)")
    parser.add_argument("--pulses", type=int, required=True, metavar="N", help="pulses per up (and down) phase")
    parser.add_argument("--cycles", type=int, required=True, metavar="K", help="up/down cycles")
    parser.add_argument("--devices", type=int, required=True, metavar="M", help="devices simulated")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of device variation and noise")
    parser.add_argument(
        "--w-init",
        type=float,
        default=None,
        metavar="W",
        help="starting weight, clipped to each device's bounds (default: each device's w_min)",
    )
    parser.add_argument(
        "--role",
        default=None,
        metavar="ROLE",
        help="array role whose device to use (A, C, R or W; hw.role_devices.<ROLE>, else hw.device)",
    )
    parser.add_argument("--csv", required=True, metavar="OUT", help="CSV file to write")
    parser.add_argument("--plot", default=None, metavar="OUT.png", help="also plot the response to this file")


def _check_positive(value: int, option: str, limit: int) -> None:
    if value < 1 or value > limit:
        raise ArchsimError(f"{option}: {value} is out of range; expected an integer in [1, {limit}]")


def main(args: argparse.Namespace) -> int:
    from archsim.config.loader import load_hw_config
    from archsim.devices.models import device_model, sample_device_state
    from archsim.devices.rng import MASK64, seed_key
    from archsim.devices.update import pulse_protocol

    _check_positive(args.pulses, "--pulses", 10_000_000)
    _check_positive(args.cycles, "--cycles", 1_000_000)
    _check_positive(args.devices, "--devices", 10_000_000)
    steps = 2 * args.pulses * args.cycles
    if steps * args.devices > 2_000_000_000:
        raise ArchsimError(
            f"--pulses/--cycles/--devices: {steps} steps x {args.devices} devices is too much work; "
            f"expected at most 2e9 device pulses"
        )
    if args.w_init is not None and not math.isfinite(args.w_init):
        raise ArchsimError(f"--w-init: expected a finite weight, got {args.w_init}")
    csv_path = Path(args.csv)
    for option, path in (("--csv", csv_path), ("--plot", Path(args.plot) if args.plot else None)):
        if path is not None and not path.parent.is_dir():
            raise ArchsimError(f"{option}: folder {str(path.parent)!r} does not exist")
    if args.plot:
        from archsim.report.plots import check_plot_path

        check_plot_path("--plot", Path(args.plot))
    from archsim.config.roles import ROLE_KEYS, role_device

    if args.role is not None and args.role not in ROLE_KEYS:
        raise ArchsimError(f"--role: {args.role!r} is not an array role; expected one of {', '.join(ROLE_KEYS)}")
    hw = load_hw_config(args.hw, args.sets)
    device = hw.device if args.role is None else role_device(hw, args.role)
    own_section = args.role is not None and getattr(hw.role_devices, args.role) is not None
    device_key = f"hw.role_devices.{args.role}" if own_section else "hw.device"
    seed = args.seed & MASK64
    state = sample_device_state(device, (1, args.devices), np.random.default_rng(np.random.SeedSequence([seed, 0])))
    if args.w_init is None:
        state.w[...] = state.bound_min
    else:
        state.w[...] = np.clip(args.w_init, state.bound_min, state.bound_max)
    if state.w_apparent is not None:
        state.w_apparent[...] = state.w
    directions = np.tile(np.repeat(np.array([1, -1], dtype=np.int8), args.pulses), args.cycles)
    mean, std = pulse_protocol(state, device_model(device), directions, seed_key(seed, 2))

    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        step = int(np.argmin(np.isfinite(mean) & np.isfinite(std)))
        raise ArchsimError(
            f"{device_key}: the weights became non-finite (NaN or inf) at pulse {step + 1}; the device "
            "parameters are outside the range the simulation can follow"
        )
    with atomic_file(csv_path, "--csv") as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["pulse", "direction", "mean_w", "std_w"])
        for step in range(steps):
            writer.writerow(
                [step + 1, "up" if directions[step] > 0 else "down", repr(float(mean[step])), repr(float(std[step]))]
            )
    if args.plot:
        with atomic_file(args.plot, "--plot") as temporary:
            _plot(temporary, mean, std, directions, device, args)
    role = f" (role {args.role})" if args.role else ""
    print(
        f"device-response: {device.model}{role}, {args.devices} devices, {args.cycles} x ({args.pulses} up + "
        f"{args.pulses} down) pulses -> {csv_path}" + (f", {args.plot}" if args.plot else "")
    )
    return 0


def _plot(path: Path, mean: np.ndarray, std: np.ndarray, directions: np.ndarray, device, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pulses = np.arange(1, mean.size + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(pulses, mean - std, mean + std, alpha=0.3, label="mean ± std over devices")
    ax.plot(pulses, mean, lw=1.2, label="mean")
    ax.set_xlabel("pulse number (pulses)")
    ax.set_ylabel("weight w (normalised units)")
    title = device.model + (f" (preset {device.preset})" if device.preset else "")
    if args.role:
        title = f"role {args.role}: {title}"
    ax.set_title(f"{title}: {args.devices} devices, dw_min = {device.dw_min:g}")
    ax.legend(loc="best")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
