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
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet import standards
from svcnet.errors import CRSError, InfeasibleError, InputError, SolverError
from svcnet.models import PMedian, verify
from svcnet.plan import Plan
from svcnet.services._common import (
    existing_facilities,
    people_phrase,
    planning_cells,
    solver_record,
)
from svcnet.services._travel import travel_minutes
from svcnet.solvers.highs import solve_mip

logger = logging.getLogger(__name__)

__all__ = [
    "plan_shelters",
    "SCHOOL_CATEGORIES",
    "SCHOOL_OPEN_SHARE",
    "CAMPUS_LINK_M",
    "OPEN_CELL_SHARE",
    "UNSERVED_WEIGHT",
]

#: Candidate categories whose grounds are modelled as shelter sites.
SCHOOL_CATEGORIES = ("school", "kindergarten", "college", "university")
#: Usable open ground per m² of a campus's floor area (svcnet's estimate, see ``plan_shelters``).
SCHOOL_OPEN_SHARE = 0.4
#: School buildings closer than this (metres) are one campus, sharing one ground.
CAMPUS_LINK_M = 100.0
#: Usable share of a grid cell with no residents and no mapped non-residential building.
OPEN_CELL_SHARE = 0.5
#: A person left without a shelter costs this many times the reach (in minutes) in step 3.
UNSERVED_WEIGHT = 100.0
_SHELTER_SERVICES = ("shelter",)
_LINK_PAIRS = 20_000  # step 2: larger components get their LP on merged cells


