"""Public drivers of the pulsed update: update management, then the kernels of :mod:`archsim.devices.kernels`.

``dW = -lr * d x^T`` per sample. With update management (Gokmen & Vlasov 2016; aihwkit
``PulsedUpdateMetaParameter.performUpdateManagement``) row i fires in each of BL slots with probability
``p_i = min(A |d_i|, 1)`` and column j with ``q_j = min(B |x_j|, 1)``, where ``A B BL = lr / dw0``, so a
device expects ``BL p_i q_j = lr |d_i| |x_j| / dw0`` coincidences. ``dw0`` is the model's mean step at w = 0
(:attr:`DeviceModel.dw0`, aihwkit's weight granularity; not the nominal dw_min for power-like, exp-step or
piecewise devices), so the realised update at w = 0 is ``-lr d x`` on average. ``A`` and ``B`` are balanced so
``A max|d| = B max|x|``; update-BL management shortens BL to ``ceil(lr max|x| max|d| / dw0)``. When that
count exceeds BL, ``d`` is scaled so that the ``x`` side does not clip (as aihwkit does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from archsim.config.device import UPDATE_MODES, UpdateConfig
from archsim.devices import kernels
from archsim.devices.models import DeviceModel, DeviceState
from archsim.devices.rng import NORMAL_TABLE
from archsim.errors import NonFiniteValues

_DUMMY = np.zeros((1, 1))
_MAX_COUNT = float(2**62)  # expected-mode pulse statistics saturate here instead of overflowing int64
_DUMMY_FLAT = np.zeros(1)

#: Below this much work a kernel runs serially on the calling thread (the work of a stochastic update is the
#: devices its trains visit, fired rows x fired columns per sample; of the other modes, devices x samples; of a
#: whole-pulse write, devices + 8 per pulse): waking
#: numba's worker threads costs more than a small update takes, and when the machine has more runnable jobs
#: than cores a parallel region also waits for every worker's time slice (measured on the 2-core development
#: machine under load: a 64x64 x 10-sample update took 0.19 ms on one thread and 4.5 ms on two). Results do
#: not depend on the choice (counter-based random streams), and a run compiles only the kind it calls.
MULTITHREAD_MIN_WORK = 1 << 18


def _run_kernel(name: str, model: DeviceModel, work: int, *args) -> None:
    """Run the update kernel ``name`` of :mod:`archsim.devices.kernels` built for ``model``'s device code, with
    rows on numba's threads only for large ``work``."""
    getattr(kernels, name)(model.code, work >= MULTITHREAD_MIN_WORK)(*args)


@dataclass
class SampleStats:
    """Per-sample counts of one block's update; arrays of shape (samples,), int64."""

    bl: np.ndarray  # BL slots used (0 when the sample needs no pulses)
    row_pulses: np.ndarray  # row (output side) driver pulses
    col_pulses: np.ndarray  # column (input side) driver pulses
    device_pulses: np.ndarray  # coincidences: device write pulses

    @property
    def samples(self) -> int:
        return int(self.bl.shape[0])


@dataclass
class ManagedUpdate:
    """Per-sample pulse-train plan: BL and the probability scales of the d (row) and x (column) sides."""

    bl: np.ndarray  # int64 (samples,)
    scale_d: np.ndarray  # float64 (samples,): p_i = min(scale_d |d_i|, 1)
    scale_x: np.ndarray  # float64 (samples,): q_j = min(scale_x |x_j|, 1)


def update_management(
    x_abs_max: np.ndarray, d_abs_max: np.ndarray, lr: float, dw0: float, cfg: UpdateConfig
) -> ManagedUpdate:
    """BL and probability scales per sample (aihwkit's ``performUpdateManagement``, um_grad_scale = 1) from
    the samples' largest |x| and |d| (>= 0); ``dw0`` is the weight granularity, the device's mean step at
    w = 0 (normalised units). The same rules :func:`pulsed_update` applies (one kernel serves both)."""
    x_abs_max = np.ascontiguousarray(x_abs_max, dtype=np.float64)
    d_abs_max = np.ascontiguousarray(d_abs_max, dtype=np.float64)
    if x_abs_max.ndim != 1 or x_abs_max.shape != d_abs_max.shape:
        raise ValueError(f"expected two (samples,) vectors, got {x_abs_max.shape} and {d_abs_max.shape}")
    if (x_abs_max < 0).any() or (d_abs_max < 0).any():
        raise ValueError("the largest |x| and |d| of a sample are >= 0")
    plan = kernels._update_plan(
        x_abs_max[:, None],
        d_abs_max[:, None],
        float(lr),
        float(dw0),
        cfg.bl,
        cfg.update_management,
        cfg.update_bl_management,
        np.uint64(0),
        0,
        False,
    )
    return ManagedUpdate(plan[2], plan[3], plan[4])


