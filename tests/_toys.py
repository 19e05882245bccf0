"""Builders shared by the planner tests: toy grids and a spy on svcnet.verify."""

import geopandas as gpd
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
