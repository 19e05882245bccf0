"""Heuristics for the bounded p-median: site search on the transportation LP, rounding, LNS.

The search works in two layers:

1. **Which sites open.** For a set of open sites, the best *fractional*
   assignment (each row may be split between sites) is a transportation-like LP
   whose value ``T(S)`` is a lower bound on the cost of any single-sourcing
   assignment to those sites, and is tight up to the few rows the LP splits.
   :class:`TransportLP` keeps that LP in HiGHS for every allowed pair and opens or
   closes sites by changing bounds, so a move costs a few warm-started dual
   simplex iterations. :func:`site_search` builds a set of sites greedily (guided
   by the knapsack value of each candidate at the LP's row prices) and improves
   it with drop, add and relocation moves, then tries other numbers of sites.
2. **Single sourcing.** :func:`round_assignment` keeps every row the LP serves
   from one site and reassigns the split rows (with the rows of the sites they
   touch) by a small MILP. :func:`lns` then improves the assignment by solving
   the exact single-sourcing MILP on regions of a few neighbouring open sites
   with everything outside fixed (large neighbourhood search).

Region MILPs and the whole-part MILP are built by :func:`region_milp` with the
HiGHS matrix API.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from svcnet.errors import InfeasibleError, SolverError
from svcnet.solvers.bounded_instance import Part, pair_index
from svcnet.solvers.bounded_lagrange import knapsack_lp
from svcnet.solvers.highs import MipResult, new_highs, solve_mip

logger = logging.getLogger(__name__)

__all__ = ["TransportLP", "RegionResult", "region_milp", "site_search", "round_assignment", "lns"]


LARGE_REGIONS = (12, 16, 12.0)
"""Sites per region, growth limit and seconds per MILP when small regions stall (:func:`lns`)."""

STALL_REGIONS = 40
"""Regions in a row without improvement after which :func:`lns` moves to large regions."""


def _expired(deadline: float | None) -> bool:
    return deadline is not None and time.perf_counter() >= deadline


class TransportLP:
    """The fractional assignment LP of a part, kept in HiGHS; sites open and close by bounds.

    Columns are the pairs ``x_ij`` (upper bound 0 while ``j`` is closed) and the
    unserved rows ``z_i``; rows are one equality per demand row and one load row
    per site (``lo <= load <= hi`` while open, free while closed). A ``margin``
    narrows every window on both sides, which leaves room to round split rows.

    Examples
    --------
    >>> import numpy as np
    >>> part = Part.build(np.array([0, 1]), np.array([0, 0]), np.array([1.0, 2.0]),
    ...     load=np.ones(2), lo=np.array([2.0]), hi=np.array([3.0]), fallback=np.full(2, 9.0),
    ...     penalized=True, existing=np.zeros(1, bool), p=None, row_ids=np.arange(2),
    ...     site_ids=np.arange(1))
    >>> lp = TransportLP(part)
    >>> lp.value, lp.evaluate(opened=[0], keep=True), bool(lp.is_open[0])
    (18.0, 3.0, True)
    """

    def __init__(self, part: Part, *, margin: float = 0.0) -> None:
        import highspy

        self._hs = highspy
        self.part = part
        self.lo = part.lo + margin
        self.hi = np.maximum(part.hi - margin, self.lo)
        n, m, q = part.n, part.m, part.q
        load = part.load[part.rows]
        matrix = sp.csc_matrix(
            (np.concatenate([np.ones(q), load, np.ones(n)]),
             (np.concatenate([part.rows, n + part.cols, np.arange(n)]),
              np.concatenate([np.arange(q), np.arange(q), q + np.arange(n)]))),
            shape=(n + m, q + n),
        )  # fmt: skip
        matrix.sort_indices()
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = q + n, n + m
        lp.col_cost_ = np.concatenate([part.vals, part.fallback])
        lp.col_lower_ = np.zeros(q + n)
        lp.col_upper_ = np.concatenate([np.zeros(q), np.ones(n)])
        lp.row_lower_ = np.concatenate([np.ones(n), np.full(m, -inf)])
        lp.row_upper_ = np.concatenate([np.ones(n), np.full(m, inf)])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data.astype(float)
        self.highs = new_highs()
        self.highs.passModel(lp)
        self.is_open = np.zeros(m, dtype=bool)
        self.evaluations = 0
        self.highs.run()
        self.value = self.highs.getInfo().objective_function_value

    def _apply(self, sites, open_: bool) -> None:
        sites = np.asarray(sites, dtype=np.int64)
        if sites.size == 0:
            return
        part, hs = self.part, self._hs
        cols = part.pairs_of_sites(sites).astype(np.int32)
        upper = np.full(len(cols), 1.0 if open_ else 0.0)
        self.highs.changeColsBounds(len(cols), cols, np.zeros(len(cols)), upper)
        rows = (part.n + sites).astype(np.int32)
        if open_:
            lower, upper = self.lo[sites], self.hi[sites]
            upper = np.where(np.isfinite(upper), upper, hs.kHighsInf)
        else:
            lower, upper = np.full(len(sites), -hs.kHighsInf), np.full(len(sites), hs.kHighsInf)
        self.highs.changeRowsBounds(len(rows), rows, lower.astype(float), upper.astype(float))
        self.is_open[sites] = open_

    def _run(self) -> float:
        self.highs.run()
        self.evaluations += 1
        if self.highs.getModelStatus() != self._hs.HighsModelStatus.kOptimal:
            return math.inf
        return float(self.highs.getInfo().objective_function_value)

    def set_open(self, is_open: np.ndarray) -> float:
        """Make exactly ``is_open`` open; returns the LP value (``inf`` if infeasible)."""
        self._apply(np.flatnonzero(self.is_open & ~is_open), False)
        self._apply(np.flatnonzero(is_open & ~self.is_open), True)
        self.value = self._run()
        return self.value

    def evaluate(self, closed=(), opened=(), *, keep: bool = False) -> float:
        """LP value after closing ``closed`` and opening ``opened``.

        With ``keep`` the change stays when it lowers the value; otherwise the
        previous state (and basis) is restored.
        """
        closed, opened = np.asarray(closed, np.int64), np.asarray(opened, np.int64)
        basis = self.highs.getBasis()
        self._apply(closed, False)
        self._apply(opened, True)
        value = self._run()
        if keep and value < self.value - 1e-9 * max(1.0, abs(self.value)):
            self.value = value
            return value
        self._apply(opened, False)
        self._apply(closed, True)
        self.highs.setBasis(basis)
        self._run()
        return value

    def force(self, closed=(), opened=()) -> float:
        """Apply a change whatever its value (may be ``inf`` when infeasible)."""
        self._apply(np.asarray(closed, np.int64), False)
        self._apply(np.asarray(opened, np.int64), True)
        self.value = self._run()
        return self.value

    def prices(self) -> np.ndarray:
        """Dual value of each demand row's equality (its marginal cost)."""
        return np.asarray(self.highs.getSolution().row_dual, dtype=float)[: self.part.n]

    def x(self) -> np.ndarray:
        """The fractional assignment, one value per pair."""
        return np.asarray(self.highs.getSolution().col_value, dtype=float)[: self.part.q]

    def z(self) -> np.ndarray:
        """The unserved fraction of each row."""
        return np.asarray(self.highs.getSolution().col_value, dtype=float)[self.part.q :]


