r"""Eldercare and child-welfare beds: how many beds to put where.

Beds are allocated to candidate sites in blocks, each opened site holding at
least a minimum number of beds, so that the beds per 1,000 elderly *within
reach* meet the norm (40, GB 50437 §3.2.1) in every boundary unit and, as far
as the budget allows, in every cell.

Access is the two-step floating catchment (2SFCA, :func:`svcnet.access.two_step_fca`)
with a fixed catchment of ``travel_minutes``: site :math:`j` reaches the cells
:math:`N(j) = \{i : t_{ij} \le T\}` holding :math:`D_j = \sum_{i \in N(j)} E_i`
elderly, and cell :math:`i` reaches :math:`A_i = \sum_{j: t_{ij} \le T} x_j / D_j`
beds per elderly person, :math:`x_j` the beds of site :math:`j`. As :math:`D_j`
does not depend on the beds, :math:`A_i` is linear in them, and the planning
problem is a mixed-integer linear programme (solved with HiGHS through
:func:`svcnet.solvers.highs.solve_mip`).

Formulation
-----------
Data: elderly :math:`E_i` per cell, unit :math:`u(i)`, norm :math:`r` beds per
1,000, need :math:`n_i = r E_i / 1000`, :math:`n_u = \sum_{i \in u} n_i`;
existing beds :math:`B_j` (fixed); block size :math:`k`, least blocks per site
:math:`\ell`, most blocks :math:`U_j`; a budget :math:`Q` of new beds; the
elderly-weighted mean minutes :math:`m_j` from site :math:`j`'s catchment.

Variables: integer blocks :math:`b_j \in \{0..U_j\}` and a binary
:math:`y_j` (open) per candidate; a cell shortfall :math:`s_i \ge 0`; unit
shortfalls :math:`\sigma_{uq} \ge 0` for tiers :math:`q = 0..K-1`.

.. math::

    \min \; \sum_u \sum_{q<K} \frac{W}{K} \sigma_{uq} + \sum_i s_i
         + \sum_j k b_j (\varepsilon_b + \varepsilon_t m_j / T)

subject to

.. math::

    s_i + E_i \sum_{j \ni i} \frac{k b_j + B_j}{D_j} &\ge n_i
        && \text{(cell shortfall, in beds)} \\
    \sigma_{uq} + \sum_{i \in u} E_i \sum_{j \ni i} \frac{k b_j + B_j}{D_j}
        &\ge (1 - q/K)\, n_u && \text{(unit shortfall by tier)} \\
    \ell y_j \le b_j &\le U_j y_j && \text{(least and most beds per site)} \\
    \sum_j k b_j &\le Q && \text{(budget)}

The cell term is the elderly-weighted shortfall to the norm, in beds (a bed
closes at most one bed of it, since :math:`\sum_{i} E_i / D_j = 1` over a
catchment). The unit term is a convex piecewise-linear penalty (:data:`UNIT_TIERS`
tiers of weight :data:`UNIT_WEIGHT` / K): a bed missing where a unit is far
below the norm weighs more than one missing near it, so a budget too small for
the norm is shared between units in proportion to their need (to within one
tier) instead of filling some units and leaving others empty, and a unit's
norm comes before any cell's (each tier weighs at least 2 per bed, a cell at
most 1). Small costs per bed and per bed-minute then prefer fewer beds and
nearer sites. A site gets no more beds than the norm asks for the elderly in
its catchment (rounded up to a block, and at least the least size): beyond
that its beds would only raise cells already at the norm.

Before solving, cells of one unit with the same set of sites in reach are
merged (their access is equal, so the shortfall adds up exactly), cells and
units the existing beds already bring to the norm drop out, and candidates
with no elderly in reach are left out. A lazy greedy (the best step per bed
first) gives HiGHS its starting solution, so a plan stopped by the time limit
is never worse than the greedy one; the plan's ``solver`` record holds both
objectives, the bound and the gap. Every solution is checked against the raw
cells: blocks, sizes and budget, and the objective recomputed with
:func:`svcnet.access.two_step_fca`.

The bound is weak when the budget nears the need (the LP relaxation ignores
the least site size, so it can top up every cell exactly): a gap of 10 % or
more of the remaining shortfall is usual then (Futian, budget = need: 13 %
after 60 s; the city-wide grid needs far longer), while a budget well below
the need (Shenzhen's 8,600 beds) solves to within 0.1 %.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from numbers import Real
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet import standards
from svcnet.access import two_step_fca
from svcnet.errors import InfeasibleError, InputError
from svcnet.models.solution import VerificationError, relative_gap
from svcnet.plan import Plan
from svcnet.services._common import (
    choose_candidates,
    existing_facilities,
    gap_candidates,
    planning_cells,
    site_table,
)
from svcnet.services._travel import DETOUR_FACTOR, travel_minutes

logger = logging.getLogger(__name__)

__all__ = ["plan_eldercare", "plan_child_welfare", "UNIT_WEIGHT", "UNIT_TIERS", "DRIVE_SPEED"]

#: Weight of a bed missing for a unit to reach the norm, when the unit is at none of it.
UNIT_WEIGHT = 20.0
#: Tiers of the unit penalty: a missing bed weighs UNIT_WEIGHT x (tiers below the unit's level) / K.
UNIT_TIERS = 10
#: Driving speed (m/min, 24 km/h) assumed when ``mode="drive"`` and no speed is given.
DRIVE_SPEED = 400.0
_BED_COST = 1e-3  # per bed: no bed that closes no shortfall
_MINUTE_COST = 1e-4  # per bed, times the catchment's mean minutes over the catchment time
_TOL = 1e-9


@dataclass(frozen=True)
class _Wording:
    """What a bed planner is called and whom it serves."""

    service: str  # "eldercare beds"
    people: str  # "elderly"
    facilities: tuple[str, ...]  # region facility services counted as existing
    facility_noun: str  # "eldercare facilities"


_ELDERCARE = _Wording("eldercare beds", "elderly", ("eldercare",), "eldercare facilities")
_CHILD_WELFARE = _Wording(
    "child-welfare beds", "children", ("child_welfare",), "child-welfare facilities"
)


def plan_eldercare(
    region: Any,
    *,
    beds_per_1000: float | Any = None,
    elderly: str = "pop_60plus",
    total_beds: float | Any = None,
    existing: Any = None,
    existing_beds: str | float | None = None,
    expand_existing: bool = False,
    candidates: Any = None,
    fill_gaps: bool = True,
    min_beds_per_site: float | Any = None,
    block: int = 10,
    max_beds_per_site: int = 300,
    floor_area_per_bed: float | Any = None,
    travel_minutes: float = 15.0,
    mode: str = "walk",
    speed: float | Any = None,
    private_share: float | Any = None,
    time_limit: float | None = 60.0,
    mip_gap: float = 1e-3,
    seed: int = 0,
) -> Plan:
    """Plan eldercare beds: how many beds to put at which sites.

    Beds go to candidate sites in blocks of ``block``, every opened site
    holding at least ``min_beds_per_site``, so that the beds per 1,000 elderly
    within ``travel_minutes`` (2SFCA access) meet the norm in every unit and,
    as far as the budget allows, in every cell; the formulation is in the
    module docstring (:mod:`svcnet.services.eldercare`).

    Parameters
    ----------
    region
        A :class:`svcnet.Region` (population grid, finest boundary level,
        facilities, candidates and street network when it has one).
    beds_per_1000
        The norm: beds per 1,000 elderly; default ``eldercare_beds_per_1000_elderly``
        (40, GB 50437). Shenzhen's target counts *registered* elderly
        (``eldercare_beds_per_1000_registered_elderly``), the grid residents.
    elderly
        The population column counted as elderly (``pop_60plus`` or ``pop_65plus``).
    total_beds
        All beds after the plan, existing included (e.g. the Shenzhen plan's
        8,600, or ``standards.resolve("eldercare_beds_target")``). Default:
        the norm for all the elderly of the region, so the new beds are the
        norm's beds less the existing ones (rounded up to a block).
    existing
        Existing eldercare facilities: None for the region's facilities whose
        ``service`` is ``eldercare``, False for none, or a GeoDataFrame of points.
    existing_beds
        Their beds: None for the ``capacity`` column, another column's name,
        or one number for every facility.
    expand_existing
        Let the plan add beds to existing facilities too (up to ``max_beds_per_site``).
    candidates
        Candidate sites (GeoDataFrame of points with ``candidate_id``); default
        the region's building candidates.
    fill_gaps
        Add a modelled candidate (kind ``cell (modelled)``) where cells have no
        candidate within reach, as :func:`svcnet.plan_centers` does.
    min_beds_per_site
        The least beds of a new site; default ``eldercare_min_beds_per_site``
        (20, GB 50437). A multiple of ``block``.
    block
        Beds are added in blocks of this many.
    max_beds_per_site
        The most beds of one site (an svcnet assumption: 300, a care home for
        a 15-minute life circle of 50,000-100,000 residents). A multiple of ``block``.
    floor_area_per_bed
        m² of floor per bed: a candidate with ``floor_area_m2`` takes at most
        that area over this many beds. Default ``eldercare_floor_area_per_bed``
        (35, GB 50437); False to ignore floor area.
    travel_minutes
        The catchment: elderly within this many minutes of a site share its beds.
    mode
        ``"walk"`` or ``"drive"``, on the region's network when it has one and
        along straight lines x 1.3 otherwise.
    speed
        Metres per minute; default the ``walking_speed`` norm (60) for walking
        and :data:`DRIVE_SPEED` for driving.
    private_share
        The share of the new beds to be run privately (reported per site as
        ``private_beds`` and ``public_beds``); default ``eldercare_private_share``
        (0.5); False for no split.
    time_limit, mip_gap, seed
        Passed to HiGHS; the plan's ``solver`` reports the status, bound and gap.

    Returns
    -------
    Plan
        ``sites``: sites with beds, new and existing, with ``beds`` (=
        ``capacity``), ``new_beds``, ``existing_beds``, ``public_beds``,
        ``private_beds``, ``catchment_elderly`` (:math:`D_j`),
        ``shortfall_closed`` and the one-line ``reason``. ``rank`` orders the
        sites with new beds by ``shortfall_closed``: the beds of shortfall to
        the norm the site's new beds close, i.e. where the elderly's access rises
        most towards the norm. ``population_served`` shares each cell's
        elderly among the sites it reaches in proportion to what each adds to
        its access (:math:`E_i (x_j / D_j) / A_i`), so it sums to the elderly
        with any bed in reach; ``mean_minutes`` is weighted the same way.
        ``assignment``: per cell the nearest site with beds and its minutes,
        ``minutes_before`` to the nearest existing facility with beds, and
        ``beds_per_1000_before`` / ``beds_per_1000_after`` (2SFCA access x 1000).
        ``unit_table``: per unit and in total the elderly, beds located there
        before and after, beds per 1,000 (plain ratio and 2SFCA access),
        ``meets_norm`` (access after at least the norm), the elderly in cells
        below the norm, and the gap to the norm (:func:`svcnet.indicators.bed_gap`).

    Raises
    ------
    InputError
        Unknown elderly column, no candidates, a total below the existing
        beds, an existing facility without a bed count, sizes not fitting
        the block.
    InfeasibleError
        No candidate can take a site of the least size with elderly in reach.

    Examples
    --------
    Two districts 2 km apart: the west needs 40 beds (1,000 elderly), the east 20.

    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> import svcnet
    >>> grid = gpd.GeoDataFrame({"cell_id": ["w1", "w2", "e1"], "pop": [4000, 4000, 4000],
    ...     "pop_60plus": [500, 500, 500]}, crs=32650, geometry=[box(0, 0, 100, 100),
    ...     box(100, 0, 200, 100), box(2000, 0, 2100, 100)])
    >>> districts = gpd.GeoDataFrame({"district": ["west", "east"]}, crs=32650,
    ...     geometry=[box(0, 0, 1000, 100), box(1000, 0, 3000, 100)])
    >>> sites = gpd.GeoDataFrame({"candidate_id": ["W", "E"]}, crs=32650,
    ...     geometry=[Point(100, 50), Point(2050, 50)])
    >>> region = svcnet.Region(grid, boundaries={"district": districts}, candidates=sites)
    >>> plan = plan_eldercare(region)
    >>> plan.sites[["site_id", "beds"]].values.tolist()
    [['W', 40], ['E', 20]]
    >>> plan.summary().loc[["west", "east"], "access_per_1000_after"].tolist()
    [40.0, 40.0]
    """
    rate = standards.resolve("eldercare_beds_per_1000_elderly", beds_per_1000)
    least = standards.resolve("eldercare_min_beds_per_site", min_beds_per_site)
    total = None if total_beds is None else standards.resolve("eldercare_beds_target", total_beds)
    share = None if private_share is False else standards.resolve(
        "eldercare_private_share", private_share
    )  # fmt: skip
    area = None if floor_area_per_bed is False else standards.resolve(
        "eldercare_floor_area_per_bed", floor_area_per_bed
    )  # fmt: skip
    norms = [n for n in (rate, total, least, area, share) if n is not None]
    notes = [
        f"Elderly are counted as {elderly!r} (residents in the population grid) against "
        f"{rate.value_text} beds per 1,000 ({rate.citation}). Shenzhen's own target (40 beds "
        f"per 1,000, 8,600 beds) counts registered (hukou) elderly, far fewer than the "
        f"resident elderly of the grid: a plan against residents asks for more beds."
    ]
    return _plan_beds(
        region, _ELDERCARE, group=elderly, rate=rate.value, norms=norms, notes=notes,
        total=None if total is None else total.value, existing=existing,
        existing_beds=existing_beds, expand_existing=expand_existing, candidates=candidates,
        fill_gaps=fill_gaps, least=least.value, block=block, most=max_beds_per_site,
        area_per_bed=None if area is None else area.value, minutes=travel_minutes, mode=mode,
        speed=speed, share=None if share is None else share.value, time_limit=time_limit,
        mip_gap=mip_gap, seed=seed,
    )  # fmt: skip


def plan_child_welfare(
    region: Any,
    *,
    total_beds: float | Any = None,
    children: str = "pop_0_14",
    existing: Any = None,
    existing_beds: str | float | None = None,
    expand_existing: bool = False,
    candidates: Any = None,
    fill_gaps: bool = True,
    min_beds_per_site: int = 20,
    block: int = 10,
    max_beds_per_site: int = 300,
    travel_minutes: float = 15.0,
    mode: str = "walk",
    speed: float | Any = None,
    private_share: float | None = None,
    time_limit: float | None = 60.0,
    mip_gap: float = 1e-3,
    seed: int = 0,
) -> Plan:
    """Plan child-welfare beds with the eldercare machinery (:func:`plan_eldercare`).

    The norm is a total, not a rate: ``total_beds`` (default
    ``child_welfare_beds_target``, Shenzhen's 1,200 beds) spread over the
    region's children gives the beds per 1,000 children each unit and cell
    should reach within ``travel_minutes``. Existing facilities are the
    region's of ``service`` ``child_welfare``.

    Parameters
    ----------
    region
        A :class:`svcnet.Region`.
    total_beds
        All child-welfare beds after the plan, existing included. 1,200 is a
        city-wide target: for a part of the city pass its share.
    children
        The population column counted as children.
    existing, existing_beds, expand_existing, candidates, fill_gaps
        As in :func:`plan_eldercare`.
    min_beds_per_site, block, max_beds_per_site
        Sizes of a site (no norm was found for child-welfare homes: 20 and 300
        beds are svcnet assumptions).
    travel_minutes, mode, speed
        The catchment. Child-welfare homes serve a whole city; on a city-wide
        region consider ``mode="drive"`` and a longer time.
    private_share
        A share of the new beds run privately, or None for no split (the plan
        sets none for child welfare).
    time_limit, mip_gap, seed
        Passed to HiGHS.

    Returns
    -------
    Plan
        As :func:`plan_eldercare`, counting children.

    Raises
    ------
    InputError, InfeasibleError
        As :func:`plan_eldercare`.

    Examples
    --------
    >>> import svcnet
    >>> plan = plan_child_welfare(svcnet.datasets.load_futian(), total_beds=300,
    ...                           time_limit=10)  # doctest: +SKIP
    >>> int(plan.sites["beds"].sum())  # doctest: +SKIP
    300
    """
    total = standards.resolve("child_welfare_beds_target", total_beds)
    cells, _, _ = planning_cells(region, children)
    people = float(cells[children].sum())
    rate = 1000.0 * total.value / people
    notes = [
        f"Children are counted as {children!r}; {total.value:,.0f} child-welfare beds "
        f"({total.citation}) over {people:,.0f} children make the target of {rate:.3g} beds "
        f"per 1,000 children.",
        f"No norm for the size of a child-welfare home was found: {min_beds_per_site:g}-"
        f"{max_beds_per_site:g} beds per site are svcnet assumptions.",
    ]
    return _plan_beds(
        region, _CHILD_WELFARE, group=children, rate=rate, norms=[total], notes=notes,
        total=total.value, existing=existing, existing_beds=existing_beds,
        expand_existing=expand_existing, candidates=candidates, fill_gaps=fill_gaps,
        least=min_beds_per_site, block=block, most=max_beds_per_site, area_per_bed=None,
        minutes=travel_minutes, mode=mode, speed=speed, share=private_share,
        time_limit=time_limit, mip_gap=mip_gap, seed=seed,
    )  # fmt: skip


# =========================================================================================
# the shared machinery
# =========================================================================================
def _plan_beds(region, wording, *, group, rate, norms, notes, total, existing, existing_beds,
               expand_existing, candidates, fill_gaps, least, block, most, area_per_bed,
               minutes, mode, speed, share, time_limit, mip_gap, seed) -> Plan:  # fmt: skip
    block, least, most = _check_sizes(block, least, most)
    minutes = _positive(minutes, "travel_minutes")
    if mode not in ("walk", "drive"):
        raise InputError(f"mode must be 'walk' or 'drive'; got {mode!r}")
    if share is not None and not (isinstance(share, Real) and 0 <= share <= 1):
        raise InputError(f"private_share must be a share in [0, 1] or None; got {share!r}")
    speed_value, speed_norm = _speed(mode, speed)
    if speed_norm is not None:
        norms = [*norms, speed_norm]
    cells, level, cell_notes = planning_cells(region, group)
    notes = [*notes, *cell_notes]
    kept = existing_facilities(region, existing, wording.facilities, wording.facility_noun)
    fixed = _existing_beds(kept, existing_beds, wording)
    people = cells[group].to_numpy(dtype=float)
    budget = _budget(total, fixed.sum(), rate * people.sum() / 1000.0, block, wording, notes)
    chosen = choose_candidates(region, candidates, kinds=("building",))
    chosen, caps = _candidate_caps(chosen, most, least, block, area_per_bed, notes)
    if fill_gaps:
        reach_m = minutes * speed_value / DETOUR_FACTOR
        chosen, gap_notes = gap_candidates(cells, chosen, reach_m, group)
        caps = np.concatenate([caps, np.full(len(chosen) - len(caps), most)])
        notes += gap_notes
    sites = site_table(kept, chosen, region.crs)
    network = region.network if region.has_network else None
    travel = travel_minutes(
        cells, sites, network=network, max_minutes=minutes, speed_m_per_min=speed_value,
        mode=mode,
    )  # fmt: skip
    notes += list(travel.notes)
    reach = _within(travel.matrix, minutes)
    problem = _BedProblem.build(
        people=people, units=cells["unit"].to_numpy(), reach=reach, fixed=fixed,
        caps=caps, n_kept=len(kept), expand_existing=expand_existing, rate=rate, block=block,
        least=least, most=most, budget=budget, minutes=minutes,
    )  # fmt: skip
    if problem.n_variable == 0 or budget < (block if expand_existing else least):
        if not fixed.sum():
            msg = (
                f"no new site of {least:g} beds can be opened (budget {budget:,.0f} new beds; "
                f"{problem.n_variable} candidate sites with {wording.people} in reach) and no "
                f"existing {wording.facility_noun} have beds: nothing to plan"
            )
            raise InfeasibleError(msg)
        notes.append(
            f"No new beds are planned: the budget allows {budget:,} new beds, and "
            f"{problem.n_variable:,} candidate sites can take a site of {least:g} beds with "
            f"{wording.people} in reach."
        )
        new_beds, record = np.zeros(len(sites)), _no_solve_record(problem)
    else:
        new_beds, record = problem.solve(time_limit=time_limit, mip_gap=mip_gap, seed=seed)
        if record["status"] == "time_limit":
            notes.append(
                f"The solver stopped at its time limit ({time_limit:g} s) with a gap of "
                f"{record['gap']:.2%}: the plan's objective (weighted beds of shortfall) is "
                f"within {record['objective'] - record['bound']:,.1f} of the best possible. "
                f"A longer time_limit may improve it; the bound is weak when the "
                f"budget nears the need, since the LP relaxation ignores the least site size."
            )
    parameters = {
        "group": group, "beds_per_1000": rate, "total_beds": total, "budget_new_beds": budget,
        "existing": len(kept), "existing_beds": float(fixed.sum()),
        "expand_existing": expand_existing, "min_beds_per_site": least, "block": block,
        "max_beds_per_site": most, "floor_area_per_bed": area_per_bed,
        "travel_minutes": minutes, "mode": mode, "speed_m_per_min": speed_value,
        "private_share": share, "time_limit": time_limit, "mip_gap": mip_gap, "seed": seed,
        "travel": travel.basis, "unit_weight": UNIT_WEIGHT, "unit_tiers": UNIT_TIERS,
    }  # fmt: skip
    return _build_plan(
        region, wording, cells, level, sites, travel, reach, problem, new_beds, record,
        group=group, rate=rate, share=share, minutes=minutes, mode=mode, norms=norms,
        notes=notes, parameters=parameters,
    )  # fmt: skip


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
        raise InputError(f"{name} must be a positive number; got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite; got {value!r}")
    return float(value)


def _whole(value: object, name: str) -> int:
    whole = isinstance(value, Real) and math.isfinite(value) and value == int(value)
    if isinstance(value, bool) or not whole or value < 0:
        raise InputError(f"{name} must be a whole number of beds; got {value!r}")
    return int(value)


def _check_sizes(block: object, least: object, most: object) -> tuple[int, int, int]:
    """Block, least and most beds per site: whole, positive, least and most in whole blocks."""
    block = _whole(block, "block")
    if block < 1:
        raise InputError(f"block must be at least 1 bed; got {block}")
    least, most = _whole(least, "min_beds_per_site"), _whole(most, "max_beds_per_site")
    for name, value in (("min_beds_per_site", least), ("max_beds_per_site", most)):
        if value % block:
            lower, upper = value // block * block, (value // block + 1) * block
            msg = (
                f"{name} ({value}) is not a whole number of blocks of {block} beds; use "
                f"{name}={max(lower, block)} or {upper}, or a block dividing {value}"
            )
            raise InputError(msg)
    if most < max(least, block):
        msg = f"max_beds_per_site ({most}) must be at least min_beds_per_site ({least}) and block"
        raise InputError(msg)
    return block, least, most


def _speed(mode: str, speed: object) -> tuple[float, Any]:
    if mode == "walk":
        norm = standards.resolve("walking_speed", speed)
        return float(norm.value), norm
    if speed is None:
        return DRIVE_SPEED, None
    value = speed.value if isinstance(speed, standards.Norm) else speed
    return _positive(value, "speed"), None


def _existing_beds(kept: gpd.GeoDataFrame, existing_beds: object, wording: _Wording) -> np.ndarray:
    """The beds of each existing facility, from a column or one number."""
    if isinstance(existing_beds, Real) and not isinstance(existing_beds, bool):
        if not (math.isfinite(existing_beds) and existing_beds >= 0):
            raise InputError(f"existing_beds must be a non-negative number; got {existing_beds!r}")
        return np.full(len(kept), float(existing_beds))
    if existing_beds is not None and not isinstance(existing_beds, str):
        msg = f"existing_beds must be a column name, a number or None; got {existing_beds!r}"
        raise InputError(msg)
    if not len(kept):
        return np.zeros(0)
    column = existing_beds or "capacity"
    ids = kept["facility_id"].astype(str)
    if column not in kept.columns:
        msg = f"the existing {wording.facility_noun} have no column {column!r} with their beds"
        raise InputError(msg, layer="existing", column=column)
    beds = pd.to_numeric(kept[column], errors="coerce").to_numpy(dtype=float)
    missing = ~np.isfinite(beds)
    if missing.any():
        msg = (f"{int(missing.sum())} existing {wording.facility_noun} have no bed count in "
               f"column {column!r}; give their beds with existing_beds= (a column or a number "
               f"per facility) or plan without them (existing=False)")  # fmt: skip
        raise InputError(msg, layer="existing", column=column, rows=ids[missing].tolist())
    if (beds < 0).any():
        msg = f"existing {wording.facility_noun} have negative beds in column {column!r}"
        raise InputError(msg, layer="existing", column=column, rows=ids[beds < 0].tolist())
    return beds


def _budget(total, existing: float, need: float, block: int, wording, notes) -> int:
    """New beds allowed: the total less the existing beds, in whole blocks."""
    if total is None:
        new = max(math.ceil((need - existing) / block - _TOL), 0) * block
        notes.append(
            f"No total was given: the budget is the norm's {need:,.0f} beds for the "
            f"{wording.people} of the region less {existing:,.0f} existing, {new:,} new beds "
            f"(rounded up to blocks of {block})."
        )
        return new
    if total < existing - _TOL:
        msg = (f"total_beds ({total:,.0f}) is below the {existing:,.0f} beds the existing "
               f"{wording.facility_noun} already have; raise total_beds to at least "
               f"{existing:,.0f} or leave it None")  # fmt: skip
        raise InputError(msg)
    new = math.floor((total - existing) / block + _TOL) * block
    notes.append(
        f"The budget is {total:,.0f} beds in all: {existing:,.0f} existing and up to {new:,} "
        f"new (in blocks of {block}); the norm asks for {need:,.0f} for the region's "
        f"{wording.people}."
    )
    return new


def _candidate_caps(chosen, most, least, block, area_per_bed, notes):
    """Most beds per candidate: ``most``, and its floor area over the area per bed."""
    caps = np.full(len(chosen), float(most))
    if area_per_bed and "floor_area_m2" in chosen.columns:
        area = pd.to_numeric(chosen["floor_area_m2"], errors="coerce").to_numpy(dtype=float)
        by_area = np.floor(area / area_per_bed / block + _TOL) * block
        known = np.isfinite(by_area)
        caps[known] = np.minimum(caps[known], by_area[known])
        small = caps < least
        if small.any():
            notes.append(
                f"{int(small.sum()):,} candidate sites have too little floor area for "
                f"{least:g} beds at {area_per_bed:g} m2 per bed and are left out."
            )
            chosen, caps = chosen[~small].reset_index(drop=True), caps[~small]
            if not len(chosen):
                msg = (
                    f"no candidate site has the floor area for {least:g} beds at "
                    f"{area_per_bed:g} m2 per bed (floor_area_per_bed=False ignores it)"
                )
                raise InputError(msg, layer="candidates", column="floor_area_m2")
    return chosen, caps


def _within(matrix: sp.csr_matrix, minutes: float) -> sp.csr_matrix:
    """The pairs within ``minutes`` (explicit zeros kept: a zero is a real zero time)."""
    coo = matrix.tocoo()
    keep = coo.data <= minutes
    out = sp.csr_matrix(
        (coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape, dtype=float
    )
    out.sum_duplicates()
    out.sort_indices()
    return out


def _eye(n: int) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(n), (np.arange(n), np.arange(n))), shape=(n, n))


def _no_solve_record(problem: _BedProblem) -> dict[str, Any]:
    return {"model": "BedAllocation", "status": "not solved (no new beds)", "objective": math.nan,
            "bound": math.nan, "gap": math.nan, "seconds": 0.0, "method": "none", "sites": 0,
            "rows": 0, "columns": 0}  # fmt: skip


# =========================================================================================
# the model
# =========================================================================================
@dataclass(frozen=True, eq=False)
class _BedProblem:
    """The bed-allocation MILP over the raw cells, with its reductions and its checker."""

    people: np.ndarray  # elderly per cell
    unit_codes: np.ndarray  # unit of each cell, as codes into unit_names
    unit_names: np.ndarray
    reach: sp.csr_matrix  # cells x sites, minutes of the pairs within the catchment
    catchment: np.ndarray  # D_j: elderly in reach of each site
    mean_minutes: np.ndarray  # m_j: elderly-weighted mean minutes over the catchment
    fixed: np.ndarray  # existing beds per site (0 for candidates)
    variable: np.ndarray  # sites that may take new beds
    least_blocks: np.ndarray  # per variable site
    most_blocks: np.ndarray  # per variable site
    rate: float
    block: int
    budget: int
    minutes: float

    @classmethod
    def build(cls, *, people, units, reach, fixed, caps, n_kept, expand_existing, rate, block,
              least, most, budget, minutes) -> _BedProblem:  # fmt: skip
        n_sites = reach.shape[1]
        codes, names = pd.factorize(pd.Series(units, dtype=object), sort=True)
        pattern = reach.copy()
        pattern.data = np.ones_like(pattern.data)
        catchment = np.asarray(pattern.T @ people).ravel()
        weighted = np.asarray(reach.T @ people).ravel()
        mean_minutes = np.divide(weighted, catchment, out=np.zeros(n_sites), where=catchment > 0)
        all_fixed = np.zeros(n_sites)
        all_fixed[:n_kept] = fixed
        useful = np.ceil(rate * catchment / 1000.0 / block - _TOL) * block
        if expand_existing:
            room = np.full(n_sites, float(most))
            room[:n_kept] = np.floor(np.maximum(most - fixed, 0) / block) * block
            least_beds = np.full(n_sites, float(least))
            least_beds[:n_kept] = 0.0
            candidates = np.arange(n_sites)
        else:
            room = np.zeros(n_sites)
            least_beds = np.full(n_sites, float(least))
            candidates = np.arange(n_kept, n_sites)
        room[n_kept:] = caps
        cap = np.minimum(room, np.maximum(useful - all_fixed, least_beds))
        ok = (catchment[candidates] > 0) & (cap[candidates] >= np.maximum(least_beds[candidates],
                                                                            block))  # fmt: skip
        variable = candidates[ok]
        return cls(
            people=people, unit_codes=codes, unit_names=np.asarray(names, dtype=object),
            reach=reach, catchment=catchment, mean_minutes=mean_minutes, fixed=all_fixed,
            variable=variable, least_blocks=(least_beds[variable] // block).astype(int),
            most_blocks=(cap[variable] // block).astype(int), rate=float(rate), block=block,
            budget=int(budget), minutes=float(minutes),
        )  # fmt: skip

    @property
    def n_variable(self) -> int:
        return len(self.variable)

    # -- the objective, from the raw cells (the checker) ------------------------------------
    def access(self, beds: np.ndarray) -> np.ndarray:
        """2SFCA access per cell (beds per person), by :func:`svcnet.access.two_step_fca`."""
        if not self.reach.nnz:
            return np.zeros(len(self.people))
        return np.asarray(two_step_fca(self.reach, self.people, beds, max_cost=self.minutes))

    def objective(self, beds: np.ndarray) -> dict[str, float]:
        """The model's objective for ``beds`` per site, recomputed from the raw cells."""
        cover = self.people * self.access(beds)
        need = self.rate * self.people / 1000.0
        cells = float(np.maximum(need - cover, 0.0).sum())
        unit_need = np.bincount(self.unit_codes, need, minlength=len(self.unit_names))
        unit_cover = np.bincount(self.unit_codes, cover, minlength=len(self.unit_names))
        tiers = sum(
            np.maximum((1 - q / UNIT_TIERS) * unit_need - unit_cover, 0.0).sum()
            for q in range(UNIT_TIERS)
        )
        new = beds - self.fixed
        ties = float(new @ (_BED_COST + _MINUTE_COST * self.mean_minutes / self.minutes))
        units = float(UNIT_WEIGHT / UNIT_TIERS * tiers)
        return {"objective": units + cells + ties, "units": units, "cells": cells, "ties": ties}

    # -- the MILP ---------------------------------------------------------------------------
    def _groups(self) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
        """Cells of one unit with the same sites in reach, merged: (weights, unit, pattern)."""
        reach = self.reach
        keys: dict[tuple[int, bytes], int] = {}
        group = np.empty(len(self.people), dtype=np.int64)
        for i in range(len(self.people)):
            cols = reach.indices[reach.indptr[i] : reach.indptr[i + 1]]
            key = (int(self.unit_codes[i]), np.sort(cols).tobytes())
            group[i] = keys.setdefault(key, len(keys))
        n_groups = len(keys)
        merge = sp.csr_matrix(
            (np.ones(len(group)), (group, np.arange(len(group)))), shape=(n_groups, len(group))
        )
        weights = np.asarray(merge @ self.people).ravel()
        unit = np.zeros(n_groups, dtype=np.int64)
        unit[group] = self.unit_codes
        pattern = reach.copy()
        pattern.data = np.ones_like(pattern.data)
        pattern = (merge @ pattern).tocsr()
        pattern.data = np.ones_like(pattern.data)
        return weights, unit, pattern

    def matrices(self, start: np.ndarray | None = None) -> dict[str, Any]:
        """The MILP in matrix form (columns: blocks, open, cell and unit shortfalls).

        ``start`` (blocks per variable site, e.g. from :meth:`greedy`) becomes a
        complete starting solution; without it, no new beds at all.
        """
        weights, unit, pattern = self._groups()
        inv = np.divide(1.0, self.catchment, out=np.zeros_like(self.catchment),
                        where=self.catchment > 0)  # fmt: skip
        per_person = pattern @ sp.diags(inv)  # groups x sites: 1 / D_j in reach
        fixed_access = np.asarray(per_person @ self.fixed).ravel()
        cover = sp.diags(weights) @ per_person[:, self.variable] * self.block  # per block
        need = self.rate * weights / 1000.0
        rhs = need - weights * fixed_access
        rows = np.flatnonzero(rhs > _TOL)
        n_units = len(self.unit_names)
        to_unit = sp.csr_matrix((np.ones(len(unit)), (unit, np.arange(len(unit)))),
                                shape=(n_units, len(unit)))  # fmt: skip
        unit_cover = (to_unit @ cover).tocsr()
        unit_fixed = to_unit @ (weights * fixed_access)
        unit_need = to_unit @ need
        tier_rows, tier_rhs = [], []
        for q in range(UNIT_TIERS):
            level = (1 - q / UNIT_TIERS) * unit_need - unit_fixed
            for u in np.flatnonzero(level > _TOL):
                tier_rows.append(u)
                tier_rhs.append(level[u])
        tier_rows = np.asarray(tier_rows, dtype=np.int64)
        v, c, t = self.n_variable, len(rows), len(tier_rows)
        eye_v = sp.identity(v, format="csr")
        has_least = self.least_blocks > 0

        def pad(part: sp.spmatrix, left: int, right: int) -> sp.csr_matrix:
            height = part.shape[0]
            return sp.hstack([sp.csr_matrix((height, left)), part,
                              sp.csr_matrix((height, right))]).tocsr()  # fmt: skip

        cell_block = sp.hstack([cover[rows], sp.csr_matrix((c, v)), _eye(c),
                                sp.csr_matrix((c, t))])  # fmt: skip
        tier_block = sp.hstack([unit_cover[tier_rows], sp.csr_matrix((t, v + c)), _eye(t)])
        least_block = sp.hstack([eye_v, -sp.diags(self.least_blocks.astype(float))]).tocsr()
        least_block = least_block[np.flatnonzero(has_least)]
        most_block = sp.hstack([-eye_v, sp.diags(self.most_blocks.astype(float))])
        budget_block = sp.csr_matrix(np.full((1, v), float(self.block)))
        matrix = sp.vstack([
            cell_block, tier_block, pad(least_block, 0, c + t), pad(most_block, 0, c + t),
            pad(budget_block, 0, v + c + t),
        ]).tocsr()  # fmt: skip
        n_least = int(has_least.sum())
        row_lower = np.concatenate([rhs[rows], tier_rhs, np.zeros(n_least + v), [-np.inf]])
        row_upper = np.concatenate([np.full(c + t + n_least + v, np.inf), [float(self.budget)]])
        minutes = self.mean_minutes[self.variable]
        cost = np.concatenate([
            self.block * (_BED_COST + _MINUTE_COST * minutes / self.minutes), np.zeros(v),
            np.ones(c), np.full(t, UNIT_WEIGHT / UNIT_TIERS),
        ])  # fmt: skip
        col_upper = np.concatenate([self.most_blocks.astype(float), np.ones(v),
                                    np.full(c + t, np.inf)])  # fmt: skip
        integer = np.concatenate([np.ones(2 * v, bool), np.zeros(c + t, bool)])
        blocks = np.zeros(v) if start is None else np.asarray(start, dtype=float)
        short = np.maximum(rhs[rows] - cover[rows] @ blocks, 0.0)
        tier_short = np.maximum(np.asarray(tier_rhs) - unit_cover[tier_rows] @ blocks, 0.0)
        start = np.concatenate([blocks, (blocks > 0).astype(float), short, tier_short])
        return {"cost": cost, "matrix": matrix, "row_lower": row_lower, "row_upper": row_upper,
                "col_lower": np.zeros(len(cost)), "col_upper": col_upper, "integer": integer,
                "start": start, "groups": len(weights)}  # fmt: skip

    def solve(self, *, time_limit, mip_gap, seed) -> tuple[np.ndarray, dict[str, Any]]:
        """Solve with HiGHS, check the solution, and return new beds per site and the record."""
        from svcnet.solvers.highs import solve_mip

        started = time.perf_counter()
        greedy = self.greedy()
        greedy_new = np.zeros(len(self.fixed))
        greedy_new[self.variable] = greedy * self.block
        greedy_objective = self.objective(self.fixed + greedy_new)["objective"]
        greedy_seconds = time.perf_counter() - started
        logger.info("bed allocation: greedy start %.6g in %.2f s", greedy_objective,
                    greedy_seconds)  # fmt: skip
        model = self.matrices(greedy)
        groups = model.pop("groups")
        logger.info(
            "bed allocation: %d cells in %d groups, %d sites, %d rows, %d nonzeros",
            len(self.people), groups, self.n_variable, model["matrix"].shape[0],
            model["matrix"].nnz,
        )  # fmt: skip
        if time_limit is not None:
            time_limit = max(time_limit - greedy_seconds, 0.01)
        result = solve_mip(**model, time_limit=time_limit, mip_gap=mip_gap, seed=seed,
                           what="bed allocation")  # fmt: skip
        blocks = np.round(result.x[: self.n_variable]).astype(np.int64)
        new = np.zeros(len(self.fixed))
        new[self.variable] = blocks * self.block
        checked = self.check(new, result.objective, result.bound)
        gap = relative_gap(checked["objective"], result.bound, maximize=False)
        status = "optimal" if gap == 0 else ("within_gap" if result.status == "optimal"
                                             else "time_limit")  # fmt: skip
        record = {
            "model": "BedAllocation", "status": status, "objective": checked["objective"],
            "bound": result.bound, "gap": gap, "seconds": result.seconds + greedy_seconds,
            "method": "greedy start + mip (HiGHS)", "start_objective": greedy_objective,
            "sites": int((new > 0).sum()), "rows": model["matrix"].shape[0],
            "columns": model["matrix"].shape[1], "cell_groups": groups,
            "unit_shortfall_term": checked["units"], "cell_shortfall_beds": checked["cells"],
        }  # fmt: skip
        return new, record

    def greedy(self) -> np.ndarray:
        """Blocks per variable site by a lazy greedy on the objective: a start for the MILP.

        Each step adds to the site whose next step (its least size when closed,
        one block when open) lowers the objective most per bed, within its cap
        and the budget, until no step lowers it. The objective is convex in the
        beds, so a site's gain per bed only falls as beds are added anywhere, and
        a gain computed earlier is an upper bound (lazy evaluation).
        """
        import heapq

        v = self.n_variable
        pattern = self.reach[:, self.variable].tocsc()
        pattern.sort_indices()
        cells = pattern.indices
        share = self.people[cells] / np.repeat(self.catchment[self.variable],
                                                np.diff(pattern.indptr))  # fmt: skip
        n_units = len(self.unit_names)
        site_of = np.repeat(np.arange(v), np.diff(pattern.indptr))
        site_units = sp.csr_matrix((share, (site_of, self.unit_codes[cells])), shape=(v, n_units))
        site_units.sum_duplicates()
        need = self.rate * self.people / 1000.0
        cover = self.people * self.access(self.fixed)
        unit_need = np.bincount(self.unit_codes, need, minlength=n_units)
        unit_cover = np.bincount(self.unit_codes, cover, minlength=n_units)
        tiers = 1.0 - np.arange(UNIT_TIERS) / UNIT_TIERS
        per_bed = _BED_COST + _MINUTE_COST * self.mean_minutes[self.variable] / self.minutes
        blocks = np.zeros(v, dtype=np.int64)
        left = self.budget

        def penalty(units: np.ndarray, covered: np.ndarray) -> float:
            levels = tiers[None, :] * unit_need[units, None] - covered[:, None]
            return UNIT_WEIGHT / UNIT_TIERS * float(np.maximum(levels, 0.0).sum())

        def step_of(k: int) -> int:
            step = max(int(self.least_blocks[k]), 1) if blocks[k] == 0 else 1
            fits = blocks[k] + step <= self.most_blocks[k] and step * self.block <= left
            return step if fits else 0

        def gain(k: int, step: int) -> float:
            beds = step * self.block
            lo, hi = pattern.indptr[k], pattern.indptr[k + 1]
            idx, added = cells[lo:hi], share[lo:hi] * beds
            short = np.maximum(need[idx] - cover[idx], 0.0)
            total = float(np.minimum(short, added).sum())
            ulo, uhi = site_units.indptr[k], site_units.indptr[k + 1]
            units, more = site_units.indices[ulo:uhi], site_units.data[ulo:uhi] * beds
            total += penalty(units, unit_cover[units]) - penalty(units, unit_cover[units] + more)
            return total / beds - per_bed[k]

        heap = [(-gain(k, s), k) for k in range(v) if (s := step_of(k))]
        heapq.heapify(heap)
        while heap and left >= self.block:
            _, k = heapq.heappop(heap)
            step = step_of(k)
            if not step:
                continue
            value = gain(k, step)
            if value <= 0:
                continue
            if heap and value < -heap[0][0] - 1e-12:
                heapq.heappush(heap, (-value, k))
                continue
            beds = step * self.block
            lo, hi = pattern.indptr[k], pattern.indptr[k + 1]
            cover[cells[lo:hi]] += share[lo:hi] * beds
            ulo, uhi = site_units.indptr[k], site_units.indptr[k + 1]
            unit_cover[site_units.indices[ulo:uhi]] += site_units.data[ulo:uhi] * beds
            blocks[k] += step
            left -= beds
            heapq.heappush(heap, (-value, k))
        return blocks

    def check(self, new: np.ndarray, objective: float, bound: float) -> dict[str, float]:
        """Recompute feasibility and the objective of ``new`` beds from the raw cells."""
        others = np.setdiff1d(np.arange(len(new)), self.variable)
        if np.any(new[others] != 0):
            raise VerificationError("beds were given to sites the model may not change")
        blocks = new[self.variable] / self.block
        if np.any(blocks != np.round(blocks)) or np.any(blocks < 0):
            raise VerificationError(f"new beds are not whole blocks of {self.block}")
        opened = blocks > 0
        if np.any(blocks[opened] < self.least_blocks[opened]):
            raise VerificationError("a site has fewer beds than the least size")
        if np.any(blocks > self.most_blocks):
            raise VerificationError("a site has more beds than it may hold")
        if new.sum() > self.budget + _TOL:
            raise VerificationError(f"{new.sum():,.0f} new beds exceed the {self.budget:,} budget")
        checked = self.objective(self.fixed + new)
        scale = max(1.0, abs(checked["objective"]))
        if checked["objective"] > objective + 1e-6 * scale:
            msg = (f"the solver's objective {objective!r} is below the recomputed "
                   f"{checked['objective']!r}")  # fmt: skip
            raise VerificationError(msg)
        if bound > checked["objective"] + 1e-6 * scale:
            msg = f"the bound {bound!r} is above the recomputed objective {checked['objective']!r}"
            raise VerificationError(msg)
        return checked


# =========================================================================================
# the plan
# =========================================================================================
def _build_plan(region, wording, cells, level, sites, travel, reach, problem, new_beds,
                record, *, group, rate, share, minutes, mode, norms, notes,
                parameters) -> Plan:  # fmt: skip
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
    private = np.floor(quota + _TOL).astype(np.int64)
    total = int(math.floor(share * new_beds.sum() + 0.5 + _TOL))
    left = total - int(private.sum())
    if left > 0:
        order = np.argsort(-(quota - private), kind="stable")[:left]
        private[order] += 1
    return private, new_beds.astype(np.int64) - private


def _reason(row: Any, minutes: float, mode: str, wording: _Wording) -> str:
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
        f"{wording.people}_below_norm_before": by_unit(people * (people * before < need - _TOL),
                                                       labels),
        f"{wording.people}_below_norm_after": by_unit(people * (people * after < need - _TOL),
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
