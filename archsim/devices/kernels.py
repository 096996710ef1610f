"""Private numba kernels of the pulsed update. Public drivers are in :mod:`archsim.devices.update`.

Every kernel takes arrays and scalars only, runs ``parallel=True`` over weight rows (outputs) where the
work is large, and draws its random numbers from :mod:`archsim.devices.rng` keyed by (sample, device,
pulse), so results do not depend on the number of threads. Each has a slow reference in
:mod:`archsim.devices.reference` that the tests compare against.

Conventions: ``w`` is (outputs, inputs); an update applies ``dW = -lr * d x^T``, so a device (i, j) gets
*up* pulses when ``d_i * x_j < 0``. Pulse trains are bit-packed, ``n_words = ceil(BL / 64)`` uint64 words
per row or column and sample; a device's coincidences are the population count of the AND of its row's
and its column's words.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.extending import intrinsic

from archsim.devices.models import _mean_step, _noise_std
from archsim.devices.rng import (COL_SALT, DEVICE_SALT, ROW_SALT, WRITE_NOISE_DRAW, _normal, _stream,
                                 _subkey)

_DEVICE_SALT = np.uint64(DEVICE_SALT)
_ROW_SALT = np.uint64(ROW_SALT)
_COL_SALT = np.uint64(COL_SALT)
_LOW32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_TWO32 = 4294967296.0


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
def _pulse_device(w, n, up, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, dev_key, table, noisy):
    """Fire ``n`` pulses in one direction at one device; returns the new (clipped) weight.

    Pulse k draws normal number k of the device's stream for its cycle-to-cycle noise.
    """
    scale = su if up else sd
    sign = 1.0 if up else -1.0
    for k in range(n):
        step = _mean_step(model, w, up, su, sd, bmax, bmin, gu, gd, glob, pw_up, pw_down)
        if noisy:
            step += _noise_std(step, scale, glob) * _normal(dev_key, k, table)
        w = min(max(w + sign * step, bmin), bmax)
    return w


@nb.njit(cache=True, parallel=True)
def _pulse_trains(magnitudes, prob_scale, bl, keys, row_salt, bits, counts):
    """Bernoulli pulse trains: slot t of vector element v in sample b fires with p = min(|v| * scale_b, 1).

    Slot t compares 32-bit uniform number t of the element's stream with p * 2^32 (two uniforms per hash).
    ``bits`` (B, n, n_words) and ``counts`` (B, n) are written.
    """
    n_samples, size = magnitudes.shape
    n_words = bits.shape[2]
    for flat in nb.prange(n_samples * size):
        b = flat // size
        v = flat - b * size
        for q in range(n_words):
            bits[b, v, q] = 0
        p = magnitudes[b, v] * prob_scale[b]
        length = bl[b]
        if p <= 0.0 or length <= 0:
            counts[b, v] = 0
            continue
        threshold = np.uint64(_TWO32) if p >= 1.0 else np.uint64(p * _TWO32)
        key = _subkey(keys[b], v, _ROW_SALT if row_salt else _COL_SALT)
        fired = 0
        h = np.uint64(0)
        for t in range(length):
            if t % 2 == 0:
                h = _stream(key, t // 2)
                u = h & _LOW32
            else:
                u = h >> _S32
            if u < threshold:
                bits[b, v, t // 64] |= _ONE << np.uint64(t % 64)
                fired += 1
        counts[b, v] = fired


@nb.njit(cache=True, parallel=True)
def _stochastic_update(w, w_app, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, d_sign, x_sign,
                       row_bits, col_bits, keys, table, noisy, write_noise, device_pulses):
    """Apply one bit-packed stochastic rank-1 update per sample, samples in order, rows in parallel.

    Per row and sample, a first branch-free pass counts every device's coincidences and compacts the
    devices that got any; a second pass pulses only those (random zero/non-zero patterns would otherwise
    cost a mispredicted branch per device). ``device_pulses[i, b]`` receives row i's coincidences in sample b.
    """
    n_out, n_in = w.shape
    n_samples = keys.shape[0]
    n_words = row_bits.shape[2]
    write_std = glob[2]
    for i in nb.prange(n_out):
        hit_cols = np.empty(n_in, dtype=np.int64)
        hit_counts = np.empty(n_in, dtype=np.int64)
        for b in range(n_samples):
            device_pulses[i, b] = 0
            any_bit = np.uint64(0)
            for q in range(n_words):
                any_bit |= row_bits[b, i, q]
            if any_bit == 0:
                continue
            hits = 0
            if n_words == 1:
                row_word = row_bits[b, i, 0]
                for j in range(n_in):
                    n = _popcount(row_word & col_bits[b, j, 0])
                    hit_cols[hits] = j
                    hit_counts[hits] = n
                    hits += n != 0
            else:
                for j in range(n_in):
                    n = 0
                    for q in range(n_words):
                        n += _popcount(row_bits[b, i, q] & col_bits[b, j, q])
                    hit_cols[hits] = j
                    hit_counts[hits] = n
                    hits += n != 0
            key = keys[b]
            sign_d = d_sign[b, i]
            fired = 0
            for h in range(hits):
                j = hit_cols[h]
                n = hit_counts[h]
                up = sign_d * x_sign[b, j] < 0
                dev_key = _subkey(key, i * n_in + j, _DEVICE_SALT)
                w[i, j] = _pulse_device(w[i, j], n, up, su[i, j], sd[i, j], bmax[i, j], bmin[i, j], gu[i, j],
                                        gd[i, j], model, glob, pw_up, pw_down, dev_key, table, noisy)
                if write_noise:
                    w_app[i, j] = w[i, j] + write_std * _normal(dev_key, WRITE_NOISE_DRAW, table)
                fired += n
            device_pulses[i, b] = fired


@nb.njit(cache=True, parallel=True)
def _mean_count_update(w, w_app, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, d_sign, x_sign,
                       d_counts, x_counts, bl, keys, table, noisy, write_noise, device_pulses):
    """Deterministic pulse counts: device (i, j) gets round(c_d[i] * c_x[j] / BL) pulses (aihwkit MeanCount)."""
    n_out, n_in = w.shape
    n_samples = keys.shape[0]
    write_std = glob[2]
    for i in nb.prange(n_out):
        for b in range(n_samples):
            device_pulses[i, b] = 0
            cd = d_counts[b, i]
            if cd == 0 or bl[b] == 0:
                continue
            per_x = cd / bl[b]
            key = keys[b]
            fired = 0
            for j in range(n_in):
                n = np.int64(np.floor(per_x * x_counts[b, j] + 0.5))
                if n == 0:
                    continue
                up = d_sign[b, i] * x_sign[b, j] < 0
                dev_key = _subkey(key, i * n_in + j, _DEVICE_SALT)
                w[i, j] = _pulse_device(w[i, j], n, up, su[i, j], sd[i, j], bmax[i, j], bmin[i, j], gu[i, j],
                                        gd[i, j], model, glob, pw_up, pw_down, dev_key, table, noisy)
                if write_noise:
                    w_app[i, j] = w[i, j] + write_std * _normal(dev_key, WRITE_NOISE_DRAW, table)
                fired += n
            device_pulses[i, b] = fired


@nb.njit(cache=True, parallel=True)
def _expected_update(w, w_app, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, x, d, lr, dw_min,
                     keys, table, noisy, write_noise):
    """Expected-value update of the theory, one sample at a time: for dW = -lr d_i x_j,

    ``w += dW F(w) - |dW| G(w)`` = ``n * step_up(w)`` (dW > 0) or ``-n * step_down(w)`` (dW < 0) with
    ``n = |dW| / dw_min`` pulses' worth, plus the noise of n pulses: std ``sqrt(n) * pulse_std``.
    """
    n_out, n_in = w.shape
    n_samples = keys.shape[0]
    write_std = glob[2]
    for i in nb.prange(n_out):
        for b in range(n_samples):
            scaled_d = -lr * d[b, i]
            if scaled_d == 0.0:
                continue
            key = keys[b]
            for j in range(n_in):
                dw = scaled_d * x[b, j]
                if dw == 0.0:
                    continue
                up = dw > 0.0
                pulses = abs(dw) / dw_min
                wij = w[i, j]
                step = _mean_step(model, wij, up, su[i, j], sd[i, j], bmax[i, j], bmin[i, j], gu[i, j],
                                  gd[i, j], glob, pw_up, pw_down)
                change = pulses * step
                dev_key = _subkey(key, i * n_in + j, _DEVICE_SALT)
                if noisy:
                    scale = su[i, j] if up else sd[i, j]
                    change += np.sqrt(pulses) * _noise_std(step, scale, glob) * _normal(dev_key, 0, table)
                wij = wij + change if up else wij - change
                w[i, j] = min(max(wij, bmin[i, j]), bmax[i, j])
                if write_noise:
                    w_app[i, j] = w[i, j] + write_std * _normal(dev_key, WRITE_NOISE_DRAW, table)


@nb.njit(cache=True, parallel=True)
def _apply_counts(w, w_app, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, counts, key, table,
                  noisy, write_noise):
    """Fire ``|counts[i, j]|`` pulses at device (i, j), up where positive, down where negative."""
    n_out, n_in = w.shape
    write_std = glob[2]
    for i in nb.prange(n_out):
        for j in range(n_in):
            c = counts[i, j]
            if c == 0:
                continue
            dev_key = _subkey(key, i * n_in + j, _DEVICE_SALT)
            w[i, j] = _pulse_device(w[i, j], abs(c), c > 0, su[i, j], sd[i, j], bmax[i, j], bmin[i, j],
                                    gu[i, j], gd[i, j], model, glob, pw_up, pw_down, dev_key, table, noisy)
            if write_noise:
                w_app[i, j] = w[i, j] + write_std * _normal(dev_key, WRITE_NOISE_DRAW, table)


@nb.njit(cache=True)
def _pulse_protocol(w, w_app, su, sd, bmax, bmin, gu, gd, model, glob, pw_up, pw_down, directions, base_key,
                    table, noisy, write_noise, mean_out, std_out):
    """Apply one pulse per device per step, ``directions[step]`` = +1 up / -1 down, to flat device arrays;
    record the mean and (population) std over devices of the apparent weight after each step."""
    n_devices = w.shape[0]
    write_std = glob[2]
    for step in range(directions.shape[0]):
        key = _stream(base_key, step)
        up = directions[step] > 0
        total = 0.0
        for k in range(n_devices):
            dev_key = _subkey(key, k, _DEVICE_SALT)
            w[k] = _pulse_device(w[k], 1, up, su[k], sd[k], bmax[k], bmin[k], gu[k], gd[k], model, glob, pw_up,
                                 pw_down, dev_key, table, noisy)
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
