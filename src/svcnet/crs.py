"""Coordinate reference systems: a local metric CRS, and China's web-map datums.

Two jobs live here.

**A metric CRS for a region.** Distances, buffers and areas need a projected
CRS in metres. :func:`estimate_metric_crs` picks the WGS 84 / UTM zone
(EPSG:326xx north, 327xx south) of a layer's extent centre, :func:`to_metric`
reprojects a layer to it (or to a metric CRS you name) and :func:`is_metric`
tells whether a CRS is projected in metres.

**GCJ-02 and BD-09.** Web maps of mainland China do not publish WGS 84
coordinates. AMap (Gaode), Tencent and Google's China map use GCJ-02 ("Mars
coordinates"), an obfuscation that adds a smooth, wavy offset of up to about
700 m (some 300 to 600 m in most cities) to WGS 84 longitude and latitude;
Baidu uses BD-09, a further distortion of GCJ-02. The functions here
implement the published algorithms in both directions, vectorised with numpy,
with arguments in ``(lon, lat)`` order: :func:`wgs84_to_gcj02`,
:func:`gcj02_to_wgs84`, :func:`gcj02_to_bd09`, :func:`bd09_to_gcj02`,
:func:`wgs84_to_bd09` and :func:`bd09_to_wgs84`.
The forward transforms are closed formulas; their inverses are not, so they are
solved by fixed-point iteration on the forward transform until the residual is
below ``1e-10`` degree (about 0.01 mm). Many converters use instead the one-step
approximation ``w = g - (f(g) - g)`` for GCJ-02 to WGS 84, which is up to a few
metres off.

Conventions, as in the published algorithm:

* The GCJ-02 offset applies only inside mainland China's rough bounding box,
  longitude 72.004 to 137.8347 and latitude 0.8293 to 55.8271 (edges
  included). A point outside it is returned unchanged by ``wgs84_to_gcj02``
  and ``gcj02_to_wgs84``. The box is only a rectangle: Seoul, Hanoi or
  Ulaanbaatar lie inside it and get shifted, while London or New York do not.
  Because the offset jumps to zero at the box's edge, the inverse is
  ambiguous within about 1 km of the edge; mainland China lies far inside.
* The BD-09 step (GCJ-02 to BD-09) has no such box: it applies everywhere.

:func:`to_wgs84` and :func:`from_wgs84` apply these to every vertex of a
GeoDataFrame. The planner declares the datum of a layer (one of
:data:`DATUMS`); svcnet never guesses it.

Examples
--------
>>> from svcnet.crs import wgs84_to_gcj02, gcj02_to_wgs84
>>> lon, lat = wgs84_to_gcj02(116.404, 39.915)
>>> print(f"{lon:.6f} {lat:.6f}")
116.410244 39.916404
>>> back = gcj02_to_wgs84(lon, lat)
>>> print(f"{back[0]:.9f} {back[1]:.9f}")
116.404000000 39.915000000
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from svcnet._validate import check_choice
from svcnet.errors import CRSError, InputError

logger = logging.getLogger(__name__)

__all__ = [
    "DATUMS",
    "estimate_metric_crs",
    "to_metric",
    "is_metric",
    "as_metric_crs",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "to_wgs84",
    "from_wgs84",
]

#: The datums a layer of lon/lat coordinates can be declared in.
DATUMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_WGS84 = pyproj.CRS.from_epsg(4326)

# GCJ-02: the Krasovsky 1940 ellipsoid the published algorithm scales its
# offsets (given in metres) to degrees with.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323

# The rough bounding box of mainland China outside which GCJ-02 adds no offset.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)

# BD-09: the constants of Baidu's published GCJ-02 -> BD-09 distortion.
_BD_K = np.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006
_BD_DR = 0.00002
_BD_DTHETA = 0.000003

# The inverse transforms iterate until every residual is below this (degrees).
_TOL = 1e-10
_MAX_ITER = 50

Array = NDArray[np.float64]


# ----------------------------------------------------------------------------
# Metric CRS
# ----------------------------------------------------------------------------


def _as_crs(crs: object, name: str) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(crs)
    except (pyproj.exceptions.CRSError, TypeError, ValueError) as exc:
        msg = f"{name} is not a CRS pyproj understands: {crs!r} ({exc})"
        raise CRSError(msg) from exc


def _horizontal(crs: pyproj.CRS) -> pyproj.CRS:
    """Return the horizontal part of a bound or compound CRS."""
    if crs.is_bound and crs.source_crs is not None:
        crs = crs.source_crs
    if crs.is_compound and crs.sub_crs_list:
        crs = crs.sub_crs_list[0]
    return crs


def as_metric_crs(crs: object, name: str = "crs") -> pyproj.CRS:
    """The CRS the caller gave, checked to be projected in metres.

    Parameters
    ----------
    crs
        Anything :meth:`pyproj.CRS.from_user_input` reads.
    name
        The argument's name, for messages.

    Returns
    -------
    pyproj.CRS

    Raises
    ------
    CRSError
        When pyproj cannot read it, or it is not a metric projected CRS.

    Examples
    --------
    >>> as_metric_crs("EPSG:32650").to_epsg()
    32650
    >>> as_metric_crs(4326)
    Traceback (most recent call last):
    ...
    svcnet.errors.CRSError: crs must be a projected CRS in metres; got 'WGS 84'
    """
    try:
        target = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        msg = f"{name}={crs!r} is not a CRS pyproj understands"
        raise CRSError(msg) from exc
    if not is_metric(target):
        msg = f"{name} must be a projected CRS in metres; got {target.name!r}"
        raise CRSError(msg)
    return target


def is_metric(crs: object) -> bool:
    """Tell whether a CRS is projected with its horizontal axes in metres.

    Parameters
    ----------
    crs
        Anything :meth:`pyproj.CRS.from_user_input` accepts (a ``pyproj.CRS``,
        ``"EPSG:32650"``, ``32650``, a WKT or PROJ string ...). ``None`` (no CRS)
        is not metric.

    Returns
    -------
    bool
        True for a projected CRS whose easting and northing are in metres;
        False for a geographic CRS, a projected CRS in feet, or ``None``.

    Raises
    ------
    CRSError
        If ``crs`` is not ``None`` and pyproj cannot read it.

    Examples
    --------
    >>> is_metric("EPSG:32650"), is_metric("EPSG:4326"), is_metric("EPSG:2263")
    (True, False, False)
    """
    if crs is None:
        return False
    horizontal = _horizontal(_as_crs(crs, "crs"))
    if not horizontal.is_projected:
        return False
    axes = horizontal.axis_info[:2]
    return len(axes) == 2 and all(
        axis.unit_name in ("metre", "meter", "m") or axis.unit_conversion_factor == 1.0
        for axis in axes
    )


def _check_geo(data: object, name: str) -> None:
    if not isinstance(data, (gpd.GeoDataFrame, gpd.GeoSeries)):
        msg = f"{name} must be a GeoDataFrame or GeoSeries; got {type(data).__name__}"
        raise InputError(msg)


def estimate_metric_crs(data: gpd.GeoDataFrame | gpd.GeoSeries) -> pyproj.CRS:
    """Return the WGS 84 / UTM zone CRS of the centre of a layer's extent.

    Parameters
    ----------
    data
        A GeoDataFrame or GeoSeries with a CRS (any CRS) and at least one
        non-empty geometry. It is not modified.

    Returns
    -------
    pyproj.CRS
        EPSG:326xx (northern hemisphere) or EPSG:327xx (southern), projected
        in metres.

    Raises
    ------
    CRSError
        If ``data`` has no CRS, has no non-empty geometry, or lies where no UTM
        zone applies.
    InputError
        If ``data`` is not a GeoDataFrame or GeoSeries.

    Notes
    -----
    Uses :meth:`geopandas.GeoDataFrame.estimate_utm_crs`, which queries the
    PROJ database with the centre of the layer's bounds in WGS 84. A layer
    spanning several zones gets the zone of its centre; UTM stays accurate
    (scale error below 0.1 %) for a few hundred kilometres beyond the zone.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> shenzhen = gpd.GeoSeries([Point(114.05, 22.54)], crs="EPSG:4326")
    >>> estimate_metric_crs(shenzhen).to_epsg()
    32650
    """
    _check_geo(data, "data")
    if data.crs is None:
        msg = "data has no CRS; set one (e.g. data.set_crs('EPSG:4326')) before estimating"
        raise CRSError(msg)
    geoms = data.geometry if isinstance(data, gpd.GeoDataFrame) else data
    present = ~(geoms.isna() | geoms.is_empty)
    if not present.any():
        msg = "data has no non-empty geometry to estimate a metric CRS from"
        raise CRSError(msg)
    try:
        crs = geoms[present].estimate_utm_crs()
    except RuntimeError as exc:  # no UTM zone found (polar regions)
        msg = f"no UTM zone covers the centre of data's extent ({exc})"
        raise CRSError(msg) from exc
    if not is_metric(crs):  # pragma: no cover - the UTM zones are all metric
        msg = f"the estimated CRS {crs.name!r} is not projected in metres"
        raise CRSError(msg)
    logger.debug("estimated metric CRS %s", crs.name)
    return crs


def to_metric(
    gdf: gpd.GeoDataFrame | gpd.GeoSeries, crs: object = None
) -> gpd.GeoDataFrame | gpd.GeoSeries:
    """Return a copy of a layer reprojected to a metric CRS.

    Parameters
    ----------
    gdf
        A GeoDataFrame (or GeoSeries) with a CRS. It is not modified.
    crs
        The target CRS, projected in metres (anything pyproj reads). By default
        the UTM zone of the layer's centre (:func:`estimate_metric_crs`).

    Returns
    -------
    geopandas.GeoDataFrame or geopandas.GeoSeries
        A new object of the same type, in the metric CRS.

    Raises
    ------
    CRSError
        If ``gdf`` has no CRS, if ``crs`` is not a projected CRS in metres, or
        (with ``crs=None``) if no CRS can be estimated.
    InputError
        If ``gdf`` is not a GeoDataFrame or GeoSeries.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> pts = gpd.GeoDataFrame(geometry=[Point(114.05, 22.54)], crs="EPSG:4326")
    >>> metric = to_metric(pts)
    >>> metric.crs.to_epsg()
    32650
    >>> print(f"{metric.geometry.x.iloc[0]:.0f}")
    196569
    """
    _check_geo(gdf, "gdf")
    if gdf.crs is None:
        msg = "gdf has no CRS; set one (e.g. gdf.set_crs('EPSG:4326')) before reprojecting"
        raise CRSError(msg)
    if crs is None:
        target = estimate_metric_crs(gdf)
    else:
        target = _as_crs(crs, "crs")
        if not is_metric(target):
            msg = f"crs must be a projected CRS in metres; got {target.name!r}"
            raise CRSError(msg)
    return gdf.to_crs(target)


# ----------------------------------------------------------------------------
# GCJ-02 and BD-09: array functions
# ----------------------------------------------------------------------------


def _lonlat(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """Validate and broadcast lon/lat to float arrays (new arrays, never views)."""
    arrays = []
    for name, value in (("lon", lon), ("lat", lat)):
        try:
            arrays.append(np.array(value, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            msg = f"{name} must be a number or an array of numbers; got {value!r}"
            raise InputError(msg) from exc
    try:
        x, y = np.broadcast_arrays(*arrays)
    except ValueError as exc:
        msg = (
            "lon and lat must have the same shape (or broadcast together); "
            f"got {arrays[0].shape} and {arrays[1].shape}"
        )
        raise InputError(msg) from exc
    return x.copy(), y.copy()


def _in_china(lon: Array, lat: Array) -> NDArray[np.bool_]:
    return (
        (lon >= _CHINA_LON[0])
        & (lon <= _CHINA_LON[1])
        & (lat >= _CHINA_LAT[0])
        & (lat <= _CHINA_LAT[1])
    )


def _gcj_offset(lon: Array, lat: Array) -> tuple[Array, Array]:
    """Return the GCJ-02 offset (dlon, dlat) in degrees at WGS 84 (lon, lat), no box."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    # Two smooth polynomial trends plus sums of sines, in "metres" ...
    waves_x = (20.0 * np.sin(6.0 * pi * x) + 20.0 * np.sin(2.0 * pi * x)) * 2.0 / 3.0
    north = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + waves_x
        + (20.0 * np.sin(pi * y) + 40.0 * np.sin(pi * y / 3.0)) * 2.0 / 3.0
        + (160.0 * np.sin(pi * y / 12.0) + 320.0 * np.sin(pi * y / 30.0)) * 2.0 / 3.0
    )
    east = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + waves_x
        + (20.0 * np.sin(pi * x) + 40.0 * np.sin(pi * x / 3.0)) * 2.0 / 3.0
        + (150.0 * np.sin(pi * x / 12.0) + 300.0 * np.sin(pi * x / 30.0)) * 2.0 / 3.0
    )
    # ... turned into degrees with the radii of curvature of Krasovsky 1940.
    phi = np.radians(lat)
    w2 = 1.0 - _GCJ_EE * np.sin(phi) ** 2
    w = np.sqrt(w2)
    meridional = _GCJ_A * (1.0 - _GCJ_EE) / (w2 * w)
    prime_vertical = _GCJ_A / w
    dlat = np.degrees(north / meridional)
    dlon = np.degrees(east / (prime_vertical * np.cos(phi)))
    return dlon, dlat


