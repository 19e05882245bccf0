"""Travel costs from demand to sites: straight lines, or along real street networks.

Planners judge coverage by walking or driving time along streets. This module
turns origins (demand points, grid cells) and destinations (candidate or
existing sites) into a sparse :class:`CostMatrix`:

* :func:`costs_from_points`: straight-line distances in metres, in a metric CRS
  (geographic inputs are projected first; never degrees).
* :func:`costs_from_graph`: shortest paths over an osmnx road graph, walking or
  driving, by length (metres) or travel time (minutes), up to a cutoff.
* :func:`nearest`: the nearest (or ``k`` nearest) destinations of each origin.
* :func:`isochrones`: the area reachable from (or to) each site within given
  minutes, as polygons.

How network costs are computed
------------------------------
Each point is *snapped* to the network: to the nearest street segment, at the
point's projection on it (or, with ``snap_to="node"``, to the nearest node).
The off-network leg (the snap distance, in metres or at ``access_speed_kmh``)
is part of the cost, at both ends. A point on a segment reaches the segment's
end nodes along the remaining part of it, at the segment's cost times the
fraction of its geometry (the cost comes from the edges' ``length`` attribute,
so node-to-node costs are exactly those of the graph). Points on one segment
reach each other along it directly.

The points of the smaller side become Dijkstra sources: their positions are
inserted into the graph as nodes (splitting their segments), the points of the
other side are attached to the ends of the piece of segment they lie on, and
:func:`scipy.sparse.csgraph.dijkstra` runs over batches of sources with
``limit=cutoff``. No origins x destinations array is made when a cutoff is
given: each batch holds one dense block of distances over the graph's nodes,
and the result holds only the pairs within the cutoff.

Walk mode treats every street as two-way; drive mode keeps one-way streets
one-way. Points farther than ``max_snap_m`` from every street, or whose street
lies off the network's main component (the largest weakly connected component
when walking, strongly connected when driving) are unreachable: reported in the
result and in a logged warning, never snapped onto a far road.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import Point
>>> homes = gpd.GeoDataFrame(geometry=[Point(0, 0), Point(300, 400)], crs=32650)
>>> clinics = gpd.GeoDataFrame(geometry=[Point(0, 0), Point(0, 1000)], crs=32650)
>>> costs_from_points(homes, clinics, cutoff=800).to_frame().round(1)
   origin_id  destination_id   cost
0          0               0    0.0
1          1               0  500.0
2          1               1  670.8
"""

from __future__ import annotations

import contextlib
import logging
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from svcnet import _graph, standards
from svcnet._validate import check_choice, check_geodataframe
from svcnet.crs import as_metric_crs, estimate_metric_crs, is_metric
from svcnet.errors import CRSError, InputError

logger = logging.getLogger(__name__)

__all__ = [
    "CostMatrix",
    "costs_from_points",
    "costs_from_graph",
    "nearest",
    "isochrones",
    "WALK_SPEED_KMH",
    "MAX_SNAP_M",
]

#: Walking speed (km/h) of ``mode="walk"`` travel times and of off-network legs:
#: the planning norm ``walking_speed`` of :mod:`svcnet.standards` (60 m a minute,
#: 3.6 km/h), the speed every planner walks at, so that a library call and a plan
#: agree on what "a 10-minute walk" means. A parameter default, not a law.
WALK_SPEED_KMH = standards.get_norm("walking_speed").value * 60 / 1000
#: Default cap (metres) on the distance from a point to the street it is snapped
#: to: about a four-minute walk. Farther points are reported as unreachable.
MAX_SNAP_M = 300.0

_MODES = ("walk", "drive")
_WEIGHTS = ("length", "travel_time")
_DIRECTIONS = ("to_destination", "from_destination")
_SNAP_TO = ("edge", "node")
_UNITS = ("m", "min")
_GEOMETRY_TYPES = ("Point", "Polygon", "MultiPolygon")
_DENSE_WARN_PAIRS = 50_000_000
_REASONS = {_graph.FAR: "far from any road", _graph.ISLAND: "on a road cut off from the network"}


# =========================================================================================
# the result
# =========================================================================================
def _empty_index() -> pd.Index:
    return pd.Index([], dtype=object)


def _empty_unreachable() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "side": pd.Series(dtype=object),
            "id": pd.Series(dtype=object),
            "reason": pd.Series(dtype=object),
            "snap_m": pd.Series(dtype=float),
        }
    )


