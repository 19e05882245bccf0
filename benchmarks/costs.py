"""Travel-cost benchmarks: svcnet.costs against networkx and pandana, one table in one run.

    pip install -e ".[bench]" && python benchmarks/costs.py           # Futian, a few minutes
    python benchmarks/costs.py --city                                # + a synthetic city

Every row runs in a fresh subprocess, so its peak memory (``ru_maxrss``) is its own:
"peak MB" is the whole process (Python, the libraries, the data), "added MB" what the timed
step added to the peak over the setup before it. Timings of the fast rows are the best of
three runs.

Futian (the bundled OSM drive network, 4,243 nodes): origins are the 8,226 cells of the 100 m
grid (at a point inside each), destinations 500 candidate sites; walking, metres, 3 km cutoff,
no cap on snapping (so that every method costs the same pairs).

- scipy dijkstra, bare: ``scipy.sparse.csgraph.dijkstra`` on the node graph from the 500
  destinations' nearest nodes with ``limit=3000``; graph and nodes built beforehand, untimed.
  The limit to aim at.
- svcnet, snap to edge: ``svcnet.costs.costs_from_graph``, end to end (graph conversion,
  projection, snapping, Dijkstra, the sparse matrix), the default exact snapping.
- svcnet, snap to node: the same, snapping to the nearest node as osmnx users do: its numbers
  are compared with the networkx loop's.
- networkx loop: what osmnx users write: ``osmnx.distance.nearest_nodes`` then
  ``nx.single_source_dijkstra_path_length(cutoff=...)`` per origin node on
  ``osmnx.convert.to_undirected(graph)``, plus the snapping legs.
- pandana: ``Network`` (contraction hierarchies, built untimed, its time shown apart), then the
  full matrix pair by pair with ``shortest_path_lengths`` (what its docs suggest for
  origin-destination matrices), and the cutoff query ``nodes_in_range``.

Synthetic city (``--city``): a jittered 450 x 450 grid street network (202,500 nodes, about
750,000 directed edges, 100 m blocks, 7 % of the streets missing) built as an osmnx-style
MultiDiGraph in EPSG:32650; 200,000 random origins, 10,000 random destinations, a 15-minute
walking cutoff at the default walking speed (60 m a minute). The networkx loop there is timed on
300 origins and scaled up.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

RESULT = "RESULT "
FUTIAN_CUTOFF_M = 3000.0
CITY_MINUTES = 15.0
CITY_N = 450
ROW_TIMEOUT_S = 1200


# =========================================================================================
# helpers
# =========================================================================================
def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(func, repeat: int = 3):
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return result, best


def once(func):
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def report(row: dict) -> None:
    print(RESULT + json.dumps(row), flush=True)


def node_csr(graph, weight: str, to_minutes: float = 1.0):
    """Node graph of a walk: every edge both ways, the cheapest of parallel edges."""
    import scipy.sparse as sp

    index = {n: i for i, n in enumerate(graph.nodes)}
    u = np.array([index[a] for a, _, _ in graph.edges(data=weight)])
    v = np.array([index[b] for _, b, _ in graph.edges(data=weight)])
    w = np.array([d for _, _, d in graph.edges(data=weight)], dtype=float) / to_minutes
    rows, cols, vals = np.r_[u, v], np.r_[v, u], np.r_[w, w]
    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    n = len(index)
    return sp.csr_matrix((vals[first], (rows[first], cols[first])), shape=(n, n)), index


def compare(a: np.ndarray, b: np.ndarray, cutoff: float) -> dict:
    """How two dense cost arrays (inf: beyond the cutoff) differ.

    ``diff``: the largest difference over the pairs both keep; ``mismatch``: the pairs only
    one keeps, and ``mismatch_gap`` how far the farthest of them is from the cutoff (pairs
    right at the cutoff fall either side with rounding).
    """
    both = np.isfinite(a) & np.isfinite(b)
    one = np.isfinite(a) != np.isfinite(b)
    kept = np.where(np.isfinite(a), a, b)[one]
    return {
        "diff": float(np.abs(a[both] - b[both]).max()) if both.any() else 0.0,
        "mismatch": int(one.sum()),
        "mismatch_gap": float(np.abs(kept - cutoff).max()) if one.any() else 0.0,
    }


# =========================================================================================
# Futian
# =========================================================================================
def futian_setup():
    import svcnet

    region = svcnet.datasets.load_futian()
    graph = region.network
    grid = region.population
    origins = grid.set_geometry(grid.representative_point())[["cell_id", "geometry"]]
    rng = np.random.default_rng(0)
    candidates = region.candidates
    destinations = candidates.iloc[np.sort(rng.choice(len(candidates), 500, replace=False))]
    return graph, origins, destinations


def futian_ours(snap_to: str):
    from svcnet.costs import costs_from_graph

    graph, origins, destinations = futian_setup()
    before = peak_mb()

    def run():
        return costs_from_graph(
            graph, origins, destinations, cutoff=FUTIAN_CUTOFF_M, snap_to=snap_to,
            max_snap_m=np.inf,
        )  # fmt: skip

    costs, seconds = best_of(run)
    return costs, seconds, before


def row_futian_svcnet_edge() -> dict:
    costs, seconds, before = futian_ours("edge")
    return {"seconds": seconds, "pairs": int(costs.matrix.nnz), "before_mb": before}


def row_futian_svcnet_node() -> dict:
    costs, seconds, before = futian_ours("node")
    return {"seconds": seconds, "pairs": int(costs.matrix.nnz), "before_mb": before}


def _futian_nodes(graph, origins, destinations):
    import osmnx as ox

    projected = ox.project_graph(graph, to_crs=origins.crs)
    o_nodes = np.asarray(ox.distance.nearest_nodes(projected, origins.geometry.x,
                                                   origins.geometry.y))  # fmt: skip
    d_nodes = np.asarray(ox.distance.nearest_nodes(projected, destinations.geometry.x,
                                                   destinations.geometry.y))  # fmt: skip
    xy = {n: (d["x"], d["y"]) for n, d in projected.nodes(data=True)}

    def legs(points, nodes):
        node_xy = np.array([xy[n] for n in nodes])
        return np.hypot(points.geometry.x.to_numpy() - node_xy[:, 0],
                        points.geometry.y.to_numpy() - node_xy[:, 1])  # fmt: skip

    return projected, o_nodes, d_nodes, legs(origins, o_nodes), legs(destinations, d_nodes)


def row_futian_bare() -> dict:
    from scipy.sparse.csgraph import dijkstra

    graph, origins, destinations = futian_setup()
    _, _, d_nodes, _, _ = _futian_nodes(graph, origins, destinations)
    csr, index = node_csr(graph, "length")
    sources = np.array([index[n] for n in d_nodes])
    before = peak_mb()
    _, seconds = best_of(lambda: dijkstra(csr, directed=True, indices=sources,
                                          limit=FUTIAN_CUTOFF_M))  # fmt: skip
    return {"seconds": seconds, "pairs": None, "before_mb": before}


def row_futian_networkx() -> dict:
    import networkx as nx
    import osmnx as ox

    from svcnet.costs import costs_from_graph

    graph, origins, destinations = futian_setup()
    walk = ox.convert.to_undirected(graph)
    projected = ox.project_graph(graph, to_crs=origins.crs)
    before = peak_mb()

    def run():
        import osmnx as ox

        o_nodes = np.asarray(ox.distance.nearest_nodes(projected, origins.geometry.x,
                                                       origins.geometry.y))  # fmt: skip
        d_nodes = np.asarray(ox.distance.nearest_nodes(projected, destinations.geometry.x,
                                                       destinations.geometry.y))  # fmt: skip
        xy = {n: (d["x"], d["y"]) for n, d in projected.nodes(data=True)}
        o_xy = np.array([xy[n] for n in o_nodes])
        d_xy = np.array([xy[n] for n in d_nodes])
        o_leg = np.hypot(*(origins.get_coordinates().to_numpy() - o_xy).T)
        d_leg = np.hypot(*(destinations.get_coordinates().to_numpy() - d_xy).T)
        out = np.full((len(origins), len(destinations)), np.inf)
        rows_of = pd.Series(np.arange(len(o_nodes))).groupby(o_nodes).apply(list)
        for node, rows in rows_of.items():
            dist = nx.single_source_dijkstra_path_length(walk, node, cutoff=FUTIAN_CUTOFF_M,
                                                         weight="length")  # fmt: skip
            network = np.array([dist.get(n, np.inf) for n in d_nodes])
            for i in rows:
                total = o_leg[i] + network + d_leg
                out[i] = np.where(total <= FUTIAN_CUTOFF_M, total, np.inf)
        return out

    dense, seconds = once(run)
    ours = costs_from_graph(graph, origins, destinations, cutoff=FUTIAN_CUTOFF_M,
                            snap_to="node", max_snap_m=np.inf).to_dense()  # fmt: skip
    return {"seconds": seconds, "pairs": int(np.isfinite(dense).sum()), "before_mb": before,
            **compare(dense, ours, FUTIAN_CUTOFF_M)}  # fmt: skip


def _pandana_network(projected):
    import pandana

    nodes = pd.DataFrame(
        [(n, d["x"], d["y"]) for n, d in projected.nodes(data=True)], columns=["id", "x", "y"]
    ).set_index("id")
    edges = pd.DataFrame(
        [(u, v, d["length"]) for u, v, d in projected.edges(data=True)],
        columns=["from", "to", "length"],
    )
    return pandana.Network(nodes.x, nodes.y, edges["from"], edges["to"], edges[["length"]],
                           twoway=True)  # fmt: skip


def row_futian_pandana_pairs() -> dict:
    from svcnet.costs import costs_from_graph

    graph, origins, destinations = futian_setup()
    projected, o_nodes, d_nodes, o_leg, d_leg = _futian_nodes(graph, origins, destinations)
    net, build = once(lambda: _pandana_network(projected))
    before = peak_mb()

    def run():
        a = np.repeat(o_nodes, len(d_nodes))
        b = np.tile(d_nodes, len(o_nodes))
        lengths = np.asarray(net.shortest_path_lengths(a, b), dtype=float)
        total = lengths.reshape(len(o_nodes), len(d_nodes)) + o_leg[:, None] + d_leg[None, :]
        return np.where(total <= FUTIAN_CUTOFF_M, total, np.inf)

    dense, seconds = once(run)
    ours = costs_from_graph(graph, origins, destinations, cutoff=FUTIAN_CUTOFF_M,
                            snap_to="node", max_snap_m=np.inf).to_dense()  # fmt: skip
    return {"seconds": seconds, "pairs": int(np.isfinite(dense).sum()), "before_mb": before,
            **compare(dense, ours, FUTIAN_CUTOFF_M),
            "note": f"+ {build:.2f} s to build the CH"}  # fmt: skip


def row_futian_pandana_range() -> dict:
    graph, origins, destinations = futian_setup()
    projected, _, d_nodes, _, _ = _futian_nodes(graph, origins, destinations)
    net, build = once(lambda: _pandana_network(projected))
    before = peak_mb()
    found, seconds = best_of(lambda: net.nodes_in_range(d_nodes, FUTIAN_CUTOFF_M))
    return {
        "seconds": seconds,
        "pairs": int(len(found)),
        "before_mb": before,
        "note": f"node pairs only (no snapping legs); + {build:.2f} s to build the CH",
    }


# =========================================================================================
# the synthetic city
# =========================================================================================
def city_graph(n: int = CITY_N, spacing: float = 100.0, seed: int = 0):
    """A jittered grid street network as an osmnx-style MultiDiGraph, in metres."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x = 190_000 + jj.ravel() * spacing + rng.uniform(-25, 25, n * n)
    y = 2_480_000 + ii.ravel() * spacing + rng.uniform(-25, 25, n * n)
    ids = np.arange(n * n).reshape(n, n)
    u = np.r_[ids[:, :-1].ravel(), ids[:-1, :].ravel()]
    v = np.r_[ids[:, 1:].ravel(), ids[1:, :].ravel()]
    keep = rng.random(len(u)) < 0.93
    u, v = u[keep], v[keep]
    length = np.hypot(x[u] - x[v], y[u] - y[v])
    graph = nx.MultiDiGraph(crs="EPSG:32650")
    graph.add_nodes_from((int(i), {"x": float(x[i]), "y": float(y[i])}) for i in range(n * n))
    for a, b in ((u, v), (v, u)):
        graph.add_edges_from(
            (int(p), int(q), 0, {"length": float(w), "highway": "residential", "oneway": False})
            for p, q, w in zip(a, b, length, strict=True)
        )
    return graph, (x.min(), y.min(), x.max(), y.max())


