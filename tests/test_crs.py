"""Tests of svcnet.crs against independent truth.

The GCJ-02 / BD-09 tests check our own implementation (written from the
mathematical description of the algorithm) against coordinate pairs published
by other projects and vendors. Distances are measured on the WGS 84 ellipsoid
with pyproj.Geod, never with our own code.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import LineString, MultiLineString, Point, Polygon

from svcnet import crs as scrs
from svcnet.crs import (
    DATUMS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    estimate_metric_crs,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    is_metric,
    to_metric,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from svcnet.errors import CRSError, InputError

GEOD = pyproj.Geod(ellps="WGS84")
# "The same number", allowing for the last bits of vectorised sin/cos (degrees).
SAME = 1e-12


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance(s) in metres between (lon1, lat1) and (lon2, lat2)."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2))
    )
    _, _, dist = GEOD.inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return np.asarray(dist).reshape(lon1.shape)


# ---------------------------------------------------------------------------
# Published reference pairs (numbers only; no code was taken from any source)
# ---------------------------------------------------------------------------

# googollee/eviltransform, python/test.py (the same numbers are in
# go/transform_test.go and javascript/test.js). Published as
# (wgsLat, wgsLng, gcjLat, gcjLng); reordered here to (lon, lat) pairs.
EVILTRANSFORM_WGS_GCJ = {
    "shanghai": ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    "shenzhen": ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    "beijing": ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
}

# wandergis/coordtransform, test/app.js: every function applied to
# (116.404, 39.915), results printed in the file's closing comment.
CT_INPUT = (116.404, 39.915)
CT_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
CT_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
CT_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)  # closed-form inverse
CT_GCJ02_TO_WGS84 = (116.39775550083061, 39.91359571849836)  # one-step inverse

# hujiulong/gcoord, test/unit/crs/WGS84.spec.ts, GCJ02.spec.ts and BD09.spec.ts:
# every conversion applied to [123, 45] (the specs check 5 decimals).
GCOORD_AT_123_45 = {
    "wgs84_to_gcj02": (123.00607541, 45.00197815),
    "wgs84_to_bd09": (123.0124491, 45.0083293),
    "gcj02_to_wgs84": (122.99395597, 44.99804071),
    "gcj02_to_bd09": (123.00636499, 45.00636899),
    "bd09_to_gcj02": (122.99363304, 44.99365430),
    "bd09_to_wgs84": (122.98762210, 44.99171540),
}

# hujiulong/gcoord, test/fixtures/china-cities.json: the same place in WGS84,
# GCJ02 and BD09 for cities all over China (a subset, spread from Tibet to
# Liaoning). The file does not say how the triples were made. Against the
# published algorithm its GCJ02 values sit a steady ~0.65 m north-east of
# ours (both ways), well inside 1 m; its GCJ02 <-> BD09 pairs agree to 1 cm.
GCOORD_CITIES = {
    # name: (WGS84, GCJ02, BD09), each (lon, lat)
    "Zhumadian": ((114.0164322, 33.0133556), (114.022306, 33.0115324), (114.0287781, 33.0176697)),
    "Shaoyang": ((111.4622119, 27.242124), (111.4677938, 27.2388981), (111.4742271, 27.2451662)),
    "Nagqu": ((92.0499619, 31.4784436), (92.0512438, 31.4762063), (92.0576832, 31.4824421)),
    "Xichang": ((102.2658401, 27.8850446), (102.2673386, 27.8816151), (102.2738428, 27.8876621)),
    "Shenyang": ((123.4253306, 41.8032629), (123.4314787, 41.8057023), (123.438095, 41.8114013)),
    "Jiuquan": ((98.4937175, 39.7319946), (98.4943595, 39.7328234), (98.5008441, 39.7388949)),
    "Qinzhou": ((108.6503952, 21.9828281), (108.6541485, 21.9799392), (108.6607283, 21.9856319)),
    "Xilinhot": ((116.0414035, 43.9312805), (116.0482308, 43.9334573), (116.0546232, 43.9397782)),
    "Shantou": ((116.6775114, 23.3567569), (116.6819735, 23.3540964), (116.6885014, 23.3598884)),
}

# Alibaba Cloud documentation, "坐标系转换" (TransferCoord) of the address
# purification API, example response:
# https://help.aliyun.com/zh/address-purification/addrpapi/developer-reference/coordinate-system-conversion
# (6 decimals). Its WGS84 value is the one-step approximate inverse (see below).
ALIYUN_GCJ02 = (120.026268, 30.279164)
ALIYUN_BD09 = (120.032768, 30.285238)
ALIYUN_WGS84 = (120.021519, 30.281543)


@pytest.mark.parametrize("name", sorted(EVILTRANSFORM_WGS_GCJ))
def test_eviltransform_pairs(name):
    wgs, gcj = EVILTRANSFORM_WGS_GCJ[name]
    assert metres(*wgs84_to_gcj02(*wgs), *gcj) < 0.01
    assert metres(*gcj02_to_wgs84(*gcj), *wgs) < 0.01


def test_coordtransform_pairs():
    assert metres(*wgs84_to_gcj02(*CT_INPUT), *CT_WGS84_TO_GCJ02) < 0.01
    assert metres(*gcj02_to_bd09(*CT_INPUT), *CT_GCJ02_TO_BD09) < 0.01
    # Our exact inverses recover the input from the published forward results.
    assert metres(*gcj02_to_wgs84(*CT_WGS84_TO_GCJ02), *CT_INPUT) < 0.001
    assert metres(*bd09_to_gcj02(*CT_GCJ02_TO_BD09), *CT_INPUT) < 0.001
    # Its inverses are approximations: within 1 m of our exact ones here ...
    assert metres(*bd09_to_gcj02(*CT_INPUT), *CT_BD09_TO_GCJ02) < 1.0
    assert metres(*gcj02_to_wgs84(*CT_INPUT), *CT_GCJ02_TO_WGS84) < 1.0
    # ... and ours are the better ones: the forward transform of ours lands
    # back on the input, of theirs it does not.
    ours = metres(*wgs84_to_gcj02(*gcj02_to_wgs84(*CT_INPUT)), *CT_INPUT)
    theirs = metres(*wgs84_to_gcj02(*CT_GCJ02_TO_WGS84), *CT_INPUT)
    assert ours < 1e-4 < 0.01 < theirs


@pytest.mark.parametrize("func_name", sorted(GCOORD_AT_123_45))
def test_gcoord_pairs(func_name):
    func = getattr(scrs, func_name)
    assert metres(*func(123.0, 45.0), *GCOORD_AT_123_45[func_name]) < 0.1


def test_gcoord_not_in_china_unchanged():
    # gcoord's specs: [183, 45] (not in China) is returned unchanged.
    for func in (wgs84_to_gcj02, gcj02_to_wgs84):
        lon, lat = func(183.0, 45.0)
        assert (float(lon), float(lat)) == (183.0, 45.0)


@pytest.mark.parametrize("city", sorted(GCOORD_CITIES))
def test_gcoord_city_triples(city):
    wgs, gcj, bd = GCOORD_CITIES[city]
    assert metres(*wgs84_to_gcj02(*wgs), *gcj) < 1.0
    assert metres(*gcj02_to_wgs84(*gcj), *wgs) < 1.0
    assert metres(*wgs84_to_bd09(*wgs), *bd) < 1.0
    assert metres(*bd09_to_wgs84(*bd), *wgs) < 1.0
    assert metres(*gcj02_to_bd09(*gcj), *bd) < 0.05
    assert metres(*bd09_to_gcj02(*bd), *gcj) < 0.05


def test_aliyun_example():
    assert metres(*gcj02_to_bd09(*ALIYUN_GCJ02), *ALIYUN_BD09) < 0.2
    assert metres(*bd09_to_gcj02(*ALIYUN_BD09), *ALIYUN_GCJ02) < 0.2
    # Aliyun's WGS84 is the one-step estimate g - (f(g) - g), 1.7 m from the
    # exact inverse here: the forward transform of ours lands on the GCJ02
    # input, of theirs 1.7 m away.
    assert metres(*wgs84_to_gcj02(*gcj02_to_wgs84(*ALIYUN_GCJ02)), *ALIYUN_GCJ02) < 1e-4
    assert metres(*wgs84_to_gcj02(*ALIYUN_WGS84), *ALIYUN_GCJ02) > 1.0


# ---------------------------------------------------------------------------
# Known facts, round trips, the bounding box
# ---------------------------------------------------------------------------


def test_shenzhen_futian_offset():
    # Known: at Futian, Shenzhen, GCJ-02 is shifted by about +0.00510 deg lon
    # and -0.00273 deg lat, some 525 m east and 300 m south.
    lon, lat = 114.05, 22.54
    glon, glat = wgs84_to_gcj02(lon, lat)
    east = np.sign(glon - lon) * metres(lon, lat, glon, lat)
    north = np.sign(glat - lat) * metres(lon, lat, lon, glat)
    expect_east = metres(lon, lat, lon + 0.00510, lat)
    expect_north = -metres(lon, lat, lon, lat + 0.00273)
    assert abs(east - expect_east) < 3.0
    assert abs(north - expect_north) < 3.0
    assert 500 < east < 550 and -320 < north < -280
    assert 300 < metres(lon, lat, glon, glat) < 700


@pytest.fixture
def china_points():
    rng = np.random.default_rng(20240601)
    lon = rng.uniform(73.5, 134.8, 5000)
    lat = rng.uniform(18.0, 53.5, 5000)
    return lon, lat


def test_round_trip_gcj02(china_points):
    lon, lat = china_points
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert metres(lon, lat, glon, glat).min() > 10  # every point really moved
    back = gcj02_to_wgs84(glon, glat)
    assert metres(*back, lon, lat).max() < 0.01


def test_round_trip_bd09(china_points):
    lon, lat = china_points
    blon, blat = wgs84_to_bd09(lon, lat)
    assert metres(*bd09_to_wgs84(blon, blat), lon, lat).max() < 0.01
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert metres(*bd09_to_gcj02(*gcj02_to_bd09(glon, glat)), glon, glat).max() < 0.01


def test_inverse_round_trip_starting_from_gcj02(china_points):
    glon, glat = china_points
    assert metres(*wgs84_to_gcj02(*gcj02_to_wgs84(glon, glat)), glon, glat).max() < 0.01
    assert metres(*gcj02_to_bd09(*bd09_to_gcj02(glon, glat)), glon, glat).max() < 0.01


@pytest.mark.parametrize(
    ("place", "lon", "lat"),
    [
        ("London", -0.1276, 51.5072),
        ("Tokyo", 139.6917, 35.6895),  # east of the box's 137.8347
        ("Sydney", 151.2093, -33.8688),
        ("New York", -74.006, 40.7128),
        ("west of the box", 72.0039, 39.0),
        ("north of the box", 120.0, 55.8272),
    ],
)
def test_outside_the_box_unchanged(place, lon, lat):
    for func in (wgs84_to_gcj02, gcj02_to_wgs84):
        out = func(lon, lat)
        assert (float(out[0]), float(out[1])) == (lon, lat), place
    # The BD-09 step has no box, as published: only it applies.
    np.testing.assert_array_equal(wgs84_to_bd09(lon, lat), gcj02_to_bd09(lon, lat))
    np.testing.assert_allclose(bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), (lon, lat), atol=1e-9)


def test_inside_the_box_is_shifted_even_outside_mainland():
    # The box is a rectangle: Seoul lies in it and is shifted (the convention).
    assert metres(*wgs84_to_gcj02(126.978, 37.5665), 126.978, 37.5665) > 100
    assert metres(*wgs84_to_gcj02(72.0041, 39.0), 72.0041, 39.0) > 1


# ---------------------------------------------------------------------------
# The array API
# ---------------------------------------------------------------------------

ARRAY_FUNCS = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    wgs84_to_bd09,
    bd09_to_wgs84,
]


@pytest.mark.parametrize("func", ARRAY_FUNCS, ids=lambda f: f.__name__)
def test_array_api(func):
    lon = np.array([[114.05, 116.404], [121.47, -0.1276]])
    lat = np.array([[22.54, 39.915], [31.23, 51.5072]])
    lon0, lat0 = lon.copy(), lat.copy()
    out_lon, out_lat = func(lon, lat)
    assert out_lon.shape == out_lat.shape == (2, 2)
    assert out_lon.dtype == out_lat.dtype == np.float64
    np.testing.assert_array_equal(lon, lon0)  # inputs untouched
    np.testing.assert_array_equal(lat, lat0)
    # Element-wise: same as one point at a time, from scalars and lists.
    for i in np.ndindex(lon.shape):
        one = func(float(lon[i]), float(lat[i]))
        assert isinstance(one[0], np.ndarray) and one[0].shape == ()
        np.testing.assert_allclose(one, (out_lon[i], out_lat[i]), rtol=0, atol=SAME)
    listed = func(lon.ravel().tolist(), lat.ravel().tolist())
    np.testing.assert_allclose(listed, (out_lon.ravel(), out_lat.ravel()), rtol=0, atol=SAME)
    # Broadcasting, and NaN in -> NaN out.
    b_lon, b_lat = func([114.05, 114.06], 22.54)
    assert b_lon.shape == b_lat.shape == (2,)
    n_lon, n_lat = func([np.nan, 114.05], [22.54, np.nan])
    assert np.isnan(n_lon[0]) and np.isnan(n_lat[1])


@pytest.mark.parametrize("func", ARRAY_FUNCS, ids=lambda f: f.__name__)
def test_array_api_bad_input(func):
    with pytest.raises(InputError, match="lon"):
        func("east", 22.5)
    with pytest.raises(InputError, match="same shape"):
        func([114.0, 115.0, 116.0], [22.5, 23.0])


def test_datums():
    assert DATUMS == ("wgs84", "gcj02", "bd09")


# ---------------------------------------------------------------------------
# GeoDataFrames
# ---------------------------------------------------------------------------


@pytest.fixture
def layer():
    hole = [(114.052, 22.542), (114.054, 22.542), (114.054, 22.544), (114.052, 22.544)]
    geoms = [
        Point(114.05, 22.54),
        Polygon([(114.05, 22.54), (114.06, 22.54), (114.06, 22.55), (114.05, 22.55)], holes=[hole]),
        MultiLineString(
            [[(113.9, 22.5), (114.0, 22.6)], [(114.1, 22.6), (114.2, 22.7), (114.3, 22.6)]]
        ),
        Polygon(),
    ]
    return gpd.GeoDataFrame(
        {"name": ["clinic", "park", "roads", "nothing"], "pop": [1, 2, 3, 4]},
        geometry=geoms,
        index=[10, 11, 12, 13],
    )


CONVERSIONS = [
    (to_wgs84, "gcj02", gcj02_to_wgs84),
    (to_wgs84, "bd09", bd09_to_wgs84),
    (from_wgs84, "gcj02", wgs84_to_gcj02),
    (from_wgs84, "bd09", wgs84_to_bd09),
]


def _name(value):
    return getattr(value, "__name__", value)


@pytest.mark.parametrize(("convert", "datum", "func"), CONVERSIONS, ids=_name)
@pytest.mark.parametrize("input_crs", [None, "EPSG:4326"])
def test_frame_conversion_matches_array_functions(layer, convert, datum, func, input_crs):
    if input_crs is not None:
        layer = layer.set_crs(input_crs)
    before = layer.copy()
    out = convert(layer, datum)

    assert out is not layer
    assert_geodataframe_equal(layer, before)  # the input is unchanged
    assert layer.crs == before.crs
    assert out.crs == pyproj.CRS.from_epsg(4326)
    assert list(out.index) == list(layer.index)
    assert out["name"].tolist() == layer["name"].tolist()
    assert out.geometry.name == layer.geometry.name
    assert out.geom_type.tolist() == layer.geom_type.tolist()
    # Vertex by vertex, geometry by geometry, the same as the array function.
    for g_in, g_out in zip(layer.geometry, out.geometry, strict=True):
        c_in = shapely.get_coordinates(g_in)
        c_out = shapely.get_coordinates(g_out)
        assert c_in.shape == c_out.shape
        expect = np.column_stack(func(c_in[:, 0], c_in[:, 1])) if len(c_in) else c_in
        np.testing.assert_allclose(c_out, expect, rtol=0, atol=SAME)
        assert shapely.get_num_interior_rings(g_out) == shapely.get_num_interior_rings(g_in)
    assert out.geometry.iloc[3].is_empty


def test_frame_round_trip_and_none_geometry(layer):
    layer = layer.set_crs("EPSG:4326")
    layer.loc[13, "geometry"] = None
    for datum in ("gcj02", "bd09"):
        back = to_wgs84(from_wgs84(layer, datum), datum)
        assert back.geometry.iloc[3] is None
        for g_in, g_back in zip(layer.geometry[:3], back.geometry[:3], strict=True):
            a, b = shapely.get_coordinates(g_in), shapely.get_coordinates(g_back)
            assert metres(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).max() < 0.01


def test_frame_keeps_z():
    layer = gpd.GeoDataFrame(
        geometry=[Point(114.05, 22.54, 42.0), LineString([(114.0, 22.5), (114.1, 22.6)])]
    )
    out = to_wgs84(layer, "gcj02")
    z_point = out.geometry.iloc[0]
    assert z_point.has_z and z_point.z == 42.0
    expect = gcj02_to_wgs84(114.05, 22.54)
    np.testing.assert_allclose((z_point.x, z_point.y), expect, rtol=0, atol=SAME)
    assert not out.geometry.iloc[1].has_z


def test_to_wgs84_accepts_other_geographic_crs(layer):
    cgcs = layer.set_crs("EPSG:4490")  # CGCS2000, geographic
    out = to_wgs84(cgcs, "gcj02")
    expect = to_wgs84(layer, "gcj02")
    assert_geodataframe_equal(out, expect)


def test_to_wgs84_rejects_projected_crs(layer):
    projected = layer.set_crs("EPSG:4326").to_crs("EPSG:32650")
    for datum in ("gcj02", "bd09"):
        with pytest.raises(CRSError, match="not geographic"):
            to_wgs84(projected, datum)


@pytest.mark.parametrize("convert", [to_wgs84, from_wgs84])
def test_bad_datum(layer, convert):
    for bad in ("GCJ-02", "baidu", "", None):
        with pytest.raises(InputError, match="datum") as info:
            convert(layer, bad)
        assert "'gcj02'" in str(info.value) and "'bd09'" in str(info.value)


@pytest.mark.parametrize("convert", [to_wgs84, from_wgs84])
def test_not_a_geodataframe(layer, convert):
    with pytest.raises(InputError, match="gdf must be a GeoDataFrame"):
        convert(layer.geometry, "gcj02")


def test_wgs84_datum_only_reprojects(layer):
    # No CRS: taken as WGS 84 lon/lat, coordinates unchanged.
    for convert in (to_wgs84, from_wgs84):
        out = convert(layer, "wgs84")
        assert out is not layer and layer.crs is None
        assert out.crs == pyproj.CRS.from_epsg(4326)
        np.testing.assert_array_equal(
            shapely.get_coordinates(out.geometry), shapely.get_coordinates(layer.geometry)
        )
    # A projected layer is reprojected with pyproj.
    projected = layer.set_crs("EPSG:4326").to_crs("EPSG:32650")
    before = projected.copy()
    out = to_wgs84(projected, "wgs84")
    assert_geodataframe_equal(out, projected.to_crs("EPSG:4326"))
    assert_geodataframe_equal(projected, before)


def test_from_wgs84_reprojects_first(layer):
    wgs = layer.set_crs("EPSG:4326")
    projected = wgs.to_crs("EPSG:32650")
    out = from_wgs84(projected, "gcj02")
    expect = from_wgs84(projected.to_crs("EPSG:4326"), "gcj02")
    assert_geodataframe_equal(out, expect)
    # ... which is, to well under a millimetre, the direct conversion.
    a = shapely.get_coordinates(out.geometry)
    b = shapely.get_coordinates(from_wgs84(wgs, "gcj02").geometry)
    assert metres(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).max() < 1e-3


def test_empty_frame(layer):
    empty = layer.iloc[:0]
    for convert in (to_wgs84, from_wgs84):
        out = convert(empty, "bd09")
        assert len(out) == 0 and out.crs == pyproj.CRS.from_epsg(4326)


# ---------------------------------------------------------------------------
# Metric CRS
# ---------------------------------------------------------------------------


@pytest.fixture
def shenzhen():
    return gpd.GeoDataFrame(
        {"id": [1, 2, 3]},
        geometry=[Point(113.93, 22.52), Point(114.05, 22.54), Point(114.25, 22.72)],
        crs="EPSG:4326",
    )


def test_estimate_metric_crs_shenzhen(shenzhen):
    before = shenzhen.copy()
    crs = estimate_metric_crs(shenzhen)
    assert isinstance(crs, pyproj.CRS)
    assert crs.to_epsg() == 32650
    assert is_metric(crs)
    assert estimate_metric_crs(shenzhen.geometry).to_epsg() == 32650
    assert estimate_metric_crs(shenzhen.to_crs("EPSG:3857")).to_epsg() == 32650
    assert_geodataframe_equal(shenzhen, before)


def test_estimate_metric_crs_south_and_west():
    sydney = gpd.GeoSeries([Point(151.2093, -33.8688)], crs="EPSG:4326")
    assert estimate_metric_crs(sydney).to_epsg() == 32756
    london = gpd.GeoSeries([Point(-0.1276, 51.5072)], crs="EPSG:4326")
    assert estimate_metric_crs(london).to_epsg() == 32630


def test_estimate_metric_crs_errors(shenzhen):
    with pytest.raises(CRSError, match="no CRS"):
        estimate_metric_crs(shenzhen.set_crs(None, allow_override=True))
    with pytest.raises(CRSError, match="no non-empty geometry"):
        estimate_metric_crs(shenzhen.iloc[:0])
    with pytest.raises(CRSError, match="no non-empty geometry"):
        estimate_metric_crs(gpd.GeoSeries([Point(), None], crs="EPSG:4326"))
    with pytest.raises(InputError, match="data must be"):
        estimate_metric_crs([Point(114.05, 22.54)])


def test_to_metric_gives_metres():
    # Two points 0.01 deg of longitude apart at 22.5 N: about 1,028 m.
    pts = gpd.GeoDataFrame(geometry=[Point(114.05, 22.5), Point(114.06, 22.5)], crs="EPSG:4326")
    before = pts.copy()
    truth = float(metres(114.05, 22.5, 114.06, 22.5))
    assert 1020 < truth < 1035
    out = to_metric(pts)
    assert out.crs.to_epsg() == 32650
    grid = out.geometry.iloc[0].distance(out.geometry.iloc[1])
    # UTM's scale error is below 0.1 % this close to the zone.
    assert grid == pytest.approx(truth, rel=1e-3)
    assert_geodataframe_equal(pts, before)

    named = to_metric(pts, "EPSG:32649")
    assert named.crs.to_epsg() == 32649
    assert named.geometry.iloc[0].distance(named.geometry.iloc[1]) == pytest.approx(truth, rel=2e-3)
    assert isinstance(to_metric(pts.geometry), gpd.GeoSeries)


def test_to_metric_errors(shenzhen):
    with pytest.raises(CRSError, match="gdf has no CRS"):
        to_metric(shenzhen.set_crs(None, allow_override=True))
    with pytest.raises(CRSError, match="projected CRS in metres"):
        to_metric(shenzhen, "EPSG:4326")
    with pytest.raises(CRSError, match="projected CRS in metres"):
        to_metric(shenzhen, "EPSG:2263")  # New York State Plane, US feet
    with pytest.raises(CRSError, match="crs is not a CRS"):
        to_metric(shenzhen, "no such crs")
    with pytest.raises(InputError, match="gdf must be"):
        to_metric(shenzhen.to_numpy())


@pytest.mark.parametrize(
    ("crs", "expected"),
    [
        ("EPSG:32650", True),
        (32750, True),
        ("EPSG:3857", True),
        ("EPSG:4547", True),  # CGCS2000 / 3-degree Gauss-Kruger CM 114E
        ("EPSG:7405", True),  # compound: British National Grid + ODN height
        ("+proj=utm +zone=50 +ellps=WGS84 +towgs84=0,0,0 +units=m", True),  # bound CRS
        (pyproj.CRS.from_epsg(32650), True),
        ("EPSG:4326", False),
        ("EPSG:4490", False),
        ("EPSG:2263", False),  # US survey feet
        ("+proj=utm +zone=50 +datum=WGS84 +units=km", False),
        (None, False),
    ],
)
def test_is_metric(crs, expected):
    assert is_metric(crs) is expected


def test_is_metric_rejects_garbage():
    with pytest.raises(CRSError, match="crs is not a CRS"):
        is_metric("not a crs at all")
