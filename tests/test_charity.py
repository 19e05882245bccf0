"""plan_charity on hand-built regions whose answer is known, and invariants on Futian."""

import logging
import time

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from _toys import UTM50, check_charity_plan, count_verify_calls, grid
from shapely.geometry import Point, box

import svcnet
from svcnet import Region
from svcnet.errors import InputError
from svcnet.services import _charity_points
from svcnet.services._travel import travel_minutes
from svcnet.services.charity import plan_charity


@pytest.fixture(autouse=True)
def verify_calls(monkeypatch):
    """Every 1-median goes through svcnet.verify (which raises on any flaw)."""
    return count_verify_calls(monkeypatch, _charity_points)  # where the 1-medians are solved


def _layer(level, names_boxes):
    return gpd.GeoDataFrame(
        {level: [n for n, _ in names_boxes]},
        geometry=[box(*b) for _, b in names_boxes],
        crs=UTM50,
    )


def _points(kind, rows):
    """Facilities (kind "facility", with service) or candidates from (id, x, y, extra)."""
    if kind == "facility":
        return gpd.GeoDataFrame(
            {
                "facility_id": [r[0] for r in rows],
                "name": [r[0].upper() for r in rows],
                "service": [r[3] for r in rows],
            },
            geometry=[Point(r[1], r[2]) for r in rows],
            crs=UTM50,
        )
    return gpd.GeoDataFrame(
        {
            "candidate_id": [r[0] for r in rows],
            "kind": "building",
            "category": "commercial",
            "floor_area_m2": [float(r[3]) for r in rows],
        },
        geometry=[Point(r[1], r[2]) for r in rows],
        crs=UTM50,
    )


# ------------------------------------------------------------------ hand-built answers


def test_a_unit_with_one_outlet_gets_it(verify_calls):
    cells = grid([("a", 0, 0, 300), ("b", 1, 0, 200), ("c", 2, 0, 100)])
    region = Region(
        cells,
        boundaries={"district": _layer("district", [("D", (0, 0, 300, 100))])},
        facilities=_points("facility", [("post1", 250, 50, "post_office")]),
        candidates=_points("candidate", [("shop", 60, 50, 9_000)]),
        name="one outlet",
    )
    plan = plan_charity(region, levels=["district"], outlet_tolerance=1.5)
    site = plan.sites.iloc[0]
    assert (site["site_id"], site["status"], site["location_id"]) == (
        "district:D",
        "existing",
        "post1",
    )
    assert "POST1 post office" in site["reason"]
    assert verify_calls == ["PMedian"]
    check_charity_plan(plan, region)


def test_the_point_minimises_the_total_walk():
    cells = grid([("a", 0, 0, 50), ("b", 5, 0, 1_000), ("c", 10, 0, 50)])
    region = Region(
        cells,
        boundaries={"district": _layer("district", [("D", (0, 0, 1_100, 100))])},
        candidates=_points(
            "candidate", [("west", 50, 50, 1), ("mid", 550, 50, 1), ("east", 1_050, 50, 1)]
        ),
        name="median",
    )
    plan = plan_charity(region, levels=["district"])
    assert plan.sites["location_id"].tolist() == ["mid"]
    assert plan.sites["status"].tolist() == ["new"]
    assert "no post or telecom office" in plan.sites["reason"].iloc[0]


def test_an_outlet_is_preferred_within_the_tolerance():
    # people in the middle; the outlet 200 m off, a building right there
    cells = grid([("a", 4, 0, 100), ("b", 5, 0, 1_000), ("c", 6, 0, 100)])
    region = Region(
        cells,
        boundaries={"district": _layer("district", [("D", (0, 0, 1_100, 100))])},
        facilities=_points("facility", [("tel", 750, 50, "telecom")]),
        candidates=_points("candidate", [("mid", 550, 50, 1)]),
        name="tolerance",
    )
    strict = plan_charity(region, levels=["district"], outlet_tolerance=0.1)
    assert strict.sites["location_id"].tolist() == ["mid"]
    assert "its best outlet would make the walk" in strict.sites["reason"].iloc[0]
    loose = plan_charity(region, levels=["district"], outlet_tolerance=12.0)  # walk x 12
    assert loose.sites["location_id"].tolist() == ["tel"]
    assert loose.sites["status"].tolist() == ["existing"]


