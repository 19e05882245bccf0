"""Indicators per planning unit: population, access, coverage, gap to norm and equity.

Every function takes plain per-cell (or per-unit) arrays or pandas objects and
returns one tidy :class:`pandas.DataFrame` (or a number / dict for the scalar
measures). Unit tables are indexed by unit (index name ``"unit"``) and end
with a ``"total"`` row. The planning norms a table used are listed in
``table.attrs["norms"]``, a dict from column name to the norm's
:attr:`~svcnet.standards.Norm.citation`, so a report can print its sources
(an empty dict when no norm was used).

Inputs given as pandas objects with an index must share the same index (they
are matched by position, and a mismatch is an error rather than a silent
realignment). Populations must be finite and non-negative.

Examples
--------
>>> from svcnet.indicators import gini, center_gap
>>> gini([0, 0, 0, 1])
0.75
>>> table = center_gap({"A": 45_000, "B": 12_000}, {"A": 1, "B": 1})
>>> table["centers_gap"].to_dict()
{'A': 2, 'B': 0, 'total': 2}
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from svcnet.errors import CRSError, InputError
from svcnet.standards import Norm, resolve, shelter_norms

logger = logging.getLogger(__name__)

__all__ = [
    "gini",
    "lorenz_curve",
    "weighted_quantile",
    "worst_served",
    "unit_table",
    "facility_table",
    "center_gap",
    "bed_gap",
    "shelter_gap",
    "equity_table",
    "assign_units",
    "TOTAL",
]

TOTAL = "total"
"""Label of the last row of every unit table."""

_ROUNDING = 9  # decimals kept before ceil/floor, so 40 * 1500 / 1000 is 60, not 60.000...01


# -- validation ------------------------------------------------------------------------------------
def _labels_of(obj: object, mask: np.ndarray) -> list[object]:
    if isinstance(obj, pd.Series | pd.DataFrame):
        return obj.index[mask].tolist()
    return np.flatnonzero(mask).tolist()


def _vector(obj: object, name: str) -> np.ndarray:
    """A 1-D float array of ``obj``, or an InputError naming ``name``."""
    if isinstance(obj, pd.DataFrame):
        raise InputError(f"{name} must be one column of numbers, not a DataFrame")
    try:
        array = np.asarray(obj, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must hold numbers") from None
    if array.ndim != 1:
        raise InputError(f"{name} must be one-dimensional; got shape {array.shape}")
    return array


def _check_counts(array: np.ndarray, name: str, obj: object, column: str | None = None) -> None:
    for mask, what in (
        (np.isnan(array), "missing (NaN) values"),
        (np.isinf(array), "infinite values"),
        (array < 0, "negative values"),
    ):
        if mask.any():
            msg = f"{name} has {int(mask.sum())} {what}"
            raise InputError(msg, column=column, rows=_labels_of(obj, mask))


def _counts(obj: object, name: str) -> np.ndarray:
    array = _vector(obj, name)
    _check_counts(array, name, obj)
    return array


def _length(obj: object, name: str) -> int:
    try:
        return len(obj)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"{name} must be a sequence (one entry per row)") from None


def _check_lengths(named: Mapping[str, object]) -> int:
    """The common length of the named inputs; also checks that pandas indexes agree."""
    items = [(name, obj) for name, obj in named.items() if obj is not None]
    lengths = {name: _length(obj, name) for name, obj in items}
    first_name = items[0][0]
    indexed = [(n, o.index) for n, o in items if isinstance(o, pd.Series | pd.DataFrame)]
    for name, _ in items[1:]:
        if lengths[name] != lengths[first_name]:
            msg = f"{name} has {lengths[name]} rows but {first_name} has {lengths[first_name]}"
            raise InputError(msg)
    for name, index in indexed[1:]:
        if not index.equals(indexed[0][1]):
            msg = (
                f"{name} and {indexed[0][0]} have different indexes; pass them aligned "
                "(e.g. columns of the same frame) or as arrays"
            )
            raise InputError(msg)
    return lengths[first_name]


def _values_and_weights(
    values: object, weights: object, *, allow_inf: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    x = _vector(values, "values")
    if len(x) == 0:
        raise InputError("values is empty")
    bad = np.isnan(x) | (x < 0) | (np.isinf(x) & (not allow_inf))
    if bad.any():
        msg = f"values must be finite and non-negative; {int(bad.sum())} are not"
        raise InputError(msg, rows=_labels_of(values, bad))
    if weights is None:
        return x, np.ones_like(x)
    _check_lengths({"values": values, "weights": weights})
    w = _counts(weights, "weights")
    if w.sum() <= 0:
        raise InputError("weights sum to zero; there is nobody to measure")
    return x, w


def _as_population(population: object, name: str = "population") -> pd.DataFrame:
    if isinstance(population, pd.DataFrame):
        frame = population
    elif isinstance(population, pd.Series):
        frame = population.to_frame(population.name if population.name is not None else "pop")
    else:
        frame = pd.DataFrame({"pop": _vector(population, name)})
    for column in frame.columns:
        array = _vector(frame[column], f"{name} column {column!r}")
        _check_counts(array, name, frame, column=str(column))
    return frame.astype(float) if not _all_integer(frame) else frame


def _all_integer(frame: pd.DataFrame) -> bool:
    return all(pd.api.types.is_integer_dtype(dtype) for dtype in frame.dtypes)


def _unit_labels(units: object, population: pd.DataFrame) -> pd.Series:
    """Unit labels as a Series (positional index); cells without a unit must hold nobody."""
    labels = pd.Series(np.asarray(units, dtype=object))
    missing = labels.isna().to_numpy()
    people = population.to_numpy(dtype=float).sum(axis=1)
    stray = missing & (people > 0)
    if stray.any():
        msg = (
            f"{int(stray.sum())} cells holding {people[stray].sum():,.0f} people have no unit; "
            "assign them (see assign_units) before tabulating"
        )
        raise InputError(msg, rows=_labels_of(units, stray))
    if (labels == TOTAL).any():
        raise InputError(f"a unit is called {TOTAL!r}, which is reserved for the total row")
    return labels


# -- equity measures -------------------------------------------------------------------------------
def _lorenz_points(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = w > 0
    levels, inverse = np.unique(x[keep], return_inverse=True)
    people = np.bincount(inverse, weights=w[keep])
    amount = levels * people
    p = np.concatenate([[0.0], np.cumsum(people) / people.sum()])
    total = amount.sum()
    share = np.concatenate([[0.0], np.cumsum(amount) / total]) if total > 0 else p.copy()
    p[-1] = share[-1] = 1.0
    return p, share


def gini(values: Sequence[float] | np.ndarray | pd.Series, weights: object = None) -> float:
    """Weighted Gini coefficient of a non-negative quantity.

    ``G = 1 - sum_k (P_k - P_{k-1}) (L_k + L_{k-1})``, where ``(P_k, L_k)`` are
    the points of the Lorenz curve (:func:`lorenz_curve`); this equals the
    mean absolute difference between two people drawn at random, divided by
    twice the mean. 0 is perfect equality; ``(n - 1) / n`` is one of ``n``
    equally weighted people holding everything.

    Parameters
    ----------
    values
        The quantity per observation (e.g. access score per cell), finite and >= 0.
    weights
        People per observation (default: 1 each), finite and >= 0, not all zero.

    Returns
    -------
    float
        In ``[0, 1)``. If every value is 0 (nobody has anything) the result is 0.

    Raises
    ------
    InputError
        NaN, infinite or negative values or weights (naming their positions), a
        length mismatch, or weights summing to zero.

    Examples
    --------
    >>> gini([1, 3], weights=[3, 1])  # |1-3| * 3 * 1 * 2 / (2 * 4**2 * 1.5)
    0.25
    """
    x, w = _values_and_weights(values, weights)
    p, share = _lorenz_points(x, w)
    return max(0.0, float(1.0 - np.sum(np.diff(p) * (share[1:] + share[:-1]))))


def lorenz_curve(
    values: Sequence[float] | np.ndarray | pd.Series, weights: object = None
) -> pd.DataFrame:
    """The Lorenz curve: population share against the share of the quantity it holds.

    Observations are sorted by value, ascending; observations with equal values
    are merged into one step, and zero-weight ones are left out.

    Parameters
    ----------
    values
        The quantity per observation, finite and >= 0.
    weights
        People per observation (default: 1 each).

    Returns
    -------
    pandas.DataFrame
        Columns ``population_share`` and ``value_share``, from ``(0, 0)`` to
        ``(1, 1)``. If every value is 0 the curve is the diagonal.
        ``gini(values, weights) == 1 - 2 * area under the curve``.

    Examples
    --------
    >>> lorenz_curve([0, 0, 0, 1]).values.tolist()
    [[0.0, 0.0], [0.75, 0.0], [1.0, 1.0]]
    """
    x, w = _values_and_weights(values, weights)
    p, share = _lorenz_points(x, w)
    return pd.DataFrame({"population_share": p, "value_share": share})


def weighted_quantile(
    values: Sequence[float] | np.ndarray | pd.Series, weights: object = None, q: float = 0.5
) -> float:
    """Population-weighted quantile: the smallest ``v`` with weight share of ``values <= v`` >= q.

    No interpolation: the result is always one of the values. Observations
    with zero weight are ignored; ``inf`` values are allowed (e.g. no access).

    Parameters
    ----------
    values
        The values, non-negative, not NaN.
    weights
        People per value (default: 1 each).
    q
        The quantile, in ``[0, 1]``.

    Returns
    -------
    float

    Examples
    --------
    >>> # weight shares of values <= 5, 10, 20: 0.5, 0.8, 1.0
    >>> weighted_quantile([5, 10, 20], [50, 30, 20], q=0.9)
    20.0
    >>> weighted_quantile([5, 10, 20], [50, 30, 20], q=0.8)
    10.0
    """
    if not 0 <= q <= 1:
        raise InputError(f"q must be in [0, 1]; got {q!r}")
    x, w = _values_and_weights(values, weights, allow_inf=True)
    return _quantile(x, w, q)


def _quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    keep = w > 0
    x, w = x[keep], w[keep]
    if len(x) == 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    cumulative = np.cumsum(w[order])
    target = q * cumulative[-1] * (1 - 1e-12)
    index = min(int(np.searchsorted(cumulative, target, side="left")), len(x) - 1)
    return float(x[order][index])


def worst_served(
    values: Sequence[float] | np.ndarray | pd.Series,
    weights: object = None,
    *,
    fraction: float = 0.1,
    higher_is_better: bool = True,
) -> dict[str, float]:
    """The worst-served ``fraction`` of the people: how many, what they get, what share.

    People are ranked from worst to best served (lowest value first when
    ``higher_is_better``, highest first otherwise) and taken until their
    weight reaches ``fraction`` of the total; the observation straddling the
    boundary contributes only the part of its weight needed (pro rata).

    Parameters
    ----------
    values
        The quantity per observation, finite and >= 0.
    weights
        People per observation (default: 1 each).
    fraction
        Share of the population to look at, in ``(0, 1]``.
    higher_is_better
        Whether a higher value means better service (access score: True;
        travel time: False).

    Returns
    -------
    dict
        ``fraction``; ``people`` (``fraction`` × total weight); ``mean_value``
        (their weighted mean value); ``share_of_total`` (their part of the sum of
        weight × value over everyone, NaN when that sum is 0); ``boundary_value``
        (the value of the last, straddling observation taken).

    Examples
    --------
    >>> # 15 of 100 people: all 10 with value 1 and 5 of the 10 with value 2;
    >>> # mean (10*1 + 5*2) / 15; share 20 / (10 + 20 + 30 + 280)
    >>> out = worst_served([1, 2, 3, 4], [10, 10, 10, 70], fraction=0.15)
    >>> round(out["mean_value"], 4), round(out["share_of_total"], 4), out["boundary_value"]
    (1.3333, 0.0588, 2.0)
    """
    if not 0 < fraction <= 1:
        raise InputError(f"fraction must be in (0, 1]; got {fraction!r}")
    x, w = _values_and_weights(values, weights)
    order = np.argsort(x if higher_is_better else -x, kind="stable")
    xs, ws = x[order], w[order]
    target = fraction * w.sum()
    before = np.cumsum(ws) - ws
    taken = np.clip(target - before, 0.0, ws)
    people = float(taken.sum())
    received = float(np.sum(taken * xs))
    total = float(np.sum(w * x))
    last = np.flatnonzero(taken > 0)
    return {
        "fraction": float(fraction),
        "people": people,
        "mean_value": received / people,
        "share_of_total": received / total if total > 0 else float("nan"),
        "boundary_value": float(xs[last[-1]]),
    }


# -- unit tables -----------------------------------------------------------------------------------
def _thresholds(threshold: object) -> list[float]:
    if threshold is None:
        return []
    raw = threshold if isinstance(threshold, Sequence | np.ndarray) else [threshold]
    steps = _vector(list(raw), "threshold")
    if not np.isfinite(steps).all() or (steps < 0).any():
        raise InputError(f"threshold must be finite and non-negative; got {threshold!r}")
    if (np.diff(steps) <= 0).any():
        raise InputError(f"threshold must be strictly increasing; got {threshold!r}")
    return steps.tolist()


def _access_values(value: object, higher_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    """The values and the mask of 'no access' (NaN, or +inf / 0 by direction)."""
    v = _vector(value, "value")
    if higher_is_better:
        bad, what, none = (v < 0) | np.isinf(v), "negative or infinite", np.isnan(v) | (v == 0)
    else:
        bad, what, none = v < 0, "negative", np.isnan(v) | np.isinf(v)
    if bad.any():
        raise InputError(f"value has {int(bad.sum())} {what} values", rows=_labels_of(value, bad))
    return v, none


def _value_stats(
    v: np.ndarray,
    w: np.ndarray,
    none: np.ndarray,
    *,
    steps: list[float],
    q: float,
    higher_is_better: bool,
) -> dict[str, float]:
    people = w.sum()
    reached = ~none
    w_reached = w[reached].sum()
    stats = {
        "value_mean": np.sum(w[reached] * v[reached]) / w_reached if w_reached > 0 else np.nan,
        _quantile_column(q): _quantile(v[reached], w[reached], q),
    }
    for step in steps:
        ok = reached & ((v >= step) if higher_is_better else (v <= step))
        stats[f"coverage_{step:g}"] = w[ok].sum() / people if people > 0 else np.nan
    stats["share_no_access"] = w[none].sum() / people if people > 0 else np.nan
    return stats


def _quantile_column(q: float) -> str:
    return f"value_p{100 * q:g}"


def _group_positions(labels: pd.Series) -> dict[object, np.ndarray]:
    present = labels.notna().to_numpy()
    codes, uniques = pd.factorize(labels[present], sort=True)
    positions = np.flatnonzero(present)
    return {unit: positions[codes == k] for k, unit in enumerate(uniques)}


def unit_table(
    units: Sequence[object] | np.ndarray | pd.Series,
    population: pd.DataFrame | pd.Series | np.ndarray,
    *,
    value: Sequence[float] | np.ndarray | pd.Series | None = None,
    higher_is_better: bool = False,
    threshold: float | Sequence[float] | None = None,
    weights: str | None = None,
    quantile: float = 0.9,
) -> pd.DataFrame:
    """Population, access and coverage per unit, with a final ``"total"`` row.

    Parameters
    ----------
    units
        The unit of each cell (e.g. the grid's ``district`` column, a plan's site
        id). Cells without a unit (NaN) are allowed only if they hold nobody.
    population
        People per cell: a Series/array (one group) or a DataFrame with one
        column per group (e.g. ``pop`` and ``pop_60plus``).
    value
        Access per cell, e.g. minutes to the nearest center. "No access" is NaN,
        or ``inf`` (when lower is better), or 0 (when higher is better).
    higher_is_better
        False (default) for times and distances; True for access scores.
    threshold
        One or more strictly increasing thresholds (e.g. ``[5, 10, 15]`` minutes).
    weights
        The population column weighting the value statistics (default: the first).
    quantile
        The quantile reported (default 0.9, the 90th percentile).

    Returns
    -------
    pandas.DataFrame
        Indexed by unit (sorted) then ``"total"``, with one column per population
        group (sums) and, with ``value``:

        - ``value_mean``: weighted mean over the people with access;
        - ``value_p90`` (``value_p{100 q}``): the weighted quantile over the people
          with access, the smallest ``v`` such that the weight share with value
          <= ``v`` is >= ``q`` (see :func:`weighted_quantile`);
        - ``coverage_{t}`` for each threshold ``t``: the share of all people with
          value <= ``t`` (>= ``t`` when higher is better);
        - ``share_no_access``: the share of people with no access.

        The total row is computed over all cells, not from the unit rows.
        ``attrs["norms"]`` is empty (no norm is used).

    Examples
    --------
    >>> import pandas as pd
    >>> pop = pd.DataFrame({"pop": [100, 300, 50, 50], "pop_60plus": [10, 20, 5, 5]})
    >>> t = unit_table(["a", "a", "b", "b"], pop, value=[6, 12, 6, float("inf")], threshold=10)
    >>> t[["pop", "value_mean", "coverage_10", "share_no_access"]].values.tolist()
    [[400.0, 10.5, 0.25, 0.0], [100.0, 6.0, 0.5, 0.5], [500.0, 10.0, 0.3, 0.1]]
    """
    frame = _as_population(population)
    named = {"units": units, "population": population, "value": value}
    _check_lengths(named)
    labels = _unit_labels(units, frame)
    groups = _group_positions(labels)
    table = pd.DataFrame(
        {col: [frame[col].to_numpy()[pos].sum() for pos in groups.values()] for col in frame},
        index=pd.Index(list(groups), name="unit"),
    )
    table.loc[TOTAL] = frame.sum().to_numpy()
    if value is not None:
        table = table.join(
            _value_table(frame, value, groups, weights, threshold, quantile, higher_is_better)
        )
    elif threshold is not None:
        raise InputError("threshold needs a value to compare with; pass value=")
    table.index.name = "unit"
    table.attrs["norms"] = {}
    return table


def _value_table(
    frame: pd.DataFrame,
    value: object,
    groups: dict[object, np.ndarray],
    weights: str | None,
    threshold: object,
    q: float,
    higher_is_better: bool,
) -> pd.DataFrame:
    if not 0 < q <= 1:
        raise InputError(f"quantile must be in (0, 1]; got {q!r}")
    column = frame.columns[0] if weights is None else weights
    if column not in frame.columns:
        msg = f"weights must name a population column: {', '.join(map(str, frame.columns))}"
        raise InputError(msg, column=str(column))
    w = frame[column].to_numpy(dtype=float)
    v, none = _access_values(value, higher_is_better)
    options = {"steps": _thresholds(threshold), "q": q, "higher_is_better": higher_is_better}
    rows = {
        unit: _value_stats(v[pos], w[pos], none[pos], **options) for unit, pos in groups.items()
    }
    rows[TOTAL] = _value_stats(v, w, none, **options)
    return pd.DataFrame.from_dict(rows, orient="index")


def _ratio(numerator: Any, denominator: Any, scale: float = 1.0) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(np.asarray(numerator, dtype=float), denominator) * scale


def facility_table(
    units: Sequence[object] | np.ndarray | pd.Series,
    population: Sequence[float] | np.ndarray | pd.Series,
    facilities_unit: Sequence[object] | np.ndarray | pd.Series,
    *,
    capacity: Sequence[float] | np.ndarray | pd.Series | None = None,
    elderly: Sequence[float] | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Facilities per unit: count, capacity, people per facility, capacity per 1,000.

    Parameters
    ----------
    units
        The unit of each cell.
    population
        People per cell (one group).
    facilities_unit
        The unit of each facility; a facility without a unit is an error.
    capacity
        Capacity of each facility (e.g. beds); must be known for every facility.
    elderly
        A second group per cell (e.g. ``pop_60plus``): capacity is then also
        given per 1,000 of it.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit (those with cells or facilities, sorted) then ``"total"``:
        ``population``, ``elderly`` (if given), ``facilities``, ``capacity``
        (if given), ``people_per_facility``, ``capacity_per_1000`` (per 1,000
        people) and ``capacity_per_1000_elderly``. A ratio over zero is ``inf``
        (people but no facility) or NaN (nobody). ``attrs["norms"]`` is empty;
        compare with a norm through :func:`bed_gap` or :func:`center_gap`.

    Examples
    --------
    >>> t = facility_table(["a", "a", "b"], [600, 400, 500], ["a", "a", "b"],
    ...     capacity=[30, 20, 10], elderly=[100, 100, 250])
    >>> columns = ["facilities", "people_per_facility", "capacity_per_1000_elderly"]
    >>> t[columns].round(1).values.tolist()
    [[2.0, 500.0, 250.0], [1.0, 500.0, 40.0], [3.0, 500.0, 133.3]]
    """
    people = _as_population(pd.Series(_counts(population, "population"), name="population"))
    if elderly is not None:
        people["elderly"] = _counts(elderly, "elderly")
    _check_lengths({"units": units, "population": population, "elderly": elderly})
    labels = _unit_labels(units, people)
    sites = pd.Series(np.asarray(facilities_unit, dtype=object))
    if sites.isna().any():
        mask = sites.isna().to_numpy()
        msg = f"{int(mask.sum())} facilities have no unit; every facility must lie in a unit"
        raise InputError(msg, rows=_labels_of(facilities_unit, mask))
    per_site = pd.DataFrame({"facilities": np.ones(len(sites))})
    if capacity is not None:
        _check_lengths({"facilities_unit": facilities_unit, "capacity": capacity})
        per_site["capacity"] = _counts(capacity, "capacity")
    table = people.groupby(labels.to_numpy(), sort=True).sum().astype(float)
    table = table.join(per_site.groupby(sites.to_numpy(), sort=True).sum(), how="outer")
    table = table.fillna(0.0)
    table.loc[TOTAL] = table.sum()
    table["people_per_facility"] = _ratio(table["population"], table["facilities"])
    if capacity is not None:
        table["capacity_per_1000"] = _ratio(table["capacity"], table["population"], 1000)
        if elderly is not None:
            table["capacity_per_1000_elderly"] = _ratio(table["capacity"], table["elderly"], 1000)
    table.index.name = "unit"
    table.attrs["norms"] = {}
    return table


