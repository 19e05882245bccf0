"""Pairs of a bounded p-median ready for search and bounds: reduction and independent parts.

A :class:`Part` holds one independent piece of a bounded model in its own
numbering: the allowed demand-site pairs sorted by demand row (and by site, for
per-site work), the loads, the per-site load window ``[lo, hi]`` and each row's
cost when left unserved. :func:`reduce_problem` removes what can never be used
(pairs whose load exceeds the site's capacity, sites that cannot reach their
minimum load) and, when the number of sites is free, splits the rest into the
connected components of the demand-site graph, which are independent problems
whose optima (and lower bounds) add up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from svcnet.errors import InfeasibleError

logger = logging.getLogger(__name__)

__all__ = ["Part", "Reduced", "reduce_problem", "pair_index", "tile_labels", "tiles"]


@dataclass(frozen=True, eq=False)
class Part:
    """One independent piece of a bounded model, in local numbering.

    Attributes
    ----------
    rows, cols, vals
        The allowed pairs sorted by (row, value): demand row, site, and weighted
        cost ``w_i c_ij``.
    indptr
        Row ``i``'s pairs are ``indptr[i]:indptr[i + 1]``.
    by_site, site_ptr
        Pair positions sorted by (site, value); site ``j``'s are
        ``by_site[site_ptr[j]:site_ptr[j + 1]]``.
    load
        The load each row puts on its site.
    lo, hi
        The load window of an open site (0 and ``inf`` when unbounded).
    fallback
        Each row's cost when unserved: its weight times the penalty, or a
        prohibitive cost when every row must be served (``penalized`` False).
    existing
        Mask of the sites that must be open.
    p
        Number of open sites, or None when free.
    row_ids, site_ids
        Positions of the rows and sites in the full model.
    """

    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    indptr: np.ndarray
    by_site: np.ndarray
    site_ptr: np.ndarray
    load: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    fallback: np.ndarray
    penalized: bool
    existing: np.ndarray
    p: int | None
    row_ids: np.ndarray
    site_ids: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        """Number of demand rows."""
        return len(self.load)

    @property
    def m(self) -> int:
        """Number of sites."""
        return len(self.lo)

    @property
    def q(self) -> int:
        """Number of pairs."""
        return len(self.rows)

    @classmethod
    def build(cls, rows, cols, vals, *, load, lo, hi, fallback, penalized, existing, p,
              row_ids, site_ids) -> Part:  # fmt: skip
        """Sort the pairs and index them by row and by site.

        Examples
        --------
        >>> import numpy as np
        >>> part = Part.build(np.array([0, 0, 1]), np.array([1, 0, 0]), np.array([5.0, 2.0, 1.0]),
        ...     load=np.ones(2), lo=np.zeros(2), hi=np.full(2, 2.0), fallback=np.full(2, 9.0),
        ...     penalized=True, existing=np.zeros(2, bool), p=None, row_ids=np.arange(2),
        ...     site_ids=np.arange(2))
        >>> part.cols.tolist(), part.indptr.tolist()
        ([0, 1, 0], [0, 2, 3])
        """
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        vals = np.asarray(vals, dtype=float)
        order = np.lexsort((cols, vals, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        n, m = len(load), len(lo)
        indptr = np.searchsorted(rows, np.arange(n + 1))
        by_site = np.lexsort((rows, vals, cols))
        site_ptr = np.searchsorted(cols[by_site], np.arange(m + 1))
        return cls(rows, cols, vals, indptr, by_site, site_ptr, np.asarray(load, float),
                   np.asarray(lo, float), np.asarray(hi, float), np.asarray(fallback, float),
                   bool(penalized), np.asarray(existing, bool), p, np.asarray(row_ids),
                   np.asarray(site_ids))  # fmt: skip

    def site_pairs(self, j: int) -> np.ndarray:
        """Pair positions of site ``j`` (by increasing value)."""
        return self.by_site[self.site_ptr[j] : self.site_ptr[j + 1]]

    def row_pairs(self, i: int) -> np.ndarray:
        """Pair positions of row ``i`` (by increasing value)."""
        return np.arange(self.indptr[i], self.indptr[i + 1])

    def pairs_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """Pair positions of several rows, concatenated."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.zeros(0, dtype=np.int64)
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.arange(int(lengths.sum())) + offsets

    def pairs_of_sites(self, sites: np.ndarray) -> np.ndarray:
        """Pair positions of several sites, concatenated."""
        sites = np.asarray(sites, dtype=np.int64)
        if sites.size == 0:
            return np.zeros(0, dtype=np.int64)
        starts, ends = self.site_ptr[sites], self.site_ptr[sites + 1]
        lengths = ends - starts
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return self.by_site[np.arange(int(lengths.sum())) + offsets]

    def reach(self) -> np.ndarray:
        """Total load each site can reach."""
        if "reach" not in self._cache:
            self._cache["reach"] = np.bincount(self.cols, self.load[self.rows], minlength=self.m)
        return self._cache["reach"]

    def objective(self, assignment: np.ndarray) -> float:
        """Total cost of an assignment in local numbering (-1: unserved, at its fallback)."""
        served = assignment >= 0
        pos = pair_index(self, np.flatnonzero(served), assignment[served])
        if (pos < 0).any():
            raise ValueError("assignment uses a pair that is not allowed")
        return float(self.vals[pos].sum() + self.fallback[~served].sum())


