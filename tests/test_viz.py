"""svcnet.viz without a browser: layers, classes, escaping, self-contained export."""

import json
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

import svcnet
from svcnet import Region
from svcnet.errors import InputError
from svcnet.io import read_vector
from svcnet.viz import class_breaks, explore_region, save_map, to_html
from svcnet.viz._assets import leaflet_assets
from svcnet.viz._layers import QUANTUM_DEG, VectorLayer, encode_column, encode_geometries

DATA = Path(__file__).parent / "data"
CDN_HOSTS = ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "code.jquery.com", "netdna.bootstrapcdn")
INJECTED_REGION_NAME = "Evil <img src=x onerror=alert(4)> region"


def injected_region() -> Region:
    """A small region whose names are HTML and script (tests/data/viz_injected_*)."""
    units = read_vector(DATA / "viz_injected_units.geojson")
    facilities = read_vector(DATA / "viz_injected_facilities.csv", datum="wgs84")
    outline = units.to_crs(32650).geometry.iloc[0]
    x0, y0, x1, y1 = (np.floor(np.array(outline.bounds) / 100) * 100).tolist()
    cells = [
        box(x, y, x + 100, y + 100) for x in np.arange(x0, x1, 100) for y in np.arange(y0, y1, 100)
    ]
    grid = gpd.GeoDataFrame(
        {
            "cell_id": ["<b>cell</b>"] + [f"c{i}" for i in range(1, len(cells))],
            "pop": [1234] + [i % 50 for i in range(1, len(cells))],
        },
        geometry=cells,
        crs=32650,
    )
    return Region(
        grid,
        boundaries={"district": units},
        facilities=facilities,
        name=INJECTED_REGION_NAME,
        attribution=["<script>alert(5)</script> data"],
    )


def decode(origin, flat):
    xy = np.cumsum(np.asarray(flat).reshape(-1, 2), axis=0) + origin
    return xy * QUANTUM_DEG


def layers_of(m):
    return [c for c in m._children.values() if isinstance(c, VectorLayer)]


def spec_of(layer):
    return json.loads(layer.spec_js)


@pytest.fixture(scope="module")
def futian():
    return svcnet.datasets.load_futian()


@pytest.fixture(scope="module")
def futian_page(futian):
    return to_html(explore_region(futian, tiles=None))


# -- class breaks ---------------------------------------------------------------------
def test_class_breaks_are_round_increasing_and_end_at_the_maximum():
    rng = np.random.default_rng(0)
    values = np.round(rng.lognormal(5, 1.5, 5_000))
    breaks = class_breaks(values, scheme="quantiles", k=7)
    assert np.all(np.diff(breaks) > 0) and breaks[-1] == values.max()
    for bound in breaks[:-1]:
        assert len(f"{bound:g}".replace(".", "").strip("0")) <= 2  # two significant digits
    counts = np.bincount(np.searchsorted(breaks, values), minlength=len(breaks))
    assert counts.min() > 0.08 * len(values)  # quantiles: roughly equal classes


def test_the_default_classes_hold_about_equal_numbers_of_people():
    rng = np.random.default_rng(1)
    people = np.round(rng.pareto(1.2, 20_000) * 30) + 1
    breaks = class_breaks(people, k=5)
    totals = np.bincount(np.searchsorted(breaks, people), weights=people)
    assert len(breaks) == 5 and totals.min() > 0.1 * people.sum()
    with pytest.raises(InputError, match="negative"):
        class_breaks([-1, 5, 10])


def test_tied_quantiles_merge_into_one_class():
    values = np.r_[np.full(4000, 24), np.full(3000, 25), np.full(2000, 26), np.arange(27, 3027)]
    breaks = class_breaks(values, scheme="quantiles", k=7)
    assert not ({24.0, 25.0} & set(breaks.tolist()))
    assert class_breaks([5, 5, 5]).tolist() == [5.0]


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"scheme": "viridis"}, "scheme"), ({"k": 1}, "k"), ({"k": True}, "k"), ({"k": 2.5}, "k")],
)
def test_class_breaks_names_the_bad_parameter(kwargs, word):
    with pytest.raises(InputError, match=word):
        class_breaks([1, 2, 3], **kwargs)
    with pytest.raises(InputError, match="NaN"):
        class_breaks([1, np.nan])


