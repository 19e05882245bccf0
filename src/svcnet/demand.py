"""Population grids and demand points.

This module turns population data into the weighted demand points that the
location models consume, and builds population grids in the first place:

* :func:`square_grid` and :func:`h3_grid` make empty grids over an area;
* :func:`grid_from_raster` reads a population raster (WorldPop, GHSL) as cells;
* :func:`dasymetric_grid` spreads census counts on polygons over a grid in
  proportion to an ancillary layer (building floor area, road length ...),
  conserving every polygon's totals exactly, to the person;
* :func:`floor_area_weights` derives that ancillary weight from building
  footprints and storeys;
* :func:`aggregate_grid` sums a grid into coarser cells or boundary units;
* :func:`demand_from_grid` gives one weighted point per populated cell.

All distances and areas are computed in a metric CRS (the caller's, or a UTM
zone chosen from the data); the caller's frames are never modified.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from svcnet._validate import check_counts, check_geodataframe
from svcnet.crs import as_metric_crs, estimate_metric_crs, is_metric
from svcnet.errors import CRSError, InputError

logger = logging.getLogger(__name__)

__all__ = [
    "POPULATION_GROUPS",
    "RESIDENTIAL_SHARE",
    "square_grid",
    "h3_grid",
    "grid_from_raster",
    "dasymetric_grid",
    "floor_area_weights",
    "ancillary_completeness",
    "aggregate_grid",
    "demand_from_grid",
]

POPULATION_GROUPS: tuple[str, ...] = ("pop", "pop_0_14", "pop_60plus", "pop_65plus")
"""The population columns of a svcnet grid: everyone, children, and two elderly groups."""

RESIDENTIAL_SHARE: Mapping[str, float] = {
    "apartments": 1.0,
    "residential": 1.0,
    "house": 1.0,
    "detached": 1.0,
    "semidetached_house": 1.0,
    "terrace": 1.0,
    "dormitory": 1.0,
    "bungalow": 1.0,
    "yes": 0.5,
}
"""Share of a building's floor area taken as residential, by OSM ``building`` value.

