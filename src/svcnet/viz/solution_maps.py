"""Folium maps of a location model's :class:`~svcnet.models.Solution`.

:func:`explore_solution` (and :meth:`Solution.explore`) draws a solution whose
model was built with ``from_geodataframe``: the demand (cells, or points)
coloured by the site serving it, by served / unserved, or by its cost to its
site -- three views of the same features, shown one at a time -- the selected
sites sized by their load, and, on request, lines from each demand point to
its site and each site's catchment outline. Every layer has a legend and an
entry in the layer control; text from the data is shown as text, never run as
HTML; :func:`svcnet.viz.save_map` exports the map for offline review.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
    SharedData,
    VectorLayer,
    encode_column,
    encode_geometries,
)
from svcnet.viz.coverage_maps import (
    _SITE_COLOR,
    _check_map,
    _demand_features,
    _drawable,
    _Features,
    _finish_map,
    _legend_item,
    _lines,
    _new_map,
    _people_label,
    _people_word,
    _site_names,
    _sites_layer,
    _unit_words,
    _view_layer,
)
from svcnet.viz.maps import _class_labels, _palette, attribution_html, class_breaks
from svcnet.viz.plan_maps import _AREA_COLORS, _NONE, _WITHIN, _area_colours, group_label

logger = logging.getLogger(__name__)

__all__ = ["explore_solution", "SOLUTION_LAYERS", "SOLUTION_VIEWS"]

#: The layers ``explore_solution(layers=...)`` can draw.
SOLUTION_LAYERS = ("demand", "sites", "lines", "catchments")
#: How the demand can be coloured, one view at a time: ``explore_solution(color=...)``.
SOLUTION_VIEWS = ("site", "served", "cost")

_MODEL_NAMES = {"PMedian": "p-median", "PCenter": "p-center"}
_COST_CMAP = "YlOrRd"
_LINE_STYLE = {"weight": 1.2, "opacity": 0.85}
_CATCHMENT_COLOR = "#222222"
_CATCHMENT_STYLE = {"color": _CATCHMENT_COLOR, "weight": 2.2, "opacity": 0.9, "fill": False}


@dataclass(frozen=True)
class SolutionNumbers:
    """A solution's numbers as its map shows them.

    Per demand row: ``weight`` (1 each without a weight column), ``served``,
    ``site`` (the position of its site, -1 unserved) and ``cost``. Per site
    (every candidate; the selected are ``selected``): ``points`` (demand rows
    served), ``people`` (their weight), ``load`` (the model's loads, where it
    has them) and ``mean_cost`` (weighted by ``weight``).
    """

    weight: np.ndarray
    served: np.ndarray
    site: np.ndarray
    cost: np.ndarray
    selected: np.ndarray
    points: np.ndarray
    people: np.ndarray
    load: np.ndarray | None
    mean_cost: np.ndarray
    total: float
    served_people: float
    unserved_people: float


def _geo(solution: Any) -> dict[str, Any]:
    from svcnet.models.solution import Solution

    if not isinstance(solution, Solution):
        msg = f"explore_solution needs a svcnet Solution; got {type(solution).__name__}"
        raise InputError(msg)
    geo = solution._geo
    if geo is None:
        msg = (
            "this solution has no geometry to map: its model was built from a cost matrix. "
            "Build the model with from_geodataframe(demand, sites, ...) to map its solution"
        )
        raise InputError(msg)
    return dict(geo)


def _weight_column(geo: dict[str, Any], weight: str | None | bool) -> str | None:
    if weight is False:
        return None
    column = geo.get("weight") if weight is None or weight is True else weight
    if column is None:
        return None
    demand = geo["demand"]
    if column not in demand.columns:
        msg = "the demand frame has no such column to weigh the demand by"
        raise InputError(msg, layer="demand", column=str(column))
    values = pd.to_numeric(demand[column], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        msg = "the demand weights must be non-negative numbers"
        raise InputError(msg, layer="demand", column=column, rows=demand.index[bad].tolist())
    return column


def solution_numbers(solution: Any, weight: str | None | bool = None) -> SolutionNumbers:
    """The per-row and per-site numbers of a solution built from GeoDataFrames.

    Parameters
    ----------
    solution
        A :class:`svcnet.models.Solution`.
    weight
        The demand column to weigh by; default the one the model was built
        with; False for none (each demand row counts 1).

    Examples
    --------
    >>> n = solution_numbers(toy_solution())
    >>> n.people[n.selected].tolist(), n.unserved_people
    ([250.0], 40.0)
    """
    geo = _geo(solution)
    column = _weight_column(geo, weight)
    demand = geo["demand"]
    n_sites = len(solution.site_ids)
    w = (
        pd.to_numeric(demand[column]).to_numpy(float)
        if column is not None
        else np.ones(len(demand))
    )
    site = np.asarray(solution.assignment, dtype=np.int64)
    served = site >= 0
    cost = np.where(served, np.asarray(solution.assigned_cost, dtype=float), np.nan)
    points = np.bincount(site[served], minlength=n_sites)
    people = np.bincount(site[served], weights=w[served], minlength=n_sites)
    weighted = np.bincount(site[served], weights=(w * np.nan_to_num(cost))[served],
                           minlength=n_sites)  # fmt: skip
    plain = np.bincount(site[served], weights=np.nan_to_num(cost)[served], minlength=n_sites)
    with np.errstate(invalid="ignore", divide="ignore"):
        by_row = np.where(points > 0, plain / np.maximum(points, 1), np.nan)
        mean_cost = np.where(people > 0, weighted / people, by_row)
    loads = solution.details.get("loads")
    load = None
    if loads is not None:
        load = np.asarray(loads, dtype=float)
        if load.shape != (n_sites,):
            load = None
    total = float(w.sum())
    return SolutionNumbers(
        weight=w,
        served=served,
        site=site,
        cost=cost,
        selected=np.asarray(solution.selected, dtype=np.int64),
        points=points,
        people=people,
        load=load,
        mean_cost=mean_cost,
        total=total,
        served_people=float(w[served].sum()),
        unserved_people=float(w[~served].sum()),
    )


def toy_solution() -> Any:
    """A tiny solved p-median for examples: four 100 m cells, two candidates, one chosen.

    Examples
    --------
    >>> toy_solution().selected_ids
    ['A']
    """
    from shapely.geometry import Point, box

    from svcnet.models import PMedian

    demand = gpd.GeoDataFrame(
        {"cell_id": ["c1", "c2", "c3", "c4"], "pop": [100, 150, 0, 40]},
        geometry=[box(800000 + 100 * i, 2495000, 800100 + 100 * i, 2495100) for i in range(3)]
        + [box(803000, 2495000, 803100, 2495100)],
        crs=32649,
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["A", "B"], "name": ["Centre <A>", "Far B"]},
        geometry=[Point(800150, 2495050), Point(800250, 2495900)],
        crs=32649,
    )
    model = PMedian.from_geodataframe(demand, sites, p=1, weight="pop", demand_id="cell_id",
                                      site_id="site_id", cutoff=1000,
                                      unserved_penalty=10_000)  # fmt: skip
    return model.solve()


# =========================================================================================
# layers
# =========================================================================================
def _demand_columns(solution: Any, numbers: SolutionNumbers, features: _Features,
                    names: list[str], column: str | None,
                    unit: str | None) -> list[dict[str, Any]]:  # fmt: skip
    rows = features.rows
    label, _ = _unit_words(unit)
    site = numbers.site[rows]
    columns = [encode_column(pd.Series([str(i) for i in solution.demand_ids[rows]]), "Demand")]
    if column is not None:
        text = group_label(column)
        columns.append(encode_column(pd.Series(numbers.weight[rows]), text[:1].upper() + text[1:]))
    columns += [
        {**encode_column(pd.Series([names[s] if s >= 0 else None for s in site], dtype=object),
                         "Served by"), "missing": "nobody: unserved"},
        encode_column(pd.Series(numbers.cost[rows]).round(1), f"{label} to it"),
    ]  # fmt: skip
    return columns


def _site_colours(features: _Features, numbers: SolutionNumbers) -> np.ndarray:
    """A colour index per site (-1: not used) so that neighbouring service areas differ."""
    site = numbers.site[features.rows]
    served = site >= 0
    out = np.full(len(numbers.points), -1)
    if served.any():
        keys = site[served].astype(str)
        colour = _area_colours(features.areas[served].reset_index(drop=True), keys)
        for key, value in colour.items():
            out[int(key)] = value
    return out


def _cost_view(numbers: SolutionNumbers, rows: np.ndarray, features: _Features, word: str,
               unit: str | None) -> tuple[np.ndarray, list[str], dict[str, Any]]:  # fmt: skip
    label, suffix = _unit_words(unit)
    cost = numbers.cost[rows]
    people = numbers.weight[rows]
    ok = np.isfinite(cost)
    classes = np.full(len(rows), -1)
    items = []
    colors: list[str] = []
    if ok.any():
        breaks = class_breaks(cost[ok], scheme="quantiles", k=5)
        colors = _palette(_COST_CMAP, len(breaks))
        classes[ok] = np.searchsorted(breaks, cost[ok], side="left")
        texts = _class_labels(breaks, 0.0, integral=False)
        sums = np.bincount(classes[ok], weights=people[ok], minlength=len(breaks))
        items = [
            _legend_item(features, c, f"{t}{suffix} ({n:,.0f} {word})")
            for c, t, n in zip(colors, texts, sums, strict=True)
        ]
    unserved = ~ok
    if unserved.any():
        classes[unserved] = len(colors)
        items.append(_legend_item(features, _NONE,
                                 f"Unserved ({people[unserved].sum():,.0f} {word})"))  # fmt: skip
    legend = {
        "title": f"{label} to the site serving it",
        "note": "Classes of about equal numbers of demand rows.",
        "items": items,
    }
    return classes, [*colors, _NONE], legend


def _demand_layers(solution: Any, numbers: SolutionNumbers, features: _Features,
                   shared: SharedData, colour: np.ndarray, color: str, column: str | None,
                   unit: str | None, credit: str | None) -> list[VectorLayer]:  # fmt: skip
    rows = features.rows
    word = _people_word(column)
    what = group_label(column).lower() if column not in (None, "weight") else _people_word(column)
    site = numbers.site[rows]
    served = site >= 0
    total = numbers.total
    # by site
    classes = np.where(served, colour[np.maximum(site, 0)], len(_AREA_COLORS))
    used = sorted(set(classes[served].tolist()))
    n_sites = int((numbers.points[numbers.selected] > 0).sum())
    by_site_items = [
        {
            **_legend_item(features, _AREA_COLORS[used[0] if used else 0],
                          _people_label(f"Served by {n_sites:,} sites", numbers.served_people,
                                       total)),
            "colors": [_AREA_COLORS[c] for c in used] or [_AREA_COLORS[0]],
        },
        _legend_item(features, _NONE, _people_label("Unserved", numbers.unserved_people, total)),
    ]  # fmt: skip
    by_site = _view_layer(
        features, shared, classes, [*_AREA_COLORS, _NONE],
        {"title": f"Demand by site ({what})",
         "note": "Each site's demand in one colour; neighbouring areas differ.",
         "items": by_site_items},
        name="Demand by site", show=color == "site", attribution=credit,
    )  # fmt: skip
    # served or not
    served_legend = {
        "title": f"Demand served ({what})",
        "note": None,
        "items": [
            _legend_item(features, _WITHIN, _people_label("Served", numbers.served_people, total)),
            _legend_item(features, _NONE,
                        _people_label("Unserved", numbers.unserved_people, total)),
        ],
    }  # fmt: skip
    served_layer = _view_layer(features, shared, np.where(served, 0, 1), [_WITHIN, _NONE],
                              served_legend, name="Served / unserved", show=color == "served",
                              attribution=credit)  # fmt: skip
    # cost to the site
    classes, colors, legend = _cost_view(numbers, rows, features, word, unit)
    label, _ = _unit_words(unit)
    cost_layer = _view_layer(features, shared, classes, colors, legend,
                            name=f"{label} to the site", show=color == "cost",
                            attribution=credit)  # fmt: skip
    return [by_site, served_layer, cost_layer]


def _segments(start: np.ndarray, end: np.ndarray) -> tuple[list[int], list[list[int]]]:
    """Two-point lines (lon/lat) quantized and delta-encoded as a line spec's geometries."""
    a = np.round(start / QUANTUM_DEG).astype(np.int64)
    b = np.round(end / QUANTUM_DEG).astype(np.int64)
    origin = np.minimum(a.min(axis=0), b.min(axis=0))
    flat = np.hstack([a - origin, b - a])
    return origin.tolist(), flat.tolist()


