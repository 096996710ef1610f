"""Digital building blocks against slow, obviously correct references."""

import gzip
import struct

import numpy as np
import pytest

from archsim.config import load_run_config
from archsim.nn import functional as F
from archsim.nn.data import load_dataset, read_idx
from archsim.nn.trainer import Trainer


def conv_reference(x, w, stride, padding):
    batch, channels, height, width = x.shape
    out_channels, _, kernel, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    out = np.zeros((batch, out_channels, out_h, out_w))
    for b in range(batch):
        for o in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    patch = xp[b, :, i * stride: i * stride + kernel, j * stride: j * stride + kernel]
                    out[b, o, i, j] = np.sum(patch * w[o])
    return out


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 1)])
def test_im2col_convolution_matches_direct(stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    cols = F.im2col(x, 3, stride, padding)
    out_h = F.conv_output_size(7, 3, stride, padding)
    out_w = F.conv_output_size(6, 3, stride, padding)
    got = (cols @ w.reshape(4, -1).T).reshape(2, out_h, out_w, 4).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, conv_reference(x, w, stride, padding), atol=1e-12)


def test_col2im_is_adjoint_of_im2col():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 6))
    cols = F.im2col(x, 3, 2, 1)
    other = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * other)
    rhs = np.sum(x * F.col2im(other, x.shape, 3, 2, 1))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_maxpool_backward_routes_to_argmax():
    x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    out, arg = F.maxpool_forward(x, 2, 2)
    np.testing.assert_array_equal(out[0, 0], [[5, 7], [13, 15]])
    grad = F.maxpool_backward(np.ones_like(out), arg, x.shape, 2, 2)
    assert grad.sum() == 4 and grad[0, 0, 1, 1] == 1 and grad[0, 0, 3, 3] == 1


def test_softmax_cross_entropy_gradient_numerically():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((3, 5))
    labels = np.array([0, 3, 4])
    _, grad = F.softmax_cross_entropy(logits.copy(), labels)
    eps = 1e-6
    for i, j in [(0, 0), (1, 2), (2, 4)]:
        bumped = logits.copy()
        bumped[i, j] += eps
        numeric = (F.softmax_cross_entropy(bumped, labels)[0] - F.softmax_cross_entropy(logits.copy(), labels)[0]) / eps
        assert grad[i, j] == pytest.approx(numeric, abs=1e-5)


def test_idx_reader_raw_and_gzip(tmp_path):
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", 2, 3, 4)
    (tmp_path / "a").write_bytes(header + data.tobytes())
    with gzip.open(tmp_path / "a.gz", "wb") as handle:
        handle.write(header + data.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), data)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), data)


def test_digits_split_is_deterministic():
    config = load_run_config()
    a = load_dataset(config.dataset, 3)
    b = load_dataset(config.dataset, 3)
    c = load_dataset(config.dataset, 4)
    np.testing.assert_array_equal(a.test_y, b.test_y)
    assert not np.array_equal(a.test_y, c.test_y)
    assert len(a.train_x) + len(a.test_x) == 1797


def test_digital_sgd_reaches_95_percent_on_digits():
    config = load_run_config(None, None, ["algorithm.name=digital_sgd", "training.epochs=30"])
    trainer = Trainer(config, record=False)
    for epoch in range(config.training.epochs):
        result = trainer.run_epoch(epoch)
    assert result.metric >= 95.0


def test_lenet_digital_trains():
    config = load_run_config("workloads/lenet_digits.yaml", None, ["algorithm.name=digital_sgd", "training.epochs=3"])
    trainer = Trainer(config, record=False)
    first = trainer.evaluate()
    for epoch in range(config.training.epochs):
        result = trainer.run_epoch(epoch)
    assert result.metric > max(first + 30, 70)


def test_epoch_keeps_long_lived_objects_out_of_collections_and_hands_them_back():
    """During an epoch the objects that existed before it are frozen (the collector's full collections skip them);
    after it, also when a step fails, they are collectable again."""
    import gc

    config = load_run_config(None, None, ["training.max_steps=2"])
    trainer = Trainer(config, record=True)
    frozen_during = []

    def on_step(ops, samples, loss):
        frozen_during.append(gc.get_freeze_count())
        if len(frozen_during) == 2:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        trainer.run_epoch(0, on_step)
    assert frozen_during[0] > 1000  # the modules, the network and its arrays at least
    assert gc.get_freeze_count() == 0
