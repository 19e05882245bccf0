"""Read and write svcnet's files: vector layers, population rasters and road networks.

Every reader checks its file at the door and raises
:class:`~svcnet.errors.InputError` (or :class:`~svcnet.errors.CRSError` for a
missing or contradictory coordinate reference system) naming the file, and the
layer or column where one is at fault, instead of letting a GDAL, pyogrio,
rasterio or XML traceback through. The original exception is chained as
``__cause__``.

Every writer is atomic: the output is written to a temporary file in the
target's directory and moved onto the target with :func:`os.replace`, so a
reader never sees half a file and a failed write leaves the old file as it was.
Writers refuse to overwrite the caller's input files (``protected=``).

Coordinates and datums
----------------------
svcnet never guesses a CRS or a datum. A file without a CRS (a CSV, a
shapefile without ``.prj``) must be declared with ``crs=`` or ``datum=``.
Longitude/latitude taken from Chinese web maps are on the GCJ-02 or BD-09
datums, 300-700 m off WGS84; declare them with ``datum="gcj02"`` or
``datum="bd09"`` and the result is converted to WGS84 (EPSG:4326).

Examples
--------
>>> import tempfile, pathlib, geopandas as gpd
>>> from shapely.geometry import Point
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> sites = gpd.GeoDataFrame({"name": ["clinic"]}, geometry=[Point(114.05, 22.54)], crs=4326)
>>> write_vector(sites, folder / "sites.gpkg", layer="sites")
>>> read_vector(folder / "sites.gpkg")["name"].tolist()
['clinic']
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from svcnet.errors import CRSError, InputError

if TYPE_CHECKING:
    import networkx as nx
    from affine import Affine

__all__ = [
    "PopulationRaster",
    "read_vector",
    "read_population_raster",
    "read_network",
    "network_from_place",
    "write_vector",
    "write_table",
    "write_text",
    "write_html",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

# -- suffixes ----------------------------------------------------------------------------
_GZ_VECTOR_SUFFIXES = (".geojson.gz", ".json.gz")
_OGR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip")
_PARQUET_SUFFIXES = (".parquet", ".geoparquet")
_CSV_SUFFIXES = (".csv", ".txt")
_VECTOR_SUFFIXES = _GZ_VECTOR_SUFFIXES + _OGR_SUFFIXES + _PARQUET_SUFFIXES + _CSV_SUFFIXES
_WRITE_VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json") + _PARQUET_SUFFIXES + (".csv",)
_TABLE_SUFFIXES = (".csv",) + _PARQUET_SUFFIXES
_OSM_XML_SUFFIXES = (".osm", ".xml", ".osm.bz2", ".xml.bz2", ".osm.gz", ".xml.gz")
_GRAPHML_SUFFIXES = (".graphml", ".graphml.gz")

# -- CSV coordinate columns -------------------------------------------------------------
_LON_NAMES = ("lon", "lng", "long", "longitude", "x")
_LAT_NAMES = ("lat", "latitude", "y")
_WKT_NAMES = ("geometry", "wkt")
_CSV_DELIMITERS = (",", ";", "\t", "|")

# -- OSM -----------------------------------------------------------------------------------
# ``highway`` values that are not (yet, or any more) usable roads; osmnx's own
# network filters leave these out too.
_NOT_ROADS = frozenset(
    {
        "abandoned",
        "construction",
        "disused",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
    }
)


# =========================================================================================
# shared helpers
# =========================================================================================
def _suffix_of(path: Path, suffixes: Iterable[str]) -> str | None:
    """Return the (longest) suffix of ``suffixes`` that ``path``'s name ends with."""
    name = path.name.lower()
    matches = [s for s in suffixes if name.endswith(s)]
    return max(matches, key=len) if matches else None


def _require_suffix(path: Path, suffixes: tuple[str, ...], what: str) -> str:
    suffix = _suffix_of(path, suffixes)
    if suffix is None:
        msg = (
            f"cannot tell the format of this {what} from its name; use one of {', '.join(suffixes)}"
        )
        raise InputError(msg, file=path)
    return suffix


def _check_readable_file(path: Path, what: str) -> None:
    """Raise InputError unless ``path`` is an existing regular file."""
    if not path.exists():
        msg = f"no such {what}"
        raise InputError(msg, file=path)
    if path.is_dir():
        msg = f"not a readable {what}: it is a directory"
        raise InputError(msg, file=path)
    if not os.access(path, os.R_OK):
        msg = f"the {what} cannot be read (permission denied)"
        raise InputError(msg, file=path)


