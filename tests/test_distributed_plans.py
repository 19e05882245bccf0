"""Plans on a Dask cluster: the same plans as on one machine, and scenarios with a scheduler.

The cluster is a LocalCluster of two worker processes (spawned: the tasks are
module-level functions of svcnet, never functions of this file).
"""

import inspect
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _toys import UTM50, check_center_plan, check_charity_plan, count_verify_calls
from shapely.geometry import Point, box

import svcnet
from svcnet import Region, cli
from svcnet.cli import main
from svcnet.distributed import local_client
from svcnet.scenario import ScenarioError, load_scenario
from svcnet.services import _charity_points, _charity_walks, centers, plan_centers

pytest.importorskip("dask.distributed")

DEAD = "tcp://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture(scope="module")
def client():
    client = local_client(2, memory_limit="3GiB")
    yield client
    client.close()  # and its cluster


# =========================================================================================
# regions: a toy of two districts (straight lines) and a piece of Futian (street network)
# =========================================================================================
def _toy() -> Region:
    """Two districts of 35,000 and 36,000 people in rows of cells, three candidates each."""
    spec = [(x, 5_000, "w") for x in range(0, 700, 100)]
    spec += [(x, 6_000, "e") for x in range(2_000, 2_600, 100)]
    cells = gpd.GeoDataFrame(
        {"cell_id": [f"c{i}" for i in range(len(spec))], "district": [d for *_, d in spec],
         "pop": [p for _, p, _ in spec]},
        geometry=[box(x, 0, x + 100, 100) for x, _, _ in spec], crs=UTM50,
    )  # fmt: skip
    districts = gpd.GeoDataFrame(
        {"district": ["w", "e"]}, geometry=[box(-50, -50, 1_000, 150), box(1_000, -50, 3_000, 150)],
        crs=UTM50,
    )  # fmt: skip
    xs = [50, 350, 650, 2_050, 2_250, 2_450]
    candidates = gpd.GeoDataFrame(
        {"candidate_id": [f"k{i}" for i in range(len(xs))], "name": [f"site {x}" for x in xs]},
        geometry=[Point(x, 50) for x in xs], crs=UTM50,
    )  # fmt: skip
    return Region(cells, boundaries={"district": districts}, candidates=candidates, name="toy")


def _futian_part() -> Region:
    """2 km x 1 km of Futian (90,000 people), cut into two made-up districts, on its streets."""
    futian = svcnet.datasets.load_futian()
    x0, y0, width, height = 195_000, 2_493_000, 2_000, 1_000
    window = box(x0, y0, x0 + width, y0 + height)
    grid = futian.population
    cells = grid[grid.centroid.within(window)].copy()
    middle = x0 + width / 2
    cells["district"] = np.where(cells.centroid.x < middle, "west", "east")
    districts = gpd.GeoDataFrame(
        {"district": ["west", "east"]},
        geometry=[box(x0, y0, middle, y0 + height), box(middle, y0, x0 + width, y0 + height)],
        crs=futian.crs,
    )  # fmt: skip
    return Region(
        cells, boundaries={"district": districts},
        candidates=futian.candidates[futian.candidates.within(window)],
        facilities=futian.facilities[futian.facilities.within(window)],
        network=futian.network, name="Futian part",
    )  # fmt: skip


REGIONS = {"toy": _toy, "futian": _futian_part}


@pytest.fixture(scope="module", params=list(REGIONS))
def plans(request, client):
    """The region's plan here and on the cluster, both solved to proven optimality."""
    region = REGIONS[request.param]()
    here = plan_centers(region, time_limit=120, mip_gap=0.0)
    with pytest.MonkeyPatch.context() as patch:
        verified = count_verify_calls(patch, centers)
        there = plan_centers(region, time_limit=120, mip_gap=0.0, client=client)
    return region, here, there, verified


# =========================================================================================
# plan_centers with a client
# =========================================================================================
def test_a_plan_on_the_cluster_is_the_plan_made_here(plans):
    region, here, there, verified = plans
    for plan in (here, there):
        check_center_plan(plan, region.population["pop"].sum())
        assert [r["part"] for r in plan.solver][-1] == "total"
        assert all(r["gap"] == 0.0 for r in plan.solver if "gap" in r)
        assert plan.solver_gap == 0.0
    assert there.sites["site_id"].tolist() == here.sites["site_id"].tolist()
    pd.testing.assert_frame_equal(there.assignment, here.assignment)  # minutes too, exactly
    pd.testing.assert_frame_equal(there.sites.drop(columns="geometry"),
                                  here.sites.drop(columns="geometry"))  # fmt: skip
    assert there.parameters == here.parameters
    # every unit was solved on a worker and checked here, once
    units = [r for r in there.solver if r["part"] != "total" and "objective" in r]
    assert verified == ["PMedian"] * len(units) and len(units) == 2
    assert any(n.startswith("Solved on a Dask cluster (2 task slots): 2 parts")
               for n in there.notes)  # fmt: skip
    assert not any("Dask" in n for n in here.notes)


