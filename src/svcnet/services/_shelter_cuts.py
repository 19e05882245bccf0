"""Step 2 for groups too large for the MILP: a cut loop on the site variables alone."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import scipy.sparse as sp

from svcnet.errors import InfeasibleError, SolverError
from svcnet.services._shelter_network import LP_SCALE, close_spare, remaining
from svcnet.solvers.highs import solve_mip

logger = logging.getLogger(__name__)


def cover_cuts(network, pairs, pair_comp, best_rows, n_kept, is_open, deadline, mip_gap, seed):
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
    :func:`close_spare` for a new incumbent. Until the bound meets the
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
        row[members] = room[members] / LP_SCALE
        cuts.append(sp.csr_matrix(row[None, :]))
        lower.append(np.array([(rhs - 0.5) / LP_SCALE]))
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
                time_limit=remaining(deadline),
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
            close_spare(network, pairs, repaired, drop, target, deadline)
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
