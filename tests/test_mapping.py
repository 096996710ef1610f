"""Layers onto tiles, Tiki-Taka arrays by placement policy, tiles onto routers."""

import networkx as nx
import pytest

from archsim.config import load_hw_config
from archsim.errors import ArchsimError
from archsim.hw import Architecture
from archsim.mapping import Mapping, tile_order
from archsim.ops import ArrayId

FCN = {(0, "A"): (256, 784), (0, "C"): (256, 784), (1, "A"): (128, 256), (1, "C"): (128, 256),
       (2, "A"): (10, 128), (2, "C"): (10, 128)}


def arch(*sets, name="default"):
    return Architecture(load_hw_config(name, list(sets)))


def test_blocks_split_rows_and_columns():
    mapping = Mapping.build(arch("tile.rows=128", "tile.cols=64"), {(0, "W"): (100, 300)})
    blocks = mapping.blocks(0, "W")
    assert blocks == [ArrayId(0, "W", r, c) for r in range(3) for c in range(2)]  # ceil(300/128) x ceil(100/64)
    assert mapping.shape_of(ArrayId(0, "W", 2, 1)) == (44, 36)  # remainders: 300-256 rows, 100-64 cols
    assert mapping.tiles_used == 6


def test_same_tile_shares_a_tile_separate_tiles_does_not():
    same = Mapping.build(arch("mapping.array_placement=same_tile"), FCN)
    separate = Mapping.build(arch("mapping.array_placement=separate_tiles"), FCN)
    # 784 inputs -> 4 row blocks of 256; the other layers one block each: 6 positions
    assert same.tiles_used == 6 and separate.tiles_used == 12
    for a in same.blocks(role="A"):
        c = ArrayId(a.layer, "C", a.row_block, a.col_block)
        assert same.tile_of(a) == same.tile_of(c)
        assert separate.tile_of(a) != separate.tile_of(c)
        order = tile_order(separate.arch)
        assert abs(order.index(separate.tile_of(a)) - order.index(separate.tile_of(c))) == 1  # next in placement


def test_too_many_tiles_is_one_line_error():
    with pytest.raises(ArchsimError) as info:
        Mapping.build(arch("tile.count=8", "mapping.array_placement=separate_tiles"), FCN)
    message = str(info.value)
    assert "\n" not in message
    assert "needs 12 tiles" in message and "has 8" in message


def test_nodes_and_routes_come_from_the_graph():
    architecture = arch("tile.count=16", "noc.concentration=2")
    mapping = Mapping.build(architecture, FCN)
    graph = architecture.graph
    assert graph.number_of_nodes() == 8  # 16 tiles, 2 per router
    block = mapping.blocks(0, "A")[3]
    assert mapping.node_of(block) == mapping.tile_of(block) // 2
    assert mapping.node_of("digital") == architecture.hub in nx.barycenter(graph)
    assert mapping.node_of("io") == 0
    path = architecture.route(mapping.node_of(block), mapping.node_of("io"))
    assert len(path) - 1 == nx.shortest_path_length(graph, path[0], path[-1])


@pytest.mark.parametrize("topology,count,edges", [("mesh", 12, 17), ("torus", 9, 18), ("ring", 5, 5),
                                                  ("bus", 4, 4), ("tree", 7, 6)])
def test_topologies(topology, count, edges):
    architecture = arch(f"noc.topology={topology}", f"tile.count={count}")
    assert architecture.graph.number_of_edges() == edges
    assert nx.is_connected(architecture.graph)


def test_bus_is_one_shared_channel():
    architecture = arch("noc.topology=bus", "tile.count=4")
    path = architecture.route(0, 3)
    assert len(path) == 3  # router, bus, router
    assert architecture.channels(path) == (("link", "bus"),)
