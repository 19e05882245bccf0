r"""Lagrangian lower bound for the bounded p-median: one bounded knapsack per site.

Relaxing the assignment constraints :math:`\sum_j x_{ij} + z_i = 1` with
multipliers :math:`\lambda_i` splits the model into one problem per site: open
it with the set of rows whose load lies in the site's window ``[lo, hi]`` at the
least reduced cost :math:`\sum_i (w_i c_{ij} - \lambda_i) x_{ij}`, or keep it
closed (value 0). For any :math:`\lambda`,

.. math::

    LB(\lambda) = \sum_i \lambda_i + \sum_i \min(0, f_i - \lambda_i)
                  + \sum_{j \text{ chosen}} K_j(\lambda)

is a lower bound on the optimum (``f_i`` the cost of leaving row ``i`` unserved;
the middle sum is absent when every row must be served). The sites are chosen
among the negative :math:`K_j` within the range of the number of open sites
implied by the loads (exactly ``p`` when fixed, existing sites always).

:math:`K_j` is computed exactly by dynamic programming over the loads when they
are integers and the window is small enough, and otherwise bounded below by the
knapsack's LP relaxation (sort by reduced cost per unit of load), which is what
the subgradient iterations use: that Lagrangian equals the LP relaxation of the
model, and the exact knapsack makes the final bound at least as strong.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from svcnet.solvers.bounded_instance import Part

logger = logging.getLogger(__name__)

__all__ = ["LagrangianResult", "knapsack_lp", "knapsack_exact", "lagrangian_value", "subgradient"]

_DP_CELLS = 60_000_000  # largest items x states a site's exact knapsack may use
STALL = 20
THETA_MIN = 1e-4


@dataclass(frozen=True, eq=False)
class LagrangianResult:
    """The best bound found, its multipliers, the site values there and the iterations."""

    bound: float
    multipliers: np.ndarray
    site_values: np.ndarray
    iterations: int
    exact: bool


def knapsack_lp(part: Part, reduced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LP relaxation of every site's bounded knapsack, all sites at once.

    Parameters
    ----------
    part
        The problem.
    reduced
        Reduced cost of every pair (``w_i c_ij - lambda_i``).

    Returns
    -------
    value, taken
        Per site the least total reduced cost of a fractional set of its rows
        with load in ``[lo, hi]`` (``inf`` when the site cannot reach ``lo``), and
        per pair the fraction taken.

    Examples
    --------
    >>> import numpy as np
    >>> part = Part.build(np.array([0, 1, 2]), np.zeros(3, int), np.zeros(3),
    ...     load=np.array([2.0, 2.0, 2.0]), lo=np.array([3.0]), hi=np.array([5.0]),
    ...     fallback=np.ones(3), penalized=True, existing=np.zeros(1, bool), p=None,
    ...     row_ids=np.arange(3), site_ids=np.arange(1))
    >>> value, taken = knapsack_lp(part, np.array([-4.0, -2.0, 1.0]))
    >>> float(value[0]), taken.tolist()
    (-6.0, [1.0, 1.0, 0.0])
    """
    m = part.m
    load = part.load[part.rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(load > 0, reduced / np.where(load > 0, load, 1.0),
                         np.where(reduced < 0, -np.inf, np.inf))  # fmt: skip
    order = np.lexsort((ratio, part.cols))
    site, ld, r = part.cols[order], load[order], reduced[order]
    counts = np.diff(part.site_ptr)
    cum = np.cumsum(ld)
    before_segment = np.concatenate([[0.0], cum])[part.site_ptr[:-1]]
    prev = cum - ld - np.repeat(before_segment, counts)
    negative_load = np.bincount(site, np.where(r < 0, ld, 0.0), minlength=m)
    target = np.minimum(part.hi, np.maximum(part.lo, negative_load))
    room = np.repeat(target, counts) - prev
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip(room / np.where(ld > 0, ld, 1.0), 0.0, 1.0)
    frac = np.where(ld > 0, frac, (r < 0).astype(float))
    value = np.bincount(site, frac * r, minlength=m)
    value[part.reach() < part.lo - 1e-9] = np.inf
    taken = np.empty_like(frac)
    taken[order] = frac
    return value, taken


def _integral(part: Part) -> bool:
    if "integral" not in part._cache:
        load = part.load
        part._cache["integral"] = bool(np.all(load == np.round(load)) and np.all(load >= 0))
    return part._cache["integral"]


def knapsack_exact(reduced: np.ndarray, loads: np.ndarray, lo: float, hi: float) -> float:
    """Least total reduced cost of a set of items with integer load in ``[lo, hi]``.

    Dynamic programming over the load (capped at ``hi``, or saturating at ``lo``
    when ``hi`` is infinite). Returns ``inf`` when no set fits.

    Examples
    --------
    >>> import numpy as np
    >>> knapsack_exact(np.array([-4.0, -2.0, 1.0]), np.array([2, 2, 2]), 3, 5)  # two items
    -6.0
    >>> knapsack_exact(np.array([-4.0, -2.0, 1.0]), np.array([2, 2, 2]), 5, 6)  # three
    -5.0
    """
    lo_i = max(int(math.ceil(lo - 1e-9)), 0)
    if math.isfinite(hi):
        cap, saturate = int(math.floor(hi + 1e-9)), False
    else:
        cap, saturate = lo_i, True
    if cap < lo_i:
        return math.inf
    if cap == 0:
        return float(np.minimum(reduced[loads == 0], 0.0).sum()) if lo_i == 0 else math.inf
    best = np.full(cap + 1, np.inf)
    best[0] = 0.0
    for r, load in zip(reduced.tolist(), loads.astype(np.int64).tolist(), strict=True):
        if load == 0:
            if r < 0:
                best += r
            continue
        if saturate and load >= 1:
            tail = best[max(cap - load, 0) :].min() + r
        if load <= cap:
            cand = best[: cap + 1 - load] + r
            np.minimum(best[load:], cand, out=best[load:])
        if saturate:
            best[cap] = min(best[cap], tail)
    result = float(best[lo_i:].min())
    return result


def _site_range(part: Part) -> tuple[int, int]:
    """How many sites of this part may be open (implied by the loads and bounds)."""
    if "site_range" in part._cache:
        return part._cache["site_range"]
    n_existing = int(part.existing.sum())
    if part.p is not None:
        rng = (int(part.p), int(part.p))
    else:
        total = float(part.load.sum())
        low = np.sort(part.lo)
        most = int(np.searchsorted(np.cumsum(low), total + 1e-9, side="right"))
        least = n_existing
        if not part.penalized and np.isfinite(part.hi).all() and part.m:
            caps = np.sort(part.hi)[::-1]
            least = max(least, int(np.searchsorted(np.cumsum(caps), total - 1e-9)) + 1)
        rng = (least, max(least, min(most, part.m)))
    part._cache["site_range"] = rng
    return rng


def _choose(part: Part, values: np.ndarray) -> tuple[float, np.ndarray]:
    """Best set of sites for the relaxed problem: (sum of their values, mask)."""
    least, most = _site_range(part)
    chosen = part.existing.copy()
    total = float(values[chosen].sum())
    if not math.isfinite(total):
        return math.inf, chosen
    rest = np.flatnonzero(~part.existing & np.isfinite(values))
    order = rest[np.argsort(values[rest], kind="stable")]
    base = int(chosen.sum())
    need = max(least - base, 0)
    room = max(most - base, 0)
    if need > len(order):
        return math.inf, chosen
    count = int(np.sum(values[order] < 0))
    count = min(max(count, need), room)
    take = order[:count]
    chosen[take] = True
    return total + float(values[take].sum()), chosen


def lagrangian_value(part: Part, multipliers: np.ndarray, *, exact: bool = False):
    """The Lagrangian bound at some multipliers, the site values and a subgradient.

    With ``exact``, sites whose LP knapsack value is negative get their exact value
    (integer loads only), which can only raise the bound.

    Returns
    -------
    value, site_values, subgradient
    """
    reduced = part.vals - multipliers[part.rows]
    values, taken = knapsack_lp(part, reduced)
    used_exact = False
    if exact and _integral(part):
        counts = np.diff(part.site_ptr)
        for j in np.flatnonzero((values < 0) | part.existing):
            span = (part.hi[j] if math.isfinite(part.hi[j]) else part.lo[j]) * counts[j]
            if not math.isfinite(values[j]) or span > _DP_CELLS:
                continue
            pairs = part.site_pairs(j)
            exact_value = knapsack_exact(reduced[pairs], part.load[part.rows[pairs]],
                                         part.lo[j], part.hi[j])  # fmt: skip
            values[j] = max(values[j], exact_value)
        used_exact = True
    chosen_value, chosen = _choose(part, values)
    base = float(multipliers.sum())
    if part.penalized:
        base += float(np.minimum(part.fallback - multipliers, 0.0).sum())
    value = base + chosen_value
    served = np.bincount(part.rows, taken * chosen[part.cols], minlength=part.n)
    grad = 1.0 - served
    if part.penalized:
        grad -= (part.fallback < multipliers).astype(float)
    return value, values, grad, used_exact


def start_multipliers(part: Part) -> np.ndarray:
    """Each row's cheapest pair (or its fallback): a simple start for the subgradient."""
    start = part.fallback.copy()
    has = np.diff(part.indptr) > 0
    start[has] = np.minimum(part.vals[part.indptr[:-1][has]], start[has])
    return start


def subgradient(
    part: Part,
    *,
    start: np.ndarray | None = None,
    upper: float = math.inf,
    deadline: float | None = None,
    max_iterations: int = 300,
    exact: bool = True,
) -> LagrangianResult:
    """Subgradient optimisation of the Lagrangian bound (Polyak steps, halving on stalls).

    Parameters
    ----------
    part
        The problem.
    start
        Initial multipliers (default: :func:`start_multipliers`).
    upper
        Cost of a known solution (the step target); ``inf`` when none is known.
    deadline
        ``time.perf_counter()`` value at which to stop.
    max_iterations
        Iteration limit.
    exact
        Evaluate the best multipliers with exact knapsacks at the end.

    Returns
    -------
    LagrangianResult
    """
    lam = start_multipliers(part) if start is None else np.asarray(start, float).copy()
    best_value, best_lam, best_values = -math.inf, lam.copy(), np.zeros(part.m)
    theta, stall, iterations = 1.0, 0, 0
    scale = float(np.abs(part.fallback).sum()) if part.penalized else float(np.abs(part.vals).sum())
    while iterations < max_iterations:
        if deadline is not None and time.perf_counter() > deadline and iterations > 0:
            break
        iterations += 1
        value, values, grad, _ = lagrangian_value(part, lam)
        if not math.isfinite(value):
            break
        if value > best_value + 1e-9 * max(1.0, abs(value)):
            best_value, best_lam, best_values, stall = value, lam.copy(), values, 0
        else:
            stall += 1
            if stall >= STALL:
                theta, stall = theta / 2, 0
                if theta < THETA_MIN:
                    break
        norm = float(grad @ grad)
        if norm <= 1e-12:
            break
        target = upper if math.isfinite(upper) else best_value + 0.05 * max(abs(best_value), 1.0)
        if target <= best_value + 1e-9 * max(1.0, abs(best_value)):
            break
        step = theta * max(target - value, 1e-9 * max(1.0, scale)) / norm
        lam = lam + step * grad
    used_exact = False
    if exact and math.isfinite(best_value):
        exact_value, exact_values, _, used_exact = lagrangian_value(part, best_lam, exact=True)
        if exact_value > best_value:
            best_value, best_values = exact_value, exact_values
    logger.debug("lagrangian bound %.6g after %d iterations", best_value, iterations)
    return LagrangianResult(best_value, best_lam, best_values, iterations, used_exact)