Typed residential buildings count in full. Untyped buildings (``building=yes``),
which in Chinese cities include many urban-village homes but also shops and
offices, count for half: an estimate, stated as one. Every other type counts
for nothing.
"""


def _metric_frame(frame: gpd.GeoDataFrame | gpd.GeoSeries, crs: object | None, name: str):
    if frame.crs is None:
        msg = f"{name} has no CRS; set one with .set_crs(...)"
        raise CRSError(msg, layer=name)
    if crs is not None:
        target = as_metric_crs(crs)
    else:
        target = frame.crs if is_metric(frame.crs) else estimate_metric_crs(frame)
    return frame.to_crs(target)


def _cell_label(cell_size: float) -> str:
    return f"{cell_size:g}m"


def square_grid(
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    cell_size: float,
    *,
    crs: object | None = None,
    clip: bool = False,
) -> gpd.GeoDataFrame:
    """Square cells of ``cell_size`` metres covering an area.

    Cells are aligned on multiples of ``cell_size`` in the metric CRS, so grids of
    the same CRS and size always line up and coarser grids nest finer ones. Each
    cell's ``cell_id`` names its size and its lower-left corner, e.g.
    ``"250m_E800000_N2495000"``.

    Parameters
    ----------
    area
        The area to cover (any CRS; it is projected to ``crs``).
    cell_size
        The side of a cell, in metres.
    crs
        The metric CRS of the grid; by default the area's own CRS if metric,
        else the UTM zone of its extent.
    clip
        Cut the cells along the area's outline (cells then are pieces of squares).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``cell_id`` and ``geometry``, one row per cell touching the area.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> area = gpd.GeoSeries([box(0, 0, 250, 150)], crs=32650)
    >>> square_grid(area, 100).cell_id.tolist()[:4]
    ['100m_E0_N0', '100m_E100_N0', '100m_E200_N0', '100m_E0_N100']
    """
    if not (isinstance(cell_size, (int, float)) and math.isfinite(cell_size) and cell_size > 0):
        msg = f"cell_size must be a positive number of metres; got {cell_size!r}"
        raise InputError(msg)
    metric = _metric_frame(area, crs, "area")
    outline = shapely.union_all(metric.geometry.values)
    xmin, ymin, xmax, ymax = outline.bounds
    xs = np.arange(math.floor(xmin / cell_size), math.ceil(xmax / cell_size)) * cell_size
    ys = np.arange(math.floor(ymin / cell_size), math.ceil(ymax / cell_size)) * cell_size
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    boxes = shapely.box(gx, gy, gx + cell_size, gy + cell_size)
    shapely.prepare(outline)
    keep = shapely.intersects(outline, boxes) & ~shapely.touches(outline, boxes)
    label = _cell_label(cell_size)
    ids = [f"{label}_E{x:.0f}_N{y:.0f}" for x, y in zip(gx[keep], gy[keep], strict=True)]
    geoms = boxes[keep]
    if clip:
        geoms = shapely.intersection(geoms, outline)
    return gpd.GeoDataFrame({"cell_id": ids}, geometry=geoms, crs=metric.crs)


def h3_grid(
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    resolution: int,
    *,
    crs: object | None = None,
) -> gpd.GeoDataFrame:
    """H3 hexagons of a resolution covering an area.

    Every hexagon that overlaps the area is returned (resolution 9 cells are
    about 0.1 km², resolution 10 about 0.015 km²), with its H3 index as
    ``cell_id``, in a metric CRS.

    Parameters
    ----------
    area
        The area to cover (any CRS).
    resolution
        H3 resolution, 0 to 15.
    crs
        The metric CRS of the result (default: the UTM zone of the area).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``cell_id`` and ``geometry``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> area = gpd.GeoSeries([box(114.05, 22.53, 114.06, 22.54)], crs=4326)
    >>> cells = h3_grid(area, 9)
    >>> bool(cells.union_all().covers(area.to_crs(cells.crs).iloc[0]))
    True
    """
    import h3

    if not (isinstance(resolution, (int, np.integer)) and 0 <= resolution <= 15):
        msg = f"resolution must be an integer from 0 to 15; got {resolution!r}"
        raise InputError(msg)
    if area.crs is None:
        raise CRSError("area has no CRS; set one with .set_crs(...)", layer="area")
    lonlat = area.to_crs(4326)
    outline = shapely.union_all(lonlat.geometry.values)
    shape = h3.geo_to_h3shape(outline)
    cells = sorted(h3.h3shape_to_cells_experimental(shape, int(resolution), contain="overlap"))
    rings = [[(lng, lat) for lat, lng in h3.cell_to_boundary(c)] for c in cells]
    hexagons = gpd.GeoDataFrame(
        {"cell_id": cells}, geometry=shapely.polygons(rings) if rings else [], crs=4326
    )
    hexagons = hexagons[hexagons.intersects(outline)].reset_index(drop=True)
    target = crs if crs is not None else estimate_metric_crs(lonlat)
    return _metric_frame(hexagons, target, "area")


def grid_from_raster(
    raster: object,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    column: str = "pop",
    crs: object | None = None,
) -> gpd.GeoDataFrame:
    """One cell per populated pixel of a population raster.

    Parameters
    ----------
    raster
        A :class:`svcnet.io.PopulationRaster` (from :func:`svcnet.io.read_population_raster`).
    area
        Keep only the pixels whose centre falls inside this area.
    column
        Name of the population column.
    crs
        The metric CRS of the result (default: the raster's, if metric, else UTM).

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id`` (``"r{row}c{col}"`` of the raster), the population column and
        the pixel squares. Nodata and zero pixels are left out.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from pyproj import CRS
    >>> from svcnet.io import PopulationRaster
    >>> r = PopulationRaster(values=np.array([[1.0, np.nan], [0.0, 2.5]]),
    ...     transform=Affine(100, 0, 800000, 0, -100, 2500000), crs=CRS(32650),
    ...     nodata=-99999.0, path=None)
    >>> grid_from_raster(r)[["cell_id", "pop"]].values.tolist()
    [['r0c0', 1.0], ['r1c1', 2.5]]
    """
    values = np.asarray(raster.values, dtype=float)
    rows, cols = np.nonzero(np.nan_to_num(values, nan=0.0) > 0)
    transform = raster.transform
    x0, y0 = transform @ (cols, rows)
    x1, y1 = transform @ (cols + 1, rows + 1)
    boxes = shapely.box(
        np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1)
    )
    ids = [f"r{r}c{c}" for r, c in zip(rows, cols, strict=True)]
    grid = gpd.GeoDataFrame(
        {"cell_id": ids, column: values[rows, cols]}, geometry=boxes, crs=raster.crs
    )
    if area is not None:
        if area.crs is None:
            raise CRSError("area has no CRS; set one with .set_crs(...)", layer="area")
        outline = shapely.union_all(area.to_crs(grid.crs).geometry.values)
        grid = grid[grid.centroid.within(outline)].reset_index(drop=True)
    return _metric_frame(grid, crs, "raster")


def floor_area_weights(
    buildings: gpd.GeoDataFrame,
    *,
    type_column: str = "building",
    levels_column: str = "levels",
    height_column: str | None = "height",
    storey_height: float = 3.0,
    residential_share: Mapping[str, float] = RESIDENTIAL_SHARE,
    max_untyped_footprint_m2: float | None = 5000.0,
    crs: object | None = None,
) -> pd.DataFrame:
    """Residential floor area of each building, the usual dasymetric weight.

    floor area = footprint area x storeys x residential share of the type.
    Storeys come from ``levels_column`` where tagged; else from the height
    divided by ``storey_height``; else they are imputed as the median storeys
    of the tagged buildings of the same type (or of all tagged buildings when
    the type has none), and the row says so in ``levels_source``.

    Parameters
    ----------
    buildings
        Building footprints (polygons, any CRS), not modified.
    type_column, levels_column, height_column
        Columns with the OSM building type, the storeys and the height in metres.
    storey_height
        Metres per storey, to turn a height into storeys.
    residential_share
        Share of floor area counted as residential, by type (others count 0).
    max_untyped_footprint_m2
        Untyped buildings (``building=yes``) with a larger footprint count as
        non-residential: exhibition halls, depots, terminals and warehouses, not
        homes. None keeps them all.
    crs
        Metric CRS for the footprint areas (default: UTM of the data).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``buildings``, columns ``footprint_m2``, ``storeys``,
        ``levels_source`` (``tagged``, ``height`` or ``imputed``), ``residential_share``
        and ``floor_area_m2`` (the weight).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> b = gpd.GeoDataFrame({"building": ["apartments", "apartments", "office"],
    ...     "levels": [10, None, 5], "height": [None, None, None]},
    ...     geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10), box(40, 0, 50, 10)], crs=32650)
    >>> floor_area_weights(b)["floor_area_m2"].tolist()
    [1000.0, 1000.0, 0.0]
    """
    frame = check_geodataframe(buildings, layer="buildings", required=[type_column])
    metric = _metric_frame(frame, crs, "buildings")
    types = metric[type_column].astype("string").fillna("yes")
    levels = _numeric_column(metric, levels_column)
    source = pd.Series("tagged", index=metric.index, dtype="object")
    if height_column is not None and height_column in metric.columns:
        from_height = _numeric_column(metric, height_column) / storey_height
        use_height = levels.isna() & from_height.notna()
        levels = levels.where(~use_height, from_height.round().clip(lower=1))
        source[use_height] = "height"
    levels = levels.where(levels.isna() | (levels >= 1), 1.0)
    tagged = levels.notna()
    by_type = levels[tagged].groupby(types[tagged]).median()
    overall = float(levels[tagged].median()) if tagged.any() else 1.0
    imputed = types[~tagged].map(by_type).astype(float).fillna(overall)
    levels = levels.fillna(imputed)
    source[~tagged] = "imputed"
    share = types.map(dict(residential_share)).astype(float).fillna(0.0)
    footprint = metric.area
    if max_untyped_footprint_m2 is not None:
        share = share.where(~((types == "yes") & (footprint > max_untyped_footprint_m2)), 0.0)
    return pd.DataFrame(
        {
            "footprint_m2": footprint,
            "storeys": levels.astype(float),
            "levels_source": source,
            "residential_share": share,
            "floor_area_m2": footprint * levels * share,
        },
        index=buildings.index,
    )


def _numeric_column(frame: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None or column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def ancillary_completeness(
    units: gpd.GeoDataFrame,
    ancillary: gpd.GeoDataFrame,
    *,
    unit_id: str,
    population: str,
    weight: str,
    reference: float | None = None,
) -> pd.Series:
    """How completely the ancillary layer is mapped in each unit, from 0 to 1.

    The ancillary weight per person is computed for every unit and compared with
    the ``reference`` (by default the median over the units): a unit at or above
    it scores 1, a unit with a tenth of it scores 0.1. Use the result as the
    ``completeness`` of :func:`dasymetric_grid` so that under-mapped units (few
    buildings mapped for their population) blend in an even spread over their
    area instead of piling their whole population into the few mapped buildings.

    Parameters
    ----------
    units
        Census units with the population column.
    ancillary
        Ancillary features (e.g. buildings) with the weight column; each is
        counted in the unit holding its representative point.
    unit_id, population, weight
        The unit id column, the population column of ``units`` and the weight
        column of ``ancillary``.
    reference
        Weight per person taken as complete mapping.

    Returns
    -------
    pandas.Series
        Completeness per unit id.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box, Point
    >>> units = gpd.GeoDataFrame({"id": ["a", "b"], "pop": [100, 100]},
    ...     geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)], crs=32650)
    >>> bld = gpd.GeoDataFrame({"w": [50.0, 5.0]}, geometry=[Point(5, 5), Point(15, 5)], crs=32650)
    >>> ancillary_completeness(units, bld, unit_id="id", population="pop", weight="w",
    ...     reference=0.5).round(2).to_dict()
    {'a': 1.0, 'b': 0.1}
    """
    units = check_geodataframe(units, layer="units", id_column=unit_id)
    check_counts(units, [population], layer="units", id_column=unit_id)
    ancillary = check_geodataframe(ancillary, layer="ancillary", required=[weight])
    check_counts(ancillary, [weight], layer="ancillary")
    points = gpd.GeoDataFrame(
        {weight: ancillary[weight].to_numpy()},
        geometry=ancillary.to_crs(units.crs).representative_point().values,
        crs=units.crs,
    )
    joined = gpd.sjoin(points, units[[unit_id, "geometry"]], predicate="within", how="inner")
    joined = joined[~joined.index.duplicated(keep="first")]
    totals = joined.groupby(unit_id)[weight].sum().reindex(units[unit_id]).fillna(0.0)
    per_person = totals / units.set_index(unit_id)[population].replace(0, np.nan)
    if reference is None:
        reference = float(per_person.median())
    if not reference > 0:
        return pd.Series(0.0, index=per_person.index)
    return (per_person / reference).clip(upper=1.0).fillna(0.0).rename("completeness")


def _largest_remainder(exact: np.ndarray, groups: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Round ``exact`` to integers so that each group sums to its integer total."""
    floors = np.floor(exact)
    remainder = exact - floors
    deficit = totals - np.bincount(groups, weights=floors, minlength=len(totals))
    deficit = np.rint(deficit).astype(np.int64)
    # Within each group, give one more to the largest remainders (ties: first row).
    order = np.lexsort((np.arange(len(exact)), -remainder, groups))
    sorted_groups = groups[order]
    starts = np.searchsorted(sorted_groups, np.arange(len(totals)))
    rank = np.arange(len(exact)) - starts[sorted_groups]
    bump = np.zeros(len(exact))
    bump[order] = rank < deficit[sorted_groups]
    return (floors + bump).astype(np.int64)


