"""The architecture built from one hardware description: components, tiles, NoC graph and timing in cycles.

Latencies given in seconds are converted to integer clock cycles here, once, when the architecture is
built; the engine only ever sees cycles.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import networkx as nx

from archsim.config.hw import HwConfig
from archsim.errors import ArchsimError
from archsim.hw.components import (
    COMPONENT_MODELS,
    ERT_FIELDS,
    Action,
    AdcModel,
    CrossbarModel,
    DacModel,
    DigitalUnitModel,
    DramModel,
    LeakageModel,
    NocModel,
    PulseGeneratorModel,
    SramBufferModel,
)
from archsim.hw.noc import TopologyError, build_router_graph, hub_router

#: Where the shared units sit: "digital" and "buffer" on the hub router, "io" (the DRAM interface) on router 0
#: (a chip edge).
SHARED_LOCATIONS = ("digital", "buffer", "io")
_ROUNDING_SLACK = 1e-9  # cycles; keeps 10 ns at 1 GHz at 10 cycles despite float error


def to_cycles(seconds: float, clock_hz: float) -> int:
    """Whole clock cycles covering ``seconds`` (rounded up)."""
    return max(0, math.ceil(seconds * clock_hz - _ROUNDING_SLACK))


class Architecture:
    """One accelerator: cost models of every component, the tiles and the NoC (a networkx graph).

    ``graph`` has one node per router (tile ``t`` sits on router ``t // noc.concentration``); the global
    digital units and the SRAM buffer sit on the hub router (lowest-numbered barycentre), chip I/O on router 0.
    """

    def __init__(self, hw: HwConfig):
        self.hw = hw
        self.clock_hz = hw.clock
        self.cycle_ns = 1e9 / hw.clock
        tile, array = hw.tile, hw.array
        static = hw.leakage.static_fraction
        # every component from its own model (archsim.hw.components.COMPONENT_MODELS), by its attribute name
        self.components: dict[str, Any] = {
            model.attribute: model.from_hw(hw, self.cycle_ns) for model in COMPONENT_MODELS
        }
        self.adc: AdcModel = self.components["adc"]
        self.dac: DacModel = self.components["dac"]
        self.crossbar: CrossbarModel = self.components["crossbar"]
        self.pulse_generator: PulseGeneratorModel = self.components["pulse_generator"]
        self.digital: DigitalUnitModel = self.components["digital"]
        self.buffer: SramBufferModel = self.components["buffer"]
        self.dram: DramModel = self.components["dram"]
        self.noc: NocModel = self.components["noc"]
        try:
            self.graph: nx.Graph = build_router_graph(hw.noc, tile.count)
        except TopologyError as problem:  # a programmatically built HwConfig that skipped validation
            raise ArchsimError(f"hw.{problem.key}: {problem.message}") from None
        self.routers = [n for n in self.graph.nodes if not self.graph.nodes[n].get("bus")]
        self.hub = hub_router(self.graph)
        self.io_router = 0
        #: ports of each router: one per link plus the local port of its tiles and units
        self.router_ports = {r: self.graph.degree(r) + 1 for r in self.routers}
        self._leaky = [model for model in self.components.values() if model.leakage_kind is not None]
        self.leakage = LeakageModel(
            {model.leakage_kind: model.static_power_w for model in self._leaky},
            self._leakage_instances(tile.count, sum(self.router_ports.values())),
            self.cycle_ns,
            f"hw.leakage.static_fraction = {static:g} of each component's full-load power (its own cost model)",
        )

        # -- timing in cycles, converted once ------------------------------------------------------
        self.read_cycles = to_cycles(array.read_time, self.clock_hz)
        widest = max(tile.rows, tile.cols)
        conversion_s = 1.0 / hw.adc.sample_rate
        #: conversion_cycles[k]: cycles for one ADC to make k conversions back to back
        self.conversion_cycles = [to_cycles(k * conversion_s, self.clock_hz) for k in range(widest + 1)]
        # cycles per BL slot (may be fractional); a multi-phase write repeats every slot once per phase
        self.slot_cycles_exact = array.write_pulse_width * array.write_phases * self.clock_hz
        self._routes: dict[tuple[int, int], tuple] = {}

    # -- tiles and NoC ---------------------------------------------------------------------------
    def tile_router(self, tile: int) -> int:
        """Router a tile is attached to."""
        return tile // self.hw.noc.concentration

    def shared_router(self, location: str) -> int:
        """Router of a shared unit: ``"digital"``, ``"buffer"`` or ``"io"``."""
        if location == "io":
            return self.io_router
        if location in ("digital", "buffer"):
            return self.hub
        raise ArchsimError(
            f"unknown location {location!r}; expected an array block or one of {', '.join(SHARED_LOCATIONS)}"
        )

    def route(self, src: int, dst: int) -> tuple[int, ...]:
        """Routers on the shortest path from ``src`` to ``dst`` (networkx BFS; deterministic)."""
        key = (src, dst)
        found = self._routes.get(key)
        if found is None:
            found = tuple(nx.shortest_path(self.graph, src, dst))
            self._routes[key] = found
        return found

    def channels(self, path: tuple[int, ...]) -> tuple[tuple, ...]:
        """The physical channels (resources) a transfer along ``path`` occupies, one per hop."""
        out = []
        for a, b in itertools.pairwise(path):
            shared = self.graph.edges[a, b]["channel"]
            out.append(("link", shared) if shared is not None else ("link", a, b))
        return tuple(dict.fromkeys(out))  # a bus is one channel however many hops cross it

    def leakage_counts(self, powered_tiles=None) -> dict[str, int]:
        """Instances that leak when only the tiles numbered in ``powered_tiles`` are powered (None: every tile).

        Routers: with ``hw.leakage.gate_unused_routers`` only those on a shortest route from the hub (digital
        units, buffer) to a powered tile or the I/O router leak, with all their ports; otherwise every router.
        """
        tiles = range(self.hw.tile.count) if powered_tiles is None else sorted(set(powered_tiles))
        ports = sum(self.router_ports.values())
        if self.hw.leakage.gate_unused_routers and powered_tiles is not None:
            ends = {self.tile_router(t) for t in tiles} | {self.io_router}
            paths = nx.single_source_shortest_path(self.graph, self.hub)
            routers = {r for end in ends for r in paths[end] if r in self.router_ports}
            ports = sum(self.router_ports[r] for r in routers)
        return self._leakage_instances(len(tiles), ports)

    def _leakage_instances(self, tiles: int, router_ports: int) -> dict[str, int]:
        """Leaking instances of each kind with ``tiles`` tiles and ``router_ports`` router ports powered."""
        return {model.leakage_kind: model.leakage_instances(self.hw, tiles, router_ports) for model in self._leaky}

    # -- timing helpers ----------------------------------------------------------------------------
    def mvm_cycles(self, passes: int, outputs: int, out_bits: int | None = None) -> int:
        """Cycles of ``passes`` array reads each converting ``outputs`` outputs at ``out_bits`` (default: the
        ADC's resolution; a SAR or ramp ADC converts fewer bits faster, see :class:`AdcModel`).

        The column sample-and-holds decouple integration from conversion (as in ISAAC), so pass ``i+1``
        integrates while pass ``i`` converts: ``passes * max(read, convert) + min(read, convert)``.
        """
        if passes <= 0:
            return 0
        read = self.read_cycles
        per_adc = min(self.adc.conversions_per_adc(outputs), len(self.conversion_cycles) - 1)
        if out_bits is None or out_bits >= self.adc.bits or self.adc.conversion_time_scale(out_bits) == 1.0:
            convert = self.conversion_cycles[per_adc]
        else:
            convert = to_cycles(
                per_adc * self.adc.conversion_time_scale(out_bits) / self.hw.adc.sample_rate, self.clock_hz
            )
        return passes * max(read, convert) + min(read, convert)

    def pulse_cycles(self, slots: int) -> int:
        """Cycles of ``slots`` BL slots of ``array.write_pulse_width`` each."""
        return max(0, math.ceil(slots * self.slot_cycles_exact - _ROUNDING_SLACK))

    def ert(self) -> list[dict]:
        """The energy reference table of this architecture (see :func:`build_ert`): every action the engine
        charges, its ``source`` the model's formula followed by each configuration field it rests on, with that
        field's citation and the file or ``--set`` that gave its value."""
        rows = []
        for action in self.actions():
            row = action.as_dict()
            keys = ERT_FIELDS.get((action.component, action.action)) or ERT_FIELDS.get((action.component, "*"), ())
            cited = [self._cite(key) for key in keys]
            if cited:
                row["source"] = row["source"] + " | " + "; ".join(cited)
            rows.append(row)
        return rows

    def _cite(self, key: str) -> str:
        """``hw.<key> = value (citation), set by <file or --set>``."""
        from archsim.config.hw import HwConfig
        from archsim.config.schema import iter_fields

        if not hasattr(self, "_field_sources"):
            self._field_sources = {name: (f.metadata.get("source"), f.default) for name, f, _ in iter_fields(HwConfig)}
        if key == "digital.add_energy" or key == "digital.mult_energy":
            key = f"digital.{self.hw.digital.precision}_{key.split('.')[1]}"
        value = self.hw
        for part in key.split("."):
            value = getattr(value, part)
        text = f"hw.{key} = {value:.4g}" if isinstance(value, float) else f"hw.{key} = {value}"
        citation, default = self._field_sources.get(key, (None, None))
        if citation and value == default:  # a changed value is cited by whatever set it, not by the default's source
            text += f" ({citation})"
        provenance = getattr(self.hw, "provenance", None)
        if provenance is not None:
            path = ("hw", *key.split("."))
            if path in provenance.files:
                text += f", set by {provenance.files[path]}"  # no brackets: the ERT table renders rich markup
        return text

    def actions(self) -> list[Action]:
        return [action for model in self.components.values() for action in model.actions()] + self.leakage.actions()


def build_ert(hw: HwConfig) -> list[dict]:
    """Energy reference table of ``hw``: one dict per (component, action) with ``component``, ``action``,
    ``energy_pj``, ``latency_ns``, ``source`` and ``parameters``."""
    return Architecture(hw).ert()
