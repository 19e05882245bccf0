"""Population grids and demand points, checked against hand-computed truth."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from svcnet.demand import (
    aggregate_grid,
    ancillary_completeness,
    dasymetric_grid,
    demand_from_grid,
    floor_area_weights,
    h3_grid,
    square_grid,
)
from svcnet.errors import CRSError, InputError

UTM50 = "EPSG:32650"


def _units():
    # Two 300 m x 200 m units side by side, offset so cells straddle their border.
    return gpd.GeoDataFrame(
        {"unit": ["west", "east"], "pop": [1000, 7], "old": [101, 3]},
        geometry=[box(50, 0, 350, 200), box(350, 0, 650, 200)],
        crs=UTM50,
    )


def test_square_grid_aligns_on_multiples_and_covers_the_area():
    area = gpd.GeoSeries([box(30, 30, 260, 170)], crs=UTM50)
    grid = square_grid(area, 100)
    # x from 0 to 300 (3 columns), y from 0 to 200 (2 rows)
    assert len(grid) == 6
    assert grid.union_all().covers(area.iloc[0])
    assert set(grid.cell_id) >= {"100m_E0_N0", "100m_E200_N100"}
    assert np.allclose(grid.area, 10_000)


def test_square_grid_in_degrees_is_projected_to_metres():
    area = gpd.GeoSeries([box(114.05, 22.53, 114.06, 22.54)], crs=4326)
    grid = square_grid(area, 250)
    assert grid.crs.to_epsg() == 32650
    assert np.allclose(grid.area, 62_500)


def test_square_grid_rejects_bad_size():
    area = gpd.GeoSeries([box(0, 0, 10, 10)], crs=UTM50)
    with pytest.raises(InputError, match="cell_size"):
        square_grid(area, -5)


def test_h3_grid_covers_area_with_hexagons_of_the_right_size():
    import h3

    area = gpd.GeoSeries([box(114.05, 22.53, 114.07, 22.55)], crs=4326)
    cells = h3_grid(area, 9)
    assert cells.union_all().covers(area.to_crs(cells.crs).iloc[0].buffer(-1))
    expected_m2 = h3.average_hexagon_area(9, unit="m^2")
    assert abs(cells.area.median() / expected_m2 - 1) < 0.1
    assert all(h3.get_resolution(c) == 9 for c in cells.cell_id)


def test_dasymetric_by_hand():
    units = gpd.GeoDataFrame({"id": ["a"], "pop": [10]}, geometry=[box(0, 0, 200, 100)], crs=UTM50)
    homes = gpd.GeoDataFrame(
        {"w": [3.0, 1.0, 5.0]},
        geometry=[Point(50, 50), Point(150, 50), Point(999, 999)],  # the last is outside
        crs=UTM50,
    )
    grid = dasymetric_grid(units, ["pop"], homes, unit_id="id", weight="w", cell_size=100)
    assert dict(zip(grid.cell_id, grid["pop"], strict=True)) == {
        "100m_E0_N0": 8,  # 7.5 -> largest remainder: 8 (tie broken by order)
        "100m_E100_N0": 2,
    }


def test_dasymetric_conserves_every_unit_total_to_the_person():
    units = _units()
    rng = np.random.default_rng(0)
    homes = gpd.GeoDataFrame(
        {"w": rng.uniform(1, 100, 40)},
        geometry=gpd.points_from_xy(rng.uniform(50, 650, 40), rng.uniform(0, 200, 40)),
        crs=UTM50,
    )
    grid = dasymetric_grid(units, ["pop", "old"], homes, unit_id="unit", weight="w", cell_size=100)
    totals = grid.groupby("unit")[["pop", "old"]].sum()
    assert totals.loc["west"].tolist() == [1000, 101]
    assert totals.loc["east"].tolist() == [7, 3]
    assert (grid[["pop", "old"]] >= 0).all().all()
    assert grid["pop"].dtype.kind == "i"
    # The cell at x 300-400 straddles the border: split in two pieces with suffixed ids.
    assert {"100m_E300_N0-west", "100m_E300_N0-east"} <= set(grid.cell_id)
    assert grid.cell_id.is_unique
    # Pieces tile the units exactly.
    assert np.isclose(grid.area.sum(), units.area.sum())


def test_dasymetric_area_weighting_when_completeness_is_zero():
    units = gpd.GeoDataFrame({"id": ["a"], "pop": [400]}, geometry=[box(0, 0, 400, 100)], crs=UTM50)
    homes = gpd.GeoDataFrame({"w": [1.0]}, geometry=[Point(50, 50)], crs=UTM50)
    grid = dasymetric_grid(
        units, ["pop"], homes, unit_id="id", weight="w", cell_size=100, completeness={"a": 0.0}
    )
    assert grid["pop"].tolist() == [100, 100, 100, 100]
    half = dasymetric_grid(
        units, ["pop"], homes, unit_id="id", weight="w", cell_size=100, completeness={"a": 0.5}
    )
    # 0.5 * (1, 0, 0, 0) + 0.5 * (1/4 each) of 400
    assert half["pop"].tolist() == [250, 50, 50, 50]


def test_dasymetric_unit_without_ancillary_falls_back_to_area(caplog):
    units = _units()
    homes = gpd.GeoDataFrame({"w": [1.0]}, geometry=[Point(100, 100)], crs=UTM50)
    grid = dasymetric_grid(
        units,
        ["pop"],
        homes,
        unit_id="unit",
        weight="w",
        cell_size=100,
        completeness={"west": 1.0, "east": 1.0},
    )
    east = grid[grid.unit == "east"]
    assert east["pop"].sum() == 7
    assert (east["pop"] > 0).sum() >= 5  # spread, not piled up
    assert "spread by area" in caplog.text


def test_dasymetric_on_h3_grid_conserves_totals():
    units = _units().to_crs(4326)
    grid = dasymetric_grid(units, ["pop"], None, unit_id="unit", grid=h3_grid(units, 11))
    assert grid.groupby("unit")["pop"].sum().to_dict() == {"west": 1000, "east": 7}


def test_dasymetric_errors():
    units = _units()
    with pytest.raises(InputError, match="whole numbers"):
        dasymetric_grid(units.assign(pop=[1.5, 2]), ["pop"], None, unit_id="unit")
    with pytest.raises(InputError, match="negative") as err:
        dasymetric_grid(units.assign(pop=[-1, 2]), ["pop"], None, unit_id="unit")
    assert err.value.rows == ["west"]
    with pytest.raises(InputError, match="once") as err:
        dasymetric_grid(units.assign(unit=["a", "a"]), ["pop"], None, unit_id="unit")
    with pytest.raises(InputError, match="missing column"):
        dasymetric_grid(units, ["people"], None, unit_id="unit")
    with pytest.raises(CRSError):
        dasymetric_grid(units.set_crs(None, allow_override=True), ["pop"], None, unit_id="unit")


def test_inputs_are_not_modified():
    units = _units()
    before = units.copy()
    dasymetric_grid(units, ["pop"], None, unit_id="unit", cell_size=100)
    pd.testing.assert_frame_equal(units, before)


def test_floor_area_weights_imputes_storeys_by_type():
    b = gpd.GeoDataFrame(
        {
            "building": ["apartments", "apartments", "apartments", "yes", "school", None],
            "levels": [10, 20, None, None, 4, None],
            "height": [None, None, None, 30.0, None, None],
        },
        geometry=[box(0, 0, 10, 10)] * 6,
        crs=UTM50,
    )
    w = floor_area_weights(b)
    assert w["storeys"].tolist() == [10, 20, 15, 10, 4, 10]
    assert w["levels_source"].tolist() == [
        "tagged",
        "tagged",
        "imputed",
        "height",
        "tagged",
        "imputed",
    ]
    # apartments full, untyped (yes, or missing) half, school nothing
    assert w["floor_area_m2"].tolist() == [1000, 2000, 1500, 500, 0, 500]


def test_ancillary_completeness_flags_under_mapped_units():
    units = _units()
    homes = gpd.GeoDataFrame(
        {"w": [1000.0, 0.7]}, geometry=[Point(100, 100), Point(500, 100)], crs=UTM50
    )
    c = ancillary_completeness(
        units, homes, unit_id="unit", population="pop", weight="w", reference=1.0
    )
    assert c.to_dict() == {"west": 1.0, "east": pytest.approx(0.1)}


def test_aggregate_grid_to_coarser_cells_and_units():
    area = gpd.GeoSeries([box(0, 0, 400, 200)], crs=UTM50)
    fine = square_grid(area, 100).assign(pop=np.arange(8), pop_65plus=np.ones(8, dtype=int))
    coarse = aggregate_grid(fine, cell_size=200)
    assert coarse["pop"].sum() == 28
    assert dict(zip(coarse.cell_id, coarse["pop"], strict=True)) == {
        "200m_E0_N0": 0 + 1 + 4 + 5,
        "200m_E200_N0": 2 + 3 + 6 + 7,
    }
    units = gpd.GeoDataFrame(
        {"name": ["left", "right"]},
        geometry=[box(0, 0, 100, 200), box(100, 0, 400, 200)],
        crs=UTM50,
    )
    by_unit = aggregate_grid(fine, units=units, unit_id="name")
    assert by_unit.set_index("name")["pop"].to_dict() == {"left": 4, "right": 24}
    assert by_unit.set_index("name")["pop_65plus"].to_dict() == {"left": 2, "right": 6}


def test_demand_points_are_cell_centroids_with_weights():
    area = gpd.GeoSeries([box(0, 0, 200, 100)], crs=UTM50)
    grid = square_grid(area, 100).assign(pop=[5, 0], pop_65plus=[1, 0])
    d = demand_from_grid(grid, "pop_65plus")
    assert d.cell_id.tolist() == ["100m_E0_N0"]
    assert d.geometry.iloc[0].equals(Point(50, 50))
    assert demand_from_grid(grid, keep_zero=True)["weight"].tolist() == [5, 0]


def test_demand_points_inside_concave_cells():
    ring = box(0, 0, 300, 300).difference(box(50, 50, 250, 250))  # centroid in the hole
    grid = gpd.GeoDataFrame({"cell_id": ["c"], "pop": [9]}, geometry=[ring], crs=UTM50)
    point = demand_from_grid(grid).geometry.iloc[0]
    assert point.within(ring)


def test_demand_from_grid_errors():
    grid = gpd.GeoDataFrame(
        {"cell_id": ["a", "b"], "pop": [1.0, np.nan]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs=UTM50,
    )
    with pytest.raises(InputError, match="NaN") as err:
        demand_from_grid(grid)
    assert err.value.rows == ["b"] and err.value.column == "pop"
    with pytest.raises(InputError, match="missing column"):
        demand_from_grid(grid, "pop_60plus")


def test_large_untyped_buildings_are_not_homes():
    b = gpd.GeoDataFrame(
        {"building": ["yes", "yes", "apartments"], "levels": [5, 5, 5]},
        geometry=[box(0, 0, 100, 100), box(0, 0, 20, 20), box(0, 0, 100, 100)],
        crs=UTM50,
    )
    w = floor_area_weights(b)
    # a 10,000 m² untyped hall is not housing; a 400 m² untyped house is (half); apartments are
    assert w["floor_area_m2"].tolist() == [0.0, 1000.0, 50_000.0]
    assert floor_area_weights(b, max_untyped_footprint_m2=None)["floor_area_m2"].iloc[0] == 25_000
