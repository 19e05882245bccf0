r"""Accessibility and coverage: how near the service is, who is covered, how much per person.

Every function takes travel costs with demand rows (population cells) and
supply columns (sites), in any of three forms:

* a :class:`~svcnet.costs.CostMatrix`, or a scipy.sparse matrix: a stored entry
  is a cost (explicit zeros are real zero costs), an *absent* entry means the
  site is out of reach (beyond the cutoff); stored ``inf`` is out of reach too
  and a stored NaN is an error;
* a dense numpy array, where ``inf`` or NaN marks a pair out of reach.

The work runs over the stored pairs only: no dense demand x sites array is
made from sparse costs, and each measure is one or two passes over the pairs
(sparse matrix-vector products).

Measures
--------
Nearness and coverage:

* :func:`nearest_cost`, :func:`nearest_site`: the cost to, and the nearest
  site of, each demand row;
* :func:`within`, :func:`coverage_curve`: who has a site within a cost, and
  how many people (of each population group) at several thresholds.

Floating catchments (Luo & Wang 2003; Luo & Qi 2009), with demand :math:`D_i`,
supply :math:`S_j`, cost :math:`c_{ij}`, catchment :math:`d` (``max_cost``) and
weight :math:`w(c)` (1 for the plain method):

* :func:`supply_ratio`: :math:`R_j = S_j / \sum_{i: c_{ij} \le d} w(c_{ij}) D_i`,
  supply per unit of demand at each site;
* :func:`two_step_fca`: :math:`A_i = \sum_{j: c_{ij} \le d} w(c_{ij}) R_j`;
  :func:`enhanced_two_step_fca` with a step table of weights (E2SFCA).
  For the plain method :math:`\sum_i D_i A_i = \sum_j S_j` over the sites that
  have demand in reach: the supply is shared out, none is created.

Gravity (Hansen 1959): :func:`gravity`,
:math:`A_i = \sum_{j: c_{ij} \le d} f(c_{ij}) S_j` with a decay function
:math:`f` (:func:`power_decay`, :func:`exponential_decay`, :func:`gaussian_decay`,
:func:`step_decay`), or, given demand, the competition-adjusted form
:math:`A_i = \sum_j f(c_{ij}) S_j / \sum_k f(c_{kj}) D_k` (Joseph & Bantock 1982;
Wang 2012), which is :func:`two_step_fca` with ``weights=f``.
:func:`mean_access` gives the population-weighted mean of any of them.

Population groups: wherever demand (or population) is a DataFrame, each column
is a group (``pop``, ``pop_60plus`` ...) and the result has one column per
group; each group is computed on its own, as if it alone used the supply (beds
for the elderly against the elderly only).

Agreement with PySAL ``access``
-------------------------------
The definitions are those of the PySAL ``access`` package (1.1):
:func:`two_step_fca` and :func:`enhanced_two_step_fca` equal its
``two_stage_fca`` / ``enhanced_two_stage_fca``, :func:`gravity` without demand
equals its ``weighted_catchment``, with demand its ``two_stage_fca`` with the
same ``weight_fn``, and :func:`supply_ratio` its ``fca_ratio`` taken around each
site; its raw values (``normalize=False``: no per-1,000 or other scaling) are
compared in the tests. Its ``normalize=True`` divides by the population-weighted
mean, i.e. by :func:`mean_access`. Two deliberate differences at the edges:

* a demand row with no site in reach gets access 0 here; ``access`` leaves it
  out of its result (NaN once aligned with the demand);
* a site with no demand in reach (no pair within the catchment, or only zero
  demand or zero weights there) has ratio NaN here and shares nothing out.
  ``access`` leaves the first kind out as well (NaN once aligned), but divides
  by zero for the second (``inf``), so zero-population cells next to such a site
  get an infinite access there.

Examples
--------
>>> import numpy as np
>>> costs = np.array([[2.0, 8.0], [6.0, np.inf], [np.inf, 4.0]])
>>> two_step_fca(costs, [100, 100, 200], [20, 10], max_cost=7).tolist()
[0.1, 0.1, 0.05]
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from scipy import sparse

from svcnet.costs import CostMatrix
from svcnet.errors import InputError
from svcnet.models._data import as_cost_data

logger = logging.getLogger(__name__)

__all__ = [
    "nearest_cost",
    "nearest_site",
    "within",
    "coverage_curve",
    "supply_ratio",
    "two_step_fca",
    "enhanced_two_step_fca",
    "gravity",
    "mean_access",
    "power_decay",
    "exponential_decay",
    "gaussian_decay",
    "step_decay",
]

#: Travel costs, demand rows by sites: a CostMatrix, a scipy.sparse matrix or a dense array.
CostsLike: TypeAlias = CostMatrix | sparse.spmatrix | sparse.sparray | np.ndarray | Sequence[Any]
#: A decay function of cost (vectorised: array in, array of the same shape out).
Decay: TypeAlias = Callable[[np.ndarray], Any]
#: A step table: ``(upper_cost, weight)`` pairs, or a dict ``{upper_cost: weight}``.
StepTable: TypeAlias = Mapping[float, float] | Sequence[tuple[float, float]]
#: Catchment weights: None (1 within the catchment), a decay function or a step table.
Weights: TypeAlias = Decay | StepTable | None


# =========================================================================================
# costs in one form
# =========================================================================================
@dataclass(frozen=True, eq=False)
class _Costs:
    """Validated costs: canonical CSR (sorted, no duplicates), finite, non-negative."""

    matrix: sparse.csr_matrix
    site_ids: pd.Index | None = None
    cutoff: float | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def largest(self) -> float:
        """The largest stored cost (0 when nothing is stored)."""
        return float(self.matrix.data.max()) if self.matrix.nnz else 0.0


def _is_clean(matrix: sparse.csr_matrix) -> bool:
    data = matrix.data
    if not (
        matrix.shape[0] > 0
        and matrix.shape[1] > 0
        and matrix.has_canonical_format
        and np.issubdtype(data.dtype, np.floating)
    ):
        return False
    # NaN makes both comparisons false; two reductions, no temporary arrays
    return data.size == 0 or bool(data.min() >= 0 and data.max() < np.inf)


def _as_costs(costs: object) -> _Costs:
    """One sparse form of the costs, without copying clean sparse input.

    A canonical CSR matrix of finite, non-negative floats (as every
    :class:`CostMatrix` holds) is used as it is; anything else goes through
    :func:`svcnet.models._data.as_cost_data`, which validates it, names the rows
    with negative costs and returns a canonical copy.
    """
    if isinstance(costs, CostMatrix):
        if _is_clean(costs.matrix):
            matrix = costs.matrix
        else:
            matrix = as_cost_data(costs.matrix).matrix
        return _Costs(matrix, pd.Index(costs.destination_ids), costs.cutoff)
    if sparse.issparse(costs):
        csr = costs if costs.format == "csr" else None
        if csr is not None and _is_clean(csr):
            return _Costs(csr)
        return _Costs(as_cost_data(costs).matrix)
    if isinstance(costs, pd.DataFrame):
        costs = costs.to_numpy(dtype=float, na_value=np.nan)
    try:
        dense = np.asarray(costs, dtype=float)
    except (TypeError, ValueError) as exc:
        msg = "costs must be numeric: a CostMatrix, a scipy.sparse matrix or a 2-D array"
        raise InputError(msg) from exc
    nan = np.isnan(dense)
    if nan.any():  # in a dense array NaN, like inf, means out of reach
        dense = np.where(nan, np.inf, dense)
    return _Costs(as_cost_data(dense).matrix)


def _rows_of_pairs(matrix: sparse.csr_matrix, pairs: np.ndarray) -> list[int]:
    """The demand rows holding the stored pairs at positions ``pairs``."""
    rows = np.searchsorted(matrix.indptr, pairs, side="right") - 1
    return np.unique(rows).tolist()


# =========================================================================================
# validation of the other arguments
# =========================================================================================
def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number; got {value!r}"
        raise InputError(msg)
    return float(value)


def _positive(value: object, name: str) -> float:
    number = _number(value, name)
    if np.isnan(number) or number <= 0:
        msg = f"{name} must be a positive number; got {value!r}"
        raise InputError(msg)
    return number


def _within_cutoff(value: float, name: str, costs: _Costs) -> None:
    if costs.cutoff is not None and value > costs.cutoff:
        msg = (
            f"{name} ({value:g}) is beyond the costs' cutoff ({costs.cutoff:g}): pairs between "
            f"the two are not stored, so the result would be cut short; rebuild the costs "
            f"with a cutoff of at least {value:g}"
        )
        raise InputError(msg)


def _check_values(array: np.ndarray, name: str, labels: object, column: str | None) -> None:
    """Raise if ``array`` (1-D) holds NaN, inf or negative values, naming the rows."""
    for mask, what in (
        (np.isnan(array), "missing (NaN) values"),
        (np.isinf(array), "infinite values"),
        (array < 0, "negative values"),
    ):
        if mask.any():
            where = np.flatnonzero(mask)
            rows = where.tolist() if labels is None else pd.Index(labels).take(where).tolist()
            raise InputError(f"{name} has {int(mask.sum())} {what}", column=column, rows=rows)


def _to_float(values: object, name: str, column: str | None = None) -> np.ndarray:
    if isinstance(values, pd.Series | pd.Index):
        if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
            msg = f"{name} must be numeric; got dtype {values.dtype}"
            raise InputError(msg, column=column)
        return values.to_numpy(dtype=float, na_value=np.nan)
    try:
        raw = np.asarray(values)
        if raw.dtype.kind in "bUSV":  # booleans or text, which numpy would turn into numbers
            raise TypeError(raw.dtype)
        return raw.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric", column=column) from exc


@dataclass(frozen=True)
class _Groups:
    """Demand (or population) as an (n, groups) array, with its column names and index."""

    values: np.ndarray
    columns: list[str] | None  # None: a single 1-D vector
    index: pd.Index | None
    label: str


def _groups(values: object, n: int, name: str) -> _Groups:
    """Validate one value per demand row, or a DataFrame with one column per group."""
    if isinstance(values, pd.DataFrame):
        if values.shape[1] == 0:
            raise InputError(f"{name} has no columns")
        if len(values) != n:
            msg = f"{name} must have one row per demand row of the costs ({n}); got {len(values)}"
            raise InputError(msg)
        columns = [str(c) for c in values.columns]
        if len(set(columns)) != len(columns):
            raise InputError(f"{name} has duplicate column names: {columns}")
        arrays = []
        for column, label in zip(values.columns, columns, strict=True):
            array = _to_float(values[column], name, column=label)
            _check_values(array, name, values.index, label)
            arrays.append(array)
        return _Groups(np.column_stack(arrays), columns, values.index, name)
    array = _to_float(values, name)
    if array.ndim != 1 or len(array) != n:
        msg = (
            f"{name} must have one value per demand row of the costs ({n}); got shape {array.shape}"
        )
        raise InputError(msg)
    labels = values.index if isinstance(values, pd.Series) else None
    _check_values(array, name, labels, None)
    label = str(values.name) if isinstance(values, pd.Series) and values.name is not None else ""
    return _Groups(array[:, None], None, None, label)


def _supply(supply: object, m: int) -> np.ndarray:
    """One value per site (or one number for every site), finite and non-negative."""
    if isinstance(supply, pd.DataFrame):
        msg = "supply must be a number or one value per site, not a DataFrame; pass one column"
        raise InputError(msg)
    array = _to_float(supply, "supply")
    if array.ndim == 0:
        array = np.full(m, float(array))
    if array.shape != (m,):
        msg = f"supply must be a number or one value per site of the costs ({m})"
        raise InputError(f"{msg}; got shape {array.shape}")
    _check_values(array, "supply", supply.index if isinstance(supply, pd.Series) else None, None)
    return array


def _site_index(costs: _Costs, supply: object) -> pd.Index:
    if costs.site_ids is not None:
        return costs.site_ids
    if isinstance(supply, pd.Series):
        return supply.index
    return pd.RangeIndex(costs.shape[1])


# =========================================================================================
# decay functions and step tables
# =========================================================================================
class _Decay:
    """A vectorised decay function with a readable repr (and its table, for a step function)."""

    def __init__(
        self,
        function: Callable[[np.ndarray], np.ndarray],
        label: str,
        steps: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self._function = function
        self._label = label
        self.steps = steps

    def __call__(self, cost: Any) -> Any:
        values = self._function(np.asarray(cost, dtype=float))
        return float(values) if np.ndim(values) == 0 else values

    def __repr__(self) -> str:
        return self._label


def power_decay(beta: float, *, min_cost: float = 0.0, scale: float = 1.0) -> Decay:
    """Power (inverse-distance) decay: ``f(c) = (max(c, min_cost) / scale) ** -beta``.

    The same function as ``access.weights.gravity(scale, alpha=-beta, min_dist=min_cost)``.
    At a zero cost it is infinite unless ``min_cost > 0``; the measures refuse
    infinite weights, so give a ``min_cost`` when costs can be zero.

    Parameters
    ----------
    beta
        The decay exponent, positive (1 to 2 are usual).
    min_cost
        Costs below it count as ``min_cost``.
    scale
        The cost at which the weight is 1.

    Returns
    -------
    callable
        Vectorised: an array of costs in, an array of weights out.

    Examples
    --------
    >>> f = power_decay(2.0, min_cost=1.0)
    >>> f([0.0, 2.0, 10.0]).tolist()
    [1.0, 0.25, 0.01]
    """
    beta = _positive(beta, "beta")
    min_cost = _number(min_cost, "min_cost")
    scale = _positive(scale, "scale")
    if not np.isfinite(beta) or not np.isfinite(scale) or not 0 <= min_cost < np.inf:
        raise InputError("beta, scale and min_cost must be finite; min_cost non-negative")

    def function(cost: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):  # 0 ** -beta is inf: the measures refuse it
            return np.power(np.maximum(cost, min_cost) / scale, -beta)

    return _Decay(function, f"power_decay(beta={beta:g}, min_cost={min_cost:g}, scale={scale:g})")


def exponential_decay(beta: float) -> Decay:
    """Exponential decay: ``f(c) = exp(-beta * c)``.

    Parameters
    ----------
    beta
        The decay rate per unit of cost, positive.

    Returns
    -------
    callable
        Vectorised: an array of costs in, an array of weights out.

    Examples
    --------
    >>> f = exponential_decay(np.log(2) / 10)  # halves every 10 units
    >>> np.round(f([0.0, 10.0, 20.0]), 6).tolist()
    [1.0, 0.5, 0.25]
    """
    beta = _positive(beta, "beta")
    if not np.isfinite(beta):
        raise InputError(f"beta must be finite; got {beta!r}")

    def function(cost: np.ndarray) -> np.ndarray:
        return np.exp(-beta * cost)

    return _Decay(function, f"exponential_decay(beta={beta:g})")


def gaussian_decay(sigma: float) -> Decay:
    """Gaussian decay: ``f(c) = exp(-c**2 / (2 * sigma**2))``, 1 at zero cost.

    The same function as ``access.weights.gaussian(sigma)``.

    Parameters
    ----------
    sigma
        The width, in cost units, positive.

    Returns
    -------
    callable
        Vectorised: an array of costs in, an array of weights out.

    Examples
    --------
    >>> round(gaussian_decay(10.0)(10.0), 4)  # exp(-1/2)
    0.6065
    """
    sigma = _positive(sigma, "sigma")
    if not np.isfinite(sigma):
        raise InputError(f"sigma must be finite; got {sigma!r}")

    def function(cost: np.ndarray) -> np.ndarray:
        return np.exp(-cost * cost / (2 * sigma**2))

    return _Decay(function, f"gaussian_decay(sigma={sigma:g})")


def _step_table(steps: object, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Upper costs (strictly increasing, non-negative) and weights (non-negative)."""
    items = list(steps.items()) if isinstance(steps, Mapping) else steps
    if isinstance(items, str | bytes) or not isinstance(items, Sequence | np.ndarray):
        msg = f"{name} must be a sequence of (upper_cost, weight) pairs or a dict; got {steps!r}"
        raise InputError(msg)
    if len(items) == 0:
        raise InputError(f"{name} is an empty step table")
    try:
        table = np.asarray([tuple(item) for item in items], dtype=float)
    except (TypeError, ValueError) as exc:
        msg = f"{name} must hold (upper_cost, weight) pairs of numbers; got {steps!r}"
        raise InputError(msg) from exc
    if table.ndim != 2 or table.shape[1] != 2:
        msg = f"{name} must hold (upper_cost, weight) pairs; got {steps!r}"
        raise InputError(msg)
    upper, weight = table[:, 0], table[:, 1]
    if not (np.isfinite(table).all() and (upper >= 0).all() and (weight >= 0).all()):
        msg = f"{name}: upper costs and weights must be finite and non-negative; got {steps!r}"
        raise InputError(msg)
    if (np.diff(upper) <= 0).any():
        bad = (np.flatnonzero(np.diff(upper) <= 0) + 1).tolist()
        msg = f"{name}: upper costs must be strictly increasing; got {upper.tolist()}"
        raise InputError(msg, rows=bad)
    return upper, weight


