"""Build the bundled datasets in data/geo/ from the raw files in ../shared/data/raw/.

Run from the repository root:

    python scripts/build_data.py [--raw ../shared/data/raw] [--out data/geo]

It writes
- shenzhen.gpkg: layers city, districts (2020 census), grid_250m, candidates, facilities;
- futian.gpkg: layers district, grid_100m, candidates, facilities;
- futian_roads.graphml.gz: the OSM drive network around Futian (osmnx GraphML, gzipped).
The population grids are modelled: census counts per district spread over grid cells by
residential building floor area (svcnet.demand.dasymetric_grid). data/geo/SOURCES.md
describes every layer; keep it in step with this script.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import tempfile
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd

from svcnet.demand import ancillary_completeness, dasymetric_grid, floor_area_weights
from svcnet.io import write_vector

log = logging.getLogger("build_data")

METRIC_CRS = "EPSG:32650"  # UTM zone 50N, the zone of all of Shenzhen
FUTIAN = "440304"

# Short names in the transbigdata layer -> (census name, English name, adcode)
DISTRICTS = {
    "罗湖": ("罗湖区", "Luohu", "440303"),
    "福田": ("福田区", "Futian", "440304"),
    "南山": ("南山区", "Nanshan", "440305"),
    "宝安": ("宝安区", "Bao'an", "440306"),
    "龙岗": ("龙岗区", "Longgang", "440307"),
    "盐田": ("盐田区", "Yantian", "440308"),
    "龙华": ("龙华区", "Longhua", "440309"),
    "坪山": ("坪山区", "Pingshan", "440310"),
    "光明": ("光明区", "Guangming", "440311"),
    "大鹏": ("大鹏新区", "Dapeng", "440307"),
}
# The census row of 龙岗 (4,135,273) includes Dapeng New Area; their published split:
LONGGANG_PROPER, DAPENG = 3_979_037, 156_236

# Disjoint census age groups spread separately; pop, pop_60plus are their sums.
AGE_PARTS = ["pop_0_14", "pop_15_59", "pop_60_64", "pop_65plus"]

CANDIDATE_TYPES = {
    "school", "kindergarten", "university", "college", "public", "civic", "government",
    "office", "commercial", "retail", "hospital", "community_centre", "hotel", "sports_hall",
    "sports_centre", "stadium", "library", "train_station", "transportation", "warehouse",
}  # fmt: skip

# Named buildings taken as existing facilities: the name keyword and the service it offers.
FACILITY_KEYWORDS = [
    ("党群", "community_center"),
    ("社区服务", "community_center"),
    ("社区工作站", "community_center"),
    ("养老", "eldercare"),
    ("敬老", "eldercare"),
    ("老年", "eldercare"),
    ("福利院", "eldercare"),
    ("避难", "shelter"),
    ("邮政", "post_office"),
    ("邮局", "post_office"),
    ("电信", "telecom"),
    ("移动", "telecom"),
    ("联通", "telecom"),
    ("健康服务中心", "health"),
    ("医院", "hospital"),
    ("小学", "school"),
    ("中学", "school"),
    ("学校", "school"),
    ("幼儿园", "kindergarten"),
    ("图书馆", "library"),
    ("文化馆", "culture"),
    ("体育馆", "sports"),
    ("体育中心", "sports"),
    ("派出所", "police"),
    ("人民政府", "government"),
    ("街道办", "government"),
]
# Names that mention a service but are not one: dormitories, staff housing, police posts.
NOT_FACILITY = ("宿舍", "家属", "警务室")


def read_census(raw: Path) -> pd.DataFrame:
    """Disjoint age-group counts per district of the 2020 census (10 rows, Dapeng split)."""
    pop = pd.read_csv(raw / "tudigong-census2020/shenzhen_population.csv", dtype={"CODE": str})
    ages = pd.read_csv(raw / "tudigong-census2020/shenzhen_ages.csv", dtype={"CODE": str})
    census = pop[["CODE", "NAME", "POPU"]].merge(ages, on=["CODE", "NAME"], validate="1:1")
    rows = []
    for _, r in census.iterrows():
        totals = [(r.NAME, r.POPU)]
        if r.CODE == "440307":
            totals = [("龙岗区", LONGGANG_PROPER), ("大鹏新区", DAPENG)]
        for name, total in totals:
            c0_14 = round(total * r["AGES_0-14"])
            c60_64 = round(total * r["AGES_60-64"])
            c65 = round(total * r["AGES_65P"])
            rows.append(
                {"district": name, "adcode": r.CODE, "pop": int(total), "pop_0_14": c0_14,
                 "pop_60_64": c60_64, "pop_65plus": c65, "age_source": "census shares"}
            )  # fmt: skip
    table = pd.DataFrame(rows)
    futian = futian_pyramid(raw)
    is_futian = table["adcode"] == FUTIAN
    for column, value in futian.items():
        table.loc[is_futian, column] = value
    table.loc[is_futian, "age_source"] = "census pyramid (counts)"
    table["pop_15_59"] = table["pop"] - table["pop_0_14"] - table["pop_60_64"] - table["pop_65plus"]
    return table


def futian_pyramid(raw: Path) -> dict[str, int]:
    """Futian's exact census counts by age group, from the 19-band pyramid."""
    pyramid = pd.read_csv(raw / "typed-facts/futian_census2020_age_sex.csv")
    lower = pyramid["age_group"].str.extract(r"^(\d+)")[0].astype(int)
    counts = {
        "pop": int(pyramid["total"].sum()),
        "pop_0_14": int(pyramid.loc[lower < 15, "total"].sum()),
        "pop_60_64": int(pyramid.loc[lower == 60, "total"].sum()),
        "pop_65plus": int(pyramid.loc[lower >= 65, "total"].sum()),
    }
    assert counts["pop"] == 1_553_225, counts
    return counts


