"""Folium maps of coverage by travel cost, and of isochrones.

:func:`explore_coverage` draws who is within a threshold of a site, from a
:class:`svcnet.CostMatrix` and the demand and site frames it was made from:
the demand coloured covered / not covered (or by the cost to the nearest
site, a second view of the same features), and the sites sized by the people
they are nearest to. The numbers come from :mod:`svcnet.access`
(:func:`~svcnet.access.nearest_cost`, :func:`~svcnet.access.within`,
:func:`~svcnet.access.nearest_site`); the legend gives the people covered and
not covered.

:func:`isochrone_layer` draws what :func:`svcnet.isochrones` returns: one
band per time, each the area first reached within it, with a legend giving
each band's area. ``explore_coverage(isochrones=...)`` and
``explore_plan(isochrones=...)`` draw the same layer on their maps.

The layers are those of :mod:`svcnet.viz._layers`: compact, escaped (text
from the data is shown as text, never run as HTML), each with its legend and
its entry in the layer control; export a map with :func:`svcnet.viz.save_map`
for a page that works offline.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import matplotlib
import matplotlib.colors
import numpy as np
import pandas as pd
import shapely

from svcnet._validate import check_geodataframe
from svcnet.errors import InputError
from svcnet.viz._layers import (
    QUANTUM_DEG,
    FitView,
    MapHeading,
    ScaleBar,
    SharedData,
    VectorLayer,
    encode_column,
    encode_geometries,
)
from svcnet.viz.maps import _BLANK_BASEMAP, _basemap, _keep_layer_control_last, attribution_html
from svcnet.viz.plan_maps import (
    _BEYOND,
    _CELL_HIGHLIGHT,
    _CELL_STYLE,
    _EXCLUSIVE,
    _MINUTE_BEYOND,
    _MINUTE_STEPS,
    _MINUTE_WITHIN,
    _NONE,
    _WITHIN,
    _percent,
    _unique_names,
    group_label,
    minute_classes,
    site_radii,
)

logger = logging.getLogger(__name__)

__all__ = ["explore_coverage", "isochrone_layer", "COVERAGE_VIEWS"]

#: The views of the demand, one shown at a time: ``explore_coverage(view=...)``.
COVERAGE_VIEWS = ("coverage", "cost")

_SITE_COLOR = "#d4006a"
_SITE_STYLE = {"color": "#ffffff", "weight": 1.5, "opacity": 1, "fillOpacity": 0.95}
_SITE_HIGHLIGHT = {"color": "#000000", "weight": 3}
_SITE_UNHIGHLIGHT = {"color": "#ffffff", "weight": 1.5}
_POINT_RADIUS = 3.5
_POINT_STYLE = {"radius": _POINT_RADIUS, "stroke": False, "fillOpacity": 0.9}
_POINT_HIGHLIGHT = {"radius": 6.5, "stroke": True, "color": "#111111", "weight": 1.5}
_POINT_UNHIGHLIGHT = {"radius": _POINT_RADIUS, "stroke": False}
_ISO_CMAP = "YlGnBu"
_ISO_STYLE = {"weight": 1.5, "opacity": 0.9, "fillOpacity": 0.3}
_ISO_SIMPLIFY_M = 3.0  # metres: isochrones are streets buffered by tens of metres
_POLYGONAL = ("Polygon", "MultiPolygon")


# =========================================================================================
# helpers shared with the solution maps
# =========================================================================================
def _check_map(m: Any) -> None:
    """Raise unless ``m`` is None or a folium map (the ``m=`` of every map function)."""
    if m is not None and not isinstance(m, folium.Map):
        msg = f"m must be a folium.Map to add the layers to; got {type(m).__name__}"
        raise InputError(msg)


def _drawable(shapes: gpd.GeoSeries) -> np.ndarray:
    """Whether each geometry is there and not empty (without geopandas' notna warning)."""
    values = np.asarray(shapes.values, dtype=object)
    return ~(shapely.is_missing(values) | shapely.is_empty(values))


def _unit_words(unit: str | None) -> tuple[str, str]:
    """A cost unit as a column label and a suffix: ``"min"`` -> ``("Minutes", " min")``.

    Examples
    --------
    >>> _unit_words("m"), _unit_words(None)
    (('Metres', ' m'), ('Cost', ''))
    """
    return {"min": ("Minutes", " min"), "m": ("Metres", " m")}.get(unit or "", ("Cost", ""))


def _new_map(
    title: str, shapes: Sequence[gpd.GeoSeries], tiles: Any, attr: str | None
) -> folium.Map:
    """A map with a basemap (or none), a scale bar, fitted to ``shapes`` once laid out."""
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=True, zoom_snap=0.25)
    m.get_root().title = html.escape(title)
    if tiles is not None:
        _basemap(tiles, attr).add_to(m)
        folium.FeatureGroup(name=_BLANK_BASEMAP, overlay=False, show=False).add_to(m)
    ScaleBar().add_to(m)
    parts = [s.to_crs(4326) for s in shapes if s is not None and len(s)]
    if parts:
        every = gpd.GeoSeries(pd.concat(parts, ignore_index=True), crs=4326)
        every = every[_drawable(every)]
        if len(every):
            x0, y0, x1, y1 = every.total_bounds
            FitView([[y0, x0], [y1, x1]]).add_to(m)
    return m


