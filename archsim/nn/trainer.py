"""The functional training loop: data, network, algorithm; one callback per costed step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from archsim.algorithms.recorder import StepRecorder
from archsim.config.loader import RunConfig
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
    """Trains ``config``'s workload; ``on_step(ops)`` receives each step's operations when recording."""

    config: RunConfig
    source: str = "workload"
    record: bool = True
    data: Dataset = field(init=False)
    network: Network = field(init=False)

    def __post_init__(self):
        self.data = load_dataset(self.config.dataset, self.config.training.seed, self.source)
        outputs = self.data.classes if self.data.task == "classification" else self.data.train_y.shape[1]
        self.network = Network(self.config, self.data.input_shape, outputs, self.source)
        # the loss the task takes (loss_grad below); the network records its digital work
        self.network.loss = "cross_entropy" if self.data.task == "classification" else "mse"
        self.shuffle_rng = np.random.default_rng([self.config.training.seed, 0x5EED])
        self.metric_name = "test_accuracy" if self.data.task == "classification" else "test_loss"
        hw = self.config.hw
        # a bit-serial DAC streams io.serial_input_bits one-bit passes; the engine makes one read per bit
        self.in_bits = hw.io.serial_input_bits if hw.dac.mode == "bit_serial" else hw.dac.bits
        self.out_bits = hw.adc.bits
        self.transfer_bits = hw.adc.transfer_bits or hw.adc.bits
        self.digital_bits = hw.digital.word_bits
        self.blocks = BlockLayout(hw.tile.rows, hw.tile.cols, self.network.arrays())

    def loss_grad(self, labels: np.ndarray) -> Callable:
        loss = F.softmax_cross_entropy if self.network.loss == "cross_entropy" else F.mean_squared_error
        if self.config.training.reduction == "mean":
            return lambda out: loss(out, labels)
        scale = float(len(labels))
        return lambda out: tuple(v * scale for v in loss(out, labels))

    def evaluate(self) -> float:
        """Accuracy in percent (classification) or mean 1/2||y - y*||^2 (regression) on the test set."""
        out = self.network.predict(self.data.test_x)
        if self.data.task == "classification":
            return float(100.0 * np.mean(out.argmax(axis=1) == self.data.test_y))
        return F.mean_squared_error(out, self.data.test_y)[0]

    def steps_per_epoch(self) -> int:
        return -(-len(self.data.train_x) // self.config.training.batch_size)

    def run_epoch(self, epoch: int, on_step: Callable | None = None) -> EpochResult:
        batch = self.config.training.batch_size
        order = self.shuffle_rng.permutation(len(self.data.train_x))
        losses, steps = [], 0
        for start in range(0, len(order), batch):
            index = order[start: start + batch]
            rec = (StepRecorder(self.in_bits, self.out_bits, self.digital_bits, self.transfer_bits, blocks=self.blocks)
                   if self.record else None)
            loss = self.network.train_step(self.data.train_x[index], self.loss_grad(self.data.train_y[index]), rec)
            if self.config.training.reduction == "sum":
                loss /= len(index)   # report the mean loss per sample either way
            losses.append(loss)
            steps += 1
            if on_step is not None:
                on_step(rec.ops if rec is not None else None, len(index), loss)
        return EpochResult(epoch, float(np.mean(losses)), self.evaluate(), steps, len(order))
