"""Private numba kernels of the pulsed update. Public drivers are in :mod:`archsim.devices.update`.

All jitted code of the package lives in this one file: numba's on-disk cache (``cache=True``) is keyed on
the file a function is defined in, so keeping callees here guarantees a cached kernel is rebuilt whenever
anything it calls changes. Every kernel takes arrays and scalars only; the kernels that step devices are built
per device model code by a factory (``_stochastic_update(model, parallel)`` returns the jitted kernel), so a run
compiles only the step formulas of the models it simulates (the update plan, the pulse total and the column
scan are model-free and compiled once); update kernels come serial or ``parallel=True`` over weight rows
(outputs), and :class:`archsim.devices.update.ThreadChoice` picks one per call. Random numbers come from
counter-based streams (see :mod:`archsim.devices.rng`) keyed by (sample, device, pulse), so results do not depend
on the number of threads or on the serial/parallel choice. Each kernel has a slow reference in
:mod:`archsim.devices.reference` that the tests compare against.

Conventions: ``w`` is (outputs, inputs); an update applies ``dW = -lr * d x^T``, so a device (i, j) gets
*up* pulses when ``d_i * x_j < 0``. Pulse trains are bit-packed, ``n_words = ceil(BL / 64)`` uint64 words
per row or column and sample; a device's coincidences are the population count of the AND of its row's
and its column's words.
"""

from __future__ import annotations

import functools
import math

import numba as nb
import numpy as np
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.unsafe.ndarray import to_fixed_tuple

from archsim.devices.registry import (
    BY_CODE,
    CONSTANT_STEP,
    EXP_STEP,
    EXPONENTIAL,
    LINEAR_STEP,
    N_GLOBALS,
    PIECEWISE,
    POW_STEP,
    POWER,
    SOFT_BOUNDS,
)
from archsim.devices.rng import (
    COL_SALT,
    DEVICE_SALT,
    FRACTION_BITS,
    GOLDEN,
    NORMAL_BIN_BITS,
    NORMAL_BINS,
    NORMAL_TABLE,
    ROW_SALT,
    WRITE_NOISE_DRAW,
)

_DEVICE_SALT = np.uint64(DEVICE_SALT)
_ROW_SALT = np.uint64(ROW_SALT)
_COL_SALT = np.uint64(COL_SALT)
_TWO32 = 4294967296.0
_SMALL_GAMMA = 1e-9  # below this |gamma| the exponential model is evaluated as its gamma -> 0 limit
_MAX_EXPECTED_PULSES = 1e18  # expected-value mode: a longer train is capped (finite n * step; already saturated)
_MAX_EXPONENT = 700.0  # exp() arguments are clamped here (e^700 ~ 1e304 < float64 max): no inf, no 0 * inf

# ---------------------------------------------------------------------------------------------
# counter-based random numbers (plain-Python twins in archsim.devices.rng)
# ---------------------------------------------------------------------------------------------
_GOLDEN = np.uint64(GOLDEN)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_S32, _S12 = np.uint64(32), np.uint64(12)
_S52 = np.uint64(64 - NORMAL_BIN_BITS)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_FRACTION_MASK = np.uint64((1 << FRACTION_BITS) - 1)
_LOW32 = np.uint64(0xFFFFFFFF)
_TOP_BIN = NORMAL_BINS - 1
_TOP_BIN_BITS = np.uint64(_TOP_BIN)
# The table as a constant of the compiled code (numba freezes a global array): a loop that gathers from constant
# memory can be vectorised next to stores into the weights, which LLVM cannot tell apart from an argument array
_TABLE = NORMAL_TABLE


@nb.njit(cache=True, inline="always")
def _mix64(z):
    z = (z ^ (z >> _S30)) * _C1
    z = (z ^ (z >> _S27)) * _C2
    return z ^ (z >> _S31)


@nb.njit(cache=True, inline="always")
def _stream(key, index):
    """Hash number ``index`` (0, 1, ...) of the stream ``key``."""
    return _mix64(key + (np.uint64(index) + _ONE) * _GOLDEN)


@nb.njit(cache=True, inline="always")
def _subkey(key, index, salt):
    """Key of sub-stream ``index`` (a device, a row, a column) of ``key``."""
    return _mix64(key ^ ((np.uint64(index) + _ONE) * salt))


@nb.njit(cache=True, inline="always")
def _unit_open(h):
    """Uniform in (0, 1] from the top 53 bits of ``h``."""
    return (np.float64(h >> _S11) + 1.0) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True)
def _normal_tail(h, r):
    """Exact Gaussian tail beyond ``r`` (Marsaglia 1964), draws taken from the stream keyed by ``h``."""
    attempt = 0
    while True:
        x = -math.log(_unit_open(_stream(h, 2 * attempt))) / r
        y = -math.log(_unit_open(_stream(h, 2 * attempt + 1)))
        if 2.0 * y > x * x:
            return r + x
        attempt += 1


@nb.njit(cache=True, inline="always")
def _normal(key, index, table):
    """Standard normal draw number ``index`` of stream ``key``."""
    h = _stream(key, index)
    b = np.int64(h >> _S52)
    if b == 0:
        return -_normal_tail(h, table[_TOP_BIN])
    if b == _TOP_BIN:
        return _normal_tail(h, table[_TOP_BIN])
    return _in_bin(table, b, h)


@nb.njit(cache=True, inline="always")
def _in_bin(table, b, h):
    """The draw of hash ``h`` inside body bin ``b``: the next 40 bits of ``h`` place it between the bin's quantiles
    (linear interpolation of the quantile function)."""
    frac = np.float64((h >> _S12) & _FRACTION_MASK) * (1.0 / 1099511627776.0)
    return table[b] + (table[b + 1] - table[b]) * frac


@nb.njit(cache=True, inline="always")
def _body_normal(h):
    """:func:`_normal`'s draw from hash ``h`` when ``h`` falls in a body bin (:func:`_in_tail` is False), the same
    bits; branch-free (a tail bin's hash gives a clamped body value, which the caller must not use)."""
    bin_of = np.int64(h >> _S52)
    b = np.int64(_TOP_BIN - 1) if bin_of >= _TOP_BIN else (bin_of if bin_of >= 1 else np.int64(1))
    return _in_bin(_TABLE, b, h)


@nb.njit(cache=True, inline="always")
def _in_tail(h):
    """Whether :func:`_normal` draws hash ``h`` from a Gaussian tail (its bin is the first or the last)."""
    bin_of = h >> _S52
    return (bin_of == 0) | (bin_of == _TOP_BIN_BITS)


