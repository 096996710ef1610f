import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The training tier: tests that train a network, run the simulator end to end or start a Dask cluster
#: (seconds to a minute each). They carry the ``slow`` marker, so ``pytest -m "not slow"`` is the fast unit
#: tier (under a minute) and plain ``pytest`` (CI) runs everything. One home for the list: test files do not
#: mark themselves. Entries are ``file::test`` (a test, all its parametrisations) or ``file`` (every test of it).
SLOW_TESTS = (
    "test_algorithms.py::test_analog_sgd_settles_at_the_penalised_minimum",
    "test_algorithms.py::test_tiki_taka_is_ten_times_closer_than_analog_sgd",
    "test_algorithms.py::test_offset_symmetric_point_defeats_plain_tiki_taka",
    "test_algorithms.py::test_zero_shifting_restores_tiki_taka",
    "test_algorithms.py::test_transfer_adc_precision_matters_only_when_coarse",
    "test_algorithms.py::test_tiki_taka_beats_analog_sgd_on_digits_at_small_tau",
    "test_algorithms.py::test_every_algorithm_learns_digits",
    "test_nn.py::test_digital_sgd_reaches_95_percent_on_digits",
    "test_nn.py::test_lenet_digital_trains",
    "test_run.py",
    "test_output_scaling.py::test_a_run_with_the_whole_digital_periphery_trains_and_charges_it",
    "test_sweep_e2e.py",
    "test_api.py::test_sweep_runs_points_and_load_sweep_reads_them",
    "test_api.py::test_archsim_run_reports_what_simulate_reports",
)


def _slow_entry(item: pytest.Item) -> str | None:
    file = item.path.name
    name = getattr(item, "originalname", None) or item.name
    for entry in SLOW_TESTS:
        if entry == file or entry == f"{file}::{name}":
            return entry
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    used = set()
    for item in items:
        entry = _slow_entry(item)
        if entry is not None:
            item.add_marker(pytest.mark.slow)
            used.add(entry)
    # A renamed or deleted test must not silently leave the list: warn about entries that name a test of a
    # collected file and matched nothing (unless -k narrowed the collection).
    collected_files = {item.path.name for item in items}
    for entry in SLOW_TESTS:
        file, _, test = entry.partition("::")
        if test and entry not in used and file in collected_files and not config.getoption("keyword"):
            warnings.warn(pytest.PytestWarning(f"tests/conftest.py SLOW_TESTS: {entry} matches no test"), stacklevel=1)


def run_cli(*args, cwd=None, timeout=600):
    """Run the real CLI in a subprocess; returns CompletedProcess with text output."""
    return subprocess.run([sys.executable, "-m", "archsim", *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli
