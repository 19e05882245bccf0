"""Cells split into parts, one shelter each, and shelter places counted in whole people."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from svcnet.services._shelter_network import Network


def split_cells(cells: gpd.GeoDataFrame, parts: pd.DataFrame, groups, group: str):
    """The cells as parts: every cell once, split where its residents go to several places.

    Cells no site reaches stay whole (unserved). Each population column is
    split in proportion to the part's residents of ``group``, by the largest
    remainder, so that parts add up to the cell exactly. Returns the parts
    and, for each part, its row in ``cells``.
    """
    n = len(cells)
    reach = np.zeros(n, dtype=bool)
    reach[parts["row"].to_numpy()] = True
    alone = pd.DataFrame(
        {
            "row": np.flatnonzero(~reach),
            "site": -1,
            "residents": np.round(cells[group].to_numpy()[~reach]),
        }
    )
    every = pd.concat([parts, alone], ignore_index=True)
    every = every.sort_values(["row", "site"], kind="stable").reset_index(drop=True)
    rows = every["row"].to_numpy()
    out = cells.iloc[rows].reset_index(drop=True)
    sizes = np.bincount(rows, minlength=n)
    number = every.groupby("row").cumcount().to_numpy()
    share = every["residents"].to_numpy(dtype=float) / np.maximum(
        np.round(cells[group].to_numpy(dtype=float))[rows], 1.0
    )
    multi = sizes[rows] > 1  # a cell in one piece keeps its own numbers
    for column in groups:
        totals = cells[column].to_numpy(dtype=float)[rows]
        if column == group:  # whole residents; a fraction of a person stays with part #1
            split = every["residents"].to_numpy(dtype=float)
            split = split + np.where(number == 0, totals - np.round(totals), 0.0)
        else:
            exact = totals * share
            base = np.floor(exact)
            extra = _largest_remainder(rows, exact - base, totals - _sum_by(rows, base, n)[rows])
            split = base + extra
        out[column] = np.where(multi, split, totals)
    ids = out["cell_id"].astype(str).to_numpy(dtype=object)
    ids[multi] = [f"{c}#{k + 1}" for c, k in zip(ids[multi], number[multi], strict=True)]
    out["cell_id"] = ids
    every["part"] = np.arange(len(every))
    return out, rows, every


def _sum_by(rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rows, values, minlength=n)


def _largest_remainder(rows: np.ndarray, remainder: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """One extra person to the parts with the largest remainders, ``missing`` per row."""
    order = np.lexsort((-remainder, rows))
    rank = np.empty(len(rows), dtype=np.int64)
    ranked_rows = rows[order]
    starts = np.r_[0, np.flatnonzero(ranked_rows[1:] != ranked_rows[:-1]) + 1]
    position = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    rank[order] = position
    return (rank < np.round(missing)).astype(float)


def whole_places(site: np.ndarray, residents: np.ndarray, share: float) -> np.ndarray:
    """Shelter places (whole people) held by groups of residents at each shelter.

    ``site`` is each group's shelter (-1 for none) and ``residents`` its whole
    residents. A shelter holding the share of ``R`` residents gives them
    ``ceil(share x R)`` places (places are counted as in
    :func:`svcnet.indicators.shelter_gap`); they are dealt to its groups in
    proportion to their residents, by the largest remainder. The places fit the
    shelter: ``R <= floor(capacity / share)`` with a whole capacity.
    """
    out = np.zeros(len(site))
    held = np.flatnonzero(site >= 0)
    if not len(held):
        return out
    _, groups = np.unique(site[held], return_inverse=True)
    groups = np.asarray(groups).ravel()
    exact = share * np.asarray(residents, dtype=float)[held]
    base = np.floor(exact + 1e-9)
    totals = np.ceil(np.bincount(groups, exact) - 1e-9)
    missing = totals - np.bincount(groups, base)
    out[held] = base + _largest_remainder(groups, exact - base, missing[groups])
    return out


def _dealt(rows: np.ndarray, weights: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Whole ``totals`` (one per row) dealt to the parts of each row, in proportion to ``weights``.

    ``rows`` gives each part's row; the parts of a row add up to its total exactly.
    """
    n = len(totals)
    weight = np.bincount(rows, weights, minlength=n)
    count = np.bincount(rows, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(weight[rows] > 0, weights / weight[rows], 1.0 / count[rows])
    exact = totals[rows] * fraction
    base = np.floor(exact + 1e-9)
    missing = totals - np.bincount(rows, base, minlength=n)
    return base + _largest_remainder(rows, exact - base, missing[rows])


def before_parts(
    network: Network,
    per_row: np.ndarray,
    per_pair: np.ndarray,
    parts: pd.DataFrame,
    share: float,
) -> pd.DataFrame:
    """Per part: residents with a place in an existing shelter before the plan, and their places.

    From the maximum flow of the existing shelters (whole residents per cell and
    per cell-shelter pair): each shelter's places are whole
    (:func:`whole_places`), and each cell's residents and places are dealt to
    its parts in proportion to their residents.
    """
    used = per_pair > 0
    places = np.zeros(len(per_pair))
    places[used] = whole_places(network.cols[used], per_pair[used], share)
    n = len(network.residents)
    places_by_row = np.bincount(network.rows, places, minlength=n)
    rows = parts["row"].to_numpy()
    weights = parts["residents"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "covered_before": _dealt(rows, weights, per_row.astype(float)),
            "sheltered_before": _dealt(rows, weights, places_by_row),
        }
    )
