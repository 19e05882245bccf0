"""Experiment: the Lagrangian bound with exact (integer) knapsacks on the Futian bounded model.

    python benchmarks/_knapsack_bound_experiment.py            # (a) and (b), stored incumbent
    python benchmarks/_knapsack_bound_experiment.py --solve    # first reruns the 300 s solve
    python benchmarks/_knapsack_bound_experiment.py --check    # validity on random toys only
    python benchmarks/_knapsack_bound_experiment.py --decomposition 100 --pieces 4  # + (c), pieces

The instance is built exactly as ``benchmarks/bounded.py --quick`` builds it, reduced with
``reduce_problem`` and split into its parts (Futian: one part). The incumbent (objective,
certified bound, assignment) is the solver's 300 s run, stored in ``INCUMBENT_CACHE``
(made by ``--solve``, or on the first run). For the largest part(s) it compares:

(a) the current bound: the subgradient over LP knapsacks (the solver's two passes, the
    first from the cheapest pairs, the second from the first's multipliers towards the
    incumbent), and one exact evaluation at its best multipliers as the solver does;
(b) a subgradient whose every iteration solves the sites' knapsacks exactly (dynamic
    programming over the loads), started from (a)'s multipliers, the step using the exact
    knapsacks' chosen rows (deflected Polyak steps towards the incumbent);
(c) with ``--decomposition``: the solver's decomposition bound at (b)'s multipliers with
    each piece relaxed to binary sites and split assignment;
and with ``--pieces``: on compact pieces of the part solved exactly by the MILP, how far
each relaxation is from the optimum.

The exact knapsack of a site, ``min sum r_i x_i`` over rows with ``lo <= sum a_i x_i <= hi``,
is computed as a valid lower bound (exact with ``granularity`` 1 and ``positive_dp``):

* rows with negative reduced cost enter the DP over loads ``0..hi`` (capped at the load
  they sum to); rows with non-negative reduced cost only serve to reach ``lo``: either they
  enter the DP too (``positive_dp``, exact) or their cheapest way to add a load ``l`` is
  bounded below by the LP fill (by cost per load), ``P(l)``, and the value is
  ``min_s best[s] + P(max(0, lo - s))`` (a relaxation);
* with ``granularity`` g > 1 the DP weights are ``floor(a_i / g)`` against the capacity
  ``floor(hi / g)`` (a relaxation of the upper side), and the lower side is relaxed by
  the largest sum of remainders ``a_i mod g`` that a set of rows within ``hi`` can have;
* only sites whose LP knapsack value is negative are solved (the others keep their LP
  value, which is at most their exact value), and a site keeps the larger of the two.

Every bound is checked against brute force on small random instances (``--check``).

Results (2 shared cores; incumbent 417,063,243 from the 300 s solve, certified bound
405,588,347, gap 2.75%; a 1% gap needs a bound of 412.9 M, i.e. 384.6 M on the part):

* one evaluation of all exact knapsacks takes 0.2 s (108-170 sites solved, g = 1);
* (a) 375.42 M after 12 s, 375.61 M with the exact evaluation: whole-model gap 3.16%;
* (b) 376.10 M after 10 s, 376.48 M after 30 s, 376.59 M after 60 s, 376.63 M after 120 s
  (468 iterations): gap 2.92%, still above the certified 2.75% (the relaxation MILP's
  377.31 M); the exact knapsacks gain about 1 M (0.24 points) over (a);
* (c) 378.08 M in 81 s: gap 2.57%;
* on four pieces solved to optimality the LP-knapsack Lagrangian is 0.34-2.00% below the
  optimum, the exact-knapsack one 0.19-1.93%, the binary-site relaxation MILP 0.00-0.30%:
  the integrality that matters is the sites' (open or not, with a load window), not
  single sourcing.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bounded import build_futian, model_of  # noqa: E402

from svcnet.solvers import bounded_lagrange as lagr  # noqa: E402
from svcnet.solvers.bounded_instance import Part, reduce_problem  # noqa: E402

INCUMBENT_CACHE = "/tmp/svcnet_futian_bounded_incumbent.npz"


# ---------------------------------------------------------------------------- exact knapsack


def site_knapsack(reduced, loads, lo, hi, granularity=1, positive_dp=False):
    """Lower bound on one site's knapsack and the (fractional) rows that attain it.

    ``loads`` are non-negative integers. With ``positive_dp`` the rows of
    non-negative reduced cost enter the DP too (exact when ``granularity`` is 1),
    else they are filled fractionally to reach ``lo``. Returns ``(value, taken)``;
    ``value`` is ``inf`` when no set of rows reaches ``lo`` within ``hi``.
    """
    k = len(reduced)
    taken = np.zeros(k)
    g = max(int(granularity), 1)
    neg = reduced < 0
    free = neg & (loads == 0)
    taken[free] = 1.0
    base = float(reduced[free].sum())
    if positive_dp:
        items = np.flatnonzero(loads > 0)
        pos = np.zeros(0, dtype=np.int64)
    else:
        items = np.flatnonzero(neg & (loads > 0))
        pos = np.flatnonzero(~neg & (loads > 0))
    # the positive rows' cheapest fractional fill, as a function of the load added
    order = pos[np.argsort(reduced[pos] / loads[pos], kind="stable")]
    cum_load = np.concatenate([[0.0], np.cumsum(loads[order])])
    cum_cost = np.concatenate([[0.0], np.cumsum(reduced[order])])
    hi_eff = hi if math.isfinite(hi) else float(loads.sum())
    cap = int(math.floor(hi_eff / g + 1e-9))
    weights = loads[items] // g
    rest = loads[items] - weights * g
    if g > 1 and items.size:
        most = int(np.searchsorted(np.cumsum(np.sort(loads[items])), hi_eff + 1e-9,
                                   side="right"))  # fmt: skip
        slack = float(np.sort(rest)[::-1][:most].sum())
    else:
        slack = 0.0
    top = int(min(cap, weights.sum()))
    best = np.full(top + 1, np.inf)
    best[0] = 0.0
    choice = np.zeros((len(items), top + 1), dtype=bool)
    for t, (w, r) in enumerate(zip(weights.tolist(), reduced[items].tolist(), strict=True)):
        if w == 0:
            if r < 0:
                best += r
                choice[t] = True
            continue
        if w > top:
            continue
        cand = best[: top + 1 - w] + r
        better = cand < best[w:]
        choice[t, w:] = better
        np.copyto(best[w:], cand, where=better)
    states = np.arange(top + 1)
    need = np.maximum(lo - g * states - slack, 0.0)
    fill = np.interp(need, cum_load, cum_cost)
    fill[need > cum_load[-1] + 1e-9] = np.inf
    total = best + fill
    s = int(np.argmin(total))
    value, amount = float(total[s]), float(need[s])
    if not math.isfinite(value):
        return math.inf, taken
    for t in range(len(items) - 1, -1, -1):
        if choice[t, s]:
            taken[items[t]] = 1.0
            s -= int(weights[t])
    if amount > 0:
        taken[order] = np.clip((amount - cum_load[:-1]) / loads[order], 0.0, 1.0)
    return base + value, taken


def lagrangian_exact(part: Part, multipliers, *, granularity=1, positive_dp=False,
                     sites_all=False):  # fmt: skip
    """Lagrangian value with exact knapsacks at sites with a negative LP value.

    Returns ``(value, site_values, subgradient, sites_solved)``.
    """
    reduced = part.vals - multipliers[part.rows]
    values, taken = lagr.knapsack_lp(part, reduced)
    loads = part.load[part.rows].astype(np.int64)
    todo = np.flatnonzero(np.isfinite(values) & ((values < 0) | part.existing | sites_all))
    for j in todo:
        pairs = part.site_pairs(j)
        value, chosen_rows = site_knapsack(reduced[pairs], loads[pairs], part.lo[j], part.hi[j],
                                           granularity, positive_dp)  # fmt: skip
        if value >= values[j]:
            values[j] = value
            taken[pairs] = chosen_rows
    chosen_value, chosen = lagr._choose(part, values)
    base = float(multipliers.sum())
    if part.penalized:
        base += float(np.minimum(part.fallback - multipliers, 0.0).sum())
    served = np.bincount(part.rows, taken * chosen[part.cols], minlength=part.n)
    grad = 1.0 - served
    if part.penalized:
        grad -= (part.fallback < multipliers).astype(float)
    return base + chosen_value, values, grad, len(todo)


def subgradient_exact(part, start, *, upper, seconds, granularity=1, positive_dp=True, theta=0.1,
                      stall_limit=10, deflection=0.6, log=print):  # fmt: skip
    """Polyak subgradient over exact knapsacks from ``start``; returns (bound, lam, trace).

    The direction is deflected (``d = g + deflection * d_prev``, Camerini-Fratta-Maffioli
    style), ``theta`` halves after ``stall_limit`` steps without a better value. ``trace``
    holds ``(seconds, value, best)`` per iteration.
    """
    lam = np.asarray(start, float).copy()
    best, best_lam = -math.inf, lam.copy()
    stall, it = 0, 0
    direction = None
    t0 = time.perf_counter()
    trace = []
    while time.perf_counter() - t0 < seconds:
        it += 1
        value, _, grad, solved = lagrangian_exact(part, lam, granularity=granularity,
                                                  positive_dp=positive_dp)  # fmt: skip
        if value > best + 1e-9 * abs(value):
            best, best_lam, stall = value, lam.copy(), 0
        else:
            stall += 1
            if stall >= stall_limit:
                theta, stall = theta / 2, 0
                if theta < 1e-5:
                    break
        trace.append((time.perf_counter() - t0, value, best))
        if it % 50 == 1:
            log(f"    it {it:4d}  t {time.perf_counter() - t0:6.1f} s  value {value:,.0f}  "
                f"best {best:,.0f}  sites solved {solved}  theta {theta:.3g}")  # fmt: skip
        direction = grad if direction is None else grad + deflection * direction
        norm = float(direction @ direction)
        if norm <= 1e-12 or upper <= best:
            break
        lam = lam + theta * (upper - value) / norm * direction
    return best, best_lam, trace


# ---------------------------------------------------------------------------- validity check


def brute_force_part(part: Part) -> float:
    """Optimum of a tiny part by enumerating every row's site (or unserved)."""
    options = []
    for i in range(part.n):
        pairs = part.row_pairs(i)
        row = [(float(part.vals[q]), int(part.cols[q])) for q in pairs]
        if part.penalized:
            row.append((float(part.fallback[i]), -1))
        options.append(row)
    least, most = lagr._site_range(part)
    best = math.inf
    for combo in itertools.product(*options):
        load = np.zeros(part.m)
        cost = 0.0
        for i, (c, j) in enumerate(combo):
            cost += c
            if j >= 0:
                load[j] += part.load[i]
        opened = (load > 0) | part.existing
        if not (least <= opened.sum() <= most):
            continue
        if np.all(
            (load[opened] >= part.lo[opened] - 1e-9) & (load[opened] <= part.hi[opened] + 1e-9)
        ):
            best = min(best, cost)
    return best