def city_setup():
    import geopandas as gpd

    graph, (x0, y0, x1, y1) = city_graph()
    rng = np.random.default_rng(1)

    def points(count):
        xy = rng.uniform((x0, y0), (x1, y1), (count, 2))
        return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=32650)

    return graph, points(200_000), points(10_000)


def row_city_svcnet(snap_to: str) -> dict:
    from svcnet.costs import costs_from_graph

    graph, origins, destinations = city_setup()
    before = peak_mb()
    costs, seconds = once(lambda: costs_from_graph(
        graph, origins, destinations, weight="travel_time", cutoff=CITY_MINUTES, snap_to=snap_to,
    ))  # fmt: skip
    return {"seconds": seconds, "pairs": int(costs.matrix.nnz), "before_mb": before}


def row_city_svcnet_edge() -> dict:
    return row_city_svcnet("edge")


def row_city_svcnet_node() -> dict:
    return row_city_svcnet("node")


def _city_nodes(graph, points):
    from scipy.spatial import cKDTree

    ids = np.array(list(graph.nodes))
    xy = np.array([(d["x"], d["y"]) for _, d in graph.nodes(data=True)])
    _, j = cKDTree(xy).query(points.get_coordinates().to_numpy())
    return ids[j]


def row_city_bare() -> dict:
    from scipy.sparse.csgraph import dijkstra

    graph, _, destinations = city_setup()
    csr, index = node_csr(graph, "length", to_minutes=75.0)
    sources = np.array([index[n] for n in _city_nodes(graph, destinations)])
    before = peak_mb()
    batch = 100

    def run():
        for i in range(0, len(sources), batch):  # each block dropped at once
            dijkstra(csr, directed=True, indices=sources[i : i + batch], limit=CITY_MINUTES)

    _, seconds = once(run)
    return {
        "seconds": seconds,
        "pairs": None,
        "before_mb": before,
        "note": f"in batches of {batch} sources (all at once: 16 GB of distances)",
    }


