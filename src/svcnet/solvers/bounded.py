"""The bounded (capacitated, minimum-load) p-median: MILP builder, heuristic and LP bound.

The exact model is a single-sourcing MILP. At city scale it is too large to
close, so the heuristic alternates *allocation* (an MILP over the open sites
only: which demand goes where, within the load bounds, or stays unserved) and
*location* (each site moves to the candidate that serves its own demand at
least cost), starting from an uncapacitated p-median. The LP relaxation of
the full model gives the certified lower bound.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from svcnet.errors import InfeasibleError
from svcnet.solvers import pmedian as heur
from svcnet.solvers.highs import MipResult, solve_mip

logger = logging.getLogger(__name__)

__all__ = ["BoundedProblem", "build_and_solve", "heuristic", "lp_bound"]

_ALLOCATION_SECONDS = 15.0  # time for one allocation MILP (demand to the open sites)


@dataclass(frozen=True, eq=False)
class BoundedProblem:
    """Allowed pairs (``rows``, ``sites``, ``costs``) and the bounds, all in site positions.

    ``fallback`` is each row's cost when unserved (weight x penalty), or None when
    every row must be served. ``p`` None lets the model choose the number of sites.
    """

    n: int
    m: int
    rows: np.ndarray
    sites: np.ndarray
    costs: np.ndarray
    weights: np.ndarray
    loads: np.ndarray
    capacity: np.ndarray | None
    min_load: np.ndarray | None
    p: int | None
    existing: np.ndarray
    allowed: np.ndarray
    fallback: np.ndarray | None


@dataclass(frozen=True, eq=False)
class BoundedResult:
    """An open set, the assignment (-1 unserved), its objective, and the MILP's bound/status."""

    is_open: np.ndarray
    assignment: np.ndarray
    objective: float
    bound: float
    status: str


def objective_of(problem: BoundedProblem, assignment: np.ndarray) -> float:
    """Total weighted cost of an assignment (unserved rows at their fallback)."""
    served = assignment >= 0
    key = problem.rows * problem.m + problem.sites
    order = np.argsort(key)
    wanted = np.flatnonzero(served) * problem.m + assignment[served]
    pos = order[np.searchsorted(key[order], wanted)]
    total = float((problem.weights[served] * problem.costs[pos]).sum())
    if (~served).any():
        total += float(problem.fallback[~served].sum())
    return total


