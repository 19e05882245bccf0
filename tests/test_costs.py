"""Travel costs, checked against hand-computed costs, networkx, pyproj and brute force."""

import copy
import logging

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon

import svcnet
from svcnet import _graph
from svcnet.costs import (
    WALK_SPEED_KMH,
    CostMatrix,
    costs_from_graph,
    costs_from_points,
    isochrones,
    nearest,
)
from svcnet.errors import CRSError, InputError

UTM50 = "EPSG:32650"


# =========================================================================================
# a tiny graph, by hand
# =========================================================================================
#   D(0,100) ---- C(100,100)          E(1000,0) -- F(1100,0)   (an island)
#      |              |
#   A(0,0)  ---->  B(100,0)           A -> B is one-way; every other street two-way
def tiny_graph() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs=UTM50)
    nodes = {"A": (0, 0), "B": (100, 0), "C": (100, 100), "D": (0, 100), "E": (1000, 0),
             "F": (1100, 0)}  # fmt: skip
    for name, (x, y) in nodes.items():
        g.add_node(name, x=float(x), y=float(y))
    g.add_edge("A", "B", length=100.0, highway="residential", oneway=True)
    for u, v in (("B", "C"), ("C", "D"), ("D", "A"), ("E", "F")):
        g.add_edge(u, v, length=100.0, highway="residential", oneway=False)
        g.add_edge(v, u, length=100.0, highway="residential", oneway=False)
    return g


def tiny_origins() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["o1", "o2", "o3", "island", "far"]},
        geometry=[Point(50, -10), Point(80, 5), Point(100, 0), Point(1050, 5), Point(500, 500)],
        crs=UTM50,
    )


def tiny_destinations() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["d1", "d2", "d3"]},
        geometry=[Point(110, 50), Point(20, -5), Point(100, 0)],
        crs=UTM50,
    )


def tiny_costs(**kwargs) -> CostMatrix:
    options = {"origin_id": "id", "destination_id": "id", "max_snap_m": 100.0, **kwargs}
    return costs_from_graph(tiny_graph(), tiny_origins(), tiny_destinations(), **options)


# o1 sits 10 m off A->B, half way; o2 5 m off it at 80 m; o3 on B. d1 10 m off B-C half
# way; d2 5 m off A->B at 20 m; d3 on B. Walking, every street is two-way.
WALK = [[10 + 50 + 50 + 10, 10 + 30 + 5, 10 + 50],
        [5 + 20 + 50 + 10, 5 + 60 + 5, 5 + 20],
        [50 + 10, 80 + 5, 0]]  # fmt: skip
# Driving from the origins, A->B runs one way only: o1 -> d2 goes round the block.
DRIVE_TO = [[120, 10 + 50 + 300 + 20 + 5, 60],
            [85, 5 + 20 + 300 + 20 + 5, 25],
            [60, 300 + 20 + 5, 0]]  # fmt: skip
# Driving from the destinations to the origins.
DRIVE_FROM = [[10 + 50 + 200 + 50 + 10, 5 + 30 + 10, 300 + 50 + 10],
              [10 + 50 + 200 + 80 + 5, 5 + 60 + 5, 300 + 80 + 5],
              [50 + 10, 80 + 5, 0]]  # fmt: skip


def test_walk_costs_by_hand():
    costs = tiny_costs(mode="walk")
    assert costs.unit == "m" and costs.mode == "walk" and costs.shape == (5, 3)
    np.testing.assert_allclose(costs.to_dense()[:3], WALK, atol=1e-9)
    assert list(costs.origin_ids) == ["o1", "o2", "o3", "island", "far"]
    assert list(costs.destination_ids) == ["d1", "d2", "d3"]


def test_walk_is_the_same_both_ways():
    there = tiny_costs(mode="walk", direction="to_destination")
    back = tiny_costs(mode="walk", direction="from_destination")
    np.testing.assert_allclose(there.to_dense(), back.to_dense())


@pytest.mark.parametrize(
    ("direction", "expected"), [("to_destination", DRIVE_TO), ("from_destination", DRIVE_FROM)]
)
def test_drive_keeps_one_way_streets_by_hand(direction, expected):
    costs = tiny_costs(mode="drive", direction=direction)
    assert costs.direction == direction
    np.testing.assert_allclose(costs.to_dense()[:3], expected, atol=1e-9)


def test_points_on_one_street_reach_each_other_along_it():
    # o2 (80 m along A->B) and d2 (20 m along): 60 m apart along the street
    walk = tiny_costs(mode="walk").to_dense()
    assert walk[1, 1] == pytest.approx(5 + 60 + 5)
    # driving, d2 -> o2 follows the one-way street; o2 -> d2 must go round
    assert tiny_costs(mode="drive", direction="from_destination").to_dense()[1, 1] == 70
    assert tiny_costs(mode="drive").to_dense()[1, 1] == 350


def test_zero_cost_is_stored_explicitly():
    costs = tiny_costs(mode="drive")
    # o3 and d3 both sit on node B: a true zero, stored (the pattern says "within")
    assert costs.matrix[2, 2] == 0
    row = costs.matrix.indices[costs.matrix.indptr[2] : costs.matrix.indptr[3]]
    assert 2 in row
    frame = costs.to_frame()
    assert frame.query("origin_id == 'o3' and destination_id == 'd3'")["cost"].tolist() == [0.0]
    assert costs.to_dense()[2, 2] == 0.0


