"""The bed plan: sites with their beds and reason, the cell and unit tables, the notes."""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet.plan import Plan
from svcnet.services._eldercare_inputs import TOL, Wording

__all__ = ["build_plan"]


def build_plan(region, wording, cells, level, sites, travel, reach, problem, new_beds,
                record, *, group, rate, share, minutes, mode, norms, notes,
                parameters) -> Plan:  # fmt: skip
    """The plan from the new beds per site: sites, cells, units and notes."""
    people = problem.people
    before_beds = problem.fixed
    after_beds = problem.fixed + new_beds
    before = problem.access(before_beds)
    after = problem.access(after_beds)
    with_beds = np.flatnonzero(after_beds > 0)
    nearest_after, site_after = _nearest(reach, with_beds)
    nearest_before, _ = _nearest(reach, np.flatnonzero(before_beds > 0))
    site_ids = sites["site_id"].to_numpy()
    served = site_after >= 0
    table = pd.DataFrame({
        "cell_id": cells["cell_id"].to_numpy(),
        "unit": cells["unit"].to_numpy(),
        "site_id": np.where(served, site_ids[np.maximum(site_after, 0)], None),
        "minutes": np.where(served, nearest_after, np.nan),
        "minutes_before": nearest_before,
        "straight_line": travel.straight,
        "beds_per_1000_before": 1000.0 * before,
        "beds_per_1000_after": 1000.0 * after,
    })  # fmt: skip
    for g in region.groups:
        table[g] = cells[g].to_numpy()
    site_units = _site_units(region, level, sites, cells)
    chosen = _site_table(sites, site_units, problem, reach, before, after, before_beds,
                         after_beds, new_beds, share, minutes, mode, wording)  # fmt: skip
    units = _unit_table(table, group, rate, site_units, before_beds, after_beds, people, before,
                        after, wording)  # fmt: skip
    notes = [*notes, *_outcome_notes(units, table, group, people, after, rate, minutes, mode,
                                     wording, share)]  # fmt: skip
    return Plan(
        wording.service, region.name, chosen, table, cells, unit_level=level,
        threshold_minutes=minutes, group=group, norms=norms, solver=record, notes=notes,
        parameters=parameters, unit_table=units, units=region.boundaries.get(level),
    )  # fmt: skip


