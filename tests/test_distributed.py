"""svcnet on a Dask cluster: the same calls, the same results to the last bit.

A LocalCluster of two worker processes runs the tile-by-tile costs and the
block-by-block access; every result is compared with the one-machine result
with ``==`` (not a tolerance): the same sums of the same numbers in the same
order. One test kills a worker in the middle of a run.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import svcnet
from svcnet import access, indicators
from svcnet.distributed import (
    BoxIndex,
    check_memory,
    check_tile_m,
    connect,
    local_client,
    make_tiles,
    resolve_client,
)
from svcnet.errors import ClusterError, InputError

pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client():
    with local_client(2, memory_limit="3GiB") as dask_client:
        yield dask_client


@pytest.fixture(scope="module")
def futian():
    return svcnet.datasets.load_futian()


def assert_same_matrix(one: svcnet.CostMatrix, two: svcnet.CostMatrix) -> None:
    a, b = one.matrix, two.matrix
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)  # exactly, not approximately
    assert one.origin_ids.equals(two.origin_ids)
    assert one.destination_ids.equals(two.destination_ids)
    assert list(one.unreachable_origins) == list(two.unreachable_origins)
    assert list(one.unreachable_destinations) == list(two.unreachable_destinations)


# -- tiles ------------------------------------------------------------------------------
def test_every_point_is_in_exactly_one_tile_and_its_square():
    xy = np.random.default_rng(3).uniform(0, 5_000, (2_000, 2))
    tiles = make_tiles(xy, tile_m=700.0, halo_m=300.0)
    owned = np.concatenate([t.rows for t in tiles])
    assert np.array_equal(np.sort(owned), np.arange(len(xy)))
    for tile in tiles:
        assert np.all(np.diff(tile.rows) > 0)
        x0, y0, x1, y1 = tile.square
        pts = xy[tile.rows]
        assert (pts[:, 0] >= x0).all() and (pts[:, 0] <= x1).all()
        assert (pts[:, 1] >= y0).all() and (pts[:, 1] <= y1).all()
        assert tile.box == (x0 - 300.0, y0 - 300.0, x1 + 300.0, y1 + 300.0)


def test_box_index_matches_a_scan():
    xy = np.random.default_rng(4).uniform(0, 1_000, (3_000, 2))
    index = BoxIndex(xy)
    for box in [(100, 200, 400, 900), (0, 0, 1_000, 1_000), (500, 500, 500, 500), (-5, -5, -1, -1)]:
        x0, y0, x1, y1 = box
        scan = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1)
                              & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))  # fmt: skip
        assert np.array_equal(index.inside(box), scan)


def test_a_tile_smaller_than_its_halo_is_refused():
    with pytest.raises(InputError, match=r"tile_m=500 m cannot hold the 900 m halo"):
        check_tile_m(500, 900.0)
    with pytest.raises(InputError, match="positive"):
        check_tile_m(-1, 900.0)


# -- travel costs ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"weight": "travel_time", "cutoff": 15},
        {"weight": "travel_time", "cutoff": 15, "tile_m": 950},
        {"weight": "length", "cutoff": 800, "snap_to": "node"},
        {"mode": "drive", "weight": "length", "cutoff": 2_500, "direction": "from_destination"},
    ],
    ids=["walk-minutes", "small-tiles", "node-snapping", "drive-from-destination"],
)
def test_network_costs_on_the_cluster_equal_one_machine(client, futian, options):
    cells = futian.population
    sites = futian.candidates
    kwargs = {"origin_id": "cell_id", "destination_id": "candidate_id"}
    local = {k: v for k, v in options.items() if k != "tile_m"}
    one = svcnet.costs_from_graph(futian.network, cells, sites, **local, **kwargs)
    two = svcnet.costs_from_graph(futian.network, cells, sites, **options, **kwargs,
                                  client=client)  # fmt: skip
    assert one.matrix.nnz > 10_000
    assert_same_matrix(one, two)


def test_network_costs_with_the_origins_as_search_sources(client, futian):
    # fewer origins than destinations: the origins are searched from (the other branch)
    sites = futian.candidates.iloc[::3]
    cells = futian.population
    kwargs = {"origin_id": "candidate_id", "destination_id": "cell_id", "cutoff": 12,
              "weight": "travel_time"}  # fmt: skip
    one = svcnet.costs_from_graph(futian.network, sites, cells, **kwargs)
    two = svcnet.costs_from_graph(futian.network, sites, cells, **kwargs, client=client,
                                  tile_m=1_500)  # fmt: skip
    assert_same_matrix(one, two)


def test_snapping_tile_by_tile_gives_the_same_costs_and_reports(client, futian, monkeypatch):
    from svcnet.distributed import _costs

    monkeypatch.setattr(_costs, "SNAP_ON_CLUSTER_POINTS", 0)  # snap every layer on the cluster
    kwargs = {"origin_id": "cell_id", "destination_id": "candidate_id", "cutoff": 15,
              "weight": "travel_time"}  # fmt: skip
    one = svcnet.costs_from_graph(futian.network, futian.population, futian.candidates, **kwargs)
    two = svcnet.costs_from_graph(futian.network, futian.population, futian.candidates, **kwargs,
                                  client=client, tile_m=1_000)  # fmt: skip
    assert_same_matrix(one, two)
    assert len(one.unreachable) > 1_000  # cells far from any street: their distances agree
    pd.testing.assert_frame_equal(one.unreachable, two.unreachable, check_exact=True)


def test_straight_line_costs_on_the_cluster_equal_one_machine(client):
    shenzhen = svcnet.datasets.load_shenzhen()
    cells = shenzhen.demand("pop")
    sites = shenzhen.candidates
    one = svcnet.costs_from_points(cells, sites, cutoff=1_000)
    two = svcnet.costs_from_points(cells, sites, cutoff=1_000, client=client, tile_m=4_000)
    assert one.matrix.nnz > 100_000
    assert_same_matrix(one, two)
    # on the city's data: nearest, 2SFCA and the indicators by district, value for value
    pd.testing.assert_frame_equal(svcnet.costs.nearest(one, k=2), svcnet.costs.nearest(two, k=2),
                                  check_exact=True)  # fmt: skip
    supply = np.random.default_rng(9).integers(0, 300, one.shape[1]).astype(float)
    people = cells["weight"]
    ratio_one = access.two_step_fca(one, people, supply, max_cost=800)
    ratio_two = access.two_step_fca(two, people, supply, max_cost=800, client=client)
    assert np.array_equal(ratio_one, ratio_two) and ratio_one.max() > 0
    near_one, near_two = access.nearest_cost(one), access.nearest_cost(two)
    assert np.array_equal(near_one, near_two)
    district = shenzhen.population.set_index("cell_id").loc[cells["cell_id"], "district"]
    groups = pd.DataFrame({"pop": people.to_numpy()})
    tables = [
        indicators.unit_table(district.to_numpy(), groups, value=near, threshold=[500, 1_000])
        for near in (near_one, near_two)
    ]
    pd.testing.assert_frame_equal(*tables, check_exact=True)
    assert tables[0].loc["total", "pop"] == people.sum() and len(tables[0]) > 5


def test_a_cluster_needs_a_cutoff(client, futian):
    cells = futian.population.iloc[:50]
    with pytest.raises(InputError, match="client= needs a cutoff"):
        svcnet.costs_from_points(cells, futian.candidates, client=client)


def test_a_client_of_the_wrong_kind_is_named():
    with pytest.raises(InputError, match="client must be a dask.distributed.Client"):
        resolve_client(42)


# -- access, nearest and indicators -----------------------------------------------------
@pytest.fixture(scope="module")
def walk_costs(futian):
    return svcnet.costs_from_graph(
        futian.network, futian.population, futian.candidates, weight="travel_time",
        cutoff=15, origin_id="cell_id", destination_id="candidate_id",
    )  # fmt: skip


def test_two_step_fca_on_the_cluster_equals_one_machine(client, futian, walk_costs):
    people = futian.population
    groups = people[["pop", "pop_60plus"]]
    supply = np.random.default_rng(5).integers(0, 200, walk_costs.shape[1]).astype(float)
    one = access.two_step_fca(walk_costs, groups, supply, max_cost=10)
    two = access.two_step_fca(walk_costs, groups, supply, max_cost=10, client=client)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    flat_one = access.two_step_fca(walk_costs, people["pop"], supply, max_cost=15)
    flat_two = access.two_step_fca(walk_costs, people["pop"], supply, max_cost=15,
                                   client=client)  # fmt: skip
    assert np.array_equal(flat_one, flat_two)
    steps = [(5, 1.0), (10, 0.68), (15, 0.22)]
    e_one = access.enhanced_two_step_fca(walk_costs, people["pop"], supply, weights=steps)
    e_two = access.enhanced_two_step_fca(walk_costs, people["pop"], supply, weights=steps,
                                         client=client)  # fmt: skip
    assert np.array_equal(e_one, e_two)
    decay = access.exponential_decay(0.2)
    g_one = access.gravity(walk_costs, people["pop"], supply, decay=decay)
    g_two = access.gravity(walk_costs, people["pop"], supply, decay=decay, client=client)
    assert np.array_equal(g_one, g_two)
    assert np.isfinite(flat_one).all() and flat_one.max() > 0


def test_nearest_and_indicators_from_cluster_costs_equal_one_machine(client, futian, walk_costs):
    cluster_costs = svcnet.costs_from_graph(
        futian.network, futian.population, futian.candidates, weight="travel_time",
        cutoff=15, origin_id="cell_id", destination_id="candidate_id", client=client,
    )  # fmt: skip
    pd.testing.assert_frame_equal(
        svcnet.costs.nearest(walk_costs, k=3),
        svcnet.costs.nearest(cluster_costs, k=3),
        check_exact=True,
    )
    near_one = access.nearest_cost(walk_costs)
    near_two = access.nearest_cost(cluster_costs)
    assert np.array_equal(near_one, near_two)
    people = futian.population
    west = people.geometry.centroid.x < people.geometry.centroid.x.median()
    units = np.where(west, "west", "east")
    tables = [
        indicators.unit_table(
            units, people[["pop", "pop_60plus"]], value=near, threshold=[5, 10, 15]
        )  # fmt: skip
        for near in (near_one, near_two)
    ]
    pd.testing.assert_frame_equal(*tables, check_exact=True)
    assert tables[0].loc["total", "pop"] == people["pop"].sum()


# -- failures -----------------------------------------------------------------------------
def test_a_worker_killed_mid_run_changes_nothing(client, futian, walk_costs):
    cells, sites = futian.population, futian.candidates
    before = set(client.scheduler_info()["workers"])

    def kill_one_worker():
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:  # kill a worker while it runs a tile
            busy = [w for w, keys in client.processing().items()
                    if any("tile_network_costs" in str(k) for k in keys)]  # fmt: skip
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)  # no goodbye: the process is gone
                killed_at.append(time.perf_counter())
                return
            time.sleep(0.02)

    killed_at: list[float] = []
    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    again = svcnet.costs_from_graph(
        futian.network, cells, sites, weight="travel_time", cutoff=15, origin_id="cell_id",
        destination_id="candidate_id", client=client, tile_m=950, batch_size=4,
    )  # fmt: skip
    finished = time.perf_counter()
    killer.join()
    assert killed_at and killed_at[0] < finished, "no worker was killed during the run"
    client.wait_for_workers(2, timeout=60)
    assert set(client.scheduler_info()["workers"]) != before  # the nanny started a new one
    assert_same_matrix(walk_costs, again)


def test_a_scheduler_that_does_not_answer_is_named_within_the_timeout():
    start = time.perf_counter()
    with pytest.raises(ClusterError, match=r"tcp://127\.0\.0\.1:9 did not answer within 2 s"):
        connect("tcp://127.0.0.1:9", timeout=2)
    assert time.perf_counter() - start < 15


def test_work_that_does_not_fit_a_worker_is_refused_before_it_starts(client):
    with pytest.raises(ClusterError, match=r"one tile need about 64\.0 GB.*tile_m="):
        check_memory(client, 64e9, "the costs of one tile")
    check_memory(client, 1e6, "the costs of one tile")  # fits: no error


def test_results_are_not_changed_by_the_inputs_order_of_blocks(client):
    # a random sparse matrix: step 1 by blocks of sites sums in the one-machine order
    rng = np.random.default_rng(7)
    matrix = sparse.random(3_000, 400, density=0.02, random_state=rng, format="csr")
    matrix.data = matrix.data * 30
    demand = rng.uniform(0, 500, 3_000)
    supply = rng.uniform(0, 50, 400)
    one = access.two_step_fca(matrix, demand, supply, max_cost=20)
    two = access.two_step_fca(matrix, demand, supply, max_cost=20, client=client)
    assert np.array_equal(one, two)


# -- population grids --------------------------------------------------------------------
def test_dasymetric_grid_on_the_cluster_equals_one_machine(client):
    shenzhen = svcnet.datasets.load_shenzhen()
    districts = shenzhen.boundaries["district"]
    counts = ["pop_0_14", "pop_60plus"]
    kwargs = {"unit_id": "district", "weight": "floor_area_m2", "cell_size": 500.0}
    one = svcnet.demand.dasymetric_grid(districts, counts, shenzhen.candidates, **kwargs)
    two = svcnet.demand.dasymetric_grid(districts, counts, shenzhen.candidates, **kwargs,
                                        client=client)  # fmt: skip
    assert len(one) > 5_000 and one["cell_id"].str.contains("-").any()  # split cells named
    pd.testing.assert_frame_equal(one.drop(columns="geometry"), two.drop(columns="geometry"),
                                  check_exact=True)  # fmt: skip
    assert one.geometry.geom_equals_exact(two.geometry, tolerance=0).all()
    assert one.crs == two.crs
    totals = one.groupby("district")[counts].sum()
    census = districts.set_index("district")[counts].loc[totals.index]
    assert (totals.to_numpy() == census.to_numpy()).all()  # to the person


# -- location models -----------------------------------------------------------------------
def _blocks(seeds, penalty):
    """Independent bounded instances side by side (one model, several parts)."""
    from test_models_bounded import _instance, brute_force

    parts = [_instance(seed) for seed in seeds]
    n = sum(p[0].shape[0] for p in parts)
    m = sum(p[0].shape[1] for p in parts)
    costs = np.full((n, m), np.inf)
    r = c = 0
    for block, *_ in parts:
        costs[r : r + block.shape[0], c : c + block.shape[1]] = block
        r, c = r + block.shape[0], c + block.shape[1]
    weights, loads, low, cap = (np.concatenate([p[i] for p in parts]) for i in range(1, 5))
    optimum = sum(brute_force(*p, penalty=penalty) for p in parts)
    model = svcnet.models.PMedian.from_cost_matrix(
        costs, weights, p=None, capacity=cap, min_load=low, loads=loads, unserved_penalty=penalty
    )
    return model, optimum


def test_a_bounded_model_on_the_cluster_is_solved_part_by_part_to_the_optimum(client):
    model, optimum = _blocks(range(7, 13), penalty=4.0)
    solution = model.solve(client=client)
    svcnet.verify(solution, model)
    assert solution.objective == pytest.approx(optimum, rel=1e-9)
    assert solution.gap == 0 and solution.status == "optimal"
    assert solution.details["parts"] >= 4 and solution.details["cluster_slots"] == 2


def test_a_part_too_large_for_one_worker_is_tiled_with_a_bound_for_the_whole(client, monkeypatch):
    from test_models_bounded import _moderate

    from svcnet.distributed import _bounded

    model = _moderate(3, n=90, m=20, cutoff=3.5, penalty=6.0)
    exact = model.solve(method="exact")
    assert exact.status == "optimal"
    monkeypatch.setattr(_bounded, "GIANT_PAIRS", 100)  # decided here, on the driver
    monkeypatch.setattr(_bounded, "TILE_PAIRS", 300)
    start = time.perf_counter()
    tiled = model.solve(client=client, time_limit=10, seed=1)
    assert time.perf_counter() - start < 25
    svcnet.verify(tiled, model)
    assert "tiles on the cluster" in tiled.method and tiled.details["tiles"] >= 2
    assert tiled.bound <= exact.objective * (1 + 1e-9)  # a bound of the whole model
    assert exact.objective <= tiled.objective * (1 + 1e-9)
    assert tiled.gap == pytest.approx((tiled.objective - tiled.bound) / tiled.objective)


def test_other_models_solve_here_and_say_so(client, caplog):
    rng = np.random.default_rng(11)
    costs = rng.uniform(1, 10, (30, 8))
    model = svcnet.models.PMedian.from_cost_matrix(costs, np.ones(30), p=3)
    with caplog.at_level("WARNING"):
        there = model.solve(client=client)
    assert "solves in this process" in caplog.text
    assert there.objective == model.solve().objective
