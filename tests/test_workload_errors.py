"""Bad workload input: one line naming file and key path, exit status 2."""

import pytest

from conftest import run_cli


def one_error_line(result):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("sets,expected", [
    (["algorithm.name=tiki_tacos"], "--set: algorithm.name: 'tiki_tacos' is not allowed; did you mean 'tiki_taka'?"),
    (["model.layers.0.type=dense3d"], "--set: model.layers.0.type: 'dense3d' is not allowed"),
    (["training.lr=-0.1"], "--set: training.lr: -0.1 is out of range"),
    (["algorithm.transfer_every=0"], "--set: algorithm.transfer_every: 0 is out of range"),
])
def test_bad_values(sets, expected):
    args = ["run", "--no-progress", "--out", "/tmp/archsim-test-never"]
    for s in sets:
        args += ["--set", s]
    assert one_error_line(run_cli(*args)).startswith(f"error: {expected}")


def test_layers_that_do_not_chain(tmp_path):
    workload = tmp_path / "w.yaml"
    workload.write_text("model:\n  input_shape: [64]\n  layers:\n    - {type: dense, out: 32}\n"
                        "    - {type: dense, out: 7}\n")
    line = one_error_line(run_cli("run", workload, "--no-progress", "--out", tmp_path / "o"))
    assert line.startswith(f"error: {workload}: model.layers.1.out: the last layer gives shape [7], "
                           "but the data set needs 10 outputs")


def test_conv_after_flatten(tmp_path):
    workload = tmp_path / "w.yaml"
    workload.write_text("model:\n  input_shape: [64]\n  layers:\n    - {type: conv2d, out: 4}\n"
                        "    - {type: dense, out: 10}\n")
    line = one_error_line(run_cli("run", workload, "--no-progress", "--out", tmp_path / "o"))
    assert line.startswith(f"error: {workload}: model.layers.0.type: conv2d needs a [channels, height, width] input")


def test_input_shape_mismatch(tmp_path):
    workload = tmp_path / "w.yaml"
    workload.write_text("model:\n  input_shape: [1, 28, 28]\n")
    line = one_error_line(run_cli("run", workload, "--no-progress", "--out", tmp_path / "o"))
    assert line.startswith(f"error: {workload}: model.input_shape: [1, 28, 28] holds 784 values")


@pytest.mark.parametrize("path_set,expected", [
    ([], "dataset.path: mnist is read from IDX files; set dataset.path"),
    (["--set", "dataset.path=/nonexistent/mnist"], "dataset.path: folder '/nonexistent/mnist' not found"),
])
def test_missing_data_path(path_set, expected):
    line = one_error_line(run_cli("run", "workloads/fcn_mnist.yaml", "--no-progress", "--out",
                                  "/tmp/archsim-test-never", *path_set))
    assert line.startswith(f"error: workloads/fcn_mnist.yaml: {expected}")


def test_out_that_is_a_file(tmp_path):
    target = tmp_path / "report"
    target.write_text("")
    line = one_error_line(run_cli("run", "--no-progress", "--out", target, "--epochs", "1"))
    assert line == f"error: --out: {target} is a file; expected a folder for the outputs"
