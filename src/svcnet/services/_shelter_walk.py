"""Step 3: the residents sent to the chosen sites, sheltering the most, walking the least."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet.models import PMedian
from svcnet.services._shelter_network import Network
from svcnet.services._shelter_norms import Norms
from svcnet.solvers.highs import solve_mip

#: A person left without a shelter costs this many times the reach (in minutes) in step 3.
UNSERVED_WEIGHT = 100.0


def least_walk(matrix, network: Network, fewest, n_kept: int, norms: Norms):
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


def _flow_lp(network: Network, pairs: np.ndarray, *, penalty: float):
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


def _parts(network: Network, pairs: np.ndarray, flows: np.ndarray) -> pd.DataFrame:
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