def step_decay(steps: StepTable) -> Decay:
    """A step function of cost from a table of ``(upper_cost, weight)`` pairs.

    A cost gets the weight of the first step whose upper cost it does not
    exceed; costs beyond the last step get 0. The same rule as
    ``access.weights.step_fn``.

    Parameters
    ----------
    steps
        ``(upper_cost, weight)`` pairs with strictly increasing upper costs, or
        a dict ``{upper_cost: weight}`` in increasing order, e.g.
        ``[(5, 1.0), (10, 0.68), (15, 0.22)]``: 1 up to 5, 0.68 up to 10,
        0.22 up to 15, 0 beyond.

    Returns
    -------
    callable
        Vectorised: an array of costs in, an array of weights out.

    Examples
    --------
    >>> f = step_decay([(5, 1.0), (10, 0.68), (15, 0.22)])
    >>> f([0.0, 5.0, 7.5, 15.0, 16.0]).tolist()
    [1.0, 1.0, 0.68, 0.22, 0.0]
    """
    upper, weight = _step_table(steps, "steps")

    def function(cost: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(cost), np.nan, _apply_steps(cost, upper, weight))

    table = ", ".join(f"({u:g}, {w:g})" for u, w in zip(upper, weight, strict=True))
    return _Decay(function, f"step_decay([{table}])", steps=(upper, weight))


