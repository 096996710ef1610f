"""Chip-scale training speed: seconds per VGG-8 training step (CIFAR-shaped synthetic images, batch 10,
Tiki-Taka), archsim with costing on and off, and — when aihwkit is installed — the same network trained
functionally by aihwkit (TransferCompound of two soft-bounds devices with the workload device's dw_min and
bounds, one tile per layer, AnalogSGD, BATCH columns transferred per mini-batch as archsim's one column per
sample). Each backend runs in its own process (so peak memory is its own) and times
--steps steps after one warm-up step; the figure is the median over steps, and over --repeats processes.

    python tools/bench_chip.py [--steps 3] [--repeats 1] [--workload vgg8_cifar10] [--json] [--no-aihwkit]

The goal it tracks: archsim with costing at least as fast as aihwkit without, under 8 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 10
BACKENDS = ("archsim_costing", "archsim_functional", "aihwkit")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB; Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_archsim(workload: str, steps: int, costing: bool) -> dict:
    import numpy as np

    from archsim.algorithms.recorder import StepRecorder
    from archsim.config import load_run_config
    from archsim.nn.trainer import Trainer
    from archsim.run import CostModel

    config = load_run_config(workload, None, ["dataset.name=cifar10_synthetic", f"dataset.synthetic_train={BATCH}",
                                              "dataset.synthetic_test=1", f"training.batch_size={BATCH}",
                                              "algorithm.name=tiki_taka"])
    start = time.perf_counter()
    trainer = Trainer(config, record=costing)
    cost = CostModel(config.hw, trainer.network.arrays()) if costing else None
    build = time.perf_counter() - start
    x, y = trainer.data.train_x, trainer.data.train_y
    times, cpu = [], []
    for step in range(steps + 1):
        wall, proc = time.perf_counter(), time.process_time()
        # the recorder the trainer makes (archsim.nn.trainer.Trainer.run_epoch)
        rec = (
            StepRecorder(trainer.in_bits, trainer.out_bits, trainer.digital_bits, trainer.transfer_bits,
                         trainer.blocks, trainer.call_templates)
            if costing else None
        )
        loss = trainer.network.train_step(x, trainer.loss_grad(y), rec)
        if cost is not None:
            cost.cost_step(rec.step, len(x))
        if step:   # the first step compiles and warms caches
            times.append(time.perf_counter() - wall)
            cpu.append(time.process_time() - proc)
    assert np.isfinite(loss)
    return {"build_s": build, "step_s": times, "cpu_s": cpu}


def time_aihwkit(workload: str, steps: int) -> dict:
    import torch
    from aihwkit.nn import AnalogConv2d, AnalogLinear, AnalogSequential
    from aihwkit.optim import AnalogSGD
    from aihwkit.simulator.configs import SoftBoundsDevice, TransferCompound, UnitCellRPUConfig

    from archsim.config import load_run_config

    config = load_run_config(workload)
    device = config.hw.device
    unit = dict(dw_min=device.dw_min, w_max=device.w_max, w_min=device.w_min)
    rpu = UnitCellRPUConfig(device=TransferCompound(
        unit_cell_devices=[SoftBoundsDevice(**unit), SoftBoundsDevice(**unit)],
        # archsim transfers one column per training sample (transfer_every 1): BATCH columns per mini-batch
        transfer_every=1.0, units_in_mbatch=True, n_reads_per_transfer=BATCH, gamma=0.0,
        transfer_lr=config.algorithm.transfer_lr))
    # one analog module per archsim matrix layer, digital pooling/activations, as the workload says
    layers, shape = [], tuple(config.model.input_shape)
    for spec in config.model.layers:
        if spec.type == "conv2d":
            layers.append(AnalogConv2d(shape[0], spec.out, spec.kernel, stride=spec.stride, padding=spec.padding,
                                       bias=spec.bias, rpu_config=rpu))
            size = (shape[1] + 2 * spec.padding - spec.kernel) // spec.stride + 1
            shape = (spec.out, size, size)
        elif spec.type == "maxpool2d":
            layers.append(torch.nn.MaxPool2d(spec.kernel, spec.stride))
            shape = (shape[0], shape[1] // spec.stride, shape[2] // spec.stride)
        elif spec.type == "flatten":
            layers.append(torch.nn.Flatten())
            shape = (shape[0] * shape[1] * shape[2],)
        elif spec.type == "dense":
            layers.append(AnalogLinear(shape[0], spec.out, bias=spec.bias, rpu_config=rpu))
            shape = (spec.out,)
        else:
            raise SystemExit(f"bench_chip: the aihwkit twin has no {spec.type} layer")
        if spec.type in ("conv2d", "dense") and spec.activation == "relu":
            layers.append(torch.nn.ReLU())
    start = time.perf_counter()
    model = AnalogSequential(*layers)
    optimizer = AnalogSGD(model.parameters(), lr=config.training.lr)
    optimizer.regroup_param_groups(model)
    build = time.perf_counter() - start
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((BATCH,) + tuple(config.model.input_shape), generator=generator)
    y = torch.randint(0, 10, (BATCH,), generator=generator)
    loss_fn = torch.nn.CrossEntropyLoss()
    times, cpu = [], []
    for step in range(steps + 1):
        wall, proc = time.perf_counter(), time.process_time()
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        if step:
            times.append(time.perf_counter() - wall)
            cpu.append(time.process_time() - proc)
    return {"build_s": build, "step_s": times, "cpu_s": cpu, "torch_threads": torch.get_num_threads(),
            "aihwkit": __import__("aihwkit").__version__}


def run_backend(backend: str, workload: str, steps: int) -> dict:
    if backend == "aihwkit":
        result = time_aihwkit(workload, steps)
    else:
        result = time_archsim(workload, steps, costing=backend == "archsim_costing")
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def aihwkit_installed() -> bool:
    try:
        import aihwkit  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", default="vgg8_cifar10", help="workload (default vgg8_cifar10)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process, after one warm-up step")
    parser.add_argument("--repeats", type=int, default=1, help="processes per backend (median over all steps)")
    parser.add_argument("--no-aihwkit", action="store_true", help="skip the aihwkit twin")
    parser.add_argument("--only", choices=BACKENDS, help=argparse.SUPPRESS)   # the child process's job
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args()
    if args.only:
        print(json.dumps(run_backend(args.only, args.workload, args.steps)))
        return
    backends = list(BACKENDS)
    skipped = None
    if args.no_aihwkit or not aihwkit_installed():
        backends.remove("aihwkit")
        skipped = "--no-aihwkit" if args.no_aihwkit else "aihwkit is not installed"
    results = {"workload": args.workload, "batch": BATCH, "algorithm": "tiki_taka", "backends": {}}
    if skipped:
        results["aihwkit_skipped"] = skipped
    for backend in backends:
        runs = []
        for _ in range(args.repeats):
            child = subprocess.run([sys.executable, __file__, "--only", backend, "--workload", args.workload,
                                    "--steps", str(args.steps)], capture_output=True, text=True, check=False)
            if child.returncode:
                raise SystemExit(f"bench_chip: {backend} failed:\n{child.stderr[-2000:]}")
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        steps = [t for run in runs for t in run["step_s"]]
        results["backends"][backend] = {
            "median_step_s": statistics.median(steps), "median_cpu_s": statistics.median(
                [t for run in runs for t in run["cpu_s"]]),
            "steps_s": steps, "build_s": statistics.median(run["build_s"] for run in runs),
            "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
            **{k: v for k, v in runs[0].items() if k in ("torch_threads", "aihwkit")}}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.workload}, batch {BATCH}, Tiki-Taka: seconds per training step (median of "
          f"{args.steps} x {args.repeats}), CPU seconds, peak memory")
    for backend, row in results["backends"].items():
        print(f"  {backend:20s} {row['median_step_s']:8.2f} s  cpu {row['median_cpu_s']:7.2f} s  "
              f"{row['peak_rss_mb'] / 1024:5.2f} GB  (build {row['build_s']:.1f} s)")
    if skipped:
        print(f"  aihwkit: skipped ({skipped})")
    found = results["backends"]
    if "aihwkit" in found:
        ratio = found["aihwkit"]["median_step_s"] / found["archsim_costing"]["median_step_s"]
        print(f"archsim with costing is {ratio:.2f}x the speed of aihwkit without (goal >= 1)")


if __name__ == "__main__":
    main()
