"""Step 2: the fewest sites that shelter as many residents as all sites can.

A capacitated set cover with one "shelter the most" row per connected part of
the cell-site graph: exact for small parts, LP rounding, a drop pass, then the
MILP or the cut loop (:mod:`svcnet.services._shelter_cuts`) for large ones.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import scipy.sparse as sp

from svcnet.errors import InfeasibleError, SolverError
from svcnet.services._shelter_cuts import cover_cuts
from svcnet.services._shelter_network import (
    LP_SCALE,
    Network,
    close_spare,
    components,
    remaining,
)
from svcnet.solvers.highs import solve_mip

logger = logging.getLogger(__name__)


_EXACT_PAIRS = 300  # step 2: components up to this many pairs go together to one exact MILP
_TRAVEL_WEIGHT = 0.5  # step 2: all the walk together weighs at most this many sites


_LINK_PAIRS = 20_000  # step 2: larger components get their LP on merged cells


def fewest_sites(
    network: Network,
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
    the MILP by the cut loop of :func:`cover_cuts`.
    """
    started = time.perf_counter()
    n, m = len(network.residents), len(network.room)
    pair_comp = components(n, m, network.rows, network.cols)[network.rows]
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
    network: Network,
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
    load = network.residents[rows_g] / LP_SCALE
    room = network.room[sites] / LP_SCALE
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
    lower = [np.full(r, -np.inf), np.full(k, -np.inf), (targets - 0.5) / LP_SCALE]
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
        time_limit=remaining(deadline),
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
    close_spare(network, pairs, is_open, drop, target, deadline)
    count = int(is_open.sum())
    method, status = "lp rounding + drop", "optimal" if count <= bound else "feasible"
    budget = deadline - time.perf_counter()
    if count > bound and budget > 1.0 and not exact:
        is_open, cut_bound, status, rounds = cover_cuts(
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
            time_limit=remaining(deadline),
            what="fewest-shelters LP",
            lp_solver="ipm" if exact else None,
        )
    except SolverError:  # no LP, no bound: the rounding falls back to room
        logger.warning("shelters: the LP relaxation did not finish; no bound for a component")
        return network.room[sites].astype(float), 0.0, sites
    ok = relaxed.status == "optimal"
    bound = float(math.ceil(relaxed.objective - walk_weight - 1e-6)) if ok else 0.0
    return relaxed.x[: len(sites)], bound, sites


def _merged_by_nearest(network: Network, pairs: np.ndarray, best_rows: np.ndarray):
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
    merged = Network(
        keys // m, keys % m, np.zeros(len(keys)), residents.astype(np.int64), network.room
    )
    return merged, best
