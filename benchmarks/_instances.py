"""Benchmark instances for the location models: published test sets and synthetic cities.

Published sets (files in ``shared/bench``, see its README for formats and optima):

- OR-Library uncapacitated p-median ``pmedK.txt`` (Beasley): an undirected graph whose allocation
  costs are all-pairs shortest paths; a repeated edge keeps its LAST cost.
- Osman & Christofides capacitated p-median ``pmedcap1_0K.txt``: Euclidean distances truncated to
  integers, one capacity for every site.
- Lorena & Senne ``SJCK.dat`` (Sao Jose dos Campos): real Euclidean distances, one capacity per
  site.

Synthetic cities: clustered demand points with population-like weights, and candidate sites near
the clusters, all in metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

__all__ = [
    "BENCH",
    "OPTIMA",
    "City",
    "CapacitatedInstance",
    "GraphInstance",
    "find_bench",
    "make_city",
    "read_orlib",
    "read_pmedcap",
    "read_sjc",
]


def find_bench() -> Path | None:
    """The ``shared/bench`` folder beside the repository (or above it), or None."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "bench"
        if candidate.is_dir():
            return candidate
    return None


BENCH = find_bench()

# Known optima from shared/bench/README.md: (p-median, vertex p-center) for OR-Library files,
# the capacitated objective for pmedcap and SJC.
OPTIMA: dict[str, float | tuple[float, float]] = {
    "pmed1": (5819, 127),
    "pmed2": (4093, 98),
    "pmed3": (4250, 93),
    "pmed4": (3034, 74),
    "pmed5": (1355, 48),
    "pmed6": (7824, 84),
    "pmed7": (5631, 64),
    "pmed8": (4445, 55),
    "pmed9": (2734, 37),
    "pmed10": (1255, 20),
    "pmedcap1_01": 713,
    "pmedcap1_02": 740,
    "pmedcap1_03": 751,
    "pmedcap1_04": 651,
    "pmedcap1_05": 664,
    "SJC1": 17288.99,
    "SJC2": 33270.94,
}


@dataclass(frozen=True)
class GraphInstance:
    """An OR-Library p-median instance: dense shortest-path costs, every vertex a site."""

    name: str
    costs: np.ndarray
    p: int


@dataclass(frozen=True)
class CapacitatedInstance:
    """A capacitated p-median instance: costs, p, per-site capacity, per-client demand."""

    name: str
    costs: np.ndarray
    p: int
    capacity: np.ndarray
    demand: np.ndarray
    optimum: float


