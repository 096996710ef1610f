"""Digital pieces of a network: activations, losses, im2col and pooling (NumPy, float64)."""

from __future__ import annotations

import numpy as np


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "none":
        return z
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(f"unknown activation {name!r}")


def activation_grad(name: str, out: np.ndarray) -> np.ndarray:
    """Derivative of the activation expressed through its output (what hardware keeps)."""
    if name == "none":
        return np.ones_like(out)
    if name == "sigmoid":
        return out * (1.0 - out)
    if name == "tanh":
        return 1.0 - out * out
    if name == "relu":
        return (out > 0.0).astype(out.dtype)
    raise ValueError(f"unknown activation {name!r}")


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy over the batch and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    prob = exp / exp.sum(axis=1, keepdims=True)
    n = len(labels)
    loss = float(-np.log(np.maximum(prob[np.arange(n), labels], 1e-300)).mean())
    grad = prob
    grad[np.arange(n), labels] -= 1.0
    return loss, grad / n


def mean_squared_error(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Loss 1/2 ||pred - target||^2 averaged over the batch, and its gradient."""
    diff = pred - target
    n = len(pred)
    return float(0.5 * (diff * diff).sum() / n), diff / n


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _windows(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """The k x k windows of every output position: a read-only strided view (batch, out_h, out_w, C, k, k)."""
    batch, channels, height, width = x.shape
    out_h = conv_output_size(height, kernel, stride, padding)
    out_w = conv_output_size(width, kernel, stride, padding)
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))) if padding else x
    s_b, s_c, s_h, s_w = padded.strides
    return np.lib.stride_tricks.as_strided(
        padded,
        shape=(batch, out_h, out_w, channels, kernel, kernel),
        strides=(s_b, s_h * stride, s_w * stride, s_c, s_h, s_w),
        writeable=False,
    )


def im2col(x: np.ndarray, kernel: int, stride: int, padding: int, ones_column: bool = False) -> np.ndarray:
    """(batch, C, H, W) -> (batch * out_h * out_w, C * kernel * kernel); one row per output position.

    The windows are one strided view of the padded input, copied once into the rows; ``ones_column`` appends
    a column of ones (a bias input) in the same copy."""
    windows = _windows(x, kernel, stride, padding)
    batch, out_h, out_w = windows.shape[:3]
    features = int(np.prod(windows.shape[3:]))
    rows = np.empty((batch, out_h, out_w, features + ones_column), dtype=x.dtype)
    np.copyto(rows[..., :features].reshape(windows.shape), windows)  # splitting an axis is a view
    if ones_column:
        rows[..., features] = 1.0
    return rows.reshape(batch * out_h * out_w, features + ones_column)


def col2im(cols: np.ndarray, shape: tuple[int, int, int, int], kernel: int, stride: int, padding: int) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add position rows back to (batch, C, H, W).

    Accumulates channel-last, where each window offset's add is one strided slice with contiguous channel
    runs (3x faster than adding channel-first planes)."""
    batch, channels, height, width = shape
    out_h = conv_output_size(height, kernel, stride, padding)
    out_w = conv_output_size(width, kernel, stride, padding)
    cols = cols.reshape(batch, out_h, out_w, channels, kernel, kernel)
    padded = np.zeros((batch, height + 2 * padding, width + 2 * padding, channels), dtype=cols.dtype)
    for i in range(kernel):
        for j in range(kernel):
            padded[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride, :] += cols[:, :, :, :, i, j]
    return padded[:, padding : padding + height, padding : padding + width, :].transpose(0, 3, 1, 2)


def maxpool_forward(x: np.ndarray, kernel: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling; returns the output and the flat argmax index per window for the backward pass."""
    batch, channels, height, width = x.shape
    cols = im2col(x.reshape(batch * channels, 1, height, width), kernel, stride, 0)
    arg = cols.argmax(axis=1)
    out_h = conv_output_size(height, kernel, stride, 0)
    out_w = conv_output_size(width, kernel, stride, 0)
    out = cols[np.arange(len(cols)), arg].reshape(batch, channels, out_h, out_w)
    return out, arg


def maxpool_backward(
    grad: np.ndarray, arg: np.ndarray, shape: tuple[int, int, int, int], kernel: int, stride: int
) -> np.ndarray:
    batch, channels, height, width = shape
    cols = np.zeros((len(arg), kernel * kernel), dtype=grad.dtype)
    cols[np.arange(len(arg)), arg] = grad.reshape(-1)
    return col2im(cols, (batch * channels, 1, height, width), kernel, stride, 0).reshape(shape)


def avgpool_forward(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Average pooling over kernel x kernel windows."""
    batch, channels, height, width = x.shape
    cols = im2col(x.reshape(batch * channels, 1, height, width), kernel, stride, 0)
    out_h = conv_output_size(height, kernel, stride, 0)
    out_w = conv_output_size(width, kernel, stride, 0)
    return cols.mean(axis=1).reshape(batch, channels, out_h, out_w)


def avgpool_backward(grad: np.ndarray, shape: tuple[int, int, int, int], kernel: int, stride: int) -> np.ndarray:
    batch, channels, height, width = shape
    cols = np.repeat(grad.reshape(-1, 1) / (kernel * kernel), kernel * kernel, axis=1)
    return col2im(cols, (batch * channels, 1, height, width), kernel, stride, 0).reshape(shape)