# -- choosing the open sites -------------------------------------------------------------


def _add_estimates(part: Part, lp: TransportLP) -> np.ndarray:
    """Knapsack value of every closed site at the LP's row prices (negative: worth trying)."""
    values, _ = knapsack_lp(part, part.vals - lp.prices()[part.rows])
    values[lp.is_open] = np.inf
    return values


def _neighbours(part: Part, sites: np.ndarray) -> np.ndarray:
    """Sites sharing a demand row with any of ``sites``."""
    rows = np.unique(part.rows[part.pairs_of_sites(sites)])
    return np.unique(part.cols[part.pairs_of_rows(rows)])


def _construct(part: Part, lp: TransportLP, deadline, *, target: int | None) -> None:
    """Open sites greedily: safe batches first (disjoint reach over unserved rows), then singles."""
    while not _expired(deadline):
        if target is not None and lp.is_open.sum() >= target:
            return
        estimate = _add_estimates(part, lp)
        order = np.argsort(estimate, kind="stable")
        order = order[np.isfinite(estimate[order]) & (estimate[order] < -1e-9)]
        if order.size == 0:
            break
        unserved = lp.z() > 1 - 1e-9
        used = np.zeros(part.n, dtype=bool)
        batch = []
        room = None if target is None else target - int(lp.is_open.sum())
        for k in order:
            pairs = part.site_pairs(k)
            rows = part.rows[pairs]
            if used[rows].any() or part.load[rows[unserved[rows]]].sum() < part.lo[k]:
                continue
            used[rows] = True
            batch.append(k)
            if room is not None and len(batch) >= room:
                break
        before = lp.value
        if batch and lp.force(opened=batch) <= before:
            continue
        if batch:
            lp.force(closed=batch)
        # one at a time: the best of the most promising few
        best_value, best_site = lp.value, None
        for k in order[:12]:
            value = lp.evaluate(opened=[k])
            if value < best_value - 1e-9 * max(1.0, abs(best_value)):
                best_value, best_site = value, k
                break
        if best_site is None:
            break
        lp.force(opened=[best_site])
    if target is not None:
        _force_count(part, lp, target, deadline)


def _force_count(part: Part, lp: TransportLP, target: int, deadline) -> None:
    """Add (or drop) sites, least harm first, until exactly ``target`` are open."""
    is_existing = part.existing
    while lp.is_open.sum() < target and not _expired(deadline):
        estimate = _add_estimates(part, lp)
        order = np.argsort(estimate, kind="stable")
        order = order[np.isfinite(estimate[order])][:12]
        if order.size == 0:
            return
        values = [lp.evaluate(opened=[k]) for k in order]
        k = order[int(np.argmin(values))]
        if not math.isfinite(min(values)):
            return
        lp.force(opened=[k])
    while lp.is_open.sum() > target and not _expired(deadline):
        candidates = np.flatnonzero(lp.is_open & ~is_existing)
        if candidates.size == 0:
            return
        loads = np.bincount(part.cols, lp.x() * part.load[part.rows], minlength=part.m)
        candidates = candidates[np.argsort(loads[candidates], kind="stable")][:12]
        values = [lp.evaluate(closed=[j]) for j in candidates]
        if not math.isfinite(min(values)):
            return
        lp.force(closed=[candidates[int(np.argmin(values))]])