def _writable(values: np.ndarray) -> np.ndarray:
    """``values``, copied if read-only: numba types a read-only array apart and would compile every kernel again
    for it."""
    return values if values.flags.writeable else values.copy()


def _noise_args(model: DeviceModel) -> tuple:
    """The arguments every update kernel takes after its pulse data: the normal table and the noise switches."""
    return NORMAL_TABLE, model.noisy, model.write_noise


def _check_update_inputs(state: DeviceState, x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``d`` as writable C-contiguous float64 (no copy when they are already), shapes checked; the
    kernel of :func:`pulsed_update` checks that they are finite on its way."""
    x = _writable(np.ascontiguousarray(x, dtype=np.float64))
    d = _writable(np.ascontiguousarray(d, dtype=np.float64))
    n_out, n_in = state.shape
    if x.ndim != 2 or d.ndim != 2 or x.shape[0] != d.shape[0] or x.shape[1] != n_in or d.shape[1] != n_out:
        raise ValueError(f"expected x (batch, {n_in}) and d (batch, {n_out}), got {x.shape} and {d.shape}")
    return x, d


def _state_args(state: DeviceState, model: DeviceModel) -> tuple:
    """The arrays every update kernel takes first (the model code selects the kernel, see _run_kernel)."""
    w_app = state.w_apparent if state.w_apparent is not None else _DUMMY
    return (
        state.w,
        w_app,
        state.scale_up,
        state.scale_down,
        state.bound_max,
        state.bound_min,
        state.gamma_up,
        state.gamma_down,
        model.glob,
        model.piecewise_up,
        model.piecewise_down,
    )


def pulsed_update(
    state: DeviceState,
    model: DeviceModel,
    x: np.ndarray,
    d: np.ndarray,
    lr: float,
    cfg: UpdateConfig,
    block_key: int,
    first_sample: int,
) -> SampleStats:
    """Apply ``dW = -lr d_b x_b^T`` for each sample b in order, in place on ``state``.

    ``x`` is (samples, inputs), ``d`` (samples, outputs). Random numbers are keyed by ``block_key`` and the
    global sample numbers ``first_sample, first_sample + 1, ...``. ``cfg.mode`` selects stochastic pulse
    trains, deterministic mean counts, or the expected-value update.
    """
    x, d = _check_update_inputs(state, x, d)
    # one kernel plans the batch: keys, management, signs, the stochastic trains and the finiteness check
    (finite, keys, bl, scale_d, scale_x, d_sign, x_sign, row_bits, col_bits, row_pulses, col_pulses, work,
     device_pulses, sample_pulses) = kernels._update_plan(
        x,
        d,
        float(lr),
        model.dw0,
        cfg.bl,
        cfg.update_management,
        cfg.update_bl_management,
        np.uint64(block_key),
        first_sample,
        cfg.mode == "stochastic",
    )  # fmt: skip
    if not finite:
        raise NonFiniteValues("x and d")
    if not 0.0 <= lr < math.inf:
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    if cfg.mode not in UPDATE_MODES:
        raise ValueError(f"unknown update mode {cfg.mode!r}")
    if x.shape[0] == 0:
        return SampleStats(bl, row_pulses, col_pulses, sample_pulses)
    args = _state_args(state, model)
    if cfg.mode == "stochastic":
        _run_kernel(
            "_stochastic_update",
            model,
            work,
            *args,
            d_sign,
            x_sign,
            row_bits,
            col_bits,
            keys,
            *_noise_args(model),
            device_pulses,
            sample_pulses,
        )
        return SampleStats(bl, row_pulses, col_pulses, sample_pulses)
    work = state.w.size * x.shape[0]
    x_abs, d_abs = np.abs(x), np.abs(d)
    if cfg.mode == "expected":
        _run_kernel(
            "_expected_update",
            model,
            work,
            *args,
            x,
            d,
            float(lr),
            model.dw0,
            keys,
            *_noise_args(model),
        )
        p_d = np.minimum(d_abs * scale_d[:, None], 1.0)
        p_x = np.minimum(x_abs * scale_x[:, None], 1.0)
        expected_device = np.rint(
            np.minimum((lr / model.dw0) * d_abs.sum(axis=1) * x_abs.sum(axis=1), _MAX_COUNT)
        ).astype(np.int64)
        return SampleStats(
            bl,
            np.rint(bl * p_d.sum(axis=1)).astype(np.int64),
            np.rint(bl * p_x.sum(axis=1)).astype(np.int64),
            expected_device,
        )
    # mean_count, aihwkit DenseBitLineMaker::generateCountsMean: round(BL * |v| * scale), at most BL
    d_counts = np.minimum(np.floor(bl[:, None] * d_abs * scale_d[:, None] + 0.5), bl[:, None]).astype(np.int64)
    x_counts = np.minimum(np.floor(bl[:, None] * x_abs * scale_x[:, None] + 0.5), bl[:, None]).astype(np.int64)
    _run_kernel(
        "_mean_count_update",
        model,
        work,
        *args,
        d_sign,
        x_sign,
        d_counts,
        x_counts,
        bl,
        keys,
        *_noise_args(model),
        device_pulses,
        sample_pulses,
    )
    return SampleStats(bl, d_counts.sum(axis=1), x_counts.sum(axis=1), sample_pulses)


def apply_pulse_counts(state: DeviceState, model: DeviceModel, counts: np.ndarray, key: int) -> int:
    """Fire ``|counts[i, j]|`` pulses at each device (up where positive); returns the pulses fired."""
    counts = np.ascontiguousarray(counts)
    if counts.shape != state.shape:
        raise ValueError(f"expected counts of shape {state.shape}, got {counts.shape}")
    if not np.issubdtype(counts.dtype, np.integer):
        if not np.all(np.isfinite(counts)) or not np.all(counts == np.round(counts)):
            raise ValueError("pulse counts must be integers")
    counts = counts.astype(np.int64, copy=False)
    counts = _writable(counts)
    args = _state_args(state, model)
    pulses = int(kernels._pulse_total(counts))
    work = counts.size + 8 * pulses  # a rough guess, not measured: a pulse costs about as much as 8 idle devices
    _run_kernel("_apply_counts", model, work, *args, counts, np.uint64(key), *_noise_args(model))
    return pulses


def pulse_protocol(
    state: DeviceState, model: DeviceModel, directions: np.ndarray, key: int
) -> tuple[np.ndarray, np.ndarray]:
    """One pulse per device per step (``directions``: +1 up, -1 down) on a (1, M) state, in place.

    Returns the mean and population std over devices of the apparent weight after each step.
    """
    if state.shape[0] != 1:
        raise ValueError("pulse_protocol expects a (1, devices) state")
    flat = DeviceState(
        state.w.reshape(-1),
        None if state.w_apparent is None else state.w_apparent.reshape(-1),
        *(
            getattr(state, n).reshape(-1)
            for n in ("scale_up", "scale_down", "bound_max", "bound_min", "gamma_up", "gamma_down")
        ),
    )
    directions = np.ascontiguousarray(directions, dtype=np.int8)
    mean = np.empty(directions.shape[0])
    std = np.empty(directions.shape[0])
    w_app = flat.w_apparent if flat.w_apparent is not None else _DUMMY_FLAT
    kernels._pulse_protocol(model.code)(
        flat.w,
        w_app,
        flat.scale_up,
        flat.scale_down,
        flat.bound_max,
        flat.bound_min,
        flat.gamma_up,
        flat.gamma_down,
        model.glob,
        model.piecewise_up,
        model.piecewise_down,
        directions,
        np.uint64(key),
        *_noise_args(model),
        mean,
        std,
    )
    return mean, std