@intrinsic
def _borrowed(typingctx, arrays):
    """The tuple ``arrays`` as views without reference counts, which the caller keeps alive (a kernel's
    arguments: its Python caller holds them).

    Numba counts references to an array at every assignment, inlined call included: an atomic increment and
    decrement per array, device and pulse in the update loops, several times the update's own work. On a view
    without a memory-info pointer the count is a null test that the compiler removes. (Numba's ``prange``
    bodies run on such views already.)
    """
    if not isinstance(arrays, nb.types.BaseTuple) or not all(isinstance(t, nb.types.Array) for t in arrays):
        return None
    sig = arrays(arrays)

    def codegen(context, builder, signature, args):
        views = []
        for index, array in enumerate(arrays):
            view = context.make_array(array)(context, builder, value=builder.extract_value(args[0], index))
            view.meminfo = cgutils.get_null_value(view.meminfo.type)
            view.parent = cgutils.get_null_value(view.parent.type)
            views.append(view._getvalue())
        return context.make_tuple(builder, signature.return_type, views)

    return sig, codegen


# ---------------------------------------------------------------------------------------------
# mean step of one pulse (numba, used by every kernel)
# ---------------------------------------------------------------------------------------------
@nb.njit(cache=True, inline="always")
def _piecewise(nodes, w, b_min, b_max):
    n_sections = nodes.shape[0] - 1
    if n_sections <= 0 or b_max <= b_min:
        return nodes[0]
    w_scaled = max((w - b_min) / (b_max - b_min) * n_sections, 0.0)
    index = min(np.int64(math.floor(w_scaled)), n_sections - 1)
    t = min(w_scaled - index, 1.0)
    return (1.0 - t) * nodes[index] + t * nodes[index + 1]


@nb.njit(cache=True, inline="always")
def _exp_shape(gamma, x):
    """(e^{gamma x} - 1) / (e^gamma - 1), and its gamma -> 0 limit x, in a form that never divides
    two overflowed exponentials: for gamma > 0 it is e^{gamma (x - 1)} (1 - e^{-gamma x}) / (1 - e^{-gamma}),
    whose only overflow (x > 1, far beyond the bound) is to +inf, which the step cap then limits."""
    if abs(gamma) < _SMALL_GAMMA:
        return x
    if gamma < 0.0:
        return math.expm1(gamma * x) / math.expm1(gamma)
    return math.exp(min(gamma * (x - 1.0), _MAX_EXPONENT)) * (math.expm1(-gamma * x) / math.expm1(-gamma))


@nb.njit(cache=True, inline="always")
def _mean_step(model, w, up, scale_up, scale_down, b_max, b_min, g_up, g_down, glob, pw_up, pw_down):
    """Magnitude (>= 0 for physical devices) of the mean step of one pulse from weight ``w``, finite always.

    A model whose formula grows without bound away from its bound (exponential, power, exp_step with A < 0,
    soft bounds with a bound near 0) has its step capped at the device's range ``b_max - b_min``: a larger
    step only lands on the bound after clipping, and the cap keeps the step, its noise and the weight finite
    (an uncapped inf step plus noise is NaN, which clipping does not remove).

    Written with selects rather than branches on ``up``: pulse directions are random, and a mispredicted
    branch per pulse would cost more than the arithmetic.
    """
    step = _raw_step(model, w, up, scale_up, scale_down, b_max, b_min, g_up, g_down, glob, pw_up, pw_down)
    span = np.float64(b_max) - np.float64(b_min)
    return step if step <= span else span  # also maps a NaN (never produced by the formulas) to the range


@nb.njit(cache=True, inline="always")
def _raw_step(model, w, up, scale_up, scale_down, b_max, b_min, g_up, g_down, glob, pw_up, pw_down):
    """The model's mean step formula (module docstring of :mod:`archsim.devices.models`), uncapped."""
    # Parameters are stored as float32; compute in float64 (math functions of a float32 would run in float32).
    scale = np.float64(scale_up if up else scale_down)
    if scale == 0.0:
        return 0.0  # a device that does not move (and never 0 * inf)
    gamma = np.float64(g_up if up else g_down)
    # float64 bounds (exact): one compiled formula serves the float32 device arrays and float64 nominal values
    return _step_formula(model, w, up, scale, np.float64(b_max), np.float64(b_min), gamma, glob, pw_up, pw_down)


def _step_formula(model, w, up, scale, b_max, b_min, gamma, glob, pw_up, pw_down):
    """Uncapped mean step of one pulse of device model ``model`` with step scale ``scale`` > 0 and the shape
    parameter ``gamma`` of the pulse's direction. Jitted code only: ``model`` must be a compile-time constant
    (each kernel is built for one model by its factory, e.g. :func:`_stochastic_update`), and numba compiles
    that model's formula alone."""
    raise NotImplementedError("_step_formula is resolved by numba at compile time")


# One formula per model code, each with _step_formula's arguments (numba's @overload requires the same names).
# A new model adds its formula here, with its entry in archsim.devices.registry.
def _constant_formula(model, w, up, scale, b_max, b_min, gamma, glob, pw_up, pw_down):
    return scale


def _soft_bounds_formula(model, w, up, scale, b_max, b_min, gamma, glob, pw_up, pw_down):
    bound = np.float64(b_max if up else b_min)
    return scale * (1.0 - w / bound) if bound != 0.0 else 0.0


def _linear_formula(model, w, up, scale, b_max, b_min, gamma, glob, pw_up, pw_down):
    w_ref = glob[3] if up else glob[4]  # slope referenced to the nominal bounds, aihwkit mean_bound_reference
    return scale * (1.0 - gamma * w / w_ref) if w_ref != 0.0 else scale


def _power_formula(model, w, up, scale, b_max, b_min, gamma, glob, pw_up, pw_down):
    bound = np.float64(b_max if up else b_min)
    return scale * max(1.0 - w / bound, 0.0) ** gamma if bound != 0.0 else 0.0


def _exponential_formula(model, w, up, scale, b_max, b_min, gamma, glob, pw_up, pw_down):
    bound = np.float64(b_max if up else b_min)
    return scale * _exp_shape(gamma, 1.0 - w / bound) if bound != 0.0 else 0.0


def _exp_step_formula(model, w, up, scale, b_max, b_min, gamma, glob, pw_up, pw_down):
    span = np.float64(b_max) - np.float64(b_min)
    if span <= 0.0:
        return 0.0
    z = 2.0 * w / span * glob[5] + glob[6]
    factor = glob[7] if up else glob[8]
    exponent = gamma * z if up else -gamma * z
    return scale * max(1.0 - factor * math.exp(min(exponent, _MAX_EXPONENT)), 0.0)


def _pow_step_formula(model, w, up, scale, b_max, b_min, gamma, glob, pw_up, pw_down):
    span = np.float64(b_max) - np.float64(b_min)
    if span <= 0.0:
        return 0.0
    distance = b_max - w if up else w - b_min
    return scale * max(distance / span, 0.0) ** gamma


def _piecewise_formula(model, w, up, scale, b_max, b_min, gamma, glob, pw_up, pw_down):
    return scale * _piecewise(pw_up if up else pw_down, w, np.float64(b_min), np.float64(b_max))