def _lines_layer(solution: Any, numbers: SolutionNumbers, features: _Features,
                 site_points: gpd.GeoSeries, colour: np.ndarray, names: list[str],
                 unit: str | None, credit: str | None) -> VectorLayer | None:  # fmt: skip
    rows = features.rows
    site = numbers.site[rows]
    keep = (site >= 0) & _drawable(site_points.iloc[np.maximum(site, 0)])
    if not keep.any():
        return None
    start = features.metric[keep].to_crs(4326).representative_point().values
    end = site_points.iloc[site[keep]].values
    origin, geometries = _segments(shapely.get_coordinates(start), shapely.get_coordinates(end))
    kept = np.arange(len(geometries))
    label, _ = _unit_words(unit)
    picked = np.flatnonzero(keep)[kept]
    s = site[picked]
    columns = [
        encode_column(pd.Series([str(i) for i in solution.demand_ids[rows[picked]]]), "Demand"),
        encode_column(pd.Series([names[k] for k in s], dtype=object), "Served by"),
        encode_column(pd.Series(numbers.cost[rows[picked]]).round(1), label),
    ]
    spec = {
        "kind": "line",
        "quantum": QUANTUM_DEG,
        "origin": origin,
        "geometries": geometries,
        "columns": columns,
        "titleColumn": 0,
        "style": _LINE_STYLE,
        "colorOption": "color",
        "colors": list(_AREA_COLORS),
        "classes": [int(c) for c in colour[s]],
        "highlight": {"weight": 3, "opacity": 1},
        "unhighlight": _LINE_STYLE,
        "attribution": credit,
        "legend": {"title": None, "note": None,
                   "items": [{"kind": "line", "color": "#6b8fb8", "weight": 2,
                              "label": f"Demand to its site ({len(kept):,} lines)"}]},
    }  # fmt: skip
    return VectorLayer(spec, name=f"Lines to sites ({len(kept):,})", show=True)


