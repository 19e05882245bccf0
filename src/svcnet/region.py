"""The Region: every layer a plan needs, validated once, in one metric CRS.

A :class:`Region` holds boundaries by level (district, subdistrict,
community: whichever exist), the population grid, existing facilities,
candidate sites and, loaded lazily, the road network. It checks every layer
when it is built and keeps its own copies, so nothing the caller passed is
changed and nothing done to what it hands out changes it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from pyproj import CRS

from svcnet._validate import check_counts, check_geodataframe
from svcnet.crs import as_metric_crs, estimate_metric_crs, is_metric
from svcnet.demand import POPULATION_GROUPS, aggregate_grid, demand_from_grid, grid_from_raster
from svcnet.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["Region"]

PathLike = str | os.PathLike[str]
NetworkSource = nx.MultiDiGraph | PathLike | Callable[[], nx.MultiDiGraph] | None

_RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img")
_POLYGONAL = ("Polygon", "MultiPolygon")
_FACILITY_COLUMNS = ("facility_id", "name", "service", "capacity")
_CANDIDATE_COLUMNS = ("candidate_id", "kind", "category", "name")


class Region:
    """An immutable, validated set of planning layers for one area.

    Parameters
    ----------
    population
        The population grid: one row per cell, with a unique ``cell_id``, a
        ``pop`` column and, where known, the age groups ``pop_0_14``,
        ``pop_60plus`` and ``pop_65plus``; polygon (or point) geometries with a CRS.
    boundaries
        Mapping from level name (``"city"``, ``"district"``, ``"subdistrict"``,
        ``"community"`` ...) to a polygon layer whose column named after the
        level holds the unique unit names.
    facilities
        Existing facilities: ``facility_id`` (unique), ``service`` and, where
        known, ``capacity``; missing ``name``/``capacity`` columns are added empty.
    candidates
        Candidate sites: ``candidate_id`` (unique); ``kind``/``category``/``name`` are
        added empty when missing.
    network
        The road network: an osmnx graph, a file (``.osm``, ``.graphml``,
        ``.graphml.gz``) read on first use, a function returning a graph, or None.
    name
        The region's name, shown in summaries and maps.
    crs
        The metric CRS for every layer; by default the UTM zone of the population.
    sources
        The files the layers came from. Writers refuse to overwrite them.
    attribution
        Attribution lines owed to the data's licensors (e.g. OpenStreetMap).
    repair
        Repair invalid geometries instead of raising.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> grid = gpd.GeoDataFrame({"cell_id": ["a", "b"], "pop": [120, 80]},
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=32650)
    >>> region = Region(grid, name="toy")
    >>> int(region.population["pop"].sum())
    200
    """

    def __init__(
        self,
        population: gpd.GeoDataFrame,
        *,
        boundaries: Mapping[str, gpd.GeoDataFrame] | None = None,
        facilities: gpd.GeoDataFrame | None = None,
        candidates: gpd.GeoDataFrame | None = None,
        network: NetworkSource = None,
        name: str = "region",
        crs: object | None = None,
        sources: Iterable[PathLike] = (),
        attribution: Iterable[str] = (),
        repair: bool = False,
    ) -> None:
        grid = _check_population(population, repair=repair)
        target = _choose_crs(grid, crs)
        layers = {
            "_population": grid.to_crs(target),
            "_boundaries": MappingProxyType(
                {
                    level: _check_boundary(level, layer, repair=repair).to_crs(target)
                    for level, layer in (boundaries or {}).items()
                }
            ),
            "_facilities": _check_points(
                facilities, "facilities", "facility_id", _FACILITY_COLUMNS, target, repair
            ),
            "_candidates": _check_points(
                candidates, "candidates", "candidate_id", _CANDIDATE_COLUMNS, target, repair
            ),
            "_network_source": network,
            "name": str(name),
            "crs": target,
            "sources": tuple(Path(s) for s in sources),
            "attribution": tuple(attribution),
        }
        if "service" not in layers["_facilities"].columns:
            raise InputError("missing column", layer="facilities", column="service")
        check_counts(
            layers["_facilities"].dropna(subset=["capacity"]),
            ["capacity"],
            layer="facilities",
            id_column="facility_id",
        )
        for key, value in layers.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        msg = f"Region is immutable; use region.replace({key}=...) for a changed copy"
        raise AttributeError(msg)

    # -- layers ----------------------------------------------------------------
    @property
    def population(self) -> gpd.GeoDataFrame:
        """The population grid (a copy): ``cell_id``, ``pop`` and age groups."""
        return self._population.copy()

    @property
    def boundaries(self) -> Mapping[str, gpd.GeoDataFrame]:
        """Boundary layers by level, from coarsest to finest (copies)."""
        return MappingProxyType({k: v.copy() for k, v in self._boundaries.items()})

    @property
    def levels(self) -> tuple[str, ...]:
        """The boundary levels this region has."""
        return tuple(self._boundaries)

    @property
    def facilities(self) -> gpd.GeoDataFrame:
        """Existing facilities (a copy): ``facility_id``, ``name``, ``service``, ``capacity``."""
        return self._facilities.copy()

    @property
    def candidates(self) -> gpd.GeoDataFrame:
        """Candidate sites (a copy): ``candidate_id``, ``kind``, ``category``, ``name``."""
        return self._candidates.copy()

    @property
    def groups(self) -> tuple[str, ...]:
        """The population groups (columns) this region's grid has."""
        return tuple(g for g in POPULATION_GROUPS if g in self._population.columns)

    @cached_property
    def network(self) -> nx.MultiDiGraph | None:
        """The road network (an osmnx graph, unprojected as osmnx makes it), or None.

        Read from its file on first use and kept.
        """
        source = self._network_source
        if source is None or isinstance(source, nx.MultiDiGraph):
            return source
        if callable(source):
            graph = source()
        else:
            from svcnet.io import read_network

            graph = read_network(source)
        if not isinstance(graph, nx.MultiDiGraph):
            msg = f"the network loader returned {type(graph).__name__}, not a MultiDiGraph"
            raise InputError(msg, layer="network")
        return graph

    @property
    def has_network(self) -> bool:
        """Whether the region has a road network (without loading it)."""
        return self._network_source is not None

    # -- derived ---------------------------------------------------------------
    def demand(self, group: str = "pop") -> gpd.GeoDataFrame:
        """Weighted demand points for a population group.

        See :func:`svcnet.demand.demand_from_grid`.

        Examples
        --------
        >>> import geopandas as gpd
        >>> from shapely.geometry import box
        >>> grid = gpd.GeoDataFrame({"cell_id": ["a", "b"], "pop": [120, 0]},
        ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=32650)
        >>> Region(grid).demand()["weight"].tolist()
        [120]
        """
        if group not in self._population.columns:
            msg = f"the population grid has no such group; it has {', '.join(self.groups)}"
            raise InputError(msg, layer="population", column=group)
        return demand_from_grid(self._population, group, crs=self.crs)

    def summary(self, level: str | None = None) -> pd.DataFrame:
        """Population, elderly, children, area and density by boundary unit.

        Parameters
        ----------
        level
            One boundary level; by default every level, then the whole region.

        Returns
        -------
        pandas.DataFrame
            One row per unit: ``level``, ``unit``, the population groups,
            ``area_km2``, ``density_per_km2`` and the shares (%) of children and
            people aged 60+ and 65+. Cells count in the unit holding their
            representative point.

        Examples
        --------
        >>> import geopandas as gpd
        >>> from shapely.geometry import box
        >>> grid = gpd.GeoDataFrame({"cell_id": ["a"], "pop": [500]},
        ...     geometry=[box(0, 0, 1000, 1000)], crs=32650)
        >>> Region(grid).summary()[["unit", "pop", "area_km2", "density_per_km2"]].values.tolist()
        [['region', 500, 1.0, 500.0]]
        """
        if level is not None and level not in self._boundaries:
            msg = f"no boundary level {level!r}; the region has {', '.join(self.levels) or 'none'}"
            raise InputError(msg)
        levels = [level] if level is not None else list(self._boundaries)
        tables = [self._summary_of(lvl) for lvl in levels]
        if level is None:
            tables.append(self._summary_total())
        return pd.concat(tables, ignore_index=True)

    def _summary_of(self, level: str) -> pd.DataFrame:
        units = self._boundaries[level]
        sums = aggregate_grid(
            self._population, units=units, unit_id=level, columns=list(self.groups)
        )
        table = units[[level]].merge(sums.drop(columns="geometry"), on=level, how="left")
        table = table.fillna({g: 0 for g in self.groups})
        table.insert(0, "level", level)
        table = table.rename(columns={level: "unit"})
        table["area_km2"] = units.area.to_numpy() / 1e6
        return _add_rates(table)

    def _summary_total(self) -> pd.DataFrame:
        grid = self._population
        if self._boundaries:
            area = float(next(iter(self._boundaries.values())).union_all().area) / 1e6
        else:
            area = float(grid.union_all().area) / 1e6
        row = {"level": "total", "unit": self.name}
        row.update({g: grid[g].sum() for g in self.groups})
        row["area_km2"] = area
        return _add_rates(pd.DataFrame([row]))

    def replace(self, **changes: Any) -> Region:
        """A new Region with some layers changed (the others kept), validated again.

        Examples
        --------
        >>> import geopandas as gpd
        >>> from shapely.geometry import box
        >>> grid = gpd.GeoDataFrame({"cell_id": ["a"], "pop": [5]},
        ...     geometry=[box(0, 0, 100, 100)], crs=32650)
        >>> Region(grid, name="a").replace(name="b").name
        'b'
        """
        current = {
            "population": self._population,
            "boundaries": self._boundaries,
            "facilities": self._facilities,
            "candidates": self._candidates,
            "network": self._network_source,
            "name": self.name,
            "crs": self.crs,
            "sources": self.sources,
            "attribution": self.attribution,
        }
        unknown = set(changes) - set(current)
        if unknown:
            msg = f"unknown layer(s) {', '.join(sorted(unknown))}; use {', '.join(current)}"
            raise InputError(msg)
        current.update(changes)
        return Region(current.pop("population"), **current)

    def explore(self, m: Any = None, **kwargs: Any) -> Any:
        """A folium map of the population grid and the boundaries.

        See :func:`svcnet.viz.explore_region` for the options.

        Examples
        --------
        >>> import geopandas as gpd
        >>> from shapely.geometry import box
        >>> grid = gpd.GeoDataFrame({"cell_id": ["a"], "pop": [5]},
        ...     geometry=[box(800000, 2495000, 800100, 2495100)], crs=32649)
        >>> type(Region(grid).explore()).__name__
        'Map'
        """
        from svcnet.viz import explore_region

        return explore_region(self, m=m, **kwargs)

    def plot(self, column: str = "pop", **kwargs: Any) -> Any:
        """A static matplotlib map for documents (see :func:`svcnet.viz.plot_region`).

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import geopandas as gpd
        >>> from shapely.geometry import box
        >>> grid = gpd.GeoDataFrame({"cell_id": ["a", "b"], "pop": [5, 9]},
        ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=32650)
        >>> Region(grid, name="toy").plot().get_title()
        'toy: Population per cell'
        """
        from svcnet.viz import plot_region

        return plot_region(self, column, **kwargs)

    def __repr__(self) -> str:
        groups = ", ".join(self.groups)
        return (
            f"<Region {self.name!r}: {len(self._population):,} cells ({groups}), "
            f"population {self._population['pop'].sum():,.0f}; "
            f"levels {list(self.levels)}; {len(self._facilities)} facilities; "
            f"{len(self._candidates)} candidates; network {'yes' if self.has_network else 'no'}; "
            f"crs {self.crs.to_string()}>"
        )

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(repr(self))}</pre>" + self.summary().to_html(
            index=False, float_format=lambda v: f"{v:,.1f}"
        )

    # -- construction from files ----------------------------------------------
    @classmethod
    def from_files(
        cls,
        population: PathLike,
        *,
        boundaries: Mapping[str, PathLike] | None = None,
        facilities: PathLike | None = None,
        candidates: PathLike | None = None,
        network: PathLike | None = None,
        datum: str | Mapping[str, str] = "wgs84",
        columns: Mapping[str, Mapping[str, str]] | None = None,
        ids: Mapping[str, str] | None = None,
        layers: Mapping[str, str] | None = None,
        cell_size: float | None = None,
        name: str | None = None,
        crs: object | None = None,
        repair: bool = False,
    ) -> Region:
        """Build a Region from the planner's own files, for any city.

        Parameters
        ----------
        population
            A population grid (any vector format :func:`svcnet.io.read_vector`
            reads) or a population raster (GeoTIFF as WorldPop/GHSL publish it).
        boundaries
            Level name to boundary file, e.g. ``{"district": "districts.gpkg"}``.
        facilities, candidates
            Point (or polygon) files of existing facilities and candidate sites.
        network
            A road network file (``.osm``, ``.graphml``, ``.graphml.gz``), read lazily.
        datum
            The datum of the files' lon/lat coordinates: ``"wgs84"``, ``"gcj02"`` or
            ``"bd09"`` (Chinese web maps), for all files or per layer name
            (``"population"``, ``"facilities"``, ``"candidates"`` or a level name).
            The library converts declared datums to WGS84; it never guesses.
        columns
            Renames from your column names to svcnet's, by layer name, e.g.
            ``{"population": {"POP2020": "pop"}, "facilities": {"BEDS": "capacity"}}``.
        ids
            The id column of each layer when not svcnet's name, e.g.
            ``{"population": "GRID_ID", "district": "NAME", "facilities": "ID"}``.
        layers
            The layer to read from multi-layer files, by layer name.
        cell_size
            For a raster: sum its pixels into square cells of this size (metres).
        name
            The region's name (default: the population file's stem).
        crs
            The metric CRS (default: UTM from the population's extent).
        repair
            Repair invalid geometries instead of raising.

        Returns
        -------
        Region

        Examples
        --------
        >>> import tempfile, pathlib, geopandas as gpd
        >>> from shapely.geometry import box
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> gpd.GeoDataFrame({"ID": ["a"], "POP": [7]}, geometry=[box(0, 0, 100, 100)],
        ...     crs=32650).to_file(folder / "grid.gpkg")
        >>> region = Region.from_files(folder / "grid.gpkg",
        ...     columns={"population": {"POP": "pop"}}, ids={"population": "ID"})
        >>> region.population[["cell_id", "pop"]].values.tolist()
        [['a', 7]]
        """
        from svcnet.io import read_population_raster, read_vector

        ids = dict(ids or {})
        renames = {layer: dict(mapping) for layer, mapping in (columns or {}).items()}
        layers = dict(layers or {})

        def datum_of(layer: str) -> str:
            return datum.get(layer, "wgs84") if isinstance(datum, Mapping) else datum

        def read(path: PathLike, layer: str) -> gpd.GeoDataFrame:
            try:
                frame = read_vector(path, layer=layers.get(layer), datum=datum_of(layer))
            except InputError as exc:
                if exc.layer is None:
                    exc = type(exc)(exc.message, file=exc.file, layer=layer, column=exc.column,
                                    rows=exc.rows)  # fmt: skip
                    raise exc from exc.__cause__
                raise
            return frame

        pop_path = Path(population)
        if pop_path.name.lower().endswith(_RASTER_SUFFIXES):
            raster = read_population_raster(pop_path)
            grid = grid_from_raster(raster, crs=crs)
            if cell_size is not None:
                grid = aggregate_grid(grid, cell_size=cell_size, columns=["pop"])
        else:
            grid = read(pop_path, "population")
            grid = _renamed(grid, renames.get("population", {}), ids.get("population"),
                            "cell_id", "population", pop_path)  # fmt: skip
        bounds = {}
        for level, path in (boundaries or {}).items():
            frame = read(path, level)
            bounds[level] = _renamed(
                frame, renames.get(level, {}), ids.get(level), level, level, Path(path)
            )
        extra = {}
        for layer, path, key in (
            ("facilities", facilities, "facility_id"),
            ("candidates", candidates, "candidate_id"),
        ):
            if path is not None:
                frame = read(path, layer)
                extra[layer] = _renamed(
                    frame, renames.get(layer, {}), ids.get(layer), key, layer, Path(path)
                )
        given = [population, *(boundaries or {}).values(), facilities, candidates, network]
        return cls(
            grid,
            boundaries=bounds,
            network=network,
            name=name or pop_path.stem,
            crs=crs,
            sources=[p for p in given if p is not None],
            repair=repair,
            **extra,
        )