def random_part(rng) -> Part:
    """A tiny random bounded part (penalised, sometimes an existing site), integer loads."""
    n, m = int(rng.integers(3, 8)), int(rng.integers(1, 4))
    rows, cols = np.nonzero(rng.random((n, m)) < 0.7)
    vals = rng.uniform(0.5, 10.0, len(rows)).round(2)
    load = rng.integers(1, 7, n).astype(float)
    lo = np.full(m, float(rng.integers(0, 8)))
    hi = lo + float(rng.integers(0, 10))
    fallback = rng.uniform(3.0, 15.0, n).round(2)
    existing = np.zeros(m, bool)
    existing[0] = rng.random() < 0.3
    return Part.build(rows, cols, vals, load=load, lo=lo, hi=hi, fallback=fallback,
                      penalized=True, existing=existing, p=None, row_ids=np.arange(n),
                      site_ids=np.arange(m))  # fmt: skip


def check(trials: int = 300) -> None:
    """Lagrangian values with exact knapsacks never exceed the brute-force optimum."""
    rng = np.random.default_rng(7)
    worst_gain, checked = 0.0, 0
    for _ in range(trials):
        part = random_part(rng)
        optimum = brute_force_part(part)
        if part.q == 0 or not math.isfinite(optimum):
            continue
        for _ in range(5):
            lam = rng.uniform(0.0, 16.0, part.n)
            lp = lagr.lagrangian_value(part, lam)[0]
            for g in (1, 2, 3):
                for positive_dp in (False, True):
                    value = lagrangian_exact(part, lam, granularity=g, positive_dp=positive_dp)[0]
                    assert value <= optimum + 1e-7, (value, optimum)
                    assert value >= lp - 1e-7, (value, lp)
                    worst_gain = max(worst_gain, value - lp)
                    checked += 1
        result = lagr.subgradient(part, max_iterations=200, exact=False)
        bound = subgradient_exact(part, result.multipliers, upper=optimum + 1.0, seconds=0.5,
                                  log=lambda _: None)[0]  # fmt: skip
        assert bound <= optimum + 1e-7, (bound, optimum)
    print(
        f"check: {checked} evaluations on {trials} random parts, all <= brute-force optimum "
        f"and >= the LP-knapsack value (largest gain {worst_gain:.3g})"
    )


