"""How logical matrices are cut into tile-sized blocks and grouped onto tiles: the one home of both rules.

A matrix of ``out_size x in_size`` (outputs x inputs) on tiles of ``tile_rows`` inputs x ``tile_cols`` outputs
is cut into row blocks of ``tile_rows`` inputs and column blocks of ``tile_cols`` outputs; the last block of each
direction holds the remainder. The functional arrays (:mod:`archsim.analog.array`), the mapping and the
operation recorder all take their blocks from here.

:func:`tile_groups` decides which blocks share a tile (``array_placement``): with ``same_tile`` the blocks of all
roles (A, C, R) at one (layer, row block, column block) are crossbars of one tile; with ``separate_tiles`` every
block has its own. :class:`archsim.mapping.Mapping` places those groups on physical tiles, and the tile counts a
network is checked against before any device is built (:func:`tiles_needed`) are the same groups counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from archsim.errors import ArchsimError

#: Logical analog matrices of a network: (layer, role) -> (out_size, in_size).
Arrays = dict[tuple[int, str], tuple[int, int]]
#: One block: (layer, role, row_block, col_block), the fields of :class:`archsim.ops.ArrayId` (a plain tuple
#: here, so that this module stays a leaf that the functional side may import).
BlockKey = tuple[int, str, int, int]


class BlockShape(NamedTuple):
    """Active inputs (rows) and outputs (cols) of one block."""

    rows: int
    cols: int


def block_slices(size: int, block: int) -> list[slice]:
    """Consecutive slices of at most ``block`` covering ``range(size)``."""
    return [slice(start, min(start + block, size)) for start in range(0, size, block)]


def cut(out_size: int, in_size: int, tile_rows: int, tile_cols: int) -> dict[tuple[int, int], BlockShape]:
    """(row_block, col_block) -> the block's shape, for every block of an ``out_size x in_size`` matrix."""
    return {
        (r, c): BlockShape(rows.stop - rows.start, cols.stop - cols.start)
        for r, rows in enumerate(block_slices(in_size, tile_rows))
        for c, cols in enumerate(block_slices(out_size, tile_cols))
    }


def block_shapes(arrays: Arrays, tile_rows: int, tile_cols: int) -> dict[BlockKey, BlockShape]:
    """Every block of every array, in (layer, role) order; an empty shape is an error."""
    shapes: dict[BlockKey, BlockShape] = {}
    for (layer, role), (out_size, in_size) in sorted(arrays.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        if out_size < 1 or in_size < 1:
            raise ArchsimError(f"array ({layer}, {role}) has shape {out_size}x{in_size}; expected positive sizes")
        for (row_block, col_block), shape in cut(out_size, in_size, tile_rows, tile_cols).items():
            shapes[(layer, role, row_block, col_block)] = shape
    return shapes


def tile_groups(
    blocks: Iterable[BlockKey], array_placement: str, role_order: Sequence[str] = ()
) -> list[list[BlockKey]]:
    """The blocks each tile holds, in placement order (layer, row block, column block, then role: in
    ``role_order``, roles it does not list after those by name).

    ``same_tile``: one tile per (layer, row block, column block) holding all its roles; ``separate_tiles``: one
    tile per block, the roles of one position on consecutive tiles."""
    positions: dict[tuple[int, int, int], list[BlockKey]] = {}
    for block in blocks:
        layer, _role, row_block, col_block = block
        positions.setdefault((layer, row_block, col_block), []).append(block)

    def role_rank(block: BlockKey) -> tuple[int, str]:
        role = block[1]
        return (role_order.index(role), "") if role in role_order else (len(role_order), role)

    groups: list[list[BlockKey]] = []
    for position in sorted(positions):
        members = sorted(positions[position], key=role_rank)
        if array_placement == "same_tile":
            groups.append(members)
        else:
            groups.extend([member] for member in members)
    return groups


def tiles_needed(arrays: Arrays, tile_rows: int, tile_cols: int, array_placement: str) -> int:
    """Tiles ``arrays`` occupy under ``array_placement`` (what :class:`archsim.mapping.Mapping` places)."""
    return len(tile_groups(block_shapes(arrays, tile_rows, tile_cols), array_placement))


def tiles_per_layer(arrays: Arrays, tile_rows: int, tile_cols: int, array_placement: str) -> dict[int, int]:
    """Tiles each layer occupies (the values sum to :func:`tiles_needed`; a tile holds one layer's blocks)."""
    counts: dict[int, int] = {}
    for group in tile_groups(block_shapes(arrays, tile_rows, tile_cols), array_placement):
        counts[group[0][0]] = counts.get(group[0][0], 0) + 1
    return dict(sorted(counts.items()))


def utilisation(arrays: Arrays, tile_rows: int, tile_cols: int) -> dict[int, float]:
    """Per layer, the fraction of its crossbars' cells that hold weights (under either placement a block of
    each role is one ``tile_rows x tile_cols`` crossbar, whether or not the roles share a tile)."""
    return blocks_utilisation(block_shapes(arrays, tile_rows, tile_cols), tile_rows, tile_cols)


def blocks_utilisation(shapes: dict, tile_rows: int, tile_cols: int) -> dict[int, float]:
    """:func:`utilisation` of blocks already cut: ``shapes`` maps block keys (layer first) to their shapes."""
    used: dict[int, int] = {}
    crossbars: dict[int, int] = {}
    for key, shape in shapes.items():
        layer = key[0]
        used[layer] = used.get(layer, 0) + shape.rows * shape.cols
        crossbars[layer] = crossbars.get(layer, 0) + 1
    return {layer: used[layer] / (crossbars[layer] * tile_rows * tile_cols) for layer in sorted(used)}


class BlockLayout:
    """The blocks of every logical array of a network: (layer, role) -> (out_size, in_size) on one tile size."""

    def __init__(self, tile_rows: int, tile_cols: int, arrays: Arrays):
        self.tile_rows, self.tile_cols = tile_rows, tile_cols
        self.arrays = dict(arrays)
        self._blocks = {
            key: cut(out_size, in_size, tile_rows, tile_cols) for key, (out_size, in_size) in self.arrays.items()
        }

    def shape(self, layer: int, role: str, row_block: int, col_block: int) -> BlockShape:
        return self._blocks[(layer, role)][(row_block, col_block)]

    def size(self, layer: int, role: str) -> tuple[int, int]:
        """(out_size, in_size) of a logical array."""
        return self.arrays[(layer, role)]
