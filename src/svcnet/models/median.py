"""p-median, capacitated and population-bounded p-median, and p-center."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from svcnet.errors import InfeasibleError, InputError
from svcnet.models._base import LocationModel, nearest_open, row_of_entries
from svcnet.models._data import as_cost_data, as_site_vector, as_weights
from svcnet.models.coverage import _check_p, _coverage, min_cover
from svcnet.models.solution import Solution, VerificationError
from svcnet.solvers import bounded
from svcnet.solvers import pmedian as heur
from svcnet.solvers.highs import solve_mip

__all__ = ["PMedian", "PCenter"]

_EXACT_LP_PAIRS = 100_000  # p-median "auto": LP branch and bound up to this many LP pairs
_QUICK_LP_PAIRS = 20_000  # ... and a subgradient bound first above this many
_EXACT_BOUNDED_PAIRS = 20_000  # bounded models: straight to the MILP up to this many pairs


class PMedian(LocationModel):
    r"""p-median: p sites minimising the total weighted cost, each demand served by one site.

    .. math::

        \min \sum_{(i,j)} w_i c_{ij} x_{ij} \quad \text{s.t.} \quad
        \sum_j x_{ij} = 1 \;\forall i, \quad x_{ij} \le y_j, \quad \sum_j y_j = p,

    over the allowed pairs only, with :math:`y_j \in \{0,1\}`. Optional bounds per
    open site, with :math:`l_i` the load a demand row puts on its site (by default
    its weight):

    .. math::

        L_j y_j \le \sum_i l_i x_{ij} \le Q_j y_j, \qquad x_{ij} \in \{0, 1\}

    (single sourcing). With both bounds this is the population-bounded
    service-area model (every center serves between, say, 15,000 and 20,000
    people); ``p=None`` then lets the model choose how many sites to open.

    Uncapacitated models are solved by a greedy start and vertex substitution,
    then proven by LP branch and bound (or, when too large for it, bounded by
    a Lagrangian relaxation). Bounded models are reduced and split into
    independent parts; small parts go to the exact MILP (HiGHS), large ones to
    a Lagrangian bound, a site search on the transportation LP, rounding with
    a greedy repair, large-neighbourhood search by region MILPs, and a
    relaxation MILP for a stronger bound (:func:`svcnet.solvers.bounded.solve`).
    Large bounded models are hard to prove: their gap is reported, not hidden.

    Examples
    --------
    >>> import numpy as np
    >>> costs = np.array([[0.0, 4.0, 6.0], [4.0, 0.0, 3.0], [6.0, 3.0, 0.0]])
    >>> sol = PMedian.from_cost_matrix(costs, [10, 1, 1], p=1).solve()
    >>> sol.selected.tolist(), sol.objective, sol.gap
    ([0], 10.0, 0.0)
    """

    def __init__(self, data, weights, *, p, capacity=None, min_load=None, loads=None,
                 unserved_penalty=None, existing=None, forbidden=None, geo=None):  # fmt: skip
        super().__init__(data, weights, existing=existing, forbidden=forbidden, geo=geo)
        self.unserved_penalty = _check_penalty(unserved_penalty)
        m = self.shape[1]
        self.capacity = as_site_vector(capacity, m, "capacity")
        self.min_load = as_site_vector(min_load, m, "min_load")
        self.bounded = self.capacity is not None or self.min_load is not None
        self.loads = self._weights if loads is None else as_weights(loads, self.shape[0], "loads")
        n_allowed = int(self._allowed_sites().sum())
        if p is None:
            if not self.bounded:
                raise InputError("p may be None only with a capacity or a min_load")
            self.p = None
        else:
            self.p = _check_p(p, self._existing.size, n_allowed)
        if self.unserved_penalty is None:
            self._require_coverable(
                np.arange(self.shape[0]), self._allowed_sites(), "(all beyond the cutoff)"
            )
        if self.bounded:
            self._check_bounds_feasible()

    def _check_bounds_feasible(self) -> None:
        """Cheap necessary conditions, so that hopeless bounds fail before any solving."""
        total = float(self.loads.sum())
        allowed = np.flatnonzero(self._allowed_sites())
        cap = self.capacity if self.capacity is not None else np.full(self.shape[1], np.inf)
        low = self.min_load if self.min_load is not None else np.zeros(self.shape[1])
        if self.min_load is not None and self.capacity is not None:
            bad = np.flatnonzero(self.min_load > self.capacity)
            if bad.size:
                raise InfeasibleError(f"min_load exceeds capacity at sites {bad[:10].tolist()}")
        n_min = int(self.p) if self.p is not None else 1
        n_max = int(self.p) if self.p is not None else len(allowed)
        top_caps = np.sort(cap[allowed])[::-1]
        short = np.isfinite(top_caps[:n_max]).all() and top_caps[:n_max].sum() < total - 1e-9
        if short and self.unserved_penalty is None:
            msg = (f"total load {total:,.0f} exceeds the capacity of the "
                   f"{n_max} largest sites ({top_caps[:n_max].sum():,.0f})")  # fmt: skip
            raise InfeasibleError(msg)
        forced = max(n_min, self._existing.size)
        least = np.sort(low[allowed])[:forced].sum()
        if max(least, low[self._existing].sum()) > total + 1e-9:
            msg = (f"at least {forced} sites must open and each needs a minimum load, "
                   f"{max(least, low[self._existing].sum()):,.0f} in all, but the total load "
                   f"is only {total:,.0f}")  # fmt: skip
            raise InfeasibleError(msg)

    @classmethod
    def from_cost_matrix(cls, costs, weights=None, *, p, capacity=None, min_load=None, loads=None,
                         unserved_penalty=None, existing=None, forbidden=None,
                         cutoff=None) -> PMedian:  # fmt: skip
        """Build from a cost matrix (dense, scipy.sparse or CostMatrix).

        Parameters
        ----------
        costs
            Demand x sites costs; absent (sparse) or ``inf`` (dense) pairs are not allowed.
        weights
            Demand weights in the objective (default 1).
        p
            Number of open sites (existing included); None to let bounds decide.
        capacity, min_load
            Most / least load an open site may serve: a number or one per site.
        loads
            Load each demand row puts on its site (default: its weight).
        unserved_penalty
            Cost per unit weight of leaving a demand row unserved (as ArcGIS leaves
            demand beyond every chosen site's cutoff unallocated). None: every row
            must be served, and a p that cannot serve them all is infeasible.
        existing, forbidden
            Sites that must stay open / may not be chosen.
        cutoff
            The largest cost allowed per demand row.

        Returns
        -------
        PMedian
        """
        data = as_cost_data(costs, cutoff=cutoff)
        return cls(data, weights, p=p, capacity=capacity, min_load=min_load, loads=loads,
                   unserved_penalty=unserved_penalty, existing=existing,
                   forbidden=forbidden)  # fmt: skip

    @classmethod
    def from_geodataframe(cls, demand, sites, *, p, weight=None, capacity=None, min_load=None,
                          loads=None, unserved_penalty=None, costs=None, cutoff=None,
                          demand_id=None, site_id=None, existing=None,
                          forbidden=None) -> PMedian:  # fmt: skip
        """Build from demand points and candidate sites (straight-line costs unless given).

        ``capacity`` may name a column of ``sites``; ``loads`` a column of ``demand``.

        Returns
        -------
        PMedian
        """

        def build(data, w, geo):
            cap = geo["sites"][capacity].to_numpy(float) if isinstance(capacity, str) else capacity
            ld = geo["demand"][loads].to_numpy(float) if isinstance(loads, str) else loads
            return cls(data, w, p=p, capacity=cap, min_load=min_load, loads=ld,
                       unserved_penalty=unserved_penalty, existing=existing,
                       forbidden=forbidden, geo=geo)  # fmt: skip

        return cls._from_geodataframe(demand, sites, weight=weight, costs=costs, cutoff=cutoff,
                                      demand_id=demand_id, site_id=site_id,
                                      build=build)  # fmt: skip

    # -- solving ---------------------------------------------------------------
    def _solve(self, *, deadline, mip_gap, seed, method) -> dict[str, Any]:
        if self.bounded:
            return self._solve_bounded(deadline=deadline, mip_gap=mip_gap, seed=seed,
                                       method=method)  # fmt: skip
        return self._solve_uncapacitated(deadline=deadline, mip_gap=mip_gap, seed=seed,
                                         method=method)  # fmt: skip

    def _solve_uncapacitated(self, *, deadline, mip_gap, seed, method) -> dict[str, Any]:
        """Greedy + vertex substitution, then LP branch and bound or a Lagrangian bound.

        ``"exact"``, and ``"auto"`` while the LP stays small enough, prove the result
        with :func:`~svcnet.solvers.pmedian.branch_and_bound`; ``"heuristic"`` and
        larger ``"auto"`` models report the subgradient Lagrangian bound.
        """
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        allowed = self._allowed_sites()
        pairs = heur.Pairs.from_csr(self._data.matrix, self._weights, allowed,
                                    penalty=self.unserved_penalty)  # fmt: skip
        integral = _is_integral(pairs.vals) and (
            self.unserved_penalty is None or _is_integral(pairs.fallback)
        )
        is_open = heur.greedy(pairs, self.p, self._existing, allowed)
        is_open = heur.local_search(pairs, is_open, self._existing, allowed, deadline=deadline)
        upper = heur.assignment_cost(pairs, is_open)
        timings["heuristic"] = time.perf_counter() - t0
        if not math.isfinite(upper):
            if method == "heuristic":
                raise InfeasibleError(
                    "the heuristic found no p sites that serve every demand point"
                )
            return self._solve_mip(allowed, deadline, mip_gap, seed, timings)
        details: dict[str, Any] = {"heuristic_cost": upper}
        size = 0 if method == "heuristic" else heur.lp_size(pairs, self.p, self._existing,
                                                              allowed, is_open)  # fmt: skip
        exact = method == "exact" or (method == "auto" and size <= _EXACT_LP_PAIRS)
        lower = -math.inf
        if not exact or size > _QUICK_LP_PAIRS:
            # A subgradient bound first: the answer for large models, a fallback bound
            # (and maybe a better incumbent) for the branch and bound of mid-sized ones.
            t1 = time.perf_counter()
            d1, _, _ = heur.nearest_two(pairs, is_open)
            lagr = heur.lagrangian_bound(pairs, self.p, self._existing, allowed, upper=upper,
                                         start=d1, deadline=deadline, integral=integral,
                                         target_gap=mip_gap,
                                         max_iterations=300 if exact else 2000)  # fmt: skip
            timings["lagrangian"] = time.perf_counter() - t1
            details["lagrangian_iterations"] = lagr.iterations
            if lagr.best_cost < upper:
                improved = heur.local_search(pairs, lagr.best_open, self._existing, allowed,
                                             deadline=deadline)  # fmt: skip
                is_open, upper = improved, heur.assignment_cost(pairs, improved)
            lower = min(lagr.bound, upper)
            out_of_time = deadline is not None and time.perf_counter() >= deadline
            if not exact or out_of_time or upper - lower <= mip_gap * max(abs(upper), 1e-12):
                gap = (upper - lower) / max(abs(upper), 1e-12)
                status = "feasible" if not out_of_time else "time_limit"
                return {"selected": np.flatnonzero(is_open), "objective": upper, "bound": lower,
                        "status": "optimal" if gap <= mip_gap + 1e-12 else status,
                        "method": "local search + lagrangian", "timings": timings,
                        "details": details}  # fmt: skip
        result = self._solve_branch_and_bound(pairs, allowed, is_open, upper, deadline, mip_gap,
                                              seed, integral, timings, details)  # fmt: skip
        objective = result["objective"]
        result["bound"] = max(result["bound"], min(lower, objective))
        if objective - result["bound"] <= mip_gap * max(abs(objective), 1e-12):
            result["status"] = "optimal"
        return result

    def _solve_branch_and_bound(self, pairs, allowed, is_open, upper, deadline, mip_gap, seed,
                                integral, timings, details) -> dict[str, Any]:  # fmt: skip
        """Prove the heuristic's solution optimal (or improve it) by LP branch and bound."""
        t1 = time.perf_counter()
        result = heur.branch_and_bound(pairs, self.p, self._existing, allowed, best_open=is_open,
                                       best_cost=upper, deadline=deadline, integral=integral,
                                       target_gap=mip_gap, seed=seed)  # fmt: skip
        timings["branch_and_bound"] = time.perf_counter() - t1
        details.update(nodes=result.nodes, root_bound=result.root_bound,
                       fixed_closed=result.fixed_closed, fixed_open=result.fixed_open,
                       lp_pairs=result.lp_pairs, lp_solves=result.lp_solves)  # fmt: skip
        if result.proven:
            status = "optimal"
        elif deadline is not None and time.perf_counter() >= deadline:
            status = "time_limit"
        else:
            status = "feasible"
        return {"selected": np.flatnonzero(result.best_open), "objective": result.best_cost,
                "bound": min(result.bound, result.best_cost), "status": status,
                "method": "local search + LP branch and bound", "timings": timings,
                "details": details}  # fmt: skip

    def _solve_mip(self, allowed, deadline, mip_gap, seed, timings) -> dict[str, Any]:
        """Compact MILP, y (sites) binary, x (pairs) and z (unserved rows) continuous.

        For models where the heuristic found no p sites that serve every row: HiGHS
        then finds a solution or proves that there is none.
        """
        t0 = time.perf_counter()
        matrix = self._data.matrix
        sites = np.flatnonzero(allowed)
        col_of = np.full(self.shape[1], -1)
        col_of[sites] = np.arange(len(sites))
        rows = row_of_entries(matrix)
        keep = allowed[matrix.indices]
        if self.unserved_penalty is not None:
            keep &= matrix.data <= self.unserved_penalty
        rows, cols, costs = rows[keep], col_of[matrix.indices[keep]], matrix.data[keep]
        k, q, n = len(sites), len(rows), self.shape[0]
        u = n if self.unserved_penalty is not None else 0
        width = k + q + u
        if u == 0 and (np.bincount(rows, minlength=n) == 0).any():
            raise InfeasibleError("after reduction some demand points have no allowed site")
        assign = sp.csr_matrix(
            (np.ones(q + u), (np.concatenate([rows, np.arange(u)]), k + np.arange(q + u))),
            shape=(n, width),
        )
        link = sp.csr_matrix(
            (np.concatenate([np.ones(q), -np.ones(q)]),
             (np.tile(np.arange(q), 2), np.concatenate([k + np.arange(q), cols]))),
            shape=(q, width),
        )  # fmt: skip
        card = sp.csr_matrix((np.ones(k), (np.zeros(k, dtype=int), np.arange(k))), shape=(1, width))
        col_lower = np.zeros(width)
        col_lower[col_of[self._existing]] = 1.0
        cost = np.concatenate([np.zeros(k), costs * self._weights[rows],
                               self._fallback()[:u]])  # fmt: skip
        timings["build"] = time.perf_counter() - t0
        remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.01)
        result = solve_mip(
            cost=cost, matrix=sp.vstack([assign, link, card], format="csr"),
            row_lower=np.concatenate([np.ones(n), np.full(q, -np.inf), [self.p]]),
            row_upper=np.concatenate([np.ones(n), np.zeros(q), [self.p]]),
            col_lower=col_lower, col_upper=np.ones(width),
            integer=np.arange(width) < k, time_limit=remaining, mip_gap=mip_gap, seed=seed,
            what="p-median model",
        )  # fmt: skip
        timings["mip"] = time.perf_counter() - t0
        selected = sites[result.x[:k] > 0.5]
        objective = self._total_cost(selected)  # HiGHS's value, without its round-off
        bound = result.bound
        if result.status == "optimal":
            bound = max(bound, min(objective, result.objective))
        return {"selected": selected, "objective": objective, "bound": min(bound, objective),
                "status": result.status, "method": "mip", "timings": timings,
                "details": {}}  # fmt: skip

    def _fallback(self) -> np.ndarray:
        """Each demand row's cost when unserved (weight x penalty); inf when it must be served."""
        if self.unserved_penalty is None:
            return np.full(self.shape[0], np.inf)
        return self._weights * self.unserved_penalty

    def _nearest_served(self, selected: np.ndarray):
        """Nearest open site of every row; -1 and NaN where none or dearer than the penalty."""
        is_open = np.zeros(self.shape[1], dtype=bool)
        is_open[selected] = True
        site, cost = nearest_open(self._data.matrix, is_open)
        if self.unserved_penalty is not None:
            beyond = ~(cost <= self.unserved_penalty)
            site[beyond], cost[beyond] = -1, np.nan
        return site, cost

    def _total_cost(self, selected: np.ndarray) -> float:
        """Objective of an open set under nearest assignment (unserved rows at the penalty)."""
        site, cost = self._nearest_served(selected)
        served = site >= 0
        return float((self._weights[served] * cost[served]).sum() + self._fallback()[~served].sum())

    def _bounded_problem(self) -> bounded.BoundedProblem:
        matrix = self._data.matrix
        rows = row_of_entries(matrix)
        keep = self._allowed_sites()[matrix.indices]
        if self.unserved_penalty is not None:
            keep &= matrix.data <= self.unserved_penalty
        return bounded.BoundedProblem(
            n=self.shape[0], m=self.shape[1], rows=rows[keep],
            sites=matrix.indices[keep].astype(np.int64), costs=matrix.data[keep],
            weights=self._weights, loads=self.loads, capacity=self.capacity,
            min_load=self.min_load, p=self.p, existing=self._existing,
            allowed=self._allowed_sites(),
            fallback=None if self.unserved_penalty is None else self._fallback(),
        )  # fmt: skip

    def _solves_on_cluster(self) -> bool:
        return self.bounded

    def _solve_on_cluster(self, client, *, time_limit, mip_gap, seed, method) -> dict[str, Any]:
        """The bounded model's parts on a Dask cluster (:mod:`svcnet.distributed`)."""
        from svcnet.distributed import _bounded, _cluster

        with _cluster.cluster_for(client) as dask_client:
            outcome = _bounded.solve_on_cluster(
                dask_client, self._bounded_problem(), time_limit=time_limit, mip_gap=mip_gap,
                seed=seed, method=method, exact_pairs=_EXACT_BOUNDED_PAIRS,
            )  # fmt: skip
        return self._bounded_result(outcome)

    def _solve_bounded(self, *, deadline, mip_gap, seed, method) -> dict[str, Any]:
        """Reduce and split, then MILP on small parts; bounds and heuristics on large ones.

        See :func:`svcnet.solvers.bounded.solve`.
        """
        problem = self._bounded_problem()
        outcome = bounded.solve(problem, deadline=deadline, mip_gap=mip_gap, seed=seed,
                                method=method, exact_pairs=_EXACT_BOUNDED_PAIRS)  # fmt: skip
        return self._bounded_result(outcome)

    def _bounded_result(self, outcome: bounded.BoundedOutcome) -> dict[str, Any]:
        assignment = outcome.assignment
        served = assignment >= 0
        loads = np.bincount(assignment[served], self.loads[served], minlength=self.shape[1])
        details = dict(outcome.details)
        details.update({"loads": loads, "unserved": int((~served).sum())})
        return {"selected": np.flatnonzero(outcome.is_open), "assignment": assignment,
                "objective": outcome.objective, "bound": outcome.bound,
                "status": outcome.status, "method": outcome.method,
                "timings": outcome.timings, "details": details}  # fmt: skip

    def _assign(self, selected, assignment):
        if self.bounded:
            return super()._assign(selected, assignment)
        return self._nearest_served(selected)

    def _recompute(self, solution: Solution) -> dict[str, Any]:
        selected = self._check_open_set(solution)
        if self.p is not None and len(selected) != self.p:
            raise VerificationError(f"{len(selected)} sites are open, not p = {self.p}")
        assignment = np.asarray(solution.assignment)
        unserved = assignment < 0
        if unserved.any() and self.unserved_penalty is None:
            raise VerificationError(f"{int(unserved.sum())} demand rows are unserved")
        rows = np.flatnonzero(~unserved)
        costs = self._require_pairs_allowed(rows, assignment[rows])
        objective = float((self._weights[rows] * costs).sum() + self._fallback()[unserved].sum())
        loads = np.bincount(assignment[rows], self.loads[rows], minlength=self.shape[1])
        if self.bounded:
            tol = 1e-6 * max(1.0, float(self.loads.max(initial=0)))
            if self.capacity is not None:
                over = selected[loads[selected] > self.capacity[selected] + tol]
                if over.size:
                    raise VerificationError(f"sites {over[:10].tolist()} exceed their capacity")
            if self.min_load is not None:
                under = selected[loads[selected] < self.min_load[selected] - tol]
                if under.size:
                    raise VerificationError(f"sites {under[:10].tolist()} are below min_load")
        else:
            site, nearest = self._nearest_served(selected)
            if not np.array_equal(site >= 0, ~unserved):
                raise VerificationError("some demand is left unserved though an open site is near")
            if not np.allclose(costs, nearest[rows], rtol=1e-9, atol=1e-9):
                raise VerificationError("some demand is not served by its nearest open site")
        return {"objective": objective, "loads": loads[selected]}


