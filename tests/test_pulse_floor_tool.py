"""``tools/bench_pulse_floor.py`` measures the floor under the update kernel with kernels that must do archsim's
work to the bit: if the update's physics changes, the tool must say so rather than time something else."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"


@pytest.fixture
def floor_tool(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))
    import bench_pulse_floor

    yield bench_pulse_floor
    sys.modules.pop("bench_pulse_floor", None)


def test_the_floor_kernels_give_archsims_weights(floor_tool, capsys):
    assert floor_tool.main(["--runs", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["floor_same_bits_as_archsim"] is True
    assert 0.5 < result["pulses_per_device"] < 2.0  # bench_devices' workload: ~1 pulse per device
    fastest = result[f"{result['fastest']}_ns_per_device"]
    same_work = ("archsim", "archsim_hit_list", "floor_plain", "floor_first_pulses_apart")  # not the noiseless one
    assert result["fastest"] in same_work
    assert fastest == min(result[f"{name}_ns_per_device"] for name in same_work)
    # archsim's vector loops rest on this: LLVM gathers from a constant table, not from an argument array
    assert result["table_gather_vectorised_from_argument"] is False


def test_a_floor_kernel_that_does_other_work_is_refused(floor_tool, monkeypatch):
    @floor_tool.nb.njit
    def wrong_floor(
        w, scale_up, scale_down, b_max, b_min, std_mult, d_sign, x_sign, row_bits, col_bits, key, table, noisy
    ):
        w[0, 0] += 1e-9  # one device off by a hair

    monkeypatch.setattr(floor_tool, "_floor", wrong_floor)
    with pytest.raises(SystemExit, match="not the same work"):
        floor_tool.main(["--runs", "1", "--json"])
