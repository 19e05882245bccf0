"""plan_shelters on hand-built regions whose answer is known, and invariants on Futian."""

import itertools
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _toys import UTM50, count_verify_calls, grid
from scipy.optimize import linprog
from shapely.geometry import Point, box

import svcnet
from svcnet import Region
from svcnet.errors import InputError
from svcnet.services import _shelter_cover, shelters
from svcnet.services.shelters import plan_shelters


@pytest.fixture(autouse=True)
def verify_calls(monkeypatch):
    """Every plan's solution goes through svcnet.verify (which raises on any flaw)."""
    return count_verify_calls(monkeypatch, shelters)


def _sites(rows):
    """Open spaces from (id, x, y, area)."""
    return gpd.GeoDataFrame(
        {"site_id": [r[0] for r in rows], "area_m2": [float(r[3]) for r in rows]},
        geometry=[Point(r[1], r[2]) for r in rows],
        crs=UTM50,
    )


def _check(plan, region, group="pop"):
    """What every shelter plan must hold."""
    sites = plan.sites
    assignment = plan.assignment
    assert sites["site_id"].is_unique
    assert set(assignment["site_id"].dropna()) <= set(sites["site_id"])
    # capacity (places) is never exceeded
    used = assignment.groupby("site_id")["sheltered"].sum().reindex(sites["site_id"]).fillna(0)
    assert (used.to_numpy() <= sites["capacity"].to_numpy() + 1e-6).all()
    assert np.allclose(sites["places_used"], used.to_numpy())
    # everyone is counted once: served + unserved = the region's population
    total = float(region.population[group].sum())
    served = float(sites["population_served"].sum())
    unserved = float(plan.unserved[group].sum())
    assert served + unserved == pytest.approx(total)
    assert assignment[group].sum() == pytest.approx(total)
    # a served cell is within the reach
    reach = plan.parameters["reach_m"] / plan.parameters["walk_speed_m_per_min"]
    assert (assignment["minutes"].dropna() <= reach + 1e-9).all()
    assert sites["reason"].str.len().gt(10).all()
    table = plan.summary()
    assert table.loc["total", "covered_after"] == pytest.approx(served)


# ------------------------------------------------------------------ hand-built answers


def test_two_clusters_get_one_shelter_each(verify_calls):
    cells = grid([("a1", 0, 0, 300), ("a2", 1, 0, 200), ("b1", 50, 0, 250), ("b2", 51, 0, 150)])
    parks = _sites(
        [("near_a", 100, 50, 2_500), ("near_b", 5_100, 50, 2_500), ("between", 2_600, 50, 9_000)]
    )
    region = Region(cells, name="two clusters")
    plan = plan_shelters(region, sites=parks)
    assert sorted(plan.sites["site_id"]) == ["near_a", "near_b"]
    got = plan.assignment.set_index("cell_id")["site_id"].to_dict()
    assert got == {"a1": "near_a", "a2": "near_a", "b1": "near_b", "b2": "near_b"}
    assert plan.unserved.empty
    assert plan.sites.set_index("site_id").loc["near_a", "population_served"] == 500
    assert verify_calls == ["PMedian"]
    _check(plan, region)


def test_one_big_site_beats_two_small_ones():
    region = Region(grid([("c", 0, 0, 900)]), name="one cell")
    parks = _sites([("small1", 50, 150, 600), ("small2", 150, 50, 600), ("big", 50, 250, 1_000)])
    plan = plan_shelters(region, sites=parks)
    assert plan.sites["site_id"].tolist() == ["big"]
    assert plan.sites["places_used"].tolist() == [900.0]
    _check(plan, region)


def test_capacity_forces_a_second_shelter_and_splits_the_cell():
    region = Region(grid([("c", 0, 0, 900)]), name="one cell")
    parks = _sites([("small1", 50, 150, 600), ("small2", 150, 50, 600)])
    plan = plan_shelters(region, sites=parks)
    assert sorted(plan.sites["site_id"]) == ["small1", "small2"]
    assignment = plan.assignment
    assert sorted(assignment["cell_id"]) == ["c#1", "c#2"]
    assert assignment["pop"].sum() == 900
    assert (assignment.groupby("site_id")["pop"].sum() <= 600).all()
    assert any("split into parts" in n for n in plan.notes)
    _check(plan, region)


