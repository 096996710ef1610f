"""A feed-forward network whose dense and convolutional weights live in weight stores.

Dense and conv2d layers are matrix layers: a conv2d layer is mapped onto a crossbar through im2col,
so each output position is one MVM (one rank-1 update in the backward pass). A bias is an extra
always-on input row of the matrix. A residual layer adds the output of an earlier layer (through a
1x1 projection convolution, itself a matrix layer, when the shapes differ). Each training step records
the hardware operations of the forward, backward and update phases (and, through the stores, the
transfers) in order.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np

from archsim.algorithms.common import WeightStore
from archsim.algorithms.recorder import StepRecorder
from archsim.algorithms.registry import analog_roles, make_store, tile_columns
from archsim.config.loader import RunConfig, config_file
from archsim.config.workload import AlgorithmConfig, LayerConfig
from archsim.errors import ConfigError
from archsim.mapping.blocks import tiles_needed
from archsim.nn import functional as F
from archsim.ops import Phase

#: Largest im2col matrix (values) one prediction batch may build: 2^24 float64 values, 128 MB.
PREDICT_ROW_VALUES = 1 << 24


class MatrixLayer:
    """Dense or conv2d: y = act(W [x; 1])."""

    def __init__(self, index: int, spec, in_shape: tuple[int, ...]):
        self.index = index
        self.spec = spec
        self.kind = spec.type
        self.activation = spec.activation
        self.bias = spec.bias
        if self.kind == "dense":
            self.in_features = int(np.prod(in_shape))
            self.out_shape: tuple[int, ...] = (spec.out,)
            self.positions = 1
        else:
            channels, height, width = in_shape
            out_h = F.conv_output_size(height, spec.kernel, spec.stride, spec.padding)
            out_w = F.conv_output_size(width, spec.kernel, spec.stride, spec.padding)
            self.in_features = channels * spec.kernel * spec.kernel
            self.out_shape = (spec.out, out_h, out_w)
            self.positions = out_h * out_w
            # col2im of one sample: digital adds where several positions' errors land on one input pixel
            hits = F.col2im(
                np.ones((self.positions, spec.kernel * spec.kernel)),
                (1, 1, height, width),
                spec.kernel,
                spec.stride,
                spec.padding,
            )
            self.col2im_adds = channels * int(np.maximum(hits - 1.0, 0.0).sum())
        self.in_shape = in_shape
        self.matrix_shape = (spec.out, self.in_features + (1 if self.bias else 0))
        self.store: WeightStore | None = None

    @property
    def mvms_per_sample(self) -> int:
        """Input vectors one sample drives through the matrix (conv: output positions)."""
        return self.positions

    def initial_weights(self, rng: np.random.Generator) -> np.ndarray:
        """PyTorch-style uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) initialisation."""
        bound = 1.0 / math.sqrt(self.in_features)
        return rng.uniform(-bound, bound, size=self.matrix_shape)

    def _rows(self, x: np.ndarray) -> np.ndarray:
        """The MVM input vectors of a batch: one row per sample (dense) or per output position (conv)."""
        if self.kind == "conv2d":
            return F.im2col(x, self.spec.kernel, self.spec.stride, self.spec.padding, ones_column=self.bias)
        rows = x.reshape(len(x), -1)
        if self.bias:
            rows = np.concatenate([rows, np.ones((len(rows), 1))], axis=1)
        return rows

    def _line_buffer(self, rec, batch: int, phase: Phase, deps) -> list[int]:
        """A conv layer's input line buffer, in the layer's own tiles (``hw.line_buffer``): each input value
        streams into it once, and every output position reads its k*k*C window from it (the im2col rows, which
        hardware never materialises). It holds k padded input rows of one sample at a time."""
        if rec is None or self.kind != "conv2d":
            return list(deps)
        channels, _, width = self.in_shape
        footprint = self.spec.kernel * (width + 2 * self.spec.padding) * channels * rec.in_bits
        fill = rec.line_buffer(
            "write", self.index, batch * int(np.prod(self.in_shape)) * rec.in_bits, footprint, phase, deps
        )
        windows = batch * self.positions * self.in_features * rec.in_bits
        return [rec.line_buffer("read", self.index, windows, footprint, phase, [fill])]

    def forward(self, x: np.ndarray, rec, deps, train: bool):
        rows = self._rows(x)
        if rec is not None and train and self.kind == "conv2d":
            # the input is kept in the global buffer until this layer's update, at the resolution the arrays read
            rec.buffer("write", int(x.size) * rec.in_bits, "forward", deps)
        deps = self._line_buffer(rec, len(x), "forward", deps)
        assert self.store is not None, "the network builds every store before it runs"
        z, done = self.store.forward(rows, rec, deps)
        batch = len(x)
        if self.kind == "conv2d":
            z = z.reshape(batch, self.out_shape[1], self.out_shape[2], -1).transpose(0, 3, 1, 2)
        out = F.activate(self.activation, z)
        if rec is not None and self.activation != "none":
            done = [rec.digital("activation", out.size, "forward", done)]
        if train:
            self.cache = (x.shape, rows, out)
            if rec is not None and self.kind != "conv2d":
                # the inputs are kept in the buffer until this layer's update
                rec.buffer("write", rows.size * rec.digital_bits, "forward", deps)
        return out, done

    def backward(self, grad: np.ndarray, rec, deps, need_input_grad: bool):
        shape, rows, out = self.cache
        d = grad * F.activation_grad(self.activation, out)
        if rec is not None and self.activation != "none":
            deps = [rec.digital("mult", d.size, "backward", deps)]
        if self.kind == "conv2d":
            d = d.transpose(0, 2, 3, 1).reshape(-1, self.spec.out)
        else:
            d = d.reshape(len(d), -1)
        result, done = None, list(deps)
        if need_input_grad:
            assert self.store is not None, "the network builds every store before it runs"
            dx, done = self.store.backward(d, rec, deps)
            if self.bias:
                dx = dx[:, :-1]
            if self.kind == "conv2d":
                result = F.col2im(dx, shape, self.spec.kernel, self.spec.stride, self.spec.padding)
                if rec is not None and self.col2im_adds:
                    done = [rec.digital("add", shape[0] * self.col2im_adds, "backward", done)]
            else:
                result = dx.reshape(shape)
        if rec is not None:  # the errors are kept in the buffer until this layer's update
            rec.buffer("write", d.size * rec.digital_bits, "backward", deps)
        self.pending: tuple[np.ndarray, np.ndarray, list[int]] | None = (rows, d, list(deps))
        return result, done

    def update(self, rec):
        assert self.pending is not None, "update() follows backward()"
        rows, d, deps = self.pending
        self.pending = None
        batch = len(rows) // self.positions
        if rec is not None:  # the kept errors and inputs come back from the buffer
            if self.kind == "conv2d":
                bits = d.size * rec.digital_bits + batch * int(np.prod(self.in_shape)) * rec.in_bits
            else:
                bits = (rows.size + d.size) * rec.digital_bits
            deps = [rec.buffer("read", bits, "update", deps)]
        # a conv layer's update streams its kept input through the line buffer again and reads every window
        deps = self._line_buffer(rec, batch, "update", deps)
        assert self.store is not None, "the network builds every store before it runs"
        return self.store.update(rows, d, rec, deps)


class PoolLayer:
    def __init__(self, index, spec, in_shape):
        self.index, self.spec, self.in_shape = index, spec, in_shape
        channels, height, width = in_shape
        self.out_shape = (
            channels,
            F.conv_output_size(height, spec.kernel, spec.stride, 0),
            F.conv_output_size(width, spec.kernel, spec.stride, 0),
        )

    def forward(self, x, rec, deps, train):
        out, arg = F.maxpool_forward(x, self.spec.kernel, self.spec.stride)
        if rec is not None:
            deps = [rec.digital("compare", x.size, "forward", deps)]
        if train:
            self.cache: tuple = (x.shape, arg)  # AvgPoolLayer keeps only the input shape
        return out, deps

    def backward(self, grad, rec, deps, need_input_grad):
        shape, arg = self.cache
        return F.maxpool_backward(grad, arg, shape, self.spec.kernel, self.spec.stride), deps


class AvgPoolLayer(PoolLayer):
    """Average pooling: the same windows (and output shape) as max pooling."""

    def forward(self, x, rec, deps, train):
        out = F.avgpool_forward(x, self.spec.kernel, self.spec.stride)
        if rec is not None:
            # k*k - 1 adds and one scaling multiply per output value
            adds = rec.digital("add", out.size * (self.spec.kernel**2 - 1), "forward", deps)
            deps = [rec.digital("mult", out.size, "forward", [adds])]
        if train:
            self.cache = x.shape
        return out, deps

    def backward(self, grad, rec, deps, need_input_grad):
        if rec is not None:
            deps = [rec.digital("mult", grad.size, "backward", deps)]
        return F.avgpool_backward(grad, self.cache, self.spec.kernel, self.spec.stride), deps


class ResidualLayer:
    """out = act(x + skip), where skip is the output of layer ``skip_from`` — as is when the shapes match,
    else through a 1x1 convolution (stride = the spatial size ratio) or a dense projection: ResNet's
    projection shortcut, a matrix layer of its own on the tiles (named by this layer's index)."""

    def __init__(self, index, spec, in_shape, skip_shape, projection: MatrixLayer | None):
        self.index, self.spec, self.in_shape = index, spec, in_shape
        self.skip_from = spec.skip_from
        self.activation = spec.activation
        self.out_shape = tuple(in_shape)
        self.skip_shape = tuple(skip_shape)
        self.projection = projection

    def forward(self, x, skip, skip_deps, rec, deps, train):
        if self.projection is not None:
            skip, skip_deps = self.projection.forward(skip, rec, skip_deps, train)
        out = F.activate(self.activation, x + skip)
        if rec is not None:
            deps = [rec.digital("add", out.size, "forward", list(deps) + list(skip_deps))]
            if self.activation != "none":
                deps = [rec.digital("activation", out.size, "forward", deps)]
        if train:
            self.cache = out
        return out, deps

    def backward(self, grad, rec, deps, need_input_grad):
        """Returns (gradient to the previous layer, deps) and (gradient to layer skip_from, deps)."""
        d = grad * F.activation_grad(self.activation, self.cache)
        if rec is not None and self.activation != "none":
            deps = [rec.digital("mult", d.size, "backward", deps)]
        skip_grad, skip_deps = d, deps
        if self.projection is not None:
            skip_grad, skip_deps = self.projection.backward(d, rec, deps, need_input_grad=True)
        return (d, deps), (skip_grad, skip_deps)


class FlattenLayer:
    def __init__(self, index, spec, in_shape):
        self.index, self.in_shape = index, in_shape
        self.out_shape = (int(np.prod(in_shape)),)

    def forward(self, x, rec, deps, train):
        return x.reshape(len(x), -1), deps

    def backward(self, grad, rec, deps, need_input_grad):
        return grad.reshape((len(grad),) + tuple(self.in_shape)), deps


#: Any layer of a network.
Layer = MatrixLayer | PoolLayer | ResidualLayer | FlattenLayer


class Network:
    """Layers built from ``model``, weight stores from ``algorithm`` and ``hw``."""

    def __init__(
        self,
        config: RunConfig,
        input_shape: tuple[int, ...],
        n_outputs: int,
        source: str = "workload",
        check_tiles: bool = False,
    ):
        """``check_tiles``: fail with a one-line error, before any device is built, when the network needs
        more tiles than the chip has (runs that cost the network on the chip)."""
        model = config.model
        self.loss = model.loss
        declared = tuple(model.input_shape)
        if int(np.prod(declared)) != int(np.prod(input_shape)):
            raise ConfigError(
                source,
                "model.input_shape",
                f"{list(declared)} holds {int(np.prod(declared))} "
                f"values but the data set's samples hold {int(np.prod(input_shape))}",
            )
        self.input_shape = declared
        self.hw, self.algorithm = config.hw, config.algorithm
        shape = declared
        self.layers: list[Layer] = []
        self.matrix_layers: list[MatrixLayer] = []  # in update order; residual projections at their layer
        rng = np.random.default_rng([config.training.seed, 0x1A7E])

        def add_store(layer: MatrixLayer) -> MatrixLayer:
            self.matrix_layers.append(layer)  # stores are built once the whole network is known to fit
            return layer

        layer: Layer
        for index, spec in enumerate(model.layers):
            key = f"model.layers.{index}"
            if spec.type in ("conv2d", "maxpool2d", "avgpool2d") and len(shape) != 3:
                raise ConfigError(
                    source,
                    f"{key}.type",
                    f"{spec.type} needs a [channels, height, width] input, "
                    f"but the layer receives shape {list(shape)}; add it before any flatten/dense",
                )
            if spec.type == "dense":
                layer = add_store(MatrixLayer(index, spec, shape))
            elif spec.type == "conv2d":
                if spec.kernel > shape[1] + 2 * spec.padding or spec.kernel > shape[2] + 2 * spec.padding:
                    raise ConfigError(
                        source,
                        f"{key}.kernel",
                        f"kernel {spec.kernel} does not fit the "
                        f"{shape[1]}x{shape[2]} input with padding {spec.padding}",
                    )
                layer = add_store(MatrixLayer(index, spec, shape))
            elif spec.type in ("maxpool2d", "avgpool2d"):
                if spec.kernel > shape[1] or spec.kernel > shape[2]:
                    raise ConfigError(
                        source,
                        f"{key}.kernel",
                        f"pooling window {spec.kernel} does not fit the {shape[1]}x{shape[2]} input",
                    )
                layer = (PoolLayer if spec.type == "maxpool2d" else AvgPoolLayer)(index, spec, shape)
            elif spec.type == "residual":
                layer = self._residual(index, spec, shape, source)
                if layer.projection is not None:
                    add_store(layer.projection)
            else:
                layer = FlattenLayer(index, spec, shape)
            self.layers.append(layer)
            shape = layer.out_shape
        if tuple(shape) != (n_outputs,) and n_outputs:
            raise ConfigError(
                source,
                f"model.layers.{len(model.layers) - 1}.out",
                f"the last layer gives shape {list(shape)}, but the data set needs {n_outputs} outputs",
            )
        #: layers whose outputs a residual layer adds later: kept (in the buffer) until then
        self.skip_sources = {layer.skip_from for layer in self.layers if isinstance(layer, ResidualLayer)}
        if check_tiles:
            self._check_tiles(config, source)
        for layer in self.matrix_layers:
            layer.store = make_store(
                layer.index,
                layer.initial_weights(rng),
                layer.spec.analog,
                config.hw,
                config.algorithm,
                config.training,
                config.training.seed,
                bias=layer.bias,
            )
            if hasattr(layer.store, "vectors_per_sample"):  # transfer schedules count samples, not positions
                layer.store.vectors_per_sample = layer.mvms_per_sample

    def planned_arrays(self, algorithm: AlgorithmConfig) -> dict[tuple[int, str], tuple[int, int]]:
        """The analog matrices ``algorithm`` will put on tiles, (layer, role) -> (out, in); what
        :meth:`arrays` gives once the stores exist."""
        found: dict[tuple[int, str], tuple[int, int]] = {}
        for layer in self.matrix_layers:
            for role in analog_roles(algorithm, layer.spec.analog):
                found[(layer.index, role)] = self._tile_shape(layer)
        return found

    def _tile_shape(self, layer: MatrixLayer) -> tuple[int, int]:
        """(out, in) of the layer's arrays: a bias kept in digital (hw.io.digital_bias) is no input row of them."""
        out, columns = layer.matrix_shape
        analog = bool(analog_roles(self.algorithm, layer.spec.analog))
        return out, tile_columns(columns, layer.bias and analog, self.hw)

    def _check_tiles(self, config: RunConfig, source: str) -> None:
        tile, placement = config.hw.tile, config.hw.mapping.array_placement
        needed = tiles_needed(self.planned_arrays(config.algorithm), tile.rows, tile.cols, placement)
        if needed > tile.count:
            raise ConfigError(
                config_file(config, "hw.tile.count", source),
                "hw.tile.count",
                f"the chip has {tile.count} tiles but the network needs "
                f"{needed} of {tile.rows}x{tile.cols} ({config.algorithm.name}, array_placement "
                f"{placement}); raise hw.tile.count or the tile size",
            )

    def _residual(self, index: int, spec, shape, source: str) -> ResidualLayer:
        key = f"model.layers.{index}.skip_from"
        if spec.skip_from >= index:
            raise ConfigError(source, key, f"{spec.skip_from} is not an earlier layer; expected 0..{index - 1}")
        skip_shape = tuple(self.layers[spec.skip_from].out_shape)
        if skip_shape == tuple(shape):
            return ResidualLayer(index, spec, shape, skip_shape, None)
        if len(skip_shape) == 1 and len(shape) == 1:
            projection_spec = LayerConfig(type="dense", out=shape[0], analog=spec.analog, bias=spec.bias)
        elif (
            len(skip_shape) == 3
            and len(shape) == 3
            and skip_shape[1] % shape[1] == 0
            and skip_shape[1] // shape[1] == skip_shape[2] // shape[2]
            and skip_shape[2] % shape[2] == 0
        ):
            projection_spec = LayerConfig(
                type="conv2d",
                out=shape[0],
                kernel=1,
                stride=skip_shape[1] // shape[1],
                padding=0,
                analog=spec.analog,
                bias=spec.bias,
            )
        else:
            raise ConfigError(
                source,
                key,
                f"layer {spec.skip_from} gives shape {list(skip_shape)}, which cannot "
                f"be projected onto this layer's input shape {list(shape)} (expected the same "
                "shape, or channels changed and height and width divided by one integer stride)",
            )
        return ResidualLayer(index, spec, shape, skip_shape, MatrixLayer(index, projection_spec, skip_shape))

    def arrays(self) -> dict[tuple[int, str], tuple[int, int]]:
        """Logical analog matrices: (layer, role) -> (out, in), for the mapping onto tiles."""
        found = {}
        for layer in self.matrix_layers:
            for role in getattr(layer.store, "roles", ()):
                found[(layer.index, role)] = self._tile_shape(layer)
        return found

    def layer_arrays(self) -> list[dict]:
        """Per matrix layer, for mapping reports: layer index, kind, roles on analog tiles, the matrix shape
        (out, in) and the MVMs one sample drives through it (conv: output positions)."""
        return [
            {
                "layer": layer.index,
                "type": layer.kind,
                "roles": tuple(getattr(layer.store, "roles", ())),
                "shape": self._tile_shape(layer),
                "mvms_per_sample": layer.mvms_per_sample,
            }
            for layer in self.matrix_layers
        ]

    def forward(self, x: np.ndarray, rec: StepRecorder | None = None, train: bool = False):
        x = np.asarray(x, dtype=np.float64).reshape((len(x),) + self.input_shape)
        deps: list[int] = []
        if rec is not None:
            deps = [rec.move("io", "digital", x.size * rec.in_bits, "forward", [])]
        kept: dict[int, tuple[np.ndarray, list[int]]] = {}
        for layer in self.layers:
            if isinstance(layer, ResidualLayer):
                skip, skip_deps = kept.pop(layer.skip_from)
                if rec is not None:
                    skip_deps = [rec.buffer("read", skip.size * rec.digital_bits, "forward", skip_deps)]
                x, deps = layer.forward(x, skip, skip_deps, rec, deps, train)
            else:
                x, deps = layer.forward(x, rec, deps, train)
            if layer.index in self.skip_sources:
                kept[layer.index] = (
                    x,
                    [rec.buffer("write", x.size * rec.digital_bits, "forward", deps)] if rec is not None else [],
                )
        return x, deps

    def train_step(self, x: np.ndarray, loss_grad, rec: StepRecorder | None = None) -> float:
        """One step: forward, loss, backward through every layer, then every layer's update."""
        out, deps = self.forward(x, rec, train=True)
        loss, grad = loss_grad(out)
        if rec is not None:
            # labels come from DRAM: one class index per sample, or one target value per output
            label_bits = (len(x) if self.loss == "cross_entropy" else out.size) * rec.digital_bits
            labels = rec.move("io", "digital", label_bits, "backward", [])
            deps = self._record_loss(rec, out.size, [*deps, labels])
        first_weights = min((layer.index for layer in self.matrix_layers), default=0)
        skip_grads: dict[int, tuple[np.ndarray, list[int]]] = {}
        for layer in reversed(self.layers):
            if layer.index in skip_grads:  # the output of this layer also fed a residual layer
                extra, extra_deps = skip_grads.pop(layer.index)
                grad = grad + extra
                if rec is not None:
                    deps = [rec.digital("add", grad.size, "backward", list(deps) + list(extra_deps))]
            need = layer.index > first_weights
            if isinstance(layer, ResidualLayer):
                (grad, deps), skip_grads[layer.skip_from] = layer.backward(grad, rec, deps, need)
            else:
                grad, deps = layer.backward(grad, rec, deps, need)
            if not need and layer.index == first_weights:
                break
        for layer in self.matrix_layers:
            layer.update(rec)
        return loss

    def _record_loss(self, rec: StepRecorder, outputs: int, deps) -> list[int]:
        """The loss gradient's digital work: softmax cross-entropy takes an exp, a sum, a division and the
        label's subtraction per output; squared error one subtraction per output."""
        if self.loss == "cross_entropy":
            exp = rec.digital("exp", outputs, "backward", deps)
            total = rec.digital("add", outputs, "backward", [exp])
            share = rec.digital("div", outputs, "backward", [total])
            return [rec.digital("add", outputs, "backward", [share])]
        return [rec.digital("add", outputs, "backward", deps)]

    def predict(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        """Outputs for ``x`` in batches of at most ``batch`` samples, fewer where a layer's im2col rows of a
        whole batch would pass :data:`PREDICT_ROW_VALUES`."""
        widest = max((layer.mvms_per_sample * layer.matrix_shape[1] for layer in self.matrix_layers), default=1)
        batch = max(1, min(batch, PREDICT_ROW_VALUES // widest))
        outs = [self.forward(x[i : i + batch])[0] for i in range(0, len(x), batch)]
        return np.concatenate(outs)

    def weights(self) -> list[np.ndarray]:
        return [cast(WeightStore, layer.store).effective_weights() for layer in self.matrix_layers]  # built in __init__
