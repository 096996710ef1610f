"""Device response models, per-device parameters (device-to-device variation) and symmetric points.

The models themselves are listed in :mod:`archsim.devices.registry` (codes, defaults, references); the table
below describes their shapes.

A pulse moves a device by a mean step ``m`` (up: ``+scale_up * q_up(w)``, down: ``-scale_down * q_down(w)``),
plus cycle-to-cycle noise of std ``sqrt((dw_min_std * m)^2 + (dw_min_std_add * scale)^2)``, then the weight is
clipped to the device's own bounds ``[b_min, b_max]``. Shapes ``q`` (weights in normalised units):

=============  =====================================================  ===============================================
model          q_up(w)                                                q_down(w)
=============  =====================================================  ===============================================
constant_step  1                                                      1
linear_step    1 - g_up * w / w_max   (nominal w_max, aihwkit          1 - g_down * w / w_min   (nominal w_min)
               LinearStep with mean_bound_reference)
soft_bounds    1 - w / b_max          (aihwkit SoftBounds)             1 - w / b_min
power          (1 - w / b_max)^g_up   (seed paper: (1 - w/tau)^gamma)  (1 - w / b_min)^g_down
exponential    (e^{g_up (1 - w/b_max)} - 1) / (e^{g_up} - 1)            same with g_down and b_min
pow_step       ((b_max - w) / (b_max - b_min))^g_up (aihwkit PowStep)   ((w - b_min) / (b_max - b_min))^g_down
exp_step       max(1 - A_up e^{g_up z}, 0) (aihwkit ExpStep)            max(1 - A_down e^{-g_down z}, 0)
               z = 2 a w / (b_max - b_min) + b
piecewise      linear interpolation of piecewise_up over nodes          same with piecewise_down
               equally spaced in [b_min, b_max] (aihwkit PiecewiseStep)
=============  =====================================================  ===============================================

``up_down = c`` scales the steps as aihwkit 1.1's C++ does by default (``shrink_smaller``: the weaker
direction x(1 - |c|)). With ``w_max = tau``, ``w_min = -tau`` and ``plus_minus`` scaling the soft-bounds device is
the seed paper's offset device ``q+ = (1 + c)(1 - w/tau)``, ``q- = (1 - c)(1 + w/tau)``, symmetric point ``c*tau``.

Device-to-device variation follows aihwkit's ``PulsedDevice.populate``: ``b_max = w_max (1 + w_max_dtod xi)``,
``b_min = w_min (1 + w_min_dtod xi)`` (signs enforced), gain ``= 1 + dw_min_dtod xi``, ``r = up_down_dtod xi``,
``scale_up = dw_min (gain + c_up + r)``, ``scale_down = dw_min (gain + c_down - r)`` (absolute values; c_up,
c_down from ``up_down`` and its scaling), and slopes ``g = |gamma + gamma_dtod xi|`` (pow_step: aihwkit's
``gamma (gain_g + bias +- r_g)`` from ``pow_gamma_dtod``, ``pow_up_down``, ``pow_up_down_dtod``).
All of it is drawn once per device from the array's seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.config.device import DeviceConfig
from archsim.devices.kernels import _alternating_fixed_points, _mean_steps, _simulate_alternating
from archsim.devices.registry import (  # the glob layout (G_*, N_GLOBALS) is the registry's; imported from here too
    BY_NAME,
    CONSTANT_STEP,
    G_ES_A,
    G_ES_A_DOWN,
    G_ES_A_UP,
    G_ES_B,
    G_STD_ADD,
    G_STD_MULT,
    G_W_MAX,
    G_W_MIN,
    G_WRITE_STD,
    LINEAR_STEP,
    N_GLOBALS,
    POW_STEP,
    POWER,
    SOFT_BOUNDS,
)

MODEL_CODES = {name: spec.code for name, spec in BY_NAME.items()}


@dataclass
class DeviceState:
    """Conductance state and per-device parameters of a 2-D block of devices (outputs x inputs).

    ``w`` is the device's true (persistent) weight; ``w_apparent`` what a read sees (``w`` plus write noise)
    and is ``None`` when the device has no write noise. Parameters are float32 to halve memory traffic in
    the update kernels; weights stay float64 so that tiny expected-value updates are not rounded away.
    """

    w: np.ndarray
    w_apparent: np.ndarray | None
    scale_up: np.ndarray
    scale_down: np.ndarray
    bound_max: np.ndarray
    bound_min: np.ndarray
    gamma_up: np.ndarray
    gamma_down: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.w.shape

    def apparent(self) -> np.ndarray:
        """The weights a read sees."""
        return self.w if self.w_apparent is None else self.w_apparent

    def view(self, rows: slice, cols: slice) -> DeviceState:
        """A sub-block sharing memory with this state."""
        return DeviceState(
            self.w[rows, cols],
            None if self.w_apparent is None else self.w_apparent[rows, cols],
            *(getattr(self, name)[rows, cols] for name in PARAMETER_NAMES),
        )

    def copy(self) -> DeviceState:
        return DeviceState(
            self.w.copy(),
            None if self.w_apparent is None else self.w_apparent.copy(),
            *(np.ascontiguousarray(getattr(self, name)) for name in PARAMETER_NAMES),
        )


PARAMETER_NAMES = ("scale_up", "scale_down", "bound_max", "bound_min", "gamma_up", "gamma_down")


@dataclass(frozen=True)
class DeviceModel:
    """Tile-wide description of a device family, unpacked for the kernels."""

    code: int
    glob: np.ndarray  # float64 (N_GLOBALS,)
    piecewise_up: np.ndarray  # float64 nodes
    piecewise_down: np.ndarray
    dw_min: float  # nominal dw_min, normalised units
    dw0: float  # mean step at w = 0 of the nominal device: update management's granularity

    @property
    def noisy(self) -> bool:
        return bool(self.glob[G_STD_MULT] > 0.0 or self.glob[G_STD_ADD] > 0.0)

    @property
    def write_noise(self) -> bool:
        return bool(self.glob[G_WRITE_STD] > 0.0)


def device_model(cfg: DeviceConfig) -> DeviceModel:
    """Unpack ``cfg`` into the tile-wide arrays the kernels take."""
    glob = np.zeros(N_GLOBALS)
    glob[G_STD_MULT] = cfg.dw_min_std
    glob[G_STD_ADD] = cfg.dw_min_std_add
    glob[G_WRITE_STD] = cfg.write_noise_std * cfg.dw_min  # aihwkit scales write noise by dw_min
    glob[G_W_MAX] = cfg.w_max
    glob[G_W_MIN] = cfg.w_min
    glob[G_ES_A] = cfg.es_a
    glob[G_ES_B] = cfg.es_b
    glob[G_ES_A_UP] = cfg.es_A_up
    glob[G_ES_A_DOWN] = cfg.es_A_down
    pw_up = np.asarray(cfg.piecewise_up, dtype=np.float64)
    pw_down = np.asarray(cfg.piecewise_down, dtype=np.float64)
    code = MODEL_CODES[cfg.model]
    return DeviceModel(code, glob, pw_up, pw_down, float(cfg.dw_min), _step_at_zero(cfg, code, glob, pw_up, pw_down))


def _step_scales(cfg: DeviceConfig, gain, asym):
    """``(scale_up, scale_down)``: dw_min times the device gain and the up/down asymmetry (``up_down``)."""
    c = cfg.up_down
    if cfg.up_down_scaling == "plus_minus":
        up_bias, down_bias = c, -c
    else:  # aihwkit C++: the weaker direction shrinks by |c|
        up_bias, down_bias = min(c, 0.0), -max(c, 0.0)
    return np.abs(cfg.dw_min * (gain + up_bias + asym)), np.abs(cfg.dw_min * (gain + down_bias - asym))


def _step_at_zero(cfg: DeviceConfig, code: int, glob: np.ndarray, pw_up: np.ndarray, pw_down: np.ndarray) -> float:
    """Mean of the up and down step of the nominal device (no device-to-device spread) at w = 0.

    This is the weight granularity aihwkit's update management divides by (``calcWeightGranularity``):
    ``dw_min 0.5^gamma`` for pow_step, the step at 0 for exp_step and piecewise, ``dw_min`` for the
    others. Deliberate difference: aihwkit ignores ``up_down`` here (and its exp_step averages the down step
    with itself), archsim averages both directions, so the realised update at w = 0 is ``-lr d x`` on average
    over the two signs; the two agree whenever ``up_down = 0``. A nominal step of 0 falls back to dw_min,
    as in aihwkit.
    """
    scale_up, scale_down = _step_scales(cfg, 1.0, 0.0)
    gamma_up, gamma_down = cfg.gammas()
    one = lambda v: np.full(1, v, dtype=np.float64)
    args = (
        one(scale_up),
        one(scale_down),
        one(cfg.w_max),
        one(cfg.w_min),
        one(gamma_up),
        one(gamma_down),
        glob,
        pw_up,
        pw_down,
    )
    zero = np.zeros(1)
    step = 0.5 * float(_mean_steps(code)(zero, True, *args)[0] + _mean_steps(code)(zero, False, *args)[0])
    return step if np.isfinite(step) and step > 0.0 else float(cfg.dw_min)


def sample_device_state(cfg: DeviceConfig, shape: tuple[int, int], rng: np.random.Generator) -> DeviceState:
    """Draw every device's parameters once (device-to-device variation); weights start at 0 (clipped).

    The draws come in a fixed order, one full array per quantity, so a seed fixes every device.
    """
    gauss = lambda: rng.standard_normal(shape)
    bound_max = cfg.w_max * (1.0 + cfg.w_max_dtod * gauss())
    bound_min = cfg.w_min * (1.0 + cfg.w_min_dtod * gauss())
    # aihwkit enforce_consistency: bounds keep their side of zero, and never cross.
    bound_max, bound_min = np.abs(bound_max), -np.abs(bound_min)
    gain = 1.0 + cfg.dw_min_dtod * gauss()
    asym = cfg.up_down_dtod * gauss()
    scale_up, scale_down = _step_scales(cfg, gain, asym)
    gamma_up0, gamma_down0 = cfg.gammas()
    spec = BY_NAME[cfg.model]
    if spec.code == POW_STEP:
        # aihwkit PowStepRPUDevice::populate: a relative gain shared by both exponents and their asymmetry
        gamma_gain = 1.0 + cfg.pow_gamma_dtod * gauss()
        gamma_asym = cfg.pow_up_down_dtod * gauss()
        c = cfg.pow_up_down
        up_bias, down_bias = min(c, 0.0), -max(c, 0.0)
        gamma_up = gamma_up0 * (gamma_gain + up_bias + gamma_asym)
        gamma_down = gamma_down0 * (gamma_gain + down_bias - gamma_asym)
    else:
        spread = spec.gamma_spread  # aihwkit: exp-step fit parameters are tile-wide
        gamma_up = np.full(shape, gamma_up0) + (cfg.gamma_up_dtod * gauss() if spread else 0.0)
        gamma_down = np.full(shape, gamma_down0) + (cfg.gamma_down_dtod * gauss() if spread else 0.0)
    if spec.gamma_nonnegative:
        # aihwkit: slopes/exponents may not change sign (no step growing towards the bound)
        gamma_up, gamma_down = np.abs(gamma_up), np.abs(gamma_down)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    state = DeviceState(
        np.zeros(shape),
        None,
        f32(scale_up),
        f32(scale_down),
        f32(bound_max),
        f32(bound_min),
        f32(gamma_up),
        f32(gamma_down),
    )
    np.clip(state.w, state.bound_min, state.bound_max, out=state.w)
    if cfg.write_noise_std > 0.0:
        state.w_apparent = state.w.copy()
    return state


def mean_steps(model: DeviceModel, state: DeviceState, w: np.ndarray | None = None, up: bool = True) -> np.ndarray:
    """Mean step magnitude of one up (or down) pulse for every device of ``state`` at weights ``w``."""
    w = state.w if w is None else np.asarray(w, dtype=np.float64)
    flat = lambda a: np.ascontiguousarray(a).reshape(-1)
    out = _mean_steps(model.code)(
        flat(w),
        up,
        *(flat(getattr(state, n)) for n in PARAMETER_NAMES),
        model.glob,
        model.piecewise_up,
        model.piecewise_down,
    )
    return out.reshape(state.shape)


def response_parts(
    model: DeviceModel, state: DeviceState, w: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(F, G)`` of the theory at weights ``w``: ``F = (q- + q+)/2``, ``G = (q- - q+)/2``, q = step/dw0
    (the nominal mean step at 0 that update management scales by, so ``F(0) = 1`` for the nominal device)."""
    up = mean_steps(model, state, w, True) / model.dw0
    down = mean_steps(model, state, w, False) / model.dw0
    return (down + up) / 2.0, (down - up) / 2.0


