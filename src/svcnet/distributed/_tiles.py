"""Square tiles over points, each with a halo as wide as the travel cutoff reaches.

A tile owns the points that fall in its square; its halo is the square grown
by ``halo_m`` on every side. Everything a point of the tile can reach within
the cutoff lies in the halo, so a tile's work needs nothing beyond it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from svcnet.errors import InputError

__all__ = ["Tile", "BoxIndex", "make_tiles", "choose_tile_m", "check_tile_m"]

#: Default most points a tile owns.
MAX_TILE_ROWS = 50_000
#: Default tiles per worker (more tiles balance the load; fewer repeat less halo).
TILES_PER_WORKER = 4


@dataclass(frozen=True, eq=False)
class Tile:
    """One tile: the points it owns (ascending) and its square.

    Attributes
    ----------
    number
        The tile's place in the tiling (row-major over the squares).
    rows
        Positions of the points it owns, ascending.
    square
        ``(minx, miny, maxx, maxy)`` of its square, metres.
    halo_m
        How far beyond the square its work reaches.
    """

    number: int
    rows: NDArray[np.int64]
    square: tuple[float, float, float, float]
    halo_m: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The square grown by the halo."""
        x0, y0, x1, y1 = self.square
        h = self.halo_m
        return (x0 - h, y0 - h, x1 + h, y1 + h)


def check_tile_m(tile_m: object, halo_m: float) -> float:
    """``tile_m`` as a float, or an error when a tile cannot hold one halo.

    Examples
    --------
    >>> check_tile_m(2000, 900.0)
    2000.0
    >>> check_tile_m(500, 900.0)
    Traceback (most recent call last):
    ...
    svcnet.errors.InputError: tile_m=500 m cannot hold the 900 m halo the cutoff reaches: ...
    """
    try:
        value = float(tile_m)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        msg = f"tile_m must be a number of metres; got {tile_m!r}"
        raise InputError(msg) from exc
    if not math.isfinite(value) or value <= 0:
        msg = f"tile_m must be a positive number of metres; got {tile_m!r}"
        raise InputError(msg)
    if value < halo_m:
        msg = (f"tile_m={value:g} m cannot hold the {halo_m:,.0f} m halo the cutoff reaches: "
               f"every tile would be mostly halo; use tile_m >= {math.ceil(halo_m)}")  # fmt: skip
        raise InputError(msg)
    return value


def choose_tile_m(xy: NDArray[np.float64], halo_m: float, n_workers: int) -> float:
    """A tile side: a few tiles per worker, at most :data:`MAX_TILE_ROWS` points a tile.

    Never below the halo (see :func:`check_tile_m`).

    Examples
    --------
    >>> xy = np.array([[0.0, 0.0], [10_000.0, 10_000.0]])
    >>> round(choose_tile_m(xy, 900.0, 2))  # 8 tiles over 100 km2
    3536
    >>> choose_tile_m(xy, 5_000.0, 2)  # never below the halo
    5000.0
    """
    if len(xy) == 0:
        return float(max(halo_m, 1.0))
    span = np.ptp(xy, axis=0)
    area = max(float(span[0]) * float(span[1]), 1.0)
    tiles = max(TILES_PER_WORKER * max(n_workers, 1), math.ceil(len(xy) / MAX_TILE_ROWS))
    return float(max(math.sqrt(area / tiles), halo_m, 1.0))


def make_tiles(xy: NDArray[np.float64], *, tile_m: float, halo_m: float) -> list[Tile]:
    """Square tiles of side ``tile_m`` over the points ``xy``; empty squares are left out.

    Parameters
    ----------
    xy
        Metric coordinates, one row per point.
    tile_m
        The side of a square.
    halo_m
        How far beyond its square a tile's work reaches.

    Returns
    -------
    list of Tile
        Every point belongs to exactly one tile.

    Examples
    --------
    >>> xy = np.array([[0.0, 0.0], [50.0, 10.0], [150.0, 10.0]])
    >>> [t.rows.tolist() for t in make_tiles(xy, tile_m=100.0, halo_m=20.0)]
    [[0, 1], [2]]
    """
    if len(xy) == 0:
        return []
    low = xy.min(axis=0)
    cell = np.floor((xy - low) / tile_m).astype(np.int64)
    width = int(cell[:, 0].max()) + 1
    code = cell[:, 1] * width + cell[:, 0]
    order = np.argsort(code, kind="stable")  # stable: rows ascending within a tile
    starts = np.flatnonzero(np.r_[True, code[order][1:] != code[order][:-1]])
    tiles = []
    for number, (a, b) in enumerate(zip(starts, np.r_[starts[1:], len(order)], strict=True)):
        cx, cy = int(cell[order[a], 0]), int(cell[order[a], 1])
        x0, y0 = low[0] + cx * tile_m, low[1] + cy * tile_m
        square = (float(x0), float(y0), float(x0 + tile_m), float(y0 + tile_m))
        tiles.append(Tile(number, order[a:b].astype(np.int64), square, float(halo_m)))
    return tiles


class BoxIndex:
    """Points sorted by x, to find those inside a box without scanning them all.

    Examples
    --------
    >>> index = BoxIndex(np.array([[0.0, 0.0], [5.0, 5.0], [9.0, 1.0]]))
    >>> index.inside((1, 0, 10, 6)).tolist()
    [1, 2]
    """

    def __init__(self, xy: NDArray[np.float64]) -> None:
        self._xy = xy
        self._order = np.argsort(xy[:, 0], kind="stable")
        self._xs = xy[self._order, 0]

    def inside(self, box: tuple[float, float, float, float]) -> NDArray[np.int64]:
        """Positions of the points inside ``box`` (edges included), ascending."""
        x0, y0, x1, y1 = box
        first = np.searchsorted(self._xs, x0, side="left")
        last = np.searchsorted(self._xs, x1, side="right")
        strip = self._order[first:last]
        y = self._xy[strip, 1]
        return np.sort(strip[(y >= y0) & (y <= y1)]).astype(np.int64)
