"""A feed-forward network whose dense and convolutional weights live in weight stores.

Dense and conv2d layers are matrix layers: a conv2d layer is mapped onto a crossbar through im2col,
so each output position is one MVM (one rank-1 update in the backward pass). A bias is an extra
always-on input row of the matrix. Each training step records the hardware operations of the
forward, backward and update phases (and, through the stores, the transfers) in order.
"""

from __future__ import annotations

import math

import numpy as np

from archsim.algorithms.recorder import StepRecorder
from archsim.algorithms.registry import make_store
from archsim.config.loader import RunConfig
from archsim.errors import ConfigError
from archsim.nn import functional as F


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
        self.in_shape = in_shape
        self.matrix_shape = (spec.out, self.in_features + (1 if self.bias else 0))
        self.store = None

    def initial_weights(self, rng: np.random.Generator) -> np.ndarray:
        """PyTorch-style uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) initialisation."""
        bound = 1.0 / math.sqrt(self.in_features)
        return rng.uniform(-bound, bound, size=self.matrix_shape)

    def _rows(self, x: np.ndarray) -> np.ndarray:
        """The MVM input vectors of a batch: one row per sample (dense) or per output position (conv)."""
        if self.kind == "dense":
            rows = x.reshape(len(x), -1)
        else:
            rows = F.im2col(x, self.spec.kernel, self.spec.stride, self.spec.padding)
        if self.bias:
            rows = np.concatenate([rows, np.ones((len(rows), 1))], axis=1)
        return rows

    def forward(self, x: np.ndarray, rec, deps, train: bool):
        rows = self._rows(x)
        z, done = self.store.forward(rows, rec, deps)
        batch = len(x)
        if self.kind == "conv2d":
            z = z.reshape(batch, self.out_shape[1], self.out_shape[2], -1).transpose(0, 3, 1, 2)
        out = F.activate(self.activation, z)
        if rec is not None and self.activation != "none":
            done = [rec.digital("activation", out.size, "forward", done)]
        if train:
            self.cache = (x.shape, rows, out)
            if rec is not None:  # the inputs are kept in the buffer until this layer's update
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
            dx, done = self.store.backward(d, rec, deps)
            if self.bias:
                dx = dx[:, :-1]
            if self.kind == "conv2d":
                result = F.col2im(dx, shape, self.spec.kernel, self.spec.stride, self.spec.padding)
            else:
                result = dx.reshape(shape)
        if rec is not None:  # the errors are kept in the buffer until this layer's update
            rec.buffer("write", d.size * rec.digital_bits, "backward", deps)
        self.pending = (rows, d, list(deps))
        return result, done

    def update(self, rec):
        rows, d, deps = self.pending
        self.pending = None
        if rec is not None:  # the kept inputs and errors come back from the buffer
            deps = [rec.buffer("read", (rows.size + d.size) * rec.digital_bits, "update", deps)]
        return self.store.update(rows, d, rec, deps)


class PoolLayer:
    def __init__(self, index, spec, in_shape):
        self.index, self.spec, self.in_shape = index, spec, in_shape
        channels, height, width = in_shape
        self.out_shape = (channels, F.conv_output_size(height, spec.kernel, spec.stride, 0),
                          F.conv_output_size(width, spec.kernel, spec.stride, 0))

    def forward(self, x, rec, deps, train):
        out, arg = F.maxpool_forward(x, self.spec.kernel, self.spec.stride)
        if rec is not None:
            deps = [rec.digital("compare", x.size, "forward", deps)]
        if train:
            self.cache = (x.shape, arg)
        return out, deps

    def backward(self, grad, rec, deps, need_input_grad):
        shape, arg = self.cache
        return F.maxpool_backward(grad, arg, shape, self.spec.kernel, self.spec.stride), deps


class FlattenLayer:
    def __init__(self, index, spec, in_shape):
        self.index, self.in_shape = index, in_shape
        self.out_shape = (int(np.prod(in_shape)),)

    def forward(self, x, rec, deps, train):
        return x.reshape(len(x), -1), deps

    def backward(self, grad, rec, deps, need_input_grad):
        return grad.reshape((len(grad),) + tuple(self.in_shape)), deps


