"""Region: validation at the door, immutability, summaries, building from files."""

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon, box

from svcnet import Region
from svcnet.errors import CRSError, InputError

UTM50 = "EPSG:32650"


def _grid():
    cells = [box(x, y, x + 100, y + 100) for y in (0, 100) for x in (0, 100, 200)]
    return gpd.GeoDataFrame(
        {
            "cell_id": [f"c{i}" for i in range(6)],
            "pop": [100, 200, 0, 50, 400, 250],
            "pop_0_14": [10, 20, 0, 5, 40, 25],
            "pop_60plus": [30, 10, 0, 5, 80, 40],
            "pop_65plus": [20, 5, 0, 5, 60, 30],
        },
        geometry=cells,
        crs=UTM50,
    )


def _districts():
    return gpd.GeoDataFrame(
        {"district": ["west", "east"]},
        geometry=[box(0, 0, 100, 200), box(100, 0, 300, 200)],
        crs=UTM50,
    )


def test_summary_by_level_by_hand():
    region = Region(_grid(), boundaries={"district": _districts()}, name="toy")
    table = region.summary()
    west = table[(table.level == "district") & (table.unit == "west")].iloc[0]
    assert west["pop"] == 150 and west["pop_65plus"] == 25
    assert west["area_km2"] == pytest.approx(0.02)
    assert west["density_per_km2"] == pytest.approx(7500)
    assert west["share_60plus_pct"] == pytest.approx(100 * 35 / 150, abs=0.01)
    total = table[table.level == "total"].iloc[0]
    assert total["unit"] == "toy" and total["pop"] == 1000
    assert total["area_km2"] == pytest.approx(0.06)
    assert table[table.level == "district"]["pop"].sum() == 1000


def test_region_is_immutable_and_hands_out_copies():
    grid = _grid()
    before = grid.copy()
    region = Region(grid)
    with pytest.raises(AttributeError, match="immutable"):
        region.name = "x"
    got = region.population
    got.loc[0, "pop"] = 999_999
    assert region.population.loc[0, "pop"] == 100
    grid.loc[0, "pop"] = 5  # changing the caller's frame afterwards changes nothing
    assert region.population.loc[0, "pop"] == 100
    pd.testing.assert_frame_equal(before.drop(index=0), grid.drop(index=0))


def test_layers_are_put_in_one_metric_crs():
    grid = _grid().translate(800_000, 2_495_000).to_crs(4326)
    grid = _grid().set_geometry(grid.values)
    facilities = gpd.GeoDataFrame(
        {"facility_id": ["f1"], "service": ["eldercare"], "capacity": [40]},
        geometry=[Point(114.05, 22.54)],
        crs=4326,
    )
    region = Region(grid, facilities=facilities)
    assert region.crs.to_epsg() == 32650
    assert region.population.crs == region.crs
    assert region.facilities.crs == region.crs
    assert np.allclose(region.population.area, 10_000, rtol=1e-3)


def test_replace_gives_a_validated_new_region():
    region = Region(_grid(), name="a")
    other = region.replace(name="b", boundaries={"district": _districts()})
    assert (region.name, other.name) == ("a", "b")
    assert region.levels == () and other.levels == ("district",)
    with pytest.raises(InputError, match="unknown layer"):
        region.replace(grid=None)


def test_network_is_loaded_lazily_once():
    calls = []

    def load():
        calls.append(1)
        g = nx.MultiDiGraph(crs="EPSG:4326")
        g.add_edge(1, 2, length=5.0)
        return g

    region = Region(_grid(), network=load)
    assert region.has_network and calls == []
    assert region.network.number_of_edges() == 1
    assert region.network is region.network
    assert calls == [1]
    with pytest.raises(AttributeError):
        region.network = None
    assert Region(_grid()).network is None


def test_demand_for_a_group():
    d = Region(_grid()).demand("pop_65plus")
    assert d["weight"].sum() == 120
    assert set(d.cell_id) == {"c0", "c1", "c3", "c4", "c5"}
    with pytest.raises(InputError, match="no such group"):
        Region(_grid().drop(columns="pop_0_14")).demand("pop_0_14")


@pytest.mark.parametrize(
    "change, error, match, rows",
    [
        (lambda g: g.drop(columns="pop"), InputError, "missing column", None),
        (lambda g: g.assign(pop=[1, -2, 0, 0, 0, 0]), InputError, "negative", ["c1"]),
        (lambda g: g.assign(pop=[1, np.nan, 0, 0, 0, 0]), InputError, "NaN", ["c1"]),
        (lambda g: g.assign(pop=["1", "x", "0", "0", "0", "0"]), InputError, "not numeric", ["c1"]),
        (lambda g: g.assign(cell_id=["a", "a", "b", "c", "d", "e"]), InputError, "once", ["a"]),
        (lambda g: g.set_crs(None, allow_override=True), CRSError, "no CRS", None),
        (lambda g: g.iloc[:0], InputError, "no rows", None),
        (lambda g: g.assign(pop_65plus=[99, 5, 0, 5, 60, 30]), InputError, "more people", ["c0"]),
    ],
)
def test_bad_population_gets_a_typed_error_naming_rows(change, error, match, rows):
    grid = _grid()
    bad = change(grid)
    with pytest.raises(error, match=match) as err:
        Region(bad)
    assert err.value.layer == "population"
    if rows is not None:
        assert err.value.rows == rows


