"""The exact p-median path: LP branch and bound, its bounds, its reductions, known optima.

Truth comes from outside the code under test: brute force over every site set on small
instances (uniform random costs, whose LP relaxations have gaps, so that fixing and branching
are exercised), and the published OR-Library optima.
"""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from svcnet.models import PMedian, verify
from svcnet.models._data import as_cost_data
from svcnet.solvers import pmedian as heur

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"
if not BENCH.exists():  # CI lays shared/ beside the clone; a checkout elsewhere may not have it
    BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "bench"
needs_bench = pytest.mark.skipif(not BENCH.exists(), reason="../shared/bench not present")

# p-median optima (Beasley 1985) and whether the LP relaxation leaves a gap (checked with HiGHS)
ORLIB = {1: (5819, False), 2: (4093, True), 3: (4250, True), 4: (3034, False),
         5: (1355, False), 6: (7824, True), 7: (5631, False), 8: (4445, False),
         9: (2734, False), 10: (1255, False)}  # fmt: skip


def _orlib(k):
    lines = (BENCH / "orlib" / f"pmed{k}.txt").read_text().split("\n")
    n, m, p = map(int, lines[0].split())
    edges = {}
    for line in lines[1 : 1 + m]:
        i, j, c = map(int, line.split())
        edges[(min(i, j), max(i, j))] = c  # a repeated edge keeps its LAST cost
    rows, cols = zip(*[(i - 1, j - 1) for i, j in edges], strict=True)
    graph = sp.csr_matrix((list(edges.values()), (rows, cols)), shape=(n, n))
    return shortest_path(graph, directed=False), p


def _brute(costs, weights, p, state, penalty=None):
    """Optimum over every p-set that opens the forced sites and avoids the closed ones."""
    forced = [j for j in range(costs.shape[1]) if state[j] == 1]
    free = [j for j in range(costs.shape[1]) if state[j] == 0]
    best = math.inf
    for extra in itertools.combinations(free, p - len(forced)):
        nearest = costs[:, forced + list(extra)].min(axis=1)
        if penalty is not None:
            nearest = np.minimum(nearest, penalty)
        if np.isfinite(nearest).all():
            best = min(best, float((weights * nearest).sum()))
    return best


def _gappy(seed, n=30, m=16):
    """Uniform random costs (integral for even seeds), some pairs absent, integer weights."""
    rng = np.random.default_rng(seed)
    costs = rng.uniform(1, 100, (n, m))
    if seed % 2 == 0:
        costs = np.round(costs)
    absent = rng.random((n, m)) < 0.25
    absent[np.arange(n), rng.integers(0, m, n)] = False
    costs[absent] = np.inf
    return costs, rng.integers(1, 6, n).astype(float), rng


def _state(m, existing=(), forbidden=()):
    state = np.zeros(m, dtype=np.int8)
    state[list(forbidden)] = -1
    state[list(existing)] = 1
    return state


# ---------------------------------------------------------------------------- known optima


@needs_bench
@pytest.mark.parametrize("k", sorted(ORLIB))
def test_orlib_exact_optimum_with_certified_bound(k):
    costs, p = _orlib(k)
    optimum, lp_gap = ORLIB[k]
    model = PMedian.from_cost_matrix(costs, None, p=p)
    sol = model.solve(method="exact")
    verify(sol, model)
    assert sol.objective == optimum and sol.bound == optimum
    assert sol.status == "optimal" and sol.gap == 0.0
    assert sol.method == "local search + LP branch and bound"
    root = sol.details["root_bound"]
    assert root <= optimum
    if lp_gap:  # the LP relaxation alone cannot prove it: fixing and branching did
        assert root < optimum and sol.details["nodes"] > 1
    else:
        assert root == optimum and sol.details["nodes"] == 1


# ---------------------------------------------------------------------------- bounds


@pytest.mark.parametrize("seed", range(6))
def test_lagrangian_value_never_exceeds_the_optimum(seed):
    costs, weights, rng = _gappy(seed, n=9, m=7)
    p = 3
    penalty = 40.0 if seed % 3 == 0 else None
    data = as_cost_data(costs)
    pairs = heur.Pairs.from_csr(data.matrix, weights, np.ones(7, bool), penalty=penalty)
    states = [_state(7), _state(7, existing=[1]), _state(7, forbidden=[0, 2]),
              _state(7, existing=[3], forbidden=[4])]  # fmt: skip
    for state in states:
        optimum = _brute(costs, weights, p, state, penalty)
        nearest = np.nan_to_num(np.min(costs, axis=1), posinf=100.0) * weights
        for scale in (0.0, 0.5, 1.0, 1.5, 3.0):
            for _ in range(5):
                u = nearest * scale + rng.normal(0, 20, 9)
                value, _, slack = heur.lagrangian_value(pairs, u, p, state)
                assert value - slack <= optimum + 1e-9