@dataclass(frozen=True, eq=False, repr=False)
class CostMatrix:
    """Travel costs from origins to destinations, sparse: absent means beyond the cutoff.

    Attributes
    ----------
    matrix
        ``scipy.sparse.csr_matrix`` of shape (origins, destinations), sorted
        indices. A stored entry is a cost within the cutoff; an *absent* entry
        means beyond the cutoff (or unreachable). A true zero cost (an origin
        and a destination at the same place on the network) is stored as an
        explicit zero: the sparsity pattern, not the value, tells whether a
        pair is within the cutoff. Do not call ``matrix.eliminate_zeros()``;
        use :meth:`to_dense`, :meth:`to_frame` or ``matrix.indices`` /
        ``matrix.indptr`` rather than ``matrix.toarray()`` (which shows absent
        as 0). Memory: 12 bytes per stored pair (8 for the cost, 4 for the
        column) plus 4 per origin; without a cutoff every reachable pair is
        stored, so 200,000 x 1,000 pairs take 2.4 GB.
    origin_ids, destination_ids
        Row and column labels (from the id column, or the layers' index).
    unit
        ``"m"`` (metres) or ``"min"`` (minutes).
    mode
        ``"walk"``, ``"drive"``, ``"straight"`` (straight lines) or another
        label for costs made elsewhere.
    cutoff
        The cutoff, in ``unit``, or None (every reachable pair is stored).
    direction
        ``"to_destination"``: the cost of travel from the origin to the
        destination (demand to facility). ``"from_destination"``: from the
        destination to the origin (a fire station reaching homes).
    unreachable_origins, unreachable_destinations
        Ids of the points that could not be put on the network (too far from
        any road, or on a part cut off from it); their rows/columns are empty.
    unreachable
        One row per unreachable point: ``side`` (``"origin"`` or
        ``"destination"``), ``id``, ``reason`` and ``snap_m`` (metres to the
        nearest road).

    Examples
    --------
    >>> import numpy as np
    >>> costs = CostMatrix.from_dense([[0.0, 5.0], [np.inf, 2.5]], unit="min")
    >>> costs
    CostMatrix(custom, 2 origins x 2 destinations, unit 'min', no cutoff, 3 pairs stored)
    >>> costs.to_dense()
    array([[0. , 5. ],
           [inf, 2.5]])
    >>> costs.matrix.nnz  # the zero is stored
    3
    """

    matrix: sparse.csr_matrix
    origin_ids: pd.Index
    destination_ids: pd.Index
    unit: str = "m"
    mode: str = "custom"
    cutoff: float | None = None
    direction: str = "to_destination"
    unreachable_origins: pd.Index = field(default_factory=_empty_index)
    unreachable_destinations: pd.Index = field(default_factory=_empty_index)
    unreachable: pd.DataFrame = field(default_factory=_empty_unreachable)

    def __post_init__(self) -> None:
        if not sparse.issparse(self.matrix) or self.matrix.format != "csr":
            msg = f"matrix must be a scipy.sparse CSR matrix; got {type(self.matrix).__name__}"
            raise InputError(msg)
        for name in ("origin_ids", "destination_ids", "unreachable_origins",
                     "unreachable_destinations"):  # fmt: skip
            object.__setattr__(self, name, pd.Index(getattr(self, name)))
        shape = (len(self.origin_ids), len(self.destination_ids))
        if self.matrix.shape != shape:
            msg = (
                f"matrix has shape {self.matrix.shape} but there are {shape[0]} origin ids "
                f"and {shape[1]} destination ids"
            )
            raise InputError(msg)
        check_choice(self.unit, "unit", _UNITS)
        check_choice(self.direction, "direction", _DIRECTIONS)

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_dense(
        cls,
        costs: Any,
        *,
        origin_ids: Sequence[object] | None = None,
        destination_ids: Sequence[object] | None = None,
        unit: str = "m",
        mode: str = "custom",
        cutoff: float | None = None,
        direction: str = "to_destination",
    ) -> CostMatrix:
        """Build a cost matrix from a dense array; inf, NaN and costs above ``cutoff`` are absent.

        Parameters
        ----------
        costs
            A 2-d array-like of non-negative costs, origins by destinations.
        origin_ids, destination_ids
            Labels of the rows and columns (default ``0 .. n-1``).
        unit, mode, cutoff, direction
            As the attributes of :class:`CostMatrix`.

        Returns
        -------
        CostMatrix

        Examples
        --------
        >>> CostMatrix.from_dense([[1.0, 9.0]], destination_ids=["a", "b"], cutoff=5).to_frame()
           origin_id destination_id  cost
        0          0              a   1.0
        """
        array = np.asarray(costs, dtype=float)
        if array.ndim != 2:
            msg = f"costs must be 2-dimensional (origins x destinations); got shape {array.shape}"
            raise InputError(msg)
        if (array < 0).any():
            raise InputError("costs must not be negative")
        cutoff = _check_cutoff(cutoff)
        keep = np.isfinite(array)
        if cutoff is not None:
            keep &= array <= cutoff
        rows, cols = np.nonzero(keep)
        n_o, n_d = array.shape
        return cls(
            matrix=_csr(rows, cols, array[rows, cols], (n_o, n_d)),
            origin_ids=pd.RangeIndex(n_o) if origin_ids is None else pd.Index(origin_ids),
            destination_ids=pd.RangeIndex(n_d)
            if destination_ids is None
            else pd.Index(destination_ids),
            unit=unit,
            mode=mode,
            cutoff=cutoff,
            direction=direction,
        )

    # -- views -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """(number of origins, number of destinations)."""
        return self.matrix.shape

    def to_dense(self, fill: float = np.inf) -> np.ndarray:
        """A dense array of the costs, ``fill`` where a pair is absent (beyond the cutoff).

        Takes 8 bytes per origin-destination pair: mind the memory.

        Parameters
        ----------
        fill
            The value of absent pairs.

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> CostMatrix.from_dense([[0.0, np.inf]]).to_dense(fill=-1)
        array([[ 0., -1.]])
        """
        out = np.full(self.shape, fill, dtype=float)
        coo = self.matrix.tocoo()
        out[coo.row, coo.col] = coo.data
        return out

    def to_frame(self) -> pd.DataFrame:
        """The stored pairs as a long table: ``origin_id``, ``destination_id``, ``cost``.

        Rows come by origin, then by destination, in matrix order.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> CostMatrix.from_dense([[3.0, np.inf]], origin_ids=["home"]).to_frame()
          origin_id  destination_id  cost
        0      home               0   3.0
        """
        m = self.matrix
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        return pd.DataFrame(
            {
                "origin_id": self.origin_ids.take(rows),
                "destination_id": self.destination_ids.take(m.indices),
                "cost": np.asarray(m.data, dtype=float),
            }
        )

    def nearest(self, k: int = 1) -> pd.DataFrame:
        """The ``k`` nearest destinations of every origin; see :func:`nearest`.

        Parameters
        ----------
        k
            How many destinations per origin.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> CostMatrix.from_dense([[4.0, 2.0]]).nearest()
           origin_id  rank  destination_id  cost
        0          0     1               1   2.0
        """
        return nearest(self, k=k)

    def __repr__(self) -> str:
        n_o, n_d = self.shape
        cutoff = "no cutoff" if self.cutoff is None else f"cutoff {self.cutoff:g}"
        parts = [
            f"{self.mode}",
            f"{n_o} origins x {n_d} destinations",
            f"unit {self.unit!r}",
            cutoff,
            f"{self.matrix.nnz} pairs stored",
        ]
        if self.direction != "to_destination":
            parts.insert(1, self.direction)
        if len(self.unreachable_origins) or len(self.unreachable_destinations):
            parts.append(
                f"unreachable: {len(self.unreachable_origins)} origins, "
                f"{len(self.unreachable_destinations)} destinations"
            )
        return f"CostMatrix({', '.join(parts)})"

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(repr(self))}</pre>"


