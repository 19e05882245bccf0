"""Tests of svcnet.io: every format round-trips, every bad input raises a typed error."""

from __future__ import annotations

import bz2
import gzip
import math
import os
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import rasterio
from affine import Affine
from shapely.geometry import LineString, Point, Polygon, box

from svcnet import io
from svcnet.errors import CRSError, InputError

DATA = Path(__file__).parent / "data"
TINY_OSM = DATA / "io_tiny.osm"
NO_ROADS_OSM = DATA / "io_no_roads.osm"
GEOD = pyproj.Geod(ellps="WGS84")

# Schools in Futian, Shenzhen (lon, lat).
LONS = [114.0550, 114.0612, 114.0705]
LATS = [22.5370, 22.5431, 22.5289]


def _points(crs: object = "EPSG:4326") -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {"name": ["a", "b", "c"], "pupils": [120, 455, 87], "share": [0.5, 0.25, 1.0]},
        geometry=gpd.points_from_xy(LONS, LATS),
        crs="EPSG:4326",
    )
    return frame.to_crs(crs)


def _squares() -> gpd.GeoDataFrame:
    """Three 100 m cells in UTM 50N, with a named-free RangeIndex."""
    cells = [box(196000 + 100 * i, 2494000, 196100 + 100 * i, 2494100) for i in range(3)]
    return gpd.GeoDataFrame(
        {"cell": ["c0", "c1", "c2"], "pop": [10, 0, 7]}, geometry=cells, crs="EPSG:32650"
    )


def _assert_same_layer(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame, tol: float = 1e-9) -> None:
    assert got.crs is not None and want.crs is not None
    assert got.crs.equals(want.crs, ignore_axis_order=True)
    for column in want.columns:
        if column == want.geometry.name:
            continue
        assert got[column].tolist() == want[column].tolist(), column
    assert len(got) == len(want)
    for a, b in zip(got.geometry, want.geometry, strict=True):
        assert a.geom_type == b.geom_type
        assert a.equals_exact(b, tolerance=tol), (a, b)


def _no_temp_left(folder: Path, *expected: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)


# =========================================================================================
# read_vector: formats
# =========================================================================================
def test_geojson_round_trip(tmp_path):
    want = _points()
    want.to_file(tmp_path / "schools.geojson", driver="GeoJSON")
    got = io.read_vector(tmp_path / "schools.geojson")
    _assert_same_layer(got, want)
    assert got.crs.to_epsg() == 4326


def test_geojson_gz_round_trip(tmp_path):
    want = _points()
    want.to_file(tmp_path / "schools.geojson", driver="GeoJSON")
    with open(tmp_path / "schools.geojson", "rb") as src:
        (tmp_path / "schools.geojson.gz").write_bytes(gzip.compress(src.read()))
    got = io.read_vector(str(tmp_path / "schools.geojson.gz"))
    _assert_same_layer(got, want)


def test_geopackage_round_trip_keeps_projected_crs(tmp_path):
    want = _squares()
    want.to_file(tmp_path / "grid.gpkg", layer="grid", driver="GPKG")
    got = io.read_vector(tmp_path / "grid.gpkg")
    _assert_same_layer(got, want)
    assert got.crs.to_epsg() == 32650


def test_shapefile_and_zipped_shapefile(tmp_path):
    want = _points("EPSG:32650")
    want.to_file(tmp_path / "schools.shp")
    _assert_same_layer(io.read_vector(tmp_path / "schools.shp"), want, tol=1e-6)
    with zipfile.ZipFile(tmp_path / "schools.zip", "w") as archive:
        for part in tmp_path.glob("schools.*"):
            if part.suffix != ".zip":
                archive.write(part, part.name)
    _assert_same_layer(io.read_vector(tmp_path / "schools.zip"), want, tol=1e-6)


def test_geoparquet_round_trip(tmp_path):
    want = _squares()
    want.to_parquet(tmp_path / "grid.parquet")
    _assert_same_layer(io.read_vector(tmp_path / "grid.parquet"), want)
    shutil.copy(tmp_path / "grid.parquet", tmp_path / "grid.geoparquet")
    _assert_same_layer(io.read_vector(tmp_path / "grid.geoparquet"), want)


def test_multi_layer_geopackage(tmp_path):
    path = tmp_path / "city.gpkg"
    _squares().to_file(path, layer="grid")
    _points().to_file(path, layer="schools")
    got = io.read_vector(path, layer="schools")
    _assert_same_layer(got, _points())
    with pytest.raises(InputError, match="2 layers") as err:
        io.read_vector(path)
    assert "grid" in str(err.value) and "schools" in str(err.value)
    assert err.value.file == str(path)
    with pytest.raises(InputError, match="no layer 'roads'") as err:
        io.read_vector(path, layer="roads")
    assert "grid, schools" in str(err.value) or "schools, grid" in str(err.value)
    assert err.value.layer == "roads" and err.value.file == str(path)


def test_plain_table_layer_is_refused(tmp_path):
    path = tmp_path / "tables.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"a": [1, 2]}), path, layer="attrs", driver="GPKG")
    with pytest.raises(InputError, match="no geometry") as err:
        io.read_vector(path)
    assert err.value.layer == "attrs"


# =========================================================================================
# read_vector: CSV
# =========================================================================================
def test_csv_detects_columns_case_insensitively(tmp_path):
    path = tmp_path / "schools.csv"
    rows = "\n".join(f"{n},{x},{y}" for n, x, y in zip("abc", LONS, LATS, strict=True))
    path.write_text("name,Longitude,LAT\n" + rows + "\n", encoding="utf-8")
    got = io.read_vector(path, crs="EPSG:4326")
    assert got.crs.to_epsg() == 4326
    assert got.geometry.x.tolist() == LONS and got.geometry.y.tolist() == LATS
    assert got["name"].tolist() == ["a", "b", "c"]
    assert got["Longitude"].tolist() == LONS  # the columns are kept as read