# -- gap to norm -----------------------------------------------------------------------------------
def _per_unit(obj: object, name: str) -> pd.Series:
    if isinstance(obj, Mapping):
        obj = pd.Series(dict(obj), dtype=object)
    series = obj if isinstance(obj, pd.Series) else pd.Series(_vector(obj, name))
    values = _vector(series, name)
    _check_counts(values, name, series)
    if (series.index == TOTAL).any():
        msg = f"{name} has a {TOTAL!r} row; drop it (table.drop({TOTAL!r})) to count units once"
        raise InputError(msg)
    if series.index.has_duplicates:
        dupes = series.index[series.index.duplicated()].unique().tolist()
        raise InputError(f"{name} lists some units more than once", rows=dupes)
    return pd.Series(values, index=series.index)


def _aligned(base: pd.Series, other: object, base_name: str, name: str) -> pd.Series:
    """``other`` per unit of ``base``; units missing from ``other`` count 0."""
    if not isinstance(other, pd.Series | Mapping):
        _check_lengths({base_name: base.to_numpy(), name: other})
        return pd.Series(_counts(other, name), index=base.index)
    series = _per_unit(other, name)
    extra = series.index.difference(base.index)
    if len(extra):
        msg = f"{name} has units that {base_name} does not list"
        raise InputError(msg, rows=extra.tolist())
    return series.reindex(base.index, fill_value=0.0)