def row_city_networkx() -> dict:
    import networkx as nx

    graph, origins, _ = city_setup()
    walk = graph  # every street is already there both ways
    sample = origins.iloc[:300]
    before = peak_mb()

    def run():
        for node in _city_nodes(graph, sample):
            nx.single_source_dijkstra_path_length(walk, node, cutoff=CITY_MINUTES * 75,
                                                  weight="length")  # fmt: skip

    _, seconds = once(run)
    return {
        "seconds": seconds * len(origins) / len(sample),
        "pairs": None,
        "before_mb": before,
        "note": f"timed on {len(sample)} origins ({seconds:.2f} s), scaled to 200,000",
    }


def row_city_pandana_range() -> dict:
    import pandana

    graph, _, destinations = city_setup()
    nodes = pd.DataFrame([(n, d["x"], d["y"]) for n, d in graph.nodes(data=True)],
                         columns=["id", "x", "y"]).set_index("id")  # fmt: skip
    edges = pd.DataFrame([(u, v, d["length"]) for u, v, d in graph.edges(data=True) if u < v],
                         columns=["from", "to", "length"])  # fmt: skip
    net, build = once(lambda: pandana.Network(nodes.x, nodes.y, edges["from"], edges["to"],
                                              edges[["length"]], twoway=True))  # fmt: skip
    sources = _city_nodes(graph, destinations)
    before = peak_mb()
    found, seconds = once(lambda: net.nodes_in_range(sources, CITY_MINUTES * 75))
    return {
        "seconds": seconds,
        "pairs": int(len(found)),
        "before_mb": before,
        "note": f"node pairs only; + {build:.1f} s to build the CH",
    }


