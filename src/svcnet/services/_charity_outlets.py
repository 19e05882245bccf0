"""Where points may go: post and telecom outlets first, then candidate buildings."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from svcnet.errors import CRSError, InputError
from svcnet.services._common import choose_candidates

__all__ = ["OUTLET_SERVICES", "DUPLICATE_M", "Places", "gather_places"]

#: Facility services that count as outlets for donation points.
OUTLET_SERVICES = ("post_office", "telecom")
#: A candidate building this close (metres) to an outlet, or to a candidate of the same
#: name, is the same building: it is dropped (a "new" point there would be the outlet's).
DUPLICATE_M = 10.0


@dataclass(frozen=True)
class Places:
    """Outlets first, then candidate buildings: ids, names, kinds, geometry."""

    frame: gpd.GeoDataFrame
    n_outlets: int


def gather_places(region, outlets, candidates) -> tuple[Places, list[str]]:
    """The outlets and the candidate buildings (less duplicates of outlets), with notes."""
    notes = []
    if outlets is None:
        facilities = region.facilities
        found = facilities[facilities["service"].isin(OUTLET_SERVICES)].reset_index(drop=True)
        ids = found["facility_id"].astype(str).to_numpy()
        kinds = found["service"].astype(str).to_numpy()
    else:
        if not isinstance(outlets, gpd.GeoDataFrame):
            raise InputError("outlets must be a GeoDataFrame of points", layer="outlets")
        if outlets.crs is None:
            raise CRSError("the outlets have no CRS", layer="outlets")
        found = outlets.to_crs(region.crs).reset_index(drop=True)
        column = next((c for c in ("facility_id", "outlet_id") if c in found.columns), None)
        ids = (
            found[column].astype(str).to_numpy()
            if column
            else np.array([f"outlet-{i}" for i in range(len(found))])
        )
        kinds = (
            found["service"].astype(str).to_numpy()
            if "service" in found.columns
            else np.full(len(found), "outlet")
        )
    names = found["name"].to_numpy() if "name" in found.columns else np.full(len(found), None)
    outlet_frame = gpd.GeoDataFrame(
        {"location_id": ids, "name": names, "kind": kinds},
        geometry=found.geometry.representative_point().to_numpy(),
        crs=region.crs,
    )
    if not len(outlet_frame):
        notes.append("There are no post or telecom outlets: every point is at a candidate site.")
    try:
        chosen = choose_candidates(region, candidates, kinds=("building",))
    except InputError:
        if candidates is not None:
            raise
        chosen = region.candidates.iloc[:0]
        notes.append(
            "There are no candidate sites: units without an outlet get a modelled "
            "point at their most populated cell."
        )
    size = (
        pd.to_numeric(chosen["floor_area_m2"], errors="coerce").fillna(0.0).to_numpy()
        if "floor_area_m2" in chosen.columns
        else np.zeros(len(chosen))
    )
    cand_frame = gpd.GeoDataFrame(
        {
            "location_id": chosen["candidate_id"].astype(str).to_numpy(),
            "name": chosen["name"].to_numpy() if "name" in chosen.columns else None,
            "kind": "candidate building",
            "size": size,
        },
        geometry=chosen.geometry.representative_point().to_numpy(),
        crs=region.crs,
    )
    cand_frame, duplicate_notes = _without_duplicates(cand_frame, outlet_frame)
    notes += duplicate_notes
    outlet_frame["size"] = np.inf
    frame = pd.concat([outlet_frame, cand_frame], ignore_index=True)
    dup = frame["location_id"].duplicated()
    if dup.any():
        raise InputError(
            "outlet and candidate ids repeat",
            layer="outlets",
            rows=frame.loc[dup, "location_id"].tolist(),
        )
    return Places(
        gpd.GeoDataFrame(frame, geometry="geometry", crs=region.crs), len(outlet_frame)
    ), notes


def _without_duplicates(
    buildings: gpd.GeoDataFrame, outlets: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Candidate buildings less those that are an outlet's building or repeat another.

    A candidate within :data:`DUPLICATE_M` of an outlet is the outlet's own
    building (the bundled data holds some telecom buildings both as outlets
    and as candidate buildings, under different ids); of candidates of the same
    name within :data:`DUPLICATE_M` of each other the first (largest floor
    area) stays. The note says how many were dropped.
    """
    from scipy.spatial import cKDTree

    if not len(buildings):
        return buildings, []
    xy = np.column_stack([buildings.geometry.x, buildings.geometry.y])
    at_outlet = np.zeros(len(buildings), dtype=bool)
    if len(outlets):
        o_xy = np.column_stack([outlets.geometry.x, outlets.geometry.y])
        dist, _ = cKDTree(o_xy).query(xy, distance_upper_bound=DUPLICATE_M)
        at_outlet = np.isfinite(dist)
    names = buildings["name"].to_numpy(dtype=object)
    order = np.lexsort((np.arange(len(buildings)), -buildings["size"].to_numpy(dtype=float)))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    repeated = np.zeros(len(buildings), dtype=bool)
    for i, j in cKDTree(xy).query_pairs(DUPLICATE_M):
        if isinstance(names[i], str) and names[i] and names[i] == names[j]:
            repeated[j if rank[i] < rank[j] else i] = True
    repeated &= ~at_outlet
    drop = at_outlet | repeated
    if not drop.any():
        return buildings, []
    parts = []
    if at_outlet.any():
        shown = ", ".join(str(n) for n in pd.unique(names[at_outlet]) if isinstance(n, str))
        parts.append(
            f"{int(at_outlet.sum()):,} within {DUPLICATE_M:g} m of an outlet (the outlet's own "
            f"building{'s' if at_outlet.sum() > 1 else ''}{': ' + shown if shown else ''})"
        )
    if repeated.any():
        parts.append(
            f"{int(repeated.sum()):,} within {DUPLICATE_M:g} m of a candidate of the same name"
        )
    count = int(drop.sum())
    note = (
        f"{count:,} candidate building{'s are' if count > 1 else ' is'} dropped as "
        f"duplicate{'s' if count > 1 else ''}: {' and '.join(parts)}."
    )
    return buildings[~drop].reset_index(drop=True), [note]
