"""A fuzz corpus that stays: config mutations, odd --set syntax, odd files, and every device model x
algorithm at extreme valid parameters. The contract for every input: exit status 2 with one short
``error:`` line, or exit status 0 with finite numbers (and analog weights inside their device bounds).

Budget: a few seconds in the fast tier (fixed examples, ``derandomize``), a full search when the ``CI``
environment variable is set (``CI=1 pytest tests/test_fuzz.py``). Hypothesis prints the failing input.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archsim.config.device import DEVICE_MODELS, DeviceConfig  # noqa: E402
from archsim.config.hw import HwConfig  # noqa: E402
from archsim.config.loader import RunConfig, load_run_config  # noqa: E402
from archsim.config.schema import MAX_MAGNITUDE, iter_fields  # noqa: E402
from archsim.config.units import format_quantity  # noqa: E402
from archsim.config.workload import ALGORITHMS  # noqa: E402
from archsim.errors import ArchsimError, ConfigError, NonFiniteError  # noqa: E402
from clihelp import MAX_ERROR_CHARS, CliResult, run_inprocess  # noqa: E402

IN_CI = bool(os.environ.get("CI"))
WORKLOAD = "workloads/fcn_digits.yaml"
#: A small network and data set: each training example costs a fraction of a second.
TINY = ["dataset.max_train=20", "training.epochs=1", "model.layers=[{out: 8, activation: sigmoid}, {out: 10}]"]


def budget(fast: int, full: int):
    """Fast tier: ``fast`` fixed examples; CI: ``full`` random ones (ARCHSIM_FUZZ_EXAMPLES overrides both)."""
    chosen = full if IN_CI else fast
    chosen = int(os.environ.get("ARCHSIM_FUZZ_EXAMPLES", chosen))
    return settings(max_examples=chosen, deadline=None, derandomize=not IN_CI, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


def assert_contract(result: CliResult) -> None:
    """Exit 2 with one short error line, or exit 0; never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode in (0, 2), (result.returncode, result.stderr[-3000:])
    if result.returncode == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
        assert len(lines[0]) <= MAX_ERROR_CHARS


def assert_finite_json(text: str) -> dict:
    """Strict JSON (NaN and Infinity refused) whose numbers are all finite."""
    def refuse(constant):
        raise AssertionError(f"non-strict JSON constant {constant}")

    data = json.loads(text, parse_constant=refuse)

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, float):
            assert math.isfinite(node), node

    walk(data)
    return data


# -- strategies --------------------------------------------------------------------------------------

ODD_TEXT = ["1e999GHz", "-5ns", "1e-3", "0x10", ".inf", "-.inf", ".nan", "NaN", "~", "", "null", "[", "]", "{a: 1}",
            "1.0e6", "10 ns", "1GHz GHz", "!!python/object/apply:os.system [ls]", "&a [*a]", "*a", "'", '"',
            "9" * 500, "1e1000000GHz", "..", "a.b", "-", "=", "µs", "1_000", "0o17", "+.5", "1:20", "yes", "off",
            "x" * 3000, "\t", "#", "|", ">", "%YAML 1.2", "---", "@", "`"]
scalars = st.one_of(
    st.integers(min_value=-10**30, max_value=10**30),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(ODD_TEXT),
    st.booleans(),
    st.none(),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=6)
LEAF_KEYS = sorted(key for key, _, _ in iter_fields(RunConfig))
keys = st.one_of(st.sampled_from(LEAF_KEYS), st.sampled_from(LEAF_KEYS).map(lambda k: k.rsplit(".", 1)[0]),
                 st.sampled_from(["model.layers.0.out", "model.layers.7.out", "model.input_shape.0",
                                  "model.input_shape.0.x", "hw", "hw.device.preset", "base", "training.lr.x"]))


def as_yaml(value) -> str:
    """The value written as one line of YAML, or (for text) sometimes raw, as a user would type it."""
    if isinstance(value, str):
        return value
    try:
        return yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip().removesuffix("\n...")
    except (yaml.YAMLError, OverflowError, ValueError):
        return repr(value)


assignments = st.builds(lambda k, v: f"{k}={as_yaml(v)}", keys, values)
odd_assignments = st.text(alphabet=st.sampled_from(list("hw.adcbits=0123456789[]{}:,-_ eE'\"\\µ\n\t#&*!")),
                          max_size=40)


# -- fuzz: configuration mutations and odd --set syntax (validate: cheap) -------------------------------