def test_a_higher_point_inside_a_lower_unit_is_its_point():
    cells = grid([("w1", 0, 0, 100), ("w2", 1, 0, 100), ("e1", 8, 0, 1_000), ("e2", 9, 0, 900)])
    city = _layer("city", [("C", (0, 0, 1_000, 100))])
    districts = _layer("district", [("West", (0, 0, 500, 100)), ("East", (500, 0, 1_000, 100))])
    outlets = _points("facility", [("tw", 150, 50, "telecom"), ("te", 850, 50, "telecom")])
    region = Region(
        cells, boundaries={"city": city, "district": districts}, facilities=outlets, name="nest"
    )
    plan = plan_charity(region)
    sites = plan.sites.set_index("site_id")
    assert sites.loc["city:C", "location_id"] == "te"  # most people live east
    assert sites.loc["district:East", "shared_with"] == "city:C"
    assert sites.loc["district:East", "location_id"] == "te"
    assert sites.loc["district:West", "location_id"] == "tw"
    assert not isinstance(sites.loc["district:West", "shared_with"], str)
    # community: the finest level stands in, each district point is its community's point
    assert sites.loc["community:West", "shared_with"] == "district:West"
    assert sites.loc["community:East", "shared_with"] == "district:East"
    solver = {r["level"]: r for r in plan.solver}
    assert solver["subdistrict"]["status"] == "skipped"
    assert solver["district"]["shared"] == 1 and solver["district"]["solved"] == 1
    assert any("stands in" in n for n in plan.notes)
    assert plan.assignment.set_index("cell_id").loc["e1", "site_id"] == "community:East"
    check_charity_plan(plan, region)


def test_points_are_not_shared_when_told_not_to():
    cells = grid([("w1", 0, 0, 100), ("e1", 8, 0, 1_000)])
    city = _layer("city", [("C", (0, 0, 1_000, 100))])
    districts = _layer("district", [("West", (0, 0, 500, 100)), ("East", (500, 0, 1_000, 100))])
    outlets = _points("facility", [("tw", 150, 50, "telecom"), ("te", 850, 50, "telecom")])
    region = Region(
        cells, boundaries={"city": city, "district": districts}, facilities=outlets, name="nest"
    )
    plan = plan_charity(region, levels=["city", "district"], share_points=False)
    assert plan.sites["shared_with"].isna().all()
    assert {r["level"]: r["solved"] for r in plan.solver} == {"city": 1, "district": 2}


def test_given_communities_stand_in_and_every_unit_gets_a_point():
    cells = grid([("a", 0, 0, 300), ("b", 1, 0, 300), ("c", 6, 0, 200), ("d", 7, 0, 100)])
    region = Region(
        cells,
        boundaries={"district": _layer("district", [("D", (0, 0, 1_000, 100))])},
        facilities=_points("facility", [("tel", 650, 50, "telecom")]),
        candidates=_points("candidate", [("shop", 50, 50, 100)]),
        name="communities",
    )
    areas = gpd.GeoDataFrame(
        {"community": ["k1", "k2", "empty"]},
        geometry=[box(0, 0, 400, 100), box(400, 0, 900, 100), box(900, 0, 1_000, 100)],
        crs=UTM50,
    )
    plan = plan_charity(region, communities=areas)
    sites = plan.sites.set_index("site_id")
    assert {"community:k1", "community:k2", "community:empty"} <= set(sites.index)
    assert sites.loc["community:k2", "location_id"] == "tel"
    assert sites.loc["community:k1", "location_id"] == "shop"
    assert sites.loc["community:empty", "kind"] == "cell (modelled)"
    assert sites.loc["community:empty", "population_served"] == 0
    table = plan.summary()
    assert {"point_district", "within_10min_community", "minutes_district"} <= set(table)
    check_charity_plan(plan, region)


def test_a_unit_without_outlets_or_buildings_gets_a_modelled_point():
    cells = grid([("a", 0, 0, 10), ("b", 1, 0, 90)])
    region = Region(
        cells, boundaries={"district": _layer("district", [("D", (0, 0, 200, 100))])}, name="bare"
    )
    plan = plan_charity(region, levels=["district"])
    site = plan.sites.iloc[0]
    assert site["kind"] == "cell (modelled)" and site["location_id"] == "cell-b"
    assert "modelled at its most populated cell" in site["reason"]