def _ceil(x: Any) -> np.ndarray:
    return np.ceil(np.round(np.asarray(x, dtype=float), _ROUNDING)).astype(np.int64)


def _floor(x: Any) -> np.ndarray:
    return np.floor(np.round(np.asarray(x, dtype=float), _ROUNDING)).astype(np.int64)


def _gap_table(columns: dict[str, Any], ratios: dict[str, Callable[[pd.Series], Any]]):
    table = pd.DataFrame(columns)
    table.loc[TOTAL] = table.sum()
    for column, rule in ratios.items():
        table[column] = rule(table)
    table.index.name = "unit"
    return table


def center_gap(
    population_by_unit: Mapping[object, float] | pd.Series | Sequence[float],
    existing_by_unit: Mapping[object, float] | pd.Series | Sequence[float],
    *,
    people_per_center: float | tuple[float, float] | Norm | None = None,
) -> pd.DataFrame:
    """How many community service centers each unit needs, against people per center.

    With ``low``-``high`` people per center (default 15,000-20,000,
    :data:`~svcnet.standards.NORMS` ``"people_per_center"``):
    ``centers_min = ceil(pop / high)`` (fewest centers keeping each under
    ``high`` people), ``centers_max = floor(pop / low)`` (most centers keeping
    each above ``low``) and ``centers_gap = max(centers_min - existing, 0)``.
    When no whole number of centers fits the band (e.g. 10,000 people),
    ``centers_max < centers_min``: one center, serving fewer than ``low``.

    Parameters
    ----------
    population_by_unit
        People per unit (a Series or dict by unit, or an array).
    existing_by_unit
        Existing centers per unit; units left out have none.
    people_per_center
        Override of the norm: a number, ``(low, high)`` or a Norm.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit then ``"total"`` (sums of the unit rows): ``population``,
        ``existing``, ``centers_min``, ``centers_max``, ``centers_gap`` and
        ``people_per_existing``. ``attrs["norms"]`` cites the norm for the three
        ``centers_*`` columns.

    Examples
    --------
    >>> # A: ceil(45000/20000) = 3 centers, floor(45000/15000) = 3; has 1, needs 2
    >>> t = center_gap({"A": 45_000, "B": 12_000}, {"A": 1})
    >>> t[["centers_min", "centers_max", "centers_gap"]].values.tolist()
    [[3, 3, 2], [1, 0, 1], [4, 3, 3]]
    """
    norm = resolve("people_per_center", people_per_center)
    pop = _per_unit(population_by_unit, "population_by_unit")
    existing = _aligned(pop, existing_by_unit, "population_by_unit", "existing_by_unit")
    centers_min = _ceil(pop / norm.high)
    table = _gap_table(
        {
            "population": pop,
            "existing": existing,
            "centers_min": centers_min,
            "centers_max": _floor(pop / norm.low),
            "centers_gap": np.maximum(_ceil(centers_min - existing), 0),
        },
        {"people_per_existing": lambda t: _ratio(t["population"], t["existing"])},
    )
    table.attrs["norms"] = dict.fromkeys(
        ("centers_min", "centers_max", "centers_gap"), norm.citation
    )
    return table