def test_the_total_bound_is_the_sum_of_the_units_and_below_the_objective(plans):
    _, _, there, _ = plans
    *units, total = there.solver
    assert total["part"] == "total"
    solved = [r for r in units if "objective" in r]
    assert total["bound"] == pytest.approx(sum(r["bound"] for r in solved))
    assert total["objective"] == pytest.approx(sum(r["objective"] for r in solved))
    assert total["bound"] <= total["objective"] + 1e-9 * total["objective"]
    assert total["objective"] - total["bound"] <= total["gap"] * total["objective"] + 1e-6
    for record in solved:
        assert record["bound"] <= record["objective"] + 1e-9 * record["objective"]


def test_each_unit_gets_its_share_of_the_time_times_the_workers(client, monkeypatch):
    sent = []
    real = centers.run_tasks

    def spy(dask_client, function, arguments, **kwargs):
        sent.extend(arguments)
        return real(dask_client, function, arguments, **kwargs)

    monkeypatch.setattr(centers, "run_tasks", spy)
    region = _toy()
    plan = plan_centers(region, time_limit=10, mip_gap=0.0, seed=7, client=client)
    assert plan.solver_gap == 0.0
    assert len(sent) == 2
    pairs = [args[0].nnz for args in sent]
    limits = [args[6] for args in sent]
    assert [args[8] for args in sent] == [7, 7]  # the same seed for every unit
    expected = [min(10.0, max(10.0 * 2 * n / sum(pairs), 1.0)) for n in pairs]
    assert limits == pytest.approx(expected)
    assert sum(limits) / 2 <= 10.0 + 1e-9
    assert centers._unit_time_limits(["a", "b"], {"a": 1, "b": 3}, 8.0, 4) == {"a": 8.0, "b": 8.0}


def test_a_bad_client_is_refused():
    with pytest.raises(svcnet.errors.InputError, match="client must be a dask.distributed.Client"):
        plan_centers(_toy(), client=42)


