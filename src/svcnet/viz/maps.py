"""Folium maps of a Region: the population grid, boundaries and facilities.

The maps are made for review: a basemap that can be switched off (or none at
all, offline), a metric scale bar, a layer control, a legend for every coloured
layer, and tooltips with the numbers. The population is coloured by classes
that each hold about the same number of people (see :func:`class_breaks`),
because it is very skewed: a linear scale would paint almost every cell the
lightest colour, and plain quantiles would paint the sparse cells of a whole
district as boldly as a city centre.

Layers are sent compactly (see :mod:`svcnet.viz._layers`): cells with nobody
are left out, coordinates are rounded to about a metre, and text from the data
is shown as text, never run as HTML. A city's grid (tens of thousands of
cells) is drawn by a canvas of its own, fast enough to pan and zoom smoothly.
Export with :func:`svcnet.viz.to_html` or :func:`svcnet.viz.save_map` for a
page that works without network.
"""

from __future__ import annotations

import html
import logging
import re
import warnings
from typing import Any

import folium
import geopandas as gpd
import matplotlib
import matplotlib.colors
import numpy as np
import pandas as pd

from svcnet.errors import InputError
from svcnet.viz._layers import (
    QUANTUM_DEG,
    FitView,
    MapHeading,
    ScaleBar,
    VectorLayer,
    encode_column,
    encode_geometries,
)

logger = logging.getLogger(__name__)

__all__ = ["explore_region", "class_breaks"]

_GROUP_LABELS = {
    "pop": "Population",
    "pop_0_14": "Children 0-14",
    "pop_60plus": "Aged 60+",
    "pop_65plus": "Aged 65+",
}
_GRID_STYLE = {"fillOpacity": 0.72}
_GRID_HIGHLIGHT = {"stroke": True, "color": "#111111", "weight": 2, "opacity": 1}
_BOUNDARY_COLOR = "#333333"
_BOUNDARY_WEIGHTS = (3.0, 2.0, 1.2, 0.8)  # coarsest level first
_FACILITY_COLOR = "#1f4e9c"
_FACILITY_STYLE = {"radius": 5, "color": "#ffffff", "weight": 1.5, "fillOpacity": 0.95}
_FACILITY_HIGHLIGHT = {"radius": 8}
_FACILITY_UNHIGHLIGHT = {"radius": 5}
_SCHEMES = ("weightedquantiles", "quantiles", "headtailbreaks", "naturalbreaks",
            "fisherjenkssampled", "equalinterval", "maximumbreaks", "jenkscaspall",
            "prettybreaks")  # fmt: skip
_BLANK_BASEMAP = "No basemap"
_MERGE_RATIO = 1.2  # neighbouring breaks closer than this make one class
# A data credit that says only "(c) OpenStreetMap contributors (ODbL ...)": credited in the
# words of the OpenStreetMap basemap, so that with that basemap it is shown once, not twice.
_OSM_CREDIT_LINE = re.compile(
    r"^\s*(?:©|\(c\)|&copy;)?\s*openstreetmap contributors\s*(?:\(odbl[^)]*\))?\.?\s*$",
    re.IGNORECASE,
)


# =========================================================================================
# classes and colours
# =========================================================================================
def _nice(value: float) -> float:
    """Round to two significant digits (1234 -> 1200, 0.0456 -> 0.046)."""
    if value == 0 or not np.isfinite(value):
        return value
    digits = 1 - int(np.floor(np.log10(abs(value))))
    return float(round(value, digits))


def _weighted_quantiles(y: np.ndarray, k: int) -> np.ndarray:
    """Values below which 1/k, 2/k ... of the total lies (each class: an equal share)."""
    ordered = np.sort(y)
    share = np.cumsum(ordered) / ordered.sum()
    return ordered[np.searchsorted(share, np.arange(1, k) / k, side="left")]


