"""Location models against independent truth: brute force, known optima, hand-made cases."""

import itertools
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from svcnet.errors import InfeasibleError, InputError
from svcnet.models import LSCP, MCLP, PCenter, PMedian, verify

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"
if not BENCH.exists():  # CI lays shared/ beside the clone; a checkout elsewhere may not have it
    BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "bench"

# ---------------------------------------------------------------------------- brute force


def _subsets(m, existing, forbidden, sizes):
    free = [j for j in range(m) if j not in existing and j not in forbidden]
    for size in sizes:
        extra = size - len(existing)
        if extra < 0 or extra > len(free):
            continue
        for combo in itertools.combinations(free, extra):
            yield sorted([*existing, *combo])


def _nearest(costs, subset):
    return np.min(costs[:, subset], axis=1) if subset else np.full(costs.shape[0], np.inf)


def brute_lscp(costs, radius, needed, existing, forbidden):
    m = costs.shape[1]
    for size in range(len(existing), m + 1):
        for s in _subsets(m, existing, forbidden, [size]):
            if (_nearest(costs, s)[needed] <= radius).all():
                return size
    return None


def brute_mclp(costs, weights, radius, p, existing, forbidden):
    return max(
        float(weights[_nearest(costs, s) <= radius].sum())
        for s in _subsets(costs.shape[1], existing, forbidden, [p])
    )


def brute_pmedian(costs, weights, p, existing, forbidden):
    best = math.inf
    for s in _subsets(costs.shape[1], existing, forbidden, [p]):
        d = _nearest(costs, s)
        if np.isfinite(d).all():
            best = min(best, float((weights * d).sum()))
    return best


def brute_bounded(costs, weights, loads, sizes, cap, low, existing, forbidden):
    n, best = costs.shape[0], math.inf
    for s in _subsets(costs.shape[1], existing, forbidden, sizes):
        for assign in itertools.product(s, repeat=n):
            c = costs[np.arange(n), list(assign)]
            if not np.isfinite(c).all():
                continue
            load = np.bincount(assign, loads, minlength=costs.shape[1])
            if all(low[j] <= load[j] <= cap[j] for j in s):
                best = min(best, float((weights * c).sum()))
    return best


def brute_pcenter(costs, weights, p, existing, forbidden):
    needed = weights > 0
    return min(
        float((weights * _nearest(costs, s))[needed].max())
        for s in _subsets(costs.shape[1], existing, forbidden, [p])
    )


def _instance(seed, n=8, m=6, sparse_share=0.25):
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 100, (n, 2))
    sites = rng.uniform(0, 100, (m, 2))
    costs = np.round(np.hypot(*(demand[:, None, :] - sites[None, :, :]).transpose(2, 0, 1)), 1)
    costs[0, 0] = 0.0  # a true zero cost must survive the sparse form
    mask = rng.random((n, m)) < sparse_share
    mask[np.arange(n), np.argmin(costs, axis=1)] = False  # every row keeps its nearest site
    costs[mask] = np.inf
    weights = rng.integers(1, 10, n).astype(float)
    return costs, weights, rng


def _as_sparse(costs):
    rows, cols = np.nonzero(np.isfinite(costs))
    return sp.csr_matrix((costs[rows, cols], (rows, cols)), shape=costs.shape)


def _variants(costs):
    # the dense array, and a scipy.sparse matrix where absent means beyond the cutoff
    sparse = _as_sparse(costs)
    assert sparse.nnz == np.isfinite(costs).sum()  # explicit zero costs are stored entries
    return [costs, sparse]


SEEDS = range(8)


