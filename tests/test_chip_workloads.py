"""Chip-scale workloads: CIFAR-10 data, residual and average-pooling layers, conv line buffers, tile counts,
and cost studies cut short by training.max_steps."""

import json

import numpy as np
import pytest
import yaml

from archsim.algorithms.recorder import StepRecorder
from archsim.cli import main as cli_main
from archsim.config import load_run_config
from archsim.errors import ConfigError
from archsim.nn import functional as F
from archsim.nn.data import CIFAR_RECORD, CIFAR_TEST_FILE, CIFAR_TRAIN_FILES, load_dataset
from archsim.nn.network import Network
from archsim.mapping.blocks import tiles_needed, tiles_per_layer, utilisation
from archsim.nn.trainer import Trainer
from archsim.ops import BufferAccess, Digital

#: A small CIFAR-shaped residual CNN: identity shortcut (layer 3 adds layer 0) and a strided projection
#: shortcut (layer 6 adds layer 3 through a 1x1 stride-2 conv from 4 to 6 channels), global average pooling.
TINY_RESNET = {
    "model": {
        "input_shape": [3, 32, 32],
        "layers": [
            {"type": "conv2d", "out": 4, "kernel": 4, "stride": 4, "activation": "relu"},   # 8x8 maps
            {"type": "conv2d", "out": 4, "kernel": 3, "padding": 1, "activation": "relu"},
            {"type": "conv2d", "out": 4, "kernel": 3, "padding": 1},
            {"type": "residual", "skip_from": 0, "activation": "relu"},
            {"type": "conv2d", "out": 6, "kernel": 3, "stride": 2, "padding": 1, "activation": "tanh"},
            {"type": "conv2d", "out": 6, "kernel": 3, "padding": 1},
            {"type": "residual", "skip_from": 3, "activation": "tanh"},
            {"type": "avgpool2d", "kernel": 4, "stride": 4},
            {"type": "flatten"},
            {"type": "dense", "out": 10},
        ],
    },
    "dataset": {"name": "cifar10_synthetic", "synthetic_train": 20, "synthetic_test": 10},
    "training": {"epochs": 2, "batch_size": 5},
}


def write_workload(tmp_path, tree, name="tiny.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return str(path)


def write_cifar(folder, n=4, seed=0, label_max=9):
    """Small CIFAR-10 binary batches: n records per file."""
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    for name in CIFAR_TRAIN_FILES + (CIFAR_TEST_FILE,):
        records = rng.integers(0, 256, size=(n, CIFAR_RECORD), dtype=np.uint8)
        records[:, 0] = rng.integers(0, label_max + 1, size=n)
        records.tofile(folder / name)
    return folder


# -- CIFAR-10 ------------------------------------------------------------------------------------------
def test_cifar_loader_reads_binary_batches(tmp_path):
    folder = write_cifar(tmp_path / "cifar")
    config = load_run_config("vgg8_cifar10", None, [f"dataset.path={folder}"])
    data = load_dataset(config.dataset, 0)
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32)
    raw = np.fromfile(folder / "data_batch_2.bin", dtype=np.uint8).reshape(4, CIFAR_RECORD)
    np.testing.assert_array_equal(data.train_y[4:8], raw[:, 0])
    # per-channel standardisation with the training set's statistics: the red plane of image 4 is an affine
    # map of its bytes, and every channel of the training set has mean 0 and std 1
    red = raw[0, 1: 1 + 1024].astype(float)
    got = data.train_x[4, 0].ravel().astype(float)
    slope = np.polyfit(red, got, 1)[0]
    np.testing.assert_allclose(got, slope * red + (got - slope * red).mean(), atol=1e-4)
    np.testing.assert_allclose(data.train_x.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.train_x.std(axis=(0, 2, 3)), 1.0, atol=1e-4)
    assert data.warning is None


@pytest.mark.parametrize("damage,expected", [
    ("missing", "data_batch_3.bin not found"),
    ("truncated", "not a whole number of 3073-byte CIFAR-10 records"),
    ("label", "CIFAR-10 labels are 0..9"),
])
def test_cifar_loader_one_line_errors(tmp_path, damage, expected):
    folder = write_cifar(tmp_path / "cifar")
    target = folder / "data_batch_3.bin"
    if damage == "missing":
        target.unlink()
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:-5])
    else:
        write_cifar(folder, label_max=12, seed=5)
    config = load_run_config("vgg8_cifar10", None, [f"dataset.path={folder}"])
    with pytest.raises(ConfigError) as info:
        load_dataset(config.dataset, 0, "vgg8_cifar10.yaml")
    message = str(info.value)
    assert expected in message and "dataset.path" in message and "\n" not in message