def _finish_map(m: folium.Map, layers: Sequence[VectorLayer | None], heading: str | None) -> None:
    """Add the layers (names made unique on the map), the heading and the layer control."""
    kept = [layer for layer in layers if layer is not None]
    _unique_names(m, kept)
    for layer in kept:
        layer.add_to(m)
    if heading:
        MapHeading(heading).add_to(m)
    _keep_layer_control_last(m)


def _metric(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> Any:
    """The frame in a metric CRS: its own when projected, else its UTM zone."""
    if frame.crs is None:
        return frame
    if frame.crs.is_projected:
        return frame
    return frame.to_crs(frame.estimate_utm_crs())


@dataclass(frozen=True)
class _Features:
    """Demand rows as drawn: polygons as ``"cells"``, anything else as points.

    ``rows`` are the positions (in the frame given) of the features drawn;
    ``data`` holds their quantized geometries for a spec; ``metric`` their
    shapes in a metric CRS; ``areas`` polygons around them (the cells, or the
    points' Voronoi cells) for colouring neighbours apart and for catchments.
    """

    kind: str
    rows: np.ndarray
    data: dict[str, Any]
    metric: gpd.GeoSeries
    areas: gpd.GeoSeries


def _voronoi_areas(points: gpd.GeoSeries) -> gpd.GeoSeries:
    """Each point's Voronoi cell, clipped to a disk of 0.75 x the typical point spacing.

    For the centres of a square grid these are the grid's cells.
    """
    xy = shapely.get_coordinates(points.values)
    if len(xy) < 2:
        return gpd.GeoSeries(points.buffer(50.0).values, crs=points.crs)
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(xy).query(xy, k=2)
    spacing = float(np.median(distance[:, 1]))
    spacing = spacing if spacing > 0 else 50.0
    frame = shapely.box(*points.total_bounds).buffer(spacing)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=frame))
    tree = shapely.STRtree(cells)
    point_i, cell_i = tree.query(points.values, predicate="within")
    owner = np.full(len(xy), -1)
    owner[point_i] = cell_i
    disks = shapely.buffer(points.values, 0.75 * spacing, quad_segs=4)
    found = owner >= 0
    areas = disks.copy()
    areas[found] = shapely.intersection(cells[owner[found]], disks[found])
    return gpd.GeoSeries(areas, crs=points.crs)


def _demand_features(frame: gpd.GeoDataFrame, rows: np.ndarray | None = None) -> _Features | None:
    """The features of ``frame`` (its ``rows``, default all) for the demand layers."""
    rows = np.arange(len(frame)) if rows is None else np.asarray(rows, dtype=np.int64)
    geometry = _metric(frame.geometry.iloc[rows].reset_index(drop=True))
    ok = _drawable(geometry)
    rows, geometry = rows[ok], geometry[ok].reset_index(drop=True)
    if not len(rows):
        return None
    polygonal = bool(geometry.geom_type.isin(_POLYGONAL).all())
    kind = "cells" if polygonal else "point"
    if not polygonal:
        geometry = gpd.GeoSeries(geometry.representative_point().values, crs=geometry.crs)
    lonlat = geometry.to_crs(4326)
    origin, geometries, kept = encode_geometries(lonlat.values, "polygon" if polygonal else "point")
    rows, geometry = rows[kept], geometry.iloc[kept].reset_index(drop=True)
    areas = geometry if polygonal else _voronoi_areas(geometry)
    data = {"quantum": QUANTUM_DEG, "origin": origin, "geometries": geometries}
    return _Features(kind=kind, rows=rows, data=data, metric=geometry, areas=areas)


def _view_layer(
    features: _Features,
    shared: SharedData,
    classes: np.ndarray,
    colors: Sequence[str],
    legend: dict[str, Any],
    *,
    name: str,
    show: bool,
    attribution: str | None = None,
) -> VectorLayer:
    """One view of shared demand features: each feature in the colour of its class."""
    spec: dict[str, Any] = {
        "kind": features.kind,
        "shared": shared.key,
        "colors": list(colors),
        "classes": [int(c) for c in classes],
        "colorOption": "fillColor",
        "exclusive": _EXCLUSIVE,
        "attribution": attribution,
        "legend": legend,
    }
    if features.kind == "cells":
        spec.update(style=_CELL_STYLE, highlight=_CELL_HIGHLIGHT)
    else:
        spec.update(style=_POINT_STYLE, highlight=_POINT_HIGHLIGHT, unhighlight=_POINT_UNHIGHLIGHT)
    return VectorLayer(spec, name=name, show=show)


