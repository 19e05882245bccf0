"""Foundation benchmarks: svcnet against peer libraries, one table in one run.

    pip install -e ".[bench]" && python benchmarks/bench_foundation.py

Rows:
- GCJ-02 <-> WGS84 on 100,000 Shenzhen points: svcnet.crs (vectorised numpy) against
  eviltransform (the PyPI package, one point at a time), with the largest disagreement in metres.
- Census by district to a 250 m grid by areal weighting: svcnet.demand.dasymetric_grid with
  completeness 0 (plain area weights) against tobler.area_weighted.area_interpolate (PySAL),
  with the largest per-cell disagreement in people.
- Loading the bundled regions.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from pyproj import Geod

import svcnet
from svcnet.crs import gcj02_to_wgs84, wgs84_to_gcj02
from svcnet.demand import dasymetric_grid, square_grid

GEOD = Geod(ellps="WGS84")


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - start


def metres(lon1, lat1, lon2, lat2) -> float:
    return float(np.max(GEOD.inv(lon1, lat1, lon2, lat2)[2]))


def bench_datum(n: int = 100_000) -> list[dict]:
    import eviltransform

    rng = np.random.default_rng(0)
    lon = rng.uniform(113.75, 114.62, n)
    lat = rng.uniform(22.40, 22.86, n)

    def evil_forward():
        pairs = [eviltransform.wgs2gcj(la, lo) for lo, la in zip(lon, lat, strict=True)]
        return np.array([p[1] for p in pairs]), np.array([p[0] for p in pairs])

    (glon_ours, glat_ours), t_ours = timed(wgs84_to_gcj02, lon, lat)
    (glon_peer, glat_peer), t_peer = timed(evil_forward)
    gap = metres(glon_ours, glat_ours, glon_peer, glat_peer)
    rows = [
        {"task": "WGS84 -> GCJ-02", "n": n, "peer": "eviltransform 0.1.1", "peer_s": t_peer,
         "svcnet_s": t_ours, "max_diff": f"{gap:.2e} m"},
    ]  # fmt: skip

    def evil_inverse():
        pairs = [eviltransform.gcj2wgs_exact(la, lo) for lo, la in zip(glon_ours, glat_ours,
                                                                        strict=True)]  # fmt: skip
        return np.array([p[1] for p in pairs]), np.array([p[0] for p in pairs])

    (wlon_ours, wlat_ours), t_ours = timed(gcj02_to_wgs84, glon_ours, glat_ours)
    (wlon_peer, wlat_peer), t_peer = timed(evil_inverse)
    rows.append(
        {"task": "GCJ-02 -> WGS84 (exact)", "n": n, "peer": "eviltransform 0.1.1", "peer_s": t_peer,
         "svcnet_s": t_ours,
         "max_diff": f"{metres(wlon_ours, wlat_ours, wlon_peer, wlat_peer):.2e} m; "
                     f"round trip ours {metres(wlon_ours, wlat_ours, lon, lat):.1e} m, "
                     f"peer {metres(wlon_peer, wlat_peer, lon, lat):.1e} m"}
    )  # fmt: skip
    return rows


def bench_areal(cell_size: float = 250.0) -> list[dict]:
    from tobler.area_weighted import area_interpolate

    districts = svcnet.datasets.load_shenzhen().boundaries["district"]
    districts = districts[["district", "pop", "geometry"]].reset_index(drop=True)
    target = square_grid(districts, cell_size)
    zeros = {d: 0.0 for d in districts["district"]}

    ours, t_ours = timed(
        dasymetric_grid, districts, ["pop"], None, unit_id="district", grid=target,
        completeness=zeros, integer=False,
    )  # fmt: skip
    ours_by_cell = (
        ours.assign(cell=ours["cell_id"].str.split("-").str[0]).groupby("cell")["pop"].sum()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer, t_peer = timed(
            area_interpolate, source_df=districts, target_df=target, extensive_variables=["pop"]
        )
    peer_by_cell = pd.Series(peer["pop"].to_numpy(), index=target["cell_id"])
    diff = (ours_by_cell.reindex(peer_by_cell.index).fillna(0) - peer_by_cell).abs().max()
    return [
        {"task": f"census -> {cell_size:g} m grid, area weights", "n": len(target),
         "peer": f"tobler {__import__('tobler').__version__}", "peer_s": t_peer,
         "svcnet_s": t_ours,
         "max_diff": f"{diff:.2e} people/cell; totals ours {ours['pop'].sum():,.1f}, "
                     f"peer {peer['pop'].sum():,.1f}"},
    ]  # fmt: skip


def bench_loading() -> list[dict]:
    rows = []
    for loader in (svcnet.datasets.load_futian, svcnet.datasets.load_shenzhen):
        region, t = timed(loader)
        rows.append({"task": f"load bundled {region.name}", "n": len(region.population),
                     "peer": "-", "peer_s": np.nan, "svcnet_s": t, "max_diff": "-"})  # fmt: skip
    region = svcnet.datasets.load_futian()
    graph, t = timed(lambda: region.network)
    rows.append({"task": "load Futian road network", "n": graph.number_of_nodes(), "peer": "-",
                 "peer_s": np.nan, "svcnet_s": t, "max_diff": "-"})  # fmt: skip
    return rows


def main() -> None:
    rows = bench_datum() + bench_areal() + bench_loading()
    table = pd.DataFrame(rows)
    table["speedup"] = (table["peer_s"] / table["svcnet_s"]).round(1)
    with pd.option_context("display.width", 200, "display.max_colwidth", 90):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
