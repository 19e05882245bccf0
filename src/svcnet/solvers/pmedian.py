"""p-median on sparse pairs: greedy start, vertex substitution, bounds and exact search.

All functions work on the allowed demand-site pairs only (a cutoff makes them
sparse), never on a dense demand x sites array. Pair values are weighted costs
``w_i * c_ij``. The swap evaluation follows the classic fast-interchange idea
(nearest and second-nearest open site of every client), computed for all
candidate swaps at once with numpy.

Lower bounds are Lagrangian values ``L(u)`` (assignment constraints relaxed),
valid for any multipliers ``u``: :func:`lagrangian_bound` improves ``u`` by
subgradient steps (large models), :func:`branch_and_bound` takes ``u`` from the
duals of LP relaxations in radius form solved by HiGHS on each client's nearest
pairs, fixes sites with the Lagrangian costs, and branches on sites until the
incumbent is proven optimal (OR-Library sizes and mid-sized city models).
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from svcnet.errors import SolverError
from svcnet.solvers.highs import new_highs

logger = logging.getLogger(__name__)

__all__ = [
    "ExactResult",
    "Pairs",
    "assignment_cost",
    "branch_and_bound",
    "greedy",
    "lagrangian_bound",
    "lagrangian_value",
    "local_search",
    "lp_size",
    "reduce_pairs",
]


@dataclass(frozen=True, eq=False)
class Pairs:
    """Allowed pairs sorted by (client, value): rows, cols, vals, and shape.

    Build with :meth:`from_csr`. ``fallback`` is each client's cost when no open
    site serves it: its weight times the unserved penalty, or ``big`` (larger
    than any possible total cost) when every client must be served.
    """

    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    n: int
    m: int
    big: float
    fallback: np.ndarray

    @classmethod
    def from_csr(
        cls,
        matrix: sp.csr_matrix,
        weights: np.ndarray,
        allowed: np.ndarray,
        penalty: float | None = None,
    ) -> Pairs:
        """Weighted pairs of a CSR cost matrix, restricted to the allowed sites.

        With a ``penalty`` (cost per unit weight of leaving a client unserved),
        pairs dearer than the penalty are dropped: the client would rather stay
        unserved.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> p = Pairs.from_csr(sp.csr_matrix(np.array([[2.0, 1.0]])), np.ones(1), np.ones(2, bool))
        >>> p.cols.tolist(), p.vals.tolist()
        ([1, 0], [1.0, 2.0])
        """
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        cols = matrix.indices.astype(np.int64)
        vals = matrix.data * weights[rows]
        keep = allowed[cols]
        if penalty is not None:
            keep &= matrix.data <= penalty
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        order = np.lexsort((cols, vals, rows))
        n = matrix.shape[0]
        big = float(vals.sum() + 1.0) * 10.0 + 1e6
        if penalty is None:
            fallback = np.full(n, big)
        else:
            fallback = weights * penalty
            big = float(fallback.sum() + vals.sum() + 1.0) * 10.0 + 1e6
        return cls(rows[order], cols[order], vals[order], n, matrix.shape[1], big, fallback)


def nearest_two(pairs: Pairs, is_open: np.ndarray):
    """Nearest and second-nearest open site of each client: (d1, s1, d2), fallback where none."""
    positions = np.flatnonzero(is_open[pairs.cols])
    rows = pairs.rows[positions]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    d1 = pairs.fallback.copy()
    s1 = np.full(pairs.n, -1, dtype=np.int64)
    d2 = pairs.fallback.copy()
    d1[rows[first]] = pairs.vals[positions[first]]
    s1[rows[first]] = pairs.cols[positions[first]]
    nxt = np.flatnonzero(first)[:, None] + 1
    has_second = nxt[:, 0] < len(rows)
    idx = nxt[has_second, 0]
    same = rows[idx] == rows[np.flatnonzero(first)[has_second]]
    d2[rows[idx[same]]] = pairs.vals[positions[idx[same]]]
    return d1, s1, d2


def assignment_cost(pairs: Pairs, is_open: np.ndarray) -> float:
    """Total weighted cost, every client served by its nearest open site (inf if one can't be)."""
    d1, _, _ = nearest_two(pairs, is_open)
    if (d1 >= pairs.big).any():
        return math.inf
    return float(d1.sum())


def greedy(pairs: Pairs, p: int, existing: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Greedy-add: open the site that lowers the total cost most, p times (existing first).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> costs = sp.csr_matrix(np.array([[1.0, 5.0, 9.0], [5.0, 1.0, 9.0], [9.0, 9.0, 1.0]]))
    >>> pairs = Pairs.from_csr(costs, np.ones(3), np.ones(3, bool))
    >>> np.flatnonzero(greedy(pairs, 2, np.array([], int), np.ones(3, bool))).tolist()
    [0, 2]
    """
    rows, cols, vals = pairs.rows, pairs.cols, pairs.vals
    is_open = np.zeros(pairs.m, dtype=bool)
    is_open[existing] = True
    d1 = pairs.fallback.copy()
    if existing.size:
        d1, _, _ = nearest_two(pairs, is_open)
    by_col = np.argsort(cols, kind="stable")
    col_start = np.searchsorted(cols[by_col], np.arange(pairs.m + 1))
    row_start = np.searchsorted(rows, np.arange(pairs.n + 1))
    gain = np.bincount(cols, np.maximum(d1[rows] - vals, 0.0), minlength=pairs.m)
    for _ in range(p - int(is_open.sum())):
        best = int(np.argmax(np.where(is_open | ~allowed, -1.0, gain)))
        is_open[best] = True
        sel = by_col[col_start[best] : col_start[best + 1]]
        nearer = vals[sel] < d1[rows[sel]]
        clients, new = rows[sel][nearer], vals[sel][nearer]  # a client's pair to it is unique
        counts = row_start[clients + 1] - row_start[clients]
        if 3 * counts.sum() > len(vals):  # most clients moved: recompute every gain
            d1[clients] = new
            gain = np.bincount(cols, np.maximum(d1[rows] - vals, 0.0), minlength=pairs.m)
            continue
        # only these clients' savings change: update their pairs' share of the gains
        positions = _ranges(row_start[clients], counts)
        old_d1, new_d1 = np.repeat(d1[clients], counts), np.repeat(new, counts)
        change = (np.maximum(new_d1 - vals[positions], 0.0)
                  - np.maximum(old_d1 - vals[positions], 0.0))  # fmt: skip
        gain += np.bincount(cols[positions], change, minlength=pairs.m)
        d1[clients] = new
    return is_open


def local_search(
    pairs: Pairs,
    is_open: np.ndarray,
    existing: np.ndarray,
    allowed: np.ndarray,
    *,
    deadline: float | None = None,
    max_swaps: int = 100_000,
) -> np.ndarray:
    """Vertex substitution: apply the best improving swap (one site out, one in) until none is left.

    The change of every (in, out) swap is ``-gain[in] + loss[out] - extra[in, out]``,
    where ``extra`` is sparse: it has entries only for the pairs (client, in) with
    the candidate nearer than the client's second-nearest open site.
    """
    is_open = is_open.copy()
    fixed = np.zeros(pairs.m, dtype=bool)
    fixed[existing] = True
    rows, cols, vals = pairs.rows, pairs.cols, pairs.vals
    for swap in range(max_swaps):
        if deadline is not None and time.perf_counter() > deadline:
            logger.info("local search stopped by the time limit after %d swaps", swap)
            break
        d1, s1, d2 = nearest_two(pairs, is_open)
        closed = ~is_open[cols]
        gain = np.bincount(cols[closed], np.maximum(d1[rows[closed]] - vals[closed], 0.0),
                           minlength=pairs.m)  # fmt: skip
        served = s1 >= 0
        loss = np.bincount(s1[served], (d2 - d1)[served], minlength=pairs.m)
        can_in = allowed & ~is_open
        can_out = is_open & ~fixed
        if not can_in.any() or not can_out.any():
            break
        near = closed & (vals < d2[rows]) & served[rows]
        extra_vals = d2[rows[near]] - np.maximum(vals[near], d1[rows[near]])
        extra = sp.csr_matrix((extra_vals, (cols[near], s1[rows[near]])), shape=(pairs.m, pairs.m))
        extra.sum_duplicates()
        score_in = np.where(can_in, -gain, np.inf)
        score_out = np.where(can_out, loss, np.inf)
        best_delta = score_in.min() + score_out.min()
        best_pair = (int(score_in.argmin()), int(score_out.argmin()))
        coo = extra.tocoo()
        if coo.nnz:
            delta = score_in[coo.row] + score_out[coo.col] - coo.data
            k = int(np.argmin(delta))
            if delta[k] < best_delta:
                best_delta, best_pair = float(delta[k]), (int(coo.row[k]), int(coo.col[k]))
        if not best_delta < -1e-9 * max(1.0, float(d1.sum())):
            break
        is_open[best_pair[0]] = True
        is_open[best_pair[1]] = False
    return is_open


@dataclass(frozen=True, eq=False)
class LagrangianResult:
    """The best Lagrangian bound, its multipliers' site values, and the best solution seen."""

    bound: float
    rho: np.ndarray
    best_open: np.ndarray
    best_cost: float
    iterations: int


def lagrangian_bound(
    pairs: Pairs,
    p: int,
    existing: np.ndarray,
    allowed: np.ndarray,
    *,
    upper: float,
    start: np.ndarray,
    deadline: float | None = None,
    max_iterations: int = 2000,
    integral: bool = False,
    target_gap: float = 0.0,
) -> LagrangianResult:
    """Lower bound by relaxing the assignment constraints, with subgradient optimisation.

    For multipliers ``u``, ``L(u) = sum(u) + sum of the p smallest rho_j`` (existing
    sites forced), ``rho_j = sum_i min(0, w_i c_ij - u_i)`` over allowed pairs, is a
    lower bound on the p-median optimum (:func:`lagrangian_value`). Steps follow
    Polyak's rule towards ``upper``, on the pairs of :func:`reduce_pairs`, with each
    ``u_i`` kept at or above the client's least cost (below it, ``L`` only grows
    with ``u_i``). Each iteration's chosen sites are also evaluated as a solution,
    which may lower ``upper``. The bound returned is recomputed at the best ``u``
    with its round-off subtracted.

    Parameters
    ----------
    pairs, p, existing, allowed
        The problem.
    upper
        Cost of the best known solution.
    start
        Initial multipliers (e.g. each client's cost in the best known solution).
    deadline
        ``time.perf_counter()`` value at which to stop.
    max_iterations
        Iteration limit.
    integral
        Costs are integers: the bound may be rounded up.
    target_gap
        Stop once the relative gap to the best solution is at most this.

    Returns
    -------
    LagrangianResult
    """
    pairs = reduce_pairs(pairs, p, existing, allowed)  # the same cost for every p sites
    rows, cols, vals = pairs.rows, pairs.cols, pairs.vals
    first = np.searchsorted(rows, np.arange(pairs.n))
    has_pair = np.bincount(rows, minlength=pairs.n) > 0
    nearest = np.full(pairs.n, np.inf)
    nearest[has_pair] = vals[first[has_pair]]
    floor = np.minimum(nearest, pairs.fallback)  # L(u) only grows while u_i is below this
    u = np.maximum(start.astype(float), floor)
    free = p - existing.size
    state = np.zeros(pairs.m, dtype=np.int8)
    state[~allowed] = -1
    state[existing] = 1
    candidates = state == 0
    best_value, best_u = -math.inf, u
    best_open, best_cost = None, upper
    theta, stall = 2.0, 0
    iterations = 0
    tolerance = max(1e-9, target_gap) * max(1.0, abs(upper))
    while iterations < max_iterations:
        iterations += 1
        reduced = vals - u[rows]
        below = reduced < 0
        rho = np.bincount(cols, np.where(below, reduced, 0.0), minlength=pairs.m)
        pick = np.where(candidates, rho, np.inf)
        chosen = np.argpartition(pick, free - 1)[:free] if free > 0 else np.zeros(0, dtype=int)
        is_open = state == 1
        is_open[chosen] = True
        value = float(u.sum() + np.minimum(pairs.fallback - u, 0.0).sum() + rho[is_open].sum())
        if value > best_value + 1e-9 * max(1.0, abs(value)):
            best_value, best_u, stall = value, u, 0
        else:
            stall += 1
        on = is_open[cols]
        cost = _open_cost(pairs, on)
        if cost < best_cost:
            best_cost, best_open = cost, is_open
            tolerance = max(1e-9, target_gap) * max(1.0, abs(best_cost))
        bound = math.ceil(best_value - 1e-6) if integral else best_value
        if bound >= best_cost - tolerance:
            break
        grad = 1.0 - np.bincount(rows, below & on, minlength=pairs.n) - (pairs.fallback < u)
        norm = float(grad @ grad)
        if norm == 0:
            break
        if stall >= 30:
            theta, stall = theta / 2, 0
            if theta < 1e-4:
                break
        u = np.maximum(u + theta * (best_cost - value) / norm * grad, floor)
        if deadline is not None and time.perf_counter() > deadline:
            break
    value, rho, slack = lagrangian_value(pairs, best_u, p, state)  # the bound, with round-off
    bound = float(np.ceil(value - slack - 1e-9)) if integral else value - slack
    return LagrangianResult(bound=float(min(bound, best_cost)), rho=rho,
                            best_open=best_open, best_cost=best_cost,
                            iterations=iterations)  # fmt: skip


def _open_cost(pairs: Pairs, on: np.ndarray) -> float:
    """Total cost with every client at its nearest open site; ``on`` marks the open pairs."""
    positions = np.flatnonzero(on)
    rows = pairs.rows[positions]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    d1 = pairs.fallback.copy()
    d1[rows[first]] = pairs.vals[positions[first]]
    if (d1 >= pairs.big).any():
        return math.inf
    return float(d1.sum())


# ------------------------------------------------------------------- exact: LP branch and bound


def reduce_pairs(pairs: Pairs, p: int, existing: np.ndarray, allowed: np.ndarray) -> Pairs:
    """Drop the pairs that no client can be assigned to when exactly p allowed sites are open.

    Of a client's ``k = (allowed sites) - p + 1`` nearest allowed sites, at least one
    is open in every solution, and every existing site is open: a pair dearer than
    either is never a client's nearest open site. The optimum is unchanged, and the
    LP relaxation of the reduced problem is at least as strong.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> costs = sp.csr_matrix(np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]]))
    >>> pairs = Pairs.from_csr(costs, np.ones(2), np.ones(3, bool))
    >>> reduce_pairs(pairs, 2, np.array([], int), np.ones(3, bool)).cols.tolist()
    [0, 1, 1, 2]
    """
    start = np.searchsorted(pairs.rows, np.arange(pairs.n + 1))
    limit = np.full(pairs.n, np.inf)
    k = int(allowed.sum()) - p + 1
    if k >= 1:
        deep = np.flatnonzero(np.diff(start) >= k)
        limit[deep] = pairs.vals[start[deep] + k - 1]
    if existing.size:
        is_existing = np.zeros(pairs.m, dtype=bool)
        is_existing[existing] = True
        on_existing = is_existing[pairs.cols]
        np.minimum.at(limit, pairs.rows[on_existing], pairs.vals[on_existing])
    keep = pairs.vals <= limit[pairs.rows]
    if keep.all():
        return pairs
    return Pairs(pairs.rows[keep], pairs.cols[keep], pairs.vals[keep], pairs.n, pairs.m,
                 pairs.big, pairs.fallback)  # fmt: skip


def lp_size(
    pairs: Pairs, p: int, existing: np.ndarray, allowed: np.ndarray, best_open: np.ndarray
) -> int:
    """Pairs in the first LP of :func:`branch_and_bound` from this incumbent (a cost measure).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> costs = sp.csr_matrix(np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]]))
    >>> pairs = Pairs.from_csr(costs, np.ones(2), np.ones(3, bool))
    >>> lp_size(pairs, 1, np.array([], int), np.ones(3, bool), np.array([True, False, False]))
    6
    """
    reduced = reduce_pairs(pairs, p, existing, allowed)
    _, _, d2 = nearest_two(reduced, best_open)
    return int((reduced.vals <= d2[reduced.rows]).sum())


def lagrangian_value(pairs: Pairs, u: np.ndarray, p: int, state: np.ndarray) -> tuple:
    """The Lagrangian bound ``L(u)`` of the sites' subproblem ``state`` and its site costs.

    ``state`` is 1 for a site forced open, -1 for a site kept closed and 0 for a
    free one. ``L(u) = sum(u) + sum_i min(0, f_i - u_i) + sum(rho[forced]) +``
    the smallest ``rho`` of the free sites that fill p, with
    ``rho_j = sum_i min(0, w_i c_ij - u_i)`` and ``f_i`` a client's unserved cost.
    Any ``u`` gives a valid lower bound.

    Returns
    -------
    tuple
        ``(value, rho, slack)``: ``value`` is ``-inf`` when no p sites fit the
        state, ``slack`` bounds the floating-point error of ``value``.
    """
    rho = np.bincount(pairs.cols, np.minimum(pairs.vals - u[pairs.rows], 0.0), minlength=pairs.m)
    forced = state == 1
    need = p - int(forced.sum())
    free_rho = rho[state == 0]
    if need < 0 or need > free_rho.size:
        return -math.inf, rho, 0.0
    picked = np.partition(free_rho, need - 1)[:need] if need > 0 else free_rho[:0]
    unserved = np.minimum(pairs.fallback - u, 0.0)
    parts = (u.sum(), unserved.sum(), rho[forced].sum(), picked.sum())
    # bincount adds each site's terms in turn: its error grows with the longest column
    longest = int(np.bincount(pairs.cols, minlength=1).max()) if len(pairs.cols) else 0
    scale = float(np.abs(u).sum() - unserved.sum() - rho.sum()) + 1.0
    slack = 4 * np.finfo(float).eps * (longest + 64) * scale
    value = float(math.fsum(parts))
    if math.isnan(value):  # no bound from multipliers that are not numbers
        return -math.inf, rho, 0.0
    return value, rho, slack


class _RadiusLP:
    """The LP relaxation of the p-median in radius form, on each client's nearest pairs only.

    For client i with distinct kept costs ``D_1 < ... < D_K``, the column ``w_ik``
    (k = 1..K) is the share of i not served within ``D_k``: the objective is
    ``sum_i D_i1 + sum_k (D_i,k+1 - D_ik) w_ik`` and the rows are
    ``w_i1 + sum(y_j : c_ij = D_i1) >= 1`` and
    ``w_ik - w_i,k-1 + sum(y_j : c_ij = D_ik) >= 0``, with ``sum(y) = p``. This has
    the LP bound of the ``x_ij <= y_j`` formulation with fewer nonzeros (Elloumi's
    radius formulation, in its chained form). Each client keeps a prefix of its
    pairs, ending at a change of cost; its last column ``w_iK`` stands for all the
    other pairs at the cost ``D_i,K+1`` of the cheapest of them and without their
    links to ``y``, so the LP is a relaxation of the full one at every stage. Once
    a client keeps all its pairs, ``w_iK`` costs its unserved cost (penalty models)
    or is fixed at 0. The duals give the Lagrangian multipliers
    ``u_i = D_i1 + (dual of i's first row)``.
    """

    def __init__(self, pairs: Pairs, p: int, kept: np.ndarray, *, seed: int) -> None:
        import highspy

        self._highspy = highspy
        self.pairs = pairs
        n, m = pairs.n, pairs.m
        self.n, self.m = n, m
        self.start = np.searchsorted(pairs.rows, np.arange(n + 1))
        self.total = np.diff(self.start)
        group = np.ones(len(pairs.vals), dtype=bool)  # a pair opening a new (client, cost)
        group[1:] = (pairs.rows[1:] != pairs.rows[:-1]) | (pairs.vals[1:] != pairs.vals[:-1])
        bounds = np.append(np.flatnonzero(group), len(group))
        self._group_end = np.repeat(bounds[1:], np.diff(bounds))  # where each pair's tie ends
        self.kept = self._to_group_end(np.maximum(np.asarray(kept, dtype=np.int64), 1))
        self.can_leave = pairs.fallback < pairs.big
        self.first_row = np.full(n, -1)
        self.tail = np.full(n, -1)  # column of each client's last w
        self.last_value = np.zeros(n)
        self.n_rows, self.n_cols = 1, m
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        rows, cols, coefs, costs, uppers, lowers = self._levels(np.arange(n), np.zeros(n, int))
        width = m + len(costs)
        rows = np.concatenate([np.zeros(m, dtype=np.int64), rows])  # the cardinality row
        cols = np.concatenate([np.arange(m), cols])
        coefs = np.concatenate([np.ones(m), coefs])
        matrix = sp.csc_matrix((coefs, (rows, cols)), shape=(self.n_rows, width))
        matrix.sort_indices()
        has = self.total > 0  # the objective's constant: every client's least cost
        constant = float(pairs.vals[self.start[:-1][has]].sum() + pairs.fallback[~has].sum())
        lp.num_col_, lp.num_row_ = width, self.n_rows
        lp.col_cost_ = np.concatenate([np.zeros(m), costs])
        lp.col_lower_ = np.zeros(width)
        lp.col_upper_ = np.concatenate([np.ones(m), uppers])
        lp.row_lower_ = np.concatenate([[p], lowers])
        lp.row_upper_ = np.concatenate([[p], np.full(len(lowers), inf)])
        lp.offset_ = constant
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data
        self.highs = new_highs()
        self.highs.setOptionValue("random_seed", int(seed))
        self.highs.setOptionValue("presolve", "off")  # measured faster on these LPs
        self.highs.passModel(lp)
        self.solves = 0

    @property
    def n_pairs(self) -> int:
        """Pairs in the LP."""
        return int(self.kept.sum())

    def _to_group_end(self, kept: np.ndarray) -> np.ndarray:
        """Prefix lengths capped at each client's pairs and moved to the end of a cost tie."""
        kept = np.minimum(kept, self.total)
        inside = kept > 0
        last = self.start[:-1] + kept - 1
        out = kept.copy()
        out[inside] = self._group_end[last[inside]] - self.start[:-1][inside]
        return out

    def _tail_cost(self, clients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cost and upper bound of the clients' last w: the next cost, or unserved, or fixed."""
        pairs = self.pairs
        full = self.kept[clients] >= self.total[clients]
        nxt = np.minimum(self.start[clients] + self.kept[clients], max(len(pairs.vals) - 1, 0))
        following = pairs.vals[nxt] if len(pairs.vals) else np.zeros(len(clients))
        cost = np.where(full, pairs.fallback[clients], following) - self.last_value[clients]
        upper = np.where(full & ~self.can_leave[clients], 0.0, np.inf)
        return np.where(upper > 0, cost, 0.0), upper

    def _levels(self, clients: np.ndarray, old: np.ndarray) -> tuple:
        """Rows and columns of the clients' levels from pair ``old`` to their kept end.

        Appends them to the bookkeeping, and returns the new entries (rows, columns,
        values, including those in existing rows and columns), the new columns'
        costs and upper bounds, and the new rows' lower bounds.
        """
        pairs = self.pairs
        new = self.kept[clients]
        positions = _ranges(self.start[clients] + old, new - old)
        owner = np.repeat(clients, new - old)
        opens = np.ones(len(positions), dtype=bool)  # each pair opens a level unless tied
        opens[1:] = (owner[1:] != owner[:-1]) | (pairs.vals[positions[1:]]
                                                 != pairs.vals[positions[:-1]])  # fmt: skip
        level = np.cumsum(opens) - 1
        n_levels = int(level[-1] + 1) if len(level) else 0
        level_owner = owner[opens]
        level_value = pairs.vals[positions[opens]]
        level_row = self.n_rows + np.arange(n_levels)
        level_col = self.n_cols + np.arange(n_levels)
        first = np.ones(n_levels, dtype=bool)
        first[1:] = level_owner[1:] != level_owner[:-1]
        last = np.ones(n_levels, dtype=bool)
        last[:-1] = level_owner[1:] != level_owner[:-1]
        previous = np.empty(n_levels, dtype=np.int64)  # the w before each level's own
        previous[~first] = level_col[:-1][~first[1:]]
        previous[first] = self.tail[level_owner[first]]  # -1 where the client is new
        fresh = self.first_row[level_owner[first]] < 0
        lowers = np.zeros(n_levels)
        lowers[np.flatnonzero(first)[fresh]] = 1.0
        self.first_row[level_owner[first][fresh]] = level_row[first][fresh]
        link = previous >= 0
        rows = np.concatenate([level_row[level], level_row, level_row[link]])
        cols = np.concatenate([pairs.cols[positions], level_col, previous[link]])
        coefs = np.concatenate([np.ones(len(positions)), np.ones(n_levels), -np.ones(link.sum())])
        costs = np.zeros(n_levels)
        costs[~last] = level_value[1:][~last[:-1]] - level_value[:-1][~last[:-1]]
        owners_last = level_owner[last]
        self.tail[owners_last] = level_col[last]
        self.last_value[owners_last] = level_value[last]
        uppers = np.full(n_levels, np.inf)
        costs[last], uppers[last] = self._tail_cost(owners_last)
        self.n_rows += n_levels
        self.n_cols += n_levels
        return rows, cols, coefs, costs, uppers, lowers

    def relaxed(self) -> np.ndarray:
        """Clients whose last w stands for pairs not yet in the LP."""
        return self.kept < self.total

    def grow(self, clients: np.ndarray) -> None:
        """Double the kept prefix of these clients (4 pairs more at least), in the LP too."""
        highs, inf = self.highs, self._highspy.kHighsInf
        old = self.kept[clients]
        old_tail = self.tail[clients]
        old_value = self.last_value[clients].copy()
        kept = self.kept.copy()
        kept[clients] = np.maximum(2 * old, old + 4)
        self.kept[clients] = self._to_group_end(kept)[clients]
        first_col, first_row = self.n_cols, self.n_rows
        rows, cols, coefs, costs, uppers, lowers = self._levels(clients, old)
        k_rows, k_cols = len(lowers), len(costs)
        # rows first, with their entries in existing columns (y and the old last w)
        in_old = cols < first_col
        order = np.lexsort((cols[in_old], rows[in_old]))
        r, c, v = rows[in_old][order] - first_row, cols[in_old][order], coefs[in_old][order]
        starts = np.searchsorted(r, np.arange(k_rows)).astype(np.int32)
        highs.addRows(k_rows, lowers, np.full(k_rows, inf), len(r), starts, c.astype(np.int32),
                      v)  # fmt: skip
        # then the new columns, with their entries in the new rows
        order = np.lexsort((rows[~in_old], cols[~in_old]))
        r, c, v = rows[~in_old][order], cols[~in_old][order] - first_col, coefs[~in_old][order]
        starts = np.searchsorted(c, np.arange(k_cols)).astype(np.int32)
        highs.addCols(k_cols, costs, np.zeros(k_cols), uppers, len(r), starts, r.astype(np.int32),
                      v)  # fmt: skip
        # the old last columns now cost the step to the first new level
        steps = self.pairs.vals[self.start[clients] + old] - old_value
        count, columns = len(clients), old_tail.astype(np.int32)
        highs.changeColsCost(count, columns, steps)
        highs.changeColsBounds(count, columns, np.zeros(count), np.full(count, inf))

    def solve(self, state: np.ndarray, deadline: float | None):
        """Solve with the sites' bounds of ``state``: ``(status, y, z, u, objective)``.

        ``z`` is each client's last w (the share left to pairs not in the LP).
        """
        highs, n, m = self.highs, self.n, self.m
        highs.changeColsBounds(m, np.arange(m, dtype=np.int32), (state == 1).astype(float),
                               (state >= 0).astype(float))  # fmt: skip
        # HiGHS's time limit counts its run time over all runs of this model
        remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.01)
        limit = math.inf if remaining is None else highs.getRunTime() + remaining
        highs.setOptionValue("time_limit", float(limit))
        highs.run()
        self.solves += 1
        status = highs.getModelStatus()
        statuses = self._highspy.HighsModelStatus
        if status == statuses.kInfeasible:
            return "infeasible", None, None, None, math.inf
        solution = highs.getSolution()
        has = self.first_row >= 0
        u = self.pairs.fallback.copy()
        if solution.dual_valid:
            duals = np.asarray(solution.row_dual)
            u[has] = self.pairs.vals[self.start[:-1][has]] + duals[self.first_row[has]]
        if status != statuses.kOptimal:
            if status != statuses.kTimeLimit:
                reason = highs.modelStatusToString(status)
                logger.warning("HiGHS stopped on a p-median LP: %s", reason)
            # any multipliers give a valid Lagrangian bound: keep the duals reached so far
            return "stopped", None, None, u if solution.dual_valid else None, -math.inf
        x = np.asarray(solution.col_value)
        z = np.zeros(n)
        z[has] = x[self.tail[has]]
        return "optimal", x[:m], z, u, float(highs.getInfo().objective_function_value)


@dataclass(frozen=True, eq=False)
class ExactResult:
    """What :func:`branch_and_bound` found: the best open set, its cost and a certified bound."""

    best_open: np.ndarray
    best_cost: float
    bound: float
    proven: bool
    nodes: int
    root_bound: float
    fixed_closed: int
    fixed_open: int
    lp_pairs: int
    lp_solves: int


def branch_and_bound(
    pairs: Pairs,
    p: int,
    existing: np.ndarray,
    allowed: np.ndarray,
    *,
    best_open: np.ndarray,
    best_cost: float,
    deadline: float | None = None,
    integral: bool = False,
    target_gap: float = 0.0,
    seed: int = 0,
    max_nodes: int | None = None,
) -> ExactResult:
    """Prove (or improve) a p-median solution by LP-based branch and bound on the sites.

    Each node solves the LP relaxation on a growing set of nearest pairs
    (:class:`_RadiusLP`, warm-started from the previous node's basis). Its
    bound is recomputed from the LP duals as a Lagrangian value
    (:func:`lagrangian_value`) over all pairs, so that every bound is valid
    whatever the LP solver's tolerances. The same Lagrangian costs fix sites
    closed or open where the other choice cannot beat the incumbent; integral LP
    solutions and the Lagrangian's site choices improve the incumbent. Nodes are
    taken best bound first, branching on the most fractional site. When the root
    closes many sites for good, the LP is rebuilt without them.

    Parameters
    ----------
    pairs
        The problem's pairs.
    p, existing, allowed
        Sites to open, sites that must stay open, sites that may open.
    best_open, best_cost
        The incumbent (boolean mask) and its cost.
    deadline
        ``time.perf_counter()`` value at which to stop.
    integral
        Every solution's cost is an integer: bounds may be rounded up.
    target_gap
        Relative gap at which to stop.
    seed
        HiGHS's random seed.
    max_nodes
        Node limit (None: none).

    Returns
    -------
    ExactResult
        ``bound`` is a valid lower bound on the optimum; ``proven`` when it
        meets ``best_cost`` within ``target_gap`` (and round-off).
    """
    search = _Search(pairs, p, existing, allowed, best_open, best_cost, integral=integral,
                     target_gap=target_gap, seed=seed)  # fmt: skip
    state = np.zeros(pairs.m, dtype=np.int8)
    state[~allowed] = -1
    state[existing] = 1
    heap: list = [(search.start_bound(state), 0, state)]
    counter, nodes = 1, 0
    root_bound, root_fixed = -math.inf, (0, 0)
    while heap:
        parent_bound, _, state = heapq.heappop(heap)
        if parent_bound >= search.cutoff():
            search.excluded = min(search.excluded, parent_bound)
            continue
        out_of_time = deadline is not None and time.perf_counter() >= deadline
        if out_of_time or (max_nodes is not None and nodes >= max_nodes):
            heapq.heappush(heap, (parent_bound, 0, state))
            break
        nodes += 1
        bound, y, state, outcome = search.node(state.copy(), parent_bound, deadline)
        if nodes == 1:
            if bound == math.inf and math.isfinite(search.best_cost):
                msg = "HiGHS found the p-median LP relaxation infeasible, yet a solution exists"
                raise SolverError(msg)
            root_bound = bound
            root_fixed = (int((state == -1).sum() - (~allowed).sum()),
                          int((state == 1).sum() - len(existing)))  # fmt: skip
            if outcome == "branch" and root_fixed[0] >= 0.25 * allowed.sum():
                search.rebuild(state >= 0)  # most sites are closed for good: a smaller LP
        if outcome == "stopped":
            heapq.heappush(heap, (bound, 0, state))
            break
        if outcome == "pruned":
            search.excluded = min(search.excluded, bound)
            continue
        free = np.flatnonzero(state == 0)
        j = int(free[np.argmin(np.abs(y[free] - 0.5))])
        for value in (-1, 1):  # "closed" pushed first: "open" pops first among equal bounds
            child = state.copy()
            child[j] = value
            heapq.heappush(heap, (bound, -counter, child))
            counter += 1
    best_cost = search.best_cost
    bound = min(best_cost, search.excluded, min((item[0] for item in heap), default=math.inf))
    tolerance = max(target_gap * abs(best_cost), 1e-9 * max(1.0, abs(best_cost)))
    logger.info("branch and bound: %d nodes, %d LP solves, %d LP pairs, cost %.10g, bound %.10g",
                nodes, search.lp_solves, search.lp.n_pairs, best_cost, bound)  # fmt: skip
    return ExactResult(best_open=search.best_open, best_cost=best_cost, bound=float(bound),
                       proven=bound >= best_cost - tolerance, nodes=nodes,
                       root_bound=float(min(root_bound, best_cost)), fixed_closed=root_fixed[0],
                       fixed_open=root_fixed[1], lp_pairs=search.lp.n_pairs,
                       lp_solves=search.lp_solves)  # fmt: skip


class _Search:
    """One branch and bound's state: the incumbent, the LP and the bound of the pruned parts."""

    def __init__(self, pairs: Pairs, p: int, existing: np.ndarray, allowed: np.ndarray,
                 best_open: np.ndarray, best_cost: float, *, integral: bool, target_gap: float,
                 seed: int) -> None:  # fmt: skip
        self.pairs, self.p, self.existing, self.allowed = pairs, p, existing, allowed
        self.best_open, self.best_cost = best_open.copy(), float(best_cost)
        self.integral, self.target_gap, self.seed = integral, target_gap, seed
        self.excluded = math.inf  # the least bound of the parts of the search set aside
        self.solves = 0
        self.reduced, self.lp = self._build(allowed)

    def _build(self, usable: np.ndarray) -> tuple[Pairs, _RadiusLP]:
        pairs = self.pairs
        on = usable[pairs.cols]
        sub = Pairs(pairs.rows[on], pairs.cols[on], pairs.vals[on], pairs.n, pairs.m, pairs.big,
                    pairs.fallback)  # fmt: skip
        sub = reduce_pairs(sub, self.p, self.existing, usable)
        _, _, d2 = nearest_two(sub, self.best_open & usable)
        kept = np.bincount(sub.rows, sub.vals <= d2[sub.rows], minlength=sub.n)
        return sub, _RadiusLP(sub, self.p, kept, seed=self.seed)

    def rebuild(self, usable: np.ndarray) -> None:
        """A new LP on the pairs of the usable sites only."""
        self.solves += self.lp.solves
        self.reduced, self.lp = self._build(usable)

    @property
    def lp_solves(self) -> int:
        """LP solves so far, over all LPs built."""
        return self.solves + self.lp.solves

    def start_bound(self, state: np.ndarray) -> float:
        """A bound before any LP: the Lagrangian at the incumbent's and the nearest costs."""
        reduced = self.reduced
        d1, _, _ = nearest_two(reduced, self.best_open)
        nearest = np.full(reduced.n, np.inf)
        np.minimum.at(nearest, reduced.rows, reduced.vals)
        bounds = [-math.inf]
        for u in (d1, np.minimum(nearest, reduced.fallback)):
            value, _, slack = lagrangian_value(reduced, u, self.p, state)
            bounds.append(float(self.rounded(value, slack)))
        return max(bounds)

    def cutoff(self) -> float:
        """Bounds at or above this cannot lead to a better solution (within the target gap)."""
        cost = self.best_cost
        return cost - max(self.target_gap * abs(cost), 0.5e-9 * max(1.0, abs(cost)))

    def rounded(self, value, slack: float):
        """A bound from a Lagrangian value: less its round-off, up to an integer if costs are."""
        return np.ceil(value - slack - 1e-9) if self.integral else value - slack

    def consider(self, is_open: np.ndarray, deadline: float | None) -> None:
        """Take an open set, improved by vertex substitution, as the incumbent if it is cheaper."""
        if assignment_cost(self.pairs, is_open) < self.best_cost:
            is_open = local_search(self.pairs, is_open, self.existing, self.allowed,
                                   deadline=deadline)  # fmt: skip
            self.best_open, self.best_cost = is_open, assignment_cost(self.pairs, is_open)
            logger.debug("branch and bound: incumbent %.10g", self.best_cost)

    def node(self, state: np.ndarray, bound: float, deadline: float | None) -> tuple:
        """Bound one node, fixing sites on the way: ``(bound, y, state, outcome)``.

        ``outcome`` is ``"pruned"`` (nothing better than the incumbent inside,
        beyond ``bound``), ``"branch"`` or ``"stopped"`` (by the deadline).
        """
        y = None
        for _ in range(4):  # re-solve after fixing sites
            status, y, u, objective = self._solve_lp(state, deadline)
            if status == "infeasible":
                return math.inf, y, state, "pruned"
            if status == "stopped":
                if u is not None and np.isfinite(u).all():
                    value, _, slack = lagrangian_value(self.reduced, u, self.p, state)
                    bound = max(bound, float(self.rounded(value, slack)))
                return bound, y, state, "stopped"
            value, rho, slack = lagrangian_value(self.reduced, u, self.p, state)
            bound = max(bound, float(self.rounded(value, slack)))
            whole = bool(np.all((y < 1e-7) | (y > 1 - 1e-7)))
            self.consider(_largest(y, self.p, state), deadline)  # the LP rounded
            pick = _lagrangian_choice(rho, self.p, state)
            if pick is not None:
                self.consider(pick, deadline)
            cutoff = self.cutoff()
            if bound >= cutoff or whole or objective >= cutoff:
                # An integral LP optimum is a solution, already considered: nothing
                # cheaper inside (to the LP's tolerance); ``bound`` stays certified.
                return bound, y, state, "pruned"
            closed, opened, least = _fixings(rho, value, slack, self.p, state, cutoff,
                                             self.rounded)  # fmt: skip
            if not (closed.any() or opened.any()):
                break
            self.excluded = min(self.excluded, least)
            state[closed], state[opened] = -1, 1
        return bound, y, state, "branch"

    def _solve_lp(self, state: np.ndarray, deadline: float | None) -> tuple:
        """Solve the node's LP, growing the pairs until no client wants one not yet in it."""
        lp = self.lp
        while True:
            status, y, z, u, objective = lp.solve(state, deadline)
            if status != "optimal":
                return status, y, u, objective
            short = np.flatnonzero(lp.relaxed() & (z > 1e-9))
            if short.size == 0:
                return status, y, u, objective
            lp.grow(short)


def _lagrangian_choice(rho: np.ndarray, p: int, state: np.ndarray) -> np.ndarray | None:
    """The Lagrangian subproblem's sites: the forced ones and the free ones of least ``rho``."""
    is_open = state == 1
    need = p - int(is_open.sum())
    free = np.flatnonzero(state == 0)
    if need < 0 or need > free.size:
        return None
    if need > 0:
        is_open[free[np.argsort(rho[free], kind="stable")[:need]]] = True
    return is_open


def _largest(y: np.ndarray, p: int, state: np.ndarray) -> np.ndarray:
    """The forced sites and the free ones of largest LP value ``y`` that fill p."""
    is_open = state == 1
    free = np.flatnonzero(state == 0)
    need = min(max(p - int(is_open.sum()), 0), free.size)
    is_open[free[np.argsort(-y[free], kind="stable")[:need]]] = True
    return is_open


def _fixings(rho, value, slack, p, state, cutoff, rounded) -> tuple:
    """Free sites whose opening (closing) alone lifts the Lagrangian bound to the cutoff.

    Returns ``(closed, opened, least)``: masks of sites to fix closed and open,
    and the least bound of the solutions they set aside.
    """
    free = np.flatnonzero(state == 0)
    need = p - int((state == 1).sum())
    closed = np.zeros(len(rho), dtype=bool)
    opened = np.zeros(len(rho), dtype=bool)
    if need <= 0 or need >= free.size:
        return closed, opened, math.inf
    order = free[np.argsort(rho[free], kind="stable")]
    kth, nxt = rho[order[need - 1]], rho[order[need]]
    inside, outside = order[:need], order[need:]
    with_site = rounded(value - kth + rho[outside], slack)
    without = rounded(value - rho[inside] + nxt, slack)
    close_now = with_site >= cutoff
    open_now = without >= cutoff
    closed[outside[close_now]] = True
    opened[inside[open_now]] = True
    least = min(with_site[close_now].min(initial=math.inf), without[open_now].min(initial=math.inf))
    return closed, opened, float(least)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, s + k)`` for every start ``s`` and length ``k``."""
    total = int(lengths.sum())
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + np.arange(total) - offsets