def test_island_and_far_points_are_reported_not_snapped(caplog):
    with caplog.at_level(logging.WARNING, logger="svcnet.costs"):
        costs = tiny_costs(mode="walk")
    assert list(costs.unreachable_origins) == ["island", "far"]
    assert len(costs.unreachable_destinations) == 0
    table = costs.unreachable.set_index("id")
    assert table.loc["far", "reason"] == "far from any road"
    assert table.loc["far", "snap_m"] == pytest.approx(np.hypot(400, 400))  # to C(100, 100)
    assert table.loc["island", "reason"] == "on a road cut off from the network"
    assert table.loc["island", "snap_m"] == pytest.approx(5)
    assert np.isinf(costs.to_dense()[3:]).all()
    assert "island" in caplog.text and "far" in caplog.text and "unreachable" in caplog.text
    # with no cap on snapping, the far point is snapped (and costed)
    uncapped = tiny_costs(mode="walk", max_snap_m=np.inf)
    assert list(uncapped.unreachable_origins) == ["island"]
    assert uncapped.to_dense()[4, 2] == pytest.approx(np.hypot(400, 400) + 100)


def test_drive_reachability_follows_the_direction_of_travel():
    # a one-way stub B -> G: a start on it cannot leave it, an end on it can be reached
    g = tiny_graph()
    g.add_node("G", x=100.0, y=-100.0)
    g.add_edge("B", "G", length=100.0)
    on_stub = gpd.GeoDataFrame(geometry=[Point(105, -50)], crs=UTM50)
    home = gpd.GeoDataFrame(geometry=[Point(0, 50)], crs=UTM50)  # on D-A
    leaving = costs_from_graph(g, on_stub, home, mode="drive")
    assert list(leaving.unreachable_origins) == [0]
    arriving = costs_from_graph(g, home, on_stub, mode="drive")
    assert len(arriving.unreachable_destinations) == 0
    assert arriving.to_dense()[0, 0] == pytest.approx(50 + 100 + 50 + 5)  # D-A, A->B, B->G
    walking = costs_from_graph(g, on_stub, home, mode="walk")
    assert walking.to_dense()[0, 0] == pytest.approx(5 + 50 + 100 + 50)


def test_node_snapping_by_hand():
    origins = gpd.GeoDataFrame(geometry=[Point(80, 5)], crs=UTM50)  # nearest node B
    destinations = gpd.GeoDataFrame(geometry=[Point(110, 70)], crs=UTM50)  # nearest C
    costs = costs_from_graph(tiny_graph(), origins, destinations, snap_to="node")
    expected = np.hypot(20, 5) + 100 + np.hypot(10, 30)
    assert costs.to_dense()[0, 0] == pytest.approx(expected)


def test_walking_minutes_at_the_default_and_a_given_speed():
    minutes = tiny_costs(mode="walk", weight="travel_time")
    assert minutes.unit == "min"
    per_minute = WALK_SPEED_KMH * 1000 / 60  # 60 m a minute, the planning norm
    np.testing.assert_allclose(minutes.to_dense()[:3], np.array(WALK) / per_minute)
    faster = tiny_costs(mode="walk", weight="travel_time", speed_kmh=6.0)
    np.testing.assert_allclose(faster.to_dense()[:3], np.array(WALK) / 100)


def test_drive_minutes_from_osmnx_speeds_and_walked_legs():
    g = tiny_graph()
    for _, _, data in g.edges(data=True):
        data["maxspeed"] = "36"  # 10 m/s: 100 m in 1/6 minute
    origins = gpd.GeoDataFrame(geometry=[Point(50, -10)], crs=UTM50)
    destinations = gpd.GeoDataFrame(geometry=[Point(100, 0)], crs=UTM50)
    costs = costs_from_graph(g, origins, destinations, mode="drive", weight="travel_time")
    walk_leg = 10 / 60  # 10 m off the road, at 3.6 km/h
    assert costs.to_dense()[0, 0] == pytest.approx(walk_leg + 0.5 / 6)
    assert "speed_kph" not in next(iter(g.edges(data=True)))[2]  # the caller's graph untouched
    fixed = costs_from_graph(g, origins, destinations, mode="drive", weight="travel_time",
                             speed_kmh=18, access_speed_kmh=3.6)  # fmt: skip
    assert fixed.to_dense()[0, 0] == pytest.approx(10 / 60 + 50 / 300)


def test_drive_minutes_need_speeds_from_somewhere():
    with pytest.raises(InputError, match="hwy_speeds"):
        tiny_costs(mode="drive", weight="travel_time")
    costs = tiny_costs(mode="drive", weight="travel_time", hwy_speeds={"residential": 30})
    walk_leg, per_minute = 10 / 60, 500  # walked at 60 m a minute; driven at 30 km/h
    assert costs.to_dense()[0, 2] == pytest.approx(walk_leg + 50 / per_minute)


