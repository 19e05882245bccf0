"""The bundled Shenzhen and Futian data: every layer loads with the expected CRS, counts, totals."""

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest

import svcnet
from svcnet import datasets

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT.parent / "shared" / "data" / "raw"

# 2020 census, resident population by district (NBS county tabulation); Longgang and Dapeng
# split with their published figures. Typed here as independent truth.
CENSUS_2020 = {
    "罗湖区": 1_143_801,
    "福田区": 1_553_225,
    "南山区": 1_795_826,
    "宝安区": 4_476_554,
    "龙岗区": 3_979_037,
    "大鹏新区": 156_236,
    "盐田区": 214_225,
    "龙华区": 2_528_872,
    "坪山区": 551_333,
    "光明区": 1_095_289,
}
# Futian's census age pyramid: 0-14, 60+ and 65+ summed by hand from the 19 bands.
FUTIAN_AGES = {"pop": 1_553_225, "pop_0_14": 247_544, "pop_60plus": 130_961, "pop_65plus": 84_967}


@pytest.fixture(scope="module")
def futian():
    return datasets.load_futian()


@pytest.fixture(scope="module")
def shenzhen():
    return datasets.load_shenzhen()


def test_futian_grid_sums_exactly_to_the_census(futian):
    grid = futian.population
    assert list(grid.columns[:5]) == ["cell_id", "district", "pop", "pop_0_14", "pop_60plus"]
    assert {c: int(grid[c].sum()) for c in FUTIAN_AGES} == FUTIAN_AGES
    assert grid.crs.to_epsg() == 32650
    assert len(grid) == 8226
    assert grid.cell_id.is_unique
    assert (grid["pop_65plus"] <= grid["pop_60plus"]).all()
    assert (grid["pop_60plus"] + grid["pop_0_14"] <= grid["pop"]).all()
    # 100 m cells, cut at the border: none larger than a hectare
    assert grid.area.max() <= 10_000 + 1e-6


def test_futian_cells_tile_the_district(futian):
    district = futian.boundaries["district"]
    grid = futian.population
    assert grid.area.sum() == pytest.approx(district.area.sum(), rel=1e-6)
    assert grid.within(district.buffer(0.01).iloc[0]).all()


def test_futian_layers(futian):
    assert futian.levels == ("district",)
    assert futian.boundaries["district"]["district"].tolist() == ["福田区"]
    cands = futian.candidates
    assert cands.candidate_id.is_unique
    assert set(cands["kind"]) == {"building", "intersection"}
    assert (cands.geom_type == "Point").all()
    district = futian.boundaries["district"].iloc[0].geometry
    assert cands.within(district.buffer(1)).all()
    fac = futian.facilities
    assert len(fac) >= 20 and fac.facility_id.is_unique
    assert "community_center" in set(fac["service"])
    assert fac["capacity"].isna().all()  # not known from OSM, and not made up


def test_futian_network_is_a_real_osmnx_graph(futian):
    graph = futian.network
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.graph["crs"].lower() in ("epsg:4326", "4326")
    assert graph.number_of_nodes() == 4243
    assert graph.number_of_edges() == 8581
    lengths = [d["length"] for _, _, d in graph.edges(data=True)]
    assert min(lengths) > 0
    # The network covers Futian (all but its easternmost strip).
    xs = [d["x"] for _, d in graph.nodes(data=True)]
    assert 113.97 < min(xs) and max(xs) > 114.09


def test_shenzhen_districts_carry_the_census(shenzhen):
    districts = shenzhen.boundaries["district"]
    assert dict(zip(districts["district"], districts["pop"], strict=True)) == CENSUS_2020
    assert districts.crs.to_epsg() == 32650
    futian = districts.set_index("district").loc["福田区"]
    assert {c: int(futian[c]) for c in FUTIAN_AGES} == FUTIAN_AGES


