"""Cost and weight inputs of the location models, validated and put in one sparse form.

Every model works on a CSR matrix ``demand x sites`` whose *stored* entries are
the allowed pairs (within the cutoff) and whose values are their costs; an
absent entry means the pair is not allowed. Explicit zero costs are kept as
stored entries. Dense arrays mark forbidden pairs with ``inf``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from svcnet.errors import InputError

__all__ = ["CostData", "as_cost_data", "as_weights", "as_site_vector", "as_site_indices"]


@dataclass(frozen=True, eq=False)
class CostData:
    """Allowed demand-site pairs and their costs.

    Attributes
    ----------
    matrix
        CSR ``(n_demand, n_sites)``, sorted indices, float64 costs, explicit zeros kept.
    demand_ids, site_ids
        Labels of the rows and columns (positions when none were given).
    """

    matrix: sp.csr_matrix
    demand_ids: np.ndarray
    site_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_demand, n_sites)``."""
        return self.matrix.shape


def _csr_keeping_zeros(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape
) -> sp.csr_matrix:
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((vals.astype(float), cols.astype(np.int32), indptr), shape=shape)


def as_cost_data(
    costs: object,
    *,
    cutoff: float | Sequence[float] | np.ndarray | None = None,
) -> CostData:
    """Validate costs and return the allowed pairs as a :class:`CostData`.

    Parameters
    ----------
    costs
        A dense array (``inf`` marks a forbidden pair), a scipy.sparse matrix
        (absent entries are forbidden; stored zeros are zero costs), or any object
        with a ``.matrix`` attribute such as :class:`svcnet.costs.CostMatrix`
        (its ``origin_ids``/``destination_ids`` label rows and columns).
    cutoff
        The largest cost allowed, for all demand rows or one per row.

    Returns
    -------
    CostData

    Examples
    --------
    >>> import numpy as np
    >>> data = as_cost_data(np.array([[0.0, 5.0], [np.inf, 2.0]]), cutoff=4)
    >>> data.matrix.toarray().tolist(), data.matrix.nnz
    ([[0.0, 0.0], [0.0, 2.0]], 2)
    """
    demand_ids = site_ids = None
    if hasattr(costs, "matrix") and not isinstance(costs, np.ndarray):
        demand_ids = getattr(costs, "origin_ids", None)
        site_ids = getattr(costs, "destination_ids", None)
        costs = costs.matrix
    if sp.issparse(costs):
        csr = sp.csr_matrix(costs, copy=True)
        csr.sum_duplicates()  # scipy's meaning of repeated entries: they add up
        coo = csr.tocoo()
        rows, cols, vals = coo.row, coo.col, np.asarray(coo.data, dtype=float)
        shape = coo.shape
        finite = np.isfinite(vals)
        _check_cost_values(vals[~np.isnan(vals)], rows[~np.isnan(vals)])
        if np.isnan(vals).any():
            bad = np.unique(rows[np.isnan(vals)])
            raise InputError("costs hold NaN", column="costs", rows=bad.tolist())
        rows, cols, vals = rows[finite], cols[finite], vals[finite]
    else:
        try:
            dense = np.asarray(costs, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(
                "costs must be numeric (an array, sparse matrix or CostMatrix)"
            ) from exc
        if dense.ndim != 2:
            msg = f"costs must be 2-D (demand x sites); got shape {dense.shape}"
            raise InputError(msg)
        if np.isnan(dense).any():
            bad = np.unique(np.nonzero(np.isnan(dense))[0])
            raise InputError("costs hold NaN", column="costs", rows=bad.tolist())
        rows, cols = np.nonzero(np.isfinite(dense))
        vals = dense[rows, cols]
        _check_cost_values(dense[~np.isnan(dense)], np.nonzero(~np.isnan(dense))[0])
        shape = dense.shape
    if shape[0] == 0 or shape[1] == 0:
        msg = f"costs must have at least one demand row and one site; got shape {shape}"
        raise InputError(msg)
    if cutoff is not None:
        limit = _as_row_vector(cutoff, shape[0], "cutoff")
        keep = vals <= limit[rows]
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    matrix = _csr_keeping_zeros(rows, cols, vals, shape)
    return CostData(
        matrix=matrix,
        demand_ids=_labels(demand_ids, shape[0]),
        site_ids=_labels(site_ids, shape[1]),
    )


def _check_cost_values(vals: np.ndarray, rows: np.ndarray) -> None:
    negative = vals < 0
    if negative.any():
        bad = np.unique(rows[negative])
        raise InputError(f"{int(negative.sum())} negative costs", column="costs", rows=bad.tolist())
    if np.isneginf(vals).any():
        raise InputError("costs hold -inf", column="costs")


def _labels(ids: object, n: int) -> np.ndarray:
    if ids is None:
        return np.arange(n)
    labels = np.asarray(list(ids), dtype=object)
    if len(labels) != n:
        msg = f"{len(labels)} ids for {n} rows or columns"
        raise InputError(msg)
    return labels


def _as_row_vector(value: object, n: int, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full(n, float(array))
    if array.shape != (n,):
        msg = f"{name} must be a number or one value per demand row ({n}); got shape {array.shape}"
        raise InputError(msg)
    if np.isnan(array).any() or (array < 0).any():
        bad = np.flatnonzero(np.isnan(array) | (array < 0))
        raise InputError(f"{name} must be non-negative numbers", column=name, rows=bad.tolist())
    return array


def as_weights(weights: object, n: int, name: str = "weights") -> np.ndarray:
    """Validate demand weights: one finite, non-negative number per demand row.

    Examples
    --------
    >>> as_weights(None, 3).tolist()
    [1.0, 1.0, 1.0]
    """
    if weights is None:
        return np.ones(n)
    if hasattr(weights, "to_numpy"):
        weights = weights.to_numpy()
    try:
        array = np.asarray(weights, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric", column=name) from exc
    if array.shape != (n,):
        msg = f"{name} must have one value per demand row ({n}); got shape {array.shape}"
        raise InputError(msg, column=name)
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        msg = f"{name} must be finite and non-negative ({int(bad.sum())} are not)"
        raise InputError(msg, column=name, rows=np.flatnonzero(bad).tolist())
    return array


def as_site_vector(value: object, m: int, name: str) -> np.ndarray | None:
    """A number or one value per site, finite and non-negative; None passes through.

    Examples
    --------
    >>> as_site_vector(5, 2, "capacity").tolist()
    [5.0, 5.0]
    """
    if value is None:
        return None
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full(m, float(array))
    if array.shape != (m,):
        msg = f"{name} must be a number or one value per site ({m}); got shape {array.shape}"
        raise InputError(msg, column=name)
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        msg = f"{name} must be finite and non-negative"
        raise InputError(msg, column=name, rows=np.flatnonzero(bad).tolist())
    return array


def as_site_indices(value: object, site_ids: np.ndarray, name: str) -> np.ndarray:
    """Site positions from positions, ids or a boolean mask, sorted and unique.

    Examples
    --------
    >>> import numpy as np
    >>> as_site_indices(["b"], np.array(["a", "b"], dtype=object), "existing").tolist()
    [1]
    """
    m = len(site_ids)
    if value is None:
        return np.zeros(0, dtype=np.int64)
    array = np.asarray(list(value) if not isinstance(value, np.ndarray) else value)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype == bool:
        if array.shape != (m,):
            raise InputError(f"{name} mask must have one value per site ({m})", column=name)
        return np.flatnonzero(array)
    lookup = {sid: i for i, sid in enumerate(site_ids.tolist())}
    positions = []
    for item in array.tolist():
        if item in lookup:
            positions.append(lookup[item])
        elif isinstance(item, (int, np.integer)) and 0 <= item < m:
            positions.append(int(item))
        else:
            raise InputError(f"{name} names an unknown site: {item!r}", column=name)
    return np.unique(np.asarray(positions, dtype=np.int64))
