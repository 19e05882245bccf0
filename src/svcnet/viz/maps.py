"""Folium maps: the population grid, boundaries and facilities of a Region."""

from __future__ import annotations

import logging
from typing import Any

import folium
import geopandas as gpd
import shapely

logger = logging.getLogger(__name__)

__all__ = ["explore_region"]

_PRECISION_DEG = 1e-5  # about 1 m: enough for a map, and it keeps the HTML small
_GROUP_LABELS = {
    "pop": "Population",
    "pop_0_14": "Children 0-14",
    "pop_60plus": "Aged 60+",
    "pop_65plus": "Aged 65+",
}


def _for_map(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to WGS84 and round coordinates to about a metre."""
    out = frame.to_crs(4326)
    out[out.geometry.name] = shapely.set_precision(out.geometry.values, _PRECISION_DEG)
    return out[~out.geometry.is_empty]


def explore_region(
    region: Any,
    m: folium.Map | None = None,
    *,
    column: str = "pop",
    tiles: str | None = "OpenStreetMap",
    cmap: str = "YlOrRd",
    show_facilities: bool = True,
) -> folium.Map:
    """A folium map of a Region: population grid, boundaries by level, facilities.

    Parameters
    ----------
    region
        A :class:`svcnet.Region`.
    m
        A map to add the layers to; a new one when None.
    column
        The population group to colour the grid by.
    tiles
        The basemap (any folium tiles name), or None for no basemap (offline review).
    cmap
        Matplotlib colour map of the grid.
    show_facilities
        Draw the existing facilities as markers.

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from svcnet import Region
    >>> grid = gpd.GeoDataFrame({"cell_id": ["a"], "pop": [5]},
    ...     geometry=[box(800000, 2495000, 800100, 2495100)], crs=32649)
    >>> type(explore_region(Region(grid), tiles=None)).__name__
    'Map'
    """
    grid = region.population
    if column not in grid.columns:
        from svcnet.errors import InputError

        msg = f"the population grid has no such group; it has {', '.join(region.groups)}"
        raise InputError(msg, layer="population", column=column)
    populated = _for_map(grid[grid[column] > 0])
    if m is None:
        bounds = populated.total_bounds if len(populated) else grid.to_crs(4326).total_bounds
        m = folium.Map(tiles=tiles, control_scale=True, prefer_canvas=True)
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    label = _GROUP_LABELS.get(column, column)
    fields = ["cell_id", *[g for g in region.groups]]
    populated.explore(
        m=m,
        column=column,
        cmap=cmap,
        tooltip=fields,
        tooltip_kwds={"aliases": [f"{_GROUP_LABELS.get(f, f)}:" for f in fields]},
        style_kwds={"weight": 0, "fillOpacity": 0.65},
        legend=True,
        legend_kwds={"caption": f"{label} per cell"},
        name=f"{label} ({region.name} grid)",
    )
    for level, units in region.boundaries.items():
        _for_map(units).explore(
            m=m,
            color="#333333",
            style_kwds={"fill": False, "weight": 2 if level == "district" else 1.2},
            tooltip=[level],
            name=f"Boundaries: {level}",
        )
    facilities = region.facilities
    if show_facilities and len(facilities):
        _for_map(facilities).explore(
            m=m,
            color="#1f4e9c",
            marker_kwds={"radius": 5},
            tooltip=["name", "service"],
            name="Existing facilities",
        )
    folium.LayerControl(collapsed=False).add_to(m)
    return m
