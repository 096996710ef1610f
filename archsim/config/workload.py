"""Workload description: the ``model``, ``dataset``, ``training`` and ``algorithm`` sections."""

from __future__ import annotations

from dataclasses import dataclass, fields

from archsim.algorithms.registry import ALGORITHMS as ALGORITHM_SPECS
from archsim.algorithms.registry import preset_text
from archsim.config.schema import Fail, param

LAYER_TYPES = ("dense", "conv2d", "maxpool2d", "avgpool2d", "flatten", "residual")
ACTIVATIONS = ("none", "sigmoid", "tanh", "relu")
ALGORITHMS = tuple(ALGORITHM_SPECS)
DATASETS = ("digits", "mnist", "fashion_mnist", "lsq", "cifar10", "cifar10_synthetic")
#: Size limits that keep a workload within what one workstation simulates (checked on load).
MAX_UNITS = 65536  # units, channels, pixels or features of one dimension
MAX_SAMPLES = 10_000_000
MAX_DATA_VALUES = 50_000_000  # numbers in a generated data set (400 MB as float64)


@dataclass
class LayerConfig:
    """One layer; which fields matter depends on ``type``."""

    type: str = param("dense", "layer kind", unit="-", choices=LAYER_TYPES)
    out: int = param(0, "output units (dense) or output channels (conv2d)", unit="units", ge=0, le=MAX_UNITS)
    kernel: int = param(3, "square kernel size (conv2d, maxpool2d, avgpool2d)", unit="pixels", ge=1, le=MAX_UNITS)
    stride: int = param(1, "stride (conv2d, maxpool2d, avgpool2d)", unit="pixels", ge=1, le=MAX_UNITS)
    padding: int = param(0, "zero padding on each side (conv2d)", unit="pixels", ge=0, le=MAX_UNITS)
    activation: str = param("none", "activation applied after the layer", unit="-", choices=ACTIVATIONS)
    analog: bool = param(True, "whether the layer's weights live on analog tiles", unit="-")
    bias: bool = param(True, "whether the layer has a bias (an extra always-on input row)", unit="-")
    skip_from: int | None = param(
        None,
        "residual: index of the earlier layer whose output is added to this "
        "layer's input; a 1x1 convolution projects it when the shapes differ "
        "(ResNet's projection shortcut, on analog tiles when `analog`)",
        unit="-",
        ge=0,
    )

    def check(self, fail: Fail) -> None:
        if self.type in ("dense", "conv2d") and self.out < 1:
            fail("out", f"a {self.type} layer needs out >= 1")
        if self.type == "residual" and self.skip_from is None:
            fail("skip_from", "a residual layer needs skip_from: the index of the layer whose output it adds")


@dataclass
class ModelConfig:
    """The network."""

    input_shape: list[int] = param(
        [64], "shape of one input sample: [features] or [channels, height, width]", unit="-", le=MAX_UNITS
    )
    layers: list[LayerConfig] = param(
        [LayerConfig(out=64, activation="sigmoid"), LayerConfig(out=10)], "layers from input to output", unit="-"
    )
    loss: str = param(
        "cross_entropy",
        "training loss (cross_entropy includes the softmax)",
        unit="-",
        choices=("cross_entropy", "mse"),
    )

    def check(self, fail: Fail) -> None:
        if not self.input_shape or len(self.input_shape) not in (1, 3) or min(self.input_shape) < 1:
            fail("input_shape", f"{self.input_shape} is not a positive [features] or [channels, height, width]")
        if not self.layers:
            fail("layers", "the model needs at least one layer")


@dataclass
class DatasetConfig:
    """Training and test data."""

    name: str = param("digits", "data set", unit="-", choices=DATASETS)
    path: str | None = param(
        None,
        "folder holding the IDX files (mnist, fashion_mnist) or CIFAR-10's binary "
        "batches data_batch_1..5.bin and test_batch.bin (cifar10)",
        unit="-",
    )
    test_fraction: float = param(0.2, "fraction held out for testing (digits, lsq)", unit="1", gt=0.0, lt=1.0)
    max_train: int | None = param(None, "use at most this many training samples", unit="samples", ge=1)
    max_test: int | None = param(None, "evaluate on at most this many test samples", unit="samples", ge=1)
    synthetic_train: int = param(
        1000,
        "cifar10_synthetic: training samples generated (class-dependent random "
        "images for cost studies; the accuracy they give means nothing)",
        unit="samples",
        ge=1,
        le=MAX_SAMPLES,
    )
    synthetic_test: int = param(200, "cifar10_synthetic: test samples generated", unit="samples", ge=1, le=MAX_SAMPLES)
    lsq_inputs: int = param(
        40,
        "least squares: input dimension D",
        unit="1",
        ge=1,
        le=MAX_UNITS,
        source="seed paper (least-squares experiment)",
    )
    lsq_outputs: int = param(
        100,
        "least squares: output dimension (rows of the target W*)",
        unit="1",
        ge=1,
        le=MAX_UNITS,
        source="seed paper (least-squares experiment)",
    )
    lsq_samples: int = param(
        1000, "least squares: number of (x, y) pairs generated", unit="samples", ge=1, le=MAX_SAMPLES
    )
    lsq_noise: float = param(0.0, "least squares: std of the label noise", unit="1", ge=0.0)

    def check(self, fail: Fail) -> None:
        values = self.lsq_samples * (self.lsq_inputs + self.lsq_outputs)
        if self.name == "lsq" and values > MAX_DATA_VALUES:
            fail(
                "lsq_samples",
                f"{self.lsq_samples} samples of {self.lsq_inputs} + {self.lsq_outputs} values are "
                f"{values} numbers; expected at most {MAX_DATA_VALUES:.0e}",
            )


