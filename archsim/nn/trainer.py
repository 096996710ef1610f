"""The functional training loop: data, network, algorithm; one callback per costed step."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from archsim.algorithms.recorder import StepRecorder
from archsim.algorithms.theory import lsq_minimum, relative_error
from archsim.analog.io import blas_on_calling_thread
from archsim.config.loader import RunConfig
from archsim.errors import NonFiniteError, NonFiniteValues
from archsim.mapping.blocks import BlockLayout
from archsim.nn import functional as F
from archsim.nn.data import Dataset, load_dataset
from archsim.nn.network import Network


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    metric: float
    steps: int
    samples: int


@dataclass
class Trainer:
    """Trains ``config``'s workload; ``on_step(ops, samples, loss)`` receives each step's operations (a sequence:
    an :class:`archsim.ops.RecordedStep`) when recording."""

    config: RunConfig
    source: str = "workload"
    record: bool = True
    data: Dataset = field(init=False)
    network: Network = field(init=False)

    def __post_init__(self):
        self.data = load_dataset(self.config.dataset, self.config.training.seed, self.source)
        outputs = self.data.classes if self.data.task == "classification" else self.data.train_y.shape[1]
        self.network = Network(self.config, self.data.input_shape, outputs, self.source, check_tiles=self.record)
        # the loss the task takes (loss_grad below); the network records its digital work
        self.network.loss = "cross_entropy" if self.data.task == "classification" else "mse"
        self.shuffle_rng = np.random.default_rng([self.config.training.seed, 0x5EED])
        self.metric_name = "test_accuracy" if self.data.task == "classification" else "test_loss"
        # least squares: the seed paper's metric, ||W - W_ls||^2 / ||W_ls||^2 against the exact minimiser
        self.optimum = (
            lsq_minimum(self.data.train_x, self.data.train_y) if self.data.target_weights is not None else None
        )
        if self.optimum is not None:
            self.metric_name = "relative_error_to_optimum"
        hw = self.config.hw
        self.in_bits = hw.read_input_bits()  # DAC bits, or the bits a bit-serial DAC streams (one pass each)
        self.out_bits = hw.adc.bits
        self.transfer_bits = hw.adc.transfer_bits or hw.adc.bits
        self.digital_bits = hw.digital.word_bits
        self.blocks = BlockLayout(hw.tile.rows, hw.tile.cols, self.network.arrays())
        # the recorders' call templates (StepRecorder; None: keep none): a step like an earlier one is recorded as
        # its data alone
        self.call_templates: dict | None = {}
        self.max_steps = self.config.training.max_steps
        # time spent in training steps (functional work and on_step, i.e. costing), setup and evaluation excluded
        self.train_wall_s = 0.0
        self.train_cpu_s = 0.0  # CPU time of this process, all threads, over the same spans
        self.steps_done = 0

    @property
    def cut_short(self) -> bool:
        """Whether ``training.max_steps`` stopped training before its epochs were done."""
        return (
            self.max_steps is not None
            and self.steps_done >= self.max_steps
            and self.max_steps < self.config.training.epochs * self.steps_per_epoch()
        )

    def total_steps(self) -> int:
        """Steps the run will take: all epochs', or ``training.max_steps`` if fewer."""
        total = self.config.training.epochs * self.steps_per_epoch()
        return total if self.max_steps is None else min(total, self.max_steps)

    def loss_grad(self, labels: np.ndarray) -> Callable:
        loss = F.softmax_cross_entropy if self.network.loss == "cross_entropy" else F.mean_squared_error
        if self.config.training.reduction == "mean":
            return lambda out: loss(out, labels)
        scale = float(len(labels))
        return lambda out: tuple(v * scale for v in loss(out, labels))

    def evaluate(self) -> float:
        """Accuracy in percent (classification), ||W - W_ls||^2 / ||W_ls||^2 (least squares) or mean
        1/2||y - y*||^2 (other regression) on the test set."""
        out = self.network.predict(self.data.test_x)
        if self.data.task == "classification":
            return float(100.0 * np.mean(out.argmax(axis=1) == self.data.test_y))
        if self.optimum is not None:
            return relative_error(self.network.weights()[0], self.optimum)
        return F.mean_squared_error(out, self.data.test_y)[0]

    def steps_per_epoch(self) -> int:
        return -(-len(self.data.train_x) // self.config.training.batch_size)

    def run_epoch(self, epoch: int, on_step: Callable | None = None) -> EpochResult:
        """One pass over the training set, or its first steps up to ``training.max_steps`` in all."""
        with blas_on_calling_thread(), _long_lived_frozen():  # once for the epoch's reads, not per read
            return self._run_epoch(epoch, on_step)

    def _run_epoch(self, epoch: int, on_step: Callable | None) -> EpochResult:
        batch = self.config.training.batch_size
        order = self.shuffle_rng.permutation(len(self.data.train_x))
        losses, steps, samples = [], 0, 0
        for start in range(0, len(order), batch):
            if self.max_steps is not None and self.steps_done >= self.max_steps:
                break
            wall, cpu = time.perf_counter(), time.process_time()
            index = order[start : start + batch]
            rec = (
                StepRecorder(
                    self.in_bits, self.out_bits, self.digital_bits, self.transfer_bits, self.blocks, self.call_templates
                )
                if self.record
                else None
            )
            try:
                loss = self.network.train_step(self.data.train_x[index], self.loss_grad(self.data.train_y[index]), rec)
            except NonFiniteValues as refused:  # an analog array refused NaN/inf vectors: name what made them
                culprit = non_finite_array(self.network) or f"the {refused.what} reaching an analog array"
                raise NonFiniteError(culprit, epoch, steps + 1) from None
            if self.config.training.reduction == "sum":
                loss /= len(index)  # report the mean loss per sample either way
            losses.append(loss)
            steps += 1
            samples += len(index)
            self.steps_done += 1
            if not np.isfinite(loss):
                raise NonFiniteError(non_finite_array(self.network) or "the training loss", epoch, steps)
            if on_step is not None:
                on_step(rec.step if rec is not None else None, len(index), loss)
            self.train_wall_s += time.perf_counter() - wall
            self.train_cpu_s += time.process_time() - cpu
        broken = non_finite_array(self.network)  # e.g. a hidden array that does not reach the loss yet
        if broken is not None:
            raise NonFiniteError(broken, epoch, steps)
        return EpochResult(epoch, float(np.mean(losses)), self.evaluate(), steps, samples)


@contextmanager
def _long_lived_frozen() -> Iterator[None]:
    """Keep the garbage collector's full collections off the objects that exist before an epoch (modules, numba
    dispatchers, the network, the cost model) while it runs, and hand them back after it.

    A costed step records dozens of operations and plans, so the collector runs during training; without this, each
    of its full collections re-scans every long-lived object (~45 ms on the FCN benchmark, a fifth of Tiki-Taka's
    costing overhead over 200 steps). Objects made during the epoch are collected as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def non_finite_array(network: Network) -> str | None:
    """Name of the first array (weights of any role, or a numeric buffer of a store) holding NaN or inf."""
    for layer in network.matrix_layers:
        for name, value in vars(layer.store).items():
            members = value.items() if isinstance(value, dict) else [(name, value)]
            for label, member in members:
                if hasattr(member, "get_weights"):
                    member = member.get_weights()
                if isinstance(member, np.ndarray) and member.dtype.kind == "f" and not np.isfinite(member).all():
                    return f"layer {layer.index} array {label}"
    return None
