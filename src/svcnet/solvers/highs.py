"""A thin layer over the HiGHS matrix API (highspy): pass a sparse model, get values and a bound.

Models are built as scipy.sparse matrices and handed to HiGHS in one call
(``passModel``), never row by row through an expression modeller.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from svcnet.errors import InfeasibleError, SolverError

logger = logging.getLogger(__name__)

__all__ = ["MipResult", "new_highs", "solve_mip"]


@dataclass(frozen=True, eq=False)
class MipResult:
    """What HiGHS returned: values, objective, dual bound and status.

    ``status`` is ``"optimal"`` (proven within the requested gap) or
    ``"time_limit"`` (stopped with a feasible solution).
    """

    x: np.ndarray
    objective: float
    bound: float
    status: str
    seconds: float


def solve_mip(
    *,
    cost: np.ndarray,
    matrix: sp.spmatrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    integer: np.ndarray,
    maximize: bool = False,
    time_limit: float | None = None,
    mip_gap: float = 0.0,
    seed: int = 0,
    start: np.ndarray | None = None,
    what: str = "model",
    lp_solver: str | None = None,
) -> MipResult:
    """Solve ``min/max cost @ x`` s.t. ``row_lower <= matrix @ x <= row_upper`` and bounds.

    Parameters
    ----------
    cost, matrix, row_lower, row_upper, col_lower, col_upper
        The model; ``np.inf`` for absent bounds.
    integer
        Boolean mask of the integer columns.
    maximize
        Maximise instead of minimise.
    time_limit
        Seconds; None for no limit.
    mip_gap
        Relative gap at which to stop (0 proves optimality).
    seed
        HiGHS's random seed (results are deterministic for a given seed).
    start
        A feasible solution to start from (all columns), or None.
    what
        The model's name, for messages.
    lp_solver
        HiGHS's ``solver`` option for pure LPs (e.g. ``"ipm"``); None for its default.

    Returns
    -------
    MipResult

    Raises
    ------
    InfeasibleError
        When HiGHS proves the model infeasible.
    SolverError
        When HiGHS fails or stops without any feasible solution.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> r = solve_mip(cost=np.array([1.0, 1.0]), matrix=sp.csr_matrix([[1.0, 1.0]]),
    ...     row_lower=np.array([1.0]), row_upper=np.array([np.inf]),
    ...     col_lower=np.zeros(2), col_upper=np.ones(2), integer=np.array([True, True]))
    >>> r.objective, r.status
    (1.0, 'optimal')
    """
    import highspy

    started = time.perf_counter()
    csc = sp.csc_matrix(matrix)
    csc.sort_indices()
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = int(csc.shape[1])
    lp.num_row_ = int(csc.shape[0])
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.nan_to_num(np.asarray(col_lower, dtype=float), neginf=-inf, posinf=inf)
    lp.col_upper_ = np.nan_to_num(np.asarray(col_upper, dtype=float), neginf=-inf, posinf=inf)
    lp.row_lower_ = np.nan_to_num(np.asarray(row_lower, dtype=float), neginf=-inf, posinf=inf)
    lp.row_upper_ = np.nan_to_num(np.asarray(row_upper, dtype=float), neginf=-inf, posinf=inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(float)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    has_integers = bool(np.any(integer))
    if has_integers:
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in np.asarray(integer, dtype=bool)
        ]
    highs = new_highs()
    highs.setOptionValue("random_seed", int(seed))
    highs.setOptionValue("mip_rel_gap", float(mip_gap))
    highs.setOptionValue("mip_abs_gap", 1e-9)
    if time_limit is not None:
        highs.setOptionValue("time_limit", float(max(time_limit, 0.01)))
    if lp_solver is not None and not has_integers:
        highs.setOptionValue("solver", lp_solver)
        highs.setOptionValue("run_crossover", "on")  # an exact optimum: its value is a bound
    _check(highs.passModel(lp), highspy, f"HiGHS refused the {what}")
    if start is not None and has_integers:
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(start, dtype=float).tolist()
        solution.value_valid = True
        highs.setSolution(solution)
    highs.run()
    if start is not None and has_integers and _start_echoed(highs, cost):
        # HiGHS 1.16 can report a better optimum while handing back the start it was
        # given (seen when presolve solves the model outright): solve it again cold.
        if time_limit is not None:
            time_limit = max(time_limit - (time.perf_counter() - started), 0.01)
        return solve_mip(cost=cost, matrix=matrix, row_lower=row_lower, row_upper=row_upper,
                         col_lower=col_lower, col_upper=col_upper, integer=integer,
                         maximize=maximize, time_limit=time_limit, mip_gap=mip_gap, seed=seed,
                         start=None, what=what, lp_solver=lp_solver)  # fmt: skip
    status = highs.getModelStatus()
    info = highs.getInfo()
    seconds = time.perf_counter() - started
    statuses = highspy.HighsModelStatus
    if status == statuses.kInfeasible:
        raise InfeasibleError(f"the {what} has no feasible solution (HiGHS proved it)")
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if status == statuses.kOptimal:
        label = "optimal"
    elif status in (statuses.kTimeLimit, statuses.kInterrupt, statuses.kSolutionLimit,
                    statuses.kIterationLimit) and has_solution:  # fmt: skip
        label = "time_limit"
    else:
        msg = f"HiGHS stopped on the {what} without a solution: {highs.modelStatusToString(status)}"
        raise SolverError(msg)
    x = np.asarray(highs.getSolution().col_value, dtype=float)
    objective = float(info.objective_function_value)
    if has_integers:
        bound = float(info.mip_dual_bound)
        if not math.isfinite(bound):
            bound = -math.inf if not maximize else math.inf
    else:
        bound = objective
    logger.debug("HiGHS %s: %s, objective %g, bound %g, %.2f s", what, label, objective, bound,
                 seconds)  # fmt: skip
    return MipResult(x=x, objective=objective, bound=bound, status=label, seconds=seconds)


def new_highs() -> Any:
    """A silent ``highspy.Highs``: the copyright banner it prints on creation is dropped.

    HiGHS writes the banner straight to the process's standard output (file
    descriptor 1) before any option can be set, so that descriptor points to
    the null device while the object is made; output is switched off after.

    Examples
    --------
    >>> import highspy
    >>> isinstance(new_highs(), highspy.Highs)
    True
    """
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highs = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    highs.setOptionValue("output_flag", False)
    return highs


def _start_echoed(highs, cost) -> bool:
    """Whether the solution HiGHS returns does not have the objective it reports."""
    if highs.getInfo().primal_solution_status != 2:
        return False
    x = np.asarray(highs.getSolution().col_value, dtype=float)
    reported = float(highs.getInfo().objective_function_value)
    actual = float(np.asarray(cost, dtype=float) @ x)
    return abs(actual - reported) > 1e-6 * max(1.0, abs(reported))


def _check(status, highspy, msg: str) -> None:
    if status == highspy.HighsStatus.kError:
        raise SolverError(msg)
