"""The SimPy discrete-event engine: costs each step's operations against an architecture.

Public API: ``Engine(arch, mapping, transfer_policy="inline", cache=True, trace=False, schedule=None)``,
``engine.run_step(ops, samples=None) -> StepCost``, ``engine.totals()``, ``engine.utilisation()``,
``engine.chrome_trace()``. The engine knows nothing of devices or algorithms: only the operation stream
(:mod:`archsim.ops`) and the architecture.
"""

from archsim.engine.engine import TRANSFER_POLICIES, Engine
from archsim.engine.ledger import COMPONENTS, StepCost

__all__ = ["COMPONENTS", "Engine", "StepCost", "TRANSFER_POLICIES"]