# -- encoding -------------------------------------------------------------------------
def test_polygons_round_trip_with_holes_and_parts():
    shell = [(114.0, 22.5), (114.01, 22.5), (114.01, 22.51), (114.0, 22.51)]
    hole = [(114.002, 22.502), (114.004, 22.502), (114.004, 22.504)]
    with_hole = Polygon(shell, [hole])
    multi = shapely.MultiPolygon(
        [box(114.02, 22.5, 114.03, 22.51), box(114.04, 22.5, 114.05, 22.51)]
    )
    sliver = box(114.1, 22.5, 114.1000001, 22.5000001)  # nothing left at a metre
    origin, encoded, kept = encode_geometries(np.array([with_hole, multi, sliver]), "polygon")
    assert kept.tolist() == [0, 1]
    ((outer, inner),) = encoded[0]
    np.testing.assert_allclose(decode(origin, outer), np.array(shell), atol=QUANTUM_DEG / 2)
    np.testing.assert_allclose(decode(origin, inner), np.array(hole), atol=QUANTUM_DEG / 2)
    assert len(encoded[1]) == 2 and all(len(p) == 1 for p in encoded[1])


def test_lines_keep_their_closing_vertex_and_points_are_pairs():
    origin, encoded, _ = encode_geometries(np.array([box(114.0, 22.5, 114.01, 22.51)]), "line")
    ring = decode(origin, encoded[0])
    assert len(ring) == 5 and np.allclose(ring[0], ring[-1])
    origin, encoded, kept = encode_geometries(np.array([Point(114.05, 22.54)]), "point")
    np.testing.assert_allclose(decode(origin, encoded[0])[0], [114.05, 22.54])


def test_columns_are_numbers_text_or_codes():
    assert encode_column(pd.Series([1.0, np.nan, 2.25]), "x")["values"] == [1, None, 2.25]
    coded = encode_column(pd.Series(["福田区"] * 10 + [None]), "District")
    assert coded["categories"] == ["福田区"] and coded["codes"][-1] is None
    assert encode_column(pd.Series(["a", "b"]), "Id")["values"] == ["a", "b"]


# -- explore_region -------------------------------------------------------------------
def test_the_region_map_has_grid_boundaries_facilities_scale_legend_and_control(futian):
    before = futian.population.copy()
    m = explore_region(futian, tiles=None)
    pd.testing.assert_frame_equal(futian.population, before)
    grid, district, facilities = (spec_of(layer) for layer in layers_of(m))
    populated = before[before["pop"] > 0]
    assert len(grid["geometries"]) == len(populated)  # empty cells dropped, none lost
    labels = [c["label"] for c in grid["columns"]]
    assert labels == ["Cell", "District", "Population", "Children 0-14", "Aged 60+", "Aged 65+"]
    assert sum(grid["columns"][2]["values"]) == 1_553_225
    assert grid["legend"]["title"] == "Population per 100 m cell (people)"
    assert len(grid["legend"]["items"]) == len(grid["colors"]) >= 5
    assert district["columns"][0]["values"] == ["福田区"]
    assert district["columns"][2]["values"] == [1_553_225]
    assert facilities["legend"]["items"][0]["label"] == "Existing facility (33)"
    assert district["legend"]["items"][0]["label"] == "District boundary"
    assert "OpenStreetMap" in grid["attribution"]
    children = list(m._children.values())
    assert isinstance(children[-1], folium.LayerControl)
    assert sum(isinstance(c, folium.LayerControl) for c in children) == 1
    assert not any(isinstance(c, folium.TileLayer) for c in children)


def test_layers_compose_on_an_existing_map(futian):
    m = explore_region(futian, tiles="OpenStreetMap")
    explore_region(futian, m, column="pop_65plus", show_facilities=False)
    children = list(m._children.values())
    assert sum(isinstance(c, folium.LayerControl) for c in children) == 1
    assert isinstance(children[-1], folium.LayerControl)
    names = [layer.layer_name for layer in layers_of(m)]
    assert names[-2].startswith("Aged 65+") and len(names) == 5
    assert [c.layer_name for c in children if isinstance(c, folium.TileLayer)] == ["OpenStreetMap"]


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"column": "elderly"}, "elderly"),
        ({"column": "cell_id"}, "cell_id"),
        ({"cmap": "nope"}, "cmap"),
        ({"scheme": "nope"}, "scheme"),
        ({"tiles": "https://tiles.example/{z}/{x}/{y}.png"}, "attr"),
        ({"tiles": 3}, "tiles"),
    ],
)
def test_bad_options_are_named(futian, kwargs, word):
    with pytest.raises(InputError, match=word):
        explore_region(futian, **kwargs)