def test_reduce_pairs_keeps_every_assignment_cost():
    costs, weights, _ = _gappy(3, n=12, m=8)
    data = as_cost_data(costs)
    allowed = np.ones(8, bool)
    allowed[5] = False
    pairs = heur.Pairs.from_csr(data.matrix, weights, allowed)
    for existing in (np.array([], int), np.array([2])):
        reduced = heur.reduce_pairs(pairs, 4, existing, allowed)
        assert len(reduced.vals) < len(pairs.vals)
        for s in itertools.combinations(np.flatnonzero(allowed), 4):
            if not set(existing) <= set(s):
                continue
            is_open = np.zeros(8, bool)
            is_open[list(s)] = True
            assert heur.assignment_cost(reduced, is_open) == heur.assignment_cost(pairs, is_open)


def test_restricted_lp_grows_to_the_full_lp():
    costs, weights, _ = _gappy(5, n=30, m=12)
    pairs = heur.Pairs.from_csr(as_cost_data(costs).matrix, weights, np.ones(12, bool))
    state = _state(12)
    values = []
    for kept in (np.ones(30, int), np.full(30, 12)):
        lp = heur._RadiusLP(pairs, 4, kept, seed=0)
        while True:
            status, y, z, u, objective = lp.solve(state, None)
            short = np.flatnonzero(lp.relaxed() & (z > 1e-9))
            if status != "optimal" or short.size == 0:
                break
            lp.grow(short)
        assert status == "optimal"
        value, _, slack = heur.lagrangian_value(pairs, u, 4, state)
        assert value == pytest.approx(objective, rel=1e-9)  # duals give back the LP value
        values.append(objective)
    assert values[0] == pytest.approx(values[1], rel=1e-9)
    assert values[0] <= _brute(costs, weights, 4, state) + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_branch_and_bound_bound_is_valid_when_stopped_early(seed):
    costs, weights, _ = _gappy(seed, n=30, m=13)
    p = 4
    optimum = _brute(costs, weights, p, _state(13))
    pairs = heur.Pairs.from_csr(as_cost_data(costs).matrix, weights, np.ones(13, bool))
    none, allowed = np.array([], int), np.ones(13, bool)
    start = heur.greedy(pairs, p, none, allowed)
    cost = heur.assignment_cost(pairs, start)
    for max_nodes in (0, 1, 2, None):
        result = heur.branch_and_bound(pairs, p, none, allowed, best_open=start, best_cost=cost,
                                       integral=seed % 2 == 0, max_nodes=max_nodes)  # fmt: skip
        assert result.bound <= optimum + 1e-9 <= result.best_cost + 2e-9
        assert result.best_open.sum() == p
        assert heur.assignment_cost(pairs, result.best_open) == result.best_cost
        if max_nodes is None:
            assert result.proven and result.best_cost == pytest.approx(optimum)


# ---------------------------------------------------------------------------- the model


@pytest.mark.parametrize("seed", range(10))
def test_exact_matches_brute_force_where_the_lp_has_gaps(seed):
    costs, weights, rng = _gappy(seed)
    m = costs.shape[1]
    p = 3 + seed % 3
    existing = [int(rng.integers(0, m))] if seed % 3 == 1 else []
    forbidden = [j for j in range(m) if j not in existing][:2] if seed % 4 == 2 else []
    penalty = 45.0 if seed % 5 == 3 else None
    expected = _brute(costs, weights, p, _state(m, existing, forbidden), penalty)
    model = PMedian.from_cost_matrix(costs, weights, p=p, existing=existing, forbidden=forbidden,
                                     unserved_penalty=penalty)  # fmt: skip
    sol = model.solve(method="exact")
    verify(sol, model)
    assert sol.objective == pytest.approx(expected) and sol.status == "optimal"
    assert sol.gap == 0.0 and sol.bound <= expected + 1e-9
    for gap in (0.01, 0.1):
        sol = model.solve(method="exact", mip_gap=gap)
        verify(sol, model)
        assert sol.bound <= expected + 1e-9 <= sol.objective + 2e-9
        assert sol.gap <= gap and sol.status in ("optimal", "within_gap")
    sol = model.solve(method="heuristic")
    verify(sol, model)
    assert sol.bound <= expected + 1e-9 <= sol.objective + 2e-9


def test_exact_is_deterministic():
    costs, weights, _ = _gappy(11, n=60, m=25)
    model = PMedian.from_cost_matrix(costs, weights, p=6)
    first, second = model.solve(method="exact", seed=3), model.solve(method="exact", seed=3)
    assert first.selected.tolist() == second.selected.tolist()
    assert (first.objective, first.bound) == (second.objective, second.bound)
    assert first.details["nodes"] == second.details["nodes"]
