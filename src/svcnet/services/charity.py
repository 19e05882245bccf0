"""Charity donation points: a four-level network, one point per unit, at post and telecom offices.

The Shenzhen plan asks for donation points at city, district, subdistrict
and community level, using the post and telecom outlets. Every unit of every
level the region has gets exactly one point; levels are planned from the
coarsest down, and a point of a higher level that lies inside a lower unit
is that unit's point too (a district point inside a subdistrict is the
subdistrict's point, and so on down). Within a unit the point goes where the
unit's residents walk least in total (a 1-median: :class:`svcnet.models.PMedian`
with ``p=1`` on the unit's cells, checked with :func:`svcnet.verify`), at an
existing outlet (a facility whose ``service`` is ``post_office`` or
``telecom``) where one is good enough, else at a candidate building.

The outlet rule: an outlet is chosen when its residents' total walk is at
most ``1 + outlet_tolerance`` times (default 1.1 times) that of the best
candidate building. In the model, the outlets' minutes are divided by
``1 + outlet_tolerance``, so the 1-median picks the best outlet exactly when
the rule says so (the solver's objective is in these discounted minutes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import geopandas as gpd

from svcnet import standards
from svcnet.distributed._cluster import cluster_for
from svcnet.plan import Plan
from svcnet.services._charity_levels import check_numbers, planned_levels, wanted_levels
from svcnet.services._charity_outlets import DUPLICATE_M, OUTLET_SERVICES, gather_places
from svcnet.services._charity_plan import build_plan
from svcnet.services._charity_points import MAX_DEMAND, MAX_LOCATIONS, plan_level
from svcnet.services._charity_walks import held_back_warnings, level_minutes, nearest_points
from svcnet.services._common import planning_cells

logger = logging.getLogger(__name__)

__all__ = ["plan_charity", "OUTLET_SERVICES", "MAX_LOCATIONS", "MAX_DEMAND", "DUPLICATE_M"]


def plan_charity(
    region: Any,
    *,
    levels: Sequence[str] | None = None,
    outlets: gpd.GeoDataFrame | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    walk_minutes: float = 10.0,
    walk_speed: float | Any = None,
    outlet_tolerance: float = 0.1,
    share_points: bool = True,
    group: str = "pop",
    time_limit: float = 60.0,
    seed: int = 0,
    client: Any = None,
) -> Plan:
    """Plan a hierarchical network of charity donation points, one per unit and level.

    Parameters
    ----------
    region
        A :class:`svcnet.Region`: its boundary levels, population grid,
        facilities, candidates and street network (where it has one).
    levels
        The levels, coarsest first; default the Shenzhen plan's four,
        :data:`svcnet.standards.CHARITY_LEVELS` (city, district, subdistrict,
        community). A level the region lacks is skipped (the plan's notes
        and solver table say so), except the finest, for which ``communities``
        or else the region's finest level stands in.
    outlets
        Post and telecom outlets (points, with ``name`` and ``service`` where
        known); default the region's facilities whose ``service`` is one of
        :data:`OUTLET_SERVICES`.
    candidates
        Candidate sites where no outlet serves (points); default the region's
        candidate buildings.
    communities
        Polygons standing in for communities when the region has no community
        boundaries, e.g. ``plan_centers(region).areas`` (named by a
        ``community`` or ``site_id`` column).
    walk_minutes
        The walk the coverage of each level is reported against.
    walk_speed
        Metres per minute; default the norm ``walking_speed`` (60 m/min).
    outlet_tolerance
        An outlet is chosen when its residents' total walk is within this share
        above the best candidate building's.
    share_points
        Let a higher level's point lying inside a unit be that unit's point.
    group
        The population group whose walk is weighed.
    time_limit
        Seconds for all the 1-median solves together (each still gets at
        least one second; a unit's 1-median is small and usually takes far less).
    seed
        Solver seed.
    client
        Compute the walking times on a Dask cluster (a ``dask.distributed.Client``,
        a scheduler address or ``"local"``, reached before any walk): the walks
        from every cell to its unit's point at each level and to the nearest
        point, the same minutes, value for value (:func:`svcnet.costs_from_graph`),
        so the same plan. The per-unit walks (one small computation per unit,
        to the outlets and buildings weighed for its point) are small and run
        here, as do the 1-medians. None (default): everything in this process.

    Returns
    -------
    Plan
        ``sites``: one row per unit and level (``level``, ``unit``,
        ``site_id`` = ``"level:unit"``), at a ``location_id`` (the outlet or
        candidate; ``status`` "existing" for an outlet, "new" otherwise),
        ``shared_with`` (the higher point it is, if any), ``population_served``
        (the unit's residents), ``capacity`` (NaN), ``mean_minutes`` and
        ``share_within_walk`` of the unit's residents, and a ``reason``.
        ``assignment``: each cell with its lowest-level point (``site_id``)
        and the walk to it (``minutes``, "after"); ``minutes_before``, the
        walk to the nearest point that sits at an existing post or telecom
        outlet (the points of ``status`` "existing", any level: the
        network's points that exist today as outlets; ``inf`` when none is
        within three times ``walk_minutes``); ``minutes_nearest``, the walk
        to the nearest point of any level; ``minutes_<level>``, the walk to
        the unit's point at each level; ``straight_line``, True where the
        cell's walks are straight lines x 1.3 (off the street network, or no
        network). Before and after thus both measure the walk to a donation
        point, and the summary's ``facilities_before`` counts those same
        points at outlets. ``summary()`` adds, per unit of the lowest level,
        its point, mean walk and share within the walk at every level
        (``point_<level>``, ``minutes_<level>``, ``within_<t>min_<level>``).
        ``solver``: one record per level (skipped levels with the reason).
        ``notes`` say which walks fall back to straight lines and which
        candidate buildings were dropped as duplicates of outlets.

    Notes
    -----
    Candidate buildings within :data:`DUPLICATE_M` (10 m) of an outlet are the
    outlet's own building and are dropped, as is the second of two candidates
    of the same name that close (the bundled Futian data lists four telecom
    buildings both as outlets and as candidates): a "new" point is never put in
    an outlet's building.

    Walking times are computed once per unit (and once from every cell to
    every point); svcnet.costs's warnings about points off the street network,
    one per computation, are held back while the plan runs, and the planner
    logs one warning with the counts instead (also in the notes).

    Raises
    ------
    InputError
        Unknown group or levels, bad outlets or candidates, a bad tolerance, a
        ``client`` that is not a Dask client (nor an address or ``"local"``).
    ClusterError
        The scheduler at the address given as ``client`` did not answer.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> from svcnet import Region
    >>> grid = gpd.GeoDataFrame({"cell_id": ["a", "b"], "pop": [300, 200]},
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=32650)
    >>> district = gpd.GeoDataFrame({"district": ["D"]}, geometry=[box(0, 0, 200, 100)],
    ...     crs=32650)
    >>> post = gpd.GeoDataFrame({"facility_id": ["p1"], "name": ["Post"],
    ...     "service": ["post_office"]}, geometry=[Point(60, 50)], crs=32650)
    >>> region = Region(grid, boundaries={"district": district}, facilities=post, name="toy")
    >>> plan = plan_charity(region, levels=["district"])
    >>> plan.sites[["site_id", "status", "location_id"]].values.tolist()
    [['district:D', 'existing', 'p1']]

    On a Dask cluster (a client of a running scheduler, or one started here):

    >>> import svcnet
    >>> from svcnet.distributed import local_client
    >>> with local_client(2) as client:  # doctest: +SKIP
    ...     plan = plan_charity(svcnet.datasets.load_futian(), client=client)
    """
    started = time.perf_counter()
    deadline = started + float(time_limit)
    speed = standards.resolve("walking_speed", walk_speed)
    norm = standards.resolve("charity_levels")
    check_numbers(walk_minutes, outlet_tolerance)
    wanted = wanted_levels(levels)
    cells, _, notes = planning_cells(region, group)
    plan_levels, skipped, level_notes = planned_levels(region, cells, wanted, communities, group)
    notes += level_notes
    places, place_notes = gather_places(region, outlets, candidates)
    notes += place_notes
    people = cells[group].to_numpy(dtype=float)
    with cluster_for(client) as cluster, held_back_warnings() as held:  # None: this process
        for number, level in enumerate(plan_levels):
            plan_level(
                level,
                plan_levels[:number],
                cells,
                people,
                places,
                region,
                speed.value,
                outlet_tolerance,
                share_points,
                deadline,
                seed,
                walk_minutes,
            )
        minutes = level_minutes(plan_levels, cells, region, speed.value, cluster)
        nearest = nearest_points(plan_levels, cells, region, speed.value, walk_minutes, cluster)
    if nearest.notes and region.network is not None:
        notes += [
            f"{nearest.notes[0]} The outlets and buildings weighed for each point are walked "
            f"to the same way."
        ]
    elif nearest.notes:
        notes += list(nearest.notes)
    if held.count:
        logger.warning(
            "charity: %s (%d warnings of svcnet.costs about points off the street network "
            "held back: one per walking-time computation)",
            nearest.notes[0] if nearest.notes else "some points are off the street network",
            held.count,
        )
    return build_plan(
        region,
        cells,
        people,
        plan_levels,
        skipped,
        minutes,
        nearest,
        speed,
        norm,
        group=group,
        walk_minutes=walk_minutes,
        notes=notes,
        parameters={
            "wanted": wanted,
            "levels": [lv.name for lv in plan_levels],
            "skipped": [s["level"] for s in skipped],
            "walk_minutes": walk_minutes,
            "walk_speed_m_per_min": speed.value,
            "outlet_tolerance": outlet_tolerance,
            "share_points": share_points,
            "time_limit": time_limit,
            "seed": seed,
            "seconds": time.perf_counter() - started,
        },
    )