@pytest.mark.parametrize("seed", SEEDS)
def test_lscp_matches_brute_force(seed):
    costs, weights, rng = _instance(seed)
    radius = float(np.quantile(costs[np.isfinite(costs)], 0.45))
    weights[rng.integers(0, len(weights))] = 0.0  # a weightless row needs no cover
    existing = [int(rng.integers(0, costs.shape[1]))] if seed % 2 else []
    forbidden = [j for j in range(costs.shape[1]) if j not in existing][:1] if seed % 3 == 0 else []
    needed = weights > 0
    expected = brute_lscp(costs, radius, needed, existing, forbidden)
    for variant in _variants(costs):
        if expected is None:
            with pytest.raises(InfeasibleError, match="no allowed site within the radius"):
                LSCP.from_cost_matrix(variant, radius=radius, weights=weights, existing=existing,
                                      forbidden=forbidden)  # fmt: skip
            continue
        model = LSCP.from_cost_matrix(variant, radius=radius, weights=weights, existing=existing,
                                      forbidden=forbidden)  # fmt: skip
        sol = model.solve()
        verify(sol, model)
        assert sol.objective == expected and sol.status == "optimal" and sol.gap == 0.0


@pytest.mark.parametrize("seed", SEEDS)
def test_mclp_matches_brute_force(seed):
    costs, weights, rng = _instance(seed)
    radius = float(np.quantile(costs[np.isfinite(costs)], 0.3))
    p = 2 + seed % 2
    existing = [int(rng.integers(0, costs.shape[1]))] if seed % 2 else []
    forbidden = [j for j in range(costs.shape[1]) if j not in existing][:2] if seed % 3 == 0 else []
    expected = brute_mclp(costs, weights, radius, p, existing, forbidden)
    for variant in _variants(costs):
        model = MCLP.from_cost_matrix(variant, weights, radius=radius, p=p, existing=existing,
                                      forbidden=forbidden)  # fmt: skip
        sol = model.solve()
        verify(sol, model)
        assert sol.objective == pytest.approx(expected)
        assert sol.upper_bound == pytest.approx(expected) and sol.status == "optimal"


@pytest.mark.parametrize("method", ["auto", "exact", "heuristic"])
@pytest.mark.parametrize("seed", SEEDS)
def test_pmedian_matches_brute_force(seed, method):
    costs, weights, rng = _instance(seed, n=9, m=7)
    p = 2 + seed % 3
    existing = [int(rng.integers(0, costs.shape[1]))] if seed % 2 else []
    forbidden = [j for j in range(costs.shape[1]) if j not in existing][:1] if seed % 3 == 0 else []
    expected = brute_pmedian(costs, weights, p, existing, forbidden)
    for variant in _variants(costs):
        if not math.isfinite(expected):
            with pytest.raises(InfeasibleError):
                PMedian.from_cost_matrix(variant, weights, p=p, existing=existing,
                                         forbidden=forbidden).solve(method=method)  # fmt: skip
            continue
        model = PMedian.from_cost_matrix(variant, weights, p=p, existing=existing,
                                         forbidden=forbidden)  # fmt: skip
        sol = model.solve(method=method)
        verify(sol, model)
        if method == "heuristic":
            assert sol.objective >= expected - 1e-9
            assert sol.lower_bound <= expected + 1e-9
        else:
            assert sol.objective == pytest.approx(expected)
            assert sol.status == "optimal" and sol.gap == 0.0


@pytest.mark.parametrize("method", ["auto", "exact", "heuristic"])
@pytest.mark.parametrize("seed", SEEDS)
def test_pmedian_with_unserved_penalty_matches_brute_force(seed, method):
    costs, weights, rng = _instance(seed, n=9, m=7, sparse_share=0.5)
    penalty = float(np.quantile(costs[np.isfinite(costs)], 0.4))
    p = 1 + seed % 3
    expected = min(
        float((weights * np.minimum(_nearest(costs, s), penalty)).sum())
        for s in _subsets(costs.shape[1], [], [], [p])
    )
    for variant in _variants(costs):
        model = PMedian.from_cost_matrix(variant, weights, p=p, unserved_penalty=penalty)
        sol = model.solve(method=method)
        verify(sol, model)
        unserved = sol.assignment < 0
        assert np.isnan(sol.assigned_cost[unserved]).all()
        if method == "heuristic":
            assert sol.lower_bound <= expected + 1e-9 <= sol.objective + 2e-9
        else:
            assert sol.objective == pytest.approx(expected) and sol.status == "optimal"


