"""The levels of the donation network: the arguments checked, each level's units and cells."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from svcnet import standards
from svcnet.errors import InputError
from svcnet.services._communities import community_layer, units_of_points

__all__ = ["Level", "check_numbers", "wanted_levels", "planned_levels"]


@dataclass
class Level:
    """One level to plan: its units (``unit``, geometry) and each cell's unit."""

    name: str
    layer: gpd.GeoDataFrame
    labels: np.ndarray
    stand_in: str = ""
    points: pd.DataFrame = field(default_factory=pd.DataFrame)
    record: dict[str, Any] = field(default_factory=dict)


def check_numbers(walk_minutes: float, outlet_tolerance: float) -> None:
    """Raise unless the walk is a finite number above 0 and the tolerance one of at least 0."""
    for value, what in ((walk_minutes, "walk_minutes"), (outlet_tolerance, "outlet_tolerance")):
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what} must be a number; got {value!r}") from exc
        low = 0.0 if what == "outlet_tolerance" else math.ulp(0.0)  # a tolerance may be 0
        if not (math.isfinite(number) and number >= low):
            bound = "at least 0" if low == 0 else "above 0"
            raise InputError(f"{what} must be a finite number {bound}; got {value!r}")


def wanted_levels(levels: Sequence[str] | None) -> list[str]:
    """The level names asked for, coarsest first, without repeats (default the norm's four)."""
    if levels is None:
        return list(standards.CHARITY_LEVELS)
    if isinstance(levels, str) or not all(isinstance(x, str) and x for x in levels):
        raise InputError(f"levels must be a list of level names; got {levels!r}")
    wanted = list(dict.fromkeys(levels))
    if not wanted:
        raise InputError("levels is empty")
    return wanted


def planned_levels(region, cells, wanted, communities, group):
    """The levels to plan (coarsest first) and those skipped, with notes."""
    planned, skipped, notes = [], [], []
    finest = wanted[-1]
    have = list(region.levels)
    for name in wanted:
        if name in have:
            layer = _layer_of(region, name)
            labels = _cell_labels(cells, layer, name, group)
            planned.append(Level(name, layer, labels))
            continue
        if name != finest:
            reason = f"the region has no {name} boundaries"
            skipped.append(
                {
                    "level": name,
                    "status": "skipped",
                    "reason": reason,
                    "gap": 0.0,
                    "seconds": 0.0,
                    "sites": 0,
                }
            )
            notes.append(f"No {name} points: {reason}.")
            continue
        if communities is not None:
            layer = community_layer(communities, region.crs)
            labels, outside = units_of_points(
                cells.geometry.representative_point(), layer, "grid cell", name
            )
            stand_in = f"the {len(layer):,} areas given (communities=)"
            notes += outside
        elif have:
            layer = _layer_of(region, have[-1])
            labels = _cell_labels(cells, layer, have[-1], group)
            stand_in = f"the {have[-1]} level"
        else:
            layer = gpd.GeoDataFrame(
                {"unit": [region.name]},
                geometry=[region.population.geometry.union_all()],
                crs=region.crs,
            )
            labels = np.full(len(cells), region.name, dtype=object)
            stand_in = "the whole region"
        planned.append(Level(name, layer, np.asarray(labels, dtype=object), stand_in))
        verb = "stand" if stand_in.startswith("the ") and "areas" in stand_in else "stands"
        notes.append(f"The region has no {name} boundaries: {stand_in} {verb} in for them.")
    extra = [lv for lv in have if lv not in wanted]
    if extra:
        notes.append(f"Levels {extra} of the region are not planned (pass levels= to plan them).")
    if not planned:
        raise InputError(f"none of the levels {wanted} can be planned in this region")
    return planned, skipped, notes


def _layer_of(region, name: str) -> gpd.GeoDataFrame:
    layer = region.boundaries[name][[name, "geometry"]].rename(columns={name: "unit"})
    layer["unit"] = layer["unit"].astype(str)
    if layer["unit"].duplicated().any():
        layer = layer.dissolve(by="unit").reset_index()
    return layer.reset_index(drop=True)


def _cell_labels(cells, layer, name, group) -> np.ndarray:
    from svcnet.indicators import assign_units

    labels = assign_units(cells, layer.rename(columns={"unit": name}), name, population=group)
    return labels.astype(str).to_numpy(dtype=object)
