"""End-to-end training throughput: samples/s of the FCN 784-256-128-10 (batch 10) on MNIST-sized
synthetic input, for Analog SGD and for Tiki-Taka transferring one column every sample, with full
costing and with costing off. Prints medians of several runs.

    python tools/bench_e2e.py [--samples 2000] [--repeats 3] [--json]
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXTRA: list[str] = []  # --set overrides from the command line
sys.path.insert(0, str(ROOT))

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


def measure(folder: Path, algorithm: str, costing: bool, samples: int) -> float:
    config = load_run_config(ROOT / "workloads" / "fcn_mnist.yaml", None, [
        f"dataset.path={folder}", f"dataset.max_train={samples}", "training.epochs=1",
        f"algorithm.name={algorithm}", "algorithm.transfer_every=1", "algorithm.n_reads_per_transfer=1"] + EXTRA)
    report = execute(config, None, costing=costing)
    return report["simulation"]["samples_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000, help="training samples per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="extra override, e.g. --set training.reduction=mean (repeatable)")
    args = parser.parse_args()
    EXTRA.extend(args.sets)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        synthetic_mnist(folder, args.samples)
        results = {}
        for algorithm in ("analog_sgd", "tiki_taka"):
            for costing in (True, False):
                measure(folder, algorithm, costing, 50)  # warm-up: numba compilation and caches
                runs = [measure(folder, algorithm, costing, args.samples) for _ in range(args.repeats)]
                key = f"{algorithm}_samples_per_s" if costing else f"{algorithm}_functional_samples_per_s"
                results[key] = statistics.median(runs)
    if args.json:
        print(json.dumps(results))
        return
    for algorithm in ("analog_sgd", "tiki_taka"):
        costed = results[f"{algorithm}_samples_per_s"]
        functional = results[f"{algorithm}_functional_samples_per_s"]
        print(f"{algorithm:>11}: {costed:8.0f} samples/s with costing, {functional:8.0f} without; "
              f"costing adds {100 * (functional / costed - 1):.1f} % to the functional time")


if __name__ == "__main__":
    main()