def test_levels_the_region_lacks_are_skipped_with_the_reason():
    cells = grid([("a", 0, 0, 100)])
    region = Region(
        cells,
        boundaries={"district": _layer("district", [("D", (0, 0, 100, 100))])},
        facilities=_points("facility", [("p", 50, 50, "post_office")]),
        name="skip",
    )
    plan = plan_charity(region)
    solver = {r["level"]: r for r in plan.solver}
    assert [r["level"] for r in plan.solver] == ["city", "district", "subdistrict", "community"]
    assert solver["city"]["status"] == "skipped"
    assert "no city boundaries" in solver["city"]["reason"]
    assert any("No subdistrict points" in n for n in plan.notes)
    check_charity_plan(plan, region)


def test_bad_arguments_are_named():
    region = Region(grid([("a", 0, 0, 100)]), name="bad")
    with pytest.raises(InputError, match="levels"):
        plan_charity(region, levels="district")
    with pytest.raises(InputError, match="outlet_tolerance"):
        plan_charity(region, outlet_tolerance=-0.5)
    with pytest.raises(InputError, match="walk_minutes"):
        plan_charity(region, walk_minutes=0)


def test_a_region_without_boundaries_is_one_unit(tmp_path):
    region = Region(grid([("a", 0, 0, 100), ("b", 1, 0, 50)]), name="plain")
    plan = plan_charity(region, outlets=_points("facility", [("o", 120, 50, "post_office")]))
    assert plan.sites["site_id"].tolist() == ["community:plain"]
    assert plan.sites["location_id"].tolist() == ["o"]
    check_charity_plan(plan, region)
    assert plan.compare(plan).loc["sites", "difference"] == 0
    assert all(path.exists() for path in plan.to_files(tmp_path))


def test_before_and_after_measure_the_walk_to_a_donation_point():
    # the outlet at the west end is 10 people's nearest; the point goes to a building in the
    # middle, where 2,000 people live: that must not read as access getting worse for them
    cells = grid([("a", 0, 0, 10), ("b", 5, 0, 1_000), ("c", 6, 0, 1_000)])
    region = Region(
        cells,
        boundaries={"district": _layer("district", [("D", (0, 0, 1_100, 100))])},
        facilities=_points("facility", [("tel", 50, 50, "telecom")]),
        candidates=_points("candidate", [("mid", 550, 50, 1)]),
        name="before after",
    )
    plan = plan_charity(region, levels=["district"])
    assert plan.sites["location_id"].tolist() == ["mid"]
    assignment = plan.assignment.set_index("cell_id")
    assert np.isinf(assignment["minutes_before"]).all()  # no point at an outlet before
    total = plan.summary().loc["total"]
    assert total["within_10min_before"] == 0
    assert total["within_10min_after"] == pytest.approx(2_000 / 2_010)
    assert total["facilities_before"] == 0
    assert any("Before and after measure the walk to a donation point" in n for n in plan.notes)
    # a point at the outlet: before and after are both the walk to it
    at_outlet = plan_charity(region, levels=["district"], outlet_tolerance=50.0)
    assert at_outlet.sites["status"].tolist() == ["existing"]
    assignment = at_outlet.assignment
    assert np.allclose(assignment["minutes_before"], assignment["minutes"])
    assert np.allclose(assignment["minutes_nearest"], assignment["minutes"])
    total = at_outlet.summary().loc["total"]
    assert total["within_10min_before"] == total["within_10min_after"]


def test_candidate_buildings_that_are_an_outlets_building_are_dropped():
    # "tel_bldg" is the telecom outlet's own building (2 m off), slightly nearer the people:
    # without the rule a "new" point would open in the outlet's building
    cells = grid([("a", 4, 0, 100), ("b", 5, 0, 1_000)])
    outlet = _points("facility", [("tel", 550, 50, "telecom")])
    outlet["name"] = ["中国电信大楼"]
    buildings = _points(
        "candidate",
        [("tel_bldg", 548, 50, 9_000), ("twin_a", 50, 50, 500), ("twin_b", 53, 50, 400)],
    )
    buildings["name"] = ["中国电信大楼", "Twin", "Twin"]
    region = Region(
        cells,
        boundaries={"district": _layer("district", [("D", (0, 0, 1_100, 100))])},
        facilities=outlet,
        candidates=buildings,
        name="duplicates",
    )
    plan = plan_charity(region, levels=["district"], outlet_tolerance=0.0)
    site = plan.sites.iloc[0]
    assert (site["location_id"], site["status"]) == ("tel", "existing")
    note = next(n for n in plan.notes if "dropped as duplicates" in n)
    assert "2 candidate buildings" in note and "1 within 10 m of an outlet" in note
    assert "中国电信大楼" in note and "1 within 10 m of a candidate of the same name" in note
    check_charity_plan(plan, region)