@budget(fast=40, full=2000)
@given(st.lists(st.one_of(assignments, odd_assignments), min_size=1, max_size=3))
def test_set_mutations_validate_or_fail_in_one_line(sets):
    args = ["validate", WORKLOAD]
    for assignment in sets:
        args += ["--set", assignment]
    assert_contract(run_inprocess(*args))


# -- fuzz: odd files -----------------------------------------------------------------------------------

YAML_PIECES = ["training:", "  epochs: 2", "  epochs: 3", "  lr: 1e-3", "hw:", "  adc:", "    bits: 99",
               "    bits: 8", "base: self.yaml", "base: missing.yaml", "base: [a]", "&a x: 1", "y: *a", "y: *zz",
               "- 1", "? complex", ": value", "!!binary aGVsbG8=", "!!python/name:os.system", "<<: *a", "model:",
               "  layers: [{out: 0}]", "  input_shape: [0]", "{", "[[[[[[[[", "'unterminated", "\t tab: 1",
               "dataset: {name: mnist}", "algorithm: {name: ttv2, n_reads_per_transfer: 100000}", "---", "..."]
file_texts = st.one_of(
    st.lists(st.sampled_from(YAML_PIECES), max_size=8).map("\n".join),
    st.text(max_size=200),
    st.binary(max_size=200),
)


@budget(fast=40, full=1500)
@given(file_texts, st.booleans())
def test_odd_files_validate_or_fail_in_one_line(content, as_hardware):
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder) / ("hw_configs" if as_hardware else "")
        where.mkdir(exist_ok=True)
        path = where / "self.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        assert_contract(run_inprocess("validate", path))
        if as_hardware:
            assert_contract(run_inprocess("run", WORKLOAD, "--hw", path, "--out", Path(folder) / "o",
                                          "--no-progress", "--set", "training.epochs=0"))


# -- extreme valid parameters ----------------------------------------------------------------------------

def extreme_values(field, tp) -> list:
    """Values at the edges of a numeric field's declared range (or far out where it has no bound)."""
    meta = field.metadata
    integer = tp is int or tp == (int | None)
    found = []
    for key, nudge in (("ge", 0), ("le", 0), ("gt", 1), ("lt", -1)):
        bound = meta.get(key)
        if bound is None:
            continue
        if integer:
            found.append(int(bound) + nudge)
        else:
            found.append(bound + nudge * max(abs(bound) * 1e-9, 1e-12))
    if meta.get("le") is None and meta.get("lt") is None:
        found += [10**6] if integer else [1e6, MAX_MAGNITUDE]
    if meta.get("ge") is None and meta.get("gt") is None:
        found += [-10**6] if integer else [-1e6, -MAX_MAGNITUDE]
    if not integer:
        found += [1e-9]
    if meta.get("kind"):
        return [format_quantity(abs(v), meta["kind"]) for v in found]
    return found


def numeric_fields(cls, prefix: str) -> list[tuple[str, list]]:
    chosen = []
    for key, field, tp in iter_fields(cls, prefix):
        if tp in (int, float, int | None, float | None) and field.metadata.get("choices") is None:
            chosen.append((key, extreme_values(field, tp)))
    return chosen


DEVICE_FIELDS = numeric_fields(DeviceConfig, "hw.device.")
HW_FIELDS = numeric_fields(HwConfig, "hw.")


def extreme_sets(fields, max_size=3):
    return st.lists(st.sampled_from(fields).flatmap(
        lambda kv: st.sampled_from(kv[1]).map(lambda v, k=kv[0]: f"{k}={v}")), min_size=1, max_size=max_size)


@budget(fast=25, full=800)
@given(extreme_sets(HW_FIELDS))
def test_hardware_at_its_extremes_costs_finite_numbers_or_fails_in_one_line(sets):
    args = ["ert", "default", "--json"]
    for assignment in sets:
        args += ["--set", assignment.removeprefix("hw.")]
    result = run_inprocess(*args)
    assert_contract(result)
    if result.returncode == 0:
        for entry in assert_finite_json(result.stdout):
            assert entry["energy_pj"] >= 0 and entry["latency_ns"] >= 0, entry


def analog_arrays(network):
    for layer in network.matrix_layers:
        for name, value in vars(layer.store).items():
            members = value.values() if isinstance(value, dict) else [value]
            for member in members:
                if hasattr(member, "get_bounds"):
                    yield f"layer {layer.index} {name}", member


