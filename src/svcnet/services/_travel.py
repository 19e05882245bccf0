"""Walking (or driving) minutes from demand cells to sites, for the planners.

On the region's street network when it has one; cells or sites that cannot be
put on it (too far from any street, or on a fragment cut off from the rest)
fall back to the straight line times a detour factor, and the plan says so.
Without a network every pair is a straight line times the detour factor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp

from svcnet.costs import MAX_SNAP_M, costs_from_graph, costs_from_points

logger = logging.getLogger(__name__)

#: Walking distance over straight-line distance assumed where there is no street network.
DETOUR_FACTOR = 1.3


@dataclass(frozen=True)
class TravelMinutes:
    """Minutes from each demand row to each site within ``max_minutes`` (sparse).

    Attributes
    ----------
    matrix
        CSR rows x sites; an absent pair is beyond ``max_minutes``.
    straight
        Per demand row: True where its minutes are a straight line times the
        detour factor (no network, or the cell is off the network).
    basis
        ``"network"``, ``"straight line"`` or ``"network, with straight-line fallback"``.
    notes
        Sentences for the plan's notes.
    """

    matrix: sp.csr_matrix
    straight: np.ndarray
    basis: str
    notes: tuple[str, ...]


def _straight_minutes(
    cells, sites, max_minutes, speed_m_per_min, detour, client: Any = None
) -> sp.csr_matrix:
    cutoff_m = max_minutes * speed_m_per_min / detour
    costs = costs_from_points(cells, sites, cutoff=cutoff_m, client=client)
    matrix = costs.matrix.copy()
    matrix.data = matrix.data * detour / speed_m_per_min
    return matrix


def travel_minutes(
    cells: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    *,
    network: object | None,
    max_minutes: float,
    speed_m_per_min: float,
    detour: float = DETOUR_FACTOR,
    mode: str = "walk",
    client: Any = None,
) -> TravelMinutes:
    """Travel minutes from cells to sites up to ``max_minutes``.

    Parameters
    ----------
    cells, sites
        GeoDataFrames in a metric CRS (polygons are taken at a point inside).
    network
        An osmnx graph, or None for straight lines times ``detour``.
    max_minutes
        The largest time kept.
    speed_m_per_min
        Walking (or driving) speed.
    detour
        Network distance over straight-line distance, where there is no network.
    mode
        ``"walk"`` or ``"drive"`` (drive keeps one-way streets).
    client
        Compute the costs on a Dask cluster: a ``dask.distributed.Client`` (or
        what :func:`svcnet.costs_from_graph` takes as ``client``); the minutes
        are the same, value for value. None (default): as those functions
        decide without one (this process, for all but the largest inputs).

    Returns
    -------
    TravelMinutes

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> a = gpd.GeoDataFrame(geometry=[Point(0, 0), Point(600, 0)], crs=32650)
    >>> b = gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=32650)
    >>> t = travel_minutes(a, b, network=None, max_minutes=15, speed_m_per_min=60)
    >>> t.matrix.toarray().round(1).tolist(), t.basis
    ([[0.0], [13.0]], 'straight line')
    """
    if network is None:
        matrix = _straight_minutes(cells, sites, max_minutes, speed_m_per_min, detour, client)
        note = (
            f"No street network: travel times are straight lines x {detour:g} "
            f"at {speed_m_per_min:g} m/min."
        )
        return TravelMinutes(matrix, np.ones(len(cells), bool), "straight line", (note,))
    costs = costs_from_graph(
        network, cells, sites, mode=mode, weight="length",
        cutoff=max_minutes * speed_m_per_min, client=client,
    )  # fmt: skip
    matrix = costs.matrix.copy()
    matrix.data = matrix.data / speed_m_per_min
    off_row = costs.origin_ids.isin(costs.unreachable_origins)
    off_col = costs.destination_ids.isin(costs.unreachable_destinations)
    notes = []
    if off_row.any() or off_col.any():
        fallback = _straight_minutes(cells, sites, max_minutes, speed_m_per_min, detour, client)
        matrix = _patched(matrix, fallback, off_row, off_col)
        notes.append(
            f"{off_row.sum():,} cells and {off_col.sum():,} sites are more than "
            f"{MAX_SNAP_M:g} m from any street of the network (or on a cut-off fragment); "
            f"their times are straight lines x {detour:g}."
        )
    return TravelMinutes(matrix, off_row, _basis(off_row, off_col), tuple(notes))


def _patched(matrix, fallback, off_row: np.ndarray, off_col: np.ndarray) -> sp.csr_matrix:
    """``matrix`` with every pair of an off-network row or column taken from ``fallback``."""
    base, fill = matrix.tocoo(), fallback.tocoo()
    keep = ~(off_row[base.row] | off_col[base.col])
    take = off_row[fill.row] | off_col[fill.col]
    rows = np.concatenate([base.row[keep], fill.row[take]])
    cols = np.concatenate([base.col[keep], fill.col[take]])
    values = np.concatenate([base.data[keep], fill.data[take]])
    out = sp.csr_matrix((values, (rows, cols)), shape=matrix.shape)  # explicit zeros kept
    out.sort_indices()
    return out


def _basis(off_row: np.ndarray, off_col: np.ndarray) -> str:
    """How the minutes were found: a site off the network also means a fallback."""
    if off_row.all():
        return "straight line"
    if off_row.any() or off_col.any():
        return "network, with straight-line fallback"
    return "network"
