"""Population-bounded location models on a Dask cluster, with a region-wide bound.

The model is reduced and split into independent parts as on one machine
(:func:`svcnet.solvers.bounded.solve`); the parts are solved on the workers,
side by side, each with its own bound, and their bounds add up.

A part too large for one worker (more than :data:`GIANT_PAIRS` pairs) is
decomposed into compact tiles (:func:`svcnet.solvers.bounded_instance.tiles`):

1. each tile is solved on a worker as a model of its own, its rows served by
   its own sites only (pairs across tiles dropped): put together, the tiles'
   solutions are a solution of the part;
2. the same workers compute the tiles' terms of the Lagrangian decomposition
   bound (:func:`svcnet.solvers.bounded.decomposition_pieces`), in which only
   the rows that reach several tiles are relaxed: a lower bound of the whole
   part, not of the tiles (a tile's term is its MILP's dual bound when the
   tile is small enough for the exact MILP, else its Lagrangian value);
3. here, the borders are repaired: large-neighbourhood search over the whole
   part from the stitched solution, which re-optimises the sites near tile
   borders together with their rows.

The reported bound is the decomposition bound (or the part's Lagrangian bound
when higher), valid for the whole part, never a patchwork of the tiles'.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from svcnet.distributed._cluster import run_tasks
from svcnet.errors import InfeasibleError, SolverError
from svcnet.solvers import bounded

logger = logging.getLogger(__name__)

__all__ = ["solve_on_cluster", "GIANT_PAIRS"]

#: Parts with more pairs than this are decomposed into tiles across the workers.
GIANT_PAIRS = 400_000
#: Pairs of a tile of a decomposed part.
TILE_PAIRS = 40_000
#: Share of a decomposed part's time for the tiles (the rest repairs the borders).
TILE_SHARE = 0.6


def _slots(client: Any) -> int:
    return max(sum(int(n) for n in client.nthreads().values()), 1)


def _part_task(part: Any, seconds: float | None, kind: str, mip_gap: float, seed: int,
               method: str) -> bounded._PartOutcome:  # fmt: skip
    """One part (or bundle of small parts) on a worker, within ``seconds``."""
    deadline = None if seconds is None else time.perf_counter() + seconds
    if kind == "small":
        return bounded._solve_small(part, deadline=deadline, mip_gap=mip_gap, seed=seed)
    return bounded._solve_large(part, deadline=deadline, mip_gap=mip_gap, seed=seed,
                                method=method)  # fmt: skip


def _seconds(total: float | None, size: float, all_sizes: float, slots: int) -> float | None:
    """A part's time when parts run ``slots`` at a time: its share, times the slots, capped."""
    if total is None:
        return None
    return float(min(total, max(total * slots * size / max(all_sizes, 1.0), 1.0)))


def solve_on_cluster(
    client: Any,
    problem: bounded.BoundedProblem,
    *,
    time_limit: float | None,
    mip_gap: float = 0.0,
    seed: int = 0,
    method: str = "auto",
    exact_pairs: int = bounded._EXACT_PAIRS,
    progress: bool = True,
) -> bounded.BoundedOutcome:
    """:func:`svcnet.solvers.bounded.solve`, its parts on the workers (see the module notes).

    Examples
    --------
    >>> solve_on_cluster(client, problem, time_limit=60)  # doctest: +SKIP
    """
    from svcnet.solvers.bounded_instance import reduce_problem

    started = time.perf_counter()
    deadline = None if time_limit is None else started + time_limit
    reduced = reduce_problem(problem)
    timings = {"reduce": time.perf_counter() - started}
    parts = reduced.parts
    giant = [k for k, part in enumerate(parts) if part.q > GIANT_PAIRS and part.penalized]
    rest = [k for k in range(len(parts)) if k not in set(giant)]
    small = [k for k in rest if parts[k].q <= exact_pairs and method != "heuristic"]
    large = [k for k in rest if k not in set(small)]
    jobs = [("small", bundle) for bundle in bounded._bundles([parts[k] for k in small], small)]
    jobs += [("large", [k]) for k in large]
    jobs.sort(key=lambda job: -sum(parts[k].q for k in job[1]))  # the largest first
    slots = _slots(client)
    all_pairs = float(sum(part.q for part in parts))
    arguments = []
    for kind, bundle in jobs:
        part = bounded._merge([parts[k] for k in bundle]) if len(bundle) > 1 else parts[bundle[0]]
        seconds = _seconds(time_limit, part.q, all_pairs, slots)
        arguments.append((part, seconds, kind, mip_gap, seed, method))
    t0 = time.perf_counter()
    results = run_tasks(client, _part_task, arguments, desc="model parts", progress=progress)
    outcomes: dict[int, bounded._PartOutcome] = {}
    for (_, bundle), (merged, *_), result in zip(jobs, arguments, results, strict=True):
        pieces = bounded._unmerge(merged, result, [parts[k] for k in bundle])
        outcomes.update(zip(bundle, pieces, strict=True))
    timings["parts on the cluster"] = time.perf_counter() - t0
    giant_pairs = float(sum(parts[k].q for k in giant))
    for k in sorted(giant, key=lambda k: parts[k].q):
        left = None if deadline is None else max(deadline - time.perf_counter(), 1.0)
        seconds = None if left is None else left * parts[k].q / giant_pairs
        giant_pairs -= parts[k].q
        t0 = time.perf_counter()
        outcomes[k] = solve_giant(client, parts[k], seconds=seconds, mip_gap=mip_gap, seed=seed,
                                  progress=progress)  # fmt: skip
        timings.setdefault("decomposed parts", 0.0)
        timings["decomposed parts"] += time.perf_counter() - t0
    outcome = bounded.combine(problem, reduced, outcomes, large + giant, deadline=deadline,
                              mip_gap=mip_gap, timings=timings)  # fmt: skip
    outcome.details["cluster_slots"] = slots
    return outcome


