"""Travel costs computed tile by tile on a Dask cluster, equal to the one-machine costs.

Straight lines: a tile's origins against the destinations in its halo.

Networks: the caller (:func:`svcnet.costs.costs_from_graph`) reads the graph and
snaps every point once, on the whole network, as on one machine. Each tile
then gets the part of the network within its halo (the segments whose extent
meets it) and searches it. The part holds every path within the cutoff from the
tile's points (nothing within cost ``c`` lies farther than ``c`` times the
network's most metres per unit of cost, nor beyond the off-network legs at
their speed), and the same source positions are inserted on its segments as
on the whole network, so every cost is the very same sum: the stitched matrix
equals the one-machine matrix exactly, not just to rounding.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from svcnet import _graph
from svcnet.distributed._cluster import check_memory, run_tasks
from svcnet.distributed._tiles import BoxIndex, Tile, check_tile_m, choose_tile_m, make_tiles

logger = logging.getLogger(__name__)

__all__ = ["point_costs_on_cluster", "graph_costs_on_cluster", "network_halo_m",
           "snap_on_cluster", "SNAP_ON_CLUSTER_POINTS"]  # fmt: skip

#: Points above which snapping (to edges) is done tile by tile on the cluster.
SNAP_ON_CLUSTER_POINTS = 100_000

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Triples = tuple[Ints, Ints, Floats]

#: Bytes a stored pair takes while a tile's results are made and sent (rows, cols, costs).
_PAIR_BYTES = 24
#: Bytes per network node and segment of a tile's part, with its search graph.
_NODE_BYTES = 400


def _n_workers(client: Any) -> int:
    return max(len(client.scheduler_info().get("workers", {})), 1)


def _tiles(client: Any, xy: Floats, tile_m: float | None, halo_m: float) -> list[Tile]:
    side = (
        choose_tile_m(xy, halo_m, _n_workers(client))
        if tile_m is None
        else check_tile_m(tile_m, halo_m)
    )
    tiles = make_tiles(xy, tile_m=side, halo_m=halo_m)
    logger.info("%d tiles of %.0f m with a %.0f m halo", len(tiles), side, halo_m)
    return tiles


def _pairs_estimate(n_rows: int, n_box: int, box_area: float, halo_m: float) -> float:
    """Pairs a tile may store: each row meets the box's destinations within a disc of the halo."""
    density = n_box / max(box_area, 1.0)
    return n_rows * min(n_box, density * math.pi * halo_m**2)


# =========================================================================================
# straight lines
# =========================================================================================
def _tile_point_costs(o_xy: Floats, d_xy: Floats, rows: Ints, cols: Ints, cutoff: float) -> Triples:
    """One tile's straight-line pairs within ``cutoff``, numbered as the whole."""
    from svcnet.costs import straight_pairs

    r, c, dist = straight_pairs(o_xy, d_xy, cutoff)
    return rows[r], cols[c], dist


def point_costs_on_cluster(
    client: Any, o_xy: Floats, d_xy: Floats, *, cutoff: float, tile_m: float | None,
    progress: bool = True,
) -> Triples:  # fmt: skip
    """Straight-line (row, col, metres) within ``cutoff``, computed tile by tile.

    Each pair comes from the tile of its origin, with the very arithmetic of
    :func:`svcnet.costs.costs_from_points`.
    """
    tiles = _tiles(client, o_xy, tile_m, cutoff)
    index = BoxIndex(d_xy)
    arguments = []
    worst = 0.0
    for tile in tiles:
        cols = index.inside(tile.box)
        x0, y0, x1, y1 = tile.box
        worst = max(worst, _pairs_estimate(len(tile.rows), len(cols), (x1 - x0) * (y1 - y0),
                                           cutoff) * _PAIR_BYTES)  # fmt: skip
        arguments.append((o_xy[tile.rows], d_xy[cols], tile.rows, cols, cutoff))
    check_memory(client, worst, "the straight-line costs of one tile")
    results = run_tasks(client, _tile_point_costs, arguments, desc="costs by tile",
                        progress=progress)  # fmt: skip
    return _concatenate(results)


