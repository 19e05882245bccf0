"""The shelter plan: ranked sites with their reason, the per-unit table, the Plan assembly."""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet.plan import SITE_COLUMNS, Plan
from svcnet.services._common import people_phrase
from svcnet.services._communities import units_of_points
from svcnet.services._shelter_norms import Norms
from svcnet.services._shelter_parts import whole_places


def build_plan(
    region,
    cells,
    level,
    layer,
    table,
    travel,
    rows,
    parts,
    before,
    norms: Norms,
    *,
    group,
    notes,
    solver,
    parameters,
) -> Plan:
    """The plan from the parts (``cells``), each with its row of the travel matrix."""
    from svcnet.services._common import nearest_minutes

    people = cells[group].to_numpy(dtype=float)
    assignment = parts["site"].to_numpy()
    served = assignment >= 0
    sheltered = whole_places(assignment, parts["residents"].to_numpy(), norms.share_used)
    minutes = np.full(len(cells), np.nan)
    at = np.flatnonzero(served)
    minutes[at] = _pair_values(travel.matrix, rows[at], assignment[at])
    n_kept = int((table["status"] == "existing").sum())
    site_ids = table["site_id"].to_numpy()
    frame = pd.DataFrame(
        {
            "cell_id": cells["cell_id"].to_numpy(),
            "unit": cells["unit"].astype(str).to_numpy(),
            "site_id": np.where(served, site_ids[np.maximum(assignment, 0)], None),
            "minutes": minutes,
            "minutes_before": nearest_minutes(travel.matrix, np.arange(n_kept))[rows],
            "straight_line": np.asarray(travel.straight)[rows],
            "sheltered": sheltered,
            "sheltered_before": before["sheltered_before"].to_numpy(),
            "covered_before": before["covered_before"].to_numpy(),
        }
    )
    for g in region.groups:
        frame[g] = cells[g].to_numpy()
    site_units = _site_units(table, layer, region.name)
    open_sites = _ranked_sites(table, assignment, frame, people, site_units, norms)
    unreachable = int((np.diff(travel.matrix.indptr) == 0).sum())
    if (~served).any():
        notes.append(
            f"{people_phrase(people[~served].sum())} in {int((~served).sum()):,} cells have no "
            f"shelter place within {norms.reach_m:,.0f} m ({unreachable:,} cells have no site "
            f"in reach at all; the others lack room nearby); cells listed in plan.unserved."
        )
        if parameters.get("sites") == "modelled":
            notes.append(
                "With modelled sites, people left without a shelter mostly say that the grid "
                "shows no open land near them, not that there is none: give the city's open "
                "spaces with sites=."
            )
    if norms.kind == "fixed":
        notes.append(
            f"Fixed shelters: the reach is {norms.reach_m:,.0f} m, the upper value of "
            f"{norms.radius.value_text} m ({norms.radius.citation}); each shelter holds "
            f"{norms.share_used:.0%} of the residents of its cells "
            f"({norms.share.value_text}, {norms.share.citation}; the high end is the figure for "
            f"central districts), counted in whole places: ceil({norms.share_used:g} x its "
            f"residents)."
        )
    threshold = _threshold_minutes(norms.reach_minutes)
    if threshold != norms.reach_minutes:
        notes.append(
            f"The reach, {norms.reach_m:,.0f} m, is {norms.reach_minutes:.2f} minutes at "
            f"{norms.speed.value:g} m/min; the summary's within_{threshold:g}min columns use it "
            f"rounded up to a tenth of a minute and count exactly the residents within "
            f"{norms.reach_m:,.0f} m (no walk beyond the reach is kept)."
        )
    units = _unit_table(frame, group, layer, region, site_units, open_sites, norms)
    return Plan(
        f"{norms.kind} shelters",
        region.name,
        open_sites,
        frame,
        cells,
        unit_level=level,
        threshold_minutes=threshold,
        group=group,
        norms=[norms.radius, norms.area, norms.share, norms.speed, norms.min_area],
        solver=solver,
        notes=notes,
        parameters={**parameters, "travel": travel.basis, "reach_minutes": norms.reach_minutes},
        unit_table=units,
        units=layer,
    )


