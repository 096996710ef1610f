"""Counter-based random numbers: every random draw is a pure function of (key, counters).

Why counter-based: a draw depends only on *which* device, sample and pulse it belongs to, never on the
order threads run in, so the parallel kernels give the same result for a given seed on any number of
threads, and a slow reference can reproduce every draw exactly.

The mixer is the SplitMix64 finaliser (Steele, Lea & Flood, OOPSLA 2014), a bijection of 64-bit words
with full avalanche. Keys are chained: ``key(sample) = mix(block_key + (sample + 1) * GOLDEN)``, then
``key(device) = mix(key(sample) ^ (device + 1) * DEVICE_SALT)``, and the k-th draw of a stream is
``mix(key + (k + 1) * GOLDEN)`` — the SplitMix64 sequence of that key.

Normal draws use an inverse-CDF table of :data:`NORMAL_BINS` equal-probability bins: the top 12 bits of a
hash pick a bin, the next 40 bits a position inside it (linear interpolation of the quantile function),
and the two outermost bins (probability 2/4096) are sampled exactly from the Gaussian tail with Marsaglia's
tail method (Marsaglia, Ann. Math. Stat. 35, 1964). Each bin therefore carries exactly its Gaussian
probability; within the body bins the density is flat (error in the variance below 1e-6). One hash and
two table loads instead of Box-Muller's log, sqrt and cos is what makes per-pulse noise cheap.

Each function exists twice: a numba version (``_name``, in :mod:`archsim.devices.kernels`, where all jitted
code lives so that numba's per-file cache is invalidated whenever any of it changes) and the plain-Python
version here (``py_name``) on Python integers, obviously correct and used by :mod:`archsim.devices.reference`.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / golden ratio, the SplitMix64 increment
DEVICE_SALT = 0xD1B54A32D192ED03  # odd constants that spread small indices over the 64-bit word
ROW_SALT = 0xA0761D6478BD642F
COL_SALT = 0xE7037ED1A0B428DB
WRITE_NOISE_DRAW = 1 << 40  # draw index reserved for write noise (far beyond any pulse count)

NORMAL_BIN_BITS = 12
NORMAL_BINS = 1 << NORMAL_BIN_BITS
FRACTION_BITS = 40


def normal_table() -> np.ndarray:
    """Quantiles ``Phi^-1(k / NORMAL_BINS)`` for k = 0..NORMAL_BINS (the ends, +-inf, are never read)."""
    inv = NormalDist().inv_cdf
    table = np.empty(NORMAL_BINS + 1)
    table[0], table[-1] = -np.inf, np.inf
    for k in range(1, NORMAL_BINS):
        table[k] = inv(k / NORMAL_BINS)
    return table


NORMAL_TABLE = normal_table()


# ---------------------------------------------------------------------------------------------
# plain-Python versions (Python integers, explicit masking)
# ---------------------------------------------------------------------------------------------
def py_mix64(z: int) -> int:
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def py_stream(key: int, index: int) -> int:
    return py_mix64(key + (index + 1) * GOLDEN)


def py_subkey(key: int, index: int, salt: int) -> int:
    return py_mix64(key ^ (((index + 1) * salt) & MASK64))


def py_unit_open(h: int) -> float:
    return ((h >> 11) + 1) / 2.0**53


def py_normal(key: int, index: int, table: np.ndarray = NORMAL_TABLE) -> float:
    h = py_stream(key, index)
    b = h >> (64 - NORMAL_BIN_BITS)
    if b in (0, NORMAL_BINS - 1):
        r = float(table[NORMAL_BINS - 1])
        attempt = 0
        while True:
            x = -math.log(py_unit_open(py_stream(h, 2 * attempt))) / r
            y = -math.log(py_unit_open(py_stream(h, 2 * attempt + 1)))
            if 2.0 * y > x * x:
                return -(r + x) if b == 0 else r + x
            attempt += 1
    frac = ((h >> 12) & ((1 << FRACTION_BITS) - 1)) / 2.0**FRACTION_BITS
    return float(table[b] + (table[b + 1] - table[b]) * frac)


def py_uniform32(key: int, slot: int) -> int:
    """32-bit uniform number ``slot`` of stream ``key``: two per hash (low half for even slots)."""
    h = py_stream(key, slot // 2)
    return (h & 0xFFFFFFFF) if slot % 2 == 0 else (h >> 32)


def seed_key(seed: int, *salts: int) -> int:
    """A 64-bit key from a user seed and any number of integer salts (a block's row/column, a purpose)."""
    key = py_mix64(int(seed) & MASK64)
    for salt in salts:
        key = py_mix64(key ^ py_mix64((int(salt) + 1) * GOLDEN))
    return key