def _concatenate(results: list[Triples]) -> Triples:
    if not results:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return tuple(np.concatenate([r[i] for r in results]) for i in range(3))  # type: ignore[return-value]


# =========================================================================================
# networks
# =========================================================================================
def network_halo_m(net: _graph.Network, cutoff: float) -> float:
    """How far (metres, as the crow flies) travel within ``cutoff`` may take a point.

    The network part at most ``metres_per_cost`` a unit of cost, the off-network
    legs ``metres_per_unit``; a metre of slack on top.

    Examples
    --------
    >>> network_halo_m(net, 15.0)  # doctest: +SKIP
    901.0
    """
    per_unit = max(net.metres_per_cost, net.metres_per_unit)
    return float(cutoff * per_unit * (1 + 1e-9) + 1.0)


def _tile_snaps(part: _graph.Network, segments: Ints, xy: Floats, max_snap_m: float,
                role: str) -> tuple[Ints, Floats, Floats, NDArray[np.int8], Floats]:  # fmt: skip
    """Snap a tile's points to its part of the network; segments numbered as the whole's."""
    if not len(segments):  # no street near the tile: every point is too far
        n = len(xy)
        return (np.full(n, -1, dtype=np.int64), np.zeros(n), np.full(n, np.inf),
                np.full(n, _graph.FAR, dtype=np.int8), np.full((n, 2), np.nan))  # fmt: skip
    snaps = _graph.snap_points(part, xy, to="edge", max_snap_m=max_snap_m, role=role,
                               far_distance=False)  # fmt: skip
    seg = np.where(snaps.seg >= 0, segments[np.maximum(snaps.seg, 0)], -1)
    return seg, snaps.t, snaps.dist, snaps.status, snaps.place


def snap_on_cluster(client: Any, net: _graph.Network, xy: Floats, *, max_snap_m: float,
                    role: str, tile_m: float | None = None,
                    progress: bool = True) -> _graph.Snaps:  # fmt: skip
    """:func:`svcnet._graph.snap_points` to edges, tile by tile on the cluster: the same snaps.

    A tile's points can only snap to segments within ``max_snap_m`` of its
    square, so its part of the network holds them all, in the whole's order
    (ties go to the lowest segment either way). The distances of the points
    too far from every street are measured here, on the whole network.

    Examples
    --------
    >>> snaps = snap_on_cluster(client, net, xy, max_snap_m=300.0, role="start")  # doctest: +SKIP
    """
    reach = float(max_snap_m) * (1 + 1e-9) + 1.0
    side = choose_tile_m(xy, reach, _n_workers(client)) if tile_m is None else max(tile_m, reach)
    tiles = make_tiles(xy, tile_m=side, halo_m=reach)
    arguments = []
    for tile in tiles:
        segments = net.segments_in(tile.box)
        part, _, _ = _graph.sub_network(net, segments)
        arguments.append((part, segments, xy[tile.rows], max_snap_m, role))
    results = run_tasks(client, _tile_snaps, arguments, desc="snapping by tile",
                        progress=progress)  # fmt: skip
    n = len(xy)
    seg = np.full(n, -1, dtype=np.int64)
    t, dist = np.zeros(n), np.full(n, np.inf)
    status = np.full(n, _graph.FAR, dtype=np.int8)
    place = np.full((n, 2), np.nan)
    for tile, (s, tt, d, st, pl) in zip(tiles, results, strict=True):
        seg[tile.rows], t[tile.rows], dist[tile.rows] = s, tt, d
        status[tile.rows], place[tile.rows] = st, pl
    far = np.flatnonzero(seg < 0)
    if len(far):
        dist[far] = _graph.far_distances(net, xy[far])
    return _graph.Snaps(on_edges=True, seg=seg, t=t, node=np.full(n, -1, dtype=np.int64),
                        dist=dist, leg=dist / net.metres_per_unit, status=status,
                        place=place)  # fmt: skip


