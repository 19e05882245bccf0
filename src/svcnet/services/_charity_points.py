"""The point of each unit: shared from a higher level, or a 1-median over its places."""

from __future__ import annotations

import math
import time
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet.models import PMedian, verify
from svcnet.services._charity_levels import Level
from svcnet.services._charity_outlets import Places
from svcnet.services._travel import DETOUR_FACTOR, travel_minutes

__all__ = ["MAX_LOCATIONS", "MAX_DEMAND", "plan_level"]

#: Most candidate locations weighed per unit (outlets always; buildings thinned by area).
MAX_LOCATIONS = 200
#: Most demand points per unit in the 1-median (cells merged in squares beyond it).
MAX_DEMAND = 1_500


def plan_level(
    level: Level,
    above: list[Level],
    cells,
    people,
    places: Places,
    region,
    speed,
    tolerance,
    share_points,
    deadline,
    seed,
    walk_minutes,
) -> None:
    """Choose the point of every unit of ``level`` (shared from above where one lies inside)."""
    started = time.perf_counter()
    layer = level.layer
    inherited = _inherited(layer, above) if share_points else {}
    rows, records = [], []
    inside = _places_by_unit(places, layer)
    for u, (unit, geometry) in enumerate(zip(layer["unit"], layer.geometry, strict=True)):
        if unit in inherited:
            rows.append({**inherited[unit], "unit": unit})
            continue
        mask = level.labels == unit
        chosen, record = _one_median(
            unit,
            geometry,
            np.flatnonzero(mask),
            inside.get(u, []),
            cells,
            people,
            places,
            region,
            speed,
            tolerance,
            deadline,
            seed,
        )
        rows.append({**chosen, "unit": unit, "shared_with": None})
        if record:
            records.append(record)
    level.points = pd.DataFrame(rows)
    level.record = _level_record(level, records, len(inherited), time.perf_counter() - started)


def _inherited(layer: gpd.GeoDataFrame, above: list[Level]) -> dict[str, dict[str, Any]]:
    """Per unit, the point of the nearest higher level lying inside it (if any)."""
    found: dict[str, dict[str, Any]] = {}
    for upper in reversed(above):
        if not len(upper.points):
            continue
        points = gpd.GeoDataFrame(
            upper.points.drop(columns="geometry"),
            geometry=list(upper.points["geometry"]),
            crs=layer.crs,
        )
        inside = layer[["unit", "geometry"]].rename(columns={"unit": "inside_unit"})
        hit = gpd.sjoin(points, inside, predicate="within", how="inner")
        for row in hit.to_dict("records"):
            unit = row["inside_unit"]
            if unit in found:
                continue
            record = {k: row.get(k) for k in ("location_id", "name", "kind", "status")}
            record.update(
                geometry=row["geometry"],
                shared_with=f"{upper.name}:{row['unit']}",
                method="shared",
                outlets_inside=0,
            )
            found[unit] = record
    return found


def _places_by_unit(places: Places, layer: gpd.GeoDataFrame) -> dict[int, list[int]]:
    hit = gpd.sjoin(
        places.frame[["geometry"]], layer[["geometry"]], predicate="within", how="inner"
    )
    out: dict[int, list[int]] = {}
    for place, unit in zip(hit.index, hit["index_right"], strict=True):
        out.setdefault(int(unit), []).append(int(place))
    return {k: sorted(v) for k, v in out.items()}


def _one_median(
    unit,
    geometry,
    cell_rows,
    place_rows,
    cells,
    people,
    places: Places,
    region,
    speed,
    tolerance,
    deadline,
    seed,
):
    """The point of one unit: an outlet or candidate inside it, least total walk (rule applied)."""
    frame = places.frame
    outlets = [p for p in place_rows if p < places.n_outlets]
    buildings = _thinned(
        [p for p in place_rows if p >= places.n_outlets], frame, MAX_LOCATIONS - len(outlets)
    )
    chosen_rows = outlets + buildings
    weights = people[cell_rows]
    if not chosen_rows:
        return _modelled_point(unit, geometry, cell_rows, cells, people), None
    if not len(cell_rows) or weights.sum() <= 0:
        return _nearest_to_centre(geometry, chosen_rows, places), None
    demand, weights = _demand_points(cells.iloc[cell_rows], weights)
    locations = frame.iloc[chosen_rows]
    diagonal = math.dist(geometry.bounds[:2], geometry.bounds[2:])
    travel = travel_minutes(
        demand,
        locations,
        network=region.network,
        max_minutes=(2.0 * diagonal + 1_000.0) / speed,
        speed_m_per_min=speed,
    )
    minutes = _filled(travel.matrix, demand, locations, speed)
    priced = minutes.copy()
    is_outlet = np.asarray([p < places.n_outlets for p in chosen_rows])
    priced = priced @ sp.diags(np.where(is_outlet, 1.0 / (1.0 + tolerance), 1.0))
    model = PMedian.from_cost_matrix(sp.csr_matrix(priced), weights, p=1)
    solution = model.solve(time_limit=max(deadline - time.perf_counter(), 1.0), seed=seed)
    verify(solution, model)
    pick = int(solution.selected[0])
    totals = np.asarray(minutes.T @ weights).ravel()
    place = chosen_rows[pick]
    best_building = min(totals[~is_outlet]) if (~is_outlet).any() else math.inf
    best_outlet = min(totals[is_outlet]) if is_outlet.any() else math.inf
    return {
        **_place_record(places, place),
        "method": "1-median",
        "best_outlet": best_outlet,
        "best_building": best_building,
        "outlets_inside": len(outlets),
    }, {
        "objective": solution.objective,
        "bound": solution.bound,
        "seconds": solution.timings.get("total", 0.0),
        "status": solution.status,
        "method": solution.method,
    }