@pytest.mark.parametrize("seed", range(6))
def test_bounded_pmedian_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    n, m = 6, 4
    costs = np.round(rng.uniform(1, 20, (n, m)), 1)
    costs[rng.random((n, m)) < 0.15] = np.inf
    costs[np.arange(n), rng.integers(0, m, n)] = rng.uniform(1, 5, n).round(1)
    weights = rng.integers(1, 5, n).astype(float)
    loads = rng.integers(1, 6, n).astype(float)
    cap = np.full(m, float(np.ceil(loads.sum() / 2)))
    low = np.full(m, float(np.floor(loads.sum() / 4)))
    free_p = seed % 2 == 1
    sizes = range(1, m + 1) if free_p else [2]
    existing = [0] if seed >= 4 else []
    expected = brute_bounded(costs, weights, loads, sizes, cap, low, existing, [])
    for variant in _variants(costs):

        def build(costs=variant):
            return PMedian.from_cost_matrix(
                costs,
                weights,
                p=None if free_p else 2,
                capacity=cap,
                min_load=low,
                loads=loads,
                existing=existing,
            )

        if not math.isfinite(expected):
            with pytest.raises(InfeasibleError):
                build().solve()
            continue
        model = build()
        sol = model.solve()
        verify(sol, model)
        assert sol.objective == pytest.approx(expected)
        assert sol.status == "optimal"
        loads_by_site = sol.sites_frame()["load"].to_numpy()
        assert ((loads_by_site >= low[0] - 1e-9) & (loads_by_site <= cap[0] + 1e-9)).all()


def brute_bounded_penalty(costs, weights, loads, sizes, cap, low, penalty):
    n, best = costs.shape[0], math.inf
    for s in _subsets(costs.shape[1], [], [], sizes):
        for assign in itertools.product([*s, -1], repeat=n):
            a = np.array(assign)
            served = a >= 0
            c = np.where(served, costs[np.arange(n), np.where(served, a, 0)], penalty)
            if not np.isfinite(c).all() or (c[served] > penalty).any():
                continue
            load = np.bincount(a[served], loads[served], minlength=costs.shape[1])
            if all(low[j] <= load[j] <= cap[j] for j in s):
                best = min(best, float((weights * c).sum()))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_bounded_pmedian_with_unserved_penalty_matches_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    n, m = 5, 3
    costs = np.round(rng.uniform(1, 20, (n, m)), 1)
    costs[rng.random((n, m)) < 0.3] = np.inf
    weights = rng.integers(1, 5, n).astype(float)
    loads = rng.integers(1, 6, n).astype(float)
    cap, low = np.full(m, 7.0), np.full(m, 4.0)
    penalty = 12.0
    expected = brute_bounded_penalty(costs, weights, loads, range(1, m + 1), cap, low, penalty)
    for variant in _variants(costs):
        model = PMedian.from_cost_matrix(variant, weights, p=None, capacity=cap, min_load=low,
                                         loads=loads, unserved_penalty=penalty)  # fmt: skip
        sol = model.solve()
        verify(sol, model)
        assert sol.objective == pytest.approx(expected) and sol.status == "optimal"


@pytest.mark.parametrize("seed", SEEDS)
def test_pcenter_matches_brute_force(seed):
    costs, weights, rng = _instance(seed)
    p = 2 + seed % 2
    use_weights = weights if seed % 2 else np.ones_like(weights)
    existing = [int(rng.integers(0, costs.shape[1]))] if seed % 3 == 1 else []
    forbidden = [j for j in range(costs.shape[1]) if j not in existing][:1] if seed % 3 == 0 else []
    expected = brute_pcenter(costs, use_weights, p, existing, forbidden)
    for variant in _variants(costs):
        if not math.isfinite(expected):
            with pytest.raises(InfeasibleError):
                PCenter.from_cost_matrix(variant, p=p, weights=use_weights, existing=existing,
                                         forbidden=forbidden).solve()  # fmt: skip
            continue
        model = PCenter.from_cost_matrix(variant, p=p, weights=use_weights, existing=existing,
                                         forbidden=forbidden)  # fmt: skip
        sol = model.solve()
        verify(sol, model)
        assert sol.objective == pytest.approx(expected) and sol.status == "optimal"