def test_among_equal_counts_the_shorter_walk_wins(tmp_path):
    region = Region(grid([("c", 0, 0, 400)]), name="walk")
    parks = _sites([("far", 50, 330, 1_000), ("near", 50, 120, 1_000)])
    plan = plan_shelters(region, sites=parks)
    assert plan.sites["site_id"].tolist() == ["near"]
    assert plan.compare(plan).loc["sites", "difference"] == 0
    assert all(path.exists() for path in plan.to_files(tmp_path))


def test_people_out_of_reach_are_reported_unserved():
    cells = grid([("in", 0, 0, 300), ("out", 40, 0, 120)])
    region = Region(cells, name="far")
    plan = plan_shelters(region, sites=_sites([("p", 50, 50, 5_000)]))
    assert plan.unserved["cell_id"].tolist() == ["out"]
    assert plan.summary().loc["total", "outside_after"] == 120
    assert any("no shelter place within 500 m" in n for n in plan.notes)
    _check(plan, region)


def test_when_room_runs_short_the_most_people_are_sheltered():
    cells = grid([("a", 0, 0, 700), ("b", 1, 0, 500)])
    region = Region(cells, name="short")
    plan = plan_shelters(region, sites=_sites([("p", 100, 50, 1_000)]))
    assert plan.sites["places_used"].tolist() == [1_000.0]
    assert plan.unserved["pop"].sum() == 200
    _check(plan, region)


def test_fixed_shelters_hold_a_share_and_reach_three_km():
    cells = grid([("a", 0, 0, 600), ("b", 20, 0, 400)])  # 2 km apart
    region = Region(cells, name="fixed")
    plan = plan_shelters(region, kind="fixed", sites=_sites([("park", 1_000, 50, 600)]))
    site = plan.sites.iloc[0]
    # 600 m2 / 2 m2 per person = 300 places = 30% of 1,000 residents
    assert site["capacity"] == 300 and site["places_used"] == pytest.approx(300)
    assert site["population_served"] == 1_000
    assert plan.parameters["reach_m"] == 3_000 and plan.parameters["capacity_share"] == 0.3
    assert any("upper value" in n for n in plan.notes)
    assert "30% of 1,000 residents" in site["reason"]
    _check(plan, region)


def test_norms_can_be_overridden():
    region = Region(grid([("c", 0, 0, 400)]), name="norms")
    plan = plan_shelters(region, sites=_sites([("p", 50, 50, 1_000)]), m2_per_person=2.0)
    assert plan.sites["capacity"].tolist() == [500.0]
    with pytest.raises(InputError, match="kind"):
        plan_shelters(region, kind="central", sites=_sites([("p", 50, 50, 1_000)]))


def test_fewest_sites_match_brute_force_on_random_tiny_regions():
    rng = np.random.default_rng(7)
    for trial in range(6):
        n_cells, n_sites = 6, 5
        cols = rng.integers(0, 8, n_cells)
        pops = rng.integers(50, 400, n_cells)
        cells = grid([(f"c{i}", int(cols[i]), i % 2, int(pops[i])) for i in range(n_cells)])
        xs = rng.uniform(0, 800, n_sites)
        areas = rng.integers(150, 900, n_sites)
        parks = _sites([(f"s{j}", xs[j], 100, int(areas[j])) for j in range(n_sites)])
        region = Region(cells, name=f"random {trial}")
        plan = plan_shelters(region, sites=parks)
        _check(plan, region)
        # brute force: the most people any set shelters, then the fewest sites doing it
        reach = 500 / 1.3  # straight line x 1.3 within a 500 m walk
        centre = cells.geometry.centroid
        dist = np.array(
            [
                [centre[i].distance(parks.geometry[j]) for j in range(n_sites)]
                for i in range(n_cells)
            ]
        )
        best = _most_sheltered(pops, areas, dist <= reach, range(n_sites))
        fewest = next(
            size
            for size in range(n_sites + 1)
            for subset in itertools.combinations(range(n_sites), size)
            if _most_sheltered(pops, areas, dist <= reach, subset) >= best - 1e-6
        )
        served = plan.sites["population_served"].sum()
        assert served == pytest.approx(best)
        assert len(plan.sites) == fewest