def test_drive_minutes_from_the_graphs_own_travel_time():
    g = tiny_graph()
    for _, _, data in g.edges(data=True):
        data["travel_time"] = 60.0  # seconds
    origins = gpd.GeoDataFrame(geometry=[Point(50, 0)], crs=UTM50)
    destinations = gpd.GeoDataFrame(geometry=[Point(100, 50)], crs=UTM50)
    costs = costs_from_graph(g, origins, destinations, mode="drive", weight="travel_time")
    assert costs.to_dense()[0, 0] == pytest.approx(1.0)


def test_polygons_are_taken_at_a_point_inside():
    square = Polygon([(40, -20), (60, -20), (60, 0), (40, 0)])  # centroid (50, -10)
    # a U whose centroid falls in its gap: a point inside it is used instead
    u_shape = Polygon([(0, 20), (90, 20), (90, 80), (80, 80), (80, 30), (10, 30), (10, 80),
                       (0, 80)])  # fmt: skip
    origins = gpd.GeoDataFrame(geometry=[square, u_shape], crs=UTM50)
    destinations = gpd.GeoDataFrame(geometry=[Point(100, 0)], crs=UTM50)
    costs = costs_from_graph(tiny_graph(), origins, destinations, mode="walk")
    assert costs.to_dense()[0, 0] == pytest.approx(10 + 50)
    inside = u_shape.representative_point()
    assert not u_shape.contains(u_shape.centroid)
    by_point = costs_from_graph(
        tiny_graph(), gpd.GeoDataFrame(geometry=[inside], crs=UTM50), destinations, mode="walk"
    )
    assert costs.to_dense()[1, 0] == pytest.approx(by_point.to_dense()[0, 0])


def test_geographic_inputs_are_converted_and_ids_come_from_the_index():
    origins = tiny_origins().iloc[:3].set_index("id").to_crs(4326)
    destinations = tiny_destinations().set_index("id").to_crs(4326)
    costs = costs_from_graph(tiny_graph(), origins, destinations, mode="walk")
    np.testing.assert_allclose(costs.to_dense(), WALK, atol=1e-6)
    assert list(costs.origin_ids) == ["o1", "o2", "o3"]


def test_curves_parallel_edges_and_loops_match_networkx():
    # A-B straight both ways, plus a one-way curve A -> B over (50, 40) whose geometry is
    # drawn backwards (from B); B-C straight both ways; a loop road at C.
    g = nx.MultiDiGraph(crs=UTM50)
    for name, (x, y) in {"A": (0, 0), "B": (100, 0), "C": (100, 100)}.items():
        g.add_node(name, x=float(x), y=float(y))
    arc = LineString([(0, 0), (50, 40), (100, 0)])
    loop = LineString([(100, 100), (120, 130), (80, 130), (100, 100)])
    g.add_edge("A", "B", length=100.0)
    g.add_edge("B", "A", length=100.0)
    g.add_edge("A", "B", length=arc.length, geometry=shapely.reverse(arc))
    g.add_edge("B", "C", length=100.0)
    g.add_edge("C", "B", length=100.0)
    g.add_edge("C", "C", length=loop.length, geometry=loop)
    origins = gpd.GeoDataFrame(geometry=[Point(50, 45), Point(100, 135), Point(60, -2)], crs=UTM50)
    destinations = gpd.GeoDataFrame(geometry=[Point(103, 50), Point(30, 36)], crs=UTM50)
    straight = {("A", "B"): LineString([(0, 0), (100, 0)]),
                ("B", "C"): LineString([(100, 0), (100, 100)])}  # fmt: skip
    for mode in ("walk", "drive"):
        costs = costs_from_graph(g, origins, destinations, mode=mode).to_dense()
        edges = []
        for (u, v), line in straight.items():
            edges += [(u, v, line, 100.0), (v, u, shapely.reverse(line), 100.0)]
        edges.append(("A", "B", arc, arc.length))
        edges.append(("C", "C", loop, loop.length))
        if mode == "walk":
            edges.append(("B", "A", shapely.reverse(arc), arc.length))
            edges.append(("C", "C", shapely.reverse(loop), loop.length))
        for i, p in enumerate(origins.geometry):
            for j, q in enumerate(destinations.geometry):
                assert costs[i, j] == pytest.approx(_truth(edges, p, q), abs=1e-9), (mode, i, j)


@pytest.mark.parametrize("graph_class", [nx.Graph, nx.DiGraph, nx.MultiGraph])
def test_other_graph_classes_give_the_same_costs(graph_class):
    g = graph_class(tiny_graph())
    g.graph["crs"] = UTM50
    options = {"origin_id": "id", "destination_id": "id", "max_snap_m": 100.0}
    for snap_to in ("edge", "node"):
        costs = costs_from_graph(g, tiny_origins(), tiny_destinations(), snap_to=snap_to,
                                 **options)  # fmt: skip
        expected = tiny_costs(mode="walk", snap_to=snap_to).to_dense()
        np.testing.assert_array_equal(costs.to_dense(), expected)
    if g.is_directed():  # one-way streets stay one-way
        drive = costs_from_graph(g, tiny_origins(), tiny_destinations(), mode="drive", **options)
        np.testing.assert_array_equal(drive.to_dense(), tiny_costs(mode="drive").to_dense())


