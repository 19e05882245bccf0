"""Builders shared by the planner tests: toy grids, a spy on svcnet.verify, plan checks."""

import geopandas as gpd
import pytest
from shapely.geometry import box

UTM50 = "EPSG:32650"


def grid(rows):
    """Cells from (id, column, row, pop): 100 m squares, column/row in cell units."""
    return gpd.GeoDataFrame(
        {"cell_id": [r[0] for r in rows], "pop": [r[3] for r in rows]},
        geometry=[box(100 * c, 100 * r, 100 * c + 100, 100 * r + 100) for _, c, r, _ in rows],
        crs=UTM50,
    )


def count_verify_calls(monkeypatch, module):
    """Route ``module.verify`` through a spy; returns the list of verified models."""
    calls = []
    real = module.verify

    def counting(solution, model):
        calls.append(solution.model)
        return real(solution, model)

    monkeypatch.setattr(module, "verify", counting)
    return calls


def check_center_plan(plan, people: float, low: float = 15_000, high: float = 20_000) -> None:
    """A center plan keeps its bounds, its sums and its ranks (``people``: the region's)."""
    sites = plan.sites
    new = sites[sites["status"] == "new"]
    assert new["population_served"].between(low, high).all()
    assert (sites["population_served"] <= high).all()
    served = plan.assignment.dropna(subset=["site_id"])
    by_site = served.groupby("site_id")["pop"].sum()
    assert by_site.reindex(sites["site_id"]).tolist() == sites["population_served"].tolist()
    total = sites["population_served"].sum() + plan.unserved["pop"].sum()
    assert abs(total - people) <= 1e-6 * max(people, 1.0)
    assert new["rank"].tolist() == list(range(1, len(new) + 1))
    assert all(r.startswith(("serves", "existing center")) for r in sites["reason"])
    assert (sites["area_pieces"] >= 1).all()


def check_charity_plan(plan, region, group: str = "pop") -> None:
    """What every charity plan must hold: one point per unit and level, every cell assigned."""
    sites = plan.sites
    assert sites["site_id"].is_unique
    # every unit of every planned level has exactly one point
    for record in plan.solver:
        if record["status"] == "skipped":
            assert record["level"] not in set(sites["level"])
            continue
        level = record["level"]
        assert (sites["level"] == level).sum() == record["units"]
    # each cell goes to the point of its lowest-level unit
    lowest = plan.unit_level
    assignment = plan.assignment
    assert (assignment["site_id"] == lowest + ":" + assignment["unit"]).all()
    assert set(assignment["site_id"]) <= set(sites["site_id"])
    total = float(region.population[group].sum())
    assert plan.unserved.empty
    for level in set(sites["level"]):
        assert sites[sites["level"] == level]["population_served"].sum() == pytest.approx(total)
    assert sites["capacity"].isna().all()
    assert set(sites["status"]) <= {"existing", "new"}
    existing = sites["status"] == "existing"
    assert sites.loc[existing, "kind"].isin(["post_office", "telecom"]).all()
    assert sites["reason"].str.contains(" point of ").all()