def _is_integral(values: np.ndarray) -> bool:
    """Whether every value is a whole number (so that sums of them are, and bounds round up)."""
    return bool(np.all(values == np.round(values)))


def _check_penalty(penalty: object) -> float | None:
    if penalty is None:
        return None
    try:
        value = float(penalty)
    except (TypeError, ValueError) as exc:
        raise InputError(f"unserved_penalty must be a number; got {penalty!r}") from exc
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"unserved_penalty must be finite and non-negative; got {penalty!r}")
    return value


class PCenter(LocationModel):
    r"""p-center: p sites minimising the largest (weighted) cost of any demand point.

    .. math::

        \min D \quad \text{s.t.} \quad w_i c_{ij} x_{ij} \le D, \quad \sum_j x_{ij} = 1,
        \quad x_{ij} \le y_j, \quad \sum_j y_j = p

    Solved exactly by bisection on the sorted distinct pair values: a radius ``r``
    is achievable when the fewest sites covering every demand point within ``r``
    (a set-covering MILP, existing sites open) is at most p.

    Examples
    --------
    >>> import numpy as np
    >>> costs = np.array([[0.0, 5.0, 2.0], [5.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    >>> PCenter.from_cost_matrix(costs, p=1).solve().objective
    3.0
    """

    def __init__(self, data, weights=None, *, p, existing=None, forbidden=None, geo=None):
        super().__init__(data, weights, existing=existing, forbidden=forbidden, geo=geo)
        self.p = _check_p(p, self._existing.size, int(self._allowed_sites().sum()))
        needed = np.flatnonzero(self._weights > 0)
        self._require_coverable(needed, self._allowed_sites(), "(all beyond the cutoff)")

    @classmethod
    def from_cost_matrix(cls, costs, *, p, weights=None, existing=None, forbidden=None,
                         cutoff=None) -> PCenter:  # fmt: skip
        """Build from a cost matrix (dense, scipy.sparse or CostMatrix).

        Parameters
        ----------
        costs
            Demand x sites costs.
        p
            Number of open sites, existing included.
        weights
            Demand weights multiplying the costs (default 1); rows of weight 0 are ignored.
        existing, forbidden
            Sites that must stay open / may not be chosen.
        cutoff
            The largest cost allowed per demand row.

        Returns
        -------
        PCenter
        """
        data = as_cost_data(costs, cutoff=cutoff)
        return cls(data, weights, p=p, existing=existing, forbidden=forbidden)

    @classmethod
    def from_geodataframe(cls, demand, sites, *, p, weight=None, costs=None, cutoff=None,
                          demand_id=None, site_id=None, existing=None, forbidden=None,
                          ) -> PCenter:  # fmt: skip
        """Build from demand points and candidate sites (straight-line costs unless given).

        Returns
        -------
        PCenter
        """
        return cls._from_geodataframe(
            demand, sites, weight=weight, costs=costs, cutoff=cutoff, demand_id=demand_id,
            site_id=site_id,
            build=lambda data, w, geo: cls(data, w, p=p, existing=existing,
                                           forbidden=forbidden, geo=geo),
        )  # fmt: skip

    def _weighted(self) -> sp.csr_matrix:
        matrix = self._data.matrix.copy()
        matrix.data = matrix.data * self._weights[row_of_entries(matrix)]
        return matrix

    def _solve(self, *, deadline, mip_gap, seed, method) -> dict[str, Any]:
        t0 = time.perf_counter()
        weighted = self._weighted()
        needed = self._weights > 0
        allowed = self._allowed_sites()
        allowed_vals = weighted.data[allowed[weighted.indices] & needed[row_of_entries(weighted)]]
        values = np.unique(allowed_vals)
        # Every needed row needs some site: the optimum is at least the largest row minimum.
        is_allowed = allowed.copy()
        _, row_min = nearest_open(weighted, is_allowed)
        low = int(np.searchsorted(values, np.nanmax(row_min[needed]) if needed.any() else 0.0))
        high, best_selected = self._greedy_radius(weighted, values, needed, allowed)
        status, solves = "optimal", 0
        if best_selected is None:  # the greedy found no p sites that reach everyone: can any?
            widest = min_cover(_coverage(weighted, values[high]), needed, self._existing, allowed,
                               deadline=None, mip_gap=0.0, seed=seed)  # fmt: skip
            solves += 1
            if len(widest["selected"]) > self.p:
                msg = (f"no {self.p} sites reach every demand point within the cutoff: at "
                       f"least {len(widest['selected'])} are needed")  # fmt: skip
                raise InfeasibleError(msg)
            best_selected = widest["selected"]
        while low < high:
            if deadline is not None and time.perf_counter() > deadline:
                status = "time_limit"
                break
            mid = (low + high) // 2
            cover = _coverage(weighted, values[mid])
            result = min_cover(cover, needed, self._existing, allowed, deadline=deadline,
                               mip_gap=0.0, seed=seed)  # fmt: skip
            solves += 1
            if len(result["selected"]) <= self.p:
                high, best_selected = mid, result["selected"]
            elif result["status"] == "optimal" or result["bound"] > self.p:
                low = mid + 1
            else:
                status = "time_limit"
                break
        selected = self._fill_to_p(best_selected, allowed)
        objective = float(values[high])
        bound = float(values[low]) if low < len(values) else objective
        return {"selected": selected, "objective": objective, "bound": min(bound, objective),
                "status": status if low < high else "optimal", "method": "bisection + mip",
                "timings": {"solve": time.perf_counter() - t0},
                "details": {"covering_solves": solves}}  # fmt: skip

    def _greedy_radius(self, weighted, values, needed, allowed):
        """A feasible p-set by farthest-first greedy: its radius starts the bisection."""
        is_open = np.zeros(self.shape[1], dtype=bool)
        is_open[self._existing] = True
        while is_open.sum() < self.p:
            _, cost = nearest_open(weighted, is_open)
            cost = np.where(needed, np.nan_to_num(cost, nan=np.inf), -np.inf)
            worst = int(np.argmax(cost))
            start, end = weighted.indptr[worst], weighted.indptr[worst + 1]
            cols, vals = weighted.indices[start:end], weighted.data[start:end]
            ok = allowed[cols] & ~is_open[cols]
            if not ok.any():
                break
            is_open[cols[ok][np.argmin(vals[ok])]] = True
        _, cost = nearest_open(weighted, is_open)
        radius = np.nanmax(np.where(needed, np.nan_to_num(cost, nan=np.inf), -np.inf))
        if not np.isfinite(radius):
            return len(values) - 1, None  # not feasible: the caller checks the widest radius
        return int(np.searchsorted(values, radius)), np.flatnonzero(is_open)

    def _fill_to_p(self, selected: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Open more sites up to p (lowest indices first) when fewer suffice: p is exact."""
        selected = np.asarray(selected, dtype=np.int64)
        if len(selected) >= self.p:
            return selected
        spare = np.setdiff1d(np.flatnonzero(allowed), selected)[: self.p - len(selected)]
        return np.sort(np.concatenate([selected, spare]))

    def _recompute(self, solution: Solution) -> dict[str, Any]:
        selected = self._check_open_set(solution)
        if len(selected) != self.p:
            raise VerificationError(f"{len(selected)} sites are open, not p = {self.p}")
        is_open = np.zeros(self.shape[1], dtype=bool)
        is_open[selected] = True
        _, cost = nearest_open(self._weighted(), is_open)
        needed = self._weights > 0
        if np.isnan(cost[needed]).any():
            raise VerificationError("some demand points have no open site within the cutoff")
        assignment = np.asarray(solution.assignment)
        served_cost = self._require_pairs_allowed(np.flatnonzero(needed), assignment[needed])
        if not np.allclose(served_cost * self._weights[needed], cost[needed]):
            raise VerificationError("some demand is not served by its nearest open site")
        return {"objective": float(cost[needed].max()) if needed.any() else 0.0}