# =========================================================================================
# the table
# =========================================================================================
ROWS = {
    "futian_bare": ("Futian", "scipy dijkstra, bare", "500 sources", row_futian_bare),
    "futian_svcnet_edge": ("Futian", "svcnet, snap to edge", "8,226 x 500",
                           row_futian_svcnet_edge),
    "futian_svcnet_node": ("Futian", "svcnet, snap to node", "8,226 x 500",
                           row_futian_svcnet_node),
    "futian_networkx": ("Futian", "networkx loop per origin", "8,226 x 500",
                        row_futian_networkx),
    "futian_pandana_pairs": ("Futian", "pandana shortest_path_lengths", "8,226 x 500",
                             row_futian_pandana_pairs),
    "futian_pandana_range": ("Futian", "pandana nodes_in_range", "500 sources",
                             row_futian_pandana_range),
}  # fmt: skip
CITY_ROWS = {
    "city_bare": ("city", "scipy dijkstra, bare", "10,000 sources", row_city_bare),
    "city_svcnet_edge": ("city", "svcnet, snap to edge", "200,000 x 10,000",
                         row_city_svcnet_edge),
    "city_svcnet_node": ("city", "svcnet, snap to node", "200,000 x 10,000",
                         row_city_svcnet_node),
    "city_networkx": ("city", "networkx loop per origin", "200,000 x 10,000",
                      row_city_networkx),
    "city_pandana_range": ("city", "pandana nodes_in_range", "10,000 sources",
                           row_city_pandana_range),
}  # fmt: skip