def read_districts(raw: Path, census: pd.DataFrame) -> gpd.GeoDataFrame:
    """The 10 district polygons (WGS84, transbigdata) joined to the census table."""
    shapes = gpd.read_file(raw / "transbigdata/sz_districts.json")
    names = shapes["qh"].map(DISTRICTS)
    shapes = shapes.assign(
        district=names.str[0], name_en=names.str[1], adcode=names.str[2]
    )[["district", "name_en", "adcode", "geometry"]]
    districts = shapes.merge(census.drop(columns="adcode"), on="district", validate="1:1")
    districts["area_km2"] = districts.to_crs(METRIC_CRS).area / 1e6
    return districts.sort_values("name_en").reset_index(drop=True)


def residential_buildings(path: str) -> gpd.GeoDataFrame:
    """Building footprints with their residential floor area as ``weight``."""
    buildings = gpd.read_file(path)
    invalid = ~buildings.is_valid
    if invalid.any():
        log.info("%s: repairing %d invalid footprints (shapely.make_valid)", path, invalid.sum())
        buildings.loc[invalid, "geometry"] = buildings.geometry[invalid].make_valid()
    weights = floor_area_weights(buildings, crs=METRIC_CRS)
    counts = weights["levels_source"].value_counts().to_dict()
    log.info("%s: %d buildings, storeys by source %s", path, len(buildings), counts)
    return buildings.assign(weight=weights["floor_area_m2"], storeys=weights["storeys"])


def population_grid(
    units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, cell_size: float, completeness
) -> gpd.GeoDataFrame:
    """Spread the disjoint age groups, then add pop and pop_60plus as their sums."""
    grid = dasymetric_grid(
        units, AGE_PARTS, buildings, unit_id="district", weight="weight",
        cell_size=cell_size, completeness=completeness, crs=METRIC_CRS,
    )  # fmt: skip
    grid["pop"] = grid[AGE_PARTS].sum(axis=1)
    grid["pop_60plus"] = grid["pop_60_64"] + grid["pop_65plus"]
    columns = ["cell_id", "district", "pop", "pop_0_14", "pop_60plus", "pop_65plus", "geometry"]
    return grid[columns]


def candidates_from(buildings: gpd.GeoDataFrame, inside) -> gpd.GeoDataFrame:
    """Non-residential buildings that could host a service, as points."""
    keep = buildings["building"].isin(CANDIDATE_TYPES) & inside
    chosen = buildings[keep].to_crs(METRIC_CRS)
    return gpd.GeoDataFrame(
        {
            "candidate_id": [f"bldg-{i:05d}" for i in chosen.index],
            "kind": "building",
            "category": chosen["building"].to_numpy(),
            "name": chosen["name"].to_numpy(),
            "floor_area_m2": (chosen.area * chosen["storeys"]).round(1).to_numpy(),
        },
        geometry=chosen.representative_point().values,
        crs=METRIC_CRS,
    )


def facilities_from(buildings: gpd.GeoDataFrame, inside) -> gpd.GeoDataFrame:
    """Named buildings whose name says which public service they offer."""
    named = buildings[buildings["name"].notna() & inside]
    service = pd.Series(pd.NA, index=named.index, dtype="object")
    for keyword, kind in FACILITY_KEYWORDS:
        hit = named["name"].str.contains(keyword, regex=False) & service.isna()
        service[hit] = kind
    excluded = named["name"].str.contains("|".join(NOT_FACILITY))
    # metro and rail stations named after a school or park ("...中学站")
    excluded |= named["name"].str.endswith("站") & ~named["name"].str.endswith("工作站")
    chosen = named[service.notna() & ~excluded].to_crs(METRIC_CRS)
    return gpd.GeoDataFrame(
        {
            "facility_id": [f"fac-{i:05d}" for i in chosen.index],
            "name": chosen["name"].to_numpy(),
            "service": service[chosen.index].to_numpy(),
            "capacity": np.nan,
            "source": "OSM building name",
        },
        geometry=chosen.representative_point().values,
        crs=METRIC_CRS,
    )