def bed_gap(
    elderly_by_unit: Mapping[object, float] | pd.Series | Sequence[float],
    beds_by_unit: Mapping[object, float] | pd.Series | Sequence[float],
    *,
    beds_per_1000: float | tuple[float, float] | Norm | None = None,
) -> pd.DataFrame:
    """Eldercare beds each unit lacks against beds per 1,000 elderly.

    ``beds_required = ceil(norm × elderly / 1000)`` and
    ``beds_gap = max(ceil(norm × elderly / 1000 - beds), 0)``, with the norm's
    low end (default 40, :data:`~svcnet.standards.NORMS`
    ``"eldercare_beds_per_1000_elderly"``, GB 50437 §3.2.1). For a range
    override, ``beds_required_high`` and ``beds_gap_high`` use its high end.

    Parameters
    ----------
    elderly_by_unit
        Elderly people per unit (the group the norm counts: e.g. residents aged
        60+ for GB 50437, registered elderly for the Shenzhen plan).
    beds_by_unit
        Existing beds per unit; units left out have none.
    beds_per_1000
        Override of the norm: a number, ``(low, high)`` or a Norm.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit then ``"total"`` (sums): ``elderly``, ``beds``,
        ``beds_per_1000_now``, ``beds_required``, ``beds_gap`` (and the ``_high``
        pair). ``attrs["norms"]`` cites the norm for the required and gap columns.

    Examples
    --------
    >>> # A: 40 * 1500 / 1000 = 60 beds, has 50, lacks 10; B: 40 * 800 / 1000 = 32 <= 40
    >>> t = bed_gap({"A": 1500, "B": 800}, {"A": 50, "B": 40})
    >>> t[["beds_per_1000_now", "beds_required", "beds_gap"]].values.tolist()
    [[33.333333333333336, 60.0, 10.0], [50.0, 32.0, 0.0], [39.130434782608695, 92.0, 10.0]]
    """
    norm = resolve("eldercare_beds_per_1000_elderly", beds_per_1000)
    elderly = _per_unit(elderly_by_unit, "elderly_by_unit")
    beds = _aligned(elderly, beds_by_unit, "elderly_by_unit", "beds_by_unit")
    columns: dict[str, Any] = {"elderly": elderly, "beds": beds}
    for suffix, rate in _norm_ends(norm):
        need = rate * elderly / 1000
        columns[f"beds_required{suffix}"] = _ceil(need)
        columns[f"beds_gap{suffix}"] = np.maximum(_ceil(need - beds), 0)
    table = _gap_table(
        columns, {"beds_per_1000_now": lambda t: _ratio(t["beds"], t["elderly"], 1000)}
    )
    table = table[["elderly", "beds", "beds_per_1000_now", *list(columns)[2:]]]
    table.attrs["norms"] = dict.fromkeys(list(columns)[2:], norm.citation)
    return table


