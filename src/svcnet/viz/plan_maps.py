"""Folium maps of a :class:`svcnet.Plan`: service areas, sites, coverage and travel times.

:func:`explore_plan` draws a plan the way :func:`svcnet.viz.explore_region`
draws a region, with the same compact layers (:mod:`svcnet.viz._layers`): the
plan's cells are sent once and four layers colour them -- the sites' service
areas, coverage after and before the plan, and the travel time after it. These
four are views of the same cells, so the map shows one at a time (ticking one
in the layer control unticks the others). A fifth view, off at first, draws
the gap to the norm per boundary unit (:data:`GAP_NORMS` says which column of
``plan.summary()`` that is for each service). Above them: the cells left
unserved, dissolved into patches shaded by people per km², and the recommended
sites, sized by the people they serve and coloured new or existing. Every layer
has a legend; the legend's heading gives the plan's key totals. Text from the
data (site names, reasons, ids) is shown as text, never run as HTML.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import folium
import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely

from svcnet.errors import InputError
from svcnet.standards import SHELTER_TYPES
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
    class_breaks,
)

logger = logging.getLogger(__name__)

__all__ = [
    "explore_plan",
    "gap_classes",
    "GAP_NORMS",
    "GapNorm",
    "PLAN_VIEWS",
    "toy_plan",
    "unit_gaps",
]

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
# Unserved patches, shaded by people per km2 so that empty hills do not outweigh dense pockets:
# the class edges, and a grey per class (lightest for the sparsest).
_UNSERVED_DENSITY = (1_000.0, 10_000.0)
_UNSERVED_FILLS = ("#c4c4c4", "#7a7a7a", _NONE)
_UNSERVED_STYLE = {"color": "#3a3a3a", "weight": 1.0, "opacity": 1, "fillColor": _NONE,
                   "fillOpacity": 0.85}  # fmt: skip
_SITE_STYLE = {"color": "#ffffff", "weight": 1.5, "opacity": 1, "fillOpacity": 0.95}
_SITE_HIGHLIGHT = {"color": "#000000", "weight": 3}
_SITE_UNHIGHLIGHT = {"color": "#ffffff", "weight": 1.5}
_RADIUS = (3.5, 11.0)  # smallest and largest site circle, pixels
_MINUTE_STEPS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # travel-time classes, times the threshold
_EXCLUSIVE = "svcnet-plan-cells"
# The gap to the norm per unit: a neutral grey for no gap, then light to dark orange-red.
_GAP_NONE, _GAP_NO_DATA, _GAP_CMAP, _GAP_CLASSES = "#c9ced6", "#ffffff", "OrRd", 5
_GAP_STYLE = {"color": "#4d4d4d", "weight": 1.2, "opacity": 0.9, "fillOpacity": 0.75}
_GAP_HIGHLIGHT = {"color": "#111111", "weight": 3}
_GAP_UNHIGHLIGHT = {"color": _GAP_STYLE["color"], "weight": _GAP_STYLE["weight"]}


def toy_plan(*, gaps: bool = False) -> Any:
    """A tiny plan for examples: three 100 m cells, one new site, one cell unserved.

    Parameters
    ----------
    gaps
        Give the plan the centers planner's gap columns (``centers_min``,
        ``centers_max``, ``centers_gap``) and the polygons of its two units,
        X (two cells, a gap of one center) and Y (one cell, no gap).

    Examples
    --------
    >>> toy_plan()
    <Plan community service centers for Toy town: 1 new and 0 existing sites, 50 people \