def test_inputs_are_not_modified():
    g = tiny_graph()
    before = copy.deepcopy(g)
    origins, destinations = tiny_origins(), tiny_destinations()
    o_copy, d_copy = origins.copy(), destinations.copy()
    costs_from_graph(g, origins, destinations, mode="drive", weight="travel_time",
                     hwy_speeds={"residential": 30}, origin_id="id", destination_id="id",
                     max_snap_m=100)  # fmt: skip
    isochrones(g, destinations, [1, 2], site_id="id")
    assert nx.utils.graphs_equal(g, before)
    assert g.graph == before.graph
    for u, v, k, data in g.edges(keys=True, data=True):
        assert data == before.edges[u, v, k]
    pd.testing.assert_frame_equal(origins, o_copy)
    pd.testing.assert_frame_equal(destinations, d_copy)


# =========================================================================================
# bad input
# =========================================================================================
def test_graph_without_crs():
    g = tiny_graph()
    del g.graph["crs"]
    with pytest.raises(CRSError, match="no CRS"):
        costs_from_graph(g, tiny_origins(), tiny_destinations())


@pytest.mark.parametrize("bad", [None, -5.0, float("nan"), "long"])
def test_edges_with_bad_lengths_are_named(bad):
    g = tiny_graph()
    if bad is None:
        del g.edges["C", "D", 0]["length"]
    else:
        g.edges["C", "D", 0]["length"] = bad
    with pytest.raises(InputError, match="length") as info:
        costs_from_graph(g, tiny_origins(), tiny_destinations())
    assert info.value.rows == [("C", "D", 0)]
    assert "('C', 'D', 0)" in str(info.value)


def test_edges_with_bad_lengths_are_named_in_a_simple_graph():
    g = nx.Graph(tiny_graph())
    g.graph["crs"] = UTM50
    g.edges["C", "D"]["length"] = -1.0
    with pytest.raises(InputError, match="length") as info:
        costs_from_graph(g, tiny_origins(), tiny_destinations())
    assert [set(row[:2]) for row in info.value.rows] == [{"C", "D"}]


def test_empty_layers():
    empty = tiny_origins().iloc[:0]
    with pytest.raises(InputError, match="no rows"):
        costs_from_graph(tiny_graph(), empty, tiny_destinations())
    with pytest.raises(InputError, match="no rows"):
        costs_from_graph(tiny_graph(), tiny_origins(), empty)
    with pytest.raises(InputError, match="no rows"):
        costs_from_points(empty, tiny_destinations())


@pytest.mark.parametrize("cutoff", [0, -1, float("nan"), "15"])
def test_cutoff_must_be_positive(cutoff):
    with pytest.raises(InputError, match="cutoff"):
        costs_from_graph(tiny_graph(), tiny_origins(), tiny_destinations(), cutoff=cutoff)
    with pytest.raises(InputError, match="cutoff"):
        costs_from_points(tiny_origins(), tiny_destinations(), cutoff=cutoff)


@pytest.mark.parametrize(
    ("option", "allowed"),
    [({"mode": "bike"}, "'walk', 'drive'"), ({"weight": "time"}, "'length', 'travel_time'"),
     ({"direction": "both"}, "'to_destination'"), ({"snap_to": "way"}, "'edge', 'node'")],
)  # fmt: skip
def test_unknown_choices_name_the_allowed_values(option, allowed):
    with pytest.raises(InputError, match=allowed):
        costs_from_graph(tiny_graph(), tiny_origins(), tiny_destinations(), **option)


def test_other_bad_options():
    g, o, d = tiny_graph(), tiny_origins(), tiny_destinations()
    with pytest.raises(InputError, match="speed_kmh applies only"):
        costs_from_graph(g, o, d, speed_kmh=5)
    with pytest.raises(InputError, match="access_speed_kmh applies only"):
        costs_from_graph(g, o, d, access_speed_kmh=5)
    with pytest.raises(InputError, match="speed_kmh"):
        costs_from_graph(g, o, d, weight="travel_time", speed_kmh=0)
    with pytest.raises(InputError, match="max_snap_m"):
        costs_from_graph(g, o, d, max_snap_m=-1)
    with pytest.raises(InputError, match="networkx graph"):
        costs_from_graph({"not": "a graph"}, o, d)
    with pytest.raises(InputError, match="GeoDataFrame"):
        costs_from_graph(g, pd.DataFrame({"x": [1]}), d)


def test_layer_without_crs():
    origins = tiny_origins().set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="no CRS"):
        costs_from_graph(tiny_graph(), origins, tiny_destinations())
    with pytest.raises(CRSError, match="no CRS"):
        costs_from_points(origins, tiny_destinations())


def test_duplicate_ids():
    origins = pd.concat([tiny_origins(), tiny_origins().iloc[:1]])
    with pytest.raises(InputError, match="more than once"):
        costs_from_graph(tiny_graph(), origins, tiny_destinations())
    with pytest.raises(InputError, match="more than once"):
        costs_from_graph(tiny_graph(), origins, tiny_destinations(), origin_id="id")