class Network:
    """Layers built from ``model``, weight stores from ``algorithm`` and ``hw``."""

    def __init__(self, config: RunConfig, input_shape: tuple[int, ...], n_outputs: int, source: str = "workload"):
        model = config.model
        self.loss = model.loss
        declared = tuple(model.input_shape)
        if int(np.prod(declared)) != int(np.prod(input_shape)):
            raise ConfigError(source, "model.input_shape", f"{list(declared)} holds {int(np.prod(declared))} "
                              f"values but the data set's samples hold {int(np.prod(input_shape))}")
        self.input_shape = declared
        shape = declared
        self.layers = []
        rng = np.random.default_rng([config.training.seed, 0x1A7E])
        for index, spec in enumerate(model.layers):
            key = f"model.layers.{index}"
            if spec.type in ("conv2d", "maxpool2d") and len(shape) != 3:
                raise ConfigError(source, f"{key}.type", f"{spec.type} needs a [channels, height, width] input, "
                                  f"but the layer receives shape {list(shape)}; add it before any flatten/dense")
            if spec.type == "dense":
                layer = MatrixLayer(index, spec, shape)
            elif spec.type == "conv2d":
                if spec.kernel > shape[1] + 2 * spec.padding or spec.kernel > shape[2] + 2 * spec.padding:
                    raise ConfigError(source, f"{key}.kernel", f"kernel {spec.kernel} does not fit the "
                                      f"{shape[1]}x{shape[2]} input with padding {spec.padding}")
                layer = MatrixLayer(index, spec, shape)
            elif spec.type == "maxpool2d":
                if spec.kernel > shape[1] or spec.kernel > shape[2]:
                    raise ConfigError(source, f"{key}.kernel", f"pooling window {spec.kernel} does not fit the "
                                      f"{shape[1]}x{shape[2]} input")
                layer = PoolLayer(index, spec, shape)
            else:
                layer = FlattenLayer(index, spec, shape)
            if isinstance(layer, MatrixLayer):
                layer.store = make_store(index, layer.initial_weights(rng), spec.analog, config.hw,
                                         config.algorithm, config.training, config.training.seed)
            self.layers.append(layer)
            shape = layer.out_shape
        if tuple(shape) != (n_outputs,) and n_outputs:
            raise ConfigError(source, f"model.layers.{len(model.layers) - 1}.out",
                              f"the last layer gives shape {list(shape)}, but the data set needs {n_outputs} outputs")
        self.matrix_layers = [layer for layer in self.layers if isinstance(layer, MatrixLayer)]

    def arrays(self) -> dict[tuple[int, str], tuple[int, int]]:
        """Logical analog matrices: (layer, role) -> (out, in), for the mapping onto tiles."""
        found = {}
        for layer in self.matrix_layers:
            for role in getattr(layer.store, "roles", ()):
                found[(layer.index, role)] = layer.matrix_shape
        return found

    def forward(self, x: np.ndarray, rec: StepRecorder | None = None, train: bool = False):
        x = x.reshape((len(x),) + self.input_shape)
        deps: list[int] = []
        if rec is not None:
            deps = [rec.move("io", "digital", x.size * rec.in_bits, "forward", [])]
        for layer in self.layers:
            x, deps = layer.forward(x, rec, deps, train)
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
        first_matrix = self.matrix_layers[0].index if self.matrix_layers else 0
        for layer in reversed(self.layers):
            need = layer.index > first_matrix
            grad, deps = layer.backward(grad, rec, deps, need)
            if not need and isinstance(layer, MatrixLayer):
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
        outs = [self.forward(x[i: i + batch])[0] for i in range(0, len(x), batch)]
        return np.concatenate(outs)

    def weights(self) -> list[np.ndarray]:
        return [layer.store.effective_weights() for layer in self.matrix_layers]