def dasymetric_grid(
    units: gpd.GeoDataFrame,
    counts: Sequence[str],
    ancillary: gpd.GeoDataFrame | None,
    *,
    unit_id: str,
    weight: str | None = None,
    cell_size: float = 100.0,
    grid: gpd.GeoDataFrame | None = None,
    completeness: Mapping[object, float] | pd.Series | None = None,
    crs: object | None = None,
    integer: bool = True,
    client: Any = None,
) -> gpd.GeoDataFrame:
    """Spread census counts on polygons over a grid by an ancillary layer.

    Each grid cell is cut along the unit outlines, so every piece belongs to
    exactly one unit. A unit's count is shared among its pieces by

    ``share = c * w_piece / w_unit + (1 - c) * area_piece / area_unit``

    where ``w`` is the ancillary weight (summed over the ancillary features whose
    representative point lies in the piece) and ``c`` the unit's completeness
    (1 where the ancillary layer is trusted, less where it is under-mapped; 0
    gives plain areal weighting). With ``integer=True`` the shares are rounded
    by largest remainder within each unit, so every unit's total is conserved
    exactly, to the person, for every count column.

    Parameters
    ----------
    units
        Census polygons (any CRS) with ``unit_id`` and the ``counts`` columns.
    counts
        The count columns to spread (e.g. disjoint age groups).
    ancillary
        Features with a weight column (e.g. building footprints with residential
        floor area), or None for areal weighting.
    unit_id
        Unit id column.
    weight
        Weight column of ``ancillary`` (None: every feature weighs 1).
    cell_size
        Side of the square cells in metres (ignored when ``grid`` is given).
    grid
        A grid of your own (e.g. :func:`h3_grid`), with ``cell_id``.
    completeness
        Completeness per unit id, 0 to 1 (see :func:`ancillary_completeness`);
        default 1 for units with any ancillary weight, else 0.
    crs
        Metric CRS of the result (default: the UTM zone of the units).
    integer
        Round to whole people, conserving unit totals exactly.
    client
        Spread on a Dask cluster (a ``dask.distributed.Client``, a scheduler
        address or ``"local"``): the units are cut into groups, each spread on
        a worker with its cells and the ancillary points inside it, and the
        pieces put back in order. Each unit's shares depend on it alone, so the
        result is the same, value for value. None (default): this process.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell piece: ``cell_id`` (the cell's id, with ``"-{unit}"``
        appended where a cell is split between units), ``unit_id``, the counts,
        and the piece geometry.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box, Point
    >>> units = gpd.GeoDataFrame({"id": ["a"], "pop": [10]}, geometry=[box(0, 0, 200, 100)],
    ...     crs=32650)
    >>> homes = gpd.GeoDataFrame({"w": [3.0, 1.0]}, geometry=[Point(50, 50), Point(150, 50)],
    ...     crs=32650)
    >>> g = dasymetric_grid(units, ["pop"], homes, unit_id="id", weight="w", cell_size=100)
    >>> g[["cell_id", "pop"]].values.tolist()
    [['100m_E0_N0', 8], ['100m_E100_N0', 2]]
    """
    counts = list(counts)
    units = check_geodataframe(
        units, layer="units", id_column=unit_id, geometry_types=("Polygon", "MultiPolygon")
    )
    check_counts(units, counts, layer="units", id_column=unit_id)
    if integer:
        _check_whole(units, counts, unit_id)
    units = _metric_frame(units, crs, "units")
    if grid is None:
        grid = square_grid(units, cell_size)
    else:
        grid = check_geodataframe(grid, layer="grid", id_column="cell_id")
        grid = grid[["cell_id", grid.geometry.name]].to_crs(units.crs)
    points, values = _ancillary_points(ancillary, weight, units.crs)
    if client is None:
        out = spread_counts(units, counts, grid, points, values, unit_id=unit_id,
                            completeness=completeness, integer=integer)  # fmt: skip
    else:
        from svcnet.distributed import _cluster, _demand

        with _cluster.cluster_for(client) as dask_client:
            out = _demand.spread_on_cluster(
                dask_client, units, counts, grid, points, values, unit_id=unit_id,
                completeness=completeness, integer=integer,
            )  # fmt: skip
    split = out["cell_id"].duplicated(keep=False)
    suffix = "-" + out.loc[split, unit_id].astype(str)
    out.loc[split, "cell_id"] = out.loc[split, "cell_id"] + suffix
    return out


