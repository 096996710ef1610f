"""The analog read path of one physical tile: DAC, noisy MVM, ADC, noise and bound management.

Per input vector (aihwkit's forward pass, ``IOParameters``):

1. noise management (``abs_max``): the vector is scaled by ``inp_bound / max|x|``;
2. the DAC quantises it to ``2 L_in + 1`` levels over ``+-inp_bound`` (``L = 2^(bits-1) - 1`` levels per sign,
   at least 1), clipping what lies beyond;
3. the crossbar computes ``y = W x_q``, plus output noise ``out_noise * xi`` and, for weight read noise,
   ``w_noise * ||x_q||_2 * xi`` (fresh Gaussian weight noise on every device summed over the column);
4. the ADC clips ``y`` to ``+-out_bound`` and quantises it to ``2 L_out + 1`` levels;
5. bound management (``iterative``): if any output of the vector reached ``+-out_bound``, the vector is read
   again with its input halved (up to ``max_bm_retries`` times); the result is scaled back by the same factor.

Bit-serial DACs (``hw.dac.mode: bit_serial``, ISAAC) read a vector quantised to ``B = io.serial_input_bits``
bits as hardware does: its integer levels in B-bit two's complement, one pass per bit plane (inputs 0 or the
full-scale ``inp_bound``), each pass with its own output noise and its own ADC conversion (clipped to
``+-out_bound``), recombined digitally by shift-add with weights ``2^k`` and ``-2^(B-1)`` for the sign plane.
So the DAC mode changes accuracy as it changes cost (per-pass ADC clipping and quantisation, B noise draws);
a vector saturates, for bound management, when any of its passes does.

Outputs are finally multiplied back by the noise-management scale. Analog values are float32 (the noise is
orders of magnitude above float32 rounding), results float64.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from archsim.analog.kernels import _adc_outputs, _dac_inputs
from archsim.config.hw import HwConfig, read_passes

_NO_DRIVE = np.zeros(1)  # the DAC kernel's drive argument when the caller does not track it

#: The BLAS libraries threadpoolctl (a declared dependency) finds, looked up on first use: the lookup inspects the
#: loaded libraries.
_blas_libraries: list | None = None


#: True while a :func:`blas_on_calling_thread` context is open: reads then skip the per-call thread-count check.
_held = False


@contextmanager
def blas_on_calling_thread():
    """Context in which BLAS runs on the calling thread only; re-entering it is free.

    Why: OpenBLAS worker threads busy-wait after every call and then compete with numba's update threads
    (and other processes) for the cores; a tile-sized product is too small to gain from them (a 64 x 512 x
    512 float32 product runs at ~50 G MAC/s on one core); and one thread makes reads independent of the
    BLAS thread count. Every read enters it; a caller making many reads (a training epoch) enters it once
    around them, since asking the libraries for their thread count on every read costs ~13 us, as much as
    a small read. threadpoolctl's ``limit`` context re-selects the libraries on every call, which costs more
    still; the libraries' own thread-count calls are a few hundred nanoseconds.
    """
    global _blas_libraries, _held
    if _held:
        yield
        return
    if _blas_libraries is None:
        from threadpoolctl import ThreadpoolController

        _blas_libraries = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    changed = []
    for lib in _blas_libraries:
        threads = lib.get_num_threads()
        if threads != 1:
            lib.set_num_threads(1)
            changed.append((lib, threads))
    _held = True
    try:
        yield
    finally:
        _held = False
        for lib, threads in changed:
            lib.set_num_threads(threads)


def signed_levels(bits: int) -> int:
    """Levels per sign of a symmetric (mid-tread) converter of ``bits`` bits, sign included; at least 1."""
    return max((1 << (bits - 1)) - 1, 1)


@dataclass(frozen=True)
class IOModel:
    """Read-path parameters of a tile, unpacked from a hardware description."""

    inp_bound: float
    inp_levels: int  # DAC levels per sign
    out_bound: float
    out_levels: int  # ADC levels per sign
    out_noise: float
    w_noise: float
    noise_management: bool
    bound_management: bool
    max_retries: int
    input_bits: int  # effective input resolution (DAC bits, or bits streamed when bit-serial)
    passes: int  # reads per vector: 1 for multi-level DACs, input_bits when bit-serial

    @classmethod
    def from_hw(cls, hw: HwConfig, out_bits: int | None = None) -> IOModel:
        """The read path of ``hw``; ``out_bits`` overrides the ADC resolution (e.g. for transfer reads)."""
        input_bits = hw.read_input_bits()
        return cls(
            inp_bound=hw.dac.inp_bound,
            inp_levels=signed_levels(input_bits),
            out_bound=hw.adc.out_bound,
            out_levels=signed_levels(out_bits or hw.adc.bits),
            out_noise=hw.io.out_noise,
            w_noise=hw.io.w_noise,
            noise_management=hw.io.noise_management == "abs_max",
            bound_management=hw.io.bound_management == "iterative",
            max_retries=hw.io.max_bm_retries,
            input_bits=input_bits,
            passes=read_passes(hw.dac.mode, input_bits),
        )

    @property
    def inp_step(self) -> float:
        return self.inp_bound / self.inp_levels

    @property
    def out_step(self) -> float:
        """ADC quantisation step (normalised output units)."""
        return self.out_bound / self.out_levels

    @functools.cached_property
    def adc_float32(self) -> tuple[np.float32, np.float32]:
        """``(out_bound, out_step)`` as the float32 scalars the jitted ADC compares and rounds with. A bound beyond
        float32's range is inf there, as it is meant to be (it never clips), without NumPy's overflow warning: a
        configuration's one-line error must stay one line."""
        with np.errstate(over="ignore"):
            return np.float32(self.out_bound), np.float32(self.out_step)


