"""The population-bounded p-median: brute force, bounds, reduction and the heuristic path.

Truth here is independent of the solver: exhaustive search over assignments on
tiny instances, HiGHS's MILP optimum and LP relaxation on moderate ones.
"""

import math
import time

import numpy as np
import pytest
import scipy.sparse as sp

from svcnet.errors import InfeasibleError
from svcnet.models import PMedian, verify
from svcnet.solvers import bounded
from svcnet.solvers import bounded_lagrange as lagr
from svcnet.solvers import bounded_search as search
from svcnet.solvers.bounded_greedy import greedy_areas
from svcnet.solvers.bounded_instance import Part, reduce_problem, tiles

# ---------------------------------------------------------------------------- brute force


def brute_force(costs, weights, loads, low, cap, *, p=None, penalty=None, existing=()):
    """Exact optimum by depth-first search over every row's site (or unserved).

    ``costs`` is dense with ``inf`` for pairs not allowed. Returns ``inf`` when
    no solution exists.
    """
    n, m = costs.shape
    existing = set(existing)
    options = []
    for i in range(n):
        row = [(float(weights[i] * costs[i, j]), j) for j in range(m) if np.isfinite(costs[i, j])]
        if penalty is not None:
            row = [(c, j) for c, j in row if costs[i, j] <= penalty]
            row.append((float(weights[i] * penalty), -1))
        options.append(sorted(row))
    cheapest = [min(c for c, _ in row) if row else math.inf for row in options]
    rest = np.concatenate([np.cumsum(cheapest[::-1])[::-1], [0.0]])
    best = [math.inf]
    load = np.zeros(m)

    def done(cost):
        used = {j for j in range(m) if load[j] > 0}
        opened = used | existing
        if any(not (low[j] - 1e-9 <= load[j] <= cap[j] + 1e-9) for j in opened):
            return
        if p is not None:
            spare = [j for j in range(m) if j not in opened and low[j] <= 0]
            if not len(opened) <= p <= len(opened) + len(spare):
                return
        best[0] = min(best[0], cost)

    def visit(i, cost):
        if cost + rest[i] >= best[0] - 1e-9:
            return
        if i == n:
            done(cost)
            return
        for c, j in options[i]:
            if j >= 0:
                if load[j] + loads[i] > cap[j] + 1e-9:
                    continue
                load[j] += loads[i]
                visit(i + 1, cost + c)
                load[j] -= loads[i]
            else:
                visit(i + 1, cost + c)

    visit(0, 0.0)
    return best[0]


def _instance(seed, n=9, m=5, density=0.6):
    rng = np.random.default_rng(seed)
    xy_d, xy_s = rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2))
    costs = np.hypot(*(xy_d[:, None, :] - xy_s[None, :, :]).transpose(2, 0, 1)).round(2)
    costs[rng.random((n, m)) > density] = np.inf
    costs[np.arange(n), rng.integers(0, m, n)] = rng.uniform(0.5, 3, n).round(2)
    weights = rng.integers(1, 6, n).astype(float)
    loads = rng.integers(1, 8, n).astype(float)
    total = loads.sum()
    low = np.full(m, float(np.floor(total / 5)))
    cap = np.full(m, float(np.ceil(total / 2.5)))
    return costs, weights, loads, low, cap


CASES = [
    # (seed, p, penalty, existing)
    *[(s, None, None, ()) for s in range(4)],
    *[(s, 2, None, ()) for s in range(4, 7)],
    *[(s, None, 4.0, ()) for s in range(7, 11)],
    *[(s, 3, 6.0, ()) for s in range(11, 13)],
    *[(s, None, 5.0, (1,)) for s in range(13, 15)],
]


