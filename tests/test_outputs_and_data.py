"""Results are never thrown away or half written, data files are checked, and numbers never go silently
non-finite: output folders checked before work and swapped in whole, strict JSON reports, IDX checks,
test_fraction extremes, the non-finite run guard."""

import gzip
import json
import sqlite3
import struct
import warnings

import numpy as np
import pytest

from archsim.config.loader import load_run_config
from archsim.errors import ArchsimError, ConfigError, NonFiniteError
from archsim import outputs as output_folder
from archsim.run import check_finite
from clihelp import one_error_line, run_inprocess

TINY = ("--no-progress", "--epochs", "1", "--set", "dataset.max_train=20")


def run(out, *extra):
    return run_inprocess("run", "workloads/fcn_digits.yaml", "--out", out, *TINY, *extra)


def no_training(monkeypatch):
    """Make any training attempt fail loudly (a traceback the one-line checks would catch)."""
    from archsim.nn import trainer

    def refuse(self):
        raise AssertionError("training started although the output folder is unusable")

    monkeypatch.setattr(trainer.Trainer, "__post_init__", refuse)


# -- output folders ------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["afile/sub", "afile", "/proc/archsim-out"])
def test_unusable_out_fails_before_training(tmp_path, monkeypatch, where):
    (tmp_path / "afile").write_text("x")
    no_training(monkeypatch)
    target = tmp_path / where if not where.startswith("/") else where
    line = one_error_line(run(target))
    assert line.startswith("error: --out: "), line


def test_rerun_replaces_outputs_whole_and_keeps_foreign_files(tmp_path):
    out = tmp_path / "o"
    assert run(out, "--trace").returncode == 0
    assert (out / "trace.json").is_file()
    (out / "notes.txt").write_text("mine")
    first = json.loads((out / "report.json").read_text())
    assert run(out, "--seed", "3").returncode == 0
    assert not (out / "trace.json").exists()  # an output of the earlier run, not of this one
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "report.json").read_text())["seed"] == 3 != first["seed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no staging folder left behind


def test_failed_write_leaves_previous_outputs_intact(tmp_path, monkeypatch):
    out = tmp_path / "o"
    assert run(out).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    from archsim.report import plots

    def disk_full(report, folder):
        (folder / "training_curve.png").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plots, "plot_run", disk_full)
    line = one_error_line(run(out, "--seed", "5"))
    assert "No space left on device" in line and "previous contents are unchanged" in line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_commit_failure_restores_the_previous_folder(tmp_path, monkeypatch):
    target = tmp_path / "o"
    target.mkdir()
    (target / "report.json").write_text("old")
    folder = output_folder.OutputFolder(target)
    staging = folder.open()
    (staging / "report.json").write_text("new")
    real_rename = output_folder.os.rename

    def rename(src, dst):
        if str(src) == str(staging):
            raise OSError(5, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(output_folder.os, "rename", rename)
    with pytest.raises(ArchsimError, match="previous contents are unchanged"):
        folder.commit()
    assert (target / "report.json").read_text() == "old"


def test_report_never_holds_nan():
    with pytest.raises(ArchsimError, match=r"report: per_step\.energy_pj_by_component\.adc is nan"):
        check_finite({"per_step": {"energy_pj_by_component": {"adc": float("nan")}}})
    with pytest.raises(ArchsimError, match=r"metric\.per_epoch\.1 is inf"):
        check_finite({"metric": {"per_epoch": [1.0, float("inf")]}})
    check_finite({"a": [1.0, {"b": 2}], "c": "text", "d": None})


# -- sweep reports -----------------------------------------------------------------------------------

def make_db(path, params=None, energy=1.0):
    from archsim.sweep.store import ResultStore

    with ResultStore(path) as store:
        for i in range(3):
            report = {"metric": {"name": "test_accuracy", "final": 50.0 + i},
                      "per_step": {"energy_pj": energy * (i + 1) if energy is not None else None,
                                   "latency_ns": 1.0 + i}}
            store.record_done(run_id=f"r{i}", params=params(i) if params else {"hw.adc.bits": 4 + i},
                              config_yaml="x", seed=0, report=report, started_at=None,
                              finished_at=f"2026-01-01T00:00:0{i}.000Z")


def test_report_reads_without_writing(tmp_path):
    from archsim.sweep.store import ResultStore

    db = tmp_path / "r.db"
    make_db(db)
    before = db.read_bytes()
    assert run_inprocess("report", db, "--out", tmp_path / "rep").returncode == 0
    assert db.read_bytes() == before
    with ResultStore(db, create=False) as store:  # opened read-only: a write is refused by SQLite itself
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.connection.execute("DELETE FROM runs")


def test_report_out_is_replaced_whole(tmp_path, monkeypatch):
    db, out = tmp_path / "r.db", tmp_path / "rep"
    make_db(db)
    assert run_inprocess("report", db, "--out", out).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    from archsim.report import sweep_report

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sweep_report, "plot_front", broken)
    assert "previous contents are unchanged" in one_error_line(run_inprocess("report", db, "--out", out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_damaged_row_is_a_one_line_error(tmp_path):
    db = tmp_path / "r.db"
    make_db(db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE runs SET report = '{\"metric\": ' WHERE run_id = 'r1'")
    line = one_error_line(run_inprocess("report", db, "--out", tmp_path / "rep"))
    assert "run r1: the report column is not valid JSON" in line


@pytest.mark.parametrize("value", [lambda i: [64, 32 * i], lambda i: {"out": i}])
def test_colour_by_a_list_or_mapping_valued_key(tmp_path, value):
    db = tmp_path / "r.db"
    make_db(db, params=lambda i: {"model.layers": value(i)})
    result = run_inprocess("report", db, "--out", tmp_path / "rep", "--color", "model.layers")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "rep").glob("pareto_*.png"))) == 2