def test_a_custom_basemap_needs_and_shows_its_attribution(futian):
    m = explore_region(futian, tiles="https://tiles.example/{z}/{x}/{y}.png", attr="© Example")
    tiles = [c for c in m._children.values() if isinstance(c, folium.TileLayer)]
    assert tiles[0].options["attribution"] == "© Example" and tiles[0].layer_name == "Basemap"


# -- escaping -------------------------------------------------------------------------
def test_text_from_data_never_reaches_the_page_as_markup():
    page = to_html(explore_region(injected_region(), tiles=None))
    for raw in ("<script>alert", "<img src=x", "<svg onload", "<b>", "<i>Evil"):
        assert raw not in page, raw
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page  # JSON, shown as text
    assert "Evil &lt;img src=x onerror=alert(4)&gt; region" in page  # layer names, title
    assert "\\u0026lt;script\\u0026gt;alert(5)" in page  # attribution: escaped, in JSON


# -- export ---------------------------------------------------------------------------
def test_the_exported_page_needs_no_network(futian_page):
    assert not any(host in futian_page for host in CDN_HOSTS)
    assert not re.search(r"<(script|link)\b[^>]*\b(src|href)=", futian_page)
    assert "Leaflet 1." in futian_page and "data:image/png;base64," in futian_page
    assert futian_page.count("var svcnetViz") == 1
    assert len(futian_page.encode()) < 1_000_000


def test_the_city_grid_page_is_small():
    shenzhen = svcnet.datasets.load_shenzhen()
    page = to_html(explore_region(shenzhen, tiles=None))
    assert len(page.encode()) < 4_000_000  # folium/geopandas made 12 MB
    populated = int((shenzhen.population["pop"] > 0).sum())
    assert page.count("250m_E") == populated  # every populated cell keeps its tooltip


def test_plain_folium_maps_export_when_they_use_only_leaflet():
    m = folium.Map(location=[22.54, 114.05], zoom_start=12, tiles=None)
    folium.Marker([22.54, 114.05], tooltip="marker").add_to(m)
    folium.CircleMarker([22.55, 114.06], radius=4).add_to(m)
    page = to_html(m)
    assert "jquery" not in page.lower() and "bootstrap" not in page.lower()
    assert "L.Icon.Default.mergeOptions" in page


def test_what_cannot_be_embedded_is_refused_by_name():
    m = folium.Map(tiles=None)
    folium.Marker([22.54, 114.05], popup="a popup", icon=folium.Icon(icon="home")).add_to(m)
    with pytest.raises(InputError, match=r"jquery.*offline=False"):
        to_html(m)
    online = to_html(m, offline=False)
    assert "code.jquery.com" in online and "leaflet@1.9.3/dist/leaflet.js" in online
    with pytest.raises(InputError, match="folium.Map"):
        to_html("<html></html>")


def test_offline_export_does_not_change_the_map_for_notebooks():
    m = folium.Map(tiles=None)
    to_html(m)
    assert "cdn.jsdelivr.net/npm/leaflet" in m.get_root().render()


def test_save_map_writes_atomically_and_protects_inputs(tmp_path, futian):
    target = tmp_path / "out" / "map.html"
    save_map(explore_region(futian, tiles=None), target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in target.parent.iterdir()) == ["map.html"]
    source = tmp_path / "input.html"
    source.write_text("mine")
    with pytest.raises(InputError, match="overwrite"):
        save_map(folium.Map(tiles=None), source, protected=[source])
    assert source.read_text() == "mine"


def test_leaflet_comes_from_an_installed_package():
    assets = leaflet_assets()
    assert assets.version.startswith("1.9") and "url(images/" not in assets.css
    assert set(assets.icons) == {"iconUrl", "iconRetinaUrl", "shadowUrl"}