def _invert(
    forward: Callable[[Array, Array], tuple[Array, Array]],
    lon: Array,
    lat: Array,
    what: str,
) -> tuple[Array, Array]:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration.

    ``forward`` moves points by a small, slowly varying offset (its Jacobian is
    within a few per cent of the identity), so ``p <- p - (forward(p) - target)``
    converges by about two digits an iteration. Each point stops as soon as its
    own residual is below ``_TOL``, so its answer does not depend on the other
    points of the batch.
    """
    shape = np.shape(lon)
    tx = np.ravel(lon)
    ty = np.ravel(lat)
    x = tx.copy()
    y = ty.copy()
    todo = np.arange(x.size)
    for _ in range(_MAX_ITER):
        if todo.size == 0:
            break
        fx, fy = forward(x[todo], y[todo])
        rx = fx - tx[todo]
        ry = fy - ty[todo]
        x[todo] -= rx
        y[todo] -= ry
        # NaN residuals (NaN input) compare False: those points stop too.
        todo = todo[np.fmax(np.abs(rx), np.abs(ry)) > _TOL]
    if todo.size:  # pragma: no cover - does not happen for finite input
        logger.warning(
            "%s: %d points did not converge below %g degree in %d iterations",
            what,
            todo.size,
            _TOL,
            _MAX_ITER,
        )
    return x.reshape(shape), y.reshape(shape)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """Convert WGS 84 longitude/latitude to GCJ-02 ("Mars coordinates").

    Parameters
    ----------
    lon, lat
        WGS 84 longitude and latitude in degrees: numbers or arrays that
        broadcast together.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)`` as new float arrays of the broadcast shape
        (0-dimensional for scalar input). Points outside mainland China's
        bounding box (lon 72.004 to 137.8347, lat 0.8293 to 55.8271) are
        returned unchanged, as in the published algorithm. NaN stays NaN.

    Raises
    ------
    InputError
        If ``lon`` or ``lat`` is not numeric, or they do not broadcast.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02([114.05, -0.1278], [22.54, 51.5074])
    >>> lon.round(5).tolist(), lat.round(5).tolist()
    ([114.0551, -0.1278], [22.53727, 51.5074])
    """
    x, y = _lonlat(lon, lat)
    inside = _in_china(x, y)
    dlon, dlat = _gcj_offset(x[inside], y[inside])
    x[inside] += dlon
    y[inside] += dlat
    return x, y


def _gcj_forward_unboxed(lon: Array, lat: Array) -> tuple[Array, Array]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """Convert GCJ-02 longitude/latitude to WGS 84, exactly (iteratively).

    Inverts :func:`wgs84_to_gcj02` by fixed-point iteration, starting from the
    usual one-step estimate, until ``wgs84_to_gcj02`` of the answer matches the
    input within ``1e-10`` degree (about 0.01 mm).

    Parameters
    ----------
    lon, lat
        GCJ-02 longitude and latitude in degrees: numbers or arrays that
        broadcast together.

    Returns
    -------
    tuple of numpy.ndarray
        WGS 84 ``(lon, lat)`` as new float arrays of the broadcast shape.
        Points outside mainland China's bounding box are returned unchanged.

    Raises
    ------
    InputError
        If ``lon`` or ``lat`` is not numeric, or they do not broadcast.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(114.0551, 22.53727)
    >>> print(f"{lon:.5f} {lat:.5f}")
    114.05000 22.54000
    """
    x, y = _lonlat(lon, lat)
    inside = _in_china(x, y)
    wx, wy = _invert(_gcj_forward_unboxed, x[inside], y[inside], "gcj02_to_wgs84")
    x[inside] = wx
    y[inside] = wy
    return x, y


def _bd_forward(lon: Array, lat: Array) -> tuple[Array, Array]:
    r = np.hypot(lon, lat) + _BD_DR * np.sin(lat * _BD_K)
    theta = np.arctan2(lat, lon) + _BD_DTHETA * np.cos(lon * _BD_K)
    return r * np.cos(theta) + _BD_DLON, r * np.sin(theta) + _BD_DLAT


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """Convert GCJ-02 longitude/latitude to Baidu's BD-09.

    BD-09 perturbs the polar coordinates of the GCJ-02 point (radius by up to
    ``2e-5`` degree, angle by up to ``3e-6`` radian, each a wave of period
    0.12 degree) and adds 0.0065 degree east and 0.006 degree north. It
    applies everywhere; there is no bounding box.

    Parameters
    ----------
    lon, lat
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lon, lat)`` as new float arrays of the broadcast shape.

    Raises
    ------
    InputError
        If ``lon`` or ``lat`` is not numeric, or they do not broadcast.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(116.404, 39.915)
    >>> print(f"{lon:.6f} {lat:.6f}")
    116.410369 39.921337
    """
    x, y = _lonlat(lon, lat)
    bx, by = _bd_forward(x, y)
    return np.asarray(bx), np.asarray(by)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """Convert Baidu BD-09 longitude/latitude to GCJ-02, exactly (iteratively).

    The usual closed-form inverse is off by up to about 0.2 m; this one
    iterates on :func:`gcj02_to_bd09` until it matches the input within
    ``1e-10`` degree.

    Parameters
    ----------
    lon, lat
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)`` as new float arrays of the broadcast shape.

    Raises
    ------
    InputError
        If ``lon`` or ``lat`` is not numeric, or they do not broadcast.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(116.410369, 39.921337)
    >>> print(f"{lon:.5f} {lat:.5f}")
    116.40400 39.91500
    """
    x, y = _lonlat(lon, lat)
    return _invert(_bd_forward, x, y, "bd09_to_gcj02")


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """Convert WGS 84 longitude/latitude to Baidu BD-09 (through GCJ-02).

    Parameters
    ----------
    lon, lat
        WGS 84 longitude and latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lon, lat)``: :func:`gcj02_to_bd09` of :func:`wgs84_to_gcj02`.
        Outside China's bounding box only the BD-09 step applies.

    Raises
    ------
    InputError
        If ``lon`` or ``lat`` is not numeric, or they do not broadcast.

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09(116.404, 39.915)
    >>> print(f"{lon:.5f} {lat:.5f}")
    116.41663 39.92270
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """Convert Baidu BD-09 longitude/latitude to WGS 84, exactly (iteratively).

    Parameters
    ----------
    lon, lat
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        WGS 84 ``(lon, lat)``: :func:`gcj02_to_wgs84` of :func:`bd09_to_gcj02`.

    Raises
    ------
    InputError
        If ``lon`` or ``lat`` is not numeric, or they do not broadcast.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(116.404, 39.915))
    >>> print(f"{lon:.9f} {lat:.9f}")
    116.404000000 39.915000000
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# ----------------------------------------------------------------------------
# GCJ-02 and BD-09: GeoDataFrames
# ----------------------------------------------------------------------------

_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def _check_frame(gdf: object) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"gdf must be a GeoDataFrame; got {type(gdf).__name__}"
        raise InputError(msg)


def _convert_vertices(
    gdf: gpd.GeoDataFrame, func: Callable[[ArrayLike, ArrayLike], tuple[Array, Array]]
) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` with ``func`` applied to every (lon, lat), CRS EPSG:4326."""

    def apply(coords: Array) -> Array:
        out = coords.copy()
        out[:, 0], out[:, 1] = func(coords[:, 0], coords[:, 1])
        return out

    name = gdf.geometry.name
    # include_z=None keeps each geometry's dimension; z is passed through.
    geoms = shapely.transform(gdf.geometry.to_numpy(), apply, include_z=None)
    out = gdf.copy()
    out[name] = gpd.GeoSeries(geoms, index=gdf.index, crs=_WGS84)
    return out.set_geometry(name, crs=_WGS84)


