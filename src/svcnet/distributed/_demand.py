"""Dasymetric population grids on a Dask cluster, equal to one machine's.

A unit's counts are shared among its own cell pieces by its own weights and
rounded within it (:func:`svcnet.demand.spread_counts`), so units can be
spread in groups: each group goes to a worker with the grid cells that meet
its units and the ancillary points inside its extent, and the pieces come back
in the one-machine order (by cell, then unit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from svcnet.distributed._cluster import run_tasks
from svcnet.distributed._tiles import BoxIndex

__all__ = ["spread_on_cluster"]

#: Units per group at most (a group is one task).
_GROUP_UNITS = 200


def _groups(units: gpd.GeoDataFrame, n_workers: int) -> list[np.ndarray]:
    """Positions of the units in groups of neighbours (by centroid, west to east in bands)."""
    n = len(units)
    count = min(n, max(2 * n_workers, math.ceil(n / _GROUP_UNITS)))
    centre = shapely.get_coordinates(units.geometry.centroid.values)
    order = np.lexsort((centre[:, 1], centre[:, 0]))
    return [np.sort(part) for part in np.array_split(order, count) if len(part)]


def spread_on_cluster(
    client: Any,
    units: gpd.GeoDataFrame,
    counts: Sequence[str],
    grid: gpd.GeoDataFrame,
    points: np.ndarray,
    values: np.ndarray,
    *,
    unit_id: str,
    completeness: Mapping[object, float] | pd.Series | None,
    integer: bool,
    progress: bool = True,
) -> gpd.GeoDataFrame:
    """:func:`svcnet.demand.spread_counts` by groups of units on the cluster, stitched in order.

    Examples
    --------
    >>> spread_on_cluster(client, units, ["pop"], grid, points, values,
    ...                   unit_id="district", completeness=None, integer=True)  # doctest: +SKIP
    """
    workers = max(len(client.scheduler_info().get("workers", {})), 1)
    tree = shapely.STRtree(grid.geometry.values)
    index = BoxIndex(shapely.get_coordinates(points)) if len(points) else None
    given = None if completeness is None else pd.Series(completeness, dtype=float)
    arguments = []
    for group in _groups(units, workers):
        part = units.iloc[group]
        _, hit = tree.query(part.geometry.values, predicate="intersects")
        near = index.inside(tuple(part.total_bounds)) if index is not None else np.zeros(0, int)
        arguments.append((part, list(counts), grid.iloc[np.unique(hit)], points[near],
                          values[near], unit_id, given, integer))  # fmt: skip
    results = run_tasks(client, _spread_group, arguments, desc="population by unit group",
                        progress=progress)  # fmt: skip
    out = pd.concat(results, ignore_index=True)
    cell_pos = pd.Index(grid["cell_id"]).get_indexer(out["cell_id"])
    unit_pos = pd.Index(units[unit_id]).get_indexer(out[unit_id])
    order = np.lexsort((unit_pos, cell_pos))
    return gpd.GeoDataFrame(out.iloc[order].reset_index(drop=True), crs=units.crs)


def _spread_group(
    units: gpd.GeoDataFrame, counts: list[str], grid: gpd.GeoDataFrame, points: np.ndarray,
    values: np.ndarray, unit_id: str, completeness: pd.Series | None, integer: bool,
) -> gpd.GeoDataFrame:  # fmt: skip
    """One group of units, on a worker."""
    from svcnet.demand import spread_counts

    return spread_counts(units, counts, grid, points, values, unit_id=unit_id,
                         completeness=completeness, integer=integer)  # fmt: skip
