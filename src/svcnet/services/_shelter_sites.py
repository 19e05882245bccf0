"""Shelter sites and their capacity: existing shelters, given open spaces, modelled ones.

Capacity is usable area / m² per person, in whole places. Without an
open-space layer, candidate sites are modelled from school grounds and open
grid cells (see ``plan_shelters``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet.errors import CRSError, InputError
from svcnet.services._common import existing_facilities
from svcnet.services._shelter_norms import Norms

#: Candidate categories whose grounds are modelled as shelter sites.
SCHOOL_CATEGORIES = ("school", "kindergarten", "college", "university")
#: Usable open ground per m² of a campus's floor area (svcnet's estimate, see ``plan_shelters``).
SCHOOL_OPEN_SHARE = 0.4
#: School buildings closer than this (metres) are one campus, sharing one ground.
CAMPUS_LINK_M = 100.0
#: Usable share of a grid cell with no residents and no mapped non-residential building.
OPEN_CELL_SHARE = 0.5


_SHELTER_SERVICES = ("shelter",)


_SITE_COLUMNS = [
    "site_id",
    "name",
    "status",
    "capacity",
    "area_m2",
    "modelled",
    "area_basis",
    "site_type",
]


def existing_shelters(region, existing, existing_capacity, norms: Norms) -> gpd.GeoDataFrame:
    kept = existing_facilities(region, existing, _SHELTER_SERVICES, "shelters")
    ids = kept["facility_id"].astype(str).to_numpy()
    capacity = (
        pd.to_numeric(kept["capacity"], errors="coerce").to_numpy(dtype=float)
        if "capacity" in kept.columns
        else np.full(len(kept), np.nan)
    )
    area = (
        pd.to_numeric(kept["area_m2"], errors="coerce").to_numpy(dtype=float)
        if "area_m2" in kept.columns
        else np.full(len(kept), np.nan)
    )
    basis = np.where(np.isfinite(capacity), "capacity given", "area given")
    capacity = np.where(np.isfinite(capacity), capacity, np.floor(area / norms.area.value))
    if isinstance(existing_capacity, Mapping):
        unknown = sorted(set(map(str, existing_capacity)) - set(ids))
        if unknown:
            raise InputError(
                "existing_capacity names shelters that do not exist", layer="existing", rows=unknown
            )
        for key, value in existing_capacity.items():
            at = ids == str(key)
            capacity[at] = _positive(value, f"existing_capacity[{key!r}]")
            basis[at] = "capacity set by the caller"
    elif existing_capacity is not None:
        missing = ~np.isfinite(capacity)
        capacity[missing] = _positive(existing_capacity, "existing_capacity")
        basis[missing] = "capacity set by the caller"
    missing = ~np.isfinite(capacity)
    if missing.any():
        msg = (
            "existing shelters have neither a capacity (people) nor an area_m2; give "
            "existing_capacity= (people, one number or by facility id) or existing=False"
        )
        raise InputError(msg, layer="facilities", column="capacity", rows=ids[missing].tolist())
    if (capacity < 0).any():
        raise InputError(
            "existing shelter capacities must be >= 0",
            layer="facilities",
            column="capacity",
            rows=ids[capacity < 0].tolist(),
        )
    capacity = np.floor(capacity + 1e-9)  # whole places
    names = kept["name"].to_numpy() if "name" in kept.columns else np.full(len(kept), None)
    return gpd.GeoDataFrame(
        {
            "site_id": ids,
            "name": names,
            "status": "existing",
            "capacity": capacity,
            "area_m2": capacity * norms.area.value,
            "modelled": False,
            "area_basis": basis,
            "site_type": "existing shelter",
        },
        geometry=kept.geometry.to_numpy(),
        crs=region.crs,
    )


def _positive(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a number of people; got {value!r}") from exc
    if not (math.isfinite(number) and number >= 0):
        raise InputError(f"{what} must be a finite number >= 0; got {value!r}")
    return number


def given_sites(sites: Any, area_column: str, crs: Any, norms: Norms):
    if not isinstance(sites, gpd.GeoDataFrame):
        raise InputError("sites must be a GeoDataFrame of open spaces", layer="sites")
    if sites.crs is None:
        raise CRSError("the shelter sites have no CRS", layer="sites")
    id_column = next((c for c in ("site_id", "candidate_id") if c in sites.columns), None)
    ids = (
        sites[id_column].astype(str).to_numpy()
        if id_column
        else np.array([f"site-{i}" for i in range(len(sites))])
    )
    if area_column not in sites.columns:
        msg = (
            f"the shelter sites have no {area_column!r} column with their usable area in m² "
            f"(name it with area_column=)"
        )
        raise InputError(msg, layer="sites", column=area_column)
    area = pd.to_numeric(sites[area_column], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(area) & (area > 0))
    if bad.any():
        raise InputError(
            "shelter sites need a positive usable area",
            layer="sites",
            column=area_column,
            rows=ids[bad].tolist(),
        )
    names = sites["name"].to_numpy() if "name" in sites.columns else np.full(len(sites), None)
    frame = gpd.GeoDataFrame(
        {
            "site_id": ids,
            "name": names,
            "status": "new",
            "capacity": np.floor(area / norms.area.value),
            "area_m2": area,
            "modelled": False,
            "area_basis": f"usable area given ({area_column})",
            "site_type": "open space (given)",
        },
        geometry=sites.geometry.to_crs(crs).to_numpy(),
        crs=crs,
    )
    notes = []
    small = area < norms.min_area.value
    if small.any():
        notes.append(
            f"{int(small.sum()):,} given sites are smaller than the "
            f"{norms.min_area.value:,.0f} m² a shelter site should have "
            f"({norms.min_area.citation}): {', '.join(ids[small][:10])}."
        )
    return frame, notes


def _square_side(reach_m: float) -> float:
    return float(np.clip(reach_m / 2.5, 200.0, 1000.0))


def derived_sites(region: Any, cells: gpd.GeoDataFrame, norms: Norms):
    """School grounds and open-land squares, modelled, within reach of populated cells."""
    from scipy.spatial import cKDTree

    candidates = region.candidates
    grid = region.population
    schools = _school_grounds(candidates, norms, region.crs)
    open_land, side = _open_land(grid, candidates, norms, region.crs)
    frame = pd.concat([schools, open_land], ignore_index=True)
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=region.crs)
    big = frame["area_m2"].to_numpy(dtype=float) >= norms.min_area.value
    frame = frame[big]
    points = cells.geometry.representative_point()
    tree = cKDTree(np.column_stack([points.x, points.y]))
    dist, _ = tree.query(np.column_stack([frame.geometry.x, frame.geometry.y]))
    frame = frame[dist <= norms.reach_m].reset_index(drop=True)
    n_school = int((frame["site_type"] == "school grounds").sum())
    note = (
        f"No open-space layer was given: {len(frame):,} candidate shelter sites are modelled "
        f"(modelled=True): {n_school:,} school grounds, usable area {SCHOOL_OPEN_SHARE:g} x the "
        f"campus's floor area (svcnet's estimate: a sports ground of about 4,000 m² per "
        f"10,000 m² of school floors), and {len(frame) - n_school:,} open-land squares of "
        f"{side:,.0f} m, usable area {OPEN_CELL_SHARE:g} x the area of their grid cells with no "
        f"modelled resident and no mapped non-residential building (the data has no building "
        f"footprints or open-space polygons; water, slopes and roads are in that other half). "
        f"Sites under {norms.min_area.value:,.0f} m² ({norms.min_area.citation}) or beyond "
        f"{norms.reach_m:,.0f} m of every resident are left out. Replace them with the city's "
        f"open-space survey (sites=)."
    )
    return frame, [note]


def _school_grounds(candidates: gpd.GeoDataFrame, norms: Norms, crs: Any) -> gpd.GeoDataFrame:
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    empty = gpd.GeoDataFrame({c: [] for c in _SITE_COLUMNS}, geometry=[], crs=crs)
    if "category" not in candidates.columns or "floor_area_m2" not in candidates.columns:
        return empty
    floor = pd.to_numeric(candidates["floor_area_m2"], errors="coerce")
    schools = candidates[candidates["category"].isin(SCHOOL_CATEGORIES) & (floor > 0)]
    if not len(schools):
        return empty
    schools = schools.reset_index(drop=True)
    xy = np.column_stack([schools.geometry.x, schools.geometry.y])
    pairs = np.array(sorted(cKDTree(xy).query_pairs(CAMPUS_LINK_M)), dtype=np.int64)
    n = len(schools)
    links = sp.coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])) if len(pairs) else ([], ([], [])),
        shape=(n, n),
    )
    _, campus = connected_components(links, directed=False)
    schools["campus"] = campus
    schools["floor"] = pd.to_numeric(schools["floor_area_m2"], errors="coerce").to_numpy()
    order = schools.sort_values(["campus", "floor"], ascending=[True, False], kind="stable")
    head = order.drop_duplicates("campus").set_index("campus").sort_index()
    floors = schools.groupby("campus")["floor"].sum().sort_index()
    counts = schools.groupby("campus").size().sort_index()
    names = schools.dropna(subset=["name"]).groupby("campus")["name"].first()
    area = SCHOOL_OPEN_SHARE * floors.to_numpy()
    basis = [
        f"{SCHOOL_OPEN_SHARE:g} x {f:,.0f} m² floor area of {c} school building"
        f"{'s' if c > 1 else ''} (estimate)"
        for f, c in zip(floors.to_numpy(), counts.to_numpy(), strict=True)
    ]
    return gpd.GeoDataFrame(
        {
            "site_id": ("school-" + head["candidate_id"].astype(str)).to_numpy(),
            "name": names.reindex(head.index).to_numpy(),
            "status": "new",
            "capacity": np.floor(area / norms.area.value),
            "area_m2": area,
            "modelled": True,
            "area_basis": basis,
            "site_type": "school grounds",
        },
        geometry=head.geometry.to_numpy(),
        crs=crs,
    )


def _open_land(grid: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, norms: Norms, crs: Any):
    side = _square_side(norms.reach_m)
    empty = gpd.GeoDataFrame({c: [] for c in _SITE_COLUMNS}, geometry=[], crs=crs)
    if grid.geom_type.isin(["Point"]).any():
        return empty, side
    buildings = candidates
    if "kind" in candidates.columns:
        buildings = candidates[candidates["kind"].astype(str) != "intersection"]
    bare = grid[grid["pop"].to_numpy() == 0]
    if len(buildings) and len(bare):
        hit = gpd.sjoin(
            bare[["cell_id", "geometry"]],
            buildings[["geometry"]],
            predicate="intersects",
            how="inner",
        )
        bare = bare[~bare["cell_id"].isin(hit["cell_id"])]
    if not len(bare):
        return empty, side
    bare = bare.reset_index(drop=True)
    points = bare.geometry.representative_point()
    xy = np.column_stack([points.x, points.y])
    area = OPEN_CELL_SHARE * bare.geometry.area.to_numpy()
    key = np.floor(xy / side).astype(np.int64)
    square, square_of = np.unique(key, axis=0, return_inverse=True)
    square_of = np.asarray(square_of).ravel()
    totals = np.bincount(square_of, weights=area)
    cx = np.bincount(square_of, weights=area * xy[:, 0]) / totals
    cy = np.bincount(square_of, weights=area * xy[:, 1]) / totals
    dist = np.hypot(xy[:, 0] - cx[square_of], xy[:, 1] - cy[square_of])
    order = np.lexsort((dist, square_of))
    central = order[np.r_[True, square_of[order][1:] != square_of[order][:-1]]]
    n_cells = np.bincount(square_of)
    ids = [f"open-{int(x * side)}-{int(y * side)}" for x, y in square]
    basis = [
        f"{OPEN_CELL_SHARE:g} x the area of {k} open grid cell{'s' if k > 1 else ''} (estimate)"
        for k in n_cells
    ]
    return gpd.GeoDataFrame(
        {
            "site_id": ids,
            "name": None,
            "status": "new",
            "capacity": np.floor(totals / norms.area.value),
            "area_m2": totals,
            "modelled": True,
            "area_basis": basis,
            "site_type": "open land",
        },
        geometry=points.to_numpy()[central],
        crs=crs,
    ), side


def shelter_table(kept: gpd.GeoDataFrame, chosen: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    table = pd.concat(
        [kept[[*_SITE_COLUMNS, "geometry"]], chosen[[*_SITE_COLUMNS, "geometry"]]],
        ignore_index=True,
    )
    dup = table["site_id"].duplicated()
    if dup.any():
        raise InputError(
            "shelter site ids repeat (existing shelters and sites together)",
            layer="sites",
            column="site_id",
            rows=table.loc[dup, "site_id"].tolist(),
        )
    table["capacity"] = table["capacity"].astype(float)
    table["area_m2"] = table["area_m2"].astype(float)
    table["modelled"] = table["modelled"].astype(bool)
    return gpd.GeoDataFrame(table, geometry="geometry", crs=crs)