def _renamed(
    frame: gpd.GeoDataFrame,
    columns: Mapping[str, str],
    id_column: str | None,
    key: str,
    layer: str,
    path: Path,
) -> gpd.GeoDataFrame:
    renames = dict(columns)
    if id_column is not None:
        renames[id_column] = key
    missing = [c for c in renames if c not in frame.columns]
    if missing:
        msg = f"no such column to use; the file has {', '.join(map(str, frame.columns))}"
        raise InputError(msg, file=path, layer=layer, column=missing[0])
    frame = frame.rename(columns=renames)
    if key not in frame.columns:
        msg = (
            f"no '{key}' column; name the id column with ids={{'{layer}': 'YOUR_COLUMN'}} "
            f"(the file has {', '.join(map(str, frame.columns))})"
        )
        raise InputError(msg, file=path, layer=layer, column=key)
    return frame


def _choose_crs(grid: gpd.GeoDataFrame, crs: object | None) -> CRS:
    if crs is None:
        return grid.crs if is_metric(grid.crs) else estimate_metric_crs(grid)
    return as_metric_crs(crs)


def _check_population(population: object, *, repair: bool) -> gpd.GeoDataFrame:
    grid = check_geodataframe(
        population,
        layer="population",
        id_column="cell_id",
        required=["pop"],
        geometry_types=(*_POLYGONAL, "Point"),
        repair=repair,
    )
    groups = [g for g in POPULATION_GROUPS if g in grid.columns]
    check_counts(grid, groups, layer="population", id_column="cell_id")
    for part, whole in (("pop_0_14", "pop"), ("pop_60plus", "pop"), ("pop_65plus", "pop_60plus")):
        if part in grid.columns and whole in grid.columns:
            over = (grid[part] > grid[whole]).to_numpy()
            if over.any():
                msg = f"{int(over.sum())} cells have more people in {part} than in {whole}"
                raise InputError(
                    msg, layer="population", column=part, rows=grid.loc[over, "cell_id"]
                )
    return grid