def build_and_solve(
    problem: BoundedProblem,
    *,
    site_mask: np.ndarray | None = None,
    fix_open: np.ndarray | None = None,
    relax: bool = False,
    start: BoundedResult | None = None,
    time_limit: float | None = None,
    mip_gap: float = 0.0,
    seed: int = 0,
    lp_solver: str | None = None,
) -> tuple[MipResult, np.ndarray, np.ndarray]:
    """Build the single-sourcing MILP (or its LP relaxation) over some sites and solve it.

    Returns the HiGHS result, the open-site mask and the assignment (-1: unserved).
    """
    allowed = problem.allowed if site_mask is None else (problem.allowed & site_mask)
    sites = np.flatnonzero(allowed)
    col_of = np.full(problem.m, -1)
    col_of[sites] = np.arange(len(sites))
    keep = allowed[problem.sites]
    rows, cols, costs = problem.rows[keep], col_of[problem.sites[keep]], problem.costs[keep]
    k, q, n = len(sites), len(rows), problem.n
    u = n if problem.fallback is not None else 0
    width = k + q + u
    x, y = k + np.arange(q), np.arange(k)

    def block(r, c, v, height):
        return sp.csr_matrix((v, (r, c)), shape=(height, width))

    load = problem.loads[rows]
    blocks = [
        block(np.concatenate([rows, np.arange(u)]), k + np.arange(q + u), np.ones(q + u), n),
        block(np.tile(np.arange(q), 2), np.concatenate([x, cols]),
              np.concatenate([np.ones(q), -np.ones(q)]), q),
    ]  # fmt: skip
    lower, upper = [np.ones(n), np.full(q, -np.inf)], [np.ones(n), np.zeros(q)]
    if problem.capacity is not None:
        blocks.append(block(np.concatenate([cols, y]), np.concatenate([x, y]),
                            np.concatenate([load, -problem.capacity[sites]]), k))  # fmt: skip
        lower.append(np.full(k, -np.inf))
        upper.append(np.zeros(k))
    if problem.min_load is not None:
        blocks.append(block(np.concatenate([cols, y]), np.concatenate([x, y]),
                            np.concatenate([load, -problem.min_load[sites]]), k))  # fmt: skip
        lower.append(np.zeros(k))
        upper.append(np.full(k, np.inf))
    blocks.append(block(np.zeros(k, dtype=int), y, np.ones(k), 1))
    if problem.p is None:
        lower.append([max(1, problem.existing.size)])
        upper.append([k])
    else:
        lower.append([problem.p])
        upper.append([problem.p])
    col_lower = np.zeros(width)
    col_lower[col_of[problem.existing]] = 1.0
    if fix_open is not None:
        col_lower[:k] = np.maximum(col_lower[:k], fix_open[sites].astype(float))
    warm = None
    if start is not None and not relax:
        warm = _start_vector(start, sites, col_of, rows, cols, k, q, u)
    cost = np.concatenate([np.zeros(k), costs * problem.weights[rows],
                           problem.fallback if u else np.zeros(0)])  # fmt: skip
    result = solve_mip(
        cost=cost, matrix=sp.vstack(blocks, format="csr"),
        row_lower=np.concatenate([np.asarray(r, float) for r in lower]),
        row_upper=np.concatenate([np.asarray(r, float) for r in upper]),
        col_lower=col_lower, col_upper=np.ones(width),
        integer=np.zeros(width, dtype=bool) if relax else np.ones(width, dtype=bool),
        time_limit=time_limit, mip_gap=mip_gap, seed=seed, start=warm,
        what="bounded p-median model", lp_solver=lp_solver,
    )  # fmt: skip
    is_open = np.zeros(problem.m, dtype=bool)
    is_open[sites[result.x[:k] > 0.5]] = True
    assignment = np.full(n, -1, dtype=np.int64)
    xs = result.x[k : k + q] > 0.5
    assignment[rows[xs]] = sites[cols[xs]]
    return result, is_open, assignment


def _start_vector(start, sites, col_of, rows, cols, k, q, u):
    if (start.is_open & (col_of < 0)).any():
        return None
    target = np.full(len(start.assignment), -1)
    served = start.assignment >= 0
    target[served] = col_of[start.assignment[served]]
    if (target[served] < 0).any():
        return None
    x = (cols == target[rows]).astype(float)
    if u == 0 and not served.all():
        return None
    z = (~served).astype(float)[:u]
    return np.concatenate([start.is_open[sites].astype(float), x, z])


def lp_bound(problem: BoundedProblem, *, time_limit: float | None = None) -> float:
    """Lower bound from the LP relaxation of the full model (x_ij <= y_j kept).

    Returns -inf when the LP does not finish in time.
    """
    try:
        result, _, _ = build_and_solve(problem, relax=True, time_limit=time_limit,
                                       lp_solver="ipm")  # fmt: skip
    except InfeasibleError:
        raise
    except Exception:  # noqa: BLE001 - an unfinished LP gives no bound, not a failure
        logger.warning("the LP relaxation did not finish; no lower bound")
        return -math.inf
    return result.objective if result.status == "optimal" else -math.inf


def _allocate(problem, is_open, deadline, seed, start=None):
    """Best assignment to a given open set (sites may still close), by MILP."""
    remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.05)
    remaining = _ALLOCATION_SECONDS if remaining is None else min(remaining, _ALLOCATION_SECONDS)
    result, opened, assignment = build_and_solve(
        problem, site_mask=is_open, start=start, time_limit=remaining, seed=seed, mip_gap=1e-4
    )
    return BoundedResult(opened, assignment, objective_of(problem, assignment), result.bound,
                         result.status)  # fmt: skip


