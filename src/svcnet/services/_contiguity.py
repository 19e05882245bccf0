"""Service areas in one piece: measure and repair the contiguity of an assignment on a grid.

A service area is contiguous when its cells form one connected group, where
two cells are neighbours if they touch or lie at most ``gap_m`` apart (so that
a street, a park or an unpopulated cell between two populated ones does not
split an area). The repair moves each detached group of cells whole to a
neighbouring center whose own main group it touches, when both centers stay
within their load bounds and every moved cell is within reach of its new
center; of the possible receivers the cheapest is taken. When a move would
break a bound, the neighbour may give back one cell on its border with the
source's main group instead (a swap), if that keeps both within bounds and
its own area in one piece. It never opens or
closes a center and never leaves a cell unserved, so the plan stays feasible;
what it costs is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

__all__ = ["Repair", "cell_adjacency", "area_pieces", "repair_contiguity"]


@dataclass(frozen=True)
class Repair:
    """What a contiguity repair did.

    Attributes
    ----------
    assignment
        The new site of every row (-1: unserved, as before).
    moved_rows
        Rows given to another center.
    added_cost
        Increase of the weighted cost (``weights @ costs``) the moves caused.
    pieces_before, pieces_after
        Number of pieces of every open site's area, indexed by site.
    """

    assignment: np.ndarray
    moved_rows: np.ndarray
    added_cost: float
    pieces_before: np.ndarray
    pieces_after: np.ndarray


def cell_adjacency(cells: gpd.GeoDataFrame, gap_m: float | None = None) -> sp.csr_matrix:
    """Which cells are neighbours: they touch or lie at most ``gap_m`` apart.

    Parameters
    ----------
    cells
        Polygons (grid cells) in a metric CRS; rows with the same geometry
        (parts of one split cell) are neighbours.
    gap_m
        Largest gap between neighbours; default the typical cell width, so that
        one empty cell between two populated ones does not separate them.

    Returns
    -------
    scipy.sparse.csr_matrix
        Symmetric boolean matrix, cells x cells, without the diagonal.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 0, 6, 1)],
    ...                          crs=3857)
    >>> cell_adjacency(cells, gap_m=1.0).toarray().astype(int).tolist()
    [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    """
    geoms = cells.geometry.to_numpy()
    n = len(geoms)
    if gap_m is None:
        areas = shapely.area(geoms)
        gap_m = float(np.sqrt(np.median(areas))) if n and np.median(areas) > 0 else 0.0
    tree = shapely.STRtree(geoms)
    if gap_m > 0:
        left, right = tree.query(geoms, predicate="dwithin", distance=gap_m)
    else:
        left, right = tree.query(geoms, predicate="intersects")
    keep = left != right
    matrix = sp.csr_matrix((np.ones(int(keep.sum()), bool), (left[keep], right[keep])),
                           shape=(n, n))  # fmt: skip
    return (matrix + matrix.T).astype(bool).tocsr()


def _labels(adjacency: sp.csr_matrix, assignment: np.ndarray) -> np.ndarray:
    """Connected groups of rows with the same site (rows left unserved: one group each)."""
    coo = adjacency.tocoo()
    same = (assignment[coo.row] == assignment[coo.col]) & (assignment[coo.row] >= 0)
    n = len(assignment)
    graph = sp.csr_matrix((np.ones(int(same.sum())), (coo.row[same], coo.col[same])),
                          shape=(n, n))  # fmt: skip
    return connected_components(graph, directed=False)[1]


def area_pieces(adjacency: sp.csr_matrix, assignment: np.ndarray, n_sites: int) -> np.ndarray:
    """The number of pieces of every site's area (0 for a site serving nothing).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> chain = sp.csr_matrix(np.eye(4, k=1) + np.eye(4, k=-1)).astype(bool)
    >>> area_pieces(chain, np.array([0, 1, 0, 0]), 2).tolist()
    [2, 1]
    """
    labels = _labels(adjacency, assignment)
    served = assignment >= 0
    groups = np.unique(np.c_[assignment[served], labels[served]], axis=0)
    return np.bincount(groups[:, 0], minlength=n_sites) if len(groups) else np.zeros(n_sites, int)


def repair_contiguity(
    assignment: np.ndarray,
    adjacency: sp.csr_matrix,
    costs: sp.csr_matrix,
    weights: np.ndarray,
    loads: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    *,
    same_unit: tuple[np.ndarray, np.ndarray] | None = None,
    max_rounds: int = 50,
) -> Repair:
    """Move detached groups of cells to a neighbouring center, keeping the bounds.

    Parameters
    ----------
    assignment
        Site of every row (-1: unserved); not changed.
    adjacency
        Neighbouring rows (:func:`cell_adjacency`).
    costs
        Rows x sites; a stored entry is an allowed pair (within reach).
    weights, loads
        Per row: the weight of its cost, and the load it puts on its site.
    low, high
        Per site: the load window of an open site.
    same_unit
        ``(row labels, site labels)``: a row may only move to a site with its
        label (centers serve their own unit). None: no such rule.
    max_rounds
        Rounds of moves (each round moves at most one group per pair of sites).

    Returns
    -------
    Repair

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> chain = sp.csr_matrix(np.eye(4, k=1) + np.eye(4, k=-1)).astype(bool)
    >>> costs = sp.csr_matrix(np.ones((4, 2)))
    >>> fixed = repair_contiguity(np.array([0, 0, 1, 0]), chain, costs, np.ones(4), np.ones(4),
    ...                           low=np.ones(2), high=np.full(2, 3.0))
    >>> fixed.assignment.tolist(), fixed.pieces_before.tolist(), fixed.pieces_after.tolist()
    ([0, 0, 1, 1], [2, 1], [1, 1])
    """
    costs = sp.csr_matrix(costs)
    n_sites = costs.shape[1]
    current = np.asarray(assignment, dtype=np.int64).copy()
    weights = np.asarray(weights, float)
    loads = np.asarray(loads, float)
    before = area_pieces(adjacency, current, n_sites)
    added = 0.0
    for _ in range(max_rounds):
        changed, delta = _one_round(current, adjacency, costs, weights, loads, low, high,
                                    same_unit)  # fmt: skip
        added += delta
        if not changed:
            break
    after = area_pieces(adjacency, current, n_sites)
    changed = np.flatnonzero(current != np.asarray(assignment))  # a cell moved back is not moved
    return Repair(current, changed, added, before, after)


def _one_round(current, adjacency, costs, weights, loads, low, high, same_unit):
    """One pass over the detached groups, smallest first; returns (any moved, added cost)."""
    n_sites = costs.shape[1]
    labels = _labels(adjacency, current)
    served = current >= 0
    group_load = np.bincount(labels[served], loads[served], minlength=labels.max() + 1)
    site_load = np.bincount(current[served], loads[served], minlength=n_sites)
    main = _main_groups(labels, current, group_load, n_sites)
    detached = np.unique(labels[served & (labels != main[np.maximum(current, 0)])])
    touched = np.zeros(n_sites, bool)
    changed, added = False, 0.0
    for group in detached[np.argsort(group_load[detached], kind="stable")]:
        rows = np.flatnonzero(labels == group)
        source = int(current[rows[0]])
        if touched[source]:
            continue
        target, back, delta = -1, -1, 0.0
        if site_load[source] - group_load[group] >= low[source] - 1e-9:
            target, delta = _best_receiver(rows, source, current, labels, main, adjacency,
                                           costs, weights, site_load + group_load[group], high,
                                           same_unit, touched)  # fmt: skip
        if target < 0:
            target, back, delta = _best_swap(rows, source, current, labels, main, adjacency,
                                             costs, weights, loads, site_load, low, high,
                                             same_unit, touched)  # fmt: skip
        if target < 0:
            continue
        current[rows] = target
        site_load[source] -= group_load[group]
        site_load[target] += group_load[group]
        if back >= 0:  # the receiver gives one of its cells on the border back to the source
            current[back] = source
            site_load[target] -= loads[back]
            site_load[source] += loads[back]
        touched[[source, target]] = True
        changed, added = True, added + delta
    return changed, added


def _main_groups(labels, current, group_load, n_sites) -> np.ndarray:
    """Each site's main group: the one with the largest load (-1 for a site serving nothing)."""
    main = np.full(n_sites, -1)
    served = np.flatnonzero(current >= 0)
    if not len(served):
        return main
    order = served[np.lexsort((labels[served], -group_load[labels[served]], current[served]))]
    first = np.r_[True, current[order][1:] != current[order][:-1]]
    main[current[order][first]] = labels[order][first]
    return main


def _best_receiver(rows, source, current, labels, main, adjacency, costs, weights, load_with,
                   high, same_unit, touched) -> tuple[int, float]:  # fmt: skip
    """The cheapest neighbouring site able to take the group whole, and the added cost."""
    near = np.unique(adjacency[rows].indices)
    near = near[(current[near] >= 0) & (current[near] != source)]
    near = near[labels[near] == main[current[near]]]
    best, best_delta = -1, np.inf
    sub = costs[rows]
    old = np.asarray(sub[np.arange(len(rows)), np.full(len(rows), source)]).ravel()
    for target in np.unique(current[near]):
        if touched[target] or load_with[target] > high[target] + 1e-9:
            continue
        if same_unit is not None and (same_unit[0][rows] != same_unit[1][target]).any():
            continue
        column = sub[:, [target]].tocoo()
        if column.nnz < len(rows):  # some cell is beyond the reach of this center
            continue
        new = np.zeros(len(rows))
        new[column.row] = column.data
        delta = float(weights[rows] @ (new - old))
        if delta < best_delta:
            best, best_delta = int(target), delta
    return best, best_delta


def _best_swap(rows, source, current, labels, main, adjacency, costs, weights, loads, site_load,
               low, high, same_unit, touched) -> tuple[int, int, float]:  # fmt: skip
    """A detached group for one border cell of a neighbour, when a plain move breaks a bound.

    The neighbour takes the group and gives back one cell of its main group that
    touches the source's main group, if both loads stay within their bounds,
    the neighbour's main group stays in one piece and still touches the group.
    Returns ``(neighbour, cell given back, added cost)``, or ``(-1, -1, 0.0)``.
    """
    group_load = float(loads[rows].sum())
    old = np.asarray(costs[rows, np.full(len(rows), source)]).ravel()
    near = np.unique(adjacency[rows].indices)
    near = near[(current[near] >= 0) & (current[near] != source)]
    near = near[labels[near] == main[current[near]]]
    source_main = labels == main[source]
    best, best_back, best_delta = -1, -1, np.inf
    for target in np.unique(current[near]):
        if touched[target] or not _allowed(rows, target, same_unit):
            continue
        new = _column(costs, rows, target)
        if new is None:
            continue
        move = float(weights[rows] @ (new - old))
        for back in _border_cells(labels, main[target], source_main, adjacency):
            s_load = site_load[source] - group_load + loads[back]
            t_load = site_load[target] + group_load - loads[back]
            if not (low[source] - 1e-9 <= s_load <= high[source] + 1e-9
                    and low[target] - 1e-9 <= t_load <= high[target] + 1e-9):  # fmt: skip
                continue
            if not _allowed(np.array([back]), source, same_unit):
                continue
            given = _column(costs, np.array([back]), source)
            if given is None or not _still_joined(labels, main[target], back, near, adjacency):
                continue
            delta = move + float(weights[back] * (given[0] - costs[back, target]))
            if delta < best_delta:
                best, best_back, best_delta = int(target), int(back), delta
    return (best, best_back, best_delta) if best >= 0 else (-1, -1, 0.0)


def _allowed(rows, target, same_unit) -> bool:
    """Whether the rows may go to ``target`` under the unit rule."""
    return same_unit is None or bool((same_unit[0][rows] == same_unit[1][target]).all())


def _column(costs, rows, target) -> np.ndarray | None:
    """Costs of the rows at ``target``, or None when some row is beyond its reach."""
    column = costs[rows][:, [target]].tocoo()
    if column.nnz < len(rows):
        return None
    new = np.zeros(len(rows))
    new[column.row] = column.data
    return new


def _border_cells(labels, group, other, adjacency) -> np.ndarray:
    """Cells of ``group`` touching a cell where ``other`` (a mask) is True."""
    cells = np.flatnonzero(labels == group)
    if len(cells) < 2:  # giving the only cell away would empty the group
        return cells[:0]
    touching = np.asarray(adjacency[cells].multiply(other[None, :]).sum(axis=1)).ravel() > 0
    return cells[touching]


def _still_joined(labels, group, back, near, adjacency) -> bool:
    """The group without ``back`` is in one piece and still touches one of ``near``."""
    rest = np.flatnonzero(labels == group)
    rest = rest[rest != back]
    if not np.isin(near, rest).any():
        return False
    return connected_components(adjacency[rest][:, rest], directed=False)[0] == 1