def _catchments_layer(solution: Any, numbers: SolutionNumbers, features: _Features,
                      names: list[str], word: str, unit: str | None,
                      credit: str | None) -> VectorLayer | None:  # fmt: skip
    site = numbers.site[features.rows]
    served = site >= 0
    if not served.any():
        return None
    areas = features.areas[served].values
    keys = site[served]
    order = np.argsort(keys, kind="stable")
    keys, areas = keys[order], areas[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    sites = keys[starts]
    shapes = [
        shapely.simplify(shapely.union_all(areas[a:b]), 0.5)
        for a, b in zip(starts, ends, strict=True)
    ]
    lonlat = gpd.GeoSeries(shapes, crs=features.areas.crs).to_crs(4326)
    origin, geometries, kept = encode_geometries(lonlat.values, "line")
    if not len(kept):
        return None
    sites = sites[kept]
    label, _ = _unit_words(unit)
    columns = [
        encode_column(pd.Series([names[k] for k in sites], dtype=object), ""),
        encode_column(pd.Series(numbers.people[sites]), word.capitalize()),
        encode_column(pd.Series(numbers.points[sites]), "Demand points"),
        encode_column(pd.Series(numbers.mean_cost[sites]).round(1), f"Mean {label.lower()}"),
        encode_column(pd.Series([str(solution.site_ids[k]) for k in sites]), "Site id"),
    ]
    spec = {
        "kind": "line",
        "quantum": QUANTUM_DEG,
        "origin": origin,
        "geometries": geometries,
        "columns": columns,
        "titleColumn": 0,
        "style": _CATCHMENT_STYLE,
        "colorOption": "color",
        "highlight": {"weight": 4, "color": "#ffd400"},
        "unhighlight": {"weight": _CATCHMENT_STYLE["weight"], "color": _CATCHMENT_COLOR},
        "attribution": credit,
        "legend": {"title": None, "note": None,
                   "items": [{"kind": "line", "color": _CATCHMENT_COLOR,
                              "weight": _CATCHMENT_STYLE["weight"],
                              "label": f"Catchment outline ({len(kept):,})"}]},
    }  # fmt: skip
    return VectorLayer(spec, name=f"Catchments ({len(kept):,})", show=True)


def _selected_sites_layer(solution: Any, numbers: SolutionNumbers, sites: gpd.GeoDataFrame,
                          names: list[str], column: str | None, unit: str | None,
                          credit: str | None) -> VectorLayer | None:  # fmt: skip
    chosen = numbers.selected
    frame = sites.iloc[chosen]
    label, _ = _unit_words(unit)
    word = _people_word(column)
    columns = [
        encode_column(pd.Series([names[k] for k in chosen], dtype=object), ""),
        encode_column(pd.Series([str(solution.site_ids[k]) for k in chosen]), "Site id"),
    ]
    if numbers.load is not None:
        columns.append(encode_column(pd.Series(numbers.load[chosen]), "Load"))
    if column is not None:
        columns.append(encode_column(pd.Series(numbers.people[chosen]),
                                     f"{word.capitalize()} served"))  # fmt: skip
    columns += [
        encode_column(pd.Series(numbers.points[chosen]), "Demand points"),
        encode_column(pd.Series(numbers.mean_cost[chosen]).round(1), f"Mean {label.lower()}"),
    ]
    if numbers.load is not None:
        sizes, what = numbers.load[chosen], "load"
    elif column is not None:
        sizes, what = numbers.people[chosen], f"{word} served"
    else:
        sizes, what = numbers.points[chosen].astype(float), "demand points served"
    top = float(np.max(sizes)) if len(sizes) else float("nan")
    legend = {
        "title": "Selected sites",
        "note": f"Circle area shows {what} (largest {top:,.0f})." if np.isfinite(top) else None,
        "items": [{"kind": "point", "color": _SITE_COLOR,
                   "label": f"Selected site ({len(chosen):,})"}],
    }  # fmt: skip
    return _sites_layer(frame, columns, sizes, name=f"Selected sites ({len(chosen):,})",
                       legend=legend, attribution=credit)  # fmt: skip


def _heading(solution: Any, numbers: SolutionNumbers, column: str | None) -> str:
    model = _MODEL_NAMES.get(solution.model, solution.model)
    word = _people_word(column)
    share = numbers.served_people / numbers.total if numbers.total > 0 else float("nan")
    from svcnet.viz.plan_maps import _percent

    gap = f"{solution.gap:.2%}" if np.isfinite(solution.gap) else "unknown"
    return (
        f"{model} solution: {solution.p:,} sites; {_percent(share)} of {numbers.total:,.0f} "
        f"{word} served, {numbers.unserved_people:,.0f} unserved; objective "
        f"{solution.objective:,.6g}, gap {gap} ({solution.status})"
    )


def _check_layers(layers: Any) -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = (layers,)
    try:
        chosen = tuple(layers)
    except TypeError:
        msg = f"layers must be a list of layer names ({', '.join(SOLUTION_LAYERS)})"
        raise InputError(msg) from None
    unknown = [name for name in chosen if name not in SOLUTION_LAYERS]
    if unknown:
        msg = (
            f"unknown layer name(s) {', '.join(map(repr, unknown))}; "
            f"the layers are {', '.join(SOLUTION_LAYERS)}"
        )
        raise InputError(msg)
    return chosen


def explore_solution(
    solution: Any,
    m: folium.Map | None = None,
    *,
    layers: Sequence[str] = ("demand", "sites"),
    color: str = "site",
    weight: str | None | bool = None,
    attribution: Sequence[str] = (),
    tiles: str | folium.TileLayer | None = "OpenStreetMap",
    attr: str | None = None,
) -> folium.Map:
    """A folium map of a solution whose model was built with ``from_geodataframe``.

    Layers, chosen by ``layers`` (each with its legend, shown while it is on):

    * ``"demand"``: the demand rows (cells as cells, anything else as points)
      in three views, one at a time: ``"site"``, each site's demand in a
      colour its neighbours do not have; ``"served"``, served and unserved;
      ``"cost"``, the cost to the site serving it in classes. The legends give
      the weight (people) served and unserved. Hovering shows the demand id,
      its weight, its site and the cost;
    * ``"sites"``: the selected sites, circles sized by their load where the
      model has loads (capacitated), else by the weight they serve; hovering
      or clicking one shows its load, the weight and number of demand rows it
      serves and their mean cost;
    * ``"lines"``: a line from each served demand row to its site;
    * ``"catchments"``: the outline of each site's demand (the cells, or the
      points' Voronoi cells), hovering showing its totals.

    Parameters
    ----------
    solution
        A :class:`svcnet.models.Solution` from a model built with
        ``from_geodataframe`` (LSCP, MCLP, PMedian, PCenter).
    m
        A map to add the layers to (its view is left alone; layer names it
        already has get a number); a new one when None.
    layers
        Which of :data:`SOLUTION_LAYERS` to draw.
    color
        The view of the demand shown first: one of :data:`SOLUTION_VIEWS`.
    weight
        The demand column counted in legends and popups; default the model's
        ``weight``; False to count demand rows.
    attribution
        Credits of the data (shown while the layers are on).
    tiles, attr
        The basemap of a new map (see :func:`svcnet.viz.explore_region`);
        None for none (offline review).

    Returns
    -------
    folium.Map

    Raises
    ------
    InputError
        The solution was built from a plain cost matrix (no geometry); an
        unknown layer name or view; ``weight`` not a numeric demand column;
        ``m`` not a folium map.

    Examples
    --------
    >>> m = explore_solution(toy_solution(), tiles=None, layers=["demand", "sites", "lines"])
    >>> [c.layer_name for c in m._children.values() if hasattr(c, "spec_js")]
    ['Demand by site', 'Served / unserved', 'Metres to the site', 'Lines to sites (3)', \
'Selected sites (1)']
    """
    _check_map(m)
    chosen = _check_layers(layers)
    if color not in SOLUTION_VIEWS:
        msg = f"color must be one of {', '.join(SOLUTION_VIEWS)}; got {color!r}"
        raise InputError(msg)
    geo = _geo(solution)
    column = _weight_column(geo, weight)
    numbers = solution_numbers(solution, weight=False if column is None else column)
    demand, sites = geo["demand"], geo["sites"]
    unit = geo.get("unit")
    credit = attribution_html(_lines(attribution))
    names = _site_names(sites, solution.site_ids.tolist())
    features = _demand_features(demand)
    if m is None:
        shapes = [sites.geometry.iloc[numbers.selected]]
        if features is not None:
            shapes.append(features.metric)
        model = _MODEL_NAMES.get(solution.model, solution.model)
        m = _new_map(f"{model} solution (svcnet)", shapes, tiles, attr)
    out: list[VectorLayer | None] = []
    if features is not None:
        colour = _site_colours(features, numbers)
        if "demand" in chosen:
            shared = SharedData({**features.data, "titleColumn": 0,
                                 "columns": _demand_columns(solution, numbers, features, names,
                                                            column, unit)})  # fmt: skip
            shared.add_to(m)
            out += _demand_layers(solution, numbers, features, shared, colour, color, column,
                                  unit, credit)  # fmt: skip
        if "catchments" in chosen:
            out.append(_catchments_layer(solution, numbers, features, names,
                                         _people_word(column), unit, credit))  # fmt: skip
        if "lines" in chosen:
            points = sites.geometry.to_crs(4326)
            points = gpd.GeoSeries(
                [g if g is None or g.is_empty or g.geom_type == "Point"
                 else g.representative_point() for g in points], crs=4326)  # fmt: skip
            out.append(_lines_layer(solution, numbers, features, points, colour, names, unit,
                                    credit))  # fmt: skip
    else:
        logger.info("the solution's demand has no geometry to draw")
    if "sites" in chosen:
        out.append(_selected_sites_layer(solution, numbers, sites, names, column, unit, credit))
    _finish_map(m, out, _heading(solution, numbers, column))
    return m