def test_a_node_without_coordinates():
    g = tiny_graph()
    del g.nodes["C"]["x"]
    with pytest.raises(InputError, match="coordinates") as info:
        costs_from_graph(g, tiny_origins(), tiny_destinations())
    assert info.value.rows == ["C"]


# =========================================================================================
# the bundled Futian network against networkx
# =========================================================================================
@pytest.fixture(scope="module")
def futian():
    region = svcnet.datasets.load_futian()
    projected = ox.project_graph(region.network, to_crs=UTM50)
    return region, projected


def _directed_edges(projected: nx.MultiDiGraph, walk: bool):
    """(u, v, geometry, length) of every edge, each way when walking."""
    out = []
    for u, v, data in projected.edges(data=True):
        xy = [(projected.nodes[n]["x"], projected.nodes[n]["y"]) for n in (u, v)]
        line = data.get("geometry") or LineString(xy)
        out.append((u, v, line, data["length"]))
        if walk:
            out.append((v, u, shapely.reverse(line), data["length"]))
    return out


def _truth(edges, origin: Point, destination: Point) -> float:
    """Shortest path with the two points inserted as nodes, by networkx.

    Each point joins every directed edge at the least distance from it, at its
    projection (splitting the edge's length in proportion), by an off-road leg
    of that distance; several points on one edge split it in order.
    """
    geoms = np.array([e[2] for e in edges])
    graph = nx.MultiDiGraph()
    graph.add_weighted_edges_from((u, v, length) for u, v, _, length in edges)
    splits: dict[int, list[tuple[float, str]]] = {}
    for name, point in (("O", origin), ("D", destination)):
        dist = shapely.distance(geoms, point)
        for i in np.flatnonzero(dist <= dist.min() + 1e-9):
            t = shapely.line_locate_point(geoms[i], point, normalized=True)
            splits.setdefault(int(i), []).append((t, "P" + name))
        leg = ("O", "PO") if name == "O" else ("PD", "D")
        graph.add_edge(*leg, weight=dist.min())
    for i, cuts in splits.items():
        u, v, _, length = edges[i]
        seq = [(0.0, u), *sorted(cuts), (1.0, v)]
        for (t0, a), (t1, b) in zip(seq[:-1], seq[1:], strict=True):
            graph.add_edge(a, b, weight=(t1 - t0) * length)
    try:
        return nx.dijkstra_path_length(graph, "O", "D")
    except nx.NetworkXNoPath:
        return np.inf


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_futian_costs_equal_networkx_with_the_points_inserted(futian, mode):
    region, projected = futian
    rng = np.random.default_rng(7)
    demand = region.demand("pop")
    origins = demand.iloc[rng.choice(len(demand), 12, replace=False)]
    candidates = region.candidates
    destinations = candidates.iloc[rng.choice(len(candidates), 12, replace=False)]
    costs = costs_from_graph(region.network, origins, destinations, mode=mode,
                             max_snap_m=np.inf)  # fmt: skip
    dense = costs.to_dense()
    edges = _directed_edges(projected, walk=mode == "walk")
    checked = 0
    for _ in range(14):
        i, j = rng.integers(12, size=2)
        if origins.index[i] in costs.unreachable_origins:
            continue
        if destinations.index[j] in costs.unreachable_destinations:
            continue
        truth = _truth(edges, origins.geometry.iloc[i], destinations.geometry.iloc[j])
        assert dense[i, j] == pytest.approx(truth, abs=1e-6)
        checked += 1
    assert checked >= 8


def test_futian_unreachable_points_are_the_far_ones(futian):
    region, projected = futian
    demand = region.demand("pop")
    sites = region.candidates.iloc[:5]
    costs = costs_from_graph(region.network, demand, sites, cutoff=500, max_snap_m=300)
    lines = np.array([e[2] for e in _directed_edges(projected, walk=False)])
    nearest_road = shapely.STRtree(lines).query_nearest(
        demand.geometry.values, return_distance=True, all_matches=False
    )[1]
    far = demand.index[nearest_road > 300]
    assert len(far) > 100  # the network misses the east of the district
    assert set(costs.unreachable_origins) == set(far)  # walking: one component
    assert (costs.unreachable["snap_m"] > 300).all()
    assert np.diff(costs.matrix.indptr)[demand.index.get_indexer(far)].sum() == 0


def test_futian_drive_reversed_is_the_transpose(futian):
    region, _ = futian
    demand = region.demand("pop").iloc[::40]
    sites = region.candidates.iloc[::300]
    there = costs_from_graph(region.network, demand, sites, mode="drive", cutoff=4000)
    back = costs_from_graph(region.network, sites, demand, mode="drive", cutoff=4000,
                            direction="from_destination")  # fmt: skip
    a, b = there.matrix, back.matrix.T.tocsr()
    b.sort_indices()
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    other_way = costs_from_graph(region.network, demand, sites, mode="drive", cutoff=4000,
                                 direction="from_destination")  # fmt: skip
    assert not np.allclose(there.to_dense(fill=-1), other_way.to_dense(fill=-1))