@pytest.mark.parametrize("cut_loop", [True, False], ids=["cover cuts", "rounding only"])
def test_large_components_close_the_gap_with_cover_cuts(monkeypatch, cut_loop):
    """Components too large for the step-2 MILP: the cut loop proves the fewest sites."""
    monkeypatch.setattr(_shelter_cover, "_LINK_PAIRS", 0)  # every component takes the large path
    if not cut_loop:  # what the planner did before: LP rounding and the drop pass only
        monkeypatch.setattr(
            _shelter_cover, "cover_cuts", lambda *a, **k: (a[5], 0.0, "feasible", 0)
        )
    rng = np.random.default_rng(3)
    gaps = []
    for trial in range(4):
        n_cells, n_sites = 12, 8
        cols, pops = rng.integers(0, 20, n_cells), rng.integers(50, 400, n_cells)
        cells = grid([(f"c{i}", int(cols[i]), i % 2, int(pops[i])) for i in range(n_cells)])
        xs, areas = rng.uniform(0, 2_000, n_sites), rng.integers(150, 1_500, n_sites)
        parks = _sites([(f"s{j}", xs[j], 100, int(areas[j])) for j in range(n_sites)])
        region = Region(cells, name=f"large {trial}")
        plan = plan_shelters(region, sites=parks)
        _check(plan, region)
        record = plan.solver_table().set_index("part").loc["fewest sites"]
        gaps.append(record["gap"])
        centre = cells.geometry.centroid
        within = np.array([[centre[i].distance(p) <= 500 / 1.3 for p in parks.geometry]
                           for i in range(n_cells)])  # fmt: skip
        best = _most_sheltered(pops, areas, within, range(n_sites))
        fewest = next(
            size
            for size in range(n_sites + 1)
            for subset in itertools.combinations(range(n_sites), size)
            if _most_sheltered(pops, areas, within, subset) >= best - 1e-6
        )
        assert len(plan.sites) == fewest
        assert record["bound"] <= fewest
    if cut_loop:
        assert gaps == [0.0] * 4  # proven
    else:
        assert max(gaps) > 0  # the merged LP alone leaves a gap


def _most_sheltered(pops, room, within, subset):
    """Max flow by LP (scipy): the most people the subset of sites shelters."""
    pairs = [(i, j) for i in range(len(pops)) for j in subset if within[i, j]]
    if not pairs:
        return 0.0
    a = np.zeros((len(pops) + len(room), len(pairs)))
    for k, (i, j) in enumerate(pairs):
        a[i, k] = 1
        a[len(pops) + j, k] = 1
    result = linprog(-np.ones(len(pairs)), A_ub=a, b_ub=np.concatenate([pops, room]))
    return -result.fun


# ------------------------------------------------------------------ existing shelters


def _with_shelter(capacity):
    cells = grid([("a", 0, 0, 300), ("b", 30, 0, 200)])
    facility = gpd.GeoDataFrame(
        {
            "facility_id": ["sh1"],
            "name": ["Old shelter"],
            "service": ["shelter"],
            "capacity": [capacity],
        },
        geometry=[Point(50, 150)],
        crs=UTM50,
    )
    return Region(cells, facilities=facility, name="existing")