def _crs_name(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else crs.name


def _same_crs(a: pyproj.CRS, b: pyproj.CRS) -> bool:
    if a == b or a.equals(b, ignore_axis_order=True):
        return True
    epsg_a, epsg_b = a.to_epsg(min_confidence=70), b.to_epsg(min_confidence=70)
    return epsg_a is not None and epsg_a == epsg_b


def _parse_crs(crs: object, path: Path) -> pyproj.CRS | None:
    if crs is None:
        return None
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        msg = f"crs={crs!r} is not a CRS pyproj understands (try an EPSG code such as 4326)"
        raise CRSError(msg, file=path) from exc


def _check_datum(datum: str | None, path: Path) -> str | None:
    if datum is None:
        return None
    from svcnet import crs as _crs

    if datum not in _crs.DATUMS:
        msg = f"datum must be one of {', '.join(repr(d) for d in _crs.DATUMS)}; got {datum!r}"
        raise InputError(msg, file=path)
    return datum


def _protected_list(protected: Iterable[PathLike] | PathLike) -> list[Path]:
    if isinstance(protected, (str, os.PathLike)):
        protected = [protected]
    return [Path(p).resolve() for p in protected]


@contextlib.contextmanager
def _atomic_path(path: PathLike, protected: Iterable[PathLike] | PathLike = ()) -> Iterator[Path]:
    """Yield a temporary path to write to; on success move it onto ``path``.

    The temporary file lives in a fresh hidden directory beside the target (so
    :func:`os.replace` stays on one file system and the temporary file keeps the
    target's exact name and suffix, which GDAL uses to pick a driver). Whatever
    happens, the temporary directory is removed; on an exception the target is
    untouched.

    Raises
    ------
    InputError
        If the target resolves to one of the ``protected`` paths, is a
        directory, or its folder cannot be made or written to.
    """
    target = Path(path)
    resolved = target.resolve()
    if resolved in _protected_list(protected):
        msg = "refusing to overwrite an input file; write the output somewhere else"
        raise InputError(msg, file=target)
    if target.is_dir():
        msg = "cannot write: the target is a directory"
        raise InputError(msg, file=target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmpdir = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".svcnet-tmp", dir=target.parent)
        )
    except OSError as exc:
        msg = f"cannot write there: {exc.strerror or exc}"
        raise InputError(msg, file=target) from exc
    try:
        tmp = tmpdir / target.name
        yield tmp
        if not tmp.exists():
            msg = "the writer produced no file"
            raise InputError(msg, file=target)
        os.replace(tmp, target)
        logger.debug("wrote %s", target)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


# =========================================================================================
# vector layers
# =========================================================================================
def read_vector(
    path: PathLike,
    *,
    layer: str | None = None,
    datum: str | None = None,
    crs: object | None = None,
    lon: str | None = None,
    lat: str | None = None,
) -> gpd.GeoDataFrame:
    r"""Read a vector layer (GeoPackage, GeoJSON, Shapefile, GeoParquet or CSV).

    The format is told by the file's suffix: ``.gpkg``; ``.geojson``/``.json``
    (also gzipped, ``.geojson.gz``); ``.shp`` or a zipped shapefile ``.zip``;
    ``.parquet``/``.geoparquet`` (GeoParquet); ``.csv``/``.txt`` (points from
    longitude/latitude columns, or shapes from a WKT column named ``geometry``
    or ``wkt``). The data are returned as read; checking their contents is left
    to the caller (see :mod:`svcnet._validate`).

    Parameters
    ----------
    path
        The file.
    layer
        The layer of a multi-layer file (GeoPackage). May be left out when the
        file has only one layer.
    datum
        The datum of the data's longitude/latitude: ``"wgs84"``, ``"gcj02"`` or
        ``"bd09"``. GCJ-02 and BD-09 data (Chinese web maps) are converted to
        WGS84 (EPSG:4326) with :func:`svcnet.crs.to_wgs84`; they must be
        lon/lat (a file with a projected CRS is refused). ``"wgs84"`` declares
        EPSG:4326 for a file without a CRS and changes nothing otherwise.
    crs
        The CRS of a file that has none (anything :class:`pyproj.CRS` accepts).
        It is set, not reprojected to. If the file has a CRS, ``crs`` must
        agree with it.
    lon, lat
        CSV only: the names of the longitude (x) and latitude (y) columns. By
        default they are found case-insensitively among ``lon, lng, long,
        longitude, x`` and ``lat, latitude, y``.

    Returns
    -------
    geopandas.GeoDataFrame
        The layer, with a CRS. A CSV keeps its coordinate columns as read (in
        the declared datum); only the geometry is converted. CSV row numbers in
        messages count data rows from 0, like the returned index.

    Raises
    ------
    InputError
        The file is missing, is a directory, is not readable geodata, has no
        such layer (or several layers and none was chosen); a CSV's coordinate
        columns cannot be found or hold non-numeric, missing or out-of-range
        values.
    CRSError
        The file has no CRS and neither ``crs`` nor ``datum`` was given, ``crs``
        contradicts the file's CRS, or ``datum`` was given for projected data.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "schools.csv"
    >>> _ = path.write_text("name,Longitude,Latitude\nA,114.05,22.54\nB,114.06,22.55\n")
    >>> schools = read_vector(path, datum="wgs84")
    >>> schools.crs.to_epsg(), schools.geometry.x.tolist()
    (4326, [114.05, 114.06])
    """
    path = Path(path)
    declared = _parse_crs(crs, path)
    datum = _check_datum(datum, path)
    suffix = _require_suffix(path, _VECTOR_SUFFIXES, "vector file")
    _check_readable_file(path, "vector file")
    if suffix not in _CSV_SUFFIXES and (lon is not None or lat is not None):
        msg = "lon= and lat= apply to CSV files only"
        raise InputError(msg, file=path)
    if datum in ("gcj02", "bd09") and declared is not None and not declared.is_geographic:
        msg = (
            f"datum={datum!r} declares longitude/latitude, but crs={_crs_name(declared)} "
            "is projected; leave out one of them"
        )
        raise CRSError(msg, file=path, layer=layer)

    if suffix in _CSV_SUFFIXES:
        if layer is not None:
            msg = "a CSV file has no layers; leave out layer="
            raise InputError(msg, file=path, layer=layer)
        if declared is None and datum is None:
            msg = (
                "a CSV file has no CRS: declare it with crs=... (e.g. crs='EPSG:4326') "
                "or datum=... ('wgs84', 'gcj02' or 'bd09')"
            )
            raise CRSError(msg, file=path)
        geographic = declared.is_geographic if declared is not None else True
        frame = _read_csv(path, lon=lon, lat=lat, geographic=geographic)
    elif suffix in _PARQUET_SUFFIXES:
        frame = _read_geoparquet(path, layer)
    else:
        frame = _read_ogr(path, layer, gzipped=suffix in _GZ_VECTOR_SUFFIXES)

    frame = _declare_crs(frame, path, layer, declared, datum)
    logger.debug("read %d rows from %s (layer %s, CRS %s)", len(frame), path, layer, frame.crs)
    return frame