def train_extreme_device(model: str, algorithm: str, sets: list[str]):
    """Train the tiny workload; returns the trainer, or None when the configuration is refused."""
    from archsim.nn.trainer import Trainer

    try:
        config = load_run_config(WORKLOAD, None, TINY + [f"hw.device.model={model}",
                                                         f"algorithm.name={algorithm}"] + sets)
        trainer = Trainer(config, record=False)
    except ConfigError as error:
        assert "\n" not in str(error) and len(str(error)) <= MAX_ERROR_CHARS
        return None
    trainer.run_epoch(0)
    return trainer


def check_weights(trainer) -> None:
    for name, array in analog_arrays(trainer.network):
        weights = array.get_weights()
        assert np.isfinite(weights).all(), name
        if array.device.write_noise_std == 0.0:  # write noise perturbs the apparent weight on purpose
            low, high = array.get_bounds()
            assert (weights >= low - 1e-12).all() and (weights <= high + 1e-12).all(), name


device_cases = st.tuples(st.sampled_from(DEVICE_MODELS), st.sampled_from(ALGORITHMS),
                         extreme_sets(DEVICE_FIELDS) | extreme_sets(DEVICE_FIELDS).map(
                             lambda s: s + ["hw.update.mode=expected"]))


@budget(fast=6, full=400)
@given(device_cases)
def test_every_device_and_algorithm_at_extremes_trains_or_stops_in_one_line(case):
    """A run that goes non-finite must stop with one line (the guard); otherwise weights stay in bounds."""
    model, algorithm, sets = case
    try:
        trainer = train_extreme_device(model, algorithm, sets)
    except NonFiniteError as error:  # the run-level guard: one line, no report
        assert "\n" not in str(error) and "became non-finite" in str(error)
        return
    if trainer is not None:
        check_weights(trainer)


# Valid device settings whose steps once overflowed to inf/NaN (issue 15): they must train to finite weights, not stop
# through the run-level guard.
OVERFLOWING_DEVICES = [
    ("exponential", "ttv2", ["hw.device.w_max=0.01", "hw.device.w_min=-1.0", "hw.device.gamma_up=10",
                             "hw.device.gamma_down=10"]),
    ("exponential", "analog_sgd", ["hw.device.w_max=0.01", "hw.device.w_min=-1.0", "hw.device.gamma_up=10",
                                   "hw.device.gamma_down=10"]),
    ("soft_bounds", "analog_sgd", ["hw.update.mode=expected", "hw.device.w_max_dtod=1.0"]),
]


@pytest.mark.parametrize("model,algorithm,sets", OVERFLOWING_DEVICES)
def test_valid_devices_never_go_non_finite(model, algorithm, sets):
    trainer = train_extreme_device(model, algorithm, sets + ["training.epochs=1", "dataset.max_train=200"])
    assert trainer is not None
    check_weights(trainer)


@budget(fast=2, full=60)
@given(extreme_sets(HW_FIELDS + DEVICE_FIELDS, max_size=2))
def test_whole_run_at_extremes_reports_finite_numbers_or_fails_in_one_line(sets):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "o"
        args = ["run", WORKLOAD, "--out", out, "--no-progress"]
        for assignment in TINY + sets:
            args += ["--set", assignment]
        result = run_inprocess(*args)
        assert_contract(result)
        if result.returncode == 0:
            assert_finite_json((out / "report.json").read_text())
        else:
            assert not (out / "report.json").exists()


def test_guard_error_is_an_archsim_error():
    assert issubclass(NonFiniteError, ArchsimError)


def test_device_response_of_an_overflowing_device_is_finite_or_one_line(tmp_path):
    """The issue's example: every CSV row was nan with exit status 0."""
    csv_path = tmp_path / "dr.csv"
    result = run_inprocess("device-response", "--pulses", "10", "--cycles", "1", "--devices", "5", "--csv", csv_path,
                           "--set", "hw.device.model=exponential", "--set", "hw.device.w_max=0.01", "--set",
                           "hw.device.w_min=-1.0", "--set", "hw.device.gamma_up=10", "--set", "hw.device.gamma_down=10")
    assert_contract(result)
    if result.returncode == 0:
        rows = csv_path.read_text().splitlines()[1:]
        assert rows and all(math.isfinite(float(v)) for row in rows for v in row.split(",")[2:])
    else:
        assert "became non-finite" in result.stderr and not csv_path.exists()