def test_existing_shelters_are_kept_and_count_before():
    region = _with_shelter(500.0)
    plan = plan_shelters(region, sites=_sites([("p", 3_050, 50, 1_000)]))
    sites = plan.sites.set_index("site_id")
    assert sites.loc["sh1", "status"] == "existing" and pd.isna(sites.loc["sh1", "rank"])
    assert sites.loc["p", "status"] == "new" and sites.loc["p", "rank"] == 1
    assert sites.loc["sh1", "newly_sheltered"] == 0
    table = plan.summary()
    assert table.loc["total", "covered_before"] == 300
    assert table.loc["total", "covered_after"] == 500
    _check(plan, region)


def test_existing_shelter_without_capacity_needs_an_override():
    region = _with_shelter(np.nan)
    with pytest.raises(InputError, match="existing_capacity") as error:
        plan_shelters(region, sites=_sites([("p", 3_050, 50, 1_000)]))
    assert error.value.rows == ["sh1"]
    plan = plan_shelters(region, sites=_sites([("p", 3_050, 50, 1_000)]), existing_capacity=400)
    assert plan.sites.set_index("site_id").loc["sh1", "capacity"] == 400
    plan = plan_shelters(region, sites=_sites([("p", 3_050, 50, 1_000)]), existing=False)
    assert "sh1" not in set(plan.sites["site_id"])


def test_sites_without_area_are_refused_by_row():
    region = Region(grid([("c", 0, 0, 100)]), name="area")
    parks = _sites([("ok", 50, 50, 1_000), ("bad", 60, 60, 1_000)])
    parks.loc[1, "area_m2"] = np.nan
    with pytest.raises(InputError, match="usable area") as error:
        plan_shelters(region, sites=parks)
    assert error.value.rows == ["bad"]
    with pytest.raises(InputError, match="area_column"):
        plan_shelters(region, sites=parks.drop(columns="area_m2"))
    plan = plan_shelters(
        region,
        sites=parks.rename(columns={"area_m2": "open_m2"}).fillna(5.0),
        area_column="open_m2",
    )
    assert len(plan.sites) == 1


# ------------------------------------------------------------------ modelled sites, units


def test_without_sites_school_grounds_and_open_land_are_modelled():
    cells = grid([("home", 0, 0, 3_000), ("yard", 1, 0, 0), ("block", 0, 1, 0)])
    candidates = gpd.GeoDataFrame(
        {
            "candidate_id": ["school1", "shop1"],
            "kind": "building",
            "category": ["school", "commercial"],
            "floor_area_m2": [10_000.0, 5_000.0],
        },
        geometry=[Point(50, 250), Point(50, 150)],
        crs=UTM50,
    )
    region = Region(cells, candidates=candidates, name="modelled")
    plan = plan_shelters(region, m2_per_person=2.0)
    sites = plan.sites.set_index("site_id")
    assert sites["modelled"].all()
    # school grounds: 0.4 x 10,000 m2; open land: half of the empty cell "yard" only
    # ("block" holds the shop, so it is not open land)
    assert sorted(sites["site_type"]) == ["open land", "school grounds"]  # 3,000 need both
    school = sites.loc["school-school1"]
    assert school["area_m2"] == 4_000 and "0.4 x" in school["area_basis"]
    assert school["capacity"] == 2_000
    land = sites[sites["site_type"] == "open land"].iloc[0]
    assert land["area_m2"] == 5_000 and "1 open grid cell" in land["area_basis"]
    assert any("modelled" in n for n in plan.notes)
    assert sites["population_served"].sum() == 3_000
    _check(plan, region)


