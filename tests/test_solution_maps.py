"""Maps of solutions, coverage and isochrones, without a browser: layers, numbers, escaping."""

import json
import re

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

import svcnet
from svcnet.errors import InputError
from svcnet.models import MCLP, PMedian
from svcnet.viz import (
    explore_coverage,
    explore_plan,
    explore_region,
    explore_solution,
    isochrone_layer,
    save_map,
    to_html,
)
from svcnet.viz._layers import FitView, SharedData, VectorLayer
from svcnet.viz.plan_maps import toy_plan

EVIL = "<script>alert(1)</script>"
EVIL_ID = '<img src=x onerror="window.__xss=1">'


# -- inputs -------------------------------------------------------------------------------
def grid(side=20, seed=0):
    rng = np.random.default_rng(seed)
    ij = [(i, j) for i in range(side) for j in range(side)]
    return gpd.GeoDataFrame(
        {
            "cell_id": [f"c{i}_{j}" for i, j in ij],
            "pop": rng.integers(0, 300, len(ij)),
        },
        geometry=[
            box(800000 + 100 * i, 2495000 + 100 * j, 800100 + 100 * i, 2495100 + 100 * j)
            for i, j in ij
        ],
        crs=32649,
    )


def candidates(n=15, seed=0, extent=2000):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, extent, (n, 2))
    return gpd.GeoDataFrame(
        {
            "site_id": [f"s{k}" for k in range(n)],
            "name": [EVIL if k == 1 else f"Site {k}" for k in range(n)],
        },
        geometry=[Point(800000 + x, 2495000 + y) for x, y in xy],
        crs=32649,
    )


def pmedian(demand=None, sites=None, **kwargs):
    demand = grid() if demand is None else demand
    sites = candidates() if sites is None else sites
    options = {"p": 4, "weight": "pop", "demand_id": "cell_id", "site_id": "site_id",
               "cutoff": 900, "unserved_penalty": 3000, **kwargs}  # fmt: skip
    return PMedian.from_geodataframe(demand, sites, **options).solve()


@pytest.fixture(scope="module")
def solution():
    return pmedian()


@pytest.fixture(scope="module")
def futian():
    return svcnet.datasets.load_futian()


@pytest.fixture(scope="module")
def coverage_inputs(futian):
    cells = futian.population[futian.population["pop"] > 0]
    sites = futian.facilities.copy()
    sites.loc[sites.index[0], "name"] = EVIL
    costs = svcnet.costs_from_points(cells, sites, cutoff=1500, origin_id="cell_id",
                                     destination_id="facility_id")  # fmt: skip
    return cells, sites, costs


def vector_layers(m):
    return [c for c in m._children.values() if isinstance(c, VectorLayer)]


def specs(m):
    shared = {
        c.key: json.loads(c.data_js) for c in m._children.values() if isinstance(c, SharedData)
    }
    out = {}
    for layer in vector_layers(m):
        spec = json.loads(layer.spec_js)
        out[layer.layer_name] = {**shared.get(spec.get("shared"), {}), **spec}
    return out


def number_in(label, prefix):
    """The first number after ``prefix`` in a legend label ("Served: 1,234 (5%)" -> 1234)."""
    match = re.search(re.escape(prefix) + r"[^\d]*([\d,]+(?:\.\d+)?)", label)
    assert match, (prefix, label)
    return float(match.group(1).replace(",", ""))


def reached_in_all(label):
    """The area reached in all from an isochrone legend label ("(1.10 km² in all)")."""
    match = re.search(r"\(([\d,.]+) km² in all\)", label)
    assert match, label
    return float(match.group(1).replace(",", ""))


def column(spec, label):
    found = [c for c in spec["columns"] if c["label"] == label]
    assert found, (label, [c["label"] for c in spec["columns"]])
    c = found[0]
    if "codes" in c:
        return [None if k is None else c["categories"][k] for k in c["codes"]]
    return c["values"]