def _check_boundary(level: str, layer: object, *, repair: bool) -> gpd.GeoDataFrame:
    if not isinstance(level, str) or not level:
        msg = f"boundary levels must be named by non-empty strings; got {level!r}"
        raise InputError(msg)
    return check_geodataframe(
        layer, layer=level, id_column=level, geometry_types=_POLYGONAL, repair=repair
    )


def _check_points(
    frame: gpd.GeoDataFrame | None,
    layer: str,
    key: str,
    columns: tuple[str, ...],
    crs: CRS,
    repair: bool,
) -> gpd.GeoDataFrame:
    if frame is None:
        empty = {c: pd.Series(dtype="float64" if c == "capacity" else "object") for c in columns}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    checked = check_geodataframe(frame, layer=layer, id_column=key, allow_empty=True, repair=repair)
    for column in columns:
        if column not in checked.columns and column != "service":
            checked[column] = np.nan if column == "capacity" else None
    return checked.to_crs(crs)


def _add_rates(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        table["density_per_km2"] = (table["pop"] / table["area_km2"]).round(1)
        for group, label in (
            ("pop_0_14", "share_0_14_pct"),
            ("pop_60plus", "share_60plus_pct"),
            ("pop_65plus", "share_65plus_pct"),
        ):
            if group in table.columns:
                table[label] = (100 * table[group] / table["pop"]).round(2)
    table["area_km2"] = table["area_km2"].round(3)
    return table