def _apply_steps(cost: np.ndarray, upper: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The weight of the first step whose upper cost ``cost`` does not exceed; 0 beyond."""
    if len(upper) <= 16:  # a few comparisons beat a binary search per element
        step = np.zeros(cost.shape, dtype=np.int8)
        for bound in upper:
            step += cost > bound
    else:
        step = np.searchsorted(upper, cost, side="left")
    return np.append(weight, 0.0).take(step)


def _clip_steps(
    upper: np.ndarray, weight: np.ndarray, max_cost: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """The step table cut at ``max_cost``: costs beyond it weigh 0."""
    if max_cost is None or max_cost >= upper[-1]:
        return upper, weight
    k = int(np.searchsorted(upper, max_cost, side="left"))  # the step holding max_cost
    return np.append(upper[:k], max_cost), np.append(weight[:k], weight[k])


# =========================================================================================
# pair weights: the catchment as a sparse matrix sharing the costs' structure
# =========================================================================================
def _evaluate(function: Callable[[np.ndarray], Any], cost: np.ndarray, name: str) -> np.ndarray:
    hint = "it must be vectorised (wrap a function of one number in numpy.vectorize)"
    try:
        values = function(cost)
    except (TypeError, ValueError, ArithmeticError) as exc:
        msg = f"{name} failed on an array of costs ({exc}); {hint}"
        raise InputError(msg) from exc
    try:
        values = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must return numbers") from exc
    if values.shape != cost.shape:
        msg = f"{name} returned shape {values.shape} for {cost.shape} costs; {hint}"
        raise InputError(msg)
    return values


def _pair_weights(
    costs: _Costs, max_cost: float | None, weights: Weights, name: str
) -> sparse.csr_matrix:
    """Weights of the pairs within ``max_cost`` (0 elsewhere), on the costs' sparsity pattern.

    One pass over the stored costs for plain catchments and step tables (the table is cut
    at ``max_cost``); a decay function is called once, on the costs within ``max_cost``.
    """
    matrix = costs.matrix
    data = matrix.data
    if max_cost is not None and max_cost >= costs.largest:
        max_cost = None  # every stored pair is in the catchment
    if weights is not None and not callable(weights):
        steps: tuple[np.ndarray, np.ndarray] | None = _step_table(weights, name)
    else:
        steps = weights.steps if isinstance(weights, _Decay) else None
    if weights is None:
        values = np.ones(len(data)) if max_cost is None else (data <= max_cost).astype(float)
    elif steps is not None:  # finite, non-negative by construction
        values = _apply_steps(data, *_clip_steps(*steps, max_cost))
    else:
        if max_cost is None:
            values = _evaluate(weights, data, name)
        else:
            inside = data <= max_cost
            values = np.zeros(len(data))
            values[inside] = _evaluate(weights, data[inside], name)
        if not (values.size == 0 or (values.min() >= 0 and values.max() < np.inf)):
            where = np.flatnonzero(~np.isfinite(values) | (values < 0))
            example = f"{values[where[0]]:g} at cost {data[where[0]]:g}"
            msg = (
                f"{name} gave {len(where)} weights that are not finite and non-negative "
                f"(e.g. {example}); with power_decay and zero costs, set min_cost"
            )
            raise InputError(msg, rows=_rows_of_pairs(matrix, where))
    return sparse.csr_matrix((values, matrix.indices, matrix.indptr), shape=matrix.shape)


def _ratios(pair_weights: sparse.csr_matrix, demand: np.ndarray, supply: np.ndarray) -> np.ndarray:
    """Supply over weighted demand in reach, per site and group; NaN where none is in reach."""
    reached = np.asarray(pair_weights.T @ demand)  # (sites, groups)
    out = np.full(reached.shape, np.nan)
    np.divide(supply[:, None], reached, out=out, where=reached > 0)
    return out


def _demand_result(values: np.ndarray, groups: _Groups) -> np.ndarray | pd.DataFrame:
    if groups.columns is None:
        return values[:, 0]
    return pd.DataFrame(values, index=groups.index, columns=groups.columns)


# =========================================================================================
# nearness and coverage
# =========================================================================================
def _nearest_cost(costs: _Costs) -> np.ndarray:
    matrix = costs.matrix
    out = np.full(matrix.shape[0], np.inf)
    nonempty = np.diff(matrix.indptr) > 0
    if nonempty.any():
        out[nonempty] = np.minimum.reduceat(matrix.data, matrix.indptr[:-1][nonempty])
    return out


def nearest_cost(costs: CostsLike) -> np.ndarray:
    """The cost from each demand row to its nearest site; ``inf`` when none is in reach.

    Parameters
    ----------
    costs
        A :class:`~svcnet.costs.CostMatrix`, a scipy.sparse matrix (absent
        pairs are out of reach) or a dense array (``inf``/NaN out of reach);
        demand rows by sites.

    Returns
    -------
    numpy.ndarray
        One cost per demand row.

    Examples
    --------
    >>> costs = np.array([[2.0, 8.0], [6.0, np.inf], [np.inf, np.nan]])
    >>> nearest_cost(costs).tolist()
    [2.0, 6.0, inf]
    """
    return _nearest_cost(_as_costs(costs))


def nearest_site(costs: CostsLike) -> np.ndarray:
    """The nearest site of each demand row: its position, or its id for a CostMatrix.

    Ties go to the site that comes first, as in :func:`svcnet.costs.nearest`.

    Parameters
    ----------
    costs
        A :class:`~svcnet.costs.CostMatrix`, a scipy.sparse matrix or a dense
        array, as in :func:`nearest_cost`.

    Returns
    -------
    numpy.ndarray
        For a CostMatrix, the ``destination_ids`` of the nearest sites (object
        array, None where no site is in reach); otherwise the column positions
        (int64, -1 where no site is in reach).

    Examples
    --------
    >>> costs = np.array([[2.0, 8.0], [6.0, np.inf], [np.inf, np.inf]])
    >>> nearest_site(costs).tolist()
    [0, 0, -1]
    >>> from svcnet.costs import CostMatrix
    >>> nearest_site(CostMatrix.from_dense(costs, destination_ids=["a", "b"])).tolist()
    ['a', 'a', None]
    """
    prepared = _as_costs(costs)
    matrix = prepared.matrix
    n = matrix.shape[0]
    best = _nearest_cost(prepared)
    rows = np.repeat(np.arange(n), np.diff(matrix.indptr))
    hits = np.flatnonzero(matrix.data == best[rows])  # indices are sorted within each row
    hit_rows = rows[hits]
    first = hits[np.r_[True, hit_rows[1:] != hit_rows[:-1]]] if len(hits) else hits
    positions = np.full(n, -1, dtype=np.int64)
    positions[rows[first]] = matrix.indices[first]
    if prepared.site_ids is None:
        return positions
    ids = np.full(n, None, dtype=object)
    found = positions >= 0
    ids[found] = np.asarray(prepared.site_ids, dtype=object)[positions[found]]
    return ids


def _threshold(value: object, name: str, costs: _Costs) -> float:
    number = _number(value, name)
    if np.isnan(number) or number < 0:
        raise InputError(f"{name} must be a non-negative number; got {value!r}")
    _within_cutoff(number, name, costs)
    return number


def within(costs: CostsLike, threshold: float) -> np.ndarray:
    """Whether each demand row has a site within ``threshold`` (cost <= threshold).

    Parameters
    ----------
    costs
        A :class:`~svcnet.costs.CostMatrix`, a scipy.sparse matrix or a dense
        array, as in :func:`nearest_cost`.
    threshold
        The largest cost that counts, non-negative; not beyond the cutoff of a
        CostMatrix (pairs beyond it are not stored).

    Returns
    -------
    numpy.ndarray
        Booleans, one per demand row.

    Examples
    --------
    >>> costs = np.array([[2.0, 8.0], [6.0, np.inf], [np.inf, 4.0]])
    >>> within(costs, 5).tolist()
    [True, False, True]
    """
    prepared = _as_costs(costs)
    return _nearest_cost(prepared) <= _threshold(threshold, "threshold", prepared)


def coverage_curve(costs: CostsLike, population: Any, thresholds: Sequence[float]) -> pd.DataFrame:
    """How many people have a site within each threshold, and their share of all.

    Parameters
    ----------
    costs
        A :class:`~svcnet.costs.CostMatrix`, a scipy.sparse matrix or a dense
        array, as in :func:`nearest_cost`.
    population
        One number per demand row (array or Series), or a DataFrame with one
        column per population group (``pop``, ``pop_60plus`` ...).
    thresholds
        Costs, strictly increasing and non-negative; not beyond the cutoff of a
        CostMatrix.

    Returns
    -------
    pandas.DataFrame
        One row per threshold: ``threshold``, then ``{group}_covered`` (people
        with a site within it) and ``{group}_share`` (of the group's total; NaN
        when the total is 0) for each group. A Series names its group; an
        unnamed vector is ``population``.

    Examples
    --------
    >>> costs = np.array([[2.0, 8.0], [6.0, np.inf], [np.inf, 4.0]])
    >>> coverage_curve(costs, [100, 100, 200], [3, 5, 7])
       threshold  population_covered  population_share
    0        3.0               100.0              0.25
    1        5.0               300.0              0.75
    2        7.0               400.0              1.00
    """
    prepared = _as_costs(costs)
    groups = _groups(population, prepared.shape[0], "population")
    values = _to_float(thresholds, "thresholds")
    if values.ndim != 1 or len(values) == 0:
        raise InputError(f"thresholds must be a non-empty sequence of costs; got {thresholds!r}")
    for value in values:
        _threshold(float(value), "thresholds", prepared)
    if (np.diff(values) <= 0).any():
        bad = (np.flatnonzero(np.diff(values) <= 0) + 1).tolist()
        msg = f"thresholds must be strictly increasing; got {values.tolist()}"
        raise InputError(msg, rows=bad)
    best = _nearest_cost(prepared)
    covered = np.vstack([groups.values[best <= t].sum(axis=0) for t in values])
    total = groups.values.sum(axis=0)
    share = np.full(covered.shape, np.nan)
    np.divide(covered, total, out=share, where=total > 0)
    names = groups.columns or [groups.label or "population"]
    frame = {"threshold": values}
    for k, group in enumerate(names):
        frame[f"{group}_covered"] = covered[:, k]
        frame[f"{group}_share"] = share[:, k]
    return pd.DataFrame(frame)


# =========================================================================================
# floating catchments
# =========================================================================================
def supply_ratio(
    costs: CostsLike,
    demand: Any,
    supply: Any,
    *,
    max_cost: float,
    weights: Weights = None,
) -> np.ndarray | pd.DataFrame:
    r"""Supply per unit of demand in each site's catchment (the first step of 2SFCA).

    :math:`R_j = S_j / \sum_{i: c_{ij} \le d} w(c_{ij}) D_i`, with ``d`` the
    ``max_cost``. A site with no demand in reach (no pair within ``max_cost``,
    or zero weighted demand there) has no ratio: NaN. PySAL ``access`` leaves
    the first kind out of its result (NaN once aligned) and divides by zero for
    the second (``inf``).

    Parameters
    ----------
    costs
        A :class:`~svcnet.costs.CostMatrix`, a scipy.sparse matrix (absent
        pairs are out of reach) or a dense array (``inf``/NaN out of reach);
        demand rows by sites.
    demand
        One non-negative number per demand row (array or Series), or a
        DataFrame with one column per population group.
    supply
        One non-negative number per site (array or Series), or one number for
        every site.
    max_cost
        The catchment: pairs with a cost up to it count. Positive; not beyond
        the cutoff of a CostMatrix.
    weights
        None (every pair in the catchment counts fully), a vectorised decay
        function of cost, or a step table of ``(upper_cost, weight)`` pairs
        (see :func:`step_decay`).

    Returns
    -------
    numpy.ndarray or pandas.DataFrame
        One ratio per site; with a DataFrame of groups, a DataFrame of sites
        (indexed by the CostMatrix's destination ids, or the supply's index)
        by groups.

    Examples
    --------
    Site 0 reaches rows 0 and 1 (costs 2 and 6 <= 7): 20 / (100 + 100) = 0.1;
    site 1 reaches row 2 only (cost 4; 8 is too far): 10 / 200 = 0.05.

    >>> costs = np.array([[2.0, 8.0], [6.0, np.inf], [np.inf, 4.0]])
    >>> supply_ratio(costs, [100, 100, 200], [20, 10], max_cost=7).tolist()
    [0.1, 0.05]
    """
    prepared = _as_costs(costs)
    n, m = prepared.shape
    groups = _groups(demand, n, "demand")
    supply_values = _supply(supply, m)
    max_cost = _positive(max_cost, "max_cost")
    _within_cutoff(max_cost, "max_cost", prepared)
    pair_weights = _pair_weights(prepared, max_cost, weights, "weights")
    ratios = _ratios(pair_weights, groups.values, supply_values)
    if groups.columns is None:
        return ratios[:, 0]
    return pd.DataFrame(ratios, index=_site_index(prepared, supply), columns=groups.columns)


def _two_step(
    costs: CostsLike,
    demand: Any,
    supply: Any,
    max_cost: float | None,
    weights: Weights,
    name: str,
    client: Any = None,
) -> np.ndarray | pd.DataFrame:
    prepared = _as_costs(costs)
    n, m = prepared.shape
    groups = _groups(demand, n, "demand")
    supply_values = _supply(supply, m)
    if max_cost is not None:
        max_cost = _positive(max_cost, "max_cost")
        _within_cutoff(max_cost, "max_cost", prepared)
    pair_weights = _pair_weights(prepared, max_cost, weights, name)
    if client is not None:
        from svcnet.distributed import _access, _cluster

        with _cluster.cluster_for(client) as dask_client:
            ratios = _access.ratios_on_cluster(
                dask_client, pair_weights, groups.values, supply_values
            )
            access = _access.spread_on_cluster(dask_client, pair_weights, ratios)
        return _demand_result(access, groups)
    ratios = _ratios(pair_weights, groups.values, supply_values)
    access = np.asarray(pair_weights @ np.nan_to_num(ratios, nan=0.0))
    logger.debug("2SFCA over %d stored pairs, %d groups", pair_weights.nnz, ratios.shape[1])
    return _demand_result(access, groups)


def two_step_fca(
    costs: CostsLike,
    demand: Any,
    supply: Any,
    *,
    max_cost: float,
    weights: Weights = None,
    client: Any = None,
) -> np.ndarray | pd.DataFrame:
    r"""Two-step floating catchment area access (2SFCA, and E2SFCA with a step table).

    Step 1, each site's supply per unit of demand in its catchment:
    :math:`R_j = S_j / \sum_{i: c_{ij} \le d} w(c_{ij}) D_i`
    (:func:`supply_ratio`). Step 2, each demand row sums the ratios of the
    sites in its reach: :math:`A_i = \sum_{j: c_{ij} \le d} w(c_{ij}) R_j`.
    A site with no demand in reach shares nothing out; a demand row with no
    site in reach gets 0. With ``weights=None``, :math:`\sum_i D_i A_i` equals
    the total supply of the sites with demand in reach. Equal to PySAL
    ``access``'s ``two_stage_fca`` (raw values, ``normalize=False``).

    Parameters
    ----------
    costs
        A :class:`~svcnet.costs.CostMatrix`, a scipy.sparse matrix (absent
        pairs are out of reach) or a dense array (``inf``/NaN out of reach);
        demand rows by sites.
    demand
        One non-negative number per demand row (array or Series), or a
        DataFrame with one column per population group; each group is computed
        on its own, as if it alone used the supply.
    supply
        One non-negative number per site, or one number for every site.
    max_cost
        The catchment: pairs with a cost up to it count. Positive; not beyond
        the cutoff of a CostMatrix.
    weights
        None (plain 2SFCA), a vectorised decay function of cost (applied in
        both steps), or a step table of ``(upper_cost, weight)`` pairs or a dict
        (E2SFCA; see :func:`step_decay`).
    client
        Run both steps on a Dask cluster (a ``dask.distributed.Client``, a
        scheduler address or ``"local"``): step 1 by blocks of sites, step 2 by
        blocks of rows, each summing in the one-machine order, so the result is
        the same value for value. None (default): this process.

    Returns
    -------
    numpy.ndarray or pandas.DataFrame
        Supply per unit of demand reachable from each demand row; with a
        DataFrame of groups, a DataFrame with the same index and columns.

    Examples
    --------
    Within 7: site 0 serves rows 0 and 1, R = 20 / 200 = 0.1; site 1 serves
    row 2, R = 10 / 200 = 0.05. Then A = [0.1, 0.1, 0.05].

    >>> costs = np.array([[2.0, 8.0], [6.0, np.inf], [np.inf, 4.0]])
    >>> two_step_fca(costs, [100, 100, 200], [20, 10], max_cost=7).tolist()
    [0.1, 0.1, 0.05]

    By population group:

    >>> import pandas as pd
    >>> people = pd.DataFrame({"pop": [100, 100, 200], "pop_60plus": [10, 30, 20]})
    >>> two_step_fca(costs, people, [20, 10], max_cost=7)
        pop  pop_60plus
    0  0.10         0.5
    1  0.10         0.5
    2  0.05         0.5
    """
    return _two_step(
        costs, demand, supply, _positive(max_cost, "max_cost"), weights, "weights", client
    )


def enhanced_two_step_fca(
    costs: CostsLike,
    demand: Any,
    supply: Any,
    *,
    weights: StepTable,
    max_cost: float | None = None,
    client: Any = None,
) -> np.ndarray | pd.DataFrame:
    """Enhanced 2SFCA (Luo & Qi 2009): :func:`two_step_fca` with a step table of weights.

    Parameters
    ----------
    costs, demand, supply
        As in :func:`two_step_fca`.
    weights
        A step table: ``(upper_cost, weight)`` pairs with strictly increasing
        upper costs, or a dict, e.g. ``[(5, 1.0), (10, 0.68), (15, 0.22)]``.
    max_cost
        The catchment; default the last upper cost.
    client
        Run on a Dask cluster, as in :func:`two_step_fca`.

    Returns
    -------
    numpy.ndarray or pandas.DataFrame
        As :func:`two_step_fca`. Equal to PySAL ``access``'s
        ``enhanced_two_stage_fca`` with ``weights.step_fn`` of the same table.

    Examples
    --------
    Weights: cost 2 -> 1, 8 -> 0.5, 6 -> 0.5, 4 -> 1. R0 = 30 / (100 + 0.5 * 100)
    = 0.2; R1 = 10 / (0.5 * 100 + 200) = 0.04. A0 = 0.2 + 0.5 * 0.04 = 0.22,
    A1 = 0.5 * 0.2 = 0.1, A2 = 0.04.

    >>> costs = np.array([[2.0, 8.0], [6.0, np.inf], [np.inf, 4.0]])
    >>> e2 = enhanced_two_step_fca(costs, [100, 100, 200], [30, 10], weights=[(5, 1), (10, 0.5)])
    >>> np.round(e2, 12).tolist()
    [0.22, 0.1, 0.04]
    """
    if weights is None or callable(weights):
        msg = "weights must be a step table of (upper_cost, weight) pairs or a dict"
        raise InputError(msg)
    upper, _ = _step_table(weights, "weights")
    if max_cost is None:
        max_cost = float(upper[-1])
    return _two_step(costs, demand, supply, max_cost, weights, "weights", client)


def gravity(
    costs: CostsLike,
    demand: Any,
    supply: Any,
    *,
    decay: Decay | StepTable,
    max_cost: float | None = None,
    client: Any = None,
) -> np.ndarray | pd.DataFrame:
    r"""Gravity access: the supply in reach, weighted by a decay function of cost.

    With ``demand=None``, the potential model (Hansen 1959),
    :math:`A_i = \sum_{j: c_{ij} \le d} f(c_{ij}) S_j`, equal to PySAL
    ``access``'s ``weighted_catchment`` (its gravity model). With demand, the
    competition-adjusted model (Joseph & Bantock 1982; Wang 2012),
    :math:`A_i = \sum_j f(c_{ij}) S_j / \sum_k f(c_{kj}) D_k`: each site's
    supply is first divided by the demand pulling on it, which is
    :func:`two_step_fca` with ``weights=decay`` (a site with no demand pulling
    on it shares nothing out).

    Parameters
    ----------
    costs
        A :class:`~svcnet.costs.CostMatrix`, a scipy.sparse matrix (absent
        pairs are out of reach) or a dense array (``inf``/NaN out of reach);
        demand rows by sites.
    demand
        None, one non-negative number per demand row, or a DataFrame with one
        column per population group.
    supply
        One non-negative number per site, or one number for every site.
    decay
        A vectorised decay function of cost (:func:`power_decay`,
        :func:`exponential_decay`, :func:`gaussian_decay` ...) or a step table.
        It must give finite, non-negative weights on every pair in reach (a
        power decay at a zero cost needs ``min_cost``).
    max_cost
        Pairs with a cost up to it count; None: every stored pair (the
        catchment is then the costs' own cutoff).
    client
        With demand: run both steps on a Dask cluster, as in
        :func:`two_step_fca`. (The potential model, one product, runs here.)

    Returns
    -------
    numpy.ndarray or pandas.DataFrame
        One value per demand row; with a DataFrame of groups, a DataFrame with
        the same index and columns.

    Examples
    --------
    With f(c) = 1 / c: A0 = 20 / 2 + 10 / 8 = 11.25, A1 = 20 / 6, A2 = 10 / 4.

    >>> costs = np.array([[2.0, 8.0], [6.0, np.inf], [np.inf, 4.0]])
    >>> np.round(gravity(costs, None, [20, 10], decay=power_decay(1.0)), 4).tolist()
    [11.25, 3.3333, 2.5]
    """
    if decay is None:
        raise InputError("decay is required: a decay function of cost or a step table")
    if demand is not None:
        return _two_step(costs, demand, supply, max_cost, decay, "decay", client)
    prepared = _as_costs(costs)
    supply_values = _supply(supply, prepared.shape[1])
    if max_cost is not None:
        max_cost = _positive(max_cost, "max_cost")
        _within_cutoff(max_cost, "max_cost", prepared)
    pair_weights = _pair_weights(prepared, max_cost, decay, "decay")
    return np.asarray(pair_weights @ supply_values)


def mean_access(access: Any, demand: Any) -> float | pd.Series:
    r"""The population-weighted mean of an access measure: :math:`\sum_i D_i A_i / \sum_i D_i`.

    Dividing a measure by it gives PySAL ``access``'s ``normalize=True``
    values. For plain 2SFCA it is the supply reachable per person.

    Parameters
    ----------
    access
        One value per demand row, or a DataFrame of groups (from
        :func:`two_step_fca` ...).
    demand
        The weights: one per demand row, or a DataFrame with the same columns
        as ``access``.

    Returns
    -------
    float or pandas.Series
        One mean, or one per group; NaN where the total demand is 0.

    Examples
    --------
    >>> mean_access([0.1, 0.1, 0.05], [100, 100, 200])  # (10 + 10 + 10) / 400
    0.075
    """
    if isinstance(access, pd.DataFrame):
        if not isinstance(demand, pd.DataFrame):
            raise InputError("access is a DataFrame of groups, so demand must be one too")
        missing = [c for c in access.columns if c not in demand.columns]
        if missing:
            raise InputError(f"demand lacks the groups {missing} of access")
        weights = _groups(demand[list(access.columns)], len(access), "demand").values
        measure = access.to_numpy(dtype=float, na_value=np.nan)
        totals = weights.sum(axis=0)
        means = np.full(len(totals), np.nan)
        np.divide((weights * measure).sum(axis=0), totals, out=means, where=totals > 0)
        return pd.Series(means, index=access.columns)
    measure = _to_float(access, "access")
    if measure.ndim != 1:
        raise InputError(f"access must be one value per demand row; got shape {measure.shape}")
    weights = _groups(demand, len(measure), "demand").values[:, 0]
    total = weights.sum()
    return float(weights @ measure / total) if total > 0 else float("nan")