def _tile_task(tile: Any, piece: Any, lagrangian_piece: float, seconds: float | None,
               mip_gap: float, seed: int) -> tuple[bounded._PartOutcome | None, float]:  # fmt: skip
    """One tile of a decomposed part: its own solution, and its term of the bound."""
    started = time.perf_counter()
    deadline = None if seconds is None else started + seconds / 2
    outcome = None
    if tile.n:
        try:
            if tile.q <= bounded._EXACT_PAIRS:
                outcome = bounded._solve_small(tile, deadline=deadline, mip_gap=mip_gap,
                                               seed=seed)  # fmt: skip
            else:
                outcome = bounded._solve_large(tile, deadline=deadline, mip_gap=mip_gap,
                                               seed=seed, method="auto")  # fmt: skip
        except (InfeasibleError, SolverError) as exc:  # the part's search takes over
            logger.info("a tile has no solution of its own (%s)", exc)
    if piece is None or piece.q > bounded._EXACT_PAIRS:
        # HiGHS can overrun its time limit by minutes on a large piece: its Lagrangian term
        return outcome, lagrangian_piece
    remaining = None if seconds is None else max(started + seconds - time.perf_counter(), 0.0)
    return outcome, bounded.piece_bound(piece, lagrangian_piece, time_limit=remaining, seed=seed)


def solve_giant(client: Any, part: Any, *, seconds: float | None, mip_gap: float, seed: int,
                progress: bool = True) -> bounded._PartOutcome:  # fmt: skip
    """One part decomposed into tiles on the workers, its borders repaired here (module notes)."""
    from svcnet.solvers import bounded_lagrange as lagr
    from svcnet.solvers import bounded_search as search
    from svcnet.solvers.bounded_instance import tile_labels, tiles

    started = time.perf_counter()
    deadline = None if seconds is None else started + seconds

    def until(fraction: float) -> float | None:
        return None if seconds is None else started + fraction * seconds

    first = lagr.subgradient(part, deadline=until(0.05), max_iterations=400, exact=False)
    labels = tile_labels(part, TILE_PAIRS)  # one tiling for the solution and the bound
    pieces = tiles(part, TILE_PAIRS, labels)
    total, bound_pieces = bounded.decomposition_pieces(
        part, first.multipliers, max_pairs=TILE_PAIRS, labels=labels
    )
    slots = _slots(client)
    tile_seconds = None if seconds is None else TILE_SHARE * max(deadline - time.perf_counter(), 1)
    arguments = [
        (tile, piece, value, _seconds(tile_seconds, size, part.q, slots), mip_gap, seed)
        for tile, (piece, value, size) in zip(pieces, bound_pieces, strict=True)
    ]
    results = run_tasks(client, _tile_task, arguments, desc="tiles of a large part",
                        progress=progress)  # fmt: skip
    lower = max(first.bound, total + sum(term for _, term in results))
    assignment = np.full(part.n, -1, dtype=np.int64)
    is_open = part.existing.copy()
    stitched = all(outcome is not None or tile.n == 0 for tile, (outcome, _) in
                   zip(pieces, results, strict=True))  # fmt: skip
    for tile, (outcome, _) in zip(pieces, results, strict=True):
        if outcome is None:
            continue
        served = outcome.assignment >= 0
        assignment[tile.row_ids[served]] = tile.site_ids[outcome.assignment[served]]
        is_open[tile.site_ids[outcome.is_open]] = True
    if not (stitched and search.feasible(part, assignment, is_open)):
        logger.info("the tiles do not make a solution: the part is solved here")
        left = None if deadline is None else max(deadline - time.perf_counter(), 1.0)
        out = bounded._solve_large(part, deadline=None if left is None else
                                   time.perf_counter() + left, mip_gap=mip_gap, seed=seed,
                                   method="auto")  # fmt: skip
        out.bound = max(out.bound, min(lower, out.objective))
        return out
    tiles_objective = part.objective(assignment)
    assignment, is_open, objective, regions = search.lns(
        part, assignment, is_open, deadline=deadline, seed=seed,
        target=bounded._target(lower, mip_gap),
    )  # fmt: skip
    lower = min(lower, objective)
    proven = objective - lower <= 1e-9 * max(1.0, abs(objective))
    info = {"tiles": len(pieces), "tiles_objective": tiles_objective, "lns_regions": regions,
            "decomposition_bound": lower, "lagrangian_bound": first.bound}  # fmt: skip
    logger.info("%d tiles: %.6g stitched, %.6g after the border search, bound %.6g",
                len(pieces), tiles_objective, objective, lower)  # fmt: skip
    if not math.isfinite(lower):
        lower = -math.inf
    return bounded._PartOutcome(assignment, is_open, objective, lower, proven,
                                "tiles on the cluster + border lns", info)  # fmt: skip