# =========================================================================================
# validation helpers
# =========================================================================================
def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number; got {value!r}"
        raise InputError(msg)
    return float(value)


def _check_cutoff(cutoff: object) -> float | None:
    if cutoff is None:
        return None
    value = _number(cutoff, "cutoff")
    if np.isnan(value) or value <= 0:
        msg = f"cutoff must be a positive number (or None for no cutoff); got {cutoff!r}"
        raise InputError(msg)
    return None if np.isinf(value) else value


def _check_positive(value: object, name: str, *, allow_inf: bool = False) -> float:
    number = _number(value, name)
    if np.isnan(number) or number <= 0 or (np.isinf(number) and not allow_inf):
        what = "a positive number" + (" (inf for no limit)" if allow_inf else "")
        msg = f"{name} must be {what}; got {value!r}"
        raise InputError(msg)
    return number


def _check_layer(frame: object, layer: str, id_column: str | None) -> gpd.GeoDataFrame:
    out = check_geodataframe(
        frame, layer=layer, id_column=id_column, geometry_types=_GEOMETRY_TYPES
    )
    if id_column is None and not out.index.is_unique:
        dup = sorted(set(out.index[out.index.duplicated(keep=False)]), key=str)
        msg = (
            f"{len(dup)} ids of the index occur more than once; "
            f"name a column of unique ids with {layer[:-1]}_id="
        )
        raise InputError(msg, layer=layer, rows=dup)
    return out


def _ids(frame: gpd.GeoDataFrame, id_column: str | None) -> pd.Index:
    if id_column is None:
        return pd.Index(frame.index)
    return pd.Index(frame[id_column].to_numpy(), name=id_column)


def _xy(frame: gpd.GeoDataFrame, crs: object) -> np.ndarray:
    """Metric coordinates of each row: its point, or its polygon's centroid.

    A polygon whose centroid falls outside it is taken at a point inside it, as
    :func:`svcnet.demand.demand_from_grid` does.
    """
    geoms = np.asarray(frame.to_crs(crs).geometry.values)
    polygonal = shapely.get_type_id(geoms) != 0
    points = geoms
    if polygonal.any():  # points are taken as they are: no new geometry objects for them
        points = geoms.copy()
        poly = geoms[polygonal]
        cent = shapely.centroid(poly)
        outside = ~shapely.within(cent, poly)
        if outside.any():
            cent[outside] = shapely.point_on_surface(poly[outside])
        points[polygonal] = cent
    xy = shapely.get_coordinates(points)
    if len(xy) != len(frame) or not np.isfinite(xy).all():
        msg = f"some points cannot be projected to {pyproj.CRS(crs).name}"
        raise CRSError(msg)
    return xy


def _csr(
    rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]
) -> sparse.csr_matrix:
    """A canonical CSR matrix from distinct (row, col, value) triples in any order.

    Explicit zeros are kept. Built with two counting sorts (linear, unlike the
    comparison sort of ``coo.tocsr()`` + ``sort_indices()``): scipy's CSR to
    CSC conversion places each entry in its column in the order of the rows,
    so converting a matrix whose rows are the entries groups them by column,
    and converting the transpose, grouped by column, yields the rows with
    sorted columns.
    """
    data = np.asarray(data, dtype=float)
    n_rows, n_cols = shape
    n = len(data)
    # one entry per row: to CSC groups the entries by column, stably
    by_col = sparse.csr_matrix((data, cols, np.arange(n + 1)), shape=(n, n_cols)).tocsc()
    # the transpose, its rows grouped: to CSC is the matrix itself, columns sorted
    row_of = np.asarray(rows)[by_col.indices]
    transposed = sparse.csr_matrix((by_col.data, row_of, by_col.indptr), shape=(n_cols, n_rows))
    del by_col, row_of  # what is left of them before the second copy
    out = transposed.tocsc()
    matrix = sparse.csr_matrix((out.data, out.indices, out.indptr), shape=shape)
    matrix.has_sorted_indices = True
    return matrix