def _nearest(reach: sp.csr_matrix, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the least minutes to one of ``columns`` and that column (inf and -1 if none)."""
    minutes = np.full(reach.shape[0], np.inf)
    site = np.full(reach.shape[0], -1, dtype=np.int64)
    if not len(columns):
        return minutes, site
    sub = reach[:, columns].tocoo()
    order = np.lexsort((columns[sub.col], sub.data, sub.row))
    rows = sub.row[order]
    first = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, bool)
    minutes[rows[first]] = sub.data[order][first]
    site[rows[first]] = columns[sub.col[order][first]]
    return minutes, site


def _site_units(region, level, sites, cells) -> np.ndarray:
    """The unit each site lies in (the nearest cell's unit for sites outside every unit)."""
    from scipy.spatial import cKDTree

    points = cells.geometry.representative_point()
    tree = cKDTree(np.column_stack([points.x, points.y]))
    _, nearest = tree.query(np.column_stack([sites.geometry.x, sites.geometry.y]))
    units = cells["unit"].to_numpy()[nearest].astype(object)
    if region.levels:
        layer = region.boundaries[level]
        bounds = layer[[level, layer.geometry.name]]
        joined = gpd.sjoin(sites[["geometry"]], bounds, how="left", predicate="within")
        joined = joined[~joined.index.duplicated(keep="first")]
        inside = joined[level].notna().to_numpy()
        units[inside] = joined[level].astype(str).to_numpy()[inside]
    return units


def _site_table(sites, site_units, problem, reach, before, after, before_beds, after_beds,
                new_beds, share, minutes, mode, wording) -> gpd.GeoDataFrame:  # fmt: skip
    people = problem.people
    coo = reach.tocoo()
    catchment = problem.catchment
    per_person = np.divide(after_beds, catchment, out=np.zeros_like(after_beds),
                           where=catchment > 0)  # fmt: skip
    share_of = np.divide(per_person[coo.col], after[coo.row], out=np.zeros(coo.nnz),
                         where=after[coo.row] > 0)  # fmt: skip
    weight = people[coo.row] * share_of
    n = len(sites)
    served = np.bincount(coo.col, weight, minlength=n)
    weighted_minutes = np.bincount(coo.col, weight * coo.data, minlength=n)
    need = problem.rate * people / 1000.0
    cover = people * after
    removed = np.divide(new_beds, catchment, out=np.zeros_like(new_beds), where=catchment > 0)
    without = np.maximum(need[coo.row] - (cover[coo.row] - people[coo.row] * removed[coo.col]), 0)
    closed = np.bincount(coo.col, without - np.maximum(need[coo.row] - cover[coo.row], 0),
                         minlength=n)  # fmt: skip
    in_reach = people[coo.row]
    access_before = np.bincount(coo.col, in_reach * before[coo.row], minlength=n)
    access_after = np.bincount(coo.col, in_reach * after[coo.row], minlength=n)
    frame = sites.copy()
    frame["unit"] = site_units
    frame["beds"] = after_beds.round().astype(np.int64)
    frame["new_beds"] = new_beds.round().astype(np.int64)
    frame["existing_beds"] = before_beds
    frame["capacity"] = frame["beds"]
    frame["population_served"] = served
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["mean_minutes"] = weighted_minutes / served
        frame["catchment_per_1000_before"] = 1000.0 * access_before / catchment
        frame["catchment_per_1000_after"] = 1000.0 * access_after / catchment
    frame["catchment_" + wording.people] = catchment
    frame["shortfall_closed"] = closed
    frame = frame[after_beds > 0].copy()
    frame = frame.sort_values(
        ["new_beds", "shortfall_closed", "catchment_" + wording.people, "site_id"],
        ascending=[False, False, False, True],
        key=lambda s: s > 0 if s.name == "new_beds" else s,
    )
    has_new = (frame["new_beds"] > 0).to_numpy()
    frame["rank"] = pd.array(np.where(has_new, np.cumsum(has_new), 0), dtype="Int64")
    frame.loc[~has_new, "rank"] = pd.NA
    frame["private_beds"], frame["public_beds"] = _split(frame["new_beds"].to_numpy(), share)
    frame["reason"] = [_reason(row, minutes, mode, wording) for row in frame.itertuples()]
    first = ["site_id", "name", "status", "rank", "population_served", "capacity",
             "mean_minutes", "reason", "beds", "new_beds", "existing_beds", "public_beds",
             "private_beds"]  # fmt: skip
    rest = [c for c in frame.columns if c not in first]
    return gpd.GeoDataFrame(frame[first + rest].reset_index(drop=True), geometry="geometry",
                            crs=sites.crs)  # fmt: skip


def _split(new_beds: np.ndarray, share: float | None) -> tuple[Any, Any]:
    """Private and public new beds per site, by the largest remainder (they add up exactly).

    The private total is ``share`` x all new beds rounded half up; each site
    gets the whole part of its own share, and the beds left go one each to the
    sites with the largest remainders (ties in rank order).
    """
    if share is None:
        missing = pd.array([pd.NA] * len(new_beds), dtype="Int64")
        return missing, missing.copy()
    quota = share * new_beds.astype(float)
    private = np.floor(quota + TOL).astype(np.int64)
    total = int(math.floor(share * new_beds.sum() + 0.5 + TOL))
    left = total - int(private.sum())
    if left > 0:
        order = np.argsort(-(quota - private), kind="stable")[:left]
        private[order] += 1
    return private, new_beds.astype(np.int64) - private


def _reason(row: Any, minutes: float, mode: str, wording: Wording) -> str:
    people = getattr(row, "catchment_" + wording.people)
    reach = f"{people:,.0f} {wording.people} within a {minutes:g}-minute {mode}"
    levels = (f"now at {_rate_text(row.catchment_per_1000_after)} beds per 1,000 (from "
              f"{_rate_text(row.catchment_per_1000_before)})")  # fmt: skip
    mean = f"mean {mode} {row.mean_minutes:.1f} min"
    if row.status == "new":
        return f"adds {row.new_beds:,} beds for {reach}, {levels}; {mean}"
    text = f"existing, {row.existing_beds:,.0f} beds kept"
    if row.new_beds > 0:
        text += f" and {row.new_beds:,} added"
    return f"{text}, for {reach}, {levels}; {mean}"


def _rate_text(value: float) -> str:
    """Beds per 1,000 as printed: whole numbers from 10 up, one decimal below."""
    return f"{value:,.0f}" if abs(value) >= 10 or value == 0 else f"{value:.1f}"


def _unit_table(table, group, rate, site_units, before_beds, after_beds, people, before, after,
                wording) -> pd.DataFrame:  # fmt: skip
    from svcnet.indicators import TOTAL, bed_gap

    units = table["unit"].astype(str)
    elderly = pd.Series(people).groupby(units.to_numpy()).sum()
    index = elderly.index

    def by_unit(values: np.ndarray, labels: np.ndarray) -> pd.Series:
        sums = pd.Series(values).groupby(labels).sum()
        return sums.reindex(index, fill_value=0.0)

    labels = units.to_numpy()
    site_labels = np.asarray(site_units, dtype=str)
    beds_before = by_unit(before_beds, site_labels)
    beds_after = by_unit(after_beds, site_labels)
    need = rate * people / 1000.0
    frame = pd.DataFrame({
        wording.people: elderly,
        "beds_before": beds_before,
        "beds_after": beds_after,
        "access_before": by_unit(people * before, labels),
        "access_after": by_unit(people * after, labels),
        f"{wording.people}_below_norm_before": by_unit(people * (people * before < need - TOL),
                                                       labels),
        f"{wording.people}_below_norm_after": by_unit(people * (people * after < need - TOL),
                                                      labels),
    })  # fmt: skip
    frame.loc[TOTAL] = frame.sum()
    outside = set(site_labels[after_beds > 0]) - set(index)
    if outside:
        frame.loc[TOTAL, ["beds_before", "beds_after"]] = [before_beds.sum(), after_beds.sum()]
    result = pd.DataFrame(index=frame.index)
    result[wording.people] = frame[wording.people]
    result["beds_before"] = frame["beds_before"]
    result["beds_after"] = frame["beds_after"]
    with np.errstate(divide="ignore", invalid="ignore"):
        for when in ("before", "after"):
            result[f"beds_per_1000_{when}"] = 1000.0 * frame[f"beds_{when}"] / frame[wording.people]
        for when in ("before", "after"):
            result[f"access_per_1000_{when}"] = (
                1000.0 * frame[f"access_{when}"] / frame[wording.people]
            )
    result["norm_per_1000"] = rate
    result["meets_norm"] = result["access_per_1000_after"] >= rate - 1e-7
    for when in ("before", "after"):
        column = f"{wording.people}_below_norm_{when}"
        result[column] = frame[column]
    gaps = {}
    for when in ("before", "after"):
        gap = bed_gap(elderly, beds_after if when == "after" else beds_before,
                      beds_per_1000=float(rate))  # fmt: skip
        gaps[when] = gap
    result["beds_required"] = gaps["after"]["beds_required"]
    result["beds_gap_before"] = gaps["before"]["beds_gap"]
    result["beds_gap_after"] = gaps["after"]["beds_gap"]
    result.index.name = "unit"
    return result


def _outcome_notes(units, table, group, people, after, rate, minutes, mode, wording, share):
    from svcnet.indicators import TOTAL

    notes = []
    total = units.loc[TOTAL]
    notes.append(
        f"Beds per 1,000 {wording.people} within a {minutes:g}-minute {mode} (2SFCA): "
        f"{total['access_per_1000_before']:.1f} before, {total['access_per_1000_after']:.1f} "
        f"after, against {rate:.3g}; {total['beds_after']:,.0f} beds in all "
        f"({total['beds_after'] - total['beds_before']:,.0f} new)."
    )
    short = units.drop(index=TOTAL)
    short = short[~short["meets_norm"]]
    if len(short):
        missing = (rate - short["access_per_1000_after"]) * short[wording.people] / 1000.0
        names = ", ".join(
            f"{u} ({v:.2f}, {m:,.1f} beds short)"
            for u, v, m in zip(short.index, short["access_per_1000_after"], missing, strict=True)
        )
        notes.append(
            f"{len(short)} units stay below the norm (beds per 1,000 {wording.people} within "
            f"reach, and the beds they lack): {names}."
        )
    far = people[after <= 0].sum()
    if far > 0:
        notes.append(
            f"{far:,.0f} {wording.people} have no bed within a {minutes:g}-minute {mode} "
            f"after the plan."
        )
    if share is not None:
        notes.append(
            f"{share:.0%} of the new beds are reported as private (private_beds). The Shenzhen "
            f"plan's share counts welfare institutions; here it splits beds, site by site."
        )
    return notes
