"""Coverage models: the location set covering problem (LSCP) and maximal covering (MCLP)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from svcnet.errors import InfeasibleError, InputError
from svcnet.models._base import LocationModel, row_of_entries
from svcnet.models._data import as_cost_data
from svcnet.models.solution import Solution, VerificationError
from svcnet.solvers.highs import solve_mip

__all__ = ["LSCP", "MCLP"]


def _coverage(matrix: sp.csr_matrix, radius: float) -> sp.csr_matrix:
    """0/1 CSR of the pairs within the radius."""
    keep = matrix.data <= radius
    rows = row_of_entries(matrix)[keep]
    cols = matrix.indices[keep]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=matrix.shape)


def _unique_rows(cover: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Group identical coverage rows: (representative row of each group, group of each row)."""
    keys = [cover.indices[cover.indptr[i]:cover.indptr[i + 1]].tobytes()
            for i in range(cover.shape[0])]  # fmt: skip
    lookup: dict[bytes, int] = {}
    group = np.empty(cover.shape[0], dtype=np.int64)
    firsts = []
    for i, key in enumerate(keys):
        if key not in lookup:
            lookup[key] = len(firsts)
            firsts.append(i)
        group[i] = lookup[key]
    return np.asarray(firsts, dtype=np.int64), group


def _check_radius(radius: object) -> float:
    try:
        value = float(radius)
    except (TypeError, ValueError) as exc:
        raise InputError(f"radius must be a number; got {radius!r}") from exc
    if not (np.isfinite(value) and value >= 0):
        raise InputError(f"radius must be a finite non-negative number; got {radius!r}")
    return value


class LSCP(LocationModel):
    r"""Location set covering: the fewest sites so that every demand point is within the radius.

    .. math::

        \min \sum_j y_j \quad \text{s.t.} \quad \sum_{j \in N_i} y_j \ge 1 \;\; \forall i
        \text{ with } w_i > 0, \qquad y_j \in \{0, 1\}

    where :math:`N_i = \{j : c_{ij} \le r\}`; existing sites have :math:`y_j = 1`,
    forbidden ones :math:`y_j = 0`. Demand rows of weight 0 need no cover.
    Identical coverage rows are merged before solving.

    Examples
    --------
    >>> import numpy as np
    >>> costs = np.array([[1.0, 9.0, 2.0], [9.0, 1.0, 2.0], [9.0, 9.0, 1.0]])
    >>> LSCP.from_cost_matrix(costs, radius=2).solve().selected.tolist()
    [2]
    """

    def __init__(self, data, weights, *, radius, existing=None, forbidden=None, geo=None):
        super().__init__(data, weights, existing=existing, forbidden=forbidden, geo=geo)
        self.radius = _check_radius(radius)
        self._cover = _coverage(self._data.matrix, self.radius)
        needed = np.flatnonzero(self._weights > 0)
        allowed = self._allowed_sites()
        covered = self._cover[needed][:, allowed]
        reachable = np.diff(covered.indptr) > 0
        if not reachable.all():
            bad = self._data.demand_ids[needed[~reachable]].tolist()
            msg = (f"{len(bad)} demand points have no allowed site within the radius "
                   f"{self.radius:g}: {', '.join(map(str, bad[:10]))}"
                   + (" ..." if len(bad) > 10 else ""))  # fmt: skip
            raise InfeasibleError(msg)

    @classmethod
    def from_cost_matrix(cls, costs, *, radius, weights=None, existing=None, forbidden=None,
                         cutoff=None) -> LSCP:  # fmt: skip
        """Build from a cost matrix (dense, scipy.sparse or CostMatrix).

        Parameters
        ----------
        costs
            Demand x sites costs; absent (sparse) or ``inf`` (dense) entries are not allowed.
        radius
            The coverage radius, in the costs' unit.
        weights
            Demand weights; rows of weight 0 need no cover (default: all weigh 1).
        existing, forbidden
            Sites (ids, positions or a mask) that must stay open / may not be chosen.
        cutoff
            The largest cost allowed per demand row (a number or one per row).

        Returns
        -------
        LSCP
        """
        data = as_cost_data(costs, cutoff=cutoff)
        return cls(data, weights, radius=radius, existing=existing, forbidden=forbidden)

    @classmethod
    def from_geodataframe(cls, demand, sites, *, radius, weight=None, costs=None, cutoff=None,
                          demand_id=None, site_id=None, existing=None, forbidden=None,
                          ) -> LSCP:  # fmt: skip
        """Build from demand points and candidate sites (straight-line costs unless given).

        Parameters
        ----------
        demand, sites
            GeoDataFrames.
        radius
            The coverage radius (metres for straight lines).
        weight
            Demand weight column.
        costs
            A cost matrix for these rows and sites (e.g. :func:`svcnet.costs_from_graph`).
        cutoff
            Cutoff of the straight-line costs.
        demand_id, site_id
            Id columns (default: the index).
        existing, forbidden
            Sites that must stay open / may not be chosen.

        Returns
        -------
        LSCP
        """
        return cls._from_geodataframe(
            demand, sites, weight=weight, costs=costs, cutoff=cutoff, demand_id=demand_id,
            site_id=site_id,
            build=lambda data, w, geo: cls(data, w, radius=radius, existing=existing,
                                           forbidden=forbidden, geo=geo),
        )  # fmt: skip

    def _solve(self, *, deadline, mip_gap, seed, method) -> dict[str, Any]:
        started = time.perf_counter()
        result = min_cover(self._cover, self._weights > 0, self._existing, self._allowed_sites(),
                           deadline=deadline, mip_gap=mip_gap, seed=seed)  # fmt: skip
        return {
            "selected": result["selected"],
            "objective": len(result["selected"]),
            "bound": result["bound"],
            "status": result["status"],
            "method": "mip",
            "timings": {"solve": time.perf_counter() - started},
        }

    def _assign(self, selected, assignment):
        return _within_radius(*super()._assign(selected, assignment), self.radius)

    def _recompute(self, solution: Solution) -> dict[str, Any]:
        selected = self._check_open_set(solution)
        is_open = np.zeros(self.shape[1], dtype=bool)
        is_open[selected] = True
        needed = self._weights > 0
        covered = (self._cover @ is_open.astype(float)) > 0
        if not covered[needed].all():
            bad = self._data.demand_ids[needed & ~covered][:10].tolist()
            raise VerificationError(f"demand points not covered within the radius: {bad}")
        return {"objective": float(len(selected)), "covered": int(covered.sum())}