def test_units_coverage_and_demonstration_rank():
    cells = grid([("a", 0, 0, 300), ("b", 1, 0, 300), ("c", 40, 0, 500)])
    districts = gpd.GeoDataFrame(
        {"district": ["West", "East"]},
        geometry=[box(0, 0, 2_000, 100), box(2_000, 0, 5_000, 100)],
        crs=UTM50,
    )
    facility = gpd.GeoDataFrame(
        {"facility_id": ["sh1"], "service": ["shelter"], "capacity": [1_000.0]},
        geometry=[Point(100, 150)],
        crs=UTM50,
    )
    region = Region(cells, boundaries={"district": districts}, facilities=facility, name="units")
    plan = plan_shelters(region, sites=_sites([("east_park", 4_050, 50, 800)]))
    table = plan.summary()
    assert table.loc["West", "coverage_before"] == 1.0
    assert table.loc["East", "coverage_before"] == 0.0
    assert table.loc["East", "coverage_after"] == 1.0
    # everyone has a place after the plan: the denser unit ranks first
    # (West: 600 people on 0.2 km², East: 500 on 0.3 km²)
    assert table.loc["West", "demonstration_rank"] == 1
    assert table.loc["East", "demonstration_rank"] == 2
    assert table.loc["East", "places_gap_before"] == 500
    assert table.loc["East", "places_gap_after"] == 0
    assert any("stands in for communities" in n for n in plan.notes)
    _check(plan, region)


def test_demonstration_rank_puts_people_left_without_a_place_first():
    # "far" keeps 120 people without a place after the plan; "big" has more people (and
    # more without a shelter today), "dense" the highest density: "far" still comes first
    cells = grid([("b1", 0, 0, 400), ("b2", 1, 0, 400), ("d1", 10, 0, 300), ("f1", 40, 0, 120)])
    districts = gpd.GeoDataFrame(
        {"district": ["big", "dense", "far"]},
        geometry=[box(0, 0, 900, 100), box(900, 0, 1_200, 100), box(3_000, 0, 5_000, 100)],
        crs=UTM50,
    )
    region = Region(cells, boundaries={"district": districts}, name="demonstration")
    parks = _sites([("p_big", 100, 50, 900), ("p_dense", 1_050, 50, 400)])
    table = plan_shelters(region, sites=parks).summary()
    assert table.loc[["big", "dense", "far"], "outside_after"].tolist() == [0, 0, 120]
    assert table.loc[["big", "dense", "far"], "outside_before"].tolist() == [800, 300, 120]
    ranks = table.loc[["far", "dense", "big"], "demonstration_rank"].tolist()
    assert ranks == [1, 2, 3]  # outside after the plan, then density (dense 10,000/km²)
    assert "after the plan" in plan_shelters.__doc__.split("demonstration_rank")[-1][:400]


def test_unit_table_counts_places_for_the_units_residents():
    # the park lies in "host" but only "guest"'s residents are within its reach
    cells = grid([("g", 0, 0, 400), ("h", 30, 0, 100)])
    districts = gpd.GeoDataFrame(
        {"district": ["guest", "host"]},
        geometry=[box(0, 0, 200, 100), box(200, 0, 3_200, 100)],
        crs=UTM50,
    )
    region = Region(cells, boundaries={"district": districts}, name="places")
    plan = plan_shelters(region, sites=_sites([("park", 300, 50, 5_000)]))
    table = plan.summary()
    host, guest = table.loc["host"], table.loc["guest"]
    # capacity located in a unit is labelled as such and kept apart from places for residents
    assert host["capacity_located_after"] == 5_000 and guest["capacity_located_after"] == 0
    assert guest["places_for_residents_after"] == 400 and host["places_for_residents_after"] == 0
    # the host's 100 residents have no place: the gap says so, whatever lies in the unit
    assert host["outside_after"] == 100 and host["places_gap_after"] == 100
    assert guest["places_gap_after"] == 0
    assert table.loc["total", "places_gap_after"] == 100
    assert not {"places_after", "places_per_resident_after"} & set(table.columns)
    _check(plan, region)


