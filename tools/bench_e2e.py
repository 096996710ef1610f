"""End-to-end training throughput: samples/s of the FCN 784-256-128-10 (batch 10) on MNIST-sized
synthetic input, for Analog SGD and for Tiki-Taka transferring one column every sample, with full
costing and with costing off. Prints medians of several runs. Both simulators are timed over their training
steps only (archsim's report: ``simulation.train_wall_s``), not loading data, building the model or evaluating it.

``--against-aihwkit`` (when aihwkit is installed) trains the same network in aihwkit 1.1 on the same images,
functionally only (aihwkit has no costing): AnalogSGD with a SoftBoundsDevice like archsim's default device
for Analog SGD, and a TransferCompound of two such devices transferring one column every sample
(``transfer_every=1``, ``units_in_mbatch=False``, one read per transfer, gamma 0) for Tiki-Taka; the
cross-entropy loss reduced over the batch as archsim's ``training.reduction`` says (sum by default; PyTorch's
default is the mean); aihwkit's IO defaults otherwise. It prints archsim (with costing) / aihwkit ratios against
the speed goals: 2x for Analog SGD, 3x for Tiki-Taka, costing overhead at most 10 %. Every figure is also given
per CPU second of the process (keys ``*_cpu_samples_per_s``), steadier than wall time on a shared machine.

The runs with costing, without it and (with ``--against-aihwkit``) aihwkit's are made in turns (:func:`interleaved`),
so that a machine that slows down or speeds up during the benchmark does not favour one of them; the costing
overhead (key ``{algorithm}_costing_overhead_percent``) is the median over the turns of each turn's pair of runs.

``--breakdown`` also times, in separate runs, where a step's costing goes (milliseconds per step, medians; keys
``{algorithm}_breakdown``): the whole of it (wall with costing minus wall without), the engine
(``Engine.run_step``), the recorder (``StepRecorder``'s methods, with the read loads they ask for), the read
matrices' builds (their time with costing minus without: the line sums the loads need), and the rest (the read
path's drive bookkeeping, the caches the costing's data evicts). The timers add about a microsecond per call.

    python tools/bench_e2e.py [--samples 2000] [--repeats 3] [--json] [--against-aihwkit] [--breakdown]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import struct
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXTRA: list[str] = []  # --set overrides from the command line
sys.path.insert(0, str(ROOT))

from archsim.cli import add_set_option  # noqa: E402
from archsim.config import load_run_config  # noqa: E402
from archsim.run import execute  # noqa: E402


def write_idx(path: Path, array: np.ndarray) -> None:
    codes = {np.dtype(np.uint8): 0x08}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(header + array.tobytes())


def synthetic_mnist(folder: Path, n_train: int, n_test: int = 100, seed: int = 0) -> None:
    """MNIST-shaped IDX files: 28x28 uint8 images of random blobs, labels 0..9."""
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) < 0.2).astype(np.uint8) * 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)


def measure(folder: Path, algorithm: str, costing: bool, samples: int) -> tuple[float, float]:
    """(samples/s of wall time, samples/s of this process's CPU time, all threads) of the training steps: the
    functional work and, with costing, the steps' costing; loading, building the network and cost model and the
    test-set evaluation are left out, as aihwkit's timing below leaves out building its model. On a shared machine
    the CPU time is the steadier measure of the work done."""
    config = load_run_config(
        ROOT / "workloads" / "fcn_mnist.yaml",
        None,
        [
            f"dataset.path={folder}",
            f"dataset.max_train={samples}",
            "training.epochs=1",
            f"algorithm.name={algorithm}",
            "algorithm.transfer_every=1",
            "algorithm.n_reads_per_transfer=1",
        ]
        + EXTRA,
    )
    report = execute(config, None, costing=costing)
    simulation = report["simulation"]
    return simulation["train_samples_per_s"], report["totals"]["samples"] / simulation["train_cpu_s"]


def _breakdown_targets():
    """What --breakdown times: (part, owner, method names); the recorder's methods nest (their time is counted
    once)."""
    from archsim.algorithms.recorder import StepRecorder
    from archsim.analog.array import AnalogArray
    from archsim.engine.engine import Engine

    recorder = [
        "reads",
        "transfer_reads",
        "updates",
        "pulse_writes",
        "digital",
        "move",
        "buffer",
        "line_buffer",
        "keep",
    ]
    return [
        ("engine", Engine, ["run_step"]),
        ("recorder", StepRecorder, recorder),
        ("read_matrix_builds", AnalogArray, ["_build_read_matrix"]),
    ]


def costing_breakdown(folder: Path, algorithm: str, samples: int, repeats: int) -> dict[str, float]:
    """Milliseconds per step of the costing's parts (see the module docstring), medians of ``repeats`` pairs of
    runs with costing on and off, with timers wrapped around the parts' methods."""
    spent = {part: 0.0 for part, _, _ in _breakdown_targets()}
    depth = [0]
    originals = []

    def timed(part, method):
        def wrapper(*args, **kwargs):
            depth[0] += 1
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0 or part != "recorder":
                    spent[part] += time.perf_counter() - start

        return wrapper

    for part, owner, names in _breakdown_targets():
        for name in names:
            originals.append((owner, name, getattr(owner, name)))
            setattr(owner, name, timed(part, getattr(owner, name)))

    def timed_run(costing: bool, n: int) -> dict[str, float]:
        spent.update({part: 0.0 for part in spent})
        return {"wall": n / measure(folder, algorithm, costing, n)[0], **spent}

    try:
        found = interleaved({costing: partial(timed_run, costing) for costing in (True, False)}, samples, repeats)
    finally:
        for owner, name, method in originals:
            setattr(owner, name, method)
    steps = samples / load_run_config(ROOT / "workloads" / "fcn_mnist.yaml", None, EXTRA).training.batch_size

    def per_step(costing: bool, part: str) -> float:
        return statistics.median(run[part] for run in found[costing]) / steps * 1e3

    parts = {
        "costing": per_step(True, "wall") - per_step(False, "wall"),
        "engine": per_step(True, "engine"),
        "recorder": per_step(True, "recorder"),
        "read_matrix_builds": per_step(True, "read_matrix_builds") - per_step(False, "read_matrix_builds"),
    }
    parts["rest"] = parts["costing"] - parts["engine"] - parts["recorder"] - parts["read_matrix_builds"]
    parts["functional"] = per_step(False, "wall")
    return {part: round(value, 4) for part, value in parts.items()}