def _threshold_minutes(reach_minutes: float) -> float:
    """The reach in minutes as the plan's threshold: rounded up to a tenth of a minute.

    Column names carry it (``within_8.4min_after`` rather than
    ``within_8.33333min_after`` for 500 m at 60 m/min). Rounding up keeps the
    counts those of the exact reach: the plan keeps no walk beyond the reach.

    Examples
    --------
    >>> _threshold_minutes(500 / 60), _threshold_minutes(50.0)
    (8.4, 50.0)
    """
    return math.ceil(round(reach_minutes * 10.0, 6)) / 10.0


def _pair_values(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    from svcnet.models._base import pair_costs

    return pair_costs(matrix.tocsr(), rows, cols)


def _site_units(table: gpd.GeoDataFrame, layer, region_name: str) -> np.ndarray:
    if layer is None or not len(table):
        return np.full(len(table), region_name, dtype=object)
    labels, _ = units_of_points(table.geometry.representative_point(), layer, "shelter site")
    return labels


def _ranked_sites(table, assignment, frame, people, site_units, norms):
    served = assignment >= 0
    idx = assignment[served]
    m = len(table)
    sheltered = frame["sheltered"].to_numpy(dtype=float)
    gained = np.maximum(sheltered - frame["sheltered_before"].to_numpy(dtype=float), 0.0)
    places = np.bincount(idx, weights=sheltered[served], minlength=m)
    residents = np.bincount(idx, weights=people[served], minlength=m)
    person_minutes = np.bincount(
        idx, weights=(people * frame["minutes"].to_numpy())[served], minlength=m
    )
    newly = np.bincount(idx, weights=gained[served], minlength=m)
    is_open = np.zeros(m, dtype=bool)
    is_open[idx] = True
    is_open[: int((table["status"] == "existing").sum())] = True
    sites = table.copy()
    sites["population_served"] = residents
    sites["places_used"] = places
    with np.errstate(invalid="ignore", divide="ignore"):
        sites["mean_minutes"] = person_minutes / residents
    sites["newly_sheltered"] = newly
    sites["unit"] = site_units
    sites = sites[is_open].sort_values(
        ["status", "newly_sheltered", "places_used"], ascending=[True, False, False], kind="stable"
    )
    is_new = (sites["status"] == "new").to_numpy()
    sites["rank"] = pd.array(np.where(is_new, np.cumsum(is_new), 0), dtype="Int64")
    sites.loc[~is_new, "rank"] = pd.NA
    sites["reason"] = [_reason(row, norms) for row in sites.itertuples(index=False)]
    first = list(SITE_COLUMNS)
    rest = [c for c in sites.columns if c not in first]
    return sites[first + rest].reset_index(drop=True)


def _reason(row: Any, norms: Norms) -> str:
    what = {
        "school grounds": "school grounds",
        "open land": "open land",
        "existing shelter": "shelter space",
        "open space (given)": "open space",
    }.get(row.site_type, "open space")
    if row.modelled:
        what += " (modelled)"
    held = people_phrase(row.places_used)
    if norms.share_used < 1:
        held += f" ({norms.share_used:.0%} of {row.population_served:,.0f} residents)"
    text = f"shelters {held} on {row.area_m2:,.0f} m² of {what} within {norms.reach_m:,.0f} m"
    if row.newly_sheltered >= 0.5:
        text += f"; {row.newly_sheltered:,.0f} of them had no shelter in reach"
    if row.status == "existing":
        text = "existing shelter, kept; " + text
    if row.places_used > row.capacity - 0.5:
        text += "; full"
    return text


def _unit_table(frame, group, layer, region, site_units, open_sites, norms) -> pd.DataFrame:
    """The shelter columns of the plan's summary, per unit (see ``plan_shelters``)."""
    people = frame[group].to_numpy(dtype=float)
    parts = pd.DataFrame(
        {
            "unit": frame["unit"].astype(str),
            "pop": people,
            "covered_before": frame["covered_before"].to_numpy(dtype=float),
            "covered_after": people * frame["site_id"].notna().to_numpy(),
            "places_before": frame["sheltered_before"].to_numpy(dtype=float),
            "places_after": frame["sheltered"].to_numpy(dtype=float),
        }
    )
    by_unit = parts.groupby("unit")[list(parts.columns[1:])].sum()
    area = _unit_areas(layer, region, by_unit.index)
    all_units = by_unit.index.union(area.index)
    by_unit = by_unit.reindex(all_units, fill_value=0.0)
    table = pd.DataFrame(index=all_units)
    for when in ("before", "after"):
        table[f"covered_{when}"] = by_unit[f"covered_{when}"]
        table[f"outside_{when}"] = by_unit["pop"] - by_unit[f"covered_{when}"]
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"coverage_{when}"] = by_unit[f"covered_{when}"] / by_unit["pop"]
        table[f"places_for_residents_{when}"] = by_unit[f"places_{when}"]
    table["area_km2"] = area.reindex(all_units).to_numpy() / 1e6
    with np.errstate(invalid="ignore", divide="ignore"):
        table["density_per_km2"] = by_unit["pop"] / table["area_km2"]
    table["demonstration_rank"] = _demonstration_rank(table)
    summed = [
        "covered_before",
        "covered_after",
        "outside_before",
        "outside_after",
        "places_for_residents_before",
        "places_for_residents_after",
        "area_km2",
    ]
    total = {column: table[column].sum() for column in summed}
    pop_total = by_unit["pop"].sum()
    total["coverage_before"] = total["covered_before"] / pop_total if pop_total else np.nan
    total["coverage_after"] = total["covered_after"] / pop_total if pop_total else np.nan
    total["density_per_km2"] = pop_total / total["area_km2"] if total["area_km2"] else np.nan
    table.loc["total"] = pd.Series(total)
    table["demonstration_rank"] = table["demonstration_rank"].astype("Int64")
    gaps = _gap_columns(by_unit["pop"], table, site_units, open_sites, norms)
    table = table.join(gaps, how="left")
    table.index.name = "unit"
    return table


