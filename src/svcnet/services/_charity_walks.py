"""Walking times: to the points weighed in a unit, to each level's point, to the nearest one.

Also the holding back of svcnet.costs's per-computation warnings while the plan runs.
"""

from __future__ import annotations

import logging
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from svcnet.models._base import pair_costs
from svcnet.services._charity_levels import Level
from svcnet.services._common import nearest_minutes
from svcnet.services._travel import DETOUR_FACTOR, travel_minutes

__all__ = ["level_minutes", "Nearest", "nearest_points", "held_back_warnings"]


def level_minutes(
    plan_levels: list[Level], cells, region, speed, client: Any = None
) -> dict[str, Any]:
    """Each cell's walk to its unit's point, level by level (one walk per level).

    ``client``: a Dask client to compute the walks on (the same minutes), None here.
    """
    points_of = {}
    for level in plan_levels:
        points = level.points
        frame = gpd.GeoDataFrame(
            {"unit": points["unit"].to_numpy()}, geometry=list(points["geometry"]), crs=region.crs
        )
        index = {u: i for i, u in enumerate(points["unit"])}
        target = np.asarray([index[u] for u in level.labels])
        diagonal = max(math.dist(g.bounds[:2], g.bounds[2:]) for g in level.layer.geometry)
        reach = (2.0 * diagonal + 1_000.0) / speed
        travel = travel_minutes(cells, frame, network=region.network, max_minutes=reach,
                                speed_m_per_min=speed, client=client)  # fmt: skip
        values = pair_costs(travel.matrix.tocsr(), np.arange(len(cells)), target)
        gone = np.isnan(values)
        if gone.any():
            a = cells.geometry.representative_point()
            b = frame.geometry.iloc[target[gone]]
            straight = a.iloc[np.flatnonzero(gone)].distance(b, align=False).to_numpy()
            values[gone] = straight * DETOUR_FACTOR / speed
        points_of[level.name] = values
    return points_of


@dataclass(frozen=True)
class Nearest:
    """Per cell, the walk to the nearest point at an existing outlet and to any point."""

    before: np.ndarray
    after: np.ndarray
    straight: np.ndarray
    basis: str
    notes: tuple[str, ...]
    n_existing: int
    cutoff: float


def nearest_points(
    plan_levels, cells, region, speed: float, walk_minutes: float, client: Any = None
) -> Nearest:
    """The walks of "before" (points at existing outlets) and to the nearest point, per cell.

    One walking-time computation from every cell to every point of the plan
    (each location once), up to three times ``walk_minutes``, on the Dask
    cluster of ``client`` when one is given; its notes say where walks fall
    back to straight lines.
    """
    frames = [lv.points for lv in plan_levels if len(lv.points)]
    points = pd.concat(frames, ignore_index=True).drop_duplicates("location_id")
    locations = gpd.GeoDataFrame(
        {"status": points["status"].to_numpy()}, geometry=list(points["geometry"]), crs=region.crs
    )
    cutoff = 3.0 * float(walk_minutes)
    travel = travel_minutes(cells, locations, network=region.network, max_minutes=cutoff,
                            speed_m_per_min=speed, client=client)  # fmt: skip
    matrix = travel.matrix.tocsr()
    existing = np.flatnonzero(locations["status"].to_numpy() == "existing")
    return Nearest(
        before=nearest_minutes(matrix, existing),
        after=nearest_minutes(matrix, np.arange(len(locations))),
        straight=np.asarray(travel.straight, dtype=bool),
        basis=travel.basis,
        notes=tuple(travel.notes),
        n_existing=len(existing),
        cutoff=cutoff,
    )


class _HeldBack(logging.Filter):
    """Holds back svcnet.costs's warnings about points off the street network (this thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.thread == self.thread
            and record.levelno == logging.WARNING
            and "unreachable and left out" in str(record.msg)
        ):
            self.count += 1
            return False
        return True


@contextmanager
def held_back_warnings():
    """Within: svcnet.costs's per-computation "unreachable" warnings are counted, not logged.

    The planner computes walking times once per unit; it says once, in its
    notes and in one warning, which points are off the street network.
    """
    held = _HeldBack()
    costs_logger = logging.getLogger("svcnet.costs")
    costs_logger.addFilter(held)
    try:
        yield held
    finally:
        costs_logger.removeFilter(held)