@pytest.mark.parametrize(("lon", "lat"), [("lng", "lat"), ("long", "latitude"), ("X", "y")])
def test_csv_detects_every_listed_name(tmp_path, lon, lat):
    path = tmp_path / "p.csv"
    path.write_text(f"{lon},{lat}\n114.05,22.54\n")
    got = io.read_vector(path, datum="wgs84")
    assert (got.geometry.x[0], got.geometry.y[0]) == (114.05, 22.54)


def test_csv_explicit_names_bom_and_semicolons(tmp_path):
    path = tmp_path / "sites.txt"
    text = "id;east;north;lon\n1;806050.5;2494050.25;ignored\n2;806150;2494150;x\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    got = io.read_vector(path, lon="east", lat="north", crs=32650)
    assert got.crs.to_epsg() == 32650
    assert got.geometry.x.tolist() == [806050.5, 806150.0]
    assert got.geometry.y.tolist() == [2494050.25, 2494150.0]
    assert got["id"].tolist() == [1, 2]


def test_csv_projected_coordinates_are_not_range_checked(tmp_path):
    path = tmp_path / "utm.csv"
    path.write_text("x,y\n806050,2494050\n")
    got = io.read_vector(path, crs="EPSG:32650")
    assert got.geometry.x[0] == 806050


def test_csv_wkt_geometry_column(tmp_path):
    path = tmp_path / "areas.csv"
    path.write_text(
        'name,WKT\nsq,"POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))"\nln,"LINESTRING (0 0, 2 2)"\n'
    )
    got = io.read_vector(path, crs=32650)
    assert got.geometry.iloc[0].equals(box(0, 0, 1, 1))
    assert got.geometry.iloc[1].equals(LineString([(0, 0), (2, 2)]))
    assert list(got.columns) == ["name", "geometry"]


def test_csv_two_wkt_columns(tmp_path):
    path = tmp_path / "areas.csv"
    path.write_text('geometry,wkt\n"POINT (1 2)","POINT (1 2)"\n')
    with pytest.raises(InputError, match="several columns could hold WKT"):
        io.read_vector(path, crs=32650)


