"""The two steps of floating-catchment access on a Dask cluster, equal to one machine's.

Step 1 (each site's supply over the demand in its catchment) runs on blocks of
sites, step 2 (each demand row's sum of the ratios in its reach) on blocks of
rows. A block of sites holds all demand rows of its columns, in order, and a
block of rows all sites of its rows, in order, and each block goes through the
very scipy products of :mod:`svcnet.access`: every sum adds the same numbers in
the same order, so the result equals the one-machine result exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from svcnet.distributed._cluster import run_tasks

__all__ = ["ratios_on_cluster", "spread_on_cluster"]

#: Most stored pairs a block holds.
_BLOCK_PAIRS = 20_000_000


def _blocks(client: Any, size: int, nnz: int) -> list[tuple[int, int]]:
    workers = max(len(client.scheduler_info().get("workers", {})), 1)
    count = max(2 * workers, math.ceil(nnz / _BLOCK_PAIRS), 1)
    edges = np.linspace(0, size, min(count, max(size, 1)) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _site_block_ratios(
    data: NDArray[np.float64], indices: NDArray[np.int32], indptr: NDArray[np.int64],
    n_rows: int, demand: NDArray[np.float64], supply: NDArray[np.float64],
) -> NDArray[np.float64]:  # fmt: skip
    """Ratios of a block of sites, from its columns (CSC) of the pair weights."""
    from svcnet.access import _ratios

    block = sparse.csc_matrix((data, indices, indptr), shape=(n_rows, len(indptr) - 1)).tocsr()
    return _ratios(block, demand, supply)


def ratios_on_cluster(
    client: Any, pair_weights: sparse.csr_matrix, demand: NDArray[np.float64],
    supply: NDArray[np.float64], *, progress: bool = True,
) -> NDArray[np.float64]:  # fmt: skip
    """Step 1 by blocks of sites: ``supply / (pair_weights.T @ demand)`` (NaN: none in reach).

    Examples
    --------
    >>> ratios_on_cluster(client, weights, demand, supply)  # doctest: +SKIP
    """
    n, m = pair_weights.shape
    by_column = pair_weights.tocsc()
    by_column.sort_indices()
    arguments = []
    for a, b in _blocks(client, m, pair_weights.nnz):
        block = by_column[:, a:b]
        arguments.append((block.data, block.indices, block.indptr, n, demand, supply[a:b]))
    parts = run_tasks(client, _site_block_ratios, arguments, desc="access, step 1",
                      progress=progress)  # fmt: skip
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, demand.shape[1]))


def _row_block_access(block: sparse.csr_matrix, ratios: NDArray[np.float64]) -> NDArray[np.float64]:
    """Step 2 for a block of rows."""
    return np.asarray(block @ np.nan_to_num(ratios, nan=0.0))


def spread_on_cluster(
    client: Any, pair_weights: sparse.csr_matrix, ratios: NDArray[np.float64], *,
    progress: bool = True,
) -> NDArray[np.float64]:  # fmt: skip
    """Step 2 by blocks of rows: ``pair_weights @ ratios`` (NaN ratios count 0).

    Examples
    --------
    >>> spread_on_cluster(client, weights, ratios)  # doctest: +SKIP
    """
    n = pair_weights.shape[0]
    arguments = [(pair_weights[a:b], ratios) for a, b in _blocks(client, n, pair_weights.nnz)]
    parts = run_tasks(client, _row_block_access, arguments, desc="access, step 2",
                      progress=progress)  # fmt: skip
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, ratios.shape[1]))