@pytest.mark.parametrize("seed, p, penalty, existing", CASES)
@pytest.mark.parametrize("method", ["auto", "heuristic"])
def test_bounded_matches_brute_force(seed, p, penalty, existing, method):
    costs, weights, loads, low, cap = _instance(seed)
    expected = brute_force(costs, weights, loads, low, cap, p=p, penalty=penalty,
                           existing=existing)  # fmt: skip

    def build():
        return PMedian.from_cost_matrix(costs, weights, p=p, capacity=cap, min_load=low,
                                        loads=loads, unserved_penalty=penalty,
                                        existing=list(existing))  # fmt: skip

    if not math.isfinite(expected):
        with pytest.raises(InfeasibleError):
            build().solve(method=method)
        return
    model = build()
    sol = model.solve(method=method, seed=seed)
    verify(sol, model)
    assert sol.bound <= expected + 1e-6 * max(1.0, expected)
    if method == "auto":
        assert sol.objective == pytest.approx(expected)
        assert sol.status == "optimal"
    else:
        assert sol.objective >= expected - 1e-6 * max(1.0, expected)


@pytest.mark.parametrize("seed", [7, 8, 9, 10])
@pytest.mark.parametrize("how", ["no bound", "no answer"])
def test_a_small_part_keeps_a_valid_bound_when_its_milp_gives_none(seed, how, monkeypatch):
    # the MILP stopped before its first LP (bound -inf) or failed: the bound must still be
    # finite and at most the optimum (a fixed site set's LP value is not a bound)
    import dataclasses

    costs, weights, loads, low, cap = _instance(seed)
    expected = brute_force(costs, weights, loads, low, cap, penalty=4.0)
    real = search.region_milp

    def crippled(*args, **kwargs):
        if how == "no answer":
            raise bounded.SolverError("stopped")
        found = real(*args, **kwargs)
        return dataclasses.replace(found, result=dataclasses.replace(found.result, bound=-math.inf))

    monkeypatch.setattr(search, "region_milp", crippled)
    model = PMedian.from_cost_matrix(costs, weights, p=None, capacity=cap, min_load=low,
                                     loads=loads, unserved_penalty=4.0)  # fmt: skip
    sol = model.solve(seed=seed)
    verify(sol, model)
    assert math.isfinite(sol.bound) and sol.bound <= expected + 1e-6 * max(1.0, expected)
    assert sol.objective >= expected - 1e-6 * max(1.0, expected)


@pytest.mark.parametrize("seed", range(3))
def test_large_path_brute_force(seed):
    """The heuristic + bounds path (forced by exact_pairs=0) is exact on tiny instances."""
    costs, weights, loads, low, cap = _instance(40 + seed)
    expected = brute_force(costs, weights, loads, low, cap, penalty=5.0)
    model = PMedian.from_cost_matrix(costs, weights, p=None, capacity=cap, min_load=low,
                                     loads=loads, unserved_penalty=5.0)  # fmt: skip
    out = bounded.solve(model._bounded_problem(), exact_pairs=0, seed=seed)
    tol = 1e-6 * max(1.0, expected)
    assert out.bound <= expected + tol
    assert out.objective >= expected - tol
    served = out.assignment >= 0
    load = np.bincount(out.assignment[served], loads[served], minlength=costs.shape[1])
    opened = np.flatnonzero(out.is_open)
    assert ((load[opened] >= low[opened] - 1e-9) & (load[opened] <= cap[opened] + 1e-9)).all()


# ---------------------------------------------------------------------------- bounds


def _moderate(seed, n=60, m=18, cutoff=4.0, penalty=None, shares=(4, 7)):
    """Random points on a 10 x 10 square; each site serves between total/shares[1] and
    total/shares[0] of the weight."""
    rng = np.random.default_rng(seed)
    xy_d = rng.uniform(0, 10, (n, 2))
    xy_s = rng.uniform(0, 10, (m, 2))
    dist = np.hypot(*(xy_d[:, None, :] - xy_s[None, :, :]).transpose(2, 0, 1))
    dist[dist > cutoff] = np.inf
    weights = rng.integers(1, 30, n).astype(float)
    total = weights.sum()
    model = PMedian.from_cost_matrix(
        dist,
        weights,
        p=None,
        capacity=total / shares[0],
        min_load=total / shares[1],
        unserved_penalty=penalty or 6.0,
    )
    return model