def spread_counts(
    units: gpd.GeoDataFrame,
    counts: Sequence[str],
    grid: gpd.GeoDataFrame,
    points: np.ndarray,
    values: np.ndarray,
    *,
    unit_id: str,
    completeness: Mapping[object, float] | pd.Series | None,
    integer: bool,
) -> gpd.GeoDataFrame:
    """The dasymetric spread of checked inputs (one metric CRS), before split cells are named.

    The work of :func:`dasymetric_grid` once its inputs are checked: every
    result of a unit depends on that unit, its cells and the ancillary points
    inside it alone, so any set of whole units gives the same rows for them.

    Parameters
    ----------
    units, counts, unit_id, completeness, integer
        As in :func:`dasymetric_grid` (units already in ``grid``'s CRS).
    grid
        ``cell_id`` and geometry, in the units' CRS.
    points, values
        The ancillary features' representative points (shapely array) and weights.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell piece, by cell then unit: ``cell_id``, ``unit_id``,
        the counts, the piece.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> units = gpd.GeoDataFrame({"id": ["a"], "pop": [9]}, geometry=[box(0, 0, 300, 100)],
    ...     crs=32650)
    >>> out = spread_counts(units, ["pop"], square_grid(units, 100), np.array([]), np.array([]),
    ...                     unit_id="id", completeness=None, integer=True)
    >>> out["pop"].tolist()
    [3, 3, 3]
    """
    pieces = _cut_cells(grid, units, unit_id)
    unit_index = pd.Index(units[unit_id])
    groups = unit_index.get_indexer(pieces[unit_id])
    n_units = len(unit_index)
    area = pieces.area.to_numpy()
    area_share = area / np.bincount(groups, weights=area, minlength=n_units)[groups]
    piece_weight = _piece_weights(pieces, points, values)
    unit_weight = np.bincount(groups, weights=piece_weight, minlength=n_units)
    c = _completeness_per_unit(unit_index, unit_weight, completeness)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight_share = np.where(unit_weight[groups] > 0, piece_weight / unit_weight[groups], 0.0)
    share = c[groups] * weight_share + (1.0 - c[groups]) * area_share
    out = pieces[["cell_id", unit_id]].copy()
    for column in counts:
        totals = units[column].to_numpy(dtype=float)
        exact = totals[groups] * share
        out[column] = _largest_remainder(exact, groups, totals) if integer else exact
    return gpd.GeoDataFrame(out, geometry=pieces.geometry.values, crs=units.crs)


