"""The exported maps as a reviewer sees them: headless Chromium with the network closed.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them)
and selenium (the test extra). Without them the tests skip, except in CI
(``CI`` set), where they fail: a review page nobody opened is not tested.
Screenshots go to ``build/browser/`` (or ``$SVCNET_ARTIFACTS``).
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

import svcnet
from svcnet import Region
from svcnet.io import read_vector
from svcnet.viz import explore_region, save_map

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
CHROMIUM = Path(os.environ.get("SVCNET_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("SVCNET_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = Path(os.environ.get("SVCNET_ARTIFACTS", ROOT / "build" / "browser"))
WIDTH, HEIGHT = 1280, 800

# Runs before any script of the page: records dialogs and errors instead of showing them.
TRAPS = """
window.__svcnetDialogs = [];
window.__svcnetErrors = [];
["alert", "confirm", "prompt", "print"].forEach(function (name) {
  window[name] = function (message) { window.__svcnetDialogs.push(name + ": " + message); };
});
window.addEventListener("error", function (e) {
  window.__svcnetErrors.push(String(e.message || (e.target && e.target.src) || e));
}, true);
window.addEventListener("unhandledrejection", function (e) {
  window.__svcnetErrors.push("unhandled rejection: " + String(e.reason));
});
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _require_browser() -> None:
    problems = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        problems.append("selenium is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    if not CHROMEDRIVER.exists():
        problems.append(f"{CHROMEDRIVER} is missing (apt-get install chromium-driver)")
    if problems:
        msg = "the browser tests need headless Chromium: " + "; ".join(problems)
        if _in_ci():
            pytest.fail(msg + " -- .ci/run installs them", pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="svcnet-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )
        driver.execute_cdp_cmd("Network.enable", {})  # the network is closed:
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*"]})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TRAPS})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def futian():
    return svcnet.datasets.load_futian()


def injected_region() -> Region:
    """A small region whose names are HTML and script (tests/data/viz_injected_*)."""
    units = read_vector(DATA / "viz_injected_units.geojson")
    facilities = read_vector(DATA / "viz_injected_facilities.csv", datum="wgs84")
    x0, y0, x1, y1 = (np.floor(np.array(units.to_crs(32650).total_bounds) / 100) * 100).tolist()
    cells = [
        box(x, y, x + 100, y + 100) for x in np.arange(x0, x1, 100) for y in np.arange(y0, y1, 100)
    ]
    grid = gpd.GeoDataFrame(
        {
            "cell_id": [f"c{i}" for i in range(len(cells))],
            "pop": [i % 50 + 1 for i in range(len(cells))],
        },
        geometry=cells,
        crs=32650,
    )
    return Region(
        grid,
        boundaries={"district": units},
        facilities=facilities,
        name="Evil <img src=x onerror=alert(4)> region",
    )


# -- helpers ---------------------------------------------------------------------------
def open_page(driver, path: Path) -> float:
    """Load a page and wait until Leaflet has drawn it; return the seconds it took."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # forget the previous page's messages
    started = time.perf_counter()
    driver.get(path.as_uri())
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete'"
            " && !!document.querySelector('.leaflet-container')"
        )
    )
    driver.execute_async_script(  # two frames: Leaflet draws its canvas on the next one
        "var done = arguments[0];"
        "requestAnimationFrame(function () { requestAnimationFrame(done); });"
    )
    return time.perf_counter() - started


def problems(driver, allowed_network=()):
    """Console errors, page errors, requests that left the machine, and dialogs."""
    found = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if entry.get("source") == "network" and any(u in entry["message"] for u in allowed_network):
            continue
        found.append(entry["message"])
    errors = driver.execute_script("return window.__svcnetErrors || ['the traps did not run']")
    found += [e for e in errors if not any(u in e for u in allowed_network)]
    found += driver.execute_script("return window.__svcnetDialogs")
    if driver.execute_script("return window.__xss !== undefined"):
        found.append("injected markup ran (window.__xss is set)")
    return found


def layer_names(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers label'))"
        ".map(function (l) { return l.textContent.trim(); });"
    )


def _pointer_to(driver, map_name, js_target):
    """Zoom to a feature found by ``js_target``; an ActionChains with the pointer on it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    point = driver.execute_async_script(
        """
        var map = window[arguments[0]], done = arguments[arguments.length - 1];
        var target = (function () { TARGET })();
        var where;
        if (target instanceof L.LatLng) { where = target; }
        else if (target.getLatLng) { where = target.getLatLng(); }              // a point
        else if (target instanceof L.Polygon) { where = target.getBounds().getCenter(); }
        else {                                                                   // a line: a vertex
          where = target.getLatLngs();
          while (L.Util.isArray(where)) { where = where[0]; }
        }
        map.setView(where, 17, {animate: false});
        requestAnimationFrame(function () { requestAnimationFrame(function () {
          var p = map.latLngToContainerPoint(where);
          done([p.x, p.y]);
        }); });
        """.replace("TARGET", js_target),
        map_name,
    )
    container = driver.find_element(By.CSS_SELECTOR, ".leaflet-container")
    size = container.size
    actions = ActionChains(driver)
    actions.move_to_element_with_offset(
        container, int(point[0] - size["width"] / 2), int(point[1] - size["height"] / 2)
    )
    return actions


def hover(driver, map_name, js_target):
    """Zoom to a feature found by ``js_target`` (JS returning a Leaflet layer), hover it.

    Polygons are hovered at their centre, lines at their first vertex.
    """
    from selenium.webdriver.support.ui import WebDriverWait

    _pointer_to(driver, map_name, js_target).perform()
    WebDriverWait(driver, 5).until(
        lambda d: d.execute_script("return !!document.querySelector('.leaflet-tooltip')")
    )
    return driver.execute_script(
        "var t = document.querySelector('.leaflet-tooltip');"
        "return [t.innerText, t.querySelectorAll('script, img, svg, iframe').length];"
    )


def click(driver, map_name, js_target):
    """Zoom to a feature found by ``js_target``, click it; the popup's text and markup count."""
    from selenium.webdriver.support.ui import WebDriverWait

    _pointer_to(driver, map_name, js_target).click().perform()
    WebDriverWait(driver, 5).until(  # open, and faded in
        lambda d: d.execute_script(
            "var p = document.querySelector('.leaflet-popup');"
            "return !!p && getComputedStyle(p).opacity === '1';"
        )
    )
    assert not driver.execute_script("return !!document.querySelector('.leaflet-tooltip')")
    return driver.execute_script(
        "var t = document.querySelector('.leaflet-popup-content');"
        "return [t.innerText, t.querySelectorAll('script, img, svg, iframe').length];"
    )


def find_cell(layer_name, cell_id):
    """JS body returning the middle of the grid cell ``cell_id``."""
    return f"""
        var grid = window[{layer_name!r}];
        return grid.cellCenter(grid.svcnetSpec.columns[0].values.indexOf({cell_id!r}));
    """


def find_feature(layer_name, column, value):
    """JS body returning the feature of ``layer_name`` whose ``column`` holds ``value``."""
    return f"""
        var group = window[{layer_name!r}], spec = group.svcnetSpec;
        var column = spec.columns[{column}];
        var found = null;
        group.eachLayer(function (f) {{
          var v = column.codes ? column.categories[column.codes[f.svcnetIndex]]
                               : column.values[f.svcnetIndex];
          if (v === {value!r}) {{ found = f; }}
        }});
        return found;
    """


def check_screenshot(driver, path: Path, min_warm: float = 0.02) -> None:
    """Save a screenshot and check that it shows a map, not a blank page.

    ``min_warm``: the share of warm (yellow to red) pixels expected, as a grid draws them.
    """
    from PIL import Image, ImageStat

    driver.save_screenshot(str(path))
    image = Image.open(path).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    grey = image.convert("L")
    assert ImageStat.Stat(grey).stddev[0] > 12, f"{path} looks blank"
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    warm = ((pixels[:, 0] - pixels[:, 2]) > 60).mean()  # the grid's yellow-to-red classes
    assert warm >= min_warm, f"{path}: the grid is not visible ({warm:.1%} warm pixels)"
    assert len(np.unique(pixels, axis=0)) > 100, f"{path} has too few colours"


def layer_vars(m):
    from svcnet.viz._layers import VectorLayer

    return {c.layer_name: c.get_name() for c in m._children.values() if isinstance(c, VectorLayer)}


# -- the tests --------------------------------------------------------------------------
def test_futian_map_opens_offline_with_layers_legend_and_tooltips(
    browser, futian, tmp_path, artifacts
):
    m = explore_region(futian, tiles=None)
    page = tmp_path / "futian_map.html"
    save_map(m, page)
    open_page(browser, page)
    assert problems(browser) == []
    assert browser.execute_script("return typeof L") == "object"
    names = layer_names(browser)
    assert names == [
        "Population (Futian, 100 m cells)",
        "Boundaries: district",
        "Existing facilities (33)",
    ]
    legend = browser.find_element("css selector", ".svcnet-legend").text
    for text in (
        "Futian: population 1,553,225",
        "Population per 100 m cell (people)",
        "about equal population",
        "1 –",
        "District boundary",
        "Existing facility (33)",
    ):
        assert text in legend, text
    assert (
        browser.execute_script(
            "return document.querySelectorAll('.svcnet-legend .svcnet-swatch').length"
        )
        >= 7
    )
    scale = browser.find_element("css selector", ".leaflet-control-scale").text
    assert scale.endswith(("m", "km")) and "mi" not in scale and "ft" not in scale
    assert (
        "OpenStreetMap contributors"
        in browser.find_element("css selector", ".leaflet-control-attribution").text
    )
    zoom = browser.execute_script(f"return window[{m.get_name()!r}].getZoom()")
    assert 12 <= zoom <= 14  # the whole district fills the window
    check_screenshot(browser, artifacts / "futian_map.png")

    grid = futian.population
    cell = grid.loc[grid["pop"].idxmax()]
    layers = layer_vars(m)
    text, elements = hover(browser, m.get_name(), find_cell(layers[names[0]], cell["cell_id"]))
    assert elements == 0
    for expected in (
        f"Cell {cell['cell_id']}",
        "District\t福田区",
        f"Population\t{cell['pop']:,}",
        f"Aged 65+\t{cell['pop_65plus']:,}",
        f"Children 0-14\t{cell['pop_0_14']:,}",
    ):
        assert expected in text, (expected, text)
    browser.save_screenshot(str(artifacts / "futian_tooltip.png"))
    assert problems(browser) == []


def test_the_city_grid_opens_and_answers(browser, tmp_path, artifacts):
    shenzhen = svcnet.datasets.load_shenzhen()
    m = explore_region(shenzhen, tiles=None)
    page = tmp_path / "shenzhen_map.html"
    save_map(m, page)
    assert page.stat().st_size < 15_000_000
    seconds = open_page(browser, page)
    assert problems(browser) == []
    counts = browser.execute_script(
        "var n = {}; Object.keys(window).forEach(function (k) {"
        "  var v = window[k]; if (v && v.svcnetSpec) {"
        "    n[k] = v.cellCount ? v.cellCount() : v.getLayers().length; } });"
        "return n;"
    )
    layers = layer_vars(m)
    populated = int((shenzhen.population["pop"] > 0).sum())
    assert counts[layers["Population (Shenzhen, 250 m cells)"]] == populated
    assert layer_names(browser)[:3] == [
        "Population (Shenzhen, 250 m cells)",
        "Boundaries: city",
        "Boundaries: district",
    ]
    check_screenshot(browser, artifacts / "shenzhen_map.png")
    grid = shenzhen.population
    cell = grid.loc[grid.loc[grid["district"] == "南山区", "pop"].idxmax()]
    text, _ = hover(
        browser,
        m.get_name(),
        find_cell(layers["Population (Shenzhen, 250 m cells)"], cell["cell_id"]),
    )
    assert f"Cell {cell['cell_id']}" in text and "District\t南山区" in text
    assert f"Population\t{cell['pop']:,}" in text
    browser.save_screenshot(str(artifacts / "shenzhen_tooltip.png"))
    assert problems(browser) == []
    print(f"Shenzhen map: {page.stat().st_size / 1e6:.1f} MB, opened in {seconds:.1f} s")


def test_injected_names_show_as_text_and_run_nothing(browser, tmp_path, artifacts):
    region = injected_region()
    m = explore_region(region, tiles=None)
    page = tmp_path / "injected.html"
    save_map(m, page)
    open_page(browser, page)
    assert problems(browser) == []
    assert (
        browser.title
        == "Evil <img src=x onerror=alert(4)> region: population and services (svcnet)"
    )
    assert (
        "Evil <img src=x onerror=alert(4)> region"
        in browser.find_element("css selector", ".svcnet-legend").text
    )
    layers = layer_vars(m)
    facilities = layers["Existing facilities (3)"]
    for name in ("<script>alert(1)</script>", '<img src=x onerror="window.__xss=1;alert(2)">'):
        text, elements = hover(browser, m.get_name(), find_feature(facilities, 0, name))
        assert text.startswith(name) and elements == 0, text
    assert "Service\t<b>eldercare</b>" in text or "Service\tshelter" in text
    boundary = layers["Boundaries: district"]
    driver_js = "var g = window[%r]; var f = null; g.eachLayer(function (l) { f = l; }); return f;"
    text, elements = hover(browser, m.get_name(), driver_js % boundary)
    assert text.startswith('District <svg onload="window.__xss=2;alert(3)">District</svg>')
    assert "<i>Evil</i> & sons" in text and elements == 0
    browser.save_screenshot(str(artifacts / "injected_tooltip.png"))
    assert problems(browser) == []


def test_the_openstreetmap_basemap_is_credited_and_can_be_switched_off(browser, futian, tmp_path):
    m = explore_region(futian)  # OpenStreetMap tiles: blocked here, as on a closed network
    page = tmp_path / "futian_osm.html"
    save_map(m, page)
    open_page(browser, page)
    assert problems(browser, allowed_network=("tile.openstreetmap.org",)) == []
    attribution = browser.find_element("css selector", ".leaflet-control-attribution").text
    assert "© OpenStreetMap contributors" in attribution
    assert layer_names(browser)[:2] == ["OpenStreetMap", "No basemap"]
    assert browser.execute_script("return document.querySelectorAll('.leaflet-tile').length") > 0
    radio = browser.find_elements("css selector", ".leaflet-control-layers-base input")[1]
    radio.click()
    assert browser.execute_script("return document.querySelectorAll('.leaflet-tile').length") == 0
    assert problems(browser, allowed_network=("tile.openstreetmap.org",)) == []


def test_a_plain_folium_map_with_a_marker_exports_whole(browser, tmp_path):
    import folium

    m = folium.Map(location=[22.54, 114.05], zoom_start=13, tiles=None)
    folium.Marker([22.54, 114.05], tooltip="here").add_to(m)
    page = tmp_path / "marker.html"
    save_map(m, page)
    open_page(browser, page)
    assert problems(browser) == []
    loaded = browser.execute_script(
        "return Array.from(document.querySelectorAll('img.leaflet-marker-icon'))"
        ".map(function (i) { return i.complete && i.naturalWidth > 0; });"
    )
    assert loaded == [True]


# -- solutions, coverage and isochrones ---------------------------------------------------
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def futian_walk(futian):
    """Futian's populated cells and facilities (one named with a script), walking minutes."""
    cells = futian.population[futian.population["pop"] > 0]
    sites = futian.facilities.copy()
    sites.loc[sites.index[3], "name"] = EVIL
    costs = svcnet.costs_from_graph(
        futian.network, cells, sites, mode="walk", weight="travel_time", cutoff=20,
        origin_id="cell_id", destination_id="facility_id",
    )  # fmt: skip
    iso = svcnet.isochrones(futian.network, sites.iloc[:4], [5, 10], site_id="facility_id")
    return cells, sites, costs, iso


def legend_text(driver):
    return driver.find_element("css selector", ".svcnet-legend").text


def test_a_solution_map_opens_offline_and_its_sites_open_popups(
    browser, futian, tmp_path, artifacts
):
    from svcnet.models import PMedian

    cells = futian.population[futian.population["pop"] > 0]
    sites = futian.candidates[futian.candidates["kind"] == "building"].iloc[::20].copy()
    forced = sites["candidate_id"].iloc[5]
    sites.loc[sites["candidate_id"] == forced, "name"] = EVIL
    model = PMedian.from_geodataframe(
        cells, sites, p=8, weight="pop", demand_id="cell_id", site_id="candidate_id",
        cutoff=2500, unserved_penalty=5000, existing=[forced],
    )  # fmt: skip
    solution = model.solve(method="heuristic")
    m = solution.explore(
        layers=["demand", "sites", "catchments"], tiles=None, attribution=futian.attribution
    )
    page = tmp_path / "solution_map.html"
    save_map(m, page)
    open_page(browser, page)
    assert problems(browser) == []
    assert layer_names(browser) == [
        "Demand by site",
        "Served / unserved",
        "Metres to the site",
        "Catchments (8)",
        "Selected sites (8)",
    ]
    legend = legend_text(browser)
    served = float(cells["pop"].to_numpy()[solution.assignment >= 0].sum())
    for text in ("p-median solution: 8 sites", "Demand by site (population)",
                 f"Served by 8 sites: {served:,.0f}", "Selected sites",
                 "Catchment outline (8)"):  # fmt: skip
        assert text in legend, (text, legend)
    check_screenshot(browser, artifacts / "solution_map.png")
    layers = layer_vars(m)
    text, elements = click(
        browser, m.get_name(), find_feature(layers["Selected sites (8)"], 0, EVIL)
    )
    assert text.startswith(EVIL) and elements == 0, text
    for label in ("Site id\t" + forced, "People served\t", "Demand points\t", "Mean metres\t"):
        assert label in text, (label, text)
    browser.save_screenshot(str(artifacts / "solution_popup.png"))
    assert problems(browser) == []


def test_a_coverage_map_opens_offline_with_its_numbers(browser, futian_walk, tmp_path, artifacts):
    from svcnet.access import within
    from svcnet.viz import explore_coverage

    cells, sites, costs, iso = futian_walk
    m = explore_coverage(cells, sites, costs, threshold=10, isochrones=iso, tiles=None)
    page = tmp_path / "coverage_map.html"
    save_map(m, page)
    open_page(browser, page)
    assert problems(browser) == []
    assert layer_names(browser) == [
        "Coverage within 10 min",
        "Nearest site (minutes)",
        "Isochrones (5, 10 min)",
        "Sites (33)",
    ]
    people = cells.set_index("cell_id")["pop"].reindex(costs.origin_ids).to_numpy()
    covered = people[within(costs, 10)].sum()
    legend = legend_text(browser)
    expected = [
        f"Covered: {covered:,.0f}",
        f"Not covered: {people.sum() - covered:,.0f}",
        "Isochrones (minutes along the streets)",
        "within 5 min:",
        "5 – 10 min:",
    ]
    for text in expected:
        assert text in legend, (text, legend)
    check_screenshot(browser, artifacts / "coverage_map.png")
    layers = layer_vars(m)
    text, elements = click(browser, m.get_name(), find_feature(layers["Sites (33)"], 0, EVIL))
    assert text.startswith(EVIL) and elements == 0, text
    assert "People nearest, within 10 min\t" in text
    browser.save_screenshot(str(artifacts / "coverage_popup.png"))
    near = costs.to_dense().min(axis=1)
    cell = costs.origin_ids[int(np.argmin(np.where(np.isfinite(near), near, np.inf)))]
    text, elements = hover(browser, m.get_name(), find_cell(layers["Coverage within 10 min"], cell))
    assert f"Demand {cell}" in text and "Minutes to the nearest site\t" in text
    assert "Within 10 min\tyes" in text and elements == 0
    assert problems(browser) == []


def test_an_isochrone_map_opens_offline_with_a_band_per_time(
    browser, futian_walk, tmp_path, artifacts
):
    from svcnet.viz import isochrone_layer

    _, sites, _, iso = futian_walk
    m = isochrone_layer(iso, sites=sites.iloc[:4], site_id="facility_id", tiles=None)
    page = tmp_path / "isochrone_map.html"
    save_map(m, page)
    open_page(browser, page)
    assert problems(browser) == []
    assert layer_names(browser) == ["Isochrones (5, 10 min)", "Sites (4)"]
    legend = legend_text(browser)
    assert "within 5 min:" in legend and "5 – 10 min:" in legend and "km² in all" in legend
    check_screenshot(browser, artifacts / "isochrone_map.png", min_warm=0.0)
    from PIL import Image

    pixels = np.asarray(Image.open(artifacts / "isochrone_map.png").convert("RGB")).astype(int)
    tinted = ((pixels[..., 2] - pixels[..., 0]) > 25).mean()  # the bands' blue-greens
    assert tinted > 0.03, f"the isochrone bands are not visible ({tinted:.1%})"
    layers = layer_vars(m)
    text, elements = click(browser, m.get_name(), find_feature(layers["Sites (4)"], 0, EVIL))
    assert text.startswith(EVIL) and elements == 0, text
    assert "Area within 5 min (km²)\t" in text and "Area within 10 min (km²)\t" in text
    browser.save_screenshot(str(artifacts / "isochrone_popup.png"))
    assert problems(browser) == []


# -- plans -------------------------------------------------------------------------------
def test_the_gap_to_the_norm_by_unit_toggles_on_and_its_units_open_popups(
    browser, tmp_path, artifacts
):
    from selenium.webdriver.support.ui import WebDriverWait
    from test_plan_viz import GAP_LAYER, gap_plan

    from svcnet.viz import explore_plan

    plan = gap_plan()  # nine units on a grid; the first, named with a script, lacks most
    m = explore_plan(plan, tiles=None)
    page = tmp_path / "gap_map.html"
    save_map(m, page)
    open_page(browser, page)
    assert problems(browser) == []

    def ticked():
        return browser.execute_script(
            "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays "
            "label')).filter(function (l) { return l.querySelector('input').checked; })"
            ".map(function (l) { return l.textContent.trim(); });"
        )

    assert GAP_LAYER in layer_names(browser) and GAP_LAYER not in ticked()
    assert "Gap to the norm" not in legend_text(browser)
    browser.find_element("xpath", f"//label[contains(normalize-space(.), '{GAP_LAYER}')]").click()
    WebDriverWait(browser, 5).until(lambda d: "Service areas (30 sites)" not in ticked())
    assert GAP_LAYER in ticked()
    legend = legend_text(browser)
    for text in (
        f"{GAP_LAYER} (centers lacking after the plan)",
        "centers_gap_after",
        "No gap: meets the norm (2 subdistricts)",
        "32 – 55 (2 subdistricts)",
    ):
        assert text in legend, (text, legend)
    check_screenshot(browser, artifacts / "plan_gap_map.png")
    # a point of the script-named unit on a served cell, away from every site
    cells = plan.cells
    sites = plan.sites.geometry.union_all()
    inside = cells[(cells["unit"] == EVIL) & cells["site_id"].notna()]
    far = inside[inside.geometry.centroid.distance(sites) > 150].geometry.centroid
    spot = gpd.GeoSeries([far.iloc[len(far) // 2]], crs=cells.crs).to_crs(4326).iloc[0]
    text, elements = click(browser, m.get_name(), f"return L.latLng({spot.y}, {spot.x});")
    assert text.startswith(f"Subdistrict {EVIL}") and elements == 0, text
    assert "Gap: centers lacking after the plan\t55" in text, text
    assert "Centers the norm asks for\t56" in text, text
    browser.save_screenshot(str(artifacts / "plan_gap_popup.png"))
    assert problems(browser) == []
