"""Eldercare and child-welfare beds: known optima on tiny regions, invariants on Futian.

Tiny regions are 100 m cells in EPSG:32650 without a street network, so travel is
the straight line between cell centres and sites x 1.3 at 60 m/min: a 15-minute walk
reaches 900 / 1.3 = 692 m. Districts lie 2 km or more apart, so each site reaches
only its own district unless a test says otherwise.
"""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

import svcnet
from svcnet.access import two_step_fca
from svcnet.errors import InfeasibleError, InputError
from svcnet.services import plan_child_welfare, plan_eldercare
from svcnet.services._travel import travel_minutes
from svcnet.services.eldercare import UNIT_TIERS, UNIT_WEIGHT, _split

UTM50 = "EPSG:32650"
REACH_M = 15 * 60 / 1.3  # a 15-minute walk along a straight line x 1.3


def _region(cells, candidates, *, facilities=None, name="toy"):
    """cells: (id, x, y, elderly, district); candidates: (id, x, y). Cells are 100 m squares."""
    grid = gpd.GeoDataFrame(
        {
            "cell_id": [c[0] for c in cells],
            "pop": [10 * c[3] for c in cells],
            "pop_0_14": [c[3] for c in cells],
            "pop_60plus": [c[3] for c in cells],
            "district": [c[4] for c in cells],
        },
        geometry=[box(c[1], c[2], c[1] + 100, c[2] + 100) for c in cells],
        crs=UTM50,
    )
    names = sorted({c[4] for c in cells})
    hulls = [grid[grid["district"] == d].union_all().buffer(500).envelope for d in names]
    districts = gpd.GeoDataFrame({"district": names}, geometry=hulls, crs=UTM50)
    sites = gpd.GeoDataFrame(
        {"candidate_id": [c[0] for c in candidates], "kind": "building"},
        geometry=[Point(c[1], c[2]) for c in candidates],
        crs=UTM50,
    )
    return svcnet.Region(
        grid.drop(columns="district"),
        boundaries={"district": districts},
        candidates=sites,
        facilities=facilities,
        name=name,
    )


def _beds(plan):
    return dict(zip(plan.sites["site_id"], plan.sites["beds"], strict=True))


def _check_invariants(plan, *, budget, least=20, block=10, elderly="pop_60plus"):
    """What every plan must satisfy, recomputed from its own tables."""
    sites, table = plan.sites, plan.assignment
    new = sites[sites["status"] == "new"]
    assert (new["beds"] >= least).all()
    assert (sites["new_beds"] % block == 0).all()
    assert sites["new_beds"].sum() <= budget
    assert (sites["beds"] == sites["existing_beds"] + sites["new_beds"]).all()
    assert (sites["capacity"] == sites["beds"]).all()
    assert (sites["public_beds"] + sites["private_beds"] == sites["new_beds"]).all()
    # population served shares each served cell's elderly out among its sites
    served = table.loc[table["beds_per_1000_after"] > 0, elderly].sum()
    assert sites["population_served"].sum() == pytest.approx(served)
    # ranks 1..k over the sites with new beds, in the table's order
    ranked = sites["rank"].dropna().astype(int).tolist()
    assert ranked == list(range(1, int((sites["new_beds"] > 0).sum()) + 1))
    assert sites["reason"].str.len().gt(0).all()
    # unit table against the assignment and the sites
    units = plan.summary()
    people = table.groupby("unit")[elderly].sum()
    access = (table[elderly] * table["beds_per_1000_after"]).groupby(table["unit"]).sum()
    label = units.columns[units.columns.get_loc("beds_before") - 1]
    for unit in people.index:
        assert units.loc[unit, label] == pytest.approx(people[unit])
        assert units.loc[unit, "access_per_1000_after"] == pytest.approx(
            access[unit] / people[unit]
        )
        norm = units.loc[unit, "norm_per_1000"]
        assert units.loc[unit, "meets_norm"] == (
            units.loc[unit, "access_per_1000_after"] >= norm - 1e-7
        )
    assert units.loc["total", "beds_after"] == pytest.approx(sites["beds"].sum())
    record = plan.solver[0]
    assert record["bound"] <= record["objective"] + 1e-6 * max(1, abs(record["objective"]))
    assert record["gap"] >= 0