def quantise(values: np.ndarray, step: float, levels: int) -> np.ndarray:
    """Mid-tread quantiser: nearest multiple of ``step``, clipped to ``+-levels * step`` (a new array)."""
    q = values / step
    np.rint(q, out=q)
    np.clip(q, -levels, levels, out=q)
    q *= step
    return q


def analog_read(
    matrix: np.ndarray,
    x: np.ndarray,
    io: IOModel,
    rng: np.random.Generator,
    drive: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``y = x @ matrix`` through the IO path for each row of ``x``.

    ``matrix`` (float32, inputs x outputs of this read direction) is the tile's weight matrix transposed for a
    forward read, itself for a transpose read. Returns ``y`` (float64, vectors x outputs) and the
    bound-management re-reads each vector took (int64). ``drive`` (inputs, float64), when given, receives
    :func:`line_drive` of every pass the read made, re-reads included.
    """
    n_vectors = x.shape[0]
    n_out = matrix.shape[1]
    y_out = np.empty((n_vectors, n_out))
    retries = np.zeros(n_vectors, dtype=np.int64)
    if n_vectors == 0:
        return y_out, retries
    if io.passes == 1:
        return _multi_level_read(matrix, x, io, rng, drive, y_out, retries)
    return _read_attempts(matrix, x, io, rng, drive, y_out, retries)


def _multi_level_read(
    matrix: np.ndarray,
    x: np.ndarray,
    io: IOModel,
    rng: np.random.Generator,
    drive: np.ndarray | None,
    y_out: np.ndarray,
    retries: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`analog_read` through a multi-level DAC: the first attempt's element-wise work in two jitted passes
    (the same operations as :func:`_read_attempts`, the same bits); vectors that saturate are read again there."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    n_vectors = x.shape[0]
    scale = np.empty(n_vectors)
    x_q = np.empty(x.shape, dtype=np.float32)
    _dac_inputs(
        x,
        io.inp_bound,
        io.noise_management,
        io.inp_step,
        io.inp_levels,
        scale,
        x_q,
        drive if drive is not None else _NO_DRIVE,
        drive is not None,
    )
    y = _noisy_mvm(x_q, matrix, io, rng)
    saturated = np.empty(n_vectors, dtype=np.bool_)
    any_saturated = _adc_outputs(y, *io.adc_float32, io.out_levels, scale, io.inp_bound, y_out, saturated)
    if not (any_saturated and io.bound_management and io.max_retries > 0):
        return y_out, retries
    pending = np.flatnonzero(saturated)
    return _read_attempts(matrix, x, io, rng, drive, y_out, retries, first_attempt=1, pending=pending, scale=scale)


def _read_attempts(
    matrix: np.ndarray,
    x: np.ndarray,
    io: IOModel,
    rng: np.random.Generator,
    drive: np.ndarray | None,
    y_out: np.ndarray,
    retries: np.ndarray,
    first_attempt: int = 0,
    pending: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`analog_read`'s attempts from ``first_attempt`` on, for the vectors ``pending`` (None: all of them)
    whose noise-management scales are ``scale`` (None: not yet found)."""
    n_vectors = x.shape[0]
    if scale is None and io.noise_management:
        scale = np.abs(x).max(axis=1)
        scale[scale == 0.0] = 1.0  # an all-zero vector is read as is (only noise comes out)
    elif scale is None:
        scale = np.full(n_vectors, io.inp_bound)
    scaled = x * (io.inp_bound / scale)[:, None] if io.noise_management else x
    inp_step, out_step = io.inp_step, io.out_step
    attempts = io.max_retries + 1 if io.bound_management else 1
    # pending: the vectors still to read (None: all of them, the first attempt)
    for attempt in range(first_attempt, attempts):
        halving = 0.5**attempt
        x_q = quantise(scaled if pending is None else scaled[pending] * halving, inp_step, io.inp_levels)
        if drive is not None:
            drive += line_drive(x_q, io)
        last = attempt == attempts - 1
        if io.passes == 1:
            y = _noisy_mvm(x_q.astype(np.float32), matrix, io, rng)
            saturated = None if last else (np.abs(y) >= io.out_bound).any(axis=1)
            y = quantise(y, out_step, io.out_levels)
        else:
            y, saturated_outputs = _bit_serial_read(x_q, matrix, io, rng)
            saturated = None if last else saturated_outputs.any(axis=1)
        factor = (scale if pending is None else scale[pending]) / io.inp_bound / halving
        if saturated is None or not saturated.any():  # every vector left is read
            if pending is None:
                return y * factor[:, None], retries
            y_out[pending] = y * factor[:, None]
            retries[pending] = attempt
            break
        if pending is None:
            pending = np.arange(n_vectors)
        done = ~saturated
        finished = pending[done]
        y_out[finished] = y[done] * factor[done][:, None]
        retries[finished] = attempt
        pending = pending[saturated]
    return y_out, retries


#: Matrix cells from which a product by a transposed matrix takes the swapped route (:func:`_product`): measured on
#: the development machine with 10 vectors, 36 -> 26 us at 256 x 256 and 9.6 -> 8.1 us at 128 x 128, while at 64 x 64
#: the plain product is faster (1.6 against 2.3 us)
_SWAPPED_PRODUCT_MIN_CELLS = 128 * 128


def _product(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``x @ matrix`` (float32, C order). A forward read's matrix is a transposed view (F order), by which OpenBLAS
    multiplies up to ~2x slower at tile sizes than it takes the same product as ``(matrix^T x^T)^T``: the same
    kernel on the same operands with their roles swapped (on the development machine the same bits), so large
    reads take that route."""
    if (
        x.shape[0] > 1
        and matrix.size >= _SWAPPED_PRODUCT_MIN_CELLS
        and matrix.flags.f_contiguous
        and not matrix.flags.c_contiguous
    ):
        return np.ascontiguousarray((matrix.T @ x.T).T)
    return x @ matrix


def _noisy_mvm(x: np.ndarray, matrix: np.ndarray, io: IOModel, rng: np.random.Generator) -> np.ndarray:
    """``x @ matrix`` (float32) plus output noise and weight read noise, before the ADC."""
    if _held:  # inside a caller's context (a training epoch): skip building one per read
        y = _product(x, matrix)
    else:
        with blas_on_calling_thread():
            y = _product(x, matrix)
    if io.out_noise > 0.0:
        y += rng.standard_normal(y.shape, dtype=np.float32) * np.float32(io.out_noise)
    if io.w_noise > 0.0:
        norms = np.sqrt(np.einsum("ij,ij->i", x, x))
        y += rng.standard_normal(y.shape, dtype=np.float32) * (np.float32(io.w_noise) * norms[:, None])
    return y


def _bit_serial_read(
    x_q: np.ndarray, matrix: np.ndarray, io: IOModel, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Read DAC-quantised vectors ``x_q`` one two's-complement bit plane per pass (see module docstring).

    Returns the recombined outputs in the units of ``x_q @ matrix`` and, per vector and output, whether any
    pass reached the ADC's bound.
    """
    bits = io.passes
    levels = np.rint(x_q / io.inp_step).astype(np.int64) & ((1 << bits) - 1)  # two's complement, B bits
    shifts = np.arange(bits, dtype=np.int64)
    planes = ((levels[None, :, :] >> shifts[:, None, None]) & 1).astype(np.float32) * np.float32(io.inp_bound)
    n_vectors, n_in = x_q.shape
    y = _noisy_mvm(planes.reshape(bits * n_vectors, n_in), matrix, io, rng).reshape(bits, n_vectors, -1)
    saturated = (np.abs(y) >= io.out_bound).any(axis=0)
    converted = quantise(y, io.out_step, io.out_levels)
    place = 2.0**shifts
    place[-1] = -place[-1]  # the sign plane weighs -2^(B-1)
    # shift-add; a pass at full scale inp_bound stands for inp_bound / inp_step = inp_levels input levels
    return np.tensordot(place / io.inp_levels, converted, axes=1), saturated


def line_drive(x_q: np.ndarray, io: IOModel) -> np.ndarray:
    """How strongly the DAC-quantised vectors ``x_q`` (vectors x inputs) drive each input line, summed over
    vectors and passes, in full-scale passes: a line driven at ``inp_bound`` for one pass counts 1.

    A multi-level pass drives a line at ``|x_q| / inp_bound`` of full scale (inputs as pulse widths or pulse
    counts: the line conducts for that share of the read); a bit-serial pass at 0 or full scale, so a line counts
    the 1 bits of its two's-complement level. :func:`analog_read` adds this up over its attempts.
    """
    if io.passes == 1:
        return np.abs(x_q).sum(axis=0) / io.inp_bound
    levels = np.rint(x_q / io.inp_step).astype(np.int64) & ((1 << io.passes) - 1)
    return np.bitwise_count(levels).sum(axis=0).astype(np.float64)