# ---------------------------------------------------------------------------- the experiment


def incumbent(model, solve: bool) -> tuple[float, float, np.ndarray]:
    """Objective, bound and assignment of the solver's 300 s run (cached in INCUMBENT_CACHE)."""
    if solve or not os.path.exists(INCUMBENT_CACHE):
        t = time.perf_counter()
        sol = model.solve(time_limit=300)
        print(f"solve: {time.perf_counter() - t:.1f} s, objective {sol.objective:,.0f}, "
              f"bound {sol.bound:,.0f}, gap {sol.gap:.2%}, method {sol.method}")  # fmt: skip
        np.savez(INCUMBENT_CACHE, objective=sol.objective, bound=sol.bound,
                 assignment=np.asarray(sol.assignment))  # fmt: skip
    data = np.load(INCUMBENT_CACHE)
    return float(data["objective"]), float(data["bound"]), data["assignment"]


def local_assignment(part: Part, assignment: np.ndarray) -> np.ndarray:
    """The full model's assignment in a part's numbering (-1: unserved)."""
    position = np.full(int(part.site_ids.max()) + 1 if part.m else 1, -1)
    position[part.site_ids] = np.arange(part.m)
    sites = assignment[part.row_ids]
    served = (sites >= 0) & (sites < len(position))
    local = np.full(part.n, -1, dtype=np.int64)
    local[served] = position[sites[served]]
    return local


