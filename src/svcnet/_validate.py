"""Validation helpers shared by every module: check at the door, name what is wrong.

In the spirit of scikit-learn's ``check_*`` helpers, each function takes the
caller's object, never modifies it, and either returns a validated copy or
raises :class:`~svcnet.errors.InputError` / :class:`~svcnet.errors.CRSError`
naming the layer, column and rows at fault.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from svcnet.errors import CRSError, InputError

logger = logging.getLogger(__name__)

__all__ = ["check_geodataframe", "check_counts", "check_choice"]


def check_choice(value: object, name: str, allowed: Sequence[object]) -> object:
    """Return ``value`` if it is one of ``allowed``, else raise an error naming both.

    Examples
    --------
    >>> check_choice("walk", "mode", ("walk", "drive"))
    'walk'
    """
    if value not in allowed:
        msg = f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}"
        raise InputError(msg)
    return value


def _row_labels(frame: pd.DataFrame, mask: np.ndarray, id_column: str | None) -> list[object]:
    if id_column is not None and id_column in frame.columns:
        return frame.loc[mask, id_column].tolist()
    return frame.index[mask].tolist()


def check_geodataframe(
    frame: object,
    *,
    layer: str,
    id_column: str | None = None,
    required: Iterable[str] = (),
    geometry_types: Iterable[str] | None = None,
    allow_empty: bool = False,
    repair: bool = False,
    file: str | None = None,
) -> gpd.GeoDataFrame:
    """Validate a layer and return a copy of it.

    Checks that ``frame`` is a GeoDataFrame with a CRS, the ``required`` columns
    and unique, non-missing ids in ``id_column``; that no geometry is missing or
    empty; that every geometry is valid (or, with ``repair=True``, repairs the
    invalid ones in the copy with :func:`shapely.make_valid`); and that every
    geometry is of one of ``geometry_types`` (e.g. ``("Polygon", "MultiPolygon")``).

    Parameters
    ----------
    frame
        The caller's layer. It is never modified.
    layer
        The layer's name, used in messages (e.g. ``"population"``).
    id_column
        Column holding the row ids: must exist, be unique and have no missing values.
    required
        Columns that must exist.
    geometry_types
        Allowed geometry types, or None for any.
    allow_empty
        Whether a frame with no rows is acceptable.
    repair
        Repair invalid geometries instead of raising.
    file
        The file the layer came from, named in messages.

    Returns
    -------
    geopandas.GeoDataFrame
        A validated copy.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> gdf = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[Point(0, 0), Point(1, 1)], crs=32650)
    >>> len(check_geodataframe(gdf, layer="sites", id_column="id"))
    2
    """
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"expected a GeoDataFrame, got {type(frame).__name__}"
        raise InputError(msg, file=file, layer=layer)
    if frame.crs is None:
        msg = "the layer has no CRS; set one with .set_crs(...) or declare it when reading"
        raise CRSError(msg, file=file, layer=layer)
    if len(frame) == 0 and not allow_empty:
        raise InputError("the layer has no rows", file=file, layer=layer)
    for column in [*required, *([id_column] if id_column else [])]:
        if column not in frame.columns:
            msg = f"missing column; the layer has {', '.join(map(str, frame.columns))}"
            raise InputError(msg, file=file, layer=layer, column=column)
    if id_column is not None:
        _check_ids(frame, id_column, layer=layer, file=file)
    out = frame.copy()
    geoms = out.geometry.values
    missing = np.asarray(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if missing.any():
        msg = f"{int(missing.sum())} geometries are missing or empty"
        raise InputError(msg, file=file, layer=layer, rows=_row_labels(out, missing, id_column))
    invalid = ~np.asarray(shapely.is_valid(geoms))
    if invalid.any():
        rows = _row_labels(out, invalid, id_column)
        if not repair:
            reasons = shapely.is_valid_reason(geoms[invalid][:3])
            msg = (
                f"{int(invalid.sum())} geometries are invalid (e.g. {'; '.join(reasons)}); "
                "pass repair=True to repair them with shapely.make_valid"
            )
            raise InputError(msg, file=file, layer=layer, rows=rows)
        logger.info("repairing %d invalid geometries in layer %r", int(invalid.sum()), layer)
        repaired = shapely.make_valid(geoms[invalid])
        out.loc[invalid, out.geometry.name] = repaired
    if geometry_types is not None:
        allowed = set(geometry_types)
        kinds = np.asarray(out.geom_type)
        wrong = ~np.isin(kinds, list(allowed))
        if wrong.any():
            msg = (
                f"geometries must be {', '.join(sorted(allowed))}; "
                f"found {', '.join(sorted(set(kinds[wrong])))}"
            )
            raise InputError(msg, file=file, layer=layer, rows=_row_labels(out, wrong, id_column))
    return out


def _check_ids(frame: pd.DataFrame, id_column: str, *, layer: str, file: str | None) -> None:
    ids = frame[id_column]
    missing = ids.isna().to_numpy()
    if missing.any():
        rows = frame.index[missing].tolist()
        raise InputError("missing ids", file=file, layer=layer, column=id_column, rows=rows)
    duplicated = ids.duplicated(keep=False).to_numpy()
    if duplicated.any():
        rows = sorted(set(ids[duplicated].tolist()), key=str)
        msg = f"{len(rows)} ids occur more than once"
        raise InputError(msg, file=file, layer=layer, column=id_column, rows=rows)


def check_counts(
    frame: pd.DataFrame,
    columns: Iterable[str],
    *,
    layer: str,
    id_column: str | None = None,
    file: str | None = None,
) -> None:
    """Check that count columns exist, are numeric, finite and non-negative.

    Parameters
    ----------
    frame
        The table holding the counts (not modified).
    columns
        The count columns (population, age groups, capacities ...).
    layer, id_column, file
        Used to name the layer, the rows (by id) and the file in messages.

    Raises
    ------
    InputError
        Naming the column and the offending rows.

    Examples
    --------
    >>> import pandas as pd
    >>> check_counts(pd.DataFrame({"pop": [3, 0, 12]}), ["pop"], layer="grid")
    >>> check_counts(pd.DataFrame({"pop": [3, -1]}), ["pop"], layer="grid")
    Traceback (most recent call last):
    ...
    svcnet.errors.InputError: 1 negative values (layer 'grid'; column 'pop'; rows 1)
    """
    for column in columns:
        if column not in frame.columns:
            msg = f"missing column; the layer has {', '.join(map(str, frame.columns))}"
            raise InputError(msg, file=file, layer=layer, column=column)
        values = frame[column]
        if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
            coerced = pd.to_numeric(values, errors="coerce")
            bad = (coerced.isna() & values.notna()).to_numpy()
            msg = f"values are not numeric (dtype {values.dtype})"
            raise InputError(
                msg, file=file, layer=layer, column=column, rows=_row_labels(frame, bad, id_column)
            )
        array = values.to_numpy(dtype=float, na_value=np.nan)
        for mask, what in (
            (np.isnan(array), "missing (NaN) values"),
            (np.isinf(array), "infinite values"),
            (array < 0, "negative values"),
        ):
            if mask.any():
                msg = f"{int(mask.sum())} {what}"
                raise InputError(
                    msg,
                    file=file,
                    layer=layer,
                    column=column,
                    rows=_row_labels(frame, mask, id_column),
                )
