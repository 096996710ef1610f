"""numba kernels of the analog read's cost side (private; :class:`archsim.analog.array.AnalogArray` calls them).

Both take a block's read matrix (outputs x inputs, float32), its devices' lower bounds and 1 / (upper - lower)
(float32, same shape), and sum each cell's place in its device's range, ``clip((w - low) * inverse_range, 0, 1)``
(computed in float32, as NumPy would), in float64 along the lines of one direction.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _input_line_sums(weights, low, inverse_range, lines, sums):
    """Per input line (a column of the matrix), the sum over its outputs, into ``sums`` (float64, one per input).

    ``lines`` (int64): only these input lines are summed (the other entries of ``sums`` are left as they are);
    empty: all of them. Each line is summed over the outputs in order, one addition after another (no
    reassociation), so a line's sum is the same bits whichever lines are summed with it."""
    rows, cols = weights.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    if lines.size == 0:
        sums[:] = 0.0
        for i in range(rows):  # the inner loop runs along memory: vectorised across lines, each in order
            for j in range(cols):
                sums[j] += min(max((weights[i, j] - low[i, j]) * inverse_range[i, j], zero), one)
        return
    for j in lines:
        total = 0.0
        for i in range(rows):
            total += min(max((weights[i, j] - low[i, j]) * inverse_range[i, j], zero), one)
        sums[j] = total


# Reassociation lets LLVM vectorise a row's sum (a horizontal reduction); the sums then depend on the machine's
# vector width in their last bits, as NumPy's own SIMD sums and BLAS products already do.
@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz", "contract"})
def _output_line_sums(weights, low, inverse_range, sums):
    """Per output line (a row of the matrix), the sum over its inputs, into ``sums`` (float64, one per row). A
    row's sum depends on that row alone: the sums of a few rows gathered equal their sums in the whole matrix."""
    rows, cols = weights.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    for i in range(rows):
        total = 0.0
        for j in range(cols):
            total += min(max((weights[i, j] - low[i, j]) * inverse_range[i, j], zero), one)
        sums[i] = total