def _norm_ends(norm: Norm) -> list[tuple[str, float]]:
    return [("", norm.low), ("_high", norm.high)] if norm.is_range else [("", norm.low)]


def shelter_gap(
    population_by_unit: Mapping[object, float] | pd.Series | Sequence[float],
    capacity_persons_by_unit: Mapping[object, float] | pd.Series | Sequence[float],
    *,
    kind: str = "fixed",
    share: float | tuple[float, float] | Norm | None = None,
) -> pd.DataFrame:
    """Shelter places each unit lacks against the share of residents to shelter.

    ``places_required = ceil(share × pop)`` and
    ``places_gap = max(ceil(share × pop - capacity), 0)`` with the low end of
    the share; for a range (the default for fixed shelters, 0.2-0.3 of
    residents, GD-SHELTER) the ``_high`` pair uses its high end (0.3, the
    figure for central districts). Emergency shelters default to a share of 1
    (an svcnet assumption: no published share was found).

    Parameters
    ----------
    population_by_unit
        Residents per unit.
    capacity_persons_by_unit
        Existing shelter places (people) per unit, e.g. usable area divided by
        the norm's m² per person; units left out have none.
    kind
        ``"fixed"`` or ``"emergency"``: which capacity-share norm is the default.
    share
        Override of the share: a number, ``(low, high)`` or a Norm.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit then ``"total"`` (sums): ``population``, ``capacity``,
        ``share_now``, ``places_required``, ``places_gap`` (and the ``_high``
        pair). ``attrs["norms"]`` cites the share norm for those columns.

    Examples
    --------
    >>> # 0.2 * 10000 = 2000 places; has 1500; 0.3 * 10000 = 3000
    >>> t = shelter_gap({"A": 10_000}, {"A": 1_500})
    >>> t.loc["A", ["places_gap", "places_gap_high"]].tolist()
    [500, 1500]
    """
    default = shelter_norms(kind)["capacity_share"]
    norm = resolve(default.name, share)
    pop = _per_unit(population_by_unit, "population_by_unit")
    capacity = _aligned(
        pop, capacity_persons_by_unit, "population_by_unit", "capacity_persons_by_unit"
    )
    columns: dict[str, Any] = {"population": pop, "capacity": capacity}
    for suffix, rate in _norm_ends(norm):
        columns[f"places_required{suffix}"] = _ceil(rate * pop)
        columns[f"places_gap{suffix}"] = np.maximum(_ceil(rate * pop - capacity), 0)
    table = _gap_table(columns, {"share_now": lambda t: _ratio(t["capacity"], t["population"])})
    table = table[["population", "capacity", "share_now", *list(columns)[2:]]]
    table.attrs["norms"] = dict.fromkeys(list(columns)[2:], norm.citation)
    return table