def _straight_costs(plan, region):
    """Minutes from each planned cell to each site with beds, computed here (no svcnet costs)."""
    cells = region.population.set_index("cell_id").loc[plan.assignment["cell_id"]]
    centres = np.column_stack([cells.geometry.centroid.x, cells.geometry.centroid.y])
    points = np.column_stack([plan.sites.geometry.x, plan.sites.geometry.y])
    metres = np.hypot(*(centres[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    return metres * 1.3 / 60.0


# =========================================================================================
# known optima on tiny regions
# =========================================================================================
def test_each_district_gets_its_norm():
    # west: 2 cells x 500 elderly (needs 40 beds); east: 1 cell x 500 (needs 20).
    # The default budget is the norm for all: 60 beds, exactly what the two need.
    region = _region(
        [("w1", 0, 0, 500, "west"), ("w2", 100, 0, 500, "west"), ("e1", 3000, 0, 500, "east")],
        [("W", 100, 50), ("E", 3050, 50)],
    )
    plan = plan_eldercare(region)
    assert _beds(plan) == {"W": 40, "E": 20}
    table = plan.assignment.set_index("cell_id")
    assert table["beds_per_1000_after"].tolist() == pytest.approx([40.0, 40.0, 40.0])
    assert table["beds_per_1000_before"].tolist() == [0.0, 0.0, 0.0]
    assert np.isinf(table["minutes_before"]).all()  # no existing eldercare facility
    assert table.loc["e1", "site_id"] == "E"
    summary = plan.summary()
    assert summary.loc[["west", "east"], "meets_norm"].tolist() == [True, True]
    assert summary.loc["total", "beds_gap_after"] == 0
    assert plan.solver[0]["status"] == "optimal"
    assert any("'pop_60plus'" in note for note in plan.notes)
    _check_invariants(plan, budget=60)


def test_a_tight_budget_is_shared_in_proportion_to_need():
    # west 2,000 elderly (needs 80), east 1,000 (needs 40); only 60 beds. The unit penalty
    # (UNIT_TIERS tiers of UNIT_WEIGHT / K) is least when both reach the same share of the
    # norm: W 40 + E 20 costs 240 + 120 = 360 (x units of 2 per tier), W 30 + E 30 costs
    # 364 + 36 = 400, W 60 + E 0 costs 72 + 440 = 512. The cell shortfall is 60 in each.
    assert (UNIT_TIERS, UNIT_WEIGHT) == (10, 20.0)
    region = _region(
        [("w1", 0, 0, 1000, "west"), ("w2", 100, 0, 1000, "west"), ("e1", 3000, 0, 1000, "east")],
        [("W", 100, 50), ("E", 3050, 50)],
    )
    plan = plan_eldercare(region, total_beds=60)
    assert _beds(plan) == {"W": 40, "E": 20}
    summary = plan.summary()
    assert summary.loc[["west", "east"], "access_per_1000_after"].tolist() == pytest.approx(
        [20.0, 20.0]
    )
    assert not summary.loc[["west", "east"], "meets_norm"].any()
    assert summary.loc["total", "beds_gap_after"] == 60
    assert any("2 units stay below the norm" in note for note in plan.notes)
    _check_invariants(plan, budget=60)


def test_a_small_district_gets_a_site_of_the_least_size():
    # west 1,000 elderly need 40 beds, a far hamlet of 100 elderly needs 4; the budget is the
    # norm's 44 rounded up to 50. A site has at least 20 beds, so the hamlet gets 20 or none:
    # W 40 + S 0 costs 44 (hamlet's unit tiers: 2 x 22) + 4 (its cells) = 48;
    # W 30 + S 20 costs 36 (west's tiers: 2 x (10 + 6 + 2)) + 10 (its cells) = 46.
    region = _region(
        [("w1", 0, 0, 500, "west"), ("w2", 100, 0, 500, "west"), ("s1", 4000, 0, 100, "south")],
        [("W", 100, 50), ("S", 4050, 50)],
    )
    plan = plan_eldercare(region)
    assert plan.parameters["budget_new_beds"] == 50
    assert _beds(plan) == {"W": 30, "S": 20}
    _check_invariants(plan, budget=50)
    # with sites of at least 10 beds the hamlet's 10 (4 rounded up to a block) fit beside 40
    plan = plan_eldercare(region, min_beds_per_site=10)
    assert _beds(plan) == {"W": 40, "S": 10}
    _check_invariants(plan, budget=50, least=10)


def test_access_after_equals_two_step_fca_from_the_plans_sites():
    # A row of cells with overlapping catchments: every cell reaches two or three sites.
    cells = [(f"c{i}", 300 * i, 0, 100 + 50 * i, "row") for i in range(8)]
    candidates = [("A", 250, 50), ("B", 1050, 50), ("C", 1650, 50), ("D", 2150, 50)]
    region = _region(cells, candidates)
    plan = plan_eldercare(region, total_beds=80, private_share=0.35)
    costs = _straight_costs(plan, region)
    elderly = plan.assignment["pop_60plus"].to_numpy(float)
    expected = two_step_fca(costs, elderly, plan.sites["beds"].to_numpy(float), max_cost=15)
    np.testing.assert_allclose(plan.assignment["beds_per_1000_after"], 1000 * expected, rtol=1e-9)
    # nearest site with beds, and its minutes
    nearest = np.where(costs <= 15, costs, np.inf).min(axis=1)
    nearest[np.isinf(nearest)] = np.nan  # no site with beds within reach
    np.testing.assert_allclose(plan.assignment["minutes"], nearest, rtol=1e-9)
    assert plan.sites["private_beds"].sum() == round(0.35 * plan.sites["new_beds"].sum())
    _check_invariants(plan, budget=80)


def test_existing_beds_count_and_bound_the_budget():
    facilities = gpd.GeoDataFrame(
        {"facility_id": ["home"], "name": ["old home"], "service": ["eldercare"],
         "capacity": [30], "beds": [10]},
        geometry=[Point(100, 50)], crs=UTM50,
    )  # fmt: skip
    cells = [("w1", 0, 0, 500, "west"), ("w2", 100, 0, 500, "west"), ("e1", 3000, 0, 500, "east")]
    region = _region(cells, [("W", 0, 50), ("E", 3050, 50)], facilities=facilities)
    # the norm asks 60 beds; 30 exist at the west, which still lacks 10 (less than a site)
    plan = plan_eldercare(region)
    assert plan.parameters["budget_new_beds"] == 30
    assert _beds(plan) == {"home": 30, "E": 20}
    home = plan.sites.set_index("site_id").loc["home"]
    assert (home["status"], home["new_beds"], pd.isna(home["rank"])) == ("existing", 0, True)
    assert plan.assignment.set_index("cell_id")["minutes_before"]["w1"] < 15
    _check_invariants(plan, budget=30)
    # expanding the existing home closes the west's gap with one block
    plan = plan_eldercare(region, expand_existing=True)
    assert _beds(plan) == {"home": 40, "E": 20}
    assert plan.summary().loc["total", "beds_gap_after"] == 0
    # another column, or one number per facility
    assert _beds(plan_eldercare(region, existing_beds="beds"))["home"] == 10
    assert _beds(plan_eldercare(region, existing_beds=40, total_beds=60)) == {"home": 40, "E": 20}
    # a total below the existing beds names both numbers
    with pytest.raises(InputError, match=r"total_beds \(20\) is below the 30 beds"):
        plan_eldercare(region, total_beds=20)


def test_a_facility_without_beds_is_named():
    facilities = gpd.GeoDataFrame(
        {"facility_id": ["f1", "f2"], "service": ["eldercare", "eldercare"],
         "capacity": [40, None]},
        geometry=[Point(0, 0), Point(50, 50)], crs=UTM50,
    )  # fmt: skip
    region = _region([("w1", 0, 0, 500, "west")], [("W", 0, 50)], facilities=facilities)
    with pytest.raises(InputError, match="no bed count") as info:
        plan_eldercare(region)
    assert info.value.rows == ["f2"]
    plan = plan_eldercare(region, existing_beds=10)
    assert _beds(plan)["f1"] == 10
    plan = plan_eldercare(region, existing=False)
    assert set(plan.sites["status"]) == {"new"}


def test_shenzhen_eldercare_homes_have_no_bed_count():
    region = svcnet.datasets.load_shenzhen()
    with pytest.raises(InputError, match="3 existing eldercare facilities") as info:
        plan_eldercare(region)
    assert sorted(info.value.rows) == ["fac-57089", "fac-61414", "fac-67014"]


def test_same_input_same_plan_and_nothing_changed():
    region = _region(
        [(f"c{i}", 200 * i, 0, 300, "row") for i in range(6)],
        [("A", 100, 50), ("B", 500, 50), ("C", 900, 50)],
    )
    before = region.candidates
    one = plan_eldercare(region, total_beds=60)
    two = plan_eldercare(region, total_beds=60)
    pd.testing.assert_frame_equal(one.sites.drop(columns="geometry"),
                                  two.sites.drop(columns="geometry"))  # fmt: skip
    pd.testing.assert_frame_equal(region.candidates, before)


def test_private_split_by_largest_remainder():
    # 35% of 20, 30, 50: 7, 10.5, 17.5 -> 7, 10, 17 (34) and the last of 35 to the first tie
    private, public = _split(np.array([20, 30, 50]), 0.35)
    assert private.tolist() == [7, 11, 17] and public.tolist() == [13, 19, 33]
    private, public = _split(np.array([10, 10, 10]), 0.5)  # 15 of 30: 5, 5, 5 and one more
    assert private.sum() == 15 and (private + public).tolist() == [10, 10, 10]
    private, _ = _split(np.array([20, 40]), None)
    assert private.isna().all()


def test_child_welfare_uses_its_own_target():
    region = _region(
        [("w1", 0, 0, 5000, "west"), ("e1", 3000, 0, 2500, "east")],
        [("W", 50, 50), ("E", 3050, 50)],
    )
    # 60 beds for 7,500 children: 8 per 1,000, i.e. 40 west and 20 east
    plan = plan_child_welfare(region, total_beds=60)
    assert plan.service == "child-welfare beds" and plan.group == "pop_0_14"
    assert _beds(plan) == {"W": 40, "E": 20}
    summary = plan.summary()
    assert summary.loc["total", "norm_per_1000"] == pytest.approx(8.0)
    assert "children" in summary.columns
    assert plan.sites["private_beds"].isna().all()
    assert "children" in plan.sites["reason"].iloc[0]


# =========================================================================================
# bad input
# =========================================================================================
@pytest.fixture(scope="module")
def tiny():
    return _region([("w1", 0, 0, 500, "west")], [("W", 0, 50)])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"elderly": "pop_80plus"}, "no group 'pop_80plus'"),
        ({"min_beds_per_site": 25}, r"min_beds_per_site \(25\) is not a whole number of blocks"),
        ({"max_beds_per_site": 305}, r"max_beds_per_site \(305\) is not a whole number"),
        ({"block": 0}, "block must be at least 1"),
        ({"max_beds_per_site": 10}, "must be at least min_beds_per_site"),
        ({"mode": "fly"}, "mode must be 'walk' or 'drive'"),
        ({"travel_minutes": -5}, "travel_minutes must be a positive number"),
        ({"private_share": 1.5}, "share"),
        ({"existing_beds": [1, 2]}, "existing_beds must be"),
    ],
)
def test_bad_input_is_named(tiny, kwargs, match):
    with pytest.raises(InputError, match=match):
        plan_eldercare(tiny, **kwargs)