def min_cover(cover, needed, existing, allowed, *, deadline, mip_gap, seed, limit=None):
    """Fewest sites covering every needed row (existing sites open), by MILP.

    Returns a dict with ``selected`` (including existing), ``bound`` and ``status``.
    With ``limit``, stops as soon as a cover of at most ``limit`` sites is known
    (used by the p-center bisection); ``bound`` is then the proven lower bound.
    """
    is_existing = np.zeros(cover.shape[1], dtype=bool)
    is_existing[existing] = True
    rows = np.flatnonzero(needed)
    if existing.size:
        covered_by_existing = (cover[rows] @ is_existing.astype(float)) > 0
        rows = rows[~covered_by_existing]
    columns = np.flatnonzero(allowed & ~is_existing)
    if rows.size == 0:
        return {"selected": np.sort(existing), "bound": float(existing.size), "status": "optimal"}
    sub = cover[rows][:, columns]
    firsts, _ = _unique_rows(sub)
    sub = sub[firsts]
    used = np.flatnonzero(np.asarray(sub.sum(axis=0)).ravel() > 0)
    sub = sub[:, used]
    columns = columns[used]
    if (np.diff(sub.indptr) == 0).any():
        raise InfeasibleError("some demand points cannot be covered by any allowed site")
    remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.01)
    k = sub.shape[1]
    result = solve_mip(
        cost=np.ones(k), matrix=sub, row_lower=np.ones(sub.shape[0]),
        row_upper=np.full(sub.shape[0], np.inf), col_lower=np.zeros(k), col_upper=np.ones(k),
        integer=np.ones(k, dtype=bool), time_limit=remaining, mip_gap=mip_gap, seed=seed,
        what="set covering model",
    )  # fmt: skip
    chosen = columns[result.x > 0.5]
    bound = float(np.ceil(result.bound - 1e-6)) + existing.size
    return {"selected": np.sort(np.concatenate([existing, chosen])), "bound": bound,
            "status": result.status}  # fmt: skip