unserved, solver gap 0.00%>
    >>> toy_plan(gaps=True).summary()["centers_gap"].tolist()
    [1, 0, 1]
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
    extra: dict[str, Any] = {}
    if gaps:
        extra["unit_table"] = pd.DataFrame(
            {
                "centers_min": [1, 1, 2],
                "centers_max": [0, 0, 0],
                "centers_gap": [1, 0, 1],
                "centers_gap_after": [1, 0, 1],
            },
            index=pd.Index(["X", "Y", "total"], name="unit"),
        )
        extra["units"] = gpd.GeoDataFrame(
            {"district": ["X", "Y"]},
            geometry=[box(800000, 2495000, 800200, 2495100), box(800200, 2495000, 800300, 2495100)],
            crs=32649,
        )
    return Plan("community service centers", "Toy town", sites, assignment, cells,
                unit_level="district", threshold_minutes=10, solver=solver,
                notes=["Cell c is beyond every candidate's reach."], **extra)  # fmt: skip


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
    if n.new_sites + n.kept_sites == 0:
        return (
            f"{service}, {plan.region_name}: NO SITES - the plan recommends and keeps none "
            f"(see its notes); {n.unserved:,.0f} of {n.total:,.0f} people unserved"
        )
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
    """The unserved cells, dissolved into patches per density class (people per km2)."""
    part = plan.assignment.iloc[cells.rows]
    mask = part["site_id"].isna().to_numpy()
    if not mask.any():
        return None
    geoms = cells.metric[mask].values
    people = numbers.people[cells.rows][mask]
    units = part["unit"].astype(str).to_numpy()[mask]
    cell_class = np.digitize(people / (shapely.area(geoms) / 1e6), _UNSERVED_DENSITY)
    patches, patch_class = _unserved_patches(geoms, cell_class)
    tree = shapely.STRtree(patches)
    cell_i, patch_i = tree.query(shapely.point_on_surface(geoms), predicate="intersects")
    same = patch_class[patch_i] == cell_class[cell_i]
    cell_i, patch_i = cell_i[same], patch_i[same]
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
    density = sums / np.maximum(shapely.area(patches) / 1e6, 1e-12)
    lonlat = gpd.GeoSeries(patches[order], crs=cells.metric.crs).to_crs(4326)
    origin, geometries, kept = encode_geometries(lonlat.values, "polygon")
    order = order[kept]
    total = float(people.sum())
    columns = [
        encode_column(pd.Series(["Unserved"] * len(order)), ""),
        encode_column(pd.Series(sums[order]), group_label(plan.group)),
        encode_column(pd.Series(n_cells[order]), "Cells"),
        encode_column(pd.Series(np.round(density[order])), "People per km²"),
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
        "colors": list(_UNSERVED_FILLS),
        "classes": [int(k) for k in patch_class[order]],
        "highlight": {"weight": 3.5, "color": "#ffd400"},
        "unhighlight": {"weight": _UNSERVED_STYLE["weight"], "color": _UNSERVED_STYLE["color"]},
        "attribution": attribution,
        "legend": {
            "title": f"Unserved: {total:,.0f} people in {int(mask.sum()):,} cells",
            "note": "Cells no site serves, joined into patches and shaded by how many "
            "people live there per km².",
            "items": _unserved_items(people, cell_class),
        },
    }
    return VectorLayer(spec, name=f"Unserved ({total:,.0f} people)")


