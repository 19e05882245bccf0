"""Beyond one process: the same calls, run on a Dask cluster.

:func:`svcnet.costs_from_graph`, :func:`svcnet.costs_from_points`, the 2SFCA
family of :mod:`svcnet.access`, :func:`svcnet.demand.dasymetric_grid`,
:meth:`svcnet.models.PMedian.solve` (population-bounded models) and every
planner (:func:`svcnet.plan_centers`, :func:`svcnet.plan_eldercare`,
:func:`svcnet.plan_child_welfare`, :func:`svcnet.plan_shelters` and
:func:`svcnet.plan_charity`) take ``client=``: a ``dask.distributed.Client``,
a scheduler address, or ``"local"`` for a :class:`~dask.distributed.LocalCluster`
started for the call. Costs are cut into square tiles of the origins, each with
a halo as wide as the cutoff reaches (:func:`make_tiles`), computed on the
workers and stitched so that the result equals the one-machine result value
for value: every cost is the same sum of the same numbers, every 2SFCA ratio
the same sum taken in the same order, every unit's population spread the same.
Population-bounded models and :func:`svcnet.plan_centers` are solved part by
part on the workers, with a bound for the whole. The other planners compute
their travel times on the workers and solve their models in the calling
process (:func:`svcnet.plan_charity` also keeps each unit's small walks to the
points weighed for it there), so their plans are the ones made without a
cluster.

Examples
--------
>>> import svcnet
>>> from svcnet.distributed import local_client
>>> region = svcnet.datasets.load_futian()
>>> with local_client(2) as client:  # doctest: +SKIP
...     costs = svcnet.costs_from_graph(region.network, region.demand("pop"),
...                                     region.candidates, cutoff=900, client=client)
"""

from svcnet.distributed._cluster import (
    AUTO_CLUSTER_ROWS,
    check_memory,
    connect,
    local_client,
    resolve_client,
    run_tasks,
    worker_memory,
)
from svcnet.distributed._tiles import BoxIndex, Tile, check_tile_m, choose_tile_m, make_tiles

__all__ = [
    "AUTO_CLUSTER_ROWS",
    "BoxIndex",
    "Tile",
    "check_memory",
    "check_tile_m",
    "choose_tile_m",
    "connect",
    "local_client",
    "make_tiles",
    "resolve_client",
    "run_tasks",
    "worker_memory",
]