def _legend_item(features: _Features | None, color: str, label: str, **more: Any) -> dict[str, Any]:
    """A legend row whose swatch looks like the features: a filled square, or a dot."""
    if features is not None and features.kind == "point":
        return {"kind": "point", "color": color, "label": label, **more}
    return {"kind": "fill", "color": color, "label": label,
            "opacity": _CELL_STYLE["fillOpacity"], **more}  # fmt: skip


def _lines(attribution: Any) -> list[str]:
    """Credit lines: one text, or a list of them."""
    if attribution is None:
        return []
    if isinstance(attribution, str):
        return [attribution]
    try:
        return [str(line) for line in attribution]
    except TypeError:
        msg = f"attribution must be a text or a list of texts; got {type(attribution).__name__}"
        raise InputError(msg) from None


def _people_word(weight: str | None) -> str:
    """What a weight column counts, in a phrase: ``"pop_65plus"`` -> ``"people"``.

    Examples
    --------
    >>> _people_word("pop"), _people_word("beds_needed"), _people_word(None)
    ('people', 'beds needed', 'demand points')
    """
    if weight is None:
        return "demand points"
    if weight.startswith("pop") or weight in ("people", "population", "weight"):
        return "people"
    return group_label(weight).lower()


def _people_label(text: str, people: float, total: float) -> str:
    """``"Covered: 1,234 (56%)"``."""
    share = _percent(people / total) if total > 0 else "n/a"
    return f"{text}: {people:,.0f} ({share})"


def _site_names(frame: gpd.GeoDataFrame, ids: Sequence[Any]) -> list[str]:
    """The ``name`` of each site where it has one, else its id (as text)."""
    names = frame["name"].tolist() if "name" in frame.columns else [None] * len(frame)
    out = []
    for name, ident in zip(names, ids, strict=True):
        missing = name is None or (isinstance(name, float) and np.isnan(name))
        out.append(str(ident) if missing or not str(name).strip() else str(name))
    return out


def _sites_layer(
    frame: gpd.GeoDataFrame,
    columns: list[dict[str, Any]],
    sizes: Any,
    *,
    name: str,
    legend: dict[str, Any],
    attribution: str | None = None,
) -> VectorLayer | None:
    """Sites as circles sized by ``sizes``, hover and click showing ``columns``.

    ``frame`` and every column have one row per site; rows with no geometry
    are left out.
    """
    ok = _drawable(frame.geometry)
    if not ok.any():
        return None
    points = frame.geometry[ok]
    if not (points.geom_type == "Point").all():
        points = points.representative_point()
    origin, geometries, kept = encode_geometries(points.to_crs(4326).values, "point")
    rows = np.flatnonzero(ok)[kept]
    picked = []
    for column in columns:
        column = dict(column)
        for key in ("values", "codes"):
            if key in column:
                column[key] = [column[key][i] for i in rows]
        picked.append(column)
    spec = {
        "kind": "point",
        "quantum": QUANTUM_DEG,
        "origin": origin,
        "geometries": geometries,
        "columns": picked,
        "titleColumn": 0,
        "style": {**_SITE_STYLE, "fillColor": _SITE_COLOR},
        "colorOption": "fillColor",
        "radii": site_radii(np.asarray(sizes, dtype=float)[rows]).tolist(),
        "popup": True,
        "highlight": _SITE_HIGHLIGHT,
        "unhighlight": _SITE_UNHIGHLIGHT,
        "attribution": attribution,
        "legend": legend,
    }
    return VectorLayer(spec, name=name)


# =========================================================================================
# isochrones
# =========================================================================================
@dataclass(frozen=True)
class _Bands:
    minutes: np.ndarray  # the times, increasing
    shapes: gpd.GeoSeries  # one polygon per time: the area first reached within it (metric)
    areas_km2: np.ndarray  # each band's area
    sites: int  # the sites with an area
    per_site: pd.DataFrame  # km2 reached, site by time (cumulative)


