"""numba kernels of the analog read (private): the read path's element-wise work around the crossbar product
(:func:`archsim.analog.io.analog_read`) and the line sums of the read load (:class:`archsim.analog.array.AnalogArray`).

The line-sum kernels take a block's read weights (float32), its devices' lower bounds and 1 / (upper - lower)
(float32, the block's shape, outputs x inputs), and ``off``, the off-state conductance over the on-state one. They
sum each cell's place in its device's range, ``clip((w - low) * inverse_range, 0, 1)`` (computed in float32, as
NumPy would), in float64 along the lines of one direction, and give each line's sum of ``G / G_on`` (with
``G = G_off + (G_on - G_off) * position``, :func:`_conductance`).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _position(weight, low, inverse_range):
    """A cell's place in its device's range, clipped to [0, 1] (float32 in, float32 out)."""
    return min(max((weight - low) * inverse_range, np.float32(0.0)), np.float32(1.0))


@numba.njit(cache=True, inline="always")
def _conductance(position_sum, cells, off):
    """Sum of ``G / G_on`` along a line of ``cells`` cells whose positions sum to ``position_sum`` (float64)."""
    return off * cells + (1.0 - off) * position_sum


@numba.njit(cache=True, nogil=True)
def _input_line_sums(weights, low, inverse_range, lines, off, sums):
    """Per input line (a column of the matrix), its sum of ``G / G_on`` over the outputs, into ``sums`` (float64, one
    per input).

    ``lines`` (int64): only these input lines are summed (the other entries of ``sums`` are left as they are);
    empty: all of them. Each line is summed over the outputs in order, one addition after another (no
    reassociation), so a line's sum is the same bits whichever lines are summed with it."""
    rows, cols = weights.shape
    if lines.size == 0:
        sums[:] = 0.0
        for i in range(rows):  # the inner loop runs along memory: vectorised across lines, each in order
            for j in range(cols):
                sums[j] += _position(weights[i, j], low[i, j], inverse_range[i, j])
        for j in range(cols):
            sums[j] = _conductance(sums[j], rows, off)
        return
    for j in lines:
        total = 0.0
        for i in range(rows):
            total += _position(weights[i, j], low[i, j], inverse_range[i, j])
        sums[j] = _conductance(total, rows, off)


@numba.njit(cache=True, nogil=True)
def _convert_summing_inputs(weights, low, inverse_range, off, matrix, sums):
    """``matrix`` (float32, same shape) receives ``weights`` (float64) rounded to float32 and ``sums`` (float64, one
    per input) their per-input-line sums as :func:`_input_line_sums` of all lines gives them (the same bits): the
    conversion a read needs anyway and the read load's reduction in one pass over the block."""
    rows, cols = weights.shape
    sums[:] = 0.0
    for i in range(rows):
        for j in range(cols):
            value = np.float32(weights[i, j])
            matrix[i, j] = value
            sums[j] += _position(value, low[i, j], inverse_range[i, j])
    for j in range(cols):
        sums[j] = _conductance(sums[j], rows, off)


@numba.njit(cache=True, nogil=True)
def _picked_input_sums(columns, low, inverse_range, lines, off, sums):
    """Per picked input line ``lines[p]``, its sum over the outputs of the weights ``columns[p]`` (float32, one row
    per picked line: the line's cells in output order), into ``sums[p]``: the same bits as :func:`_input_line_sums`
    of that line in the whole matrix."""
    picked, rows = columns.shape
    for p in range(picked):
        j = lines[p]
        total = 0.0
        for i in range(rows):
            total += _position(columns[p, i], low[i, j], inverse_range[i, j])
        sums[p] = _conductance(total, rows, off)


@numba.njit(cache=True, nogil=True)
def _gather_input_lines(weights, lines, columns, low, inverse_range, off, sums, summing):
    """``columns[p]`` (float32, one row per picked line) receives input line ``lines[p]`` of ``weights`` (float32 or
    float64, outputs x inputs) in output order, rounded to float32; with ``summing``, ``sums[p]`` its sum of
    ``G / G_on`` as :func:`_picked_input_sums` gives it (the same bits), in the same pass over the block's rows."""
    rows = weights.shape[0]
    picked = lines.size
    if summing:
        sums[:] = 0.0
    for i in range(rows):
        for p in range(picked):
            j = lines[p]
            value = np.float32(weights[i, j])
            columns[p, i] = value
            if summing:
                sums[p] += _position(value, low[i, j], inverse_range[i, j])
    if summing:
        for p in range(picked):
            sums[p] = _conductance(sums[p], rows, off)


