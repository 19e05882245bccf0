"""plan_centers: population-bounded service areas on hand-built regions and on Futian."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _toys import check_center_plan
from shapely.geometry import Point, box

import svcnet
from svcnet import Region
from svcnet.errors import InfeasibleError, InputError
from svcnet.services import plan_centers

UTM50 = "EPSG:32650"


def _cells(spec):
    """spec: list of (x, y, pop, district) for 100 m cells with lower-left corner x, y."""
    return gpd.GeoDataFrame(
        {
            "cell_id": [f"c{i}" for i in range(len(spec))],
            "district": [d for *_, d in spec],
            "pop": [p for _, _, p, _ in spec],
            "pop_60plus": [p // 10 for _, _, p, _ in spec],
        },
        geometry=[box(x, y, x + 100, y + 100) for x, y, _, _ in spec],
        crs=UTM50,
    )


def _points(ids, xy, column):
    return gpd.GeoDataFrame(
        {column: ids, "name": [f"site {i}" for i in ids]},
        geometry=[Point(x, y) for x, y in xy],
        crs=UTM50,
    )


def _region(spec, candidates, facilities=None, districts=None):
    cells = _cells(spec)
    if districts is None:
        districts = gpd.GeoDataFrame(
            {"district": ["d"]}, geometry=[cells.union_all().envelope.buffer(50)], crs=UTM50
        )
    cand = _points([f"k{i}" for i in range(len(candidates))], candidates, "candidate_id")
    fac = None
    if facilities is not None:
        fac = _points([f"f{i}" for i in range(len(facilities))], facilities, "facility_id")
        fac["service"] = "community_center"
        fac["capacity"] = np.nan
    return Region(
        cells, boundaries={"district": districts}, candidates=cand, facilities=fac, name="toy"
    )


# Two clusters 5 km apart: A has 18,000 people in three cells, B 16,000 in two.
CLUSTERS = [
    (0, 0, 6_000, "d"), (100, 0, 6_000, "d"), (200, 0, 6_000, "d"),
    (5_000, 0, 8_000, "d"), (5_100, 0, 8_000, "d"),
]  # fmt: skip
SITES = [(150, 50), (5_100, 50), (2_500, 2_500)]  # one in A, one in B, one decoy between


def test_two_clusters_get_one_center_each():
    plan = plan_centers(_region(CLUSTERS, SITES), time_limit=30)
    sites = plan.sites.set_index("site_id")
    assert sorted(sites.index) == ["k0", "k1"]
    assert sites.loc["k0", "population_served"] == 18_000
    assert sites.loc["k1", "population_served"] == 16_000
    assert (plan.sites["status"] == "new").all()
    assert sorted(plan.sites["rank"].tolist()) == [1, 2]
    assert plan.unserved.empty
    got = plan.assignment.set_index("cell_id")["site_id"].to_dict()
    assert got == {"c0": "k0", "c1": "k0", "c2": "k0", "c3": "k1", "c4": "k1"}
    # mean walk of A by hand: cell centres 100 m, 0 m... from (150, 50): 100, 0, 100 m -> 1.3x
    # straight at 60 m/min: (6000*130 + 6000*0 + 6000*130)/18000/60
    assert sites.loc["k0", "mean_minutes"] == pytest.approx(2 * 130 / 3 / 60)
    assert "serves 18,000 people" in sites.loc["k0", "reason"]


def test_a_cluster_too_small_is_left_unserved_and_said():
    spec = [*CLUSTERS, (20_000, 0, 9_000, "d")]  # 9,000 people alone, far from all
    plan = plan_centers(_region(spec, [*SITES, (20_050, 50)]), time_limit=30)
    assert plan.unserved["cell_id"].tolist() == ["c5"]
    assert any("9,000 people in 1 cells cannot be served" in n for n in plan.notes)
    assert not any("although a center within reach" in n for n in plan.notes)
    served = plan.sites["population_served"].sum()
    assert served + plan.unserved["pop"].sum() == sum(p for _, _, p, _ in spec)


def test_people_a_full_center_cannot_take_are_told_apart_from_those_out_of_reach():
    # 21,000 people around the only site: it takes 20,000 and the farthest 1,000 stay unserved
    spec = [(0, 0, 10_000, "d"), (100, 0, 10_000, "d"), (200, 0, 1_000, "d")]
    plan = plan_centers(_region(spec, [(100, 50)]), time_limit=30)
    assert plan.unserved["cell_id"].tolist() == ["c2"]
    assert any(n.startswith("1,000 people in 1 cells are left unserved although a center within "
                            "reach could gather 15,000 people") for n in plan.notes)  # fmt: skip
    assert not any("cannot be served" in n for n in plan.notes)


def test_a_big_cluster_needs_two_centers_within_bounds():
    spec = [(x, 0, 5_000, "d") for x in range(0, 700, 100)]  # 35,000 people in a row
    plan = plan_centers(_region(spec, [(50, 50), (350, 50), (650, 50)]), time_limit=30)
    served = plan.sites["population_served"]
    assert len(plan.sites) == 2 and served.sum() == 35_000
    assert served.between(15_000, 20_000).all()
    assert plan.summary().loc["total", "centers_min"] == 2


# Site s at x=350 is nearest to cell C (x=500-600), cut off from s's other cells by two empty
# cells, while C touches t's cells: the optimum sends C to s (200 m against 400 m).
CUT_OFF = [
    (0, 0, 6_000, "d"), (100, 0, 6_000, "d"), (200, 0, 6_000, "d"), (500, 0, 2_000, "d"),
    (600, 0, 6_000, "d"), (700, 0, 6_000, "d"), (800, 0, 6_000, "d"),
]  # fmt: skip
CUT_OFF_SITES = [(350, 50), (950, 50)]


def test_a_cut_off_cell_joins_the_area_it_touches_and_the_cost_is_counted():
    region = _region(CUT_OFF, CUT_OFF_SITES)
    loose = plan_centers(region, time_limit=30, contiguous=False)
    assert loose.assignment.set_index("cell_id").loc["c3", "site_id"] == "k0"
    assert loose.sites.set_index("site_id")["area_pieces"].to_dict() == {"k0": 2, "k1": 1}
    assert any("1 of 2 service areas are in more than one piece" in n for n in loose.notes)
    plan = plan_centers(region, time_limit=30)
    assert plan.assignment.set_index("cell_id").loc["c3", "site_id"] == "k1"
    sites = plan.sites.set_index("site_id")
    assert sites["area_pieces"].to_dict() == {"k0": 1, "k1": 1}
    assert sites["population_served"].to_dict() == {"k0": 18_000, "k1": 20_000}
    assert any(n.startswith("Contiguity repair: 2,000 people in 1 cell part,") for n in plan.notes)
    # the solver figures carry the repair: 2,000 people walk 200 m more (x 1.3 at 60 m/min)
    added = 2_000 * 200 * 1.3 / 60
    (before,), (after,) = loose.solver, plan.solver
    assert after["objective"] == pytest.approx(before["objective"] + added)
    assert after["gap"] == pytest.approx((after["objective"] - after["bound"]) / after["objective"])
    assert after["method"].endswith("+ contiguity repair")


def test_existing_center_is_kept_and_no_new_one_crowds_it():
    plan = plan_centers(_region(CLUSTERS, SITES, facilities=[(120, 60)]), time_limit=30)
    sites = plan.sites.set_index("site_id")
    assert sites.loc["f0", "status"] == "existing"
    assert pd.isna(sites.loc["f0", "rank"])
    assert sites.loc["f0", "population_served"] == 18_000
    assert "k0" not in sites.index and "k1" in sites.index
    summary = plan.summary()
    assert summary.loc["total", "facilities_before"] == 1
    assert summary.loc["total", "facilities_after"] == 2
    # before: only cluster A within 10 minutes of the existing center
    assert summary.loc["total", "within_10min_before"] == pytest.approx(18 / 34)
    assert summary.loc["total", "within_10min_after"] == pytest.approx(1.0)


def test_from_scratch_ignores_existing():
    plan = plan_centers(
        _region(CLUSTERS, SITES, facilities=[(120, 60)]), existing=False, time_limit=30
    )
    assert (plan.sites["status"] == "new").all()


def test_a_cell_above_the_upper_bound_is_split():
    spec = [(0, 0, 25_000, "d"), (100, 0, 10_000, "d")]
    plan = plan_centers(_region(spec, [(50, 50), (150, 50)]), time_limit=30)
    table = plan.assignment
    parts = table[table["cell_id"].str.startswith("c0#")]
    # 25,000 people cannot go to one center: the cell is shared, one row per center
    assert len(parts) == 2 and parts["pop"].sum() == 25_000
    assert parts["site_id"].nunique() == 2
    assert any("1 cell is shared between two or more centers" in n for n in plan.notes)
    assert plan.sites["population_served"].sum() == 35_000
    assert plan.sites["population_served"].between(15_000, 20_000).all()


def test_centers_serve_their_own_district():
    spec = [(0, 0, 9_000, "w"), (100, 0, 9_000, "w"), (200, 0, 9_000, "e"), (300, 0, 9_000, "e")]
    districts = gpd.GeoDataFrame(
        {"district": ["w", "e"]}, geometry=[box(-50, -50, 200, 150), box(200, -50, 450, 150)],
        crs=UTM50,
    )  # fmt: skip
    plan = plan_centers(_region(spec, [(100, 50), (300, 50)], districts=districts), time_limit=30)
    table = plan.assignment.set_index("cell_id")
    assert table.loc[["c0", "c1"], "site_id"].eq("k0").all()
    assert table.loc[["c2", "c3"], "site_id"].eq("k1").all()
    assert [r["part"] for r in plan.solver] == ["e", "w", "total"]
    assert plan.solver_gap >= 0


def test_an_existing_center_counts_only_its_own_district_for_its_floor():
    # the existing center at x=190 (district w) reaches 20,000 people in all but only 10,000
    # in w: it is kept without the lower bound, and the plan's bound stays finite
    spec = [(0, 0, 5_000, "w"), (100, 0, 5_000, "w"), (200, 0, 5_000, "e"), (300, 0, 5_000, "e"),
            (400, 0, 9_000, "e")]  # fmt: skip
    districts = gpd.GeoDataFrame(
        {"district": ["w", "e"]}, geometry=[box(-50, -50, 200, 150), box(200, -50, 550, 150)],
        crs=UTM50,
    )  # fmt: skip
    region = _region(spec, [(350, 50)], facilities=[(190, 50)], districts=districts)
    plan = plan_centers(region, time_limit=30)
    assert any("can reach only 10,000 people of its own unit" in n for n in plan.notes)
    table = plan.assignment.set_index("cell_id")
    assert table.loc[["c0", "c1"], "site_id"].eq("f0").all()
    assert table.loc[["c2", "c3", "c4"], "site_id"].eq("k0").all()
    assert np.isfinite(plan.solver_gap)


def test_bad_inputs_raise_clear_errors():
    region = _region(CLUSTERS, SITES)
    with pytest.raises(InputError, match="no group 'pop_80plus'"):
        plan_centers(region, group="pop_80plus")
    with pytest.raises(InputError, match="walk_minutes"):
        plan_centers(region, walk_minutes=-1)
    with pytest.raises(InputError, match="max_minutes"):
        plan_centers(region, walk_minutes=10, max_minutes=5)
    with pytest.raises(InputError, match="persons"):
        plan_centers(region, people_per_center=svcnet.standards.get_norm("walking_speed"))
    tiny = _region([(0, 0, 900, "d")], [(50, 50)])
    with pytest.raises(InfeasibleError, match="fewer than one center's lower bound"):
        plan_centers(tiny)


def test_inputs_are_not_changed():
    region = _region(CLUSTERS, SITES)
    grid = region.population
    plan_centers(region, time_limit=30)
    pd.testing.assert_frame_equal(region.population, grid)


@pytest.fixture(scope="module")
def futian_plan():
    return plan_centers(svcnet.datasets.load_futian(), time_limit=40)


def test_futian_plan_keeps_every_bound_and_adds_up(futian_plan):
    plan = futian_plan
    sites = plan.sites
    check_center_plan(plan, 1_553_225)
    total = sites["population_served"].sum() + plan.unserved["pop"].sum()
    assert total == 1_553_225
    summary = plan.summary()
    assert summary.loc["total", "pop"] == 1_553_225
    assert summary.loc["total", "within_10min_after"] > summary.loc["total", "within_10min_before"]
    assert plan.parameters["travel"].startswith("network")
    assert plan.solver_gap >= 0
    split = int((sites["area_pieces"] > 1).sum())
    assert not split or any(f"{split} of {len(sites)} service areas" in n for n in plan.notes)


def test_plan_files_are_written_and_read_back(futian_plan, tmp_path):
    written = futian_plan.to_files(tmp_path)
    names = sorted(p.name for p in written)
    assert "community_service_centers.gpkg" in names
    assert "community_service_centers_summary.csv" in names
    back = gpd.read_file(tmp_path / "community_service_centers.gpkg", layer="sites")
    assert len(back) == len(futian_plan.sites)
    table = pd.read_csv(tmp_path / "community_service_centers_assignment.csv")
    assert len(table) == len(futian_plan.assignment)
    units = gpd.read_file(tmp_path / "community_service_centers.gpkg", layer="units")
    summary = futian_plan.summary().drop(index="total")
    assert sorted(units["unit"]) == sorted(summary.index)
    row = units.set_index("unit").loc[summary.index[0]]
    assert row["centers_gap_after"] == summary["centers_gap_after"].iloc[0]
    assert row["within_10min_after"] == pytest.approx(summary["within_10min_after"].iloc[0])
