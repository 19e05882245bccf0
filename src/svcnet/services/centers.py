"""Community service centers: population-bounded service areas within a walk.

Every center serves between a lower and an upper number of people (the
Shenzhen plan: 15,000-20,000), each populated cell is served by one center,
and the total walking time of the people is least. Walks beyond the walking
limit are allowed only at a steep price (each minute over counts
``LATE_WEIGHT`` + 1 times), so cells are served within the limit wherever the
street network allows; the plan lists where it does not. The number of
centers follows from the population and the bounds.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import fields, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet import indicators, standards
from svcnet._progress import progress
from svcnet.distributed._cluster import cluster_for, run_tasks
from svcnet.errors import InfeasibleError, InputError
from svcnet.models import PMedian, Solution, verify
from svcnet.plan import Plan
from svcnet.services._common import (
    choose_candidates,
    existing_facilities,
    gap_candidates,
    nearest_minutes,
    people_phrase,
    planning_cells,
    site_table,
    solver_record,
    split_heavy_cells,
)
from svcnet.services._contiguity import area_pieces, cell_adjacency, repair_contiguity
from svcnet.services._travel import DETOUR_FACTOR, travel_minutes

logger = logging.getLogger(__name__)

__all__ = ["plan_centers", "LATE_WEIGHT"]

#: Each minute of walk beyond the limit counts this many extra minutes in the objective.
LATE_WEIGHT = 4.0
SPLIT_SHARE = 8.0  # for the model, cells are split into parts of at most high / SPLIT_SHARE
_CENTER_SERVICES = ("community_center",)
Solved = list[tuple[Any, Solution]]  # (unit, its checked solution)


def plan_centers(
    region: Any,
    *,
    people_per_center: tuple[float, float] | Any = None,
    walk_minutes: float = 10.0,
    max_minutes: float | None = None,
    walk_speed: float | Any = None,
    existing: Any = None,
    allow_closing: bool = False,
    candidates: Any = None,
    fill_gaps: bool = True,
    contiguous: bool = True,
    group: str = "pop",
    time_limit: float = 120.0,
    mip_gap: float = 0.01,
    seed: int = 0,
    client: Any = None,
) -> Plan:
    """Plan community service centers as population-bounded service areas.

    Parameters
    ----------
    region
        A :class:`svcnet.Region` (its population grid, finest boundary level,
        facilities, candidates and street network, when it has one).
    people_per_center
        (least, most) people per center; default the Shenzhen plan's norm
        ``people_per_center`` (15,000-20,000).
    walk_minutes
        The walking limit a center should be within.
    max_minutes
        The longest walk allowed at all (default twice ``walk_minutes``);
        cells with no site within it can only be left unserved.
    walk_speed
        Metres per minute; default the planning norm ``walking_speed`` (60 m/min).
    existing
        Existing centers kept open: None for the region's facilities whose
        ``service`` is ``community_center``, False to plan from scratch, or a
        GeoDataFrame of points.
    allow_closing
        Let the model close existing centers.
    candidates
        Candidate sites (GeoDataFrame of points with ``candidate_id``);
        default the region's building candidates.
    fill_gaps
        Add the centre of every cell that has no candidate within the walking
        limit as a modelled candidate (so areas without mapped buildings can
        still get a center); the plan's notes say how many.
    contiguous
        Repair service areas left in pieces after solving: a group of cells cut
        off from the rest of its center's area moves whole to the neighbouring
        center it touches (or is swapped for one of that center's border cells),
        when both stay within the bounds and the cells within the longest walk
        (cells touching or one cell apart count as joined). The notes say what
        it moved and cost, and the solver figures include it.
    group
        The population group the bounds count.
    time_limit, mip_gap, seed
        Passed to the solver (:meth:`svcnet.models.PMedian.solve`).
    client
        Run on a Dask cluster: a ``dask.distributed.Client``, a scheduler
        address, or ``"local"`` (a LocalCluster started for the call and closed
        after it). The walking times are computed tile by tile on the workers
        (the same minutes, value for value: :func:`svcnet.costs_from_graph`),
        and each unit's model is solved on a worker, all units at once. As the
        units are solved side by side, each gets ``time_limit`` times the
        cluster's task slots (its workers' threads) times its share of the
        model's pairs, at most ``time_limit`` (and at least a second), so that
        the whole takes about ``time_limit``; the seeds are the same as on one
        machine. The solutions are checked here (:func:`svcnet.verify`), and
        a model solved to optimality gives the same plan as without a
        cluster. None (default): everything in this process.

    Returns
    -------
    Plan
        ``sites`` has ``capacity`` (the upper bound), ``population_served``
        within the bounds and ``area_pieces`` (pieces of its service area);
        unserved cells are listed with the reason in ``notes``.

    Raises
    ------
    InputError
        Unknown group, no candidates, bad bounds.
    InfeasibleError
        Fewer people in the region than one center's lower bound.

    Examples
    --------
    >>> import svcnet
    >>> plan = plan_centers(svcnet.datasets.load_futian(), time_limit=60)  # doctest: +SKIP
    >>> plan.sites[["site_id", "population_served", "reason"]].head(3)  # doctest: +SKIP

    On a Dask cluster (a client of a running scheduler, or one started here):

    >>> from svcnet.distributed import local_client
    >>> with local_client(2) as client:  # doctest: +SKIP
    ...     plan = plan_centers(svcnet.datasets.load_futian(), time_limit=60, client=client)
    """
    bounds = standards.resolve("people_per_center", people_per_center)
    speed = standards.resolve("walking_speed", walk_speed)
    low, high = bounds.low, bounds.high
    max_minutes = 2.0 * walk_minutes if max_minutes is None else float(max_minutes)
    _check_minutes(walk_minutes, max_minutes)
    cells, level, notes = planning_cells(region, group)
    if cells[group].sum() < low:
        msg = (f"the region has {cells[group].sum():,.0f} people in {group!r}, fewer than one "
               f"center's lower bound of {low:,.0f}")  # fmt: skip
        raise InfeasibleError(msg)
    # cells are split finely for the model (single sourcing with large cells is lumpy and hard
    # to round); parts that end up with the same center are merged back after solving
    cells = cells.assign(_origin=cells["cell_id"].astype(str))
    cells, _ = split_heavy_cells(cells, group, high / SPLIT_SHARE)
    people = cells[group].to_numpy(dtype=float)
    kept = existing_facilities(region, existing, _CENTER_SERVICES, "centers")
    chosen = choose_candidates(region, candidates, kinds=("building",))
    if fill_gaps:
        reach_m = walk_minutes * speed.value / DETOUR_FACTOR
        chosen, gap_notes = gap_candidates(cells, chosen, reach_m, group)
        notes += gap_notes
    sites = site_table(kept, chosen, region.crs)
    with cluster_for(client) as cluster:  # None stays None: this process
        travel = travel_minutes(
            cells, sites, network=region.network, max_minutes=max_minutes,
            speed_m_per_min=speed.value, client=cluster,
        )  # fmt: skip
        notes += list(travel.notes)
        n_kept = len(kept)
        minutes_before = nearest_minutes(travel.matrix, np.arange(n_kept))
        priced = _late_priced(travel.matrix, walk_minutes)
        penalty = 2.0 * (max_minutes + LATE_WEIGHT * (max_minutes - walk_minutes))
        min_load = np.full(len(sites), low)
        site_units = _site_units(region, level, sites, cells)
        own = _own_unit_pairs(travel.matrix, cells["unit"].to_numpy(), site_units)
        min_load[:n_kept] = _reachable_floor(own, people, n_kept, low, sites, notes)
        keep_open = np.zeros(len(sites), bool)
        keep_open[:n_kept] = not allow_closing
        logger.info("centers: %d cells x %d sites, %d pairs", *priced.shape, priced.nnz)
        selected, assignment, records = _solve_by_unit(
            priced, people, cells["unit"].to_numpy(), site_units, min_load, keep_open,
            high=high, penalty=penalty, time_limit=time_limit, mip_gap=mip_gap, seed=seed,
            client=cluster, notes=notes,
        )  # fmt: skip
    adjacency = cell_adjacency(cells)
    if contiguous:
        assignment, records = _contiguity(
            assignment, adjacency, priced, people, min_load, high, cells["unit"].to_numpy(),
            site_units, records, notes,
        )  # fmt: skip
    pieces = _pieces_by_site(adjacency, assignment, len(sites), notes)
    cells, travel, assignment, minutes_before, n_shared = _merge_parts(
        cells, travel, assignment, minutes_before
    )
    own = _own_unit_pairs(travel.matrix, cells["unit"].to_numpy(), site_units)
    servable = _servable(own, cells[group].to_numpy(dtype=float), min_load)
    if n_shared:
        verb = "cell is" if n_shared == 1 else "cells are"
        notes.append(f"{n_shared:,} {verb} shared between two or more centers (one row per "
                     "center, ids with #1, #2 ...).")  # fmt: skip
    if len(records) > 1:
        notes.append(
            f"Centers serve the people of their own {level} only: the plan is solved "
            f"{level} by {level} ({sum(r['part'] != 'total' for r in records)} parts) and the "
            "bounds add up."
        )
    return _build_plan(
        region, cells, level, sites, travel, selected, assignment, records, minutes_before,
        pieces, servable, walk_minutes=walk_minutes, bounds=bounds, speed=speed, group=group,
        notes=notes,
        parameters={"people_per_center": (low, high), "walk_minutes": walk_minutes,
                    "max_minutes": max_minutes, "walk_speed_m_per_min": speed.value,
                    "allow_closing": allow_closing, "existing": n_kept,
                    "contiguous": contiguous,
                    "time_limit": time_limit, "mip_gap": mip_gap, "seed": seed},
    )  # fmt: skip


def _merge_parts(cells, travel, assignment, minutes_before):
    """Parts of one cell served by the same center become one row again.

    A cell split for the model keeps its own id when all its parts go to one
    center; when they go to several, it keeps one row per center (``#1``,
    ``#2`` ... by order of appearance). Travel rows of parts are the cell's.
    Also returns how many cells are shared between centers.
    """
    origin = cells["_origin"].to_numpy()
    cells = cells.drop(columns="_origin")
    key = pd.DataFrame({"origin": pd.factorize(origin)[0], "site": assignment})
    group = key.groupby(["origin", "site"], sort=False).ngroup().to_numpy()
    first = np.sort(np.unique(group, return_index=True)[1])
    merged = cells.iloc[first].copy()
    numeric = [c for c in cells.columns if c not in ("cell_id", "unit", "geometry")
               and pd.api.types.is_numeric_dtype(cells[c])]  # fmt: skip
    sums = cells[numeric].groupby(group, sort=False).sum()
    merged[numeric] = sums.loc[group[first]].to_numpy()
    base = pd.Series(origin[first])
    shares = base.groupby(base).transform("size").to_numpy()
    rank = base.groupby(base).cumcount().to_numpy() + 1
    merged["cell_id"] = np.where(shares > 1, [f"{b}#{k}" for b, k in zip(base, rank, strict=True)],
                                 base)  # fmt: skip
    merged = merged.reset_index(drop=True)
    travel = replace(travel, matrix=travel.matrix[first], straight=travel.straight[first])
    n_shared = int(base[shares > 1].nunique())
    return merged, travel, assignment[first], np.asarray(minutes_before)[first], n_shared


def _contiguity(assignment, adjacency, priced, people, min_load, high, cell_units, site_units,
                records, notes):  # fmt: skip
    """Repair areas left in pieces; the solver records take the added cost (see plan_centers)."""
    started = time.perf_counter()
    fixed = repair_contiguity(
        assignment, adjacency, priced, people, people, min_load, np.full(len(min_load), high),
        same_unit=(cell_units, site_units),
    )  # fmt: skip
    logger.info("contiguity repair: %d rows moved in %.1f s", len(fixed.moved_rows),
                time.perf_counter() - started)  # fmt: skip
    if not len(fixed.moved_rows):
        return assignment, records
    rows = fixed.moved_rows
    old = np.asarray(priced[rows, assignment[rows]]).ravel()
    new = np.asarray(priced[rows, fixed.assignment[rows]]).ravel()
    added = pd.Series(people[rows] * (new - old)).groupby(cell_units[rows]).sum()
    records = [_with_added(r, added) for r in records if r.get("part") != "total"]
    if len(records) > 1:
        records.append(_total_record(records))
    solved = sum(r.get("objective", 0.0) for r in records if r.get("part") != "total")
    share = fixed.added_cost / max(solved - fixed.added_cost, 1e-9)
    parts = "1 cell part" if len(rows) == 1 else f"{len(rows):,} cell parts"
    notes.append(
        f"Contiguity repair: {people_phrase(people[rows].sum())} in {parts}, cut off from the "
        "rest of their center's area, moved to the neighbouring center they touch (some "
        "swapped for one of its border cells), changing the objective by "
        f"{share:+.2%} (included in the solver figures)."
    )
    return fixed.assignment, records


def _with_added(record: dict[str, Any], added: pd.Series) -> dict[str, Any]:
    """A solver record with the repair's added cost in its objective and gap."""
    if "objective" not in record:
        return record
    extra = float(added.get(record["part"], 0.0))  # every unit's record names its unit
    if extra == 0.0:
        return record
    objective = record["objective"] + extra
    gap = (objective - record["bound"]) / objective if objective > 0 else 0.0
    return {**record, "objective": objective, "gap": gap,
            "method": f"{record['method']} + contiguity repair"}  # fmt: skip


def _pieces_by_site(adjacency, assignment, n_sites, notes) -> np.ndarray:
    """Pieces of every site's area, with a note on the areas still in pieces."""
    pieces = area_pieces(adjacency, assignment, n_sites)
    split = int((pieces > 1).sum())
    if split:
        notes.append(
            f"{split:,} of {int((pieces > 0).sum()):,} service areas are in more than one piece "
            "(cells touching or one cell apart count as joined): the bounds or the walking "
            "limit leave no neighbouring center to take, or swap for, the cut-off cells "
            "(sites.area_pieces)."
        )
    return pieces


def _check_minutes(walk_minutes: float, max_minutes: float) -> None:
    if not (math.isfinite(walk_minutes) and walk_minutes > 0):
        raise InputError(f"walk_minutes must be a positive number; got {walk_minutes!r}")
    if not (math.isfinite(max_minutes) and max_minutes >= walk_minutes):
        msg = f"max_minutes ({max_minutes!r}) must be at least walk_minutes ({walk_minutes!r})"
        raise InputError(msg)


def _late_priced(matrix, walk_minutes: float):
    """Minutes, with every minute beyond the limit counted ``1 + LATE_WEIGHT`` times."""
    priced = matrix.copy()
    priced.data = priced.data + LATE_WEIGHT * np.maximum(priced.data - walk_minutes, 0.0)
    return priced


def _own_unit_pairs(matrix, cell_units, site_units) -> sp.csr_matrix:
    """Pairs within the longest walk whose cell and site share a unit (boolean, cells x sites).

    A center serves the people of its own unit only.
    """
    pairs = matrix.tocoo()
    cell_units = np.asarray(cell_units, dtype=str)
    same = cell_units[pairs.row] == np.asarray(site_units, dtype=str)[pairs.col]
    return sp.csr_matrix((np.ones(int(same.sum()), bool), (pairs.row[same], pairs.col[same])),
                         shape=matrix.shape)  # fmt: skip


def _reachable_floor(own, people, n_kept, low, sites, notes) -> np.ndarray:
    """Lower bounds of the existing centers: the norm, or all they can reach if fewer.

    ``own`` (:func:`_own_unit_pairs`) says which cells a center may serve.
    """
    floors = np.full(n_kept, float(low))
    if not n_kept:
        return floors
    reach = np.asarray(own[:, :n_kept].T @ people).ravel()
    short = np.flatnonzero(reach < low)
    for j in short:
        floors[j] = 0.0
        notes.append(
            f"Existing center {sites.at[j, 'site_id']} ({sites.at[j, 'name']}) can reach only "
            f"{reach[j]:,.0f} people of its own unit within the longest walk; it is kept "
            "without a lower bound."
        )
    return floors


def _servable(own, people, min_load) -> np.ndarray:
    """Cells some center could serve: one within reach that can gather its minimum load."""
    usable = np.asarray(own.T @ people).ravel() >= min_load - 1e-9
    return np.asarray(own @ usable.astype(float)).ravel() > 0


def _site_units(region: Any, level: str, sites: Any, cells: Any) -> np.ndarray:
    """The unit each site lies in (the nearest unit for a site outside every unit)."""
    if level not in region.boundaries:
        return np.full(len(sites), cells["unit"].iloc[0], dtype=object)
    units = region.boundaries[level][[level, "geometry"]]
    joined = gpd.sjoin_nearest(sites[["geometry"]], units, how="left")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined[level].astype(str).reindex(sites.index).to_numpy(dtype=object)


def _unit_model(sub, people, min_load, existing, *, high: float, penalty: float) -> PMedian:
    """One unit's population-bounded model (raises InfeasibleError for hopeless bounds)."""
    return PMedian.from_cost_matrix(
        sub, people, p=None, capacity=high, min_load=min_load, loads=people,
        unserved_penalty=penalty, existing=existing,
    )  # fmt: skip


def _solve_unit(sub, people, min_load, existing, high: float, penalty: float,
                time_limit: float, mip_gap: float, seed: int) -> dict[str, Any]:  # fmt: skip
    """Build one unit's model and solve it: a task for a Dask worker.

    Returns the solution's fields (:func:`_solution_fields`): a
    :class:`~svcnet.models.Solution` holds read-only mappings, which do not
    pickle, and its model is rebuilt and checked by the caller.
    """
    model = _unit_model(sub, people, min_load, existing, high=high, penalty=penalty)
    solution = model.solve(time_limit=time_limit, mip_gap=mip_gap, seed=seed)
    return _solution_fields(solution)


def _solution_fields(solution: Solution) -> dict[str, Any]:
    """A solution as plain values (``Solution(**fields)`` rebuilds it)."""
    values = {f.name: getattr(solution, f.name) for f in fields(solution) if f.name != "_geo"}
    values["timings"] = dict(solution.timings)
    values["details"] = dict(solution.details)
    return values


def _solve_by_unit(priced, people, cell_units, site_units, min_load, keep_open, *, high,
                   penalty, time_limit, mip_gap, seed, client=None, notes=None):  # fmt: skip
    """One population-bounded model per unit; the time limit shared by the pairs.

    Units are solved smallest first, each with its share of the time left, so
    that the time a small unit does not need goes to the larger ones. With a
    ``client``, on the cluster: see :func:`_solve_on_cluster`.
    """
    selected: list[np.ndarray] = []
    assignment = np.full(priced.shape[0], -1, dtype=np.int64)
    records = []
    rows_of = {u: np.flatnonzero(cell_units == u) for u in set(cell_units)}
    cols_of = {u: np.flatnonzero(site_units == u) for u in rows_of}
    pairs = {u: max(priced[rows_of[u]][:, cols_of[u]].nnz, 1) for u in rows_of}
    units = sorted(rows_of, key=lambda u: (pairs[u], str(u)))
    if client is not None:
        solved, records = _solve_on_cluster(
            client, units, rows_of, cols_of, pairs, priced, people, min_load, keep_open,
            high=high, penalty=penalty, time_limit=time_limit, mip_gap=mip_gap, seed=seed,
            notes=notes,
        )  # fmt: skip
    else:
        solved = _solve_here(
            units, rows_of, cols_of, pairs, priced, people, min_load, keep_open, records,
            high=high, penalty=penalty, time_limit=time_limit, mip_gap=mip_gap, seed=seed,
        )  # fmt: skip
    for unit, solution in solved:
        rows, cols = rows_of[unit], cols_of[unit]
        served = solution.assignment >= 0
        assignment[rows[served]] = cols[solution.assignment[served]]
        selected.append(cols[solution.selected])
        records.append(solver_record(solution, part=str(unit)))
    records.sort(key=lambda r: str(r["part"]))
    if len(records) > 1:
        records.append(_total_record(records))
    chosen = np.concatenate(selected) if selected else np.zeros(0, dtype=np.int64)
    return np.sort(chosen), assignment, records


def _solve_here(units, rows_of, cols_of, pairs, priced, people, min_load, keep_open, records, *,
                high, penalty, time_limit, mip_gap, seed) -> Solved:  # fmt: skip
    """The units one after another in this process, each checked (records of infeasible ones)."""
    solved = []
    pairs_left = sum(pairs.values())
    deadline = time.perf_counter() + time_limit
    for unit in progress(units, desc="centers by unit", disable=len(units) < 3):
        rows, cols = rows_of[unit], cols_of[unit]
        sub = priced[rows][:, cols]
        left = max(deadline - time.perf_counter(), 0.0)
        limit = max(left * pairs[unit] / pairs_left, 1.0)
        pairs_left -= pairs[unit]
        try:
            model = _unit_model(sub, people[rows], min_load[cols],
                                np.flatnonzero(keep_open[cols]), high=high,
                                penalty=penalty)  # fmt: skip
        except InfeasibleError as exc:
            logger.info("%s: no center can meet its bounds (%s)", unit, exc)
            records.append({"part": unit, "status": "infeasible", "sites": 0})
            continue
        solution = model.solve(time_limit=limit, mip_gap=mip_gap, seed=seed)
        verify(solution, model)
        solved.append((unit, solution))
    return solved


def _task_slots(client: Any) -> int:
    """How many tasks the cluster runs at once: its workers' threads (at least 1)."""
    return max(sum(int(n) for n in client.nthreads().values()), 1)


def _unit_time_limits(units, pairs, time_limit: float, slots: int) -> dict[Any, float]:
    """Seconds per unit solved side by side: ``time_limit x slots x`` its share of the pairs.

    At most ``time_limit``, at least a second (as on one machine), so that the
    units together take about ``time_limit`` on ``slots`` workers.

    Examples
    --------
    >>> _unit_time_limits(["a", "b", "c"], {"a": 10, "b": 30, "c": 60}, 60.0, 2)
    {'a': 12.0, 'b': 36.0, 'c': 60.0}
    """
    total = sum(pairs[u] for u in units) or 1
    return {u: min(time_limit, max(time_limit * slots * pairs[u] / total, 1.0)) for u in units}


def _solve_on_cluster(client, units, rows_of, cols_of, pairs, priced, people, min_load,
                      keep_open, *, high, penalty, time_limit, mip_gap, seed,
                      notes) -> tuple[Solved, list[dict[str, Any]]]:  # fmt: skip
    """The units side by side on the cluster, one task each; every solution checked here.

    The models are built here first (a unit whose bounds cannot be met is
    recorded as on one machine, and sent nowhere); each task rebuilds its
    unit's model from the same arrays and solves it with the same seed. The
    solutions are verified against the models built here.
    """
    records: list[dict[str, Any]] = []
    models: dict[Any, PMedian] = {}
    arguments: dict[Any, tuple[Any, ...]] = {}
    for unit in units:
        rows, cols = rows_of[unit], cols_of[unit]
        task = (priced[rows][:, cols], people[rows], min_load[cols],
                np.flatnonzero(keep_open[cols]))  # fmt: skip
        try:
            models[unit] = _unit_model(*task, high=high, penalty=penalty)
        except InfeasibleError as exc:
            logger.info("%s: no center can meet its bounds (%s)", unit, exc)
            records.append({"part": unit, "status": "infeasible", "sites": 0})
            continue
        arguments[unit] = task
    slots = _task_slots(client)
    limits = _unit_time_limits(list(models), pairs, time_limit, slots)
    order = sorted(models, key=lambda u: (-pairs[u], str(u)))  # the largest start first
    logger.info("centers: %d units on %d task slots, %.0f-%.0f s each", len(order), slots,
                min(limits.values(), default=0.0), max(limits.values(), default=0.0))  # fmt: skip
    started = time.perf_counter()
    results = run_tasks(
        client, _solve_unit,
        [(*arguments[u], high, penalty, limits[u], mip_gap, seed) for u in order],
        desc="centers by unit", progress=len(order) >= 3,
    )  # fmt: skip
    wall = time.perf_counter() - started
    solved = []
    for unit, values in zip(order, results, strict=True):
        solution = Solution(**values)
        verify(solution, models[unit])
        solved.append((unit, solution))
    if notes is not None and order:
        parts = "1 part" if len(order) == 1 else f"{len(order)} parts"
        notes.append(
            f"Solved on a Dask cluster ({slots} task slots): {parts} side by side in "
            f"{wall:.0f} s; the solver seconds add up the workers' times."
        )
    return solved, records


def _total_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    solved = [r for r in records if "objective" in r]
    objective = sum(r["objective"] for r in solved)
    bound = sum(r["bound"] for r in solved)
    gap = (objective - bound) / objective if objective > 0 else 0.0
    return {"part": "total", "model": "PMedian", "status": "sum of parts",
            "objective": objective, "bound": bound, "gap": gap,
            "seconds": sum(r["seconds"] for r in solved),
            "method": "one model per unit", "sites": sum(r["sites"] for r in records)}  # fmt: skip


def _build_plan(region, cells, level, sites, travel, selected, assignment, records,
                minutes_before, pieces, servable, *, walk_minutes, bounds, speed, group, notes,
                parameters) -> Plan:  # fmt: skip
    people = cells[group].to_numpy(dtype=float)
    served = assignment >= 0
    raw = np.full(len(cells), np.nan)
    rows = np.flatnonzero(served)
    raw[rows] = np.asarray(travel.matrix[rows, assignment[rows]]).ravel()
    site_ids = sites["site_id"].to_numpy()
    table = pd.DataFrame({
        "cell_id": cells["cell_id"].to_numpy(),
        "unit": cells["unit"].to_numpy(),
        "site_id": np.where(served, site_ids[np.maximum(assignment, 0)], None),
        "minutes": raw,
        "minutes_before": minutes_before,
        "straight_line": travel.straight,
    })  # fmt: skip
    for g in region.groups:
        table[g] = cells[g].to_numpy()
    open_sites = _ranked_sites(sites, selected, table, people, walk_minutes, bounds)
    by_id = pd.Series(pieces, index=sites["site_id"].to_numpy())
    open_sites["area_pieces"] = by_id.reindex(open_sites["site_id"]).to_numpy()
    notes += _unserved_notes(people, served, servable, bounds.low)
    late = served & (raw > walk_minutes)
    if late.any():
        notes.append(
            f"{people_phrase(people[late].sum())} are served beyond a {walk_minutes:g}-minute "
            f"walk: the street network and the bounds leave no nearer center for them."
        )
    units = _unit_gap(table, group, bounds, open_sites)
    return Plan(
        "community service centers", region.name, open_sites, table, cells,
        unit_level=level, threshold_minutes=walk_minutes, group=group,
        norms=[bounds, speed], solver=records, notes=notes,
        parameters={**parameters, "travel": travel.basis}, unit_table=units,
        units=region.boundaries.get(level),
    )  # fmt: skip


def _unserved_notes(people, served, servable, low) -> list[str]:
    """Who is left unserved, and why: out of every center's reach, or by the plan."""
    notes = []
    cannot = ~served & ~servable
    if cannot.any():
        notes.append(
            f"{people_phrase(people[cannot].sum())} in {int(cannot.sum()):,} cells cannot be "
            f"served: no center can gather {low:,.0f} people within the longest walk of them "
            "(cells listed in plan.unserved)."
        )
    left = ~served & servable
    if left.any():
        notes.append(
            f"{people_phrase(people[left].sum())} in {int(left.sum()):,} cells are left "
            f"unserved although a center within reach could gather {low:,.0f} people: the plan "
            "found no way to serve them within the bounds (a longer time_limit may serve some; "
            "cells listed in plan.unserved)."
        )
    return notes


def _ranked_sites(sites, selected, table, people, walk_minutes, bounds):
    open_sites = sites.iloc[np.asarray(selected)].copy()
    by_site = table.assign(people=people, far_before=people * (table["minutes_before"] >
                                                                walk_minutes))  # fmt: skip
    by_site["person_minutes"] = by_site["people"] * by_site["minutes"]
    sums = by_site.groupby("site_id")[["people", "far_before", "person_minutes"]].sum()
    sums = sums.reindex(open_sites["site_id"]).fillna(0.0)
    open_sites["population_served"] = sums["people"].to_numpy()
    open_sites["capacity"] = float(bounds.high)
    with np.errstate(invalid="ignore", divide="ignore"):
        open_sites["mean_minutes"] = (sums["person_minutes"] / sums["people"]).to_numpy()
    open_sites["newly_within_walk"] = sums["far_before"].to_numpy()
    open_sites = open_sites.sort_values(
        ["status", "newly_within_walk", "population_served"], ascending=[False, False, False]
    )
    is_new = open_sites["status"] == "new"
    open_sites["rank"] = pd.array(np.where(is_new, np.cumsum(is_new), 0), dtype="Int64")
    open_sites.loc[~is_new, "rank"] = pd.NA
    open_sites["reason"] = [
        _reason(row, walk_minutes) for row in open_sites.itertuples(index=False)
    ]
    first = ["site_id", "name", "status", "rank", "population_served", "capacity",
             "mean_minutes", "reason"]  # fmt: skip
    rest = [c for c in open_sites.columns if c not in first]
    return open_sites[first + rest].reset_index(drop=True)


def _reason(row: Any, walk_minutes: float) -> str:
    served = people_phrase(row.population_served)
    text = f"serves {served}"
    if row.status == "new" and row.newly_within_walk > 0:
        text += (f", {row.newly_within_walk:,.0f} of them now beyond a {walk_minutes:g}-minute "
                 f"walk of any center")  # fmt: skip
    if row.status == "existing":
        text = "existing center, kept; " + text
    return text + f"; mean walk {row.mean_minutes:.1f} min"


def _unit_gap(table: pd.DataFrame, group: str, bounds, sites) -> pd.DataFrame:
    """Centers the norm asks for per unit (``indicators.center_gap``), before and after."""
    people = table.groupby("unit")[group].sum()
    kept = sites[sites["status"] == "existing"]["site_id"]
    unit_of = table.dropna(subset=["site_id"]).groupby("site_id")["unit"].first()
    existing = kept.map(unit_of).value_counts()
    gap = indicators.center_gap(people, existing, people_per_center=bounds)
    after = sites["site_id"].map(unit_of).value_counts().reindex(gap.index, fill_value=0)
    gap["centers_gap_after"] = np.maximum(gap["centers_min"] - after, 0)
    units = gap.index != "total"
    gap.loc["total", "centers_gap_after"] = gap.loc[units, "centers_gap_after"].sum()
    return gap[["centers_min", "centers_max", "centers_gap", "centers_gap_after"]]