#: Speed goals this benchmark reports against: archsim with costing / aihwkit, and the costing overhead (%).
GOALS = {"analog_sgd": 2.0, "tiki_taka": 3.0, "costing_overhead_percent": 10.0}


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def measure_aihwkit(folder: Path, algorithm: str, samples: int) -> tuple[float, float]:
    """Samples/s (wall, CPU) of aihwkit training the same FCN on the same images for one epoch of ``samples``."""
    import torch
    from aihwkit.nn import AnalogLinear, AnalogSequential
    from aihwkit.optim import AnalogSGD
    from aihwkit.simulator.configs import SingleRPUConfig, SoftBoundsDevice, TransferCompound, UnitCellRPUConfig

    config = load_run_config(ROOT / "workloads" / "fcn_mnist.yaml", None, [f"dataset.path={folder}"] + EXTRA)
    device = config.hw.device

    def soft_bounds():
        return SoftBoundsDevice(
            dw_min=device.dw_min,
            dw_min_dtod=device.dw_min_dtod,
            dw_min_std=device.dw_min_std,
            w_max=device.w_max,
            w_min=device.w_min,
            w_max_dtod=device.w_max_dtod,
            w_min_dtod=device.w_min_dtod,
            up_down_dtod=device.up_down_dtod,
        )

    if algorithm == "analog_sgd":
        rpu = SingleRPUConfig(device=soft_bounds())
    else:
        rpu = UnitCellRPUConfig(
            device=TransferCompound(
                unit_cell_devices=[soft_bounds(), soft_bounds()],
                transfer_every=1.0,
                units_in_mbatch=False,
                n_reads_per_transfer=1,
                gamma=0.0,
                transfer_lr=config.algorithm.transfer_lr,
            )
        )
    layers, width = [], config.model.input_shape[0]
    for spec in config.model.layers:
        layers.append(AnalogLinear(width, spec.out, bias=spec.bias, rpu_config=rpu))
        if spec.activation == "sigmoid":
            layers.append(torch.nn.Sigmoid())
        width = spec.out
    model = AnalogSequential(*layers)
    optimizer = AnalogSGD(model.parameters(), lr=config.training.lr)
    optimizer.regroup_param_groups(model)
    images = torch.tensor(
        read_idx(folder / "train-images-idx3-ubyte.gz")[:samples].reshape(samples, -1) / 255.0, dtype=torch.float32
    )
    labels = torch.tensor(read_idx(folder / "train-labels-idx1-ubyte.gz")[:samples].astype(np.int64))
    # the same training as archsim's: the loss summed or averaged over the batch as training.reduction says
    loss_fn = torch.nn.CrossEntropyLoss(reduction=config.training.reduction)
    batch = config.training.batch_size
    start, cpu = time.perf_counter(), time.process_time()
    for first in range(0, samples, batch):
        optimizer.zero_grad()
        loss = loss_fn(model(images[first : first + batch]), labels[first : first + batch])
        loss.backward()
        optimizer.step()
    return samples / (time.perf_counter() - start), samples / (time.process_time() - cpu)