# =========================================================================================
# solutions
# =========================================================================================
def test_the_solution_map_has_its_layers(solution):
    m = explore_solution(solution, tiles=None, layers=["demand", "sites", "lines", "catchments"])
    by_name = specs(m)
    served = int((solution.assignment >= 0).sum())
    assert list(by_name) == [
        "Demand by site",
        "Served / unserved",
        "Metres to the site",
        "Catchments (4)",
        f"Lines to sites ({served})",
        "Selected sites (4)",
    ]
    assert [layer.show for layer in vector_layers(m)] == [True, False, False, True, True, True]
    views = list(by_name.values())[:3]
    for spec in views:
        assert spec["kind"] == "cells" and len(spec["classes"]) == 400
        assert spec["exclusive"] == views[0]["exclusive"] and spec["legend"]["items"]
    assert m.get_root().render().count('"geometries":') == 4  # demand sent once
    sites = by_name["Selected sites (4)"]
    assert sites["popup"] is True and len(sites["geometries"]) == 4
    assert [c["label"] for c in sites["columns"]] == [
        "", "Site id", "People served", "Demand points", "Mean metres"]  # fmt: skip
    assert by_name["Catchments (4)"]["kind"] == "line"
    children = list(m._children.values())
    assert isinstance(children[-1], folium.LayerControl)
    assert any(isinstance(c, FitView) for c in children)


def test_the_legend_and_popups_agree_with_a_recount(solution):
    frame = solution.to_frame()  # demand_id, site_id, cost: counted here independently
    demand = grid().set_index("cell_id")
    frame["pop"] = frame["demand_id"].map(demand["pop"]).astype(float)
    total = frame["pop"].sum()
    unserved = frame.loc[frame["site_id"].isna(), "pop"].sum()
    assert unserved > 0  # the instance leaves some cells beyond the cutoff
    by_name = specs(explore_solution(solution, tiles=None))
    items = [i["label"] for i in by_name["Served / unserved"]["legend"]["items"]]
    assert number_in(items[0], "Served") == total - unserved
    assert number_in(items[1], "Unserved") == unserved
    by_site = by_name["Demand by site"]["legend"]["items"]
    assert number_in(by_site[0]["label"], "sites") == total - unserved
    assert len(by_site[0]["colors"]) == 4  # four sites, four colours
    cost_items = by_name["Metres to the site"]["legend"]["items"]
    assert sum(number_in(i["label"], "(") for i in cost_items) == total

    sites = by_name["Selected sites (4)"]
    ids = column(sites, "Site id")
    served = frame.dropna(subset=["site_id"])
    groups = served.groupby("site_id")
    assert column(sites, "People served") == groups["pop"].sum().reindex(ids).tolist()
    assert column(sites, "Demand points") == groups.size().reindex(ids).tolist()
    weighted = (served["cost"] * served["pop"]).groupby(served["site_id"]).sum()
    mean = (weighted / groups["pop"].sum()).reindex(ids).round(1)
    assert column(sites, "Mean metres") == pytest.approx(mean.tolist(), abs=0.051)
    assert max(sites["radii"]) == sites["radii"][int(np.argmax(column(sites, "People served")))]

    tips = by_name["Demand by site"]
    assert column(tips, "Demand") == frame["demand_id"].tolist()
    names = dict(zip(candidates()["site_id"], candidates()["name"], strict=True))
    assert column(tips, "Served by") == [names.get(s) for s in frame["site_id"]]


def test_a_capacitated_solution_is_sized_by_its_loads():
    demand, sites = grid(side=10, seed=3), candidates(n=8, seed=3, extent=1000)
    sol = PMedian.from_geodataframe(
        demand, sites, p=None, weight="pop", demand_id="cell_id", site_id="site_id",
        cutoff=1200, capacity=5000, min_load=1500, unserved_penalty=3000,
    ).solve(time_limit=2, mip_gap=0.05)  # fmt: skip
    spec = specs(explore_solution(sol, tiles=None, layers=["sites"]))
    (name,) = spec
    sites_spec = spec[name]
    loads = np.asarray(sol.details["loads"])[sol.selected]
    assert column(sites_spec, "Load") == pytest.approx(loads.tolist())
    assert "load" in sites_spec["legend"]["note"]
    order = np.argsort(loads)
    assert np.all(np.diff(np.asarray(sites_spec["radii"])[order]) >= 0)