def _street_graph():
    """A straight street along y = 50 from x = 0 to x = 1,000 (nodes every 100 m)."""
    graph = nx.MultiDiGraph(crs=UTM50)
    for i in range(11):
        graph.add_node(i, x=100.0 * i, y=50.0)
    for i in range(10):
        for u, v in ((i, i + 1), (i + 1, i)):
            graph.add_edge(u, v, length=100.0, highway="residential", oneway=False)
    return graph


def test_a_site_off_the_network_is_a_straight_line_fallback_too():
    cells = grid([("a", 0, 0, 300), ("b", 5, 0, 200)])  # on the street along y = 50
    sites = gpd.GeoDataFrame(geometry=[Point(150, 50), Point(550, 950)], crs=UTM50)
    travel = travel_minutes(cells, sites, network=_street_graph(), max_minutes=30,
                            speed_m_per_min=60)  # fmt: skip
    assert not travel.straight.any()
    assert travel.basis == "network, with straight-line fallback"
    assert "0 cells and 1 sites are more than 300 m" in travel.notes[0]
    # cell b (550, 50) to the far site (550, 950): 900 m x 1.3 at 60 m/min
    assert travel.matrix[1, 1] == pytest.approx(900 * 1.3 / 60)


def test_straight_line_fallbacks_are_noted_and_warned_once(caplog):
    # cell "far" is 950 m from the street: its walks are straight lines x 1.3
    cells = grid([("a", 0, 0, 300), ("b", 5, 0, 200), ("c", 9, 0, 100), ("far", 5, 10, 50)])
    region = Region(
        cells,
        boundaries={"district": _layer("district", [("D", (0, 0, 1_000, 1_100))])},
        facilities=_points("facility", [("tel", 550, 50, "telecom")]),
        candidates=_points("candidate", [("shop", 150, 50, 1)]),
        network=_street_graph(),
        name="street",
    )
    areas = gpd.GeoDataFrame(
        {"community": ["w", "e"]},
        geometry=[box(0, 0, 400, 1_100), box(400, 0, 1_000, 1_100)],
        crs=UTM50,
    )
    with caplog.at_level(logging.WARNING):
        plan = plan_charity(region, communities=areas)
    note = next(n for n in plan.notes if "more than 300 m from any street" in n)
    assert "1 cells" in note and "straight lines x 1.3" in note
    assert plan.parameters["travel"] == "network, with straight-line fallback"
    assignment = plan.assignment.set_index("cell_id")
    assert assignment.loc["far", "straight_line"] and not assignment.loc["a", "straight_line"]
    # one warning for the plan, none per walking-time computation from svcnet.costs
    assert [r.name for r in caplog.records if r.levelno >= logging.WARNING] == [
        "svcnet.services.charity"
    ]
    assert "held back" in caplog.records[-1].getMessage()
    check_charity_plan(plan, region)
    # without a street network the notes say so, as the other planners' do
    plain = plan_charity(Region(cells, name="plain"), outlets=_points("facility", []))
    assert any("No street network" in n and "x 1.3" in n for n in plain.notes)


# ------------------------------------------------------------------ the real data


def test_futian_invariants_and_time():
    region = svcnet.datasets.load_futian()
    started = time.perf_counter()
    plan = plan_charity(region)
    assert time.perf_counter() - started < 60
    check_charity_plan(plan, region)
    sites = plan.sites.set_index("site_id")
    assert sites.loc["district:福田区", "status"] == "existing"  # at a telecom building
    assert sites.loc["community:福田区", "shared_with"] == "district:福田区"
    assert np.isfinite(plan.summary().loc["total", "minutes_district"])
