"""The on-chip network as a networkx graph of routers.

Routers are nodes ``0 .. R-1`` with ``R = ceil(tile.count / noc.concentration)``; tile ``t`` attaches to
router ``t // concentration``. A ``bus`` adds one extra node ``R`` (the bus itself) whose edges all share
one channel, so every transfer on a bus contends for the same wire. Each edge carries a ``channel``
attribute naming the physical resource a transfer over it occupies (one per direction for point-to-point
links, one shared channel for a bus).

This module depends only on networkx, so the configuration check (:meth:`HwConfig.check`) and the
architecture build the very same graph.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

BUS_CHANNEL = "bus"


class TopologyError(Exception):
    """A NoC that cannot be built; ``key`` is the offending dotted key below ``hw``."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def router_count(tile_count: int, concentration: int) -> int:
    """Routers needed for ``tile_count`` tiles at ``concentration`` tiles per router."""
    return -(-tile_count // concentration)


def grid_shape(routers: int, width: int) -> tuple[int, int]:
    """(rows, cols) of a mesh/torus of ``routers``; ``width`` 0 picks the most square exact factorisation."""
    if width == 0:
        width = next(d for d in range(math.isqrt(routers), 0, -1) if routers % d == 0)
        width = routers // width  # the wider side along x
    return routers // width, width


def build_router_graph(noc: Any, tile_count: int) -> nx.Graph:
    """Build the router graph of ``noc`` (a :class:`~archsim.config.hw.NocConfig`) for ``tile_count`` tiles.

    Raises :class:`TopologyError` when the tile count does not fit the topology or the network is
    disconnected.
    """
    routers = router_count(tile_count, noc.concentration)
    graph = nx.Graph(topology=noc.topology)
    graph.add_nodes_from(range(routers))
    topology = noc.topology
    if topology in ("mesh", "torus"):
        if noc.mesh_width and routers % noc.mesh_width:
            raise TopologyError(
                "tile.count",
                f"{tile_count} tiles need {routers} routers, which do not fill rows "
                f"of noc.mesh_width = {noc.mesh_width}; expected a multiple of "
                f"{noc.mesh_width * noc.concentration} tiles",
            )
        rows, cols = grid_shape(routers, noc.mesh_width)
        if topology == "torus" and min(rows, cols) < 3:
            raise TopologyError(
                "tile.count",
                f"a torus needs at least 3 routers along each side, but {routers} "
                f"routers form a {rows}x{cols} grid; expected a router count "
                f"that factors as a x b with a, b >= 3 (or topology: mesh)",
            )
        for y in range(rows):
            for x in range(cols):
                node = y * cols + x
                graph.nodes[node]["pos"] = (x, y)
                if x + 1 < cols:
                    graph.add_edge(node, node + 1)
                if y + 1 < rows:
                    graph.add_edge(node, node + cols)
                if topology == "torus":
                    if x == cols - 1:
                        graph.add_edge(node, y * cols)
                    if y == rows - 1:
                        graph.add_edge(node, x)
    elif topology == "ring":
        if routers < 3:
            raise TopologyError(
                "tile.count",
                f"a ring needs at least 3 routers, but {tile_count} tiles at "
                f"noc.concentration = {noc.concentration} make {routers}; expected "
                f"more tiles or topology: mesh",
            )
        for node in range(routers):
            graph.add_edge(node, (node + 1) % routers)
    elif topology == "bus":
        hub = routers
        graph.add_node(hub, bus=True)
        for node in range(routers):
            graph.add_edge(node, hub, channel=BUS_CHANNEL)
    elif topology == "tree":
        for node in range(1, routers):
            graph.add_edge(node, (node - 1) // noc.tree_arity)
    else:  # pragma: no cover - the schema restricts choices
        raise TopologyError("noc.topology", f"unknown topology {topology!r}")

    for entry in noc.removed_links:
        a, b = _parse_link(entry)
        if not graph.has_edge(a, b):
            raise TopologyError(
                "noc.removed_links",
                f"{entry!r} is not a link of this {topology}; expected 'a-b' for two adjacent routers",
            )
        graph.remove_edge(a, b)
    if graph.number_of_nodes() > 1 and not nx.is_connected(graph):
        largest = max(nx.connected_components(graph), key=lambda part: (len(part), -min(part)))
        cut_off = sorted(set(graph.nodes) - largest)
        shown = ", ".join(map(str, cut_off[:8])) + (" ..." if len(cut_off) > 8 else "")
        raise TopologyError(
            "noc.removed_links",
            f"the network is disconnected: router(s) {shown} cannot reach "
            f"the other {len(largest)}; expected a connected network",
        )
    for _a, _b, data in graph.edges(data=True):
        data.setdefault("channel", None)  # None: one channel per direction, named by the edge
    return graph


def _parse_link(entry: str) -> tuple[int, int]:
    parts = str(entry).split("-")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise TopologyError("noc.removed_links", f"{entry!r} is not a link; expected 'a-b' with router numbers")
    return int(parts[0]), int(parts[1])


def hub_router(graph: nx.Graph) -> int:
    """The router closest on average to all others (lowest-numbered barycentre): where shared units sit."""
    if graph.number_of_nodes() == 1:
        return next(iter(graph.nodes))
    return min(nx.barycenter(graph))