# -- equity ----------------------------------------------------------------------------------------
def equity_table(
    values: Sequence[float] | np.ndarray | pd.Series,
    population: Sequence[float] | np.ndarray | pd.Series,
    units: Sequence[object] | np.ndarray | pd.Series | None = None,
    *,
    higher_is_better: bool = True,
    fraction: float = 0.1,
    no_access_value: float | None = None,
) -> pd.DataFrame:
    """Equity of access in one row: Gini, the worst-served fraction, best vs worst unit.

    Parameters
    ----------
    values
        Access per cell, finite and >= 0 (access score, or minutes with
        ``higher_is_better=False``).
    population
        People per cell, the weights.
    units
        The unit of each cell, for the unit comparison (optional).
    higher_is_better
        Whether a higher value is better service.
    fraction
        The worst-served share of people to describe (default a tenth).
    no_access_value
        The value to put in place of NaN and ``inf`` (e.g. a travel-time cutoff);
        without it, such values are an error.

    Returns
    -------
    pandas.DataFrame
        One row: ``people``, ``mean_value`` (weighted), ``gini``, ``worst_fraction``,
        ``worst_people``, ``worst_mean_value``, ``worst_share_of_total`` and
        ``worst_boundary_value`` (see :func:`worst_served`); with ``units``
        also ``best_unit``, ``best_unit_mean``, ``worst_unit``,
        ``worst_unit_mean`` (population-weighted unit means, units without
        people left out) and ``unit_ratio``, the best unit's mean over the
        worst's (the worst's over the best's when lower is better), so >= 1.
        ``attrs["norms"]`` is empty.

    Examples
    --------
    >>> t = equity_table([1, 1, 3, 3], [10, 10, 10, 10], ["a", "a", "b", "b"])
    >>> t[["gini", "worst_mean_value", "best_unit", "unit_ratio"]].values.tolist()
    [[0.25, 1.0, 'b', 3.0]]
    """
    v = _vector(values, "values")
    if no_access_value is not None:
        v = np.where(np.isfinite(v), v, float(no_access_value))
    elif not np.isfinite(v).all():
        mask = ~np.isfinite(v)
        msg = (
            f"values has {int(mask.sum())} NaN or infinite values (no access); "
            "pass no_access_value= (e.g. the travel-time cutoff) to count them"
        )
        raise InputError(msg, rows=_labels_of(values, mask))
    _check_lengths({"values": values, "population": population, "units": units})
    w = _counts(population, "population")
    worst = worst_served(v, w, fraction=fraction, higher_is_better=higher_is_better)
    row: dict[str, Any] = {
        "people": w.sum(),
        "mean_value": float(np.sum(v * w) / w.sum()),
        "gini": gini(v, w),
    }
    row.update({f"worst_{key}": item for key, item in worst.items()})
    if units is not None:
        row.update(_unit_extremes(v, w, units, higher_is_better))
    table = pd.DataFrame([row])
    table.attrs["norms"] = {}
    return table


