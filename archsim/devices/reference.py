"""Slow, obviously correct references for the kernels of :mod:`archsim.devices.kernels`.

Plain Python loops over samples, devices, slots and pulses, on Python floats and integers, drawing the same
counter-based random numbers (:mod:`archsim.devices.rng`, ``py_*`` versions). They follow the formulas of
:mod:`archsim.devices.models` and the update-management rules of :mod:`archsim.devices.update` line by
line, for small arrays in tests only.
"""

from __future__ import annotations

import math

import numpy as np

from archsim.config.device import UpdateConfig
from archsim.devices.models import DeviceModel, DeviceState
from archsim.devices.registry import BY_CODE
from archsim.devices.rng import (
    COL_SALT,
    DEVICE_SALT,
    NORMAL_TABLE,
    ROW_SALT,
    WRITE_NOISE_DRAW,
    py_normal,
    py_stream,
    py_subkey,
    py_uniform32,
)


def ref_mean_step(
    model: DeviceModel, w: float, up: bool, su: float, sd: float, bmax: float, bmin: float, gu: float, gd: float
) -> float:
    """Mean step magnitude of one pulse: the table in :mod:`archsim.devices.models`, capped at the range."""
    return min(_ref_formula(model, w, up, su, sd, bmax, bmin, gu, gd), bmax - bmin)


def _ref_formula(
    model: DeviceModel, w: float, up: bool, su: float, sd: float, bmax: float, bmin: float, gu: float, gd: float
) -> float:
    return BY_CODE[model.code].reference(
        w,
        up,
        su if up else sd,
        bmax,
        bmin,
        gu if up else gd,
        model.glob,
        model.piecewise_up if up else model.piecewise_down,
    )


def _params(state: DeviceState, i: int, j: int) -> tuple[float, ...]:
    return tuple(
        float(getattr(state, n)[i, j])
        for n in ("scale_up", "scale_down", "bound_max", "bound_min", "gamma_up", "gamma_down")
    )


def ref_pulse_device(model: DeviceModel, w: float, n: int, up: bool, params: tuple[float, ...], dev_key: int) -> float:
    su, sd, bmax, bmin, gu, gd = params
    std_mult, std_add = float(model.glob[0]), float(model.glob[1])
    noisy = std_mult > 0 or std_add > 0
    for k in range(n):
        step = ref_mean_step(model, w, up, su, sd, bmax, bmin, gu, gd)
        if noisy:
            scale = su if up else sd
            std = abs(std_mult * step) if std_add == 0 else math.sqrt((std_mult * step) ** 2 + (std_add * scale) ** 2)
            step += std * py_normal(dev_key, k)
        w = w + step if up else w - step
        w = min(max(w, bmin), bmax)
    return w


def _write_noise(model: DeviceModel, state: DeviceState, i: int, j: int, dev_key: int) -> None:
    if model.glob[2] > 0:
        assert state.w_apparent is not None, "a state with write noise keeps its apparent weights"
        state.w_apparent[i, j] = state.w[i, j] + float(model.glob[2]) * py_normal(dev_key, WRITE_NOISE_DRAW)


def ref_management(x_row, d_row, lr: float, dw0: float, cfg: UpdateConfig) -> tuple[int, float, float]:
    """BL, scale_d, scale_x of one sample (aihwkit performUpdateManagement), with the kernel's float operations
    in the kernel's order, so the two agree to the bit."""
    x_max = max(abs(v) for v in x_row)
    d_max = max(abs(v) for v in d_row)
    if lr <= 0 or x_max == 0 or d_max == 0:
        return 0, 0.0, 0.0
    bl = cfg.bl
    a = b = math.sqrt(lr / (dw0 * cfg.bl))
    if not (cfg.update_management or cfg.update_bl_management):
        return bl, a, b
    k = lr * x_max * d_max / dw0
    if cfg.update_bl_management:
        bl = cfg.bl if k >= cfg.bl else max(math.ceil(k), 1)
        a = b = math.sqrt(lr / (dw0 * bl))
    if cfg.update_management:
        d_val = d_max * (cfg.bl / k) if k > cfg.bl else d_max
        a = a * math.sqrt(x_max / d_val)
        b = b * math.sqrt(d_val / x_max)
    return bl, a, b