def class_breaks(values: Any, *, scheme: str = "weightedquantiles", k: int = 7) -> np.ndarray:
    """Upper bounds of colour classes for a skewed count such as population.

    The default, ``"weightedquantiles"``, makes classes that hold about equal
    totals: for population, each colour holds about the same number of people,
    so the few dense cells where most people live get most of the colours and
    the many sparse cells share the lightest one. (Plain quantiles give each
    class the same number of *cells*: where a modelled grid spreads a
    district's people evenly, whole districts then look as dense as a city
    centre.) Other schemes come from :func:`mapclassify.classify`.

    The breaks are rounded to two
    significant digits (so the legend reads 1,200 rather than 1,187.43), and
    the last one is the maximum. Breaks less than 20% apart are merged: with
    many tied values (a modelled grid that spreads a district's people evenly)
    quantiles fall on 24, 25 and 26, three classes nobody can tell apart. A
    value ``v`` falls in the first class whose bound is ``>= v``.

    Parameters
    ----------
    values
        The values to classify (at least one; NaN is not allowed).
    scheme
        ``"weightedquantiles"`` (equal totals; the values must not be
        negative), or a mapclassify scheme: ``"quantiles"`` (equal counts),
        ``"headtailbreaks"`` (made for heavy tails), ``"naturalbreaks"`` and
        ``"fisherjenkssampled"`` (both randomised by mapclassify),
        ``"equalinterval"``, ``"maximumbreaks"``, ``"jenkscaspall"`` or
        ``"prettybreaks"``.
    k
        The number of classes asked for (2-12); ties and rounding may give fewer.

    Returns
    -------
    numpy.ndarray
        The upper bounds, increasing; the last is the largest value.

    Raises
    ------
    InputError
        ``scheme`` is unknown, ``k`` out of range, or ``values`` empty, NaN
        or (weighted quantiles) negative.

    Examples
    --------
    >>> people = [1, 2, 3, 10, 20, 50, 100, 1000, 5000, 123456]
    >>> class_breaks(people, scheme="quantiles", k=4).tolist()
    [4.8, 35.0, 780.0, 123456.0]
    >>> class_breaks([10] * 100 + [1000], k=2).tolist()  # half the people live in one cell
    [10.0, 1000.0]
    """
    scheme_key = str(scheme).lower().replace("_", "")
    if scheme_key not in _SCHEMES:
        msg = f"scheme must be one of {', '.join(_SCHEMES)}; got {scheme!r}"
        raise InputError(msg)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= 12:
        msg = f"k (the number of classes) must be an integer from 2 to 12; got {k!r}"
        raise InputError(msg)
    y = np.asarray(values, dtype=float)
    if y.size == 0 or np.isnan(y).any():
        msg = "class_breaks needs at least one value and no NaN"
        raise InputError(msg)
    top = float(y.max())
    if y.min() == top:
        return np.array([top])
    if scheme_key == "weightedquantiles":
        if y.min() < 0:
            msg = "weighted quantiles need values that are not negative (counts of people)"
            raise InputError(msg)
        raw = _weighted_quantiles(y, int(k))
    else:
        import mapclassify

        kwargs: dict[str, Any] = {} if scheme_key == "headtailbreaks" else {"k": int(k)}
        with warnings.catch_warnings():  # "not enough unique values": handled below
            warnings.simplefilter("ignore", UserWarning)
            raw = np.asarray(mapclassify.classify(y, scheme_key, **kwargs).bins, dtype=float)
    breaks: list[float] = []
    for bound in raw[raw < top]:
        nice = _nice(float(bound))
        if nice >= top or (breaks and nice <= breaks[-1]):
            continue
        if breaks and breaks[-1] > 0 and nice / breaks[-1] < _MERGE_RATIO:
            breaks[-1] = nice  # ties make quantiles such as 24, 25, 26: one class
        else:
            breaks.append(nice)
    return np.array([*breaks, top])


def _class_labels(breaks: np.ndarray, low: float, integral: bool) -> list[str]:
    labels = []
    previous = None
    for bound in breaks:
        if integral:
            start = int(np.floor(low)) if previous is None else int(np.floor(previous)) + 1
            end = int(np.floor(bound))
            labels.append(f"{start:,}" if start >= end else f"{start:,} – {end:,}")
        else:
            start_f = low if previous is None else previous
            labels.append(f"{start_f:,.4g} – {bound:,.4g}")
        previous = bound
    return labels


def _palette(cmap: str, n: int) -> list[str]:
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        msg = f"cmap must be a matplotlib colour map name such as 'YlOrRd'; got {cmap!r}"
        raise InputError(msg) from None
    if n == 1:
        return [matplotlib.colors.to_hex(colormap(0.75))]
    return [matplotlib.colors.to_hex(colormap(x)) for x in np.linspace(0.15, 1.0, n)]