@dataclass
class TrainingConfig:
    """Optimisation loop."""

    epochs: int = param(10, "passes over the training set", unit="epochs", ge=1, le=100_000)
    batch_size: int = param(10, "samples per training step", unit="samples", ge=1, le=MAX_SAMPLES)
    lr: float = param(0.05, "learning rate (of the analog array for analog algorithms)", unit="1", gt=0.0)
    reduction: str = param(
        "sum",
        "how a batch's losses combine: sum (each sample's rank-1 update is lr*d*x^T, "
        "as pulsed hardware applies them) or mean (PyTorch/aihwkit default, lr/batch per "
        "sample)",
        unit="-",
        choices=("sum", "mean"),
    )
    seed: int = param(0, "seed of every random stream in the run", unit="-", ge=0)
    max_steps: int | None = param(
        None,
        "stop training after this many steps (a cost study of a large network "
        "without training it to the end; the report says training was cut short)",
        unit="steps",
        ge=1,
    )


@dataclass
class AlgorithmConfig:
    """Training algorithm and its settings. A key the chosen algorithm does not read must keep its default
    (which keys each algorithm reads: :data:`archsim.algorithms.registry.ALGORITHMS`)."""

    name: str = param("tiki_taka", "training algorithm", unit="-", choices=ALGORITHMS)
    fast_lr: float = param(
        0.01, "learning rate of the fast array A (Tiki-Taka family); not read under auto_scale", unit="1", gt=0.0
    )
    transfer_lr: float = param(1.0, "scale of a transfer from A to C", unit="1", gt=0.0)
    transfer_every: int = param(1, "samples between transfers", unit="samples", ge=1)
    n_reads_per_transfer: int = param(1, "columns (or rows) of A read per transfer", unit="vectors", ge=1, le=MAX_UNITS)
    transfer_direction: str = param("column", "read columns or rows of A", unit="-", choices=("column", "row"))
    gamma: float = param(0.0, "weight of the fast array in the effective weight gamma*A + C", unit="1", ge=0.0)
    reference_array: bool = param(
        False,
        "tiki_taka, ttv2, chopped_ttv2: read A against a reference array R "
        "programmed to A's symmetric point (zero shifting; residual always does)",
        unit="-",
        source="aihwkit reference device; Kim et al. 2019 zero shifting",
    )
    ttv2_threshold: float = param(
        1.0,
        "TTv2 family: buffer threshold in units of C's mean step at w = 0 (dw0)",
        unit="1",
        gt=0.0,
        source="aihwkit BufferedTransferCompound thres_scale = 1",
    )
    ttv2_max_pulses: int = param(
        5,
        "TTv2 family: maximum pulses written per device per transfer (aihwkit's transfer_update.desired_bl)",
        unit="pulses",
        ge=1,
        le=10_000,
    )
    momentum: float = param(
        0.0,
        "TTv2 family: fraction of what was written that stays in H (aihwkit's momentum)",
        unit="1",
        ge=0.0,
        lt=1.0,
        source="aihwkit ChoppedTransferCompound / DynamicTransferCompound momentum = 0",
    )
    forget_buffer: bool | None = param(
        None,
        "TTv2 family: after a write, H becomes momentum*H where it fired (aihwkit's forget_buffer) instead of "
        f"keeping the remainder; null: the algorithm's preset ({preset_text('forget_buffer')}; true is aihwkit's "
        "default, since A is not reset by a read and the next read re-supplies what was not written)",
        unit="-",
        source="aihwkit ChoppedTransferCompound / DynamicTransferCompound forget_buffer = True",
    )
    chopper_probability: float | None = param(
        None,
        "chopped_ttv2, agad: chopper switching probability per read of a line (random schedule) or "
        "1/period in reads (regular schedule), aihwkit's in_chop_prob; null: the algorithm's preset, "
        f"aihwkit's ReRAM presets' value ({preset_text('chopper_probability')})",
        unit="1",
        ge=0.0,
        le=1.0,
        source="aihwkit presets ChoppedTTv2ReRamSBPreset in_chop_prob = 0.01, AGADReRamSBPreset in_chop_prob = 0.02",
    )
    auto_scale: bool | None = param(
        None,
        "ttv2, chopped_ttv2, agad: scale A's update by running abs-maxima m_x, m_d of its inputs and errors, so "
        "A learns at auto_scale_lr * BL * dw0_A / (m_x * m_d) instead of fast_lr (aihwkit's auto_scale); "
        f"null: the algorithm's preset ({preset_text('auto_scale')})",
        unit="-",
        source="aihwkit presets ChoppedTTv2ReRamSBPreset, AGADReRamSBPreset auto_scale = True",
    )
    auto_scale_lr: float = param(
        0.5,
        "with auto_scale: A's step at the running abs-maxima of x and d, as a fraction of BL pulses "
        "(aihwkit's fast_lr under auto_scale)",
        unit="1",
        gt=0.0,
        source="aihwkit presets ChoppedTTv2ReRamSBPreset, AGADReRamSBPreset fast_lr = 0.5",
    )
    auto_momentum: float = param(
        0.99,
        "with auto_scale: momentum of the running abs-maxima; each vector of a batch of m moves them by "
        "(1 - auto_momentum) / m of the way (aihwkit's auto_momentum)",
        unit="1",
        ge=0.0,
        lt=1.0,
        source="aihwkit ChoppedTransferCompound auto_momentum = 0.99",
    )
    auto_granularity: float = param(
        0.0,
        "ttv2, chopped_ttv2, agad: > 0 multiplies the buffer threshold by auto_granularity / (lines of A x "
        "transfer_every), the samples between two reads of a line (aihwkit's auto_granularity; its ReRAM presets "
        "use 1000, which makes a transfer 1000 / (lines x transfer_every) times smaller at the same training.lr); "
        "0: off",
        unit="samples",
        ge=0.0,
        source="aihwkit ChoppedTransferCompound auto_granularity = 0, also in build_config('c-ttv2'/'agad')",
    )
    chopper_schedule: str = param(
        "auto",
        "chopped_ttv2, agad: random or regular chopper switches; auto takes "
        "aihwkit's default (random for chopped_ttv2, regular for agad)",
        unit="-",
        choices=("auto", "random", "regular"),
        source="aihwkit in_chop_random",
    )
    agad_tail_weight: float = param(
        5.0,
        "agad: weight of the newest read in the running mean of a chopper "
        "period, times the period (aihwkit's tail_weightening)",
        unit="1",
        gt=0.0,
        source="aihwkit DynamicTransferCompound tail_weightening = 5",
    )
    agad_buffer_cap: float = param(
        0.0,
        "agad: bound of a remembering H in units of ttv2_max_pulses thresholds; 0: none (aihwkit's buffer_cap)",
        unit="1",
        ge=0.0,
        source="aihwkit DynamicTransferCompound buffer_cap = 0",
    )
    mp_threshold: float = param(
        1.0,
        "mixed precision: write when the accumulated gradient exceeds this many steps of the array at w = 0 (dw0)",
        unit="1",
        gt=0.0,
    )
    mp_transfer_every: int = param(
        1,
        "mixed precision: samples between writes of the accumulator to the array (Rasch et al. 2024 use 100)",
        unit="samples",
        ge=1,
        source="aihwkit MixedPrecisionCompound transfer_every = 1",
    )

    def setting(self, key: str):
        """The value of ``key`` under this algorithm: as configured, or the algorithm's preset where it is null."""
        value = getattr(self, key)
        if value is None:
            value = dict(ALGORITHM_SPECS[self.name].presets).get(key)
        return value

    def check(self, fail: Fail) -> None:
        if self.name == "agad" and self.chopper_probability is not None and self.chopper_probability <= 0.0:
            fail("chopper_probability", "agad needs a chopper_probability > 0 (its reference forms per period)")
        spec = ALGORITHM_SPECS[self.name]
        reads_auto_scale = "auto_scale" in spec.keys
        if reads_auto_scale and self.setting("auto_scale"):
            if self.fast_lr != _default("fast_lr"):
                fail(
                    "fast_lr",
                    f"is not read under auto_scale (on for {self.name} unless auto_scale: false): A learns at "
                    "auto_scale_lr relative to its running input and error maxima",
                )
        elif reads_auto_scale:
            for key in ("auto_scale_lr", "auto_momentum"):
                if getattr(self, key) != _default(key):
                    fail(key, "is read only with auto_scale: true")
                    break
        if "agad_buffer_cap" in spec.keys and self.agad_buffer_cap and self.setting("forget_buffer"):
            fail("agad_buffer_cap", "bounds a remembering buffer: it needs forget_buffer: false")
        for f in fields(self):
            if f.name == "name" or f.name in spec.keys:
                continue
            default = f.default
            if getattr(self, f.name) != default:
                users = [name for name, other in ALGORITHM_SPECS.items() if f.name in other.keys]
                fail(
                    f.name,
                    f"does not apply to algorithm {self.name} (it is read by: {', '.join(users)}); "
                    "remove it or keep its default",
                )


def _default(key: str):
    """The schema default of an ``algorithm`` key."""
    return _ALGORITHM_DEFAULTS[key]


_ALGORITHM_DEFAULTS = {f.name: f.default for f in fields(AlgorithmConfig)}