def test_futian_cutoff_drops_exactly_the_pairs_above_it(futian):
    region, _ = futian
    demand = region.demand("pop").iloc[::5]
    sites = region.candidates.iloc[::90]
    full = costs_from_graph(region.network, demand, sites, weight="travel_time").to_dense()
    cut = costs_from_graph(region.network, demand, sites, weight="travel_time", cutoff=12)
    assert cut.cutoff == 12
    dense = cut.to_dense()
    within = full <= 12
    assert within.sum() == cut.matrix.nnz > 0
    np.testing.assert_array_equal(np.isfinite(dense), within)
    np.testing.assert_allclose(dense[within], full[within], rtol=1e-12)


def test_futian_ways_of_computing_agree(futian, monkeypatch):
    region, _ = futian
    demand = region.demand("pop").iloc[::7]
    sites = region.candidates.iloc[::60]
    options = {"mode": "drive", "cutoff": 2500}
    reference = costs_from_graph(region.network, demand, sites, **options).matrix
    batched = costs_from_graph(region.network, demand, sites, batch_size=7, progress=True,
                               **options).matrix  # fmt: skip
    monkeypatch.setattr(_graph, "_SPARSE_SHARE", 0.0)  # always gather all targets
    gathered = costs_from_graph(region.network, demand, sites, **options).matrix
    monkeypatch.setattr(_graph, "_SPARSE_SHARE", np.inf)  # always from the reached nodes
    scattered = costs_from_graph(region.network, demand, sites, **options).matrix
    for other in (batched, gathered, scattered):
        assert (other != reference).nnz == 0
        np.testing.assert_array_equal(other.indices, reference.indices)
    # the reference searched from the 76 sites; 10 homes are fewer: searched from them
    few = costs_from_graph(region.network, demand.iloc[:10], sites, **options).matrix
    np.testing.assert_array_equal(few.indptr, reference[:10].indptr)
    np.testing.assert_array_equal(few.indices, reference[:10].indices)
    np.testing.assert_allclose(few.data, reference[:10].data, rtol=1e-12)


def test_futian_node_snapping_equals_networkx_node_distances(futian):
    region, projected = futian
    demand = region.demand("pop").iloc[::60]
    sites = region.candidates.iloc[::500]
    costs = costs_from_graph(region.network, demand, sites, snap_to="node", max_snap_m=np.inf)
    graph = nx.MultiDiGraph()  # every street both ways (to_undirected would merge keys)
    for u, v, length in region.network.edges(data="length"):
        graph.add_edge(u, v, length=length)
        graph.add_edge(v, u, length=length)
    o_nodes = ox.distance.nearest_nodes(projected, demand.geometry.x, demand.geometry.y)
    d_nodes = ox.distance.nearest_nodes(projected, sites.geometry.x, sites.geometry.y)
    node_xy = {n: (d["x"], d["y"]) for n, d in projected.nodes(data=True)}

    def leg(point, node):
        return np.hypot(point.x - node_xy[node][0], point.y - node_xy[node][1])

    dense = costs.to_dense()
    for i, (p, u) in enumerate(zip(demand.geometry, o_nodes, strict=True)):
        dist = nx.single_source_dijkstra_path_length(graph, u, weight="length")
        for j, (q, v) in enumerate(zip(sites.geometry, d_nodes, strict=True)):
            assert dense[i, j] == pytest.approx(leg(p, u) + dist[v] + leg(q, v), abs=1e-6)


def test_futian_snapping_finds_the_nearest_segment_exactly(futian):
    region, _ = futian
    net = _graph.prepare_network(region.network, mode="walk", weight="length", speed_kmh=None,
                                 access_speed_kmh=4.5, crs=UTM50)  # fmt: skip
    rng = np.random.default_rng(11)
    low, high = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    xy = np.concatenate([
        rng.uniform(low - 500, high + 500, (400, 2)),  # near the streets and far from them
        net.node_xy[rng.choice(net.n_nodes, 60, replace=False)],  # on nodes: ties
        net.curve_xy[rng.choice(len(net.curve_xy), 60, replace=False)],  # on curve bends
    ])  # fmt: skip
    snaps = _graph.snap_points(net, xy, to="edge", max_snap_m=np.inf, role="start")
    lines = net.seg_geom
    tree = shapely.STRtree(lines)
    points = shapely.points(xy)
    _, nearest_m = tree.query_nearest(points, return_distance=True, all_matches=False)
    np.testing.assert_allclose(snaps.dist, nearest_m, rtol=0, atol=1e-6)
    assert (snaps.seg >= 0).all()
    # the segment chosen is at that distance, its position too; ties go to the lowest
    chosen = shapely.distance(points, lines[snaps.seg])
    np.testing.assert_allclose(chosen, nearest_m, rtol=0, atol=1e-6)
    on = shapely.line_interpolate_point(lines[snaps.seg], snaps.t, normalized=True)
    np.testing.assert_allclose(shapely.get_coordinates(on), snaps.place, rtol=0, atol=1e-6)
    pairs = tree.query(points, predicate="dwithin", distance=nearest_m + 1e-6)
    lowest = pd.Series(pairs[1]).groupby(pairs[0]).min().to_numpy()
    tied = np.bincount(pairs[0], minlength=len(xy)) > 1
    assert tied.sum() > 50
    np.testing.assert_array_equal(snaps.seg[tied], lowest[tied])
    # a cap leaves the farther points off the network, reporting their distance
    capped = _graph.snap_points(net, xy, to="edge", max_snap_m=40.0, role="start")
    far = nearest_m > 40.0
    assert far.any() and (capped.seg[far] == -1).all() and (capped.seg[~far] >= 0).all()
    np.testing.assert_array_equal(capped.seg[~far], snaps.seg[~far])