@dataclass(frozen=True)
class _Norms:
    kind: str
    radius: standards.Norm
    reach_m: float
    area: standards.Norm
    share: standards.Norm
    share_used: float
    speed: standards.Norm
    min_area: standards.Norm

    @property
    def reach_minutes(self) -> float:
        return self.reach_m / self.speed.value


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
    norms = _resolve_norms(kind, radius_m, m2_per_person, capacity_share, walk_speed)
    cells, level, notes = planning_cells(region, group)
    cells, level, layer, unit_notes = community_units(cells, region, level, communities, group)
    notes += unit_notes
    kept = _existing_shelters(region, existing, existing_capacity, norms)
    if sites is None:
        chosen, site_notes = _derived_sites(region, cells, norms)
    else:
        chosen, site_notes = _given_sites(sites, area_column, region.crs, norms)
    notes += site_notes
    table = _site_table(kept, chosen, region.crs)
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
    network = _Network.build(matrix, residents, room)
    flow_before, pairs_before, before_record = _most_sheltered(
        network, np.arange(len(table)) < n_kept, "sheltered before"
    )
    best_rows, _, most_record = _most_sheltered(
        network, np.ones(len(table), dtype=bool), "most shelterable"
    )
    step2 = time.perf_counter() + 0.85 * max(deadline - time.perf_counter(), 0.0)
    fewest, fewest_record = _fewest_sites(network, best_rows, n_kept, step2, mip_gap, seed)
    parts, solution, model, walk_notes = _least_walk(matrix, network, fewest, n_kept, norms)
    verify(solution, model)
    notes += walk_notes
    cells, rows, parts = _split_cells(cells, parts, region.groups, group)
    before = _before_parts(network, flow_before, pairs_before, parts, norms.share_used)
    split = int((np.bincount(rows) > 1).sum())
    if split:
        cells_text = "cell is" if split == 1 else "cells are"
        notes.append(
            f"{split:,} {cells_text} shared between shelters (or partly left without): split "
            f"into parts (ids with #1, #2 ...), one shelter each."
        )
    records = [before_record, most_record, fewest_record, solver_record(solution, "least walk")]
    return _build_plan(
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


# =========================================================================================
# norms and units
# =========================================================================================
def _resolve_norms(kind, radius_m, m2_per_person, capacity_share, walk_speed) -> _Norms:
    defaults = standards.shelter_norms(kind)
    radius = standards.resolve(defaults["radius"].name, radius_m)
    area = standards.resolve(defaults["area_per_person"].name, m2_per_person)
    share = standards.resolve(defaults["capacity_share"].name, capacity_share)
    speed = standards.resolve("walking_speed", walk_speed)
    for norm, what in (
        (radius, "radius_m"),
        (area, "m2_per_person"),
        (share, "capacity_share"),
        (speed, "walk_speed"),
    ):
        if not norm.low > 0:
            raise InputError(f"{what} must be positive; got {norm.value!r}")
    if share.high > 1:
        raise InputError(f"capacity_share is a share of residents, at most 1; got {share.value!r}")
    return _Norms(
        kind,
        radius,
        float(radius.high),
        area,
        share,
        float(share.high),
        speed,
        standards.resolve("shelter_site_min_area"),
    )


def community_units(
    cells: gpd.GeoDataFrame, region: Any, level: str, communities: Any, group: str
) -> tuple[gpd.GeoDataFrame, str, gpd.GeoDataFrame | None, list[str]]:
    """The cells' ``unit`` from ``communities`` when given, else the finest level (noted).

    Returns the cells (``unit`` replaced when communities are given), the unit
    level's name, the unit polygons (a GeoDataFrame with ``unit`` and geometry,
    or None for a region without boundaries) and notes.
    """
    if communities is None:
        if level == "region":
            return cells, level, None, []
        layer = region.boundaries[level][[level, "geometry"]].rename(columns={level: "unit"})
        layer["unit"] = layer["unit"].astype(str)
        notes = []
        if level != "community":
            notes.append(
                f"The region has no community boundaries: its finest level, {level!r}, "
                f"stands in for communities."
            )
        return cells, level, layer, notes
    layer = community_layer(communities, region.crs)
    labels, notes = units_of_points(
        cells.geometry.representative_point(), layer, "grid cell", "community"
    )
    cells = cells.assign(unit=labels)
    notes.insert(
        0,
        f"Communities are the {len(layer):,} areas given (communities=), standing "
        f"in for community boundaries.",
    )
    return cells, "community", layer, notes


def community_layer(communities: Any, crs: Any) -> gpd.GeoDataFrame:
    """Polygons standing in for communities as a ``unit``/geometry layer in ``crs``.

    The name comes from a ``community``, ``unit`` or ``site_id`` column (the
    first there is; a plan's ``areas`` have ``site_id``), else the index.
    """
    if not isinstance(communities, gpd.GeoDataFrame):
        raise InputError("communities must be a GeoDataFrame of polygons", layer="communities")
    if communities.crs is None:
        raise CRSError("the communities have no CRS", layer="communities")
    if not len(communities):
        raise InputError("communities is empty", layer="communities")
    column = next((c for c in ("community", "unit", "site_id") if c in communities.columns), None)
    labels = communities[column].astype(str) if column else communities.index.astype(str)
    geometry = communities.geometry.to_crs(crs).to_numpy()
    layer = gpd.GeoDataFrame({"unit": np.asarray(labels)}, geometry=geometry, crs=crs)
    if layer["unit"].duplicated().any():
        layer = layer.dissolve(by="unit").reset_index()
    return layer


def units_of_points(
    points: gpd.GeoSeries, layer: gpd.GeoDataFrame, what: str, unit: str = "unit"
) -> tuple[np.ndarray, list[str]]:
    """The ``unit`` of ``layer`` each point lies in; points outside take the nearest (noted).

    ``what`` names the things the points stand for (``"grid cell"``, ``"shelter
    site"``) and ``unit`` the areas (``"community"``), for the note, e.g. "205 grid
    cells lie outside every community and join the nearest one."
    """
    frame = gpd.GeoDataFrame(geometry=points.to_numpy(), crs=layer.crs)
    hit = gpd.sjoin(frame, layer[["unit", "geometry"]], predicate="within", how="left")
    hit = hit[~hit.index.duplicated(keep="first")]
    labels = hit["unit"].reindex(frame.index)
    outside = labels.isna().to_numpy()
    notes = []
    if outside.any():
        near = gpd.sjoin_nearest(frame[outside], layer[["unit", "geometry"]], how="left")
        near = near[~near.index.duplicated(keep="first")]
        labels[outside] = near["unit"].reindex(frame.index[outside]).to_numpy()
        count = int(outside.sum())
        things = what if count == 1 else f"{what}s"
        verb = "lies" if count == 1 else "lie"
        notes.append(f"{count:,} {things} {verb} outside every {unit} and join the nearest one.")
    return labels.astype(str).to_numpy(), notes


# =========================================================================================
# sites
# =========================================================================================
_SITE_COLUMNS = [
    "site_id",
    "name",
    "status",
    "capacity",
    "area_m2",
    "modelled",
    "area_basis",
    "site_type",
]


def _existing_shelters(region, existing, existing_capacity, norms: _Norms) -> gpd.GeoDataFrame:
    kept = existing_facilities(region, existing, _SHELTER_SERVICES, "shelters")
    ids = kept["facility_id"].astype(str).to_numpy()
    capacity = (
        pd.to_numeric(kept["capacity"], errors="coerce").to_numpy(dtype=float)
        if "capacity" in kept.columns
        else np.full(len(kept), np.nan)
    )
    area = (
        pd.to_numeric(kept["area_m2"], errors="coerce").to_numpy(dtype=float)
        if "area_m2" in kept.columns
        else np.full(len(kept), np.nan)
    )
    basis = np.where(np.isfinite(capacity), "capacity given", "area given")
    capacity = np.where(np.isfinite(capacity), capacity, np.floor(area / norms.area.value))
    if isinstance(existing_capacity, Mapping):
        unknown = sorted(set(map(str, existing_capacity)) - set(ids))
        if unknown:
            raise InputError(
                "existing_capacity names shelters that do not exist", layer="existing", rows=unknown
            )
        for key, value in existing_capacity.items():
            at = ids == str(key)
            capacity[at] = _positive(value, f"existing_capacity[{key!r}]")
            basis[at] = "capacity set by the caller"
    elif existing_capacity is not None:
        missing = ~np.isfinite(capacity)
        capacity[missing] = _positive(existing_capacity, "existing_capacity")
        basis[missing] = "capacity set by the caller"
    missing = ~np.isfinite(capacity)
    if missing.any():
        msg = (
            "existing shelters have neither a capacity (people) nor an area_m2; give "
            "existing_capacity= (people, one number or by facility id) or existing=False"
        )
        raise InputError(msg, layer="facilities", column="capacity", rows=ids[missing].tolist())
    if (capacity < 0).any():
        raise InputError(
            "existing shelter capacities must be >= 0",
            layer="facilities",
            column="capacity",
            rows=ids[capacity < 0].tolist(),
        )
    capacity = np.floor(capacity + 1e-9)  # whole places
    names = kept["name"].to_numpy() if "name" in kept.columns else np.full(len(kept), None)
    return gpd.GeoDataFrame(
        {
            "site_id": ids,
            "name": names,
            "status": "existing",
            "capacity": capacity,
            "area_m2": capacity * norms.area.value,
            "modelled": False,
            "area_basis": basis,
            "site_type": "existing shelter",
        },
        geometry=kept.geometry.to_numpy(),
        crs=region.crs,
    )


def _positive(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a number of people; got {value!r}") from exc
    if not (math.isfinite(number) and number >= 0):
        raise InputError(f"{what} must be a finite number >= 0; got {value!r}")
    return number


def _given_sites(sites: Any, area_column: str, crs: Any, norms: _Norms):
    if not isinstance(sites, gpd.GeoDataFrame):
        raise InputError("sites must be a GeoDataFrame of open spaces", layer="sites")
    if sites.crs is None:
        raise CRSError("the shelter sites have no CRS", layer="sites")
    id_column = next((c for c in ("site_id", "candidate_id") if c in sites.columns), None)
    ids = (
        sites[id_column].astype(str).to_numpy()
        if id_column
        else np.array([f"site-{i}" for i in range(len(sites))])
    )
    if area_column not in sites.columns:
        msg = (
            f"the shelter sites have no {area_column!r} column with their usable area in m² "
            f"(name it with area_column=)"
        )
        raise InputError(msg, layer="sites", column=area_column)
    area = pd.to_numeric(sites[area_column], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(area) & (area > 0))
    if bad.any():
        raise InputError(
            "shelter sites need a positive usable area",
            layer="sites",
            column=area_column,
            rows=ids[bad].tolist(),
        )
    names = sites["name"].to_numpy() if "name" in sites.columns else np.full(len(sites), None)
    frame = gpd.GeoDataFrame(
        {
            "site_id": ids,
            "name": names,
            "status": "new",
            "capacity": np.floor(area / norms.area.value),
            "area_m2": area,
            "modelled": False,
            "area_basis": f"usable area given ({area_column})",
            "site_type": "open space (given)",
        },
        geometry=sites.geometry.to_crs(crs).to_numpy(),
        crs=crs,
    )
    notes = []
    small = area < norms.min_area.value
    if small.any():
        notes.append(
            f"{int(small.sum()):,} given sites are smaller than the "
            f"{norms.min_area.value:,.0f} m² a shelter site should have "
            f"({norms.min_area.citation}): {', '.join(ids[small][:10])}."
        )
    return frame, notes


def _square_side(reach_m: float) -> float:
    return float(np.clip(reach_m / 2.5, 200.0, 1000.0))


def _derived_sites(region: Any, cells: gpd.GeoDataFrame, norms: _Norms):
    """School grounds and open-land squares, modelled, within reach of populated cells."""
    from scipy.spatial import cKDTree

    candidates = region.candidates
    grid = region.population
    schools = _school_grounds(candidates, norms, region.crs)
    open_land, side = _open_land(grid, candidates, norms, region.crs)
    frame = pd.concat([schools, open_land], ignore_index=True)
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=region.crs)
    big = frame["area_m2"].to_numpy(dtype=float) >= norms.min_area.value
    frame = frame[big]
    points = cells.geometry.representative_point()
    tree = cKDTree(np.column_stack([points.x, points.y]))
    dist, _ = tree.query(np.column_stack([frame.geometry.x, frame.geometry.y]))
    frame = frame[dist <= norms.reach_m].reset_index(drop=True)
    n_school = int((frame["site_type"] == "school grounds").sum())
    note = (
        f"No open-space layer was given: {len(frame):,} candidate shelter sites are modelled "
        f"(modelled=True): {n_school:,} school grounds, usable area {SCHOOL_OPEN_SHARE:g} x the "
        f"campus's floor area (svcnet's estimate: a sports ground of about 4,000 m² per "
        f"10,000 m² of school floors), and {len(frame) - n_school:,} open-land squares of "
        f"{side:,.0f} m, usable area {OPEN_CELL_SHARE:g} x the area of their grid cells with no "
        f"modelled resident and no mapped non-residential building (the data has no building "
        f"footprints or open-space polygons; water, slopes and roads are in that other half). "
        f"Sites under {norms.min_area.value:,.0f} m² ({norms.min_area.citation}) or beyond "
        f"{norms.reach_m:,.0f} m of every resident are left out. Replace them with the city's "
        f"open-space survey (sites=)."
    )
    return frame, [note]


def _school_grounds(candidates: gpd.GeoDataFrame, norms: _Norms, crs: Any) -> gpd.GeoDataFrame:
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    empty = gpd.GeoDataFrame({c: [] for c in _SITE_COLUMNS}, geometry=[], crs=crs)
    if "category" not in candidates.columns or "floor_area_m2" not in candidates.columns:
        return empty
    floor = pd.to_numeric(candidates["floor_area_m2"], errors="coerce")
    schools = candidates[candidates["category"].isin(SCHOOL_CATEGORIES) & (floor > 0)]
    if not len(schools):
        return empty
    schools = schools.reset_index(drop=True)
    xy = np.column_stack([schools.geometry.x, schools.geometry.y])
    pairs = np.array(sorted(cKDTree(xy).query_pairs(CAMPUS_LINK_M)), dtype=np.int64)
    n = len(schools)
    links = sp.coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])) if len(pairs) else ([], ([], [])),
        shape=(n, n),
    )
    _, campus = connected_components(links, directed=False)
    schools["campus"] = campus
    schools["floor"] = pd.to_numeric(schools["floor_area_m2"], errors="coerce").to_numpy()
    order = schools.sort_values(["campus", "floor"], ascending=[True, False], kind="stable")
    head = order.drop_duplicates("campus").set_index("campus").sort_index()
    floors = schools.groupby("campus")["floor"].sum().sort_index()
    counts = schools.groupby("campus").size().sort_index()
    names = schools.dropna(subset=["name"]).groupby("campus")["name"].first()
    area = SCHOOL_OPEN_SHARE * floors.to_numpy()
    basis = [
        f"{SCHOOL_OPEN_SHARE:g} x {f:,.0f} m² floor area of {c} school building"
        f"{'s' if c > 1 else ''} (estimate)"
        for f, c in zip(floors.to_numpy(), counts.to_numpy(), strict=True)
    ]
    return gpd.GeoDataFrame(
        {
            "site_id": ("school-" + head["candidate_id"].astype(str)).to_numpy(),
            "name": names.reindex(head.index).to_numpy(),
            "status": "new",
            "capacity": np.floor(area / norms.area.value),
            "area_m2": area,
            "modelled": True,
            "area_basis": basis,
            "site_type": "school grounds",
        },
        geometry=head.geometry.to_numpy(),
        crs=crs,
    )


