"""Charity donation points: a four-level network, one point per unit, at post and telecom offices.

The Shenzhen plan asks for donation points at city, district, subdistrict
and community level, using the post and telecom outlets. Every unit of every
level the region has gets exactly one point; levels are planned from the
coarsest down, and a point of a higher level that lies inside a lower unit
is that unit's point too (a district point inside a subdistrict is the
subdistrict's point, and so on down). Within a unit the point goes where the
unit's residents walk least in total (a 1-median: :class:`svcnet.models.PMedian`
with ``p=1`` on the unit's cells, checked with :func:`svcnet.verify`), at an
existing outlet (a facility whose ``service`` is ``post_office`` or
``telecom``) where one is good enough, else at a candidate building.

The outlet rule: an outlet is chosen when its residents' total walk is at
most ``1 + outlet_tolerance`` times (default 1.1 times) that of the best
candidate building. In the model, the outlets' minutes are divided by
``1 + outlet_tolerance``, so the 1-median picks the best outlet exactly when
the rule says so (the solver's objective is in these discounted minutes).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet import standards
from svcnet.costs import MAX_SNAP_M
from svcnet.errors import CRSError, InputError
from svcnet.models import PMedian, verify
from svcnet.plan import Plan
from svcnet.services._common import choose_candidates, nearest_minutes, planning_cells
from svcnet.services._communities import community_layer, units_of_points
from svcnet.services._travel import DETOUR_FACTOR, TravelMinutes, travel_minutes

logger = logging.getLogger(__name__)

__all__ = ["plan_charity", "OUTLET_SERVICES", "MAX_LOCATIONS", "MAX_DEMAND", "DUPLICATE_M"]

#: Facility services that count as outlets for donation points.
OUTLET_SERVICES = ("post_office", "telecom")
#: Most candidate locations weighed per unit (outlets always; buildings thinned by area).
MAX_LOCATIONS = 200
#: Most demand points per unit in the 1-median (cells merged in squares beyond it).
MAX_DEMAND = 1_500
#: A candidate building this close (metres) to an outlet, or to a candidate of the same
#: name, is the same building: it is dropped (a "new" point there would be the outlet's).
DUPLICATE_M = 10.0
_KIND_TEXT = {"post_office": "post office", "telecom": "telecom office"}


@dataclass
class _Level:
    """One level to plan: its units (``unit``, geometry) and each cell's unit."""

    name: str
    layer: gpd.GeoDataFrame
    labels: np.ndarray
    stand_in: str = ""
    points: pd.DataFrame = field(default_factory=pd.DataFrame)
    record: dict[str, Any] = field(default_factory=dict)