def _numbers(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def read_orlib(path: Path) -> GraphInstance:
    """Read an OR-Library ``pmedK.txt`` file into all-pairs shortest-path costs.

    Each edge line sets ``c(i, j) = c(j, i)``; when a vertex pair appears again, the later
    line replaces the earlier one.
    """
    rows = _numbers(path)
    n, m, p = (int(v) for v in rows[0][:3])
    edges: dict[tuple[int, int], float] = {}
    for i, j, cost in rows[1 : m + 1]:
        a, b = int(i) - 1, int(j) - 1
        edges[(min(a, b), max(a, b))] = float(cost)  # a repeated pair keeps its last cost
    ends = np.array(list(edges.keys()), dtype=np.int64)
    graph = sp.csr_matrix((np.array(list(edges.values())), (ends[:, 0], ends[:, 1])), shape=(n, n))
    return GraphInstance(path.stem, shortest_path(graph, directed=False), p)


def read_pmedcap(path: Path) -> CapacitatedInstance:
    """Read an Osman & Christofides ``pmedcap1_0K.txt`` file (integer-truncated distances)."""
    rows = _numbers(path)
    optimum = float(rows[0][1])
    n, p, capacity = int(rows[1][0]), int(rows[1][1]), float(rows[1][2])
    table = np.array(rows[2 : 2 + n], dtype=float)
    xy, demand = table[:, 1:3], table[:, 3]
    costs = np.floor(cdist(xy, xy))
    return CapacitatedInstance(path.stem, costs, p, np.full(n, capacity), demand, optimum)


def read_sjc(path: Path) -> CapacitatedInstance:
    """Read a Lorena & Senne ``SJCK.dat`` file (real Euclidean distances)."""
    rows = _numbers(path)
    n, p = int(rows[0][0]), int(rows[0][1])
    table = np.array(rows[1 : 1 + n], dtype=float)
    xy, capacity, demand = table[:, :2], table[:, 2], table[:, 3]
    return CapacitatedInstance(
        path.stem, cdist(xy, xy), p, capacity, demand, float(OPTIMA[path.stem])
    )


@dataclass(frozen=True)
class City:
    """A synthetic city in metres: demand points with weights, candidate sites.

    ``anchors`` are sites at the cluster centres; every demand point lies within ``reach`` of
    its cluster's anchor, so opening all anchors serves everyone within ``reach``.
    """

    demand: np.ndarray
    weights: np.ndarray
    sites: np.ndarray
    anchors: np.ndarray
    reach: float
    info: dict = field(default_factory=dict)

    def sparse_costs(self, cutoff: float) -> sp.csr_matrix:
        """Straight-line distances up to ``cutoff`` (absent beyond; explicit zeros kept)."""
        tree_demand, tree_sites = cKDTree(self.demand), cKDTree(self.sites)
        coo = tree_demand.sparse_distance_matrix(tree_sites, cutoff, output_type="coo_matrix")
        return sp.csr_matrix((coo.data, (coo.row, coo.col)), shape=coo.shape)

    def dense_costs(self) -> np.ndarray:
        """All straight-line distances (demand x sites)."""
        return cdist(self.demand, self.sites)


def make_city(
    n_demand: int,
    n_sites: int,
    *,
    width: float,
    height: float,
    n_clusters: int,
    reach: float,
    seed: int = 0,
) -> City:
    """A clustered city: demand in neighbourhoods, population-like weights, sites near people.

    Parameters
    ----------
    n_demand, n_sites
        Numbers of demand points and candidate sites (anchors included).
    width, height
        Extent in metres.
    n_clusters
        Neighbourhoods; their sizes follow a heavy-tailed law, and a third of them crowd a
        downtown area, so some overlap.
    reach
        Every demand point lies within this distance of its neighbourhood's centre, where an
        anchor site stands.
    seed
        Random seed.
    """
    rng = np.random.default_rng(seed)
    downtown = np.array([width * 0.45, height * 0.5])
    n_core = n_clusters // 3
    centres = np.vstack(
        [
            downtown + rng.normal(0, min(width, height) * 0.08, (n_core, 2)),
            rng.uniform(
                [0.05 * width, 0.05 * height],
                [0.95 * width, 0.95 * height],
                (n_clusters - n_core, 2),
            ),
        ]
    )
    centres = np.clip(centres, 0, [width, height])
    share = rng.pareto(1.5, n_clusters) + 1.0
    counts = np.maximum(1, np.round(share / share.sum() * n_demand)).astype(int)
    while counts.sum() > n_demand:
        counts[np.argmax(counts)] -= 1
    while counts.sum() < n_demand:
        counts[np.argmin(counts)] += 1
    spread = rng.uniform(0.2, 0.45, n_clusters) * reach
    cluster = np.repeat(np.arange(n_clusters), counts)
    offsets = rng.normal(0, 1, (n_demand, 2)) * spread[cluster, None]
    norms = np.linalg.norm(offsets, axis=1)
    too_far = norms > 0.95 * reach
    offsets[too_far] *= (0.95 * reach / norms[too_far])[:, None]  # stay within reach
    demand = centres[cluster] + offsets
    # population per point: lognormal, denser neighbourhoods a little heavier
    weights = np.round(
        rng.lognormal(mean=4.0, sigma=0.8, size=n_demand) * (1 + 0.5 * (cluster < n_core))
    )
    weights = np.maximum(weights, 1.0)
    n_extra = n_sites - n_clusters
    near = rng.integers(0, n_clusters, int(n_extra * 0.85))
    near_sites = centres[near] + rng.normal(0, 1, (len(near), 2)) * spread[near, None] * 1.5
    far_sites = rng.uniform([0, 0], [width, height], (n_extra - len(near), 2))
    sites = np.vstack([centres, near_sites, far_sites])
    info = {"clusters": n_clusters, "width_m": width, "height_m": height}
    return City(demand, weights, sites, np.arange(n_clusters), reach, info)