_FORMULAS = {
    CONSTANT_STEP: _constant_formula,
    SOFT_BOUNDS: _soft_bounds_formula,
    LINEAR_STEP: _linear_formula,
    POWER: _power_formula,
    EXPONENTIAL: _exponential_formula,
    EXP_STEP: _exp_step_formula,
    POW_STEP: _pow_step_formula,
    PIECEWISE: _piecewise_formula,
}
# a model without a formula here would fail inside numba's typing on a run's first compile: say it at import
assert set(_FORMULAS) == set(BY_CODE), "every model of archsim.devices.registry needs a formula in _FORMULAS"


@overload(_step_formula, prefer_literal=True)
def _overload_step_formula(model, w, up, scale, b_max, b_min, gamma, glob, pw_up, pw_down):
    if not isinstance(model, nb.types.IntegerLiteral):
        raise nb.core.errors.TypingError("the device model code must be a compile-time constant")
    return _FORMULAS[model.literal_value]


@nb.njit(cache=True, inline="always")
def _noise_std(mean_step, scale, glob):
    """Cycle-to-cycle std of one pulse: multiplicative on the mean step, additive on the step scale."""
    mult = glob[0] * mean_step
    if glob[1] == 0.0:
        return abs(mult)
    add = glob[1] * scale
    return math.sqrt(mult * mult + add * add)


def _specialised(tag: str, **options):
    """``nb.njit(cache=True, **options)`` for a kernel a factory builds for one specialisation (a device model, a
    loop kind), named apart by ``tag``.

    Numba names a compiled function's symbols after its qualified name, a compile counter and its argument types,
    not after the values its closure captures: two specialisations compiled in different processes can get the same
    names, and a process that loads both from the on-disk cache then links one's code to the other's environment
    ("'descr' is NULL" when it returns an array). A name per specialisation keeps their symbols, and their cache
    files, apart."""

    def decorate(function):
        function.__name__ = f"{function.__name__}_{tag}"
        function.__qualname__ = f"{function.__qualname__}_{tag}"
        return nb.njit(cache=True, **options)(function)

    return decorate


def _tag(model: int, parallel: bool) -> str:
    return f"model{model}_{'parallel' if parallel else 'serial'}"


@functools.cache
def _mean_steps(model: int):
    """Element-wise :func:`_mean_step` over flat arrays (for F/G and tests), for device model ``model``."""

    @_specialised(f"model{model}")
    def mean_steps(w, up, scale_up, scale_down, b_max, b_min, g_up, g_down, glob, pw_up, pw_down):
        w, scale_up, scale_down, b_max, b_min, g_up, g_down, glob, pw_up, pw_down = _borrowed(
            (w, scale_up, scale_down, b_max, b_min, g_up, g_down, glob, pw_up, pw_down)
        )
        out = np.empty(w.shape[0])
        for k in range(w.shape[0]):
            out[k] = _mean_step(
                model,
                w[k],
                up,
                scale_up[k],
                scale_down[k],
                b_max[k],
                b_min[k],
                g_up[k],
                g_down[k],
                glob,
                pw_up,
                pw_down,
            )
        return out

    return mean_steps


@nb.njit(cache=True, inline="always")
def _alternate(model, w, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down):
    """One noise-free up pulse then one down pulse, with clipping."""
    w = min(max(w + _mean_step(model, w, True, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down), bmin), bmax)
    return min(max(w - _mean_step(model, w, False, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down), bmin), bmax)


@functools.cache
def _alternating_fixed_points(model: int):
    """Where a noise-free alternating up/down train settles: the zero of g(w) = alternate(w) - w.

    g(b_min) >= 0 and g(b_max) <= 0 (clipping), so bisection brackets a fixed point of the train.
    """

    @_specialised(f"model{model}", parallel=True)
    def alternating_fixed_points(su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, iterations):
        out = np.empty(su.shape[0])
        for k in nb.prange(su.shape[0]):
            lo, hi = np.float64(bmin[k]), np.float64(bmax[k])
            for _ in range(iterations):
                mid = 0.5 * (lo + hi)
                g = _alternate(model, mid, su[k], sd[k], bmax[k], bmin[k], gu[k], gd[k], glob, pw_up, pw_down) - mid
                if g > 0.0:
                    lo = mid
                else:
                    hi = mid
            out[k] = 0.5 * (lo + hi)
        return out

    return alternating_fixed_points


@functools.cache
def _simulate_alternating(model: int):
    """``cycles`` noise-free alternating up/down cycles per device, from ``w0``."""

    @_specialised(f"model{model}", parallel=True)
    def simulate_alternating(w0, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, cycles):
        out = np.empty(su.shape[0])
        for k in nb.prange(su.shape[0]):
            w = w0[k]
            for _ in range(cycles):
                w = _alternate(model, w, su[k], sd[k], bmax[k], bmin[k], gu[k], gd[k], glob, pw_up, pw_down)
            out[k] = w
        return out

    return simulate_alternating


