"""Indicators: hand-computed tables, equity measures, gaps to norm, cells to units."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

import svcnet
from svcnet.errors import CRSError, InputError
from svcnet.indicators import (
    TOTAL,
    assign_units,
    bed_gap,
    center_gap,
    equity_table,
    facility_table,
    gini,
    lorenz_curve,
    shelter_gap,
    unit_table,
    weighted_quantile,
    worst_served,
)
from svcnet.standards import NORMS

UTM50 = "EPSG:32650"


# -- gini and the Lorenz curve ---------------------------------------------------------------------
def test_gini_known_distributions():
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)  # (n - 1) / n with n = 4
    assert gini([0] * 9 + [5]) == pytest.approx(0.9)  # (10 - 1) / 10
    assert gini([7, 7], weights=[1, 1000]) == 0.0


def test_gini_weighted_by_hand():
    # values 1 (3 people) and 3 (1 person): mean = (3*1 + 1*3) / 4 = 1.5;
    # sum over ordered pairs w_i w_j |x_i - x_j| = 2 * 3 * 1 * 2 = 12;
    # G = 12 / (2 * 4**2 * 1.5) = 0.25
    assert gini([1, 3], weights=[3, 1]) == pytest.approx(0.25)
    # weights act as repetitions
    assert gini([1, 2, 5], weights=[2, 1, 3]) == pytest.approx(gini([1, 1, 2, 5, 5, 5]))


def test_gini_equals_mean_difference_formula():
    rng = np.random.default_rng(1)
    x, w = rng.gamma(2.0, size=60), rng.integers(0, 9, size=60).astype(float)
    diff = np.abs(x[:, None] - x[None, :]) * w[:, None] * w[None, :]
    expected = diff.sum() / (2 * w.sum() ** 2 * (np.sum(w * x) / w.sum()))
    assert gini(x, w) == pytest.approx(expected)


def test_gini_of_a_uniform_sample_is_about_a_third():
    sample = np.random.default_rng(0).uniform(0, 1, 200_000)
    assert gini(sample) == pytest.approx(1 / 3, abs=0.005)


def test_gini_of_nothing_is_zero():
    assert gini([0, 0, 0], weights=[1, 2, 3]) == 0.0


def test_gini_errors_name_positions():
    with pytest.raises(InputError, match="rows 1, 3"):
        gini(pd.Series([1.0, np.nan, 2.0, -1.0]))
    with pytest.raises(InputError, match=r"negative values \(rows 2\)"):
        gini([1, 2, 3], weights=[1, 1, -1])
    with pytest.raises(InputError, match="NaN"):
        gini([1, 2, 3], weights=[1, np.nan, 1])
    with pytest.raises(InputError, match="sum to zero"):
        gini([1, 2], weights=[0, 0])
    with pytest.raises(InputError, match="weights has 2 rows but values has 3"):
        gini([1, 2, 3], weights=[1, 1])
    with pytest.raises(InputError, match="empty"):
        gini([])


def test_lorenz_curve_by_hand():
    # sorted: 1 (3 people, 3 of 6 units), 3 (1 person, 3 units)
    curve = lorenz_curve([3, 1], weights=[1, 3])
    assert list(curve.columns) == ["population_share", "value_share"]
    assert curve.values.tolist() == [[0.0, 0.0], [0.75, 0.5], [1.0, 1.0]]


def test_lorenz_curve_area_matches_gini():
    rng = np.random.default_rng(7)
    x, w = rng.exponential(size=500), rng.uniform(0, 10, size=500)
    curve = lorenz_curve(x, w)
    p, share = curve["population_share"].to_numpy(), curve["value_share"].to_numpy()
    assert (p[0], share[0], p[-1], share[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert (np.diff(p) > 0).all() and (np.diff(share) >= 0).all()
    area = np.sum(np.diff(p) * (share[1:] + share[:-1]) / 2)
    assert gini(x, w) == pytest.approx(1 - 2 * area)


def test_lorenz_curve_of_nothing_is_the_diagonal():
    assert lorenz_curve([0, 0]).values.tolist() == [[0.0, 0.0], [1.0, 1.0]]


# -- quantile and worst served ---------------------------------------------------------------------
def test_weighted_quantile_by_hand():
    # values 2, 4, 8, 20 with weights 30, 40, 20, 10: shares <= v are 0.3, 0.7, 0.9, 1.0
    values, weights = [8, 2, 20, 4], [20, 30, 10, 40]
    assert weighted_quantile(values, weights, q=0.9) == 8.0  # 0.9 >= 0.9, exactly on the step
    assert weighted_quantile(values, weights, q=0.91) == 20.0
    assert weighted_quantile(values, weights, q=0.7) == 4.0
    assert weighted_quantile(values, weights, q=0.3) == 2.0
    assert weighted_quantile(values, weights, q=0.31) == 4.0
    assert weighted_quantile([1, 2, 3, 4], q=0.5) == 2.0
    assert weighted_quantile([1, np.inf], [1, 9], q=0.5) == np.inf
    assert weighted_quantile([1, 5], [0, 3], q=0.01) == 5.0  # zero weight ignored
    with pytest.raises(InputError, match="q must be"):
        weighted_quantile([1, 2], q=1.5)


def test_worst_served_by_hand_higher_is_better():
    # 100 people; the worst 15: all 10 at value 1 and 5 of the 10 at value 2.
    # mean = (10*1 + 5*2) / 15 = 4/3; they hold 20 of 10 + 20 + 30 + 280 = 340.
    out = worst_served([4, 3, 2, 1], [70, 10, 10, 10], fraction=0.15)
    assert out["people"] == pytest.approx(15)
    assert out["mean_value"] == pytest.approx(4 / 3)
    assert out["share_of_total"] == pytest.approx(20 / 340)
    assert out["boundary_value"] == 2.0 and out["fraction"] == 0.15


def test_worst_served_by_hand_lower_is_better():
    # minutes; 100 people; the worst 20: 10 at 60 min and 10 of the 20 at 30 min.
    # mean = (600 + 300) / 20 = 45; share = 900 / (40*5 + 30*10 + 20*30 + 10*60) = 900 / 1700
    out = worst_served([5, 10, 30, 60], [40, 30, 20, 10], fraction=0.2, higher_is_better=False)
    assert out["people"] == pytest.approx(20)
    assert out["mean_value"] == pytest.approx(45)
    assert out["share_of_total"] == pytest.approx(900 / 1700)
    assert out["boundary_value"] == 30.0


def test_worst_served_errors():
    with pytest.raises(InputError, match="fraction"):
        worst_served([1, 2], fraction=0)
    with pytest.raises(InputError, match="finite"):
        worst_served([1, np.inf])
    assert np.isnan(worst_served([0, 0])["share_of_total"])


# -- unit tables -----------------------------------------------------------------------------------
def _cells():
    return pd.DataFrame(
        {
            "unit": ["a", "a", "a", "a", "b", "b", "b"],
            "pop": [30, 40, 20, 10, 100, 50, 50],
            "pop_60plus": [3, 4, 2, 1, 10, 40, 0],
            "minutes": [2, 4, 8, 20, 6, np.nan, np.inf],
        }
    )


def test_unit_table_by_hand():
    cells = _cells()
    table = unit_table(
        cells["unit"], cells[["pop", "pop_60plus"]], value=cells["minutes"], threshold=[5, 10]
    )
    assert list(table.index) == ["a", "b", TOTAL] and table.index.name == "unit"
    assert table["pop"].tolist() == [100, 200, 300]
    assert table["pop_60plus"].tolist() == [10, 50, 60]
    # a: mean = (30*2 + 40*4 + 20*8 + 10*20) / 100 = 580 / 100 = 5.8
    #    p90: shares <= 2, 4, 8, 20 are 0.3, 0.7, 0.9, 1.0 -> 8
    #    within 5: 30 + 40 = 70 of 100; within 10: 90 of 100
    a = table.loc["a"]
    assert a["value_mean"] == pytest.approx(5.8) and a["value_p90"] == 8.0
    assert (a["coverage_5"], a["coverage_10"], a["share_no_access"]) == (0.7, 0.9, 0.0)
    # b: only the 100 people at 6 min have access: mean 6, p90 6;
    #    within 5: 0; within 10: 100 of 200; no access: 100 of 200
    b = table.loc["b"]
    assert (b["value_mean"], b["value_p90"]) == (6.0, 6.0)
    assert (b["coverage_5"], b["coverage_10"], b["share_no_access"]) == (0.0, 0.5, 0.5)
    # total over all cells: mean = (580 + 600) / 200 = 5.9; shares over 300 people;
    # p90 over the 200 with access: 2 (30), 4 (70), 6 (170), 8 (190) -> 0.95 at 8
    total = table.loc[TOTAL]
    assert total["value_mean"] == pytest.approx(5.9) and total["value_p90"] == 8.0
    assert total["coverage_5"] == pytest.approx(70 / 300)
    assert total["coverage_10"] == pytest.approx(190 / 300)
    assert total["share_no_access"] == pytest.approx(100 / 300)
    assert table.attrs["norms"] == {}


def test_unit_table_weighted_by_another_group():
    cells = _cells()
    table = unit_table(
        cells["unit"],
        cells[["pop", "pop_60plus"]],
        value=cells["minutes"],
        threshold=10,
        weights="pop_60plus",
        quantile=0.5,
    )
    # b for the elderly: 10 at 6 min, 40 with NaN, 0 with inf -> covered 10/50, none 40/50
    b = table.loc["b"]
    assert (b["coverage_10"], b["share_no_access"], b["value_p50"]) == (0.2, 0.8, 6.0)


def test_unit_table_higher_is_better_scores():
    scores = [0.0, 2.0, 1.0]
    table = unit_table(
        ["x", "x", "y"], [10, 30, 20], value=scores, higher_is_better=True, threshold=[1, 2]
    )
    # x: 10 people with score 0 have no access; 30 have 2 (>= 1 and >= 2)
    assert table.loc["x", "share_no_access"] == 0.25
    assert (table.loc["x", "coverage_1"], table.loc["x", "coverage_2"]) == (0.75, 0.75)
    assert (table.loc["y", "coverage_1"], table.loc["y", "coverage_2"]) == (1.0, 0.0)


def test_unit_table_population_only_and_unassigned_empty_cells():
    table = unit_table(pd.Series(["a", None, "b"]), pd.Series([5, 0, 7], name="pop"))
    assert table["pop"].to_dict() == {"a": 5, "b": 7, TOTAL: 12}


def test_unit_table_errors():
    cells = _cells()
    with pytest.raises(InputError, match="1 cells holding 40 people have no unit"):
        unit_table(["a", None], [10, 40])
    with pytest.raises(InputError, match="strictly increasing"):
        unit_table(cells["unit"], cells["pop"], value=cells["minutes"], threshold=[10, 5])
    with pytest.raises(InputError, match="strictly increasing"):
        unit_table(cells["unit"], cells["pop"], value=cells["minutes"], threshold=[5, 5])
    with pytest.raises(InputError, match="population has 2 rows but units has 7"):
        unit_table(cells["unit"], [1, 2])
    with pytest.raises(InputError, match=r"negative values \(column 'pop'; rows 1\)"):
        unit_table(["a", "a"], pd.DataFrame({"pop": [1, -1]}))
    with pytest.raises(InputError, match="NaN"):
        unit_table(["a", "a"], [1, np.nan])
    with pytest.raises(InputError, match="different indexes"):
        shifted = pd.Series(cells["minutes"].to_numpy(), index=range(10, 17))
        unit_table(cells["unit"], cells["pop"], value=shifted)
    with pytest.raises(InputError, match="needs a value"):
        unit_table(cells["unit"], cells["pop"], threshold=10)
    with pytest.raises(InputError, match="weights must name"):
        unit_table(cells["unit"], cells[["pop"]], value=cells["minutes"], weights="pop_60plus")
    with pytest.raises(InputError, match="reserved"):
        unit_table(["total"], [1])
    with pytest.raises(InputError, match="negative"):
        unit_table(["a"], [1], value=[-3])


def test_facility_table_by_hand():
    table = facility_table(
        ["a", "a", "b", "c"],
        [600, 400, 500, 0],
        ["a", "a", "c"],
        capacity=[30, 20, 10],
        elderly=[100, 100, 250, 0],
    )
    assert list(table.index) == ["a", "b", "c", TOTAL]
    assert table["facilities"].tolist() == [2, 0, 1, 3]
    assert table["capacity"].tolist() == [50, 0, 10, 60]
    # a: 1000 / 2 = 500 people per facility; 50 / 200 * 1000 = 250 beds per 1,000 elderly
    assert table.loc["a", "people_per_facility"] == 500
    assert table.loc["a", "capacity_per_1000"] == 50  # 50 / 1000 * 1000
    assert table.loc["a", "capacity_per_1000_elderly"] == 250
    assert table.loc["b", "people_per_facility"] == np.inf  # 500 people, no facility
    assert table.loc["c", "capacity_per_1000"] == np.inf  # 10 beds, nobody lives in c
    assert table.loc["c", "people_per_facility"] == 0.0
    empty = facility_table(["a", "z"], [5, 0], ["a"], capacity=[1])
    assert np.isnan(empty.loc["z", "capacity_per_1000"])  # 0 beds / 0 people
    # total: 1500 / 3 = 500; 60 / 450 * 1000
    assert table.loc[TOTAL, "capacity_per_1000_elderly"] == pytest.approx(60 / 450 * 1000)
    assert table.attrs["norms"] == {}


def test_facility_table_errors():
    with pytest.raises(InputError, match="facilities have no unit"):
        facility_table(["a"], [1], ["a", None])
    with pytest.raises(InputError, match=r"capacity has 1 missing"):
        facility_table(["a"], [1], ["a", "a"], capacity=[3, np.nan])
    with pytest.raises(InputError, match="capacity has 1 rows but facilities_unit has 2"):
        facility_table(["a"], [1], ["a", "a"], capacity=[3])


# -- gaps to norm ----------------------------------------------------------------------------------
def test_center_gap_by_hand():
    table = center_gap(pd.Series({"A": 45_000, "B": 12_000, "C": 61_000}), {"A": 1, "C": 5})
    # A: ceil(45000/20000) = 3, floor(45000/15000) = 3, gap 3 - 1 = 2
    # B: ceil(12000/20000) = 1, floor(12000/15000) = 0, gap 1 - 0 = 1
    # C: ceil(61000/20000) = 4, floor(61000/15000) = 4, gap max(4 - 5, 0) = 0
    assert table["centers_min"].tolist() == [3, 1, 4, 8]
    assert table["centers_max"].tolist() == [3, 0, 4, 7]
    assert table["centers_gap"].tolist() == [2, 1, 0, 3]
    assert table["existing"].tolist() == [1, 0, 5, 6]
    assert table.loc["A", "people_per_existing"] == 45_000
    assert table.loc["B", "people_per_existing"] == np.inf
    assert table.loc[TOTAL, "people_per_existing"] == pytest.approx(118_000 / 6)
    assert table.attrs["norms"]["centers_gap"] == NORMS["people_per_center"].citation


def test_center_gap_override_and_exact_division():
    # 40,000 / 20,000 is exactly 2; an override of 10,000 per center gives 4
    assert center_gap([40_000], [0])["centers_min"].tolist() == [2, 2]
    table = center_gap([40_000], [1], people_per_center=10_000)
    assert table["centers_gap"].tolist() == [3, 3]
    assert table.attrs["norms"]["centers_min"] == "set by the caller (user)"


def test_center_gap_errors():
    with pytest.raises(InputError, match="drop it"):
        center_gap(pd.Series({"A": 1, TOTAL: 1}), {})
    with pytest.raises(InputError, match=r"does not list \(rows Z\)"):
        center_gap({"A": 1}, {"Z": 1})
    with pytest.raises(InputError, match="negative"):
        center_gap({"A": -1}, {})
    with pytest.raises(InputError, match="'persons'"):
        center_gap({"A": 1}, {}, people_per_center=NORMS["walking_speed"])


def test_bed_gap_by_hand():
    table = bed_gap({"A": 1_500, "B": 800, "C": 333}, {"A": 50, "B": 40})
    # A: 40 * 1500 / 1000 = 60 required, 60 - 50 = 10 short (no float ceil to 11)
    # B: 40 * 800 / 1000 = 32 required, has 40 -> 0
    # C: 40 * 333 / 1000 = 13.32 -> 14 required, has 0 -> 14
    assert table["beds_required"].tolist() == [60, 32, 14, 106]
    assert table["beds_gap"].tolist() == [10, 0, 14, 24]
    assert table.loc["A", "beds_per_1000_now"] == pytest.approx(50 / 1500 * 1000)
    assert table.loc["C", "beds_per_1000_now"] == 0.0
    citation = NORMS["eldercare_beds_per_1000_elderly"].citation
    assert table.attrs["norms"] == {"beds_required": citation, "beds_gap": citation}


def test_bed_gap_range_override():
    # (30, 40) per 1,000 of 1000 elderly with 35 beds: 30 -> 0 short, 40 -> 5 short
    table = bed_gap([1_000], [35], beds_per_1000=(30, 40))
    assert table.loc[0, ["beds_gap", "beds_gap_high"]].tolist() == [0, 5]
    assert set(table.attrs["norms"]) == {
        "beds_required",
        "beds_gap",
        "beds_required_high",
        "beds_gap_high",
    }


def test_shelter_gap_by_hand():
    table = shelter_gap({"A": 10_000, "B": 4_000}, {"A": 1_500, "B": 2_000})
    # A: 0.2 * 10000 = 2000 - 1500 = 500; 0.3 * 10000 = 3000 - 1500 = 1500
    # B: 0.2 * 4000 = 800 <= 2000 -> 0; 0.3 * 4000 = 1200 <= 2000 -> 0
    assert table["places_required"].tolist() == [2_000, 800, 2_800]
    assert table["places_gap"].tolist() == [500, 0, 500]
    assert table["places_gap_high"].tolist() == [1_500, 0, 1_500]
    assert table.loc["A", "share_now"] == 0.15
    assert table.attrs["norms"]["places_gap"] == NORMS["fixed_shelter_capacity_share"].citation


def test_shelter_gap_emergency_and_override():
    emergency = shelter_gap([1_000], [900], kind="emergency")
    assert emergency["places_gap"].tolist() == [100, 100]  # share 1: everybody
    assert "places_gap_high" not in emergency.columns
    central = shelter_gap([1_000], [0], share=NORMS["fixed_shelter_capacity_share_central"])
    assert central["places_required"].tolist() == [300, 300]
    with pytest.raises(InputError, match="kind"):
        shelter_gap([1], [0], kind="central")


# -- equity ----------------------------------------------------------------------------------------
def test_equity_table_by_hand():
    # 40 people, values 1 (20 people, unit a) and 3 (20 people, unit b):
    # mean 2; gini = 2 * 20 * 20 * 2 / (2 * 40**2 * 2) = 0.25; worst tenth: 4 people at 1,
    # holding 4 of 80; unit means a = 1, b = 3, ratio 3
    table = equity_table([1, 1, 3, 3], [10, 10, 10, 10], ["a", "a", "b", "b"])
    row = table.iloc[0]
    assert len(table) == 1 and row["people"] == 40 and row["mean_value"] == 2.0
    assert row["gini"] == pytest.approx(0.25)
    assert row["worst_people"] == pytest.approx(4) and row["worst_mean_value"] == 1.0
    assert row["worst_share_of_total"] == pytest.approx(4 / 80)
    assert (row["best_unit"], row["worst_unit"], row["unit_ratio"]) == ("b", "a", 3.0)


def test_equity_table_minutes_with_no_access():
    # minutes 5, 10, NaN (capped at 30); weights 10, 10, 20; lower is better
    table = equity_table(
        [5, 10, np.nan], [10, 10, 20], ["a", "b", "b"], higher_is_better=False, no_access_value=30
    )
    row = table.iloc[0]
    # worst tenth: 4 of the 20 people at 30 min; unit means a = 5, b = (100 + 600) / 30
    assert row["worst_mean_value"] == 30.0
    assert (row["best_unit"], row["worst_unit"]) == ("a", "b")
    assert row["unit_ratio"] == pytest.approx(700 / 30 / 5)
    assert "best_unit" not in equity_table([1, 2], [1, 1]).columns
    with pytest.raises(InputError, match="no_access_value"):
        equity_table([5, np.inf], [1, 1])


# -- cells to units --------------------------------------------------------------------------------
def _two_squares(crs=UTM50):
    return gpd.GeoDataFrame(
        {"district": ["west", "east"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
        crs=crs,
    )


def _tiny_cells():
    return gpd.GeoDataFrame(
        {"pop": [10, 20, 30, 0]},
        geometry=[
            box(10, 10, 40, 40),  # inside west
            box(70, 10, 110, 40),  # 30 wide in west, 10 in east -> west
            box(95, 50, 195, 90),  # 5 in west, 95 in east -> east
            box(300, 0, 320, 20),  # outside, empty
        ],
        index=[11, 12, 13, 14],
        crs=UTM50,
    )


def test_assign_units_by_largest_overlap():
    units = assign_units(_tiny_cells(), _two_squares(), "district", population="pop")
    assert units.index.tolist() == [11, 12, 13, 14] and units.name == "district"
    assert units.tolist()[:3] == ["west", "west", "east"] and pd.isna(units[14])


def test_assign_units_reprojects_boundaries_and_takes_points():
    boundaries = _two_squares().to_crs(4326)
    points = gpd.GeoDataFrame(geometry=[Point(50, 50), Point(150, 50)], crs=UTM50)
    assert assign_units(points, boundaries, "district").tolist() == ["west", "east"]


def test_assign_units_uncovered_populated_cell_raises_with_population():
    cells = _tiny_cells()
    cells.loc[14, "pop"] = 1_234
    with pytest.raises(InputError) as info:
        assign_units(cells, _two_squares(), "district", population="pop")
    message = str(info.value)
    assert "1 populated cells holding 1,234 people" in message and "rows 14" in message
    with pytest.raises(InputError, match="1 cells lie outside"):
        assign_units(cells, _two_squares(), "district")


def test_assign_units_errors():
    with pytest.raises(CRSError):
        assign_units(_tiny_cells().set_crs(None, allow_override=True), _two_squares(), "district")
    with pytest.raises(InputError, match="missing column"):
        assign_units(_tiny_cells(), _two_squares(), "name")
    with pytest.raises(InputError, match="missing column"):
        assign_units(_tiny_cells(), _two_squares(), "district", population="people")


def test_inputs_are_not_modified():
    cells = _tiny_cells()
    before = cells.copy()
    assign_units(cells, _two_squares(), "district", population="pop")
    pd.testing.assert_frame_equal(cells, before)
    frame = _cells()
    kept = frame.copy()
    unit_table(frame["unit"], frame[["pop"]], value=frame["minutes"], threshold=5)
    pd.testing.assert_frame_equal(frame, kept)


# -- the bundled data ------------------------------------------------------------------------------
def test_shenzhen_by_district_sums_to_the_census():
    region = svcnet.datasets.load_shenzhen()
    grid = region.population
    districts = region.boundaries["district"].set_index("district")
    groups = ["pop", "pop_0_14", "pop_60plus", "pop_65plus"]
    table = unit_table(grid["district"], grid[groups])
    assert table.loc[TOTAL, "pop"] == 17_494_398
    units = table.drop(TOTAL)
    assert sorted(units.index) == sorted(districts.index)
    for group in groups:
        assert units[group].to_dict() == districts[group].to_dict()
    assigned = assign_units(grid, region.boundaries["district"], "district", population="pop")
    assert (assigned == grid["district"]).all()


def test_futian_unit_table_and_beds():
    region = svcnet.datasets.load_futian()
    grid = region.population
    table = unit_table(grid["district"], grid[["pop", "pop_60plus"]])
    assert table.loc[TOTAL, "pop"] == 1_553_225
    gap = bed_gap(table.drop(TOTAL)["pop_60plus"], {})
    elderly = table.loc[TOTAL, "pop_60plus"]
    assert gap.loc[TOTAL, "beds_gap"] == int(np.ceil(40 * elderly / 1000))
