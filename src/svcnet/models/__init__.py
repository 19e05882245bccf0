"""Location models with certified optimality: LSCP, MCLP, p-median (bounded) and p-center.

Every model is built with ``from_cost_matrix(...)`` (dense arrays, scipy.sparse
matrices where an absent entry means "beyond the cutoff", or a
:class:`svcnet.costs.CostMatrix`) or ``from_geodataframe(...)``, and solved
with ``solve(*, time_limit=None, mip_gap=0.0, seed=0, method="auto")``, which
returns an immutable :class:`Solution` with a proven bound and gap.
:func:`verify` recomputes a solution's feasibility and objective from the
model's inputs.
"""

from svcnet.models.coverage import LSCP, MCLP
from svcnet.models.median import PCenter, PMedian
from svcnet.models.solution import Solution, VerificationError, verify

__all__ = ["LSCP", "MCLP", "PMedian", "PCenter", "Solution", "VerificationError", "verify"]
