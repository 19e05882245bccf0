"""Beyond one machine: a synthetic region of millions of 100 m cells planned on a LocalCluster.

    pip install -e ".[test]" && python benchmarks/scale.py              # 5.76 M cells, ~15 min
    python benchmarks/scale.py --side 600 --workers 2                    # a quick look

The region is a square of ``side x side`` populated 100 m cells (2,400: 5.76 million cells and
about 112 million people, 240 km a side, more than the Greater Bay Area's 86 million people on
56,000 km2), with a jittered grid
street network (250 m blocks, 8 % of the streets missing; an undirected networkx graph in
EPSG:32650), candidate sites on a jittered 750 m grid, and districts of 20 x 20 km. The
population is 2 people a cell plus 40 "cities" (Gaussian bumps of 2-6 km, 100-300 people a cell
at their peak, as dense as Shenzhen's cores; fewer on a smaller square, in proportion to its
area).

For each cluster size (1 and 2 workers by default, one thread each), one run does, timing each
stage:

1. demand: each tile's cells are made on a worker and turned into demand points there with
   :func:`svcnet.demand_from_grid` (the population grid never exists whole as polygons);
2. costs: walking minutes within 15 minutes from every cell to every site,
   :func:`svcnet.costs_from_graph` with ``client=`` (the network read here; snapping and the
   searches by tile on the workers);
3. access: 2SFCA of the sites (100 places each) within 15 minutes, ``client=``;
4. centers: the center plan's model, district by district on the workers (the solve
   :func:`svcnet.plan_centers` does: 15,000-20,000 people a center, minutes beyond 10 priced
   five-fold, the rest unserved at a penalty), with the region-wide bound as the sum of the
   districts' bounds, in ``--solve-seconds``.

It prints one table: cluster size, stage, seconds, the CPU seconds the workers used in the
stage, the workers' peak memory (the largest
``VmHWM`` among them, so far in the run), this process's peak, and what came out. The network
is built once, untimed (it is the input). Then the speed-up from 1 to 2 workers and a
projection for the Greater Bay Area on 32 workers (see :func:`projection`).
"""

from __future__ import annotations

import argparse
import logging
import math
import resource
import time
from typing import Any

import numpy as np
import pandas as pd

CELL_M = 100.0
BLOCK_M = 250.0
SITE_M = 750.0
DISTRICT_M = 20_000.0
ORIGIN = (190_000.0, 2_480_000.0)
CRS = "EPSG:32650"
WALK_MIN = 15.0
LIMIT_MIN = 10.0
GBA_CELLS = 5_600_000  # the Greater Bay Area's 56,000 km2 in 100 m cells, as if all populated
GBA_WORKERS = 32


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# =========================================================================================
# the synthetic region
# =========================================================================================
def cities(side: int, seed: int = 0) -> np.ndarray:
    """(x, y, sigma, peak) of Gaussian bumps of population: 40 over 2,400 x 2,400 cells."""
    rng = np.random.default_rng(seed)
    extent = side * CELL_M
    count = max(1, round(40 * (side / 2_400) ** 2))
    xy = rng.uniform(0, extent, (count, 2)) + ORIGIN
    sigma = rng.uniform(2_000, 6_000, count)
    peak = rng.uniform(100, 300, count)
    return np.column_stack([xy, sigma, peak])


def tile_demand(rows: tuple[int, int], side: int, bumps: np.ndarray) -> dict[str, np.ndarray]:
    """A band of grid rows made into cells, then demand points (run on a worker)."""
    import geopandas as gpd
    import shapely

    import svcnet

    r0, r1 = rows
    ii, jj = np.meshgrid(np.arange(r0, r1), np.arange(side), indexing="ij")
    x0 = ORIGIN[0] + jj.ravel() * CELL_M
    y0 = ORIGIN[1] + ii.ravel() * CELL_M
    cx, cy = x0 + CELL_M / 2, y0 + CELL_M / 2
    density = np.full(len(cx), 2.0)
    for bx, by, sigma, peak in bumps:
        density += peak * np.exp(-((cx - bx) ** 2 + (cy - by) ** 2) / (2 * sigma**2))
    rng = np.random.default_rng(r0)
    pop = np.maximum(1, rng.poisson(density)).astype(float)
    grid = gpd.GeoDataFrame(
        {"cell_id": ii.ravel().astype(np.int64) * side + jj.ravel(), "pop": pop},
        geometry=shapely.box(x0, y0, x0 + CELL_M, y0 + CELL_M), crs=CRS,
    )  # fmt: skip
    points = svcnet.demand_from_grid(grid, "pop")
    xy = shapely.get_coordinates(points.geometry.values)
    return {"cell_id": points["cell_id"].to_numpy(), "x": xy[:, 0], "y": xy[:, 1],
            "pop": points["weight"].to_numpy()}  # fmt: skip