# ---------------------------------------------------------------------------------------------
# symmetric points
# ---------------------------------------------------------------------------------------------
def symmetric_points(model: DeviceModel, state: DeviceState, method: str = "auto", cycles: int = 0) -> np.ndarray:
    """Each device's symmetric point, where up and down steps balance (normalised weight units).

    ``auto`` uses the closed form where one exists (soft_bounds; linear_step; power with equal exponents;
    constant_step, where the steps never balance and an alternating train ends at the bound the larger
    step drives towards, or stays put if they are equal — reported as 0 clipped to the bounds), and
    otherwise the fixed point of the noise-free alternating up/down train, found by bisection (the exact
    limit of simulating that train). ``simulate`` runs ``cycles`` noise-free alternating cycles from 0.
    """
    flat = lambda a: np.ascontiguousarray(a, dtype=np.float64).reshape(-1)
    su, sd, bmax, bmin, gu, gd = (flat(getattr(state, n)) for n in PARAMETER_NAMES)
    args = (model.glob, model.piecewise_up, model.piecewise_down)
    if method == "simulate":
        if cycles < 1:
            raise ValueError("method='simulate' needs cycles >= 1")
        w0 = np.clip(np.zeros_like(su), bmin, bmax)
        return _simulate_alternating(model.code)(w0, su, sd, bmax, bmin, gu, gd, *args, cycles).reshape(state.shape)
    if method not in ("auto", "closed_form", "fixed_point"):
        raise ValueError(f"unknown method {method!r}")
    closed = None
    if method != "fixed_point":
        closed = _closed_form(model, su, sd, bmax, bmin, gu, gd)
    if closed is None:
        if method == "closed_form":
            raise ValueError("this device model has no closed-form symmetric point")
        closed = _alternating_fixed_points(model.code)(su, sd, bmax, bmin, gu, gd, *args, 64)  # 2^-64 of the range
    return np.clip(closed, bmin, bmax).reshape(state.shape)


