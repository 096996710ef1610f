"""numba kernels of the analog read's cost side (private; :class:`archsim.analog.array.AnalogArray` calls them)."""

from __future__ import annotations

import numba
import numpy as np

# Reassociation lets LLVM vectorise the row sums (a horizontal reduction); the sums then depend on the
# machine's vector width in their last bits, as NumPy's own SIMD sums and BLAS products already do.
_VECTORISE = {"reassoc", "nsz", "contract"}


@numba.njit(cache=True, nogil=True, fastmath=_VECTORISE)
def _position_sums(weights, low, inverse_range, column_sums, row_sums):
    """Row and column sums of each weight's place in its device's range, ``clip((w - low) * inverse_range, 0, 1)``
    (float32 inputs of one shape, computed in float32 like NumPy would), accumulated in float64 into
    ``column_sums`` (over rows) and ``row_sums`` (over columns): one pass, no temporary matrix."""
    rows, cols = weights.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    column_sums[:] = 0.0
    for i in range(rows):
        total = 0.0
        for j in range(cols):
            position = (weights[i, j] - low[i, j]) * inverse_range[i, j]
            position = min(max(position, zero), one)
            column_sums[j] += position
            total += position
        row_sums[i] = total