# =========================================================================================
# straight lines
# =========================================================================================
def test_straight_lines_in_metres_by_hand():
    a = gpd.GeoDataFrame(geometry=[Point(0, 0), Point(300, 400)], crs=UTM50)
    b = gpd.GeoDataFrame(geometry=[Point(0, 0), Point(0, 1000), Point(600, 800)], crs=UTM50)
    full = costs_from_points(a, b)
    assert full.mode == "straight" and full.unit == "m" and full.matrix.nnz == 6
    np.testing.assert_allclose(full.to_dense(), [[0, 1000, 1000], [500, np.hypot(300, 600), 500]])
    cut = costs_from_points(a, b, cutoff=500)
    np.testing.assert_allclose(cut.to_dense(), [[0, np.inf, np.inf], [500, np.inf, 500]])
    assert cut.matrix.nnz == 3  # the zero is stored


def test_straight_lines_from_degrees_match_geodesic_distances():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(114.0, 114.1, 40), rng.uniform(22.5, 22.6, 40)
    a = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon[:25], lat[:25]), crs=4326)
    b = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon[25:], lat[25:]), crs=4326)
    costs = costs_from_points(a, b).to_dense()
    lon1, lon2 = np.meshgrid(lon[:25], lon[25:], indexing="ij")
    lat1, lat2 = np.meshgrid(lat[:25], lat[25:], indexing="ij")
    geodesic = Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2]
    np.testing.assert_allclose(costs, geodesic, rtol=1.5e-3)  # UTM's scale error here
    assert costs.max() > 1000  # metres, never degrees


def test_straight_line_cutoff_drops_exactly_the_pairs_above_it():
    rng = np.random.default_rng(4)
    a = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*rng.uniform(0, 5000, (2, 300))), crs=UTM50)
    b = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*rng.uniform(0, 5000, (2, 80))), crs=UTM50)
    full = costs_from_points(a, b).to_dense()
    cut = costs_from_points(a, b, cutoff=700)
    within = full <= 700
    assert cut.matrix.nnz == within.sum()
    np.testing.assert_array_equal(cut.to_dense()[within], full[within])


# =========================================================================================
# nearest
# =========================================================================================
def test_nearest_against_brute_force():
    rng = np.random.default_rng(5)
    dense = rng.integers(0, 20, (60, 15)).astype(float)  # many ties
    dense[rng.random(dense.shape) < 0.6] = np.inf
    dense[7] = np.inf  # nothing in reach
    costs = CostMatrix.from_dense(dense, destination_ids=[f"s{j}" for j in range(15)])
    for k in (1, 3):
        table = nearest(costs, k=k)
        assert list(table.columns) == ["origin_id", "rank", "destination_id", "cost"]
        assert len(table) == 60 * k
        for i in range(60):
            order = sorted((dense[i, j], j) for j in range(15) if np.isfinite(dense[i, j]))
            rows = table[table.origin_id == i]
            assert rows["rank"].tolist() == list(range(1, k + 1))
            for (_, row), want in zip(rows.iterrows(), order[:k] + [None] * k, strict=False):
                if want is None:
                    assert pd.isna(row.destination_id) and np.isnan(row.cost)
                else:
                    assert (row.cost, row.destination_id) == (want[0], f"s{want[1]}")
    assert nearest(costs).equals(costs.nearest())


def test_nearest_keeps_integer_ids_and_rejects_bad_k():
    costs = CostMatrix.from_dense([[np.inf, 2.0], [np.inf, np.inf]], destination_ids=[10, 20])
    table = nearest(costs)
    assert table["destination_id"].tolist()[0] == 20 and pd.isna(table["destination_id"][1])
    with pytest.raises(InputError, match="k must be"):
        nearest(costs, k=0)
    with pytest.raises(InputError, match="CostMatrix"):
        nearest(np.zeros((2, 2)))


# =========================================================================================
# the CostMatrix itself
# =========================================================================================
def test_cost_matrix_views():
    costs = CostMatrix.from_dense([[0.0, np.inf], [3.0, 4.0]], origin_ids=["a", "b"],
                                  destination_ids=["x", "y"], unit="min", cutoff=10)  # fmt: skip
    assert costs.shape == (2, 2) and costs.matrix.nnz == 3
    assert costs.to_dense(fill=-1).tolist() == [[0.0, -1.0], [3.0, 4.0]]
    assert costs.to_frame().values.tolist() == [["a", "x", 0.0], ["b", "x", 3.0], ["b", "y", 4.0]]
    assert "2 origins x 2 destinations" in repr(costs) and "cutoff 10" in repr(costs)
    assert "<pre>" in costs._repr_html_()
    with pytest.raises(AttributeError):
        costs.unit = "m"