def _read_ogr(path: Path, layer: str | None, *, gzipped: bool) -> gpd.GeoDataFrame:
    source = f"/vsigzip/{path.resolve()}" if gzipped else str(path)
    try:
        layers = [str(name) for name in pyogrio.list_layers(source)[:, 0]]
    except (RuntimeError, OSError, ValueError) as exc:
        msg = f"not a readable vector file ({exc})"
        raise InputError(msg, file=path, layer=layer) from exc
    if layer is None:
        if not layers:
            msg = "the file has no layers"
            raise InputError(msg, file=path)
        if len(layers) > 1:
            msg = f"the file has {len(layers)} layers ({', '.join(layers)}); choose one with layer="
            raise InputError(msg, file=path)
        chosen = layers[0]
    elif layer not in layers:
        msg = f"the file has no layer {layer!r}; its layers are: {', '.join(layers) or '(none)'}"
        raise InputError(msg, file=path, layer=layer)
    else:
        chosen = layer
    try:
        frame = pyogrio.read_dataframe(source, layer=chosen)
    except (RuntimeError, OSError, ValueError) as exc:
        msg = f"could not read the layer ({exc})"
        raise InputError(msg, file=path, layer=layer) from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = "the layer has no geometry (it is a plain table)"
        raise InputError(msg, file=path, layer=chosen)
    return frame