def _cut_cells(grid: gpd.GeoDataFrame, units: gpd.GeoDataFrame, unit_id: str) -> gpd.GeoDataFrame:
    """Cut grid cells along unit outlines: one piece per (cell, unit) pair that overlap.

    Cells lying wholly inside a unit are kept as they are; only the cells that
    straddle an outline are intersected, which is most of the cost saved.
    Slivers under 1 m² are dropped.
    """
    cells = grid.geometry.values
    outlines = units.geometry.values
    shapely.prepare(outlines)
    unit_idx, cell_idx = shapely.STRtree(cells).query(outlines, predicate="intersects")
    inside = shapely.contains_properly(outlines[unit_idx], cells[cell_idx])
    geoms = cells[cell_idx].copy()
    cut = ~inside
    geoms[cut] = shapely.intersection(cells[cell_idx[cut]], outlines[unit_idx[cut]])
    geoms[cut] = _polygonal(geoms[cut])
    order = np.lexsort((unit_idx, cell_idx))
    pieces = gpd.GeoDataFrame(
        {
            "cell_id": grid["cell_id"].to_numpy()[cell_idx[order]],
            unit_id: units[unit_id].to_numpy()[unit_idx[order]],
        },
        geometry=geoms[order],
        crs=grid.crs,
    )
    return pieces[pieces.area >= 1.0].reset_index(drop=True)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygon parts of intersection results (drop shared edges and corners)."""
    kinds = shapely.get_type_id(geoms)
    out = geoms.copy()
    mixed = np.flatnonzero(kinds == 7)  # GeometryCollection
    for i in mixed:
        parts = shapely.get_parts(geoms[i])
        polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        out[i] = shapely.union_all(polys) if len(polys) else shapely.Polygon()
    lines_or_points = ~np.isin(shapely.get_type_id(out), (3, 6, 7))
    out[lines_or_points] = shapely.Polygon()
    return out


def _check_whole(units: pd.DataFrame, counts: Sequence[str], unit_id: str) -> None:
    for column in counts:
        values = units[column].to_numpy(dtype=float)
        fractional = values != np.round(values)
        if fractional.any():
            msg = "counts must be whole numbers to be spread exactly (or pass integer=False)"
            raise InputError(msg, layer="units", column=column, rows=units.loc[fractional, unit_id])


def _ancillary_points(
    ancillary: gpd.GeoDataFrame | None, weight: str | None, crs: object
) -> tuple[np.ndarray, np.ndarray]:
    """The ancillary features' representative points (in ``crs``) and weights, checked."""
    if ancillary is None or len(ancillary) == 0:
        return np.array([], dtype=object), np.zeros(0)
    ancillary = check_geodataframe(
        ancillary, layer="ancillary", required=[weight] if weight else []
    )
    if weight is not None:
        check_counts(ancillary, [weight], layer="ancillary")
        values = ancillary[weight].to_numpy(dtype=float)
    else:
        values = np.ones(len(ancillary))
    return ancillary.to_crs(crs).representative_point().values, values