# =========================================================================================
# straight lines
# =========================================================================================
def costs_from_points(
    origins: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    *,
    cutoff: float | None = None,
    origin_id: str | None = None,
    destination_id: str | None = None,
    crs: object = None,
    client: Any = None,
    tile_m: float | None = None,
) -> CostMatrix:
    """Straight-line distances (metres) from origins to destinations, in a metric CRS.

    With a cutoff the pairs are found with a k-d tree
    (:meth:`scipy.spatial.cKDTree.sparse_distance_matrix`) and only those
    within it are stored. Without one, every pair is stored: 12 bytes a pair
    (2.4 GB for 200,000 x 1,000), computed a block of rows at a time; a warning
    is logged above 50 million pairs.

    Parameters
    ----------
    origins, destinations
        Points, or polygons (taken at their centroid in the metric CRS, or at a
        point inside them when the centroid falls outside). Any CRS; they are
        not modified.
    cutoff
        The largest distance to keep, in metres, or None for all pairs.
    origin_id, destination_id
        Columns holding the ids (unique); default the layers' index.
    crs
        The metric CRS to measure in. Default: the origins' CRS if metric, else
        the destinations', else the UTM zone of the origins
        (:func:`svcnet.crs.estimate_metric_crs`).
    client
        Run on a Dask cluster: a ``dask.distributed.Client``, a scheduler
        address, or ``"local"`` (a LocalCluster started for the call). The
        origins are cut into square tiles, each costed on a worker against the
        destinations within the cutoff of its square; the result is the same
        matrix, value for value. Needs a cutoff. None (default): this process,
        unless there are more than
        :data:`svcnet.distributed.AUTO_CLUSTER_ROWS` origins.
    tile_m
        With a cluster: the side of a tile in metres (default: a few tiles
        per worker); at least the cutoff.

    Returns
    -------
    CostMatrix
        ``mode="straight"``, ``unit="m"``.

    Raises
    ------
    InputError
        A layer is empty, not points or polygons, or has duplicate ids; the
        cutoff is not positive.
    CRSError
        A layer has no CRS, or ``crs`` is not metric.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> a = gpd.GeoDataFrame({"name": ["x"]}, geometry=[Point(114.05, 22.54)], crs=4326)
    >>> b = gpd.GeoDataFrame(geometry=[Point(114.06, 22.54)], crs=4326)
    >>> costs = costs_from_points(a, b, origin_id="name")
    >>> print(f"{costs.to_dense()[0, 0]:.0f} m")
    1029 m
    """
    cutoff = _check_cutoff(cutoff)
    origins = _check_layer(origins, "origins", origin_id)
    destinations = _check_layer(destinations, "destinations", destination_id)
    if crs is not None:
        target = as_metric_crs(crs)
    elif is_metric(origins.crs):
        target = origins.crs
    elif is_metric(destinations.crs):
        target = destinations.crs
    else:
        target = estimate_metric_crs(origins)
    o_xy = _xy(origins, target)
    d_xy = _xy(destinations, target)
    n_o, n_d = len(o_xy), len(d_xy)
    cluster = _cluster_wanted(client, cutoff, n_o)
    if cluster:
        from svcnet.distributed import _cluster, _costs

        with _cluster.cluster_for(client, rows=n_o) as dask_client:
            rows, cols, dist = _costs.point_costs_on_cluster(
                dask_client, o_xy, d_xy, cutoff=cutoff, tile_m=tile_m
            )
        matrix = _csr(rows, cols, dist, (n_o, n_d))
    elif cutoff is None:
        matrix = _dense_distances(o_xy, d_xy)
    else:
        matrix = _csr(*straight_pairs(o_xy, d_xy, cutoff), (n_o, n_d))
    return CostMatrix(
        matrix=matrix,
        origin_ids=_ids(origins, origin_id),
        destination_ids=_ids(destinations, destination_id),
        unit="m",
        mode="straight",
        cutoff=cutoff,
    )