def _check_isochrones(isochrones: Any) -> gpd.GeoDataFrame:
    if not isinstance(isochrones, gpd.GeoDataFrame):
        msg = (
            "isochrones must be the GeoDataFrame that svcnet.isochrones returns; "
            f"got {type(isochrones).__name__}"
        )
        raise InputError(msg, layer="isochrones")
    if "minutes" not in isochrones.columns:
        msg = "isochrones need a 'minutes' column (as svcnet.isochrones returns)"
        raise InputError(msg, layer="isochrones", column="minutes")
    if isochrones.crs is None:
        raise InputError("isochrones have no CRS", layer="isochrones")
    minutes = pd.to_numeric(isochrones["minutes"], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(minutes) | (minutes <= 0)
    if bad.any():
        msg = "isochrone minutes must be positive numbers"
        raise InputError(msg, layer="isochrones", column="minutes",
                         rows=isochrones.index[bad].tolist())  # fmt: skip
    shapes = isochrones.geometry
    drawn = _drawable(shapes)
    if not (shapes[drawn].geom_type.isin(_POLYGONAL)).all():
        msg = "isochrones must be polygons"
        raise InputError(msg, layer="isochrones", column="geometry")
    return isochrones


def _bands(isochrones: gpd.GeoDataFrame) -> _Bands:
    frame = _metric(isochrones)
    minutes = pd.to_numeric(frame["minutes"]).to_numpy(float)
    shapes = frame.geometry.to_numpy()
    drawn = np.asarray([g is not None and not g.is_empty for g in shapes])
    times = np.unique(minutes)
    bands, areas, reached = [], [], shapely.Polygon()
    for time in times:
        upto = shapely.union_all(shapes[drawn & (minutes <= time)])
        upto = shapely.make_valid(shapely.simplify(upto, _ISO_SIMPLIFY_M))
        band = shapely.difference(upto, reached) if not reached.is_empty else upto
        bands.append(band)
        areas.append(float(shapely.area(band)) / 1e6)
        reached = upto
    site = frame["site_id"] if "site_id" in frame.columns else pd.Series([None] * len(frame))
    per_site = (
        pd.DataFrame(
            {"site": site.to_numpy(), "minutes": minutes, "km2": shapely.area(shapes) / 1e6 * drawn}
        )  # fmt: skip
        .pivot_table(index="site", columns="minutes", values="km2", aggfunc="max", sort=False)
        .reindex(columns=times)
    )
    return _Bands(
        minutes=times,
        shapes=gpd.GeoSeries(bands, crs=frame.crs),
        areas_km2=np.array(areas),
        sites=int(pd.Series(site.to_numpy()[drawn]).nunique())
        if "site_id" in frame.columns
        else int(drawn.sum()),
        per_site=per_site,
    )


def _iso_colors(n: int) -> list[str]:
    colormap = matplotlib.colormaps[_ISO_CMAP]
    if n == 1:
        return [matplotlib.colors.to_hex(colormap(0.75))]
    return [matplotlib.colors.to_hex(colormap(x)) for x in np.linspace(0.92, 0.5, n)]


def _band_label(low: float, high: float) -> str:
    return f"within {high:g} min" if low == 0 else f"{low:g} – {high:g} min"


def _isochrone_layer(
    bands: _Bands, *, name: str | None = None, attribution: str | None = None
) -> VectorLayer | None:
    lonlat = bands.shapes.to_crs(4326)
    origin, geometries, kept = encode_geometries(lonlat.values, "polygon")
    if not len(kept):
        logger.info("the isochrones are empty: no isochrone layer")
        return None
    colors = _iso_colors(len(bands.minutes))
    lows = np.r_[0.0, bands.minutes[:-1]]
    labels = [_band_label(lo, hi) for lo, hi in zip(lows, bands.minutes, strict=True)]
    reached = np.cumsum(bands.areas_km2)
    spec = {
        "kind": "polygon",
        "quantum": QUANTUM_DEG,
        "origin": origin,
        "geometries": geometries[::-1],  # the farthest band first, the nearest drawn over it
        "columns": [],  # not interactive: the demand drawn below keeps its tooltips
        "style": _ISO_STYLE,
        "colorOption": "color",
        "colors": colors,
        "classes": [int(k) for k in kept[::-1]],
        "attribution": attribution,
        "legend": {
            "title": "Isochrones (minutes along the streets)",
            "note": f"Reached from any of {bands.sites:,} sites; each band is the area first "
            "reached within its time.",
            "items": [
                {
                    "kind": "fill",
                    "color": c,
                    "opacity": 0.5,
                    "label": f"{label}: {a:,.2f} km² ({r:,.2f} km² in all)",
                }
                for c, label, a, r in zip(colors, labels, bands.areas_km2, reached, strict=True)
            ],  # fmt: skip
        },
    }
    times = ", ".join(f"{t:g}" for t in bands.minutes)
    return VectorLayer(spec, name=name or f"Isochrones ({times} min)")


def _isochrone_columns(bands: _Bands, site_ids: Sequence[Any]) -> list[dict[str, Any]]:
    """Per-site columns "Area within t min (km²)" for the sites' popups."""
    per_site = bands.per_site
    lookup = {str(k): k for k in per_site.index}
    keys = [lookup.get(str(s)) for s in site_ids]
    if all(k is None for k in keys):
        return []
    columns = []
    for time in per_site.columns:
        values = [None if k is None else per_site.at[k, time] for k in keys]
        series = pd.Series(values, dtype=float).round(2)
        columns.append(encode_column(series, f"Area within {time:g} min (km²)"))
    return columns


def isochrone_layer(
    isochrones: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    sites: gpd.GeoDataFrame | None = None,
    site_id: str | None = None,
    name: str | None = None,
    attribution: Sequence[str] = (),
    tiles: str | folium.TileLayer | None = "OpenStreetMap",
    attr: str | None = None,
) -> folium.Map:
    """Draw isochrones (:func:`svcnet.isochrones`) as one band per time, with a legend.

    Each band is the area first reached within its time from any site (the
    union of the sites' polygons at that time, less the nearer bands), the
    nearest darkest; the legend gives each band's area and the area reached in
    all. The bands take no mouse events, so that the demand drawn below them
    keeps its tooltips. With ``sites``, the sites are drawn too; hovering or
    clicking one shows the area it reaches within each time.

    Parameters
    ----------
    isochrones
        What :func:`svcnet.isochrones` returns: ``site_id``, ``minutes`` and
        polygons (empty ones are skipped), any CRS.
    m
        A map to add the layers to (its view is left alone); a new one when None.
    sites
        The sites the isochrones were made for, to draw with their areas.
    site_id
        The column of ``sites`` holding the isochrones' ``site_id``; default
        the index.
    name
        The layer's name in the layer control; default "Isochrones (5, 10 min)".
    attribution
        Credits of the data (shown while the layers are on), e.g. a region's
        ``attribution``: the street network's OpenStreetMap credit.
    tiles, attr
        The basemap of a new map (see :func:`svcnet.viz.explore_region`);
        None for none (offline review).

    Returns
    -------
    folium.Map

    Raises
    ------
    InputError
        ``isochrones`` is not a GeoDataFrame of polygons with positive
        ``minutes`` and a CRS; ``sites`` lacks ``site_id``; ``m`` is not a map.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> iso = gpd.GeoDataFrame({"site_id": ["a", "a"], "minutes": [5.0, 10.0]},
    ...     geometry=[Point(800000, 2495000).buffer(r) for r in (300, 700)], crs=32649)
    >>> m = isochrone_layer(iso, tiles=None)
    >>> [c.layer_name for c in m._children.values() if hasattr(c, "spec_js")]
    ['Isochrones (5, 10 min)']
    """
    _check_map(m)
    isochrones = _check_isochrones(isochrones)
    if sites is not None:
        sites = check_geodataframe(sites, layer="sites", id_column=site_id)
    if m is None:
        shapes = [isochrones.geometry] + ([sites.geometry] if sites is not None else [])
        m = _new_map("Isochrones (svcnet)", shapes, tiles, attr)
    bands = _bands(isochrones)
    credit = attribution_html(_lines(attribution))
    layers = [_isochrone_layer(bands, name=name, attribution=credit)]
    if sites is not None:
        ids = (sites[site_id] if site_id else sites.index.to_series()).tolist()
        columns = [
            encode_column(pd.Series(_site_names(sites, ids)), ""),
            encode_column(pd.Series([str(i) for i in ids]), "Site id"),
            *_isochrone_columns(bands, ids),
        ]
        widest = bands.per_site.max(axis=1)
        lookup = {str(k): v for k, v in widest.items()}
        sizes = [lookup.get(str(k), 0.0) for k in ids]
        legend = {"title": None, "note": None,
                  "items": [{"kind": "point", "color": _SITE_COLOR,
                             "label": f"Site ({len(sites):,})"}]}  # fmt: skip
        layers.append(_sites_layer(sites, columns, sizes, name=f"Sites ({len(sites):,})",
                                  legend=legend, attribution=credit))  # fmt: skip
    _finish_map(m, layers, None)
    return m


# =========================================================================================
# coverage
# =========================================================================================
def _frame_ids(frame: gpd.GeoDataFrame, id_column: str | None, wanted: pd.Index,
               layer: str, argument: str) -> tuple[str | None, pd.Index]:  # fmt: skip
    """The ids of ``frame`` that the costs use: ``id_column``, the index, or a column.

    Without ``id_column``: the index or the column sharing the most ids with
    the costs (then :func:`_align` names any that differ).
    """
    if id_column is not None:
        if id_column not in frame.columns:
            raise InputError(f"the {layer} frame has no such column", layer=layer,
                             column=id_column)  # fmt: skip
        return id_column, pd.Index(frame[id_column])
    options: list[tuple[str | None, pd.Index]] = [(None, pd.Index(frame.index))]
    options += [
        (str(c), pd.Index(frame[c])) for c in frame.columns
        if c != frame.geometry.name and frame[c].dtype != float
    ]  # fmt: skip
    shared = [int(labels.isin(wanted).sum()) for _, labels in options]
    best = int(np.argmax(shared))
    if shared[best] == 0:
        msg = (
            f"none of the costs' ids is in the {layer}'s index or in one of its columns; "
            f"pass {argument}= (the column given to costs_from_points/costs_from_graph)"
        )
        raise InputError(msg, layer=layer)
    return options[best]


def _align(frame: gpd.GeoDataFrame, labels: pd.Index, wanted: pd.Index, layer: str,
           column: str | None) -> np.ndarray:  # fmt: skip
    """Positions of the rows of ``frame`` in the order of the costs' ids ``wanted``."""
    if labels.has_duplicates:
        dup = labels[labels.duplicated()].unique().tolist()
        raise InputError(f"the {layer} ids are not unique", layer=layer, column=column, rows=dup)
    if wanted.has_duplicates:
        dup = wanted[wanted.duplicated()].unique().tolist()
        raise InputError(f"the costs hold {layer} ids twice", layer=layer, rows=dup)
    missing = wanted[~wanted.isin(labels)]
    if len(missing):
        msg = f"{len(missing):,} ids of the costs are not in the {layer} frame"
        raise InputError(msg, layer=layer, column=column, rows=missing.tolist())
    extra = labels[~labels.isin(wanted)]
    if len(extra):
        msg = f"{len(extra):,} rows of the {layer} frame have no place in the costs"
        raise InputError(msg, layer=layer, column=column, rows=extra.tolist())
    return labels.get_indexer(wanted)


@dataclass(frozen=True)
class CoverageNumbers:
    """Per demand row (in the costs' order) and in total, as the coverage map shows them.

    ``nearest`` is the cost to the nearest site (``inf``: none within the
    costs' cutoff), ``covered`` whether it is within the threshold,
    ``nearest_site`` its position among the sites (-1: none).
    """

    people: np.ndarray
    nearest: np.ndarray
    covered: np.ndarray
    nearest_site: np.ndarray
    total: float
    covered_people: float
    not_covered_people: float


def coverage_numbers(costs: Any, people: np.ndarray, threshold: float) -> CoverageNumbers:
    """Coverage of ``people`` (one per demand row) from :mod:`svcnet.access`.

    Examples
    --------
    >>> from svcnet.costs import CostMatrix
    >>> costs = CostMatrix.from_dense([[3.0, 9.0], [12.0, np.inf]], unit="min")
    >>> n = coverage_numbers(costs, np.array([100.0, 50.0]), 10)
    >>> n.covered.tolist(), n.covered_people, n.not_covered_people
    ([True, False], 100.0, 50.0)
    """
    from svcnet import access

    matrix = costs.matrix if hasattr(costs, "matrix") else costs
    nearest = access.nearest_cost(matrix)
    covered = access.within(costs, threshold)
    site = access.nearest_site(matrix)
    total = float(people.sum())
    return CoverageNumbers(
        people=people,
        nearest=nearest,
        covered=covered,
        nearest_site=np.asarray(site, dtype=np.int64),
        total=total,
        covered_people=float(people[covered].sum()),
        not_covered_people=float(people[~covered].sum()),
    )


def _cost_classes(nearest: np.ndarray, threshold: float) -> tuple[np.ndarray, list[str], list[str]]:
    """Classes of the nearest cost in steps of the threshold; the last: none in reach."""
    ok = np.isfinite(nearest)
    largest = float(nearest[ok].max()) if ok.any() else threshold
    bounds = minute_classes(threshold, max(largest, 1e-12))
    classes = np.where(ok, np.searchsorted(bounds, np.where(ok, nearest, 0), side="left"), -1)
    inside = int((bounds <= threshold).sum())
    colors = [*_MINUTE_WITHIN[:inside], *_MINUTE_BEYOND[: len(bounds) - inside]]
    labels, low = [], 0.0
    for k, bound in enumerate(bounds):
        last_open = k == len(bounds) - 1 and k >= len(_MINUTE_STEPS)
        labels.append(f"over {low:g}" if last_open else f"{low:g} – {bound:g}")
        low = bound
    classes = np.where(classes < 0, len(bounds), classes)
    return classes, [*colors, _NONE], labels


def explore_coverage(
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    costs: Any,
    *,
    threshold: float,
    weight: str = "pop",
    m: folium.Map | None = None,
    demand_id: str | None = None,
    site_id: str | None = None,
    view: str = "coverage",
    isochrones: gpd.GeoDataFrame | None = None,
    attribution: Sequence[str] = (),
    tiles: str | folium.TileLayer | None = "OpenStreetMap",
    attr: str | None = None,
) -> folium.Map:
    """A folium map of who is within ``threshold`` of a site: covered and not covered.

    Layers (each with its legend, shown while the layer is on):

    * two views of the demand, one at a time: ``"coverage"``, covered (a site
      within the threshold) and not covered, the legend giving the people of
      each; ``"cost"``, the cost to the nearest site in steps of the
      threshold. Demand rows with nobody are not drawn. Hovering a cell or
      point shows its id, its people, the cost to its nearest site and that
      site's name;
    * the isochrones, when given (see :func:`isochrone_layer`);
    * the sites, circles sized by the people within the threshold whose
      nearest site they are; hovering or clicking one shows those numbers
      (and, with isochrones, the area it reaches within each time).

    The numbers are those of :func:`svcnet.access.nearest_cost`,
    :func:`~svcnet.access.within` and :func:`~svcnet.access.nearest_site`.

    Parameters
    ----------
    demand, sites
        The frames the costs were made from (cells or points; any CRS). Their
        rows are matched to the costs by id, in any order.
    costs
        A :class:`svcnet.CostMatrix` from :func:`svcnet.costs_from_points` or
        :func:`svcnet.costs_from_graph` (or an array / scipy.sparse matrix
        whose rows and columns are the frames' rows, in order).
    threshold
        The largest cost that counts as covered, in the costs' unit (metres
        or minutes); not beyond the costs' cutoff.
    weight
        The demand column counted (people).
    m
        A map to add the layers to (its view is left alone; layer names it
        already has get a number); a new one when None.
    demand_id, site_id
        The columns holding the costs' origin and destination ids; default
        the index, or the column that holds the most of those ids.
    view
        The view of the demand shown first: one of :data:`COVERAGE_VIEWS`.
    isochrones
        What :func:`svcnet.isochrones` returns, drawn as a layer.
    attribution
        Credits of the data (shown while the layers are on), e.g. a region's
        ``attribution``.
    tiles, attr
        The basemap of a new map (see :func:`svcnet.viz.explore_region`);
        None for none (offline review).

    Returns
    -------
    folium.Map

    Raises
    ------
    InputError
        A frame is not a GeoDataFrame or lacks ``weight``; the ids of the
        costs and the frames differ (the message names them); ``threshold``
        is negative or beyond the cutoff; ``view`` is unknown; ``m`` is not a map.

    Examples
    --------
    >>> import geopandas as gpd
    >>> import svcnet
    >>> from shapely.geometry import Point
    >>> homes = gpd.GeoDataFrame({"pop": [120, 80]},
    ...     geometry=[Point(800000, 2495000), Point(800900, 2495000)], crs=32649)
    >>> clinic = gpd.GeoDataFrame({"name": ["Clinic"]},
    ...     geometry=[Point(800100, 2495000)], crs=32649)
    >>> costs = svcnet.costs_from_points(homes, clinic, cutoff=2000)
    >>> m = explore_coverage(homes, clinic, costs, threshold=500, tiles=None)
    >>> [c.layer_name for c in m._children.values() if hasattr(c, "spec_js")]
    ['Coverage within 500 m', 'Nearest site (metres)', 'Sites (1)']
    """
    _check_map(m)
    if view not in COVERAGE_VIEWS:
        msg = f"view must be one of {', '.join(COVERAGE_VIEWS)}; got {view!r}"
        raise InputError(msg)
    demand = check_geodataframe(demand, layer="demand", required=[weight])
    sites = check_geodataframe(sites, layer="sites")
    people = pd.to_numeric(demand[weight], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(people) | (people < 0)
    if bad.any():
        msg = f"{weight!r} must hold non-negative numbers"
        raise InputError(msg, layer="demand", column=weight, rows=demand.index[bad].tolist())
    from svcnet.costs import CostMatrix

    if isinstance(costs, CostMatrix):
        demand_id, demand_labels = _frame_ids(demand, demand_id, costs.origin_ids, "demand",
                                              "demand_id")  # fmt: skip
        site_id, site_labels = _frame_ids(sites, site_id, costs.destination_ids, "sites",
                                          "site_id")  # fmt: skip
        d_pos = _align(demand, demand_labels, pd.Index(costs.origin_ids), "demand", demand_id)
        s_pos = _align(sites, site_labels, pd.Index(costs.destination_ids), "sites", site_id)
        unit, mode = costs.unit, costs.mode
    else:
        shape = np.shape(costs)
        if shape != (len(demand), len(sites)):
            msg = (f"costs have shape {shape}, but there are {len(demand)} demand rows and "
                   f"{len(sites)} sites")  # fmt: skip
            raise InputError(msg)
        d_pos, s_pos = np.arange(len(demand)), np.arange(len(sites))
        unit, mode = None, None
        site_labels = pd.Index(sites[site_id]) if site_id else pd.Index(sites.index)
        demand_labels = pd.Index(demand[demand_id]) if demand_id else pd.Index(demand.index)
    demand = demand.iloc[d_pos]
    sites = sites.iloc[s_pos]
    demand_ids = demand_labels.take(d_pos)
    site_ids = site_labels.take(s_pos)
    people = people[d_pos]
    numbers = coverage_numbers(costs, people, threshold)
    bands = _bands(_check_isochrones(isochrones)) if isochrones is not None else None
    credit = attribution_html(_lines(attribution))

    label, suffix = _unit_words(unit)
    t_text = f"{threshold:g}{suffix}"
    group = group_label(weight)
    word = _people_word(weight)
    names = _site_names(sites, site_ids.tolist())
    features = _demand_features(demand, np.flatnonzero(people > 0))
    if m is None:
        shapes = [sites.geometry] + ([features.metric] if features is not None else [])
        m = _new_map(f"Coverage within {t_text} (svcnet)", shapes, tiles, attr)

    layers: list[VectorLayer | None] = []
    if features is not None:
        rows = features.rows
        near = numbers.nearest[rows]
        site_of = numbers.nearest_site[rows]
        cutoff = getattr(costs, "cutoff", None)
        reach_text = f"within {cutoff:g}{suffix} (the cutoff)" if cutoff is not None else "in reach"
        none_text = f"none {reach_text}"
        shared = SharedData({
            **features.data,
            "columns": [
                encode_column(pd.Series([str(i) for i in demand_ids.take(rows)]), "Demand"),
                encode_column(pd.Series(people[rows]), group),
                {**encode_column(pd.Series(np.where(np.isfinite(near), near, np.nan)).round(1),
                                 f"{label} to the nearest site"), "missing": none_text},
                encode_column(pd.Series([names[s] if s >= 0 else None for s in site_of],
                                        dtype=object), "Nearest site"),
                encode_column(pd.Series(numbers.covered[rows]), f"Within {t_text}"),
            ],
            "titleColumn": 0,
        })  # fmt: skip
        shared.add_to(m)
        drawn_people = people[rows]
        covered = numbers.covered[rows]
        note = f"Nearest site within {t_text}"
        note += f" ({mode}, {label.lower()})." if mode else "."
        dropped = int((people == 0).sum())
        if dropped:
            note += f" Demand with nobody ({dropped:,}) is not drawn."
        coverage_legend = {
            "title": f"Coverage within {t_text} ({group.lower()})",
            "note": note,
            "items": [
                _legend_item(features, _WITHIN, _people_label(
                    "Covered", numbers.covered_people, numbers.total)),
                _legend_item(features, _BEYOND, _people_label(
                    "Not covered", numbers.not_covered_people, numbers.total)),
            ],
        }  # fmt: skip
        layers.append(_view_layer(features, shared, np.where(covered, 0, 1), [_WITHIN, _BEYOND],
                                 coverage_legend, name=f"Coverage within {t_text}",
                                 show=view == "coverage", attribution=credit))  # fmt: skip
        classes, colors, labels = _cost_classes(near, threshold)
        counts = np.bincount(classes, weights=drawn_people, minlength=len(colors))
        items = [
            _legend_item(features, c, f"{text}{suffix} ({n:,.0f} {word})")
            for c, text, n in zip(colors[:-1], labels, counts[:-1], strict=True)
        ]
        if (classes == len(colors) - 1).any():
            text = f"None {reach_text.removesuffix(' (the cutoff)')} ({counts[-1]:,.0f} {word})"
            items.append(_legend_item(features, _NONE, text))
        cost_legend = {
            "title": f"Nearest site ({label.lower()})",
            "note": f"Blue within {t_text}, orange to red beyond it.",
            "items": items,
        }
        layers.append(_view_layer(features, shared, classes, colors, cost_legend,
                                 name=f"Nearest site ({label.lower()})",
                                 show=view == "cost", attribution=credit))  # fmt: skip
    else:
        logger.info("no demand with people to draw")
    if bands is not None:
        layers.append(_isochrone_layer(bands, attribution=credit))

    reach = numbers.nearest_site
    served_within = np.bincount(reach[numbers.covered], weights=people[numbers.covered],
                                minlength=len(sites))  # fmt: skip
    nearest_of = np.bincount(reach[reach >= 0], weights=people[reach >= 0], minlength=len(sites))
    columns = [
        encode_column(pd.Series(names), ""),
        encode_column(pd.Series([str(i) for i in site_ids]), "Site id"),
        encode_column(pd.Series(served_within), f"{word.capitalize()} nearest, within {t_text}"),
        encode_column(pd.Series(nearest_of), f"{word.capitalize()} nearest, in all"),
    ]
    if bands is not None:
        columns += _isochrone_columns(bands, site_ids.tolist())
    sites_legend = {
        "title": None,
        "note": f"Circle area shows the {word} within {t_text} whose nearest site it is.",
        "items": [{"kind": "point", "color": _SITE_COLOR, "label": f"Site ({len(sites):,})"}],
    }
    layers.append(_sites_layer(sites, columns, served_within, name=f"Sites ({len(sites):,})",
                              legend=sites_legend, attribution=credit))  # fmt: skip
    share = _percent(numbers.covered_people / numbers.total) if numbers.total > 0 else "n/a"
    heading = (
        f"Coverage within {t_text}: {share} of {numbers.total:,.0f} {word} covered by "
        f"{len(sites):,} sites; {numbers.not_covered_people:,.0f} not covered"
    )
    _finish_map(m, layers, heading)
    return m