def test_shenzhen_grid_conserves_every_district_to_the_person(shenzhen):
    grid = shenzhen.population
    districts = shenzhen.boundaries["district"].set_index("district")
    sums = grid.groupby("district")[["pop", "pop_0_14", "pop_60plus", "pop_65plus"]].sum()
    for column in sums.columns:
        assert sums[column].to_dict() == districts[column].to_dict(), column
    assert int(grid["pop"].sum()) == sum(CENSUS_2020.values()) == 17_494_398
    # The summary (spatial, by representative point) agrees with the per-cell district column.
    summary = shenzhen.summary("district").set_index("unit")["pop"].to_dict()
    assert summary == CENSUS_2020


def test_shenzhen_under_mapped_districts_are_spread_not_piled(shenzhen):
    grid = shenzhen.population
    districts = shenzhen.boundaries["district"].set_index("district")
    # Dapeng has about 20 mapped buildings: its people are spread over its land
    dapeng = grid[grid["district"] == "大鹏新区"]
    assert districts.loc["大鹏新区", "building_weight"] < 0.01
    assert (dapeng["pop"] > 0).mean() > 0.9
    assert dapeng["pop"].max() < 200
    # Futian is well mapped: most cells (parks, roads, offices) are empty
    assert districts.loc["福田区", "building_weight"] == 1.0
    assert (grid[grid["district"] == "福田区"]["pop"] > 0).mean() < 0.6


def test_shenzhen_other_layers(shenzhen):
    assert shenzhen.network is None and not shenzhen.has_network
    assert shenzhen.boundaries["city"]["pop"].tolist() == [17_494_398]
    assert shenzhen.candidates.candidate_id.is_unique
    assert len(shenzhen.candidates) > 5000
    assert shenzhen.facilities.facility_id.is_unique


def test_bundled_files_are_small_and_documented():
    folder = datasets.data_dir()
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 30 * 2**20
    sources = (folder / "SOURCES.md").read_text(encoding="utf-8")
    for name in ("shenzhen.gpkg", "futian.gpkg", "futian_roads.graphml.gz", "ODbL",
                 "© OpenStreetMap contributors", "modelled"):  # fmt: skip
        assert name in sources


def test_data_dir_env_override(tmp_path, monkeypatch):
    bundled = datasets.data_dir()
    monkeypatch.setenv("SVCNET_DATA", str(tmp_path))
    # an incomplete folder is passed over in favour of the bundled copy
    assert datasets.data_dir() == bundled
    for name in ("futian.gpkg", "shenzhen.gpkg", "futian_roads.graphml.gz"):
        (tmp_path / name).symlink_to(bundled / name)
    assert datasets.data_dir() == tmp_path
    assert datasets.load_futian().sources[0].parent == tmp_path


@pytest.mark.skipif(not RAW.exists(), reason="raw data folder ../shared/data/raw not present")
def test_build_script_reproduces_the_bundled_data(tmp_path):
    """Rebuild from the raw files and compare cell by cell."""
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_data.py"), "--raw", str(RAW),
         "--out", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    for file, layer in (("futian.gpkg", "grid_100m"), ("shenzhen.gpkg", "grid_250m")):
        rebuilt = gpd.read_file(tmp_path / file, layer=layer).set_index("cell_id")
        bundled = gpd.read_file(datasets.data_dir() / file, layer=layer).set_index("cell_id")
        pd.testing.assert_frame_equal(
            pd.DataFrame(rebuilt.drop(columns="geometry")).sort_index(),
            pd.DataFrame(bundled.drop(columns="geometry")).sort_index(),
        )
        assert np.allclose(rebuilt.area.sort_index(), bundled.area.sort_index())


@pytest.mark.skipif(not RAW.exists(), reason="raw data folder ../shared/data/raw not present")
def test_futian_ages_match_the_raw_pyramid():
    pyramid = pd.read_csv(RAW / "typed-facts" / "futian_census2020_age_sex.csv")
    lower = pyramid["age_group"].str.extract(r"^(\d+)")[0].astype(int)
    grid = svcnet.datasets.load_futian().population
    assert grid["pop_65plus"].sum() == pyramid.loc[lower >= 65, "total"].sum()
    assert grid["pop_0_14"].sum() == pyramid.loc[lower < 15, "total"].sum()
