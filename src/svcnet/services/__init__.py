"""The service planners: one function per service, each returning a :class:`svcnet.Plan`."""

from svcnet.services.centers import plan_centers
from svcnet.services.charity import plan_charity
from svcnet.services.eldercare import plan_child_welfare, plan_eldercare
from svcnet.services.shelters import plan_shelters

__all__ = ["plan_centers", "plan_eldercare", "plan_child_welfare", "plan_shelters", "plan_charity"]