def test_point_demand_is_drawn_as_points_with_voronoi_catchments():
    cells = grid()
    points = cells.copy()
    points["geometry"] = cells.centroid
    model = MCLP.from_geodataframe(points, candidates(), p=3, radius=600, weight="pop",
                                   demand_id="cell_id", site_id="site_id", cutoff=900)  # fmt: skip
    sol = model.solve()
    m = explore_solution(sol, tiles=None, layers=["demand", "catchments", "sites"], color="served")
    by_name = specs(m)
    view = by_name["Served / unserved"]
    assert view["kind"] == "point" and view["legend"]["items"][0]["kind"] == "point"
    assert [layer.show for layer in vector_layers(m)][:3] == [False, True, False]
    catchments = next(s for n, s in by_name.items() if n.startswith("Catchments"))
    assert len(catchments["geometries"]) == len(np.unique(sol.assignment[sol.assignment >= 0]))
    covered = float(cells["pop"].to_numpy()[sol.assignment >= 0].sum())
    assert covered == pytest.approx(sol.objective)
    assert number_in(view["legend"]["items"][0]["label"], "Served") == covered


def test_a_solution_from_a_plain_matrix_has_no_map():
    sol = PMedian.from_cost_matrix(np.array([[1.0, 4.0], [3.0, 1.0]]), [1, 1], p=1).solve()
    with pytest.raises(InputError, match="from_geodataframe"):
        sol.explore()


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"layers": ["demand", "heatmap"]}, "unknown layer name"),
        ({"layers": 3}, "layers"),
        ({"color": "rainbow"}, "color"),
        ({"weight": "nobody"}, "nobody"),
        ({"m": "a map"}, "folium.Map"),
        ({"tiles": 3}, "tiles"),
    ],
)
def test_bad_solution_arguments_are_named(solution, kwargs, word):
    with pytest.raises(InputError, match=word):
        explore_solution(solution, **kwargs)


def test_explore_solution_needs_a_solution():
    with pytest.raises(InputError, match="Solution"):
        explore_solution(grid())


def test_solution_explore_is_the_same_map(solution):
    a = specs(solution.explore(tiles=None, layers=["demand", "sites", "lines"]))
    b = specs(explore_solution(solution, tiles=None, layers=["demand", "sites", "lines"]))
    assert list(a) == list(b)


def test_text_from_the_solution_never_reaches_the_page_as_markup():
    sites = candidates()
    sites["site_id"] = [EVIL_ID if k == 2 else f"s{k}" for k in range(len(sites))]
    sol = pmedian(sites=sites, p=15)  # every site open: the injected ones too
    page = to_html(
        explore_solution(sol, tiles=None, layers=list(svcnet.viz.solution_maps.SOLUTION_LAYERS))
    )
    for raw in ("<script>alert", "<img src=x"):
        assert raw not in page, raw
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page


def test_solution_layers_compose_on_a_region_map(futian):
    cells = futian.population[futian.population["pop"] > 0]
    sites = futian.candidates[futian.candidates["kind"] == "building"].iloc[::40]
    sol = PMedian.from_geodataframe(cells, sites, p=5, weight="pop", demand_id="cell_id",
                                    site_id="candidate_id", cutoff=3000,
                                    unserved_penalty=5000).solve(method="heuristic")  # fmt: skip
    m = explore_region(futian)
    sol.explore(m)
    sol.explore(m, color="cost")
    names = [layer.layer_name for layer in vector_layers(m)]
    assert len(names) == len(set(names)) == 3 + 2 * 4
    assert "Selected sites (5) (2)" in names
    children = list(m._children.values())
    assert isinstance(children[-1], folium.LayerControl)
    assert sum(isinstance(c, folium.LayerControl) for c in children) == 1
    assert sum(isinstance(c, folium.TileLayer) for c in children) == 1


def test_the_solution_map_exports_offline(solution, tmp_path):
    path = tmp_path / "solution.html"
    save_map(explore_solution(solution, tiles=None), path)
    page = path.read_text(encoding="utf-8")
    assert "<script src=" not in page and "cdn.jsdelivr.net" not in page
    assert page.count("svcnetViz.layer(") == 4


