"""The Pareto front against a brute-force reference, on random points with ties and missing values."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.report.pareto import metric_maximized, pareto_front


def brute_force_front(points, maximize):
    """Straight from the definition: i is on the front if no j is no worse everywhere and better somewhere."""
    def as_cost(point):
        return [-v if up else v for v, up in zip(point, maximize)]

    costs = [as_cost(p) for p in points]
    front = []
    for i, mine in enumerate(costs):
        if any(math.isnan(v) for v in mine):
            continue
        dominated = False
        for j, other in enumerate(costs):
            if j == i or any(math.isnan(v) for v in other):
                continue
            if all(o <= m for o, m in zip(other, mine)) and any(o < m for o, m in zip(other, mine)):
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


def problems(values):
    """(points, maximize) with 1-3 objectives; few distinct values so that ties are common."""
    return st.integers(1, 3).flatmap(lambda k: st.tuples(
        st.lists(st.lists(values, min_size=k, max_size=k), min_size=0, max_size=40),
        st.lists(st.booleans(), min_size=k, max_size=k)))


@settings(max_examples=300, deadline=None)
@given(problems(st.integers(0, 4).map(float)))
def test_front_matches_brute_force_with_ties(problem):
    points, maximize = problem
    assert pareto_front(np.array(points).reshape(len(points), len(maximize)), maximize) == \
        brute_force_front(points, maximize)


@settings(max_examples=300, deadline=None)
@given(problems(st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(float("nan")))))
def test_front_matches_brute_force_with_reals_and_nan(problem):
    points, maximize = problem
    assert pareto_front(np.array(points).reshape(len(points), len(maximize)), maximize) == \
        brute_force_front(points, maximize)


def test_accuracy_energy_latency_example():
    # (accuracy up, energy down, latency down)
    points = [(0.90, 10.0, 5.0),   # front: cheapest energy
              (0.95, 20.0, 5.0),   # front: most accurate
              (0.90, 12.0, 5.0),   # dominated by point 0 (same accuracy, more energy)
              (0.80, 30.0, 1.0),   # front: fastest
              (0.95, 20.0, 5.0)]   # equal to point 1: kept as well
    assert pareto_front(points, [True, False, False]) == [0, 1, 3, 4]


def test_front_rejects_mismatched_directions():
    with pytest.raises(ValueError):
        pareto_front([[1.0, 2.0]], [True])


@pytest.mark.parametrize("name,higher_is_better", [
    ("test_accuracy", True), ("accuracy", True), ("test_loss", False), ("mse", False),
    ("error_rate", False), (None, True)])
def test_metric_direction_from_its_name(name, higher_is_better):
    assert metric_maximized(name) is higher_is_better