def test_sparse_matrix_from_triples_in_any_order():
    from svcnet.costs import _csr

    rng = np.random.default_rng(6)
    dense = np.where(rng.random((40, 30)) < 0.3, rng.integers(0, 5, (40, 30)), np.inf)
    rows, cols = np.nonzero(np.isfinite(dense))
    order = rng.permutation(len(rows))
    matrix = _csr(rows[order], cols[order], dense[rows, cols][order], dense.shape)
    assert matrix.has_canonical_format and matrix.nnz == len(rows)
    assert (matrix.data == 0).sum() == (dense == 0).sum() > 0  # the zeros are stored
    np.testing.assert_array_equal(CostMatrix(matrix, range(40), range(30)).to_dense(), dense)
    empty = _csr(rows[:0], cols[:0], np.zeros(0), (3, 2))
    assert empty.nnz == 0 and empty.shape == (3, 2)


def test_cost_matrix_checks_its_parts():
    matrix = CostMatrix.from_dense([[1.0]]).matrix
    with pytest.raises(InputError, match="shape"):
        CostMatrix(matrix, origin_ids=[1, 2], destination_ids=[1])
    with pytest.raises(InputError, match="unit"):
        CostMatrix(matrix, origin_ids=[1], destination_ids=[1], unit="km")
    with pytest.raises(InputError, match="CSR"):
        CostMatrix(np.ones((1, 1)), origin_ids=[1], destination_ids=[1])
    with pytest.raises(InputError, match="negative"):
        CostMatrix.from_dense([[-1.0]])


# =========================================================================================
# isochrones
# =========================================================================================
def test_isochrone_by_hand():
    site = gpd.GeoDataFrame({"name": ["A"]}, geometry=[Point(0, 0)], crs=UTM50)
    areas = isochrones(tiny_graph(), site, 1, site_id="name", buffer_m=10)
    assert areas[["site_id", "minutes"]].values.tolist() == [["A", 1.0]]
    area = areas.geometry.iloc[0]
    # 60 m a minute along A-B and A-D, walking; plus 10 m either side
    assert area.contains(Point(50, 0)) and area.contains(Point(0, 65))
    assert area.contains(Point(69, 0)) and not area.contains(Point(71, 0))
    assert not area.contains(Point(100, 100))
    # a site off the network gets an empty area, and a warning
    far = gpd.GeoDataFrame({"name": ["A", "far"]}, geometry=[Point(0, 0), Point(500, 500)],
                           crs=UTM50)  # fmt: skip
    both = isochrones(tiny_graph(), far, [1, 2], site_id="name", max_snap_m=100)
    assert both.site_id.tolist() == ["A", "A", "far", "far"]
    assert both.geometry.is_empty.tolist() == [False, False, True, True]


def test_isochrone_driving_out_along_a_one_way_street():
    site = gpd.GeoDataFrame(geometry=[Point(100, 0)], crs=UTM50)  # on B
    g = tiny_graph()
    for _, _, data in g.edges(data=True):
        data["travel_time"] = 60.0  # a minute a street
    out = isochrones(g, site, 1.5, mode="drive", direction="from_destination", buffer_m=5)
    back = isochrones(g, site, 1.5, mode="drive", buffer_m=5)  # from where B is reached
    # leaving B: B -> C and half of C -> D; never B -> A (one-way A -> B)
    assert out.geometry[0].contains(Point(50, 100)) and not out.geometry[0].contains(Point(50, 0))
    # reaching B: all of A -> B and half of D -> A
    assert back.geometry[0].contains(Point(50, 0)) and back.geometry[0].contains(Point(0, 50))
    assert not back.geometry[0].contains(Point(0, 95))


def test_futian_isochrones_hold_what_is_reached_and_not_what_is_beyond(futian):
    region, projected = futian
    sites = region.candidates.iloc[[10, 2000]]
    minutes = [5, 10]
    areas = isochrones(region.network, sites, minutes, site_id="candidate_id")
    assert len(areas) == 4 and areas.crs.to_epsg() == 32650
    assert (areas.area.values[[0, 2]] < areas.area.values[[1, 3]]).all()
    # points on the streets, and how long they take to walk to each site
    edges = ox.graph_to_gdfs(projected, nodes=False).geometry.values
    rng = np.random.default_rng(11)
    pick = rng.integers(len(edges), size=8000)
    on_streets = shapely.line_interpolate_point(edges[pick], rng.random(8000), normalized=True)
    points = gpd.GeoDataFrame(geometry=on_streets, crs=UTM50)
    time = costs_from_graph(region.network, points, sites, weight="travel_time",
                            destination_id="candidate_id").to_dense()  # fmt: skip
    per_minute = WALK_SPEED_KMH * 1000 / 60
    for j, site in enumerate(sites.geometry):
        for minute in minutes:
            area = areas[(areas.site_id == sites.candidate_id.iloc[j]) & (areas.minutes == minute)]
            polygon = area.geometry.iloc[0].buffer(1e-6)
            reached = time[:, j] <= minute
            assert reached.sum() > 10
            assert shapely.covers(polygon, on_streets[reached]).all()
            beyond = shapely.distance(on_streets, site) > minute * per_minute + 50 + 1
            assert not shapely.intersects(polygon, on_streets[beyond]).any()
