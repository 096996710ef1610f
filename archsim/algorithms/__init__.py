"""Training algorithms: one module per algorithm, one table of them (:mod:`archsim.algorithms.registry`)."""

from archsim.algorithms.registry import ALGORITHMS, AlgorithmSpec, make_store

__all__ = ["ALGORITHMS", "AlgorithmSpec", "make_store"]
