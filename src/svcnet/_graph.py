"""Plumbing for :mod:`svcnet.costs`: a road graph made into arrays, snapping, batched Dijkstra.

Nothing here is public. The pieces, in the order :mod:`svcnet.costs` uses them:

* :func:`prepare_network` reads a networkx graph once into a :class:`Network`:
  node coordinates and edge geometries in a metric CRS, the edges grouped into
  *segments* (the two directed edges of a two-way street are one segment), the
  cost of travelling each segment forward and backward, a node-level sparse
  graph, and which nodes can reach, or be reached from, its main component.
* :func:`snap_points` puts points on the network: on the nearest segment at the
  projected position (found exactly with a k-d tree over the segments' straight
  pieces), or on the nearest node.
* :func:`search_graph` inserts the positions of the points Dijkstra starts
  from as new nodes, splitting their segments; :func:`target_links` links each
  target point to the ends of the piece of segment it lies on.
* :func:`network_costs` runs :func:`scipy.sparse.csgraph.dijkstra` over
  batches of sources with ``limit=cutoff`` and keeps only the pairs within it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse.csgraph import breadth_first_order, connected_components, dijkstra
from scipy.spatial import cKDTree

from svcnet.crs import as_metric_crs, estimate_metric_crs, is_metric
from svcnet.errors import CRSError, InputError

logger = logging.getLogger(__name__)

__all__: list[str] = []

#: Point status after snapping.
OK, FAR, ISLAND = 0, 1, 2

#: Scratch memory one Dijkstra batch may take (its dense blocks), in bytes.
_BLOCK_BYTES = 256 * 2**20
#: Relative slack on Dijkstra's limit; the cutoff itself is applied exactly after.
_LIMIT_SLACK = 1e-9
#: Longest stretch of street one k-d tree point stands for when snapping (metres).
_SNAP_STEP_M = 25.0
#: A point projecting this close (metres) to a segment's end is at its end node.
_AT_NODE_M = 1e-6
#: Neighbours asked of the k-d tree per point at first (more when needed).
_SNAP_K = 8
#: Below this share of reached (source, target) candidates per block cell, targets
#: are costed from the reached nodes (sparse) rather than gathered for all (dense).
_SPARSE_SHARE = 0.05

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Pieces = tuple[Ints, Ints, Ints, Floats, Floats, Floats]


def _rows(array: Floats, index: Ints) -> Floats:
    """``array[index]`` for the rows of a 2-d array: np.take copies rows many times faster."""
    return np.take(array, index, axis=0)


# =========================================================================================
# the network as arrays
# =========================================================================================
@dataclass(frozen=True, eq=False)
class Network:
    """A road graph read into arrays, in a metric CRS, for one mode and weight.

    Segments are the undirected street pieces, running from node ``seg_a`` to
    node ``seg_b`` (``seg_a <= seg_b``): straight between the nodes, or along
    curve ``seg_curve`` (coordinates ``curve_xy[curve_ptr[c]:curve_ptr[c + 1]]``).
    ``seg_cf`` is the cost of travelling a segment from a to b, ``seg_cb`` from
    b to a (``inf`` where that way is closed). A position on a segment is the
    fraction ``t`` of its geometry from a; part of a segment costs that
    fraction of the segment's cost (which comes from the edges' ``length``
    attribute, not from the projected geometry). ``edge_*`` is the node-level
    graph (the cheapest of parallel segments, no loops).
    """

    crs: pyproj.CRS
    mode: str
    weight: str
    node_ids: NDArray[Any]
    node_xy: Floats
    seg_a: Ints
    seg_b: Ints
    seg_curve: Ints
    curve_xy: Floats
    curve_ptr: Ints
    seg_cf: Floats
    seg_cb: Floats
    edge_from: Ints
    edge_to: Ints
    edge_cost: Floats
    reach_out: NDArray[np.bool_]
    reach_in: NDArray[np.bool_]
    metres_per_unit: float
    metres_per_cost: float  # the most metres (as the crow flies) one unit of cost covers

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @cached_property
    def seg_geom(self) -> NDArray[Any]:
        """The segments' LineStrings, from a to b."""
        out = np.empty(len(self.seg_a), dtype=object)
        straight = self.seg_curve < 0
        ends = np.stack([self.node_xy[self.seg_a[straight]], self.node_xy[self.seg_b[straight]]], 1)
        out[straight] = shapely.linestrings(ends)
        curved = np.flatnonzero(~straight)
        if len(curved):
            counts = np.diff(self.curve_ptr)
            lines = shapely.linestrings(
                self.curve_xy, indices=np.repeat(np.arange(len(counts)), counts)
            )
            out[curved] = lines[self.seg_curve[curved]]
        return out

    @cached_property
    def pieces(self) -> _Pieces:
        return _Pieces.build(self)

    @cached_property
    def extent_tree(self) -> shapely.STRtree:
        """An R-tree of the segments' extents (their geometry, curves included)."""
        a, b = _rows(self.node_xy, self.seg_a), _rows(self.node_xy, self.seg_b)
        low, high = np.minimum(a, b), np.maximum(a, b)
        curved = np.flatnonzero(self.seg_curve >= 0)
        if len(curved) and len(self.curve_xy):
            starts = self.curve_ptr[:-1]
            c_low = np.minimum.reduceat(self.curve_xy, starts, axis=0)
            c_high = np.maximum.reduceat(self.curve_xy, starts, axis=0)
            curve = self.seg_curve[curved]
            low[curved] = np.minimum(low[curved], c_low[curve])
            high[curved] = np.maximum(high[curved], c_high[curve])
        return shapely.STRtree(shapely.box(low[:, 0], low[:, 1], high[:, 0], high[:, 1]))

    def segments_in(self, box: tuple[float, float, float, float]) -> Ints:
        """The segments whose extent meets ``box`` (minx, miny, maxx, maxy), ascending."""
        return np.sort(self.extent_tree.query(shapely.box(*box))).astype(np.int64)

    @cached_property
    def node_tree(self) -> tuple[cKDTree, Ints]:
        used = np.zeros(self.n_nodes, dtype=bool)
        used[self.seg_a] = True
        used[self.seg_b] = True
        nodes = np.flatnonzero(used)
        return cKDTree(_rows(self.node_xy, nodes)), nodes