@pytest.mark.parametrize("seed", range(4))
def test_lagrangian_bound_between_lp_and_optimum(seed):
    model = _moderate(seed)
    problem = model._bounded_problem()
    optimum = model.solve(method="exact", seed=0)
    assert optimum.status == "optimal"
    lp = bounded.lp_bound(problem)
    reduced = reduce_problem(problem, split=False)
    (part,) = reduced.parts
    result = lagr.subgradient(part, upper=optimum.objective - reduced.constant,
                              max_iterations=4000)  # fmt: skip
    bound = result.bound + reduced.constant
    tol = 2e-3 * abs(lp)
    assert bound >= lp - tol
    assert bound <= optimum.objective + 1e-6 * abs(optimum.objective)


def test_exact_knapsack_is_at_least_its_lp():
    rng = np.random.default_rng(3)
    for _ in range(50):
        k = int(rng.integers(1, 9))
        red = rng.normal(0, 5, k)
        loads = rng.integers(1, 6, k)
        lo, hi = float(rng.integers(0, 8)), float(rng.integers(8, 14))
        part = Part.build(np.arange(k), np.zeros(k, int), red, load=loads.astype(float),
                          lo=np.array([lo]), hi=np.array([hi]), fallback=np.zeros(k),
                          penalized=True, existing=np.zeros(1, bool), p=None,
                          row_ids=np.arange(k), site_ids=np.arange(1))  # fmt: skip
        value_lp = knapsack_value = lagr.knapsack_lp(part, red)[0][0]
        knapsack_value = lagr.knapsack_exact(red, loads, lo, hi)
        truth = min(
            (float(red[list(c)].sum()) for c in _all_subsets(k)
             if lo <= loads[list(c)].sum() <= hi),
            default=math.inf,
        )  # fmt: skip
        assert knapsack_value == pytest.approx(truth)
        if math.isfinite(truth):
            assert value_lp <= truth + 1e-9


def _all_subsets(k):
    for mask in range(1 << k):
        yield [i for i in range(k) if mask >> i & 1]


def test_saturating_knapsack_without_capacity():
    red = np.array([-3.0, 2.0, 1.0, -1.0])
    loads = np.array([2, 3, 4, 1])
    # best: items 0, 2 and 3 (load 7, cost -3) beats items 0, 1 and 3 (load 6, cost -2)
    assert lagr.knapsack_exact(red, loads, 6, math.inf) == pytest.approx(-3.0)


@pytest.mark.parametrize("seed", range(3))
def test_relaxation_and_time_limit_keep_a_valid_bound(seed):
    model = _moderate(10 + seed, n=50, m=16)
    optimum = model.solve(method="exact")
    out = bounded.solve(model._bounded_problem(), exact_pairs=0, seed=seed,
                        deadline=time.perf_counter() + 20)  # fmt: skip
    assert out.bound <= optimum.objective + 1e-6 * optimum.objective
    assert out.objective >= optimum.objective - 1e-6 * optimum.objective
    sol = model.solve(time_limit=2.0, method="heuristic")
    verify(sol, model)
    assert sol.bound <= optimum.objective + 1e-6 * optimum.objective


# ---------------------------------------------------------------------------- structure


def test_components_add_up():
    a, b = _moderate(21, n=30, m=10), _moderate(22, n=30, m=10)
    ca, cb = a.costs.toarray(), b.costs.toarray()
    ca[ca == 0], cb[cb == 0] = np.inf, np.inf
    costs = np.full((60, 20), np.inf)
    costs[:30, :10], costs[30:, 10:] = ca, cb
    weights = np.concatenate([a.weights, b.weights])
    low = np.concatenate([a.min_load, b.min_load])
    cap = np.concatenate([a.capacity, b.capacity])
    joined = PMedian.from_cost_matrix(costs, weights, p=None, capacity=cap, min_load=low,
                                      unserved_penalty=6.0)  # fmt: skip
    reduced = reduce_problem(joined._bounded_problem())
    assert len(reduced.parts) >= 2
    sol = joined.solve(method="exact")
    verify(sol, joined)
    sa, sb = a.solve(method="exact"), b.solve(method="exact")
    assert sol.objective == pytest.approx(sa.objective + sb.objective)