def _open_land(grid: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, norms: _Norms, crs: Any):
    side = _square_side(norms.reach_m)
    empty = gpd.GeoDataFrame({c: [] for c in _SITE_COLUMNS}, geometry=[], crs=crs)
    if grid.geom_type.isin(["Point"]).any():
        return empty, side
    buildings = candidates
    if "kind" in candidates.columns:
        buildings = candidates[candidates["kind"].astype(str) != "intersection"]
    bare = grid[grid["pop"].to_numpy() == 0]
    if len(buildings) and len(bare):
        hit = gpd.sjoin(
            bare[["cell_id", "geometry"]],
            buildings[["geometry"]],
            predicate="intersects",
            how="inner",
        )
        bare = bare[~bare["cell_id"].isin(hit["cell_id"])]
    if not len(bare):
        return empty, side
    bare = bare.reset_index(drop=True)
    points = bare.geometry.representative_point()
    xy = np.column_stack([points.x, points.y])
    area = OPEN_CELL_SHARE * bare.geometry.area.to_numpy()
    key = np.floor(xy / side).astype(np.int64)
    square, square_of = np.unique(key, axis=0, return_inverse=True)
    square_of = np.asarray(square_of).ravel()
    totals = np.bincount(square_of, weights=area)
    cx = np.bincount(square_of, weights=area * xy[:, 0]) / totals
    cy = np.bincount(square_of, weights=area * xy[:, 1]) / totals
    dist = np.hypot(xy[:, 0] - cx[square_of], xy[:, 1] - cy[square_of])
    order = np.lexsort((dist, square_of))
    central = order[np.r_[True, square_of[order][1:] != square_of[order][:-1]]]
    n_cells = np.bincount(square_of)
    ids = [f"open-{int(x * side)}-{int(y * side)}" for x, y in square]
    basis = [
        f"{OPEN_CELL_SHARE:g} x the area of {k} open grid cell{'s' if k > 1 else ''} (estimate)"
        for k in n_cells
    ]
    return gpd.GeoDataFrame(
        {
            "site_id": ids,
            "name": None,
            "status": "new",
            "capacity": np.floor(totals / norms.area.value),
            "area_m2": totals,
            "modelled": True,
            "area_basis": basis,
            "site_type": "open land",
        },
        geometry=points.to_numpy()[central],
        crs=crs,
    ), side


