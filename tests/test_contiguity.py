"""Contiguity of service areas: adjacency on a grid, pieces, and the repair (hand-checked)."""

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from shapely.geometry import box

from svcnet.services._contiguity import area_pieces, cell_adjacency, repair_contiguity


def grid_cells(columns, rows, size=100.0, skip=()):
    boxes = [box(c * size, r * size, (c + 1) * size, (r + 1) * size)
             for r in range(rows) for c in range(columns) if (c, r) not in skip]  # fmt: skip
    return gpd.GeoDataFrame(geometry=boxes, crs=32650)


def test_adjacency_joins_touching_cells_and_one_empty_cell_apart():
    # a row of cells 0, 1, _, 3, _, _, 6: the default gap is one cell width
    cells = grid_cells(7, 1, skip={(2, 0), (4, 0), (5, 0)})
    adjacency = cell_adjacency(cells).toarray()
    assert adjacency[0, 1] and adjacency[1, 2]  # touching; one empty cell between 1 and 3
    assert not adjacency[2, 3]  # cells 3 and 6 are two empty cells apart
    assert not adjacency.diagonal().any() and (adjacency == adjacency.T).all()
    strict = cell_adjacency(cells, gap_m=0.0).toarray()
    assert strict[0, 1] and not strict[1, 2]


def test_parts_of_one_split_cell_are_neighbours():
    cells = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)] * 2 + [box(9, 9, 10, 10)], crs=32650)
    assert cell_adjacency(cells, gap_m=0.0).toarray().tolist() == [
        [False, True, False], [True, False, False], [False, False, False]]  # fmt: skip


def test_pieces_count_groups_per_site():
    # 1 x 6 strip: site 0 holds cells 0, 1 and 4; site 1 cells 2, 3; cell 5 unserved
    adjacency = cell_adjacency(grid_cells(6, 1), gap_m=0.0)
    assignment = np.array([0, 0, 1, 1, 0, -1])
    assert area_pieces(adjacency, assignment, 3).tolist() == [2, 1, 0]


def strip_problem():
    """1 x 5 strip: site 0 serves cells 0, 1 and 4 (4 cut off), site 1 cells 2 and 3."""
    adjacency = cell_adjacency(grid_cells(5, 1), gap_m=0.0)
    costs = sp.csr_matrix(np.array([[1, 9], [2, 8], [5, 2], [6, 1], [7, 3]], dtype=float))
    return adjacency, costs, np.array([0, 0, 1, 1, 0])


def test_repair_moves_the_cut_off_cell_to_the_neighbour_and_counts_the_cost():
    adjacency, costs, assignment = strip_problem()
    weights = np.array([1.0, 1.0, 1.0, 1.0, 2.0])
    fixed = repair_contiguity(assignment, adjacency, costs, weights, np.ones(5),
                              low=np.array([2.0, 2.0]), high=np.array([3.0, 3.0]))  # fmt: skip
    assert fixed.assignment.tolist() == [0, 0, 1, 1, 1]
    assert fixed.moved_rows.tolist() == [4]
    assert fixed.added_cost == pytest.approx(2.0 * (3 - 7))  # the move is cheaper here
    assert fixed.pieces_before.tolist() == [2, 1] and fixed.pieces_after.tolist() == [1, 1]
    assert assignment.tolist() == [0, 0, 1, 1, 0]  # the input is not changed


@pytest.mark.parametrize(
    ("low", "high"),
    [([3.0, 2.0], [3.0, 3.0]), ([2.0, 2.0], [3.0, 2.0])],
    ids=["source at its minimum", "receiver at its maximum"],
)
def test_a_move_that_breaks_a_bound_becomes_a_swap(low, high):
    # site 1 takes the cut-off cell 4 and gives back cell 2, which touches site 0's cells
    adjacency, costs, assignment = strip_problem()
    fixed = repair_contiguity(assignment, adjacency, costs, np.ones(5), np.ones(5),
                              low=np.array(low), high=np.array(high))  # fmt: skip
    assert fixed.assignment.tolist() == [0, 0, 0, 1, 1]
    assert fixed.moved_rows.tolist() == [2, 4]
    assert fixed.added_cost == pytest.approx((3 - 7) + (5 - 2))
    assert fixed.pieces_after.tolist() == [1, 1]