def _relocate(problem: BoundedProblem, current: BoundedResult) -> np.ndarray:
    """Move each open site to the candidate serving its own demand at least cost.

    A candidate qualifies only if every demand row of the site may reach it.
    Returns the new open mask (unchanged where no candidate is better).
    """
    served = current.assignment >= 0
    open_sites = np.flatnonzero(current.is_open)
    cluster_of = np.full(problem.m, -1)
    cluster_of[open_sites] = np.arange(len(open_sites))
    member_rows = np.flatnonzero(served)
    membership = sp.csr_matrix(
        (np.ones(len(member_rows)), (cluster_of[current.assignment[member_rows]], member_rows)),
        shape=(len(open_sites), problem.n),
    )
    shape = (problem.n, problem.m)
    weighted = sp.csr_matrix(
        (problem.weights[problem.rows] * problem.costs, (problem.rows, problem.sites)), shape=shape
    )
    reach = sp.csr_matrix((np.ones(len(problem.rows)), (problem.rows, problem.sites)),
                          shape=(problem.n, problem.m))  # fmt: skip
    totals = (membership @ weighted).tocsr()
    counts = (membership @ reach).tocsr()
    size = np.asarray(membership.sum(axis=1)).ravel()
    new_open = current.is_open.copy()
    taken = current.is_open.copy()
    fixed = np.zeros(problem.m, dtype=bool)
    fixed[problem.existing] = True
    for c, site in enumerate(open_sites):
        if fixed[site] or size[c] == 0:
            continue
        start, end = counts.indptr[c], counts.indptr[c + 1]
        cand = counts.indices[start:end][counts.data[start:end] >= size[c] - 0.5]
        cand = cand[problem.allowed[cand] & (~taken[cand] | (cand == site))]
        if cand.size == 0:
            continue
        row_tot = totals[c].toarray().ravel()
        best = cand[np.argmin(row_tot[cand])]
        if best != site and row_tot[best] < row_tot[site] - 1e-9:
            new_open[site], new_open[best] = False, True
            taken[best] = True
    return new_open


def heuristic(
    problem: BoundedProblem,
    *,
    deadline: float | None,
    seed: int = 0,
    penalty: float | None = None,
    max_rounds: int = 30,
) -> BoundedResult:
    """Uncapacitated start, then allocation / relocation rounds until no improvement."""
    p0 = problem.p
    allowed = problem.allowed
    if p0 is None:
        low = problem.min_load if problem.min_load is not None else np.zeros(problem.m)
        cap = problem.capacity if problem.capacity is not None else np.full(problem.m, np.inf)
        target = np.where(np.isfinite(cap), (low + cap) / 2, np.maximum(low, 1.0))[allowed]
        p0 = int(round(problem.loads.sum() / max(float(np.median(target)), 1e-9)))
        p0 = int(np.clip(p0, max(1, problem.existing.size), int(allowed.sum())))
    csr = sp.csr_matrix(
        (problem.costs, (problem.rows, problem.sites)), shape=(problem.n, problem.m)
    )
    csr.sort_indices()
    pairs = heur.Pairs.from_csr(csr, problem.weights, allowed, penalty=penalty)
    is_open = heur.greedy(pairs, p0, problem.existing, allowed)
    is_open = heur.local_search(pairs, is_open, problem.existing, allowed, deadline=deadline)
    best = _allocate(problem, is_open, deadline, seed)
    for round_ in range(max_rounds):
        if deadline is not None and time.perf_counter() > deadline:
            break
        moved = _relocate(problem, best)
        if np.array_equal(moved, best.is_open):
            break
        trial = _allocate(problem, moved, deadline, seed)
        logger.debug("bounded heuristic round %d: %.6g -> %.6g", round_, best.objective,
                     trial.objective)  # fmt: skip
        if not trial.objective < best.objective - 1e-9 * max(1.0, abs(best.objective)):
            break
        best = trial
    return best