def pair_index(part: Part, rows: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Positions of the pairs ``(rows[k], sites[k])`` in ``part``; -1 where not allowed.

    Examples
    --------
    >>> import numpy as np
    >>> part = Part.build(np.array([0, 0]), np.array([0, 1]), np.array([1.0, 2.0]),
    ...     load=np.ones(1), lo=np.zeros(2), hi=np.ones(2), fallback=np.ones(1),
    ...     penalized=True, existing=np.zeros(2, bool), p=None, row_ids=np.arange(1),
    ...     site_ids=np.arange(2))
    >>> pair_index(part, np.array([0, 0]), np.array([1, 0])).tolist()
    [1, 0]
    """
    if "keys" not in part._cache:
        key = part.rows * part.m + part.cols
        order = np.argsort(key, kind="stable")
        part._cache["keys"] = (key[order], order)
    keys, order = part._cache["keys"]
    wanted = np.asarray(rows, dtype=np.int64) * part.m + np.asarray(sites, dtype=np.int64)
    if len(keys) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    found = keys[at] == wanted
    return np.where(found, order[at], -1)


@dataclass(frozen=True, eq=False)
class Reduced:
    """A bounded model after reduction: independent parts and the rows no site can serve.

    ``constant`` is the fallback cost of the rows left out of every part (they
    are unserved in any solution). ``p_range`` is the range of the number of open
    sites implied by the loads and bounds (for the report).
    """

    parts: list[Part]
    unservable: np.ndarray
    constant: float
    closed_sites: np.ndarray
    p_range: tuple[int, int]


def reduce_problem(problem, *, split: bool | None = None) -> Reduced:
    """Remove pairs and sites that no solution can use, and split into independent parts.

    Parameters
    ----------
    problem
        A :class:`~svcnet.solvers.bounded.BoundedProblem`.
    split
        Split into connected components (default: when ``p`` is free; a fixed
        ``p`` couples the components).

    Returns
    -------
    Reduced

    Raises
    ------
    InfeasibleError
        When an existing site cannot reach its minimum load, or a row that must
        be served has no usable site.
    """
    n, m = problem.n, problem.m
    lo = np.zeros(m) if problem.min_load is None else np.asarray(problem.min_load, float)
    hi = np.full(m, np.inf) if problem.capacity is None else np.asarray(problem.capacity, float)
    rows, sites, costs = problem.rows, problem.sites, problem.costs
    keep = problem.allowed[sites] & (problem.loads[rows] <= hi[sites] + 1e-9)
    rows, sites, costs = rows[keep], sites[keep], costs[keep]
    reach = np.bincount(sites, problem.loads[rows], minlength=m)
    usable = problem.allowed & (reach >= lo - 1e-9)
    is_existing = np.zeros(m, dtype=bool)
    is_existing[problem.existing] = True
    short = np.flatnonzero(is_existing & ~usable)
    if short.size:
        msg = (f"existing sites {short[:10].tolist()} cannot reach their minimum load "
               f"within the allowed pairs")  # fmt: skip
        raise InfeasibleError(msg)
    closed_sites = np.flatnonzero(problem.allowed & ~usable)
    keep = usable[sites]
    rows, sites, costs = rows[keep], sites[keep], costs[keep]
    penalized = problem.fallback is not None
    has_pair = np.bincount(rows, minlength=n) > 0
    unservable = np.flatnonzero(~has_pair)
    if unservable.size and not penalized:
        msg = (f"demand rows {unservable[:10].tolist()} have no site that can serve them "
               f"within the bounds")  # fmt: skip
        raise InfeasibleError(msg)
    vals = costs * problem.weights[rows]
    if penalized:
        fallback_all = np.asarray(problem.fallback, float)
    else:
        big = 10.0 * (float(np.abs(vals).sum()) + 1.0) + 1e6
        fallback_all = np.full(n, big)
    constant = float(fallback_all[unservable].sum()) if penalized else 0.0
    p_range = _p_range(problem, lo, hi, usable, penalized)
    if split is None:
        split = problem.p is None
    if split:
        labels_rows, labels_sites, count = _components(n, m, rows, sites, has_pair, usable,
                                                       is_existing)  # fmt: skip
    else:
        labels_rows = np.where(has_pair, 0, -1)
        labels_sites = np.where(usable, 0, -1)
        count = 1 if (has_pair.any() or is_existing.any()) else 0
    parts = []
    row_order = np.argsort(labels_rows, kind="stable")
    site_order = np.argsort(labels_sites, kind="stable")
    row_bounds = np.searchsorted(labels_rows[row_order], np.arange(count + 1))
    site_bounds = np.searchsorted(labels_sites[site_order], np.arange(count + 1))
    pair_label = labels_rows[rows]
    pair_order = np.argsort(pair_label, kind="stable")
    pair_bounds = np.searchsorted(pair_label[pair_order], np.arange(count + 1))
    local_row = np.full(n, -1)
    local_site = np.full(m, -1)
    for c in range(count):
        rid = row_order[row_bounds[c] : row_bounds[c + 1]]
        sid = site_order[site_bounds[c] : site_bounds[c + 1]]
        if sid.size == 0 and rid.size == 0:
            continue
        local_row[rid] = np.arange(len(rid))
        local_site[sid] = np.arange(len(sid))
        pos = pair_order[pair_bounds[c] : pair_bounds[c + 1]]
        parts.append(Part.build(
            local_row[rows[pos]], local_site[sites[pos]], vals[pos],
            load=problem.loads[rid], lo=lo[sid], hi=hi[sid], fallback=fallback_all[rid],
            penalized=penalized, existing=is_existing[sid], p=problem.p, row_ids=rid,
            site_ids=sid,
        ))  # fmt: skip
    logger.debug("bounded model reduced: %d parts, %d unservable rows, %d sites closed",
                 len(parts), unservable.size, closed_sites.size)  # fmt: skip
    return Reduced(parts, unservable, constant, closed_sites, p_range)


def _components(n, m, rows, sites, has_pair, usable, is_existing):
    """Component labels of rows and sites (-1 for rows without pairs and unusable sites)."""
    graph = sp.csr_matrix((np.ones(len(rows)), (rows, n + sites)), shape=(n + m, n + m))
    count, labels = connected_components(graph, directed=False)
    lab_rows, lab_sites = labels[:n].copy(), labels[n:].copy()
    lab_rows[~has_pair] = -1
    site_has_pair = np.bincount(sites, minlength=m) > 0
    lab_sites[~(usable & (site_has_pair | is_existing))] = -1
    used = np.unique(np.concatenate([lab_rows[lab_rows >= 0], lab_sites[lab_sites >= 0]]))
    remap = np.full(count, -1)
    remap[used] = np.arange(len(used))
    lab_rows = np.where(lab_rows >= 0, remap[np.maximum(lab_rows, 0)], -1)
    lab_sites = np.where(lab_sites >= 0, remap[np.maximum(lab_sites, 0)], -1)
    return lab_rows, lab_sites, len(used)


def _p_range(problem, lo, hi, usable, penalized) -> tuple[int, int]:
    """The number of open sites any feasible solution has (implied by loads and bounds)."""
    if problem.p is not None:
        return int(problem.p), int(problem.p)
    total = float(problem.loads.sum())
    n_existing = len(problem.existing)
    low_vals = np.sort(lo[usable])
    most = int(np.searchsorted(np.cumsum(low_vals), total + 1e-9, side="right"))
    most = max(min(most, int(usable.sum())), n_existing)
    least = max(n_existing, 1 if not penalized else 0)
    if not penalized and np.isfinite(hi[usable]).all():
        caps = np.sort(hi[usable])[::-1]
        least = max(least, int(np.searchsorted(np.cumsum(caps), total - 1e-9)) + 1)
    return least, max(least, most)


def tiles(
    part: Part, max_pairs: int, labels: tuple[np.ndarray, np.ndarray, int] | None = None
) -> list[Part]:
    """Split a part into compact pieces of at most ``max_pairs`` pairs, dropping crossing pairs.

    Rows are split in two recursively: by the difference of their hop distances
    (in the demand-site graph) to two far-apart rows, at the median of the
    pairs. Each site goes to the piece holding most of the load it can reach. A
    solution of every piece, put together, is a solution of the part (only
    pairs were removed). Each piece's ``row_ids`` and ``site_ids`` are positions
    in ``part``. ``labels`` are :func:`tile_labels` already computed.

    Examples
    --------
    >>> import numpy as np
    >>> part = Part.build(np.arange(4), np.array([0, 0, 1, 1]), np.ones(4),
    ...     load=np.ones(4), lo=np.zeros(2), hi=np.full(2, 2.0), fallback=np.full(4, 5.0),
    ...     penalized=True, existing=np.zeros(2, bool), p=None, row_ids=np.arange(4),
    ...     site_ids=np.arange(2))
    >>> sorted(piece.row_ids.tolist() for piece in tiles(part, 2))
    [[0, 1], [2, 3]]
    """
    row_tile, site_tile, count = labels if labels is not None else tile_labels(part, max_pairs)
    n, m = part.n, part.m
    pieces = []
    for k in range(count):
        rows = np.flatnonzero(row_tile == k)
        sites = np.flatnonzero(site_tile == k)
        local_row = np.full(n, -1)
        local_row[rows] = np.arange(len(rows))
        local_site = np.full(m, -1)
        local_site[sites] = np.arange(len(sites))
        keep = (row_tile[part.rows] == k) & (site_tile[part.cols] == k)
        pieces.append(Part.build(
            local_row[part.rows[keep]], local_site[part.cols[keep]], part.vals[keep],
            load=part.load[rows], lo=part.lo[sites], hi=part.hi[sites],
            fallback=part.fallback[rows], penalized=part.penalized,
            existing=part.existing[sites], p=None, row_ids=rows, site_ids=sites,
        ))  # fmt: skip
    return pieces


def tile_labels(part: Part, max_pairs: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The piece of every row and every site (see :func:`tiles`), and the number of pieces."""
    n, m = part.n, part.m
    degree = np.diff(part.indptr)
    row_tile = np.zeros(n, dtype=np.int64)
    stack = [np.arange(n)]
    count = 0
    while stack:
        rows = stack.pop()
        if degree[rows].sum() <= max_pairs or rows.size < 2:
            row_tile[rows] = count
            count += 1
            continue
        first, second = _halves(part, rows)
        stack.extend([second, first])
    share = sp.csr_matrix((part.load[part.rows], (part.cols, row_tile[part.rows])),
                          shape=(m, count)).toarray()  # fmt: skip
    site_tile = np.argmax(share, axis=1) if m else np.zeros(0, dtype=np.int64)
    return row_tile, site_tile, count


def _halves(part: Part, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split rows in two by hop distances to two far-apart rows (median of the pairs)."""
    from scipy.sparse.csgraph import dijkstra

    pairs = part.pairs_of_rows(rows)
    sites, site_local = np.unique(part.cols[pairs], return_inverse=True)
    k, s = len(rows), len(sites)
    local = np.searchsorted(rows, part.rows[pairs])
    graph = sp.csr_matrix((np.ones(len(pairs)), (local, k + site_local)), shape=(k + s, k + s))
    graph = graph + graph.T

    def hops(source):
        dist = dijkstra(graph, indices=[source], unweighted=True)[0][:k]
        return np.where(np.isfinite(dist), dist, 1e9)

    a = int(np.argmax(hops(0)))
    dist_a = hops(a)
    b = int(np.argmax(dist_a))
    key = dist_a - hops(b)
    order = np.lexsort((np.arange(k), key))
    weight = np.diff(part.indptr)[rows][order]
    cut = int(np.searchsorted(np.cumsum(weight), weight.sum() / 2)) + 1
    cut = min(max(cut, 1), k - 1)
    return np.sort(rows[order[:cut]]), np.sort(rows[order[cut:]])