def plan_charity(
    region: Any,
    *,
    levels: Sequence[str] | None = None,
    outlets: gpd.GeoDataFrame | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    walk_minutes: float = 10.0,
    walk_speed: float | Any = None,
    outlet_tolerance: float = 0.1,
    share_points: bool = True,
    group: str = "pop",
    time_limit: float = 60.0,
    seed: int = 0,
) -> Plan:
    """Plan a hierarchical network of charity donation points, one per unit and level.

    Parameters
    ----------
    region
        A :class:`svcnet.Region`: its boundary levels, population grid,
        facilities, candidates and street network (where it has one).
    levels
        The levels, coarsest first; default the Shenzhen plan's four,
        :data:`svcnet.standards.CHARITY_LEVELS` (city, district, subdistrict,
        community). A level the region lacks is skipped (the plan's notes
        and solver table say so), except the finest, for which ``communities``
        or else the region's finest level stands in.
    outlets
        Post and telecom outlets (points, with ``name`` and ``service`` where
        known); default the region's facilities whose ``service`` is one of
        :data:`OUTLET_SERVICES`.
    candidates
        Candidate sites where no outlet serves (points); default the region's
        candidate buildings.
    communities
        Polygons standing in for communities when the region has no community
        boundaries, e.g. ``plan_centers(region).areas`` (named by a
        ``community`` or ``site_id`` column).
    walk_minutes
        The walk the coverage of each level is reported against.
    walk_speed
        Metres per minute; default the norm ``walking_speed`` (60 m/min).
    outlet_tolerance
        An outlet is chosen when its residents' total walk is within this share
        above the best candidate building's.
    share_points
        Let a higher level's point lying inside a unit be that unit's point.
    group
        The population group whose walk is weighed.
    time_limit
        Seconds for all the 1-median solves together (each still gets at
        least one second; a unit's 1-median is small and usually takes far less).
    seed
        Solver seed.

    Returns
    -------
    Plan
        ``sites``: one row per unit and level (``level``, ``unit``,
        ``site_id`` = ``"level:unit"``), at a ``location_id`` (the outlet or
        candidate; ``status`` "existing" for an outlet, "new" otherwise),
        ``shared_with`` (the higher point it is, if any), ``population_served``
        (the unit's residents), ``capacity`` (NaN), ``mean_minutes`` and
        ``share_within_walk`` of the unit's residents, and a ``reason``.
        ``assignment``: each cell with its lowest-level point (``site_id``)
        and the walk to it (``minutes``, "after"); ``minutes_before``, the
        walk to the nearest point that sits at an existing post or telecom
        outlet (the points of ``status`` "existing", any level: the
        network's points that exist today as outlets; ``inf`` when none is
        within three times ``walk_minutes``); ``minutes_nearest``, the walk
        to the nearest point of any level; ``minutes_<level>``, the walk to
        the unit's point at each level; ``straight_line``, True where the
        cell's walks are straight lines x 1.3 (off the street network, or no
        network). Before and after thus both measure the walk to a donation
        point, and the summary's ``facilities_before`` counts those same
        points at outlets. ``summary()`` adds, per unit of the lowest level,
        its point, mean walk and share within the walk at every level
        (``point_<level>``, ``minutes_<level>``, ``within_<t>min_<level>``).
        ``solver``: one record per level (skipped levels with the reason).
        ``notes`` say which walks fall back to straight lines and which
        candidate buildings were dropped as duplicates of outlets.

    Notes
    -----
    Candidate buildings within :data:`DUPLICATE_M` (10 m) of an outlet are the
    outlet's own building and are dropped, as is the second of two candidates
    of the same name that close (the bundled Futian data lists four telecom
    buildings both as outlets and as candidates): a "new" point is never put in
    an outlet's building.

    Walking times are computed once per unit (and once from every cell to
    every point); svcnet.costs's warnings about points off the street network,
    one per computation, are held back while the plan runs, and the planner
    logs one warning with the counts instead (also in the notes).

    Raises
    ------
    InputError
        Unknown group or levels, bad outlets or candidates, a bad tolerance.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> from svcnet import Region
    >>> grid = gpd.GeoDataFrame({"cell_id": ["a", "b"], "pop": [300, 200]},
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=32650)
    >>> district = gpd.GeoDataFrame({"district": ["D"]}, geometry=[box(0, 0, 200, 100)],
    ...     crs=32650)
    >>> post = gpd.GeoDataFrame({"facility_id": ["p1"], "name": ["Post"],
    ...     "service": ["post_office"]}, geometry=[Point(60, 50)], crs=32650)
    >>> region = Region(grid, boundaries={"district": district}, facilities=post, name="toy")
    >>> plan = plan_charity(region, levels=["district"])
    >>> plan.sites[["site_id", "status", "location_id"]].values.tolist()
    [['district:D', 'existing', 'p1']]
    """
    started = time.perf_counter()
    deadline = started + float(time_limit)
    speed = standards.resolve("walking_speed", walk_speed)
    norm = standards.resolve("charity_levels")
    _check_numbers(walk_minutes, outlet_tolerance)
    wanted = _wanted_levels(levels)
    cells, _, notes = planning_cells(region, group)
    plan_levels, skipped, level_notes = _levels(region, cells, wanted, communities, group)
    notes += level_notes
    places, place_notes = _places(region, outlets, candidates)
    notes += place_notes
    people = cells[group].to_numpy(dtype=float)
    with _held_back_warnings() as held:
        for number, level in enumerate(plan_levels):
            _plan_level(
                level,
                plan_levels[:number],
                cells,
                people,
                places,
                region,
                speed.value,
                outlet_tolerance,
                share_points,
                deadline,
                seed,
                walk_minutes,
            )
        minutes = _level_minutes(plan_levels, cells, places, region, speed.value)
        nearest = _nearest_points(plan_levels, cells, region, speed.value, walk_minutes)
    if nearest.notes and region.network is not None:
        notes += [
            f"{nearest.notes[0]} The outlets and buildings weighed for each point are walked "
            f"to the same way."
        ]
    elif nearest.notes:
        notes += list(nearest.notes)
    if held.count:
        logger.warning(
            "charity: %s (%d warnings of svcnet.costs about points off the street network "
            "held back: one per walking-time computation)",
            nearest.notes[0] if nearest.notes else "some points are off the street network",
            held.count,
        )
    return _build_plan(
        region,
        cells,
        people,
        plan_levels,
        skipped,
        minutes,
        nearest,
        speed,
        norm,
        group=group,
        walk_minutes=walk_minutes,
        notes=notes,
        parameters={
            "wanted": wanted,
            "levels": [lv.name for lv in plan_levels],
            "skipped": [s["level"] for s in skipped],
            "walk_minutes": walk_minutes,
            "walk_speed_m_per_min": speed.value,
            "outlet_tolerance": outlet_tolerance,
            "share_points": share_points,
            "time_limit": time_limit,
            "seed": seed,
            "seconds": time.perf_counter() - started,
        },
    )


