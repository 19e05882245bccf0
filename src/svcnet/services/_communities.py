"""Community stand-ins: the areas that play communities, and the unit each point lies in.

Shared by the shelter and charity planners: given polygons (``communities=``)
or the region's finest boundary level stand in for community boundaries.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np

from svcnet.errors import CRSError, InputError


def community_units(
    cells: gpd.GeoDataFrame, region: Any, level: str, communities: Any, group: str
) -> tuple[gpd.GeoDataFrame, str, gpd.GeoDataFrame | None, list[str]]:
    """The cells' ``unit`` from ``communities`` when given, else the finest level (noted).

    Returns the cells (``unit`` replaced when communities are given), the unit
    level's name, the unit polygons (a GeoDataFrame with ``unit`` and geometry,
    or None for a region without boundaries) and notes.
    """
    if communities is None:
        if level == "region":
            return cells, level, None, []
        layer = region.boundaries[level][[level, "geometry"]].rename(columns={level: "unit"})
        layer["unit"] = layer["unit"].astype(str)
        notes = []
        if level != "community":
            notes.append(
                f"The region has no community boundaries: its finest level, {level!r}, "
                f"stands in for communities."
            )
        return cells, level, layer, notes
    layer = community_layer(communities, region.crs)
    labels, notes = units_of_points(
        cells.geometry.representative_point(), layer, "grid cell", "community"
    )
    cells = cells.assign(unit=labels)
    notes.insert(
        0,
        f"Communities are the {len(layer):,} areas given (communities=), standing "
        f"in for community boundaries.",
    )
    return cells, "community", layer, notes


def community_layer(communities: Any, crs: Any) -> gpd.GeoDataFrame:
    """Polygons standing in for communities as a ``unit``/geometry layer in ``crs``.

    The name comes from a ``community``, ``unit`` or ``site_id`` column (the
    first there is; a plan's ``areas`` have ``site_id``), else the index.
    """
    if not isinstance(communities, gpd.GeoDataFrame):
        raise InputError("communities must be a GeoDataFrame of polygons", layer="communities")
    if communities.crs is None:
        raise CRSError("the communities have no CRS", layer="communities")
    if not len(communities):
        raise InputError("communities is empty", layer="communities")
    column = next((c for c in ("community", "unit", "site_id") if c in communities.columns), None)
    labels = communities[column].astype(str) if column else communities.index.astype(str)
    geometry = communities.geometry.to_crs(crs).to_numpy()
    layer = gpd.GeoDataFrame({"unit": np.asarray(labels)}, geometry=geometry, crs=crs)
    if layer["unit"].duplicated().any():
        layer = layer.dissolve(by="unit").reset_index()
    return layer


def units_of_points(
    points: gpd.GeoSeries, layer: gpd.GeoDataFrame, what: str, unit: str = "unit"
) -> tuple[np.ndarray, list[str]]:
    """The ``unit`` of ``layer`` each point lies in; points outside take the nearest (noted).

    ``what`` names the things the points stand for (``"grid cell"``, ``"shelter
    site"``) and ``unit`` the areas (``"community"``), for the note, e.g. "205 grid
    cells lie outside every community and join the nearest one."
    """
    frame = gpd.GeoDataFrame(geometry=points.to_numpy(), crs=layer.crs)
    hit = gpd.sjoin(frame, layer[["unit", "geometry"]], predicate="within", how="left")
    hit = hit[~hit.index.duplicated(keep="first")]
    labels = hit["unit"].reindex(frame.index)
    outside = labels.isna().to_numpy()
    notes = []
    if outside.any():
        near = gpd.sjoin_nearest(frame[outside], layer[["unit", "geometry"]], how="left")
        near = near[~near.index.duplicated(keep="first")]
        labels[outside] = near["unit"].reindex(frame.index[outside]).to_numpy()
        count = int(outside.sum())
        things = what if count == 1 else f"{what}s"
        verb = "lies" if count == 1 else "lie"
        notes.append(f"{count:,} {things} {verb} outside every {unit} and join the nearest one.")
    return labels.astype(str).to_numpy(), notes
