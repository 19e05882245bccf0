"""The bounded (capacitated, minimum-load) p-median: the solver, the MILP and older heuristics.

:func:`solve` is what :class:`~svcnet.models.PMedian` calls for bounded models:

1. **Reduce** (:mod:`~svcnet.solvers.bounded_instance`): drop pairs whose load
   exceeds the site's capacity and sites that cannot reach their minimum load;
   rows left without a site are unserved in every solution. With ``p`` free,
   split into the connected components of the demand-site graph: they are
   independent, so their optima and bounds add up.
2. **Small parts** (up to ``exact_pairs`` pairs) are solved by the exact MILP,
   warm-started from the heuristic.
3. **Large parts**: a Lagrangian bound (:mod:`~svcnet.solvers.bounded_lagrange`),
   the site search on the transportation LP, rounding to single sourcing (an
   assignment MILP, region repairs, and a solver-free greedy repair that always
   returns a feasible plan) and large neighbourhood search
   (:mod:`~svcnet.solvers.bounded_search`), a second
   Lagrangian pass from the LP's row prices, and, with the time left, the MILP
   relaxation that keeps the sites binary but lets rows split between sites,
   whose dual bound is also a lower bound on the single-sourcing optimum.

The older allocation/relocation heuristic (:func:`heuristic`) and the LP bound
(:func:`lp_bound`) are kept for comparison.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from svcnet.errors import InfeasibleError, SolverError
from svcnet.solvers import pmedian as heur
from svcnet.solvers.highs import MipResult, solve_mip

logger = logging.getLogger(__name__)

__all__ = ["BoundedProblem", "BoundedOutcome", "build_and_solve", "heuristic", "lp_bound", "solve"]

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


# -- the solver ---------------------------------------------------------------------------

_EXACT_PAIRS = 20_000  # parts up to this many pairs go to the exact MILP
_BUNDLE_PAIRS = 5_000  # small independent parts are solved together up to this many pairs
_DEFAULT_BOUND_SECONDS = 60.0  # relaxation MILP for the bound when no time limit is given
_TILE_PAIRS = 80_000  # larger parts are searched piece by piece (pieces of half this size)
_RELAXATION_PAIRS = 80_000  # the relaxation MILP on parts up to this size, else decomposition
_QUICK_ITERATIONS = 60  # subgradient steps of the fallback bound of a small part


@dataclass(frozen=True, eq=False)
class BoundedOutcome:
    """What :func:`solve` returns, in the model's numbering.

    ``assignment`` is -1 for unserved rows; ``bound`` is a proven lower bound.
    ``status`` is ``"optimal"`` when the bound meets the objective (within
    ``mip_gap``), ``"time_limit"`` when the time ran out first, else ``"feasible"``.
    """

    is_open: np.ndarray
    assignment: np.ndarray
    objective: float
    bound: float
    status: str
    method: str
    timings: dict
    details: dict


@dataclass
class _PartOutcome:
    assignment: np.ndarray
    is_open: np.ndarray
    objective: float
    bound: float
    proven: bool
    how: str
    info: dict


def solve(
    problem: BoundedProblem,
    *,
    deadline: float | None = None,
    mip_gap: float = 0.0,
    seed: int = 0,
    method: str = "auto",
    exact_pairs: int = _EXACT_PAIRS,
) -> BoundedOutcome:
    """Solve a bounded p-median: reduce, split, then MILP or heuristic + bounds per part.

    Parameters
    ----------
    problem
        The model's pairs and bounds.
    deadline
        ``time.perf_counter()`` value at which to return the best solution found.
    mip_gap
        Relative gap at which a part counts as solved.
    seed
        Seed of the randomised steps (same seed, same result).
    method
        ``"auto"`` (MILP for small parts, heuristic and bounds for large ones),
        ``"exact"`` (also the full MILP on large parts, with the time left) or
        ``"heuristic"`` (no MILP on whole parts; bounds from the Lagrangian).
    exact_pairs
        Largest part (in pairs) sent straight to the MILP under ``"auto"``.

    Returns
    -------
    BoundedOutcome

    Raises
    ------
    InfeasibleError
        When the reduction or a MILP proves there is no feasible solution.
    SolverError
        When no feasible solution was found in time.

    Examples
    --------
    >>> import numpy as np
    >>> problem = BoundedProblem(n=3, m=2, rows=np.array([0, 1, 1, 2]),
    ...     sites=np.array([0, 0, 1, 1]), costs=np.array([1.0, 2.0, 1.0, 1.0]),
    ...     weights=np.ones(3), loads=np.ones(3), capacity=np.full(2, 2.0),
    ...     min_load=np.full(2, 1.0), p=None, existing=np.zeros(0, int),
    ...     allowed=np.ones(2, bool), fallback=None)
    >>> out = solve(problem)
    >>> out.assignment.tolist(), out.objective, out.status
    ([0, 1, 1], 3.0, 'optimal')
    """
    from svcnet.solvers.bounded_instance import reduce_problem

    started = time.perf_counter()
    reduced = reduce_problem(problem)
    timings = {"reduce": time.perf_counter() - started}
    parts = reduced.parts
    small = [k for k, part in enumerate(parts) if part.q <= exact_pairs and method != "heuristic"]
    large = [k for k in range(len(parts)) if k not in set(small)]
    outcomes: dict[int, _PartOutcome] = {}
    t0 = time.perf_counter()
    for bundle in _bundles([parts[k] for k in small], small):
        merged = _merge([parts[k] for k in bundle]) if len(bundle) > 1 else parts[bundle[0]]
        share = _share(deadline, sum(parts[k].q for k in bundle),
                       sum(parts[k].q for k in small) + sum(parts[k].q for k in large))  # fmt: skip
        result = _solve_small(merged, deadline=share, mip_gap=mip_gap, seed=seed)
        for k, piece in zip(bundle, _unmerge(merged, result, [parts[k] for k in bundle]),
                            strict=True):  # fmt: skip
            outcomes[k] = piece
    timings["small parts"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    total_large = sum(parts[k].q for k in large)
    for k in sorted(large, key=lambda k: parts[k].q):
        share = _share(deadline, parts[k].q, total_large)
        total_large -= parts[k].q
        outcomes[k] = _solve_large(parts[k], deadline=share, mip_gap=mip_gap, seed=seed,
                                   method=method)  # fmt: skip
    timings["large parts"] = time.perf_counter() - t0
    return combine(problem, reduced, outcomes, large, deadline=deadline, mip_gap=mip_gap,
                   timings=timings)  # fmt: skip


def combine(problem, reduced, outcomes, large, *, deadline, mip_gap, timings) -> BoundedOutcome:
    """The parts' outcomes (by part number) put together in the model's numbering.

    The objective and the bound add up over the independent parts (plus the
    reduction's constant); ``large`` are the parts whose details are reported.
    """
    parts = reduced.parts
    assignment = np.full(problem.n, -1, dtype=np.int64)
    is_open = np.zeros(problem.m, dtype=bool)
    objective = bound = reduced.constant
    proven = True
    hows = set()
    for k, part in enumerate(parts):
        out = outcomes[k]
        served = out.assignment >= 0
        assignment[part.row_ids[served]] = part.site_ids[out.assignment[served]]
        is_open[part.site_ids[out.is_open]] = True
        objective += out.objective
        bound += out.bound
        proven &= out.proven
        hows.add(out.how)
    bound = min(bound, objective)
    gap = (objective - bound) / max(abs(objective), 1e-12)
    if proven or gap <= mip_gap + 1e-12:
        status = "optimal"
    elif deadline is not None and time.perf_counter() >= deadline:
        status = "time_limit"
    else:
        status = "feasible"
    largest = max(parts, key=lambda part: part.q) if parts else None
    details = {
        "parts": len(parts),
        "largest_part": {"rows": largest.n, "sites": largest.m, "pairs": largest.q}
        if largest is not None
        else None,
        "unservable_rows": int(reduced.unservable.size),
        "sites_unable_to_reach_min_load": int(reduced.closed_sites.size),
        "p_range": reduced.p_range,
    }
    for k in large:
        for key, value in outcomes[k].info.items():
            details.setdefault(key, value)
    method_used = " + ".join(sorted(hows)) if hows else "reduction"
    return BoundedOutcome(is_open, assignment, float(objective), float(bound), status,
                          method_used, timings, details)  # fmt: skip


def _share(deadline: float | None, size: float, remaining_size: float) -> float | None:
    """A deadline for one piece of work: its share of the time left, by size."""
    if deadline is None:
        return None
    left = max(deadline - time.perf_counter(), 0.0)
    return time.perf_counter() + left * min(1.0, size / max(remaining_size, 1.0))


def _bundles(parts, keys) -> list[list[int]]:
    """Group small parts so that each MILP has a reasonable size."""
    bundles, current, size = [], [], 0
    for part, key in sorted(zip(parts, keys, strict=True), key=lambda pk: pk[0].q):
        if current and size + part.q > _BUNDLE_PAIRS:
            bundles.append(current)
            current, size = [], 0
        current.append(key)
        size += part.q
    if current:
        bundles.append(current)
    return bundles


def _merge(parts):
    """Several independent parts as one (block diagonal)."""
    from svcnet.solvers.bounded_instance import Part

    row_off = np.cumsum([0] + [p.n for p in parts])
    site_off = np.cumsum([0] + [p.m for p in parts])
    cat = np.concatenate
    return Part.build(
        cat([p.rows + row_off[k] for k, p in enumerate(parts)]),
        cat([p.cols + site_off[k] for k, p in enumerate(parts)]),
        cat([p.vals for p in parts]),
        load=cat([p.load for p in parts]), lo=cat([p.lo for p in parts]),
        hi=cat([p.hi for p in parts]), fallback=cat([p.fallback for p in parts]),
        penalized=parts[0].penalized, existing=cat([p.existing for p in parts]), p=None,
        row_ids=cat([p.row_ids for p in parts]), site_ids=cat([p.site_ids for p in parts]),
    )  # fmt: skip


def _unmerge(merged, result: _PartOutcome, parts) -> list[_PartOutcome]:
    """Split a bundle's outcome back into its parts (bounds split by each part's share)."""
    if len(parts) == 1:
        return [result]
    out = []
    r0 = s0 = 0
    for part in parts:
        assignment = result.assignment[r0 : r0 + part.n].copy()
        served = assignment >= 0
        assignment[served] -= s0
        is_open = result.is_open[s0 : s0 + part.m]
        objective = part.objective(assignment)
        out.append(_PartOutcome(assignment, is_open, objective, objective, result.proven,
                                result.how, {}))  # fmt: skip
        r0, s0 = r0 + part.n, s0 + part.m
    # the bundle's bound holds for the sum; give the slack to the first part
    slack = sum(o.objective for o in out) - result.bound
    if out:
        out[0].bound = out[0].objective - max(slack, 0.0)
    return out


def _solve_small(part, *, deadline, mip_gap, seed) -> _PartOutcome:
    """Exact MILP on a small part, warm-started from the site search."""
    from svcnet.solvers import bounded_search as search
    from svcnet.solvers.bounded_lagrange import _site_range

    if part.q == 0:
        return _empty_outcome(part)
    start = None

    def until(fraction):
        if deadline is None:
            return None
        return time.perf_counter() + fraction * max(deadline - time.perf_counter(), 0.0)

    lp = search.TransportLP(part, margin=_margin(part))
    found = search.site_search(part, lp, deadline=until(0.25))
    rounded = search.round_assignment(part, lp.x(), lp.z(), found.is_open, deadline=until(0.2),
                                      seed=seed)  # fmt: skip
    if rounded is not None:
        start = _vectors(part, *rounded)
    least, most = _site_range(part)
    remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.05)
    try:
        region = search.region_milp(part, np.arange(part.n), np.arange(part.m),
                                    n_open=(least, most), binary_x=True, start=start,
                                    time_limit=remaining, mip_gap=mip_gap, seed=seed)  # fmt: skip
    except SolverError:
        if rounded is None or not search.feasible(part, *rounded):
            raise
        assignment, is_open = rounded
        objective = part.objective(assignment)
        return _PartOutcome(assignment, is_open, objective, min(_quick_bound(part), objective),
                            False, "site search", {})  # fmt: skip
    assignment = np.full(part.n, -1, dtype=np.int64)
    chosen = region.x > 0.5
    assignment[part.rows[region.pairs[chosen]]] = part.cols[region.pairs[chosen]]
    is_open = region.opened
    objective = part.objective(assignment)
    if rounded is not None and search.feasible(part, *rounded):
        other = part.objective(rounded[0])
        if other < objective:
            assignment, is_open, objective = rounded[0], rounded[1], other
    if not part.penalized and (assignment < 0).any():
        raise SolverError("no assignment serving every demand row was found in time")
    bound = region.result.bound
    if not math.isfinite(bound):  # stopped before its first LP: the Lagrangian bound instead
        bound = _quick_bound(part)
    bound = min(bound, objective)
    proven = region.result.status == "optimal"
    return _PartOutcome(assignment, is_open, objective, bound, proven, "mip", {})


def _quick_bound(part) -> float:
    """A Lagrangian lower bound from a few subgradient steps (finite for any part)."""
    from svcnet.solvers.bounded_lagrange import subgradient

    return subgradient(part, max_iterations=_QUICK_ITERATIONS, exact=False).bound


def _empty_outcome(part) -> _PartOutcome:
    is_open = part.existing.copy()
    assignment = np.full(part.n, -1, dtype=np.int64)
    if is_open.any() or (not part.penalized and part.n):
        raise InfeasibleError("an existing site or a demand row has no usable pair")
    objective = float(part.fallback.sum())
    return _PartOutcome(assignment, is_open, objective, objective, True, "reduction", {})


def _vectors(part, assignment, is_open):
    """A (x per pair, z per row, open mask) start from a single-sourcing solution."""
    from svcnet.solvers.bounded_instance import pair_index

    x = np.zeros(part.q)
    served = np.flatnonzero(assignment >= 0)
    x[pair_index(part, served, assignment[served])] = 1.0
    return x, (assignment < 0).astype(float), is_open


def _solve_large(part, *, deadline, mip_gap, seed, method) -> _PartOutcome:
    """Lagrangian bound, site search, rounding, LNS, and the relaxation MILP's bound."""
    from svcnet.solvers import bounded_lagrange as lagr
    from svcnet.solvers import bounded_search as search
    from svcnet.solvers.bounded_greedy import greedy_areas

    started = time.perf_counter()
    total = None if deadline is None else max(deadline - started, 0.0)
    info: dict = {}
    times: dict = {}

    def until(fraction):
        if total is None:
            return None
        return min(deadline, time.perf_counter() + fraction * max(deadline - time.perf_counter(),
                                                                   0.0))  # fmt: skip

    t = time.perf_counter()
    first = lagr.subgradient(part, deadline=until(0.05), max_iterations=400, exact=False)
    lower = first.bound
    counts = lagr._choose(part, first.site_values)[1]
    times["lagrangian"] = time.perf_counter() - t
    t = time.perf_counter()
    assignment, is_open, prices, found = _heuristic(part, deadline=until(0.5), seed=seed,
                                                     chosen=counts)  # fmt: skip
    objective = part.objective(assignment)
    info.update(found)
    info["rounded_objective"] = objective
    times["site search"] = time.perf_counter() - t
    t = time.perf_counter()
    greedy = greedy_areas(part)  # a start in linear time: better when the search was cut short
    if greedy is not None:
        info["greedy_objective"] = part.objective(greedy[0])
        if info["greedy_objective"] < objective:
            assignment, is_open = greedy
            objective = info["greedy_objective"]
    times["greedy"] = time.perf_counter() - t
    t = time.perf_counter()
    at_prices = lagr.lagrangian_value(part, prices)[0]
    start = prices if at_prices > first.bound else first.multipliers
    second = lagr.subgradient(part, start=start, upper=objective, deadline=until(0.12),
                              max_iterations=1500, exact=True)  # fmt: skip
    lower = max(lower, second.bound)
    times["lagrangian"] += time.perf_counter() - t
    info["lagrangian_bound"] = lower
    info["lagrangian_iterations"] = first.iterations + second.iterations
    t = time.perf_counter()
    assignment, is_open, objective, regions = search.lns(
        part, assignment, is_open, deadline=until(0.45 if method != "heuristic" else 1.0),
        seed=seed, target=_target(lower, mip_gap),
    )  # fmt: skip
    info["lns_regions"] = regions
    times["lns"] = time.perf_counter() - t
    how = "lagrangian + site search + lns"
    if method != "heuristic" and (objective - lower) > mip_gap * abs(objective):
        t = time.perf_counter()
        limit = (time.perf_counter() + _DEFAULT_BOUND_SECONDS) if deadline is None else until(0.8)
        if part.q <= _RELAXATION_PAIRS:
            relaxed = _relaxation_bound(part, assignment, is_open, deadline=limit, seed=seed)
            if relaxed is not None:
                lower = max(lower, relaxed)
                info["relaxation_bound"] = relaxed
                how += " + relaxation mip"
            times["relaxation mip"] = time.perf_counter() - t
        else:
            decomposed = _decomposition_bound(part, second.multipliers,
                                              max_pairs=_TILE_PAIRS // 2, deadline=limit,
                                              seed=seed)  # fmt: skip
            if decomposed > lower:
                lower = decomposed
                how += " + decomposition"
            info["decomposition_bound"] = decomposed
            times["decomposition"] = time.perf_counter() - t
    if method == "exact" and (objective - lower) > mip_gap * abs(objective):
        t = time.perf_counter()
        remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.05)
        try:
            region = search.region_milp(
                part,
                np.arange(part.n),
                np.arange(part.m),
                n_open=lagr._site_range(part),
                binary_x=True,
                start=_vectors(part, assignment, is_open),
                time_limit=remaining,
                mip_gap=mip_gap,
                seed=seed,
            )
        except (SolverError, InfeasibleError):
            region = None
        if region is not None:
            trial = np.full(part.n, -1, dtype=np.int64)
            chosen = region.x > 0.5
            trial[part.rows[region.pairs[chosen]]] = part.cols[region.pairs[chosen]]
            if search.feasible(part, trial, region.opened):
                value = part.objective(trial)
                if value < objective:
                    assignment, is_open, objective = trial, region.opened, value
            lower = max(lower, region.result.bound)
            how += " + mip"
        times["mip"] = time.perf_counter() - t
    elif deadline is not None and not _expired_at(deadline):
        t = time.perf_counter()
        assignment, is_open, objective, more = search.lns(
            part, assignment, is_open, deadline=deadline, seed=seed + 1,
            target=_target(lower, mip_gap),
        )  # fmt: skip
        info["lns_regions"] += more
        times["lns"] += time.perf_counter() - t
    if not part.penalized and (assignment < 0).any():
        raise SolverError("the heuristic found no assignment serving every demand row")
    info["part_timings"] = times
    lower = min(lower, objective)
    proven = (objective - lower) <= 1e-9 * max(1.0, abs(objective))
    return _PartOutcome(assignment, is_open, objective, lower, proven, how, info)