def test_no_candidates(tiny):
    empty = gpd.GeoDataFrame({"candidate_id": []}, geometry=[], crs=UTM50)
    with pytest.raises(InputError, match="no candidate sites"):
        plan_eldercare(tiny, candidates=empty)


def test_nothing_can_be_placed(tiny):
    far = gpd.GeoDataFrame({"candidate_id": ["far"]}, geometry=[Point(9000, 0)], crs=UTM50)
    with pytest.raises(InfeasibleError, match="no new site of 20 beds"):
        plan_eldercare(tiny, candidates=far, fill_gaps=False)
    with pytest.raises(InfeasibleError, match="budget 10 new beds"):
        plan_eldercare(tiny, total_beds=10)


# =========================================================================================
# Futian, with its street network: invariants only
# =========================================================================================
@pytest.fixture(scope="module")
def futian():
    return svcnet.datasets.load_futian()


@pytest.fixture(scope="module")
def futian_plan(futian):
    return plan_eldercare(futian, time_limit=8)


def test_futian_plan_invariants(futian_plan):
    plan = futian_plan
    assert plan.parameters["travel"].startswith("network")
    _check_invariants(plan, budget=plan.parameters["budget_new_beds"])
    summary = plan.summary()
    total = summary.loc["total"]
    assert total["access_per_1000_after"] > total["access_per_1000_before"] == 0
    assert summary.loc["total", "elderly"] == pytest.approx(plan.assignment["pop_60plus"].sum())
    assert (plan.sites["kind"].isin(["building", "cell (modelled)"])).all()
    built = plan.sites[plan.sites["kind"] == "building"]
    assert (built["beds"] <= built["floor_area_m2"] / 35).all()
    assert (plan.sites["beds"] <= 300).all()


def test_futian_access_recomputed_on_the_network(futian, futian_plan):
    plan = futian_plan
    cells = futian.population.set_index("cell_id").loc[plan.assignment["cell_id"]].reset_index()
    travel = travel_minutes(
        cells, plan.sites, network=futian.network, max_minutes=15, speed_m_per_min=60
    )
    elderly = plan.assignment["pop_60plus"].to_numpy(float)
    beds = plan.sites["beds"].to_numpy(float)
    expected = two_step_fca(travel.matrix, elderly, beds, max_cost=15)
    np.testing.assert_allclose(
        plan.assignment["beds_per_1000_after"], 1000 * expected, rtol=1e-6, atol=1e-9
    )


def test_futian_child_welfare(futian):
    plan = plan_child_welfare(futian, total_beds=300, time_limit=5)
    _check_invariants(plan, budget=300, elderly="pop_0_14")
    assert plan.sites["beds"].sum() <= 300
