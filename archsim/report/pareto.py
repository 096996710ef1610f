"""Pareto fronts: the points no other point beats in every objective at once.

Point ``a`` *dominates* point ``b`` when ``a`` is at least as good as ``b`` in every objective and
strictly better in at least one. The front is the set of points nobody dominates. Points with equal
objective values do not dominate each other, so duplicates on the front are all kept. A point with a
missing (NaN) objective cannot be compared and is never on the front.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Words that mark a metric where lower is better (``test_loss``, ``mse``, ``error_rate``...).
#: Every other metric (``test_accuracy``...) is taken as higher is better.
LOWER_IS_BETTER_WORDS = ("loss", "error", "mse", "rmse", "mae", "nll", "perplexity", "distance", "regret")


def metric_maximized(name: str | None) -> bool:
    """Whether a larger value of the metric ``name`` is better (accuracy: yes; a loss or error: no)."""
    lowered = (name or "").lower()
    return not any(word in lowered for word in LOWER_IS_BETTER_WORDS)


def pareto_front(values: Sequence[Sequence[float]] | np.ndarray, maximize: Sequence[bool]) -> list[int]:
    """Indices (ascending) of the rows of ``values`` on the Pareto front.

    ``values`` is an (n points, k objectives) array; ``maximize[j]`` says whether objective j is to be
    maximised (else minimised). Runs in O(n log n + n * front size * k).
    """
    array = np.asarray(values, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"expected an (n, k) array of objective values, got shape {array.shape}")
    n, k = array.shape
    if len(maximize) != k:
        raise ValueError(f"{len(maximize)} directions for {k} objectives")
    if n == 0:
        return []
    costs = np.where(np.asarray(maximize, dtype=bool), -array, array)  # every objective now minimised
    comparable = np.flatnonzero(~np.isnan(costs).any(axis=1))
    if comparable.size == 0:
        return []
    costs = costs[comparable]
    # In lexicographic order a point can only be dominated by points before it (or equal to it), so
    # one pass that compares each point with the front found so far is exact.
    order = np.lexsort(costs.T[::-1])
    front: list[int] = []
    front_costs = np.empty_like(costs)  # the first len(front) rows hold the front's costs
    for index in order:
        candidate = costs[index]
        found = front_costs[: len(front)]
        if not np.any(np.all(found <= candidate, axis=1) & np.any(found < candidate, axis=1)):
            front_costs[len(front)] = candidate
            front.append(int(comparable[index]))
    return sorted(front)