# =========================================================================================
# scenarios and the command line
# =========================================================================================
@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A scenario of two districts of 4,000 people in four cells each, on straight lines."""
    folder = tmp_path_factory.mktemp("tiny")
    xs = [0, 100, 200, 300, 1_000, 1_100, 1_200, 1_300]
    gpd.GeoDataFrame(
        {"cell_id": [f"g{i}" for i in range(len(xs))], "pop": [1_000] * len(xs),
         "district": ["w"] * 4 + ["e"] * 4},
        geometry=[box(x, 0, x + 100, 100) for x in xs], crs=UTM50,
    ).to_file(folder / "grid.gpkg")  # fmt: skip
    gpd.GeoDataFrame(
        {"district": ["w", "e"]}, geometry=[box(-50, -50, 650, 150), box(650, -50, 1_500, 150)],
        crs=UTM50,
    ).to_file(folder / "districts.gpkg")  # fmt: skip
    gpd.GeoDataFrame(
        {"candidate_id": ["s1", "s2", "s3"]},
        geometry=[Point(150, 50), Point(1_050, 50), Point(1_250, 50)], crs=UTM50,
    ).to_file(folder / "sites.gpkg")  # fmt: skip
    (folder / "tiny.yaml").write_text(textwrap.dedent("""
        name: Tiny
        region:
          population: grid.gpkg
          boundaries: {district: districts.gpkg}
          candidates: sites.gpkg
        services:
          centers: {people_per_center: [1500, 3000], time_limit: 30, mip_gap: 0}
        outputs: {report: false}
    """).lstrip())  # fmt: skip
    return folder / "tiny.yaml"


def _with_scheduler(scenario: Path, scheduler: str, name: str) -> Path:
    path = scenario.parent / name
    path.write_text(scenario.read_text() + f"scheduler: {scheduler}\n")
    return path


def test_a_scenario_runs_on_the_scheduler_given(client, tiny, tmp_path, capsys):
    address = client.scheduler.address
    assert main(["--quiet", "plan", str(tiny), "--out", str(tmp_path / "here")]) == 0
    capsys.readouterr()
    args = ["--quiet", "plan", str(tiny), "--out", str(tmp_path / "there"), "--scheduler", address]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"Tiny: planning centers on the Dask cluster at {address}" in printed
    assert "Dask dashboard: http://" in printed
    assert "Solved on a Dask cluster (2 task slots): 2 parts" in printed
    name = "centers/community_service_centers_sites.csv"
    here, there = pd.read_csv(tmp_path / "here" / name), pd.read_csv(tmp_path / "there" / name)
    assert sorted(there["site_id"]) == ["s1", "s2", "s3"]
    pd.testing.assert_frame_equal(there, here)
    name = "centers/community_service_centers_assignment.csv"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "there" / name),
                                  pd.read_csv(tmp_path / "here" / name))  # fmt: skip
    assert len(client.scheduler_info()["workers"]) == 2  # the fixture's cluster is still up


def test_the_option_overrides_the_scenarios_scheduler(client, tiny, tmp_path, capsys):
    path = _with_scheduler(tiny, DEAD, "dead.yaml")
    assert load_scenario(path).scheduler == DEAD
    address = client.scheduler.address
    args = ["--quiet", "plan", str(path), "--out", str(tmp_path), "--scheduler", address]
    assert main(args) == 0
    assert "Solved on a Dask cluster" in capsys.readouterr().out


def test_a_scheduler_that_does_not_answer_is_a_one_line_error(tiny, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "svcnet.cli", "--quiet", "plan", str(tiny), "--out",
               str(out), "--scheduler", DEAD]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.perf_counter() - started
    assert done.returncode == 2
    assert elapsed < 15, elapsed
    assert done.stderr.startswith("svcnet: error: the Dask scheduler at tcp://127.0.0.1:9 ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not out.exists()  # stopped before any work


def test_the_scheduler_key_is_checked_and_client_is_not_a_parameter(tiny):
    path = _with_scheduler(tiny, "8786", "number.yaml")
    with pytest.raises(ScenarioError, match=r"line 9: scheduler must be the address of a Dask"):
        load_scenario(path)
    path = tiny.parent / "client.yaml"
    path.write_text(tiny.read_text().replace("mip_gap: 0}", f"mip_gap: 0, client: {DEAD}}}"))
    with pytest.raises(ScenarioError, match="line 7: service 'centers': the Dask cluster is"):
        load_scenario(path)
    assert load_scenario(tiny).scheduler is None


@pytest.mark.parametrize("command", ["plan", "demo"])
def test_the_help_names_the_scheduler_option(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "--scheduler ADDRESS" in text and "Dask" in text


# =========================================================================================
# the bundled city, district by district on the workers
# =========================================================================================
def _total(plan: svcnet.Plan) -> dict:
    return next(r for r in plan.solver if r["part"] == "total")


def test_shenzhen_on_the_cluster_agrees_with_one_machine_within_the_bounds(client):
    shenzhen = svcnet.datasets.load_shenzhen()
    here = plan_centers(shenzhen, existing=False, time_limit=30)
    there = plan_centers(shenzhen, existing=False, time_limit=30, client=client)
    one, two = _total(here), _total(there)
    # each plan's bound is a bound for the other: no plan lies below either
    assert one["bound"] <= two["objective"] * (1 + 1e-9)
    assert two["bound"] <= one["objective"] * (1 + 1e-9)
    assert two["gap"] == pytest.approx((two["objective"] - two["bound"]) / two["objective"])
    assert np.isfinite(two["gap"]) and 0 <= two["gap"] < 1
    check_center_plan(there, float(shenzhen.population["pop"].sum()))


def test_the_bed_planners_take_a_client_and_give_the_same_plan(client):
    region = _futian_part()
    kwargs = {"time_limit": 60, "seed": 0, "total_beds": 100}
    here = svcnet.plan_child_welfare(region, **kwargs)  # the eldercare machinery
    there = svcnet.plan_child_welfare(region, **kwargs, client=client)
    assert here.solver_gap <= 1e-3 and there.solver_gap <= 1e-3  # solved: no time-limit luck
    pd.testing.assert_frame_equal(here.assignment, there.assignment, check_exact=True)
    pd.testing.assert_frame_equal(pd.DataFrame(here.sites.drop(columns="geometry")),
                                  pd.DataFrame(there.sites.drop(columns="geometry")))  # fmt: skip
    assert "client" in inspect.signature(svcnet.plan_shelters).parameters


# =========================================================================================
# plan_charity with a client
# =========================================================================================
def _walk_clients(monkeypatch) -> list:
    """Spy on the charity planner's walks: the ``client`` each computation was given."""
    clients = []
    real = _charity_walks.travel_minutes

    def spy(*args, client=None, **kwargs):
        clients.append(client)
        return real(*args, client=client, **kwargs)

    for module in (_charity_walks, _charity_points):  # level and nearest walks; per-unit walks
        monkeypatch.setattr(module, "travel_minutes", spy)
    return clients