# =========================================================================================
# coverage
# =========================================================================================
def test_the_coverage_legend_counts_the_people_within_the_threshold(coverage_inputs):
    cells, sites, costs = coverage_inputs
    m = explore_coverage(cells, sites, costs, threshold=800, tiles=None)
    by_name = specs(m)
    assert list(by_name) == ["Coverage within 800 m", "Nearest site (metres)", "Sites (33)"]
    # independently: the nearest site from the dense matrix
    nearest = costs.to_dense().min(axis=1)
    people = cells.set_index("cell_id")["pop"].reindex(costs.origin_ids).to_numpy(float)
    covered, total = people[nearest <= 800].sum(), people.sum()
    items = [i["label"] for i in by_name["Coverage within 800 m"]["legend"]["items"]]
    assert number_in(items[0], "Covered") == covered
    assert number_in(items[1], "Not covered") == total - covered
    assert 0 < covered < total
    heading = m.get_root().render()
    assert f"of {total:,.0f} people covered" in heading
    # tooltips: each cell's nearest cost
    spec = by_name["Coverage within 800 m"]
    ids = column(spec, "Demand")
    lookup = dict(zip(costs.origin_ids, nearest, strict=True))
    shown = column(spec, "Metres to the nearest site")
    expected = [round(lookup[i], 1) if np.isfinite(lookup[i]) else None for i in ids]
    assert shown == pytest.approx(expected, abs=0.051, nan_ok=True) or all(
        (a is None and b is None) or abs(a - b) < 0.051
        for a, b in zip(shown, expected, strict=True)
    )
    assert column(spec, "Within 800 m") == ["yes" if lookup[i] <= 800 else "no" for i in ids]
    cost_items = by_name["Nearest site (metres)"]["legend"]["items"]
    assert sum(number_in(i["label"], "(") for i in cost_items) == total
    sites_spec = by_name["Sites (33)"]
    assert sum(column(sites_spec, "People nearest, within 800 m")) == covered
    assert sites_spec["popup"] is True


def test_coverage_matches_rows_by_id_in_any_order(coverage_inputs):
    cells, sites, costs = coverage_inputs
    shuffled = cells.sample(frac=1.0, random_state=1)
    a = specs(explore_coverage(cells, sites, costs, threshold=800, tiles=None))
    b = specs(explore_coverage(shuffled, sites.iloc[::-1], costs, threshold=800, tiles=None,
                               demand_id="cell_id", site_id="facility_id"))  # fmt: skip
    for name in a:
        assert a[name]["legend"] == b[name]["legend"]
    key = "Coverage within 800 m"
    assert dict(zip(column(a[key], "Demand"), a[key]["classes"], strict=True)) == dict(
        zip(column(b[key], "Demand"), b[key]["classes"], strict=True)
    )


@pytest.mark.parametrize(
    ("change", "word"),
    [
        (lambda c, s, k: (c.iloc[1:], s, k, {}), "not in the demand"),
        (lambda c, s, k: (c, s.iloc[1:], k, {}), "not in the sites"),
        (lambda c, s, k: (c, s, k, {"demand_id": "district"}), "not unique"),
        (lambda c, s, k: (c.assign(cell_id="x" + c["cell_id"]), s, k, {}), "demand_id="),
        (lambda c, s, k: (c, s, k, {"threshold": 5000}), "cutoff"),
        (lambda c, s, k: (c, s, k, {"weight": "people"}), "people"),
        (lambda c, s, k: (c, s, k, {"view": "heat"}), "view"),
        (lambda c, s, k: (c, s, k, {"m": 1}), "folium.Map"),
        (lambda c, s, k: (c, s, k.to_dense()[:5], {}), "shape"),
        (lambda c, s, k: (c, s, k, {"isochrones": c}), "minutes"),
    ],
)
def test_bad_coverage_input_gets_a_clear_error(coverage_inputs, change, word):
    demand, sites, costs, kwargs = change(*coverage_inputs)
    kwargs = {"threshold": 800, "tiles": None, **kwargs}
    with pytest.raises(InputError, match=word):
        explore_coverage(demand, sites, costs, **kwargs)


def test_coverage_names_are_escaped(coverage_inputs):
    cells, sites, costs = coverage_inputs
    page = to_html(explore_coverage(cells, sites, costs, threshold=800, tiles=None,
                                    attribution=["<b>survey</b>"]))  # fmt: skip
    assert "<script>alert" not in page and "<b>survey" not in page
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page
    assert "\\u0026lt;b\\u0026gt;survey" in page  # escaped HTML, in JSON


