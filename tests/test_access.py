"""Accessibility measures, checked by hand, against PySAL ``access`` and on the Futian data."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import svcnet
from svcnet.access import (
    coverage_curve,
    enhanced_two_step_fca,
    exponential_decay,
    gaussian_decay,
    gravity,
    mean_access,
    nearest_cost,
    nearest_site,
    power_decay,
    step_decay,
    supply_ratio,
    two_step_fca,
    within,
)
from svcnet.costs import CostMatrix, costs_from_points, nearest
from svcnet.errors import InputError

INF = np.inf


# =========================================================================================
# by hand
# =========================================================================================
# 3 demand rows x 3 sites. Row 2 reaches nothing within 10; site 2 has nobody within 10.
#            site 0  site 1  site 2
HAND = np.array([[2.0, 9.0, INF],
                 [4.0, 6.0, 11.0],
                 [INF, INF, 12.0]])  # fmt: skip
HAND_DEMAND = np.array([100.0, 300.0, 50.0])
HAND_SUPPLY = np.array([8.0, 6.0, 5.0])


def test_two_step_fca_by_hand():
    # max_cost 10: pairs (0,0)=2, (0,1)=9, (1,0)=4, (1,1)=6; site 2 and row 2 are out.
    # R0 = 8 / (100 + 300) = 0.02;  R1 = 6 / (100 + 300) = 0.015;  R2: nobody in reach -> NaN
    # A0 = R0 + R1 = 0.035;  A1 = R0 + R1 = 0.035;  A2 = 0 (no site in reach)
    ratio = supply_ratio(HAND, HAND_DEMAND, HAND_SUPPLY, max_cost=10)
    np.testing.assert_allclose(ratio, [0.02, 0.015, np.nan], rtol=1e-12)
    access = two_step_fca(HAND, HAND_DEMAND, HAND_SUPPLY, max_cost=10)
    np.testing.assert_allclose(access, [0.035, 0.035, 0.0], rtol=1e-12)
    # The supply of sites with demand in reach is shared out: 100*0.035 + 300*0.035 = 14 = 8 + 6
    assert HAND_DEMAND @ access == pytest.approx(8 + 6)
    # max_cost 12 brings site 2 in: R2 = 5 / (300 + 50) = 1/70; A1 = 0.035 + 1/70, A2 = 1/70
    access = two_step_fca(HAND, HAND_DEMAND, HAND_SUPPLY, max_cost=12)
    np.testing.assert_allclose(access, [0.035, 0.035 + 1 / 70, 1 / 70], rtol=1e-12)
    assert HAND_DEMAND @ access == pytest.approx(8 + 6 + 5)


def test_enhanced_two_step_fca_by_hand():
    # steps: cost <= 5 -> 1, <= 10 -> 0.5, <= 15 -> 0.25
    # weights: (0,0) 2 -> 1; (0,1) 9 -> 0.5; (1,0) 4 -> 1; (1,1) 6 -> 0.5; (1,2) 11 -> 0.25;
    #          (2,2) 12 -> 0.25
    # R0 = 8 / (1*100 + 1*300) = 0.02
    # R1 = 6 / (0.5*100 + 0.5*300) = 0.03
    # R2 = 5 / (0.25*300 + 0.25*50) = 5 / 87.5 = 2/35
    # A0 = 1*0.02 + 0.5*0.03 = 0.035
    # A1 = 1*0.02 + 0.5*0.03 + 0.25*2/35 = 0.035 + 1/70
    # A2 = 0.25*2/35 = 1/70
    steps = [(5, 1.0), (10, 0.5), (15, 0.25)]
    expected = [0.035, 0.035 + 1 / 70, 1 / 70]
    access = enhanced_two_step_fca(HAND, HAND_DEMAND, HAND_SUPPLY, weights=steps)
    np.testing.assert_allclose(access, expected, rtol=1e-12)
    same = two_step_fca(HAND, HAND_DEMAND, HAND_SUPPLY, max_cost=15, weights=dict(steps))
    np.testing.assert_allclose(same, expected, rtol=1e-12)
    ratio = supply_ratio(HAND, HAND_DEMAND, HAND_SUPPLY, max_cost=15, weights=steps)
    np.testing.assert_allclose(ratio, [0.02, 0.03, 2 / 35], rtol=1e-12)
    # max_cost 11 drops (2,2): row 2 reaches nothing; R2 = 5 / (0.25*300) = 1/15;
    # A1 = 0.035 + 0.25/15
    access = enhanced_two_step_fca(HAND, HAND_DEMAND, HAND_SUPPLY, weights=steps, max_cost=11)
    np.testing.assert_allclose(access, [0.035, 0.035 + 0.25 / 15, 0.0], rtol=1e-12)


def test_gravity_by_hand():
    # f(c) = 1 / c (power decay, beta 1), every stored pair:
    # A0 = 8/2 + 6/9 = 4.6667;  A1 = 8/4 + 6/6 + 5/11 = 3.4545;  A2 = 5/12
    potential = gravity(HAND, None, HAND_SUPPLY, decay=power_decay(1.0))
    np.testing.assert_allclose(potential, [8 / 2 + 6 / 9, 8 / 4 + 6 / 6 + 5 / 11, 5 / 12])
    # within 10: A1 loses 5/11, A2 is 0
    capped = gravity(HAND, None, HAND_SUPPLY, decay=power_decay(1.0), max_cost=10)
    np.testing.assert_allclose(capped, [8 / 2 + 6 / 9, 8 / 4 + 6 / 6, 0.0])
    # with demand, each site's supply is divided by the demand pulling on it, within 10:
    # V0 = 100/2 + 300/4 = 125;  V1 = 100/9 + 300/6 = 550/9
    # A0 = (8/125)/2 + (6*9/550)/9 = 0.032 + 6/550;  A1 = (8/125)/4 + (6*9/550)/6 = 0.016 + 9/550
    competing = gravity(HAND, HAND_DEMAND, HAND_SUPPLY, decay=power_decay(1.0), max_cost=10)
    np.testing.assert_allclose(competing, [0.032 + 6 / 550, 0.016 + 9 / 550, 0.0], rtol=1e-12)
    # which is 2SFCA with the decay as weights, and gives out all the supply it reaches
    np.testing.assert_allclose(
        competing,
        two_step_fca(HAND, HAND_DEMAND, HAND_SUPPLY, max_cost=10, weights=power_decay(1.0)),
        rtol=1e-15,
    )


def test_decay_functions_by_hand():
    assert power_decay(2.0, scale=10.0)(20.0) == pytest.approx(0.25)  # (20/10)^-2
    assert power_decay(1.0, min_cost=4.0)(1.0) == pytest.approx(0.25)  # max(1, 4)^-1
    assert exponential_decay(0.5)(2.0) == pytest.approx(np.exp(-1.0))
    assert gaussian_decay(2.0)(2.0) == pytest.approx(np.exp(-0.5))
    f = step_decay({5: 1.0, 10: 0.68, 15: 0.22})
    np.testing.assert_array_equal(
        f(np.array([0, 5, 5.01, 10, 15, 15.01])), [1, 1, 0.68, 0.68, 0.22, 0]
    )
    assert "beta=2" in repr(power_decay(2.0))
    assert repr(step_decay([(5, 1)])) == "step_decay([(5, 1)])"


def test_nearest_cost_site_and_within_by_hand():
    np.testing.assert_array_equal(nearest_cost(HAND), [2.0, 4.0, 12.0])
    np.testing.assert_array_equal(nearest_site(HAND), [0, 0, 2])
    np.testing.assert_array_equal(within(HAND, 4), [True, True, False])
    np.testing.assert_array_equal(within(HAND, 1.9), [False, False, False])
    empty_row = np.array([[3.0, 1.0], [INF, INF]])
    np.testing.assert_array_equal(nearest_cost(empty_row), [1.0, INF])
    np.testing.assert_array_equal(nearest_site(empty_row), [1, -1])
    ids = CostMatrix.from_dense(empty_row, destination_ids=["clinic", "school"])
    assert nearest_site(ids).tolist() == ["school", None]


def test_nearest_site_agrees_with_costs_nearest_ties_included():
    rng = np.random.default_rng(3)
    dense = rng.integers(0, 6, size=(200, 12)).astype(float)  # many ties, some zeros
    dense[rng.random(dense.shape) < 0.6] = INF
    costs = CostMatrix.from_dense(dense, destination_ids=[f"s{j}" for j in range(12)])
    reference = nearest(costs, k=1)
    expected = reference["destination_id"].astype(object).where(reference["cost"].notna(), None)
    assert nearest_site(costs).tolist() == expected.tolist()
    np.testing.assert_array_equal(nearest_cost(costs), reference["cost"].fillna(INF).to_numpy())
    # brute force on the dense array: the first of the cheapest columns
    brute = np.where(np.isfinite(dense).any(axis=1), np.argmin(dense, axis=1), -1)
    np.testing.assert_array_equal(nearest_site(dense), brute)


def test_coverage_curve_by_hand_with_groups():
    # nearest costs: 2, 4, 12
    people = pd.DataFrame({"pop": [100.0, 300.0, 50.0], "pop_60plus": [10.0, 0.0, 30.0]})
    curve = coverage_curve(HAND, people, [1, 3, 5, 12])
    assert list(curve.columns) == [
        "threshold",
        "pop_covered",
        "pop_share",
        "pop_60plus_covered",
        "pop_60plus_share",
    ]
    np.testing.assert_array_equal(curve["pop_covered"], [0, 100, 400, 450])
    np.testing.assert_allclose(curve["pop_share"], [0, 100 / 450, 400 / 450, 1])
    np.testing.assert_array_equal(curve["pop_60plus_covered"], [0, 10, 10, 40])
    np.testing.assert_allclose(curve["pop_60plus_share"], [0, 0.25, 0.25, 1])
    series = coverage_curve(HAND, pd.Series([1.0, 1.0, 2.0], name="homes"), [4])
    assert list(series.columns) == ["threshold", "homes_covered", "homes_share"]
    assert series["homes_share"].tolist() == [0.5]
    nobody = coverage_curve(HAND, [0.0, 0.0, 0.0], [4])
    assert np.isnan(nobody["population_share"].iloc[0])


def test_mean_access_by_hand_and_groups():
    assert mean_access([0.1, 0.1, 0.05], [100, 100, 200]) == pytest.approx(0.075)
    assert np.isnan(mean_access([1.0], [0.0]))
    people = pd.DataFrame({"pop": [100.0, 300.0, 50.0], "old": [10.0, 0.0, 30.0]})
    access = two_step_fca(HAND, people, HAND_SUPPLY, max_cost=12)
    means = mean_access(access, people)
    # plain 2SFCA: mean access = supply of the reached sites / total demand
    assert means["pop"] == pytest.approx((8 + 6 + 5) / 450)
    assert means["old"] == pytest.approx((8 + 6 + 5) / 40)


def test_groups_give_a_dataframe_with_their_index_and_each_group_alone():
    people = pd.DataFrame(
        {"pop": [100.0, 300.0, 50.0], "old": [10.0, 0.0, 30.0]}, index=["a", "b", "c"]
    )
    result = two_step_fca(HAND, people, HAND_SUPPLY, max_cost=12)
    assert list(result.index) == ["a", "b", "c"] and list(result.columns) == ["pop", "old"]
    for column in people:
        alone = two_step_fca(HAND, people[column].to_numpy(), HAND_SUPPLY, max_cost=12)
        np.testing.assert_allclose(result[column], alone, rtol=1e-15)
    ratios = supply_ratio(HAND, people, pd.Series(HAND_SUPPLY, index=["x", "y", "z"]), max_cost=12)
    assert list(ratios.index) == ["x", "y", "z"]
    # site 1 within 12: rows 0 and 1, old = 10 + 0
    assert ratios.loc["y", "old"] == pytest.approx(6 / 10)


# =========================================================================================
# input forms
# =========================================================================================
def random_costs(n=60, m=15, seed=0, missing=0.3, high=30.0):
    """Asymmetric random costs, demand x sites, some pairs missing (inf)."""
    rng = np.random.default_rng(seed)
    dense = rng.uniform(0.5, high, size=(n, m))
    dense[rng.random((n, m)) < missing] = INF
    demand = rng.uniform(10, 1000, size=n)
    supply = rng.uniform(1, 50, size=m)
    return dense, demand, supply


def unsorted_csr(csr):
    data, indices = csr.data.copy(), csr.indices.copy()
    for row in range(csr.shape[0]):
        part = slice(csr.indptr[row], csr.indptr[row + 1])
        data[part], indices[part] = data[part][::-1], indices[part][::-1]
    out = sparse.csr_matrix((data, indices, csr.indptr.copy()), shape=csr.shape)
    assert not out.has_sorted_indices
    return out


def all_forms(dense):
    finite = np.where(np.isfinite(dense), dense, 0.0)
    rows, cols = np.nonzero(np.isfinite(dense))
    coo = sparse.coo_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)
    return {
        "dense": dense,
        "dense NaN": np.where(np.isfinite(dense), dense, np.nan),
        "CostMatrix": CostMatrix.from_dense(dense),
        "csr": coo.tocsr(),
        "csc": coo.tocsc(),
        "coo": coo,
        "dataframe": pd.DataFrame(dense),
        "unsorted csr": unsorted_csr(coo.tocsr()),
        "finite zeros": finite,  # not the same costs: checks that the test can tell
    }


@pytest.mark.parametrize(
    "measure",
    [
        lambda c, d, s: two_step_fca(c, d, s, max_cost=20),
        lambda c, d, s: enhanced_two_step_fca(c, d, s, weights=[(5, 1), (10, 0.68), (15, 0.22)]),
        lambda c, d, s: supply_ratio(c, d, s, max_cost=20, weights=gaussian_decay(8)),
        lambda c, d, s: gravity(c, None, s, decay=exponential_decay(0.1), max_cost=25),
        lambda c, d, s: gravity(c, d, s, decay=power_decay(1.5, min_cost=1)),
        lambda c, d, s: nearest_cost(c),
        lambda c, d, s: nearest_site(c).astype(float),
        lambda c, d, s: coverage_curve(c, d, [5, 10, 20]).to_numpy(),
    ],
)
def test_dense_sparse_and_cost_matrix_give_the_same_values(measure):
    dense, demand, supply = random_costs()
    forms = all_forms(dense)
    reference = measure(forms.pop("dense"), demand, supply)
    assert not np.allclose(
        measure(forms.pop("finite zeros"), demand, supply), reference, equal_nan=True
    )
    for name, costs in forms.items():
        np.testing.assert_array_equal(measure(costs, demand, supply), reference, err_msg=name)


def test_explicit_zeros_are_real_zero_costs():
    matrix = sparse.csr_matrix(
        (np.array([0.0, 5.0]), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2)
    )
    assert matrix.nnz == 2
    np.testing.assert_array_equal(nearest_cost(matrix), [0.0, 5.0])
    np.testing.assert_array_equal(nearest_site(matrix), [0, 1])
    # the zero-cost pair is within any catchment: row 0 gets site 0's supply
    np.testing.assert_allclose(two_step_fca(matrix, [10, 10], [5, 5], max_cost=1), [0.5, 0.0])
    # and a power decay at zero cost needs min_cost
    with pytest.raises(InputError, match="min_cost"):
        gravity(matrix, None, [1, 1], decay=power_decay(1.0))
    assert gravity(matrix, None, [1, 1], decay=power_decay(1.0, min_cost=0.5))[0] == 2.0


def test_the_sparse_path_never_makes_a_dense_array(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a dense array was made from sparse costs")

    dense, demand, supply = random_costs(n=300, m=40, seed=9, missing=0.9)
    costs = CostMatrix.from_dense(dense)
    for target in (sparse.csr_matrix, sparse.csc_matrix, sparse.coo_matrix):
        monkeypatch.setattr(target, "toarray", refuse)
        monkeypatch.setattr(target, "todense", refuse)
    monkeypatch.setattr(CostMatrix, "to_dense", refuse)
    people = pd.DataFrame({"a": demand, "b": demand / 2})
    two_step_fca(costs, people, supply, max_cost=20, weights=[(10, 1), (20, 0.5)])
    gravity(costs.matrix, None, supply, decay=exponential_decay(0.1))
    coverage_curve(costs, people, [5, 10])
    nearest_site(costs)


def test_inputs_are_not_modified():
    dense, demand, supply = random_costs(seed=4)
    costs = CostMatrix.from_dense(dense)
    data = costs.matrix.data.copy()
    people = pd.DataFrame({"pop": demand})
    before = people.copy()
    with_nan = np.where(np.isfinite(dense), dense, np.nan)
    kept = with_nan.copy()
    two_step_fca(costs, people, supply, max_cost=20)
    two_step_fca(with_nan, demand, supply, max_cost=20)
    np.testing.assert_array_equal(costs.matrix.data, data)
    pd.testing.assert_frame_equal(people, before)
    np.testing.assert_array_equal(with_nan, kept)


# =========================================================================================
# PySAL access as the oracle
# =========================================================================================
try:  # the oracle, from the test extra; the other tests run without it
    import access
except ImportError:  # pragma: no cover
    access = None
needs_access = pytest.mark.skipif(access is None, reason="PySAL access is not installed")


def run_access(dense, demand, supply, method, *, demand_ids=None, supply_ids=None, **kwargs):
    """Run ``access.Access.<method>`` on the same pairs in long form; our row order.

    We call it with ``normalize=False`` (its default): raw values, no scaling. Its result
    leaves out the demand rows with no pair within ``max_cost``; they come back NaN here.
    """
    n, m = dense.shape
    demand_ids = np.array([f"d{i}" for i in range(n)]) if demand_ids is None else demand_ids
    supply_ids = np.array([f"s{j}" for j in range(m)]) if supply_ids is None else supply_ids
    rows, cols = np.nonzero(np.isfinite(dense))
    cost_df = pd.DataFrame(
        {"origin": demand_ids[rows], "dest": supply_ids[cols], "cost": dense[rows, cols]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = access.Access(
            demand_df=pd.DataFrame({"geoid": demand_ids, "pop": demand}),
            demand_index="geoid",
            demand_value="pop",
            supply_df=pd.DataFrame({"geoid": supply_ids, "beds": supply}),
            supply_index="geoid",
            supply_value="beds",
            cost_df=cost_df,
            cost_origin="origin",
            cost_dest="dest",
            cost_name="cost",
        )
        result = getattr(model, method)(**kwargs)
    return result.iloc[:, 0].reindex(demand_ids).to_numpy(dtype=float)


def assert_matches_access(ours, theirs, dense, max_cost=INF):
    """Equal to 1e-9 where ``access`` has a value; 0 where it left the row out."""
    reached = (np.isfinite(dense) & (dense <= max_cost)).any(axis=1)
    np.testing.assert_array_equal(np.isnan(theirs), ~reached)
    np.testing.assert_allclose(ours[reached], theirs[reached], rtol=1e-9, atol=0)
    np.testing.assert_array_equal(ours[~reached], 0.0)


@pytest.fixture(params=[0, 1, 2])
def oracle_case(request):
    # 60 demand x 15 supply, random asymmetric costs in (0.5, 30), ~30 % of pairs missing,
    # and the edge cases: row 0 reaches no site at all, row 1 only at cost 35; site 0 is
    # reached by nobody, site 1 only beyond 20; site 2 only between 16 and 19.5 (beyond the
    # last step, 15, of the E2SFCA table: in reach at max_cost 20 but with weight 0), and it
    # is all that row 2 reaches.
    dense, demand, supply = random_costs(seed=request.param)
    rng = np.random.default_rng(100 + request.param)
    dense[0, :] = INF
    dense[1, :] = 35.0
    dense[:, 0] = INF
    dense[:, 1] = np.where(rng.random(60) < 0.5, rng.uniform(21, 29, 60), INF)
    dense[:, 2] = np.where(rng.random(60) < 0.5, rng.uniform(16, 19.5, 60), INF)
    dense[2, :] = INF
    dense[2, 2] = 17.0
    return dense, demand, supply


@needs_access
def test_two_step_fca_equals_access(oracle_case):
    dense, demand, supply = oracle_case
    for max_cost in (12.0, 20.0, 40.0):
        theirs = run_access(dense, demand, supply, "two_stage_fca", max_cost=max_cost)
        ours = two_step_fca(CostMatrix.from_dense(dense), demand, supply, max_cost=max_cost)
        assert_matches_access(ours, theirs, dense, max_cost)


@needs_access
def test_enhanced_two_step_fca_equals_access(oracle_case):
    dense, demand, supply = oracle_case
    table = {5: 1.0, 10: 0.68, 15: 0.22}
    for max_cost in (12.0, 20.0):  # 20: pairs beyond the last step are in reach with weight 0
        theirs = run_access(
            dense,
            demand,
            supply,
            "enhanced_two_stage_fca",
            max_cost=max_cost,
            weight_fn=access.weights.step_fn(table),
        )
        ours = enhanced_two_step_fca(
            dense, demand, supply, weights=list(table.items()), max_cost=max_cost
        )
        assert_matches_access(ours, theirs, dense, max_cost)
    theirs = run_access(
        dense, demand, supply, "enhanced_two_stage_fca", weight_fn=access.weights.step_fn(table)
    )
    ours = enhanced_two_step_fca(sparse.csr_matrix(dense), demand, supply, weights=table)
    assert_matches_access(ours, theirs, dense)


@needs_access
def test_gravity_equals_access_weighted_catchment(oracle_case):
    dense, demand, supply = oracle_case
    # access.weights.gravity(scale, alpha, min_dist) = (max(c, min_dist) / scale) ** alpha
    theirs = run_access(
        dense,
        demand,
        supply,
        "weighted_catchment",
        max_cost=20.0,
        weight_fn=access.weights.gravity(scale=10, alpha=-1.5, min_dist=1),
    )
    ours = gravity(dense, None, supply, max_cost=20.0, decay=power_decay(1.5, scale=10, min_cost=1))
    assert_matches_access(ours, theirs, dense, 20.0)
    theirs = run_access(
        dense, demand, supply, "weighted_catchment", weight_fn=access.weights.gaussian(8.0)
    )
    ours = gravity(CostMatrix.from_dense(dense), None, supply, decay=gaussian_decay(8.0))
    assert_matches_access(ours, theirs, dense)
    # our exponential decay works on access's scalar calls too
    theirs = run_access(
        dense, demand, supply, "weighted_catchment", max_cost=25.0, weight_fn=exponential_decay(0.1)
    )
    ours = gravity(dense, None, supply, decay=exponential_decay(0.1), max_cost=25.0)
    assert_matches_access(ours, theirs, dense, 25.0)


@needs_access
def test_gravity_with_demand_equals_access_two_stage_with_the_decay(oracle_case):
    dense, demand, supply = oracle_case
    theirs = run_access(
        dense,
        demand,
        supply,
        "two_stage_fca",
        max_cost=20.0,
        weight_fn=access.weights.gaussian(8.0),
    )
    ours = gravity(dense, demand, supply, decay=gaussian_decay(8.0), max_cost=20.0)
    assert_matches_access(ours, theirs, dense, 20.0)


@needs_access
def test_normalized_access_is_ours_over_mean_access(oracle_case):
    dense, demand, supply = oracle_case
    theirs = run_access(dense, demand, supply, "two_stage_fca", max_cost=20.0, normalize=True)
    ours = two_step_fca(dense, demand, supply, max_cost=20.0)
    normalized = ours / mean_access(ours, demand)
    reached = ~np.isnan(theirs)
    np.testing.assert_allclose(normalized[reached], theirs[reached], rtol=1e-9)


@needs_access
def test_supply_ratio_equals_access_fca_ratio_around_each_site(oracle_case):
    # access's fca_ratio(i) = supply within max_cost of i / demand within max_cost of i, from
    # a supply cost table and a demand ("neighbor") cost table. Taken around each site j --
    # its demand neighbours are the demand rows with c_ij (cost from row i to site j), its
    # supply is its own (cost 0) -- it is R_j = S_j / sum_i D_i over c_ij <= max_cost.
    dense, demand, supply = oracle_case
    n, m = dense.shape
    demand_ids = np.array([f"d{i}" for i in range(n)])
    site_ids = np.array([f"s{j}" for j in range(m)])
    rows, cols = np.nonzero(np.isfinite(dense))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fca = access.fca.fca_ratio(
            demand_df=pd.DataFrame({"geoid": demand_ids, "pop": demand}),
            supply_df=pd.DataFrame({"geoid": site_ids, "beds": supply}),
            demand_cost_df=pd.DataFrame(
                {"origin": site_ids[cols], "dest": demand_ids[rows], "cost": dense[rows, cols]}
            ),
            supply_cost_df=pd.DataFrame({"origin": site_ids, "dest": site_ids, "cost": 0.0}),
            max_cost=20.0,
            demand_index="geoid",
            demand_name="pop",
            supply_index="geoid",
            supply_name="beds",
        )
    theirs = fca.reindex(site_ids).to_numpy(dtype=float)
    ours = supply_ratio(dense, demand, supply, max_cost=20.0)
    no_demand = ~(dense <= 20.0).any(axis=0)
    np.testing.assert_array_equal(np.isnan(theirs), no_demand)
    np.testing.assert_array_equal(np.isnan(ours), no_demand)
    np.testing.assert_allclose(ours[~no_demand], theirs[~no_demand], rtol=1e-9)


@needs_access
def test_weighted_supply_ratio_equals_access_weighted_catchment(oracle_case):
    # R_j = S_j / sum_i w(c_ij) D_i with access.fca.weighted_catchment as the denominator
    dense, demand, supply = oracle_case
    n, m = dense.shape
    rows, cols = np.nonzero(np.isfinite(dense))
    table = {5: 1.0, 10: 0.68, 15: 0.22}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = access.fca.weighted_catchment(
            pd.DataFrame({"geoid": np.arange(n), "pop": demand}),
            pd.DataFrame({"origin": rows, "dest": cols, "cost": dense[rows, cols]}),
            max_cost=15.0,
            loc_index="geoid",
            loc_value="pop",
            weight_fn=access.weights.step_fn(table),
        )
    theirs = supply / weighted.reindex(np.arange(m)).to_numpy(dtype=float)
    ours = supply_ratio(dense, demand, supply, max_cost=15.0, weights=table)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


@needs_access
def test_asymmetric_costs_are_read_demand_by_supply():
    # 20 places, each one both a demand cell and a site (shared ids, as in access's own
    # examples): c_ij != c_ji, so reading the matrix transposed would give other values.
    dense, demand, supply = random_costs(n=20, m=20, seed=11, missing=0.2)
    assert not np.allclose(dense, dense.T)
    ids = np.array([f"p{i}" for i in range(20)])
    theirs = run_access(
        dense, demand, supply, "two_stage_fca", max_cost=15.0, demand_ids=ids, supply_ids=ids
    )
    ours = two_step_fca(dense, demand, supply, max_cost=15.0)
    assert_matches_access(ours, theirs, dense, 15.0)
    transposed = two_step_fca(dense.T, demand, supply, max_cost=15.0)
    assert not np.allclose(transposed, np.nan_to_num(theirs), rtol=1e-3)


@needs_access
def test_population_groups_equal_access_run_per_group(oracle_case):
    dense, demand, supply = oracle_case
    people = pd.DataFrame({"pop": demand, "pop_60plus": np.round(demand * 0.13)})
    ours = two_step_fca(dense, people, supply, max_cost=20.0)
    for group in people:
        theirs = run_access(dense, people[group].to_numpy(), supply, "two_stage_fca", max_cost=20.0)
        assert_matches_access(ours[group].to_numpy(), theirs, dense, 20.0)


@needs_access
def test_where_we_differ_from_access_a_site_with_only_zero_demand_in_reach():
    # Site 1 reaches only row 2, whose demand is 0. access divides 4 by 0 (R = inf) and gives
    # row 2 an infinite access; here the site has no ratio (NaN) and shares nothing out.
    # Site 0: R = 8 / (10 + 30) = 0.2 for rows 0 and 1 in both.
    dense = np.array([[1.0, INF], [2.0, INF], [INF, 3.0]])
    demand, supply = np.array([10.0, 30.0, 0.0]), np.array([8.0, 4.0])
    theirs = run_access(dense, demand, supply, "two_stage_fca", max_cost=5.0)
    np.testing.assert_allclose(theirs, [0.2, 0.2, INF])
    np.testing.assert_allclose(two_step_fca(dense, demand, supply, max_cost=5), [0.2, 0.2, 0])
    np.testing.assert_allclose(supply_ratio(dense, demand, supply, max_cost=5), [0.2, np.nan])


# =========================================================================================
# bad input
# =========================================================================================
def test_bad_demand_and_supply_name_the_argument_and_rows():
    with pytest.raises(InputError, match=r"demand must have one value per demand row .*\(3\)"):
        two_step_fca(HAND, [1, 2], HAND_SUPPLY, max_cost=10)
    with pytest.raises(InputError, match=r"demand has 1 negative values \(rows 1\)"):
        two_step_fca(HAND, [1, -2, 3], HAND_SUPPLY, max_cost=10)
    with pytest.raises(InputError, match=r"demand has 2 missing \(NaN\) values \(rows 0, 2\)"):
        supply_ratio(HAND, [np.nan, 2, None], HAND_SUPPLY, max_cost=10)
    with pytest.raises(InputError, match=r"infinite values \(rows b\)"):
        two_step_fca(HAND, pd.Series([1, INF, 3], index=["a", "b", "c"]), HAND_SUPPLY, max_cost=10)
    groups = pd.DataFrame({"pop": [1, 2, 3], "pop_60plus": [0, -1, -1]}, index=[10, 11, 12])
    with pytest.raises(InputError, match=r"column 'pop_60plus'; rows 11, 12") as info:
        two_step_fca(HAND, groups, HAND_SUPPLY, max_cost=10)
    assert info.value.rows == [11, 12] and isinstance(info.value, ValueError)
    with pytest.raises(InputError, match="must be numeric"):
        two_step_fca(HAND, pd.DataFrame({"pop": ["a", "b", "c"]}), HAND_SUPPLY, max_cost=10)
    with pytest.raises(InputError, match=r"supply must be a number or one value per site .*\(3\)"):
        two_step_fca(HAND, HAND_DEMAND, [1, 2], max_cost=10)
    with pytest.raises(InputError, match=r"supply has 1 negative values \(rows 2\)"):
        gravity(HAND, None, [1, 2, -3], decay=exponential_decay(1))
    with pytest.raises(InputError, match="population has 1 negative"):
        coverage_curve(HAND, [1, 2, -3], [1])
    with pytest.raises(InputError, match="not a DataFrame"):
        two_step_fca(HAND, HAND_DEMAND, pd.DataFrame({"a": HAND_SUPPLY}), max_cost=10)


@pytest.mark.parametrize("max_cost", [0, -5, np.nan, "10", None, True])
def test_max_cost_must_be_positive(max_cost):
    with pytest.raises(InputError, match="max_cost must be"):
        two_step_fca(HAND, HAND_DEMAND, HAND_SUPPLY, max_cost=max_cost)
    if max_cost is not None:
        with pytest.raises(InputError, match="max_cost must be"):
            supply_ratio(HAND, HAND_DEMAND, HAND_SUPPLY, max_cost=max_cost)
        with pytest.raises(InputError, match="max_cost must be"):
            gravity(HAND, None, HAND_SUPPLY, decay=exponential_decay(1), max_cost=max_cost)


def test_thresholds_must_increase_and_not_be_negative():
    with pytest.raises(InputError, match=r"strictly increasing; got \[5.0, 3.0\] \(rows 1\)"):
        coverage_curve(HAND, HAND_DEMAND, [5, 3])
    with pytest.raises(InputError, match="strictly increasing"):
        coverage_curve(HAND, HAND_DEMAND, [5, 5])
    with pytest.raises(InputError, match="non-negative"):
        coverage_curve(HAND, HAND_DEMAND, [-1, 3])
    with pytest.raises(InputError, match="non-empty"):
        coverage_curve(HAND, HAND_DEMAND, [])
    with pytest.raises(InputError, match="threshold must be a non-negative number"):
        within(HAND, np.nan)


def test_negative_or_malformed_costs_name_the_rows():
    bad = HAND.copy()
    bad[1, 0] = -1.0
    bad[2, 2] = -3.0
    for costs in (bad, sparse.csr_matrix(np.where(np.isfinite(bad), bad, 0))):
        with pytest.raises(InputError, match=r"2 negative costs \(column 'costs'; rows 1, 2\)"):
            two_step_fca(costs, HAND_DEMAND, HAND_SUPPLY, max_cost=10)
    built = CostMatrix(sparse.csr_matrix(np.array([[1.0, -2.0]])), [0], [0, 1])
    with pytest.raises(InputError, match="negative costs"):
        nearest_cost(built)
    with pytest.raises(InputError, match="costs hold NaN"):
        nearest_cost(sparse.csr_matrix(np.array([[1.0, np.nan]])))
    with pytest.raises(InputError, match="2-D"):
        nearest_cost([1.0, 2.0])
    with pytest.raises(InputError, match="numeric"):
        nearest_cost([["a", "b"]])
    with pytest.raises(InputError, match="at least one demand row"):
        nearest_cost(np.zeros((0, 3)))


def test_bad_step_tables_and_decays():
    for table, match in [
        ([(10, 1.0), (5, 0.5)], r"strictly increasing; got \[10.0, 5.0\]"),
        ({10: 1.0, 5: 0.5}, "strictly increasing"),
        ([(5, 1.0), (5, 0.5)], "strictly increasing"),
        ([], "empty step table"),
        ([(5, -1.0)], "non-negative"),
        ([(5, 1.0, 2.0)], "pairs"),
        ([5, 10], "pairs of numbers"),
        ("5", "sequence"),
    ]:
        with pytest.raises(InputError, match=match):
            two_step_fca(HAND, HAND_DEMAND, HAND_SUPPLY, max_cost=10, weights=table)
    with pytest.raises(InputError, match="strictly increasing"):
        step_decay([(10, 1.0), (5, 0.5)])
    with pytest.raises(InputError, match="step table"):
        enhanced_two_step_fca(HAND, HAND_DEMAND, HAND_SUPPLY, weights=exponential_decay(1))
    with pytest.raises(InputError, match="decay is required"):
        gravity(HAND, None, HAND_SUPPLY, decay=None)
    with pytest.raises(InputError, match="vectorised"):  # a function of one number only
        gravity(HAND, None, HAND_SUPPLY, decay=lambda c: 1 / max(c, 1))
    with pytest.raises(InputError, match="vectorised"):
        gravity(HAND, None, HAND_SUPPLY, decay=lambda c: 1.0)
    with pytest.raises(InputError, match=r"weights that are not finite .*\(rows 0, 1\)"):
        two_step_fca(HAND, HAND_DEMAND, HAND_SUPPLY, max_cost=10, weights=lambda c: 5 - c)
    for factory, value in ((power_decay, 0), (exponential_decay, -1), (gaussian_decay, np.inf)):
        with pytest.raises(InputError):
            factory(value)
    with pytest.raises(InputError, match="min_cost"):
        power_decay(1, min_cost=-1)


def test_catchments_beyond_the_cost_matrix_cutoff_are_refused():
    costs = CostMatrix.from_dense(HAND, cutoff=10)
    with pytest.raises(InputError, match=r"max_cost \(12\) is beyond the costs' cutoff \(10\)"):
        two_step_fca(costs, HAND_DEMAND, HAND_SUPPLY, max_cost=12)
    with pytest.raises(InputError, match="cutoff"):
        enhanced_two_step_fca(costs, HAND_DEMAND, HAND_SUPPLY, weights=[(5, 1), (15, 0.5)])
    with pytest.raises(InputError, match="thresholds .* beyond the costs' cutoff"):
        coverage_curve(costs, HAND_DEMAND, [5, 11])
    with pytest.raises(InputError, match="cutoff"):
        within(costs, 11)
    # up to the cutoff is fine, and max_cost=None uses every stored pair
    two_step_fca(costs, HAND_DEMAND, HAND_SUPPLY, max_cost=10)
    enhanced_two_step_fca(costs, HAND_DEMAND, HAND_SUPPLY, weights=[(5, 1), (15, 0.5)], max_cost=10)
    gravity(costs, None, HAND_SUPPLY, decay=exponential_decay(1))


def test_mean_access_checks_its_inputs():
    with pytest.raises(InputError, match="demand must have one value"):
        mean_access([1.0, 2.0], [1.0])
    with pytest.raises(InputError, match="must be one too"):
        mean_access(pd.DataFrame({"a": [1.0]}), [1.0])
    with pytest.raises(InputError, match="lacks the groups"):
        mean_access(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"b": [1.0]}))


# =========================================================================================
# the bundled Futian data
# =========================================================================================
@pytest.fixture(scope="module")
def futian_costs():
    region = svcnet.datasets.load_futian()
    population = region.population
    sites = region.candidates.iloc[::90].iloc[:50]
    costs = costs_from_points(population, sites, cutoff=1500, destination_id="candidate_id")
    return costs, population[["pop", "pop_60plus"]]


def test_futian_two_step_fca_shares_out_exactly_the_supply_in_reach(futian_costs):
    costs, people = futian_costs
    assert costs.shape == (8226, 50)
    supply = np.full(50, 100.0)
    access_values = two_step_fca(costs, people, supply, max_cost=1500)
    ratios = supply_ratio(costs, people, supply, max_cost=1500)
    assert list(ratios.index) == list(costs.destination_ids)
    for group in people:
        demand = people[group].to_numpy(dtype=float)
        # sites with any demand of the group within 1,500 m
        served = np.asarray(costs.matrix.T @ demand) > 0
        assert 0 < served.sum() < 50 or served.all()
        np.testing.assert_array_equal(ratios[group].notna().to_numpy(), served)
        # the identity of plain 2SFCA: sum_i D_i A_i = sum_j S_j over the sites served
        total = demand @ access_values[group].to_numpy()
        assert total == pytest.approx(supply[served].sum(), rel=1e-12)
        assert mean_access(access_values, people)[group] == pytest.approx(
            supply[served].sum() / demand.sum(), rel=1e-12
        )
    # the sparse matrix alone gives the same numbers
    np.testing.assert_array_equal(
        two_step_fca(costs.matrix, people["pop"], supply, max_cost=1500),
        access_values["pop"].to_numpy(),
    )


def test_futian_coverage_curve_agrees_with_within_and_nearest(futian_costs):
    costs, people = futian_costs
    curve = coverage_curve(costs, people, [300, 800, 1500])
    for row, threshold in enumerate([300, 800, 1500]):
        inside = within(costs, threshold)
        assert curve.loc[row, "pop_covered"] == pytest.approx(people["pop"][inside].sum())
        share = people["pop_60plus"][inside].sum() / people["pop_60plus"].sum()
        assert curve.loc[row, "pop_60plus_share"] == pytest.approx(share)
    assert curve["pop_share"].is_monotonic_increasing
    reachable = np.isfinite(nearest_cost(costs))
    assert (nearest_site(costs)[~reachable] == None).all()  # noqa: E711
    assert set(nearest_site(costs)[reachable]) <= set(costs.destination_ids)


def test_step_tables_long_short_and_as_functions_agree():
    dense, demand, supply = random_costs(seed=21)
    uppers = np.linspace(1.0, 28.0, 20)
    table = list(zip(uppers, np.linspace(1.0, 0.05, 20), strict=True))
    costs = np.where(np.isfinite(dense), dense, 0)
    # 20 steps (binary search) and the comparisons used for short tables give the same weights
    expected = np.array([next((w for u, w in table if c <= u), 0.0) for c in costs.ravel()])
    np.testing.assert_array_equal(step_decay(table)(costs.ravel()), expected)
    np.testing.assert_array_equal(
        step_decay(table[:5])(costs.ravel()),
        [next((w for u, w in table[:5] if c <= u), 0.0) for c in costs.ravel()],
    )
    for max_cost in (0.5, 7.3, uppers[4], 40.0):
        by_table = two_step_fca(dense, demand, supply, max_cost=max_cost, weights=table)
        by_function = two_step_fca(
            dense, demand, supply, max_cost=max_cost, weights=step_decay(table)
        )
        plain_function = two_step_fca(
            dense, demand, supply, max_cost=max_cost, weights=lambda c: step_decay(table)(c)
        )
        np.testing.assert_array_equal(by_table, by_function)
        np.testing.assert_allclose(by_table, plain_function, rtol=1e-15)