# ---------------------------------------------------------------------------- hand-made


def test_zero_cost_pairs_survive_the_sparse_form():
    costs = sp.csr_matrix((np.array([0.0, 5.0, 5.0]), (np.array([0, 1, 0]), np.array([0, 0, 1]))),
                          shape=(2, 2))  # fmt: skip
    model = PMedian.from_cost_matrix(costs, [1, 1], p=1)
    sol = model.solve()
    verify(sol, model)
    assert sol.selected.tolist() == [0] and sol.objective == 5.0
    assert sol.assigned_cost.tolist() == [0.0, 5.0]


def test_cutoff_per_demand_row():
    costs = np.array([[1.0, 3.0], [3.0, 1.0]])
    model = PMedian.from_cost_matrix(costs, [1, 1], p=1, cutoff=[2.0, 5.0])
    sol = model.solve()
    verify(sol, model)
    assert sol.selected.tolist() == [0]  # row 0 may not use site 1
    with pytest.raises(InfeasibleError, match="0"):
        PMedian.from_cost_matrix(costs, [1, 1], p=1, cutoff=[0.5, 5.0])


def test_solution_is_immutable_and_tabular():
    model = PMedian.from_cost_matrix(np.array([[1.0, 4.0], [3.0, 1.0]]), [1, 1], p=1)
    sol = model.solve()
    with pytest.raises((AttributeError, TypeError)):
        sol.objective = 0
    with pytest.raises(ValueError):
        sol.selected[0] = 1
    assert sol.to_frame()["site_id"].tolist() == [0, 0]
    assert "PMedian" in repr(sol)


def test_a_solution_pickles_whole_and_stays_read_only():
    costs = np.array([[1.0, 4.0, 2.0], [3.0, 1.0, 2.5], [2.0, 2.0, 1.0]])
    model = PMedian.from_cost_matrix(costs, [2, 1, 3], p=2, capacity=4.0)
    sol = model.solve()
    back = pickle.loads(pickle.dumps(sol))
    verify(back, model)
    assert (back.objective, back.bound, back.status) == (sol.objective, sol.bound, sol.status)
    assert back.selected.tolist() == sol.selected.tolist()
    assert back.assignment.tolist() == sol.assignment.tolist()
    assert dict(back.timings) == dict(sol.timings) and back.details.keys() == sol.details.keys()
    with pytest.raises(ValueError):
        back.assignment[0] = 2
    with pytest.raises(TypeError):
        back.details["x"] = 1


def test_verify_catches_a_wrong_solution():
    from dataclasses import replace

    from svcnet.models import VerificationError

    model = PMedian.from_cost_matrix(np.array([[1.0, 4.0], [3.0, 1.0]]), [1, 1], p=1)
    sol = model.solve()
    with pytest.raises(VerificationError, match="objective"):
        verify(replace(sol, objective=3.0), model)
    with pytest.raises(VerificationError, match="not open"):
        verify(replace(sol, assignment=np.array([1, 1])), model)
    with pytest.raises(VerificationError, match="bound"):
        verify(replace(sol, bound=10.0), model)


