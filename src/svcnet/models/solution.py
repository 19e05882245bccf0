"""The result of solving a location model, and an independent check of it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from svcnet.errors import SvcnetError

__all__ = ["Solution", "VerificationError", "verify"]


class VerificationError(SvcnetError):
    """A solution failed its independent check (infeasible, or its objective is wrong)."""


@dataclass(frozen=True, eq=False)
class Solution:
    """An immutable solution of a location model.

    Attributes
    ----------
    model
        The model's name (``"LSCP"``, ``"MCLP"``, ``"PMedian"``, ``"PCenter"``).
    selected
        Column indices of the open sites, sorted (existing sites included).
    assignment
        For each demand row, the index of the site serving it; -1 when unserved.
    objective
        The objective value of this solution.
    bound
        A proven bound on the optimum: a lower bound when minimising, an upper
        bound when maximising (:attr:`lower_bound` / :attr:`upper_bound`).
    gap
        Relative gap between objective and bound; 0.0 only when optimality is proven.
    status
        ``"optimal"`` (proven, gap 0), ``"within_gap"`` (proven within the requested
        ``mip_gap``), ``"time_limit"`` (stopped by the time limit) or ``"feasible"``.
    method
        How it was solved (e.g. ``"mip"``, ``"local search + lagrangian"``).
    timings
        Seconds spent, by stage.
    """

    model: str
    selected: np.ndarray
    assignment: np.ndarray
    objective: float
    bound: float
    gap: float
    status: str
    method: str
    maximize: bool
    timings: Mapping[str, float]
    site_ids: np.ndarray
    demand_ids: np.ndarray
    assigned_cost: np.ndarray
    details: Mapping[str, Any] = field(default_factory=dict)
    _geo: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("selected", "assignment", "assigned_cost"):
            array = np.array(getattr(self, name))
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        object.__setattr__(self, "timings", MappingProxyType(dict(self.timings)))
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    def __getstate__(self) -> dict[str, Any]:
        """The fields for pickle, the read-only mappings as dicts (they do not pickle)."""
        return {**self.__dict__, "timings": dict(self.timings), "details": dict(self.details)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled solution, read-only again."""
        for key, value in state.items():
            object.__setattr__(self, key, value)
        self.__post_init__()

    @property
    def lower_bound(self) -> float:
        """A proven lower bound on the optimum (minimisation models; NaN otherwise)."""
        return self.bound if not self.maximize else math.nan

    @property
    def upper_bound(self) -> float:
        """A proven upper bound on the optimum (maximisation models; NaN otherwise)."""
        return self.bound if self.maximize else math.nan

    @property
    def p(self) -> int:
        """The number of open sites."""
        return len(self.selected)

    @property
    def selected_ids(self) -> list:
        """The ids of the open sites."""
        return self.site_ids[self.selected].tolist()

    def to_frame(self) -> pd.DataFrame:
        """One row per demand point: its id, the site serving it and the cost.

        Examples
        --------
        >>> import numpy as np
        >>> from svcnet.models import PMedian
        >>> sol = PMedian.from_cost_matrix(np.array([[1.0, 4.0], [3.0, 1.0]]), [1, 1], p=1).solve()
        >>> sol.to_frame().values.tolist()
        [[0, 0, 1.0], [1, 0, 3.0]]
        """
        served = self.assignment >= 0
        site = np.full(len(self.assignment), None, dtype=object)
        site[served] = self.site_ids[self.assignment[served]]
        return pd.DataFrame(
            {"demand_id": self.demand_ids, "site_id": site, "cost": self.assigned_cost}
        )

    def sites_frame(self) -> pd.DataFrame:
        """One row per open site: its id, the number of demand rows it serves and their load."""
        counts = np.bincount(self.assignment[self.assignment >= 0], minlength=len(self.site_ids))
        loads = self.details.get("loads")
        frame = pd.DataFrame(
            {"site_id": self.site_ids[self.selected], "served": counts[self.selected]}
        )
        if loads is not None:
            frame["load"] = np.asarray(loads)[self.selected]
        return frame

    def to_geodataframe(self):
        """The open sites as a GeoDataFrame (only for models built with ``from_geodataframe``).

        Returns
        -------
        geopandas.GeoDataFrame
            The sites' rows with ``served`` (and ``load``) added.
        """
        from svcnet.errors import InputError

        if self._geo is None:
            msg = "this solution's model was not built from GeoDataFrames (use from_geodataframe)"
            raise InputError(msg)
        sites = self._geo["sites"].iloc[self.selected].copy()
        extra = self.sites_frame()
        sites["served"] = extra["served"].to_numpy()
        if "load" in extra.columns:
            sites["load"] = extra["load"].to_numpy()
        return sites

    def explore(self, m: Any = None, **kwargs: Any) -> Any:
        """A folium map of the solution (only for models built with ``from_geodataframe``).

        The demand coloured by its site (or served / unserved, or by cost), the
        selected sites sized by their load, optional lines and catchments; see
        :func:`svcnet.viz.explore_solution` for the options.

        Parameters
        ----------
        m
            A folium map to add the layers to; a new one when None.
        **kwargs
            Passed to :func:`svcnet.viz.explore_solution`.

        Returns
        -------
        folium.Map

        Raises
        ------
        InputError
            The model was built from a plain cost matrix: there is no geometry to map.

        Examples
        --------
        >>> from svcnet.viz.solution_maps import toy_solution
        >>> type(toy_solution().explore(tiles=None)).__name__
        'Map'
        """
        from svcnet.viz.solution_maps import explore_solution

        return explore_solution(self, m, **kwargs)

    def __repr__(self) -> str:
        bound = "upper" if self.maximize else "lower"
        return (
            f"<Solution {self.model}: {self.p} sites, objective {self.objective:,.6g}, "
            f"{bound} bound {self.bound:,.6g}, gap {self.gap:.4%}, {self.status}, "
            f"{self.method}, {self.timings.get('total', float('nan')):.2f} s>"
        )


