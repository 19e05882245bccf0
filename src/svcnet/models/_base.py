"""What every location model shares: inputs, existing and forbidden sites, solving."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from svcnet._validate import check_choice
from svcnet.errors import InfeasibleError, InputError
from svcnet.models._data import CostData, as_cost_data, as_site_indices, as_weights
from svcnet.models.solution import Solution, relative_gap

logger = logging.getLogger(__name__)

METHODS = ("auto", "exact", "heuristic")


class LocationModel:
    """Base class: a validated location problem on allowed demand-site pairs.

    Subclasses set :attr:`maximize`, implement ``_solve`` and ``_recompute``.
    """

    maximize: ClassVar[bool] = False

    def __init__(
        self,
        data: CostData,
        weights: np.ndarray,
        *,
        existing: object = None,
        forbidden: object = None,
        geo: Mapping[str, Any] | None = None,
    ) -> None:
        self._data = data
        self._weights = as_weights(weights, data.shape[0])
        self._weights.setflags(write=False)
        self._existing = as_site_indices(existing, data.site_ids, "existing")
        self._forbidden = as_site_indices(forbidden, data.site_ids, "forbidden")
        both = np.intersect1d(self._existing, self._forbidden)
        if both.size:
            msg = "sites are both existing (must stay open) and forbidden"
            raise InputError(msg, column="existing", rows=data.site_ids[both].tolist())
        self._geo = geo

    # -- views -----------------------------------------------------------------
    @property
    def costs(self) -> sp.csr_matrix:
        """The allowed pairs (a copy): CSR demand x sites; absent = not allowed."""
        return self._data.matrix.copy()

    @property
    def weights(self) -> np.ndarray:
        """Demand weights (read-only)."""
        return self._weights

    @property
    def existing(self) -> np.ndarray:
        """Indices of the sites that must stay open."""
        return self._existing.copy()

    @property
    def forbidden(self) -> np.ndarray:
        """Indices of the sites that may not be chosen."""
        return self._forbidden.copy()

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_demand, n_sites)``."""
        return self._data.shape

    def _allowed_sites(self) -> np.ndarray:
        mask = np.ones(self.shape[1], dtype=bool)
        mask[self._forbidden] = False
        return mask

    # -- construction from GeoDataFrames ----------------------------------------
    @classmethod
    def _from_geodataframe(
        cls,
        demand: Any,
        sites: Any,
        *,
        weight: str | None,
        costs: object | None,
        cutoff: float | None,
        demand_id: str | None,
        site_id: str | None,
        build: Any,
    ) -> LocationModel:
        from svcnet._validate import check_geodataframe

        demand = check_geodataframe(demand, layer="demand", id_column=demand_id,
                                    required=[weight] if weight else [])  # fmt: skip
        sites = check_geodataframe(sites, layer="sites", id_column=site_id)
        if costs is None:
            from svcnet.costs import costs_from_points

            costs = costs_from_points(demand, sites, cutoff=cutoff)
        data = as_cost_data(costs)
        demand_labels = demand[demand_id].to_numpy() if demand_id else demand.index.to_numpy()
        site_labels = sites[site_id].to_numpy() if site_id else sites.index.to_numpy()
        if data.shape != (len(demand), len(sites)):
            msg = f"costs have shape {data.shape}, but there are {len(demand)} demand rows and " \
                  f"{len(sites)} sites"  # fmt: skip
            raise InputError(msg)
        data = CostData(data.matrix, np.asarray(demand_labels, dtype=object),
                        np.asarray(site_labels, dtype=object))  # fmt: skip
        weights = demand[weight].to_numpy(dtype=float) if weight else None
        # what a map of the solution needs besides the frames: the weight column, the unit
        geo = {"demand": demand, "sites": sites, "weight": weight,
               "unit": getattr(costs, "unit", None)}  # fmt: skip
        return build(data, weights, geo)

    # -- solving ---------------------------------------------------------------
    def solve(
        self,
        *,
        time_limit: float | None = None,
        mip_gap: float = 0.0,
        seed: int = 0,
        method: str = "auto",
        client: Any = None,
    ) -> Solution:
        """Solve the model.

        Parameters
        ----------
        time_limit
            Seconds for the whole solve; when reached, the best solution found is
            returned with its status and gap (no exception).
        mip_gap
            Relative gap at which to stop; 0 asks for proven optimality.
        seed
            Random seed: the same inputs and seed give the same solution.
        method
            ``"exact"`` (proven optimal: bounds, and the MILP with HiGHS wherever
            they do not meet), ``"heuristic"`` (local search with a bound, where the
            model has one) or ``"auto"`` (exact where the instance is small enough).
        client
            Solve on a Dask cluster (a ``dask.distributed.Client``, a scheduler
            address or ``"local"``): population-bounded :class:`PMedian` models
            only, whose independent parts are solved side by side on the
            workers and whose largest parts are cut into tiles there, with a
            bound for the whole (see :mod:`svcnet.distributed`). Other models
            solve in this process (and log that they do). None: this process.

        Returns
        -------
        Solution
        """
        check_choice(method, "method", METHODS)
        if time_limit is not None and not time_limit > 0:
            raise InputError(f"time_limit must be a positive number of seconds; got {time_limit!r}")
        if not 0 <= mip_gap < 1:
            raise InputError(f"mip_gap must be in [0, 1); got {mip_gap!r}")
        started = time.perf_counter()
        deadline = None if time_limit is None else started + time_limit
        if client is not None and self._solves_on_cluster():
            result = self._solve_on_cluster(client, time_limit=time_limit, mip_gap=mip_gap,
                                            seed=seed, method=method)  # fmt: skip
        else:
            if client is not None:
                logger.warning("%s solves in this process: only population-bounded PMedian "
                               "models use client=", type(self).__name__)  # fmt: skip
            result = self._solve(deadline=deadline, mip_gap=mip_gap, seed=seed, method=method)
        timings = dict(result.pop("timings", {}))
        timings["total"] = time.perf_counter() - started
        selected = np.unique(np.asarray(result.pop("selected"), dtype=np.int64))
        assignment, assigned_cost = self._assign(selected, result.pop("assignment", None))
        objective = float(result.pop("objective"))
        bound = float(result.pop("bound"))
        gap = relative_gap(objective, bound, self.maximize)
        status = result.pop("status")
        if status == "optimal" and gap > 0:
            status = "within_gap" if gap <= mip_gap + 1e-12 else "feasible"
        details = result.pop("details", {})
        details["mip_gap"] = mip_gap
        return Solution(
            model=type(self).__name__,
            selected=selected,
            assignment=assignment,
            objective=objective,
            bound=bound,
            gap=gap,
            status=status,
            method=result.pop("method"),
            maximize=self.maximize,
            timings=timings,
            site_ids=self._data.site_ids,
            demand_ids=self._data.demand_ids,
            assigned_cost=assigned_cost,
            details=details,
            _geo=self._geo,
        )

    def _solves_on_cluster(self) -> bool:
        """Whether :meth:`solve` can use a Dask cluster (see :meth:`_solve_on_cluster`)."""
        return False

    def _solve_on_cluster(self, client: Any, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _assign(self, selected: np.ndarray, assignment: np.ndarray | None):
        """Default assignment: each demand row to its nearest open site (ties: lowest index)."""
        if assignment is not None:
            assignment = np.asarray(assignment, dtype=np.int64)
            cost = np.full(len(assignment), np.nan)
            served = assignment >= 0
            cost[served] = pair_costs(self._data.matrix, np.flatnonzero(served), assignment[served])
            return assignment, cost
        is_open = np.zeros(self.shape[1], dtype=bool)
        is_open[selected] = True
        return nearest_open(self._data.matrix, is_open)

    # -- shared checks ---------------------------------------------------------
    def _check_open_set(self, solution: Solution) -> np.ndarray:
        from svcnet.models.solution import VerificationError

        selected = np.asarray(solution.selected)
        if selected.size and (selected.min() < 0 or selected.max() >= self.shape[1]):
            raise VerificationError("selected sites out of range")
        if np.unique(selected).size != selected.size:
            raise VerificationError("a site is selected twice")
        missing = np.setdiff1d(self._existing, selected)
        if missing.size:
            raise VerificationError(f"existing sites were closed: {missing.tolist()}")
        chosen_forbidden = np.intersect1d(self._forbidden, selected)
        if chosen_forbidden.size:
            raise VerificationError(f"forbidden sites were chosen: {chosen_forbidden.tolist()}")
        assignment = np.asarray(solution.assignment)
        if assignment.shape != (self.shape[0],):
            raise VerificationError("the assignment does not have one entry per demand row")
        served = assignment >= 0
        if not np.isin(assignment[served], selected).all():
            raise VerificationError("demand is assigned to a site that is not open")
        return selected

    def _require_pairs_allowed(self, rows: np.ndarray, sites: np.ndarray) -> np.ndarray:
        from svcnet.models.solution import VerificationError

        costs = pair_costs(self._data.matrix, rows, sites)
        if np.isnan(costs).any():
            bad = rows[np.isnan(costs)]
            raise VerificationError(
                f"demand rows {bad[:10].tolist()} are assigned beyond the cutoff"
            )
        return costs

    def _require_coverable(self, rows_needed: np.ndarray, allowed: np.ndarray, what: str) -> None:
        matrix = self._data.matrix[rows_needed][:, allowed] if rows_needed.size else None
        if matrix is None:
            return
        reachable = np.diff(matrix.indptr) > 0
        if not reachable.all():
            bad = self._data.demand_ids[rows_needed[~reachable]].tolist()
            msg = f"{len(bad)} demand points have no allowed site {what}"
            raise InfeasibleError(f"{msg}: {', '.join(map(str, bad[:10]))}"
                                  + (" ..." if len(bad) > 10 else ""))  # fmt: skip


def pair_costs(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Costs of given (row, col) pairs; NaN where the pair is not stored (not allowed).

    Examples
    --------
    >>> import scipy.sparse as sp, numpy as np
    >>> m = sp.csr_matrix(np.array([[0.0, 2.0]]))
    >>> pair_costs(m, np.array([0, 0]), np.array([0, 1])).tolist()
    [nan, 2.0]
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    out = np.full(len(rows), np.nan)
    if len(rows) == 0:
        return out
    # stored entries keyed by row * n_cols + col are sorted (CSR with sorted indices)
    matrix = matrix if matrix.has_sorted_indices else matrix.sorted_indices()
    keys = row_of_entries(matrix) * matrix.shape[1] + matrix.indices
    wanted = rows * matrix.shape[1] + cols
    pos = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = (keys[pos] == wanted) if len(keys) else np.zeros(len(rows), dtype=bool)
    out[found] = matrix.data[pos[found]]
    return out


def row_of_entries(matrix: sp.csr_matrix) -> np.ndarray:
    """The row index of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


def nearest_open(
    matrix: sp.csr_matrix, is_open: np.ndarray, values: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest open site of every row among its stored pairs (ties: lowest site index).

    Parameters
    ----------
    matrix
        CSR allowed pairs.
    is_open
        Boolean mask of open sites.
    values
        Values to minimise instead of ``matrix.data`` (same order).

    Returns
    -------
    site, cost
        Arrays per row; -1 and NaN where no open site is allowed.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> m = sp.csr_matrix(np.array([[3.0, 1.0], [2.0, 0.0]]))
    >>> site, cost = nearest_open(m, np.array([True, False]))
    >>> site.tolist(), cost.tolist()
    ([0, 0], [3.0, 2.0])
    """
    data = matrix.data if values is None else values
    rows = row_of_entries(matrix)
    keep = is_open[matrix.indices]
    rows, cols, vals = rows[keep], matrix.indices[keep], data[keep]
    order = np.lexsort((cols, vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    site = np.full(matrix.shape[0], -1, dtype=np.int64)
    cost = np.full(matrix.shape[0], np.nan)
    site[rows[first]] = cols[first]
    cost[rows[first]] = matrix.data[keep][order][first]
    return site, cost
