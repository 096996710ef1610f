"""Devices written in aihwkit's spelling respond as aihwkit 1.1's C++ does (needs the optional extra
``archsim[aihwkit]``; skipped without it). The full comparison is ``tools/aihwkit_parity.py``."""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("aihwkit")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import aihwkit_parity as parity  # noqa: E402

from archsim.config.device import DeviceConfig  # noqa: E402


@pytest.mark.parametrize("label, cls, params", [c for c in parity.DEVICE_CASES
                                                if c[0] in ("soft bounds, up_down 0.2",
                                                            "pow step, gamma 2, up_down 0.2", "exp step, A/a/b")])
def test_noise_free_pulse_response_equals_aihwkits(label, cls, params):
    # One device, no noise or spread: the traces agree to float32 rounding (aihwkit computes in float32).
    devices, _, _ = parity.aihwkit_modules()
    device = getattr(devices, cls)(**params)
    quiet = {**parity.QUIET, **parity.QUIET_EXTRA.get(cls, {})}
    device = dataclasses.replace(device, **{k: v for k, v in quiet.items() if hasattr(device, k)})
    model = parity.MODEL_OF_CLASS[cls]
    ours = DeviceConfig(model=model, **{**parity.device_fields(device), **quiet})
    directions = np.array([1] * 300 + [-1] * 300, dtype=np.int8)
    theirs = parity.aihwkit_trace(device, directions, 1, 0)[:, 0]
    mine, _ = parity.archsim_trace(ours, directions, 1, 0)
    assert np.max(np.abs(theirs - mine)) < 1e-5 * (device.w_max - device.w_min)