def test_hint_for_a_known_but_absent_quantity_is_not_the_same_name(tmp_path):
    db = tmp_path / "r.db"
    make_db(db, energy=None)
    line = one_error_line(run_inprocess("report", db, "--out", tmp_path / "rep", "--x", "energy_pj"))
    assert "did you mean 'energy_pj'" not in line and "no done run has this quantity" in line


# -- data files ----------------------------------------------------------------------------------------

def idx(path, array, code):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    dtype = {0x08: np.uint8, 0x0D: ">f4"}[code]
    with gzip.open(path, "wb") as handle:
        handle.write(header + np.asarray(array, dtype=dtype).tobytes())


def mnist_folder(tmp_path, labels=(1, 2, 3), n_images=3, images_code=0x08, bad_pixel=None):
    images = np.zeros((n_images, 2, 2))
    if bad_pixel is not None:
        images[0, 0, 0] = bad_pixel
    for split in ("train", "t10k"):
        idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images, images_code)
        idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", np.array(labels), 0x08)
    return tmp_path


@pytest.mark.parametrize("folder_args,expected", [
    (dict(labels=(1, 12, 3)), "holds the label 12; expected class numbers 0 to 9"),
    (dict(n_images=4), "4 train images but 3 labels"),
    (dict(images_code=0x0D, bad_pixel=np.nan), "NaN or infinite pixel values"),
])
def test_bad_idx_files_are_one_line_errors(tmp_path, folder_args, expected):
    folder = mnist_folder(tmp_path, **folder_args)
    line = one_error_line(run_inprocess("run", "workloads/fcn_mnist.yaml", "--out", tmp_path / "o", *TINY,
                                        "--set", f"dataset.path={folder}", "--set", "model.input_shape=[4]"))
    assert "dataset.path" in line and expected in line, line


def test_truncated_idx_file_is_a_one_line_error(tmp_path):
    folder = mnist_folder(tmp_path)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03\x00"))
    line = one_error_line(run_inprocess("run", "workloads/fcn_mnist.yaml", "--out", tmp_path / "o", *TINY,
                                        "--set", f"dataset.path={folder}"))
    assert "cannot read" in line


@pytest.mark.parametrize("fraction,expected", [("0.0001", "leaves no test samples"),
                                               ("0.9999", "leaves no training samples")])
def test_test_fraction_extremes_are_rejected_before_training(tmp_path, fraction, expected):
    line = one_error_line(run_inprocess("run", "workloads/fcn_digits.yaml", "--out", tmp_path / "o", *TINY,
                                        "--set", f"dataset.test_fraction={fraction}"))
    assert "dataset.test_fraction" in line and expected in line
    assert not (tmp_path / "o").exists()


# -- the non-finite guard ------------------------------------------------------------------------------

def test_a_run_that_goes_non_finite_stops_naming_array_and_step(tmp_path, monkeypatch):
    from archsim.nn import network

    real_step = network.Network.train_step
    calls = []

    def poisoned(self, x, loss_grad, rec=None):
        calls.append(1)
        loss = real_step(self, x, loss_grad, rec)
        if len(calls) == 2:  # a buffer that does not reach the loss (as TTv2's H) goes NaN
            self.matrix_layers[1].store.H = np.array([0.0, np.inf])
        return loss

    monkeypatch.setattr(network.Network, "train_step", poisoned)
    line = one_error_line(run_inprocess("run", "workloads/fcn_digits.yaml", "--out", tmp_path / "o", *TINY,
                                        "--set", "algorithm.name=analog_sgd"))
    assert "layer 1 array H became non-finite (NaN or inf) at epoch 1, step 2" in line, line
    assert not (tmp_path / "o").exists()  # no report


def test_non_finite_loss_is_caught_at_its_step(monkeypatch):
    from archsim.nn.trainer import Trainer

    config = load_run_config(None, None, ["dataset.max_train=30", "training.epochs=1",
                                          "algorithm.name=digital_sgd"])
    trainer = Trainer(config, record=False)
    steps = []

    def step(x, loss_grad, rec=None):
        steps.append(1)
        return float("nan") if len(steps) == 2 else 1.0

    monkeypatch.setattr(trainer.network, "train_step", step)
    with pytest.raises(NonFiniteError, match="the training loss became non-finite .* at epoch 1, step 2"):
        trainer.run_epoch(0)
    assert isinstance(NonFiniteError("x", 0, 1), ArchsimError) and not isinstance(NonFiniteError("x", 0, 1),
                                                                                    ConfigError)


def test_an_overflowing_read_stops_the_run_in_one_line():
    """Finite weights, but a read whose output overflows float32 (an output bound of 1e100 never clips): the next
    array refuses the inf inputs, and the run stops naming them instead of raising a traceback."""
    from archsim.nn.trainer import Trainer

    config = load_run_config(None, None, ["dataset.max_train=30", "training.epochs=1", "hw.adc.out_bound=1e100",
                                          "hw.io.out_noise=0"])
    trainer = Trainer(config, record=False)
    with warnings.catch_warnings():  # nothing but the error: an ADC bound beyond float32 is inf, silently
        warnings.simplefilter("error")
        with pytest.raises(NonFiniteError, match="the inputs reaching an analog array became non-finite .* epoch 1"):
            trainer.run_epoch(0)


def test_digits_are_scikit_learns_digits():
    from sklearn.datasets import load_digits

    from archsim.nn.data import digits_arrays

    pixels, labels = digits_arrays()
    reference = load_digits()
    np.testing.assert_array_equal(pixels, reference.data)
    np.testing.assert_array_equal(labels, reference.target)
