"""What the planners share: demand cells, site tables, existing facilities, solver records."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet.errors import InputError

logger = logging.getLogger(__name__)


def planning_cells(region: Any, group: str) -> tuple[gpd.GeoDataFrame, str, list[str]]:
    """The populated cells of ``group``, each with the finest boundary unit it lies in.

    Returns
    -------
    cells, level, notes
        ``cells`` has ``cell_id``, ``unit``, the region's population groups and
        geometry (row order kept, index reset); ``level`` names the unit level.
    """
    if group not in region.groups:
        msg = f"the population grid has no group {group!r}; it has {list(region.groups)}"
        raise InputError(msg, layer="population", column=group)
    grid = region.population
    cells = grid[grid[group] > 0].reset_index(drop=True)
    if not len(cells):
        raise InputError(f"nobody in group {group!r}: nothing to plan", layer="population")
    notes = []
    if not region.levels:
        cells["unit"] = region.name
        level = "region"
        notes.append("The region has no boundary layer: indicators are for the whole region.")
    else:
        level = region.levels[-1]
        if level in cells.columns:
            cells["unit"] = cells[level].astype(str)
        else:
            from svcnet.indicators import assign_units

            cells["unit"] = assign_units(cells, region.boundaries[level], level, population=group)
    keep = ["cell_id", "unit", *region.groups, "geometry"]
    return cells[keep], level, notes


def existing_facilities(
    region: Any, existing: Any, services: Sequence[str], what: str
) -> gpd.GeoDataFrame:
    """The existing facilities a planner keeps: given, the region's of ``services``, or none.

    ``existing`` is None (the region's facilities whose ``service`` is one of
    ``services``), False (plan from scratch), or a GeoDataFrame of points.
    """
    if existing is False:
        return region.facilities.iloc[:0]
    if existing is None:
        facilities = region.facilities
        return facilities[facilities["service"].isin(list(services))].reset_index(drop=True)
    if not isinstance(existing, gpd.GeoDataFrame):
        msg = f"existing {what} must be a GeoDataFrame of points, None or False"
        raise InputError(msg, layer="existing")
    if existing.crs is None:
        from svcnet.errors import CRSError

        raise CRSError("the existing facilities have no CRS", layer="existing")
    frame = existing.to_crs(region.crs).reset_index(drop=True)
    if "facility_id" not in frame.columns:
        frame["facility_id"] = [f"existing-{i}" for i in range(len(frame))]
    if "name" not in frame.columns:
        frame["name"] = frame["facility_id"].astype(str)
    return frame


def site_table(
    existing: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, crs: Any
) -> gpd.GeoDataFrame:
    """Existing facilities (``status`` existing) then candidates (``status`` new), one table."""
    kept = gpd.GeoDataFrame(
        {
            "site_id": existing["facility_id"].astype(str).to_numpy(),
            "name": existing["name"].to_numpy() if len(existing) else [],
            "status": "existing",
        },
        geometry=existing.geometry.to_numpy(),
        crs=crs,
    )
    names = (
        candidates["name"] if "name" in candidates.columns else pd.Series(None, candidates.index)
    )
    new = gpd.GeoDataFrame(
        {
            "site_id": candidates["candidate_id"].astype(str).to_numpy(),
            "name": names.to_numpy(),
            "status": "new",
        },
        geometry=candidates.geometry.to_numpy(),
        crs=crs,
    )
    for column in ("kind", "category", "floor_area_m2"):
        if column in candidates.columns:
            new[column] = candidates[column].to_numpy()
    sites = pd.concat([kept, new], ignore_index=True)
    if sites["site_id"].duplicated().any():
        dup = sites.loc[sites["site_id"].duplicated(), "site_id"].head(5).tolist()
        raise InputError(f"site ids repeat between existing facilities and candidates: {dup}")
    return gpd.GeoDataFrame(sites, geometry="geometry", crs=crs)


def choose_candidates(
    region: Any, candidates: Any, kinds: Sequence[str] | None
) -> gpd.GeoDataFrame:
    """The candidate sites: given, or the region's (of ``kinds`` when it has a ``kind`` column)."""
    if candidates is None:
        frame = region.candidates
        if kinds is not None and "kind" in frame.columns and frame["kind"].isin(kinds).any():
            frame = frame[frame["kind"].isin(kinds)]
    elif isinstance(candidates, gpd.GeoDataFrame):
        if candidates.crs is None:
            from svcnet.errors import CRSError

            raise CRSError("the candidate sites have no CRS", layer="candidates")
        frame = candidates.to_crs(region.crs)
        if "candidate_id" not in frame.columns:
            frame = frame.assign(candidate_id=[f"cand-{i}" for i in range(len(frame))])
    else:
        raise InputError("candidates must be a GeoDataFrame of points or None", layer="candidates")
    frame = frame.reset_index(drop=True)
    if not len(frame):
        raise InputError("there are no candidate sites to choose from", layer="candidates")
    return frame