def test_cifar_without_path_names_the_synthetic_set():
    config = load_run_config("vgg8_cifar10")
    with pytest.raises(ConfigError, match="cifar10_synthetic"):
        load_dataset(config.dataset, 0)


def test_synthetic_cifar_is_deterministic_shaped_and_flagged():
    config = load_run_config("vgg8_cifar10", None, ["dataset.name=cifar10_synthetic", "dataset.synthetic_train=30",
                                                    "dataset.synthetic_test=7"])
    a, b = load_dataset(config.dataset, 1), load_dataset(config.dataset, 1)
    assert a.train_x.shape == (30, 3, 32, 32) and a.test_x.shape == (7, 3, 32, 32)
    np.testing.assert_array_equal(a.train_x, b.train_x)
    assert "accuracy means nothing" in a.warning


# -- layers ----------------------------------------------------------------------------------------------
def test_avgpool_backward_is_adjoint():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 4))
    out = F.avgpool_forward(x, 2, 2)
    np.testing.assert_allclose(out[1, 2, 0, 1], x[1, 2, 0:2, 2:4].mean())
    other = rng.standard_normal(out.shape)
    assert np.sum(out * other) == pytest.approx(np.sum(x * F.avgpool_backward(other, x.shape, 2, 2)), rel=1e-12)


def test_residual_network_gradient_matches_finite_differences(tmp_path):
    """Digital SGD moves every weight (conv, projection shortcut, dense) by -lr * dL/dW: compare with central
    differences of the loss, which run through both branches of each residual layer."""
    config = load_run_config(write_workload(tmp_path, TINY_RESNET), None, ["algorithm.name=digital_sgd",
                                                                         "training.reduction=mean"])
    net = Network(config, (3, 32, 32), 10)
    rng = np.random.default_rng(4)
    x, labels = rng.standard_normal((3, 3, 32, 32)), np.array([1, 4, 7])
    loss_of = lambda: F.softmax_cross_entropy(net.forward(x)[0], labels)[0]  # noqa: E731
    before = [w.copy() for w in net.weights()]
    lr = config.training.lr
    net.train_step(x, lambda out: F.softmax_cross_entropy(out, labels))
    steps = [(b - w) / lr for b, w in zip(before, net.weights())]
    for layer, w, grad in zip(net.matrix_layers, before, steps):
        layer.store.weights[...] = w
    projection = [layer for layer in net.matrix_layers if layer.spec.kernel == 1 and layer.kind == "conv2d"]
    assert len(projection) == 1 and projection[0].index == 6
    checked = 0
    for layer, grad in zip(net.matrix_layers, steps):
        weights = layer.store.weights
        for flat in rng.choice(weights.size, size=3, replace=False):
            i, j = np.unravel_index(flat, weights.shape)
            keep = weights[i, j]
            weights[i, j] = keep + 1e-6
            up = loss_of()
            weights[i, j] = keep - 1e-6
            down = loss_of()
            weights[i, j] = keep
            assert grad[i, j] == pytest.approx((up - down) / 2e-6, abs=1e-6, rel=1e-4)
            checked += 1
    assert checked == 3 * 7   # five convolutions, the projection shortcut and the dense layer