def _read_geoparquet(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    if layer is not None:
        msg = "a GeoParquet file has no layers; leave out layer="
        raise InputError(msg, file=path, layer=layer)
    try:
        return gpd.read_parquet(path)
    except ImportError as exc:
        msg = "reading GeoParquet needs the pyarrow package: pip install pyarrow"
        raise ImportError(msg) from exc
    except (OSError, ValueError, TypeError, KeyError) as exc:
        msg = f"not a readable vector file: not GeoParquet ({exc})"
        raise InputError(msg, file=path) from exc


def _csv_delimiter(path: Path) -> str:
    """Guess the delimiter: whichever of , ; tab | is most frequent in the header line."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    counts = {d: header.count(d) for d in _CSV_DELIMITERS}
    best = max(_CSV_DELIMITERS, key=lambda d: counts[d])  # ties go to the first, ","
    return best if counts[best] > 0 else ","


def _find_column(
    columns: list[Any],
    explicit: str | None,
    names: tuple[str, ...],
    what: str,
    keyword: str,
    path: Path,
) -> Any | None:
    """Find the column holding ``what``: ``explicit`` if given, else the one matching ``names``."""
    if explicit is not None:
        if explicit not in columns:
            msg = (
                f"no column {explicit!r} (given as {keyword}=); "
                f"the columns are: {', '.join(map(str, columns))}"
            )
            raise InputError(msg, file=path, column=explicit)
        return explicit
    matches = [c for c in columns if str(c).strip().lower() in names]
    if len(matches) > 1:
        msg = (
            f"several columns could hold the {what} ({', '.join(map(str, matches))}); "
            f"name one with {keyword}=..."
        )
        raise InputError(msg, file=path)
    return matches[0] if matches else None


def _read_csv(
    path: Path, *, lon: str | None, lat: str | None, geographic: bool
) -> gpd.GeoDataFrame:
    try:
        frame = pd.read_csv(path, sep=_csv_delimiter(path), encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = "the file is not UTF-8 text; save it as UTF-8 (Excel: 'CSV UTF-8')"
        raise InputError(msg, file=path) from exc
    except pd.errors.EmptyDataError as exc:
        msg = "the CSV file is empty (no header line)"
        raise InputError(msg, file=path) from exc
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        msg = f"not a readable CSV file ({exc})"
        raise InputError(msg, file=path) from exc
    columns = list(frame.columns)
    x_col = _find_column(columns, lon, _LON_NAMES, "longitude (x)", "lon", path)
    y_col = _find_column(columns, lat, _LAT_NAMES, "latitude (y)", "lat", path)
    if x_col is None and y_col is None:
        wkt_cols = [c for c in columns if str(c).strip().lower() in _WKT_NAMES]
        if len(wkt_cols) > 1:
            msg = f"several columns could hold WKT geometries ({', '.join(map(str, wkt_cols))})"
            raise InputError(msg, file=path)
        if wkt_cols:
            return _geometry_from_wkt(frame, wkt_cols[0], path)
    if x_col is None or y_col is None:
        missing = "longitude" if x_col is None else "latitude"
        keyword = "lon" if x_col is None else "lat"
        names = _LON_NAMES if x_col is None else _LAT_NAMES
        msg = (
            f"cannot tell which column holds the {missing}: none is named "
            f"{', '.join(names)}; the columns are: {', '.join(map(str, columns))}. "
            f"Name it with {keyword}=..."
        )
        raise InputError(msg, file=path)
    if "geometry" in columns:
        msg = "the CSV has both coordinate columns and a 'geometry' column; drop or rename one"
        raise InputError(msg, file=path, column="geometry")
    x = _coordinate_values(frame, x_col, 180.0 if geographic else None, "longitude", path)
    y = _coordinate_values(frame, y_col, 90.0 if geographic else None, "latitude", path)
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y))


def _coordinate_values(
    frame: pd.DataFrame, column: Any, limit: float | None, what: str, path: Path
) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    missing = raw.isna().to_numpy()
    if missing.any():
        msg = f"missing {what} values"
        raise InputError(msg, file=path, column=str(column), rows=frame.index[missing].tolist())
    bad = ~np.isfinite(values)
    if bad.any():
        msg = f"non-numeric {what} values"
        raise InputError(msg, file=path, column=str(column), rows=frame.index[bad].tolist())
    if limit is not None:
        out = np.abs(values) > limit
        if out.any():
            msg = f"{what} values out of range (|{what}| > {limit:g} degrees)"
            raise InputError(msg, file=path, column=str(column), rows=frame.index[out].tolist())
    return values


def _geometry_from_wkt(frame: pd.DataFrame, column: Any, path: Path) -> gpd.GeoDataFrame:
    raw = frame[column]
    missing = raw.isna().to_numpy()
    if missing.any():
        msg = "missing WKT geometries"
        raise InputError(msg, file=path, column=str(column), rows=frame.index[missing].tolist())
    geoms = shapely.from_wkt(raw.astype(str).to_numpy(), on_invalid="ignore")
    bad = pd.isna(geoms)
    if bad.any():
        msg = "values that are not WKT geometries"
        raise InputError(msg, file=path, column=str(column), rows=frame.index[bad].tolist())
    return gpd.GeoDataFrame(frame.drop(columns=[column]), geometry=geoms)


def _declare_crs(
    frame: gpd.GeoDataFrame,
    path: Path,
    layer: str | None,
    declared: pyproj.CRS | None,
    datum: str | None,
) -> gpd.GeoDataFrame:
    """Apply ``crs=`` and ``datum=`` to a freshly read frame (ours to modify)."""
    if declared is not None:
        if frame.crs is None:
            frame = frame.set_crs(declared)
        elif not _same_crs(frame.crs, declared):
            msg = (
                f"the file's CRS is {_crs_name(frame.crs)} but crs={_crs_name(declared)} was "
                "given; leave out crs= (it declares the CRS of files that have none)"
            )
            raise CRSError(msg, file=path, layer=layer)
    if frame.crs is None and datum is None:
        msg = "the file has no CRS; declare it with crs=... or datum=..."
        raise CRSError(msg, file=path, layer=layer)
    if datum is None:
        return frame
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    if datum == "wgs84":
        return frame
    if not frame.crs.is_geographic:
        msg = (
            f"datum={datum!r} declares longitude/latitude, but the file's CRS "
            f"{_crs_name(frame.crs)} is projected"
        )
        raise CRSError(msg, file=path, layer=layer)
    if not _same_crs(frame.crs, pyproj.CRS("EPSG:4326")):
        logger.info(
            "%s: treating the %s coordinates as %s lon/lat, as declared",
            path,
            _crs_name(frame.crs),
            datum,
        )
    from svcnet import crs as _crs

    logger.debug("converting %s from %s to WGS84", path, datum)
    return _crs.to_wgs84(frame, datum)


def write_vector(
    gdf: gpd.GeoDataFrame,
    path: PathLike,
    *,
    layer: str | None = None,
    protected: Iterable[PathLike] | PathLike = (),
) -> None:
    """Write a layer atomically to a GeoPackage, GeoJSON, GeoParquet or CSV file.

    * ``.gpkg``: the layer ``layer`` (default: the file's stem) is written or
      replaced; the file's other layers are kept.
    * ``.geojson``/``.json``: reprojected to EPSG:4326 as RFC 7946 demands
      (coordinates rounded to 7 decimals, about 1 cm).
    * ``.parquet``/``.geoparquet``: GeoParquet, in the layer's CRS.
    * ``.csv``: always EPSG:4326. A layer of points (missing geometries
      allowed) gets ``lon`` and ``lat`` columns; any other layer a ``geometry``
      column of WKT. Both read back with :func:`read_vector` (``datum="wgs84"``).
      A named index is written as a column.

    Parameters
    ----------
    gdf
        The layer; it must have a CRS. It is not modified.
    path
        The output file; its parent directories are created.
    layer
        GeoPackage only: the layer name.
    protected
        The caller's input files, which must not be overwritten.

    Raises
    ------
    InputError
        Unsupported suffix, ``layer=`` for a format without layers, a protected
        target, a CSV whose ``lon``/``lat`` columns disagree with the
        geometry, or a write that GDAL refuses.
    CRSError
        The layer has no CRS.

    Examples
    --------
    >>> import tempfile, pathlib, geopandas as gpd
    >>> from shapely.geometry import Point
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out" / "sites.csv"
    >>> sites = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(114.05, 22.54)], crs=4326)
    >>> write_vector(sites, path)
    >>> print(path.read_text().strip())
    name,lon,lat
    a,114.05,22.54
    """
    target = Path(path)
    suffix = _require_suffix(target, _WRITE_VECTOR_SUFFIXES, "output vector file")
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"write_vector needs a GeoDataFrame, got {type(gdf).__name__}"
        raise InputError(msg, file=target, layer=layer)
    if gdf.crs is None:
        msg = "the layer has no CRS; set one with .set_crs(...) before writing"
        raise CRSError(msg, file=target, layer=layer)
    if layer is not None and suffix != ".gpkg":
        msg = "layer= applies to GeoPackage (.gpkg) files only"
        raise InputError(msg, file=target, layer=layer)
    if suffix == ".csv":
        table = _vector_as_table(gdf, target)
    with _atomic_path(target, protected) as tmp:
        if suffix == ".gpkg":
            if target.exists():
                _check_geopackage(target, layer)
                shutil.copyfile(target, tmp)
            _ogr_write(gdf, tmp, target, layer=layer or target.stem, driver="GPKG")
        elif suffix in (".geojson", ".json"):
            _ogr_write(
                gdf.to_crs("EPSG:4326"), tmp, target, layer=None, driver="GeoJSON", RFC7946="YES"
            )
        elif suffix in _PARQUET_SUFFIXES:
            _parquet_write(gdf, tmp, target)
        else:
            table.to_csv(tmp, index=_has_named_index(table), encoding="utf-8")


def _check_geopackage(path: Path, layer: str | None) -> None:
    """Refuse to add a layer to an existing file that is not a GeoPackage."""
    try:
        layers = pyogrio.list_layers(path)
        driver = pyogrio.read_info(path, layer=0)["driver"] if len(layers) else "GPKG"
    except (RuntimeError, OSError, ValueError) as exc:
        msg = "the file exists but is not a GeoPackage; delete it or write elsewhere"
        raise InputError(msg, file=path, layer=layer) from exc
    if driver != "GPKG":
        msg = f"the file exists but is not a GeoPackage (GDAL reads it as {driver})"
        raise InputError(msg, file=path, layer=layer)


def _ogr_write(
    gdf: gpd.GeoDataFrame,
    tmp: Path,
    target: Path,
    *,
    layer: str | None,
    driver: str,
    **options: str,
) -> None:
    try:
        gdf.to_file(tmp, layer=layer, driver=driver, engine="pyogrio", **options)
    except (RuntimeError, ValueError, TypeError) as exc:
        msg = f"could not write the layer ({exc})"
        raise InputError(msg, file=target, layer=layer) from exc


def _parquet_write(frame: pd.DataFrame, tmp: Path, target: Path) -> None:
    try:
        if isinstance(frame, gpd.GeoDataFrame):
            frame.to_parquet(tmp)
        else:
            frame.to_parquet(tmp, index=_has_named_index(frame))
    except ImportError as exc:
        msg = "writing Parquet needs the pyarrow package: pip install pyarrow"
        raise ImportError(msg) from exc
    except (ValueError, TypeError) as exc:  # pyarrow's ArrowInvalid / ArrowTypeError
        msg = f"could not write the table as Parquet ({exc})"
        raise InputError(msg, file=target) from exc


def _has_named_index(frame: pd.DataFrame) -> bool:
    return any(name is not None for name in frame.index.names)


def _vector_as_table(gdf: gpd.GeoDataFrame, target: Path) -> pd.DataFrame:
    """Make the CSV form of a layer: EPSG:4326, lon/lat columns for points, else WKT."""
    lonlat = gdf.to_crs("EPSG:4326")
    geoms = lonlat.geometry
    present = geoms.notna() & ~geoms.is_empty
    table = pd.DataFrame(lonlat.drop(columns=lonlat.geometry.name))
    if (geoms[present].geom_type == "Point").all() and present.any():
        x = np.full(len(geoms), np.nan)
        y = np.full(len(geoms), np.nan)
        mask = present.to_numpy()
        x[mask] = shapely.get_x(geoms[present].to_numpy())
        y[mask] = shapely.get_y(geoms[present].to_numpy())
        for name, values in (("lon", x), ("lat", y)):
            if name in table.columns:
                old = pd.to_numeric(table[name], errors="coerce").to_numpy(
                    dtype=float, na_value=np.nan
                )
                same = np.isclose(old, values, rtol=0.0, atol=1e-9, equal_nan=True)
                if not same.all():
                    msg = (
                        f"the layer has a {name!r} column that differs from its point "
                        f"geometry in EPSG:4326; the CSV's {name!r} column is written from "
                        "the geometry, so drop or rename this column first"
                    )
                    raise InputError(
                        msg, file=target, column=name, rows=table.index[~same].tolist()
                    )
            table[name] = values
    else:
        if "geometry" in table.columns:
            msg = "the layer has a non-geometry column named 'geometry'; rename it first"
            raise InputError(msg, file=target, column="geometry")
        table["geometry"] = shapely.to_wkt(geoms.to_numpy(), rounding_precision=-1)
    return table


def write_table(
    df: pd.DataFrame, path: PathLike, *, protected: Iterable[PathLike] | PathLike = ()
) -> None:
    """Write a table atomically to CSV (UTF-8) or Parquet.

    The index is written only if it is named (``df.index.name``), as a column.

    Parameters
    ----------
    df
        The table; not modified.
    path
        ``.csv`` or ``.parquet`` file; its parent directories are created.
    protected
        The caller's input files, which must not be overwritten.

    Raises
    ------
    InputError
        Unsupported suffix, a protected target, or a table Parquet cannot hold.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cover.csv"
    >>> write_table(pd.DataFrame({"site": ["s1"], "people": [1200]}), path)
    >>> print(path.read_text().strip())
    site,people
    s1,1200
    """
    target = Path(path)
    suffix = _require_suffix(target, _TABLE_SUFFIXES, "output table")
    if not isinstance(df, pd.DataFrame):
        msg = f"write_table needs a pandas DataFrame, got {type(df).__name__}"
        raise InputError(msg, file=target)
    with _atomic_path(target, protected) as tmp:
        if suffix == ".csv":
            df.to_csv(tmp, index=_has_named_index(df), encoding="utf-8")
        else:
            _parquet_write(df, tmp, target)


def write_text(
    text: str,
    path: PathLike,
    *,
    protected: Iterable[PathLike] | PathLike = (),
    encoding: str = "utf-8",
) -> None:
    """Write text (an HTML report, a map) atomically.

    Parameters
    ----------
    text
        The text, written as is (no newline translation).
    path
        The output file; its parent directories are created.
    protected
        The caller's input files, which must not be overwritten.
    encoding
        The text encoding.

    Raises
    ------
    InputError
        ``text`` is not a str, cannot be encoded, or the target is protected.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> write_text("<p>福田</p>", path)
    >>> path.read_text(encoding="utf-8")
    '<p>福田</p>'
    """
    target = Path(path)
    if not isinstance(text, str):
        msg = f"write_text needs a str, got {type(text).__name__}"
        raise InputError(msg, file=target)
    with _atomic_path(target, protected) as tmp:
        try:
            with open(tmp, "w", encoding=encoding, newline="") as fh:
                fh.write(text)
        except (UnicodeEncodeError, LookupError) as exc:
            msg = f"the text cannot be written as {encoding} ({exc})"
            raise InputError(msg, file=target) from exc


def write_html(
    obj: object, path: PathLike, *, protected: Iterable[PathLike] | PathLike = ()
) -> None:
    """Write an HTML page atomically: a str, or a map such as a ``folium.Map``.

    Parameters
    ----------
    obj
        The HTML as a str, or any object with ``get_root().render()``.
    path
        The output file (UTF-8); its parent directories are created.
    protected
        The caller's input files, which must not be overwritten.

    Raises
    ------
    InputError
        ``obj`` is neither, or the target is protected.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "map.html"
    >>> write_html("<html><body>map</body></html>", path)
    >>> path.read_text()
    '<html><body>map</body></html>'
    """
    if isinstance(obj, str):
        html = obj
    elif callable(getattr(obj, "get_root", None)):
        html = obj.get_root().render()
    else:
        kind = type(obj).__name__
        msg = f"write_html needs a str or an object with get_root().render(), got {kind}"
        raise InputError(msg, file=Path(path))
    write_text(html, path, protected=protected)


# =========================================================================================
# population rasters
# =========================================================================================
@dataclass(frozen=True, eq=False)
class PopulationRaster:
    """A population count raster, as read by :func:`read_population_raster`.

    Attributes
    ----------
    values
        2-D float64 array of people per cell, NaN where the file has nodata.
        Read-only when made by :func:`read_population_raster`.
    transform
        The affine transform from (col, row) to CRS coordinates of cell corners.
    crs
        The raster's CRS.
    nodata
        The file's nodata value (e.g. -99999 for WorldPop, -200 for GHSL), or None.
    path
        The file read, or None.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from pyproj import CRS
    >>> r = PopulationRaster(values=np.array([[1.0, np.nan], [0.0, 2.5]]),
    ...     transform=Affine(100, 0, 800000, 0, -100, 2500000), crs=CRS(32650),
    ...     nodata=-99999.0, path=None)
    >>> r.shape, r.cell_size, r.total
    ((2, 2), (100.0, 100.0), 3.5)
    >>> r.bounds
    (800000.0, 2499800.0, 800200.0, 2500000.0)
    """

    values: np.ndarray
    transform: Affine
    crs: pyproj.CRS
    nodata: float | None
    path: Path | None

    @property
    def cell_size(self) -> tuple[float, float]:
        """Cell width and height (absolute) in CRS units."""
        return (abs(float(self.transform.a)), abs(float(self.transform.e)))

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return tuple(self.values.shape)  # type: ignore[return-value]

    @property
    def total(self) -> float:
        """Sum of the population over all cells, nodata left out."""
        return float(np.nansum(self.values))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        rows, cols = self.values.shape
        t = self.transform
        corners = [(c, r) for c in (0, cols) for r in (0, rows)]
        xs = [t.a * c + t.b * r + t.c for c, r in corners]
        ys = [t.d * c + t.e * r + t.f for c, r in corners]
        return (float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys)))


def read_population_raster(path: PathLike, *, band: int = 1) -> PopulationRaster:
    """Read a population count GeoTIFF (WorldPop, GHSL-POP, or any like them).

    Nodata cells (the file's nodata value, e.g. WorldPop's -99999 or GHSL's
    -200, its mask, or NaN) become NaN.

    Parameters
    ----------
    path
        The raster file (GeoTIFF, or anything GDAL reads as a raster).
    band
        The band to read, from 1.

    Returns
    -------
    PopulationRaster

    Raises
    ------
    InputError
        The file is missing or not a raster; the band is out of range; the
        raster is rotated; every cell is nodata; some cells are negative or
        infinite without being nodata.
    CRSError
        The raster has no CRS.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, rasterio
    >>> from affine import Affine
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pop.tif"
    >>> data = np.array([[5.5, -99999], [0.0, 2.0]], dtype="float32")
    >>> with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1,
    ...         dtype="float32", crs="EPSG:4326", nodata=-99999,
    ...         transform=Affine(0.001, 0, 114.0, 0, -0.001, 22.6)) as dst:
    ...     dst.write(data, 1)
    >>> raster = read_population_raster(path)
    >>> raster.total, raster.nodata, bool(np.isnan(raster.values[0, 1]))
    (7.5, -99999.0, True)
    """
    import rasterio
    from rasterio.errors import RasterioError

    path = Path(path)
    _check_readable_file(path, "raster file")
    if isinstance(band, bool) or not isinstance(band, (int, np.integer)) or band < 1:
        msg = f"band must be a positive integer (bands count from 1); got {band!r}"
        raise InputError(msg, file=path)
    try:
        with rasterio.open(path) as src:
            if band > src.count:
                msg = f"band {band} is out of range: the file has {src.count} band(s)"
                raise InputError(msg, file=path)
            if src.crs is None:
                msg = "the raster has no CRS; give it one (e.g. gdal_edit.py -a_srs EPSG:4326)"
                raise CRSError(msg, file=path)
            raster_crs = src.crs.to_wkt()
            transform = src.transform
            nodata = src.nodatavals[band - 1]
            data = src.read(band, masked=True)
    except (RasterioError, OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        msg = f"not a readable raster file ({exc})"
        raise InputError(msg, file=path) from exc
    try:
        crs = pyproj.CRS.from_user_input(raster_crs)
    except pyproj.exceptions.CRSError as exc:
        msg = f"the raster's CRS is not usable ({exc})"
        raise CRSError(msg, file=path) from exc
    if transform.b != 0 or transform.d != 0:
        msg = "the raster is rotated (its transform has shear terms); warp it north-up first"
        raise InputError(msg, file=path)

    values = np.ma.filled(data.astype(np.float64), np.nan)
    if np.isnan(values).all():
        msg = "the raster has only nodata cells"
        raise InputError(msg, file=path)
    _check_cells(values, np.isinf(values), "infinite", path)
    _check_cells(values, values < 0, "negative population", path, hint=True)
    values.flags.writeable = False
    nodata_value = None if nodata is None else float(nodata)
    logger.debug("read %s: %s cells, total %.1f", path, values.shape, float(np.nansum(values)))
    return PopulationRaster(
        values=values, transform=transform, crs=crs, nodata=nodata_value, path=path
    )


def _check_cells(
    values: np.ndarray, bad: np.ndarray, what: str, path: Path, *, hint: bool = False
) -> None:
    if not bad.any():
        return
    rows, cols = np.nonzero(bad)
    r, c = int(rows[0]), int(cols[0])
    msg = (
        f"{int(bad.sum())} cell(s) with {what} values that are not nodata "
        f"(e.g. row {r}, col {c}: {values[r, c]:g})"
    )
    if hint:
        msg += "; is the file's nodata value set?"
    raise InputError(msg, file=path)


# =========================================================================================
# road networks
# =========================================================================================
def read_network(
    path: PathLike, *, simplify: bool = True, retain_all: bool = False
) -> nx.MultiDiGraph:
    """Read a road network from OSM XML or from an osmnx GraphML file.

    * ``.osm``/``.xml`` (also ``.osm.bz2``/``.osm.gz``): OSM XML, made into an
      osmnx graph. Only ways with a ``highway`` tag are roads (osmnx's
      :func:`osmnx.graph_from_xml` would turn every way, buildings included,
      into edges); proposed, under-construction and abandoned highways are
      left out. Then, as osmnx does, the largest weakly connected component is
      kept (unless ``retain_all``) and the topology simplified (if ``simplify``).
    * ``.graphml`` (also ``.graphml.gz``): a graph saved by
      :func:`osmnx.save_graphml`, returned as saved (``simplify`` and
      ``retain_all`` do not apply).

    Parameters
    ----------
    path
        The file.
    simplify
        Merge the edges through interior nodes of degree 2 (OSM XML only).
    retain_all
        Keep every connected component, not just the largest (OSM XML only).

    Returns
    -------
    networkx.MultiDiGraph
        Nodes with ``x``/``y`` (lon/lat), edges with ``length`` in metres, and a
        ``crs`` graph attribute.

    Raises
    ------
    InputError
        The file is missing, unreadable, or has no roads.
    CRSError
        A GraphML graph has no ``crs`` attribute.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.osm"
    >>> _ = path.write_text('''<osm version="0.6">
    ...  <node id="1" lat="22.54" lon="114.05"/><node id="2" lat="22.54" lon="114.051"/>
    ...  <way id="9"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way>
    ... </osm>''')
    >>> graph = read_network(path)
    >>> len(graph), graph.number_of_edges(), graph.graph["crs"]
    (2, 2, 'epsg:4326')
    """
    path = Path(path)
    suffix = _require_suffix(path, _OSM_XML_SUFFIXES + _GRAPHML_SUFFIXES, "road network file")
    _check_readable_file(path, "road network file")
    if suffix in _OSM_XML_SUFFIXES:
        graph = _graph_from_osm_xml(path, simplify=simplify, retain_all=retain_all)
    else:
        graph = _graph_from_graphml(path, gzipped=suffix.endswith(".gz"))
    if graph.number_of_edges() == 0:
        msg = "no roads in the file (the graph has no edges)"
        raise InputError(msg, file=path)
    if "crs" not in graph.graph:
        msg = "the graph has no 'crs' attribute; save it with osmnx.save_graphml"
        raise CRSError(msg, file=path)
    logger.info("read %s: %d nodes, %d edges", path, len(graph), graph.number_of_edges())
    return graph


def _network_read_errors() -> tuple[type[BaseException], ...]:
    import xml.sax
    from xml.etree.ElementTree import ParseError

    import networkx as nx

    # AttributeError: osmnx's load_graphml expects every attribute as a string and
    # fails on typed (double/int) GraphML attributes, as networkx writes them.
    return (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        EOFError,
        ParseError,
        xml.sax.SAXException,
        nx.NetworkXException,
    )


def _is_road(data: dict[str, Any]) -> bool:
    highway = data.get("highway")
    if not isinstance(highway, str) or highway in _NOT_ROADS:
        return False
    return str(data.get("area", "no")).lower() != "yes"


def _graph_from_osm_xml(path: Path, *, simplify: bool, retain_all: bool) -> nx.MultiDiGraph:
    import networkx as nx
    import osmnx as ox

    try:
        graph = ox.graph_from_xml(path, simplify=False, retain_all=True)
    except ox._errors.InsufficientResponseError as exc:
        msg = "no roads in the file (it has no OSM nodes or ways)"
        raise InputError(msg, file=path) from exc
    except _network_read_errors() as exc:
        msg = f"not a readable OSM XML file ({type(exc).__name__}: {exc})"
        raise InputError(msg, file=path) from exc
    not_roads = [(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if not _is_road(d)]
    if not_roads:
        logger.debug("%s: dropping %d edges of ways that are not roads", path, len(not_roads))
        graph.remove_edges_from(not_roads)
    graph.remove_nodes_from(list(nx.isolates(graph)))
    if graph.number_of_edges() == 0:
        msg = "no roads in the file (no ways tagged highway=*)"
        raise InputError(msg, file=path)
    if not retain_all:
        graph = ox.truncate.largest_component(graph, strongly=False)
    if simplify:
        graph = ox.simplify_graph(graph)
    return graph


def _graph_from_graphml(path: Path, *, gzipped: bool) -> nx.MultiDiGraph:
    import networkx as nx
    import osmnx as ox

    try:
        if gzipped:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                graph = ox.load_graphml(graphml_str=fh.read())
        else:
            graph = ox.load_graphml(path)
    except _network_read_errors() as exc:
        msg = f"not a readable GraphML file ({type(exc).__name__}: {exc})"
        raise InputError(msg, file=path) from exc
    if not isinstance(graph, nx.MultiDiGraph):
        msg = (
            f"the GraphML graph is {type(graph).__name__}, not a directed multigraph as osmnx saves"
        )
        raise InputError(msg, file=path)
    return graph


def network_from_place(
    query: str | dict[str, str], *, network_type: str = "walk", **kwargs: Any
) -> nx.MultiDiGraph:
    """Download a road network from OpenStreetMap with :func:`osmnx.graph_from_place`.

    Needs internet access (Nominatim to geocode the place, Overpass for the
    roads). Network failures and places osmnx cannot find become
    :class:`~svcnet.errors.InputError`.

    Parameters
    ----------
    query
        The place, e.g. ``"Futian District, Shenzhen, China"`` (or a structured
        Nominatim query dict).
    network_type
        osmnx network type: ``"walk"``, ``"drive"``, ``"bike"``, ``"all"``...
    **kwargs
        Passed to :func:`osmnx.graph_from_place` (``simplify``, ``retain_all``...).

    Returns
    -------
    networkx.MultiDiGraph

    Raises
    ------
    InputError
        The download failed, the place was not found, or it has no roads.

    Examples
    --------
    >>> network_from_place("Futian District, Shenzhen, China")  # doctest: +SKIP
    <networkx.classes.multidigraph.MultiDiGraph object at ...>
    """
    import osmnx as ox

    try:
        graph = ox.graph_from_place(query, network_type=network_type, **kwargs)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        # requests' errors are OSErrors; osmnx's (place not found, bad response) ValueErrors
        msg = f"could not get the {network_type} network of {query!r} from OpenStreetMap ({exc})"
        raise InputError(msg) from exc
    if graph.number_of_edges() == 0:
        msg = f"OpenStreetMap has no {network_type} roads for {query!r}"
        raise InputError(msg)
    logger.info("downloaded %s: %d nodes, %d edges", query, len(graph), graph.number_of_edges())
    return graph
