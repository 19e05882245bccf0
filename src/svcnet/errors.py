"""Typed exceptions raised by svcnet.

Every error svcnet raises on purpose derives from :class:`SvcnetError`, so a
caller can catch them all in one ``except``. Errors about the caller's input
also derive from :class:`ValueError`, as scikit-learn's validation errors do,
and carry the file, layer, column and rows at fault as attributes.

Examples
--------
>>> from svcnet.errors import InputError
>>> err = InputError("population is negative", column="pop", rows=[3, 7])
>>> str(err)
"population is negative (column 'pop'; rows 3, 7)"
>>> isinstance(err, ValueError)
True
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike

__all__ = [
    "SvcnetError",
    "InputError",
    "CRSError",
    "InfeasibleError",
    "SolverError",
    "ClusterError",
]

_MAX_ROWS_SHOWN = 10


class SvcnetError(Exception):
    """Base class of every error svcnet raises on purpose."""


def _format_rows(rows: Iterable[object]) -> str:
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:_MAX_ROWS_SHOWN])
    if len(rows) > _MAX_ROWS_SHOWN:
        shown += f", ... ({len(rows)} rows in all)"
    return shown


class InputError(SvcnetError, ValueError):
    """Bad input from the caller: a file, layer, column or rows at fault.

    Parameters
    ----------
    message
        What is wrong, in a sentence.
    file
        The file at fault, if any.
    layer
        The layer (of a multi-layer file, or a named layer of a ``Region``).
    column
        The column at fault.
    rows
        The ids (or positions) of the offending rows; at most ten are shown
        in the message, all are kept in :attr:`rows`.

    Examples
    --------
    >>> raise InputError("no such file", file="grid.gpkg")
    Traceback (most recent call last):
    ...
    svcnet.errors.InputError: no such file (file 'grid.gpkg')
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | PathLike[str] | None = None,
        layer: str | None = None,
        column: str | None = None,
        rows: Iterable[object] | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.layer = layer
        self.column = column
        self.rows = None if rows is None else list(rows)
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file '{self.file}'")
        if self.layer is not None:
            where.append(f"layer '{self.layer}'")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.rows:
            where.append(f"rows {_format_rows(self.rows)}")
        return f"{self.message} ({'; '.join(where)})" if where else self.message

    def __reduce__(self):  # keep the keyword arguments through pickling
        return (
            _rebuild_input_error,
            (self.message, self.file, self.layer, self.column, self.rows),
        )


def _rebuild_input_error(message, file, layer, column, rows):
    return InputError(message, file=file, layer=layer, column=column, rows=rows)


class CRSError(InputError):
    """A coordinate reference system is missing, wrong or unusable.

    Examples
    --------
    >>> raise CRSError("the layer has no CRS", layer="grid")
    Traceback (most recent call last):
    ...
    svcnet.errors.CRSError: the layer has no CRS (layer 'grid')
    """


class InfeasibleError(SvcnetError):
    """A model has no feasible solution (for example, too few sites to cover all demand).

    Examples
    --------
    >>> isinstance(InfeasibleError("no 3 sites cover every point"), SvcnetError)
    True
    """


class SolverError(SvcnetError):
    """The solver failed, or stopped without a usable solution.

    Examples
    --------
    >>> isinstance(SolverError("HiGHS returned status 'error'"), SvcnetError)
    True
    """


class ClusterError(SvcnetError):
    """A Dask cluster cannot do the work: no answer from its scheduler, or too little memory.

    Examples
    --------
    >>> isinstance(ClusterError("the scheduler at tcp://10.0.0.9:8786 did not answer"),
    ...            SvcnetError)
    True
    """