def ref_management_batch(
    x_abs_max: np.ndarray, d_abs_max: np.ndarray, lr: float, dw0: float, cfg: UpdateConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`ref_management` of every sample from its largest |x| and |d|: BL (int64), scale_d and scale_x arrays."""
    samples = zip(np.asarray(x_abs_max).tolist(), np.asarray(d_abs_max).tolist(), strict=True)
    bl, scale_d, scale_x = zip(*[ref_management([x], [d], lr, dw0, cfg) for x, d in samples], strict=True)
    return np.array(bl, dtype=np.int64), np.array(scale_d, dtype=np.float64), np.array(scale_x, dtype=np.float64)


def ref_train(key: int, index: int, salt: int, magnitude: float, scale: float, bl: int) -> list[bool]:
    """Slot-by-slot Bernoulli train of one row or column."""
    p = magnitude * scale
    if p <= 0 or bl <= 0:
        return [False] * bl
    threshold = 1 << 32 if p >= 1.0 else int(p * 4294967296.0)
    sub = py_subkey(key, index, salt)
    return [py_uniform32(sub, t) < threshold for t in range(bl)]


def ref_pulsed_update(
    state: DeviceState,
    model: DeviceModel,
    x: np.ndarray,
    d: np.ndarray,
    lr: float,
    cfg: UpdateConfig,
    block_key: int,
    first_sample: int,
) -> dict[str, list[int]]:
    """Reference of :func:`archsim.devices.update.pulsed_update`, in place on ``state``; returns per-sample stats."""
    n_out, n_in = state.shape
    stats: dict[str, list[int]] = {"bl": [], "row_pulses": [], "col_pulses": [], "device_pulses": []}
    for b in range(x.shape[0]):
        key = py_stream(block_key, first_sample + b)
        bl, scale_d, scale_x = ref_management(x[b], d[b], lr, model.dw0, cfg)
        fired = 0
        if cfg.mode == "expected":
            for i in range(n_out):
                for j in range(n_in):
                    dw = -lr * float(d[b, i]) * float(x[b, j])
                    if dw == 0.0:
                        continue
                    up = dw > 0
                    params = _params(state, i, j)
                    expected_pulses = abs(dw) / model.dw0
                    step = ref_mean_step(model, float(state.w[i, j]), up, *params)
                    change = expected_pulses * step
                    dev_key = py_subkey(key, i * n_in + j, DEVICE_SALT)
                    if model.noisy:
                        scale = params[0] if up else params[1]
                        std_mult, std_add = float(model.glob[0]), float(model.glob[1])
                        std = (
                            abs(std_mult * step)
                            if std_add == 0
                            else math.sqrt((std_mult * step) ** 2 + (std_add * scale) ** 2)
                        )
                        change += math.sqrt(expected_pulses) * std * py_normal(dev_key, 0)
                    w = float(state.w[i, j]) + (change if up else -change)
                    state.w[i, j] = min(max(w, params[3]), params[2])
                    _write_noise(model, state, i, j, dev_key)
            p_d = [min(abs(v) * scale_d, 1.0) for v in d[b]]
            p_x = [min(abs(v) * scale_x, 1.0) for v in x[b]]
            stats["bl"].append(bl)
            stats["row_pulses"].append(round(bl * sum(p_d)))
            stats["col_pulses"].append(round(bl * sum(p_x)))
            stats["device_pulses"].append(round(lr / model.dw0 * sum(abs(v) for v in d[b]) * sum(abs(v) for v in x[b])))
            continue
        if cfg.mode == "mean_count":
            d_counts = [min(math.floor(bl * abs(float(v)) * scale_d + 0.5), bl) for v in d[b]]
            x_counts = [min(math.floor(bl * abs(float(v)) * scale_x + 0.5), bl) for v in x[b]]
            pulses = [
                [math.floor(d_counts[i] / bl * x_counts[j] + 0.5) if bl else 0 for j in range(n_in)]
                for i in range(n_out)
            ]
            rows, cols = sum(d_counts), sum(x_counts)
        else:
            row_trains = [ref_train(key, i, ROW_SALT, abs(float(d[b, i])), scale_d, bl) for i in range(n_out)]
            col_trains = [ref_train(key, j, COL_SALT, abs(float(x[b, j])), scale_x, bl) for j in range(n_in)]
            pulses = [
                [sum(1 for t in range(bl) if row_trains[i][t] and col_trains[j][t]) for j in range(n_in)]
                for i in range(n_out)
            ]
            rows, cols = sum(map(sum, row_trains)), sum(map(sum, col_trains))
        for i in range(n_out):
            for j in range(n_in):
                n = pulses[i][j]
                if n == 0:
                    continue
                up = np.sign(d[b, i]) * np.sign(x[b, j]) < 0
                dev_key = py_subkey(key, i * n_in + j, DEVICE_SALT)
                state.w[i, j] = ref_pulse_device(model, float(state.w[i, j]), n, up, _params(state, i, j), dev_key)
                _write_noise(model, state, i, j, dev_key)
                fired += n
        stats["bl"].append(bl)
        stats["row_pulses"].append(rows)
        stats["col_pulses"].append(cols)
        stats["device_pulses"].append(fired)
    return stats


def ref_apply_counts(state: DeviceState, model: DeviceModel, counts: np.ndarray, key: int) -> int:
    n_out, n_in = state.shape
    fired = 0
    for i in range(n_out):
        for j in range(n_in):
            c = int(counts[i, j])
            if c == 0:
                continue
            dev_key = py_subkey(key, i * n_in + j, DEVICE_SALT)
            state.w[i, j] = ref_pulse_device(model, float(state.w[i, j]), abs(c), c > 0, _params(state, i, j), dev_key)
            _write_noise(model, state, i, j, dev_key)
            fired += abs(c)
    return fired


def ref_pulse_protocol(state: DeviceState, model: DeviceModel, directions, key: int) -> tuple[list[float], list[float]]:
    n_devices = state.shape[1]
    means, stds = [], []
    for step, direction in enumerate(directions):
        step_key = py_stream(key, step)
        for k in range(n_devices):
            dev_key = py_subkey(step_key, k, DEVICE_SALT)
            state.w[0, k] = ref_pulse_device(
                model, float(state.w[0, k]), 1, direction > 0, _params(state, 0, k), dev_key
            )
            _write_noise(model, state, 0, k, dev_key)
        values = state.apparent()[0]
        mean = sum(float(v) for v in values) / n_devices
        means.append(mean)
        stds.append(math.sqrt(sum((float(v) - mean) ** 2 for v in values) / n_devices))
    return means, stds


__all__ = [
    "ref_mean_step",
    "ref_pulse_device",
    "ref_management",
    "ref_management_batch",
    "ref_train",
    "ref_pulsed_update",
    "ref_apply_counts",
    "ref_pulse_protocol",
    "NORMAL_TABLE",
]
