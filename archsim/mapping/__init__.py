"""Placing logical arrays onto tiles and tiles onto NoC routers.

A layer's logical matrix of ``out_size x in_size`` is cut into blocks of ``hw.tile.rows`` inputs (row
blocks) by ``hw.tile.cols`` outputs (column blocks); each block is one crossbar, named
:class:`archsim.ops.ArrayId` ``(layer, role, row_block, col_block)``. The partial sums of a layer's row
blocks travel over the NoC to where they are added (the algorithms emit those moves; the engine routes them).

``hw.mapping.placement`` chooses which tiles hold the blocks (:func:`tile_order`): by default those nearest the
digital units and buffer on the NoC, so a workload's NoC cost does not grow with the chip's unused tiles.

Tiki-Taka's fast (A), slow (C) and reference (R) arrays of one block are grouped onto tiles by
``hw.mapping.array_placement`` (:func:`archsim.mapping.blocks.tile_groups`, which also gives the tile counts
a network is checked against before any device is built):

- ``same_tile``: the blocks of all roles with the same (layer, row block, column block) are crossbars of
  one tile and share its periphery (ADC bank, DACs, pulse generators);
- ``separate_tiles``: every block gets its own tile; the tiles of one block's roles are consecutive in the
  placement order, so they sit on the same or neighbouring routers.
"""

from __future__ import annotations

from typing import cast

from archsim.errors import ArchsimError, InfeasibleError
from archsim.mapping.blocks import (
    BlockLayout,
    BlockShape,
    block_shapes,
    blocks_utilisation,
    tile_groups,
    tiles_needed,
    tiles_per_layer,
    utilisation,
)
from archsim.ops import ROLES, ArrayId, Location, Role

__all__ = ["BlockLayout", "BlockShape", "Mapping", "tiles_needed", "tiles_per_layer", "utilisation"]

#: A block key (layer, role, row block, column block) whose role :meth:`Mapping.build` has checked.
_CheckedKey = tuple[int, Role, int, int]


def tile_order(arch) -> list[int]:
    """The order in which ``hw.mapping.placement`` fills the chip's tiles.

    ``locality``: routers by NoC distance (networkx shortest-path hops) from the hub router, where the digital
    units and the buffer sit, ties by router number; a router's tiles in number order. ``linear``: tile number
    order."""
    hw = arch.hw
    if hw.mapping.placement == "linear":
        return list(range(hw.tile.count))
    import networkx as nx

    distance = nx.single_source_shortest_path_length(arch.graph, arch.hub)
    order: list[int] = []
    for router in sorted(arch.routers, key=lambda r: (distance[r], r)):
        first = router * hw.noc.concentration
        order.extend(range(first, min(first + hw.noc.concentration, hw.tile.count)))
    return order


class Mapping:
    """Where every array block lives. Build with :meth:`Mapping.build`."""

    def __init__(self, arch, tiles: dict[ArrayId, int], shapes: dict[ArrayId, BlockShape]):
        self.arch = arch
        self._tile_of = tiles
        self._shapes = shapes
        self.tiles_used = len(set(tiles.values()))

    @classmethod
    def build(cls, arch, arrays: dict[tuple[int, str], tuple[int, int]]) -> Mapping:
        """Place ``arrays`` ((layer, role) -> (out_size, in_size)) on ``arch``'s tiles.

        Raises :class:`ArchsimError` when the chip has too few tiles.
        """
        hw = arch.hw
        rows, cols = hw.tile.rows, hw.tile.cols
        for layer, role in arrays:
            if role not in ROLES:
                raise ArchsimError(
                    f"array role {role!r} of layer {layer} is unknown; expected one of {', '.join(ROLES)}"
                )
        # block keys as plain tuples; their roles were checked above
        shapes = {ArrayId(*cast(_CheckedKey, key)): shape for key, shape in block_shapes(arrays, rows, cols).items()}
        groups = tile_groups(shapes, hw.mapping.array_placement, ROLES)
        if len(groups) > hw.tile.count:
            raise InfeasibleError(
                "hw.tile.count",
                f"the workload needs {len(groups)} tiles but the chip has "
                f"{hw.tile.count} ({rows}x{cols} tiles, array_placement {hw.mapping.array_placement})",
            )
        order = tile_order(arch)
        tiles = {
            ArrayId(*cast(_CheckedKey, block)): order[slot] for slot, group in enumerate(groups) for block in group
        }
        return cls(arch, tiles, shapes)

    # -- queries -----------------------------------------------------------------------------------
    def tile_of(self, array_id: ArrayId) -> int:
        """The tile holding ``array_id``."""
        try:
            return self._tile_of[array_id]
        except KeyError:
            raise ArchsimError(
                f"array block {tuple(array_id)} is not placed by the mapping; expected one of the "
                f"blocks of the arrays given to Mapping.build"
            ) from None

    def node_of(self, location: Location) -> int:
        """The NoC router of an array block or of a shared unit ("digital", "buffer", "io")."""
        if isinstance(location, str):
            return self.arch.shared_router(location)
        return self.arch.tile_router(self.tile_of(location))

    def shape_of(self, array_id: ArrayId) -> BlockShape:
        """Active rows (inputs) and columns (outputs) of a block."""
        return self._shapes[array_id]

    def blocks(self, layer: int | None = None, role: str | None = None) -> list[ArrayId]:
        """Placed blocks, optionally of one layer and/or role, in (layer, role, row, col) order."""
        return sorted(
            (a for a in self._tile_of if (layer is None or a.layer == layer) and (role is None or a.role == role)),
            key=lambda a: (a.layer, ROLES.index(a.role), a.row_block, a.col_block),
        )

    def tiles(self) -> dict[ArrayId, int]:
        """A copy of the block -> tile placement."""
        return dict(self._tile_of)

    def tiles_per_layer(self) -> dict[int, int]:
        """Tiles each layer occupies (a tile holds one layer's blocks; the values sum to :attr:`tiles_used`)."""
        tiles: dict[int, set[int]] = {}
        for array_id, tile in self._tile_of.items():
            tiles.setdefault(array_id.layer, set()).add(tile)
        return {layer: len(found) for layer, found in sorted(tiles.items())}

    def cell_utilisation(self) -> dict[int, float]:
        """Per layer, the share of its crossbars' cells that hold weights (each block is one full crossbar)."""
        return blocks_utilisation(self._shapes, self.arch.hw.tile.rows, self.arch.hw.tile.cols)
