"""The service planners: one function per service, each returning a :class:`svcnet.Plan`."""

from svcnet.services.centers import plan_centers

__all__ = ["plan_centers"]