def _relocation_candidates(part: Part, lp: TransportLP, j: int, limit: int) -> np.ndarray:
    """Closed sites that could take over site ``j``'s rows, cheapest first."""
    x = lp.x()
    pairs = part.site_pairs(j)
    share = x[pairs]
    rows = part.rows[pairs[share > 1e-9]]
    share = share[share > 1e-9]
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    own = float((share * part.vals[pairs[x[pairs] > 1e-9]]).sum())
    load = float((share * part.load[rows]).sum())
    cand_pairs = part.pairs_of_rows(rows)
    weight = np.repeat(share, np.diff(part.indptr)[rows])
    cols = part.cols[cand_pairs]
    cost = np.bincount(cols, weight * part.vals[cand_pairs], minlength=part.m)
    cover = np.bincount(cols, weight * part.load[part.rows[cand_pairs]], minlength=part.m)
    cand = np.unique(cols)
    cand = cand[~lp.is_open[cand] & (cover[cand] >= 0.6 * load)]
    if cand.size == 0:
        return cand
    frac = cover[cand] / max(load, 1e-12)
    estimate = cost[cand] + (1 - frac) * own - own
    return cand[np.argsort(estimate, kind="stable")][:limit]


def _improve(part: Part, lp: TransportLP, deadline, *, fixed_count: bool, swaps: int) -> bool:
    """Drop, relocate and add moves until none improves (don't-look bits on sites)."""
    changed_any = False
    stale = np.zeros(part.m, dtype=bool)
    for _ in range(1000):
        improved = False
        if not fixed_count:
            for j in np.flatnonzero(lp.is_open & ~part.existing):
                if _expired(deadline):
                    return changed_any
                if stale[j] or not lp.is_open[j]:
                    continue
                before = lp.value
                if lp.evaluate(closed=[j], keep=True) < before and lp.value < before:
                    improved = True
                    stale[_neighbours(part, np.array([j]))] = False
        for j in np.flatnonzero(lp.is_open & ~part.existing):
            if _expired(deadline):
                return changed_any or improved
            if stale[j] or not lp.is_open[j]:
                continue
            best_value, best_k = lp.value, None
            for k in _relocation_candidates(part, lp, j, swaps):
                value = lp.evaluate(closed=[j], opened=[k])
                if value < best_value - 1e-9 * max(1.0, abs(best_value)):
                    best_value, best_k = value, k
            if best_k is None:
                stale[j] = True
                continue
            lp.force(closed=[j], opened=[best_k])
            improved = True
            stale[_neighbours(part, np.array([j, best_k]))] = False
        if not fixed_count:
            estimate = _add_estimates(part, lp)
            order = np.argsort(estimate, kind="stable")
            order = order[np.isfinite(estimate[order]) & (estimate[order] < -1e-9)][:20]
            for k in order:
                if _expired(deadline):
                    return changed_any or improved
                before = lp.value
                if lp.evaluate(opened=[k], keep=True) < before and lp.value < before:
                    improved = True
                    stale[_neighbours(part, np.array([k]))] = False
        changed_any |= improved
        if not improved:
            break
    return changed_any


@dataclass(frozen=True, eq=False)
class SiteSearchResult:
    """The best set of open sites found, its LP value, and how many LP solves it took."""

    is_open: np.ndarray
    value: float
    evaluations: int
    counts_tried: tuple


def site_search(
    part: Part,
    lp: TransportLP,
    *,
    deadline: float | None,
    target: int | None = None,
    swaps: int = 5,
) -> SiteSearchResult:
    """Choose the open sites by local search on the transportation LP.

    Parameters
    ----------
    part
        The problem.
    lp
        Its transportation LP (left at the best set found).
    deadline
        ``time.perf_counter()`` value at which to stop.
    target
        A number of sites to try first when ``p`` is free (e.g. from the
        Lagrangian bound); the search then moves the count while that helps.
    swaps
        Relocation candidates evaluated per open site.

    Returns
    -------
    SiteSearchResult
    """
    fixed_count = part.p is not None
    count = int(part.p) if fixed_count else None
    if lp.is_open.sum() == 0:
        existing = np.flatnonzero(part.existing)
        if existing.size:
            lp.force(opened=existing)
        _construct(part, lp, deadline, target=count)
        logger.debug("site search: built %d sites, %.6g (%d LP solves)", lp.is_open.sum(),
                     lp.value, lp.evaluations)  # fmt: skip
    _improve(part, lp, deadline, fixed_count=fixed_count, swaps=swaps)
    logger.debug("site search: improved to %d sites, %.6g (%d LP solves)", lp.is_open.sum(),
                 lp.value, lp.evaluations)  # fmt: skip
    best_open, best_value = lp.is_open.copy(), lp.value
    tried = [int(best_open.sum())]
    if not fixed_count:
        first = 1 if target is None or target >= best_open.sum() else -1
        step = max(1, int(round(0.03 * max(best_open.sum(), 1))))
        for direction in (first, -first):
            moved = False
            while not _expired(deadline):
                trial = int(best_open.sum()) + direction * step
                if trial < max(1, int(part.existing.sum())) or trial in tried:
                    break
                lp.set_open(best_open)
                _force_count(part, lp, trial, deadline)
                _improve(part, lp, deadline, fixed_count=True, swaps=swaps)
                _improve(part, lp, deadline, fixed_count=False, swaps=swaps)
                tried.append(trial)
                logger.debug("site search: %d sites -> %.6g (best %.6g with %d)", trial,
                             lp.value, best_value, best_open.sum())  # fmt: skip
                if lp.value < best_value - 1e-9 * max(1.0, abs(best_value)):
                    best_open, best_value, moved = lp.is_open.copy(), lp.value, True
                else:
                    break
            if moved:
                break
        lp.set_open(best_open)
    return SiteSearchResult(best_open, best_value, lp.evaluations, tuple(tried))