def _unserved_patches(geoms: np.ndarray, cell_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polygons of the cells of each density class, dissolved class by class."""
    patches, classes = [], []
    for k in np.unique(cell_class):
        parts = shapely.get_parts(shapely.union_all(geoms[cell_class == k]))
        parts = parts[shapely.get_type_id(parts) == 3]  # polygons
        patches.append(parts)
        classes.append(np.full(len(parts), k))
    return np.concatenate(patches), np.concatenate(classes)


def _unserved_items(people: np.ndarray, cell_class: np.ndarray) -> list[dict[str, Any]]:
    """One legend entry per density class present, densest first, with its people.

    Examples
    --------
    >>> [i["label"] for i in _unserved_items(np.array([5.0, 900.0]), np.array([0, 2]))]
    ['10,000 or more per km²: 900 people', 'under 1,000 per km²: 5 people']
    """
    low, high = _UNSERVED_DENSITY
    texts = (f"under {low:,.0f} per km²", f"{low:,.0f} – {high:,.0f} per km²",
             f"{high:,.0f} or more per km²")  # fmt: skip
    sums = np.bincount(cell_class, weights=people, minlength=len(texts))
    return [
        {
            "kind": "fill",
            "color": _UNSERVED_FILLS[k],
            "opacity": _UNSERVED_STYLE["fillOpacity"],
            "label": f"{texts[k]}: {sums[k]:,.0f} people",
        }
        for k in reversed(range(len(texts)))
        if (cell_class == k).any()
    ]


# -- the gap to the norm per unit ------------------------------------------------------
@dataclass(frozen=True)
class GapNorm:
    """Which column of a plan's ``summary()`` is its gap to the norm, and how to read it.

    Column names may hold ``{t}`` (the plan's threshold as the summary's
    column names write it: ``10`` in ``within_10min_after``), ``{level}``
    (the plan's unit level) and ``{group}`` (its population group).

    Attributes
    ----------
    column
        The summary column the gap comes from.
    label
        What the gap counts, as the tooltips say it.
    meaning
        The legend's note: what the column counts against the norm.
    figures
        ``(column, label)`` pairs of the norm's figures shown in the tooltip
        before the gap (columns the summary lacks are left out).
    complement
        ``column`` is the share of people *within* the norm (0-1): the gap
        is one minus it, the share beyond, shown in percent.
    norm
        The name of the plan's norm whose value ``meaning`` cites as
        ``{norm}`` (``"the norm's"`` when the plan lacks it).

    Examples
    --------
    >>> GAP_NORMS["community service centers"].column
    'centers_gap_after'
    """

    column: str
    label: str
    meaning: str
    figures: tuple[tuple[str, str], ...] = ()
    complement: bool = False
    norm: str = ""


def _bed_norm(people: str) -> GapNorm:
    return GapNorm(
        column="beds_gap_after",
        label="Gap: beds lacking after the plan",
        meaning=f"Beds the norm asks for ({{norm}} beds per 1,000 {people}, rounded up) less "
        f"the beds of the facilities in the {{level}}, after the plan.",
        figures=((people, people.capitalize()), ("norm_per_1000", f"Norm: beds per 1,000 {people}"),
                 ("beds_required", "Beds the norm asks for"), ("beds_before", "Beds before"),
                 ("beds_after", "Beds after"), ("beds_gap_before", "Beds lacking before")),
        norm=f"eldercare_beds_per_1000_{people}",
    )  # fmt: skip


_SHELTER_GAP = GapNorm(
    column="places_gap_after",
    label="Gap: places lacking after the plan",
    meaning="Shelter places still needed by the residents with no place within reach after "
    "the plan: the norm's share of them, rounded up (the low end of the share).",
    figures=(("{group}", "Residents"), ("places_required", "Places the norm asks for"),
             ("outside_before", "Residents without a place before"),
             ("outside_after", "Residents without a place after"),
             ("places_gap_before", "Places lacking before"),
             ("capacity_located_after", "Places in shelters here, after")),
)  # fmt: skip

#: The gap to the norm of each service's plans, keyed by ``Plan.service``. For a
#: service not here, or a summary without its column, :func:`unit_gaps` falls back
#: to the first numeric summary column ending in ``_gap_after``, else in ``_gap``;
#: a plan with neither has no gap layer.
GAP_NORMS: Mapping[str, GapNorm] = MappingProxyType(
    {
        "community service centers": GapNorm(
            column="centers_gap_after",
            label="Gap: centers lacking after the plan",
            meaning="Centers the norm asks for (people ÷ the most of {norm} people per center, "
            "rounded up) less the {level}'s centers after the plan.",
            figures=(
                ("{group}", "People"),
                ("centers_min", "Centers the norm asks for"),
                ("centers_max", "Most centers the norm allows"),
                ("facilities_before", "Centers before"),
                ("facilities_after", "Centers after"),
            ),
            norm="people_per_center",
        ),
        "eldercare beds": _bed_norm("elderly"),
        "child-welfare beds": _bed_norm("children"),
        **{f"{kind} shelters": _SHELTER_GAP for kind in SHELTER_TYPES},
        "charity donation points": GapNorm(
            column="within_{t}min_{level}",
            label="Gap: beyond a {t}-min walk of the {level}'s point",
            meaning="The norm: a donation point in every {level}, within a {t}-minute walk. "
            "The gap: the share of the {level}'s people beyond that walk of its point.",
            figures=(
                ("{group}", "People"),
                ("point_{level}", "Point"),
                ("minutes_{level}", "Mean walk to it (min)"),
                ("within_{t}min_{level}", "Within the walk"),
            ),
            complement=True,
        ),
    }
)


def _gap_norm(plan: Any, summary: pd.DataFrame) -> tuple[GapNorm, dict[str, dict]] | None:
    """The plan's gap norm (or the fallback) with its column names filled in."""
    columns = {"t": f"{plan.threshold_minutes:g}", "level": plan.unit_level, "group": plan.group}
    names = {**columns, "level": plan.unit_level.replace("_", " "), "norm": "the norm's"}
    norm = GAP_NORMS.get(plan.service)
    if norm is not None and norm.column.format(**columns) in summary.columns:
        cited = [n for n in plan.norms if getattr(n, "name", None) == norm.norm]
        if norm.norm and cited:
            names["norm"] = str(getattr(cited[0], "value_text", cited[0].value))
        return norm, {"columns": columns, "names": names}
    numeric = [c for c in summary.columns if pd.api.types.is_numeric_dtype(summary[c])]
    for ending in ("_gap_after", "_gap"):
        found = [c for c in numeric if str(c).endswith(ending)]
        if found:
            column = str(found[0]).replace("{", "{{").replace("}", "}}")  # kept as written
            fallback = GapNorm(
                column=column,
                label=f"Gap: {column.replace('_', ' ')}",
                meaning=f"The plan's summary column {column!r}: its gap to the norm.",
                figures=(("{group}", group_label(plan.group)),),
            )
            return fallback, {"columns": columns, "names": names}
    return None


def _figure_text(values: pd.Series, column: str) -> pd.Series:
    """A summary column as the tooltip shows it: counts whole, shares in percent."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return pd.Series([None if pd.isna(v) else str(v) for v in values], index=values.index,
                         dtype=object)  # fmt: skip
    numbers = values.astype(float)
    share = column.startswith(("within_", "coverage_"))
    whole = bool(np.all(np.mod(numbers.dropna(), 1) == 0))
    out = []
    for v in numbers:
        if not np.isfinite(v):
            out.append(None)
        elif share:
            out.append(_percent(v))
        else:
            out.append(f"{v:,.0f}" if whole else f"{v:,.1f}")
    return pd.Series(out, index=values.index, dtype=object)


def unit_gaps(plan: Any) -> pd.DataFrame | None:
    """Each unit's gap to the norm, from ``plan.summary()``: what the map's gap layer draws.

    The gap is the summary column :data:`GAP_NORMS` names for the plan's
    service (one minus it when that is a share within the norm). For a
    service not there, or a summary without its column, it is the first
    numeric summary column ending in ``_gap_after``, else in ``_gap``. A plan
    with none of them has no gap: None.

    Parameters
    ----------
    plan
        A :class:`svcnet.Plan`.

    Returns
    -------
    pandas.DataFrame or None
        Indexed by unit (the ``total`` row left out): ``gap`` (a number; a
        share for a complement), then the norm's figures and the gap as the
        tooltip writes them, each column named by its label. ``attrs`` holds
        ``column`` (the summary column), ``label``, ``meaning`` and ``share``
        (True when the gap is a share).

    Examples
    --------
    >>> gaps = unit_gaps(toy_plan(gaps=True))
    >>> gaps["gap"].tolist(), gaps.attrs["column"]
    ([1.0, 0.0], 'centers_gap_after')
    >>> unit_gaps(toy_plan()) is None  # no gap column: no gap
    True
    """
    summary = plan.summary()
    found = _gap_norm(plan, summary)
    if found is None:
        return None
    norm, fill = found
    columns, names = fill["columns"], fill["names"]
    rows = summary.drop(index="total", errors="ignore")
    rows.index = rows.index.astype(str)
    column = norm.column.format(**columns)
    raw = pd.to_numeric(rows[column], errors="coerce").astype(float)
    gap = 1.0 - raw if norm.complement else raw
    table = pd.DataFrame({"gap": gap}, index=rows.index)
    for template, label in norm.figures:
        name = template.format(**columns)
        if name in rows.columns and label not in table.columns:
            table[label] = _figure_text(rows[name], name)
    label = norm.label.format(**names)
    if norm.complement:
        table[label] = [None if not np.isfinite(v) else _percent(v) for v in gap]
    else:
        table[label] = _figure_text(gap, column)
    table.index.name = "unit"
    table.attrs.update(column=column, label=label, meaning=norm.meaning.format(**names),
                       share=bool(norm.complement))  # fmt: skip
    return table


def gap_classes(values: Any, *, share: bool = False) -> tuple[np.ndarray, list[str]]:
    """Upper bounds and labels of the classes of the units with a gap (values above 0).

    Up to five classes: one per distinct gap when there are that few, else
    quantiles (each class holding about as many units), rounded as
    :func:`svcnet.viz.class_breaks` rounds them. A unit with gap ``v`` falls in
    the first class whose bound is ``>= v``; units with no gap (0 or less)
    are in none (the map draws them in a neutral colour).

    Parameters
    ----------
    values
        The units' gaps (NaN: unknown, left out).
    share
        The gaps are shares (labels in percent); else counts.

    Returns
    -------
    bounds : numpy.ndarray
        Increasing upper bounds (empty when no unit has a gap).
    labels : list of str
        One per class.

    Examples
    --------
    >>> bounds, labels = gap_classes([0, 1, 2, 2, 5])
    >>> bounds.tolist(), labels
    ([1.0, 2.0, 5.0], ['1', '2', '3 – 5'])
    >>> gap_classes([0.0, 0.25, 0.5], share=True)[1]
    ['25%', '26% – 50%']
    """
    from svcnet.viz.maps import _class_labels

    v = np.asarray(values, dtype=float)
    positive = v[np.isfinite(v) & (v > 0)]
    if not len(positive):
        return np.array([]), []
    distinct = np.unique(positive)
    if len(distinct) <= _GAP_CLASSES:
        bounds = distinct
    else:
        bounds = class_breaks(positive, scheme="quantiles", k=_GAP_CLASSES)
    low = float(positive.min())
    if share:
        labels, previous = [], None
        for bound in bounds.tolist():
            start = low if previous is None else previous + 0.01
            labels.append(_percent(bound) if start >= bound else
                          f"{_percent(start)} – {_percent(bound)}")  # fmt: skip
            previous = bound
        return bounds, labels
    whole = bool(np.all(np.mod(positive, 1) == 0))
    return bounds, _class_labels(bounds, low, whole)


def _unit_shapes(plan: Any) -> gpd.GeoDataFrame:
    """The plan's unit polygons; without them, its cells dissolved by unit, holes filled.

    (The cells of a plan are its populated cells: the holes its parks and
    water leave in a unit are filled, so that the unit reads as one area.)
    """
    units = plan.units
    if units is not None:
        return units
    cells = plan.cells[["unit", "geometry"]]
    cells = cells[cells["unit"].notna() & cells.geometry.notna() & ~cells.geometry.is_empty]
    labels = cells["unit"].astype(str).to_numpy()
    names = pd.unique(labels)
    geometry = cells.geometry.to_numpy()
    shapes = []
    for name in names:
        parts = shapely.get_parts(shapely.union_all(geometry[labels == name]))
        parts = parts[shapely.get_type_id(parts) == 3]  # polygons
        shapes.append(shapely.union_all(shapely.polygons(shapely.get_exterior_ring(parts))))
    # the cells' corners along straight edges are dropped; nothing else moves
    shapes = shapely.simplify(np.asarray(shapes, dtype=object), 0.0)
    return gpd.GeoDataFrame({"unit": names}, geometry=shapes, crs=cells.crs)


def _gap_layer(plan: Any, attribution: str | None) -> VectorLayer | None:
    gaps = unit_gaps(plan)
    if gaps is None:
        logger.debug("the plan of %s has no gap column: no gap layer", plan.service)
        return None
    shapes = _unit_shapes(plan)
    shapes = shapes[shapes.geometry.notna() & ~shapes.geometry.is_empty]
    if not len(shapes):
        return None
    lonlat = shapes.to_crs(4326).reset_index(drop=True)
    origin, geometries, kept = encode_geometries(lonlat.geometry.values, "polygon")
    if not len(kept):
        return None
    names = lonlat["unit"].astype(str).iloc[kept].reset_index(drop=True)
    table = gaps.reindex(names.to_numpy())
    share = bool(gaps.attrs["share"])
    values = table["gap"].to_numpy(dtype=float)
    bounds, labels = gap_classes(gaps["gap"], share=share)
    known = np.isfinite(values)
    has_gap = known & (values > 0)
    n = len(bounds)
    classes = np.where(has_gap, 1 + np.searchsorted(bounds, np.nan_to_num(values), side="left"), 0)
    classes = np.where(known, np.minimum(classes, n), n + 1)
    colormap = matplotlib.colormaps[_GAP_CMAP]
    steps = [0.75] if n == 1 else np.linspace(0.3, 0.95, n).tolist()
    colors = [_GAP_NONE, *(matplotlib.colors.to_hex(colormap(x)) for x in steps), _GAP_NO_DATA]
    level = plan.unit_level.replace("_", " ")
    counts = np.bincount(classes, minlength=n + 2)

    plural = level[:-1] + "ies" if level.endswith("y") else level + "s"

    def units_text(k: int) -> str:
        return f"{k:,} {level if k == 1 else plural}"

    opacity = _GAP_STYLE["fillOpacity"]
    items = [_gap_item(colors[0], f"No gap: meets the norm ({units_text(counts[0])})", opacity)]
    items += [_gap_item(colors[1 + k], f"{text} ({units_text(counts[1 + k])})", opacity)
              for k, text in enumerate(labels)]  # fmt: skip
    if counts[n + 1]:
        items.append(_gap_item(colors[n + 1], f"No figures ({units_text(counts[n + 1])})", 1.0))
    columns = [encode_column(names, level.capitalize())]
    columns += [encode_column(table[c].astype(object).reset_index(drop=True), str(c))
                for c in table.columns if c != "gap"]  # fmt: skip
    derived = " Unit outlines: the plan's cells." if plan.units is None else ""
    spec = {
        "kind": "polygon",
        "quantum": QUANTUM_DEG,
        "origin": origin,
        "geometries": geometries,
        "columns": columns,
        "titleColumn": 0,
        "style": _GAP_STYLE,
        "colorOption": "fillColor",
        "colors": colors,
        "classes": classes.tolist(),
        "popup": True,
        "below": True,
        "highlight": _GAP_HIGHLIGHT,
        "unhighlight": _GAP_UNHIGHLIGHT,
        "exclusive": _EXCLUSIVE,
        "attribution": attribution,
        "legend": {
            "title": f"Gap to the norm by {level} ({gaps.attrs['label'][5:]})"
            if gaps.attrs["label"].startswith("Gap: ")
            else f"Gap to the norm by {level}",
            "note": f"{gaps.attrs['meaning']} Column {gaps.attrs['column']} of the plan's "
            f"summary.{derived}",
            "items": items,
        },
    }
    return VectorLayer(spec, name=f"Gap to the norm by {level}", show=False)


def _gap_item(color: str, label: str, opacity: float) -> dict[str, Any]:
    return {"kind": "fill", "color": color, "label": label, "opacity": opacity}


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
    * "Gap to the norm by <level>", a fifth view, off at first, when the
      plan's summary has a gap column (:func:`unit_gaps`, :data:`GAP_NORMS`):
      each unit's polygon (``plan.units``; without them, its cells
      dissolved) coloured by its gap in up to five classes
      (:func:`gap_classes`), no gap in grey; hovering or clicking a unit
      shows its name, the norm's figures and the gap;
    * the unserved cells, dissolved into patches drawn above every view, in three
      greys by people per km² (under 1,000, up to 10,000, more), so that a
      dense pocket stands out from empty hills;
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
            _gap_layer(plan, attribution),
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