def street_graph(side: int, seed: int = 1) -> Any:
    """A jittered grid of streets (250 m blocks), undirected, node x/y and edge length."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    n = int(math.ceil(side * CELL_M / BLOCK_M)) + 1
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x = ORIGIN[0] + jj.ravel() * BLOCK_M + rng.uniform(-40, 40, n * n)
    y = ORIGIN[1] + ii.ravel() * BLOCK_M + rng.uniform(-40, 40, n * n)
    ids = np.arange(n * n).reshape(n, n)
    u = np.r_[ids[:, :-1].ravel(), ids[:-1, :].ravel()]
    v = np.r_[ids[:, 1:].ravel(), ids[1:, :].ravel()]
    keep = rng.random(len(u)) < 0.92
    u, v = u[keep], v[keep]
    length = np.hypot(x[u] - x[v], y[u] - y[v])
    graph = nx.Graph(crs=CRS)
    graph.add_nodes_from(zip(range(n * n), ({"x": a, "y": b} for a, b in zip(
        x.tolist(), y.tolist(), strict=True)), strict=True))  # fmt: skip
    graph.add_edges_from(zip(u.tolist(), v.tolist(), ({"length": w} for w in length.tolist()),
                             strict=True))  # fmt: skip
    return graph


def sites(side: int, seed: int = 2) -> Any:
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    n = int(side * CELL_M / SITE_M)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x = ORIGIN[0] + (jj.ravel() + 0.5) * SITE_M + rng.uniform(-150, 150, n * n)
    y = ORIGIN[1] + (ii.ravel() + 0.5) * SITE_M + rng.uniform(-150, 150, n * n)
    return gpd.GeoDataFrame({"site_id": np.arange(n * n)},
                            geometry=gpd.points_from_xy(x, y), crs=CRS)  # fmt: skip


def district_of(x: np.ndarray, y: np.ndarray, side: int) -> np.ndarray:
    per_row = int(math.ceil(side * CELL_M / DISTRICT_M))
    col = ((x - ORIGIN[0]) // DISTRICT_M).astype(np.int64)
    row = ((y - ORIGIN[1]) // DISTRICT_M).astype(np.int64)
    return row * per_row + col


# =========================================================================================
# one run on a cluster
# =========================================================================================
def workers_peak_mb(client: Any) -> float:
    def peak() -> float:  # VmHWM: the process's own peak (ru_maxrss counts the spawner's)
        with open("/proc/self/status") as status:
            line = next(x for x in status if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    return max(client.run(peak).values())


def workers_cpu_s(client: Any) -> float:
    """CPU seconds the workers' processes have used, together."""

    def cpu() -> float:
        return time.process_time()

    return float(sum(client.run(cpu).values()))