@dataclass(frozen=True, eq=False)
class _Pieces:
    """The straight pieces of every segment's geometry, indexed for exact nearest search.

    A k-d tree holds the midpoints of stretches of at most ``_SNAP_STEP_M``
    along the pieces. A piece at distance ``d`` from a point has a stretch
    whose midpoint is within ``d + half`` of it (``half``: the longest
    stretch's half length), so the nearest piece is among the stretches within
    ``u + half``, where ``u`` is any piece's distance: exact, not sampled.
    """

    start: Floats  # (P, 2)
    delta: Floats  # (P, 2) end - start
    length: Floats  # (P,)
    seg: Ints  # (P,) segment of each piece; the pieces of a segment are contiguous, in order
    along: Floats  # (P,) length of the segment's geometry before the piece
    along_end: Floats  # (P,) ... up to the piece's end (the same sums: exact at the end)
    seg_length: Floats  # (S,) length of each segment's geometry
    tree: cKDTree  # midpoints of the stretches
    stretch_piece: Ints  # piece of each stretch
    half: float  # the longest stretch's half length

    @classmethod
    def build(cls, net: Network) -> _Pieces:
        n_seg = len(net.seg_a)
        straight = np.flatnonzero(net.seg_curve < 0)
        curved = np.flatnonzero(net.seg_curve >= 0)
        # curved segments: coordinates ``same`` and ``same + 1`` of a curve
        counts = np.diff(net.curve_ptr)
        owner = np.repeat(np.arange(len(counts)), counts)
        same = np.flatnonzero(owner[1:] == owner[:-1])
        curve_seg = np.full(len(counts), -1, dtype=np.int64)
        curve_seg[net.seg_curve[curved]] = curved
        node_xy, curve_xy = net.node_xy, net.curve_xy
        start = np.concatenate([_rows(node_xy, net.seg_a[straight]), _rows(curve_xy, same)])
        end = np.concatenate([_rows(node_xy, net.seg_b[straight]), _rows(curve_xy, same + 1)])
        seg = np.concatenate([straight, curve_seg[owner[same]]])
        order = np.argsort(seg, kind="stable")
        start, end, seg = _rows(start, order), _rows(end, order), seg[order]
        delta = end - start
        length = np.hypot(delta[:, 0], delta[:, 1])
        # running length within each segment (restarted per segment: no cancellation)
        along_end = pd.Series(length).groupby(seg).cumsum().to_numpy()
        first = np.r_[True, seg[1:] != seg[:-1]]
        last = np.r_[seg[1:] != seg[:-1], True]
        along = np.where(first, 0.0, np.r_[0.0, along_end[:-1]])
        seg_length = np.zeros(n_seg)
        seg_length[seg[last]] = along_end[last]
        n_sub = np.maximum(1, np.ceil(length / _SNAP_STEP_M)).astype(np.int64)
        stretch_piece = np.repeat(np.arange(len(seg)), n_sub)
        k = np.arange(len(stretch_piece)) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub)
        mid = (k + 0.5) / n_sub[stretch_piece]
        centres = _rows(start, stretch_piece) + mid[:, None] * _rows(delta, stretch_piece)
        half = float(np.max(length / n_sub) / 2) if len(length) else 0.0
        return cls(
            start=start, delta=delta, length=length, seg=seg, along=along,
            along_end=along_end, seg_length=seg_length,
            tree=cKDTree(centres, leafsize=32, balanced_tree=False, compact_nodes=False),
            stretch_piece=stretch_piece, half=half,
        )  # fmt: skip

    def project(self, xy: Floats, piece: Ints) -> tuple[Floats, Floats]:
        """Distance from each point to its piece, and the fraction along the piece."""
        d = _rows(self.delta, piece)
        l2 = np.einsum("ij,ij->i", d, d)
        rel = xy - _rows(self.start, piece)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.einsum("ij,ij->i", rel, d)
            s /= l2
            np.clip(s, 0.0, 1.0, out=s)
        s[~(l2 > 0)] = 0.0
        rel -= s[:, None] * d  # now the gap between the point and the piece
        return np.hypot(rel[:, 0], rel[:, 1]), s

    def nearest(self, xy: Floats, max_dist: float) -> tuple[Ints, Floats, Floats, Floats]:
        """For each point: the nearest segment, the distance to it, the position on it.

        The position is given as ``t`` and as coordinates. Ties go to the
        lowest-numbered segment. Points with no segment within ``max_dist`` get
        segment -1, distance inf and NaN coordinates.
        """
        n = len(xy)
        k = min(_SNAP_K, self.tree.n)
        near, stretch = self.tree.query(xy, k=k)
        near, stretch = near.reshape(n, k), stretch.reshape(n, k)
        # the nearest piece of the first neighbours bounds the search (capped at max_dist)
        piece = self.stretch_piece[stretch].ravel()
        dist, s = self.project(np.repeat(xy, k, axis=0), piece)
        bound = np.minimum(dist.reshape(n, k).min(axis=1), max_dist)
        radius = bound + self.half + 1e-9 * (1.0 + bound)
        within = near <= radius[:, None]  # none for points with nothing within max_dist
        more = within[:, -1] & (k < self.tree.n)  # maybe more stretches within the radius
        within[more] = False
        # candidates: the first neighbours within the radius (already projected), and
        # for the points with more, every stretch within it
        flat = np.flatnonzero(within)
        rows = np.flatnonzero(more)
        row2, piece2 = self._within(_rows(xy, rows), radius[rows])
        row2 = rows[row2]
        dist2, s2 = self.project(_rows(xy, row2), piece2)
        best_piece, best_dist, best_s = self._pick(
            n,
            np.concatenate([flat // k, row2]),
            np.concatenate([piece[flat], piece2]),
            np.concatenate([dist[flat], dist2]),
            np.concatenate([s[flat], s2]),
            max_dist,
        )
        found = np.isfinite(best_dist)
        seg = np.where(found, self.seg[best_piece], -1)
        total = self.seg_length[self.seg[best_piece]]
        at = np.where(
            best_s >= 1.0,
            self.along_end[best_piece],
            self.along[best_piece] + best_s * self.length[best_piece],
        )
        # within a micrometre of an end node is at it: one-way streets then need
        # no detour for points that sit on a node up to rounding
        at = np.where(at <= _AT_NODE_M, 0.0, np.where(total - at <= _AT_NODE_M, total, at))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(total > 0, np.clip(at / total, 0.0, 1.0), 0.0)
        place = _rows(self.start, best_piece) + best_s[:, None] * _rows(self.delta, best_piece)
        place[~found] = np.nan
        return seg, best_dist, np.where(found, t, 0.0), place

    def _within(self, xy: Floats, radius: Floats) -> tuple[Ints, Ints]:
        """(point, piece) of every stretch within each point's radius, by point."""
        found = self.tree.query_ball_point(xy, radius, return_sorted=False)
        counts = np.fromiter(map(len, found), np.int64, len(found))
        stretch = np.fromiter(itertools.chain.from_iterable(found), np.int64, counts.sum())
        return np.repeat(np.arange(len(xy)), counts), self.stretch_piece[stretch]

    def _pick(
        self, n: int, row: Ints, piece: Ints, dist: Floats, s: Floats, max_dist: float
    ) -> tuple[Ints, Floats, Floats]:
        """The nearest of each point's candidate pieces (``row``: the point, grouped).

        Candidates beyond ``max_dist`` do not count; ties go to the lowest
        segment, then the lowest piece. Returns each of the ``n`` points' piece,
        distance and fraction along the piece (distance inf: none).
        """
        best_piece = np.zeros(n, dtype=np.int64)
        best_dist = np.full(n, np.inf)
        best_s = np.zeros(n)
        if len(row):
            starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
            sizes = np.diff(np.r_[starts, len(row)])
            usable = np.where(dist <= max_dist, dist, np.inf)
            low = np.minimum.reduceat(usable, starts)
            big = np.iinfo(np.int64).max
            rank = self.seg[piece] * (len(self.seg) + 1) + piece
            rank = np.where(usable == np.repeat(low, sizes), rank, big)
            top = np.minimum.reduceat(rank, starts)
            pick = np.flatnonzero(rank == np.repeat(top, sizes))
            # a piece may come twice (two of its stretches): the first of each point
            pick = pick[np.r_[True, row[pick][1:] != row[pick][:-1]]]
            hit = np.isfinite(low)
            done, pick = row[starts][hit], pick[hit]
            best_piece[done] = piece[pick]
            best_dist[done] = dist[pick]
            best_s[done] = s[pick]
        return best_piece, best_dist, best_s


def graph_crs(graph: nx.Graph) -> pyproj.CRS:
    """The CRS in ``graph.graph["crs"]``, or a CRSError."""
    if not isinstance(graph, nx.Graph):
        msg = f"graph must be a networkx graph (as osmnx makes); got {type(graph).__name__}"
        raise InputError(msg, layer="network")
    crs = graph.graph.get("crs")
    if crs is None:
        msg = (
            "the graph has no CRS (graph.graph['crs']); osmnx sets it, "
            "or set it yourself, e.g. graph.graph['crs'] = 'EPSG:4326'"
        )
        raise CRSError(msg, layer="network")
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        msg = f"the graph's CRS {crs!r} is not a CRS pyproj understands"
        raise CRSError(msg, layer="network") from exc


def choose_crs(source: pyproj.CRS, crs: object, hints: list[object], xy: Floats) -> pyproj.CRS:
    """The metric CRS to work in.

    ``crs`` if given; else the graph's CRS if metric; else the first metric CRS
    among ``hints`` (the layers' CRSs); else the UTM zone of the nodes' extent.
    """
    if crs is not None:
        return as_metric_crs(crs)
    if is_metric(source):
        return source
    for hint in hints:
        if hint is not None and is_metric(hint):
            return pyproj.CRS.from_user_input(hint)
    import geopandas as gpd

    (x0, y0), (x1, y1) = np.min(xy, axis=0), np.max(xy, axis=0)
    extent = gpd.GeoSeries([shapely.box(x0, y0, x1, y1)], crs=source)
    return estimate_metric_crs(extent)


def _floats(values: list[Any]) -> Floats:
    """Numbers (or numeric strings) as floats; NaN for anything else."""
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)


def _node_table(graph: nx.Graph) -> tuple[list[Any], Floats]:
    # the node dict itself when networkx exposes it (read only): faster than its view
    nodes = getattr(graph, "_node", None)
    if not isinstance(nodes, dict):  # pragma: no cover - other graph classes
        nodes = dict(graph.nodes(data=True))
    ids = list(nodes)
    if not ids:
        raise InputError("the graph has no nodes", layer="network")
    attrs = nodes.values()
    xy = np.column_stack(
        [_floats([d.get("x") for d in attrs]), _floats([d.get("y") for d in attrs])]
    )
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        rows = [ids[i] for i in np.flatnonzero(bad)]
        msg = f"{int(bad.sum())} nodes have missing or non-numeric 'x'/'y' coordinates"
        raise InputError(msg, layer="network", rows=rows)
    return ids, xy


@dataclass(frozen=True, eq=False)
class _EdgeTable:
    """The graph's edges: their end nodes (as places in the node table), keys and attributes."""

    ui: Ints
    vi: Ints
    keys: list[Any]
    data: list[dict[str, Any]]
    node_ids: list[Any]

    def names(self, edges: Ints | range) -> list[tuple[Any, Any, Any]]:
        """Some edges as networkx names them: (u, v, key)."""
        ids = self.node_ids
        return [(ids[self.ui[i]], ids[self.vi[i]], self.keys[i]) for i in edges]


def _edge_table(graph: nx.Graph, node_ids: list[Any], index: pd.Index) -> _EdgeTable:
    """Every edge of ``graph``; ``index`` holds ``node_ids``, the nodes in table order."""
    if graph.is_multigraph() and graph.is_directed():
        # the successor dicts themselves when networkx exposes them (read only, as
        # its own algorithms do): the read-only views cost a third of the time here
        adjacency = getattr(graph, "_succ", None)
        if not isinstance(adjacency, dict):  # pragma: no cover - other graph classes
            adjacency = graph.adj
        # column by column, never a tuple per edge: thousands of new tuples set off
        # Python's garbage collector, which then sweeps the whole heap (the graph too)
        keyed = [by_key for nbrs in adjacency.values() for by_key in nbrs.values()]  # per (u, v)
        data = [d for by_key in keyed for d in by_key.values()]
        if not data:
            raise InputError("the graph has no edges", layer="network")
        keys = [k for by_key in keyed for k in by_key]
        per_pair = np.fromiter(map(len, keyed), np.int64, len(keyed))
        pairs = np.fromiter(map(len, adjacency.values()), np.int64, len(adjacency))
        u_at = _places(index, list(adjacency))
        v_at = _places(index, [v for nbrs in adjacency.values() for v in nbrs])
        ui = np.repeat(np.repeat(u_at, pairs), per_pair)
        vi = np.repeat(v_at, per_pair)
    else:
        if graph.is_multigraph():
            edges = list(graph.edges(keys=True, data=True))
        else:
            edges = [(u, v, 0, d) for u, v, d in graph.edges(data=True)]
        if not edges:
            raise InputError("the graph has no edges", layer="network")
        us, vs, keys, data = (list(column) for column in zip(*edges, strict=True))
        ui, vi = _places(index, us), _places(index, vs)
    return _EdgeTable(ui=ui, vi=vi, keys=keys, data=data, node_ids=node_ids)


def _places(index: pd.Index, labels: list[Any]) -> Ints:
    """Where each of ``labels`` (all in ``index``) is in ``index``."""
    # labels of the index's own numeric type convert without inferring it again
    dtype = index.dtype if index.dtype.kind in "biuf" else None
    return index.get_indexer(pd.Index(labels, dtype=dtype)).astype(np.int64)


def _lengths(edges: _EdgeTable) -> Floats:
    length = _floats([d.get("length") for d in edges.data])
    bad = ~np.isfinite(length) | (length < 0)
    if bad.any():
        msg = (
            f"{int(bad.sum())} edges (u, v, key) have a missing, negative or non-finite "
            "'length' (metres; osmnx.distance.add_edge_lengths computes it)"
        )
        raise InputError(
            msg, layer="network", column="length", rows=edges.names(np.flatnonzero(bad))
        )
    return length


def _drive_minutes(
    graph: nx.Graph, edges: _EdgeTable, length: Floats, hwy_speeds: Mapping[str, float] | None
) -> Floats:
    """Drive minutes per edge: the graph's own ``travel_time`` (s), else osmnx's speeds.

    osmnx works on a light copy holding only what it needs, never on ``graph``.
    """
    data = edges.data
    given = _floats([d.get("travel_time") for d in data])
    if np.isfinite(given).all() and (given >= 0).all():
        logger.info("using the graph's own edge travel_time (seconds)")
        return given / 60.0
    import osmnx as ox

    names = edges.names(range(len(data)))
    light = nx.MultiDiGraph(crs=graph.graph["crs"])
    light.add_nodes_from((n, {"x": d.get("x"), "y": d.get("y")}) for n, d in graph.nodes(data=True))
    for i, d in enumerate(data):
        attrs = {"length": float(length[i]), "highway": d.get("highway", "unclassified")}
        if "maxspeed" in d:
            attrs["maxspeed"] = d["maxspeed"]
        light.add_edge(names[i][0], names[i][1], key=i, **attrs)
    try:
        ox.routing.add_edge_speeds(light, hwy_speeds=dict(hwy_speeds) if hwy_speeds else None)
        ox.routing.add_edge_travel_times(light)
    except (ValueError, TypeError, KeyError) as exc:
        msg = (
            f"osmnx could not impute drive speeds from the graph ({exc}); "
            "pass speed_kmh=... or hwy_speeds={'residential': 30, ...}"
        )
        raise InputError(msg, layer="network") from exc
    seconds = _floats([light.edges[u, v, i]["travel_time"] for i, (u, v, _) in enumerate(names)])
    bad = ~np.isfinite(seconds) | (seconds < 0)
    if bad.any():  # pragma: no cover - osmnx fills every speed or raises
        rows = edges.names(np.flatnonzero(bad))
        raise InputError("osmnx gave no travel time to some edges", layer="network", rows=rows)
    return seconds / 60.0


def prepare_network(
    graph: nx.Graph,
    *,
    mode: str,
    weight: str,
    speed_kmh: float | None,
    access_speed_kmh: float,
    crs: object = None,
    hints: list[object] | None = None,
    hwy_speeds: Mapping[str, float] | None = None,
) -> Network:
    """Read ``graph`` (never modified) into a :class:`Network`.

    Costs: ``weight="length"`` gives metres; ``"travel_time"`` gives minutes, at
    ``speed_kmh`` in walk mode (and in drive mode when given), else from the
    graph's ``travel_time`` (seconds) or osmnx's imputed speeds in drive mode.
    Off-network legs cost their metres, or minutes at ``access_speed_kmh``.
    """
    source = graph_crs(graph)
    node_ids, node_xy = _node_table(graph)
    edges = _edge_table(graph, node_ids, pd.Index(node_ids))
    length = _lengths(edges)
    target = choose_crs(source, crs, hints or [], node_xy)
    transformer = None
    raw_xy = node_xy  # as in the graph's CRS
    if not source.equals(target):
        transformer = pyproj.Transformer.from_crs(source, target, always_xy=True)
        x, y = transformer.transform(node_xy[:, 0], node_xy[:, 1])
        node_xy = np.column_stack([x, y])
        if not np.isfinite(node_xy).all():
            msg = f"some nodes cannot be projected from {source.name} to {target.name}"
            raise CRSError(msg, layer="network")
    ui, vi = edges.ui, edges.vi

    if weight == "length":
        cost = length
        metres_per_unit = 1.0
    else:
        metres_per_unit = access_speed_kmh * 1000.0 / 60.0
        if mode == "walk" or speed_kmh is not None:
            cost = length / (speed_kmh * 1000.0 / 60.0)
        else:
            cost = _drive_minutes(graph, edges, length, hwy_speeds)
    two_way = mode == "walk" or not graph.is_directed()

    geoms = np.fromiter((d.get("geometry") for d in edges.data), dtype=object, count=len(ui))
    seg_a, seg_b, seg_curve, curve_xy, curve_ptr, group, forward = _segments(
        ui, vi, geoms, node_xy, transformer, raw_xy
    )
    n_seg = len(seg_a)
    seg_cf = np.full(n_seg, np.inf)
    seg_cb = np.full(n_seg, np.inf)
    f = forward | two_way
    b = ~forward | two_way
    np.minimum.at(seg_cf, group[f], cost[f])
    np.minimum.at(seg_cb, group[b], cost[b])
    metres_per_cost = _metres_per_cost(
        seg_a, seg_b, seg_curve, curve_xy, curve_ptr, node_xy, np.minimum(seg_cf, seg_cb)
    )

    rows = np.concatenate([seg_a, seg_b])
    cols = np.concatenate([seg_b, seg_a])
    w = np.concatenate([seg_cf, seg_cb])
    keep = np.isfinite(w) & (rows != cols)
    rows, cols, w = _cheapest(rows[keep], cols[keep], w[keep])
    n = len(node_ids)
    adjacency = sparse.csr_matrix((w, (rows, cols)), shape=(n, n))
    strong = mode == "drive" and graph.is_directed()
    _, labels = connected_components(
        adjacency, directed=True, connection="strong" if strong else "weak"
    )
    main = labels == np.argmax(np.bincount(labels))
    # the nodes that can reach the main component, and those it reaches
    seed = int(np.argmax(main))
    reach_in = np.zeros(n, dtype=bool)
    reach_in[breadth_first_order(adjacency, seed, directed=True, return_predecessors=False)] = True
    reach_out = np.zeros(n, dtype=bool)
    backwards = adjacency.T.tocsr()
    reach_out[breadth_first_order(backwards, seed, directed=True, return_predecessors=False)] = True
    logger.debug(
        "network: %d nodes, %d segments, main component %d nodes (%s), CRS %s",
        n, n_seg, int(main.sum()), "strong" if strong else "weak", target.name,
    )  # fmt: skip
    ids = np.empty(n, dtype=object)
    ids[:] = node_ids
    return Network(
        crs=target, mode=mode, weight=weight, node_ids=ids, node_xy=node_xy,
        seg_a=seg_a, seg_b=seg_b, seg_curve=seg_curve, curve_xy=curve_xy, curve_ptr=curve_ptr,
        seg_cf=seg_cf, seg_cb=seg_cb, edge_from=rows, edge_to=cols, edge_cost=w,
        reach_out=reach_out, reach_in=reach_in, metres_per_unit=metres_per_unit,
        metres_per_cost=metres_per_cost,
    )  # fmt: skip


def _metres_per_cost(
    seg_a: Ints, seg_b: Ints, seg_curve: Ints, curve_xy: Floats, curve_ptr: Ints,
    node_xy: Floats, cost: Floats,
) -> float:  # fmt: skip
    """The most metres of geometry one unit of cost buys on any segment (inf if free).

    Nothing within cost ``c`` of a place lies farther than ``c`` times this from
    it, as the crow flies: batches of sources search only near themselves.
    """
    length = np.hypot(*(_rows(node_xy, seg_b) - _rows(node_xy, seg_a)).T)
    curved = seg_curve >= 0
    if curved.any():
        steps = np.hypot(*np.diff(curve_xy, axis=0).T)
        owner = np.repeat(np.arange(len(curve_ptr) - 1), np.diff(curve_ptr))[:-1]
        inside = owner == np.repeat(np.arange(len(curve_ptr) - 1), np.diff(curve_ptr))[1:]
        per_curve = np.bincount(owner[inside], weights=steps[inside], minlength=len(curve_ptr) - 1)
        length[curved] = per_curve[seg_curve[curved]]
    usable = np.isfinite(cost) & (length > 0)
    if not usable.any():
        return 0.0
    with np.errstate(divide="ignore"):
        return float(np.max(length[usable] / cost[usable]))


def _cheapest(rows: Ints, cols: Ints, w: Floats) -> tuple[Ints, Ints, Floats]:
    """The cheapest of each (row, col) pair (of parallel edges, say), in order of (row, col)."""
    if not len(rows):
        return rows, cols, w
    # one integer key (row, col) sorts much faster than lexsort's three keys
    key = rows * (int(max(rows.max(), cols.max())) + 1) + cols
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return rows[order[first]], cols[order[first]], np.minimum.reduceat(w[order], first)


def _segments(
    ui: Ints, vi: Ints, geoms: NDArray[Any], node_xy: Floats,
    transformer: pyproj.Transformer | None, raw_xy: Floats,
) -> tuple[Ints, Ints, Ints, Floats, Ints, Ints, NDArray[np.bool_]]:  # fmt: skip
    """Group directed edges into segments (a street piece, either way).

    Edges without a geometry of three or more points are straight: they group
    by their pair of end nodes. Edges with one group by end nodes and their
    exact coordinates, taken from the lower-numbered end, so the two directed
    edges osmnx makes for a two-way street (the second with the reversed
    geometry) are one segment. Returns the segments' ends, curve numbers (-1:
    straight), the curves' coordinates and offsets, each edge's segment and
    whether the edge runs its segment forward (a to b). ``transformer``
    projects the geometries to the CRS of ``node_xy``; ``raw_xy`` are the
    nodes' coordinates before it.
    """
    n_edges = len(ui)
    n_nodes = len(node_xy)
    if not shapely.is_geometry(geoms).all():  # anything else is no geometry
        geoms = np.where(shapely.is_geometry(geoms), geoms, None)
    kind = shapely.get_type_id(geoms)
    is_line = (kind == shapely.GeometryType.LINESTRING) | (kind == shapely.GeometryType.LINEARRING)
    curved = is_line & (shapely.get_num_coordinates(geoms) >= 3)
    a = np.minimum(ui, vi)
    b = np.maximum(ui, vi)
    group = np.empty(n_edges, dtype=np.int64)
    forward = ui <= vi

    straight = np.flatnonzero(~curved)
    uniq, inverse = np.unique(a[straight] * n_nodes + b[straight], return_inverse=True)
    group[straight] = inverse.ravel()
    seg_a = [uniq // n_nodes]
    seg_b = [uniq % n_nodes]
    seg_curve = [np.full(len(uniq), -1, dtype=np.int64)]
    curve_xy = np.zeros((0, 2))
    curve_ptr = np.zeros(1, dtype=np.int64)

    idx = np.flatnonzero(curved)
    if len(idx):
        gid, fwd, curve_xy, curve_ptr, first_edge = _curves(
            ui[idx], vi[idx], geoms[idx], node_xy, transformer, raw_xy
        )
        group[idx] = len(uniq) + gid
        forward[idx] = fwd
        seg_a.append(a[idx][first_edge])
        seg_b.append(b[idx][first_edge])
        seg_curve.append(np.arange(len(first_edge), dtype=np.int64))
    return (
        np.concatenate(seg_a).astype(np.int64),
        np.concatenate(seg_b).astype(np.int64),
        np.concatenate(seg_curve),
        curve_xy,
        curve_ptr,
        group,
        forward,
    )


def _curves(
    u: Ints, v: Ints, geoms: NDArray[Any], node_xy: Floats,
    transformer: pyproj.Transformer | None, raw_xy: Floats,
) -> tuple[Ints, NDArray[np.bool_], Floats, Ints, Ints]:  # fmt: skip
    """Group curved edges (from ``u`` to ``v``) by end nodes and exact coordinates.

    Returns each edge's group (numbered in order of first appearance) and
    whether it runs its group's curve forward, the curves' coordinates (from
    the lower-numbered node) and offsets, and the first edge of each group.
    """
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    count = np.bincount(owner, minlength=len(u))
    begin = np.r_[0, np.cumsum(count)[:-1]]
    if transformer is not None:
        coords = _project_curves(coords, begin, count, u, v, transformer, raw_xy, node_xy)
    loop = u == v
    # a geometry should start at u; osmnx's do, a hand-made one may not
    first = _rows(coords, begin)
    flip = ~loop & (
        np.hypot(*(first - _rows(node_xy, v)).T) < np.hypot(*(first - _rows(node_xy, u)).T)
    )
    # the canonical direction runs from the lower-numbered node
    rev = flip ^ (u > v)
    fwd = u < v
    for j in np.flatnonzero(loop):  # loops: the direction of smaller coordinates
        c = coords[begin[j] : begin[j] + count[j]]
        fwd[j] = c.tobytes() <= c[::-1].tobytes()
        rev[j] = not fwd[j]
    pos = np.arange(len(coords)) - begin[owner]
    perm = np.where(rev[owner], begin[owner] + count[owner] - 1 - pos, np.arange(len(coords)))
    canon = _rows(coords, perm)
    buf = canon.tobytes()
    width = canon.itemsize * 2
    lookup: dict[tuple[int, int, bytes], int] = {}
    gid = np.fromiter(
        (
            lookup.setdefault((aa, bb, buf[width * s0 : width * (s0 + n)]), len(lookup))
            for aa, bb, s0, n in zip(
                np.minimum(u, v).tolist(),
                np.maximum(u, v).tolist(),
                begin.tolist(),
                count.tolist(),
                strict=True,
            )
        ),
        np.int64,
        len(u),
    )
    _, first_edge = np.unique(gid, return_index=True)
    keep = np.zeros(len(u), dtype=bool)
    keep[first_edge] = True
    curve_xy = _rows(canon, np.flatnonzero(keep[owner]))
    curve_ptr = np.r_[0, np.cumsum(count[first_edge])]
    return gid, fwd, curve_xy, curve_ptr, first_edge


def _project_curves(
    coords: Floats, begin: Ints, count: Ints, u: Ints, v: Ints,
    transformer: pyproj.Transformer, raw_xy: Floats, node_xy: Floats,
) -> Floats:  # fmt: skip
    """The curves' coordinates (from ``u`` to ``v``) projected to the working CRS.

    A projection works point by point, so a curve's end at its node's very
    coordinates (bit for bit, as osmnx's are) takes the node's projected ones:
    fewer points to project.
    """
    ends = np.r_[begin, begin + count - 1]
    nodes = np.r_[u, v]
    at_node = (_rows(coords, ends).view(np.int64) == _rows(raw_xy, nodes).view(np.int64)).all(1)
    ends, nodes = ends[at_node], nodes[at_node]
    out = np.empty_like(coords)
    out[ends] = _rows(node_xy, nodes)
    rest = np.ones(len(coords), dtype=bool)
    rest[ends] = False
    out[rest, 0], out[rest, 1] = transformer.transform(coords[rest, 0], coords[rest, 1])
    return out


# =========================================================================================
# snapping
# =========================================================================================
@dataclass(frozen=True, eq=False)
class Snaps:
    """Where points sit on the network.

    ``seg``/``t`` (edge snapping) or ``node`` (node snapping), -1 where not
    snapped; ``dist`` the off-network distance in metres (to the nearest road,
    for the points too far from any), ``leg`` its cost, ``status`` OK, FAR or
    ISLAND.
    """

    on_edges: bool
    seg: Ints
    t: Floats
    node: Ints
    dist: Floats
    leg: Floats
    status: NDArray[np.int8]
    place: Floats  # (n, 2) where each point sits on the network; NaN where not snapped

    @property
    def ok(self) -> NDArray[np.bool_]:
        return self.status == OK


def snap_points(
    net: Network, xy: Floats, *, to: str, max_snap_m: float, role: str, far_distance: bool = True
) -> Snaps:
    """Snap points (metric coordinates) to the nearest segment or node.

    ``role`` is ``"start"`` for points travel leaves from, ``"end"`` for
    points it arrives at. A start must be able to reach the network's main
    component, an end must be reachable from it (when walking, both mean
    being on the main component); the others get the status ISLAND. With
    ``far_distance`` False, the points farther than ``max_snap_m`` from every
    street keep an infinite distance (a part of a network cannot tell theirs).
    """
    n = len(xy)
    node = np.full(n, -1, dtype=np.int64)
    if to == "edge":
        seg, dist, t, place = net.pieces.nearest(xy, max_snap_m)
        found = seg >= 0
        status = np.where(found, OK, FAR).astype(np.int8)
        island = found.copy()
        island[found] = ~_connected(net, seg[found], t[found], role)
        if far_distance and (~found).any():  # how far they are, for the report
            tree = shapely.STRtree(net.seg_geom)
            _, far = tree.query_nearest(
                shapely.points(xy[~found]), return_distance=True, all_matches=False
            )
            dist[~found] = far
    else:
        seg = np.full(n, -1, dtype=np.int64)
        t = np.zeros(n)
        tree, nodes = net.node_tree
        dist, j = tree.query(xy, k=1, distance_upper_bound=max_snap_m)
        found = np.isfinite(dist)
        node[found] = nodes[j[found]]
        place = np.full((n, 2), np.nan)
        place[found] = _rows(net.node_xy, node[found])
        status = np.where(found, OK, FAR).astype(np.int8)
        island = found.copy()
        reach = net.reach_out if role == "start" else net.reach_in
        island[found] = ~reach[node[found]]
        if (~found).any():
            dist[~found] = tree.query(xy[~found], k=1)[0]
    status[island] = ISLAND
    leg = dist / net.metres_per_unit
    return Snaps(
        on_edges=to == "edge", seg=seg, t=t, node=node, dist=dist, leg=leg, status=status,
        place=place,
    )  # fmt: skip


def _connected(net: Network, seg: Ints, t: Floats, role: str) -> NDArray[np.bool_]:
    """Whether points on segments can leave to (start) or be reached from (end) the main part."""
    a, b = net.seg_a[seg], net.seg_b[seg]
    fwd, bwd = np.isfinite(net.seg_cf[seg]), np.isfinite(net.seg_cb[seg])
    if role == "start":  # leave forward to b or backward to a
        reach = net.reach_out
        ok = (fwd & reach[b]) | (bwd & reach[a])
    else:  # arrive forward from a or backward from b
        reach = net.reach_in
        ok = (fwd & reach[a]) | (bwd & reach[b])
    ok |= (t <= 0.0) & reach[a]  # right at a node
    ok |= (t >= 1.0) & reach[b]
    return ok


# =========================================================================================
# the graph Dijkstra runs on
# =========================================================================================
@dataclass(frozen=True, eq=False)
class SearchGraph:
    """The network with the source positions inserted, as Dijkstra searches it.

    Node numbering: the network's nodes, then the inserted source positions
    (splitting their segments); ``matrix`` is square over these. With
    ``reverse`` its edges run against the direction of travel.
    """

    matrix: sparse.csr_matrix
    source_node: Ints  # per source point: its search node (-1 if not OK)
    positions: tuple[Ints, Floats, Ints]  # inserted positions: segment, t, search node
    reverse: bool  # whether the search runs against the direction of travel
    node_xy: Floats  # coordinates of every search node

    @property
    def n_nodes(self) -> int:
        return self.matrix.shape[0]

    @cached_property
    def by_x(self) -> tuple[Ints, Floats]:
        """The search nodes in order of x, and their x."""
        order = np.argsort(self.node_xy[:, 0], kind="stable")
        return order, self.node_xy[order, 0]


def _positions(net: Network, src: Snaps) -> tuple[Ints, Ints, Floats, Ints]:
    """Search nodes of the source points; the inserted positions (seg, t) sorted, their ids."""
    node = np.full(len(src.seg), -1, dtype=np.int64)
    ok = src.ok
    empty = np.zeros(0, dtype=np.int64)
    if not src.on_edges:
        node[ok] = src.node[ok]
        return node, empty, np.zeros(0), empty
    seg, t = src.seg, src.t
    at_a = ok & (t <= 0.0)
    at_b = ok & (t >= 1.0)
    node[at_a] = net.seg_a[seg[at_a]]
    node[at_b] = net.seg_b[seg[at_b]]
    idx = np.flatnonzero(ok & ~at_a & ~at_b)
    idx = idx[np.lexsort((t[idx], seg[idx]))]
    s, tt = seg[idx], t[idx]
    new = np.r_[True, (s[1:] != s[:-1]) | (tt[1:] != tt[:-1])] if len(idx) else idx.astype(bool)
    ids = net.n_nodes + np.cumsum(new) - 1
    node[idx] = ids
    return node, s[new], tt[new], ids[new]


def _chain(net: Network, pos_seg: Ints, pos_t: Floats, pos_id: Ints) -> Pieces:
    """The pieces of segment between inserted positions, both ways where allowed.

    For a segment ``a -> b`` with positions ``p1 .. pk``: ``a -> p1 -> ... -> pk
    -> b`` at ``cf`` per unit of ``t`` and the reverse at ``cb``. Returned as
    (from, to, segment, t at from, t at to, cost).
    """
    if not len(pos_seg):
        e_i, e_f = np.zeros(0, dtype=np.int64), np.zeros(0)
        return e_i, e_i, e_i, e_f, e_f, e_f
    first = np.r_[True, pos_seg[1:] != pos_seg[:-1]]
    last = np.r_[pos_seg[1:] != pos_seg[:-1], True]
    prev_node = np.where(first, net.seg_a[pos_seg], np.roll(pos_id, 1))
    prev_t = np.where(first, 0.0, np.roll(pos_t, 1))
    ls = pos_seg[last]
    p_from = np.concatenate([prev_node, pos_id[last]])
    p_to = np.concatenate([pos_id, net.seg_b[ls]])
    p_seg = np.concatenate([pos_seg, ls])
    p_t0 = np.concatenate([prev_t, pos_t[last]])
    p_t1 = np.concatenate([pos_t, np.ones(len(ls))])
    frac = p_t1 - p_t0
    cost = np.concatenate([frac * net.seg_cf[p_seg], frac * net.seg_cb[p_seg]])
    keep = np.isfinite(cost)
    return (
        np.concatenate([p_from, p_to])[keep], np.concatenate([p_to, p_from])[keep],
        np.concatenate([p_seg, p_seg])[keep], np.concatenate([p_t0, p_t1])[keep],
        np.concatenate([p_t1, p_t0])[keep], cost[keep],
    )  # fmt: skip


def travel_pieces(net: Network, graph: SearchGraph) -> Pieces:
    """Every travellable piece of segment of a search graph, in the direction of travel.

    The whole segments, both ways where allowed, plus the chains through the
    inserted positions. Returned as (from, to, segment, t at from, t at to, cost).
    """
    n_seg = len(net.seg_a)
    whole = np.arange(n_seg)
    zeros, ones = np.zeros(n_seg), np.ones(n_seg)
    parts = [
        (net.seg_a, net.seg_b, whole, zeros, ones, net.seg_cf),
        (net.seg_b, net.seg_a, whole, ones, zeros, net.seg_cb),
        _chain(net, *graph.positions),
    ]
    out = [np.concatenate([p[i] for p in parts]) for i in range(6)]
    keep = np.isfinite(out[5])
    return tuple(o[keep] for o in out)  # type: ignore[return-value]


def search_graph(net: Network, src: Snaps, *, reverse: bool) -> SearchGraph:
    """The graph to search from the source points.

    ``reverse=False``: travel runs from the sources and the search follows it.
    ``reverse=True``: travel runs to the sources and the search runs on the
    reversed graph.
    """
    node, pos_seg, pos_t, pos_id = _positions(net, src)
    size = net.n_nodes + len(pos_id)
    chain = _chain(net, pos_seg, pos_t, pos_id)
    # network edges (already the cheapest of parallel ones) plus the chain pieces
    rows = np.concatenate([net.edge_from, chain[0]])
    cols = np.concatenate([net.edge_to, chain[1]])
    if reverse:
        rows, cols = cols, rows
    matrix = sparse.csr_matrix(
        (np.concatenate([net.edge_cost, chain[5]]), (rows, cols)), shape=(size, size)
    )
    matrix.sort_indices()
    node_xy = np.empty((size, 2))
    node_xy[: net.n_nodes] = net.node_xy
    inserted = node >= net.n_nodes
    node_xy[node[inserted]] = src.place[inserted]
    return SearchGraph(
        matrix=matrix, source_node=node, positions=(pos_seg, pos_t, pos_id), reverse=reverse,
        node_xy=node_xy,
    )  # fmt: skip


def _part(frac: Floats, cost: Floats) -> Floats:
    """``frac * cost``, but 0 where ``frac`` is 0 (even where the way is closed, cost inf)."""
    out = np.zeros(len(frac))
    moving = frac > 0
    out[moving] = frac[moving] * cost[moving]
    return out


def _links(
    net: Network, tgt: Snaps, pos_seg: Ints, pos_t: Floats, pos_id: Ints, *, arrive: bool
) -> tuple[Ints, Ints, Floats]:
    """Links from search nodes to target points: (search node, target point, cost).

    A target on a segment links to the ends of the piece it lies on (the
    segment's ends, or the nearest inserted positions either side). With
    ``arrive`` the search runs in the direction of travel and the link is the
    travel from the piece's end to the target; otherwise the search runs
    against it and the link is the travel from the target to the piece's end.
    The target's off-network leg is included.
    """
    ok = np.flatnonzero(tgt.ok)
    if not tgt.on_edges:
        return tgt.node[ok], ok, tgt.leg[ok]
    seg, t = tgt.seg[ok], tgt.t[ok]
    k = len(pos_seg)
    # merge positions and targets by (segment, t); lexsort is stable, so a position
    # (listed first) at the very same t sorts first and becomes the target's left end
    all_seg = np.concatenate([pos_seg, seg])
    all_t = np.concatenate([pos_t, t])
    order = np.lexsort((all_t, all_seg))
    m = len(order)
    is_pos = order < k
    place = np.arange(m)
    last_pos = np.maximum.accumulate(np.where(is_pos, place, -1))
    next_pos = np.minimum.accumulate(np.where(is_pos, place, m)[::-1])[::-1]
    here = np.flatnonzero(~is_pos)
    which = order[here] - k  # the target, as an index into ``ok``
    s = seg[which]
    # pad the positions with a dummy (index k) so that "no position" indexes safely
    seg_p = np.r_[pos_seg, -1]
    t_p = np.r_[pos_t, np.nan]
    id_p = np.r_[pos_id, -1]
    sorted_pos = np.r_[order, k]
    lp = sorted_pos[np.where(last_pos[here] >= 0, last_pos[here], m)]
    rp = sorted_pos[np.where(next_pos[here] < m, next_pos[here], m)]
    left_ok = seg_p[lp] == s
    right_ok = seg_p[rp] == s
    l_node = np.where(left_ok, id_p[lp], net.seg_a[s])
    l_t = np.where(left_ok, t_p[lp], 0.0)
    r_node = np.where(right_ok, id_p[rp], net.seg_b[s])
    r_t = np.where(right_ok, t_p[rp], 1.0)
    tt = t[which]
    cf, cb = net.seg_cf[s], net.seg_cb[s]
    if not arrive:  # travel target -> r forward, target -> l backward
        cf, cb = cb, cf
    # (travel l -> target forward, r -> target backward); a target right at an
    # end needs no travel along the segment, whichever way it is open
    c_left = _part(tt - l_t, cf)
    c_right = _part(r_t - tt, cb)
    leg = tgt.leg[ok][which]
    point = ok[which]
    nodes = np.r_[l_node, r_node]
    points = np.r_[point, point]
    cost = np.r_[c_left + leg, c_right + leg]
    keep = np.isfinite(cost)
    return nodes[keep], points[keep], cost[keep]


@dataclass(frozen=True, eq=False)
class TargetLinks:
    """How each OK target point is reached from the search nodes: at most two links.

    The cost of target ``points[j]`` from a source is
    ``min(dist[node1[j]] + cost1[j], dist[node2[j]] + cost2[j])`` (``cost2`` is
    inf for a target with one link). Targets are in order of ``node1``, so that
    gathering their nodes' distances reads a block's rows in order. ``ptr``,
    ``col``, ``cost`` list the links by search node (CSR), to cost the targets
    from the nodes a search reached.
    """

    points: Ints
    node1: Ints
    cost1: Floats
    node2: Ints
    cost2: Floats
    ptr: Ints
    col: Ints
    cost: Floats

    def candidates(self, block: Floats, limit: float) -> Ints:
        """The targets that some row of a distances block may reach within ``limit``.

        A superset, cheap to find: a target's cost from any row is at least its
        cost over the column minima of the block (the least distance of each
        node from any of the rows). ``limit=inf``: the targets reached at all.
        """
        nearest = block.min(axis=0)
        lowest = nearest[self.node1] + self.cost1
        np.minimum(lowest, nearest[self.node2] + self.cost2, out=lowest)
        if np.isinf(limit):
            return np.flatnonzero(np.isfinite(lowest))
        return np.flatnonzero(lowest <= limit)

    def gather(self, block: Floats, targets: Ints) -> Floats:
        """Costs of some targets (indices) from every row of a distances block (a new array)."""
        out = np.take(block, self.node1[targets], axis=1)
        out += self.cost1[targets]
        cost2 = self.cost2[targets]
        if np.isfinite(cost2).any():
            other = np.take(block, self.node2[targets], axis=1)
            other += cost2
            np.minimum(out, other, out=out)
        return out

    def scatter(
        self, rows: Ints, nodes: Ints, dist: Floats, limits: Floats
    ) -> tuple[Ints, Ints, Floats]:
        """Costs from reached (row, node, distance) entries: (row, target column, cost).

        Only costs within the row's limit are kept; each (row, target) once,
        at its cheaper link.
        """
        counts = self.ptr[nodes + 1] - self.ptr[nodes]
        rep = np.repeat(np.arange(len(nodes)), counts)
        offset = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
        link = self.ptr[nodes][rep] + offset
        r = rows[rep]
        cost = dist[rep] + self.cost[link]
        col = self.col[link]
        keep = cost <= limits[r]
        r, col, cost = r[keep], col[keep], cost[keep]
        order = np.lexsort((cost, col, r))
        r, col, cost = r[order], col[order], cost[order]
        if not len(r):
            return r, col, cost
        first = np.r_[True, (r[1:] != r[:-1]) | (col[1:] != col[:-1])]
        return r[first], col[first], cost[first]


def target_links(net: Network, graph: SearchGraph, tgt: Snaps) -> TargetLinks:
    """Link the OK target points to the search graph (see :func:`_links`)."""
    nodes, points, cost = _links(net, tgt, *graph.positions, arrive=not graph.reverse)
    # by point, then node; the cheapest link of a point to a node
    points, nodes, cost = _cheapest(points, nodes, cost)
    first = np.r_[True, points[1:] != points[:-1]] if len(points) else points[:0].astype(bool)
    uniq = points[first]
    node1, cost1 = nodes[first], cost[first]
    node2, cost2 = node1.copy(), np.full(len(uniq), np.inf)
    second = np.flatnonzero(~first)  # at most one more per point
    where = np.searchsorted(uniq, points[second])
    node2[where] = nodes[second]
    cost2[where] = cost[second]
    by_node = np.argsort(node1, kind="stable")
    uniq, node1, cost1 = uniq[by_node], node1[by_node], cost1[by_node]
    node2, cost2 = node2[by_node], cost2[by_node]
    column = np.empty(len(uniq), dtype=np.int64)
    column[by_node] = np.arange(len(uniq))
    l_col = column[np.searchsorted(points[first], points)] if len(points) else points
    csr = np.argsort(nodes * (len(uniq) + 1) + l_col, kind="stable")  # by node, then column
    ptr = np.r_[0, np.cumsum(np.bincount(nodes, minlength=graph.n_nodes))]
    return TargetLinks(
        points=uniq, node1=node1, cost1=cost1, node2=node2, cost2=cost2,
        ptr=ptr, col=l_col[csr], cost=cost[csr],
    )  # fmt: skip


# =========================================================================================
# Dijkstra in batches
# =========================================================================================
def source_groups(
    graph: SearchGraph, active: NDArray[np.bool_] | None = None
) -> tuple[Ints, Ints, Ints]:
    """The distinct search nodes of the OK sources, and the sources at each (CSR-style).

    Returns ``(nodes, indptr, points)``: the sources at ``nodes[i]`` are
    ``points[indptr[i]:indptr[i + 1]]``. ``active`` keeps only some sources
    (the others are still inserted in the graph, but not searched from).
    """
    placed = graph.source_node >= 0
    points = np.flatnonzero(placed if active is None else placed & active)
    order = np.lexsort((points, graph.source_node[points]))
    points = points[order]
    nodes = graph.source_node[points]
    starts = np.flatnonzero(np.r_[True, nodes[1:] != nodes[:-1]]) if len(nodes) else points[:0]
    return nodes[starts], np.r_[starts, len(points)], points


def dijkstra_blocks(
    graph: SearchGraph,
    nodes: Ints,
    limits: Floats,
    *,
    row_bytes: int,
    batch_size: int | None,
    progress: bool,
    desc: str,
) -> Iterator[tuple[int, Floats]]:
    """Yield ``(first source, distances block)`` batch by batch.

    ``limits[i]`` is how far the search from ``nodes[i]`` needs to go; a batch
    searches to the largest of its limits. ``row_bytes`` is the memory one
    source takes (its row of distances and what is made from it).
    """
    from svcnet._progress import progress as progress_bar

    size = batch_size or int(max(1, min(4096, _BLOCK_BYTES // max(row_bytes, 1))))
    with progress_bar(total=len(nodes), disable=not progress, desc=desc, unit="source") as bar:
        for start in range(0, len(nodes), size):
            stop = min(start + size, len(nodes))
            limit = float(np.max(limits[start:stop]))
            block = dijkstra(graph.matrix, directed=True, indices=nodes[start:stop], limit=limit)
            yield start, block
            bar.update(stop - start)


def _spatial_order(
    nodes: Ints, indptr: Ints, points: Ints, node_xy: Floats
) -> tuple[Ints, Ints, Ints]:
    """Source groups (see :func:`source_groups`) in Z-order of their places.

    Batches of sources near one another search the same small part of the network.
    """
    if len(nodes) < 2:
        return nodes, indptr, points
    xy = node_xy[nodes]
    low = xy.min(axis=0)
    span = max(float(np.max(xy.max(axis=0) - low)), 1e-9)
    cells = np.clip((xy - low) / span * 65535, 0, 65535).astype(np.uint64)

    def spread(v: NDArray[np.uint64]) -> NDArray[np.uint64]:
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
        return (v | (v << np.uint64(1))) & np.uint64(0x55555555)

    code = spread(cells[:, 0]) | (spread(cells[:, 1]) << np.uint64(1))
    order = np.argsort(code, kind="stable")
    counts = np.diff(indptr)[order]
    starts = indptr[:-1][order]
    take = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
    return nodes[order], np.r_[0, np.cumsum(counts)], points[take]


def _near(graph: SearchGraph, sources: Ints, reach_m: float) -> Ints | None:
    """The search nodes within ``reach_m`` of the sources' bounding box, sorted (None: all)."""
    if not np.isfinite(reach_m):
        return None
    xy = graph.node_xy[sources]
    low = xy.min(axis=0) - reach_m * (1 + 1e-9) - 1e-6
    high = xy.max(axis=0) + reach_m * (1 + 1e-9) + 1e-6
    order, xs = graph.by_x
    first, last = np.searchsorted(xs, [low[0], high[0]], side="left")
    if last - first > graph.n_nodes // 2:
        return None
    strip = order[first:last]
    y = graph.node_xy[strip, 1]
    return np.sort(strip[(y >= low[1]) & (y <= high[1])])


def _gather_chunks(
    links: TargetLinks, block: Floats, limits: Floats | None
) -> Iterator[tuple[Ints, Ints, Floats]]:
    """(row, target column, cost) of the finite costs (within ``limits``) of a block.

    Works a few rows at a time, so that the gathered costs stay in the CPU's
    cache, and gathers only the targets that one of those rows may reach
    (batches are in spatial order: the rows of a few neighbouring sources
    reach a part of the targets). Yields the costs of each few rows.
    """
    step = max(1, 2**18 // max(len(links.points), 1))
    for first in range(0, len(block), step):
        rows = block[first : first + step]
        lim = None if limits is None else limits[first : first + step]
        targets = links.candidates(rows, np.inf if lim is None else float(lim.max()))
        sub = links.gather(rows, targets)
        keep = np.isfinite(sub) if lim is None else sub <= lim[:, None]
        flat = np.flatnonzero(keep)  # faster than a 2-d nonzero
        r = np.repeat(np.arange(len(keep)), np.count_nonzero(keep, axis=1))
        yield r + first, targets[flat - r * len(targets)], sub.ravel().take(flat)


def _block_costs(
    links: TargetLinks, graph: SearchGraph, block: Floats, sources: Ints, limits: Floats,
    reach_m: float, cutoff: float | None,
) -> Iterator[tuple[Ints, Ints, Floats]]:  # fmt: skip
    """(row, target column, cost from the row's search node) within the rows' limits.

    When few (source, target) candidates are reached they are costed from the
    reached nodes, else gathered for every target, a few rows at a time.
    """
    near = _near(graph, sources, reach_m)
    # a sample of the rows tells the share of nodes reached (only speed depends on it)
    sample = block[:: max(1, len(block) // 64)]
    sample = sample if near is None else sample[:, near]
    reached = np.count_nonzero(np.isfinite(sample)) / len(sample)  # nodes per row
    per_node = len(links.col) / max(graph.n_nodes, 1)  # links per search node
    if reached * per_node < _SPARSE_SHARE * len(links.points):
        local = block if near is None else block[:, near]
        r, x = np.nonzero(np.isfinite(local))
        if near is not None:
            x = near[x]
        yield links.scatter(r, x, block[r, x], limits)
    else:
        yield from _gather_chunks(links, block, None if cutoff is None else limits)


@dataclass(frozen=True, eq=False)
class _SourceGroups:
    """The OK sources grouped by search node, in search order (see :func:`source_groups`)."""

    nodes: Ints
    indptr: Ints  # the sources at nodes[i] are points[indptr[i]:indptr[i + 1]]
    points: Ints
    leg: Floats  # the off-network leg of every source point

    @cached_property
    def lead(self) -> Ints | None:
        """The source at each node when every node has one only, else None."""
        if (np.diff(self.indptr) == 1).all():
            return self.points[self.indptr[:-1]]
        return None

    def costs(
        self, r: Ints, j: Ints, val: Floats, cutoff: float | None
    ) -> tuple[Ints, Ints, Floats]:
        """(source point, j, cost) from (group, j, cost from the group's node).

        One entry per source of the group, its leg added, within ``cutoff``.
        """
        if self.lead is not None:
            s_pts = self.lead[r]
        else:  # several sources at one search node: one entry each
            n_per = np.diff(self.indptr)[r]
            rep = np.repeat(np.arange(len(r)), n_per)
            offset = np.arange(len(rep)) - np.repeat(np.cumsum(n_per) - n_per, n_per)
            s_pts = self.points[self.indptr[r][rep] + offset]
            j, val = j[rep], val[rep]
        cost = self.leg[s_pts]
        cost += val
        if cutoff is not None:
            within = cost <= cutoff
            if not within.all():
                s_pts, j, cost = s_pts[within], j[within], cost[within]
        return s_pts, j, cost


def network_costs(
    net: Network,
    src: Snaps,
    tgt: Snaps,
    *,
    reverse: bool,
    cutoff: float | None,
    batch_size: int | None = None,
    progress: bool = False,
    active: NDArray[np.bool_] | None = None,
) -> tuple[Ints, Ints, Floats]:
    """Costs from every source point to every target point within ``cutoff``.

    Returns ``(source point, target point, cost)`` arrays, in no particular
    order; with ``reverse`` the costs are of travel from the target to the
    source. No array of sources by targets is ever made whole: a batch of
    sources takes one block of distances over the search graph's nodes; the
    targets are then costed from the nodes reached (when few are) or gathered
    for the whole batch (at most ``_BLOCK_BYTES`` together), and only the pairs
    within the cutoff are kept. With ``active``, only those sources are searched
    from; every OK source is still inserted in the graph (a tile of a larger
    network inserts the positions the whole network would, so that its costs
    are the very same sums).
    """
    graph = search_graph(net, src, reverse=reverse)
    links = target_links(net, graph, tgt)
    groups = _SourceGroups(
        *_spatial_order(*source_groups(graph, active), graph.node_xy), leg=src.leg
    )
    nodes, indptr = groups.nodes, groups.indptr
    if cutoff is None:
        limits = np.full(len(nodes), np.inf)
    else:
        legs = src.leg[groups.points]
        min_leg = np.minimum.reduceat(legs, indptr[:-1]) if len(nodes) else np.zeros(0)
        limits = np.maximum(cutoff - min_leg, 0.0) + _LIMIT_SLACK * max(1.0, cutoff)
    out_s: list[Ints] = [np.zeros(0, dtype=np.int64)]
    out_t: list[Ints] = [np.zeros(0, dtype=np.int64)]
    out_c: list[Floats] = [np.zeros(0)]
    row_bytes = 9 * graph.n_nodes + 17 * len(links.points)
    blocks = dijkstra_blocks(
        graph, nodes, limits, row_bytes=row_bytes, batch_size=batch_size, progress=progress,
        desc="shortest paths",
    )  # fmt: skip
    for start, block in blocks:
        stop = start + len(block)
        lim = limits[start:stop]
        reach_m = float(lim.max()) * net.metres_per_cost
        chunks = _block_costs(links, graph, block, nodes[start:stop], lim, reach_m, cutoff)
        for r, j, val in chunks:  # the pairs of a few rows, while they are in the cache
            s_pts, j, cost = groups.costs(r + start, j, val, cutoff)
            out_s.append(s_pts)
            out_t.append(links.points[j])
            out_c.append(cost)
        del block, chunks
    return np.concatenate(out_s), np.concatenate(out_t), np.concatenate(out_c)


# =========================================================================================
# part of a network (a tile and its halo)
# =========================================================================================
def sub_network(net: Network, segments: Ints) -> tuple[Network, Ints, Ints]:
    """The network made of some of its segments, renumbered; and the maps to the new numbers.

    ``segments`` are segment numbers, ascending. The nodes are the ends of
    those segments, in their order; the node-level edges are the network's
    edges between kept nodes (true edges of the whole network, so distances in
    the part are never below the whole's), and which nodes reach the main
    component is the whole network's. Returns the part and, for every segment
    and node of the whole, its number in the part (-1: not in it).
    """
    segments = np.asarray(segments, dtype=np.int64)
    n_seg, n = len(net.seg_a), net.n_nodes
    seg_map = np.full(n_seg, -1, dtype=np.int64)
    seg_map[segments] = np.arange(len(segments))
    used = np.zeros(n, dtype=bool)
    used[net.seg_a[segments]] = True
    used[net.seg_b[segments]] = True
    nodes = np.flatnonzero(used)
    node_map = np.full(n, -1, dtype=np.int64)
    node_map[nodes] = np.arange(len(nodes))
    curve = net.seg_curve[segments]
    curved = curve >= 0
    counts = np.diff(net.curve_ptr)[curve[curved]]
    starts = net.curve_ptr[curve[curved]]
    take = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
    new_curve = np.full(len(segments), -1, dtype=np.int64)
    new_curve[curved] = np.arange(int(curved.sum()))
    edges = used[net.edge_from] & used[net.edge_to]
    part = Network(
        crs=net.crs, mode=net.mode, weight=net.weight, node_ids=net.node_ids[nodes],
        node_xy=_rows(net.node_xy, nodes), seg_a=node_map[net.seg_a[segments]],
        seg_b=node_map[net.seg_b[segments]], seg_curve=new_curve,
        curve_xy=_rows(net.curve_xy, take.astype(np.int64)),
        curve_ptr=np.r_[0, np.cumsum(counts)].astype(np.int64),
        seg_cf=net.seg_cf[segments], seg_cb=net.seg_cb[segments],
        edge_from=node_map[net.edge_from[edges]], edge_to=node_map[net.edge_to[edges]],
        edge_cost=net.edge_cost[edges], reach_out=net.reach_out[nodes],
        reach_in=net.reach_in[nodes], metres_per_unit=net.metres_per_unit,
        metres_per_cost=net.metres_per_cost,
    )  # fmt: skip
    return part, seg_map, node_map


def take_snaps(snaps: Snaps, points: Ints, seg_map: Ints, node_map: Ints) -> Snaps:
    """Some snapped points, on a part of the network (see :func:`sub_network`).

    A point whose segment (or node) is not in the part gets the status FAR
    there: nothing in the part reaches it.
    """
    points = np.asarray(points, dtype=np.int64)
    status = snaps.status[points].copy()
    ok = status == OK
    seg = snaps.seg[points]
    node = snaps.node[points]
    if snaps.on_edges:
        seg = np.where(ok, seg_map[np.where(ok, seg, 0)], -1)
        status[ok & (seg < 0)] = FAR
    else:
        node = np.where(ok, node_map[np.where(ok, node, 0)], -1)
        status[ok & (node < 0)] = FAR
    return Snaps(
        on_edges=snaps.on_edges, seg=seg, t=snaps.t[points], node=node,
        dist=snaps.dist[points], leg=snaps.leg[points], status=status,
        place=_rows(snaps.place, points),
    )  # fmt: skip


def far_distances(net: Network, xy: Floats) -> Floats:
    """Metres from each point to the nearest segment of the network (for the report)."""
    if not len(xy):
        return np.zeros(0)
    tree = shapely.STRtree(net.seg_geom)
    _, far = tree.query_nearest(shapely.points(xy), return_distance=True, all_matches=False)
    return far