class _ByPlace:
    """OK snapped points grouped by their segment (edge snapping) or node."""

    def __init__(self, snaps: _graph.Snaps) -> None:
        key = snaps.seg if snaps.on_edges else snaps.node
        ok = np.flatnonzero(snaps.ok)
        order = np.argsort(key[ok], kind="stable")
        self.points = ok[order]
        self.keys = key[self.points]

    def on(self, keys: Ints) -> Ints:
        """The points on any of ``keys`` (sorted keys), ascending."""
        first = np.searchsorted(self.keys, keys, side="left")
        last = np.searchsorted(self.keys, keys, side="right")
        counts = last - first
        take = np.repeat(first - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
        return np.sort(self.points[take.astype(np.int64)])


def _tile_network_costs(
    part: _graph.Network, src: _graph.Snaps, tgt: _graph.Snaps, src_ids: Ints, tgt_ids: Ints,
    active: NDArray[np.bool_], reverse: bool, cutoff: float, batch_size: int | None,
) -> tuple[Ints, Ints, Floats]:  # fmt: skip
    """One tile's (source, target, cost), numbered as the whole network's points."""
    s, t, cost = _graph.network_costs(
        part, src, tgt, reverse=reverse, cutoff=cutoff, batch_size=batch_size, active=active
    )
    return src_ids[s], tgt_ids[t], cost


def graph_costs_on_cluster(
    client: Any,
    net: _graph.Network,
    o_snap: _graph.Snaps,
    d_snap: _graph.Snaps,
    o_xy: Floats,
    d_xy: Floats,
    *,
    origins_first: bool,
    reverse: bool,
    cutoff: float,
    tile_m: float | None,
    batch_size: int | None = None,
    progress: bool = True,
) -> Triples:
    """Network (origin row, destination col, cost) within ``cutoff``, tile by tile.

    ``origins_first``: the origins are the search sources (as the one-machine
    code decides, by which side has fewer points); ``reverse`` as it passes to
    :func:`svcnet._graph.network_costs`. Tiles are made over the origins; a tile
    costs its own origins against everything in its halo.
    """
    halo_m = network_halo_m(net, cutoff)
    tiles = _tiles(client, o_xy, tile_m, halo_m)
    src_snap, tgt_snap = (o_snap, d_snap) if origins_first else (d_snap, o_snap)
    sources = _ByPlace(src_snap)
    dest_index = BoxIndex(d_xy)
    arguments = []
    worst = 0.0
    for tile in tiles:
        box = tile.box
        segments = net.segments_in(box)
        part, seg_map, node_map = _graph.sub_network(net, segments)
        kept = segments if src_snap.on_edges else np.flatnonzero(node_map >= 0)
        src_ids = sources.on(kept)  # every source on the part, as the whole inserts them
        in_box = dest_index.inside(box)
        if origins_first:
            active = np.isin(src_ids, tile.rows, assume_unique=True)
            tgt_ids = in_box
        else:
            active = np.isin(src_ids, in_box, assume_unique=True)
            tgt_ids = tile.rows
        x0, y0, x1, y1 = box
        pairs = _pairs_estimate(len(tile.rows), len(in_box), (x1 - x0) * (y1 - y0), halo_m)
        worst = max(worst, pairs * _PAIR_BYTES + part.n_nodes * _NODE_BYTES + 256 * 2**20)
        arguments.append((
            part, _graph.take_snaps(src_snap, src_ids, seg_map, node_map),
            _graph.take_snaps(tgt_snap, tgt_ids, seg_map, node_map), src_ids, tgt_ids,
            active, reverse, cutoff, batch_size,
        ))  # fmt: skip
    check_memory(client, worst, "the network costs of one tile")
    results = run_tasks(client, _tile_network_costs, arguments, desc="costs by tile",
                        progress=progress)  # fmt: skip
    first, second, cost = _concatenate(results)
    return (first, second, cost) if origins_first else (second, first, cost)