def compare_on_pieces(part: Part, count: int, max_pairs: int, seconds: float) -> None:
    """On compact pieces of the part, solved exactly: where do the relaxations stand?

    Each piece (crossing pairs dropped) is a bounded model of its own; its MILP optimum
    is compared with the LP-knapsack Lagrangian, the exact-knapsack Lagrangian and the
    relaxation MILP (binary sites, split assignment).
    """
    from svcnet.solvers import bounded_search as search
    from svcnet.solvers.bounded_instance import tiles

    pieces = tiles(part, max_pairs)
    rng = np.random.default_rng(1)
    print(f"\npieces of at most {max_pairs} pairs ({len(pieces)}), {count} solved exactly:")
    for k in rng.choice(len(pieces), min(count, len(pieces)), replace=False):
        piece = pieces[k]
        whole = np.arange(piece.n), np.arange(piece.m)
        t = time.perf_counter()
        full = search.region_milp(piece, *whole, n_open=lagr._site_range(piece), binary_x=True,
                                  time_limit=seconds, mip_gap=1e-4)  # fmt: skip
        t_full = time.perf_counter() - t
        optimum = full.result.objective
        relaxed = search.region_milp(piece, *whole, n_open=lagr._site_range(piece),
                                     binary_x=False, time_limit=seconds,
                                     mip_gap=1e-6).result.bound  # fmt: skip
        first = lagr.subgradient(piece, max_iterations=400, exact=False)
        second = lagr.subgradient(piece, start=first.multipliers, upper=optimum,
                                  max_iterations=1500, exact=False)  # fmt: skip
        exact = subgradient_exact(piece, second.multipliers, upper=optimum, seconds=20,
                                  log=lambda _: None)[0]  # fmt: skip

        def gap(bound, optimum=optimum):
            return f"{(optimum - bound) / optimum:6.2%}"

        print(f"  piece {k:2d}: {piece.n:4d} rows {piece.m:3d} sites {piece.q:5d} pairs; "
              f"MILP {optimum:,.0f} ({full.result.status}, {t_full:.0f} s, bound gap "
              f"{gap(full.result.bound)}); gaps to it: LP-knapsack Lagrangian {gap(second.bound)}, "
              f"exact-knapsack Lagrangian {gap(exact)}, binary-site relaxation MILP "
              f"{gap(relaxed)}")  # fmt: skip