def road_network(raw: Path, area: gpd.GeoDataFrame, buffer_m: float):
    """The OSM drive network, truncated to the area plus a buffer."""
    graph = ox.graph_from_xml(raw / "osm-pcrl-futian/futian_nanshan_drive_2024-10-06.osm")
    polygon = area.to_crs(METRIC_CRS).buffer(buffer_m).to_crs(4326).union_all()
    graph = ox.truncate.truncate_graph_polygon(graph, polygon)
    nx.set_node_attributes(graph, ox.stats.count_streets_per_node(graph), name="street_count")
    return graph


def build_shenzhen(raw: Path, out: Path) -> None:
    census = read_census(raw)
    districts = read_districts(raw, census)
    buildings = residential_buildings(
        "/vsigzip/" + str(raw / "osm-djisim-buildings/shenzhen_buildings_osm_2026-07.geojson.gz")
    )
    completeness = ancillary_completeness(
        districts, buildings, unit_id="district", population="pop", weight="weight"
    )
    log.info("building-floor-area completeness by district:\n%s", completeness.round(3))
    districts["building_weight"] = districts["district"].map(completeness).round(4).to_numpy()
    grid = population_grid(districts, buildings, 250.0, completeness)
    inside = buildings.representative_point().within(districts.union_all())
    target = out / "shenzhen.gpkg"
    city = districts.dissolve()[["geometry"]].assign(city="深圳市", name_en="Shenzhen")
    city["pop"] = int(districts["pop"].sum())
    districts = districts.assign(pop_60plus=districts["pop_60_64"] + districts["pop_65plus"])
    write_vector(city[["city", "name_en", "pop", "geometry"]], target, layer="city")
    keep = ["district", "name_en", "adcode", "pop", "pop_0_14", "pop_60plus", "pop_65plus",
            "area_km2", "age_source", "building_weight", "geometry"]  # fmt: skip
    write_vector(districts[keep], target, layer="districts")
    write_vector(grid, target, layer="grid_250m")
    write_vector(candidates_from(buildings, inside), target, layer="candidates")
    write_vector(facilities_from(buildings, inside), target, layer="facilities")
    log.info("Shenzhen: %d grid cells, %d people", len(grid), grid["pop"].sum())


def build_futian(raw: Path, out: Path) -> None:
    census = read_census(raw)
    districts = read_districts(raw, census)
    futian = districts[districts["adcode"] == FUTIAN].reset_index(drop=True)
    futian = futian[futian["name_en"] == "Futian"]
    path = raw / "osm-djisim-buildings/futian_buildings_osm_2026-07.geojson"
    buildings = residential_buildings(str(path))
    grid = population_grid(futian, buildings, 100.0, {"福田区": 1.0})
    inside = buildings["in_futian"].astype(bool)
    target = out / "futian.gpkg"
    futian = futian.assign(pop_60plus=futian["pop_60_64"] + futian["pop_65plus"])
    keep = ["district", "name_en", "adcode", "pop", "pop_0_14", "pop_60plus", "pop_65plus",
            "area_km2", "age_source", "geometry"]  # fmt: skip
    write_vector(futian[keep], target, layer="district")
    write_vector(grid, target, layer="grid_100m")
    graph = road_network(raw, futian, buffer_m=1500.0)
    write_vector(candidates_from(buildings, inside).pipe(_with_intersections, graph, futian),
                 target, layer="candidates")  # fmt: skip
    write_vector(facilities_from(buildings, inside), target, layer="facilities")
    write_graph(graph, out / "futian_roads.graphml.gz")
    log.info("Futian: %d grid cells, %d people; network %d nodes, %d edges",
             len(grid), grid["pop"].sum(), len(graph), graph.number_of_edges())  # fmt: skip


def _with_intersections(candidates: gpd.GeoDataFrame, graph, area: gpd.GeoDataFrame):
    """Add the street intersections (3 or more streets meet) inside the area."""
    nodes = ox.convert.graph_to_gdfs(graph, edges=False)
    nodes = nodes[nodes["street_count"] >= 3]
    nodes = nodes[nodes.within(area.to_crs(nodes.crs).union_all())].to_crs(METRIC_CRS)
    crossings = gpd.GeoDataFrame(
        {
            "candidate_id": [f"node-{n}" for n in nodes.index],
            "kind": "intersection",
            "category": "intersection",
            "name": None,
            "floor_area_m2": np.nan,
        },
        geometry=nodes.geometry.values,
        crs=METRIC_CRS,
    )
    return pd.concat([candidates, crossings], ignore_index=True)


def write_graph(graph, target: Path) -> None:
    """Save an osmnx graph as gzipped GraphML (atomically)."""
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "graph.graphml"
        ox.io.save_graphml(graph, plain)
        partial = target.with_suffix(".partial")
        with open(plain, "rb") as src, gzip.GzipFile(partial, "wb", mtime=0) as dst:
            dst.write(src.read())
        partial.replace(target)


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=here.parent / "shared/data/raw")
    parser.add_argument("--out", type=Path, default=here / "data/geo")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("shenzhen.gpkg", "futian.gpkg"):
        (args.out / name).unlink(missing_ok=True)
    build_futian(args.raw, args.out)
    build_shenzhen(args.raw, args.out)


if __name__ == "__main__":
    main()
