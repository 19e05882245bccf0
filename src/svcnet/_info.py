"""``svcnet info``: a plain-text description of what svcnet sees in a data file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio

from svcnet.errors import InputError

_RASTER = (".tif", ".tiff", ".vrt", ".img")
_NETWORK = (".osm", ".osm.bz2", ".xml", ".graphml", ".graphml.gz")


def describe_file(path: str | Path) -> str:
    """Describe a vector, raster or road-network file: layers, CRS, rows, totals.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        A few lines of text.

    Examples
    --------
    >>> import tempfile, pathlib, geopandas as gpd
    >>> from shapely.geometry import Point
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "sites.geojson"
    >>> gpd.GeoDataFrame({"beds": [40, 60]}, geometry=[Point(114, 22.5)] * 2,
    ...     crs=4326).to_file(p)
    >>> print(describe_file(p).splitlines()[1])
    layer 'sites': 2 rows, Point, CRS EPSG:4326
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", file=path)
    name = path.name.lower()
    if name.endswith(_RASTER):
        return _describe_raster(path)
    if name.endswith(_NETWORK):
        return _describe_network(path)
    return _describe_vector(path)


def _describe_raster(path: Path) -> str:
    from svcnet.io import read_population_raster

    raster = read_population_raster(path)
    valid = int(np.isfinite(raster.values).sum())
    return "\n".join(
        [
            f"{path}: raster {raster.shape[0]} x {raster.shape[1]} cells",
            f"CRS {raster.crs.to_string()}; cell size {raster.cell_size[0]:g} x "
            f"{raster.cell_size[1]:g}; nodata {raster.nodata}",
            f"{valid:,} cells with data; total {raster.total:,.1f}",
        ]
    )


def _describe_network(path: Path) -> str:
    from svcnet.io import read_network

    graph = read_network(path)
    length_km = sum(d.get("length", 0.0) for _, _, d in graph.edges(data=True)) / 1000
    return "\n".join(
        [
            f"{path}: road network",
            f"{graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges, "
            f"{length_km:,.1f} km of edges; CRS {graph.graph.get('crs')}",
        ]
    )


def _describe_vector(path: Path) -> str:
    from svcnet.io import read_vector

    if path.suffix.lower() in (".csv", ".txt", ".parquet", ".geoparquet"):
        layers = [path.stem]
    else:
        try:
            layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        except Exception as exc:  # noqa: BLE001 - any failure means: not readable geodata
            raise InputError("not a readable vector file", file=path) from exc
    lines = [f"{path}: {len(layers)} layer(s)"]
    for layer in layers:
        try:
            frame = read_vector(path, layer=None if len(layers) == 1 else layer)
            crs = frame.crs.to_string()
        except InputError as exc:
            if "CRS" not in str(exc) and "crs" not in str(exc):
                raise
            frame = read_vector(path, layer=None if len(layers) == 1 else layer, crs=4326)
            crs = "none declared"
        kinds = ", ".join(sorted(set(frame.geom_type.dropna())))
        lines.append(f"layer '{layer}': {len(frame):,} rows, {kinds}, CRS {crs}")
        numeric = frame.drop(columns=frame.geometry.name).select_dtypes("number")
        if len(numeric.columns):
            totals = ", ".join(f"{c} {v:,.0f}" for c, v in numeric.sum().items())
            lines.append(f"  totals: {totals}")
        text = [c for c in frame.columns if c != frame.geometry.name and c not in numeric.columns]
        if text:
            lines.append(f"  other columns: {', '.join(map(str, text))}")
    return "\n".join(lines)


__all__ = ["describe_file"]
