"""The cell-site network of the solving steps: pairs within reach as a flow network in residents.

Maximum flow (step 1 and the situation before), connected components, and
closing open sites whose people fit elsewhere; shared by steps 2 and 3, with
the MILPs' scale (:data:`LP_SCALE`) and the deadline helper.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

LP_SCALE = 1_000.0  # step 2: residents and room in thousands inside the MILP


def remaining(deadline: float) -> float:
    return max(deadline - time.perf_counter(), 0.5)


@dataclass(frozen=True, eq=False)
class Network:
    """Cells (rows) and sites with the pairs within reach: a flow network in residents."""

    rows: np.ndarray  # row of each pair
    cols: np.ndarray  # site of each pair
    minutes: np.ndarray  # walk of each pair
    residents: np.ndarray  # residents of each row (whole people)
    room: np.ndarray  # residents each site has room for (whole people)

    @classmethod
    def build(cls, matrix: sp.csr_matrix, residents: np.ndarray, room: np.ndarray) -> Network:
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        return cls(
            rows,
            matrix.indices.astype(np.int64),
            matrix.data.astype(float),
            np.asarray(residents, np.int64),
            np.asarray(room, np.int64),
        )

    def flow(self, is_open: np.ndarray, pairs: np.ndarray | None = None):
        """Most residents the open sites take over ``pairs`` (cells split freely).

        Returns the total, and the flow per row and per pair (whole people).
        """
        from scipy.sparse.csgraph import maximum_flow

        from svcnet.models._base import pair_costs

        keep = is_open[self.cols] if pairs is None else (is_open[self.cols] & pairs)
        per_row = np.zeros(len(self.residents), dtype=np.int64)
        per_pair = np.zeros(len(self.rows), dtype=np.int64)
        if not keep.any():
            return 0, per_row, per_pair
        r, c = self.rows[keep], self.cols[keep]
        ur, ri = np.unique(r, return_inverse=True)
        uc, ci = np.unique(c, return_inverse=True)
        nr, nc = len(ur), len(uc)
        sink = nr + nc + 1
        src = np.concatenate([np.zeros(nr, np.int64), 1 + ri, 1 + nr + np.arange(nc)])
        dst = np.concatenate([1 + np.arange(nr), 1 + nr + ci, np.full(nc, sink)])
        cap = np.concatenate([self.residents[ur], self.residents[r], self.room[uc]])
        graph = sp.csr_matrix((cap.astype(np.int32), (src, dst)), shape=(sink + 1, sink + 1))
        result = maximum_flow(graph, 0, sink, method="dinic")
        flow = result.flow.tocsr()
        per_row[ur] = np.asarray(flow[0, 1 : nr + 1].toarray()).ravel()
        values = pair_costs(flow, 1 + ri, 1 + nr + ci)
        per_pair[keep] = np.nan_to_num(values, nan=0.0).astype(np.int64)
        return int(result.flow_value), np.maximum(per_row, 0), np.maximum(per_pair, 0)


def most_sheltered(network: Network, is_open: np.ndarray, part: str):
    """Step 1 (and the situation before): the most residents the open sites can shelter.

    Returns the residents sheltered per row and per pair (whole people) and the record.
    """
    started = time.perf_counter()
    total, per_row, per_pair = network.flow(is_open)
    record = {
        "part": part,
        "model": "max flow",
        "status": "optimal",
        "objective": float(total),
        "bound": float(total),
        "gap": 0.0,
        "seconds": time.perf_counter() - started,
        "method": "dinic",
        "unit": "residents",
        "sites": int(is_open.sum()),
    }
    return per_row, per_pair, record


def components(n: int, m: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Connected component of each row in the cell-site graph."""
    from scipy.sparse.csgraph import connected_components

    graph = sp.csr_matrix((np.ones(len(rows)), (rows, n + cols)), shape=(n + m, n + m))
    _, label = connected_components(graph, directed=False)
    return label[:n]


def close_spare(network, pairs, is_open, drop, target: int, deadline: float) -> None:
    """Close the sites of ``drop`` (in order) that the others can do without, in place.

    First by moving their people to room nearby (:func:`_drop_nearby`), then,
    for the rest, by a maximum flow without the site, while time lasts.
    """
    stuck = _drop_nearby(network, pairs, is_open, drop)
    for j in stuck:
        if time.perf_counter() > deadline:
            break
        is_open[j] = False
        if network.flow(is_open, pairs)[0] < target:
            is_open[j] = True


def _drop_nearby(network: Network, pairs: np.ndarray, is_open: np.ndarray, drop) -> list[int]:
    """Close the sites of ``drop`` (in order) whose people fit in other open sites in reach.

    Each site's current flow (a maximum flow of the open sites) is moved to
    the room left in the other open sites its cells reach, nearest first; a
    site closes when all of it moves. This never loses anyone (the flow stays
    a flow) but misses closures that need longer chains of moves: those sites
    are returned for the exact check. ``is_open`` is updated in place.
    """
    _, _, flow = network.flow(is_open, pairs)
    rows, cols, minutes = network.rows, network.cols, network.minutes
    left = network.room - np.bincount(cols, flow, minlength=len(network.room))
    starts = np.searchsorted(rows, np.arange(len(network.residents) + 1))  # pairs sorted by row
    by_site = np.argsort(cols, kind="stable")
    site_start = np.searchsorted(cols[by_site], np.arange(len(network.room) + 1))
    stuck = []
    for j in drop:
        mine = by_site[site_start[j] : site_start[j + 1]]
        mine = mine[flow[mine] > 0]
        moves: list[tuple[int, int]] = []
        ok = True
        for pair in mine:
            need = int(flow[pair])
            i = rows[pair]
            options = np.arange(starts[i], starts[i + 1])
            options = options[pairs[options] & is_open[cols[options]] & (cols[options] != j)]
            for other in options[np.argsort(minutes[options], kind="stable")]:
                take = min(need, int(left[cols[other]]))
                if take > 0:
                    moves.append((int(other), take))
                    left[cols[other]] -= take
                    need -= take
                if not need:
                    break
            if need:
                ok = False
                break
        if ok:
            for other, take in moves:
                flow[other] += take
            left[j] += int(flow[mine].sum())
            flow[mine] = 0
            is_open[j] = False
        else:
            for other, take in moves:
                left[cols[other]] += take
            stuck.append(j)
    return stuck