def _demonstration_rank(table: pd.DataFrame) -> pd.Series:
    """Units ranked for demonstration status: most residents without a place after the plan.

    Ties go to the higher density, then to the unit's name.
    """
    order = table.assign(_name=table.index.astype(str)).sort_values(
        ["outside_after", "density_per_km2", "_name"],
        ascending=[False, False, True],
        kind="stable",
        na_position="last",
    )
    rank = pd.Series(np.arange(1, len(order) + 1), index=order.index)
    return rank.reindex(table.index).astype("Int64")


def _unit_areas(layer, region, units: pd.Index) -> pd.Series:
    if layer is None:
        area = float(region.population.geometry.area.sum())
        return pd.Series([area], index=pd.Index([str(units[0]) if len(units) else region.name]))
    return layer.assign(a=layer.geometry.area).groupby("unit")["a"].sum()


def _gap_columns(pop_by_unit, table, site_units, open_sites, norms: Norms) -> pd.DataFrame:
    """Places the norm asks for, places still lacking, and the capacity lying in each unit.

    ``places_required`` (and ``_high``): ``ceil(share x residents)`` at the low
    (high) end of the share (:func:`svcnet.indicators.shelter_gap`).
    ``places_gap_<when>`` (and ``_high``): the places still needed by the
    residents without a place within reach, ``ceil(share x outside_<when>)``.
    ``capacity_located_<when>``: the places of the shelters lying in the unit,
    whoever they serve (residents of a unit often walk to a shelter next door).
    """
    from svcnet.indicators import shelter_gap

    units = pop_by_unit.index
    none = pd.Series(0.0, index=units)
    required = shelter_gap(pop_by_unit, none, kind=norms.kind, share=norms.share)
    pieces = [required[[c for c in required.columns if c.startswith("places_required")]]]
    located_at = np.asarray(open_sites["unit"].astype(str))
    capacity = open_sites["capacity"].to_numpy(dtype=float)
    existing = (open_sites["status"] == "existing").to_numpy()
    for when in ("before", "after"):
        outside = table.loc[units, f"outside_{when}"].clip(lower=0.0)
        gap = shelter_gap(outside, none, kind=norms.kind, share=norms.share)
        gap = gap[[c for c in gap.columns if c.startswith("places_gap")]]
        gap.columns = [c.replace("places_gap", "places_gap" + "_" + when) for c in gap.columns]
        gap = gap.rename(columns={f"places_gap_{when}_high": f"places_gap_high_{when}"})
        held = capacity if when == "after" else np.where(existing, capacity, 0.0)
        located = pd.Series(held).groupby(located_at).sum().reindex(units, fill_value=0.0)
        gap[f"capacity_located_{when}"] = pd.concat(
            [located, pd.Series({"total": float(held.sum())})]
        )
        pieces.append(gap)
    return pd.concat(pieces, axis=1)