def _site_table(kept: gpd.GeoDataFrame, chosen: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    table = pd.concat(
        [kept[[*_SITE_COLUMNS, "geometry"]], chosen[[*_SITE_COLUMNS, "geometry"]]],
        ignore_index=True,
    )
    dup = table["site_id"].duplicated()
    if dup.any():
        raise InputError(
            "shelter site ids repeat (existing shelters and sites together)",
            layer="sites",
            column="site_id",
            rows=table.loc[dup, "site_id"].tolist(),
        )
    table["capacity"] = table["capacity"].astype(float)
    table["area_m2"] = table["area_m2"].astype(float)
    table["modelled"] = table["modelled"].astype(bool)
    return gpd.GeoDataFrame(table, geometry="geometry", crs=crs)


# =========================================================================================
# the three solving steps
# =========================================================================================
_EXACT_PAIRS = 300  # step 2: components up to this many pairs go together to one exact MILP
_TRAVEL_WEIGHT = 0.5  # step 2: all the walk together weighs at most this many sites
_LP_SCALE = 1_000.0  # step 2: residents and room in thousands inside the MILP


def _remaining(deadline: float) -> float:
    return max(deadline - time.perf_counter(), 0.5)


@dataclass(frozen=True, eq=False)
class _Network:
    """Cells (rows) and sites with the pairs within reach: a flow network in residents."""

    rows: np.ndarray  # row of each pair
    cols: np.ndarray  # site of each pair
    minutes: np.ndarray  # walk of each pair
    residents: np.ndarray  # residents of each row (whole people)
    room: np.ndarray  # residents each site has room for (whole people)

    @classmethod
    def build(cls, matrix: sp.csr_matrix, residents: np.ndarray, room: np.ndarray) -> _Network:
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        return cls(
            rows,
            matrix.indices.astype(np.int64),
            matrix.data.astype(float),
            np.asarray(residents, np.int64),
            np.asarray(room, np.int64),
        )

    def flow(self, is_open: np.ndarray, pairs: np.ndarray | None = None):
        """Most residents the open sites take over ``pairs`` (cells split freely).

        Returns the total, and the flow per row and per pair (whole people).
        """
        from scipy.sparse.csgraph import maximum_flow

        from svcnet.models._base import pair_costs

        keep = is_open[self.cols] if pairs is None else (is_open[self.cols] & pairs)
        per_row = np.zeros(len(self.residents), dtype=np.int64)
        per_pair = np.zeros(len(self.rows), dtype=np.int64)
        if not keep.any():
            return 0, per_row, per_pair
        r, c = self.rows[keep], self.cols[keep]
        ur, ri = np.unique(r, return_inverse=True)
        uc, ci = np.unique(c, return_inverse=True)
        nr, nc = len(ur), len(uc)
        sink = nr + nc + 1
        src = np.concatenate([np.zeros(nr, np.int64), 1 + ri, 1 + nr + np.arange(nc)])
        dst = np.concatenate([1 + np.arange(nr), 1 + nr + ci, np.full(nc, sink)])
        cap = np.concatenate([self.residents[ur], self.residents[r], self.room[uc]])
        graph = sp.csr_matrix((cap.astype(np.int32), (src, dst)), shape=(sink + 1, sink + 1))
        result = maximum_flow(graph, 0, sink, method="dinic")
        flow = result.flow.tocsr()
        per_row[ur] = np.asarray(flow[0, 1 : nr + 1].toarray()).ravel()
        values = pair_costs(flow, 1 + ri, 1 + nr + ci)
        per_pair[keep] = np.nan_to_num(values, nan=0.0).astype(np.int64)
        return int(result.flow_value), np.maximum(per_row, 0), np.maximum(per_pair, 0)


def _most_sheltered(network: _Network, is_open: np.ndarray, part: str):
    """Step 1 (and the situation before): the most residents the open sites can shelter.

    Returns the residents sheltered per row and per pair (whole people) and the record.
    """
    started = time.perf_counter()
    total, per_row, per_pair = network.flow(is_open)
    record = {
        "part": part,
        "model": "max flow",
        "status": "optimal",
        "objective": float(total),
        "bound": float(total),
        "gap": 0.0,
        "seconds": time.perf_counter() - started,
        "method": "dinic",
        "unit": "residents",
        "sites": int(is_open.sum()),
    }
    return per_row, per_pair, record


def _components(n: int, m: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Connected component of each row in the cell-site graph."""
    from scipy.sparse.csgraph import connected_components

    graph = sp.csr_matrix((np.ones(len(rows)), (rows, n + cols)), shape=(n + m, n + m))
    _, label = connected_components(graph, directed=False)
    return label[:n]


def _fewest_sites(
    network: _Network,
    best_rows: np.ndarray,
    n_kept: int,
    deadline: float,
    mip_gap: float,
    seed: int,
):
    """Step 2: the fewest sites (existing ones open) that shelter as many as all sites can.

    ``best_rows`` is each row's flow with every site open. The cell-site graph
    falls apart in components, each of which must shelter its own most (a
    maximum flow splits along components): the small components are solved
    together, each large one alone, by LP rounding (the LP relaxation also
    gives the bound) and a drop pass, then, in the time the group's share of
    the pairs earns it, by the MILP from there, or for a group too large for
    the MILP by the cut loop of :func:`_cover_cuts`.
    """
    started = time.perf_counter()
    n, m = len(network.residents), len(network.room)
    pair_comp = _components(n, m, network.rows, network.cols)[network.rows]
    comps, pair_counts = np.unique(pair_comp, return_counts=True)
    small = comps[pair_counts <= _EXACT_PAIRS]
    groups = [np.isin(pair_comp, small)] if len(small) else []
    groups += [pair_comp == comp for comp in comps[pair_counts > _EXACT_PAIRS]]
    is_open = np.zeros(m, dtype=bool)
    is_open[:n_kept] = True
    bound = float(n_kept - np.unique(network.cols[network.cols < n_kept]).size)
    statuses, methods = [], []
    left = float(len(network.rows))
    for pairs in sorted(groups, key=lambda g: int(g.sum())):
        share = float(pairs.sum()) / max(left, 1.0)
        left -= float(pairs.sum())
        own = time.perf_counter() + share * max(deadline - time.perf_counter(), 0.0)
        chosen, part_bound, status, method = _cover_group(
            network, pairs, pair_comp, best_rows, n_kept, own, mip_gap, seed
        )
        is_open |= chosen
        bound += part_bound
        statuses.append(status)
        methods.append(method)
    count = int(is_open.sum())
    bound = float(min(bound, count))
    gap = 0.0 if count == 0 else (count - bound) / count
    status = "optimal" if gap == 0 else ("time_limit" if "time_limit" in statuses else "feasible")
    record = {
        "part": "fewest sites",
        "model": "capacitated set cover",
        "status": status,
        "objective": float(count),
        "bound": bound,
        "gap": gap,
        "seconds": time.perf_counter() - started,
        "method": "; ".join(sorted(set(methods))) or "none",
        "sites": count,
        "components": f"{len(small):,} small (solved together), "
        f"{len(groups) - bool(len(small)):,} large",
    }
    logger.info("shelters: fewest sites %d (bound %g), %.1f s", count, bound, record["seconds"])
    return np.flatnonzero(is_open), record


def _cover_model(
    network: _Network,
    pairs: np.ndarray,
    pair_comp: np.ndarray,
    best_rows: np.ndarray,
    n_kept: int,
    *,
    relax: bool,
    link: bool,
):
    """The MILP (or LP) of step 2 on some pairs, with one "shelter the most" row per component.

    Columns: y (one per site touched), then x (one per pair: the share of the
    row's residents sent there). Residents and room are in thousands. The
    walk enters the objective with a weight that makes all of it count less
    than half a site (:data:`_TRAVEL_WEIGHT`), so fewer sites always come first.
    """
    rows_g, cols_g = network.rows[pairs], network.cols[pairs]
    rows_u, r_idx = np.unique(rows_g, return_inverse=True)
    sites, c_idx = np.unique(cols_g, return_inverse=True)
    comps, k_idx = np.unique(pair_comp[pairs], return_inverse=True)
    comp_of_row = np.zeros(len(network.residents), dtype=np.int64)
    comp_of_row[rows_g] = pair_comp[pairs]
    h_of_row = np.searchsorted(comps, comp_of_row[rows_u])
    targets = np.bincount(h_of_row, weights=best_rows[rows_u], minlength=len(comps))
    r, k, q, h = len(rows_u), len(sites), len(rows_g), len(comps)
    width = k + q
    x = k + np.arange(q)
    load = network.residents[rows_g] / _LP_SCALE
    room = network.room[sites] / _LP_SCALE
    walk = network.residents[rows_g] * network.minutes[pairs]
    scale = max(float(network.residents[rows_u].sum()) * float(network.minutes[pairs].max()), 1.0)
    blocks = [
        sp.csr_matrix((np.ones(q), (r_idx, x)), shape=(r, width)),
        sp.csr_matrix(
            (
                np.concatenate([load, -room]),
                (np.concatenate([c_idx, np.arange(k)]), np.concatenate([x, np.arange(k)])),
            ),
            shape=(k, width),
        ),
        sp.csr_matrix((load, (k_idx, x)), shape=(h, width)),
    ]
    lower = [np.full(r, -np.inf), np.full(k, -np.inf), (targets - 0.5) / _LP_SCALE]
    upper = [np.ones(r), np.zeros(k), np.full(h, np.inf)]
    if link:
        blocks.append(
            sp.csr_matrix(
                (
                    np.concatenate([np.ones(q), -np.ones(q)]),
                    (np.tile(np.arange(q), 2), np.concatenate([x, c_idx])),
                ),
                shape=(q, width),
            )
        )
        lower.append(np.full(q, -np.inf))
        upper.append(np.zeros(q))
    col_lower = np.zeros(width)
    col_lower[:k] = (sites < n_kept).astype(float)
    walk_weight = _TRAVEL_WEIGHT if walk.any() else 0.0  # all the walk weighs at most this
    model = {
        "cost": np.concatenate([np.ones(k), walk_weight * walk / scale]),
        "matrix": sp.vstack(blocks, format="csr"),
        "row_lower": np.concatenate(lower),
        "row_upper": np.concatenate(upper),
        "col_lower": col_lower,
        "col_upper": np.ones(width),
        "integer": np.zeros(width, dtype=bool) if relax else np.arange(width) < k,
    }
    return model, sites, walk_weight


def _cover_exact(network, pairs, pair_comp, best_rows, n_kept, deadline, mip_gap, seed, start=None):
    """Exact MILP over the given pairs; returns the open mask, the bound and the status."""
    model, sites, walk_weight = _cover_model(
        network, pairs, pair_comp, best_rows, n_kept, relax=False, link=True
    )
    warm = None
    if start is not None:
        _, _, per_pair = network.flow(start, pairs)
        x = per_pair[pairs] / np.maximum(network.residents[network.rows[pairs]], 1)
        warm = np.concatenate([start[sites].astype(float), np.clip(x, 0.0, 1.0)])
    result = solve_mip(
        **model,
        time_limit=_remaining(deadline),
        mip_gap=mip_gap,
        seed=seed,
        start=warm,
        what="fewest-shelters model",
    )
    chosen = np.zeros(len(network.room), dtype=bool)
    chosen[sites[result.x[: len(sites)] > 0.5]] = True
    bound = float(math.ceil(result.bound - walk_weight - 1e-6))  # the walk weighs < 1 site
    return chosen, max(bound, 0.0), result.status


def _cover_group(network, pairs, pair_comp, best_rows, n_kept, deadline, mip_gap, seed):
    """LP rounding and a drop pass on some components, then the MILP or the cut loop."""
    m = len(network.room)
    comp = pair_comp
    target = int(best_rows[np.unique(network.rows[pairs])].sum())
    exact = int(pairs.sum()) <= _LINK_PAIRS
    y, bound, sites = _relaxation(network, pairs, comp, best_rows, n_kept, deadline, exact)
    kept = sites < n_kept
    order = sites[np.lexsort((-network.room[sites], -y, ~kept))]

    def served(mask):
        return network.flow(mask, pairs)[0]

    lo, hi = int(kept.sum()), len(order)
    while lo < hi:  # the shortest prefix of the LP order that shelters the target
        mid = (lo + hi) // 2
        trial = np.zeros(m, dtype=bool)
        trial[order[:mid]] = True
        if served(trial) >= target:
            hi = mid
        else:
            lo = mid + 1
    is_open = np.zeros(m, dtype=bool)
    is_open[order[:lo]] = True
    weight = dict(zip(sites.tolist(), y.tolist(), strict=True))
    drop = sorted(
        (int(j) for j in order[:lo] if j >= n_kept), key=lambda j: (weight[j], network.room[j], j)
    )
    _close_spare(network, pairs, is_open, drop, target, deadline)
    count = int(is_open.sum())
    method, status = "lp rounding + drop", "optimal" if count <= bound else "feasible"
    budget = deadline - time.perf_counter()
    if count > bound and budget > 1.0 and not exact:
        is_open, cut_bound, status, rounds = _cover_cuts(
            network, pairs, pair_comp, best_rows, n_kept, is_open, deadline, mip_gap, seed
        )
        bound, count = max(bound, cut_bound), int(is_open.sum())
        method += f" + cover cuts ({rounds} rounds)" if rounds else ""
        status = "optimal" if count <= bound else status
    if count > bound and budget > 1.0 and exact:
        try:
            chosen, mip_bound, mip_status = _cover_exact(
                network,
                pairs,
                comp,
                best_rows,
                n_kept,
                time.perf_counter() + budget,
                mip_gap,
                seed,
                start=is_open,
            )
        except (SolverError, InfeasibleError) as exc:  # the rounding stands
            logger.info("shelters: the MILP from the rounding stopped: %s", exc)
        else:
            bound = max(bound, mip_bound)
            method += " + mip"
            if chosen.sum() < count and served(chosen) >= target:
                is_open, count = chosen, int(chosen.sum())
            status = "optimal" if count <= bound else mip_status
    return is_open, min(bound, count), status, method


def _close_spare(network, pairs, is_open, drop, target: int, deadline: float) -> None:
    """Close the sites of ``drop`` (in order) that the others can do without, in place.

    First by moving their people to room nearby (:func:`_drop_nearby`), then,
    for the rest, by a maximum flow without the site, while time lasts.
    """
    stuck = _drop_nearby(network, pairs, is_open, drop)
    for j in stuck:
        if time.perf_counter() > deadline:
            break
        is_open[j] = False
        if network.flow(is_open, pairs)[0] < target:
            is_open[j] = True


def _cover_cuts(network, pairs, pair_comp, best_rows, n_kept, is_open, deadline, mip_gap, seed):
    r"""Step 2 for a group too large for the MILP: cut-set cuts on the sites alone.

    The master problem keeps only the site variables: :math:`\min \sum_j y_j`
    subject to cut-set inequalities of the maximum flow. For a set ``S`` of
    cells of component ``c``, with ``N(S)`` the sites within their reach,
    every choice of sites that shelters :math:`F^*_c` satisfies

    .. math:: \sum_{j \in N(S)} R_j y_j \ge F^*_c - r(c \setminus S)

    (max-flow min-cut) and, lifted, "at least ``k`` sites of ``N(S)`` open",
    ``k`` the fewest of their largest rooms reaching that right-hand side. The
    master starts with every cell alone (some site within its reach must open:
    a set cover row) and the whole component (a knapsack). Each round solves
    it (its bound is a bound of step 2: a relaxation, the walk aside), then
    the maximum flow of its sites: enough, and its sites are a better answer
    (optimal when the master is); too few, and the minimum cut adds its
    inequality, while the answer is repaired (sites of the cut opened, those
    reaching the most people without a place first) and thinned by
    :func:`_close_spare` for a new incumbent. Until the bound meets the
    incumbent or time runs out.

    Returns the open sites, the bound, the status and the number of rounds.
    """
    from scipy.sparse.csgraph import breadth_first_order

    m, n = len(network.room), len(network.residents)
    rows_g, cols_g = network.rows[pairs], network.cols[pairs]
    rows_u, r_idx = np.unique(rows_g, return_inverse=True)
    sites, c_idx = np.unique(cols_g, return_inverse=True)
    k = len(sites)
    comp_of_row = np.zeros(n, dtype=np.int64)
    comp_of_row[rows_g] = pair_comp[pairs]
    comps, h_of_row = np.unique(comp_of_row[rows_u], return_inverse=True)
    site_comp = np.zeros(k, dtype=np.int64)
    site_comp[c_idx] = np.searchsorted(comps, pair_comp[pairs])
    residents = network.residents[rows_u].astype(float)
    targets = np.bincount(h_of_row, best_rows[rows_u], minlength=len(comps))
    totals = np.bincount(h_of_row, residents, minlength=len(comps))
    room = network.room[sites].astype(float)
    reach = sp.csr_matrix((np.ones(len(rows_g)), (r_idx, c_idx)), shape=(len(rows_u), k))

    cuts: list[sp.csr_matrix] = []
    lower: list[np.ndarray] = []

    def add_cut(members: np.ndarray, rhs: float) -> None:
        """The inequality of ``N(S)`` for the right-hand side, and its lifted count."""
        largest = np.sort(room[members])[::-1]
        count = int(np.searchsorted(np.cumsum(largest), rhs - 0.5)) + 1
        row = np.zeros(k)
        row[members] = room[members] / _LP_SCALE
        cuts.append(sp.csr_matrix(row[None, :]))
        lower.append(np.array([(rhs - 0.5) / _LP_SCALE]))
        if count > 1:
            cuts.append(sp.csr_matrix(members.astype(float)[None, :]))
            lower.append(np.array([float(min(count, int(members.sum())))]))

    # every cell alone: some site within its reach must open (deduplicated by a hash)
    must = targets[h_of_row] - (totals[h_of_row] - residents) > 0.5
    if must.any():
        key = reach[must] @ np.random.default_rng(seed).random((k, 2))
        _, first = np.unique(np.round(key, 9), axis=0, return_index=True)
        cover = reach[np.flatnonzero(must)[np.sort(first)]]
        cuts.append(cover.tocsr())
        lower.append(np.ones(cover.shape[0]))
    for h in range(len(comps)):  # the whole component
        if targets[h] > 0.5:
            add_cut(site_comp == h, targets[h])

    target = int(round(targets.sum()))
    best = is_open.copy()
    best_count = int(best[sites].sum())
    bound, status, rounds = 0.0, "feasible", 0
    col_lower = (sites < n_kept).astype(float)
    while time.perf_counter() < deadline - 0.5 and best_count > bound:
        matrix = sp.vstack(cuts, format="csr")
        row_lower = np.concatenate(lower)
        try:
            result = solve_mip(
                cost=np.ones(k),
                matrix=matrix,
                row_lower=row_lower,
                row_upper=np.full(len(row_lower), np.inf),
                col_lower=col_lower,
                col_upper=np.ones(k),
                integer=np.ones(k, dtype=bool),
                time_limit=_remaining(deadline),
                mip_gap=mip_gap,
                seed=seed,
                start=best[sites].astype(float),
                what="fewest-shelters cut master",
            )
        except (SolverError, InfeasibleError) as exc:
            logger.info("shelters: the cut master stopped: %s", exc)
            break
        rounds += 1
        bound = max(bound, float(math.ceil(result.bound - 1e-6)))
        chosen = is_open.copy()
        chosen[sites] = result.x > 0.5
        total, per_row, per_pair = network.flow(chosen, pairs)
        flow_of = np.bincount(h_of_row, per_row[rows_u], minlength=len(comps))
        short = flow_of < targets - 0.5
        if not short.any():  # the master's sites shelter enough
            if int(chosen[sites].sum()) < best_count:
                best, best_count = chosen, int(chosen[sites].sum())
            if result.status == "optimal":
                bound = max(bound, float(best_count))
            break
        if result.status != "optimal":
            status = "time_limit"
        # the minimum cut: cells the source still reaches in the residual graph
        open_pair = pairs & chosen[network.cols]
        moved = pairs & (per_pair > 0)
        spare = np.flatnonzero(network.residents[rows_u] - per_row[rows_u] > 0)
        heads = np.concatenate([np.zeros(len(spare), np.int64), 1 + network.rows[open_pair],
                                1 + n + network.cols[moved]])  # fmt: skip
        tails = np.concatenate([1 + rows_u[spare], 1 + n + network.cols[open_pair],
                                1 + network.rows[moved]])  # fmt: skip
        graph = sp.csr_matrix((np.ones(len(heads)), (heads, tails)), shape=(1 + n + m, 1 + n + m))
        found = breadth_first_order(graph, 0, directed=True, return_predecessors=False)
        in_s = np.zeros(n + 1, dtype=bool)
        in_s[found[(found >= 1) & (found <= n)]] = True
        in_s = in_s[1 + rows_u]
        for h in np.flatnonzero(short):
            members_s = in_s & (h_of_row == h)
            reached = np.zeros(k, dtype=bool)
            reached[c_idx[members_s[r_idx]]] = True
            rhs = targets[h] - (totals[h] - residents[members_s].sum())
            if rhs > 0.5 and reached.any():
                add_cut(reached, rhs)
        focus = np.zeros(n, dtype=bool)
        focus[rows_u[in_s]] = True
        repaired = _repaired(network, pairs, chosen, per_row, focus, target, deadline)
        if repaired is not None:
            drop = sorted(
                (int(j) for j in sites[repaired[sites]] if j >= n_kept),
                key=lambda j: (network.room[j], j),
            )
            _close_spare(network, pairs, repaired, drop, target, deadline)
            if int(repaired[sites].sum()) < best_count:
                best, best_count = repaired, int(repaired[sites].sum())
    if time.perf_counter() >= deadline - 0.5 and best_count > bound:
        status = "time_limit"
    logger.info("shelters: cut master %d rounds, %d sites (bound %g)", rounds, best_count, bound)
    return best, bound, "optimal" if best_count <= bound else status, rounds


def _repaired(network, pairs, chosen, per_row, focus, target: int, deadline: float):
    """``chosen`` with sites added until it shelters ``target`` (None when it cannot in time).

    Each time, the closed site that reaches the most residents still without a
    place (at most its room) opens: residents of the ``focus`` rows (the
    minimum cut's cells) first, then anyone's.
    """
    m = len(network.room)
    is_open = chosen.copy()
    lacking_all = (network.residents - per_row).astype(float)
    for _ in range(m):
        if time.perf_counter() > deadline:
            return None
        lacking = np.where(focus, lacking_all, 0.0)
        options = pairs & ~is_open[network.cols] & (lacking[network.rows] > 0)
        if not options.any():
            lacking = lacking_all
            options = pairs & ~is_open[network.cols] & (lacking[network.rows] > 0)
        if not options.any():
            return None
        gain = np.bincount(network.cols[options], lacking[network.rows[options]], minlength=m)
        is_open[int(np.argmax(np.minimum(gain, network.room)))] = True
        total, per_row, _ = network.flow(is_open, pairs)
        if total >= target:
            return is_open
        lacking_all = (network.residents - per_row).astype(float)
    return None


def _relaxation(network, pairs, comp, best_rows, n_kept, deadline, exact):
    """The LP relaxation of step 2 on ``pairs``: site values y (for rounding) and the bound.

    On the pairs themselves when there are at most :data:`_LINK_PAIRS`; else on
    the cells merged by their nearest site (still a relaxation), and when even
    that is too big, without the ``x_ij <= y_j`` rows (a weak bound).
    """
    model = None
    if not exact:  # too many pairs: cells merged by their nearest site (a relaxation)
        merged, merged_best = _merged_by_nearest(network, pairs, best_rows)
        if len(merged.rows) <= _LINK_PAIRS:
            everything = np.ones(len(merged.rows), dtype=bool)
            model = _cover_model(
                merged,
                everything,
                np.zeros(len(merged.rows), int),
                merged_best,
                n_kept,
                relax=True,
                link=True,
            )
    if model is None:
        model = _cover_model(network, pairs, comp, best_rows, n_kept, relax=True, link=exact)
    lp, sites, walk_weight = model
    try:
        relaxed = solve_mip(
            **lp,
            time_limit=_remaining(deadline),
            what="fewest-shelters LP",
            lp_solver="ipm" if exact else None,
        )
    except SolverError:  # no LP, no bound: the rounding falls back to room
        logger.warning("shelters: the LP relaxation did not finish; no bound for a component")
        return network.room[sites].astype(float), 0.0, sites
    ok = relaxed.status == "optimal"
    bound = float(math.ceil(relaxed.objective - walk_weight - 1e-6)) if ok else 0.0
    return relaxed.x[: len(sites)], bound, sites


def _drop_nearby(network: _Network, pairs: np.ndarray, is_open: np.ndarray, drop) -> list[int]:
    """Close the sites of ``drop`` (in order) whose people fit in other open sites in reach.

    Each site's current flow (a maximum flow of the open sites) is moved to
    the room left in the other open sites its cells reach, nearest first; a
    site closes when all of it moves. This never loses anyone (the flow stays
    a flow) but misses closures that need longer chains of moves: those sites
    are returned for the exact check. ``is_open`` is updated in place.
    """
    _, _, flow = network.flow(is_open, pairs)
    rows, cols, minutes = network.rows, network.cols, network.minutes
    left = network.room - np.bincount(cols, flow, minlength=len(network.room))
    starts = np.searchsorted(rows, np.arange(len(network.residents) + 1))  # pairs sorted by row
    by_site = np.argsort(cols, kind="stable")
    site_start = np.searchsorted(cols[by_site], np.arange(len(network.room) + 1))
    stuck = []
    for j in drop:
        mine = by_site[site_start[j] : site_start[j + 1]]
        mine = mine[flow[mine] > 0]
        moves: list[tuple[int, int]] = []
        ok = True
        for pair in mine:
            need = int(flow[pair])
            i = rows[pair]
            options = np.arange(starts[i], starts[i + 1])
            options = options[pairs[options] & is_open[cols[options]] & (cols[options] != j)]
            for other in options[np.argsort(minutes[options], kind="stable")]:
                take = min(need, int(left[cols[other]]))
                if take > 0:
                    moves.append((int(other), take))
                    left[cols[other]] -= take
                    need -= take
                if not need:
                    break
            if need:
                ok = False
                break
        if ok:
            for other, take in moves:
                flow[other] += take
            left[j] += int(flow[mine].sum())
            flow[mine] = 0
            is_open[j] = False
        else:
            for other, take in moves:
                left[cols[other]] += take
            stuck.append(j)
    return stuck


def _merged_by_nearest(network: _Network, pairs: np.ndarray, best_rows: np.ndarray):
    """The cells of ``pairs`` merged by their nearest site (a relaxation of step 2).

    Each group reaches every site one of its cells reaches, so the merged
    model's optimum is a lower bound, with far fewer pairs.
    """
    rows, cols, minutes = network.rows[pairs], network.cols[pairs], network.minutes[pairs]
    order = np.lexsort((cols, minutes, rows))
    first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
    group_of = np.full(len(network.residents), -1, dtype=np.int64)
    group_of[rows[first]] = cols[first]
    groups, g_idx = np.unique(group_of[rows], return_inverse=True)
    m = len(network.room)
    keys = np.unique(g_idx * m + cols)
    members = np.flatnonzero(group_of >= 0)
    slot = np.searchsorted(groups, group_of[members])
    residents = np.bincount(slot, weights=network.residents[members], minlength=len(groups))
    best = np.bincount(slot, weights=best_rows[members], minlength=len(groups))
    merged = _Network(
        keys // m, keys % m, np.zeros(len(keys)), residents.astype(np.int64), network.room
    )
    return merged, best


def _least_walk(matrix, network: _Network, fewest, n_kept: int, norms: _Norms):
    """Step 3: residents to the chosen sites, sheltering the most, then walking the least.

    A min-cost flow LP on the chosen sites (each resident left without a
    place costs :data:`UNSERVED_WEIGHT` x the reach in minutes; its vertices
    are whole people); chosen sites it leaves empty are closed. Each cell is
    then split where its residents go to several shelters (or some stay
    without). The result is a :class:`svcnet.Solution` of the capacitated
    p-median on those parts (the other sites forbidden) for
    :func:`svcnet.verify`; its bound is the LP, that model's relaxation.

    Returns the parts (``row``, ``residents``, ``site``, -1 for none), the
    solution, the model and notes.
    """
    from svcnet.models._base import pair_costs
    from svcnet.models.solution import Solution, relative_gap

    started = time.perf_counter()
    m = len(network.room)
    allowed = np.zeros(m, dtype=bool)
    allowed[fewest] = True
    allowed[:n_kept] = True
    target, _, _ = network.flow(allowed)
    penalty = UNSERVED_WEIGHT * norms.reach_minutes
    flows, lp_value = _flow_lp(network, allowed[network.cols], penalty=penalty)
    notes = []
    sheltered = int(flows.sum())
    if sheltered < target:
        notes.append(
            f"The walk-shortest allocation shelters {target - sheltered:,} fewer "
            f"people than the chosen sites could hold."
        )
    used = np.bincount(network.cols[flows > 0], minlength=m) > 0
    idle = allowed & ~used
    idle[:n_kept] = False
    if idle.any():
        allowed &= ~idle
        notes.append(
            f"{int(idle.sum()):,} of the sites step 2 chose take nobody in the "
            f"walk-shortest allocation and are closed."
        )
    parts = _parts(network, allowed[network.cols], flows)
    weights = parts["residents"].to_numpy(dtype=float)
    costs = matrix[parts["row"].to_numpy()].tocsr()
    model = PMedian.from_cost_matrix(
        costs,
        weights,
        p=int(allowed.sum()),
        capacity=network.room.astype(float),
        loads=weights,
        unserved_penalty=penalty,
        existing=np.arange(n_kept),
        forbidden=~allowed,
    )
    site = parts["site"].to_numpy()
    served = site >= 0
    assigned = np.full(len(site), np.nan)
    assigned[served] = pair_costs(costs, np.flatnonzero(served), site[served])
    objective = float(
        (weights[served] * assigned[served]).sum() + (weights[~served] * penalty).sum()
    )
    bound = min(lp_value + penalty * float(weights.sum()), objective)
    gap = relative_gap(objective, bound, False)
    solution = Solution(
        model="PMedian",
        selected=np.flatnonzero(allowed),
        assignment=site,
        objective=objective,
        bound=bound,
        gap=gap,
        status="optimal" if gap == 0 else "feasible",
        method="min-cost flow LP on the chosen sites",
        maximize=False,
        timings={"total": time.perf_counter() - started},
        site_ids=np.arange(m),
        demand_ids=np.arange(len(site)),
        assigned_cost=assigned,
        details={"loads": np.bincount(site[served], weights[served], minlength=m)},
    )
    return parts, solution, model, notes


def _flow_lp(network: _Network, pairs: np.ndarray, *, penalty: float):
    """Min-cost flow on ``pairs``: minutes per resident sent, less ``penalty`` per resident.

    This is the LP relaxation of step 3's model, less the penalty for everyone.

    Returns the flow per pair (whole people: the LP is a transportation problem
    with whole supplies, solved to a vertex) and the LP's objective.
    """
    rows_g, cols_g = network.rows[pairs], network.cols[pairs]
    rows_u, r_idx = np.unique(rows_g, return_inverse=True)
    sites, c_idx = np.unique(cols_g, return_inverse=True)
    q, r, k = len(rows_g), len(rows_u), len(sites)
    flows = np.zeros(len(network.rows), dtype=np.int64)
    if not q:
        return flows, 0.0
    matrix = sp.vstack(
        [
            sp.csr_matrix((np.ones(q), (r_idx, np.arange(q))), shape=(r, q)),
            sp.csr_matrix((np.ones(q), (c_idx, np.arange(q))), shape=(k, q)),
        ],
        format="csr",
    )
    result = solve_mip(
        cost=network.minutes[pairs] - penalty,
        matrix=matrix,
        row_lower=np.full(r + k, -np.inf),
        row_upper=np.concatenate([network.residents[rows_u], network.room[sites]]).astype(float),
        col_lower=np.zeros(q),
        col_upper=np.full(q, np.inf),
        integer=np.zeros(q, dtype=bool),
        what="shelter allocation LP",
    )
    flows[pairs] = np.floor(result.x + 1e-6).astype(np.int64)
    return flows, float(result.objective)


def _parts(network: _Network, pairs: np.ndarray, flows: np.ndarray) -> pd.DataFrame:
    """Each reachable row's residents by shelter (and those left without), in row order."""
    used = pairs & (flows > 0)
    frame = pd.DataFrame(
        {"row": network.rows[used], "residents": flows[used], "site": network.cols[used]}
    )
    reach_rows = np.unique(network.rows)
    taken = np.bincount(frame["row"], frame["residents"], minlength=len(network.residents))
    left = network.residents[reach_rows] - taken[reach_rows].astype(np.int64)
    rest = pd.DataFrame({"row": reach_rows[left > 0], "residents": left[left > 0], "site": -1})
    frame = pd.concat([frame, rest], ignore_index=True)
    return frame.sort_values(["row", "site"], kind="stable").reset_index(drop=True)


def _split_cells(cells: gpd.GeoDataFrame, parts: pd.DataFrame, groups, group: str):
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


def _whole_places(site: np.ndarray, residents: np.ndarray, share: float) -> np.ndarray:
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


def _before_parts(
    network: _Network,
    per_row: np.ndarray,
    per_pair: np.ndarray,
    parts: pd.DataFrame,
    share: float,
) -> pd.DataFrame:
    """Per part: residents with a place in an existing shelter before the plan, and their places.

    From the maximum flow of the existing shelters (whole residents per cell and
    per cell-shelter pair): each shelter's places are whole
    (:func:`_whole_places`), and each cell's residents and places are dealt to
    its parts in proportion to their residents.
    """
    used = per_pair > 0
    places = np.zeros(len(per_pair))
    places[used] = _whole_places(network.cols[used], per_pair[used], share)
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


# =========================================================================================
# the plan
# =========================================================================================
def _build_plan(
    region,
    cells,
    level,
    layer,
    table,
    travel,
    rows,
    parts,
    before,
    norms: _Norms,
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
    sheltered = _whole_places(assignment, parts["residents"].to_numpy(), norms.share_used)
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
    first = [
        "site_id",
        "name",
        "status",
        "rank",
        "population_served",
        "capacity",
        "mean_minutes",
        "reason",
    ]
    rest = [c for c in sites.columns if c not in first]
    return sites[first + rest].reset_index(drop=True)


def _reason(row: Any, norms: _Norms) -> str:
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


def _gap_columns(pop_by_unit, table, site_units, open_sites, norms: _Norms) -> pd.DataFrame:
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