def _unit_extremes(
    v: np.ndarray, w: np.ndarray, units: object, higher_is_better: bool
) -> dict[str, Any]:
    labels = _unit_labels(units, pd.DataFrame({"w": w}))
    means = {
        unit: np.sum(v[pos] * w[pos]) / w[pos].sum()
        for unit, pos in _group_positions(labels).items()
        if w[pos].sum() > 0
    }
    ranked = pd.Series(means).sort_values(ascending=not higher_is_better, kind="stable")
    best, worst = ranked.index[0], ranked.index[-1]
    top, bottom = (ranked.iloc[0], ranked.iloc[-1])
    ratio = _ratio(top, bottom) if higher_is_better else _ratio(bottom, top)
    return {
        "best_unit": best,
        "best_unit_mean": float(top),
        "worst_unit": worst,
        "worst_unit_mean": float(bottom),
        "unit_ratio": float(ratio),
    }


# -- cells to units --------------------------------------------------------------------------------
def assign_units(
    cells: gpd.GeoDataFrame,
    boundaries: gpd.GeoDataFrame,
    unit_column: str,
    *,
    population: str | None = None,
) -> pd.Series:
    """The boundary unit each cell overlaps most.

    Cells lying wholly inside a unit take it; the others are intersected with
    the units they touch and take the one sharing the largest area (points take
    the first unit they fall in). Work is done in the cells' CRS; the
    boundaries are reprojected to it. Several boundary rows with the same label
    count as one unit.

    Parameters
    ----------
    cells
        The grid (polygons, or points), with a CRS.
    boundaries
        The units, with a CRS and the label column ``unit_column``.
    unit_column
        The column of ``boundaries`` holding the unit labels.
    population
        A column of ``cells`` with people per cell. Cells outside every unit
        are then an error only if they hold people (the others get NaN); with
        None, any cell outside every unit is an error.

    Returns
    -------
    pandas.Series
        The unit label per cell, aligned with ``cells`` and named ``unit_column``.

    Raises
    ------
    InputError
        If cells outside every unit hold people (the message gives how many
        cells and people), or a column is missing.
    CRSError
        If either layer has no CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), box(0.8, 0, 1.8, 1)], crs=32650)
    >>> units = gpd.GeoDataFrame({"d": ["W", "E"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
    ...     crs=32650)
    >>> assign_units(cells, units, "d").tolist()
    ['W', 'E']
    """
    _check_layers(cells, boundaries, unit_column, population)
    bounds = boundaries[[unit_column, boundaries.geometry.name]].to_crs(cells.crs)
    label_codes, label_names = pd.factorize(bounds[unit_column], sort=False)
    geoms = np.asarray(cells.geometry.to_numpy(), dtype=object)
    unit_geoms = np.asarray(bounds.geometry.to_numpy(), dtype=object)
    assigned = _best_overlap(geoms, unit_geoms, label_codes)
    outside = assigned < 0
    if outside.any():
        _check_outside(cells, outside, unit_column, population)
    labels = np.full(len(cells), np.nan, dtype=object)
    labels[~outside] = np.asarray(label_names, dtype=object)[assigned[~outside]]
    return pd.Series(labels, index=cells.index, name=unit_column)