def run(n_workers: int, side: int, graph: Any, candidates: Any, solve_seconds: float,
        memory: str) -> list[dict]:  # fmt: skip
    import geopandas as gpd

    import svcnet
    from svcnet.distributed import local_client, run_tasks
    from svcnet.services import centers

    rows: list[dict] = []

    cpu_before = [0.0]

    def row(stage: str, seconds: float, client: Any, result: str) -> None:
        cpu = workers_cpu_s(client)
        rows.append({"workers": n_workers, "stage": stage, "s": round(seconds, 1),
                     "worker CPU s": round(cpu - cpu_before[0], 1),
                     "worker peak MB": round(workers_peak_mb(client)),
                     "driver peak MB": round(peak_mb()), "result": result})  # fmt: skip
        cpu_before[0] = workers_cpu_s(client)
        print(rows[-1], flush=True)

    with local_client(n_workers, memory_limit=memory) as client:
        client.wait_for_workers(n_workers)
        cpu_before[0] = workers_cpu_s(client)
        band = max(1, side // 48)
        bands = [((r, min(r + band, side)), side, cities(side)) for r in range(0, side, band)]
        start = time.perf_counter()
        parts = run_tasks(client, tile_demand, bands, desc="demand by tile")
        frame = pd.DataFrame({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
        demand = gpd.GeoDataFrame(
            frame[["cell_id", "pop"]], geometry=gpd.points_from_xy(frame["x"], frame["y"]), crs=CRS
        )
        row(
            "demand",
            time.perf_counter() - start,
            client,
            f"{len(demand):,} cells, {demand['pop'].sum():,.0f} people",
        )

        start = time.perf_counter()
        costs = svcnet.costs_from_graph(
            graph, demand, candidates, weight="travel_time", cutoff=WALK_MIN,
            origin_id="cell_id", destination_id="site_id", client=client, progress=True,
        )  # fmt: skip
        row(
            "costs (15 min walk)",
            time.perf_counter() - start,
            client,
            f"{costs.matrix.nnz:,} pairs",
        )

        start = time.perf_counter()
        people = demand["pop"].to_numpy(float)
        score = svcnet.access.two_step_fca(costs, people, 100.0, max_cost=WALK_MIN, client=client)
        row(
            "access (2SFCA)",
            time.perf_counter() - start,
            client,
            f"mean {np.average(score, weights=people) * 1000:.2f} places per 1,000",
        )

        start = time.perf_counter()
        xy = np.column_stack([frame["x"], frame["y"]])
        cell_units = district_of(xy[:, 0], xy[:, 1], side)
        s_xy = np.column_stack([candidates.geometry.x, candidates.geometry.y])
        site_units = district_of(s_xy[:, 0], s_xy[:, 1], side)
        priced = centers._late_priced(costs.matrix, LIMIT_MIN)
        penalty = 2.0 * (WALK_MIN + centers.LATE_WEIGHT * (WALK_MIN - LIMIT_MIN))
        n_sites = priced.shape[1]
        selected, assignment, records = centers._solve_by_unit(
            priced, people, cell_units, site_units, np.full(n_sites, 15_000.0),
            np.zeros(n_sites, bool), high=20_000.0, penalty=penalty, time_limit=solve_seconds,
            mip_gap=0.01, seed=0, client=client, notes=[],
        )  # fmt: skip
        total = records[-1]
        served = people[assignment >= 0].sum()
        row(
            "centers (bounded model by district)",
            time.perf_counter() - start,
            client,
            f"{len(selected):,} centers, {served / people.sum():.1%} served, "
            f"gap {total['gap']:.1%} over {len(records) - 1} districts",
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2_400, help="cells per side (2,400: 5.76 M)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--solve-seconds", type=float, default=300.0)
    parser.add_argument("--memory", default="8GiB", help="memory limit per worker")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    start = time.perf_counter()
    graph = street_graph(args.side)
    candidates = sites(args.side)
    print(
        f"network: {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} streets, "
        f"{len(candidates):,} sites; built in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    rows = []
    for n in args.workers:
        rows += run(n, args.side, graph, candidates, args.solve_seconds, args.memory)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    totals = table.groupby("workers")["s"].sum()
    if 1 in totals and 2 in totals:
        print(
            f"\nspeed-up from 1 to 2 workers: {totals[1] / totals[2]:.2f}x "
            f"({totals[1]:.0f} s -> {totals[2]:.0f} s)"
        )
    print(projection(table, cells=args.side**2, solve_seconds=args.solve_seconds))
    return 0


def projection(table: pd.DataFrame, *, cells: int, solve_seconds: float) -> str:
    """The Greater Bay Area on 32 workers, from the 1-worker run (Amdahl's law).

    Per stage, the workers' CPU seconds are the part that spreads over the
    workers, the rest of the wall time the part done here; both are scaled by
    cells to the GBA and the first divided among 32 workers. (On this machine's
    two cores the driver and the workers share the CPUs, so the measured 1 to 2
    worker speed-up understates what separate machines give.) The center stage
    runs to its time limit, so it is projected as that limit.
    """
    scale = GBA_CELLS / cells
    one = table[table["workers"] == table["workers"].min()].set_index("stage")
    lines = [f"projection: Greater Bay Area, {GBA_CELLS:,} cells, {GBA_WORKERS} workers"]
    total = 0.0
    for stage, found in one.iterrows():
        if stage.startswith("centers"):
            seconds = solve_seconds
        else:
            parallel = min(float(found["worker CPU s"]), float(found["s"]))
            serial = float(found["s"]) - parallel
            seconds = scale * (serial + parallel / GBA_WORKERS)
        total += seconds
        lines.append(f"  {stage}: {seconds:,.0f} s")
    lines.append(f"  in all: {total / 60:,.1f} min")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