def _heuristic(part, *, deadline, seed, chosen):
    """Site search and rounding, on compact pieces of the part when it is large.

    Returns the assignment, the open sites, the LP's row prices and a few
    numbers for the report.
    """
    from svcnet.solvers import bounded_search as search
    from svcnet.solvers.bounded_instance import tiles

    pieces = [part]
    if part.p is None and part.q > _TILE_PAIRS:
        pieces = tiles(part, _TILE_PAIRS // 2)
    assignment = np.full(part.n, -1, dtype=np.int64)
    is_open = part.existing.copy()
    prices = part.fallback.copy()
    value, evaluations, tried = 0.0, 0, []
    left = sum(piece.q for piece in pieces)
    for piece in pieces:
        share = _share(deadline, piece.q, left)
        left -= piece.q
        own = piece if len(pieces) == 1 else None
        lp = search.TransportLP(piece, margin=_margin(piece))
        target = int(chosen[piece.site_ids].sum()) if own is None else int(chosen.sum())
        search_until = (
            None
            if share is None
            else time.perf_counter() + 0.8 * max(share - time.perf_counter(), 0.0)
        )
        found = search.site_search(piece, lp, deadline=search_until, target=target)
        round_until = None if share is None else max(share, time.perf_counter() + 5.0)
        rounded = search.round_assignment(piece, lp.x(), lp.z(), found.is_open,
                                          deadline=round_until, seed=seed)  # fmt: skip
        if rounded is None:
            logger.debug("rounding failed on a piece of %d rows; split rows left unserved",
                         piece.n)  # fmt: skip
            rounded = _fallback_rounding(piece, lp.x(), found.is_open)
        local, opened = rounded
        logger.debug("piece of %d rows, %d pairs: LP %.6g with %d sites, rounded %.6g with %d",
                     piece.n, piece.q, found.value, found.is_open.sum(), piece.objective(local),
                     opened.sum())  # fmt: skip
        served = local >= 0
        if own is None:
            assignment[piece.row_ids[served]] = piece.site_ids[local[served]]
            is_open[piece.site_ids[opened]] = True
            prices[piece.row_ids] = lp.prices()
        else:
            assignment, is_open, prices = local, opened, lp.prices()
        value += found.value
        evaluations += found.evaluations
        tried.append(found.counts_tried)
    info = {"transport_value": value, "lp_evaluations": evaluations, "pieces": len(pieces),
            "site_counts_tried": tried[0] if len(tried) == 1 else "per piece"}  # fmt: skip
    return assignment, is_open, prices, info


def _margin(part) -> float:
    """How much to narrow the load windows in the site search, so that rounding has room."""
    if part.n == 0:
        return 0.0
    width = part.hi - part.lo
    width = width[np.isfinite(width)]
    margin = 0.5 * float(part.load.mean())
    if width.size:
        margin = min(margin, 0.1 * float(np.median(width)))
    return margin


def _target(lower: float, mip_gap: float) -> float:
    """The objective at which the relative gap to ``lower`` is ``mip_gap``."""
    if lower > 0 and mip_gap > 0:
        return lower / (1.0 - mip_gap)
    return lower


def _expired_at(deadline):
    return deadline is not None and time.perf_counter() >= deadline


def _fallback_rounding(part, x, is_open):
    """Every split row unserved (only when penalised), else each row to its largest share."""
    from svcnet.solvers import bounded_search as search

    unserved = 1.0 - np.bincount(part.rows, x, minlength=part.n)
    greedy = search.greedy_repair(part, search.largest_share(part, x, unserved), is_open)
    if greedy is not None:
        return greedy
    assignment = search._assignment_from(part, x)
    if not part.penalized:
        raise SolverError("could not round the fractional assignment to single sourcing")
    used = np.bincount(assignment[assignment >= 0], part.load[assignment >= 0],
                       minlength=part.m)  # fmt: skip
    opened = is_open & (used >= part.lo - 1e-9)
    assignment[~opened[np.maximum(assignment, 0)]] = -1
    opened |= part.existing
    return assignment, opened


def _relaxation_bound(part, assignment, is_open, *, deadline, seed) -> float | None:
    """Dual bound of the MILP with binary sites and split assignment (a relaxation)."""
    from svcnet.solvers import bounded_search as search
    from svcnet.solvers.bounded_lagrange import _site_range

    remaining = None if deadline is None else deadline - time.perf_counter()
    if remaining is not None and remaining < 5.0:
        return None
    start = _vectors(part, assignment, is_open)
    try:
        region = search.region_milp(part, np.arange(part.n), np.arange(part.m),
                                    n_open=_site_range(part), binary_x=False, start=start,
                                    time_limit=remaining, mip_gap=1e-6, seed=seed)  # fmt: skip
    except (SolverError, InfeasibleError):
        return None
    bound = region.result.bound
    return bound if math.isfinite(bound) else None


def _decomposition_bound(part, multipliers, *, max_pairs, deadline, seed) -> float:
    """Lagrangian decomposition by pieces: only the rows reaching several pieces are relaxed.

    Sites are split into compact pieces. A row whose sites all lie in one piece
    keeps its assignment constraint there; a row reaching several pieces has it
    relaxed with its multiplier (at most one site per piece stays implied). Each
    piece is then a bounded p-median of its own, solved by the MILP under a time
    limit; its dual bound (or, when that is weaker, the per-site Lagrangian
    terms of the piece) bounds its part of the relaxation. The sum is a lower
    bound on the optimum, at least the plain Lagrangian value at the same
    multipliers. Returns ``-inf`` when nothing could be computed.
    """
    total, pieces = decomposition_pieces(part, multipliers, max_pairs=max_pairs)
    left = float(sum(size for _, _, size in pieces))
    for k in np.argsort([size for _, _, size in pieces], kind="stable"):
        piece, lagrangian_piece, size = pieces[k]
        share = _share(deadline, size, left)
        left -= size
        remaining = None if share is None else share - time.perf_counter()
        total += piece_bound(piece, lagrangian_piece, time_limit=remaining, seed=seed)
    return total


def decomposition_pieces(part, multipliers, *, max_pairs, labels=None):
    """The pieces of :func:`_decomposition_bound`: the relaxed rows' total and each piece.

    Returns ``(total, pieces)``: the crossing rows' terms, and per piece
    ``(piece model or None, its Lagrangian value, its pairs)``. The bound is
    ``total`` plus :func:`piece_bound` of every piece, in any order, on any
    machine. ``labels`` are :func:`~svcnet.solvers.bounded_instance.tile_labels`
    already computed.
    """
    from svcnet.solvers.bounded_instance import Part, tile_labels
    from svcnet.solvers.bounded_lagrange import knapsack_lp

    lam = np.asarray(multipliers, float)
    _, site_tile, count = labels if labels is not None else tile_labels(part, max_pairs)
    pair_tile = site_tile[part.cols]
    starts = part.indptr[:-1]
    has = np.diff(part.indptr) > 0
    low_tile = np.full(part.n, -1)
    high_tile = np.full(part.n, -1)
    low_tile[has] = np.minimum.reduceat(pair_tile, starts[has])
    high_tile[has] = np.maximum.reduceat(pair_tile, starts[has])
    cross = has & (low_tile != high_tile)
    row_term = lam + (np.minimum(part.fallback - lam, 0.0) if part.penalized else 0.0)
    total = float(row_term[cross].sum())
    values, _ = knapsack_lp(part, part.vals - lam[part.rows])
    site_term = np.where(part.existing, values, np.minimum(values, 0.0))
    sizes = np.bincount(pair_tile, minlength=count)
    pieces = []
    for k in range(count):
        sites = np.flatnonzero(site_tile == k)
        rows_in = np.flatnonzero(~cross & (low_tile == k))
        lagrangian_piece = float(row_term[rows_in].sum() + site_term[sites].sum())
        keep = pair_tile == k
        rows = np.unique(part.rows[keep])
        if sites.size == 0 or rows.size == 0 or not math.isfinite(lagrangian_piece):
            pieces.append((None, lagrangian_piece if math.isfinite(lagrangian_piece) else 0.0,
                           int(sizes[k])))  # fmt: skip
            continue
        local_row = np.full(part.n, -1)
        local_row[rows] = np.arange(len(rows))
        local_site = np.full(part.m, -1)
        local_site[sites] = np.arange(len(sites))
        r = part.rows[keep]
        vals = part.vals[keep] - np.where(cross[r], lam[r], 0.0)
        fallback = np.where(cross[rows], 0.0, part.fallback[rows])
        piece = Part.build(local_row[r], local_site[part.cols[keep]], vals,
                           load=part.load[rows], lo=part.lo[sites], hi=part.hi[sites],
                           fallback=fallback, penalized=True, existing=part.existing[sites],
                           p=None, row_ids=rows, site_ids=sites)  # fmt: skip
        pieces.append((piece, lagrangian_piece, int(sizes[k])))
    return total, pieces


def piece_bound(piece, lagrangian_piece: float, *, time_limit: float | None, seed: int) -> float:
    """One piece's term of the decomposition bound: its MILP's dual bound, or its Lagrangian.

    The better of the two; the MILP runs when there is more than a second.
    """
    from svcnet.solvers import bounded_search as search

    if piece is None:
        return lagrangian_piece
    bound = -math.inf
    if time_limit is None or time_limit > 1.0:
        try:
            found = search.region_milp(piece, np.arange(piece.n), np.arange(piece.m),
                                       binary_x=True, time_limit=time_limit, mip_gap=1e-4,
                                       seed=seed)  # fmt: skip
            bound = found.result.bound
        except (SolverError, InfeasibleError):
            bound = -math.inf
    logger.debug("decomposition piece: %d rows, %d sites, MILP bound %.6g vs %.6g",
                 piece.n, piece.m, bound, lagrangian_piece)  # fmt: skip
    return max(bound, lagrangian_piece)
