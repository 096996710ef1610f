"""The device models: one entry per model (its code, aihwkit counterpart, defaults, parameters and reference
response). Everything else derives from this table: the configuration's model choices and gamma defaults,
the model codes each kernel is built for, the slow reference responses the kernels are tested against.

Adding a model touches this file (its entry and reference formula) and :mod:`archsim.devices.kernels` (the
jitted formula in ``_FORMULAS``, under its code). Pure Python: the configuration imports it without numba.

A reference returns the *uncapped* mean step magnitude of one pulse in the direction ``up`` from weight ``w``
of a device with step scale ``scale`` (dw_min times gain and up/down asymmetry), bounds ``b_max``/``b_min``
and shape parameter ``gamma`` of that direction; ``glob`` is the tile-wide parameter vector
(:data:`N_GLOBALS` entries, laid out by the ``G_*`` indices below: w_max, w_min and the exp-step fit at 3..8) and
``nodes`` the piecewise nodes of that direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

#: Indices into the ``glob`` vector of tile-wide parameters the kernels and the references take, and its length.
G_STD_MULT, G_STD_ADD, G_WRITE_STD, G_W_MAX, G_W_MIN, G_ES_A, G_ES_B, G_ES_A_UP, G_ES_A_DOWN = range(9)
N_GLOBALS = 9


@dataclass(frozen=True)
class ModelSpec:
    """One device response family."""

    name: str
    code: int  # the integer each numba kernel is built for (its step formula in kernels._FORMULAS)
    formula: str  # q_up(w); q_down mirrors it (shown in docs and errors)
    reference: Callable[..., float]  # slow, obviously correct step formula (see module docstring)
    aihwkit: str | None = None  # aihwkit device class with the same response, if any
    gamma_defaults: tuple[float, float] = (0.0, 0.0)  # (gamma_up, gamma_down) when unset
    uses_gamma: bool = False  # the kernels read the per-device gammas
    gamma_spread: bool = True  # gamma_*_dtod applies (aihwkit: exp-step fits are tile-wide)
    gamma_nonnegative: bool = False  # aihwkit: slopes/exponents never change sign
    aliases: dict[str, str] = field(default_factory=dict)  # aihwkit spelling -> archsim field


def _constant(w, up, scale, b_max, b_min, gamma, glob, nodes):
    return scale


def _linear(w, up, scale, b_max, b_min, gamma, glob, nodes):
    w_ref = glob[G_W_MAX] if up else glob[G_W_MIN]  # aihwkit mean_bound_reference: the nominal bound
    return scale * (1.0 - gamma * w / w_ref) if w_ref != 0 else scale


def _soft_bounds(w, up, scale, b_max, b_min, gamma, glob, nodes):
    bound = b_max if up else b_min
    return scale * (1.0 - w / bound) if bound != 0 else 0.0


def _power(w, up, scale, b_max, b_min, gamma, glob, nodes):
    bound = b_max if up else b_min
    return scale * max(1.0 - w / bound, 0.0) ** gamma if bound != 0 else 0.0


def _exponential(w, up, scale, b_max, b_min, gamma, glob, nodes):
    bound = b_max if up else b_min
    if bound == 0:
        return 0.0
    x = 1.0 - w / bound
    return scale * (x if abs(gamma) < 1e-9 else math.expm1(gamma * x) / math.expm1(gamma))


def _exp_step(w, up, scale, b_max, b_min, gamma, glob, nodes):
    span = b_max - b_min
    if span <= 0:
        return 0.0
    z = 2.0 * w / span * glob[G_ES_A] + glob[G_ES_B]
    if up:
        return scale * max(1.0 - glob[G_ES_A_UP] * math.exp(gamma * z), 0.0)
    return scale * max(1.0 - glob[G_ES_A_DOWN] * math.exp(-gamma * z), 0.0)


def _pow_step(w, up, scale, b_max, b_min, gamma, glob, nodes):
    span = b_max - b_min
    if span <= 0:
        return 0.0
    distance = b_max - w if up else w - b_min
    return scale * max(distance / span, 0.0) ** gamma


def _piecewise(w, up, scale, b_max, b_min, gamma, glob, nodes):
    n_sections = len(nodes) - 1
    if n_sections <= 0 or b_max <= b_min:
        return scale * float(nodes[0])
    w_scaled = max((w - b_min) / (b_max - b_min) * n_sections, 0.0)
    index = min(math.floor(w_scaled), n_sections - 1)
    t = min(w_scaled - index, 1.0)
    return scale * ((1.0 - t) * float(nodes[index]) + t * float(nodes[index + 1]))


_EXP_STEP_ALIASES = {"A_up": "es_A_up", "A_down": "es_A_down", "a": "es_a", "b": "es_b"}

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("constant_step", 0, "1", _constant, aihwkit="ConstantStepDevice"),
    ModelSpec(
        "linear_step",
        1,
        "1 - gamma_up w / w_max (nominal w_max)",
        _linear,
        aihwkit="LinearStepDevice",
        uses_gamma=True,
        gamma_nonnegative=True,
    ),
    ModelSpec("soft_bounds", 2, "1 - w / b_max", _soft_bounds, aihwkit="SoftBoundsDevice"),
    ModelSpec(
        "power",
        3,
        "(1 - w / b_max)^gamma_up (seed paper)",
        _power,
        gamma_defaults=(1.0, 1.0),
        uses_gamma=True,
        gamma_nonnegative=True,
    ),
    ModelSpec(
        "exponential",
        4,
        "(e^{gamma_up (1 - w/b_max)} - 1) / (e^gamma_up - 1) (seed paper)",
        _exponential,
        gamma_defaults=(1.0, 1.0),
        uses_gamma=True,
    ),
    ModelSpec(
        "exp_step",
        5,
        "max(1 - A_up e^{gamma_up z}, 0), z = 2 a w / (b_max - b_min) + b",
        _exp_step,
        aihwkit="ExpStepDevice",
        gamma_defaults=(12.44625, 12.78785),
        uses_gamma=True,
        gamma_spread=False,
        aliases=_EXP_STEP_ALIASES,
    ),
    ModelSpec(
        "pow_step",
        6,
        "((b_max - w) / (b_max - b_min))^gamma_up",
        _pow_step,
        aihwkit="PowStepDevice",
        gamma_defaults=(1.0, 1.0),
        uses_gamma=True,
        gamma_nonnegative=True,
    ),
    ModelSpec(
        "piecewise",
        7,
        "piecewise_up interpolated over nodes spanning [b_min, b_max]",
        _piecewise,
        aihwkit="PiecewiseStepDevice",
    ),
)

BY_NAME: dict[str, ModelSpec] = {m.name: m for m in MODELS}
BY_CODE: dict[int, ModelSpec] = {m.code: m for m in MODELS}
NAMES: tuple[str, ...] = tuple(m.name for m in MODELS)
assert sorted(BY_CODE) == list(range(len(MODELS))), "model codes must be 0..n-1"

# The codes, for the numba kernels (module-level ints are compile-time constants there).
CONSTANT_STEP, LINEAR_STEP, SOFT_BOUNDS, POWER, EXPONENTIAL, EXP_STEP, POW_STEP, PIECEWISE = (
    BY_NAME[n].code
    for n in (
        "constant_step",
        "linear_step",
        "soft_bounds",
        "power",
        "exponential",
        "exp_step",
        "pow_step",
        "piecewise",
    )
)