@numba.njit(cache=True, nogil=True)
def _convert_lines(weights, lines, matrix):
    """``matrix[:, j]`` (float32) receives ``weights[:, j]`` (float64) rounded to float32 for each input line j in
    ``lines``: a matrix converted again only where it was written."""
    rows = weights.shape[0]
    for i in range(rows):
        for j in lines:
            matrix[i, j] = np.float32(weights[i, j])


# Reassociation lets LLVM vectorise a row's sum (a horizontal reduction); the sums then depend on the machine's
# vector width in their last bits, as NumPy's own SIMD sums and BLAS products already do. No contraction: the
# conductance of a sum is the same two roundings as in the other kernels.
@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz"})
def _output_line_sums(weights, low, inverse_range, off, sums):
    """Per output line (a row of the matrix), its sum of ``G / G_on`` over the inputs, into ``sums`` (float64, one
    per row). A row's sum depends on that row alone: the sums of a few rows gathered equal their sums in the whole
    matrix."""
    rows, cols = weights.shape
    for i in range(rows):
        total = 0.0
        for j in range(cols):
            total += _position(weights[i, j], low[i, j], inverse_range[i, j])
        sums[i] = _conductance(total, cols, off)


# The read path's element-wise work, one pass each side of the product instead of a dozen NumPy calls: the same
# IEEE operations in the same order as NumPy's, so the results are the same bits (tests compare them).


@numba.njit(cache=True, nogil=True)
def _dac_inputs(x, inp_bound, noise_management, inp_step, inp_levels, scale, quantised, drive, track_drive):
    """Noise management and DAC quantisation of the vectors ``x`` (float64, vectors x inputs) for a multi-level
    read: ``scale`` receives each vector's abs-max (1 for an all-zero vector; ``inp_bound`` without noise
    management), ``quantised`` (float32) the DAC levels times ``inp_step``, and, if ``track_drive``, ``drive`` (one
    per input) adds ``sum_v |x_q| / inp_bound`` (``x_q`` in float64, summed over the vectors in order)."""
    vectors, inputs = x.shape
    levels = float(inp_levels)
    totals = np.zeros(inputs)
    for v in range(vectors):
        factor = 1.0
        if noise_management:
            largest = 0.0
            for i in range(inputs):
                largest = max(largest, abs(x[v, i]))
            scale[v] = largest if largest != 0.0 else 1.0
            factor = inp_bound / scale[v]
        else:
            scale[v] = inp_bound
        for i in range(inputs):
            value = x[v, i] * factor if noise_management else x[v, i]
            level = min(max(np.rint(value / inp_step), -levels), levels)
            q = level * inp_step
            quantised[v, i] = q
            totals[i] += abs(q)
    if track_drive:
        for i in range(inputs):
            drive[i] += totals[i] / inp_bound


@numba.njit(cache=True, nogil=True)
def _adc_outputs(y, out_bound, out_step, out_levels, scale, inp_bound, result, saturated):
    """ADC of the crossbar outputs ``y`` (float32, vectors x outputs, noise added): ``saturated`` (bool, one per
    vector) whether any output reached ``+-out_bound``, ``result`` (float64) the levels times ``out_step`` scaled
    back by ``scale / inp_bound``. ``out_bound`` and ``out_step`` are float32, as NumPy casts them against a
    float32 array. Returns whether any vector saturated."""
    vectors, outputs = y.shape
    levels = np.float32(out_levels)
    any_saturated = False
    for v in range(vectors):
        factor = scale[v] / inp_bound  # as the NumPy loop's first attempt, whose halving is 1
        hit = False
        for o in range(outputs):
            value = y[v, o]
            if abs(value) >= out_bound:
                hit = True
            level = min(max(np.float32(np.rint(value / out_step)), -levels), levels)
            result[v, o] = np.float64(level * out_step) * factor
        saturated[v] = hit
        any_saturated = any_saturated or hit
    return any_saturated
