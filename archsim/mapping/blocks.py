"""How a logical matrix is cut into tile-sized blocks: the one home of that rule.

A matrix of ``out_size x in_size`` (outputs x inputs) on tiles of ``tile_rows`` inputs x ``tile_cols`` outputs
is cut into row blocks of ``tile_rows`` inputs and column blocks of ``tile_cols`` outputs; the last block of each
direction holds the remainder. The functional arrays (:mod:`archsim.analog.array`), the mapping and the
operation recorder all take their blocks from here.
"""

from __future__ import annotations

from typing import NamedTuple


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


class BlockLayout:
    """The blocks of every logical array of a network: (layer, role) -> (out_size, in_size) on one tile size."""

    def __init__(self, tile_rows: int, tile_cols: int, arrays: dict[tuple[int, str], tuple[int, int]]):
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