# ---------------------------------------------------------------------------------------------
# update kernels
# ---------------------------------------------------------------------------------------------
@intrinsic
def _popcount(typingctx, word):
    """Population count of a uint64 (one ``popcnt`` instruction on x86-64)."""
    if word != nb.types.uint64:
        return None
    sig = nb.types.int64(nb.types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@nb.njit(cache=True, inline="always")
def _gamma(model, gammas, i, j):
    """A device's gamma, read only for models that use one: constant steps, soft bounds and piecewise devices
    skip the memory traffic (the update kernels are memory-bound for single samples)."""
    if model == CONSTANT_STEP or model == SOFT_BOUNDS or model == PIECEWISE:
        return np.float32(0.0)
    return gammas[i, j]


# _gamma's list of models that read no gamma, compared as literals so each kernel folds it away, is the registry's
assert {code for code, spec in BY_CODE.items() if not spec.uses_gamma} == {CONSTANT_STEP, SOFT_BOUNDS, PIECEWISE}, (
    "_gamma's models without a gamma must be the registry's uses_gamma=False models"
)


@nb.njit(cache=True, inline="always")
def _pulse(w, up, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, noisy, z):
    """One pulse in direction ``up`` at a device from weight ``w``; returns the new (clipped) weight. ``z``: the
    pulse's standard normal draw for its cycle-to-cycle noise (unused unless ``noisy``)."""
    step = _mean_step(model, w, up, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down)
    if noisy:
        step += _noise_std(step, su if up else sd, glob) * z
    return min(max(w + (1.0 if up else -1.0) * step, bmin), bmax)


@nb.njit(cache=True, inline="always")
def _pulse_device(w, first, n, up, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, dev_key, table, noisy):
    """Fire pulses ``first`` to ``n - 1`` of a train of ``n`` in one direction at one device; returns the new
    (clipped) weight.

    Pulse k draws normal number k of the device's stream for its cycle-to-cycle noise, so a train fired in parts
    gives the weight it gives fired at once.
    """
    for k in range(first, n):
        w = _pulse(w, up, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, noisy,
                   _normal(dev_key, k, table) if noisy else 0.0)  # fmt: skip
    return w


# ---------------------------------------------------------------------------------------------
# update plan: management, signs and pulse trains of a batch (one kernel, whatever the device model)
# ---------------------------------------------------------------------------------------------
def _row_loop(parallel: bool):
    """The loop a kernel spreads over numba's threads when ``parallel`` (weight rows of an update driver, samples of an
    update plan): ``prange``, or ``range``."""
    return nb.prange if parallel else range


@nb.njit(cache=True, inline="always")
def _management(x_max, d_max, lr, dw0, bl_max, update_management, update_bl_management):
    """(BL, scale_d, scale_x) of one sample from its largest |x| and |d| (aihwkit's performUpdateManagement,
    um_grad_scale = 1; the rules are in :mod:`archsim.devices.update`). Each float operation is the one, in
    the order, of the NumPy formulation it replaced, so plans are the same to the bit."""
    if not (lr > 0.0 and x_max > 0.0 and d_max > 0.0):
        return 0, 0.0, 0.0
    scale = math.sqrt(lr / (dw0 * bl_max))
    if not (update_management or update_bl_management):
        return bl_max, scale, scale
    expected_max = lr * x_max * d_max / dw0  # pulses the largest |x| |d| pair needs
    bl = bl_max
    if update_bl_management:
        bl = np.int64(min(max(np.ceil(expected_max), 1.0), np.float64(bl_max)))
        scale = math.sqrt(lr / (dw0 * bl))
    scale_d = scale_x = scale
    if update_management:
        if expected_max > bl_max:
            d_max = d_max * (bl_max / expected_max)  # keep the x side from clipping
        scale_d = scale * math.sqrt(x_max / d_max)
        scale_x = scale * math.sqrt(d_max / x_max)
    return bl, scale_d, scale_x


def _bit_cast(source, target):
    """A jitted function returning its ``source``-typed argument's bits as a ``target`` value (one bit cast)."""

    @intrinsic
    def bit_cast(typingctx, value):
        if value != source:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(target))

        return target(source), codegen

    return bit_cast


_bits_of = _bit_cast(nb.types.float64, nb.types.int64)  # a float64's IEEE 754 bits, as an int64
_float_of = _bit_cast(nb.types.int64, nb.types.float64)  # the float64 whose IEEE 754 bits an int64 holds

_MAGNITUDE_BITS = np.int64(0x7FFFFFFFFFFFFFFF)  # all but the sign bit
_INFINITY_BITS = np.int64(0x7FF0000000000000)  # +inf; NaNs lie above it


@nb.njit(cache=True, inline="always")
def _abs_max_and_signs(v, b, signs):
    """Largest |v[b, k]| over k, whether every v[b, k] is finite; writes sign(v[b, k]) (-1, 0, 1) to signs.

    On IEEE bits: a float's magnitude bits order as its magnitude does, so the largest magnitude is an integer
    maximum (which vectorises, where a float maximum must keep NaN's order), and inf and NaN are the magnitudes at
    or above +inf's bits. For finite values these are the float comparisons' results exactly (-0.0 has sign 0); a
    batch that is not finite is refused whatever its signs and maximum."""
    largest = np.int64(0)
    for k in range(v.shape[1]):
        word = _bits_of(v[b, k])
        magnitude = word & _MAGNITUDE_BITS
        largest = max(largest, magnitude)
        signs[b, k] = np.int8(word > 0) - np.int8((word < 0) & (magnitude != 0))
    return _float_of(largest), largest < _INFINITY_BITS


