"""VGG-8 / CIFAR-10 on DNN+NeuroSim V2.1's assumptions against the manual's example (tools/validate_neurosim.py
prints the same rows): feed-forward and error calculation per image, within 2x either way.

Rows listed in KNOWN_GAPS are not yet within 2x, and say why; a gap closed by later work turns its row into an
unexpected pass (XPASS), the cue to remove it.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "validate_neurosim.py"
_spec = importlib.util.spec_from_file_location("validate_neurosim", TOOL)
validate_neurosim = importlib.util.module_from_spec(_spec)
sys.modules["validate_neurosim"] = validate_neurosim
_spec.loader.exec_module(validate_neurosim)

#: quantity -> why archsim is not yet within 2x
KNOWN_GAPS = {
    "feed-forward energy per image": "archsim keeps each step's line buffers and errors in one 256 KB buffer and "
                                     "spills the rest to DRAM; NeuroSim charges stored activations to its weight-"
                                     "gradient phase; arrays, converters and NoC alone are 2.4x NeuroSim's",
    "error calculation energy per image": "as feed-forward, and the errors kept for the pulsed update (32-bit "
                                          "words) spill to DRAM",
}
QUANTITIES = [f"{name} {kind} per image" for _, name, _, _ in validate_neurosim.PUBLISHED
              for kind in ("latency", "energy")]


@pytest.fixture(scope="module")
def measurement():
    return validate_neurosim.measure(batch=2)


def test_the_rows_are_the_manuals_phases(measurement):
    assert [row.quantity for row in measurement.rows] == QUANTITIES
    published = {row.quantity: row.published for row in measurement.rows}
    assert published["feed-forward latency per image"] == pytest.approx(26.03 / 50_000 * 1e6)
    assert published["error calculation energy per image"] == pytest.approx(2.275 / 50_000 * 1e6)
    assert measurement.tiles_used == 800  # VGG-8 on 128x128 sub-arrays, one cell per weight


@pytest.mark.parametrize("quantity", QUANTITIES)
def test_within_two_times_the_published_figure(measurement, quantity):
    if quantity in KNOWN_GAPS:
        pytest.xfail(KNOWN_GAPS[quantity])
    row = next(row for row in measurement.rows if row.quantity == quantity)
    assert row.within, f"{quantity}: archsim {row.archsim:.4g} {row.unit}, published {row.published:.4g}"