def interleaved(contenders: dict, samples: int, repeats: int) -> dict:
    """``repeats`` results of each contender (key -> ``run(samples)``: e.g. (samples/s of wall time, of CPU time)),
    made in turns, the first contender of a turn rotating, after one short warm-up run of each (numba compilation,
    caches): a machine whose speed drifts during the benchmark slows all of them alike."""
    for run in contenders.values():
        run(50)
    keys = list(contenders)
    runs: dict = {key: [] for key in keys}
    for repeat in range(repeats):
        for key in keys[repeat % len(keys) :] + keys[: repeat % len(keys)]:
            runs[key].append(contenders[key](samples))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000, help="training samples per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    add_set_option(parser, "extra override, e.g. --set training.reduction=mean (repeatable)")
    parser.add_argument(
        "--against-aihwkit",
        action="store_true",
        help="also train the same network in aihwkit (when installed) and print the ratios",
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also time where a step's costing goes (ms per step, in extra runs)"
    )
    args = parser.parse_args()
    EXTRA.extend(args.sets)
    against = args.against_aihwkit
    if against:
        try:
            import aihwkit  # noqa: F401
        except ImportError:
            against = False
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        synthetic_mnist(folder, args.samples)
        results = {}
        for algorithm in ("analog_sgd", "tiki_taka"):
            contenders = {
                f"{algorithm}_samples_per_s": lambda n, a=algorithm: measure(folder, a, True, n),
                f"{algorithm}_functional_samples_per_s": lambda n, a=algorithm: measure(folder, a, False, n),
            }
            if against:
                contenders[f"aihwkit_{algorithm}_samples_per_s"] = lambda n, a=algorithm: measure_aihwkit(folder, a, n)
            runs = interleaved(contenders, args.samples, args.repeats)
            for key, measured in runs.items():
                results[key] = statistics.median(wall for wall, _ in measured)
                results[key.replace("samples_per_s", "cpu_samples_per_s")] = statistics.median(
                    cpu for _, cpu in measured
                )
            # the overhead from each repeat's pair of runs, made one after the other (the machine's drift cancels)
            pairs = zip(runs[f"{algorithm}_samples_per_s"], runs[f"{algorithm}_functional_samples_per_s"], strict=True)
            results[f"{algorithm}_costing_overhead_percent"] = statistics.median(
                100 * (functional / costed - 1) for (costed, _), (functional, _) in pairs
            )
            if against:
                wall = results[f"aihwkit_{algorithm}_samples_per_s"]
                cpu = results[f"aihwkit_{algorithm}_cpu_samples_per_s"]
                results[f"ratio_{algorithm}"] = results[f"{algorithm}_samples_per_s"] / wall
                results[f"cpu_ratio_{algorithm}"] = results[f"{algorithm}_cpu_samples_per_s"] / cpu
        if args.breakdown:
            for algorithm in ("analog_sgd", "tiki_taka"):
                results[f"{algorithm}_breakdown"] = costing_breakdown(folder, algorithm, args.samples, args.repeats)
    if args.against_aihwkit and not against:
        results["aihwkit_skipped"] = "aihwkit is not installed"
    if args.json:
        print(json.dumps(results))
        return
    for algorithm in ("analog_sgd", "tiki_taka"):
        costed = results[f"{algorithm}_samples_per_s"]
        functional = results[f"{algorithm}_functional_samples_per_s"]
        overhead = results[f"{algorithm}_costing_overhead_percent"]
        ok = "met" if overhead <= GOALS["costing_overhead_percent"] else "not met"
        print(
            f"{algorithm:>11}: {costed:8.0f} samples/s with costing, {functional:8.0f} without; "
            f"costing adds {overhead:.1f} % to the functional time "
            f"(goal <= {GOALS['costing_overhead_percent']:g} %: {ok})"
        )
        cpu_costed = results[f"{algorithm}_cpu_samples_per_s"]
        cpu_functional = results[f"{algorithm}_functional_cpu_samples_per_s"]
        cpu_overhead = 100 * (cpu_functional / cpu_costed - 1)
        print(
            f"{'':>11}  by CPU time: {cpu_costed:8.0f} samples/s with costing, {cpu_functional:8.0f} without; "
            f"costing adds {cpu_overhead:.1f} %"
        )
        if f"ratio_{algorithm}" in results:
            ratio, goal = results[f"ratio_{algorithm}"], GOALS[algorithm]
            print(
                f"{'':>11}  aihwkit (functional only) {results[f'aihwkit_{algorithm}_samples_per_s']:8.0f} "
                f"samples/s; archsim with costing / aihwkit = {ratio:.2f}x (goal >= {goal:g}x: "
                f"{'met' if ratio >= goal else 'not met'})"
            )
            print(
                f"{'':>11}  by CPU time: aihwkit {results[f'aihwkit_{algorithm}_cpu_samples_per_s']:8.0f} samples/s; "
                f"archsim with costing / aihwkit = {results[f'cpu_ratio_{algorithm}']:.2f}x"
            )
        if f"{algorithm}_breakdown" in results:
            parts = results[f"{algorithm}_breakdown"]
            print(
                f"{'':>11}  costing per step: {parts['costing']:.3f} ms (of {parts['functional']:.3f} functional) = "
                f"engine {parts['engine']:.3f} + recorder {parts['recorder']:.3f} + read-matrix builds "
                f"{parts['read_matrix_builds']:.3f} + rest {parts['rest']:.3f}"
            )
    if "aihwkit_skipped" in results:
        print(f"aihwkit: skipped ({results['aihwkit_skipped']})")


if __name__ == "__main__":
    main()