# =========================================================================================
# inputs
# =========================================================================================
def _check_numbers(walk_minutes: float, outlet_tolerance: float) -> None:
    for value, what in ((walk_minutes, "walk_minutes"), (outlet_tolerance, "outlet_tolerance")):
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what} must be a number; got {value!r}") from exc
        low = 0.0 if what == "outlet_tolerance" else math.ulp(0.0)  # a tolerance may be 0
        if not (math.isfinite(number) and number >= low):
            bound = "at least 0" if low == 0 else "above 0"
            raise InputError(f"{what} must be a finite number {bound}; got {value!r}")


def _wanted_levels(levels: Sequence[str] | None) -> list[str]:
    if levels is None:
        return list(standards.CHARITY_LEVELS)
    if isinstance(levels, str) or not all(isinstance(x, str) and x for x in levels):
        raise InputError(f"levels must be a list of level names; got {levels!r}")
    wanted = list(dict.fromkeys(levels))
    if not wanted:
        raise InputError("levels is empty")
    return wanted


def _levels(region, cells, wanted, communities, group):
    """The levels to plan (coarsest first) and those skipped, with notes."""
    planned, skipped, notes = [], [], []
    finest = wanted[-1]
    have = list(region.levels)
    for name in wanted:
        if name in have:
            layer = _layer_of(region, name)
            labels = _cell_labels(cells, layer, name, group)
            planned.append(_Level(name, layer, labels))
            continue
        if name != finest:
            reason = f"the region has no {name} boundaries"
            skipped.append(
                {
                    "level": name,
                    "status": "skipped",
                    "reason": reason,
                    "gap": 0.0,
                    "seconds": 0.0,
                    "sites": 0,
                }
            )
            notes.append(f"No {name} points: {reason}.")
            continue
        if communities is not None:
            layer = community_layer(communities, region.crs)
            labels, outside = units_of_points(
                cells.geometry.representative_point(), layer, "grid cell", name
            )
            stand_in = f"the {len(layer):,} areas given (communities=)"
            notes += outside
        elif have:
            layer = _layer_of(region, have[-1])
            labels = _cell_labels(cells, layer, have[-1], group)
            stand_in = f"the {have[-1]} level"
        else:
            layer = gpd.GeoDataFrame(
                {"unit": [region.name]},
                geometry=[region.population.geometry.union_all()],
                crs=region.crs,
            )
            labels = np.full(len(cells), region.name, dtype=object)
            stand_in = "the whole region"
        planned.append(_Level(name, layer, np.asarray(labels, dtype=object), stand_in))
        verb = "stand" if stand_in.startswith("the ") and "areas" in stand_in else "stands"
        notes.append(f"The region has no {name} boundaries: {stand_in} {verb} in for them.")
    extra = [lv for lv in have if lv not in wanted]
    if extra:
        notes.append(f"Levels {extra} of the region are not planned (pass levels= to plan them).")
    if not planned:
        raise InputError(f"none of the levels {wanted} can be planned in this region")
    return planned, skipped, notes


