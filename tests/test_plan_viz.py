"""Plan maps and review reports: layers, legends, escaping, offline pages, size, browser."""

import json
import re

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import box

import svcnet
from svcnet.datasets import OSM_ATTRIBUTION
from svcnet.errors import InputError
from svcnet.plan import Plan
from svcnet.standards import resolve
from svcnet.viz import explore_plan, explore_region, plan_report, save_map, save_report, to_html
from svcnet.viz._layers import SharedData, VectorLayer
from svcnet.viz.export import _check_offline
from svcnet.viz.maps import attribution_html, osm_credit
from svcnet.viz.plan_maps import (
    _unserved_items,
    _unserved_patches,
    gap_classes,
    minute_classes,
    plan_numbers,
    unit_gaps,
)

EVIL = "<script>alert(1)</script>"
EVIL_REASON = '<img src=x onerror="window.__xss=1;alert(2)">'


# -- plans to draw ----------------------------------------------------------------------
def grid_plan(side=40, cell=100.0, n_sites=30, seed=0, speed=60.0, reach=15.0, threshold=10):
    """A side x side grid, sites at random cells, each cell served by its nearest site.

    Cells farther than ``reach`` minutes are unserved; "before" counts only the
    first fifth of the sites (the existing ones), with nothing beyond 2 x reach.
    """
    rng = np.random.default_rng(seed)
    x0, y0 = 780_000.0, 2_480_000.0
    ix, iy = (a.ravel() for a in np.meshgrid(np.arange(side), np.arange(side), indexing="ij"))
    cells = gpd.GeoDataFrame(
        {
            "cell_id": [
                f"E{int(x0 + i * cell)}_N{int(y0 + j * cell)}" for i, j in zip(ix, iy, strict=True)
            ]
        },
        geometry=[
            box(x0 + i * cell, y0 + j * cell, x0 + (i + 1) * cell, y0 + (j + 1) * cell)
            for i, j in zip(ix.tolist(), iy.tolist(), strict=True)
        ],
        crs=32650,
    )
    xy = np.c_[x0 + (ix + 0.5) * cell, y0 + (iy + 0.5) * cell]
    pick = rng.choice(len(xy), n_sites, replace=False)
    metres, best = cKDTree(xy[pick]).query(xy)
    minutes = metres / speed
    served = minutes <= reach
    n_existing = max(1, n_sites // 5)
    metres_before, _ = cKDTree(xy[pick[:n_existing]]).query(xy)
    before = metres_before / speed
    before[before > 2 * reach] = np.inf
    site_ids = np.array([f"S{k:04d}" for k in range(n_sites)], dtype=object)
    people = np.round(rng.lognormal(4, 1.2, len(xy))) + 1
    assignment = pd.DataFrame(
        {
            "cell_id": cells["cell_id"],
            "unit": [f"unit {i * 3 // side}-{j * 3 // side}" for i, j in zip(ix, iy, strict=True)],
            "site_id": np.where(served, site_ids[best], None),
            "minutes": np.where(served, minutes, np.nan),
            "minutes_before": before,
            "pop": people,
        }
    )
    served_by = assignment.groupby("site_id")["pop"].sum()
    status = np.where(np.arange(n_sites) < n_existing, "existing", "new")
    sites = gpd.GeoDataFrame(
        {
            "site_id": site_ids,
            "name": [EVIL if k == 1 else f"Site {k}" for k in range(n_sites)],
            "status": status,
            "rank": np.arange(1, n_sites + 1),
            "population_served": pd.Series(site_ids).map(served_by).fillna(0).to_numpy(),
            "capacity": 20_000.0,
            "mean_minutes": 5.0,
            "reason": [EVIL_REASON if k == 1 else "nearest cells" for k in range(n_sites)],
        },
        geometry=gpd.points_from_xy(xy[pick, 0], xy[pick, 1]),
        crs=32650,
    )
    return Plan(
        "community service centers", "Grid <b>town</b>", sites, assignment, cells,
        unit_level="subdistrict", threshold_minutes=threshold,
        norms=[resolve("people_per_center"), resolve("walking_speed")],
        solver={"model": "p-median", "status": "optimal", "objective": 1.0e6, "bound": 0.99e6,
                "gap": 0.01, "seconds": 2.5, "method": "fast swap"},
        notes=["Cells beyond 15 minutes of every site are left unserved.", "<i>note</i>"],
        parameters={"people_per_center": (15_000, 20_000), "seed": seed},
    )  # fmt: skip


def futian_plan(region, n_sites=80, n_existing=10, seed=0):
    """80 candidate buildings of Futian as sites; each populated cell to its nearest."""
    grid = region.population
    cells = grid[grid["pop"] > 0].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    candidates = region.candidates.reset_index(drop=True)
    chosen = candidates.iloc[np.sort(rng.choice(len(candidates), n_sites, replace=False))]
    status = np.array(["existing"] * n_existing + ["new"] * (n_sites - n_existing))
    rng.shuffle(status)
    names = [
        n if isinstance(n, str) and n else f"Building {c}"
        for n, c in zip(chosen["name"].tolist(), chosen["candidate_id"], strict=True)
    ]
    names[3] = EVIL
    sites = gpd.GeoDataFrame(
        {"site_id": chosen["candidate_id"].to_numpy(), "name": names, "status": status},
        geometry=chosen.geometry.to_numpy(),
        crs=candidates.crs,
    )
    costs = svcnet.costs_from_points(cells, sites, origin_id="cell_id", destination_id="site_id")
    minutes = costs.to_dense() / 60.0
    best = minutes.argmin(axis=1)
    after = minutes[np.arange(len(cells)), best]
    before = minutes[:, status == "existing"].min(axis=1)
    before[before > 30] = np.inf
    served = after <= 20
    assignment = pd.DataFrame(
        {
            "cell_id": cells["cell_id"],
            "unit": cells["district"],
            "site_id": np.where(served, sites["site_id"].to_numpy()[best], None),
            "minutes": np.where(served, after, np.nan),
            "minutes_before": before,
            "pop": cells["pop"],
        }
    )
    served_by = assignment.groupby("site_id")["pop"].sum()
    sites["population_served"] = sites["site_id"].map(served_by).fillna(0).astype(int)
    sites["capacity"] = 20_000.0
    sites["mean_minutes"] = np.nan
    sites = sites.sort_values("population_served", ascending=False, kind="stable")
    sites["rank"] = np.arange(1, len(sites) + 1)
    sites["reason"] = [f"serves {p:,} people" for p in sites["population_served"]]
    return Plan(
        "community service centers", "Futian", sites, assignment,
        cells[["cell_id", "geometry"]], unit_level="district", threshold_minutes=10,
        norms=[resolve("people_per_center")],
        solver={"model": "p-median", "status": "optimal", "gap": 0.004, "seconds": 12.3},
        notes=["Straight-line minutes at 60 m/min."],
    )  # fmt: skip


GAPS = [55, 0, 0, 3, 5, 8, 13, 21, 34]  # centers lacking in the grid plan's nine units


def gap_plan(units=False):
    """The grid plan with the centers planner's gap columns; its first unit is named EVIL.

    ``units``: pass the units' polygons (their cells dissolved) as ``units=``.
    """
    base = grid_plan()
    assignment = base.assignment
    assignment["unit"] = assignment["unit"].replace({"unit 0-0": EVIL})
    names = sorted(assignment["unit"].unique(), key=lambda u: (u != EVIL, u))
    table = pd.DataFrame(
        {"centers_min": [g + 1 for g in GAPS], "centers_max": [g + 3 for g in GAPS],
         "centers_gap": GAPS, "centers_gap_after": GAPS},
        index=pd.Index(names, name="unit"),
    )  # fmt: skip
    table.loc["total"] = table.sum()
    polygons = None
    if units:
        cells = base.cells.assign(unit=assignment["unit"].to_numpy())
        squares = cells[["unit", "geometry"]].dissolve("unit").envelope  # each unit's square
        polygons = gpd.GeoDataFrame({"subdistrict": squares.index}, geometry=squares.to_numpy(),
                                    crs=cells.crs)  # fmt: skip
    return Plan(
        base.service, base.region_name, base.sites, assignment, base.cells[["cell_id", "geometry"]],
        unit_level=base.unit_level, threshold_minutes=base.threshold_minutes, norms=base.norms,
        solver=base.solver, unit_table=table, units=polygons,
    )  # fmt: skip


@pytest.fixture(scope="module")
def plan():
    return grid_plan()


@pytest.fixture(scope="module")
def futian():
    return svcnet.datasets.load_futian()


@pytest.fixture(scope="module")
def report(plan):
    return plan_report(plan)


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


# -- the map ----------------------------------------------------------------------------
def test_the_plan_map_has_its_layers_in_order_with_counts(plan):
    numbers = plan_numbers(plan)
    m = explore_plan(plan, tiles=None)
    by_name = specs(m)
    unserved = numbers.unserved
    assert list(by_name) == [
        "Service areas (30 sites)",
        "Coverage after: within 10 min",
        "Coverage before: within 10 min",
        "Travel time after (minutes)",
        f"Unserved ({unserved:,.0f} people)",
        "Recommended sites (30)",
    ]
    assert [layer.show for layer in vector_layers(m)] == [True, False, False, False, True, True]
    n_cells = len(plan.assignment)
    served = plan.assignment["site_id"].notna().to_numpy()
    areas, after, before, minutes, holes, sites = by_name.values()
    for spec in (areas, after, before, minutes):
        assert spec["kind"] == "cells" and len(spec["classes"]) == n_cells
        assert len(spec["geometries"]) == n_cells  # shared: sent once
        assert spec["exclusive"] == areas["exclusive"]
    # the cells are sent once, shared by the four views: geometries of cells, patches, sites
    assert m.get_root().render().count('"geometries":') == 3
    assert (np.array(areas["classes"]) >= 0).tolist() == served.tolist()
    assert (np.array(minutes["classes"]) >= 0).tolist() == served.tolist()
    assert np.bincount(after["classes"], minlength=3)[2] == (~served).sum()
    assert holes["kind"] == "polygon" and 0 < len(holes["geometries"]) <= (~served).sum()
    assert sum(holes["columns"][1]["values"]) == pytest.approx(unserved)
    assert sites["kind"] == "point" and len(sites["geometries"]) == 30
    assert np.bincount(sites["classes"]).tolist() == [24, 6]  # new, existing
    assert max(sites["radii"]) == 11.0 and sites["popup"] is True
    labels = [c["label"] for c in sites["columns"]]
    assert labels == ["", "Status", "Rank", "People served", "Capacity", "Mean minutes",
                      "Reason", "Site id"]  # fmt: skip
    cell_labels = [c["label"] for c in areas["columns"]]
    assert cell_labels == ["Cell", "Subdistrict", "Population", "Served by", "Minutes to it",
                           "Minutes before", "People in its area"]  # fmt: skip
    children = list(m._children.values())
    assert isinstance(children[-1], folium.LayerControl)
    assert sum(isinstance(c, folium.LayerControl) for c in children) == 1


def test_every_coloured_layer_has_a_legend(plan):
    by_name = specs(explore_plan(plan, tiles=None))
    areas, after, before, minutes, holes, sites = by_name.values()
    assert len(areas["legend"]["items"][0]["colors"]) >= 4
    assert areas["legend"]["items"][0]["label"].startswith("30 service areas")
    texts = [item["label"] for item in after["legend"]["items"]]
    assert texts[0].startswith("Within 10 min of its site: ") and texts[2].startswith("Unserved")
    assert [item["color"] for item in after["legend"]["items"]] == after["colors"]
    assert before["legend"]["items"][2]["label"].startswith("No facility within reach")
    assert len(minutes["legend"]["items"]) == len(minutes["colors"])
    assert minutes["legend"]["items"][3]["label"].startswith("7.5 – 10 min")
    assert holes["legend"]["title"].startswith("Unserved: ")
    assert [i["label"] for i in sites["legend"]["items"]] == [
        "New site (24)",
        "Existing site kept (6)",
    ]
    assert "people served" in sites["legend"]["note"]


def test_unserved_patches_are_shaded_by_people_per_km2(plan):
    numbers = plan_numbers(plan)
    holes = specs(explore_plan(plan, tiles=None))[f"Unserved ({numbers.unserved:,.0f} people)"]
    labels = [c["label"] for c in holes["columns"]]
    assert labels == ["", "Population", "Cells", "People per km²", "Subdistrict"]
    density = np.array(holes["columns"][3]["values"], dtype=float)
    # a patch joins cells of one class, so its own density falls in that class
    expected = np.digitize(density, (1_000.0, 10_000.0))
    assert holes["classes"] == expected.tolist()
    assert len(holes["classes"]) == len(holes["geometries"])
    items = holes["legend"]["items"]
    assert [i["color"] for i in items] == [holes["colors"][k] for k in sorted(set(expected))[::-1]]
    in_items = sum(float(i["label"].rsplit(": ", 1)[1].split()[0].replace(",", "")) for i in items)
    assert in_items == pytest.approx(numbers.unserved, abs=len(items))


def test_an_unserved_dense_pocket_is_darker_than_empty_land():
    geoms = shapely.box([0, 100, 900], 0, [100, 200, 1000], 100)
    people = np.array([1.0, 2.0, 400.0])  # per 0.01 km2: 100, 200 and 40,000 per km2
    classes = np.digitize(people / (shapely.area(geoms) / 1e6), (1_000.0, 10_000.0))
    patches, patch_class = _unserved_patches(geoms, classes)
    found = zip(patch_class.tolist(), shapely.area(patches).tolist(), strict=True)
    assert sorted(found) == [(0, 20_000.0), (2, 10_000.0)]
    labels = [i["label"] for i in _unserved_items(people, classes)]
    assert labels == ["10,000 or more per km²: 400 people", "under 1,000 per km²: 3 people"]


def test_neighbouring_service_areas_get_different_colours(plan):
    areas = specs(explore_plan(plan, tiles=None))["Service areas (30 sites)"]
    side = 40
    colour = np.array(areas["classes"]).reshape(side, side)
    site = plan.assignment["site_id"].to_numpy().reshape(side, side)
    clashes = 0
    for a, b, ca, cb in ((site[1:], site[:-1], colour[1:], colour[:-1]),
                         (site[:, 1:], site[:, :-1], colour[:, 1:], colour[:, :-1])):  # fmt: skip
        border = (a != b) & (ca >= 0) & (cb >= 0)
        clashes += int((border & (ca == cb)).sum())
    assert clashes == 0


def test_the_coverage_numbers_agree_with_the_summary(plan):
    numbers = plan_numbers(plan)
    total = plan.summary().loc["total"]
    assert numbers.within_after == pytest.approx(total["within_10min_after"])
    assert numbers.within_before == pytest.approx(total["within_10min_before"])
    assert numbers.unserved == pytest.approx(total["unserved"])


def test_travel_time_classes_follow_the_threshold():
    assert minute_classes(10, 35).tolist() == [2.5, 5, 7.5, 10, 15, 20, 35]
    assert minute_classes(15, 3).tolist() == [3.75]


def test_layers_compose_on_an_existing_map(futian):
    plan = futian_plan(futian)
    m = explore_region(futian)
    explore_plan(plan, m)
    explore_plan(plan, m, view="coverage")
    names = [layer.layer_name for layer in vector_layers(m)]
    assert len(names) == len(set(names)) == 3 + 2 * 6
    assert "Recommended sites (80) (2)" in names
    children = list(m._children.values())
    assert isinstance(children[-1], folium.LayerControl)
    assert sum(isinstance(c, folium.TileLayer) for c in children) == 1


@pytest.mark.parametrize(
    ("call", "word"),
    [
        (lambda p: explore_plan(p, view="heatmap"), "view"),
        (lambda p: explore_plan(p, m="map"), "folium.Map"),
        (lambda p: explore_plan(p.sites), "Plan"),
        (lambda p: explore_plan(p, tiles=3), "tiles"),
        (lambda p: plan_report("plan"), "Plan"),
    ],
)
def test_bad_arguments_are_named(plan, call, word):
    with pytest.raises(InputError, match=word):
        call(plan)


def test_plan_explore_is_the_same_map(plan):
    assert list(specs(plan.explore(tiles=None))) == list(specs(explore_plan(plan, tiles=None)))


# -- the gap to the norm per unit ---------------------------------------------------------
GAP_LAYER = "Gap to the norm by subdistrict"


def label_range(label):
    """The gaps a legend label such as ``"4 – 8 (3 subdistricts)"`` covers, and its count."""
    text, count = re.fullmatch(r"(.+) \((\d+) subdistricts?\)", label).groups()
    low, _, high = text.partition(" – ")
    return float(low.replace(",", "")), float((high or low).replace(",", "")), int(count)


def test_the_gap_layer_is_a_view_off_at_first_its_legend_agrees_with_the_summary():
    plan = gap_plan()
    m = explore_plan(plan, tiles=None)
    layers = {layer.layer_name: layer for layer in vector_layers(m)}
    names = list(layers)
    assert names.index(GAP_LAYER) == names.index("Travel time after (minutes)") + 1
    assert layers[GAP_LAYER].show is False and layers["Service areas (30 sites)"].show is True
    by_name = specs(m)
    spec, areas = by_name[GAP_LAYER], by_name["Service areas (30 sites)"]
    assert spec["kind"] == "polygon" and spec["popup"] is True and spec["below"] is True
    assert spec["exclusive"] == areas["exclusive"]  # one view of the plan at a time
    assert len(spec["geometries"]) == 9
    legend = spec["legend"]
    assert legend["title"] == f"{GAP_LAYER} (centers lacking after the plan)"
    assert "centers_gap_after" in legend["note"] and "15,000–20,000" in legend["note"]
    # independently: each unit's gap from the summary, its class, and the class's label
    gaps = plan.summary().drop(index="total")["centers_gap_after"]
    units = spec["columns"][0]["values"]
    assert spec["columns"][0]["label"] == "Subdistrict" and sorted(units) == sorted(gaps.index)
    items = legend["items"]
    assert [item["color"] for item in items] == spec["colors"][: len(items)]
    assert items[0]["label"] == "No gap: meets the norm (2 subdistricts)"
    assert spec["colors"][0] == "#c9ced6"  # a neutral grey, not a shade of the palette
    ranges = [label_range(item["label"]) for item in items[1:]]
    assert len(ranges) == 5  # seven distinct gaps: five classes
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # disjoint
    for k, (low, high, count) in enumerate(ranges, start=1):
        inside = gaps[(gaps >= low) & (gaps <= high)]
        assert count == len(inside) > 0, (k, low, high)
    assert sum(r[2] for r in ranges) == int((gaps > 0).sum())
    for unit, k in zip(units, spec["classes"], strict=True):
        gap = gaps[unit]
        if gap == 0:
            assert k == 0, unit
        else:
            low, high, _ = ranges[k - 1]
            assert low <= gap <= high, (unit, gap, k)
    columns = {c["label"]: c["values"] for c in spec["columns"]}
    gap_text = columns["Gap: centers lacking after the plan"]
    assert gap_text == [f"{gaps[u]:,.0f}" for u in units]
    assert columns["Centers the norm asks for"] == [f"{gaps[u] + 1:,.0f}" for u in units]
    assert columns["People"][0] == f"{plan.summary().loc[units[0], 'pop']:,.0f}"


def test_unit_names_reach_the_gap_layer_as_text():
    m = explore_plan(gap_plan(), tiles=None)
    spec = specs(m)[GAP_LAYER]
    assert EVIL in spec["columns"][0]["values"]
    page = to_html(m)
    assert "<script>alert" not in page
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page


def test_a_plan_without_a_gap_column_has_no_gap_layer(plan):
    assert unit_gaps(plan) is None
    names = [layer.layer_name for layer in vector_layers(explore_plan(plan, tiles=None))]
    assert not [n for n in names if n.startswith("Gap")]


def test_other_services_fall_back_to_a_gap_column_and_shares_read_in_percent(plan):
    table = pd.DataFrame({"books_gap_after": [4.0, 0.0], "x": [1, 2]},
                         index=["unit 0-0", "unit 1-1"])  # fmt: skip
    kwargs = {"unit_level": "subdistrict", "threshold_minutes": 10}
    args = (plan.sites, plan.assignment, plan.cells[["cell_id", "geometry"]])
    libraries = Plan("libraries", "Grid", *args, unit_table=table, **kwargs)
    gaps = unit_gaps(libraries)
    assert gaps.attrs["column"] == "books_gap_after"
    assert gaps["gap"].dropna().to_dict() == {"unit 0-0": 4.0, "unit 1-1": 0.0}
    spec = specs(explore_plan(libraries, tiles=None))[GAP_LAYER]
    assert "books_gap_after" in spec["legend"]["note"]
    assert spec["legend"]["items"][-1]["label"] == "No figures (7 subdistricts)"
    within = pd.DataFrame({"within_10min_subdistrict": [1.0, 0.25, 0.6]},
                          index=["unit 0-0", "unit 1-1", "unit 2-2"])  # fmt: skip
    charity = Plan("charity donation points", "Grid", *args, unit_table=within, **kwargs)
    gaps = unit_gaps(charity)
    assert gaps.attrs["share"] and gaps.loc["unit 1-1", "gap"] == pytest.approx(0.75)
    assert gaps.loc["unit 1-1", "Within the walk"] == "25%"
    assert gaps.loc["unit 1-1", gaps.attrs["label"]] == "75%"
    assert gap_classes(gaps["gap"], share=True)[1] == ["40%", "41% – 75%"]


def test_a_plan_keeps_its_units_and_draws_the_gap_on_them():
    plan = gap_plan(units=True)
    units = plan.units
    assert list(units.columns) == ["unit", "geometry"] and len(units) == 9
    units.loc[0, "unit"] = "changed"
    assert "changed" not in plan.units["unit"].tolist()  # a copy
    given = specs(explore_plan(plan, tiles=None))[GAP_LAYER]
    derived = specs(explore_plan(gap_plan(), tiles=None))[GAP_LAYER]
    assert gap_plan().units is None
    for spec in (given, derived):  # the units given, or their cells dissolved: nine squares
        assert len(spec["geometries"]) == 9
        assert all(len(g) == 8 for g in spec["geometries"]), spec["geometries"][0]
    assert sorted(given["columns"][0]["values"]) == sorted(derived["columns"][0]["values"])
    args = (plan.sites, plan.assignment, plan.cells[["cell_id", "geometry"]])
    kwargs = {"unit_level": "subdistrict", "threshold_minutes": 10}
    with pytest.raises(InputError, match="'unit' or 'subdistrict' column"):
        Plan("x", "y", *args, units=units.rename(columns={"unit": "name"}), **kwargs)
    with pytest.raises(InputError, match="polygons"):
        Plan("x", "y", *args, units=units.assign(geometry=units.centroid), **kwargs)


# -- escaping and credits ----------------------------------------------------------------
def test_text_from_the_plan_never_reaches_the_page_as_markup(plan):
    page = to_html(explore_plan(plan, tiles=None))
    for raw in ("<script>alert", "<img src=x", "<b>town", "<i>note"):
        assert raw not in page, raw
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page  # JSON, shown as text
    assert "Grid &lt;b&gt;town&lt;/b&gt;" in page  # the page's title


def test_openstreetmap_is_credited_in_the_words_of_the_basemap():
    tiles = folium.TileLayer("OpenStreetMap").options["attribution"]
    assert osm_credit() == tiles
    credit = attribution_html([OSM_ATTRIBUTION, "<b>census</b>", OSM_ATTRIBUTION])
    assert credit.split(" | ") == [tiles, "&lt;b&gt;census&lt;/b&gt;"]
    assert attribution_html(["OpenStreetMap contributors and a survey"]) == (
        "OpenStreetMap contributors and a survey"  # more than the credit: kept as written
    )
    assert attribution_html([]) is None


# -- the report -------------------------------------------------------------------------
def test_the_report_has_its_sections_tables_and_inline_figures(plan, report):
    assert report.startswith("<!DOCTYPE html>") and report.rstrip().endswith("</html>")
    for ident in ("sites", "summary", "norms", "solver"):
        assert f'<table id="{ident}">' in report, ident
    assert len(re.findall(r'<figure id="(coverage|lorenz)-curve"><svg', report)) == 2
    assert report.count("<svg") >= 2 and "<img" not in report.split("srcdoc=")[0]
    assert '<iframe class="map"' in report and "Leaflet 1." in report
    text = re.sub(r"<[^>]+>", " ", report.split("<iframe")[0])
    assert "The plan recommends 30 sites" in text and "6 existing sites kept" in text
    assert "a certified gap of 1.00% after 2.5 s" in text
    assert "Community service centers in Grid &lt;b&gt;town&lt;/b&gt;: plan review" in report
    sites = report.split('<table id="sites">')[1].split("</table>")[0]
    assert sites.count("<tr>") == 1 + 30 and "Site 0" in sites
    summary = report.split('<table id="summary">')[1].split("</table>")[0]
    assert summary.count('<tr class="total">') == 1 and "→" in summary
    assert summary.count("<tr") == 1 + len(plan.summary())
    norms = report.split('<table id="norms">')[1].split("</table>")[0]
    assert "15,000–20,000" in norms and "Shenzhen" in norms
    assert "Cells beyond 15 minutes of every site are left unserved." in report
    assert "fast swap" in report


def test_the_report_escapes_data_and_needs_no_network(report):
    outside_map = report.split("<iframe")[0] + report.split("</iframe>")[1]
    for raw in ("<script>alert", "<img src=x", "<i>note", "<b>town"):
        assert raw not in report, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in outside_map
    assert "&lt;i&gt;note&lt;/i&gt;" in outside_map
    _check_offline(report)
    assert not re.search(r"<(script|link)\b[^>]*\b(src|href)\s*=", report, re.IGNORECASE)
    assert "cdn.jsdelivr.net" not in report and "unpkg.com" not in report
    srcdoc = report.split('srcdoc="')[1].split('"')[0]
    assert "&lt;script&gt;/* @preserve" in srcdoc  # Leaflet inline, escaped in the attribute


def test_a_city_scale_report_stays_small():
    plan = grid_plan(side=160, cell=250.0, n_sites=700, speed=80.0, reach=25.0, threshold=15)
    assert len(plan.assignment) == 25_600
    page = plan_report(plan)
    assert len(page.encode("utf-8")) < 15_000_000
    assert page.count('"geometries":[[') == 0  # the map sits escaped in srcdoc
    assert page.count("&quot;geometries&quot;:") == 3  # shared cells, patches, sites


def test_save_report_writes_atomically_and_protects_inputs(plan, tmp_path):
    target = tmp_path / "out" / "review.html"
    save_report(plan, target, title="Review <1>")
    text = target.read_text(encoding="utf-8")
    assert "<title>Review &lt;1&gt;</title>" in text
    assert sorted(p.name for p in target.parent.iterdir()) == ["review.html"]
    source = tmp_path / "input.html"
    source.write_text("mine")
    with pytest.raises(InputError, match="overwrite"):
        save_report(plan, source, protected=[source])
    assert source.read_text() == "mine"


# -- in a browser ------------------------------------------------------------------------
browser_helpers = pytest.importorskip("test_browser")
browser = browser_helpers.browser
artifacts = browser_helpers.artifacts


def open_report(driver, path):
    """Load a report; wait until the map in its frame has drawn (then back to the page)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")
    driver.get(path.as_uri())
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState === 'complete'")
    )
    driver.switch_to.frame(driver.find_element("css selector", "iframe.map"))
    try:
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script(
                "return document.readyState === 'complete'"
                " && !!document.querySelector('.leaflet-svcnetGrid-pane canvas')"
            )
        )
        driver.execute_async_script(
            "var done = arguments[0];"
            "requestAnimationFrame(function () { requestAnimationFrame(done); });"
        )
    finally:
        driver.switch_to.default_content()


def layer_vars(m):
    return {layer.layer_name: layer.get_name() for layer in vector_layers(m)}


def test_the_report_opens_offline_and_its_map_draws(browser, futian, tmp_path, artifacts):
    page = tmp_path / "futian_report.html"
    save_report(futian_plan(futian), page)
    open_report(browser, page)
    assert browser_helpers.problems(browser) == []
    assert browser.title == "Community service centers in Futian: plan review"
    assert browser.execute_script("return document.querySelectorAll('svg').length") >= 2
    rows = browser.execute_script("return document.querySelectorAll('#sites tbody tr').length")
    assert rows == 80
    browser.save_screenshot(str(artifacts / "plan_report.png"))
    frame = browser.find_element("css selector", "iframe.map")
    browser.switch_to.frame(frame)
    try:
        state = browser.execute_script(
            """
            var layers = Object.keys(window).filter(function (k) {
              return k.indexOf("svcnet_layer_") === 0; });
            var broken = layers.filter(function (k) {
              return !window[k] || !window[k].svcnetSpec; });
            var grid = document.querySelector(".leaflet-svcnetGrid-pane canvas");
            var data = grid.getContext("2d").getImageData(0, 0, grid.width, grid.height).data;
            var painted = 0;
            for (var i = 3; i < data.length; i += 4) { if (data[i] > 0) { painted++; } }
            return {layers: layers.length, broken: broken.length, painted: painted,
                    legend: document.querySelector(".svcnet-legend").innerText,
                    xss: window.__xss === undefined};
            """
        )
    finally:
        browser.switch_to.default_content()
    assert state["layers"] == 6 and state["broken"] == 0
    assert state["painted"] > 10_000, state["painted"]  # the service areas are drawn
    assert "Community service centers, Futian: 70 new + 10 existing sites" in state["legend"]
    assert state["xss"]


def test_the_map_shows_injected_names_as_text_one_view_at_a_time_and_credits_osm_once(
    browser, futian, tmp_path, artifacts
):
    plan = futian_plan(futian)
    m = explore_region(futian)  # OpenStreetMap tiles (blocked) and OSM-derived data
    explore_plan(plan, m)
    page = tmp_path / "futian_plan_map.html"
    save_map(m, page)
    browser_helpers.open_page(browser, page)
    allowed = ("tile.openstreetmap.org",)
    assert browser_helpers.problems(browser, allowed_network=allowed) == []
    attribution = browser.find_element("css selector", ".leaflet-control-attribution").text
    assert attribution.count("OpenStreetMap") == 1, attribution
    names = layer_vars(m)
    sites = names["Recommended sites (80)"]
    text, elements = browser_helpers.hover(
        browser, m.get_name(), browser_helpers.find_feature(sites, 0, EVIL)
    )
    assert text.startswith(EVIL) and elements == 0, text
    assert "Status\tnew" in text or "Status\texisting" in text
    browser.save_screenshot(str(artifacts / "plan_map_tooltip.png"))

    def ticked():
        return browser.execute_script(
            "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays "
            "label')).filter(function (l) { return l.querySelector('input').checked; })"
            ".map(function (l) { return l.textContent.trim(); });"
        )

    assert "Service areas (80 sites)" in ticked()
    label = browser.find_element(
        "xpath", "//label[contains(normalize-space(.), 'Coverage after: within 10 min')]"
    )
    label.click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 5).until(lambda d: "Service areas (80 sites)" not in ticked())
    assert "Coverage after: within 10 min" in ticked()
    legend = browser.find_element("css selector", ".svcnet-legend").text
    assert "Coverage after the plan" in legend and "Service areas" not in legend
    assert browser_helpers.problems(browser, allowed_network=allowed) == []


def test_a_plan_with_no_sites_says_so_on_the_map():
    from svcnet.plan import Plan
    from svcnet.viz.plan_maps import plan_heading, toy_plan

    toy = toy_plan()
    assignment = toy.assignment.assign(site_id=None, minutes=np.nan)
    empty = Plan("community service centers", "Toy town", toy.sites.iloc[:0], assignment,
                 toy.cells, unit_level="district", threshold_minutes=10,
                 notes=["No candidate can gather the minimum."])  # fmt: skip
    heading = plan_heading(empty)
    assert "NO SITES" in heading and "350 of 350 people unserved" in heading
    page = to_html(explore_plan(empty, tiles=None))
    assert "NO SITES" in page


def test_an_unwritable_report_path_is_a_clear_error_and_leaves_nothing(tmp_path):
    from svcnet.errors import InputError
    from svcnet.viz.plan_maps import toy_plan

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="cannot write there") as info:
        svcnet.viz.save_report(toy_plan(), blocker / "report.html")
    assert "a_file" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_a_plan_solved_in_parts_reports_the_gap_of_the_whole_and_counts_seconds_once():
    from svcnet.viz.report import _key_figures, _solver_sentence

    # two parts (10 and 30 s): objectives 100 and 300, bounds 90 and 297; the total record
    # sums them: gap (400 - 387) / 400 = 3.25%, while the worse part alone has 10%
    parts = [
        {"part": "a", "status": "time_limit", "objective": 100.0, "bound": 90.0, "gap": 0.10,
         "seconds": 10.0},
        {"part": "b", "status": "optimal", "objective": 300.0, "bound": 297.0, "gap": 0.01,
         "seconds": 30.0},
    ]  # fmt: skip
    total = {"part": "total", "status": "sum of parts", "objective": 400.0, "bound": 387.0,
             "gap": 13 / 400, "seconds": 40.0}  # fmt: skip
    text = _solver_sentence([*parts, total])
    assert text == (
        "The plan was solved in 2 parts (statuses: optimal, time_limit), with a certified gap "
        "of 3.25% for the whole, the largest of one part 10.00%, in 40.0 s in total."
    )
    # without a total record, the largest part's gap bounds the whole
    assert "a certified gap of 10.00% for the whole" in _solver_sentence(parts)
    no_bound = [{**parts[0], "gap": float("inf")}, parts[1]]
    assert "with no certified gap for the whole, in 40.0 s" in _solver_sentence(no_bound)

    class Numbers:
        new_sites, kept_sites, total, unserved = 3, 0, 1000.0, 0.0
        within_before, within_after, mean_before, mean_after = 0.1, 0.9, 12.0, 6.0

    class Solved:
        threshold_minutes, solver = 10.0, [*parts, total]

    figures = _key_figures(Solved(), Numbers())
    assert "<b>3.25%</b><span>solver gap, 40.0 s</span>" in figures
