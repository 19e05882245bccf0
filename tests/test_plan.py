"""Plan: an immutable result with hand-checkable summaries, comparisons and files."""

import pickle

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from svcnet import Plan, standards
from svcnet.errors import InputError

UTM50 = "EPSG:32650"


def _plan(minutes=(2.0, 6.0, 12.0, 3.0), sites=("s1", "s1", "s2", None), status="new"):
    cells = gpd.GeoDataFrame(
        {"cell_id": ["a", "b", "c", "d"]},
        geometry=[box(x, 0, x + 100, 100) for x in (0, 100, 300, 500)],
        crs=UTM50,
    )
    table = pd.DataFrame(
        {
            "cell_id": ["a", "b", "c", "d"],
            "unit": ["X", "X", "Y", "Y"],
            "site_id": list(sites),
            "minutes": list(minutes),
            "minutes_before": [9.0, np.inf, 14.0, np.inf],
            "pop": [100, 300, 200, 400],
        }
    )
    site_table = gpd.GeoDataFrame(
        {
            "site_id": ["s1", "s2"],
            "name": ["A", "<b>B</b>"],
            "status": [status, "new"],
            "rank": [1, 2],
            "population_served": [400, 200],
            "capacity": [500.0, 500.0],
            "mean_minutes": [5.0, 12.0],
            "reason": ["r1", "r2"],
        },
        geometry=[Point(50, 50), Point(350, 50)],
        crs=UTM50,
    )
    return Plan(
        "centers", "toy", site_table, table, cells, unit_level="district",
        threshold_minutes=10, norms=[standards.get_norm("people_per_center")],
        solver={"model": "PMedian", "gap": 0.0, "seconds": 1.5, "objective": 1.0, "bound": 1.0},
    )  # fmt: skip


def test_summary_by_hand():
    s = _plan().summary()
    assert s.index.tolist() == ["X", "Y", "total"]
    assert s.loc["X", "pop"] == 400 and s.loc["total", "pop"] == 1000
    # before: a (100 people) at 9 min is the only one within 10 minutes
    assert s.loc["total", "within_10min_before"] == pytest.approx(0.1)
    # after: a, b within 10 (400 people); c at 12; d unserved
    assert s.loc["total", "within_10min_after"] == pytest.approx(0.4)
    assert s.loc["X", "mean_minutes_after"] == pytest.approx((100 * 2 + 300 * 6) / 400)
    assert s.loc["total", "unserved"] == 400 and s.loc["Y", "unserved"] == 400
    assert s.loc["total", "facilities_after"] == 2 and s.loc["total", "facilities_before"] == 0
    assert s.loc["X", "facilities_after"] == 1 and s.loc["Y", "facilities_after"] == 1
    # Gini of minutes after in X: values 2 (100 people), 6 (300): mean 5
    # G = sum_ij w_i w_j |x_i - x_j| / (2 W^2 mean) = 2*100*300*4 / (2 * 400^2 * 5) = 0.15
    assert s.loc["X", "gini_minutes_after"] == pytest.approx(0.15)
    assert s.attrs["norms"]["people_per_center"].startswith("Shenzhen")


def test_plan_is_immutable_and_hands_out_copies():
    plan = _plan()
    with pytest.raises(AttributeError, match="immutable"):
        plan.service = "other"
    sites = plan.sites
    sites.loc[0, "population_served"] = -1
    assert plan.sites.loc[0, "population_served"] == 400
    table = plan.assignment
    table.loc[0, "minutes"] = 99
    assert plan.assignment.loc[0, "minutes"] == 2.0


def test_a_plan_pickles_whole_and_stays_read_only():
    plan = _plan()
    back = pickle.loads(pickle.dumps(plan))
    pd.testing.assert_frame_equal(back.sites, plan.sites)
    pd.testing.assert_frame_equal(back.assignment, plan.assignment)
    pd.testing.assert_frame_equal(back.summary(), plan.summary())
    assert [dict(r) for r in back.solver] == [dict(r) for r in plan.solver]
    assert dict(back.parameters) == dict(plan.parameters) and back.norms == plan.norms
    assert repr(back) == repr(plan)
    with pytest.raises(AttributeError, match="immutable"):
        back.service = "x"
    with pytest.raises(TypeError):
        back.solver[0]["gap"] = 1.0
    with pytest.raises(TypeError):
        back.parameters["time_limit"] = 1.0
    assert pickle.dumps(plan) == pickle.dumps(back)


def test_areas_are_dissolved_per_site_with_their_parts():
    areas = _plan().areas.set_index("site_id")
    assert areas.loc["s1", "pop"] == 400 and areas.loc["s1", "parts"] == 1  # a and b touch
    assert areas.loc["s1"].geometry.area == pytest.approx(20_000)
    assert areas.loc["s2", "parts"] == 1
    split = _plan(sites=("s1", "s2", "s1", None)).areas.set_index("site_id")
    assert split.loc["s1", "parts"] == 2  # a and c do not touch


def test_compare_side_by_side():
    table = _plan().compare(_plan(minutes=(1.0, 1.0, 1.0, 1.0)), labels=("A", "B"))
    assert table.loc["mean_minutes_after", "A"] == pytest.approx((200 + 1800 + 2400) / 600)
    assert table.loc["mean_minutes_after", "B"] == pytest.approx(1.0)
    assert table.loc["sites", "difference"] == 0
    with pytest.raises(InputError, match="another Plan"):
        _plan().compare("x")


def test_missing_columns_are_named():
    plan = _plan()
    with pytest.raises(InputError, match="reason"):
        Plan("c", "toy", plan.sites.drop(columns="reason"), plan.assignment,
             plan.cells[["cell_id", "geometry"]], unit_level="d", threshold_minutes=5)  # fmt: skip


def test_files_are_written_atomically_and_escape_nothing(tmp_path):
    written = _plan().to_files(tmp_path)
    assert {p.name for p in written} >= {"centers.gpkg", "centers_sites.csv", "centers_summary.csv"}
    back = gpd.read_file(tmp_path / "centers.gpkg", layer="sites")
    assert back["name"].tolist() == ["A", "<b>B</b>"]
    assert not list(tmp_path.glob("*.tmp*"))


def test_to_html_writes_the_offline_report(tmp_path):
    page = _plan().to_html(tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == page
    assert "&lt;b&gt;B&lt;/b&gt;" in page and "<b>B</b>" not in page
