"""svcnet: plan where public services go.

Population grids, travel costs and location models for city planners,
with GeoDataFrames in and out.

Examples
--------
>>> import svcnet
>>> region = svcnet.datasets.load_futian()
>>> region.summary()[["unit", "pop"]].values.tolist()[-1]
['Futian', 1553225]
"""

from importlib.metadata import PackageNotFoundError, version

from svcnet import access, costs, crs, datasets, demand, errors, indicators, models, standards
from svcnet.costs import CostMatrix, costs_from_graph, costs_from_points, isochrones
from svcnet.demand import demand_from_grid
from svcnet.errors import CRSError, InfeasibleError, InputError, SolverError, SvcnetError
from svcnet.models import Solution, verify
from svcnet.plan import Plan
from svcnet.region import Region
from svcnet.services import (
    plan_centers,
    plan_charity,
    plan_child_welfare,
    plan_eldercare,
    plan_shelters,
)

try:
    __version__ = version("svcnet")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Region",
    "Plan",
    "plan_centers",
    "plan_eldercare",
    "plan_child_welfare",
    "plan_shelters",
    "plan_charity",
    "CostMatrix",
    "costs_from_graph",
    "costs_from_points",
    "isochrones",
    "access",
    "costs",
    "crs",
    "datasets",
    "demand",
    "demand_from_grid",
    "errors",
    "indicators",
    "standards",
    "models",
    "Solution",
    "verify",
    "SvcnetError",
    "InputError",
    "CRSError",
    "InfeasibleError",
    "SolverError",
    "__version__",
]
