"""The donation-point plan: ranked points with their reason, the cell and unit tables."""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from svcnet.plan import SITE_COLUMNS, Plan

__all__ = ["build_plan"]

_KIND_TEXT = {"post_office": "post office", "telecom": "telecom office"}


def build_plan(
    region,
    cells,
    people,
    plan_levels,
    skipped,
    minutes,
    nearest,
    speed,
    norm,
    *,
    group,
    walk_minutes,
    notes,
    parameters,
) -> Plan:
    """The plan from the points of every level and the walks to them."""
    lowest = plan_levels[-1]
    rows = []
    for depth, level in enumerate(plan_levels):
        pop = pd.Series(people).groupby(level.labels).sum()
        mins = minutes[level.name]
        for point in level.points.to_dict("records"):
            mask = level.labels == point["unit"]
            served = float(people[mask].sum())
            within = float(people[mask & (mins <= walk_minutes)].sum())
            mean = float((people[mask] * mins[mask]).sum() / served) if served else math.nan
            rows.append(
                {
                    **point,
                    "level": level.name,
                    "depth": depth,
                    "site_id": f"{level.name}:{point['unit']}",
                    "population_served": float(pop.get(point["unit"], 0.0)),
                    "mean_minutes": mean,
                    "share_within_walk": within / served if served else math.nan,
                }
            )
    sites = pd.DataFrame(rows)
    sites = sites.sort_values(
        ["depth", "population_served"], ascending=[True, False], kind="stable"
    ).reset_index(drop=True)
    sites["rank"] = pd.array(np.arange(1, len(sites) + 1), dtype="Int64")
    sites["capacity"] = np.nan
    sites["reason"] = [_reason(row, walk_minutes) for row in sites.to_dict("records")]
    first = [
        *SITE_COLUMNS,
        "level",
        "unit",
        "location_id",
        "kind",
        "shared_with",
        "share_within_walk",
    ]
    sites = gpd.GeoDataFrame(sites[[*first, "geometry"]], geometry="geometry", crs=region.crs)
    lowest_ids = np.asarray([f"{lowest.name}:{u}" for u in lowest.labels], dtype=object)
    table = pd.DataFrame(
        {
            "cell_id": cells["cell_id"].to_numpy(),
            "unit": lowest.labels.astype(str),
            "site_id": lowest_ids,
            "minutes": minutes[lowest.name],
            "minutes_before": nearest.before,
            "minutes_nearest": nearest.after,
            "straight_line": nearest.straight,
        }
    )
    for g in region.groups:
        table[g] = cells[g].to_numpy()
    for level in plan_levels:
        table[f"minutes_{level.name}"] = minutes[level.name]
    order = {name: i for i, name in enumerate(parameters["wanted"])}
    solver = sorted(
        [lv.record for lv in plan_levels] + list(skipped),
        key=lambda r: order.get(r["level"], len(order)),
    )
    units = _unit_table(table, plan_levels, group, walk_minutes)
    notes = list(notes)
    notes.append(
        f"Outlets are preferred: one is chosen when its residents' total walk is at most "
        f"{1 + parameters['outlet_tolerance']:.0%} of the best candidate building's."
    )
    notes.append(
        f"Before and after measure the walk to a donation point: before, to the nearest "
        f"point at an existing post or telecom outlet (the network's 'existing' points, "
        f"{nearest.n_existing:,} of them; none is reported beyond "
        f"{nearest.cutoff:g} minutes); after, to the point of the cell's "
        f"{lowest.name}. 'minutes_nearest' is the walk to the nearest point of any level."
    )
    modelled = sites["kind"].eq("cell (modelled)")
    if modelled.any():
        notes.append(
            f"{int(modelled.sum()):,} units have neither an outlet nor a candidate "
            f"building inside: their point is modelled at their most populated cell."
        )
    for level in plan_levels:
        rec = level.record
        points = "point" if rec["units"] == 1 else "points"
        notes.append(
            f"{level.name}: {rec['units']:,} {points} ({rec['shared']:,} shared with a "
            f"level above, {rec['solved']:,} chosen by 1-median)."
        )
    return Plan(
        "charity donation points",
        region.name,
        sites,
        table,
        cells,
        unit_level=lowest.name,
        threshold_minutes=walk_minutes,
        group=group,
        norms=[norm, speed],
        solver=solver,
        notes=notes,
        parameters={
            **parameters,
            "travel": nearest.basis,
        },
        unit_table=units,
        units=lowest.layer,
    )


def _reason(row: dict[str, Any], walk_minutes: float) -> str:
    level, unit = row["level"], row["unit"]
    where = _where(row)
    share = row["share_within_walk"]
    reach = (
        "nobody lives there"
        if not row["population_served"]
        else f"{share:.0%} of the {level} within a {walk_minutes:g}-minute walk"
    )
    if isinstance(row.get("shared_with"), str):
        upper = row["shared_with"].split(":", 1)[0]
        return f"{level} point of {unit}: the {upper} point at {where} lies within it; {reach}"
    text = f"{level} point of {unit} at {where}"
    method = row.get("method")
    if row["kind"] == "candidate building":
        if not row.get("outlets_inside"):
            text += f" (no post or telecom office in the {level})"
        else:
            best_o, best_b = row.get("best_outlet"), row.get("best_building")
            if best_o and best_b and math.isfinite(best_o) and best_b > 0:
                text += f" (its best outlet would make the walk {best_o / best_b - 1:.0%} longer)"
    elif method == "modelled":
        text = (
            f"{level} point of {unit} modelled at its most populated cell, "
            f"{row['location_id']} (no outlet or candidate building in the {level})"
        )
    return f"{text}; {reach}"


def _where(row: dict[str, Any]) -> str:
    name = row.get("name")
    named = isinstance(name, str) and name
    if row["kind"] in _KIND_TEXT:
        kind = _KIND_TEXT[row["kind"]]
        return f"the {name} {kind}" if named else f"the {kind} {row['location_id']}"
    if row["kind"] == "cell (modelled)":
        return f"its most populated cell ({row['location_id']}, modelled)"
    label = name if named else row["location_id"]
    return f"{row['kind']} {label}"


def _unit_table(table: pd.DataFrame, plan_levels, group: str, walk_minutes: float) -> pd.DataFrame:
    """Per lowest-level unit: the point, mean walk and share within the walk at each level."""
    people = table[group].to_numpy(dtype=float)
    units = table["unit"].astype(str)
    out = pd.DataFrame(index=pd.Index(sorted(units.unique()), name="unit"))
    label = f"{walk_minutes:g}min"
    for level in plan_levels:
        mins = table[f"minutes_{level.name}"].to_numpy(dtype=float)
        frame = pd.DataFrame(
            {
                "unit": units,
                "w": people,
                "wm": people * mins,
                "within": people * (mins <= walk_minutes),
                "point": [f"{level.name}:{u}" for u in level.labels],
            }
        )
        grouped = frame.groupby("unit")
        sums = grouped[["w", "wm", "within"]].sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"minutes_{level.name}"] = sums["wm"] / sums["w"]
            out[f"within_{label}_{level.name}"] = sums["within"] / sums["w"]
        out[f"point_{level.name}"] = grouped["point"].agg(lambda s: s.value_counts().index[0])
        total = people.sum()
        out.loc["total", f"minutes_{level.name}"] = frame["wm"].sum() / total if total else np.nan
        out.loc["total", f"within_{label}_{level.name}"] = (
            frame["within"].sum() / total if total else np.nan
        )
        out.loc["total", f"point_{level.name}"] = np.nan  # (the plan compares totals as numbers)
    return out
