"""Folium maps of a :class:`svcnet.Plan`: service areas, sites, coverage and travel times.

:func:`explore_plan` draws a plan the way :func:`svcnet.viz.explore_region`
draws a region, with the same compact layers (:mod:`svcnet.viz._layers`): the
plan's cells are sent once and four layers colour them -- the sites' service
areas, coverage after and before the plan, and the travel time after it. These
four are views of the same cells, so the map shows one at a time (ticking one
in the layer control unticks the others). Above them: the cells left
unserved, dissolved into patches, and the recommended sites, sized by the
people they serve and coloured new or existing. Every layer has a legend; the
legend's heading gives the plan's key totals. Text from the data (site names,
reasons, ids) is shown as text, never run as HTML.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from svcnet.errors import InputError
from svcnet.viz._layers import (
    QUANTUM_DEG,
    FitView,
    MapHeading,
    ScaleBar,
    SharedData,
    VectorLayer,
    encode_column,
    encode_geometries,
)
from svcnet.viz.maps import (
    _BLANK_BASEMAP,
    _GROUP_LABELS,
    _basemap,
    _keep_layer_control_last,
    attribution_html,
)

logger = logging.getLogger(__name__)

__all__ = ["explore_plan", "PLAN_VIEWS", "toy_plan"]

#: The views of the plan's cells, one shown at a time: ``explore_plan(view=...)``.
PLAN_VIEWS = ("areas", "coverage", "coverage_before", "minutes")

# Qualitative colours for service areas (ColorBrewer Set3 without its pale yellow and grey).
_AREA_COLORS = ("#8dd3c7", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
                "#fccde5", "#bc80bd", "#ccebc5")  # fmt: skip
_WITHIN, _BEYOND, _NONE = "#4575b4", "#fdae61", "#2b2b2b"  # unserved: dark, like a hole
# Travel-time classes: blues (darkest nearest) within the threshold, orange to red beyond it.
_MINUTE_WITHIN = ("#084594", "#2171b5", "#4292c6", "#9ecae1")
_MINUTE_BEYOND = ("#fdae61", "#f46d43", "#b2182b")
_NEW_COLOR, _EXISTING_COLOR, _OTHER_COLOR = "#d4006a", "#1f4e9c", "#666666"
_CELL_STYLE = {"fillOpacity": 0.72}
_CELL_HIGHLIGHT = {"stroke": True, "color": "#111111", "weight": 2, "opacity": 1}
_UNSERVED_STYLE = {"color": "#000000", "weight": 1.5, "opacity": 1, "fillColor": _NONE,
                   "fillOpacity": 0.85}  # fmt: skip
_SITE_STYLE = {"color": "#ffffff", "weight": 1.5, "opacity": 1, "fillOpacity": 0.95}
_SITE_HIGHLIGHT = {"color": "#000000", "weight": 3}
_SITE_UNHIGHLIGHT = {"color": "#ffffff", "weight": 1.5}
_RADIUS = (3.5, 11.0)  # smallest and largest site circle, pixels
_MINUTE_STEPS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # travel-time classes, times the threshold
_EXCLUSIVE = "svcnet-plan-cells"


def toy_plan() -> Any:
    """A tiny plan for examples: three 100 m cells, one new site, one cell unserved.

    Examples
    --------
    >>> toy_plan()
    <Plan community service centers for Toy town: 1 new and 0 existing sites, 50 people \