def test_csv_spaces_around_numbers(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("name, lon , lat\na, 114.05 ,22.54\n")
    got = io.read_vector(path, datum="wgs84")
    assert (got.geometry.x[0], got.geometry.y[0]) == (114.05, 22.54)


def test_csv_bad_wkt(tmp_path):
    path = tmp_path / "areas.csv"
    path.write_text('name,geometry\na,"POINT (1 2)"\nb,not wkt\nc,"POINT (3"\n')
    with pytest.raises(InputError, match="not WKT") as err:
        io.read_vector(path, crs=32650)
    assert err.value.rows == [1, 2] and err.value.column == "geometry"


def test_csv_without_crs_or_datum_is_a_crs_error(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("lon,lat\n114.05,22.54\n")
    with pytest.raises(CRSError, match="crs=.*datum=") as err:
        io.read_vector(path)
    assert err.value.file == str(path)


def test_csv_no_coordinate_columns_lists_columns(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("name,east,north\na,1,2\n")
    with pytest.raises(InputError, match="name, east, north") as err:
        io.read_vector(path, datum="wgs84")
    assert err.value.file == str(path)


def test_csv_ambiguous_columns(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("x,y,lon,lat\n1,2,114,22\n")
    with pytest.raises(InputError, match="several columns could hold the longitude") as err:
        io.read_vector(path, datum="wgs84")
    assert "x, lon" in str(err.value)
    got = io.read_vector(path, datum="wgs84", lon="lon", lat="lat")
    assert (got.geometry.x[0], got.geometry.y[0]) == (114, 22)


def test_csv_explicit_column_missing(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("lon,lat\n114,22\n")
    with pytest.raises(InputError, match="no column 'lng'") as err:
        io.read_vector(path, datum="wgs84", lon="lng")
    assert err.value.column == "lng" and "lon, lat" in str(err.value)


def test_csv_non_numeric_rows(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("name,lon,lat\na,114.05,22.54\nb,east,22.55\nc,114.07,22.56\nd,11a,22.5\n")
    with pytest.raises(InputError, match="non-numeric longitude") as err:
        io.read_vector(path, datum="wgs84")
    assert err.value.column == "lon" and err.value.rows == [1, 3]
    assert err.value.file == str(path)


def test_csv_missing_values(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("lon,lat\n114.05,22.54\n114.06,\n")
    with pytest.raises(InputError, match="missing latitude") as err:
        io.read_vector(path, datum="wgs84")
    assert err.value.column == "lat" and err.value.rows == [1]


def test_csv_out_of_range_rows(tmp_path):
    path = tmp_path / "p.csv"
    # row 1 has lat/lon swapped (a classic); row 2 is fine; row 3 is beyond 180
    path.write_text("lat,lon\n22.54,114.05\n114.05,22.54\n22.5,114.0\n22.5,190.5\n")
    with pytest.raises(InputError, match="longitude values out of range") as err:
        io.read_vector(path, datum="gcj02")
    assert err.value.column == "lon" and err.value.rows == [3]
    path.write_text("lat,lon\n22.54,114.05\n114.05,22.54\n")
    with pytest.raises(InputError, match="latitude values out of range") as err:
        io.read_vector(path, crs=4326)
    assert err.value.column == "lat" and err.value.rows == [1]


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes("名称,lon,lat\n学校,114.05,22.54\n".encode("gbk"))
    with pytest.raises(InputError, match="not UTF-8") as err:
        io.read_vector(path, datum="wgs84")
    assert err.value.file == str(path)


def test_csv_empty_file(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("")
    with pytest.raises(InputError, match="empty"):
        io.read_vector(path, datum="wgs84")


def test_csv_rejects_layer_and_vector_rejects_lon(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("lon,lat\n114,22\n")
    with pytest.raises(InputError, match="no layers"):
        io.read_vector(path, datum="wgs84", layer="x")
    _points().to_file(tmp_path / "p.geojson")
    with pytest.raises(InputError, match="CSV files only"):
        io.read_vector(tmp_path / "p.geojson", lon="x")


# =========================================================================================
# read_vector: CRS and datum
# =========================================================================================
def _shapefile_without_crs(tmp_path: Path) -> Path:
    _points("EPSG:32650").to_file(tmp_path / "nocrs.shp")
    (tmp_path / "nocrs.prj").unlink()
    return tmp_path / "nocrs.shp"


def test_file_without_crs_is_a_crs_error(tmp_path):
    path = _shapefile_without_crs(tmp_path)
    with pytest.raises(
        CRSError, match=r"no CRS; declare it with crs=\.\.\. or datum=\.\.\."
    ) as err:
        io.read_vector(path)
    assert err.value.file == str(path)


def test_crs_declares_without_reprojecting(tmp_path):
    path = _shapefile_without_crs(tmp_path)
    got = io.read_vector(path, crs="EPSG:32650")
    assert got.crs.to_epsg() == 32650
    want = _points("EPSG:32650")
    assert np.allclose(got.geometry.x, want.geometry.x) and np.allclose(
        got.geometry.y, want.geometry.y
    )


def test_crs_that_agrees_is_accepted_and_one_that_differs_refused(tmp_path):
    _squares().to_file(tmp_path / "grid.gpkg")
    assert io.read_vector(tmp_path / "grid.gpkg", crs=32650).crs.to_epsg() == 32650
    assert io.read_vector(tmp_path / "grid.gpkg", crs=pyproj.CRS(32650)).crs.to_epsg() == 32650
    with pytest.raises(CRSError, match="EPSG:32650.*EPSG:4326") as err:
        io.read_vector(tmp_path / "grid.gpkg", crs="EPSG:4326")
    assert err.value.file == str(tmp_path / "grid.gpkg")
    _points().to_file(tmp_path / "p.geojson")  # GeoJSON is always lon/lat (OGC:CRS84)
    assert io.read_vector(tmp_path / "p.geojson", crs=4326).crs.to_epsg() == 4326


def test_unknown_crs_string(tmp_path):
    _points().to_file(tmp_path / "p.geojson")
    with pytest.raises(CRSError, match="not a CRS pyproj understands"):
        io.read_vector(tmp_path / "p.geojson", crs="EPSG:999999")


def test_datum_gcj02_shifts_shenzhen_points_to_wgs84(tmp_path):
    from svcnet import crs as svcrs

    path = tmp_path / "amap.csv"
    path.write_text(
        "name,lng,lat\n"
        + "\n".join(f"{n},{x},{y}" for n, x, y in zip("abc", LONS, LATS, strict=True))
        + "\n"
    )
    got = io.read_vector(path, datum="gcj02")
    assert got.crs.to_epsg() == 4326
    _, _, dist = GEOD.inv(LONS, LATS, got.geometry.x.to_numpy(), got.geometry.y.to_numpy())
    assert np.all((np.asarray(dist) > 300) & (np.asarray(dist) < 700)), dist
    want_x, want_y = svcrs.gcj02_to_wgs84(np.array(LONS), np.array(LATS))
    assert np.allclose(got.geometry.x, want_x, atol=1e-12)
    assert np.allclose(got.geometry.y, want_y, atol=1e-12)
    # the same points in a GeoJSON (labelled EPSG:4326, as GCJ-02 files are) give the same
    gpd.GeoDataFrame(geometry=gpd.points_from_xy(LONS, LATS), crs=4326).to_file(
        tmp_path / "amap.geojson"
    )
    again = io.read_vector(tmp_path / "amap.geojson", datum="gcj02")
    assert np.allclose(again.geometry.x, want_x, atol=1e-12)


def test_datum_bd09_and_wgs84(tmp_path):
    from svcnet import crs as svcrs

    path = tmp_path / "baidu.csv"
    path.write_text(f"lon,lat\n{LONS[0]},{LATS[0]}\n")
    got = io.read_vector(path, datum="bd09")
    want = svcrs.bd09_to_wgs84(np.array(LONS[:1]), np.array(LATS[:1]))
    assert np.allclose([got.geometry.x[0], got.geometry.y[0]], [want[0][0], want[1][0]], atol=1e-12)
    plain = io.read_vector(path, datum="wgs84")
    assert (plain.geometry.x[0], plain.geometry.y[0]) == (LONS[0], LATS[0])
    assert plain.crs.to_epsg() == 4326


def test_datum_wgs84_leaves_projected_files_as_read(tmp_path):
    _squares().to_file(tmp_path / "grid.gpkg")
    got = io.read_vector(tmp_path / "grid.gpkg", datum="wgs84")
    _assert_same_layer(got, _squares())


def test_datum_gcj02_refuses_projected_data(tmp_path):
    _squares().to_file(tmp_path / "grid.gpkg")
    with pytest.raises(CRSError, match="projected") as err:
        io.read_vector(tmp_path / "grid.gpkg", datum="gcj02")
    assert err.value.file == str(tmp_path / "grid.gpkg")
    (tmp_path / "p.csv").write_text("x,y\n806050,2494050\n")
    with pytest.raises(CRSError, match="projected"):
        io.read_vector(tmp_path / "p.csv", datum="gcj02", crs=32650)


def test_unknown_datum(tmp_path):
    _points().to_file(tmp_path / "p.geojson")
    with pytest.raises(InputError, match="datum must be one of") as err:
        io.read_vector(tmp_path / "p.geojson", datum="WGS84")
    assert err.value.file == str(tmp_path / "p.geojson")


# =========================================================================================
# read_vector: files that are not there or not geodata
# =========================================================================================
def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such vector file") as err:
        io.read_vector(tmp_path / "nope.gpkg")
    assert err.value.file == str(tmp_path / "nope.gpkg")


def test_directory(tmp_path):
    folder = tmp_path / "dir.gpkg"
    folder.mkdir()
    with pytest.raises(InputError, match="not a readable vector file: it is a directory") as err:
        io.read_vector(folder)
    assert err.value.file == str(folder)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.geojson", b"this is not json"),
        ("broken.geojson", b'{"type": "FeatureCollection", "features": ['),
        ("image.gpkg", b"\x89PNG\r\n\x1a\n" + bytes(64)),
        ("empty.shp", b""),
        ("notes.geojson.gz", gzip.compress(b"plain text")),
        ("notgz.geojson.gz", b"not gzipped"),
        ("text.parquet", b"this is not parquet"),
        ("bad.zip", b"PK not really a zip"),
    ],
)
def test_not_geodata(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a readable vector file") as err:
        io.read_vector(path)
    assert err.value.file == str(path)
    assert err.value.__cause__ is not None


def test_plain_parquet_is_not_geoparquet(tmp_path):
    path = tmp_path / "table.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    with pytest.raises(InputError, match="not GeoParquet") as err:
        io.read_vector(path)
    assert err.value.file == str(path)
    with pytest.raises(InputError, match="no layers"):
        io.read_vector(path, layer="a")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "roads.kml"
    path.write_text("<kml/>")
    with pytest.raises(InputError, match="cannot tell the format") as err:
        io.read_vector(path)
    assert ".gpkg" in str(err.value) and err.value.file == str(path)


# =========================================================================================
# population rasters
# =========================================================================================
def _write_raster(
    path: Path,
    data: np.ndarray,
    *,
    nodata: float | None,
    crs: object | None = 32650,
    transform: Affine | None = None,
) -> None:
    transform = transform or Affine(100.0, 0.0, 800000.0, 0.0, -100.0, 2500000.0)
    count = 1 if data.ndim == 2 else data.shape[0]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[-1],
        height=data.shape[-2],
        count=count,
        dtype=data.dtype,
        crs=crs,
        nodata=nodata,
        transform=transform,
    ) as dst:
        dst.write(data if data.ndim == 3 else data[np.newaxis])


def test_worldpop_raster(tmp_path):
    data = np.array([[1.5, -99999, 3.25], [0.0, 12.125, -99999]], dtype="float32")
    path = tmp_path / "worldpop.tif"
    transform = Affine(0.00083333333, 0.0, 113.75, 0.0, -0.00083333333, 22.86)
    _write_raster(path, data, nodata=-99999, crs="EPSG:4326", transform=transform)
    raster = io.read_population_raster(path)
    assert raster.values.dtype == np.float64 and raster.shape == (2, 3)
    assert np.isnan(raster.values[0, 1]) and np.isnan(raster.values[1, 2])
    assert int(np.isnan(raster.values).sum()) == 2
    assert raster.total == 1.5 + 3.25 + 0.0 + 12.125  # exact: these are binary fractions
    assert raster.values[1, 1] == 12.125
    assert raster.nodata == -99999.0
    assert raster.crs.to_epsg() == 4326 and isinstance(raster.crs, pyproj.CRS)
    assert raster.transform == transform
    assert raster.cell_size == pytest.approx((0.00083333333, 0.00083333333))
    assert raster.bounds == pytest.approx(
        (113.75, 22.86 - 2 * 0.00083333333, 113.75 + 3 * 0.00083333333, 22.86)
    )
    assert raster.path == path
    with pytest.raises(ValueError):  # read-only values
        raster.values[0, 0] = 5
    with pytest.raises(AttributeError):  # frozen
        raster.nodata = 0  # type: ignore[misc]


def test_ghsl_raster_projected(tmp_path):
    data = np.array([[-200, 40.5], [7.0, -200]], dtype="float32")
    path = tmp_path / "ghsl.tif"
    _write_raster(
        path,
        data,
        nodata=-200,
        crs="ESRI:54009",
        transform=Affine(100, 0, 10_000, 0, -100, 2_600_000),
    )
    raster = io.read_population_raster(path)
    assert raster.total == 47.5 and raster.nodata == -200.0
    assert raster.cell_size == (100.0, 100.0)
    assert raster.bounds == (10_000.0, 2_599_800.0, 10_200.0, 2_600_000.0)
    assert np.isnan(raster.values[0, 0]) and np.isnan(raster.values[1, 1])


def test_raster_without_nodata_and_second_band(tmp_path):
    data = np.stack([np.ones((2, 2)), np.full((2, 2), 2.5)]).astype("float64")
    path = tmp_path / "two.tif"
    _write_raster(path, data, nodata=None)
    raster = io.read_population_raster(path, band=2)
    assert raster.nodata is None and raster.total == 10.0
    with pytest.raises(InputError, match="band 3 is out of range: the file has 2") as err:
        io.read_population_raster(path, band=3)
    assert err.value.file == str(path)
    with pytest.raises(InputError, match="band must be a positive integer"):
        io.read_population_raster(path, band=0)


def test_raster_errors(tmp_path):
    with pytest.raises(InputError, match="no such raster file") as err:
        io.read_population_raster(tmp_path / "nope.tif")
    assert err.value.file == str(tmp_path / "nope.tif")

    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(InputError, match="not a readable raster file") as err:
        io.read_population_raster(text)
    assert err.value.file == str(text) and err.value.__cause__ is not None

    nocrs = tmp_path / "nocrs.tif"
    _write_raster(nocrs, np.ones((2, 2), dtype="float32"), nodata=-99999, crs=None)
    with pytest.raises(CRSError, match="no CRS") as err:
        io.read_population_raster(nocrs)
    assert err.value.file == str(nocrs)

    empty = tmp_path / "empty.tif"
    _write_raster(empty, np.full((2, 2), -99999, dtype="float32"), nodata=-99999)
    with pytest.raises(InputError, match="only nodata") as err:
        io.read_population_raster(empty)
    assert err.value.file == str(empty)

    negative = tmp_path / "negative.tif"
    data = np.array([[1, 2, 3], [4, -5, -99999], [-1, 0, 0]], dtype="float32")
    _write_raster(negative, data, nodata=-99999)
    with pytest.raises(InputError, match=r"2 cell\(s\) with negative population.*row 1, col 1: -5"):
        io.read_population_raster(negative)

    no_nodata = tmp_path / "ghsl_no_nodata.tif"  # GHSL's -200 without the nodata tag
    _write_raster(no_nodata, np.array([[-200.0, 3.0]], dtype="float32"), nodata=None)
    with pytest.raises(InputError, match="1 cell.*nodata value set"):
        io.read_population_raster(no_nodata)

    infinite = tmp_path / "inf.tif"
    _write_raster(infinite, np.array([[np.inf, 3.0]], dtype="float32"), nodata=-99999)
    with pytest.raises(InputError, match="infinite"):
        io.read_population_raster(infinite)

    folder = tmp_path / "dir.tif"
    folder.mkdir()
    with pytest.raises(InputError, match="directory"):
        io.read_population_raster(folder)


# =========================================================================================
# road networks
# =========================================================================================
def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_009.0  # osmnx's mean Earth radius
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def test_tiny_osm_simplified_largest_component():
    graph = io.read_network(TINY_OSM)
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.graph["crs"] == "epsg:4326"
    # Interior nodes 2 and 4 are removed; 7-8 (disconnected) and the building are dropped.
    assert sorted(graph.nodes) == [1, 3, 5, 6]
    # 101 (1-3) two-way: 2 edges; 102 (3-5) oneway: 1; 103 (3-6) two-way: 2.
    assert sorted((u, v) for u, v, _ in graph.edges(keys=True)) == [
        (1, 3),
        (3, 1),
        (3, 5),
        (3, 6),
        (6, 3),
    ]
    assert not graph.has_edge(5, 3)
    length = graph.edges[1, 3, 0]["length"]
    want = _haversine(22.54, 114.05, 22.54, 114.051) + _haversine(22.54, 114.051, 22.54, 114.052)
    assert length == pytest.approx(want, rel=1e-6)
    assert graph.nodes[5]["x"] == 114.052 and graph.nodes[5]["y"] == 22.542


def test_tiny_osm_unsimplified_and_all_components():
    graph = io.read_network(TINY_OSM, simplify=False)
    assert sorted(graph.nodes) == [1, 2, 3, 4, 5, 6]
    assert graph.number_of_edges() == 4 + 2 + 2
    graph = io.read_network(TINY_OSM, simplify=False, retain_all=True)
    assert sorted(graph.nodes) == [1, 2, 3, 4, 5, 6, 7, 8]  # no building nodes 9-11
    assert graph.number_of_edges() == 4 + 2 + 2 + 2
    assert all(d["highway"] == "residential" for _, _, d in graph.edges(data=True))
    graph = io.read_network(TINY_OSM, retain_all=True)
    assert sorted(graph.nodes) == [1, 3, 5, 6, 7, 8]
    assert graph.number_of_edges() == 7


def test_osm_bz2_and_graphml_round_trips(tmp_path):
    import osmnx as ox

    packed = tmp_path / "tiny.osm.bz2"
    packed.write_bytes(bz2.compress(TINY_OSM.read_bytes()))
    graph = io.read_network(packed)
    assert graph.number_of_edges() == 5

    ox.save_graphml(graph, tmp_path / "tiny.graphml")
    loaded = io.read_network(tmp_path / "tiny.graphml")
    assert sorted(loaded.edges(keys=True)) == sorted(graph.edges(keys=True))
    assert loaded.graph["crs"] == "epsg:4326"
    assert loaded.edges[1, 3, 0]["length"] == pytest.approx(graph.edges[1, 3, 0]["length"])

    gz = tmp_path / "tiny.graphml.gz"
    gz.write_bytes(gzip.compress((tmp_path / "tiny.graphml").read_bytes()))
    unzipped = io.read_network(gz)
    assert sorted(unzipped.edges(keys=True)) == sorted(graph.edges(keys=True))
    assert unzipped.nodes[3]["x"] == pytest.approx(114.052)


def test_osm_without_roads():
    with pytest.raises(InputError, match="no roads") as err:
        io.read_network(NO_ROADS_OSM)
    assert err.value.file == str(NO_ROADS_OSM)
    with pytest.raises(InputError, match="no roads"):
        io.read_network(NO_ROADS_OSM, simplify=False, retain_all=True)


def test_osm_empty_and_broken_files(tmp_path):
    empty = tmp_path / "empty.osm"
    empty.write_text('<osm version="0.6"></osm>')
    with pytest.raises(InputError, match="no roads") as err:
        io.read_network(empty)
    assert err.value.file == str(empty)

    garbage = tmp_path / "garbage.osm"
    garbage.write_text("this is not XML")
    with pytest.raises(InputError, match="not a readable OSM XML file") as err:
        io.read_network(garbage)
    assert err.value.file == str(garbage)

    clipped = tmp_path / "clipped.osm"  # a way referring to a node not in the file
    clipped.write_text(
        '<osm version="0.6"><node id="1" lat="22.5" lon="114.0"/><way id="5">'
        '<nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way></osm>'
    )
    with pytest.raises(InputError, match="missing nodes") as err:
        io.read_network(clipped)
    assert err.value.file == str(clipped)

    bad_gz = tmp_path / "bad.graphml.gz"
    bad_gz.write_bytes(b"not gzip")
    with pytest.raises(InputError, match="not a readable GraphML file") as err:
        io.read_network(bad_gz)
    assert err.value.file == str(bad_gz)

    bad_graphml = tmp_path / "bad.graphml"
    bad_graphml.write_text("<graphml><oops")
    with pytest.raises(InputError, match="not a readable GraphML file"):
        io.read_network(bad_graphml)


def test_network_missing_directory_and_suffix(tmp_path):
    with pytest.raises(InputError, match="no such road network file") as err:
        io.read_network(tmp_path / "nope.osm")
    assert err.value.file == str(tmp_path / "nope.osm")
    (tmp_path / "d.graphml").mkdir()
    with pytest.raises(InputError, match="directory"):
        io.read_network(tmp_path / "d.graphml")
    (tmp_path / "roads.pbf").write_bytes(b"\x00")
    with pytest.raises(InputError, match="cannot tell the format"):
        io.read_network(tmp_path / "roads.pbf")


def test_graphml_without_crs_or_edges(tmp_path):
    graph = nx.MultiDiGraph()  # string attributes, as osmnx saves them
    graph.add_node(1, x="114.0", y="22.5")
    graph.add_node(2, x="114.001", y="22.5")
    graph.add_edge(1, 2, length="102.8")
    nx.write_graphml(graph, tmp_path / "nocrs.graphml")
    with pytest.raises(CRSError, match="no 'crs' attribute") as err:
        io.read_network(tmp_path / "nocrs.graphml")
    assert err.value.file == str(tmp_path / "nocrs.graphml")
    lonely = nx.MultiDiGraph(crs="epsg:4326")
    lonely.add_node(1, x="114.0", y="22.5")
    nx.write_graphml(lonely, tmp_path / "lonely.graphml")
    with pytest.raises(InputError, match="no roads"):
        io.read_network(tmp_path / "lonely.graphml")


def test_graphml_not_saved_by_osmnx(tmp_path):
    graph = nx.MultiDiGraph(crs="epsg:4326")  # typed attributes: osmnx cannot load these
    graph.add_edge(1, 2, length=102.8)
    nx.write_graphml(graph, tmp_path / "typed.graphml")
    with pytest.raises(InputError, match="not a readable GraphML file") as err:
        io.read_network(tmp_path / "typed.graphml")
    assert err.value.file == str(tmp_path / "typed.graphml")


def test_network_from_place_wraps_errors(monkeypatch):
    import osmnx as ox
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to establish a new connection")

    monkeypatch.setattr(ox, "graph_from_place", offline)
    with pytest.raises(InputError, match="could not get the walk network of 'Futian'") as err:
        io.network_from_place("Futian")
    assert isinstance(err.value.__cause__, requests.exceptions.ConnectionError)

    def not_found(*args, **kwargs):
        raise ox._errors.InsufficientResponseError("Nominatim could not geocode query 'Atlantis'")

    monkeypatch.setattr(ox, "graph_from_place", not_found)
    with pytest.raises(InputError, match="Atlantis"):
        io.network_from_place("Atlantis", network_type="drive")

    monkeypatch.setattr(ox, "graph_from_place", lambda *a, **k: nx.MultiDiGraph(crs="epsg:4326"))
    with pytest.raises(InputError, match="no walk roads"):
        io.network_from_place("Empty")


def test_network_from_place_unreachable_server_fails_fast(monkeypatch, tmp_path):
    import osmnx as ox

    # a closed local port: refused at once, nothing leaves the machine
    monkeypatch.setattr(ox.settings, "nominatim_url", "http://127.0.0.1:9/")
    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")
    monkeypatch.setattr(ox.settings, "use_cache", False)
    monkeypatch.setattr(ox.settings, "cache_folder", str(tmp_path / "cache"))
    monkeypatch.setattr(ox.settings, "logs_folder", str(tmp_path / "logs"))
    monkeypatch.setattr(ox.settings, "requests_timeout", 2)
    with pytest.raises(InputError, match="could not get the walk network") as err:
        io.network_from_place("Futian District, Shenzhen")
    assert isinstance(err.value.__cause__, OSError)


# =========================================================================================
# writers
# =========================================================================================
def test_write_vector_round_trips(tmp_path):
    grid = _squares()
    before = grid.copy()
    for name in ("grid.gpkg", "grid.parquet", "grid.geoparquet"):
        io.write_vector(grid, tmp_path / name)
        _assert_same_layer(io.read_vector(tmp_path / name), grid)
    assert pyogrio.list_layers(tmp_path / "grid.gpkg")[:, 0].tolist() == ["grid"]
    # GeoJSON: reprojected to EPSG:4326, RFC 7946 precision (7 decimals)
    io.write_vector(grid, tmp_path / "grid.geojson")
    got = io.read_vector(tmp_path / "grid.geojson")
    assert got.crs.to_epsg() == 4326
    _assert_same_layer(got, grid.to_crs(4326), tol=1e-7)
    assert '"crs"' not in (tmp_path / "grid.geojson").read_text()
    pd.testing.assert_frame_equal(grid, before)  # the caller's frame is untouched
    assert grid.crs.to_epsg() == 32650


def test_write_vector_csv_points_as_lon_lat(tmp_path):
    points = _points("EPSG:32650")
    path = tmp_path / "out" / "deeper" / "schools.csv"  # parents are created
    io.write_vector(points, path)
    table = pd.read_csv(path)
    assert list(table.columns) == ["name", "pupils", "share", "lon", "lat"]
    assert np.allclose(table["lon"], LONS, atol=1e-9) and np.allclose(table["lat"], LATS, atol=1e-9)
    back = io.read_vector(path, datum="wgs84")
    _assert_same_layer(back.drop(columns=["lon", "lat"]), _points(), tol=1e-9)
    # reading the CSV back keeps lon/lat columns that agree with the geometry: rewriting works
    io.write_vector(back, tmp_path / "again.csv")
    assert pd.read_csv(tmp_path / "again.csv").equals(pd.read_csv(path))


def test_write_vector_csv_other_shapes_as_wkt(tmp_path):
    grid = _squares()
    io.write_vector(grid, tmp_path / "grid.csv")
    table = pd.read_csv(tmp_path / "grid.csv")
    assert list(table.columns) == ["cell", "pop", "geometry"]
    back = io.read_vector(tmp_path / "grid.csv", datum="wgs84")
    _assert_same_layer(back, grid.to_crs(4326), tol=1e-9)


def test_write_vector_csv_named_index_and_missing_geometry(tmp_path):
    frame = gpd.GeoDataFrame(
        {"v": [1, 2]},
        geometry=[Point(114.0, 22.5), None],
        crs=4326,
        index=pd.Index(["s1", "s2"], name="site"),
    )
    io.write_vector(frame, tmp_path / "s.csv")
    text = (tmp_path / "s.csv").read_text().splitlines()
    assert text == ["site,v,lon,lat", "s1,1,114.0,22.5", "s2,2,,"]


def test_write_vector_csv_conflicting_lon_column(tmp_path):
    frame = _points().assign(lon=[1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="'lon' column that differs") as err:
        io.write_vector(frame, tmp_path / "p.csv")
    assert err.value.column == "lon" and err.value.rows == [0, 1, 2]
    assert not (tmp_path / "p.csv").exists()


def test_write_vector_second_layer_keeps_first(tmp_path):
    path = tmp_path / "city.gpkg"
    io.write_vector(_squares(), path, layer="grid")
    io.write_vector(_points(), path, layer="schools")
    assert sorted(pyogrio.list_layers(path)[:, 0].tolist()) == ["grid", "schools"]
    _assert_same_layer(io.read_vector(path, layer="grid"), _squares())
    _assert_same_layer(io.read_vector(path, layer="schools"), _points())
    # writing an existing layer again replaces it, still keeping the other
    io.write_vector(_points().iloc[:1], path, layer="schools")
    assert len(io.read_vector(path, layer="schools")) == 1
    _assert_same_layer(io.read_vector(path, layer="grid"), _squares())
    _no_temp_left(tmp_path, "city.gpkg")


def test_write_vector_errors(tmp_path):
    with pytest.raises(CRSError, match="no CRS") as err:
        io.write_vector(gpd.GeoDataFrame(geometry=[Point(0, 0)]), tmp_path / "a.gpkg")
    assert err.value.file == str(tmp_path / "a.gpkg")
    with pytest.raises(InputError, match="GeoPackage"):
        io.write_vector(_points(), tmp_path / "a.geojson", layer="x")
    with pytest.raises(InputError, match="cannot tell the format"):
        io.write_vector(_points(), tmp_path / "a.shp")
    with pytest.raises(InputError, match="needs a GeoDataFrame"):
        io.write_vector(pd.DataFrame({"a": [1]}), tmp_path / "a.gpkg")
    (tmp_path / "d.gpkg").mkdir()
    with pytest.raises(InputError, match="directory"):
        io.write_vector(_points(), tmp_path / "d.gpkg")
    # an existing file that is not a GeoPackage: refused, and left as it was
    (tmp_path / "notes.gpkg").write_text("keep me")
    with pytest.raises(InputError, match="exists but is not a GeoPackage") as err:
        io.write_vector(_points(), tmp_path / "notes.gpkg")
    assert (tmp_path / "notes.gpkg").read_text() == "keep me"
    _no_temp_left(tmp_path, "d.gpkg", "notes.gpkg")


def _partial_then_fail(path_arg: int = 1):
    """A stand-in writer that writes half a file, then fails like a full disk."""

    def writer(*args, **kwargs):
        target = Path(args[path_arg]) if len(args) > path_arg else Path(kwargs["path"])
        with open(target, "w") as fh:
            fh.write('{"type": "FeatureCollection", "features": [')
        raise OSError(28, "No space left on device")

    return writer


@pytest.mark.parametrize("name", ["old.geojson", "old.gpkg"])
def test_failed_vector_write_leaves_old_file(tmp_path, monkeypatch, name):
    path = tmp_path / name
    io.write_vector(_points(), path)
    before = path.read_bytes()
    monkeypatch.setattr(pyogrio, "write_dataframe", _partial_then_fail())
    with pytest.raises(OSError, match="No space left"):
        io.write_vector(_squares(), path)
    assert path.read_bytes() == before
    _no_temp_left(tmp_path, name)
    monkeypatch.undo()
    _assert_same_layer(io.read_vector(path), _points(), tol=1e-7)


def test_failed_table_write_leaves_old_file_and_creates_none(tmp_path, monkeypatch):
    path = tmp_path / "cover.csv"
    io.write_table(pd.DataFrame({"a": [1, 2]}), path)
    before = path.read_bytes()

    def to_csv(self, path_or_buf=None, *args, **kwargs):
        Path(path_or_buf).write_text("a\n1\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    with pytest.raises(OSError):
        io.write_table(pd.DataFrame({"a": [3]}), path)
    with pytest.raises(OSError):
        io.write_table(pd.DataFrame({"a": [3]}), tmp_path / "new.csv")
    with pytest.raises(OSError):
        io.write_vector(_points(), tmp_path / "new_points.csv")
    assert path.read_bytes() == before
    _no_temp_left(tmp_path, "cover.csv")


def test_failed_text_write_leaves_old_file(tmp_path):
    path = tmp_path / "report.html"
    io.write_text("<p>old</p>", path)
    with pytest.raises(InputError, match="cannot be written as ascii") as err:
        io.write_text("<p>新</p>" * 1000, path, encoding="ascii")
    assert err.value.file == str(path)
    assert path.read_text() == "<p>old</p>"
    _no_temp_left(tmp_path, "report.html")


def test_protected_paths_are_refused(tmp_path, monkeypatch):
    source = tmp_path / "in" / "grid.gpkg"
    io.write_vector(_squares(), source)
    before = source.read_bytes()
    monkeypatch.chdir(tmp_path)
    spellings = [
        source,
        "in/grid.gpkg",
        "./in/../in/grid.gpkg",
        tmp_path / "in" / "." / "grid.gpkg",
    ]
    for target in spellings:
        with pytest.raises(InputError, match="refusing to overwrite an input file") as err:
            io.write_vector(_points(), target, layer="schools", protected=[source])
        assert err.value.file == str(Path(target))
    with pytest.raises(InputError, match="refusing"):
        io.write_vector(_points(), source, protected=["in/grid.gpkg"])  # relative protected
    with pytest.raises(InputError, match="refusing"):
        io.write_vector(_points(), source, protected=str(source))  # a single path, not a list
    os.symlink(source, tmp_path / "link.gpkg")
    with pytest.raises(InputError, match="refusing"):
        io.write_vector(_points(), tmp_path / "link.gpkg", protected=[source])
    with pytest.raises(InputError, match="refusing"):
        io.write_table(pd.DataFrame({"a": [1]}), "t.csv", protected=[tmp_path / "t.csv"])
    with pytest.raises(InputError, match="refusing"):
        io.write_text("x", source, protected=(source,))
    with pytest.raises(InputError, match="refusing"):
        io.write_html("x", source, protected=(source,))
    assert source.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["grid.gpkg"]
    assert not (tmp_path / "t.csv").exists()
    # another file beside it is fine
    io.write_vector(_points(), tmp_path / "in" / "out.gpkg", protected=[source])


def test_write_table(tmp_path):
    frame = pd.DataFrame({"site": ["s1", "s2"], "people": [1200, 35], "name": ["福田", "a,b"]})
    io.write_table(frame, tmp_path / "t.csv")
    raw = (tmp_path / "t.csv").read_bytes()
    assert raw.decode("utf-8").splitlines()[0] == "site,people,name"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), frame)
    named = frame.set_index("site")
    io.write_table(named, tmp_path / "n.csv")
    assert (tmp_path / "n.csv").read_text().splitlines()[0] == "site,people,name"
    io.write_table(frame, tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), frame)
    io.write_table(named, tmp_path / "n.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "n.parquet"), named)
    with pytest.raises(InputError, match="cannot tell the format"):
        io.write_table(frame, tmp_path / "t.xlsx")
    with pytest.raises(InputError, match="needs a pandas DataFrame"):
        io.write_table([1, 2], tmp_path / "t.csv")
    with pytest.raises(InputError, match="Parquet") as err:
        io.write_table(pd.DataFrame({"mixed": [1, "a", 2.5]}), tmp_path / "bad.parquet")
    assert err.value.file == str(tmp_path / "bad.parquet")
    assert not (tmp_path / "bad.parquet").exists()


def test_write_text_and_html(tmp_path):
    io.write_text("línea\r\nzwei\n", tmp_path / "a" / "r.txt")
    assert (tmp_path / "a" / "r.txt").read_bytes() == "línea\r\nzwei\n".encode()
    io.write_text("gbk 文本", tmp_path / "g.txt", encoding="gbk")
    assert (tmp_path / "g.txt").read_bytes() == "gbk 文本".encode("gbk")
    with pytest.raises(InputError, match="needs a str"):
        io.write_text(b"bytes", tmp_path / "b.txt")

    class Root:
        def render(self):
            return "<html>rendered</html>"

    class FakeMap:
        def get_root(self):
            return Root()

    io.write_html(FakeMap(), tmp_path / "fake.html")
    assert (tmp_path / "fake.html").read_text() == "<html>rendered</html>"
    io.write_html("<p>ok</p>", tmp_path / "s.html")
    assert (tmp_path / "s.html").read_text() == "<p>ok</p>"
    with pytest.raises(InputError, match="get_root") as err:
        io.write_html(42, tmp_path / "bad.html")
    assert err.value.file == str(tmp_path / "bad.html")


def test_write_html_folium_map(tmp_path):
    import folium

    fmap = folium.Map(location=[22.54, 114.05], zoom_start=13)
    folium.Marker([22.54, 114.05], tooltip="福田 school").add_to(fmap)
    io.write_html(fmap, tmp_path / "map.html")
    html = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "福田 school" in html and "22.54" in html


def test_write_vector_polygon_geojson_follows_rfc7946_winding(tmp_path):
    clockwise = Polygon([(114.0, 22.5), (114.0, 22.6), (114.1, 22.6), (114.1, 22.5)])
    frame = gpd.GeoDataFrame({"id": [1]}, geometry=[clockwise], crs=4326)
    io.write_vector(frame, tmp_path / "p.geojson")
    got = io.read_vector(tmp_path / "p.geojson").geometry.iloc[0]
    assert got.exterior.is_ccw and got.equals(clockwise)