# -- region MILPs ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RegionResult:
    """A region MILP's answer: its pairs and their values, unserved rows, opened free sites."""

    pairs: np.ndarray
    x: np.ndarray
    z: np.ndarray
    opened: np.ndarray
    result: MipResult


def region_milp(
    part: Part,
    cells: np.ndarray,
    free: np.ndarray,
    *,
    border: np.ndarray | None = None,
    border_lo: np.ndarray | None = None,
    border_hi: np.ndarray | None = None,
    n_open: tuple[int, int] | None = None,
    binary_x: bool = True,
    start: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    time_limit: float | None = None,
    mip_gap: float = 1e-6,
    seed: int = 0,
) -> RegionResult:
    """Solve the bounded model on some rows with the rest of the solution fixed.

    Parameters
    ----------
    part
        The problem.
    cells
        The rows to (re)assign.
    free
        Sites that may open or close (existing ones stay open).
    border, border_lo, border_hi
        Open sites outside the region that may take rows of it, with the load
        window left to them by the rows they keep.
    n_open
        Range of the number of free sites open, or None.
    binary_x
        Single sourcing (binary assignment); False keeps only the sites binary.
    start
        A feasible ``(x per part pair, z per row, open mask per site)`` to start from.
    time_limit, mip_gap, seed
        For HiGHS.

    Returns
    -------
    RegionResult
    """
    cells = np.asarray(cells, dtype=np.int64)
    free = np.asarray(free, dtype=np.int64)
    border = np.zeros(0, np.int64) if border is None else np.asarray(border, np.int64)
    local = np.full(part.n, -1)
    local[cells] = np.arange(len(cells))
    sites = np.concatenate([free, border])
    col_of = np.full(part.m, -1)
    col_of[sites] = np.arange(len(sites))
    pairs = part.pairs_of_rows(cells)
    pairs = pairs[col_of[part.cols[pairs]] >= 0]
    r, c = local[part.rows[pairs]], col_of[part.cols[pairs]]
    nf, nb, nc, q = len(free), len(border), len(cells), len(pairs)
    width = nf + q + nc
    xs = nf + np.arange(q)
    load = part.load[part.rows[pairs]]
    on_free = np.flatnonzero(c < nf)
    on_border = np.flatnonzero(c >= nf)
    y = np.arange(nf)
    hi_free = np.where(np.isfinite(part.hi[free]), part.hi[free], part.reach()[free])

    def block(rr, cc, vv, height):
        return sp.csr_matrix((vv, (rr, cc)), shape=(height, width))

    blocks = [
        block(np.concatenate([r, np.arange(nc)]), np.concatenate([xs, nf + q + np.arange(nc)]),
              np.ones(q + nc), nc),
        block(np.tile(np.arange(len(on_free)), 2), np.concatenate([xs[on_free], c[on_free]]),
              np.concatenate([np.ones(len(on_free)), -np.ones(len(on_free))]), len(on_free)),
        block(np.concatenate([c[on_free], y]), np.concatenate([xs[on_free], y]),
              np.concatenate([load[on_free], -hi_free]), nf),
        block(np.concatenate([c[on_free], y]), np.concatenate([xs[on_free], y]),
              np.concatenate([load[on_free], -part.lo[free]]), nf),
        block(c[on_border] - nf, xs[on_border], load[on_border], nb),
    ]  # fmt: skip
    inf = np.inf
    lower = [np.ones(nc), np.full(len(on_free), -inf), np.full(nf, -inf), np.zeros(nf),
             np.full(nb, -inf) if border_lo is None else np.asarray(border_lo, float)]  # fmt: skip
    upper = [np.ones(nc), np.zeros(len(on_free)), np.zeros(nf), np.full(nf, inf),
             np.full(nb, inf) if border_hi is None else np.asarray(border_hi, float)]  # fmt: skip
    if n_open is not None:
        blocks.append(block(np.zeros(nf, dtype=np.int64), y, np.ones(nf), 1))
        lower.append(np.array([float(n_open[0])]))
        upper.append(np.array([float(n_open[1])]))
    col_lower = np.zeros(width)
    col_lower[:nf] = part.existing[free].astype(float)
    col_upper = np.ones(width)
    if not part.penalized:
        col_upper[nf + q :] = 0.0
    integer = np.zeros(width, dtype=bool)
    integer[:nf] = True
    if binary_x:
        integer[nf : nf + q] = True
    warm = None
    if start is not None:
        x0, z0, open0 = start
        warm = np.concatenate([open0[free].astype(float), x0[pairs], z0[cells]])
        if not part.penalized:
            warm[nf + q :] = 0.0
    cost = np.concatenate([np.zeros(nf), part.vals[pairs], part.fallback[cells]])
    result = solve_mip(
        cost=cost, matrix=sp.vstack(blocks, format="csr"),
        row_lower=np.concatenate(lower), row_upper=np.concatenate(upper),
        col_lower=col_lower, col_upper=col_upper, integer=integer, time_limit=time_limit,
        mip_gap=mip_gap, seed=seed, start=warm, what="bounded p-median region",
    )  # fmt: skip
    x = result.x[nf : nf + q]
    z = result.x[nf + q :]
    if binary_x:
        x, z = np.round(x), np.round(z)
    opened = np.zeros(part.m, dtype=bool)
    opened[free[result.x[:nf] > 0.5]] = True
    return RegionResult(pairs, x, z, opened, result)