def test_empty_and_invalid_geometries_are_reported_with_their_ids():
    grid = _grid()
    empty = grid.copy()
    empty.loc[2, "geometry"] = Polygon()
    with pytest.raises(InputError, match="empty") as err:
        Region(empty)
    assert err.value.rows == ["c2"]
    bowtie = Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])
    invalid = grid.copy()
    invalid.loc[4, "geometry"] = bowtie
    with pytest.raises(InputError, match="invalid") as err:
        Region(invalid)
    assert err.value.rows == ["c4"]
    repaired = Region(invalid, repair=True)
    assert repaired.population.is_valid.all()
    assert not invalid.is_valid.all()  # the caller's frame is untouched


def test_bad_boundaries_and_facilities():
    with pytest.raises(InputError, match="missing column") as err:
        Region(_grid(), boundaries={"district": _districts().rename(columns={"district": "x"})})
    assert err.value.layer == "district"
    points = gpd.GeoDataFrame({"district": ["p"]}, geometry=[Point(0, 0)], crs=UTM50)
    with pytest.raises(InputError, match="Polygon"):
        Region(_grid(), boundaries={"district": points})
    facilities = gpd.GeoDataFrame(
        {"facility_id": ["f1", "f2"], "service": ["eldercare"] * 2, "capacity": [40, -1]},
        geometry=[Point(50, 50)] * 2,
        crs=UTM50,
    )
    with pytest.raises(InputError, match="negative") as err:
        Region(_grid(), facilities=facilities)
    assert err.value.rows == ["f2"]
    with pytest.raises(InputError, match="service"):
        Region(_grid(), facilities=facilities.drop(columns="service"))


def test_geographic_crs_is_refused_as_the_metric_crs():
    with pytest.raises(CRSError, match="metres"):
        Region(_grid(), crs=4326)


def test_from_files_reads_renames_and_converts_gcj02(tmp_path):
    from svcnet.crs import wgs84_to_gcj02

    grid = _grid().to_crs(4326).rename(columns={"cell_id": "GRID", "pop": "P"})
    grid = grid.drop(columns=["pop_0_14", "pop_60plus", "pop_65plus"])
    grid.to_file(tmp_path / "grid.gpkg")
    _districts().to_crs(4326).rename(columns={"district": "NAME"}).to_file(tmp_path / "d.geojson")
    lon, lat = wgs84_to_gcj02(114.0, 22.5)
    pd.DataFrame({"id": ["f1"], "service": ["shelter"], "lng": [lon], "lat": [lat]}).to_csv(
        tmp_path / "fac.csv", index=False
    )
    region = Region.from_files(
        tmp_path / "grid.gpkg",
        boundaries={"district": tmp_path / "d.geojson"},
        facilities=tmp_path / "fac.csv",
        datum={"facilities": "gcj02"},
        columns={"population": {"P": "pop"}},
        ids={"population": "GRID", "district": "NAME", "facilities": "id"},
    )
    assert region.population["pop"].sum() == 1000
    assert region.groups == ("pop",)
    assert region.summary("district").set_index("unit")["pop"].to_dict() == {
        "west": 150,
        "east": 850,
    }
    f = region.facilities.to_crs(4326).geometry.iloc[0]
    assert abs(f.x - 114.0) < 1e-5 and abs(f.y - 22.5) < 1e-5
    assert tmp_path / "grid.gpkg" in region.sources


def test_from_files_errors_name_the_file(tmp_path):
    with pytest.raises(InputError) as err:
        Region.from_files(tmp_path / "missing.gpkg")
    assert "missing.gpkg" in str(err.value)
    _grid().to_file(tmp_path / "grid.gpkg")
    with pytest.raises(InputError, match="no such column"):
        Region.from_files(tmp_path / "grid.gpkg", columns={"population": {"POP": "pop"}})
    _grid().rename(columns={"cell_id": "x"}).to_file(tmp_path / "noid.gpkg")
    with pytest.raises(InputError, match="ids="):
        Region.from_files(tmp_path / "noid.gpkg")


def test_from_files_with_a_raster(tmp_path):
    import rasterio
    from affine import Affine

    values = np.array([[1.0, 2.0, -99999.0], [3.0, 0.0, 4.0]], dtype="float32")
    profile = {"driver": "GTiff", "width": 3, "height": 2, "count": 1, "dtype": "float32",
               "crs": UTM50, "transform": Affine(100, 0, 800_000, 0, -100, 2_500_000),
               "nodata": -99999.0}  # fmt: skip
    with rasterio.open(tmp_path / "pop.tif", "w", **profile) as dst:
        dst.write(values, 1)
    region = Region.from_files(tmp_path / "pop.tif")
    assert region.population["pop"].sum() == pytest.approx(10.0)
    coarse = Region.from_files(tmp_path / "pop.tif", cell_size=200)
    assert coarse.population["pop"].sum() == pytest.approx(10.0)
    assert len(coarse.population) == 2