unserved, solver gap 0.00%>
    """
    from shapely.geometry import Point, box

    from svcnet.plan import Plan

    sites = gpd.GeoDataFrame(
        {"site_id": ["s1"], "name": ["Site A"], "status": ["new"], "rank": [1],
         "population_served": [300], "capacity": [500.0], "mean_minutes": [4.0],
         "reason": ["serves 300 people within 6 minutes"]},
        geometry=[Point(800050, 2495050)], crs=32649,
    )  # fmt: skip
    cells = gpd.GeoDataFrame(
        {"cell_id": ["a", "b", "c"]},
        geometry=[box(800000 + 100 * i, 2495000, 800100 + 100 * i, 2495100) for i in range(3)],
        crs=32649,
    )
    assignment = pd.DataFrame(
        {"cell_id": ["a", "b", "c"], "unit": ["X", "X", "Y"], "site_id": ["s1", "s1", None],
         "minutes": [2.0, 6.0, np.nan], "minutes_before": [9.0, 14.0, np.inf],
         "pop": [150, 150, 50]}
    )  # fmt: skip
    solver = {"model": "p-median", "status": "optimal", "objective": 1200.0, "bound": 1200.0,
              "gap": 0.0, "seconds": 0.01, "method": "exact"}  # fmt: skip
    return Plan("community service centers", "Toy town", sites, assignment, cells,
                unit_level="district", threshold_minutes=10, solver=solver,
                notes=["Cell c is beyond every candidate's reach."])  # fmt: skip


# =========================================================================================
# the numbers behind the map (also used by the report)
# =========================================================================================
def _minutes(values: pd.Series) -> np.ndarray:
    """Minutes as floats, NaN for none (unserved, or no facility within reach)."""
    out = np.array(pd.to_numeric(values, errors="coerce"), dtype=float)  # a writable copy
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass(frozen=True)
class PlanNumbers:
    """A plan's per-cell arrays and its key totals, as maps and reports show them.

    ``within_*`` are shares of the people of the plan's group within the
    threshold; ``mean_*`` population-weighted mean minutes of the people with
    a time (served after; a facility within reach before).
    """

    people: np.ndarray
    served: np.ndarray
    after: np.ndarray
    before: np.ndarray
    total: float
    unserved: float
    within_before: float
    within_after: float
    mean_before: float
    mean_after: float
    new_sites: int
    kept_sites: int


def _share(mask: np.ndarray, people: np.ndarray, total: float) -> float:
    return float(people[mask].sum() / total) if total > 0 else float("nan")


def _mean(minutes: np.ndarray, people: np.ndarray) -> float:
    ok = np.isfinite(minutes) & (people > 0)
    return float(np.average(minutes[ok], weights=people[ok])) if ok.any() else float("nan")


def plan_numbers(plan: Any) -> PlanNumbers:
    """The per-cell arrays and key totals of a plan (see :class:`PlanNumbers`).

    Examples
    --------
    >>> n = plan_numbers(toy_plan())
    >>> n.total, n.unserved, n.within_before, n.within_after
    (350.0, 50.0, 0.42857142857142855, 0.8571428571428571)
    """
    table = plan.assignment
    people = pd.to_numeric(table[plan.group], errors="coerce").fillna(0).to_numpy(float)
    served = table["site_id"].notna().to_numpy()
    after = np.where(served, _minutes(table["minutes"]), np.nan)
    before = _minutes(table["minutes_before"])
    total = float(people.sum())
    t = plan.threshold_minutes
    status = plan.sites["status"].astype(str)
    return PlanNumbers(
        people=people,
        served=served,
        after=after,
        before=before,
        total=total,
        unserved=float(people[~served].sum()),
        within_before=_share(np.nan_to_num(before, nan=np.inf) <= t, people, total),
        within_after=_share(np.nan_to_num(after, nan=np.inf) <= t, people, total),
        mean_before=_mean(before, people),
        mean_after=_mean(after, people),
        new_sites=int((status == "new").sum()),
        kept_sites=int((status != "new").sum()),
    )


def group_label(group: str) -> str:
    """A population group as a reader reads it (``pop_65plus`` -> ``Aged 65+``).

    Examples
    --------
    >>> group_label("pop_65plus"), group_label("beds_needed")
    ('Aged 65+', 'beds needed')
    """
    return _GROUP_LABELS.get(group, group.replace("_", " "))


def plan_heading(plan: Any, numbers: PlanNumbers | None = None) -> str:
    """One line with the service, the region and the plan's key totals.

    Examples
    --------
    >>> plan_heading(toy_plan())
    'Community service centers, Toy town: 1 new + 0 existing sites; 86% of 350 people within \
10 min (before: 43%); 50 unserved'
    """
    n = plan_numbers(plan) if numbers is None else numbers
    t = plan.threshold_minutes
    service = plan.service[:1].upper() + plan.service[1:]
    return (
        f"{service}, {plan.region_name}: {n.new_sites:,} new + {n.kept_sites:,} existing "
        f"sites; {_percent(n.within_after)} of {n.total:,.0f} people within {t:g} min "
        f"(before: {_percent(n.within_before)}); {n.unserved:,.0f} unserved"
    )


def _percent(share: float) -> str:
    if not np.isfinite(share):
        return "n/a"
    text = f"{share:.0%}"
    if text == "100%" and share < 1:
        return f"{share:.1%}" if share < 0.999 else ">99.9%"
    if text == "0%" and share > 0:
        return "<1%"
    return text


# =========================================================================================
# cells
# =========================================================================================
@dataclass(frozen=True)
class _Cells:
    """The populated cells as drawn: their rows of the assignment and the shared data."""

    rows: np.ndarray  # positions in plan.assignment, one per drawn cell
    data: dict[str, Any]  # geometries and tooltip columns, sent once
    metric: gpd.GeoSeries  # the drawn cells' geometries in the plan's CRS


def _site_names(sites: pd.DataFrame) -> pd.Series:
    names = sites["name"].astype(object).where(sites["name"].notna(), None)
    ids = sites["site_id"].astype(str)
    names = [
        str(n) if n is not None and str(n).strip() else i for n, i in zip(names, ids, strict=True)
    ]
    return pd.Series(names, index=ids.to_numpy())


def _plan_cells(plan: Any, numbers: PlanNumbers) -> _Cells | None:
    table = plan.assignment
    frame = plan.cells
    lookup = frame.drop_duplicates("cell_id").set_index("cell_id").geometry
    geometry = gpd.GeoSeries(table["cell_id"].map(lookup), crs=frame.crs)
    drawn = (numbers.people > 0) & geometry.notna().to_numpy()
    drawn &= ~geometry.is_empty.fillna(True).to_numpy()
    rows = np.flatnonzero(drawn)
    if not len(rows):
        return None
    metric = geometry.iloc[rows].reset_index(drop=True)
    origin, geometries, kept = encode_geometries(metric.to_crs(4326).values, "polygon")
    if len(kept) < len(rows):
        logger.debug("%d plan cells are empty at map precision", len(rows) - len(kept))
    rows, metric = rows[kept], metric.iloc[kept].reset_index(drop=True)
    part = table.iloc[rows]
    names = _site_names(plan.sites)
    site_key = table["site_id"].astype(str).where(table["site_id"].notna())
    area_people = pd.Series(numbers.people, index=table.index).groupby(site_key).sum()
    keys = site_key.iloc[rows]
    site_text = pd.Series(keys.map(names), dtype=object)
    area = keys.map(area_people).astype(float)
    columns = [
        encode_column(part["cell_id"].astype(str), "Cell"),
        encode_column(part["unit"], plan.unit_level.replace("_", " ").capitalize()),
        encode_column(pd.Series(numbers.people[rows]), group_label(plan.group)),
        {**encode_column(site_text, "Served by"), "missing": "nobody: unserved"},
        {**encode_column(pd.Series(np.round(numbers.after[rows], 1)), "Minutes to it")},
        {
            **encode_column(pd.Series(np.round(numbers.before[rows], 1)), "Minutes before"),
            "missing": "no facility within reach",
        },
        encode_column(area, "People in its area"),
    ]
    data = {"quantum": QUANTUM_DEG, "origin": origin, "geometries": geometries,
            "columns": columns, "titleColumn": 0}  # fmt: skip
    return _Cells(rows=rows, data=data, metric=metric)


def _cell_spec(shared: SharedData, classes: np.ndarray, colors: list[str],
               legend: dict[str, Any], attribution: str | None) -> dict[str, Any]:  # fmt: skip
    return {
        "kind": "cells",
        "shared": shared.key,
        "style": _CELL_STYLE,
        "colorOption": "fillColor",
        "colors": colors,
        "classes": [int(c) for c in classes],
        "highlight": _CELL_HIGHLIGHT,
        "exclusive": _EXCLUSIVE,
        "attribution": attribution,
        "legend": legend,
    }


def _fill(color: str, label: str) -> dict[str, Any]:
    return {"kind": "fill", "color": color, "label": label, "opacity": _CELL_STYLE["fillOpacity"]}


def _people_label(text: str, people: float, total: float) -> str:
    share = _percent(people / total) if total > 0 else "n/a"
    return f"{text}: {people:,.0f} ({share})"


# -- service areas --------------------------------------------------------------------
def _area_colours(metric: gpd.GeoSeries, site_of_cell: np.ndarray) -> dict[str, int]:
    """A colour index per site such that sites whose cells touch differ where possible.

    Greedy colouring, sites with most neighbours first, each taking the least
    used colour that none of its coloured neighbours has.
    """
    sites = pd.unique(site_of_cell)
    tree = shapely.STRtree(metric.values)
    left, right = tree.query(metric.values, predicate="intersects")
    a, b = site_of_cell[left], site_of_cell[right]
    differ = a != b
    pairs = set(zip(a[differ].tolist(), b[differ].tolist(), strict=True))
    neighbours: dict[str, set[str]] = {s: set() for s in sites}
    for x, y in pairs:
        neighbours[x].add(y)
    order = sorted(range(len(sites)), key=lambda k: (-len(neighbours[sites[k]]), k))
    colour: dict[str, int] = {}
    used = np.zeros(len(_AREA_COLORS), int)
    for k in order:
        site = sites[k]
        taken = [colour[n] for n in neighbours[site] if n in colour]
        clashes = np.bincount(np.asarray(taken, int), minlength=len(_AREA_COLORS))
        best = min(range(len(_AREA_COLORS)), key=lambda c: (clashes[c], used[c], c))
        colour[site] = best
        used[best] += 1
    return colour


def _areas_layer(
    plan: Any,
    cells: _Cells,
    shared: SharedData,
    numbers: PlanNumbers,
    attribution: str | None,
    show: bool,
) -> VectorLayer:
    part = plan.assignment.iloc[cells.rows]
    served = part["site_id"].notna().to_numpy()
    site_of_cell = part["site_id"].astype(str).to_numpy()
    classes = np.full(len(cells.rows), -1)
    n_sites = 0
    if served.any():
        colour = _area_colours(cells.metric[served], site_of_cell[served])
        classes[served] = [colour[s] for s in site_of_cell[served]]
        n_sites = len(colour)
    people = float(numbers.people[cells.rows][served].sum())
    used = sorted(set(classes[served].tolist()))
    legend = {
        "title": "Service areas",
        "note": "Each site's cells in one colour; neighbouring areas differ. "
        "Unserved cells are left blank.",
        "items": [
            {
                "kind": "fill",
                "colors": [_AREA_COLORS[c] for c in used] or [_AREA_COLORS[0]],
                "label": f"{n_sites:,} service areas, {people:,.0f} people",
                "opacity": _CELL_STYLE["fillOpacity"],
            }
        ],
    }
    spec = _cell_spec(shared, classes, list(_AREA_COLORS), legend, attribution)
    word = "site" if n_sites == 1 else "sites"
    return VectorLayer(spec, name=f"Service areas ({n_sites:,} {word})", show=show)


# -- coverage ------------------------------------------------------------------------
def _coverage_layer(
    plan: Any,
    cells: _Cells,
    shared: SharedData,
    numbers: PlanNumbers,
    attribution: str | None,
    when: str,
    show: bool,
) -> VectorLayer:
    t = plan.threshold_minutes
    minutes = numbers.after if when == "after" else numbers.before
    minutes, people = minutes[cells.rows], numbers.people[cells.rows]
    classes = np.where(np.isnan(minutes), 2, np.where(minutes <= t, 0, 1))
    total = float(people.sum())
    sums = [float(people[classes == c].sum()) for c in range(3)]
    if when == "after":
        texts = (f"Within {t:g} min of its site", f"Served, beyond {t:g} min", "Unserved")
        title = f"Coverage after the plan ({group_label(plan.group).lower()})"
        name = f"Coverage after: within {t:g} min"
    else:
        texts = (f"Within {t:g} min of a facility", f"Beyond {t:g} min",
                 "No facility within reach")  # fmt: skip
        title = f"Coverage before the plan ({group_label(plan.group).lower()})"
        name = f"Coverage before: within {t:g} min"
    colors = [_WITHIN, _BEYOND, _NONE]
    legend = {
        "title": title,
        "note": "Travel time to the assigned site"
        if when == "after"
        else "Travel time to the nearest existing facility",
        "items": [
            _fill(c, _people_label(text, s, total))
            for c, text, s in zip(colors, texts, sums, strict=True)
        ],
    }
    spec = _cell_spec(shared, classes, colors, legend, attribution)
    return VectorLayer(spec, name=name, show=show)


# -- travel time ---------------------------------------------------------------------
def minute_classes(threshold: float, largest: float) -> np.ndarray:
    """Upper bounds of travel-time classes: steps of the threshold up to twice it, then the rest.

    Examples
    --------
    >>> minute_classes(10, 35).tolist()
    [2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 35.0]
    >>> minute_classes(10, 8).tolist()
    [2.5, 5.0, 7.5, 10.0]
    """
    bounds: list[float] = []
    for step in _MINUTE_STEPS:
        bound = step * threshold
        bounds.append(bound)
        if bound >= largest:
            return np.array(bounds)
    return np.array([*bounds, largest])


def _minutes_layer(
    plan: Any,
    cells: _Cells,
    shared: SharedData,
    numbers: PlanNumbers,
    attribution: str | None,
    show: bool,
) -> VectorLayer:
    t = plan.threshold_minutes
    minutes = numbers.after[cells.rows]
    ok = np.isfinite(minutes)
    largest = float(minutes[ok].max()) if ok.any() else t
    bounds = minute_classes(t, largest)
    classes = np.where(ok, np.searchsorted(bounds, np.nan_to_num(minutes), side="left"), -1)
    inside = int((bounds <= t).sum())
    colors = [*_MINUTE_WITHIN[:inside], *_MINUTE_BEYOND[: len(bounds) - inside]]
    labels, low = [], 0.0
    for k, bound in enumerate(bounds):
        last_open = k == len(bounds) - 1 and k >= len(_MINUTE_STEPS)
        labels.append(f"over {low:g}" if last_open else f"{low:g} – {bound:g}")
        low = bound
    people = numbers.people[cells.rows]
    counts = [float(people[classes == k].sum()) for k in range(len(bounds))]
    legend = {
        "title": "Travel time after the plan (minutes)",
        "note": f"To the assigned site: blue within the {t:g}-min threshold, orange to red "
        "beyond it. Unserved cells are left blank.",
        "items": [
            _fill(c, f"{label} min ({n:,.0f} people)")
            for c, label, n in zip(colors, labels, counts, strict=True)
        ],
    }
    spec = _cell_spec(shared, classes, colors, legend, attribution)
    return VectorLayer(spec, name="Travel time after (minutes)", show=show)


# -- unserved ------------------------------------------------------------------------
def _unserved_layer(
    plan: Any, cells: _Cells, numbers: PlanNumbers, attribution: str | None
) -> VectorLayer | None:
    part = plan.assignment.iloc[cells.rows]
    mask = part["site_id"].isna().to_numpy()
    if not mask.any():
        return None
    geoms = cells.metric[mask].values
    people = numbers.people[cells.rows][mask]
    units = part["unit"].astype(str).to_numpy()[mask]
    patches = shapely.get_parts(shapely.union_all(geoms))
    patches = patches[shapely.get_type_id(patches) == 3]  # polygons
    tree = shapely.STRtree(patches)
    cell_i, patch_i = tree.query(shapely.point_on_surface(geoms), predicate="intersects")
    first = np.unique(cell_i, return_index=True)[1]
    patch_of = np.full(len(geoms), -1)
    patch_of[cell_i[first]] = patch_i[first]
    ok = patch_of >= 0
    sums = np.bincount(patch_of[ok], weights=people[ok], minlength=len(patches))
    n_cells = np.bincount(patch_of[ok], minlength=len(patches))
    unit_lists = (
        pd.Series(units[ok])
        .groupby(patch_of[ok])
        .agg(lambda s: ", ".join(sorted(set(s))[:5]) + (" ..." if s.nunique() > 5 else ""))
    )
    order = np.argsort(-sums, kind="stable")
    lonlat = gpd.GeoSeries(patches[order], crs=cells.metric.crs).to_crs(4326)
    origin, geometries, kept = encode_geometries(lonlat.values, "polygon")
    order = order[kept]
    total = float(people.sum())
    columns = [
        encode_column(pd.Series(["Unserved"] * len(order)), ""),
        encode_column(pd.Series(sums[order]), group_label(plan.group)),
        encode_column(pd.Series(n_cells[order]), "Cells"),
        encode_column(unit_lists.reindex(order).reset_index(drop=True),
                      plan.unit_level.replace("_", " ").capitalize()),
    ]  # fmt: skip
    spec = {
        "kind": "polygon",
        "quantum": QUANTUM_DEG,
        "origin": origin,
        "geometries": geometries,
        "columns": columns,
        "titleColumn": 0,
        "style": _UNSERVED_STYLE,
        "colorOption": "fillColor",
        "highlight": {"weight": 3.5, "color": "#ffd400"},
        "unhighlight": {"weight": _UNSERVED_STYLE["weight"], "color": _UNSERVED_STYLE["color"]},
        "attribution": attribution,
        "legend": {
            "title": None,
            "note": None,
            "items": [
                {
                    "kind": "fill",
                    "color": _NONE,
                    "label": f"Unserved: {total:,.0f} people in {int(mask.sum()):,} cells",
                    "opacity": _UNSERVED_STYLE["fillOpacity"],
                }
            ],
        },
    }
    return VectorLayer(spec, name=f"Unserved ({total:,.0f} people)")


# -- sites ---------------------------------------------------------------------------
def site_radii(values: Any) -> np.ndarray:
    """Circle radii (pixels) whose areas grow with ``values`` (missing: the smallest).

    The largest circle is smaller when there are many sites (11 pixels up to
    100 sites, 6 from 1,000), so that a city's sites do not hide its map.

    Examples
    --------
    >>> site_radii([0, 2500, 10000, None]).tolist()
    [3.5, 7.2, 11.0, 3.5]
    >>> float(site_radii(np.arange(1000)).max())
    6.0
    """
    v = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)
    v = np.where(np.isfinite(v) & (v > 0), v, 0.0)
    top = v.max() if len(v) else 0.0
    low, high = _RADIUS
    crowd = np.clip(np.log10(max(len(v), 1) / 100), 0.0, 1.0)  # 0 up to 100 sites, 1 from 1000
    high = high - crowd * (high - 6.0)
    if top <= 0:
        return np.full(len(v), round((low + high) / 2, 1))
    return np.round(low + (high - low) * np.sqrt(v / top), 1)


def _sites_layer(plan: Any, attribution: str | None) -> VectorLayer | None:
    sites = plan.sites
    sites = sites[sites.geometry.notna() & ~sites.geometry.is_empty]
    if not len(sites):
        return None
    sites = sites.sort_values("rank", kind="stable", na_position="last")
    lonlat = sites.to_crs(4326)
    origin, geometries, kept = encode_geometries(lonlat.geometry.values, "point")
    table = sites.iloc[kept]
    size_by = "population_served"
    if not pd.to_numeric(table[size_by], errors="coerce").gt(0).any():
        size_by = "capacity"
    status = table["status"].astype(str).str.lower().to_numpy()
    classes = np.where(status == "new", 0, np.where(status == "existing", 1, 2))
    names = _site_names(table)
    columns = [
        encode_column(pd.Series(names.to_numpy()), ""),
        encode_column(table["status"], "Status"),
        encode_column(table["rank"], "Rank"),
        encode_column(table["population_served"], "People served"),
        encode_column(table["capacity"], "Capacity"),
        encode_column(pd.to_numeric(table["mean_minutes"], errors="coerce").round(1),
                      "Mean minutes"),
        encode_column(table["reason"], "Reason"),
        encode_column(table["site_id"].astype(str), "Site id"),
    ]  # fmt: skip
    counts = np.bincount(classes, minlength=3)
    items = [
        {"kind": "point", "color": color, "label": f"{label} ({n:,})"}
        for color, label, n in zip(
            (_NEW_COLOR, _EXISTING_COLOR, _OTHER_COLOR),
            ("New site", "Existing site kept", "Other site"),
            counts.tolist(),
            strict=True,
        )
        if n
    ]
    values = pd.to_numeric(table[size_by], errors="coerce")
    top = values.max()
    word = "people served" if size_by == "population_served" else "capacity"
    note = f"Circle area shows {word} (largest {top:,.0f})." if np.isfinite(top) else None
    spec = {
        "kind": "point",
        "quantum": QUANTUM_DEG,
        "origin": origin,
        "geometries": geometries,
        "columns": columns,
        "titleColumn": 0,
        "style": _SITE_STYLE,
        "colorOption": "fillColor",
        "colors": [_NEW_COLOR, _EXISTING_COLOR, _OTHER_COLOR],
        "classes": classes.tolist(),
        "radii": site_radii(values).tolist(),
        "popup": True,
        "highlight": _SITE_HIGHLIGHT,
        "unhighlight": _SITE_UNHIGHLIGHT,
        "attribution": attribution,
        "legend": {"title": "Recommended sites", "note": note, "items": items},
    }
    return VectorLayer(spec, name=f"Recommended sites ({len(kept):,})")


# =========================================================================================
# the map
# =========================================================================================
def _check_plan(plan: Any) -> None:
    from svcnet.plan import Plan

    if not isinstance(plan, Plan):
        msg = f"explore_plan needs a svcnet.Plan, got {type(plan).__name__}"
        raise InputError(msg)


def _unique_names(m: folium.Map, layers: list[VectorLayer]) -> None:
    """Suffix layer names already on the map (the layer control keys layers by name)."""
    taken = {c.layer_name for c in m._children.values() if isinstance(c, folium.map.Layer)}
    for layer in layers:
        name, n = layer.layer_name, 2
        while layer.layer_name in taken:
            layer.layer_name = f"{name} ({n})"
            n += 1
        taken.add(layer.layer_name)


def _new_map(plan: Any, cells: _Cells | None, tiles: Any, attr: str | None) -> folium.Map:
    # quarter zoom steps: the plan's extent fills the view (a report's map is small)
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=True, zoom_snap=0.25)
    m.get_root().title = html.escape(f"{plan.service}, {plan.region_name}: plan (svcnet)")
    if tiles is not None:
        _basemap(tiles, attr).add_to(m)
        folium.FeatureGroup(name=_BLANK_BASEMAP, overlay=False, show=False).add_to(m)
    ScaleBar().add_to(m)
    frames = [plan.sites.geometry.to_crs(4326)]
    if cells is not None:
        frames.append(cells.metric.to_crs(4326))
    shapes = gpd.GeoSeries(pd.concat(frames, ignore_index=True), crs=4326)
    shapes = shapes[shapes.notna() & ~shapes.is_empty]
    if len(shapes):
        x0, y0, x1, y1 = shapes.total_bounds
        FitView([[y0, x0], [y1, x1]]).add_to(m)
    return m


def explore_plan(
    plan: Any,
    m: folium.Map | None = None,
    *,
    tiles: str | folium.TileLayer | None = "OpenStreetMap",
    attr: str | None = None,
    view: str = "areas",
    isochrones: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """A folium map of a plan: service areas, sites, coverage, travel times, unserved cells.

    Layers (each with its legend, shown while the layer is on):

    * four views of the plan's populated cells, one at a time: ``"areas"``,
      each site's cells in a colour its neighbours do not have;
      ``"coverage"`` and ``"coverage_before"``, the cells within the
      threshold, beyond it, and unserved (no facility within reach, before);
      ``"minutes"``, the travel time after the plan in classes of the
      threshold. Their tooltip gives the cell, its unit, its people, the site
      serving it, the minutes after and before and the people of that site's
      area;
    * the unserved cells, dissolved into patches drawn above every view;
    * the isochrones, when given: one band per time with its area (see
      :func:`svcnet.viz.isochrone_layer`);
    * the recommended sites, circles sized by the people they serve (or their
      capacity), new and existing in two colours; hovering or clicking one
      shows its name, status, rank, people served, capacity, mean minutes,
      reason and id.

    The legend's heading gives the service, the region and the key totals. A
    new map also gets a metric scale bar and an expanded layer control;
    export it with :func:`svcnet.viz.save_map` (self-contained, offline) or
    write a whole review page with :func:`svcnet.viz.save_report`.

    Parameters
    ----------
    plan
        A :class:`svcnet.Plan`.
    m
        A map to add the layers and the heading to (its view is left alone;
        layer names it already has get a number); a new one when None.
    tiles
        The basemap of a new map: a name folium knows (``"OpenStreetMap"``,
        ``"CartoDB positron"`` ...), a tile URL template (with ``attr``), a
        :class:`folium.TileLayer`, or None for none (offline review).
    attr
        The attribution of a tile URL template.
    view
        The view of the cells shown first: one of :data:`PLAN_VIEWS`.
    isochrones
        What :func:`svcnet.isochrones` returns (for the plan's sites, say),
        drawn as a layer below the sites.

    Returns
    -------
    folium.Map

    Raises
    ------
    InputError
        ``plan`` is not a Plan, ``m`` not a folium map, ``view`` or
        ``tiles`` not usable, or ``isochrones`` not polygons with minutes.

    Examples
    --------
    >>> plan = toy_plan()  # three cells, one new site; one cell unserved
    >>> m = explore_plan(plan, tiles=None)
    >>> names = [c.layer_name for c in m._children.values() if hasattr(c, "spec_js")]
    >>> names[0], names[-2:]
    ('Service areas (1 site)', ['Unserved (50 people)', 'Recommended sites (1)'])
    """
    _check_plan(plan)
    if view not in PLAN_VIEWS:
        msg = f"view must be one of {', '.join(PLAN_VIEWS)}; got {view!r}"
        raise InputError(msg)
    if m is not None and not isinstance(m, folium.Map):
        msg = f"m must be a folium.Map to add the plan's layers to; got {type(m).__name__}"
        raise InputError(msg)
    bands = None
    if isochrones is not None:
        from svcnet.viz.coverage_maps import _bands, _check_isochrones

        bands = _bands(_check_isochrones(isochrones))
    numbers = plan_numbers(plan)
    cells = _plan_cells(plan, numbers)
    if m is None:
        m = _new_map(plan, cells, tiles, attr)
    attribution = attribution_html(getattr(plan, "attribution", ()))
    layers: list[VectorLayer | None] = []
    if cells is not None:
        shared = SharedData(cells.data)
        shared.add_to(m)
        args = (plan, cells, shared, numbers, attribution)
        layers += [
            _areas_layer(*args, show=view == "areas"),
            _coverage_layer(*args, "after", show=view == "coverage"),
            _coverage_layer(*args, "before", show=view == "coverage_before"),
            _minutes_layer(*args, show=view == "minutes"),
            _unserved_layer(plan, cells, numbers, attribution),
        ]
    else:
        logger.info("the plan for %s has no populated cells to draw", plan.region_name)
    if bands is not None:
        from svcnet.viz.coverage_maps import _isochrone_layer

        layers.append(_isochrone_layer(bands, attribution=attribution))
    layers.append(_sites_layer(plan, attribution))
    kept = [layer for layer in layers if layer is not None]
    _unique_names(m, kept)
    for layer in kept:
        layer.add_to(m)
    MapHeading(plan_heading(plan, numbers)).add_to(m)
    _keep_layer_control_last(m)
    return m