def test_residual_adds_and_conv_line_buffers_are_recorded(tmp_path):
    config = load_run_config(write_workload(tmp_path, TINY_RESNET))
    net = Network(config, (3, 32, 32), 10)
    rec = StepRecorder(8, 8)
    batch = 2
    x = np.random.default_rng(5).standard_normal((batch, 3, 32, 32))
    net.train_step(x, lambda out: F.softmax_cross_entropy(out, np.array([0, 1])), rec)
    forward_adds = [op.count for op in rec.ops if isinstance(op, Digital) and op.kind == "add"
                    and op.phase == "forward"]
    # the two residual sums (2x4x8x8 and 2x6x4x4) and the average pool's window sums (15 adds for each of
    # 2x6 outputs of its 4x4 windows)
    assert sorted(forward_adds) == sorted([batch * 4 * 64, batch * 6 * 16, batch * 6 * 15])
    # the backward pass adds each residual layer's skip gradient into its source's output gradient
    backward_adds = [op.count for op in rec.ops if isinstance(op, Digital) and op.kind == "add"
                     and op.phase == "backward"]
    assert backward_adds.count(batch * 4 * 64) == 2   # outputs of layers 0 and 3
    # skip activations are written to the buffer when produced and read when added (32-bit words)
    skip_bits = batch * 4 * 64 * 32
    writes = [op.bits for op in rec.ops if isinstance(op, BufferAccess) and op.kind == "write"]
    reads = [op.bits for op in rec.ops if isinstance(op, BufferAccess) and op.kind == "read"]
    forward_writes = [op.bits for op in rec.ops if isinstance(op, BufferAccess) and op.kind == "write"
                      and op.phase == "forward"]
    forward_reads = [op.bits for op in rec.ops if isinstance(op, BufferAccess) and op.kind == "read"
                     and op.phase == "forward"]
    assert forward_writes.count(skip_bits) == 2 and forward_reads.count(skip_bits) == 2
    # the first conv's line buffer: the 3x32x32 input written once; each of 64 positions reads its 3x4x4
    # window, in the forward pass and again for the update (8-bit inputs)
    assert batch * 3 * 1024 * 8 in writes
    assert reads.count(batch * 64 * 48 * 8) == 2
    # ... in the layer's own line buffer (layer 0), which must hold 4 input rows of 32 columns of 3 channels;
    # the global buffer keeps the input once for the update and hands it back then
    line = [op for op in rec.ops if isinstance(op, BufferAccess) and op.layer == 0]
    assert [(op.kind, op.phase, op.bits) for op in line] == [
        ("write", "forward", batch * 3 * 1024 * 8),
        ("read", "forward", batch * 64 * 48 * 8),
        ("write", "update", batch * 3 * 1024 * 8),
        ("read", "update", batch * 64 * 48 * 8),
    ]
    assert {op.footprint for op in line} == {4 * 32 * 3 * 8}
    kept = [op for op in rec.ops if isinstance(op, BufferAccess) and op.layer is None and op.kind == "write"
            and op.phase == "forward" and op.bits == batch * 3 * 1024 * 8]
    assert len(kept) == 1


def test_residual_that_cannot_be_projected_is_a_config_error(tmp_path):
    tree = json.loads(json.dumps(TINY_RESNET))
    tree["model"]["layers"][4]["padding"] = 0        # 8x8 -> 3x3: not an integer stride of the 8x8 source
    tree["model"]["layers"][7]["kernel"] = 3
    tree["model"]["layers"][7]["stride"] = 3
    config = load_run_config(write_workload(tmp_path, tree))
    with pytest.raises(ConfigError, match=r"model\.layers\.6\.skip_from: .*cannot be projected"):
        Network(config, (3, 32, 32), 10)


# -- tiles -----------------------------------------------------------------------------------------------
def test_tiles_needed_counts_blocks():
    arrays = {(0, "A"): (300, 600), (0, "C"): (300, 600), (1, "A"): (10, 256), (1, "C"): (10, 256)}
    # layer 0: 3 row blocks x 2 column blocks; layer 1: 1 x 1
    assert tiles_needed(arrays, 256, 256, "same_tile") == 7
    assert tiles_needed(arrays, 256, 256, "separate_tiles") == 14
    assert tiles_per_layer(arrays, 256, 256, "same_tile") == {0: 6, 1: 1}
    assert utilisation(arrays, 256, 256) == pytest.approx({0: 300 * 600 / (6 * 65536), 1: 10 / 256})


@pytest.mark.parametrize("workload,needed", [("vgg8_cifar10", 206), ("resnet18_cifar10", 209)])
def test_chip_too_small_is_one_line_error_before_devices_are_built(workload, needed):
    config = load_run_config(workload, None, ["dataset.name=cifar10_synthetic", "hw.tile.count=8"])
    with pytest.raises(ConfigError) as info:
        Network(config, (3, 32, 32), 10, workload, check_tiles=True)
    assert f"needs {needed} of 256x256" in str(info.value) and "hw.tile.count" in str(info.value)