def relative_gap(objective: float, bound: float, maximize: bool) -> float:
    """The relative gap between an objective and a bound (0 when they meet).

    Examples
    --------
    >>> relative_gap(110.0, 100.0, maximize=False)
    0.09090909090909091
    """
    diff = (bound - objective) if maximize else (objective - bound)
    if not math.isfinite(diff):
        return math.inf
    diff = max(diff, 0.0)
    scale = max(abs(objective), abs(bound), 1e-12)
    return 0.0 if diff <= 1e-9 * max(1.0, scale) else diff / scale


def verify(solution: Solution, problem: Any, *, rtol: float = 1e-7) -> dict:
    """Recompute a solution's feasibility and objective from the model's raw inputs.

    Parameters
    ----------
    solution
        What ``problem.solve()`` returned.
    problem
        The model (:class:`~svcnet.models.LSCP`, ``MCLP``, ``PMedian`` or ``PCenter``).
    rtol
        Relative tolerance on the objective.

    Returns
    -------
    dict
        The recomputed values (``objective`` and model-specific ones).

    Raises
    ------
    VerificationError
        Naming what is off.

    Examples
    --------
    >>> import numpy as np
    >>> from svcnet.models import PMedian
    >>> model = PMedian.from_cost_matrix(np.array([[1.0, 4.0], [3.0, 1.0]]), [1, 1], p=1)
    >>> verify(model.solve(), model)["objective"]
    4.0
    """
    if solution.model != type(problem).__name__:
        raise VerificationError(
            f"a {solution.model} solution cannot verify a {type(problem).__name__}"
        )
    checked = problem._recompute(solution)
    objective = checked["objective"]
    if not math.isclose(objective, solution.objective, rel_tol=rtol, abs_tol=1e-6):
        msg = f"objective is {solution.objective!r} but recomputes to {objective!r}"
        raise VerificationError(msg)
    bound_ok = (solution.bound >= objective - 1e-6 * max(1, abs(objective))) if solution.maximize \
        else (solution.bound <= objective + 1e-6 * max(1, abs(objective)))  # fmt: skip
    if not bound_ok:
        msg = f"the bound {solution.bound!r} is on the wrong side of the objective {objective!r}"
        raise VerificationError(msg)
    if solution.status == "optimal" and solution.gap > 0:
        msg = f"status is optimal but the gap is {solution.gap!r}"
        raise VerificationError(msg)
    expected_gap = relative_gap(solution.objective, solution.bound, solution.maximize)
    if not math.isclose(expected_gap, solution.gap, rel_tol=1e-6, abs_tol=1e-9):
        msg = f"gap is {solution.gap!r} but objective and bound give {expected_gap!r}"
        raise VerificationError(msg)
    return checked