def _piece_weights(pieces: gpd.GeoDataFrame, points: np.ndarray, values: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return np.zeros(len(pieces))
    tree = shapely.STRtree(pieces.geometry.values)
    point_idx, piece_idx = tree.query(points, predicate="within")
    first = np.unique(point_idx, return_index=True)[1]  # a point on a shared edge counts once
    return np.bincount(piece_idx[first], weights=values[point_idx[first]], minlength=len(pieces))


def _completeness_per_unit(
    unit_index: pd.Index, unit_weight: np.ndarray, completeness: Mapping | pd.Series | None
) -> np.ndarray:
    if completeness is None:
        return (unit_weight > 0).astype(float)
    given = pd.Series(completeness, dtype=float).reindex(unit_index)
    if given.isna().any():
        missing = unit_index[given.isna().to_numpy()].tolist()
        raise InputError("completeness is missing for some units", rows=missing)
    c = given.to_numpy().clip(0.0, 1.0)
    unmapped = (unit_weight == 0) & (c > 0)
    if unmapped.any():
        logger.warning(
            "%d units have no ancillary weight; their counts are spread by area: %s",
            int(unmapped.sum()),
            ", ".join(map(str, unit_index[unmapped][:10])),
        )
        c = np.where(unmapped, 0.0, c)
    return c


def aggregate_grid(
    grid: gpd.GeoDataFrame,
    *,
    cell_size: float | None = None,
    units: gpd.GeoDataFrame | None = None,
    unit_id: str | None = None,
    columns: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Sum a grid into coarser square cells or into boundary units.

    Each cell goes whole to the target holding its representative point, so
    totals are conserved exactly (cells outside every unit are dropped, with a
    warning giving how many people that leaves out).

    Parameters
    ----------
    grid
        A population grid with ``cell_id`` and count columns.
    cell_size
        Target square cell size in metres (give this or ``units``).
    units
        Target polygons (give this or ``cell_size``), with ``unit_id``.
    unit_id
        Id column of ``units``.
    columns
        Count columns to sum (default: the population columns present).

    Returns
    -------
    geopandas.GeoDataFrame
        Target cells (``cell_id``) or units (``unit_id``) with the summed columns.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> area = gpd.GeoSeries([box(0, 0, 200, 200)], crs=32650)
    >>> fine = square_grid(area, 100).assign(pop=[1, 2, 3, 4])
    >>> aggregate_grid(fine, cell_size=200)[["cell_id", "pop"]].values.tolist()
    [['200m_E0_N0', 10]]
    """
    if (cell_size is None) == (units is None):
        raise InputError("give exactly one of cell_size or units")
    grid = check_geodataframe(grid, layer="grid", id_column="cell_id")
    if columns is None:
        columns = [c for c in POPULATION_GROUPS if c in grid.columns]
    check_counts(grid, columns, layer="grid", id_column="cell_id")
    if units is None:
        metric = _metric_frame(grid, None, "grid")
        target = square_grid(metric, cell_size)
        key = "cell_id"
    else:
        if unit_id is None:
            raise InputError("unit_id is required with units")
        target = check_geodataframe(units, layer="units", id_column=unit_id)
        target = target[[unit_id, target.geometry.name]].to_crs(grid.crs)
        key = unit_id
    points = gpd.GeoDataFrame(
        grid[list(columns)].reset_index(drop=True),
        geometry=grid.representative_point().to_crs(target.crs).values,
        crs=target.crs,
    )
    tree = shapely.STRtree(target.geometry.values)
    point_idx, target_idx = tree.query(points.geometry.values, predicate="intersects")
    first = np.unique(point_idx, return_index=True)[1]
    point_idx, target_idx = point_idx[first], target_idx[first]
    left_out = len(points) - len(point_idx)
    if left_out:
        people = 0.0
        if "pop" in points.columns:
            people = float(points["pop"].sum() - points["pop"].iloc[point_idx].sum())
        logger.warning(
            "%d cells (%g people) lie outside every unit and are left out", left_out, people
        )
    sums = points.iloc[point_idx][list(columns)].groupby(target_idx).sum()
    result = target.iloc[sums.index].reset_index(drop=True)
    for column in columns:
        result[column] = sums[column].to_numpy()
    return result if key in result.columns else result.rename(columns={"cell_id": key})


def demand_from_grid(
    grid: gpd.GeoDataFrame,
    group: str = "pop",
    *,
    keep_zero: bool = False,
    crs: object | None = None,
) -> gpd.GeoDataFrame:
    """Weighted demand points from a population grid, one per cell.

    Each cell becomes a point at its centroid (or, for a cut cell whose centroid
    falls outside it, at a point inside it) weighted by the chosen population
    group, in a metric CRS.

    Parameters
    ----------
    grid
        A population grid with ``cell_id`` and the group's column.
    group
        The population column to weigh by: ``"pop"``, ``"pop_0_14"``,
        ``"pop_60plus"``, ``"pop_65plus"`` or any other count column.
    keep_zero
        Keep cells with no one of the group.
    crs
        The metric CRS of the points (default: the grid's if metric, else UTM).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``cell_id``, ``weight`` and point geometry.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> grid = square_grid(gpd.GeoSeries([box(0, 0, 200, 100)], crs=32650), 100)
    >>> demand_from_grid(grid.assign(pop=[5, 0]))[["cell_id", "weight"]].values.tolist()
    [['100m_E0_N0', 5]]
    """
    grid = check_geodataframe(grid, layer="grid", id_column="cell_id", required=[group])
    check_counts(grid, [group], layer="grid", id_column="cell_id")
    metric = _metric_frame(grid, crs, "grid")
    if not keep_zero:
        metric = metric[metric[group] > 0]
    centroids = metric.centroid
    inside = centroids.within(metric.geometry)
    points = centroids.where(inside, metric.representative_point())
    return gpd.GeoDataFrame(
        {"cell_id": metric["cell_id"].to_numpy(), "weight": metric[group].to_numpy()},
        geometry=points.values,
        crs=metric.crs,
    )