def nearest_minutes(matrix: sp.csr_matrix, columns: np.ndarray) -> np.ndarray:
    """Per row, the least minutes to any of ``columns`` (inf when none within reach)."""
    out = np.full(matrix.shape[0], np.inf)
    if not len(columns):
        return out
    sub = matrix[:, columns].tocsr()
    rows = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
    np.minimum.at(out, rows, sub.data)
    return out


def solver_record(solution: Any, part: str | None = None) -> dict[str, Any]:
    """The solver figures a plan reports."""
    record = {
        "model": solution.model,
        "status": solution.status,
        "objective": solution.objective,
        "bound": solution.bound,
        "gap": solution.gap,
        "seconds": solution.timings.get("total", np.nan),
        "method": solution.method,
        "sites": solution.p,
    }
    if part is not None:
        record = {"part": part, **record}
    return record


def people_phrase(value: float) -> str:
    """'18,400 people' (whole people)."""
    shown = round(float(value))
    return f"{shown:,.0f} {'person' if shown == 1 else 'people'}"


def split_heavy_cells(
    cells: gpd.GeoDataFrame, group: str, most: float
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Cells with more than ``most`` people in ``group`` split into equal parts.

    A part is a demand row of its own (``cell_id`` gets ``#1``, ``#2`` ...; the
    geometry is the cell's), so that one cell too big for a single site can be
    served by several. Every population column is split by the largest
    remainder, so the parts add up to the cell exactly.
    """
    counts = np.ceil(cells[group].to_numpy(dtype=float) / most).astype(int)
    heavy = counts > 1
    if not heavy.any():
        return cells, []
    parts = cells.loc[cells.index.repeat(np.maximum(counts, 1))].copy()
    part_no = parts.groupby(level=0).cumcount().to_numpy()
    n_parts = np.repeat(np.maximum(counts, 1), np.maximum(counts, 1))
    numeric = [c for c in cells.columns if c not in ("cell_id", "unit", "geometry")
               and pd.api.types.is_numeric_dtype(cells[c])]  # fmt: skip
    for column in numeric:
        totals = parts[column].to_numpy(dtype=float)
        base = np.floor(totals / n_parts)
        extra = (part_no < (totals - base * n_parts)).astype(float)
        parts[column] = base + extra
    split = n_parts > 1
    ids = parts.loc[split, "cell_id"].astype(str).to_numpy()
    parts.loc[split, "cell_id"] = [f"{c}#{k + 1}" for c, k in zip(ids, part_no[split], strict=True)]
    note = (
        f"{int(heavy.sum()):,} cells hold more than {most:,.0f} people and are split into "
        f"{int(counts[heavy].sum()):,} parts (ids with #1, #2 ...), each served by one site."
    )
    return parts.reset_index(drop=True), [note]


def gap_candidates(
    cells: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, reach_m: float, group: str
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Modelled candidates where cells have no candidate within ``reach_m``.

    The cells without a candidate in reach are grouped in squares of side
    ``reach_m``; the most populated cell of each square lends its
    representative point as a candidate ``cell-<cell_id>`` of ``kind``
    "cell (modelled)", so that parts of the region without mapped buildings
    can still get a site. The note says how many were added.
    """
    from scipy.spatial import cKDTree

    xy = np.column_stack([candidates.geometry.x, candidates.geometry.y])
    points = cells.geometry.representative_point()
    cell_xy = np.column_stack([points.x, points.y])
    dist, _ = cKDTree(xy).query(cell_xy, distance_upper_bound=reach_m)
    bare = np.flatnonzero(~np.isfinite(dist))
    if not len(bare):
        return candidates, []
    block = np.floor(cell_xy[bare] / reach_m).astype(np.int64)
    order = np.argsort(-cells[group].to_numpy(dtype=float)[bare], kind="stable")
    key = pd.MultiIndex.from_arrays([block[order, 0], block[order, 1]])
    chosen = bare[order[~key.duplicated()]]
    base = cells["cell_id"].astype(str).str.split("#").str[0].to_numpy()[chosen]
    added = gpd.GeoDataFrame(
        {"candidate_id": np.char.add("cell-", base.astype(str)), "kind": "cell (modelled)",
         "name": None},
        geometry=points.to_numpy()[chosen], crs=candidates.crs,
    )  # fmt: skip
    added = added.drop_duplicates("candidate_id")
    note = (f"{len(bare):,} cells have no candidate site within {reach_m:,.0f} m; "
            f"{len(added):,} of them (the most populated in each {reach_m:,.0f} m square) are "
            f"added as modelled candidates (kind 'cell (modelled)').")  # fmt: skip
    return pd.concat([candidates, added], ignore_index=True), [note]
