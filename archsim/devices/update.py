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
import time
from dataclasses import dataclass

import numba
import numpy as np

from archsim.config.device import UPDATE_MODES, UpdateConfig
from archsim.devices import kernels
from archsim.devices.models import DeviceModel, DeviceState
from archsim.devices.rng import NORMAL_TABLE
from archsim.errors import NonFiniteValues

_DUMMY = np.zeros((1, 1))
_MAX_COUNT = float(2**62)  # expected-mode pulse statistics saturate here instead of overflowing int64
_DUMMY_FLAT = np.zeros(1)

#: Below this much work a kernel always runs serially on the calling thread (the work of a stochastic update is
#: the devices its trains visit, fired rows x fired columns per sample; of the other modes, devices x samples; of a
#: whole-pulse write, devices + 8 per pulse): waking numba's worker threads costs about as much as a smaller update
#: takes, and a run whose updates all stay below it (the default run) never compiles a parallel kernel (3.7 s on a
#: cold cache). At or above it, :class:`ThreadChoice` measures which way is faster. Results do not depend on the
#: choice (counter-based random streams).
MULTITHREAD_MIN_WORK = 1 << 13

#: From this much work (devices visited) a stochastic update runs the kernel that fires the first pulses of its dense
#: samples (``kernels._dense_sample``) in vector loops (``kernels._dense_passes``; same bits). That kernel compiles
#: ~2.5 s longer for a gain of ~3 ns per dense device: smaller calls (every call of the default run: at most ~5,000)
#: keep the kernel without them, so a first run compiles none; an FCN's 256 x 128 layer at batch 10 (~330,000) uses
#: them.
DENSE_MIN_WORK = 1 << 15


class ThreadChoice:
    """Whether an update kernel's call runs its rows on numba's threads or serially: whichever way has run faster
    per unit of work lately, on this machine, for calls of that kernel and device model on blocks of that shape
    and that much work (its power of two).

    On the quiet 2-core development machine the threads pay from about 4,000 devices visited (the README's
    Benchmarks give the gain); on a loaded one a parallel region also waits for every worker's time slice (a
    64 x 64 x 10-sample update took 0.19 ms on one thread and 4.5 ms on two). So both ways
    are timed: each one's first call is not counted (it may compile the kernel), and the faster way by the median
    of its last three calls' seconds per work unit runs (a median: a parallel call now and then waits for a worker
    the OS ran elsewhere, and a mean would follow it). The slower way is tried again after ``probe_first`` calls,
    then after twice as many each time it is still slower (at most ``probe_last``): a machine that gets busy or
    quiet is followed, and a loaded one rarely pays for a slow parallel region.

    ``forced`` (True or False) skips the measuring: every call at or above :data:`MULTITHREAD_MIN_WORK` runs that
    way. ``clock`` gives seconds (tests pass a fake one).
    """

    def __init__(
        self, forced: bool | None = None, probe_first: int = 16, probe_last: int = 1024, clock=time.perf_counter
    ):
        self.forced = forced
        self.probe_first = probe_first
        self.probe_last = probe_last
        self.clock = clock
        self._ways: dict[tuple, _Ways] = {}

    def run(self, name: str, code: int, work: int, args: tuple) -> bool:
        """Call kernel ``name`` of :mod:`archsim.devices.kernels` for device model ``code`` on ``args`` (the weights
        first), the way chosen for ``work``; returns True when it ran on the threads."""
        return self.call((name, code), lambda parallel: getattr(kernels, name)(code, parallel), work, args)[1]

    def call(self, kind: tuple, kernel_of, work: int, args: tuple) -> tuple:
        """Call ``kernel_of(parallel)`` (a kernel that runs on numba's threads when ``parallel``) on ``args`` (its
        first argument's shape and ``kind`` tell calls of one kind apart), the way chosen for ``work``; returns the
        kernel's result and whether it ran on the threads."""
        if work < MULTITHREAD_MIN_WORK or self.forced is not None:
            parallel = work >= MULTITHREAD_MIN_WORK and bool(self.forced)
            return kernel_of(parallel)(*args), parallel
        key = (*kind, args[0].shape, int(work).bit_length())
        ways = self._ways.get(key)
        if ways is None:
            ways = self._ways[key] = _Ways(self.probe_first, self.probe_last)
        parallel = ways.next() if numba.get_num_threads() > 1 else False
        kernel = kernel_of(parallel)
        start = self.clock()
        result = kernel(*args)
        ways.observe(int(parallel), (self.clock() - start) / work)
        return result, parallel


class _Ways:
    """What :class:`ThreadChoice` knows of one kind of call: per way (0 serial, 1 threads) the calls seen and the
    seconds per work unit of its last three counted calls, and the calls of the faster way left before the slower
    one is tried again (``probe_first`` to ``probe_last``)."""

    __slots__ = ("seen", "recent", "countdown", "interval", "probing", "probe_first", "probe_last")

    def __init__(self, probe_first: int, probe_last: int):
        self.probe_first, self.probe_last = probe_first, probe_last
        self.seen = [0, 0]
        self.recent: tuple[list[float], list[float]] = ([], [])
        self.interval = probe_first
        self.countdown = probe_first
        self.probing = False

    def faster(self) -> int:
        serial, threads = (sorted(recent)[len(recent) // 2] for recent in self.recent)
        return 0 if serial <= threads else 1

    def next(self) -> bool:
        """The way of the next call: each way until it has a counted call, then the faster, the slower as a probe."""
        for way in (0, 1):
            if self.seen[way] < 2:
                return bool(way)
        if self.countdown <= 0:
            self.probing = True
            return not self.faster()
        self.countdown -= 1
        return bool(self.faster())

    def observe(self, way: int, seconds_per_work: float) -> None:
        self.seen[way] += 1
        if self.seen[way] == 1:
            return  # (a first call may compile)
        probe, self.probing = self.probing, False
        recent = self.recent[way]
        recent.append(seconds_per_work)
        if len(recent) > 3:
            del recent[0]
        if probe:  # the slower way was tried: wait twice as long if it is still slower, or start over if it won
            self.interval = min(2 * self.interval, self.probe_last) if way != self.faster() else self.probe_first
            self.countdown = self.interval


#: The choice every update kernel call goes through.
THREADS = ThreadChoice()


def _run_kernel(name: str, model: DeviceModel, work: int, *args) -> None:
    """Run the update kernel ``name`` of :mod:`archsim.devices.kernels` built for ``model``'s device code, with
    rows on numba's threads when :data:`THREADS` finds that faster for ``work``."""
    THREADS.run(name, model.code, work, args)


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
    plan_args = (
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
    )
    # its work: the x and d values it looks at (a large batch's samples' trains are drawn on both cores when faster)
    (finite, keys, bl, scale_d, scale_x, d_sign, x_sign, row_bits, col_bits, row_pulses, col_pulses, work,
     device_pulses, sample_pulses) = THREADS.call(
        ("_update_plan",), kernels._update_plan_kernel, x.shape[0] * (x.shape[1] + d.shape[1]), plan_args
    )[0]  # fmt: skip
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
        # a call this large may fire dense samples' first pulses in vector loops (a kernel that compiles longer)
        dense = work >= DENSE_MIN_WORK
        THREADS.call(
            ("_stochastic_update", model.code, dense),
            lambda parallel: kernels._stochastic_update(model.code, parallel, dense),
            work,
            (
                *args,
                d_sign,
                x_sign,
                row_bits,
                col_bits,
                keys,
                *_noise_args(model),
                device_pulses,
                sample_pulses,
            ),
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