@pytest.mark.parametrize("placement", ["same_tile", "separate_tiles"])
@pytest.mark.parametrize("size", [16, 32])
def test_too_small_chip_error_names_the_tiles_the_mapping_uses(tmp_path, placement, size):
    """The count the network is checked against before any device is built is the count the mapping places:
    one chip with exactly that many tiles runs, one with a tile fewer is refused naming it."""
    from archsim.hw import Architecture
    from archsim.mapping import Mapping

    workload = write_workload(tmp_path, TINY_RESNET)
    sets = [f"hw.tile.rows={size}", f"hw.tile.cols={size}", "hw.tile.adcs=2", f"hw.mapping.array_placement={placement}",
            "algorithm.name=tiki_taka"]
    config = load_run_config(workload, None, sets + ["hw.tile.count=512"])
    used = Mapping.build(Architecture(config.hw), Network(config, (3, 32, 32), 10).arrays()).tiles_used
    assert used > 10  # the small tiles split the layers into many blocks
    exact = load_run_config(workload, None, sets + [f"hw.tile.count={used}"])
    Network(exact, (3, 32, 32), 10, check_tiles=True)
    short = load_run_config(workload, None, sets + [f"hw.tile.count={used - 1}"])
    with pytest.raises(ConfigError, match=f"has {used - 1} tiles but the network needs {used} of {size}x{size}"):
        Network(short, (3, 32, 32), 10, check_tiles=True)


def test_report_gives_tiles_and_cell_utilisation_per_layer(tmp_path):
    from archsim.run import execute

    config = load_run_config(write_workload(tmp_path, TINY_RESNET),
                             None, ["training.max_steps=1", "hw.tile.rows=16", "hw.tile.cols=16", "hw.tile.adcs=2",
                                    "hw.tile.count=512"])
    hardware = execute(config)["hardware"]
    arrays = Network(config, (3, 32, 32), 10).planned_arrays(config.algorithm)
    expected = tiles_per_layer(arrays, 16, 16, config.hw.mapping.array_placement)
    assert hardware["tiles_per_layer"] == {str(layer): n for layer, n in expected.items()}
    assert sum(hardware["tiles_per_layer"].values()) == hardware["tiles_used"]
    cells = utilisation(arrays, 16, 16)
    assert hardware["cell_utilisation_per_layer"] == pytest.approx({str(k): v for k, v in cells.items()})
    # layer 0: 4 outputs x (3*4*4 + 1 bias) inputs on ceil(49/16) = 4 row blocks of 16x16 crossbars, per role
    assert hardware["cell_utilisation_per_layer"]["0"] == pytest.approx(4 * 49 / (4 * 256))


def test_lenet5_mnist_shapes():
    config = load_run_config("lenet5_mnist", None, ["algorithm.name=digital_sgd"])
    net = Network(config, (784,), 10)
    assert [layer.matrix_shape for layer in net.matrix_layers] == [(6, 26), (16, 151), (120, 401), (84, 121),
                                                                    (10, 85)]


# -- cost studies cut short ------------------------------------------------------------------------------
def test_max_steps_stops_training_and_says_so(tmp_path):
    config = load_run_config(write_workload(tmp_path, TINY_RESNET), None, ["training.max_steps=3"])
    from archsim.run import execute

    report = execute(config)
    assert report["totals"]["steps"] == 3 and report["totals"]["samples"] == 15
    assert report["training"] == {"steps": 3, "planned_steps": 8, "cut_short": True}
    assert any("cut short" in w for w in report["warnings"])
    assert any("accuracy means nothing" in w for w in report["warnings"])
    assert report["per_step"]["energy_pj"] > 0


def test_cli_steps_option(tmp_path, capsys):
    workload = write_workload(tmp_path, TINY_RESNET)
    out = tmp_path / "out"
    assert cli_main(["run", workload, "--steps", "2", "--no-progress", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["cut_short"] and report["totals"]["steps"] == 2
    assert "training cut short" in capsys.readouterr().out


def test_max_steps_beyond_the_run_is_not_cut_short(tmp_path):
    config = load_run_config(write_workload(tmp_path, TINY_RESNET), None, ["training.max_steps=100",
                                                                         "algorithm.name=digital_sgd"])
    trainer = Trainer(config, record=False)
    for epoch in range(config.training.epochs):
        trainer.run_epoch(epoch)
    assert trainer.steps_done == 8 and not trainer.cut_short


def test_tiki_taka_transfers_count_samples_not_conv_positions(tmp_path):
    """transfer_every is in training samples: a conv layer whose update holds 64 positions per image transfers
    as often as the dense layer (once per sample here), not once per position."""
    config = load_run_config(write_workload(tmp_path, TINY_RESNET), None, ["algorithm.name=tiki_taka",
                                                                         "algorithm.transfer_every=1"])
    net = Network(config, (3, 32, 32), 10)
    x = np.random.default_rng(6).standard_normal((5, 3, 32, 32))
    net.train_step(x, lambda out: F.softmax_cross_entropy(out, np.arange(5)))
    assert {layer.index: layer.store.transfers for layer in net.matrix_layers} == {
        0: 5, 1: 5, 2: 5, 4: 5, 5: 5, 6: 5, 9: 5}