def straight_pairs(
    o_xy: np.ndarray, d_xy: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin, destination, metres) of the pairs within ``cutoff`` as the crow flies.

    Found with k-d trees; each distance is ``hypot`` of the coordinate
    differences (the same arithmetic wherever the pair is computed).

    Examples
    --------
    >>> straight_pairs(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [9.0, 9.0]]), 6.0)
    (array([0]), array([0]), array([5.]))
    """
    slack = cutoff * (1 + 1e-9) + 1e-9
    pairs = cKDTree(o_xy).sparse_distance_matrix(cKDTree(d_xy), slack, output_type="ndarray")
    rows = pairs["i"].astype(np.int64)
    cols = pairs["j"].astype(np.int64)
    dist = np.hypot(*(o_xy[rows] - d_xy[cols]).T)
    keep = dist <= cutoff
    return rows[keep], cols[keep], dist[keep]


def _snap(
    net: _graph.Network, xy: np.ndarray, snap_to: str, max_snap_m: float, role: str,
    client: Any, tile_m: float | None,
) -> _graph.Snaps:  # fmt: skip
    """Snap points here, or tile by tile on a cluster when they are many (edge snapping)."""
    if client is not None and snap_to == "edge":
        from svcnet.distributed import _costs

        if len(xy) > _costs.SNAP_ON_CLUSTER_POINTS:
            return _costs.snap_on_cluster(client, net, xy, max_snap_m=max_snap_m, role=role,
                                          tile_m=tile_m)  # fmt: skip
    return _graph.snap_points(net, xy, to=snap_to, max_snap_m=max_snap_m, role=role)


def _cluster_wanted(client: Any, cutoff: float | None, n_origins: int) -> bool:
    """Whether to run on a Dask cluster (a client given, or the work large enough)."""
    from svcnet.distributed._cluster import AUTO_CLUSTER_ROWS

    if client is None and (cutoff is None or n_origins <= AUTO_CLUSTER_ROWS):
        return False
    if cutoff is None:
        msg = "client= needs a cutoff: without one every pair is stored and no tile can be cut"
        raise InputError(msg)
    return True


def _dense_distances(o_xy: np.ndarray, d_xy: np.ndarray) -> sparse.csr_matrix:
    n_o, n_d = len(o_xy), len(d_xy)
    pairs = n_o * n_d
    if pairs > _DENSE_WARN_PAIRS:
        logger.warning(
            "no cutoff: storing all %d x %d pairs (%.1f GB); a cutoff keeps only the near ones",
            n_o, n_d, pairs * 12 / 1e9,
        )  # fmt: skip
    index_dtype = np.int32 if pairs < 2**31 else np.int64
    data = np.empty(pairs)
    step = max(1, 2**22 // max(n_d, 1))
    for start in range(0, n_o, step):
        stop = min(start + step, n_o)
        dx = o_xy[start:stop, 0, None] - d_xy[None, :, 0]
        dy = o_xy[start:stop, 1, None] - d_xy[None, :, 1]
        block = np.hypot(dx, dy)
        data[start * n_d : stop * n_d] = block.ravel()
    indices = np.tile(np.arange(n_d, dtype=index_dtype), n_o)
    indptr = np.arange(n_o + 1, dtype=index_dtype) * n_d
    matrix = sparse.csr_matrix((data, indices, indptr), shape=(n_o, n_d))
    matrix.has_sorted_indices = True
    return matrix


# =========================================================================================
# road networks
# =========================================================================================
def _speeds(
    mode: str, weight: str, speed_kmh: object, access_speed_kmh: object
) -> tuple[float | None, float]:
    if speed_kmh is not None:
        speed = _check_positive(speed_kmh, "speed_kmh")
        if weight != "travel_time":
            msg = "speed_kmh applies only with weight='travel_time' (costs in minutes)"
            raise InputError(msg)
    else:
        speed = WALK_SPEED_KMH if mode == "walk" else None
    if access_speed_kmh is not None:
        access = _check_positive(access_speed_kmh, "access_speed_kmh")
        if weight != "travel_time":
            msg = "access_speed_kmh applies only with weight='travel_time' (legs are metres)"
            raise InputError(msg)
    else:
        access = speed if mode == "walk" and speed is not None else WALK_SPEED_KMH
    return speed, access


def _unreachable(
    side: str, ids: pd.Index, snaps: _graph.Snaps, max_snap_m: float
) -> tuple[pd.Index, pd.DataFrame]:
    bad = np.flatnonzero(~snaps.ok)
    table = pd.DataFrame(
        {
            "side": side,
            "id": pd.Series(ids.take(bad), dtype=object),
            "reason": [_REASONS[s] for s in snaps.status[bad]],
            "snap_m": snaps.dist[bad],
        }
    )
    if len(bad):
        far = snaps.status[bad] == _graph.FAR
        shown = ", ".join(map(str, ids.take(bad[:10])))
        more = f", ... ({len(bad)} in all)" if len(bad) > 10 else ""
        logger.warning(
            "%d %ss are unreachable and left out (%d farther than max_snap_m=%g m from any "
            "road, %d on a road cut off from the network): %s%s",
            len(bad), side, int(far.sum()), max_snap_m, int((~far).sum()), shown, more,
        )  # fmt: skip
    return ids.take(bad), table


def _prepare(
    graph: nx.Graph,
    layers: list[gpd.GeoDataFrame],
    *,
    mode: str,
    weight: str,
    speed_kmh: float | None,
    access_speed_kmh: float,
    crs: object,
    hwy_speeds: Mapping[str, float] | None,
) -> _graph.Network:
    return _graph.prepare_network(
        graph,
        mode=mode,
        weight=weight,
        speed_kmh=speed_kmh,
        access_speed_kmh=access_speed_kmh,
        crs=crs,
        hints=[layer.crs for layer in layers],
        hwy_speeds=hwy_speeds,
    )


def costs_from_graph(
    graph: nx.MultiDiGraph,
    origins: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    *,
    mode: str = "walk",
    weight: str = "length",
    speed_kmh: float | None = None,
    cutoff: float | None = None,
    direction: str = "to_destination",
    snap_to: str = "edge",
    max_snap_m: float = MAX_SNAP_M,
    access_speed_kmh: float | None = None,
    origin_id: str | None = None,
    destination_id: str | None = None,
    crs: object = None,
    hwy_speeds: Mapping[str, float] | None = None,
    batch_size: int | None = None,
    progress: bool = False,
    client: Any = None,
    tile_m: float | None = None,
) -> CostMatrix:
    """Shortest-path travel costs over a road network, sparse up to a cutoff.

    Each origin and destination is snapped to the network (see the module
    notes), the off-network legs are added at both ends, and shortest paths
    run with :func:`scipy.sparse.csgraph.dijkstra` from the smaller side, in
    batches bounded by ``limit=cutoff``. The costs are exact shortest paths of
    the graph with the snapped points inserted as nodes.

    Parameters
    ----------
    graph
        An osmnx graph (``MultiDiGraph``; any networkx graph with node ``x``/``y``,
        edge ``length`` in metres and ``graph.graph["crs"]``). Edge ``geometry``
        is used where present. Never modified.
    origins, destinations
        Points, or polygons (taken at their centroid, or a point inside them
        when the centroid falls outside); any CRS (converted). Not modified.
    mode
        ``"walk"``: every street two-way. ``"drive"``: one-way streets kept
        one-way (the graph's edge directions).
    weight
        ``"length"``: costs in metres. ``"travel_time"``: costs in minutes; on
        foot at ``speed_kmh`` (default :data:`WALK_SPEED_KMH`, 3.6 km/h); by
        car at ``speed_kmh`` if given, else the graph's own ``travel_time``
        (seconds) when every edge has one, else the speeds osmnx imputes from
        ``maxspeed`` and highway type (:func:`osmnx.routing.add_edge_speeds`,
        with ``hwy_speeds``, then :func:`osmnx.routing.add_edge_travel_times`).
    speed_kmh
        Travel speed for ``weight="travel_time"``.
    cutoff
        Largest cost to keep (metres or minutes), or None for every reachable
        pair (then the matrix is dense; see :class:`CostMatrix` for its memory).
    direction
        ``"to_destination"`` (default): cost of travel from each origin to
        each destination (demand to facility). ``"from_destination"``: from
        each destination to each origin. The matrix is origins x destinations
        either way; in drive mode one is the other's transpose with the roles
        swapped.
    snap_to
        ``"edge"`` (default): the nearest street segment, at the point's
        projection on it. ``"node"``: the nearest node (what
        :func:`osmnx.distance.nearest_nodes` users do).
    max_snap_m
        Points farther than this (metres) from every street are unreachable
        (``inf``: no limit).
    access_speed_kmh
        Speed of the off-network legs with ``weight="travel_time"``: default
        the walking speed (``speed_kmh`` in walk mode, :data:`WALK_SPEED_KMH` in drive mode:
        one walks from the door to the street). With ``weight="length"`` the
        legs are metres.
    origin_id, destination_id
        Columns holding unique ids; default the layers' index.
    crs
        The metric CRS to work in. Default: the graph's CRS if metric, else the
        origins' (or destinations') CRS if metric, else the UTM zone of the
        network.
    hwy_speeds
        Drive mode: km/h by highway type for osmnx's speed imputation.
    batch_size
        Dijkstra sources per batch (default: as many as fit in 256 MB of
        distances).
    progress
        Show a progress bar (tqdm) over the Dijkstra sources (over the tiles
        with a cluster).
    client
        Run on a Dask cluster: a ``dask.distributed.Client``, a scheduler
        address, or ``"local"`` (a LocalCluster started for the call). The
        network is read and every point snapped here; the origins are cut into
        square tiles, and each worker searches the part of the network within
        the cutoff's reach of its tile (the halo). The result is the same
        matrix, value for value (see :mod:`svcnet.distributed`). Needs a
        cutoff. None (default): this process, unless there are more than
        :data:`svcnet.distributed.AUTO_CLUSTER_ROWS` origins.
    tile_m
        With a cluster: the side of a tile in metres (default: a few tiles per
        worker); at least the halo (the cutoff times the network's metres per
        unit of cost).

    Returns
    -------
    CostMatrix
        Unit ``"m"`` or ``"min"``; a pair is stored when its cost is within
        the cutoff (a zero cost as an explicit zero); unreachable points are
        listed in ``unreachable_origins``/``unreachable_destinations`` (and
        logged). Memory: the result takes 12 bytes a stored pair; the work,
        one batch of at most 256 MB at a time besides the network itself (a
        200,000-node city with 200,000 x 10,000 points at a 15-minute walk
        peaks at about 1.2 GB in all).

    Raises
    ------
    InputError
        Empty layers, duplicate ids, a cutoff that is not positive, an unknown
        mode, weight, direction or snap_to, an edge with a missing, negative or
        NaN length (naming it as (u, v, key)), a node without coordinates.
    CRSError
        The graph or a layer has no CRS.

    Examples
    --------
    >>> import svcnet
    >>> region = svcnet.datasets.load_futian()
    >>> homes = region.demand("pop").iloc[:300]
    >>> sites = region.candidates.iloc[:20]
    >>> costs = costs_from_graph(
    ...     region.network, homes, sites, weight="travel_time", cutoff=15,
    ...     origin_id="cell_id", destination_id="candidate_id",
    ... )
    >>> costs.shape, costs.unit, costs.matrix.format
    ((300, 20), 'min', 'csr')
    >>> bool(costs.matrix.data.max() <= 15)
    True
    """
    check_choice(mode, "mode", _MODES)
    check_choice(weight, "weight", _WEIGHTS)
    check_choice(direction, "direction", _DIRECTIONS)
    check_choice(snap_to, "snap_to", _SNAP_TO)
    cutoff = _check_cutoff(cutoff)
    max_snap_m = _check_positive(max_snap_m, "max_snap_m", allow_inf=True)
    speed, access = _speeds(mode, weight, speed_kmh, access_speed_kmh)
    origins = _check_layer(origins, "origins", origin_id)
    destinations = _check_layer(destinations, "destinations", destination_id)
    cluster = _cluster_wanted(client, cutoff, len(origins))
    net = _prepare(
        graph, [origins, destinations], mode=mode, weight=weight, speed_kmh=speed,
        access_speed_kmh=access, crs=crs, hwy_speeds=hwy_speeds,
    )  # fmt: skip
    o_ids, d_ids = _ids(origins, origin_id), _ids(destinations, destination_id)
    to_dest = direction == "to_destination"
    o_xy, d_xy = _xy(origins, net.crs), _xy(destinations, net.crs)
    with contextlib.ExitStack() as stack:
        dask_client = None
        if cluster:
            from svcnet.distributed import _cluster, _costs

            dask_client = stack.enter_context(_cluster.cluster_for(client, rows=len(o_xy)))
        o_snap = _snap(net, o_xy, snap_to, max_snap_m, "start" if to_dest else "end",
                       dask_client, tile_m)  # fmt: skip
        d_snap = _snap(net, d_xy, snap_to, max_snap_m, "end" if to_dest else "start",
                       dask_client, tile_m)  # fmt: skip
        origins_first = bool(o_snap.ok.sum() <= d_snap.ok.sum())
        if cluster:
            rows, cols, cost = _costs.graph_costs_on_cluster(
                dask_client, net, o_snap, d_snap, o_xy, d_xy, origins_first=origins_first,
                reverse=not to_dest if origins_first else to_dest, cutoff=cutoff,
                tile_m=tile_m, batch_size=batch_size, progress=progress,
            )  # fmt: skip
        elif origins_first:  # the origins are the sources
            rows, cols, cost = _graph.network_costs(
                net, o_snap, d_snap, reverse=not to_dest, cutoff=cutoff,
                batch_size=batch_size, progress=progress,
            )  # fmt: skip
        else:  # the destinations are
            cols, rows, cost = _graph.network_costs(
                net, d_snap, o_snap, reverse=to_dest, cutoff=cutoff,
                batch_size=batch_size, progress=progress,
            )  # fmt: skip
    bad_o, table_o = _unreachable("origin", o_ids, o_snap, max_snap_m)
    bad_d, table_d = _unreachable("destination", d_ids, d_snap, max_snap_m)
    matrix = _csr(rows, cols, cost, (len(o_ids), len(d_ids)))
    logger.info(
        "%s costs: %d origins x %d destinations, %d pairs within cutoff %s",
        mode, len(o_ids), len(d_ids), matrix.nnz, cutoff,
    )  # fmt: skip
    return CostMatrix(
        matrix=matrix,
        origin_ids=o_ids,
        destination_ids=d_ids,
        unit="m" if weight == "length" else "min",
        mode=mode,
        cutoff=cutoff,
        direction=direction,
        unreachable_origins=bad_o,
        unreachable_destinations=bad_d,
        unreachable=pd.concat([table_o, table_d], ignore_index=True),
    )


# =========================================================================================
# nearest
# =========================================================================================
def _take_ids(ids: pd.Index, positions: np.ndarray) -> pd.Series:
    """``ids`` at ``positions``, missing where the position is -1 (integer ids stay integers)."""
    missing = positions < 0
    safe = np.where(missing, 0, positions)
    values = pd.Series(ids.take(safe) if len(ids) else np.full(len(positions), None))
    if not missing.any():
        return values
    if pd.api.types.is_integer_dtype(values.dtype):
        values = values.astype("Int64")
    elif not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
        values = values.astype(object)
    return values.mask(missing)


def nearest(costs: CostMatrix, k: int = 1) -> pd.DataFrame:
    """The ``k`` nearest destinations of every origin, with their costs.

    Parameters
    ----------
    costs
        A :class:`CostMatrix`.
    k
        How many destinations per origin (1 for the nearest only).

    Returns
    -------
    pandas.DataFrame
        ``k`` rows per origin, in origin order: ``origin_id``, ``rank``
        (1 = nearest), ``destination_id`` and ``cost``. Where an origin has
        fewer than ``k`` destinations within the cutoff, the missing ranks
        have a missing ``destination_id`` and a NaN ``cost``. Ties go to the
        destination that comes first.

    Examples
    --------
    >>> import numpy as np
    >>> costs = CostMatrix.from_dense([[7.0, 3.0, 5.0], [np.inf, np.inf, 1.0]],
    ...                               destination_ids=["a", "b", "c"])
    >>> nearest(costs, k=2)
       origin_id  rank destination_id  cost
    0          0     1              b   3.0
    1          0     2              c   5.0
    2          1     1              c   1.0
    3          1     2            NaN   NaN
    """
    if not isinstance(costs, CostMatrix):
        msg = f"costs must be a CostMatrix; got {type(costs).__name__}"
        raise InputError(msg)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        msg = f"k must be a positive whole number; got {k!r}"
        raise InputError(msg)
    k = int(k)
    m = costs.matrix
    n_o = m.shape[0]
    rows = np.repeat(np.arange(n_o), np.diff(m.indptr))
    order = np.lexsort((m.indices, m.data, rows))
    rank = np.arange(len(order)) - m.indptr[rows[order]]
    keep = order[rank < k]
    slot = rows[keep] * k + rank[rank < k]
    dest = np.full(n_o * k, -1, dtype=np.int64)
    cost = np.full(n_o * k, np.nan)
    dest[slot] = m.indices[keep]
    cost[slot] = m.data[keep]
    return pd.DataFrame(
        {
            "origin_id": costs.origin_ids.repeat(k),
            "rank": np.tile(np.arange(1, k + 1), n_o),
            "destination_id": _take_ids(costs.destination_ids, dest),
            "cost": cost,
        }
    )


# =========================================================================================
# isochrones
# =========================================================================================
def _minutes(minutes: object) -> np.ndarray:
    values = [minutes] if isinstance(minutes, numbers.Real) else minutes
    try:
        values = [_check_positive(v, "minutes") for v in values]  # type: ignore[union-attr]
    except TypeError as exc:
        msg = f"minutes must be a positive number or a list of them; got {minutes!r}"
        raise InputError(msg) from exc
    if not values:
        raise InputError("minutes must hold at least one time")
    return np.unique(values)


def isochrones(
    graph: nx.MultiDiGraph,
    sites: gpd.GeoDataFrame,
    minutes: float | Sequence[float],
    *,
    mode: str = "walk",
    speed_kmh: float | None = None,
    direction: str = "to_destination",
    buffer_m: float = 50.0,
    snap_to: str = "edge",
    max_snap_m: float = MAX_SNAP_M,
    access_speed_kmh: float | None = None,
    site_id: str | None = None,
    crs: object = None,
    hwy_speeds: Mapping[str, float] | None = None,
    batch_size: int | None = None,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """The area within some minutes of each site, along the streets, as polygons.

    The streets reached within the time are found exactly as
    :func:`costs_from_graph` finds costs (same snapping, speeds and
    off-network legs), street pieces included: a street whose far end is out
    of time counts up to the point where the time runs out. The polygon is
    those reached street parts (and the site's own leg to its street) buffered
    by ``buffer_m``, the distance one is taken to walk off the street to a door.
    Several thresholds come from one shortest-path search per site.

    Parameters
    ----------
    graph
        An osmnx graph, as for :func:`costs_from_graph`. Never modified.
    sites
        Points or polygons (taken at a point inside), any CRS.
    minutes
        One time or several (minutes).
    mode, speed_kmh, access_speed_kmh, snap_to, max_snap_m, crs, hwy_speeds
        As for :func:`costs_from_graph` (``weight`` is ``"travel_time"``).
    direction
        ``"to_destination"`` (default): the area from which the site is
        reached within the time (a facility's catchment).
        ``"from_destination"``: the area reached from the site.
    buffer_m
        Half-width (metres) of the band around the reached streets.
    site_id
        Column holding unique site ids; default the index.
    batch_size, progress
        As for :func:`costs_from_graph`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per site and time, by site then time: ``site_id``,
        ``minutes`` and the polygon, in the network's metric CRS. An
        unreachable site (see :func:`costs_from_graph`) gets an empty polygon.

    Examples
    --------
    >>> import svcnet
    >>> region = svcnet.datasets.load_futian()
    >>> areas = isochrones(region.network, region.candidates.iloc[:2], [5, 10],
    ...                    site_id="candidate_id")
    >>> areas["minutes"].tolist()
    [5.0, 10.0, 5.0, 10.0]
    >>> bool((areas.area.values[[0, 2]] < areas.area.values[[1, 3]]).all())
    True
    """
    check_choice(mode, "mode", _MODES)
    check_choice(direction, "direction", _DIRECTIONS)
    check_choice(snap_to, "snap_to", _SNAP_TO)
    times = _minutes(minutes)
    buffer_m = _check_positive(buffer_m, "buffer_m")
    max_snap_m = _check_positive(max_snap_m, "max_snap_m", allow_inf=True)
    speed, access = _speeds(mode, "travel_time", speed_kmh, access_speed_kmh)
    sites = _check_layer(sites, "sites", site_id)
    net = _prepare(
        graph, [sites], mode=mode, weight="travel_time", speed_kmh=speed,
        access_speed_kmh=access, crs=crs, hwy_speeds=hwy_speeds,
    )  # fmt: skip
    ids = _ids(sites, site_id)
    xy = _xy(sites, net.crs)
    reverse = direction == "to_destination"
    snaps = _graph.snap_points(
        net, xy, to=snap_to, max_snap_m=max_snap_m, role="end" if reverse else "start"
    )
    _unreachable("site", ids, snaps, max_snap_m)
    search = _graph.search_graph(net, snaps, reverse=reverse)
    p_from, p_to, p_seg, t_from, t_to, p_cost = _graph.travel_pieces(net, search)
    # the end of each piece the search reaches first, and the way it grows from there
    end, t_end, t_other = (p_to, t_to, t_from) if reverse else (p_from, t_from, t_to)
    nodes, indptr, points = _graph.source_groups(search)
    leg_min = np.minimum.reduceat(snaps.leg[points], indptr[:-1]) if len(nodes) else nodes
    limits = np.maximum(times[-1] - leg_min, 0.0) + 1e-9 * times[-1]
    snapped = snaps.place
    geoms = np.full((len(ids), len(times)), None, dtype=object)
    blocks = _graph.dijkstra_blocks(
        search, nodes, limits, row_bytes=8 * search.n_nodes, batch_size=batch_size,
        progress=progress, desc="isochrones",
    )  # fmt: skip
    for start, block in blocks:
        for r in range(block.shape[0]):
            dist = block[r]
            d_end = dist[end]
            for p in points[indptr[start + r] : indptr[start + r + 1]]:
                for i, time in enumerate(times):
                    budget = time - snaps.leg[p]
                    parts = _reached_parts(net, budget, d_end, p_seg, t_end, t_other, p_cost)
                    if budget >= 0:
                        parts.append(shapely.linestrings([xy[p], snapped[p]]))
                    geoms[p, i] = _band(parts, buffer_m)
    empty = shapely.Polygon()
    flat = [g if g is not None else empty for g in geoms.ravel()]
    return gpd.GeoDataFrame(
        {"site_id": np.repeat(ids.to_numpy(), len(times)), "minutes": np.tile(times, len(ids))},
        geometry=flat,
        crs=net.crs,
    )


def _reached_parts(
    net: _graph.Network,
    budget: float,
    d_end: np.ndarray,
    seg: np.ndarray,
    t_end: np.ndarray,
    t_other: np.ndarray,
    cost: np.ndarray,
) -> list[Any]:
    """The street parts reached within ``budget``: whole segments, pieces and points."""
    if budget < 0:
        return []
    reached = d_end <= budget
    if not reached.any():
        return []
    s, te, to, c, de = seg[reached], t_end[reached], t_other[reached], cost[reached], d_end[reached]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(c > 0, np.clip((budget - de) / c, 0.0, 1.0), 1.0)
    tr = te + frac * (to - te)
    lo, hi = np.minimum(te, tr), np.maximum(te, tr)
    table = np.unique(np.column_stack([s, lo, hi]), axis=0)
    s, lo, hi = table[:, 0].astype(np.int64), table[:, 1], table[:, 2]
    whole = (lo <= 0.0) & (hi >= 1.0)
    point = hi <= lo
    parts: list[Any] = list(net.seg_geom[s[whole]])
    if point.any():
        parts.extend(shapely.line_interpolate_point(net.seg_geom[s[point]], lo[point],
                                                    normalized=True))  # fmt: skip
    from shapely.ops import substring

    for j in np.flatnonzero(~whole & ~point):
        parts.append(substring(net.seg_geom[s[j]], lo[j], hi[j], normalized=True))
    return parts


def _band(parts: list[Any], buffer_m: float) -> Any:
    if not parts:
        return shapely.Polygon()
    return shapely.buffer(shapely.GeometryCollection(parts), buffer_m)