def _layer_of(region, name: str) -> gpd.GeoDataFrame:
    layer = region.boundaries[name][[name, "geometry"]].rename(columns={name: "unit"})
    layer["unit"] = layer["unit"].astype(str)
    if layer["unit"].duplicated().any():
        layer = layer.dissolve(by="unit").reset_index()
    return layer.reset_index(drop=True)


def _cell_labels(cells, layer, name, group) -> np.ndarray:
    from svcnet.indicators import assign_units

    labels = assign_units(cells, layer.rename(columns={"unit": name}), name, population=group)
    return labels.astype(str).to_numpy(dtype=object)


@dataclass(frozen=True)
class _Places:
    """Outlets first, then candidate buildings: ids, names, kinds, geometry."""

    frame: gpd.GeoDataFrame
    n_outlets: int


def _places(region, outlets, candidates) -> tuple[_Places, list[str]]:
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
    return _Places(
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


# =========================================================================================
# choosing the points
# =========================================================================================
def _plan_level(
    level: _Level,
    above: list[_Level],
    cells,
    people,
    places: _Places,
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


def _inherited(layer: gpd.GeoDataFrame, above: list[_Level]) -> dict[str, dict[str, Any]]:
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


def _places_by_unit(places: _Places, layer: gpd.GeoDataFrame) -> dict[int, list[int]]:
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
    places: _Places,
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
    travel = _travel(demand, locations, region.network, (2.0 * diagonal + 1_000.0) / speed, speed)
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
        "location_id": frame.at[place, "location_id"],
        "name": frame.at[place, "name"],
        "kind": frame.at[place, "kind"],
        "geometry": frame.geometry.iloc[place],
        "status": "existing" if place < places.n_outlets else "new",
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


def _travel(origins, destinations, network, max_minutes: float, speed: float):
    """Walking minutes on the network, or straight lines when no destination is on it.

    (The network costs fail when every destination is off the network; the
    straight line x the detour is what they fall back to for such points.)
    """
    try:
        return travel_minutes(
            origins, destinations, network=network, max_minutes=max_minutes, speed_m_per_min=speed
        )
    except IndexError:
        if network is None:
            raise
        logger.info("charity: no destination on the network; straight lines instead")
        straight = travel_minutes(
            origins, destinations, network=None, max_minutes=max_minutes, speed_m_per_min=speed
        )
        note = (
            f"No point is within {MAX_SNAP_M:g} m of a street of the network: walks to the "
            f"points are straight lines x {DETOUR_FACTOR:g} at {speed:g} m/min."
        )
        return TravelMinutes(straight.matrix, straight.straight, "straight line", (note,))


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


def _nearest_to_centre(geometry, rows: list[int], places: _Places) -> dict[str, Any]:
    frame = places.frame
    centre = geometry.representative_point()
    outlets = [p for p in rows if p < places.n_outlets]
    pool = outlets or rows
    dist = [frame.geometry.iloc[p].distance(centre) for p in pool]
    place = pool[int(np.argmin(dist))]
    return {
        "location_id": frame.at[place, "location_id"],
        "name": frame.at[place, "name"],
        "kind": frame.at[place, "kind"],
        "geometry": frame.geometry.iloc[place],
        "status": "existing" if place < places.n_outlets else "new",
        "method": "nearest the centre (nobody lives here)",
        "outlets_inside": len(outlets),
    }


def _level_record(level: _Level, records, shared: int, seconds: float) -> dict[str, Any]:
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


# =========================================================================================
# walks and the plan
# =========================================================================================
def _level_minutes(plan_levels: list[_Level], cells, places, region, speed) -> dict[str, Any]:
    """Each cell's walk to its unit's point, level by level."""
    points_of = {}
    for level in plan_levels:
        points = level.points
        frame = gpd.GeoDataFrame(
            {"unit": points["unit"].to_numpy()}, geometry=list(points["geometry"]), crs=region.crs
        )
        index = {u: i for i, u in enumerate(points["unit"])}
        target = np.asarray([index[u] for u in level.labels])
        diagonal = max(math.dist(g.bounds[:2], g.bounds[2:]) for g in level.layer.geometry)
        travel = _travel(cells, frame, region.network, (2.0 * diagonal + 1_000.0) / speed, speed)
        from svcnet.models._base import pair_costs

        values = pair_costs(travel.matrix.tocsr(), np.arange(len(cells)), target)
        gone = np.isnan(values)
        if gone.any():
            a = cells.geometry.representative_point()
            b = frame.geometry.iloc[target[gone]]
            straight = a.iloc[np.flatnonzero(gone)].distance(b, align=False).to_numpy()
            values[gone] = straight * DETOUR_FACTOR / speed
        points_of[level.name] = values
    return points_of


def _build_plan(
    region,
    cells,
    people,
    plan_levels,
    skipped,
    minutes,
    nearest,
    speed,
    norm,
    *,
    group,
    walk_minutes,
    notes,
    parameters,
) -> Plan:
    lowest = plan_levels[-1]
    rows = []
    for depth, level in enumerate(plan_levels):
        pop = pd.Series(people).groupby(level.labels).sum()
        mins = minutes[level.name]
        for point in level.points.to_dict("records"):
            mask = level.labels == point["unit"]
            served = float(people[mask].sum())
            within = float(people[mask & (mins <= walk_minutes)].sum())
            mean = float((people[mask] * mins[mask]).sum() / served) if served else math.nan
            rows.append(
                {
                    **point,
                    "level": level.name,
                    "depth": depth,
                    "site_id": f"{level.name}:{point['unit']}",
                    "population_served": float(pop.get(point["unit"], 0.0)),
                    "mean_minutes": mean,
                    "share_within_walk": within / served if served else math.nan,
                }
            )
    sites = pd.DataFrame(rows)
    sites = sites.sort_values(
        ["depth", "population_served"], ascending=[True, False], kind="stable"
    ).reset_index(drop=True)
    sites["rank"] = pd.array(np.arange(1, len(sites) + 1), dtype="Int64")
    sites["capacity"] = np.nan
    sites["reason"] = [_reason(row, walk_minutes) for row in sites.to_dict("records")]
    first = [
        "site_id",
        "name",
        "status",
        "rank",
        "population_served",
        "capacity",
        "mean_minutes",
        "reason",
        "level",
        "unit",
        "location_id",
        "kind",
        "shared_with",
        "share_within_walk",
    ]
    sites = gpd.GeoDataFrame(sites[[*first, "geometry"]], geometry="geometry", crs=region.crs)
    lowest_ids = np.asarray([f"{lowest.name}:{u}" for u in lowest.labels], dtype=object)
    table = pd.DataFrame(
        {
            "cell_id": cells["cell_id"].to_numpy(),
            "unit": lowest.labels.astype(str),
            "site_id": lowest_ids,
            "minutes": minutes[lowest.name],
            "minutes_before": nearest.before,
            "minutes_nearest": nearest.after,
            "straight_line": nearest.straight,
        }
    )
    for g in region.groups:
        table[g] = cells[g].to_numpy()
    for level in plan_levels:
        table[f"minutes_{level.name}"] = minutes[level.name]
    order = {name: i for i, name in enumerate(parameters["wanted"])}
    solver = sorted(
        [lv.record for lv in plan_levels] + list(skipped),
        key=lambda r: order.get(r["level"], len(order)),
    )
    units = _unit_table(table, plan_levels, group, walk_minutes)
    notes = list(notes)
    notes.append(
        f"Outlets are preferred: one is chosen when its residents' total walk is at most "
        f"{1 + parameters['outlet_tolerance']:.0%} of the best candidate building's."
    )
    notes.append(
        f"Before and after measure the walk to a donation point: before, to the nearest "
        f"point at an existing post or telecom outlet (the network's 'existing' points, "
        f"{nearest.n_existing:,} of them; none is reported beyond "
        f"{nearest.cutoff:g} minutes); after, to the point of the cell's "
        f"{lowest.name}. 'minutes_nearest' is the walk to the nearest point of any level."
    )
    modelled = sites["kind"].eq("cell (modelled)")
    if modelled.any():
        notes.append(
            f"{int(modelled.sum()):,} units have neither an outlet nor a candidate "
            f"building inside: their point is modelled at their most populated cell."
        )
    for level in plan_levels:
        rec = level.record
        points = "point" if rec["units"] == 1 else "points"
        notes.append(
            f"{level.name}: {rec['units']:,} {points} ({rec['shared']:,} shared with a "
            f"level above, {rec['solved']:,} chosen by 1-median)."
        )
    return Plan(
        "charity donation points",
        region.name,
        sites,
        table,
        cells,
        unit_level=lowest.name,
        threshold_minutes=walk_minutes,
        group=group,
        norms=[norm, speed],
        solver=solver,
        notes=notes,
        parameters={
            **parameters,
            "travel": nearest.basis,
        },
        unit_table=units,
        units=lowest.layer,
    )


@dataclass(frozen=True)
class _Nearest:
    """Per cell, the walk to the nearest point at an existing outlet and to any point."""

    before: np.ndarray
    after: np.ndarray
    straight: np.ndarray
    basis: str
    notes: tuple[str, ...]
    n_existing: int
    cutoff: float


def _nearest_points(plan_levels, cells, region, speed: float, walk_minutes: float) -> _Nearest:
    """The walks of "before" (points at existing outlets) and to the nearest point, per cell.

    One walking-time computation from every cell to every point of the plan
    (each location once), up to three times ``walk_minutes``; its notes say
    where walks fall back to straight lines.
    """
    frames = [lv.points for lv in plan_levels if len(lv.points)]
    points = pd.concat(frames, ignore_index=True).drop_duplicates("location_id")
    locations = gpd.GeoDataFrame(
        {"status": points["status"].to_numpy()}, geometry=list(points["geometry"]), crs=region.crs
    )
    cutoff = 3.0 * float(walk_minutes)
    travel = _travel(cells, locations, region.network, cutoff, speed)
    matrix = travel.matrix.tocsr()
    existing = np.flatnonzero(locations["status"].to_numpy() == "existing")
    return _Nearest(
        before=nearest_minutes(matrix, existing),
        after=nearest_minutes(matrix, np.arange(len(locations))),
        straight=np.asarray(travel.straight, dtype=bool),
        basis=travel.basis,
        notes=tuple(travel.notes),
        n_existing=len(existing),
        cutoff=cutoff,
    )


class _HeldBack(logging.Filter):
    """Holds back svcnet.costs's warnings about points off the street network (this thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.thread == self.thread
            and record.levelno == logging.WARNING
            and "unreachable and left out" in str(record.msg)
        ):
            self.count += 1
            return False
        return True


@contextmanager
def _held_back_warnings():
    """Within: svcnet.costs's per-computation "unreachable" warnings are counted, not logged.

    The planner computes walking times once per unit; it says once, in its
    notes and in one warning, which points are off the street network.
    """
    held = _HeldBack()
    costs_logger = logging.getLogger("svcnet.costs")
    costs_logger.addFilter(held)
    try:
        yield held
    finally:
        costs_logger.removeFilter(held)


def _reason(row: dict[str, Any], walk_minutes: float) -> str:
    level, unit = row["level"], row["unit"]
    where = _where(row)
    share = row["share_within_walk"]
    reach = (
        "nobody lives there"
        if not row["population_served"]
        else f"{share:.0%} of the {level} within a {walk_minutes:g}-minute walk"
    )
    if isinstance(row.get("shared_with"), str):
        upper = row["shared_with"].split(":", 1)[0]
        return f"{level} point of {unit}: the {upper} point at {where} lies within it; {reach}"
    text = f"{level} point of {unit} at {where}"
    method = row.get("method")
    if row["kind"] == "candidate building":
        if not row.get("outlets_inside"):
            text += f" (no post or telecom office in the {level})"
        else:
            best_o, best_b = row.get("best_outlet"), row.get("best_building")
            if best_o and best_b and math.isfinite(best_o) and best_b > 0:
                text += f" (its best outlet would make the walk {best_o / best_b - 1:.0%} longer)"
    elif method == "modelled":
        text = (
            f"{level} point of {unit} modelled at its most populated cell, "
            f"{row['location_id']} (no outlet or candidate building in the {level})"
        )
    return f"{text}; {reach}"


def _where(row: dict[str, Any]) -> str:
    name = row.get("name")
    named = isinstance(name, str) and name
    if row["kind"] in _KIND_TEXT:
        kind = _KIND_TEXT[row["kind"]]
        return f"the {name} {kind}" if named else f"the {kind} {row['location_id']}"
    if row["kind"] == "cell (modelled)":
        return f"its most populated cell ({row['location_id']}, modelled)"
    label = name if named else row["location_id"]
    return f"{row['kind']} {label}"


def _unit_table(table: pd.DataFrame, plan_levels, group: str, walk_minutes: float) -> pd.DataFrame:
    """Per lowest-level unit: the point, mean walk and share within the walk at each level."""
    people = table[group].to_numpy(dtype=float)
    units = table["unit"].astype(str)
    out = pd.DataFrame(index=pd.Index(sorted(units.unique()), name="unit"))
    label = f"{walk_minutes:g}min"
    for level in plan_levels:
        mins = table[f"minutes_{level.name}"].to_numpy(dtype=float)
        frame = pd.DataFrame(
            {
                "unit": units,
                "w": people,
                "wm": people * mins,
                "within": people * (mins <= walk_minutes),
                "point": [f"{level.name}:{u}" for u in level.labels],
            }
        )
        grouped = frame.groupby("unit")
        sums = grouped[["w", "wm", "within"]].sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"minutes_{level.name}"] = sums["wm"] / sums["w"]
            out[f"within_{label}_{level.name}"] = sums["within"] / sums["w"]
        out[f"point_{level.name}"] = grouped["point"].agg(lambda s: s.value_counts().index[0])
        total = people.sum()
        out.loc["total", f"minutes_{level.name}"] = frame["wm"].sum() / total if total else np.nan
        out.loc["total", f"within_{label}_{level.name}"] = (
            frame["within"].sum() / total if total else np.nan
        )
        out.loc["total", f"point_{level.name}"] = np.nan  # (the plan compares totals as numbers)
    return out