def to_wgs84(gdf: gpd.GeoDataFrame, datum: str) -> gpd.GeoDataFrame:
    """Return a copy of a layer converted from its declared datum to WGS 84.

    Parameters
    ----------
    gdf
        The layer. It is not modified. For ``datum="gcj02"`` or ``"bd09"`` its
        coordinates must be longitude/latitude in that datum: with no CRS they
        are taken as such; a geographic CRS (GCJ-02 files often falsely declare
        EPSG:4326) is accepted and ignored; a projected CRS is an error.
    datum
        The datum the coordinates are in, one of :data:`DATUMS`: ``"wgs84"``
        (the layer is only reprojected to EPSG:4326; with no CRS, it is taken
        as WGS 84 lon/lat), ``"gcj02"`` (AMap/Gaode, Tencent, Google China) or
        ``"bd09"`` (Baidu). svcnet never guesses it.

    Returns
    -------
    geopandas.GeoDataFrame
        A new GeoDataFrame in EPSG:4326 with every vertex of every geometry
        converted (z values kept; empty and missing geometries pass through).

    Raises
    ------
    InputError
        If ``gdf`` is not a GeoDataFrame or ``datum`` is not one of
        :data:`DATUMS`.
    CRSError
        If ``datum`` is ``"gcj02"`` or ``"bd09"`` and ``gdf`` has a CRS that is
        not geographic.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> amap = gpd.GeoDataFrame(geometry=[Point(114.0551, 22.53727)])
    >>> wgs = to_wgs84(amap, "gcj02")
    >>> wgs.crs.to_epsg()
    4326
    >>> print(f"{wgs.geometry.x.iloc[0]:.5f} {wgs.geometry.y.iloc[0]:.5f}")
    114.05000 22.54000
    """
    _check_frame(gdf)
    check_choice(datum, "datum", DATUMS)
    if datum == "wgs84":
        return gdf.set_crs(_WGS84) if gdf.crs is None else gdf.to_crs(_WGS84)
    if gdf.crs is not None and not _horizontal(gdf.crs).is_geographic:
        msg = (
            f"gdf is declared {datum}, whose coordinates are longitude/latitude, "
            f"but its CRS {gdf.crs.name!r} is not geographic"
        )
        raise CRSError(msg)
    return _convert_vertices(gdf, _TO_WGS84[datum])


