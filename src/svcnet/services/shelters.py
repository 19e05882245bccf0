r"""Disaster shelters: open spaces sized by area per person, every resident within a walk.

A shelter site holds ``usable open area / m² per person`` people (GB 50413
§8.2.8: 1 m² in an emergency shelter, 2 m² in a fixed one). Every resident
(the share the norm asks for: all of them for emergency shelters, 30% for
fixed ones) should have a place in a shelter within the shelter type's reach
(GB 50413 §8.2.10: 500 m for emergency shelters; 2-3 km for fixed ones, of
which the plan takes the upper value, 3 km, as the reach), walking on the
street network where the region has one. Among the plans that shelter the
most people, the planner opens the fewest sites, then places them so that the
walk is least.

Formulation, in three steps (``i`` demand cells with ``r_i`` residents,
``j`` sites with room for ``R_j = floor(places_j / share)`` residents, pairs
within the reach only; a cell's residents may be shared between shelters):

1. *Most people shelterable*: a maximum flow (cells to sites, every site
   open) gives :math:`F^*` and how much of it each connected part of the
   cell-site graph can take.

2. *Fewest sites*: the capacitated set cover (existing shelters have
   :math:`y_j = 1`)

   .. math:: \min \sum_j y_j + \epsilon \sum_{ij} r_i t_{ij} x_{ij} \;\text{s.t.}\;
             \sum_j x_{ij} \le 1,\; \sum_i r_i x_{ij} \le R_j y_j,\; x_{ij} \le y_j,\;
             \sum_{ij \in c} r_i x_{ij} \ge F^*_c \;\forall c,\; y_j \in \{0, 1\},

   ``c`` the connected parts and :math:`\epsilon` small enough that all the
   walk (minutes ``t``) weighs less than half a site. Small parts are solved
   exactly together; large ones by LP rounding (the LP also gives the bound),
   a pass closing every site whose people fit elsewhere (checked by moving
   them, then by maximum flow), then, while time allows, the MILP from that
   start, or for parts too large for it (over 20,000 cell-site pairs) a cut
   loop on the sites alone (set cover rows and max-flow cut-set inequalities,
   a relaxation whose bound holds; its answers, repaired where they shelter
   too few, give new incumbents). The record gives the bound and gap, with
   status ``time_limit`` when time ran out first.

3. *Least walk*: a min-cost flow LP on the chosen sites (minutes per
   resident sent, each resident left without a place costing
   :data:`UNSERVED_WEIGHT` x the reach in minutes); its vertices are whole
   people. Chosen sites it leaves empty are closed; cells whose residents go
   to several shelters are split into parts (``#1``, ``#2`` ...). The result is
   a solution of the capacitated :class:`svcnet.models.PMedian` on the parts
   (other sites forbidden), checked with :func:`svcnet.verify`, with the LP
   as its bound.

Without an open-space layer (``sites=``), candidate sites are derived and
marked ``modelled``: school grounds (:data:`SCHOOL_OPEN_SHARE` of the campus's
floor area) and open land (:data:`OPEN_CELL_SHARE` of the grid cells with no
modelled resident and no mapped non-residential building, gathered in squares).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np

from svcnet.errors import InfeasibleError
from svcnet.models import verify
from svcnet.plan import Plan
from svcnet.services._common import planning_cells, solver_record
from svcnet.services._communities import community_layer as community_layer
from svcnet.services._communities import community_units
from svcnet.services._communities import units_of_points as units_of_points
from svcnet.services._shelter_cover import fewest_sites
from svcnet.services._shelter_network import Network, most_sheltered
from svcnet.services._shelter_norms import resolve_norms
from svcnet.services._shelter_parts import before_parts, split_cells
from svcnet.services._shelter_plan import build_plan
from svcnet.services._shelter_sites import (
    CAMPUS_LINK_M,
    OPEN_CELL_SHARE,
    SCHOOL_CATEGORIES,
    SCHOOL_OPEN_SHARE,
    derived_sites,
    existing_shelters,
    given_sites,
    shelter_table,
)
from svcnet.services._shelter_walk import UNSERVED_WEIGHT, least_walk
from svcnet.services._travel import travel_minutes

logger = logging.getLogger(__name__)

__all__ = [
    "plan_shelters",
    "SCHOOL_CATEGORIES",
    "SCHOOL_OPEN_SHARE",
    "CAMPUS_LINK_M",
    "OPEN_CELL_SHARE",
    "UNSERVED_WEIGHT",
]


def plan_shelters(
    region: Any,
    *,
    kind: str = "emergency",
    m2_per_person: float | Any = None,
    radius_m: float | tuple[float, float] | Any = None,
    capacity_share: float | tuple[float, float] | Any = None,
    sites: gpd.GeoDataFrame | None = None,
    area_column: str = "area_m2",
    existing: Any = None,
    existing_capacity: float | Mapping[str, float] | None = None,
    communities: gpd.GeoDataFrame | None = None,
    walk_speed: float | Any = None,
    group: str = "pop",
    time_limit: float = 40.0,
    mip_gap: float = 0.0,
    seed: int = 0,
    client: Any = None,
) -> Plan:
    """Plan shelter sites: the fewest that give every resident a place within reach.

    Parameters
    ----------
    region
        A :class:`svcnet.Region` (population grid, boundaries, facilities,
        candidates and street network, where it has them).
    kind
        ``"emergency"`` (紧急避难场所) or ``"fixed"`` (固定避难场所).
    m2_per_person
        Usable area per sheltered person; default the norm of the kind
        (1 m² emergency, 2 m² fixed; GB 50413 §8.2.8).
    radius_m
        The walking reach in metres; default the norm of the kind (500 m
        emergency; 2,000-3,000 m fixed). Of a range the upper value is the reach.
    capacity_share
        The share of residents to shelter; default 1 for emergency shelters
        (an svcnet assumption) and the high end of 0.2-0.3 (GD-SHELTER), 0.3,
        the figure for central districts, for fixed ones. Of a range the upper
        value is planned for; the unit table reports the gap at both ends.
    sites
        Open spaces that may become shelters: a GeoDataFrame (points or
        polygons) with their usable area in ``area_column`` (m²) and an id in
        ``site_id`` (or ``candidate_id``). Default: sites derived from the
        region and marked ``modelled`` (see the notes below).
    area_column
        The column of ``sites`` with the usable area in m².
    existing
        Existing shelters, kept open: None for the region's facilities whose
        ``service`` is ``shelter``, False for none, or a GeoDataFrame of points.
        Their capacity (people) is their ``capacity`` column, else their
        ``area_m2`` column divided by ``m2_per_person``, in whole places
        (rounded down).
    existing_capacity
        Capacity (people) of existing shelters whose capacity is unknown: one
        number for all of them, or a mapping from facility id to people (which
        also overrides a known capacity).
    communities
        Polygons standing in for communities (e.g. ``plan_centers(...).areas``),
        with their name in a ``community`` (or ``site_id``) column; default the
        finest boundary level of the region.
    walk_speed
        Metres per minute; default the norm ``walking_speed`` (60 m/min).
    group
        The population group sheltered.
    time_limit
        Seconds for the three solving steps together.
    mip_gap
        Relative gap at which the MILPs stop (0 proves optimality).
    seed
        Solver seed: the same inputs and seed give the same plan (when no
        solving step stops at the time limit, which depends on the machine).
    client
        Compute the walking times on a Dask cluster (a ``dask.distributed.Client``,
        a scheduler address or ``"local"``): the same minutes, value for value
        (:func:`svcnet.costs_from_graph`); the covering models are solved here.

    Returns
    -------
    Plan
        ``sites``: the shelters (existing first, then new ones ranked by the
        people they newly shelter) with ``capacity`` (people), ``places_used``,
        ``population_served`` (residents whose share they hold), ``area_m2``,
        ``modelled``, ``area_basis``, ``site_type``, ``newly_sheltered`` and a
        ``reason``. ``assignment``: each cell (cells shared between shelters,
        or partly left without, are split into parts ``#1``, ``#2`` ...) with
        its shelter and the walk in minutes (metres / walking speed), its
        places after (``sheltered``) and before (``sheltered_before``), and
        ``covered_before``, its residents with a place before the plan.
        People and places are whole: a shelter holding the share of ``R``
        residents gives them ``ceil(share x R)`` places, dealt to its cells by
        the largest remainder. ``summary()`` adds, per unit:

        * ``covered_<when>``, ``outside_<when>``, ``coverage_<when>``: the
          unit's residents with (without) a shelter place within reach, before
          and after the plan, and the share with one;
        * ``places_for_residents_<when>``: the places held for the unit's
          residents, in shelters within their reach (wherever those lie);
        * ``places_required`` (``_high``): the places the norm asks for,
          ``ceil(share x residents)`` at the low (high) end of the share
          (:func:`svcnet.indicators.shelter_gap`); ``places_gap_<when>``
          (``places_gap_high_<when>``): the places still lacking, those of the
          residents without a place, ``ceil(share x outside_<when>)``;
        * ``capacity_located_<when>``: the places of the shelters lying in the
          unit, whoever they serve (not a measure of the unit's own supply);
        * ``area_km2``, ``density_per_km2`` and ``demonstration_rank`` (below).

        The plan's ``threshold_minutes`` is the reach in minutes rounded up to a
        tenth (8.4 for 500 m at 60 m/min, so columns read ``within_8.4min_*``);
        the counts are those of the exact reach (no walk beyond it is kept),
        which ``parameters["reach_minutes"]`` holds.

    Raises
    ------
    InputError
        Unknown kind or group; shelter sites without a usable area (the rows
        are named); existing shelters without capacity or area and no
        ``existing_capacity``.
    InfeasibleError
        When no site is within reach of anyone.

    Notes
    -----
    Modelled sites (when ``sites`` is not given) are an estimate for a first
    look, to be replaced by the city's open-space survey:

    * *school grounds*: candidates of :data:`SCHOOL_CATEGORIES`; buildings
      closer than :data:`CAMPUS_LINK_M` form one campus, whose usable ground is
      :data:`SCHOOL_OPEN_SHARE` (0.4) times its floor area. A school with
      10,000 m² of floors has about 1,000-1,200 pupils (8-10 m² each) and a
      sports ground of 4,000-5,000 m² (a 200 m track with its infield); the
      factor is svcnet's estimate, not a norm. The site is the campus's
      largest building.
    * *open land*: grid cells with no modelled resident and no mapped
      non-residential building, :data:`OPEN_CELL_SHARE` (half) of their area
      counted as usable (the bundled data has no building footprints or
      open-space polygons; the other half stands for roads, water, slopes and
      unmapped buildings). Cells are gathered in squares (200 m for a 500 m
      reach, 1 km for 3 km: the reach / 2.5, between 200 m and 1 km), one site
      per square at its most central open cell.

    Sites smaller than ``shelter_site_min_area`` (2,000 m², GB 21734 §5.4) are
    dropped when modelled and flagged in the notes when given.

    Demonstration communities (the Shenzhen plan: at least 30 a year) are
    ranked in ``summary()["demonstration_rank"]`` by the issue's rule: most
    people outside coverage first, counted after the plan (``outside_after``,
    the residents the planned shelters still leave without a place within
    reach), ties by the higher density (``density_per_km2``), then by name.
    Where the plan covers everyone the rank is by density alone.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> from svcnet import Region
    >>> grid = gpd.GeoDataFrame({"cell_id": ["a", "b"], "pop": [300, 200]},
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=32650)
    >>> parks = gpd.GeoDataFrame({"site_id": ["park"], "area_m2": [600.0]},
    ...     geometry=[Point(150, 50)], crs=32650)
    >>> plan = plan_shelters(Region(grid, name="toy"), sites=parks)
    >>> plan.sites[["site_id", "capacity", "places_used"]].values.tolist()
    [['park', 600.0, 500.0]]
    >>> plan = plan_shelters(svcnet.datasets.load_futian())  # doctest: +SKIP
    """
    started = time.perf_counter()
    deadline = started + float(time_limit)
    norms = resolve_norms(kind, radius_m, m2_per_person, capacity_share, walk_speed)
    cells, level, notes = planning_cells(region, group)
    cells, level, layer, unit_notes = community_units(cells, region, level, communities, group)
    notes += unit_notes
    kept = existing_shelters(region, existing, existing_capacity, norms)
    if sites is None:
        chosen, site_notes = derived_sites(region, cells, norms)
    else:
        chosen, site_notes = given_sites(sites, area_column, region.crs, norms)
    notes += site_notes
    table = shelter_table(kept, chosen, region.crs)
    if not len(table):
        raise InfeasibleError(
            "there is no shelter site to choose from (no existing shelter, no open space)"
        )
    capacity = table["capacity"].to_numpy(dtype=float)
    residents = np.round(cells[group].to_numpy(dtype=float)).astype(np.int64)
    room = np.floor(capacity / norms.share_used + 1e-9).astype(np.int64)  # residents a site holds
    travel = travel_minutes(
        cells,
        table,
        network=region.network,
        max_minutes=norms.reach_minutes,
        speed_m_per_min=norms.speed.value,
        client=client,
    )
    notes += list(travel.notes)
    matrix = travel.matrix
    n_kept = len(kept)
    logger.info("shelters: %d cells x %d sites, %d pairs", *matrix.shape, matrix.nnz)
    if not matrix.nnz:
        msg = (
            f"no shelter site is within {norms.reach_m:,.0f} m of anyone; give open spaces "
            f"with sites= or a larger radius_m"
        )
        raise InfeasibleError(msg)
    network = Network.build(matrix, residents, room)
    flow_before, pairs_before, before_record = most_sheltered(
        network, np.arange(len(table)) < n_kept, "sheltered before"
    )
    best_rows, _, most_record = most_sheltered(
        network, np.ones(len(table), dtype=bool), "most shelterable"
    )
    step2 = time.perf_counter() + 0.85 * max(deadline - time.perf_counter(), 0.0)
    fewest, fewest_record = fewest_sites(network, best_rows, n_kept, step2, mip_gap, seed)
    parts, solution, model, walk_notes = least_walk(matrix, network, fewest, n_kept, norms)
    verify(solution, model)
    notes += walk_notes
    cells, rows, parts = split_cells(cells, parts, region.groups, group)
    before = before_parts(network, flow_before, pairs_before, parts, norms.share_used)
    split = int((np.bincount(rows) > 1).sum())
    if split:
        cells_text = "cell is" if split == 1 else "cells are"
        notes.append(
            f"{split:,} {cells_text} shared between shelters (or partly left without): split "
            f"into parts (ids with #1, #2 ...), one shelter each."
        )
    records = [before_record, most_record, fewest_record, solver_record(solution, "least walk")]
    return build_plan(
        region,
        cells,
        level,
        layer,
        table,
        travel,
        rows,
        parts,
        before,
        norms,
        group=group,
        notes=notes,
        solver=records,
        parameters={
            "kind": norms.kind,
            "reach_m": norms.reach_m,
            "m2_per_person": norms.area.value,
            "capacity_share": norms.share_used,
            "walk_speed_m_per_min": norms.speed.value,
            "existing": n_kept,
            "sites": "given" if sites is not None else "modelled",
            "time_limit": time_limit,
            "mip_gap": mip_gap,
            "seed": seed,
            "seconds": time.perf_counter() - started,
        },
    )