def test_no_move_when_neither_a_move_nor_a_swap_keeps_the_bounds():
    # cell 2 carries 2: giving it back would leave site 1 below its minimum of 3
    adjacency, costs, assignment = strip_problem()
    loads = np.array([1.0, 1.0, 2.0, 1.0, 1.0])
    fixed = repair_contiguity(assignment, adjacency, costs, np.ones(5), loads,
                              low=np.array([3.0, 3.0]), high=np.array([4.0, 3.0]))  # fmt: skip
    assert fixed.assignment.tolist() == assignment.tolist()
    assert fixed.added_cost == 0.0 and fixed.pieces_after.tolist() == [2, 1]


def test_no_move_beyond_the_reach_of_the_receiver():
    adjacency, costs, assignment = strip_problem()
    costs = costs.tolil()
    costs[4, 1] = 0
    costs = costs.tocsr()
    costs.eliminate_zeros()
    for low in ([2.0, 2.0], [3.0, 2.0]):  # neither a move nor a swap
        fixed = repair_contiguity(assignment, adjacency, costs, np.ones(5), np.ones(5),
                                  low=np.array(low), high=np.full(2, 3.0))  # fmt: skip
        assert fixed.assignment.tolist() == assignment.tolist()


def test_repair_keeps_rows_within_their_unit():
    adjacency, costs, assignment = strip_problem()
    units = (np.array(["a", "a", "a", "a", "a"]), np.array(["a", "b"]))
    fixed = repair_contiguity(assignment, adjacency, costs, np.ones(5), np.ones(5),
                              low=np.full(2, 2.0), high=np.full(2, 3.0),
                              same_unit=units)  # fmt: skip
    assert fixed.assignment.tolist() == assignment.tolist()


@pytest.mark.parametrize("seed", range(8))
def test_repair_on_random_grids_keeps_every_bound_and_never_adds_pieces(seed):
    rng = np.random.default_rng(seed)
    cells = grid_cells(8, 8)
    n, m = len(cells), 6
    adjacency = cell_adjacency(cells, gap_m=0.0)
    costs = sp.csr_matrix(rng.uniform(1, 10, (n, m)) * (rng.random((n, m)) < 0.8))
    assignment = np.full(n, -1)
    for i in range(n):
        allowed = costs[i].indices
        if len(allowed) and rng.random() < 0.95:
            assignment[i] = rng.choice(allowed)
    loads = rng.integers(1, 4, n).astype(float)
    site_load = np.bincount(assignment[assignment >= 0], loads[assignment >= 0], minlength=m)
    low, high = site_load - 6.0, site_load + 6.0  # the starting loads are within bounds
    weights = rng.uniform(0.5, 2.0, n)
    fixed = repair_contiguity(assignment, adjacency, costs, weights, loads, low, high)
    new = fixed.assignment
    assert ((new < 0) == (assignment < 0)).all()  # no cell served or unserved anew
    new_load = np.bincount(new[new >= 0], loads[new >= 0], minlength=m)
    assert (new_load >= low - 1e-9).all() and (new_load <= high + 1e-9).all()
    served = np.flatnonzero(new >= 0)
    assert (np.asarray(costs[served, new[served]]).ravel() > 0).all()  # allowed pairs only

    def cost(a):
        rows = np.flatnonzero(a >= 0)
        return float(weights[rows] @ np.asarray(costs[rows, a[rows]]).ravel())

    assert fixed.added_cost == pytest.approx(cost(new) - cost(assignment))
    assert (fixed.pieces_after <= fixed.pieces_before).all()
    assert fixed.pieces_after.tolist() == area_pieces(adjacency, new, m).tolist()
    assert set(fixed.moved_rows.tolist()) == set(np.flatnonzero(new != assignment).tolist())