# =========================================================================================
# layers
# =========================================================================================
def _to_lonlat(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.to_crs(4326)


def _cell_phrase(grid: gpd.GeoDataFrame) -> str:
    """'100 m' for a grid of 100 m squares, else 'grid'."""
    if not len(grid):
        return "grid"
    from shapely import get_num_coordinates

    side = float(np.sqrt(np.median(grid.area)))
    squares = np.median(get_num_coordinates(grid.geometry.values)) == 5
    if not squares or not np.isfinite(side) or side <= 0:
        return "grid"
    return f"{_nice(side):g} m"


def _unit_column(region: Any, grid: gpd.GeoDataFrame) -> tuple[str, pd.Series] | None:
    """The finest boundary unit of each cell: the grid's own column, or by location."""
    if not region.levels:
        return None
    level = region.levels[-1]
    if level in grid.columns:
        return level, grid[level]
    units = region.boundaries[level][[level, "geometry"]]
    points = gpd.GeoDataFrame(geometry=grid.representative_point(), crs=grid.crs)
    joined = gpd.sjoin(points, units, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return level, joined[level].reindex(grid.index)


def _grid_layer(region: Any, column: str, scheme: str, k: int, cmap: str) -> VectorLayer | None:
    grid = region.population
    label = _GROUP_LABELS.get(column, column)
    cells = _cell_phrase(grid)
    populated = grid[grid[column] > 0]
    dropped = len(grid) - len(populated)
    if not len(populated):
        logger.info("the %s grid has nobody in %r: no grid layer", region.name, column)
        return None
    values = populated[column].to_numpy(dtype=float)
    breaks = class_breaks(values, scheme=scheme, k=k)
    classes = np.searchsorted(breaks, values, side="left")
    colors = _palette(cmap, len(breaks))
    integral = bool(np.all(np.mod(values, 1) == 0))
    labels = _class_labels(breaks, float(values.min()), integral)
    lonlat = _to_lonlat(populated)
    origin, geometries, kept = encode_geometries(lonlat.geometry.values, "polygon")
    if len(kept) < len(populated):
        logger.debug("%d populated cells are empty at map precision", len(populated) - len(kept))
    table = populated.iloc[kept]
    columns = [encode_column(table["cell_id"], "Cell")]
    unit = _unit_column(region, populated)
    if unit is not None:
        columns.append(encode_column(unit[1].iloc[kept], unit[0].replace("_", " ").capitalize()))
    columns += [encode_column(table[g], _GROUP_LABELS.get(g, g)) for g in region.groups]
    if column not in region.groups:
        columns.append(encode_column(table[column], label))
    how = {
        "weightedquantiles": "Classes of about equal population.",
        "quantiles": "Classes of about equal numbers of cells.",
    }.get(str(scheme).lower().replace("_", ""), f"Classes: {scheme}.")
    note = f"{how} Cells with nobody ({dropped:,}) are not drawn."
    unit_word = "cell" if cells == "grid" else f"{cells} cell"
    spec = {
        "kind": "cells",
        "quantum": QUANTUM_DEG,
        "origin": origin,
        "geometries": geometries,
        "columns": columns,
        "titleColumn": 0,
        "style": _GRID_STYLE,
        "colorOption": "fillColor",
        "colors": colors,
        "classes": classes[kept].tolist(),
        "highlight": _GRID_HIGHLIGHT,
        "attribution": _attribution(region),
        "legend": {
            "title": f"{label} per {unit_word} (people)",
            "note": note,
            "items": [
                {"kind": "fill", "color": c, "label": t, "opacity": _GRID_STYLE["fillOpacity"]}
                for c, t in zip(colors, labels, strict=True)
            ],
        },
    }
    name = (
        f"{label} ({region.name}, {cells} cells)" if cells != "grid" else f"{label} ({region.name})"
    )
    return VectorLayer(spec, name=name)


def _boundary_layer(region: Any, level: str, rank: int) -> VectorLayer | None:
    units = region.boundaries[level]
    lonlat = _to_lonlat(units)
    origin, geometries, kept = encode_geometries(lonlat.geometry.values, "line")
    if not len(kept):
        return None
    table = units.iloc[kept]
    title = level.replace("_", " ").capitalize()
    columns = [encode_column(table[level], title)]
    if "name_en" in table.columns:
        columns.append(encode_column(table["name_en"], "Name"))
    sums = region.summary(level).set_index("unit")
    for group in region.groups:
        by_unit = table[level].map(sums[group]) if group in sums.columns else None
        if by_unit is not None:
            columns.append(encode_column(by_unit, _GROUP_LABELS.get(group, group)))
    weight = _BOUNDARY_WEIGHTS[min(rank, len(_BOUNDARY_WEIGHTS) - 1)]
    spec = {
        "kind": "line",
        "quantum": QUANTUM_DEG,
        "origin": origin,
        "geometries": geometries,
        "columns": columns,
        "titleColumn": 0,
        "style": {"color": _BOUNDARY_COLOR, "weight": weight, "opacity": 0.9, "fill": False},
        "colorOption": "color",
        "highlight": {"weight": weight + 2, "color": "#000000"},
        "unhighlight": {"weight": weight, "color": _BOUNDARY_COLOR},
        "attribution": _attribution(region),
        "legend": {
            "title": None,
            "note": None,
            "items": [
                {
                    "kind": "line",
                    "color": _BOUNDARY_COLOR,
                    "weight": weight,
                    "label": f"{title} boundary"
                    if len(kept) == 1
                    else f"{title} boundaries ({len(kept):,})",
                }
            ],
        },
    }
    return VectorLayer(spec, name=f"Boundaries: {level}")


def _facility_layer(region: Any) -> VectorLayer | None:
    facilities = region.facilities
    facilities = facilities[~facilities.geometry.is_empty & facilities.geometry.notna()]
    if not len(facilities):
        return None
    lonlat = _to_lonlat(facilities)
    origin, geometries, kept = encode_geometries(lonlat.geometry.values, "point")
    table = facilities.iloc[kept]
    columns = [encode_column(table["name"], "")]
    columns.append(encode_column(table["service"], "Service"))
    if table["capacity"].notna().any():
        columns.append(encode_column(table["capacity"], "Capacity"))
    columns.append(encode_column(table["facility_id"], "Id"))
    spec = {
        "kind": "point",
        "quantum": QUANTUM_DEG,
        "origin": origin,
        "geometries": geometries,
        "columns": columns,
        "titleColumn": 0,
        "style": {**_FACILITY_STYLE, "fillColor": _FACILITY_COLOR},
        "colorOption": "fillColor",
        "highlight": _FACILITY_HIGHLIGHT,
        "unhighlight": _FACILITY_UNHIGHLIGHT,
        "attribution": _attribution(region),
        "legend": {
            "title": None,
            "note": None,
            "items": [
                {
                    "kind": "point",
                    "color": _FACILITY_COLOR,
                    "label": f"Existing facility ({len(kept):,})",
                }
            ],
        },
    }
    return VectorLayer(spec, name=f"Existing facilities ({len(kept):,})")


def osm_credit() -> str:
    """The OpenStreetMap credit as folium's OpenStreetMap basemap gives it (HTML)."""
    import xyzservices

    return str(xyzservices.providers.OpenStreetMap.Mapnik.html_attribution)


def attribution_html(lines: Any) -> str | None:
    """Data credits as one escaped HTML text, parts joined by ``" | "``.

    A plain OpenStreetMap credit becomes the basemap's own (a link to the
    copyright page, which names the ODbL), so the map shows it once.

    Examples
    --------
    >>> attribution_html(["<b>census</b>"])
    '&lt;b&gt;census&lt;/b&gt;'
    >>> attribution_html(["© OpenStreetMap contributors (ODbL 1.0)"]) == osm_credit()
    True
    """
    parts = []
    for line in lines:
        text = str(line)
        part = osm_credit() if _OSM_CREDIT_LINE.match(text) else html.escape(text)
        if part not in parts:
            parts.append(part)
    return " | ".join(parts) if parts else None


def _attribution(region: Any) -> str | None:
    return attribution_html(region.attribution)


# =========================================================================================
# the map
# =========================================================================================
def _basemap(tiles: Any, attr: str | None) -> folium.TileLayer:
    if isinstance(tiles, folium.TileLayer):
        return tiles
    if not isinstance(tiles, str):
        msg = (
            "tiles must be a basemap name, a tile URL template, a folium.TileLayer or None; "
            f"got {type(tiles).__name__}"
        )
        raise InputError(msg)
    try:
        name = tiles if "{" not in tiles else "Basemap"
        return folium.TileLayer(tiles, attr=attr, name=html.escape(name))
    except ValueError as exc:
        msg = (
            f"tiles={tiles!r} cannot be used ({exc}); a URL template needs attr= (its attribution)"
        )
        raise InputError(msg) from exc


def _keep_layer_control_last(m: folium.Map) -> None:
    """One expanded layer control, rendered after every layer (as Leaflet needs)."""
    for key, child in list(m._children.items()):  # branca has no public way to remove
        if isinstance(child, folium.LayerControl):
            del m._children[key]
    folium.LayerControl(collapsed=False).add_to(m)


def _new_map(region: Any, tiles: Any, attr: str | None) -> folium.Map:
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=True)
    m.get_root().title = html.escape(f"{region.name}: population and services (svcnet)")
    if tiles is not None:
        _basemap(tiles, attr).add_to(m)
        folium.FeatureGroup(name=_BLANK_BASEMAP, overlay=False, show=False).add_to(m)
    ScaleBar().add_to(m)
    grid = region.population
    total = grid["pop"].sum() if "pop" in grid.columns else None
    heading = region.name if total is None else f"{region.name}: population {total:,.0f}"
    MapHeading(heading).add_to(m)
    populated = grid[grid["pop"] > 0] if "pop" in grid.columns else grid
    bounds = _to_lonlat(populated if len(populated) else grid).total_bounds
    if np.all(np.isfinite(bounds)):
        # fitted once the page has laid the map out (an <iframe srcdoc>, a hidden tab)
        FitView([[bounds[1], bounds[0]], [bounds[3], bounds[2]]]).add_to(m)
    return m


def explore_region(
    region: Any,
    m: folium.Map | None = None,
    *,
    column: str = "pop",
    tiles: str | folium.TileLayer | None = "OpenStreetMap",
    attr: str | None = None,
    scheme: str = "weightedquantiles",
    k: int = 7,
    cmap: str = "YlOrRd",
    show_facilities: bool = True,
) -> folium.Map:
    """A folium map of a Region: population grid, boundaries by level, facilities.

    The grid is coloured by classes of ``column`` (see :func:`class_breaks`);
    its tooltip gives the cell's id, its unit and every population group. Each
    boundary level is a layer whose tooltip gives the unit's name and totals;
    facilities show their name, service and capacity. Each layer has its
    legend, shown while the layer is on; a metric scale bar and an expanded
    layer control are added to a new map. Export it for review with
    :func:`svcnet.viz.save_map` (self-contained, works offline).

    Parameters
    ----------
    region
        A :class:`svcnet.Region`.
    m
        A map to add the layers to (its view is left alone); a new one when None.
    column
        The population group to colour the grid by.
    tiles
        The basemap of a new map: a name folium knows (``"OpenStreetMap"``,
        ``"CartoDB positron"`` ...), a tile URL template (with ``attr``), a
        :class:`folium.TileLayer`, or None for none (offline review). With a
        basemap, the layer control also offers "No basemap".
    attr
        The attribution of a tile URL template.
    scheme, k
        How the grid's colour classes are made: see :func:`class_breaks`.
    cmap
        The matplotlib colour map of the classes.
    show_facilities
        Draw the existing facilities.

    Returns
    -------
    folium.Map

    Raises
    ------
    InputError
        ``column`` is not a population group of the grid, or ``tiles``,
        ``scheme``, ``k`` or ``cmap`` is not usable.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from svcnet import Region
    >>> grid = gpd.GeoDataFrame({"cell_id": ["a", "b"], "pop": [5, 0]},
    ...     geometry=[box(800000, 2495000, 800100, 2495100),
    ...               box(800100, 2495000, 800200, 2495100)], crs=32649)
    >>> type(explore_region(Region(grid), tiles=None)).__name__
    'Map'
    """
    grid_columns = region.population.columns
    if column not in grid_columns or column in ("cell_id", "geometry"):
        msg = f"the population grid has no such group; it has {', '.join(region.groups)}"
        raise InputError(msg, layer="population", column=column)
    if not pd.api.types.is_numeric_dtype(region.population[column]):
        msg = "the column to colour the grid by must be numeric"
        raise InputError(msg, layer="population", column=column)
    class_breaks([0.0, 1.0], scheme=scheme, k=k)  # check scheme and k at the door
    _palette(cmap, 2)
    if m is None:
        m = _new_map(region, tiles, attr)
    layers = [_grid_layer(region, column, scheme, k, cmap)]
    layers += [_boundary_layer(region, level, rank) for rank, level in enumerate(region.levels)]
    if show_facilities:
        layers.append(_facility_layer(region))
    for layer in layers:
        if layer is not None:
            layer.add_to(m)
    _keep_layer_control_last(m)
    return m