def binary_site_decomposition(part: Part, multipliers, *, max_pairs: int, seconds: float):
    """The solver's decomposition bound with each piece's MILP relaxed to binary sites only.

    ``bounded._decomposition_bound`` solves every piece with single sourcing; relaxing it
    to split assignments keeps the bound valid and makes the pieces fast.
    """
    from svcnet.solvers import bounded
    from svcnet.solvers import bounded_search as search

    original = search.region_milp

    def split_assignment(*args, **kwargs):
        kwargs["binary_x"] = False
        return original(*args, **kwargs)

    search.region_milp = split_assignment
    try:
        return bounded._decomposition_bound(
            part, multipliers, max_pairs=max_pairs, deadline=time.perf_counter() + seconds, seed=0
        )
    finally:
        search.region_milp = original


def main(argv=None) -> int:
    """Run the experiment and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solve", action="store_true", help="rerun the 300 s solve first")
    parser.add_argument("--check", action="store_true", help="only the brute-force check")
    parser.add_argument("--parts", type=int, default=1, help="largest parts to examine")
    parser.add_argument("--a-seconds", type=float, default=35.0, help="LP subgradient time")
    parser.add_argument("--b-seconds", type=float, default=120.0, help="exact subgradient time")
    parser.add_argument("--granularity", type=int, default=1, help="load rounding of the DP")
    parser.add_argument("--pieces", type=int, default=0, help="pieces to solve exactly")
    parser.add_argument(
        "--decomposition",
        type=float,
        default=0.0,
        help="seconds of the binary-site decomposition bound at (b)",
    )
    args = parser.parse_args(argv)
    if args.check:
        check()
        return 0
    costs, people = build_futian()
    model = model_of(costs, people)
    reduced = reduce_problem(model._bounded_problem())
    objective, solver_bound, assignment = incumbent(model, args.solve)
    print(f"incumbent {objective:,.0f}; solver's certified bound {solver_bound:,.0f} "
          f"(gap {(objective - solver_bound) / objective:.2%}); constant {reduced.constant:,.0f}; "
          f"{len(reduced.parts)} part(s)")  # fmt: skip
    parts = sorted(reduced.parts, key=lambda part: -part.q)[: args.parts]
    for part in parts:
        upper = part.objective(local_assignment(part, assignment))
        print(f"\npart: {part.n} rows, {part.m} sites, {part.q} pairs; incumbent {upper:,.0f}")

        t = time.perf_counter()
        first = lagr.subgradient(
            part,
            max_iterations=400,
            exact=False,
            deadline=time.perf_counter() + 0.4 * args.a_seconds,
        )
        second = lagr.subgradient(part, start=first.multipliers, upper=upper, max_iterations=1500,
                                  deadline=time.perf_counter() + 0.6 * args.a_seconds,
                                  exact=False)  # fmt: skip
        a_lp, a_time = second.bound, time.perf_counter() - t
        t = time.perf_counter()
        a_final = lagr.lagrangian_value(part, second.multipliers, exact=True)[0]
        a_final_time = time.perf_counter() - t
        print(
            f"(a) LP-knapsack subgradient: {a_lp:,.0f} in {a_time:.1f} s "
            f"({first.iterations}+{second.iterations} iterations)"
        )
        print(
            f"    + one exact evaluation at its multipliers (as the solver does): "
            f"{a_final:,.0f} ({a_final_time:.2f} s)"
        )
        lam = second.multipliers
        for g, positive_dp in [(1, False), (1, True), (2, True), (5, True), (10, True)]:
            t = time.perf_counter()
            value, _, _, solved = lagrangian_exact(part, lam, granularity=g,
                                                   positive_dp=positive_dp)  # fmt: skip
            print(
                f"    one evaluation with DP knapsacks, g={g:2d}, non-negative rows in the DP: "
                f"{positive_dp!s:5}: {value:,.0f} in {time.perf_counter() - t:.2f} s "
                f"({solved} sites solved)"
            )
        t = time.perf_counter()
        b_bound, b_lam, trace = subgradient_exact(part, lam, upper=upper, seconds=args.b_seconds,
                                                  granularity=args.granularity)  # fmt: skip
        b_time = time.perf_counter() - t
        print(
            f"(b) exact-knapsack subgradient (g={args.granularity}): {b_bound:,.0f} in "
            f"{b_time:.1f} s ({len(trace)} iterations)"
        )
        for mark in (10, 30, 60, 120, 240):
            reached = [best for sec, _, best in trace if sec <= mark]
            if reached and mark <= b_time + 1:
                print(f"    best after {mark:3d} s: {reached[-1]:,.0f}")
        if len(reduced.parts) == 1:
            print("\nwhole model (constant + this part's bound), gap to the incumbent:")
            for label, bound in [("(a) LP-knapsack", a_final), ("(b) exact-knapsack", b_bound)]:
                total = reduced.constant + bound
                print(f"    {label:22s} {total:,.0f}  gap {(objective - total) / objective:.2%}")
            print(
                f"    {'solver (certified)':22s} {solver_bound:,.0f}  gap "
                f"{(objective - solver_bound) / objective:.2%}"
            )
            need = 0.99 * objective
            print(
                f"    a 1% gap needs a bound of {need:,.0f} (part bound "
                f"{need - reduced.constant:,.0f})"
            )
        if args.decomposition > 0:
            t = time.perf_counter()
            bound = binary_site_decomposition(part, b_lam, max_pairs=8000,
                                              seconds=args.decomposition)  # fmt: skip
            total = reduced.constant + bound if len(reduced.parts) == 1 else math.nan
            print(
                f"(c) decomposition at (b)'s multipliers, pieces of 8000 pairs as binary-site "
                f"MILPs: part bound {bound:,.0f} in {time.perf_counter() - t:.1f} s; whole "
                f"model {total:,.0f}, gap {(objective - total) / objective:.2%}"
            )
        if args.pieces:
            compare_on_pieces(part, args.pieces, 6000, 60.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
