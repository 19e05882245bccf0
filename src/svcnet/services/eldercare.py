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

from numbers import Real
from typing import Any

import numpy as np

from svcnet import standards
from svcnet.errors import InfeasibleError, InputError
from svcnet.plan import Plan
from svcnet.services._common import (
    choose_candidates,
    existing_facilities,
    gap_candidates,
    planning_cells,
    site_table,
)
from svcnet.services._eldercare_inputs import (
    CHILD_WELFARE,
    DRIVE_SPEED,
    ELDERCARE,
    check_sizes,
    positive,
    travel_speed,
)
from svcnet.services._eldercare_model import UNIT_TIERS, UNIT_WEIGHT, BedProblem, no_solve_record
from svcnet.services._eldercare_plan import _split as _split  # tests import it from here
from svcnet.services._eldercare_plan import build_plan
from svcnet.services._eldercare_sites import (
    bed_budget,
    candidate_caps,
    facility_beds,
    within_catchment,
)
from svcnet.services._travel import DETOUR_FACTOR, travel_minutes

__all__ = ["plan_eldercare", "plan_child_welfare", "UNIT_WEIGHT", "UNIT_TIERS", "DRIVE_SPEED"]


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
    client: Any = None,
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
    client
        Compute the travel times on a Dask cluster (a ``dask.distributed.Client``,
        a scheduler address or ``"local"``): the same minutes, value for value
        (:func:`svcnet.costs_from_graph`); the bed model is solved here.

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
        region, ELDERCARE, group=elderly, rate=rate.value, norms=norms, notes=notes,
        total=None if total is None else total.value, existing=existing,
        existing_beds=existing_beds, expand_existing=expand_existing, candidates=candidates,
        fill_gaps=fill_gaps, least=least.value, block=block, most=max_beds_per_site,
        area_per_bed=None if area is None else area.value, minutes=travel_minutes, mode=mode,
        speed=speed, share=None if share is None else share.value, time_limit=time_limit,
        mip_gap=mip_gap, seed=seed, client=client,
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
    client: Any = None,
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
    client
        As in :func:`plan_eldercare`.

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
        region, CHILD_WELFARE, group=children, rate=rate, norms=[total], notes=notes,
        total=total.value, existing=existing, existing_beds=existing_beds,
        expand_existing=expand_existing, candidates=candidates, fill_gaps=fill_gaps,
        least=min_beds_per_site, block=block, most=max_beds_per_site, area_per_bed=None,
        minutes=travel_minutes, mode=mode, speed=speed, share=private_share,
        time_limit=time_limit, mip_gap=mip_gap, seed=seed, client=client,
    )  # fmt: skip


# =========================================================================================
# the shared machinery
# =========================================================================================
def _plan_beds(region, wording, *, group, rate, norms, notes, total, existing, existing_beds,
               expand_existing, candidates, fill_gaps, least, block, most, area_per_bed,
               minutes, mode, speed, share, time_limit, mip_gap, seed,
               client=None) -> Plan:  # fmt: skip
    block, least, most = check_sizes(block, least, most)
    minutes = positive(minutes, "travel_minutes")
    if mode not in ("walk", "drive"):
        raise InputError(f"mode must be 'walk' or 'drive'; got {mode!r}")
    if share is not None and not (isinstance(share, Real) and 0 <= share <= 1):
        raise InputError(f"private_share must be a share in [0, 1] or None; got {share!r}")
    speed_value, speed_norm = travel_speed(mode, speed)
    if speed_norm is not None:
        norms = [*norms, speed_norm]
    cells, level, cell_notes = planning_cells(region, group)
    notes = [*notes, *cell_notes]
    kept = existing_facilities(region, existing, wording.facilities, wording.facility_noun)
    fixed = facility_beds(kept, existing_beds, wording)
    people = cells[group].to_numpy(dtype=float)
    budget = bed_budget(total, fixed.sum(), rate * people.sum() / 1000.0, block, wording, notes)
    chosen = choose_candidates(region, candidates, kinds=("building",))
    chosen, caps = candidate_caps(chosen, most, least, block, area_per_bed, notes)
    if fill_gaps:
        reach_m = minutes * speed_value / DETOUR_FACTOR
        chosen, gap_notes = gap_candidates(cells, chosen, reach_m, group)
        caps = np.concatenate([caps, np.full(len(chosen) - len(caps), most)])
        notes += gap_notes
    sites = site_table(kept, chosen, region.crs)
    network = region.network if region.has_network else None
    travel = travel_minutes(
        cells, sites, network=network, max_minutes=minutes, speed_m_per_min=speed_value,
        mode=mode, client=client,
    )  # fmt: skip
    notes += list(travel.notes)
    reach = within_catchment(travel.matrix, minutes)
    problem = BedProblem.build(
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
        new_beds, record = np.zeros(len(sites)), no_solve_record(problem)
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
    return build_plan(
        region, wording, cells, level, sites, travel, reach, problem, new_beds, record,
        group=group, rate=rate, share=share, minutes=minutes, mode=mode, norms=norms,
        notes=notes, parameters=parameters,
    )  # fmt: skip