def _thinned(rows: list[int], frame: gpd.GeoDataFrame, most: int) -> list[int]:
    """At most ``most`` candidates: the largest floor area in squares grown until few enough."""
    most = max(most, 1)
    if len(rows) <= most:
        return rows
    sub = frame.iloc[rows]
    xy = np.column_stack([sub.geometry.x, sub.geometry.y])
    span = float(np.ptp(xy, axis=0).max()) or 1.0
    side = span / math.sqrt(most)
    size = sub["size"].to_numpy(dtype=float)
    while True:
        key = np.floor(xy / side).astype(np.int64)
        order = np.lexsort((np.arange(len(rows)), -size, key[:, 1], key[:, 0]))
        first = np.r_[True, (np.diff(key[order], axis=0) != 0).any(axis=1)]
        keep = np.sort(order[first])
        if len(keep) <= most:
            return [rows[i] for i in keep]
        side *= 1.25


def _demand_points(cells: gpd.GeoDataFrame, weights: np.ndarray):
    """The unit's cells as demand points, merged in squares when there are too many."""
    points = cells.geometry.representative_point().reset_index(drop=True)
    if len(cells) <= MAX_DEMAND:
        return gpd.GeoDataFrame(geometry=points.to_numpy(), crs=cells.crs), weights
    xy = np.column_stack([points.x, points.y])
    side = float(np.ptp(xy, axis=0).max()) / math.sqrt(MAX_DEMAND)
    while True:
        key = np.floor(xy / side).astype(np.int64)
        _, group = np.unique(key, axis=0, return_inverse=True)
        group = np.asarray(group).ravel()
        if group.max() + 1 <= MAX_DEMAND:
            break
        side *= 1.25
    totals = np.bincount(group, weights=weights)
    order = np.lexsort((-weights, group))
    heaviest = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    frame = gpd.GeoDataFrame(geometry=points.to_numpy()[heaviest], crs=cells.crs)
    return frame, totals[group[heaviest]]


def _filled(matrix: sp.csr_matrix, demand, locations, speed: float) -> sp.csr_matrix:
    """Every pair's minutes: pairs the network left out get straight lines x the detour."""
    dense = np.full(matrix.shape, np.nan)
    coo = matrix.tocoo()
    dense[coo.row, coo.col] = coo.data
    missing = np.isnan(dense)
    if missing.any():
        a = np.column_stack([demand.geometry.x, demand.geometry.y])
        b = np.column_stack([locations.geometry.x, locations.geometry.y])
        straight = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
        dense[missing] = (straight * DETOUR_FACTOR / speed)[missing]
    return sp.csr_matrix(np.maximum(dense, 1e-9))


def _modelled_point(unit, geometry, cell_rows, cells, people) -> dict[str, Any]:
    if len(cell_rows):
        top = cell_rows[int(np.argmax(people[cell_rows]))]
        point = cells.geometry.iloc[top].representative_point()
        location = f"cell-{str(cells['cell_id'].iloc[top]).split('#')[0]}"
    else:
        point = geometry.representative_point()
        location = f"unit-{unit}"
    return {
        "location_id": location,
        "name": None,
        "kind": "cell (modelled)",
        "geometry": point,
        "status": "new",
        "method": "modelled",
        "outlets_inside": 0,
    }


def _nearest_to_centre(geometry, rows: list[int], places: Places) -> dict[str, Any]:
    frame = places.frame
    centre = geometry.representative_point()
    outlets = [p for p in rows if p < places.n_outlets]
    pool = outlets or rows
    dist = [frame.geometry.iloc[p].distance(centre) for p in pool]
    place = pool[int(np.argmin(dist))]
    return {
        **_place_record(places, place),
        "method": "nearest the centre (nobody lives here)",
        "outlets_inside": len(outlets),
    }


def _place_record(places: Places, place: int) -> dict[str, Any]:
    """A chosen place's id, name, kind, point and status (an outlet is kept: existing)."""
    frame = places.frame
    return {
        "location_id": frame.at[place, "location_id"],
        "name": frame.at[place, "name"],
        "kind": frame.at[place, "kind"],
        "geometry": frame.geometry.iloc[place],
        "status": "existing" if place < places.n_outlets else "new",
    }


def _level_record(level: Level, records, shared: int, seconds: float) -> dict[str, Any]:
    record: dict[str, Any] = {
        "level": level.name,
        "model": "PMedian (p=1 per unit)",
        "units": len(level.layer),
        "solved": len(records),
        "shared": shared,
        "seconds": seconds,
    }
    if level.stand_in:
        record["stand_in"] = level.stand_in
    if records:
        objective = float(sum(r["objective"] for r in records))
        bound = float(sum(r["bound"] for r in records))
        from svcnet.models.solution import relative_gap

        gap = relative_gap(objective, bound, False)
        record.update(
            objective=objective,
            bound=bound,
            gap=gap,
            status="optimal" if gap == 0 else "feasible",
            method=", ".join(sorted({r["method"] for r in records})),
        )
    else:
        record.update(
            objective=0.0,
            bound=0.0,
            gap=0.0,
            status="shared" if shared else "no model",
            method="shared from above" if shared else "placed without a model",
        )
    record["sites"] = len(records)
    return record
