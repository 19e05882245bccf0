"""The four planners end to end on the bundled data: one table in one run.

    python benchmarks/planners.py                 # Futian (4 planners) + the city-wide center plan
    python benchmarks/planners.py --futian-only   # about 3 minutes
    python benchmarks/planners.py --city-limit 540

Rows:

- Futian (the 100 m grid, its street network): ``plan_centers``, ``plan_eldercare``,
  ``plan_child_welfare``, ``plan_shelters`` (emergency and fixed) and ``plan_charity`` (with a
  center plan's service areas standing in for the communities the data lacks), each with its
  defaults and a 50 s solver limit (the limit is the solver's: travel times and the Plan's
  tables come on top). Target: each under a minute.
- Shenzhen (the 250 m grid, straight-line walking costs with the detour factor, no network is
  bundled at city scale): ``plan_centers`` from scratch and from the existing workstations,
  under ``--city-limit`` seconds of solver time. Target: under 10 minutes with a reported gap
  of at most 1 %.

Columns: the time (wall clock, loading the data excluded, everything else included: travel
costs, the solve, the Plan's tables), the number of sites new and kept, people within the
service's threshold before and after, unserved people, the solver's gap and status (the worst
over the plan's parts), and a check: every center plan's served populations lie within the
bounds and the served population adds up to the region's population minus the unserved.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

import svcnet
from svcnet import datasets


def _row(region_name: str, label: str, make: Callable[[], svcnet.Plan], check) -> dict:
    started = time.perf_counter()
    plan = make()
    seconds = time.perf_counter() - started
    total = plan.summary().loc["total"]
    t = f"{plan.threshold_minutes:g}"
    status = plan.sites["status"]
    solver = plan.solver_table()
    statuses = sorted(set(solver["status"])) if "status" in solver else []
    return {
        "region": region_name,
        "plan": label,
        "seconds": round(seconds, 1),
        "new": int((status == "new").sum()),
        "kept": int((status == "existing").sum()),
        "threshold min": plan.threshold_minutes,
        "within before": f"{total[f'within_{t}min_before']:.1%}",
        "within after": f"{total[f'within_{t}min_after']:.1%}",
        "unserved": f"{total['unserved']:,.0f}",
        "gap": f"{plan.solver_gap:.2%}" if math.isfinite(plan.solver_gap) else "-",
        "status": "/".join(statuses),
        "check": check(plan),
    }


def _no_check(plan: svcnet.Plan) -> str:
    return "-"


def _center_check(people: float, low: float, high: float) -> Callable[[svcnet.Plan], str]:
    def check(plan: svcnet.Plan) -> str:
        served = plan.sites["population_served"].to_numpy(float)
        new = (plan.sites["status"] == "new").to_numpy()
        inside = bool(((served[new] >= low - 1e-6) & (served[new] <= high + 1e-6)).all())
        unserved = float(plan.summary().loc["total", "unserved"])
        adds_up = math.isclose(served.sum() + unserved, people, rel_tol=1e-9, abs_tol=1e-6)
        if inside and adds_up:
            return "ok"
        return f"FAILED (bounds {inside}, totals {adds_up})"

    return check


def futian_rows(limit: float) -> list[dict]:
    region = datasets.load_futian()
    people = float(region.population["pop"].sum())
    low, high = svcnet.standards.get_norm("people_per_center").value
    plans = [
        ("centers", lambda: svcnet.plan_centers(region, time_limit=limit),
         _center_check(people, low, high)),
        ("eldercare", lambda: svcnet.plan_eldercare(region, time_limit=limit), _no_check),
        ("child welfare", lambda: svcnet.plan_child_welfare(region, time_limit=limit), _no_check),
        ("shelters, emergency",
         lambda: svcnet.plan_shelters(region, kind="emergency", time_limit=limit), _no_check),
        ("shelters, fixed",
         lambda: svcnet.plan_shelters(region, kind="fixed", time_limit=limit), _no_check),
    ]  # fmt: skip
    rows = [_row("Futian", label, make, check) for label, make, check in plans]
    # no community boundaries are bundled: a center plan's service areas stand in (untimed)
    areas = svcnet.plan_centers(region, time_limit=limit).areas
    rows.append(_row("Futian", "charity (center areas as communities)",
                     lambda: svcnet.plan_charity(region, communities=areas, time_limit=limit),
                     _no_check))  # fmt: skip
    return rows


def city_rows(limit: float) -> list[dict]:
    region = datasets.load_shenzhen()
    people = float(region.population["pop"].sum())
    low, high = svcnet.standards.get_norm("people_per_center").value
    check = _center_check(people, low, high)
    return [
        _row("Shenzhen", "centers from scratch",
             lambda: svcnet.plan_centers(region, existing=False, time_limit=limit), check),
        _row("Shenzhen", "centers, existing kept",
             lambda: svcnet.plan_centers(region, time_limit=limit), check),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--futian-only", action="store_true")
    parser.add_argument("--city-only", action="store_true")
    parser.add_argument("--limit", type=float, default=50.0, help="Futian solver limit, s")
    parser.add_argument("--city-limit", type=float, default=540.0, help="city solver limit, s")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rows = []
    if not args.city_only:
        rows += futian_rows(args.limit)
    if not args.futian_only:
        rows += city_rows(args.city_limit)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    failed = [r for r in rows if str(r["check"]).startswith("FAILED")]
    return 1 if failed else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
