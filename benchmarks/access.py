"""Accessibility benchmarks: svcnet.access against PySAL ``access``, one table in one run.

    pip install -e ".[test]" && python benchmarks/access.py     # Futian + a 200,000-cell city
    python benchmarks/access.py --quick                         # smaller sizes, a few seconds

Cases:
- Futian: the 8,226 cells of ``load_futian().population`` x its 4,507 candidates, straight-line
  costs with a 1,500 m cutoff (``costs_from_points``), demand ``pop``, supply 100 a site.
  (``--quick``: the first 1,000 candidates.)
- City: 200,000 demand cells x 5,000 sites, a scipy.sparse matrix of 20 random pairs a row
  (costs uniform in 50-2,000 m, so a quarter of the pairs lie beyond the 1,500 m catchment),
  demand 1-500 a cell, supply 10-200 a site. (``--quick``: 20,000 x 1,000.)

Measures: 2SFCA (``max_cost`` 1,500), E2SFCA (steps 500 -> 1, 1,000 -> 0.68, 1,500 -> 0.22) and
gravity (the potential model: power decay with exponent 1.5, 100 m scale, 50 m floor; access's
``weighted_catchment`` with ``weights.gravity(100, -1.5, 50)``).

Timing: both get the same pairs, ready made: svcnet the ``CostMatrix`` (Futian) or the
scipy.sparse matrix (city); access the long table ``origin, dest, cost`` of the same pairs and
its ``Access`` object, built untimed. The timed call is the measure alone (svcnet: best of
five; access: one run). Values: access's raw output (``normalize=False``), aligned on the
demand rows; "max rel diff" is the largest relative difference over the rows where access gives
a finite value. Rows access leaves out (no site in reach) must be 0 in svcnet and rows where it
gives inf (zero-population cells whose only sites have no demand in reach: it divides by zero
there, svcnet shares nothing out) are counted in the notes; any other disagreement is flagged
and the script exits with status 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

import svcnet
from svcnet.access import enhanced_two_step_fca, gravity, power_decay, two_step_fca

# This file is called access.py: run as a script, its folder comes first on sys.path, and
# "import access" (done lazily below) would import it rather than PySAL access.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

MAX_COST = 1500.0
STEPS = {500.0: 1.0, 1000.0: 0.68, 1500.0: 0.22}
REL = 1e-9


def futian(quick: bool) -> tuple[str, object, np.ndarray, np.ndarray]:
    region = svcnet.datasets.load_futian()
    candidates = region.candidates.iloc[:1000] if quick else region.candidates
    costs = svcnet.costs_from_points(region.population, candidates, cutoff=MAX_COST)
    demand = region.population["pop"].to_numpy(dtype=float)
    return "Futian", costs, demand, np.full(costs.shape[1], 100.0)


def city(n: int, m: int, per_row: int = 20, seed: int = 0):
    """Sparse random costs: ``per_row`` distinct sites a row, near a random 'home' column."""
    rng = np.random.default_rng(seed)
    home = rng.integers(0, m, n)
    offsets = np.cumsum(rng.integers(1, 8, size=(n, per_row)), axis=1)  # distinct, < 8 * 20
    cols = ((home[:, None] + offsets) % m).ravel()
    rows = np.repeat(np.arange(n), per_row)
    cost = rng.uniform(50.0, 2000.0, n * per_row)
    matrix = sparse.csr_matrix((cost, (rows, cols)), shape=(n, m))
    matrix.sum_duplicates()  # sorts the indices; there are no duplicates
    demand = rng.integers(1, 501, n).astype(float)
    supply = rng.integers(10, 201, m).astype(float)
    return f"City {n // 1000}k", matrix, demand, supply


def long_form(costs) -> pd.DataFrame:
    matrix = costs.matrix if hasattr(costs, "matrix") else costs
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return pd.DataFrame(
        {"origin": rows, "dest": matrix.indices.astype(np.int64), "cost": matrix.data}
    )


def access_model(costs, demand: np.ndarray, supply: np.ndarray):
    from access import Access

    n, m = len(demand), len(supply)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Access(
            demand_df=pd.DataFrame({"geoid": np.arange(n), "pop": demand}),
            demand_index="geoid",
            demand_value="pop",
            supply_df=pd.DataFrame({"geoid": np.arange(m), "supply": supply}),
            supply_index="geoid",
            supply_value="supply",
            cost_df=long_form(costs),
            cost_origin="origin",
            cost_dest="dest",
            cost_name="cost",
        )


def best_of(runs: int, function: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    best, result = np.inf, None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def compare(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, str]:
    """Max relative difference where access is finite; a note on where it is not."""
    finite = np.isfinite(theirs)
    scale = np.maximum(np.abs(theirs[finite]), 1e-300)
    rel = float(np.max(np.abs(ours[finite] - theirs[finite]) / scale, initial=0.0))
    left_out = np.isnan(theirs)
    infinite = np.isinf(theirs)
    problems = []
    if (ours[left_out] != 0).any():
        problems.append("rows access leaves out are not 0 in svcnet")
    notes = []
    if left_out.any():
        notes.append(f"{int(left_out.sum())} rows reach no site (access: missing, svcnet: 0)")
    if infinite.any():
        notes.append(f"{int(infinite.sum())} zero-demand rows where access divides by zero (inf)")
    return rel, "; ".join(problems + notes) + ("!" if problems else "")


def run_case(name: str, costs, demand: np.ndarray, supply: np.ndarray) -> list[dict]:
    import access

    model = access_model(costs, demand, supply)
    measures = {
        "2SFCA": (
            lambda: two_step_fca(costs, demand, supply, max_cost=MAX_COST),
            lambda: model.two_stage_fca(max_cost=MAX_COST),
        ),
        "E2SFCA": (
            lambda: enhanced_two_step_fca(costs, demand, supply, weights=STEPS),
            lambda: model.enhanced_two_stage_fca(
                max_cost=MAX_COST, weight_fn=access.weights.step_fn(STEPS)
            ),
        ),
        "gravity": (
            lambda: gravity(costs, None, supply, decay=power_decay(1.5, scale=100, min_cost=50)),
            lambda: model.weighted_catchment(
                weight_fn=access.weights.gravity(scale=100, alpha=-1.5, min_dist=50)
            ),
        ),
    }
    n, m = costs.shape
    pairs = (costs.matrix if hasattr(costs, "matrix") else costs).nnz
    out = []
    for measure, (ours_fn, theirs_fn) in measures.items():
        svcnet_s, ours = best_of(5, ours_fn)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            frame = theirs_fn()
            access_s = time.perf_counter() - start
        theirs = frame.iloc[:, 0].reindex(np.arange(n)).to_numpy(dtype=float)
        rel, note = compare(ours, theirs)
        out.append(
            {
                "case": f"{name} {measure}",
                "n_demand": n,
                "n_supply": m,
                "pairs": pairs,
                "access s": access_s,
                "svcnet s": svcnet_s,
                "speed-up": access_s / svcnet_s,
                "max rel diff": rel,
                "ok": rel <= REL and not note.endswith("!"),
                "note": note,
            }
        )
        print(
            f"  {out[-1]['case']}: access {access_s:.2f} s, svcnet {svcnet_s:.4f} s",
            file=sys.stderr,
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args(argv)
    logging.getLogger("access").disabled = True  # it logs every overwritten column
    started = time.perf_counter()
    cases = [futian(args.quick), city(20_000, 1_000) if args.quick else city(200_000, 5_000)]
    rows = []
    for case in cases:
        rows += run_case(*case)
    table = pd.DataFrame(rows)
    print(
        f"Accessibility: svcnet {version('svcnet')} vs access {version('access')} "
        f"(pandas {pd.__version__}, numpy {np.__version__})"
    )
    shown = table.drop(columns=["ok", "note"])
    print(
        shown.to_string(
            index=False,
            formatters={
                "access s": "{:.2f}".format,
                "svcnet s": "{:.4f}".format,
                "speed-up": "{:.0f}x".format,
                "max rel diff": "{:.1e}".format,
                "pairs": "{:,}".format,
                "n_demand": "{:,}".format,
                "n_supply": "{:,}".format,
            },
        )
    )
    for row in table.itertuples():
        if row.note:
            print(f"note: {row.case}: {row.note}")
    print(f"total {time.perf_counter() - started:.0f} s")
    bad = table[~table["ok"]].to_dict("records")
    for row in bad:
        print(
            f"!!! {row['case']}: values differ (max rel diff {row['max rel diff']:.1e}) "
            f"{row['note']}"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