@pytest.mark.parametrize("name", list(REGIONS))
def test_the_charity_plan_on_the_cluster_is_the_plan_made_here(client, name, monkeypatch):
    region = REGIONS[name]()
    verified = count_verify_calls(monkeypatch, _charity_points)
    here = svcnet.plan_charity(region)
    solved_here = len(verified)
    clients = _walk_clients(monkeypatch)
    there = svcnet.plan_charity(region, client=client)
    for plan in (here, there):
        check_charity_plan(plan, region)
    columns = ["site_id", "location_id", "status"]
    assert there.sites[columns].values.tolist() == here.sites[columns].values.tolist()
    minutes = [c for c in here.assignment.columns if c.startswith("minutes")]
    assert {"minutes", "minutes_before", "minutes_nearest", "minutes_district"} <= set(minutes)
    for column in minutes:  # bit for bit, no tolerance
        assert np.array_equal(there.assignment[column], here.assignment[column]), column
    pd.testing.assert_frame_equal(there.assignment, here.assignment, check_exact=True)
    assert there.notes == here.notes
    timeless = [[{k: v for k, v in r.items() if k != "seconds"} for r in p.solver]
                for p in (here, there)]  # fmt: skip
    assert timeless[0] == timeless[1]
    # a walk per level and one to every point on the cluster; the per-unit walks here
    on_cluster = [client] * (len(there.parameters["levels"]) + 1)
    assert [c for c in clients if c is not None] == on_cluster
    assert None in clients
    assert clients[-len(on_cluster) :] == on_cluster
    assert solved_here > 0 and len(verified) == 2 * solved_here  # 1-medians here, checked


def test_the_charity_planner_refuses_a_bad_client_before_any_walk(monkeypatch):
    clients = _walk_clients(monkeypatch)
    with pytest.raises(svcnet.errors.InputError, match="client must be a dask.distributed.Client"):
        svcnet.plan_charity(_toy(), client=42)
    assert clients == []


# =========================================================================================
# svcnet demo --scheduler
# =========================================================================================
def test_the_demo_reaches_a_scheduler_that_does_not_answer_first(tmp_path):
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "svcnet.cli", "--quiet", "demo", "--out", str(out),
               "--scheduler", DEAD]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.perf_counter() - started
    assert done.returncode == 2
    assert elapsed < 15, elapsed
    assert done.stderr.startswith(f"svcnet: error: the Dask scheduler at {DEAD} ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not out.exists()  # stopped before any work


@pytest.fixture
def demo_calls(monkeypatch) -> list:
    """The demo on a toy region with a made-up planner (recording its keywords), no files."""
    calls = []

    def planner(region, *, time_limit, **extra):
        client = extra.get("client")
        calls.append((sorted(extra), client, None if client is None else client.scheduler.address))

    monkeypatch.setattr(svcnet.datasets, "load_futian", _toy)
    monkeypatch.setattr(svcnet.datasets, "load_shenzhen", _toy)
    monkeypatch.setattr(cli, "_demo_plans", lambda region, time_limit: [("first", planner, 1.0)])
    monkeypatch.setattr(cli, "_region_outputs", lambda region, out: [])
    monkeypatch.setattr(cli, "_plan_outputs", lambda region, name, plan, out: [])
    return calls


def test_every_planner_of_the_demo_takes_a_client():
    for region in (_toy(), svcnet.datasets.load_futian()):
        for name, planner, _ in cli._demo_plans(region, 1.0):
            assert "client" in inspect.signature(planner).parameters, name


def test_the_demo_passes_the_client_to_its_planners(client, demo_calls, tmp_path, capsys):
    address = client.scheduler.address
    assert main(["--quiet", "demo", "--out", str(tmp_path), "--scheduler", address]) == 0
    printed = capsys.readouterr().out
    assert f"svcnet demo: planning on the Dask cluster at {address}" in printed
    assert [keywords for keywords, *_ in demo_calls] == [["client"]] * 2  # both regions
    assert all(at == address for *_, at in demo_calls)
    assert all(c.status == "closed" for _, c, _ in demo_calls)  # the demo's own connection
    assert len(client.scheduler_info()["workers"]) == 2  # the fixture's cluster is still up


def test_without_a_scheduler_the_demo_passes_no_client(demo_calls, tmp_path, capsys):
    assert main(["--quiet", "demo", "--out", str(tmp_path)]) == 0
    assert "Dask" not in capsys.readouterr().out
    assert demo_calls == [([], None, None)] * 2
