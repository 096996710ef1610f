"""Hardware: component cost models, the NoC graph and the architecture built from a hardware description.

Public API: :class:`Architecture` (``Architecture(hw)``) and :func:`build_ert` (``build_ert(hw)`` -> list of
energy-reference-table entries). Component models never import the engine.
"""

from archsim.hw.architecture import Architecture, build_ert, to_cycles
from archsim.hw.components import (
    Action,
    AdcModel,
    CrossbarModel,
    DacModel,
    DigitalUnitModel,
    LeakageModel,
    NocModel,
    PulseGeneratorModel,
    SramBufferModel,
    survey_energy_per_conversion,
)

__all__ = [
    "Action",
    "AdcModel",
    "Architecture",
    "CrossbarModel",
    "DacModel",
    "DigitalUnitModel",
    "LeakageModel",
    "NocModel",
    "PulseGeneratorModel",
    "SramBufferModel",
    "build_ert",
    "survey_energy_per_conversion",
    "to_cycles",
]
