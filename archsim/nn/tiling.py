"""How many tiles a network's analog arrays need, before any device is built.

A logical (out, in) matrix is cut into blocks of ``rows`` inputs by ``cols`` outputs; each block is one
crossbar. With ``array_placement`` ``same_tile`` the blocks of all roles (A, C, R) at one (layer, row block,
column block) share a tile; with ``separate_tiles`` every block of every role has its own. This is the count
:class:`archsim.mapping.Mapping` places; a network that needs more tiles than ``hw.tile.count`` cannot run.
"""

from __future__ import annotations


def block_grid(out_size: int, in_size: int, rows: int, cols: int) -> tuple[int, int]:
    """(row blocks, column blocks) of an (out_size, in_size) matrix on rows x cols crossbars."""
    return -(-in_size // rows), -(-out_size // cols)


def tiles_needed(arrays: dict[tuple[int, str], tuple[int, int]], rows: int, cols: int, array_placement: str) -> int:
    """Tiles that ``arrays`` ((layer, role) -> (out, in)) occupy under ``array_placement``."""
    positions: set[tuple[int, int, int]] = set()
    blocks = 0
    for (layer, _role), (out_size, in_size) in arrays.items():
        row_blocks, col_blocks = block_grid(out_size, in_size, rows, cols)
        blocks += row_blocks * col_blocks
        positions.update((layer, r, c) for r in range(row_blocks) for c in range(col_blocks))
    return len(positions) if array_placement == "same_tile" else blocks


def tiles_per_layer(
    arrays: dict[tuple[int, str], tuple[int, int]], rows: int, cols: int, array_placement: str
) -> dict[int, int]:
    """Tiles each layer occupies (same rules as :func:`tiles_needed`; the values sum to it)."""
    layers = sorted({layer for layer, _ in arrays})
    return {
        layer: tiles_needed({k: v for k, v in arrays.items() if k[0] == layer}, rows, cols, array_placement)
        for layer in layers
    }


def utilisation(arrays: dict[tuple[int, str], tuple[int, int]], rows: int, cols: int) -> dict[int, float]:
    """Per layer, the fraction of its crossbars' cells that hold weights (under either placement a block of
    each role is one rows x cols crossbar, whether or not the roles share a tile)."""
    used: dict[int, int] = {}
    crossbars: dict[int, int] = {}
    for (layer, _role), (out_size, in_size) in arrays.items():
        row_blocks, col_blocks = block_grid(out_size, in_size, rows, cols)
        used[layer] = used.get(layer, 0) + out_size * in_size
        crossbars[layer] = crossbars.get(layer, 0) + row_blocks * col_blocks
    return {layer: used[layer] / (crossbars[layer] * rows * cols) for layer in sorted(used)}