def test_unservable_rows_and_useless_sites_are_reduced():
    costs = np.array([[1.0, np.inf, np.inf], [2.0, np.inf, np.inf], [np.inf, np.inf, np.inf],
                      [np.inf, 1.0, np.inf]])  # fmt: skip
    model = PMedian.from_cost_matrix(sp.csr_matrix(np.where(np.isinf(costs), 0, costs)),
                                     [3, 3, 5, 1], p=None, capacity=10, min_load=4,
                                     unserved_penalty=10.0)  # fmt: skip
    reduced = reduce_problem(model._bounded_problem())
    assert reduced.unservable.tolist() == [2, 3]
    assert reduced.closed_sites.tolist() == [1, 2]
    sol = model.solve()
    verify(sol, model)
    assert sol.selected.tolist() == [0]
    assert sol.objective == pytest.approx(3 * 1 + 3 * 2 + 5 * 10 + 1 * 10)
    assert sol.details["unservable_rows"] == 2


def test_must_serve_infeasible_is_reported():
    # site 1 can reach only row 2 (load 2 < 5): row 2 has no site that can serve it
    costs = np.array([[1.0, np.inf], [1.0, np.inf], [np.inf, 1.0]])
    with pytest.raises(InfeasibleError, match="no site"):
        PMedian.from_cost_matrix(costs, [3, 3, 2], p=None, capacity=6, min_load=5).solve()