def from_wgs84(gdf: gpd.GeoDataFrame, datum: str) -> gpd.GeoDataFrame:
    """Return a copy of a layer converted from WGS 84 to another datum.

    Use it to draw svcnet's results on AMap/Tencent (GCJ-02) or Baidu (BD-09)
    base maps.

    Parameters
    ----------
    gdf
        The layer. It is not modified. With no CRS, its coordinates are taken as
        WGS 84 lon/lat; with a CRS (geographic or projected) it is first
        reprojected to EPSG:4326.
    datum
        The datum to convert to, one of :data:`DATUMS`; ``"wgs84"`` only
        reprojects to EPSG:4326.

    Returns
    -------
    geopandas.GeoDataFrame
        A new GeoDataFrame whose coordinates are lon/lat in ``datum``. Its CRS
        is EPSG:4326, by convention, as web maps label GCJ-02 and BD-09 data.

    Raises
    ------
    InputError
        If ``gdf`` is not a GeoDataFrame or ``datum`` is not one of
        :data:`DATUMS`.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> sites = gpd.GeoDataFrame(geometry=[Point(114.05, 22.54)], crs="EPSG:4326")
    >>> amap = from_wgs84(sites, "gcj02")
    >>> print(f"{amap.geometry.x.iloc[0]:.5f} {amap.geometry.y.iloc[0]:.5f}")
    114.05510 22.53727
    """
    _check_frame(gdf)
    check_choice(datum, "datum", DATUMS)
    wgs = gdf.set_crs(_WGS84) if gdf.crs is None else gdf.to_crs(_WGS84)
    if datum == "wgs84":
        return wgs
    return _convert_vertices(wgs, _FROM_WGS84[datum])
