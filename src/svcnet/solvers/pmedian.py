"""p-median on sparse pairs: greedy start, fast vertex substitution, Lagrangian lower bound.

All functions work on the allowed demand-site pairs only (a cutoff makes them
sparse), never on a dense demand x sites array. Pair values are weighted costs
``w_i * c_ij``. The swap evaluation follows the classic fast-interchange idea
(nearest and second-nearest open site of every client), computed for all
candidate swaps at once with numpy.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)

__all__ = ["Pairs", "greedy", "local_search", "lagrangian_bound", "assignment_cost"]


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
    is_open = np.zeros(pairs.m, dtype=bool)
    is_open[existing] = True
    d1 = pairs.fallback.copy()
    if existing.size:
        d1, _, _ = nearest_two(pairs, is_open)
    by_col = np.argsort(pairs.cols, kind="stable")
    col_start = np.searchsorted(pairs.cols[by_col], np.arange(pairs.m + 1))
    for _ in range(p - int(is_open.sum())):
        gain = np.bincount(pairs.cols, np.maximum(d1[pairs.rows] - pairs.vals, 0.0),
                           minlength=pairs.m)  # fmt: skip
        gain[is_open | ~allowed] = -1.0
        best = int(np.argmax(gain))
        is_open[best] = True
        sel = by_col[col_start[best] : col_start[best + 1]]
        np.minimum.at(d1, pairs.rows[sel], pairs.vals[sel])
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
    lower bound on the p-median optimum. Each iteration's chosen sites are also
    evaluated as a solution, which may lower ``upper``.

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
    u = start.astype(float).copy()
    free = p - existing.size
    is_existing = np.zeros(pairs.m, dtype=bool)
    is_existing[existing] = True
    candidates = allowed & ~is_existing
    best_bound, best_rho = -math.inf, np.zeros(pairs.m)
    best_open, best_cost = None, upper
    theta, stall = 2.0, 0
    rows, cols, vals = pairs.rows, pairs.cols, pairs.vals
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        reduced = vals - u[rows]
        unserved = pairs.fallback < u  # leaving the client unserved is cheaper than u
        rho = np.bincount(cols, np.minimum(reduced, 0.0), minlength=pairs.m)
        pick = np.where(candidates, rho, np.inf)
        chosen = np.argpartition(pick, free - 1)[:free] if free > 0 else np.zeros(0, dtype=int)
        is_open = is_existing.copy()
        is_open[chosen] = True
        value = float(u.sum() + np.minimum(pairs.fallback - u, 0.0).sum() + rho[is_open].sum())
        if value > best_bound + 1e-9 * max(1.0, abs(value)):
            best_bound, best_rho, stall = value, rho, 0
        else:
            stall += 1
        cost = assignment_cost(pairs, is_open)
        if cost < best_cost:
            best_cost, best_open = cost, is_open
        bound = math.ceil(best_bound - 1e-6) if integral else best_bound
        if bound >= best_cost - max(1e-9, target_gap) * max(1.0, abs(best_cost)):
            break
        counts = np.bincount(rows, (reduced < 0) & is_open[cols], minlength=pairs.n)
        grad = 1.0 - counts - unserved
        norm = float(grad @ grad)
        if norm == 0:
            break
        if stall >= 30:
            theta, stall = theta / 2, 0
            if theta < 1e-4:
                break
        u = u + theta * (best_cost - value) / norm * grad
        if deadline is not None and time.perf_counter() > deadline:
            break
    bound = math.ceil(best_bound - 1e-6) if integral else best_bound
    return LagrangianResult(bound=float(min(bound, best_cost)), rho=best_rho,
                            best_open=best_open, best_cost=best_cost,
                            iterations=iterations)  # fmt: skip


def fix_sites(rho: np.ndarray, bound_value: float, upper: float, p: int, existing: np.ndarray,
              allowed: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Sites that cannot be in (or out of) any solution better than ``upper``, by Lagrangian costs.

    Returns boolean masks ``closed`` (fix to 0) and ``opened`` (fix to 1). Sites in
    ``keep`` (the incumbent) are never fixed closed.
    """
    is_existing = np.zeros(len(rho), dtype=bool)
    is_existing[existing] = True
    candidates = allowed & ~is_existing
    free = p - existing.size
    closed = np.zeros(len(rho), dtype=bool)
    opened = np.zeros(len(rho), dtype=bool)
    if free <= 0 or candidates.sum() <= free:
        return closed, opened
    values = np.where(candidates, rho, np.inf)
    order = np.argsort(values, kind="stable")
    kth, next_ = values[order[free - 1]], values[order[free]]
    chosen = np.zeros(len(rho), dtype=bool)
    chosen[order[:free]] = True
    tol = 1e-7 * max(1.0, abs(upper))
    closed = candidates & ~chosen & (bound_value - kth + values >= upper - tol) & ~keep
    opened = chosen & (bound_value - values + next_ >= upper - tol)
    return closed, opened
