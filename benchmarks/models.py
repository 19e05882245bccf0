"""Location-model benchmarks: svcnet against PySAL spopt (PuLP + CBC), one table in one run.

    pip install -e ".[test]" && python benchmarks/models.py            # everything (~40 min)
    python benchmarks/models.py --quick                                # about a minute
    python benchmarks/models.py --only orlib --models p-median         # OR-Library p-median rows
    python benchmarks/models.py --only orlib city-scale --orlib pmed1,pmed5,pmed6,pmed10

Rows:
- OR-Library pmed1 ... pmed10 (pmed15 and pmed20 when their files exist) as p-median and as
  vertex p-center, against spopt with its default solver (PuLP + CBC), with the published optima.
  Both sides prove optimality: spopt's CBC with its default gap of 0, svcnet with
  ``solve()`` (mip_gap 0): "gap" is svcnet's certified gap.
- pmedcap1_01 and SJC1, capacitated p-median: svcnet only (spopt's PMedian has no single-source
  capacity), against the published optima.
- Synthetic city-like instances (clustered demand with population weights, a distance cutoff)
  for LSCP, MCLP, p-median and p-center, against spopt. svcnet gets the sparse cutoff matrix;
  spopt only takes a dense one. For LSCP and MCLP, pairs beyond the cutoff are ``inf`` (which
  spopt handles). For p-median and p-center they get a large finite cost instead, because PuLP
  cannot multiply a variable by ``inf``. The optimum is the same, because p anchor sites serve
  every demand point within the cutoff.
- City scale, svcnet only: 30,000 demand points x 3,000 candidate sites, 1 km cutoff, p = 100,
  ``PMedian.solve(time_limit=300, mip_gap=0.01)``: time, objective, bound and certified gap.

Times cover building the model from a ready cost matrix and solving it (spopt:
``from_cost_matrix`` + ``solve``; svcnet: ``from_cost_matrix`` + ``solve``), not computing the
costs, nor importing the libraries: spopt and PuLP are imported before any timing, and svcnet
solves a tiny model first so that HiGHS is loaded. The machine may be shared: ``--repeat``
times svcnet's solves several times and keeps the fastest. Objectives are recomputed from the
sites each library opened; every svcnet solution is checked with ``svcnet.models.verify``. A
mismatch with a published optimum or with an optimal spopt answer is flagged loudly, and the
script then exits with status 1.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np
import pandas as pd
from _instances import BENCH, OPTIMA, make_city, read_orlib, read_pmedcap, read_sjc

from svcnet.models import LSCP, MCLP, PCenter, PMedian, verify

REL = 1e-6


@dataclass
class Row:
    """One line of the table."""

    instance: str
    model: str
    size: str
    p: str
    peer_s: float = math.nan
    ours_s: float = math.nan
    peer_obj: float = math.nan
    ours_obj: float = math.nan
    known: float = math.nan
    bound: float = math.nan
    gap: float = math.nan
    status: str = ""
    peer_status: str = ""
    check: str = ""

    def table_row(self) -> dict:
        ratio = self.peer_s / self.ours_s if self.peer_s == self.peer_s else math.nan
        return {
            "instance": self.instance,
            "model": self.model,
            "n x m": self.size,
            "p": self.p,
            "peer s": _num(self.peer_s, ".2f"),
            "ours s": _num(self.ours_s, ".2f"),
            "peer/ours": (">" if self.peer_status.startswith(("stopped", "time")) else "")
            + _num(ratio, ".1f"),
            "peer obj": _num(self.peer_obj, ",.6g") + _peer_note(self.peer_status),
            "ours obj": _num(self.ours_obj, ",.8g"),
            "known opt": _num(self.known, ",.8g"),
            "ours bound": _num(self.bound, ",.8g"),
            "gap": _num(self.gap, ".3%"),
            "status": self.status,
            "check": self.check,
        }


def _num(value: float, spec: str) -> str:
    return "-" if value is None or value != value else format(value, spec)


def _peer_note(status: str) -> str:
    return "" if status in ("", "optimal", "n/a") else f" ({status})"


# ------------------------------------------------------------------------------------ running


REPEAT = 1  # svcnet solves per row (the fastest is kept); set by --repeat


def run_ours(build: Callable, **solve_args) -> tuple:
    """Build and solve an svcnet model; return (solution, seconds, verify message)."""
    seconds = math.inf
    for _ in range(REPEAT):
        start = time.perf_counter()
        model = build()
        solution = model.solve(**solve_args)
        seconds = min(seconds, time.perf_counter() - start)
    try:
        verify(solution, model)
        message = ""
    except Exception as exc:  # noqa: BLE001 - any failure must reach the table
        message = f"VERIFY FAILED: {exc}"
    return solution, seconds, message


def _peer_worker(conn, build: Callable, time_limit: float, workdir: str) -> None:
    """In a child process: build and solve an spopt model, send back what it opened."""
    import pulp

    os.setsid()  # a process group of its own, so that CBC can be stopped with it
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        model = build()
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)
        if not solver.available():  # conda-forge's pulp: CBC from coincbc on PATH
            solver = pulp.COIN_CMD(msg=False, timeLimit=time_limit)
        solver.tmpDir = workdir
        model.solve(solver)
        opened = np.flatnonzero(
            [var.value() is not None and var.value() > 0.5 for var in model.fac_vars]
        )
        proven = model.problem.sol_status == pulp.LpSolutionOptimal
        conn.send((opened, "optimal" if proven else "time limit"))
    except Exception as exc:  # noqa: BLE001 - the parent reports it in the table
        conn.send((None, f"failed: {type(exc).__name__}"))
    finally:
        conn.close()


def run_peer(build: Callable, time_limit: float) -> tuple:
    """Build and solve an spopt model with CBC; return (opened columns, seconds, status).

    CBC's own time limit is not checked while it solves the root LP, which on the larger
    instances alone takes longer than the limit; so the solve runs in a child process that is
    stopped (with CBC) at the limit plus a minute of model building.
    """
    context = mp.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    with tempfile.TemporaryDirectory(prefix="svcnet-bench-") as workdir:
        start = time.perf_counter()
        child = context.Process(target=_peer_worker, args=(send, build, time_limit, workdir))
        child.start()
        send.close()
        wall = time_limit + 60.0
        result = None
        if receive.poll(wall):
            try:
                result = receive.recv()
            except EOFError:
                result = None
        seconds = time.perf_counter() - start
        if result is None:
            if child.is_alive():
                os.killpg(child.pid, signal.SIGKILL)
                child.join()
                return None, seconds, f"stopped at {seconds:.0f} s"
            child.join()
            return None, seconds, "failed: child died"
        child.join()
    opened, status = result
    return opened, seconds, status


def judge(row: Row, maximize: bool = False, known_decimals: int | None = None) -> None:
    """Fill ``row.check``: OK, or what disagrees (in capitals, so it stands out)."""
    problems = []
    if row.check:
        problems.append(row.check)
    if row.known == row.known:
        tol = 0.5 * 10.0**-known_decimals if known_decimals is not None else REL * abs(row.known)
        if row.status == "optimal" and abs(row.ours_obj - row.known) > tol + 1e-9:
            problems.append("MISMATCH WITH KNOWN OPTIMUM")
        if not math.isnan(row.bound):
            wrong_side = (
                row.bound > row.known + tol if not maximize else row.bound < row.known - tol
            )
            if wrong_side:
                problems.append("BOUND PAST KNOWN OPTIMUM")
    if row.peer_obj == row.peer_obj:
        tol = REL * max(1.0, abs(row.peer_obj))
        if row.peer_status == "optimal" and row.status == "optimal":
            if abs(row.ours_obj - row.peer_obj) > tol:
                problems.append("MISMATCH WITH SPOPT")
        worse = row.peer_obj - row.ours_obj if not maximize else row.ours_obj - row.peer_obj
        if worse < -tol:
            problems.append("SPOPT FOUND BETTER")
        if row.peer_status == "optimal":
            beyond = (
                row.bound > row.peer_obj + tol if not maximize else row.bound < row.peer_obj - tol
            )
            if beyond:
                problems.append("BOUND PAST SPOPT OPTIMUM")
    row.check = "; ".join(problems) if problems else "ok"


def _fill_ours(row: Row, solution, seconds: float, message: str) -> None:
    row.ours_s, row.ours_obj = seconds, solution.objective
    row.bound, row.gap, row.status = solution.bound, solution.gap, solution.status
    row.check = message


def _finite_stand_in(costs: np.ndarray, scale: float) -> np.ndarray:
    """Dense costs with ``inf`` replaced by a cost that no optimal solution uses."""
    finite = costs[np.isfinite(costs)]
    big = 10.0 * (scale * float(finite.max()) + 1.0)
    return np.where(np.isfinite(costs), costs, big)


# ----------------------------------------------------------------------------------- sections


def bench_orlib(
    names: list[str], skip_peer: set[tuple[str, str]], limit: float, models: list[str]
) -> tuple:
    """p-median and p-center on OR-Library graphs; spopt skipped for the pairs in skip_peer."""
    from spopt.locate import PCenter as PeerPCenter
    from spopt.locate import PMedian as PeerPMedian

    rows, notes = [], []
    for name in names:
        path = BENCH / "orlib" / f"{name}.txt" if BENCH else None
        if path is None or not path.exists():
            notes.append(f"{name}: not in shared/bench/orlib, skipped")
            continue
        inst = read_orlib(path)
        n = inst.costs.shape[0]
        median_opt, center_opt = OPTIMA[name]

        if "p-median" in models:
            row = Row(name, "p-median", f"{n}x{n}", str(inst.p), known=median_opt)
            _fill_ours(
                row, *run_ours(lambda inst=inst: PMedian.from_cost_matrix(inst.costs, p=inst.p))
            )
            if (name, "p-median") not in skip_peer:
                opened, row.peer_s, row.peer_status = run_peer(
                    lambda inst=inst, n=n: PeerPMedian.from_cost_matrix(
                        inst.costs, np.ones(n), inst.p
                    ),
                    limit,
                )
                if opened is not None:
                    row.peer_obj = float(inst.costs[:, opened].min(axis=1).sum())
            judge(row)
            rows.append(row)
        if "p-center" not in models:
            continue

        row = Row(name, "p-center", f"{n}x{n}", str(inst.p), known=center_opt)
        _fill_ours(row, *run_ours(lambda inst=inst: PCenter.from_cost_matrix(inst.costs, p=inst.p)))
        if (name, "p-center") not in skip_peer:
            opened, row.peer_s, row.peer_status = run_peer(
                lambda inst=inst: PeerPCenter.from_cost_matrix(inst.costs, inst.p), limit
            )
            if opened is not None:
                row.peer_obj = float(inst.costs[:, opened].min(axis=1).max())
        judge(row)
        rows.append(row)
    return rows, notes


def bench_capacitated(files: list[tuple[str, str]]) -> tuple[list, list]:
    rows, notes = [], []
    for folder_file, kind in files:
        path = BENCH / folder_file if BENCH else None
        if path is None or not path.exists():
            notes.append(f"{folder_file}: not found, skipped")
            continue
        inst = read_pmedcap(path) if kind == "pmedcap" else read_sjc(path)
        n = inst.costs.shape[0]
        row = Row(inst.name, "capacitated p-median", f"{n}x{n}", str(inst.p), known=inst.optimum)

        def build(inst=inst):
            return PMedian.from_cost_matrix(
                inst.costs, None, p=inst.p, capacity=inst.capacity, loads=inst.demand
            )

        _fill_ours(row, *run_ours(build))
        row.peer_status = "n/a"
        judge(row, known_decimals=2 if kind == "sjc" else None)
        rows.append(row)
    notes.append("capacitated rows: spopt's PMedian has no single-source capacity; svcnet only")
    return rows, notes


def bench_city_like(n: int, m: int, *, limit: float, seed: int) -> list:
    """LSCP, MCLP, p-median and p-center on one synthetic city, svcnet against spopt."""
    from spopt.locate import LSCP as PeerLSCP
    from spopt.locate import MCLP as PeerMCLP
    from spopt.locate import PCenter as PeerPCenter
    from spopt.locate import PMedian as PeerPMedian

    n_clusters = max(4, m // 12)
    width = 10_000.0 * math.sqrt(n_clusters / 25)
    city = make_city(
        n, m, width=width, height=0.8 * width, n_clusters=n_clusters, reach=1000.0, seed=seed
    )
    cutoff, cover_radius, mclp_radius = 1500.0, 1000.0, 600.0
    p_median, p_mclp = n_clusters + 5, max(2, n_clusters // 2)
    sparse = city.sparse_costs(cutoff)
    dense = city.dense_costs()
    dense_inf = np.where(dense <= cutoff, dense, np.inf)
    weights = city.weights
    name = f"city {n}x{m}"
    size = f"{n}x{m} ({sparse.nnz / dense.size:.0%} pairs)"
    rows = []

    specs = [
        (
            "LSCP",
            "-",
            False,
            lambda: LSCP.from_cost_matrix(sparse, radius=cover_radius),
            lambda: PeerLSCP.from_cost_matrix(dense_inf, cover_radius),
            lambda opened: float(len(opened)),
        ),
        (
            "MCLP",
            str(p_mclp),
            True,
            lambda: MCLP.from_cost_matrix(sparse, weights, radius=mclp_radius, p=p_mclp),
            lambda: PeerMCLP.from_cost_matrix(dense_inf, weights, mclp_radius, p_mclp),
            lambda opened: float(weights[dense_inf[:, opened].min(axis=1) <= mclp_radius].sum()),
        ),
        (
            "p-median",
            str(p_median),
            False,
            lambda: PMedian.from_cost_matrix(sparse, weights, p=p_median),
            lambda: PeerPMedian.from_cost_matrix(
                _finite_stand_in(dense_inf, weights.sum()), weights, p_median
            ),
            lambda opened: float((weights * dense_inf[:, opened].min(axis=1)).sum()),
        ),
        (
            "p-center",
            str(p_median),
            False,
            lambda: PCenter.from_cost_matrix(sparse, p=p_median),
            lambda: PeerPCenter.from_cost_matrix(_finite_stand_in(dense_inf, 1.0), p_median),
            lambda opened: float(dense_inf[:, opened].min(axis=1).max()),
        ),
    ]
    for model, p, maximize, ours, theirs, objective in specs:
        row = Row(name, model, size, p)
        _fill_ours(row, *run_ours(ours))
        opened, row.peer_s, row.peer_status = run_peer(theirs, limit)
        if opened is not None:
            row.peer_obj = objective(opened)
        judge(row, maximize=maximize)
        rows.append(row)
    return rows


def bench_city_scale(seed: int = 0) -> tuple[list, list]:
    """30,000 x 3,000, 1 km cutoff, p = 100: svcnet only, with a certified gap."""
    start = time.perf_counter()
    city = make_city(
        30_000, 3_000, width=40_000.0, height=30_000.0, n_clusters=80, reach=1000.0, seed=seed
    )
    sparse = city.sparse_costs(1000.0)
    prepare = time.perf_counter() - start
    row = Row(
        "city scale", "p-median", f"30000x3000 ({sparse.nnz:,} pairs)", "100", peer_status="n/a"
    )
    _fill_ours(
        row,
        *run_ours(
            lambda: PMedian.from_cost_matrix(sparse, city.weights, p=100),
            time_limit=300,
            mip_gap=0.01,
        ),
    )
    problems = [row.check] if row.check else []
    if not row.gap <= 0.01:
        problems.append("GAP ABOVE 1%")
    if row.ours_s > 300 * 1.05:
        problems.append("OVER 5 MINUTES")
    row.check = "; ".join(problems) if problems else "ok (target: gap <= 1% in 5 min)"
    notes = [
        f"city scale: points and the sparse 1 km matrix took {prepare:.1f} s (not in the "
        f"time); total weight {city.weights.sum():,.0f}; 80 neighbourhoods over 40 x 30 km"
    ]
    return [row], notes


# ---------------------------------------------------------------------------------------- main

SECTIONS = ("orlib", "capacitated", "city", "city-scale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip the city-scale run and the larger spopt rows (~1 minute)",
    )
    parser.add_argument(
        "--peer-time-limit",
        type=float,
        default=600.0,
        help="CBC's time limit per spopt solve, seconds (default 600)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic cities")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="sections to run (default: all; --quick skips city-scale and the larger city)",
    )
    parser.add_argument(
        "--orlib",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=None,
        help="OR-Library instances, comma-separated (default: pmed1,pmed5 with --quick, "
        "else pmed1 ... pmed10, pmed15, pmed20)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=("p-median", "p-center"),
        default=["p-median", "p-center"],
        help="OR-Library rows to run (default: both)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="svcnet solves per row, the fastest kept (default 1)"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # PuLP 3.x, inside spopt
    global REPEAT
    REPEAT = max(1, args.repeat)

    if BENCH is None:
        print("shared/bench not found: the published instances are skipped", file=sys.stderr)
    import spopt.locate  # noqa: F401 - imported before any timing, as svcnet's HiGHS below

    PMedian.from_cost_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]), p=1).solve(method="exact")
    rows, notes = [], []
    started = time.perf_counter()
    sections = set(args.only)
    if "orlib" in sections:
        full = [f"pmed{k}" for k in range(1, 11)] + ["pmed15", "pmed20"]
        orlib = args.orlib or (["pmed1", "pmed5"] if args.quick else full)
        skip_peer = {("pmed1", "p-center")} if args.quick else set()  # CBC needs ~30 s there
        got, said = bench_orlib(orlib, skip_peer, args.peer_time_limit, args.models)
        rows += got
        notes += said
    if "capacitated" in sections:
        got, said = bench_capacitated(
            [("pmedcap/pmedcap1_01.txt", "pmedcap"), ("pmedcap/SJC1.dat", "sjc")]
        )
        rows += got
        notes += said
    if "city" in sections:
        rows += bench_city_like(400, 60, limit=args.peer_time_limit, seed=args.seed)
        if not args.quick:
            rows += bench_city_like(2000, 300, limit=args.peer_time_limit, seed=args.seed)
    if "city-scale" in sections and not args.quick:
        got, said = bench_city_scale(seed=args.seed)
        rows += got
        notes += said

    table = pd.DataFrame([row.table_row() for row in rows])
    versions = ", ".join(f"{pkg} {version(pkg)}" for pkg in ("svcnet", "highspy", "spopt", "pulp"))
    print(f"Location models: svcnet vs spopt (PuLP + CBC, time limit {args.peer_time_limit:g} s)")
    print(versions)
    with pd.option_context(
        "display.width", 250, "display.max_columns", None, "display.max_colwidth", 60
    ):
        print(table.to_string(index=False))
    for note in notes:
        print(f"note: {note}")
    print(f"total {time.perf_counter() - started:.0f} s")
    bad = [row for row in rows if not row.check.startswith("ok")]
    if bad:
        print("\n" + "!" * 78)
        for row in bad:
            print(f"!!! {row.instance} {row.model}: {row.check}")
        print("!" * 78)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