class MCLP(LocationModel):
    r"""Maximal covering: p sites covering the most demand weight within the radius.

    .. math::

        \max \sum_i w_i z_i \quad \text{s.t.} \quad z_i \le \sum_{j \in N_i} y_j, \quad
        \sum_j y_j = p, \quad y_j \in \{0,1\}, \; 0 \le z_i \le 1

    with :math:`N_i = \{j : c_{ij} \le r\}`; existing sites count towards p.
    Demand rows with identical coverage are merged (weights summed) before solving.

    Examples
    --------
    >>> import numpy as np
    >>> costs = np.array([[1.0, 9.0], [9.0, 1.0], [9.0, 1.0]])
    >>> sol = MCLP.from_cost_matrix(costs, [5, 3, 3], radius=2, p=1).solve()
    >>> sol.selected.tolist(), sol.objective
    ([1], 6.0)
    """

    maximize = True

    def __init__(self, data, weights, *, radius, p, existing=None, forbidden=None, geo=None):
        super().__init__(data, weights, existing=existing, forbidden=forbidden, geo=geo)
        self.radius = _check_radius(radius)
        self.p = _check_p(p, self._existing.size, int(self._allowed_sites().sum()))
        self._cover = _coverage(self._data.matrix, self.radius)

    @classmethod
    def from_cost_matrix(cls, costs, weights, *, radius, p, existing=None, forbidden=None,
                         cutoff=None) -> MCLP:  # fmt: skip
        """Build from a cost matrix (dense, scipy.sparse or CostMatrix).

        Parameters
        ----------
        costs
            Demand x sites costs.
        weights
            Demand weights (e.g. population).
        radius
            The coverage radius.
        p
            Number of open sites, existing ones included.
        existing, forbidden
            Sites that must stay open / may not be chosen.
        cutoff
            The largest cost allowed per demand row.

        Returns
        -------
        MCLP
        """
        data = as_cost_data(costs, cutoff=cutoff)
        return cls(data, weights, radius=radius, p=p, existing=existing, forbidden=forbidden)

    @classmethod
    def from_geodataframe(cls, demand, sites, *, radius, p, weight=None, costs=None, cutoff=None,
                          demand_id=None, site_id=None, existing=None, forbidden=None,
                          ) -> MCLP:  # fmt: skip
        """Build from demand points and candidate sites (see :meth:`LSCP.from_geodataframe`).

        Returns
        -------
        MCLP
        """
        return cls._from_geodataframe(
            demand, sites, weight=weight, costs=costs, cutoff=cutoff, demand_id=demand_id,
            site_id=site_id,
            build=lambda data, w, geo: cls(data, w, radius=radius, p=p, existing=existing,
                                           forbidden=forbidden, geo=geo),
        )  # fmt: skip

    def _solve(self, *, deadline, mip_gap, seed, method) -> dict[str, Any]:
        started = time.perf_counter()
        m = self.shape[1]
        is_existing = np.zeros(m, dtype=bool)
        is_existing[self._existing] = True
        covered_already = (self._cover @ is_existing.astype(float)) > 0
        rows = np.flatnonzero((self._weights > 0) & ~covered_already)
        base = float(self._weights[covered_already].sum())
        columns = np.flatnonzero(self._allowed_sites() & ~is_existing)
        free = self.p - self._existing.size
        sub = self._cover[rows][:, columns]
        coverable = np.diff(sub.indptr) > 0
        sub, rows = sub[coverable], rows[coverable]
        if free == 0 or rows.size == 0:
            chosen = columns[:free]
            return {"selected": np.concatenate([self._existing, chosen]), "objective": base,
                    "bound": base, "status": "optimal", "method": "mip",
                    "timings": {"solve": time.perf_counter() - started}}  # fmt: skip
        firsts, group = _unique_rows(sub)
        merged_w = np.bincount(group, weights=self._weights[rows])
        sub = sub[firsts]
        k, n = sub.shape[1], sub.shape[0]
        # columns: y (k sites) then z (n merged rows); rows: z_i - sum y <= 0, sum y = free
        link = sp.hstack([-sub, sp.identity(n, format="csr")], format="csr")
        card = sp.csr_matrix(np.concatenate([np.ones(k), np.zeros(n)])[None, :])
        matrix = sp.vstack([link, card], format="csr")
        row_lower = np.concatenate([np.full(n, -np.inf), [free]])
        row_upper = np.concatenate([np.zeros(n), [free]])
        remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.01)
        result = solve_mip(
            cost=np.concatenate([np.zeros(k), merged_w]), matrix=matrix, row_lower=row_lower,
            row_upper=row_upper, col_lower=np.zeros(k + n), col_upper=np.ones(k + n),
            integer=np.concatenate([np.ones(k, dtype=bool), np.zeros(n, dtype=bool)]),
            maximize=True, time_limit=remaining, mip_gap=mip_gap, seed=seed,
            what="maximal covering model",
        )  # fmt: skip
        chosen = columns[result.x[:k] > 0.5]
        is_open = is_existing.copy()
        is_open[chosen] = True
        covered = (self._cover @ is_open.astype(float)) > 0
        objective = float(self._weights[covered].sum())
        return {"selected": np.flatnonzero(is_open), "objective": objective,
                "bound": max(result.bound + base, objective), "status": result.status,
                "method": "mip", "timings": {"solve": time.perf_counter() - started}}  # fmt: skip

    def _assign(self, selected, assignment):
        return _within_radius(*super()._assign(selected, assignment), self.radius)

    def _recompute(self, solution: Solution) -> dict[str, Any]:
        selected = self._check_open_set(solution)
        if len(selected) != self.p:
            raise VerificationError(f"{len(selected)} sites are open, not p = {self.p}")
        is_open = np.zeros(self.shape[1], dtype=bool)
        is_open[selected] = True
        covered = (self._cover @ is_open.astype(float)) > 0
        return {"objective": float(self._weights[covered].sum()), "covered": int(covered.sum())}


def _within_radius(site: np.ndarray, cost: np.ndarray, radius: float):
    """Demand beyond the radius of its nearest open site counts as not covered (-1, NaN)."""
    beyond = cost > radius
    site[beyond] = -1
    cost[beyond] = np.nan
    return site, cost


def _check_p(p: object, n_existing: int, n_allowed: int) -> int:
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        raise InputError(f"p must be a whole number of sites; got {p!r}")
    if p < max(n_existing, 1):
        msg = f"p = {p} is below the {n_existing} existing sites that must stay open" \
            if n_existing else f"p must be at least 1; got {p}"  # fmt: skip
        raise InputError(msg)
    if p > n_allowed:
        raise InputError(f"p = {p} is more than the {n_allowed} sites that may be chosen")
    return int(p)