def run_row(name: str) -> dict:
    """Run one row in a fresh interpreter; its result, or the error it met."""
    try:
        proc = subprocess.run([sys.executable, __file__, "--row", name], capture_output=True,
                              text=True, check=False, timeout=ROW_TIMEOUT_S)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"seconds": np.nan, "error": f"stopped after {ROW_TIMEOUT_S} s"}
    for line in proc.stdout.splitlines():  # pandana prints progress without a newline
        if RESULT in line:
            return json.loads(line[line.index(RESULT) + len(RESULT) :])
    tail = proc.stderr.strip().splitlines() or [f"no output (exit code {proc.returncode})"]
    return {"seconds": np.nan, "error": tail[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", action="store_true", help="also run the synthetic city")
    parser.add_argument("--city-only", action="store_true", help="only the synthetic city")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = {**ROWS, **CITY_ROWS}
    if args.row:
        warnings.simplefilter("ignore")
        import logging

        logging.disable(logging.WARNING)
        result = rows[args.row][3]()
        result["peak_mb"] = peak_mb()
        report(result)
        return
    chosen = {} if args.city_only else dict(ROWS)
    if args.city or args.city_only:
        chosen.update(CITY_ROWS)
    table = []
    for name, (dataset, method, size, _) in chosen.items():
        print(f"running {name} ...", file=sys.stderr, flush=True)
        result = run_row(name)
        table.append({"dataset": dataset, "method": method, "size": size, **result})
    frame = pd.DataFrame(table)
    for column in ("pairs", "diff", "mismatch", "mismatch_gap", "before_mb", "peak_mb"):
        if column not in frame:
            frame[column] = np.nan
    for column in ("note", "error"):
        frame[column] = (
            frame[column].astype(object).where(frame[column].notna(), "")
            if (column in frame)
            else ""
        )
    frame["added MB"] = (frame["peak_mb"] - frame["before_mb"]).clip(lower=0).round(0)
    frame["peak MB"] = frame["peak_mb"].round(0)
    ours = frame[frame.method == "svcnet, snap to edge"].set_index("dataset")["seconds"]
    frame["x svcnet"] = (frame["seconds"] / frame["dataset"].map(ours)).round(2)
    bare = frame[frame.method == "scipy dijkstra, bare"].set_index("dataset")["seconds"]
    frame["x bare"] = (frame["seconds"] / frame["dataset"].map(bare)).round(2)
    frame["max |diff| m"] = frame["diff"].map(lambda d: "" if pd.isna(d) else f"{d:.1e}")
    frame["pairs"] = frame["pairs"].map(lambda p: "" if pd.isna(p) else f"{int(p):,}")
    mismatch = [
        f"{int(m)} pairs on the other side of the cutoff (all within {g:.1e} m of it); "
        if m else ""
        for m, g in zip(frame["mismatch"].fillna(0), frame["mismatch_gap"].fillna(0),
                        strict=True)
    ]  # fmt: skip
    frame["notes"] = [
        m + n + (f"FAILED: {e}" if e else "")
        for m, n, e in zip(mismatch, frame["note"], frame["error"], strict=True)
    ]
    columns = ["dataset", "method", "size", "seconds", "x svcnet", "x bare", "peak MB", "added MB",
               "pairs", "max |diff| m", "notes"]  # fmt: skip
    with pd.option_context("display.width", 250, "display.max_colwidth", 120):
        print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("\nx svcnet, x bare: seconds / those of svcnet (snap to edge), of the bare scipy "
          "call, on the same data;\nmax |diff|: against svcnet snapping to nodes, over the "
          "pairs both keep.")  # fmt: skip


if __name__ == "__main__":
    main()
