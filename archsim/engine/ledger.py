"""The energy ledger: exact integer accounting by (component, phase).

Energies are counted in quanta of 2^-12 pJ (about 0.24 fJ). Every charge is rounded once to a whole
number of quanta, so sums are exact integers; and because every float a ledger reports is a whole
multiple of 2^-12 pJ below 2^41 pJ (2.2 J), adding those floats in any order is exact too: the
components of a step sum to its phases and to its total bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from archsim.hw.components import LEDGER_LINES
from archsim.ops import PHASES

#: Ledger component keys, in report order: the lines the component models charge
#: (:data:`archsim.hw.components.LEDGER_LINES`), so a new component appears here by being listed there.
COMPONENTS = LEDGER_LINES
QUANTUM_EXPONENT = 12
QUANTA_PER_PJ = 1 << QUANTUM_EXPONENT


def to_quanta(energy_pj: float) -> int:
    """Round an energy in pJ to whole ledger quanta."""
    return round(energy_pj * QUANTA_PER_PJ)


def to_pj(quanta: int) -> float:
    """Ledger quanta as pJ (exact while below 2^41 pJ)."""
    return math.ldexp(quanta, -QUANTUM_EXPONENT)


@dataclass
class StepCost:
    """Latency and energy of one step (or, from :meth:`Engine.totals`, of all steps so far).

    ``latency_ns_by_phase`` is each phase's span (first start to last end) within the step's window.
    ``energy_quanta`` is the exact ledger: (component, phase) -> integer quanta of 2^-12 pJ.
    """

    latency_cycles: int
    latency_ns: float
    energy_pj: float
    energy_pj_by_component: dict[str, float]
    energy_pj_by_phase: dict[str, float]
    energy_pj_by_component_phase: dict[tuple[str, str], float]
    latency_ns_by_phase: dict[str, float]
    energy_quanta: dict[tuple[str, str], int] = field(default_factory=dict)
    steps: int = 1
    ops: int = 0
    cached: bool = False

    @classmethod
    def from_quanta(
        cls,
        quanta: dict[tuple[str, str], int],
        latency_cycles: int,
        cycle_ns: float,
        phase_cycles: dict[str, int],
        *,
        steps: int = 1,
        ops: int = 0,
        cached: bool = False,
    ) -> StepCost:
        by_component = dict.fromkeys(COMPONENTS, 0)
        by_phase: dict[str, int] = dict.fromkeys(PHASES, 0)
        for (component, phase), q in quanta.items():
            by_component[component] += q
            by_phase[phase] += q
        ldexp = math.ldexp
        return cls(
            latency_cycles=latency_cycles,
            latency_ns=latency_cycles * cycle_ns,
            energy_pj=ldexp(sum(by_component.values()), -QUANTUM_EXPONENT),
            energy_pj_by_component={c: ldexp(q, -QUANTUM_EXPONENT) for c, q in by_component.items()},
            energy_pj_by_phase={p: ldexp(q, -QUANTUM_EXPONENT) for p, q in by_phase.items()},
            energy_pj_by_component_phase={k: ldexp(q, -QUANTUM_EXPONENT) for k, q in quanta.items()},
            latency_ns_by_phase={p: phase_cycles.get(p, 0) * cycle_ns for p in PHASES},
            energy_quanta=dict(quanta),
            steps=steps,
            ops=ops,
            cached=cached,
        )


def add_into(target: dict, source: dict) -> None:
    """target[k] += source[k] for every key."""
    for key, value in source.items():
        target[key] = target.get(key, 0) + value


def deferred_step_cost(
    quanta: dict[tuple[str, str], int],
    latency_cycles: int,
    cycle_ns: float,
    phase_cycles: dict[str, int],
    *,
    ops: int = 0,
    cached: bool = False,
) -> StepCost:
    """A :class:`StepCost` of one step (as :meth:`StepCost.from_quanta` makes it) whose fields are worked out
    from the ledger when first read: the engine returns one per step, and most callers keep only the totals."""
    cost = _DeferredStepCost.__new__(_DeferredStepCost)
    # (the fields with defaults are class attributes, which attribute lookup finds first: set them now)
    cost.__dict__.update(steps=1, ops=ops, cached=cached, _deferred=(quanta, latency_cycles, cycle_ns, phase_cycles))
    return cost


class _DeferredStepCost(StepCost):
    """A StepCost made on first access to any field (see :func:`deferred_step_cost`)."""

    def __getattr__(self, name: str):
        # called only for attributes not yet set: every field before the first access
        deferred = self.__dict__.pop("_deferred", None) if not name.startswith("__") else None
        if deferred is None:
            raise AttributeError(name)
        quanta, latency_cycles, cycle_ns, phase_cycles = deferred
        made = StepCost.from_quanta(quanta, latency_cycles, cycle_ns, phase_cycles, ops=self.ops, cached=self.cached)
        self.__dict__.update(made.__dict__)
        return getattr(self, name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StepCost):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(StepCost))

    def __repr__(self) -> str:
        return repr(StepCost(**{f.name: getattr(self, f.name) for f in fields(StepCost)}))

    __hash__ = None  # type: ignore[assignment]  # as StepCost's (a mutable dataclass)