def _closed_form(model: DeviceModel, su, sd, bmax, bmin, gu, gd) -> np.ndarray | None:
    with np.errstate(divide="ignore", invalid="ignore"):
        if model.code == SOFT_BOUNDS:
            # su (1 - w/bmax) = sd (1 - w/bmin)
            return (su - sd) / (su / bmax - sd / bmin)
        if model.code == LINEAR_STEP:
            w_max, w_min = model.glob[G_W_MAX], model.glob[G_W_MIN]
            slope = su * gu / w_max - sd * gd / w_min
            return np.where(
                slope != 0.0,
                (su - sd) / np.where(slope != 0.0, slope, 1.0),
                np.where(su > sd, bmax, np.where(su < sd, bmin, 0.0)),
            )
        if model.code == POWER and np.array_equal(gu, gd):
            # (1 - w/bmax)^g su = (1 - w/bmin)^g sd  ->  1 - w/bmax = r (1 - w/bmin), r = (sd/su)^(1/g)
            ratio = (sd / su) ** (1.0 / np.where(gu != 0.0, gu, 1.0))
            solution = (ratio - 1.0) / (ratio / bmin - 1.0 / bmax)
            return np.where(gu != 0.0, solution, np.where(su > sd, bmax, np.where(su < sd, bmin, 0.0)))
        if model.code == CONSTANT_STEP:
            return np.where(su > sd, bmax, np.where(su < sd, bmin, 0.0))
    return None