# =========================================================================================
# isochrones
# =========================================================================================
def rings(times=(5.0, 10.0, 15.0)):
    centres = [Point(800000, 2495000), Point(800900, 2495000)]
    rows = [(f"s{k}", t, c.buffer(60 * t)) for k, c in enumerate(centres) for t in times]
    return gpd.GeoDataFrame(
        {"site_id": [r[0] for r in rows], "minutes": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs=32649,
    )


def test_isochrones_are_bands_with_a_legend_per_time():
    iso = rings()
    m = isochrone_layer(iso, tiles=None)
    (spec,) = specs(m).values()
    items = [i["label"] for i in spec["legend"]["items"]]
    assert [i.split(":")[0] for i in items] == ["within 5 min", "5 – 10 min", "10 – 15 min"]
    assert len(spec["colors"]) == 3 and spec["classes"] == [2, 1, 0]  # farthest drawn first
    assert spec["columns"] == []  # the demand below keeps its tooltips
    reached = shapely.union_all(iso.geometry[iso["minutes"] == 15].values).area / 1e6
    assert reached_in_all(items[-1]) == pytest.approx(reached, abs=0.011)
    bands = [number_in(i, ":") for i in items]
    assert sum(bands) == pytest.approx(reached, abs=0.02)


def test_isochrones_with_their_sites_show_each_sites_areas():
    iso = rings((5.0, 10.0))
    sites = gpd.GeoDataFrame({"site_id": ["s0", "s1"], "name": [EVIL, "B"]},
                             geometry=[Point(800000, 2495000), Point(800900, 2495000)],
                             crs=32649)  # fmt: skip
    by_name = specs(isochrone_layer(iso, sites=sites, site_id="site_id", tiles=None))
    assert list(by_name) == ["Isochrones (5, 10 min)", "Sites (2)"]
    area = column(by_name["Sites (2)"], "Area within 10 min (km²)")
    assert area == pytest.approx([np.pi * 0.6**2] * 2, rel=0.01)


def test_real_isochrones_on_the_coverage_and_plan_maps(futian, coverage_inputs):
    cells, sites, costs = coverage_inputs
    iso = svcnet.isochrones(futian.network, sites.iloc[:2], [5, 10], site_id="facility_id")
    m = explore_coverage(cells, sites, costs, threshold=800, isochrones=iso, tiles=None,
                         attribution=futian.attribution)  # fmt: skip
    by_name = specs(m)
    assert list(by_name)[2] == "Isochrones (5, 10 min)"
    assert "Area within 5 min (km²)" in [c["label"] for c in by_name["Sites (33)"]["columns"]]
    band = by_name["Isochrones (5, 10 min)"]
    assert "openstreetmap.org/copyright" in band["attribution"]
    whole = shapely.union_all(iso.geometry[iso["minutes"] == 10].values).area / 1e6
    assert reached_in_all(band["legend"]["items"][-1]["label"]) == pytest.approx(whole, rel=0.02)
    plan = explore_plan(toy_plan(), tiles=None, isochrones=rings((5.0,)))
    assert "Isochrones (5 min)" in specs(plan)


@pytest.mark.parametrize(
    ("frame", "word"),
    [
        (lambda: rings().drop(columns="minutes"), "minutes"),
        (lambda: rings().assign(minutes=-1.0), "positive"),
        (lambda: rings().set_crs(None, allow_override=True), "CRS"),
        (lambda: rings().assign(geometry=Point(0, 0)), "polygons"),
        (lambda: pd.DataFrame({"minutes": [5]}), "GeoDataFrame"),
    ],
)
def test_bad_isochrones_are_named(frame, word):
    with pytest.raises(InputError, match=word):
        isochrone_layer(frame(), tiles=None)


# =========================================================================================
# the region map
# =========================================================================================
def test_the_region_map_fits_its_view_once_laid_out():
    region = svcnet.Region(grid(side=3))
    m = explore_region(region, tiles=None)
    assert any(isinstance(c, FitView) for c in m._children.values())
    page = m.get_root().render()
    assert "svcnetViz.fit(" in page and not re.search(r"map_\w+\.fitBounds\(", page)