@nb.njit(cache=True, inline="always")
def _pulse_train(bits, b, v, p, length, sample_key, salt):
    """Bernoulli train of element v of sample b into ``bits[b, v]`` (zeroed): each of ``length`` slots fires with
    probability p. Slot t compares 32-bit uniform number t of the element's stream with p * 2^32: hash number
    t // 2, its low half for even t and its high half for odd t. Returns the slots fired.

    Trains are built a word of 64 slots at a time without branches (a random fire/no-fire branch per slot is
    mispredicted often: three times faster at BL 31); a one-slot train, common under update-BL management,
    takes a single test (twice as fast as the word loop's setup; measured on the FCN's update blocks).
    """
    if p <= 0.0 or length <= 0:
        return 0
    threshold = np.uint64(_TWO32) if p >= 1.0 else np.uint64(p * _TWO32)
    key = _subkey(sample_key, v, salt)
    if length == 1:
        if (_stream(key, 0) & _LOW32) < threshold:
            bits[b, v, 0] = _ONE
            return 1
        return 0
    fired = 0
    for q in range((length + 63) // 64):
        slots = min(64, length - 64 * q)
        word = np.uint64(0)
        for k in range((slots + 1) // 2):
            h = _stream(key, 32 * q + k)
            pair = np.uint64((h & _LOW32) < threshold) | (np.uint64((h >> _S32) < threshold) << _ONE)
            word |= pair << np.uint64(2 * k)
        if slots < 64:
            word &= (_ONE << np.uint64(slots)) - _ONE  # an odd length leaves the last hash's high half unused
        bits[b, v, q] = word
        fired += _popcount(word)
    return fired


@functools.cache
def _update_plan_kernel(parallel: bool):
    """The update plan (:func:`_update_plan`), its samples' pulse trains drawn on numba's threads (``parallel``) or
    serially: a sample's trains come from its own streams, so both give the same plan."""
    samples = _row_loop(parallel)

    @_specialised(f"plan_{'parallel' if parallel else 'serial'}", error_model="numpy", parallel=parallel)
    def update_plan(x, d, lr, dw0, bl_max, update_management, update_bl_management, block_key, first_sample, trains):
        """The plan (:func:`_update_plan` says what it holds)."""
        n_samples, n_in = x.shape
        n_out = d.shape[1]
        keys = np.empty(n_samples, dtype=np.uint64)
        bl = np.empty(n_samples, dtype=np.int64)
        scale_d = np.empty(n_samples)
        scale_x = np.empty(n_samples)
        d_sign = np.empty((n_samples, n_out), dtype=np.int8)
        x_sign = np.empty((n_samples, n_in), dtype=np.int8)
        sample_finite = np.empty(n_samples, dtype=np.bool_)
        for b in samples(n_samples):
            keys[b] = _stream(block_key, first_sample + b)
            x_max, x_finite = _abs_max_and_signs(x, b, x_sign)
            d_max, d_finite = _abs_max_and_signs(d, b, d_sign)
            sample_finite[b] = x_finite and d_finite
            bl[b], scale_d[b], scale_x[b] = _management(
                x_max, d_max, lr, dw0, bl_max, update_management, update_bl_management
            )
        finite = True
        longest = 0
        for b in range(n_samples):
            finite &= sample_finite[b]
            longest = max(longest, bl[b])
        row_pulses = np.zeros(n_samples, dtype=np.int64)
        col_pulses = np.zeros(n_samples, dtype=np.int64)
        work = 0
        if trains and finite:
            n_words = max(1, (longest + 63) // 64)
            row_bits = np.zeros((n_samples, n_out, n_words), dtype=np.uint64)
            col_bits = np.zeros((n_samples, n_in, n_words), dtype=np.uint64)
            for b in samples(n_samples):  # each sample's trains are its own
                lines_product = 1
                for side in range(2):  # rows (d), then columns (x): one loop, compiled once
                    values, bits, pulses = (d, row_bits, row_pulses) if side == 0 else (x, col_bits, col_pulses)
                    scale, salt = (scale_d[b], _ROW_SALT) if side == 0 else (scale_x[b], _COL_SALT)
                    lines_fired = 0
                    for v in range(values.shape[1]):
                        fired = _pulse_train(bits, b, v, abs(values[b, v]) * scale, bl[b], keys[b], salt)
                        pulses[b] += fired
                        lines_fired += fired > 0
                    lines_product *= lines_fired
                work += lines_product
        else:
            row_bits = np.zeros((n_samples, 0, 1), dtype=np.uint64)
            col_bits = np.zeros((n_samples, 0, 1), dtype=np.uint64)
        device_pulses = np.empty((n_out, n_samples), dtype=np.int64)
        sample_pulses = np.empty(n_samples, dtype=np.int64)
        return (
            finite,
            keys,
            bl,
            scale_d,
            scale_x,
            d_sign,
            x_sign,
            row_bits,
            col_bits,
            row_pulses,
            col_pulses,
            work,
            device_pulses,
            sample_pulses,
        )

    return update_plan


def _update_plan(x, d, lr, dw0, bl_max, update_management, update_bl_management, block_key, first_sample, trains):
    """The serial :func:`_update_plan_kernel`: what a batch's pulsed update needs before any device moves, in one pass
    (the update kernels' Python glue cost more than a small block's update): per sample b, its key (stream
    ``block_key``, number ``first_sample + b``), BL and probability scales (:func:`_management`), the signs of x and
    d, whether x and d are finite, and, when ``trains``, the bit-packed pulse trains of rows (d side) and columns (x
    side): ``n_words = max(1, ceil(max BL / 64))`` words per line, row i firing in a slot with probability
    ``min(|d_i| scale_d, 1)``, column j with ``min(|x_j| scale_x, 1)``.

    Returns ``(finite, keys, bl, scale_d, scale_x, d_sign, x_sign, row_bits, col_bits, row_pulses, col_pulses, work,
    device_pulses, sample_pulses)``: ``row_pulses``/``col_pulses`` are the slots fired per sample, ``work`` the
    devices on a fired row and a fired column summed over samples (what the stochastic kernel visits),
    ``device_pulses`` (outputs, samples) and ``sample_pulses`` (samples,) uninitialised outputs of the update
    kernels. Trains are skipped (empty) when an input is not finite.
    """
    return _update_plan_kernel(False)(
        x, d, lr, dw0, bl_max, update_management, update_bl_management, block_key, first_sample, trains
    )


@nb.njit(cache=True, inline="always")
def _sum_over_rows(device_pulses, sample_pulses):
    """``sample_pulses[b] = sum_i device_pulses[i, b]`` (int64, exact)."""
    for b in range(sample_pulses.shape[0]):
        total = 0
        for i in range(device_pulses.shape[0]):
            total += device_pulses[i, b]
        sample_pulses[b] = total


@nb.njit(cache=True, inline="always")
def _fire(
    i,
    j,
    first,
    n,
    up,
    sample_key,
    w,
    w_app,
    su,
    sd,
    bmax,
    bmin,
    gu,
    gd,
    model,
    glob,
    pw_up,
    pw_down,
    table,
    noisy,
    write_noise,
    write_std,
):
    """Fire pulses ``first`` to ``n - 1`` of a train of ``n`` at device (i, j) of a rank-1 update keyed by
    ``sample_key``; write noise after."""
    n_in = w.shape[1]
    dev_key = _subkey(sample_key, i * n_in + j, _DEVICE_SALT)
    w[i, j] = _pulse_device(
        w[i, j],
        first,
        n,
        up,
        su[i, j],
        sd[i, j],
        bmax[i, j],
        bmin[i, j],
        _gamma(model, gu, i, j),
        _gamma(model, gd, i, j),
        model,
        glob,
        pw_up,
        pw_down,
        dev_key,
        table,
        noisy,
    )
    if write_noise:
        w_app[i, j] = w[i, j] + write_std * _normal(dev_key, WRITE_NOISE_DRAW, table)


# Kernels specialised per device model and per serial/parallel run. Each update kernel is one row's work
# (``_*_row``, inlined) and a driver over the rows; the driver is built by a factory, ``factory(model, parallel)``,
# for one device model code (a compile-time constant, so numba compiles that model's step formula alone) and
# either a plain loop or a ``prange`` loop. A run compiles only the specialisations it calls: the default run,
# soft-bounds devices updated in small blocks, compiles one serial kernel (a parallel kernel and the other
# models' formulas tripled its first-run compile time). Numba's on-disk cache keeps every specialisation: its
# key includes the values a closure captures (``model`` and the loop kind ``rows``).


#: Row chunks of a parallel stochastic update (each allocates its scratch once); numba hands each thread an
#: equal share of them.
_PARALLEL_CHUNKS = 64


@nb.njit(cache=True)
def _active_columns(col_bits):
    """Per sample, the ascending indices of columns whose pulse train has any pulse, and their number."""
    n_samples, n_in, n_words = col_bits.shape
    active = np.empty((n_samples, n_in), dtype=np.int64)
    n_active = np.zeros(n_samples, dtype=np.int64)
    for b in range(n_samples):
        count = 0
        for j in range(n_in):
            any_bit = np.uint64(0)
            for q in range(n_words):
                any_bit |= col_bits[b, j, q]
            active[b, count] = j
            count += any_bit != 0
        n_active[b] = count
    return active, n_active


#: Pulses per device fired in vector loops over a whole row by :func:`_dense_passes` (the first two: at ~1 coincidence
#: per device, the third would fire for an eighth of the devices and cost as much as the first)
_DENSE_PASSES = 2

#: The device models whose step formula LLVM vectorises (no math-library call, no loop over nodes), which
#: :func:`_dense_passes` serves; the others take the hit list alone. Measured, one dense 512 x 512 sample (ns per
#: device, hit list -> vector loops): constant 11.1 -> 8.2, linear 12.7 -> 9.6, soft bounds 14.2 -> 9.6;
#: exp_step 23.2 -> 22.2 and pow_step 72.8 -> 60.9 (their exp and pow stay scalar calls); power, exponential and
#: piecewise lose
_DENSE_MODELS = (CONSTANT_STEP, SOFT_BOUNDS, LINEAR_STEP)


@nb.njit(cache=True, inline="always")
def _dense_sample(n_words, columns_fired, n_in):
    """Whether a sample's stochastic update fires its devices' first pulses in vector loops (:func:`_dense_passes`):
    single-word trains (BL <= 64) and at least half of the block's columns fired."""
    return n_words == 1 and 2 * columns_fired >= n_in


@nb.njit(cache=True, inline="always")
def _dense_passes(arguments):
    """The first pulses of sample b on row i of a single-word (BL <= 64) stochastic update, for a sample most of
    whose columns fired, in vector loops over the whole row; returns (the row's coincidences, how many devices have
    pulses left), those devices listed in ``hit_cols``, ``hit_counts`` (their trains' lengths) and ``hit_firsts``
    (their first pulse not yet fired) for :func:`_fire`. ``arguments``: the tuple unpacked below; ``counts``,
    ``done``, the hit lists (int64) and ``device_keys`` (uint64): scratch of n_in each.

    Every device's coincidence count and stream key come from two vector loops; then pulse p (p < _DENSE_PASSES) of
    every device from one vector loop each, a device with p pulses or fewer keeping its weight (a select, not a
    branch). A draw from a tail bin (2 in 4,096) is not made there: that device stops, and fires from pulse p on
    with the devices hit more than _DENSE_PASSES times. Pulse k of a device draws normal number k of its stream,
    as :func:`_fire` does: the hit list's bits, without its mispredicted branch per device."""
    (
        i,
        b,
        w,
        w_app,
        su,
        sd,
        bmax,
        bmin,
        gu,
        gd,
        model,
        glob,
        pw_up,
        pw_down,
        d_sign,
        x_sign,
        row_bits,
        col_bits,
        key,
        table,
        noisy,
        write_noise,
        counts,
        done,
        device_keys,
        hit_cols,
        hit_counts,
        hit_firsts,
    ) = arguments

    n_in = w.shape[1]
    row_word = row_bits[b, i, 0]
    fired: int | np.int64 = 0  # counts are int64
    longest: int | np.int64 = 0
    for j in range(n_in):
        n = _popcount(row_word & col_bits[b, j, 0])
        counts[j] = n
        done[j] = 0
        fired += n
        longest = max(longest, n)
    first_device = i * n_in
    for j in range(n_in):
        device_keys[j] = _subkey(key, first_device + j, _DEVICE_SALT)
    sign_d = d_sign[b, i]
    # the tile-wide parameters as values: loads from an array inside the loop would need checks that the weights'
    # stores do not overlap it
    constants = to_fixed_tuple(glob, N_GLOBALS)
    for p in range(min(longest, _DENSE_PASSES)):
        for j in range(n_in):
            h = _stream(device_keys[j], p)
            value = w[i, j]
            moved = _pulse(
                value,
                sign_d * x_sign[b, j] < 0,
                su[i, j],
                sd[i, j],
                bmax[i, j],
                bmin[i, j],
                _gamma(model, gu, i, j),
                _gamma(model, gd, i, j),
                model,
                constants,
                pw_up,
                pw_down,
                noisy,
                _body_normal(h),
            )
            fire = (counts[j] > p) & (done[j] == p) & ~_in_tail(h)
            w[i, j] = moved if fire else value
            done[j] += fire
    left = 0
    for j in range(n_in):
        hit_cols[left] = j
        hit_counts[left] = counts[j]
        hit_firsts[left] = done[j]
        left += done[j] < counts[j]
    if write_noise:  # the devices done here (the others' comes after their last pulse, in _fire)
        write_std = glob[2]
        for j in range(n_in):
            if counts[j] != 0 and done[j] == counts[j]:
                w_app[i, j] = w[i, j] + write_std * _normal(device_keys[j], WRITE_NOISE_DRAW, table)
    return fired, left


def _first_pulses(dense, arguments):
    """:func:`_dense_passes` of the tuple ``arguments`` when ``dense`` (a compile-time constant, 1 or 0); else
    (0, -1), every sample to the hit list: a kernel without vector loops does not compile them. Jitted code only
    (resolved by numba, like :func:`_step_formula`; the kernel's closure holds an integer, which numba's cache keys
    by value, where a function it held would key each process's kernel apart)."""
    raise NotImplementedError("_first_pulses is resolved by numba at compile time")


@overload(_first_pulses, prefer_literal=True, inline="always")
def _overload_first_pulses(dense, arguments):
    if not isinstance(dense, nb.types.IntegerLiteral):
        raise nb.core.errors.TypingError("whether a kernel has vector loops must be a compile-time constant")
    if dense.literal_value:
        return lambda dense, arguments: _dense_passes(arguments)
    return lambda dense, arguments: (0, -1)


@nb.njit(cache=True, inline="always")
def _stochastic_row(
    i,
    w,
    w_app,
    su,
    sd,
    bmax,
    bmin,
    gu,
    gd,
    model,
    glob,
    pw_up,
    pw_down,
    d_sign,
    x_sign,
    row_bits,
    col_bits,
    keys,
    table,
    noisy,
    write_noise,
    device_pulses,
    active_cols,
    n_active,
    scratch,
    device_keys,
    dense,
):
    """Row i of the bit-packed stochastic update, samples in order (``scratch``: (5, n_in) int64, ``device_keys``:
    n_in uint64; ``dense``: a compile-time constant, 1 when dense samples take :func:`_dense_passes`, 0 for a kernel
    without vector loops, which then does not compile them).

    Per sample, a branch-free pass lists the devices its trains hit (every device on a column that fired at all is
    counted and written, the list's end moving on only past a hit, so sparse inputs, zero pixels or one-hot transfer
    writes, cost only their firing columns), and a second pass pulses only those (a random zero/non-zero pattern
    would otherwise cost a mispredicted branch per device). A dense sample (:func:`_dense_sample`; and ``dense``) has
    its devices' first pulses fired in vector loops over the row instead (:func:`_dense_passes`), which list only the
    devices with pulses left. ``device_pulses[i, b]`` receives row i's coincidences in sample b. (The hit list is
    written out here rather than in a function of its own: numba's inlined function with a tuple result made the
    sparse update ~15 % slower.)
    """
    n_samples = keys.shape[0]
    n_in = w.shape[1]
    n_words = row_bits.shape[2]
    write_std = glob[2]
    hit_cols, hit_counts, hit_firsts = scratch[0], scratch[1], scratch[2]
    dense_counts, dense_done = scratch[3], scratch[4]
    for b in range(n_samples):
        device_pulses[i, b] = 0
        any_bit = np.uint64(0)
        for q in range(n_words):
            any_bit |= row_bits[b, i, q]
        if any_bit == 0:
            continue
        # ``dense`` folds this away in a kernel without vector loops
        from_dense = dense and _dense_sample(n_words, n_active[b], n_in)
        if from_dense:
            fired, hits = _first_pulses(
                dense,
                (
                    i,
                    b,
                    w,
                    w_app,
                    su,
                    sd,
                    bmax,
                    bmin,
                    gu,
                    gd,
                    model,
                    glob,
                    pw_up,
                    pw_down,
                    d_sign,
                    x_sign,
                    row_bits,
                    col_bits,
                    keys[b],
                    table,
                    noisy,
                    write_noise,
                    dense_counts,
                    dense_done,
                    device_keys,
                    hit_cols,
                    hit_counts,
                    hit_firsts,
                ),
            )
        else:  # the hit list alone: every listed device fires from its first pulse
            fired, hits = 0, 0
            if n_words == 1:
                row_word = row_bits[b, i, 0]
                for a in range(n_active[b]):
                    j = active_cols[b, a]
                    n = _popcount(row_word & col_bits[b, j, 0])
                    hit_cols[hits] = j
                    hit_counts[hits] = n
                    hits += n != 0
            else:
                for a in range(n_active[b]):
                    j = active_cols[b, a]
                    n = 0
                    for q in range(n_words):
                        n += _popcount(row_bits[b, i, q] & col_bits[b, j, q])
                    hit_cols[hits] = j
                    hit_counts[hits] = n
                    hits += n != 0
        key = keys[b]
        sign_d = d_sign[b, i]
        for h in range(hits):
            j = hit_cols[h]
            _fire(
                i,
                j,
                hit_firsts[h] if from_dense else 0,
                hit_counts[h],
                sign_d * x_sign[b, j] < 0,
                key,
                w,
                w_app,
                su,
                sd,
                bmax,
                bmin,
                gu,
                gd,
                model,
                glob,
                pw_up,
                pw_down,
                table,
                noisy,
                write_noise,
                write_std,
            )
            if not from_dense:  # (the vector loops counted every coincidence of the row)
                fired += hit_counts[h]
        device_pulses[i, b] = fired


@functools.cache
def _stochastic_update(model: int, parallel: bool, dense: bool = True):
    """One bit-packed stochastic rank-1 update per sample (:func:`_stochastic_row`), samples in order. ``dense``:
    dense samples of a model in _DENSE_MODELS take :func:`_dense_passes` (False: the hit list alone; the same bits,
    for tests and benchmarks)."""
    rows = _row_loop(parallel)
    dense_rows = int(dense and model in _DENSE_MODELS)

    # NumPy's error model: a division whose divisor a select guards may be computed before the select (a vector
    # loop computes both sides), which Python's error model would turn into a branch that raises
    @_specialised(f"{_tag(model, parallel)}{'' if dense_rows else '_hits'}", parallel=parallel, error_model="numpy")
    def stochastic_update(
        w,
        w_app,
        su,
        sd,
        bmax,
        bmin,
        gu,
        gd,
        glob,
        pw_up,
        pw_down,
        d_sign,
        x_sign,
        row_bits,
        col_bits,
        keys,
        table,
        noisy,
        write_noise,
        device_pulses,
        sample_pulses,
    ):
        active_cols, n_active = _active_columns(col_bits)
        w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, table = _borrowed(
            (w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, table)
        )
        d_sign, x_sign, row_bits, col_bits, keys, device_pulses, sample_pulses = _borrowed(
            (d_sign, x_sign, row_bits, col_bits, keys, device_pulses, sample_pulses)
        )
        n_rows, n_in = w.shape
        # rows in chunks, each with its own scratch: one allocation per call when serial (one per row cost more
        # than a small update), a few per thread when parallel
        n_chunks = min(n_rows, _PARALLEL_CHUNKS) if parallel else 1
        for c in rows(n_chunks):
            scratch = np.empty((5, n_in), dtype=np.int64)
            device_keys = np.empty(n_in, dtype=np.uint64)
            for i in range(c * n_rows // n_chunks, (c + 1) * n_rows // n_chunks):
                _stochastic_row(
                    i,
                    w,
                    w_app,
                    su,
                    sd,
                    bmax,
                    bmin,
                    gu,
                    gd,
                    model,
                    glob,
                    pw_up,
                    pw_down,
                    d_sign,
                    x_sign,
                    row_bits,
                    col_bits,
                    keys,
                    table,
                    noisy,
                    write_noise,
                    device_pulses,
                    active_cols,
                    n_active,
                    scratch,
                    device_keys,
                    dense_rows,
                )
        _sum_over_rows(device_pulses, sample_pulses)

    return stochastic_update


@nb.njit(cache=True, inline="always")
def _mean_count_row(
    i,
    w,
    w_app,
    su,
    sd,
    bmax,
    bmin,
    gu,
    gd,
    model,
    glob,
    pw_up,
    pw_down,
    d_sign,
    x_sign,
    d_counts,
    x_counts,
    bl,
    keys,
    table,
    noisy,
    write_noise,
    device_pulses,
):
    """Row i with deterministic counts: device (i, j) gets round(c_d[i] c_x[j] / BL) pulses (aihwkit MeanCount)."""
    n_in = w.shape[1]
    write_std = glob[2]
    for b in range(keys.shape[0]):
        device_pulses[i, b] = 0
        cd = d_counts[b, i]
        if cd == 0 or bl[b] == 0:
            continue
        per_x = cd / bl[b]
        key = keys[b]
        fired: int | np.int64 = 0  # n is an int64
        for j in range(n_in):
            n = np.int64(np.floor(per_x * x_counts[b, j] + 0.5))
            if n == 0:
                continue
            _fire(
                i,
                j,
                0,
                n,
                d_sign[b, i] * x_sign[b, j] < 0,
                key,
                w,
                w_app,
                su,
                sd,
                bmax,
                bmin,
                gu,
                gd,
                model,
                glob,
                pw_up,
                pw_down,
                table,
                noisy,
                write_noise,
                write_std,
            )
            fired += n
        device_pulses[i, b] = fired


@functools.cache
def _mean_count_update(model: int, parallel: bool):
    """Deterministic-count updates (:func:`_mean_count_row`), samples in order."""
    rows = _row_loop(parallel)

    @_specialised(_tag(model, parallel), parallel=parallel)
    def mean_count_update(
        w,
        w_app,
        su,
        sd,
        bmax,
        bmin,
        gu,
        gd,
        glob,
        pw_up,
        pw_down,
        d_sign,
        x_sign,
        d_counts,
        x_counts,
        bl,
        keys,
        table,
        noisy,
        write_noise,
        device_pulses,
        sample_pulses,
    ):
        w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, table = _borrowed(
            (w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, table)
        )
        d_sign, x_sign, d_counts, x_counts, bl, keys, device_pulses, sample_pulses = _borrowed(
            (d_sign, x_sign, d_counts, x_counts, bl, keys, device_pulses, sample_pulses)
        )
        for i in rows(w.shape[0]):
            _mean_count_row(
                i,
                w,
                w_app,
                su,
                sd,
                bmax,
                bmin,
                gu,
                gd,
                model,
                glob,
                pw_up,
                pw_down,
                d_sign,
                x_sign,
                d_counts,
                x_counts,
                bl,
                keys,
                table,
                noisy,
                write_noise,
                device_pulses,
            )
        _sum_over_rows(device_pulses, sample_pulses)

    return mean_count_update


@nb.njit(cache=True, inline="always")
def _expected_row(
    i, w, w_app, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, x, d, lr, dw0, keys, table, noisy, write_noise
):
    """Row i of the expected-value update of the theory, one sample at a time: for dW = -lr d_i x_j,

    ``w += dW F(w) - |dW| G(w)`` = ``n * step_up(w)`` (dW > 0) or ``-n * step_down(w)`` (dW < 0) with
    ``n = |dW| / dw0`` pulses' worth, plus the noise of n pulses: std ``sqrt(n) * pulse_std``.
    """
    n_in = w.shape[1]
    write_std = glob[2]
    for b in range(keys.shape[0]):
        scaled_d = -lr * d[b, i]
        if scaled_d == 0.0:
            continue
        key = keys[b]
        for j in range(n_in):
            dw = scaled_d * x[b, j]
            if dw == 0.0:
                continue
            up = dw > 0.0
            pulses = min(abs(dw) / dw0, _MAX_EXPECTED_PULSES)
            wij = w[i, j]
            step = _mean_step(
                model,
                wij,
                up,
                su[i, j],
                sd[i, j],
                bmax[i, j],
                bmin[i, j],
                _gamma(model, gu, i, j),
                _gamma(model, gd, i, j),
                glob,
                pw_up,
                pw_down,
            )
            change = pulses * step
            dev_key = _subkey(key, i * n_in + j, _DEVICE_SALT)
            if noisy:
                scale = su[i, j] if up else sd[i, j]
                change += np.sqrt(pulses) * _noise_std(step, scale, glob) * _normal(dev_key, 0, table)
            wij = wij + change if up else wij - change
            w[i, j] = min(max(wij, bmin[i, j]), bmax[i, j])
            if write_noise:
                w_app[i, j] = w[i, j] + write_std * _normal(dev_key, WRITE_NOISE_DRAW, table)


@functools.cache
def _expected_update(model: int, parallel: bool):
    """Expected-value updates (:func:`_expected_row`), samples in order."""
    rows = _row_loop(parallel)

    @_specialised(_tag(model, parallel), parallel=parallel)
    def expected_update(
        w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, x, d, lr, dw0, keys, table, noisy, write_noise
    ):
        w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, table = _borrowed(
            (w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, table)
        )
        x, d, keys = _borrowed((x, d, keys))
        for i in rows(w.shape[0]):
            _expected_row(
                i,
                w,
                w_app,
                su,
                sd,
                bmax,
                bmin,
                gu,
                gd,
                model,
                glob,
                pw_up,
                pw_down,
                x,
                d,
                lr,
                dw0,
                keys,
                table,
                noisy,
                write_noise,
            )

    return expected_update


@nb.njit(cache=True, inline="always")
def _counts_row(
    i, w, w_app, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, counts, key, table, noisy, write_noise
):
    """Row i: fire ``|counts[i, j]|`` pulses at device (i, j), up where positive, down where negative."""
    n_in = w.shape[1]
    write_std = glob[2]
    for j in range(n_in):
        c = counts[i, j]
        if c == 0:
            continue
        dev_key = _subkey(key, i * n_in + j, _DEVICE_SALT)
        w[i, j] = _pulse_device(
            w[i, j],
            0,
            abs(c),
            c > 0,
            su[i, j],
            sd[i, j],
            bmax[i, j],
            bmin[i, j],
            _gamma(model, gu, i, j),
            _gamma(model, gd, i, j),
            model,
            glob,
            pw_up,
            pw_down,
            dev_key,
            table,
            noisy,
        )
        if write_noise:
            w_app[i, j] = w[i, j] + write_std * _normal(dev_key, WRITE_NOISE_DRAW, table)


@nb.njit(cache=True)
def _pulse_total(counts):
    """Sum of ``|counts|`` over a 2-D int64 array (one pass, no temporary array)."""
    total = 0
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            total += abs(counts[i, j])
    return total


@functools.cache
def _apply_counts(model: int, parallel: bool):
    """Given pulse counts per device (:func:`_counts_row`)."""
    rows = _row_loop(parallel)

    @_specialised(_tag(model, parallel), parallel=parallel)
    def apply_counts(
        w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, counts, key, table, noisy, write_noise
    ):
        w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, table = _borrowed(
            (w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, table)
        )
        counts = _borrowed((counts,))[0]
        for i in rows(w.shape[0]):
            _counts_row(
                i,
                w,
                w_app,
                su,
                sd,
                bmax,
                bmin,
                gu,
                gd,
                model,
                glob,
                pw_up,
                pw_down,
                counts,
                key,
                table,
                noisy,
                write_noise,
            )

    return apply_counts


@functools.cache
def _pulse_protocol(model: int):
    """Apply one pulse per device per step, ``directions[step]`` = +1 up / -1 down, to flat device arrays;
    record the mean and (population) std over devices of the apparent weight after each step."""

    @_specialised(f"model{model}")
    def pulse_protocol(
        w,
        w_app,
        su,
        sd,
        bmax,
        bmin,
        gu,
        gd,
        glob,
        pw_up,
        pw_down,
        directions,
        base_key,
        table,
        noisy,
        write_noise,
        mean_out,
        std_out,
    ):
        w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, table = _borrowed(
            (w, w_app, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down, table)
        )
        directions, mean_out, std_out = _borrowed((directions, mean_out, std_out))
        n_devices = w.shape[0]
        write_std = glob[2]
        for step in range(directions.shape[0]):
            key = _stream(base_key, step)
            up = directions[step] > 0
            total = 0.0
            for k in range(n_devices):
                dev_key = _subkey(key, k, _DEVICE_SALT)
                w[k] = _pulse_device(
                    w[k],
                    0,
                    1,
                    up,
                    su[k],
                    sd[k],
                    bmax[k],
                    bmin[k],
                    gu[k],
                    gd[k],
                    model,
                    glob,
                    pw_up,
                    pw_down,
                    dev_key,
                    table,
                    noisy,
                )
                if write_noise:
                    w_app[k] = w[k] + write_std * _normal(dev_key, WRITE_NOISE_DRAW, table)
                total += w_app[k] if write_noise else w[k]
            mean = total / n_devices
            spread = 0.0
            for k in range(n_devices):
                delta = (w_app[k] if write_noise else w[k]) - mean
                spread += delta * delta
            mean_out[step] = mean
            std_out[step] = np.sqrt(spread / n_devices)

    return pulse_protocol