# -- single sourcing ---------------------------------------------------------------------


def _loads(part: Part, assignment: np.ndarray) -> np.ndarray:
    served = assignment >= 0
    return np.bincount(assignment[served], part.load[served], minlength=part.m)


def feasible(part: Part, assignment: np.ndarray, is_open: np.ndarray) -> bool:
    """Whether an assignment respects the pairs, the windows and the existing sites."""
    served = assignment >= 0
    if not part.penalized and not served.all():
        return False
    if (pair_index(part, np.flatnonzero(served), assignment[served]) < 0).any():
        return False
    if not is_open[assignment[served]].all() or not is_open[part.existing].all():
        return False
    loads = _loads(part, assignment)
    tol = 1e-6 * max(1.0, float(part.load.max(initial=0.0)))
    opened = np.flatnonzero(is_open)
    return bool(np.all(loads[opened] >= part.lo[opened] - tol)
                and np.all(loads[opened] <= part.hi[opened] + tol))  # fmt: skip


def _assignment_from(part: Part, x: np.ndarray) -> np.ndarray:
    """Rows with one pair at 1 go to that site; the others are -1."""
    assignment = np.full(part.n, -1, dtype=np.int64)
    whole = np.flatnonzero(x > 1 - 1e-7)
    assignment[part.rows[whole]] = part.cols[whole]
    return assignment