def test_fixed_plans_count_whole_people():
    # 30% of 333 and of 667 residents are fractions of a person: places are whole
    cells = grid([("a", 0, 0, 333), ("b", 1, 0, 667), ("c", 30, 0, 401)])
    shelter = gpd.GeoDataFrame(
        {"facility_id": ["old"], "service": ["shelter"], "capacity": [100.6]},
        geometry=[Point(50, 150)],
        crs=UTM50,
    )
    region = Region(cells, facilities=shelter, name="whole")
    plan = plan_shelters(region, kind="fixed", sites=_sites([("park", 2_000, 50, 2_000)]))
    sites, assignment = plan.sites, plan.assignment
    whole = lambda values: np.allclose(values, np.round(values))  # noqa: E731
    for column in ("capacity", "places_used", "population_served", "newly_sheltered"):
        assert whole(sites[column].to_numpy(dtype=float)), column
    for column in ("sheltered", "sheltered_before", "covered_before"):
        assert whole(assignment[column].to_numpy(dtype=float)), column
    assert sites.set_index("site_id").loc["old", "capacity"] == 100  # whole places
    # a shelter's places: ceil(0.3 x its residents), within its capacity
    by_site = assignment.groupby("site_id")[["pop", "sheltered"]].sum()
    assert (by_site["sheltered"] == np.ceil(0.3 * by_site["pop"] - 1e-9)).all()
    table = plan.summary()
    for column in ("places_for_residents_before", "places_for_residents_after"):
        assert whole(table[column].to_numpy(dtype=float)), column
    assert table.loc["total", "places_for_residents_before"] == 100  # 0.3 x 333 residents
    assert table.loc["total", "covered_before"] == 333
    _check(plan, region)


def test_the_threshold_in_column_names_is_readable_and_counts_the_exact_reach():
    # 500 m at 60 m/min is 8.33 minutes: the columns say 8.4 and count the 500 m reach
    cells = grid([("a", 0, 0, 300), ("b", 2, 0, 200), ("far", 40, 0, 50)])
    region = Region(cells, name="threshold")
    plan = plan_shelters(region, sites=_sites([("p", 50, 50, 5_000)]))
    assert plan.threshold_minutes == 8.4
    assert plan.parameters["reach_minutes"] == pytest.approx(500 / 60)
    table = plan.summary()
    assert "within_8.4min_after" in table.columns
    assert not [c for c in table.columns if "8.33" in str(c)]
    total = table.loc["total"]
    assert total["within_8.4min_after"] == pytest.approx(total["coverage_after"])
    assert any("rounded up to a tenth of a minute" in n for n in plan.notes)
    fixed = plan_shelters(region, kind="fixed", sites=_sites([("p", 50, 50, 5_000)]))
    assert fixed.threshold_minutes == 50  # 3,000 m at 60 m/min: already round
    assert not any("rounded up" in n for n in fixed.notes)


def test_given_communities_replace_the_units():
    cells = grid([("a", 0, 0, 300), ("b", 5, 0, 300)])
    region = Region(cells, name="communities")
    areas = gpd.GeoDataFrame(
        {"site_id": ["c1", "c2"]}, geometry=[box(0, 0, 300, 100), box(300, 0, 800, 100)], crs=UTM50
    )
    plan = plan_shelters(region, sites=_sites([("p", 300, 50, 1_000)]), communities=areas)
    assert plan.unit_level == "community"
    assert set(plan.assignment["unit"]) == {"c1", "c2"}
    # a cell outside every given area joins the nearest one, and the note calls it a cell
    small = areas.assign(geometry=[box(0, 0, 300, 100), box(300, 0, 500, 100)])
    plan = plan_shelters(region, sites=_sites([("p", 300, 50, 1_000)]), communities=small)
    assert "1 grid cell lies outside every community and join" in " ".join(plan.notes)
    assert not any("community points" in n for n in plan.notes)


# ------------------------------------------------------------------ the real data


def test_futian_invariants_and_time():
    region = svcnet.datasets.load_futian()
    started = time.perf_counter()
    plan = plan_shelters(region, time_limit=15)
    assert time.perf_counter() - started < 60
    _check(plan, region)
    assert plan.sites["modelled"].all()
    assert len(plan.sites) > 50
    fewest = plan.solver_table().set_index("part").loc["fewest sites"]
    assert fewest["bound"] <= fewest["objective"]
    assert plan.summary().loc["total", "coverage_after"] > 0.9