def _check_layers(
    cells: object, boundaries: object, unit_column: str, population: str | None
) -> None:
    for name, layer in (("cells", cells), ("boundaries", boundaries)):
        if not isinstance(layer, gpd.GeoDataFrame):
            raise InputError(f"{name} must be a GeoDataFrame; got {type(layer).__name__}")
        if layer.crs is None:
            raise CRSError("the layer has no CRS; set one with .set_crs(...)", layer=name)
    if unit_column not in boundaries.columns:
        msg = f"missing column; boundaries has {', '.join(map(str, boundaries.columns))}"
        raise InputError(msg, layer="boundaries", column=unit_column)
    missing = boundaries[unit_column].isna().to_numpy()
    if missing.any():
        msg = "boundaries without a unit label"
        raise InputError(
            msg, layer="boundaries", column=unit_column, rows=_labels_of(boundaries, missing)
        )
    if population is not None:
        if population not in cells.columns:
            msg = f"missing column; cells has {', '.join(map(str, cells.columns))}"
            raise InputError(msg, layer="cells", column=population)
        _check_counts(_vector(cells[population], "population"), "population", cells, population)


def _best_overlap(geoms: np.ndarray, unit_geoms: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per cell, the label code of the unit sharing most area with it (-1 for none)."""
    tree = shapely.STRtree(unit_geoms)
    assigned = np.full(len(geoms), -1, dtype=np.int64)
    inside, unit = tree.query(geoms, predicate="within")
    assigned[inside[::-1]] = codes[unit[::-1]]  # the first containing unit wins
    rest = np.flatnonzero(assigned < 0)
    if len(rest) == 0:
        return assigned
    cell, unit = tree.query(geoms[rest], predicate="intersects")
    polygonal = np.isin(shapely.get_type_id(geoms[rest][cell]), [3, 6])
    overlap = np.where(
        polygonal, shapely.area(shapely.intersection(geoms[rest][cell], unit_geoms[unit])), 1.0
    )
    pairs = pd.DataFrame({"cell": rest[cell], "code": codes[unit], "overlap": overlap})
    pairs = pairs[pairs["overlap"] > 0].groupby(["cell", "code"], sort=True)["overlap"].sum()
    if len(pairs):
        best = pairs.reset_index().sort_values(["cell", "overlap"], ascending=[True, False])
        best = best.drop_duplicates("cell", keep="first")
        assigned[best["cell"].to_numpy()] = best["code"].to_numpy()
    return assigned


def _check_outside(
    cells: gpd.GeoDataFrame, outside: np.ndarray, unit_column: str, population: str | None
) -> None:
    if population is None:
        msg = (
            f"{int(outside.sum())} cells lie outside every {unit_column!r} unit; extend the "
            "boundaries, drop the cells, or pass population= to allow empty cells outside"
        )
        raise InputError(msg, layer="cells", rows=cells.index[outside].tolist())
    people = cells[population].to_numpy(dtype=float)
    stray = outside & (people > 0)
    if stray.any():
        msg = (
            f"{int(stray.sum())} populated cells holding {people[stray].sum():,.0f} people "
            f"lie outside every {unit_column!r} unit; extend the boundaries or drop the cells"
        )
        raise InputError(msg, layer="cells", column=population, rows=cells.index[stray].tolist())
    logger.info("%d empty cells lie outside every %r unit", int(outside.sum()), unit_column)