def test_time_limit_returns_a_solution_with_its_gap():
    rng = np.random.default_rng(1)
    pts, sites = rng.uniform(0, 1000, (400, 2)), rng.uniform(0, 1000, (200, 2))
    costs = np.hypot(*(pts[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    model = PMedian.from_cost_matrix(costs, rng.integers(1, 100, 400), p=15)
    sol = model.solve(time_limit=0.5)
    verify(sol, model)
    assert sol.gap >= 0 and sol.status in ("optimal", "feasible", "time_limit")
    assert sol.timings["total"] < 5


# ---------------------------------------------------------------------------- literature


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


ORLIB = {1: (5819, 127), 2: (4093, 98), 3: (4250, 93), 4: (3034, 74), 5: (1355, 48),
         6: (7824, 84), 7: (5631, 64), 8: (4445, 55), 9: (2734, 37), 10: (1255, 20)}  # fmt: skip
needs_bench = pytest.mark.skipif(not BENCH.exists(), reason="../shared/bench not present")


@needs_bench
@pytest.mark.parametrize("k", sorted(ORLIB))
def test_orlib_pmedian_and_pcenter_optima(k):
    costs, p = _orlib(k)
    model = PMedian.from_cost_matrix(costs, None, p=p)
    sol = model.solve()
    verify(sol, model)
    assert sol.objective == ORLIB[k][0] and sol.status == "optimal" and sol.gap == 0.0
    center = PCenter.from_cost_matrix(costs, p=p)
    sol = center.solve()
    verify(sol, center)
    assert sol.objective == ORLIB[k][1] and sol.status == "optimal"


@needs_bench
@pytest.mark.parametrize("k, optimum", [(1, 713), (2, 740), (3, 751), (4, 651), (5, 664)])
def test_capacitated_pmedian_optima(k, optimum):
    rows = [line.split() for line in (BENCH / "pmedcap" / f"pmedcap1_0{k}.txt").read_text()
            .splitlines() if line.strip()]  # fmt: skip
    assert float(rows[0][1]) == optimum
    n, p, capacity = map(int, rows[1])
    data = np.array(rows[2 : 2 + n], dtype=float)
    xy, demand = data[:, 1:3], data[:, 3]
    costs = np.floor(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)))
    model = PMedian.from_cost_matrix(costs, None, p=p, capacity=capacity, loads=demand)
    sol = model.solve()
    verify(sol, model)
    assert sol.objective == pytest.approx(optimum) and sol.status == "optimal"


# ---------------------------------------------------------------------------- bad input


def test_bad_inputs_get_typed_errors():
    costs = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(InputError, match="more than the 2 sites"):
        PMedian.from_cost_matrix(costs, [1, 1], p=3)
    with pytest.raises(InputError, match="below the 2 existing"):
        PMedian.from_cost_matrix(costs, [1, 1], p=1, existing=[0, 1])
    with pytest.raises(InputError, match="negative") as err:
        PMedian.from_cost_matrix(np.array([[1.0, -2.0], [2.0, 1.0]]), [1, 1], p=1)
    assert err.value.rows == [0]
    with pytest.raises(InputError, match="NaN"):
        PMedian.from_cost_matrix(np.array([[1.0, np.nan], [2.0, 1.0]]), [1, 1], p=1)
    with pytest.raises(InputError, match="finite and non-negative") as err:
        PMedian.from_cost_matrix(costs, [1, np.inf], p=1)
    assert err.value.rows == [1]
    with pytest.raises(InputError, match="one value per demand row"):
        PMedian.from_cost_matrix(costs, [1, 1, 1], p=1)
    with pytest.raises(InputError, match="both existing"):
        PMedian.from_cost_matrix(costs, [1, 1], p=1, existing=[0], forbidden=[0])
    with pytest.raises(InputError, match="unknown site"):
        PMedian.from_cost_matrix(costs, [1, 1], p=1, existing=["x"])
    with pytest.raises(InputError, match="method"):
        PMedian.from_cost_matrix(costs, [1, 1], p=1).solve(method="magic")
    with pytest.raises(InputError, match="p may be None"):
        PMedian.from_cost_matrix(costs, [1, 1], p=None)


def test_lscp_names_the_unreachable_demand():
    costs = np.array([[1.0, 9.0], [9.0, 9.0], [2.0, 1.0]])
    with pytest.raises(InfeasibleError, match="1 demand points .* radius 5: 1"):
        LSCP.from_cost_matrix(costs, radius=5)


def test_impossible_bounds_fail_before_solving():
    costs = np.ones((4, 3))
    with pytest.raises(InfeasibleError, match="exceeds the capacity"):
        PMedian.from_cost_matrix(costs, [5, 5, 5, 5], p=2, capacity=8)
    with pytest.raises(InfeasibleError, match="minimum load"):
        PMedian.from_cost_matrix(costs, [5, 5, 5, 5], p=3, min_load=8)
    with pytest.raises(InfeasibleError, match="min_load exceeds capacity"):
        PMedian.from_cost_matrix(costs, [5, 5, 5, 5], p=None, min_load=9, capacity=8)


def test_pcenter_infeasible_when_p_sites_cannot_reach_everyone():
    costs = np.array([[1.0, np.inf, np.inf], [np.inf, 1.0, np.inf], [np.inf, np.inf, 1.0]])
    with pytest.raises(InfeasibleError, match="at least 3 are needed"):
        PCenter.from_cost_matrix(costs, p=2).solve()
    sol = PCenter.from_cost_matrix(costs, p=3).solve()
    assert sol.objective == 1.0


def test_repeated_sparse_entries_add_up_as_in_scipy():
    coo = sp.coo_matrix(([1.0, 2.0, 5.0], ([0, 0, 0], [0, 0, 1])), shape=(1, 2))
    assert coo.toarray().tolist() == [[3.0, 5.0]]
    sol = PMedian.from_cost_matrix(coo, p=1).solve()
    assert sol.objective == 3.0
    explicit_zero = sp.coo_matrix(([0.0, 5.0], ([0, 0], [0, 1])), shape=(1, 2))
    assert PMedian.from_cost_matrix(explicit_zero, p=1).solve().objective == 0.0


def test_from_geodataframe_with_straight_lines_and_network_costs():
    import svcnet

    region = svcnet.datasets.load_futian()
    demand = region.demand("pop_65plus").iloc[:60]
    sites = region.candidates.iloc[:40]
    model = PMedian.from_geodataframe(demand, sites, p=3, weight="weight", demand_id="cell_id",
                                      site_id="candidate_id", unserved_penalty=5000)  # fmt: skip
    sol = model.solve()
    verify(sol, model)
    chosen = sol.to_geodataframe()
    assert len(chosen) == 3 and set(chosen["candidate_id"]) == set(sol.selected_ids)
    assert sol.to_frame()["demand_id"].tolist() == demand["cell_id"].tolist()
    # the same with a cost matrix from the road network (metres, 3 km cutoff)
    costs = svcnet.costs_from_graph(region.network, demand, sites, cutoff=3000,
                                    origin_id="cell_id", destination_id="candidate_id")  # fmt: skip
    unreachable = list(costs.unreachable_origins)
    assert unreachable  # a few cells lie more than 300 m from any road
    with pytest.raises(InfeasibleError, match=str(unreachable[0])):
        LSCP.from_geodataframe(demand, sites, radius=3000, costs=costs, demand_id="cell_id",
                               site_id="candidate_id", weight="weight")  # fmt: skip
    far = demand["cell_id"].isin(unreachable)
    reachable = demand.assign(weight=demand["weight"].where(~far, 0))
    lscp = LSCP.from_geodataframe(reachable, sites, radius=3000, costs=costs, demand_id="cell_id",
                                  site_id="candidate_id", weight="weight")  # fmt: skip
    sol = lscp.solve()
    verify(sol, lscp)
    assert sol.status == "optimal" and sol.objective >= 1


def test_pair_costs_reads_stored_entries_and_marks_absent_pairs():
    from svcnet.models._base import pair_costs

    dense = np.array([[0.0, np.inf, 2.0], [np.inf, 5.0, np.inf]])
    matrix = _as_sparse(dense)
    rows, cols = np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 2, 0, 1, 2])
    got = pair_costs(matrix, rows, cols)
    expected = dense[rows, cols]
    assert np.array_equal(np.isnan(got), np.isinf(expected))
    assert got[~np.isnan(got)].tolist() == [0.0, 2.0, 5.0]