def round_assignment(
    part: Part,
    x: np.ndarray,
    z: np.ndarray,
    is_open: np.ndarray,
    *,
    deadline: float | None,
    seed: int = 0,
    size: int = 4,
    seconds: float = 20.0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Turn a fractional assignment into a single-sourcing one.

    First the assignment MILP over the open sites only (they may close), for at
    most ``seconds``; when it finds nothing good (within 5 % of the fractional
    cost), also each split row goes to the site holding its largest share (or
    stays unserved when that share is the largest) and the few sites whose load
    then leaves their window are repaired one at a time by a region MILP over
    the site and its neighbours. Returns the better ``(assignment, is_open)``,
    or None when both failed.
    """
    allocated = _allocate(part, is_open, deadline=deadline, seed=seed, seconds=seconds)
    fractional = float(part.vals @ x + part.fallback @ z)
    if allocated is not None and part.objective(allocated[0]) <= 1.05 * fractional + 1e-9:
        return allocated
    repaired = _repair(part, x, z, is_open, deadline=deadline, seed=seed, size=size)
    greedy = greedy_repair(part, largest_share(part, x, z), is_open)
    candidates = [c for c in (allocated, repaired, greedy) if c is not None]
    if not candidates:
        return None
    return min(candidates, key=lambda c: part.objective(c[0]))


def largest_share(part: Part, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Each row to the site holding its largest share (-1 when unserved holds the most)."""
    assignment = np.full(part.n, -1, dtype=np.int64)
    order = np.lexsort((-x, part.rows))
    first = np.ones(len(order), dtype=bool)
    first[1:] = part.rows[order][1:] != part.rows[order][:-1]
    top = order[first]
    take = x[top] > z[part.rows[top]]
    assignment[part.rows[top[take]]] = part.cols[top[take]]
    if not part.penalized:
        has = np.diff(part.indptr) > 0
        lost = np.flatnonzero((assignment < 0) & has)
        assignment[lost] = part.cols[part.indptr[lost]]
    return assignment


def _repair(part, x, z, is_open, *, deadline, seed, size):
    """Largest share per split row, then region MILPs around the sites out of their window."""
    assignment = largest_share(part, x, z)
    opened = is_open.copy()
    tol = 1e-6 * max(1.0, float(part.load.max(initial=0.0)))
    for attempt in range(4 * max(1, int(opened.sum()))):
        loads = _loads(part, assignment)
        bad = np.flatnonzero(opened & ((loads < part.lo - tol) | (loads > part.hi + tol)))
        if bad.size == 0:
            return assignment, opened
        if _expired(deadline):
            return None
        grow = size + attempt // max(1, int(opened.sum()))
        region = _region(part, assignment, opened, int(bad[0]), grow)
        near = _neighbours(part, region)
        region = np.union1d(region, np.intersect1d(near, bad))
        trial = _solve_region(part, assignment, opened, region, deadline=deadline,
                              seed=seed + attempt, seconds=3.0, enforce=False, new_sites=0,
                              mip_gap=1e-3)  # fmt: skip
        logger.debug("rounding repair %d: %d sites out of their window, region of %d: %s",
                     attempt, bad.size, region.size, "solved" if trial else "failed")  # fmt: skip
        if trial is not None:
            assignment, opened = trial
    return None


def _allocate(part, is_open, *, deadline, seed, seconds):
    """The single-sourcing assignment to the given open sites (which may close), by MILP."""
    sites = np.flatnonzero(is_open)
    pairs = part.pairs_of_sites(sites)
    cells = np.unique(part.rows[pairs])
    if cells.size == 0:
        return None
    remaining = None if deadline is None else deadline - time.perf_counter()
    limit = seconds if remaining is None else min(seconds, max(remaining, 0.5))
    n_open = None
    if part.p is not None:
        n_open = (int(part.p), int(part.p))
    try:
        found = region_milp(part, cells, sites, n_open=n_open, binary_x=True, time_limit=limit,
                            seed=seed, mip_gap=1e-3)  # fmt: skip
    except (InfeasibleError, SolverError) as exc:
        logger.debug("assignment MILP failed: %s", exc)
        return None
    assignment = np.full(part.n, -1, dtype=np.int64)
    chosen = found.x > 0.5
    assignment[part.rows[found.pairs[chosen]]] = part.cols[found.pairs[chosen]]
    opened = found.opened.copy()
    if part.p is None:
        opened &= (np.bincount(assignment[assignment >= 0], minlength=part.m) > 0) | part.existing
    if not feasible(part, assignment, opened):
        return None
    logger.debug("assignment MILP: %s, %.6g (bound %.6g), %.1f s", found.result.status,
                 found.result.objective, found.result.bound, found.result.seconds)  # fmt: skip
    return assignment, opened


def _solve_region(part, assignment, is_open, region, *, deadline, seed, seconds, enforce=True,
                  start=False, new_sites=None, mip_gap=1e-6):  # fmt: skip
    """Re-solve the rows of ``region``'s sites (and unserved rows near them) exactly.

    Returns the new ``(assignment, is_open)``, or None when the MILP failed.
    With ``enforce`` False the open sites outside the region that are out of
    their window may stay so (they get no more rows when over it).
    """
    cells = np.flatnonzero(np.isin(assignment, region))
    near = np.unique(part.cols[part.pairs_of_rows(cells)]) if cells.size else region
    unserved = np.flatnonzero(assignment < 0)
    if unserved.size:
        reached = np.zeros(part.n, dtype=bool)
        reached[part.rows[part.pairs_of_sites(np.union1d(near, region))]] = True
        cells = np.union1d(cells, unserved[reached[unserved]])
    if cells.size == 0:
        return None
    pairs = part.pairs_of_rows(cells)
    sites = np.unique(np.concatenate([part.cols[pairs], region]))
    in_region = np.isin(sites, region)
    border = sites[is_open[sites] & ~in_region]
    free = sites[~is_open[sites] | in_region]
    reach = np.bincount(part.cols[pairs], part.load[part.rows[pairs]], minlength=part.m)
    free = free[(reach[free] >= part.lo[free] - 1e-9) | is_open[free]]
    if new_sites is not None:
        free = _promising(part, assignment, cells, pairs, free, is_open, new_sites)
    outside = assignment.copy()
    outside[cells] = -1
    kept = _loads(part, outside)
    border_lo = part.lo[border] - kept[border]
    border_hi = part.hi[border] - kept[border]
    if not enforce:  # sites still out of their window may stay so (but not get worse)
        border_lo = np.minimum(border_lo, 0.0)
        border_hi = np.maximum(border_hi, 0.0)
    n_open = None
    if part.p is not None:
        count = int(is_open[free].sum())
        n_open = (count, count)
    warm = None
    if start:
        x0 = np.zeros(part.q)
        served = np.flatnonzero(assignment >= 0)
        x0[pair_index(part, served, assignment[served])] = 1.0
        warm = (x0, (assignment < 0).astype(float), is_open)
    remaining = None if deadline is None else deadline - time.perf_counter()
    limit = seconds if remaining is None else min(seconds, max(remaining, 0.2))
    try:
        found = region_milp(part, cells, free, border=border, border_lo=border_lo,
                            border_hi=border_hi, n_open=n_open, binary_x=True, start=warm,
                            time_limit=limit, seed=seed, mip_gap=mip_gap)  # fmt: skip
    except (InfeasibleError, SolverError) as exc:
        logger.debug("region MILP failed: %s", exc)
        return None
    trial = outside
    chosen = found.x > 0.5
    trial[part.rows[found.pairs[chosen]]] = part.cols[found.pairs[chosen]]
    opened = is_open.copy()
    opened[free] = found.opened[free]
    if part.p is None:
        opened &= (np.bincount(trial[trial >= 0], minlength=part.m) > 0) | part.existing
    return trial, opened


def _promising(part, assignment, cells, pairs, free, is_open, limit):
    """The open sites of ``free`` plus at most ``limit`` closed ones, the most promising first.

    A closed site's promise is what the region's rows would save by moving to it.
    """
    closed = free[~is_open[free]]
    if closed.size <= limit:
        return free
    current = np.full(part.n, np.nan)
    served = np.flatnonzero(assignment >= 0)
    current[served] = part.vals[pair_index(part, served, assignment[served])]
    current[assignment < 0] = part.fallback[assignment < 0]
    saving = np.minimum(part.vals[pairs] - current[part.rows[pairs]], 0.0)
    score = np.bincount(part.cols[pairs], saving, minlength=part.m)
    best = closed[np.argsort(score[closed], kind="stable")[:limit]]
    return np.union1d(free[is_open[free]], best)


def lns(
    part: Part,
    assignment: np.ndarray,
    is_open: np.ndarray,
    *,
    deadline: float | None,
    seed: int = 0,
    size: int = 4,
    region_seconds: float = 4.0,
    new_sites: int | None = 12,
    max_size: int = 8,
    max_failures: int | None = None,
    target: float = -math.inf,
    large: tuple[int, int, float] | None = LARGE_REGIONS,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Improve a single-sourcing solution by exact MILPs on regions of neighbouring sites.

    Each step takes an open site and its ``size - 1`` most connected open
    neighbours, frees their rows (and unserved rows near them) and the closed
    candidate sites most promising for them (at most ``new_sites``), keeps the
    other open sites with the load window their remaining rows leave, and solves
    that MILP from the current solution. A pass tries every open site once;
    after a pass without improvement the regions grow by one site (up to
    ``max_size``), or, without a deadline, the search stops. It also stops at
    the deadline, after ``max_failures`` regions in a row without improvement,
    or once the objective reaches ``target``.

    With a deadline, once regions of ``max_size`` sites no longer improve (a
    pass without improvement) or :data:`STALL_REGIONS` regions in a row have
    not improved, the search goes on with ``large = (size, max_size, seconds)``:
    regions of that many sites (growing the same way), each MILP given that
    many seconds. Only such regions can change the number of sites when most
    of them are near their minimum load: ``k`` sites at about the minimum hold
    too few rows for ``k + 1`` unless ``k`` is large. None: no large regions.

    Returns
    -------
    assignment, is_open, objective, regions
    """
    rng = np.random.default_rng(seed)
    objective = part.objective(assignment)
    current = size
    failures, regions = 0, 0
    queue: list[int] = []
    tried: set = set()
    improved_in_pass = False
    while not _expired(deadline) and objective > target:
        if max_failures is not None and failures >= max_failures:
            break
        can_grow = deadline is not None and large is not None and current < large[0]
        if can_grow and failures >= STALL_REGIONS:
            grown = _larger(large, objective, regions, new_sites)
            current, max_size, region_seconds, new_sites = grown
            failures, queue, improved_in_pass = 0, [], True  # a fresh pass at the new size
            tried.clear()
        if not queue:
            if regions and not improved_in_pass:
                if deadline is None:
                    break
                if current < max_size:
                    current += 1
                elif can_grow:
                    grown = _larger(large, objective, regions, new_sites)
                    current, max_size, region_seconds, new_sites = grown
                else:
                    break
                tried.clear()
            opens = np.flatnonzero(is_open)
            if opens.size == 0:
                break
            queue = rng.permutation(opens).tolist()
            improved_in_pass = False
        seed_site = queue.pop()
        if not is_open[seed_site]:
            continue
        region = _region(part, assignment, is_open, seed_site, current)
        key = tuple(region.tolist())
        if key in tried:
            continue
        tried.add(key)
        regions += 1
        found = _solve_region(part, assignment, is_open, region, deadline=deadline,
                              seed=seed + regions, seconds=region_seconds, start=True,
                              new_sites=new_sites, mip_gap=1e-4)  # fmt: skip
        if found is None:
            failures += 1
            continue
        trial, opened = found
        value = part.objective(trial)
        if value < objective - 1e-9 * max(1.0, abs(objective)) and feasible(part, trial, opened):
            assignment, is_open, objective, failures = trial, opened, value, 0
            improved_in_pass = True
            tried.clear()
        else:
            failures += 1
    return assignment, is_open, objective, regions


def _larger(large, objective, regions, new_sites):
    """The large regions' size, growth limit, seconds and new sites (``lns`` moving up)."""
    size, max_size, seconds = large
    logger.debug("lns: small regions stalled at %.6g after %d; now regions of %d sites",
                 objective, regions, size)  # fmt: skip
    return size, max_size, seconds, None if new_sites is None else max(new_sites, 3 * size)


def _region(part: Part, assignment: np.ndarray, is_open: np.ndarray, seed_site: int,
            size: int) -> np.ndarray:  # fmt: skip
    """An open site and its most connected open neighbours (by shared reachable rows)."""
    region = [int(seed_site)]
    in_region = np.zeros(part.m, dtype=bool)
    in_region[seed_site] = True
    rows = np.flatnonzero(assignment == seed_site)
    while len(region) < size:
        pairs = part.pairs_of_rows(rows)
        cols = part.cols[pairs]
        ok = is_open[cols] & ~in_region[cols]
        if not ok.any():
            break
        links = np.bincount(cols[ok], minlength=part.m)
        nxt = int(np.argmax(links))
        region.append(nxt)
        in_region[nxt] = True
        rows = np.union1d(rows, np.flatnonzero(assignment == nxt))
    return np.array(region, dtype=np.int64)


# -- greedy repair: a feasible plan from any assignment, with no solver and no clock ----------


def greedy_repair(
    part: Part, assignment: np.ndarray, is_open: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Make any assignment feasible by moving rows, closing sites only as a last resort.

    Rows assigned to closed sites are reassigned first. Then, site by site:
    an overloaded site gives away the rows that cost least to move (to an open
    site with room, or unserved when that is allowed); an underloaded site
    takes the cheapest rows it can reach from unserved rows or from sites with
    load to spare; a site that still cannot reach its minimum closes and its
    rows move on the same terms. Deterministic and solver-free, so it cannot
    fail for want of time; the result is the start the local search improves.

    Parameters
    ----------
    part
        The problem.
    assignment
        A site per row (-1 unserved), in the part's numbering; not changed.
    is_open
        Sites considered open; not changed.

    Returns
    -------
    (assignment, is_open), feasible, or None when some row can neither be
    served within the windows nor left unserved.

    Examples
    --------
    >>> from svcnet.solvers.bounded_instance import Part
    >>> part = Part.build(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 1]),
    ...     np.array([1.0, 2.0, 1.0, 3.0, 1.0]), load=np.ones(3), lo=np.full(2, 2.0),
    ...     hi=np.full(2, 2.0), fallback=np.full(3, 50.0), penalized=True,
    ...     existing=np.zeros(2, bool), p=None, row_ids=np.arange(3), site_ids=np.arange(2))
    >>> a, o = greedy_repair(part, np.array([1, 1, 1]), np.array([True, True]))
    >>> a.tolist(), o.tolist()
    ([1, -1, 1], [False, True])
    """
    state = _Greedy(part, assignment, is_open)
    stranded = (state.assignment >= 0) & ~state.opened[np.maximum(state.assignment, 0)]
    served = np.flatnonzero(state.assignment >= 0)
    stranded[served[pair_index(part, served, state.assignment[served]) < 0]] = True
    for i in np.flatnonzero(stranded):
        state.unassign(int(i))
        if not state.place(int(i)):
            return None
    for _ in range(3):
        changed = False
        for j in np.flatnonzero(state.opened & (state.loads > part.hi + state.tol)):
            changed |= state.shed(int(j))
        under = np.flatnonzero(state.opened & (state.loads < part.lo - state.tol))
        for j in under[np.argsort(state.loads[under], kind="stable")[::-1]]:
            changed |= state.fill(int(j))
        if not changed:
            break
    if state.failed:
        return None
    # anything open with no rows and no obligation closes; unfixable sites already closed
    idle = state.opened & ~part.existing & (state.loads <= state.tol) & (part.lo > state.tol)
    state.opened[idle] = False
    if not feasible(part, state.assignment, state.opened):
        return None
    return state.assignment, state.opened


class _Greedy:
    """The mutable state of :func:`greedy_repair`."""

    def __init__(self, part: Part, assignment: np.ndarray, is_open: np.ndarray) -> None:
        self.part = part
        self.assignment = np.asarray(assignment, dtype=np.int64).copy()
        self.opened = np.asarray(is_open, dtype=bool).copy() | part.existing
        self.loads = _loads(part, self.assignment)
        self.tol = 1e-6 * max(1.0, float(part.load.max(initial=0.0)))
        self.failed = False

    def cost(self, i: int) -> float:
        j = self.assignment[i]
        if j < 0:
            return float(self.part.fallback[i])
        pairs = self.part.row_pairs(i)
        return float(self.part.vals[pairs[self.part.cols[pairs] == j][0]])

    def unassign(self, i: int) -> None:
        j = self.assignment[i]
        if j >= 0:
            self.loads[j] -= self.part.load[i]
        self.assignment[i] = -1

    def assign(self, i: int, j: int) -> None:
        self.unassign(i)
        self.assignment[i] = j
        self.loads[j] += self.part.load[i]

    def best_move(self, i: int, *, avoid: int = -1) -> tuple[float, int]:
        """Cheapest place for row i other than ``avoid``: (cost, site or -1 unserved)."""
        part = self.part
        pairs = self.part.row_pairs(i)
        sites = part.cols[pairs]
        room = (self.opened[sites] & (sites != avoid)
                & (self.loads[sites] + part.load[i] <= part.hi[sites] + self.tol))  # fmt: skip
        best = (math.inf, -2)
        if room.any():
            k = int(np.flatnonzero(room)[0])  # pairs are sorted by value
            best = (float(part.vals[pairs[k]]), int(sites[k]))
        if part.penalized and part.fallback[i] < best[0]:
            best = (float(part.fallback[i]), -1)
        return best

    def place(self, i: int) -> bool:
        cost, j = self.best_move(i)
        if j == -2:
            self.failed = True
            return False
        if j >= 0:
            self.assign(i, j)
        return True

    def shed(self, j: int) -> bool:
        """Move rows out of an overloaded site, cheapest moves first."""
        part = self.part
        moved = False
        while self.loads[j] > part.hi[j] + self.tol:
            rows = np.flatnonzero(self.assignment == j)
            moves = [(self.best_move(int(i), avoid=j), int(i)) for i in rows]
            options = [(c - self.cost(i), i, k) for (c, k), i in moves if k != -2]
            if not options:
                self.failed = True
                return moved
            _, i, k = min(options)
            self.unassign(i)
            if k >= 0:
                self.assign(i, k)
            moved = True
        return moved

    def fill(self, j: int) -> bool:
        """Bring an underloaded site to its minimum, or close it."""
        part = self.part
        pairs = part.site_pairs(j)
        rows = part.rows[pairs]
        while self.loads[j] < part.lo[j] - self.tol:
            owner = self.assignment[rows]
            spare = np.where(owner >= 0,
                             self.loads[np.maximum(owner, 0)] - part.load[rows]
                             >= part.lo[np.maximum(owner, 0)] - self.tol, True)  # fmt: skip
            fits = self.loads[j] + part.load[rows] <= part.hi[j] + self.tol
            ok = (owner != j) & spare & fits
            if not ok.any():
                break
            here = part.vals[pairs[ok]]
            now = np.array([self.cost(int(i)) for i in rows[ok]])
            k = int(np.argmin(here - now))
            self.assign(int(rows[ok][k]), j)
        if self.loads[j] >= part.lo[j] - self.tol:
            return True
        if part.existing[j]:
            self.failed = True
            return False
        self.opened[j] = False
        for i in np.flatnonzero(self.assignment == j):
            self.unassign(int(i))
            if not self.place(int(i)):
                return True
        return True