def test_tiles_give_a_solution_of_the_whole():
    model = _moderate(31, n=120, m=30, cutoff=3.0)
    (part,) = reduce_problem(model._bounded_problem(), split=False).parts
    pieces = tiles(part, part.q // 3)
    assert len(pieces) >= 2
    assert sorted(np.concatenate([t.row_ids for t in pieces]).tolist()) == list(range(part.n))
    assignment = np.full(part.n, -1)
    is_open = np.zeros(part.m, dtype=bool)
    for piece in pieces:
        lp = search.TransportLP(piece)
        found = search.site_search(piece, lp, deadline=None)
        local, opened = search.round_assignment(piece, lp.x(), lp.z(), found.is_open,
                                                deadline=None)  # fmt: skip
        assignment[piece.row_ids[local >= 0]] = piece.site_ids[local[local >= 0]]
        is_open[piece.site_ids[opened]] = True
    assert search.feasible(part, assignment, is_open)


def test_transport_lp_is_a_lower_bound_for_its_sites():
    model = _moderate(41)
    (part,) = reduce_problem(model._bounded_problem(), split=False).parts
    lp = search.TransportLP(part)
    found = search.site_search(part, lp, deadline=None)
    rounded = search.round_assignment(part, lp.x(), lp.z(), found.is_open, deadline=None)
    assert rounded is not None
    assignment, is_open = rounded
    assert search.feasible(part, assignment, is_open)
    # the LP over the rounded solution's sites is at most its single-sourcing cost
    assert lp.set_open(is_open) <= part.objective(assignment) + 1e-6


def test_same_seed_same_plan():
    model = _moderate(51, n=50, m=16)
    one = bounded.solve(model._bounded_problem(), exact_pairs=0, seed=3)
    two = bounded.solve(model._bounded_problem(), exact_pairs=0, seed=3)
    assert np.array_equal(one.assignment, two.assignment)
    assert one.objective == two.objective


def test_fixed_p_heuristic_keeps_p():
    costs, weights, loads, low, cap = _instance(61, n=9, m=6)
    model = PMedian.from_cost_matrix(costs, weights, p=3, capacity=cap * 2, min_load=low / 2,
                                     loads=loads, unserved_penalty=8.0)  # fmt: skip
    expected = brute_force(costs, weights, loads, low / 2, cap * 2, p=3, penalty=8.0)
    out = bounded.solve(model._bounded_problem(), exact_pairs=0)
    assert int(out.is_open.sum()) == 3
    tol = 1e-6 * max(1.0, expected)
    assert out.bound <= expected + tol
    assert out.objective >= expected - tol


@pytest.mark.parametrize("seed", range(6))
def test_greedy_repair_makes_any_start_feasible(seed):
    """From a random, badly infeasible start (every row on a random site of its own, every
    site open) the greedy repair returns a feasible plan, and leaves its inputs alone."""
    model = _moderate(60 + seed, n=80, m=20, cutoff=3.0)
    (part,) = reduce_problem(model._bounded_problem(), split=False).parts
    rng = np.random.default_rng(seed)
    start = np.full(part.n, -1, dtype=np.int64)
    for i in range(part.n):
        pairs = part.row_pairs(i)
        if pairs.size:
            start[i] = part.cols[rng.choice(pairs)]
    is_open = np.ones(part.m, dtype=bool)
    before = start.copy()
    out = search.greedy_repair(part, start, is_open)
    assert np.array_equal(start, before) and is_open.all()
    if part.penalized:
        assert out is not None
    if out is not None:
        assignment, opened = out
        assert search.feasible(part, assignment, opened)
        served = assignment >= 0
        assert opened[assignment[served]].all()


@pytest.mark.parametrize("seed", range(6))
def test_greedy_areas_are_feasible_and_no_better_than_the_optimum(seed):
    """The greedy start: feasible (windows, pairs, existing sites open), and its cost at least
    the brute-force optimum."""
    from svcnet.solvers.bounded_greedy import greedy_areas

    existing = (1,) if seed % 2 else ()
    costs, weights, loads, low, cap = _instance(80 + seed)
    expected = brute_force(costs, weights, loads, low, cap, penalty=5.0, existing=existing)
    if not math.isfinite(expected):  # the existing site cannot reach its minimum: go without
        existing = ()
        expected = brute_force(costs, weights, loads, low, cap, penalty=5.0)
    model = PMedian.from_cost_matrix(costs, weights, p=None, capacity=cap, min_load=low,
                                     loads=loads, unserved_penalty=5.0,
                                     existing=list(existing))  # fmt: skip
    reduced = reduce_problem(model._bounded_problem(), split=False)
    (part,) = reduced.parts
    found = greedy_areas(part)
    assert found is not None
    assignment, is_open = found
    assert search.feasible(part, assignment, is_open)
    assert is_open[part.existing].all()
    assert part.objective(assignment) + reduced.constant >= expected - 1e-6 * max(1.0, expected)


def test_greedy_areas_serve_separate_clusters_whole():
    """Two clusters of 3 rows, each reached by its own site only: both open, nobody unserved."""
    from svcnet.solvers.bounded_greedy import greedy_areas

    rows = np.array([0, 1, 2, 3, 4, 5])
    part = Part.build(rows, np.array([0, 0, 0, 1, 1, 1]), np.array([1.0, 2, 3, 1, 2, 3]),
                      load=np.full(6, 5.0), lo=np.full(2, 10.0), hi=np.full(2, 15.0),
                      fallback=np.full(6, 100.0), penalized=True, existing=np.zeros(2, bool),
                      p=None, row_ids=np.arange(6), site_ids=np.arange(2))  # fmt: skip
    assignment, is_open = greedy_areas(part)
    assert assignment.tolist() == [0, 0, 0, 1, 1, 1] and is_open.tolist() == [True, True]


def test_lns_moves_to_large_regions_when_small_ones_stall(monkeypatch):
    """With a deadline, the region search goes on with large regions once small ones stop
    improving; its plan stays feasible, its objective is recomputed from the rows, and it is
    no better than the MILP optimum of the whole part."""
    model = _moderate(90, n=240, m=48, cutoff=3.0, shares=(10, 16))
    (part,) = reduce_problem(model._bounded_problem(), split=False).parts
    start = greedy_areas(part)
    assert start is not None and start[1].sum() >= 6
    sizes = []
    real_region = search._region

    def spy(part_, assignment, is_open, seed_site, size):
        sizes.append(size)
        return real_region(part_, assignment, is_open, seed_site, size)

    monkeypatch.setattr(search, "_region", spy)
    before = part.objective(start[0])
    assignment, is_open, objective, regions = search.lns(
        part, *start, deadline=time.perf_counter() + 60.0, size=2, max_size=3,
        region_seconds=2.0, large=(6, 6, 5.0),
    )  # fmt: skip
    assert max(sizes) == 6 and min(sizes) == 2 and 0 < regions <= len(sizes)
    assert search.feasible(part, assignment, is_open)
    assert objective == pytest.approx(part.objective(assignment)) and objective <= before
    exact = search.region_milp(part, np.arange(part.n), np.arange(part.m), time_limit=60)
    assert exact.result.status == "optimal"
    assert objective >= exact.result.objective - 1e-6 * abs(objective)
