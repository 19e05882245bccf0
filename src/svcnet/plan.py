"""Plan: the result of a service planner — recommended sites, who they serve, and what changes.

A :class:`Plan` is immutable (every table it hands out is a copy). It holds

* ``sites``: the recommended sites, new and kept, ranked, each with a
  one-line ``reason`` a reviewer can check;
* ``assignment``: each demand cell, the site serving it (missing when
  unserved), the travel time after the plan and before it;
* ``areas``: each site's service area, dissolved from its cells;
* ``units``: the boundary units' polygons, when the planner gives them (maps
  draw the gap to the norm per unit on them);
* ``summary()``: before/after indicators per boundary unit and in total, the
  gap to the norms, equity, and the solver's gap and runtime;
* ``compare(other)``, ``explore()``, ``to_html()`` and ``to_files(folder)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from svcnet.errors import InputError

__all__ = ["Plan", "SITE_COLUMNS"]

#: Columns every plan's ``sites`` has (services may add more).
SITE_COLUMNS = (
    "site_id",
    "name",
    "status",
    "rank",
    "population_served",
    "capacity",
    "mean_minutes",
    "reason",
)
_ASSIGNMENT_COLUMNS = ("cell_id", "unit", "site_id", "minutes", "minutes_before")


class Plan:
    """An immutable service plan.

    Planners (:mod:`svcnet.services`) build plans; users read them.

    Parameters
    ----------
    service
        What is planned, e.g. ``"community service centers"``.
    region_name
        The region's name.
    sites
        GeoDataFrame with at least :data:`SITE_COLUMNS` and a geometry.
    assignment
        DataFrame with ``cell_id``, ``unit`` (the boundary unit of the cell),
        ``site_id`` (missing when unserved), ``minutes`` (travel time to it)
        and ``minutes_before`` (to the nearest facility before the plan; inf
        when none within reach), plus one column per population group.
    cells
        The demand cells (``cell_id`` and geometry), for areas and maps.
    unit_level
        The boundary level of ``assignment["unit"]`` (e.g. ``"district"``).
    threshold_minutes
        The travel time the plan is judged by (coverage within it).
    group
        The population group served (a column of ``assignment``).
    norms
        The norms used (:class:`svcnet.standards.Norm`), cited in reports.
    solver
        What the solver reported: ``model``, ``status``, ``objective``,
        ``bound``, ``gap``, ``seconds``, ``method`` (a mapping, or a list of
        mappings for plans solved in several parts).
    notes
        Sentences a reviewer must read: fallbacks taken, cells left unserved.
    parameters
        The planner's parameters, for the record.
    unit_table
        Extra per-unit columns from the planner (index: unit, plus ``"total"``).
    units
        The boundary units' polygons: a GeoDataFrame with a CRS and the unit
        labels of ``assignment["unit"]`` in a ``unit`` column or in a column
        named ``unit_level`` (as :attr:`svcnet.Region.boundaries` has them).
        Kept as ``unit`` (text) and geometry, rows of one label dissolved.
        Maps draw the gap to the norm per unit on them; without them they
        dissolve the cells by unit.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely.geometry import Point, box
    >>> sites = gpd.GeoDataFrame({"site_id": ["s1"], "name": ["A"], "status": ["new"],
    ...     "rank": [1], "population_served": [300], "capacity": [500.0],
    ...     "mean_minutes": [4.0], "reason": ["serves 300 people"]},
    ...     geometry=[Point(50, 50)], crs=32650)
    >>> cells = gpd.GeoDataFrame({"cell_id": ["a", "b"]},
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=32650)
    >>> assignment = pd.DataFrame({"cell_id": ["a", "b"], "unit": ["X", "X"],
    ...     "site_id": ["s1", "s1"], "minutes": [2.0, 6.0], "minutes_before": [9.0, 14.0],
    ...     "pop": [150, 150]})
    >>> plan = Plan("centers", "toy", sites, assignment, cells, unit_level="district",
    ...             threshold_minutes=10)
    >>> plan.summary().loc["total", ["pop", "within_10min_before", "within_10min_after"]].tolist()
    [300.0, 0.5, 1.0]
    """

    def __init__(
        self,
        service: str,
        region_name: str,
        sites: gpd.GeoDataFrame,
        assignment: pd.DataFrame,
        cells: gpd.GeoDataFrame,
        *,
        unit_level: str,
        threshold_minutes: float,
        group: str = "pop",
        norms: Sequence[Any] = (),
        solver: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        notes: Sequence[str] = (),
        parameters: Mapping[str, Any] | None = None,
        unit_table: pd.DataFrame | None = None,
        units: gpd.GeoDataFrame | None = None,
    ) -> None:
        _require_columns(sites, SITE_COLUMNS, "sites")
        _require_columns(assignment, (*_ASSIGNMENT_COLUMNS, group), "assignment")
        _require_columns(cells, ("cell_id",), "cells")
        fields = {
            "service": str(service),
            "region_name": str(region_name),
            "_sites": sites.copy(),
            "_assignment": assignment.reset_index(drop=True).copy(),
            "_cells": cells[["cell_id", "geometry"]].copy(),
            "unit_level": str(unit_level),
            "threshold_minutes": float(threshold_minutes),
            "group": str(group),
            "norms": tuple(norms),
            "solver": _frozen_solver(solver),
            "notes": tuple(str(n) for n in notes),
            "parameters": MappingProxyType(dict(parameters or {})),
            "_unit_table": None if unit_table is None else unit_table.copy(),
            "_units": None if units is None else _unit_polygons(units, str(unit_level)),
        }
        for key, value in fields.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("a Plan is immutable; planners build a new one")

    def __getstate__(self) -> dict[str, Any]:
        """The fields for pickle, the read-only mappings as dicts (they do not pickle)."""
        state = dict(self.__dict__)
        state["solver"] = [dict(record) for record in self.solver]
        state["parameters"] = dict(self.parameters)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled plan, read-only again."""
        state = {**state, "solver": _frozen_solver(state["solver"]),
                 "parameters": MappingProxyType(dict(state["parameters"]))}  # fmt: skip
        for key, value in state.items():
            object.__setattr__(self, key, value)

    # -- tables --------------------------------------------------------------------------
    @property
    def sites(self) -> gpd.GeoDataFrame:
        """The recommended sites (a copy), best-ranked first."""
        return self._sites.copy()

    @property
    def assignment(self) -> pd.DataFrame:
        """Each demand cell with the site serving it and its travel times (a copy)."""
        return self._assignment.copy()

    @property
    def cells(self) -> gpd.GeoDataFrame:
        """The demand cells (``cell_id``, geometry) with their assignment (a copy)."""
        return self._cells.merge(self._assignment, on="cell_id", how="left")

    @property
    def areas(self) -> gpd.GeoDataFrame:
        """Each site's service area: its cells dissolved, with the people in it."""
        cells = self.cells
        served = cells[cells["site_id"].notna()]
        if not len(served):
            return gpd.GeoDataFrame(
                {"site_id": [], self.group: []}, geometry=[], crs=self._cells.crs
            )
        areas = served.dissolve(by="site_id", aggfunc={self.group: "sum"}).reset_index()
        parts = areas.geometry.apply(_count_parts)
        areas["parts"] = parts.to_numpy()
        return areas[["site_id", self.group, "parts", "geometry"]]

    @property
    def units(self) -> gpd.GeoDataFrame | None:
        """The boundary units' polygons (``unit``, geometry; a copy), or None when not given."""
        return None if self._units is None else self._units.copy()

    @property
    def new_sites(self) -> gpd.GeoDataFrame:
        """The sites the plan adds."""
        return self._sites[self._sites["status"] == "new"].copy()

    @property
    def unserved(self) -> pd.DataFrame:
        """The demand cells no site serves."""
        return self._assignment[self._assignment["site_id"].isna()].copy()

    # -- indicators ----------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Before/after indicators per boundary unit, with a ``total`` row.

        Columns: the population of the plan's group, facilities before and
        after, people per facility after, the share of people within
        :attr:`threshold_minutes` before and after, the population-weighted
        mean and 90th percentile of the travel time before and after, the
        Gini coefficient of travel time across people before and after, the
        people left unserved, and the planner's own columns (gap to the norm
        ...). ``attrs`` holds ``solver`` (gap, runtime ...), ``norms`` (each
        norm's citation) and ``notes``.

        Returns
        -------
        pandas.DataFrame
            Indexed by unit, with ``"total"`` last.
        """
        from svcnet import indicators

        table = self._assignment
        people = table[self.group].to_numpy(dtype=float)
        units = table["unit"].astype(str).to_numpy()
        before = _as_minutes(table["minutes_before"])
        after = _as_minutes(table["minutes"].where(table["site_id"].notna()))
        t = self.threshold_minutes
        label = f"{t:g}min"
        parts = []
        for name, minutes in (("before", before), ("after", after)):
            frame = indicators.unit_table(units, pd.Series(people, name=self.group),
                                          value=minutes, threshold=t)  # fmt: skip
            frame = frame.rename(columns=_suffix_map(frame.columns, self.group, name, label))
            parts.append(frame)
        result = parts[0].join(parts[1].drop(columns=[self.group]))
        result.insert(1, "facilities_before", self._facility_counts("before", result.index))
        result.insert(2, "facilities_after", self._facility_counts("after", result.index))
        with np.errstate(divide="ignore", invalid="ignore"):
            result["people_per_facility"] = result[self.group] / result["facilities_after"]
        result["unserved"] = _by_unit(units, people * np.isnan(after), result.index)
        for name, minutes in (("before", before), ("after", after)):
            result[f"gini_minutes_{name}"] = _gini_by_unit(units, minutes, people, result.index)
        if self._unit_table is not None:
            result = result.join(self._unit_table, how="left")
        result.attrs["solver"] = [dict(s) for s in self.solver]
        result.attrs["norms"] = {n.name: n.citation for n in self.norms}
        result.attrs["notes"] = list(self.notes)
        return result

    def _facility_counts(self, when: str, index: pd.Index) -> np.ndarray:
        sites = self._sites
        if when == "before":
            sites = sites[sites["status"] == "existing"]
        unit_of = self._assignment.groupby("site_id")["unit"].agg(
            lambda s: s.value_counts().index[0]
        )
        units = sites["site_id"].map(unit_of).astype(object).fillna("(none)").astype(str)
        counts = units.value_counts()
        out = counts.reindex(index, fill_value=0).to_numpy(copy=True)
        out[list(index).index("total")] = len(sites)
        return out

    @property
    def solver_gap(self) -> float:
        """The certified relative gap of the plan (its ``total`` part when solved in parts)."""
        for record in self.solver:
            if record.get("part") == "total":
                return float(record["gap"])
        return max((float(s.get("gap", math.nan)) for s in self.solver), default=math.nan)

    @property
    def solver_seconds(self) -> float:
        """Seconds the solver took in all."""
        return float(sum(s.get("seconds", 0.0) for s in self.solver if s.get("part") != "total"))

    def solver_table(self) -> pd.DataFrame:
        """What the solver reported: one row per solved part (status, gap, seconds ...)."""
        return pd.DataFrame([dict(s) for s in self.solver])

    def norms_table(self) -> pd.DataFrame:
        """The norms this plan used, with their sources."""
        rows = [
            {"norm": n.name, "value": n.value, "unit": n.unit, "source": n.citation}
            for n in self.norms
        ]
        return pd.DataFrame(rows, columns=["norm", "value", "unit", "source"])

    def compare(self, other: Plan, *, labels: tuple[str, str] = ("this", "other")) -> pd.DataFrame:
        """Two plans side by side: their totals, sites and solver figures.

        Parameters
        ----------
        other
            Another plan (typically of the same service and region).
        labels
            Column names for the two plans.

        Returns
        -------
        pandas.DataFrame
            One row per indicator, one column per plan, and their difference.
        """
        if not isinstance(other, Plan):
            raise InputError(f"compare needs another Plan, got {type(other).__name__}")
        columns = {}
        for label, plan in zip(labels, (self, other), strict=True):
            total = plan.summary().loc["total"]
            extra = {
                "sites": len(plan._sites),
                "new sites": int((plan._sites["status"] == "new").sum()),
                "existing sites kept": int((plan._sites["status"] == "existing").sum()),
                "solver gap": plan.solver_gap,
                "solver seconds": plan.solver_seconds,
            }
            columns[label] = pd.concat([pd.Series(extra, dtype=float), total.astype(float)])
        table = pd.DataFrame(columns)
        table["difference"] = table[labels[1]] - table[labels[0]]
        return table

    # -- output --------------------------------------------------------------------------
    def explore(self, m: Any = None, **kwargs: Any) -> Any:
        """A folium map of the plan (see :func:`svcnet.viz.explore_plan`)."""
        from svcnet.viz.plan_maps import explore_plan

        return explore_plan(self, m, **kwargs)

    def to_html(self, path: str | Path | None = None, **kwargs: Any) -> str:
        """The offline review report (see :func:`svcnet.viz.plan_report`), written to ``path``.

        Returns
        -------
        str
            The HTML document.
        """
        from svcnet.io import write_html
        from svcnet.viz import plan_report

        page = plan_report(self, **kwargs)
        if path is not None:
            write_html(page, path)
        return page

    def to_files(self, folder: str | Path, *, protected: Sequence[str | Path] = ()) -> list[Path]:
        """Write the plan: a GeoPackage (sites, areas, cells, units) and CSV tables, atomically.

        The ``units`` layer (when the plan has unit polygons) carries each unit's
        row of :meth:`summary`: coverage before and after, gap to the norm.

        Parameters
        ----------
        folder
            The output folder (created).
        protected
            Input files that must not be overwritten.

        Returns
        -------
        list of Path
            The files written.
        """
        from svcnet.io import write_table, write_vector

        folder = Path(folder)
        stem = _slug(self.service)
        gpkg = folder / f"{stem}.gpkg"
        layers = {"sites": self.sites, "areas": self.areas, "cells": self.cells}
        if self._units is not None:
            per_unit = self.summary().drop(index="total", errors="ignore")
            layers["units"] = self.units.merge(per_unit, left_on="unit", right_index=True,
                                               how="left")  # fmt: skip
        for layer, frame in layers.items():
            write_vector(_plain_columns(frame), gpkg, layer=layer, protected=protected)
        written = [gpkg]
        tables = {
            "sites": pd.DataFrame(self.sites.to_crs(4326).assign(
                lon=lambda f: f.geometry.x, lat=lambda f: f.geometry.y
            ).drop(columns="geometry")),
            "assignment": self.assignment,
            "summary": self.summary().rename_axis("unit"),
            "solver": self.solver_table(),
            "norms": self.norms_table(),
        }  # fmt: skip
        for name, table in tables.items():
            path = folder / f"{stem}_{name}.csv"
            write_table(table, path, protected=protected)
            written.append(path)
        return written

    def __repr__(self) -> str:
        new = int((self._sites["status"] == "new").sum())
        kept = len(self._sites) - new
        unserved = float(self.unserved[self.group].sum())
        gap = self.solver_gap
        return (
            f"<Plan {self.service} for {self.region_name}: {new} new and {kept} existing "
            f"sites, {unserved:,.0f} people unserved, solver gap {gap:.2%}>"
        )


# =========================================================================================
# helpers
# =========================================================================================
def _require_columns(frame: pd.DataFrame, columns: Sequence[str], layer: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"a plan's {layer} lacks columns {missing}", layer=layer)


def _unit_polygons(units: Any, level: str) -> gpd.GeoDataFrame:
    """``units`` as ``unit`` (text) and polygon geometry, one row per unit."""
    if not isinstance(units, gpd.GeoDataFrame):
        msg = f"a plan's units must be a GeoDataFrame of polygons; got {type(units).__name__}"
        raise InputError(msg, layer="units")
    if units.crs is None:
        raise InputError("a plan's units have no CRS", layer="units")
    column = "unit" if "unit" in units.columns else level
    if column not in units.columns:
        msg = f"a plan's units need a 'unit' or {level!r} column with the unit labels"
        raise InputError(msg, layer="units")
    frame = gpd.GeoDataFrame(
        {"unit": units[column].astype(str).to_numpy()},
        geometry=units.geometry.to_numpy(),
        crs=units.crs,
    )
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    kinds = set(frame.geom_type)
    if not kinds <= {"Polygon", "MultiPolygon"}:
        msg = f"a plan's units must be polygons; got {sorted(kinds)}"
        raise InputError(msg, layer="units")
    if frame["unit"].duplicated().any():
        frame = frame.dissolve(by="unit").reset_index()
    return frame.reset_index(drop=True)


def _frozen_solver(solver: Any) -> tuple[Mapping[str, Any], ...]:
    if solver is None:
        return ()
    if isinstance(solver, Mapping):
        solver = [solver]
    return tuple(MappingProxyType(dict(s)) for s in solver)


def _as_minutes(values: pd.Series) -> np.ndarray:
    """Minutes as floats, NaN for "no facility within reach"."""
    minutes = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, copy=True)
    minutes[~np.isfinite(minutes)] = np.nan
    return minutes


def _suffix_map(columns: pd.Index, group: str, when: str, label: str) -> dict[str, str]:
    """``indicators.unit_table`` column names to the plan's before/after names."""
    renames = {}
    for column in columns:
        name = str(column)
        if name == group:
            continue
        if name.startswith("coverage_"):
            name = f"within_{label}"
        elif name.startswith("value_"):
            name = name.replace("value_", "") + "_minutes"
        renames[column] = f"{name}_{when}"
    return renames


def _by_unit(units: np.ndarray, values: np.ndarray, index: pd.Index) -> np.ndarray:
    sums = pd.Series(values).groupby(units).sum()
    out = sums.reindex(index, fill_value=0.0).to_numpy(dtype=float, copy=True)
    out[list(index).index("total")] = float(np.nansum(values))
    return out


def _gini_by_unit(units, minutes, people, index) -> np.ndarray:
    from svcnet.indicators import gini

    def one(mask: np.ndarray) -> float:
        keep = mask & np.isfinite(minutes) & (people > 0)
        if not keep.any():
            return math.nan
        return gini(minutes[keep], people[keep])

    out = [one(units == u) if u != "total" else one(np.ones(len(units), bool)) for u in index]
    return np.asarray(out, dtype=float)


def _count_parts(geometry: Any) -> int:
    return len(getattr(geometry, "geoms", [geometry]))


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text.lower()).strip("_")


def _plain_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns a GeoPackage can hold (object columns of mixed types become text)."""
    out = frame.copy()
    for column in out.columns:
        if column != out.geometry.name and out[column].dtype == object:
            out[column] = out[column].astype("string")
    return out
