"""Population-bounded service areas (15,000-20,000 people per center, p free): one table.

    python benchmarks/bounded.py            # Futian and Shenzhen, new and old method (~20 min)
    python benchmarks/bounded.py --quick    # Futian only, new method (~5 min)

The model is the community-center plan: every open center serves between 15,000 and 20,000
people (loads = cell population), every populated cell goes to one open center within a
straight-line walking cutoff or stays unserved at 1,500 per person (the unserved penalty), the
number of centers is free, and the objective is the population-weighted distance.

Rows:

- Futian: the 100 m grid's populated cells x the 974 building candidates, cutoff 750 m,
  ``PMedian.solve(time_limit=300)``; and the old method (allocation/relocation heuristic, LP
  bound, MILP with the time left, as svcnet did before) with its 200 s budget.
- Shenzhen: the 250 m grid's populated cells x the 7,636 building candidates, cutoff 1,000 m,
  ``PMedian.solve(time_limit=570)`` (the whole run, with building the costs, under 10 min).
  The old method is not run at this size (its LP alone does not finish in the budget).

Columns: the size, the range of the number of centers implied by the loads ("p range": from
the loads and bounds alone), the cells that must go unserved whatever the plan ("unservable":
no candidate within the cutoff can gather the minimum load, or a cell's population exceeds the
maximum) and their population, the time, the number of centers, objective, proven lower bound,
gap and status. Every solution is checked with ``svcnet.models.verify``.

Timings are wall-clock on whatever else the machine is doing; the solver is single-threaded
apart from HiGHS.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

import svcnet
from svcnet.models import PMedian, verify
from svcnet.solvers import bounded
from svcnet.solvers.bounded_instance import reduce_problem

LOW, HIGH, PENALTY = 15_000, 20_000, 1_500.0


@dataclass
class Row:
    """One line of the table."""

    instance: str
    method: str
    size: str
    p_range: str
    unservable: str
    seconds: float = math.nan
    centers: int = 0
    objective: float = math.nan
    bound: float = math.nan
    gap: float = math.nan
    status: str = ""
    check: str = ""

    def table_row(self) -> dict:
        return {
            "instance": self.instance,
            "method": self.method,
            "cells x sites (pairs)": self.size,
            "p range": self.p_range,
            "unservable cells (people)": self.unservable,
            "time s": f"{self.seconds:.1f}",
            "centers": self.centers,
            "objective": f"{self.objective:,.6g}",
            "bound": f"{self.bound:,.6g}",
            "gap": f"{self.gap:.2%}" if math.isfinite(self.gap) else "-",
            "status": self.status,
            "check": self.check,
        }


def build_futian():
    """Futian: populated 100 m cells, building candidates, 750 m straight-line cutoff."""
    region = svcnet.datasets.load_futian()
    demand = region.population[region.population["pop"] > 0]
    sites = region.candidates[region.candidates.kind == "building"]
    costs = svcnet.costs_from_points(demand, sites, cutoff=750)
    return costs, demand["pop"].to_numpy(float)


def build_shenzhen():
    """Shenzhen: populated 250 m cells, every building candidate, 1,000 m cutoff."""
    region = svcnet.datasets.load_shenzhen()
    demand = region.population[region.population["pop"] > 0]
    sites = region.candidates[region.candidates.kind == "building"]
    costs = svcnet.costs_from_points(demand, sites, cutoff=1000)
    return costs, demand["pop"].to_numpy(float)


def model_of(costs, people) -> PMedian:
    """The population-bounded model."""
    return PMedian.from_cost_matrix(costs, people, p=None, capacity=HIGH, min_load=LOW,
                                    unserved_penalty=PENALTY)  # fmt: skip


def describe(model: PMedian, people: np.ndarray) -> tuple[str, str, str]:
    """Size, implied range of the number of centers, and the cells that must go unserved."""
    n, m = model.shape
    reduced = reduce_problem(model._bounded_problem())
    least, most = reduced.p_range
    lost = people[reduced.unservable].sum()
    size = f"{n:,} x {m:,} ({model.costs.nnz:,})"
    return size, f"{least}-{most}", f"{reduced.unservable.size:,} ({lost:,.0f})"


def run_new(name: str, model: PMedian, people, time_limit: float) -> Row:
    """The current solver."""
    size, p_range, unservable = describe(model, people)
    row = Row(name, "svcnet", size, p_range, unservable)
    start = time.perf_counter()
    solution = model.solve(time_limit=time_limit)
    row.seconds = time.perf_counter() - start
    _fill(row, solution, model)
    return row


def run_old(name: str, model: PMedian, people, time_limit: float) -> Row:
    """The method svcnet used before: allocation/relocation, LP bound, MILP with the time left."""
    size, p_range, unservable = describe(model, people)
    row = Row(name, "old method", size, p_range, unservable)
    start = time.perf_counter()
    deadline = start + time_limit
    problem = model._bounded_problem()
    incumbent = bounded.heuristic(problem, deadline=deadline, penalty=model.unserved_penalty)
    remaining = max(deadline - time.perf_counter(), 0.05)
    lower = bounded.lp_bound(problem, time_limit=remaining)
    best_open, best_assign = incumbent.is_open, incumbent.assignment
    best = incumbent.objective
    remaining = deadline - time.perf_counter()
    if remaining > 1.0:
        try:
            result, is_open, assignment = bounded.build_and_solve(
                problem, start=incumbent, time_limit=remaining
            )
            value = bounded.objective_of(problem, assignment)
            lower = max(lower, result.bound)
            if value < best:
                best_open, best_assign, best = is_open, assignment, value
        except Exception:  # noqa: BLE001 - the old MILP may stop without a solution
            pass
    row.seconds = time.perf_counter() - start
    row.centers = int(best_open.sum())
    row.objective = best
    row.bound = min(lower, best)
    row.gap = (best - row.bound) / abs(best) if math.isfinite(row.bound) else math.inf
    row.status = "time_limit"
    served = best_assign >= 0
    loads = np.bincount(best_assign[served], people[served], minlength=model.shape[1])
    ok = ((loads[best_open] >= LOW) & (loads[best_open] <= HIGH)).all()
    row.check = "ok (loads)" if ok else "LOADS OUT OF BOUNDS"
    return row


def _fill(row: Row, solution, model) -> None:
    row.centers = solution.p
    row.objective = solution.objective
    row.bound = solution.bound
    row.gap = solution.gap
    row.status = solution.status
    try:
        verify(solution, model)
        row.check = "verified"
    except Exception as exc:  # noqa: BLE001 - any failure must reach the table
        row.check = f"VERIFY FAILED: {exc}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Futian only, new method only")
    parser.add_argument("--no-old", action="store_true", help="skip the old method")
    args = parser.parse_args(argv)
    rows = []
    t0 = time.perf_counter()
    costs, people = build_futian()
    print(f"Futian costs built in {time.perf_counter() - t0:.1f} s", flush=True)
    model = model_of(costs, people)
    rows.append(run_new("Futian 100 m, 750 m", model, people, 300.0))
    print(pd.DataFrame([rows[-1].table_row()]).to_string(index=False), flush=True)
    if not (args.quick or args.no_old):
        rows.append(run_old("Futian 100 m, 750 m", model, people, 200.0))
        print(pd.DataFrame([rows[-1].table_row()]).to_string(index=False), flush=True)
    if not args.quick:
        t0 = time.perf_counter()
        costs, people = build_shenzhen()
        built = time.perf_counter() - t0
        print(f"Shenzhen costs built in {built:.1f} s", flush=True)
        model = model_of(costs, people)
        rows.append(run_new("Shenzhen 250 m, 1000 m", model, people, 570.0 - built))
    table = pd.DataFrame([row.table_row() for row in rows])
    print()
    print(table.to_string(index=False))
    failed = any(not row.check.startswith(("verified", "ok")) for row in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
