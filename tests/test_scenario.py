"""Scenario files: every mistake reported with its line; files-based and bundled runs."""

import pickle
import textwrap
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from pyproj import Transformer
from shapely.geometry import Point, box

import svcnet.services
from svcnet.cli import main
from svcnet.crs import gcj02_to_wgs84, wgs84_to_gcj02
from svcnet.errors import InputError
from svcnet.scenario import (
    LayerFile,
    Scenario,
    ScenarioError,
    ServiceSpec,
    load_scenario,
    plan_scenario,
    run_scenario,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
UTM50 = "EPSG:32650"
# A toy town in Futian: (lon, lat) of its south-west corner, in WGS84.
ORIGIN = (114.05, 22.53)


def _write(folder: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _problems(folder: Path, text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(folder, text))
    return list(info.value.problems)


def _one(folder: Path, text: str) -> tuple[int | None, str]:
    problems = _problems(folder, text)
    assert len(problems) == 1, problems
    return problems[0]


# =========================================================================================
# a toy town on disk: grid (GeoPackage, UTM), district (GeoJSON, WGS84), candidates
# (GeoPackage, UTM) and facilities (CSV, GCJ-02 lon/lat)
# =========================================================================================
@pytest.fixture(scope="module")
def town(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("town")
    data = folder / "data"
    data.mkdir()
    x0, y0 = Transformer.from_crs(4326, UTM50, always_xy=True).transform(*ORIGIN)
    x0, y0 = round(x0, -2), round(y0, -2)
    # cluster A (3 cells x 700 people) around the existing center; B (2 x 800) 2 km east
    cells = [(0, 0, 700), (100, 0, 700), (200, 0, 700), (2_000, 0, 800), (2_100, 0, 800)]
    grid = gpd.GeoDataFrame(
        {"GRID_ID": [f"g{i}" for i in range(len(cells))], "POP2020": [p for *_, p in cells]},
        geometry=[box(x0 + x, y0 + y, x0 + x + 100, y0 + y + 100) for x, y, _ in cells],
        crs=UTM50,
    )
    grid.to_file(data / "grid.gpkg", layer="grid_100m")
    gpd.GeoDataFrame(
        {"NAME": ["Toy district"]}, geometry=[grid.union_all().envelope.buffer(200)], crs=UTM50
    ).to_crs(4326).to_file(data / "districts.geojson")
    gpd.GeoDataFrame(
        {"candidate_id": ["k1", "k2"], "kind": ["building", "building"]},
        geometry=[Point(x0 + 2_100, y0 + 50), Point(x0 + 1_000, y0 + 900)],
        crs=UTM50,
    ).to_file(data / "candidates.gpkg")
    # the existing center in the middle of cluster A, written as a Chinese web map gives it
    center = gpd.GeoSeries([Point(x0 + 150, y0 + 50)], crs=UTM50).to_crs(4326)
    lon, lat = wgs84_to_gcj02(center.x.to_numpy(), center.y.to_numpy())
    pd.DataFrame(
        {
            "facility_id": ["f1"],
            "name": ["Old center"],
            "service": ["community_center"],
            "lon": lon,
            "lat": lat,
        }  # fmt: skip
    ).to_csv(data / "facilities.csv", index=False)
    _write(
        folder,
        """
        name: Toy town centers
        region:
          population: data/grid.gpkg
          boundaries: {district: data/districts.geojson}
          facilities: data/facilities.csv
          candidates: data/candidates.gpkg
          datum: {facilities: GCJ-02}
          columns: {population: {POP2020: pop}}
          ids: {population: GRID_ID, district: NAME}
          layers: {population: grid_100m}
          name: Toy town
        services:
          centers:
            people_per_center: [1000, 3000]
            walk_minutes: 10
            time_limit: 30
        """,
        "town.yaml",
    )
    return folder


def _town_text(town: Path, **replace: str) -> str:
    text = (town / "town.yaml").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


# =========================================================================================
# a valid scenario
# =========================================================================================
def test_a_files_scenario_loads_with_absolute_paths_and_typed_parameters(town):
    scenario = load_scenario(town / "town.yaml")
    assert scenario.name == "Toy town centers"
    assert scenario.region.population == town / "data" / "grid.gpkg"
    assert dict(scenario.region.boundaries) == {"district": town / "data" / "districts.geojson"}
    assert scenario.region.options["datum"] == {"facilities": "gcj02"}
    assert scenario.region.options["ids"] == {"population": "GRID_ID", "district": "NAME"}
    spec = scenario.services["centers"]
    assert spec.planner is svcnet.services.plan_centers and spec.line == 13
    assert dict(spec.parameters) == {
        "people_per_center": (1000.0, 3000.0),
        "walk_minutes": 10.0,
        "time_limit": 30.0,
    }
    assert (town / "town.yaml").resolve() in scenario.inputs
    assert scenario.write_files and scenario.write_report
    with pytest.raises(AttributeError):
        scenario.name = "x"


def test_facilities_in_gcj02_are_converted_to_wgs84(town):
    region = load_scenario(town / "town.yaml").region.build()
    raw = pd.read_csv(town / "data" / "facilities.csv")
    facility = region.facilities.to_crs(4326)
    lon, lat = gcj02_to_wgs84(raw["lon"].to_numpy(), raw["lat"].to_numpy())
    assert np.allclose(facility.geometry.x, lon, atol=1e-8)
    assert np.allclose(facility.geometry.y, lat, atol=1e-8)
    assert abs(facility.geometry.x.item() - raw["lon"].item()) > 1e-3  # ~500 m moved
    assert int(region.population["pop"].sum()) == 3_700 and region.levels == ("district",)


def test_the_cli_plans_a_files_scenario_and_writes_its_files(town, tmp_path, capsys):
    inputs = {p: p.read_bytes() for p in (town / "data").iterdir()}
    out = tmp_path / "out"
    assert main(["plan", str(town / "town.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Toy town centers: planning centers" in printed
    assert "centers: community service centers in Toy town" in printed
    # cells are split into parts for the model, so cluster A's 2,100 people can fill two
    # centers of at least 1,000: the old one and a modelled one (proven optimal)
    assert "sites: 2 new, 1 existing kept" in printed
    assert "people within 10 min: 56.8% -> 100.0%" in printed and "solver gap" in printed
    assert "Wrote 7 files" in printed and "centers_report.html" in printed
    sites = pd.read_csv(out / "centers" / "community_service_centers_sites.csv")
    assert sorted(sites["site_id"]) == ["cell-g0", "f1", "k1"]
    # the kept center is where the GCJ-02 coordinates say, once converted
    raw = pd.read_csv(town / "data" / "facilities.csv")
    lon, lat = gcj02_to_wgs84(raw["lon"].to_numpy(), raw["lat"].to_numpy())
    kept = sites[sites["site_id"] == "f1"]
    assert np.allclose(kept[["lon", "lat"]].to_numpy(), [[lon[0], lat[0]]], atol=1e-7)
    layers = {
        name for name, _ in pyogrio.list_layers(out / "centers" / "community_service_centers.gpkg")
    }
    assert layers == {"sites", "areas", "cells", "units"}
    assert "leaflet" in (out / "centers_report.html").read_text(encoding="utf-8").lower()
    assert {p: p.read_bytes() for p in (town / "data").iterdir()} == inputs


def test_outputs_can_be_turned_off_and_the_time_limit_overridden(town, tmp_path, monkeypatch):
    seen = {}
    real = svcnet.services.plan_centers

    def spy(region, **kwargs):
        seen.update(kwargs)
        return real(region, **kwargs)

    monkeypatch.setattr(svcnet.services, "plan_centers", spy)
    text = _town_text(town) + "outputs: {files: true, report: false}\n"
    path = _write(town, text, "no_report.yaml")
    calls = []
    written = run_scenario(path, tmp_path, time_limit=7, progress=False,
                           on_plan=lambda *args: calls.append(args))  # fmt: skip
    assert seen["time_limit"] == 7 and seen["people_per_center"] == (1000.0, 3000.0)
    assert not (tmp_path / "centers_report.html").exists()
    assert len(written) == 6 and all(p.parent == tmp_path / "centers" for p in written)
    assert [name for name, _, _ in calls] == ["centers"] and calls[0][2] == written
    with pytest.raises(InputError, match="time_limit must be a positive"):
        run_scenario(path, tmp_path, time_limit=0)


def test_plan_scenario_returns_the_plans_without_writing(town, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plans = plan_scenario(town / "town.yaml", progress=False)
    assert list(plans) == ["centers"] and len(plans["centers"].sites) == 3
    assert not list(tmp_path.iterdir())


def test_outputs_never_overwrite_the_inputs(town, tmp_path, capsys):
    # a candidates file exactly where the plan's GeoPackage would go
    data = tmp_path / "data"
    (data / "centers").mkdir(parents=True)
    for p in (town / "data").iterdir():
        (data / p.name).write_bytes(p.read_bytes())
    target = data / "centers" / "community_service_centers.gpkg"
    (data / "candidates.gpkg").rename(target)
    text = _town_text(
        town, **{"data/candidates.gpkg": "data/centers/community_service_centers.gpkg"}
    )
    path = _write(tmp_path, text)
    before = target.read_bytes()
    assert main(["plan", str(path), "--out", str(data)]) == 2
    assert "refusing to overwrite an input file" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_a_planner_refusing_its_input_names_the_service_line(town, tmp_path):
    text = _town_text(town, **{"walk_minutes: 10": "walk_minutes: 10\n    group: pop_60plus"})
    path = _write(town, text, "bad_group.yaml")
    with pytest.raises(ScenarioError) as info:
        run_scenario(path, tmp_path / "out", progress=False)
    assert info.value.line == 13 and "service 'centers'" in str(info.value)
    assert "pop_60plus" in str(info.value) and isinstance(info.value.__cause__, InputError)


def test_a_parameter_can_name_a_vector_file(town, tmp_path):
    text = _town_text(
        town,
        **{"walk_minutes: 10": "walk_minutes: 10\n    candidates: {file: data/candidates.gpkg}"},
    )
    path = _write(town, text, "with_file.yaml")
    spec = load_scenario(path).services["centers"]
    assert spec.parameters["candidates"] == LayerFile(town / "data" / "candidates.gpkg")
    assert spec.files == (town / "data" / "candidates.gpkg",)
    assert len(spec.parameters["candidates"].read()) == 2


# =========================================================================================
# mistakes, each with its line
# =========================================================================================
BUNDLED_OK = """\
region: {bundled: futian}
services:
  centers: {walk_minutes: 10}
"""


def test_unknown_top_level_key(tmp_path):
    line, msg = _one(tmp_path, BUNDLED_OK + "servces: {}\n")
    assert line == 4
    assert msg.startswith("unknown key 'servces' (expected one of: name, region, services, outputs")
    assert "did you mean 'services'?" in msg


def test_message_names_the_file_and_line(tmp_path):
    path = _write(tmp_path, BUNDLED_OK + "outputs: {report: maybe}\n")
    with pytest.raises(
        ScenarioError, match=r"scenario\.yaml, line 4: outputs: report must be true"
    ):
        load_scenario(path)
    with pytest.raises(InputError):  # one except catches every input mistake
        load_scenario(path)


def test_wrong_parameter_type(tmp_path):
    line, msg = _one(tmp_path, """
        region: {bundled: futian}
        services:
          centers:
            walk_minutes: ten
    """)  # fmt: skip
    assert line == 4
    assert (
        msg == "parameter 'walk_minutes' of service 'centers' must be a number; got the text 'ten'"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[15000, 20000, 25000]", "must be a list of 2 numbers; got a list of 3"),
        ("15000", "must be a list of 2 numbers; got the number 15000"),
    ],
)
def test_a_pair_needs_two_numbers(tmp_path, value, expected):
    line, msg = _one(tmp_path, f"""
        region: {{bundled: futian}}
        services:
          centers:
            walk_minutes: 10
            people_per_center: {value}
    """)  # fmt: skip
    assert line == 5 and expected in msg and "'people_per_center'" in msg


def test_bools_and_nulls_are_checked_too(tmp_path):
    problems = _problems(tmp_path, """
        region: {bundled: futian}
        services:
          centers: {allow_closing: 1, max_minutes: null, fill_gaps: yes, seed: 1.5}
    """)  # fmt: skip
    assert problems == [
        (3, "parameter 'allow_closing' of service 'centers' must be true or false; "
            "got the number 1"),
        (3, "parameter 'seed' of service 'centers' must be a whole number; got the number 1.5"),
    ]  # fmt: skip


def test_unknown_parameter_lists_the_planners_parameters(tmp_path):
    line, msg = _one(tmp_path, """
        region: {bundled: futian}
        services:
          centers:
            walk_minute: 10
    """)  # fmt: skip
    assert line == 4
    assert msg.startswith("unknown parameter 'walk_minute' for service 'centers' (plan_centers ")
    assert "people_per_center, walk_minutes, max_minutes" in msg and "time_limit" in msg
    assert msg.endswith("did you mean 'walk_minutes'?")


def test_missing_file_is_looked_for_beside_the_scenario(tmp_path, monkeypatch):
    sub = tmp_path / "plans"
    sub.mkdir()
    (tmp_path / "grid.gpkg").write_text("not here")  # in the working folder: not used
    monkeypatch.chdir(tmp_path)
    line, msg = _one(sub, """
        services: {centers: {}}
        region:
          population: grid.gpkg
    """)  # fmt: skip
    assert line == 3
    assert msg == f"population: no such file 'grid.gpkg' (looked for {sub / 'grid.gpkg'})"


def test_missing_boundary_and_facility_files(tmp_path):
    (tmp_path / "grid.gpkg").write_text("")
    problems = _problems(tmp_path, """
        region:
          population: grid.gpkg
          boundaries:
            district: districts.geojson
          facilities: data/
        services: {centers: {}}
    """)  # fmt: skip
    assert [line for line, _ in problems] == [4, 5]
    assert problems[0][1].startswith("boundaries: district: no such file 'districts.geojson'")
    assert problems[1][1].startswith("facilities: no such file 'data/'")


@pytest.mark.parametrize(
    ("datum", "line"),
    [("datum: gcj2", 3), ("datum: {population: wgs84, candidates: baidu}", 3)],
)
def test_unknown_datum(town, tmp_path, datum, line):
    text = f"""
        region:
          population: {town / "data" / "grid.gpkg"}
          {datum}
          candidates: {town / "data" / "candidates.gpkg"}
          layers: {{population: grid_100m}}
        services: {{centers: {{}}}}
    """
    got_line, msg = _one(tmp_path, text.replace("          population", "          population", 1))
    assert got_line == line
    assert "unknown datum" in msg and "expected one of: wgs84, gcj02, bd09" in msg


def test_datum_of_a_layer_that_is_not_there(town, tmp_path):
    line, msg = _one(tmp_path, f"""
        region:
          population: {town / "data" / "grid.gpkg"}
          layers: {{population: grid_100m}}
          datum: {{facilites: gcj02}}
        services: {{centers: {{}}}}
    """)  # fmt: skip
    assert line == 4 and msg.startswith("datum: unknown layer 'facilites' (the region's layers")


def test_unknown_bundled_dataset(tmp_path):
    line, msg = _one(tmp_path, "region:\n  bundled: tokyo\nservices: {centers: {}}\n")
    assert (line, msg) == (2, "unknown bundled dataset 'tokyo' (expected one of: futian, shenzhen)")


def test_bundled_with_files_is_refused(tmp_path):
    line, msg = _one(tmp_path, """
        region:
          bundled: futian
          population: grid.gpkg
        services: {centers: {}}
    """)  # fmt: skip
    assert line == 3 and msg.startswith("'population' cannot be combined with 'bundled'")


@pytest.mark.parametrize("services", ["services:", "services: {}"])
def test_empty_services(tmp_path, services):
    line, msg = _one(tmp_path, f"region: {{bundled: futian}}\n{services}\n")
    assert line in (2, 3)  # an empty value sits at the end of its key's line
    assert msg.startswith("no services to plan (expected one of: centers, eldercare")


def test_unknown_and_unavailable_services(tmp_path, monkeypatch):
    monkeypatch.delattr(svcnet.services, "plan_eldercare", raising=False)
    problems = _problems(tmp_path, """
        region: {bundled: futian}
        services:
          centres: {}
          eldercare: {}
          centers: {}
    """)  # fmt: skip
    assert problems[0][0] == 3 and problems[0][1].startswith("unknown service 'centres'")
    assert "did you mean 'centers'?" in problems[0][1]
    assert problems[1][0] == 4
    assert problems[1][1].startswith(
        "service 'eldercare' is not available in this svcnet version (available: centers"
    )


def test_yaml_syntax_error_has_its_line(tmp_path):
    line, msg = _one(tmp_path, "region:\n  bundled: futian\n services: {centers: {}}\n")
    assert line == 3 and msg.startswith("not valid YAML:") and "indentation" in msg
    line, msg = _one(tmp_path, "region: {bundled: futian\nservices: {centers: {}}\n")
    assert line == 2 and msg.startswith("not valid YAML:")
    line, msg = _one(tmp_path, "region: {bundled: futian}\n\tservices: x\n")
    assert line == 2 and "'\\t'" in msg


def test_duplicate_keys_are_reported(tmp_path):
    line, msg = _one(tmp_path, BUNDLED_OK + "region: {bundled: shenzhen}\n")
    assert (line, msg) == (4, "'region' is given twice in the scenario (first on line 1)")


def test_missing_sections_empty_files_and_wrong_shapes(tmp_path):
    assert _problems(tmp_path, "name: x\nservices: {centers: {}}\n") == [
        (1, "the scenario has no 'region' (expected 'bundled: futian' or 'bundled: shenzhen', "
            "or 'population' and the other files)")
    ]  # fmt: skip
    line, msg = _one(tmp_path, "region: {bundled: futian}\n")
    assert line == 1 and msg.startswith("the scenario has no 'services'")
    assert _problems(tmp_path, "# nothing yet\n") == [
        (None, "the scenario file is empty; it needs at least 'region' and 'services'")
    ]
    assert _one(tmp_path, "- region\n- services\n") == (
        1, "the scenario must be a mapping (key: value); got a list of 2"
    )  # fmt: skip
    line, msg = _one(tmp_path, "region: {bundled: futian}\nservices:\n  - centers\n")
    assert line == 3 and msg == "services must be a mapping (key: value); got a list of 1"
    line, msg = _one(tmp_path, "region: {bundled: futian}\nservices:\n  centers: 10\n")
    assert line == 3 and msg.startswith("the parameters of service 'centers' must be a mapping")


def test_region_options_are_checked(town, tmp_path):
    grid = town / "data" / "grid.gpkg"
    problems = _problems(tmp_path, f"""
        region:
          population: {grid}
          layers: {{population: grid_1km}}
          cell_size: 250
          crs: EPSG:4326
          repair: sometimes
          populaton: x
        services: {{centers: {{}}}}
    """)  # fmt: skip
    messages = dict(problems)
    assert (
        messages[3] == "layers: population: grid.gpkg has no layer 'grid_1km' (it has: grid_100m)"
    )
    assert messages[4].startswith("cell_size applies to a population raster only")
    assert messages[5].startswith("crs: WGS 84 is not a projected CRS in metres")
    assert messages[6] == "repair must be true or false; got the text 'sometimes'"
    assert (
        messages[7].startswith("unknown key 'populaton' in region")
        and "'population'" in messages[7]
    )


def test_a_geopackage_with_several_layers_needs_one_chosen(tmp_path):
    frame = gpd.GeoDataFrame({"pop": [1]}, geometry=[box(0, 0, 100, 100)], crs=UTM50)
    frame.to_file(tmp_path / "two.gpkg", layer="a")
    frame.to_file(tmp_path / "two.gpkg", layer="b")
    line, msg = _one(tmp_path, "region:\n  population: two.gpkg\nservices: {centers: {}}\n")
    assert line == 2
    assert msg == "two.gpkg has several layers (a, b): choose the population layer with " \
        "'layers: {population: ...}'"  # fmt: skip


def test_a_parameter_file_that_is_missing(tmp_path):
    line, msg = _one(tmp_path, """
        region: {bundled: futian}
        services:
          centers:
            candidates: {file: sites.gpkg, datum: gcj02}
    """)  # fmt: skip
    assert line == 4 and msg.startswith(
        "parameter 'candidates' of service 'centers': file: no such file 'sites.gpkg'"
    )


def test_every_mistake_is_reported_at_once_in_line_order(tmp_path, capsys):
    path = _write(tmp_path, """
        name: many mistakes
        region: {bundled: atlantis}
        services:
          centers: {walk_minutes: ten, foo: 1}
        outputs: {files: yes please}
    """)  # fmt: skip
    assert main(["plan", str(path), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert lines[0] == f"svcnet: error: {path}: 4 mistakes:"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "  line 2", "  line 4", "  line 4", "  line 5"
    ]  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_a_missing_scenario_file(tmp_path, capsys):
    assert main(["plan", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err
        == f"svcnet: error: {tmp_path / 'nope.yaml'}: no such scenario file\n"
    )


def test_a_bad_time_limit_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["plan", str(EXAMPLES / "futian_centers.yaml"), "--out", str(tmp_path),
              "--time-limit", "soon"])  # fmt: skip
    assert info.value.code == 2 and "not a positive number of seconds" in capsys.readouterr().err


def test_the_error_pickles_with_its_problems():
    err = ScenarioError([(3, "b"), (None, "a")], file="s.yaml")
    assert err.line is None and str(err) == "s.yaml: 2 mistakes:\n  a\n  line 3: b"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ScenarioError and back.problems == err.problems and str(back) == str(err)


# =========================================================================================
# the type checks, on a planner written for the test
# =========================================================================================
def plan_charity(
    region,
    *,
    levels: tuple[str, ...] = ("district",),
    kind: Literal["post", "telecom"] = "post",
    points: gpd.GeoDataFrame | None = None,
    shares: dict[str, float] | None = None,
    limit: int | None = None,
    time_limit: float = 60.0,
):
    return {"levels": levels, "kind": kind, "points": points, "shares": shares,
            "limit": limit, "time_limit": time_limit}  # fmt: skip


def test_parameters_are_checked_against_any_planners_hints(tmp_path, monkeypatch):
    monkeypatch.setattr(svcnet.services, "plan_charity", plan_charity, raising=False)
    gpd.GeoDataFrame({"id": [1]}, geometry=[Point(114.05, 22.53)], crs=4326).to_file(
        tmp_path / "posts.geojson"
    )
    scenario = load_scenario(_write(tmp_path, """
        region: {bundled: futian}
        services:
          charity:
            levels: [city, district]
            kind: telecom
            points: posts.geojson
            shares: {city: 0.5, district: 1}
            time_limit: 5
    """))  # fmt: skip
    spec = scenario.services["charity"]
    assert dict(spec.parameters) == {
        "levels": ("city", "district"),
        "kind": "telecom",
        "points": LayerFile(tmp_path / "posts.geojson"),
        "shares": {"city": 0.5, "district": 1.0},
        "time_limit": 5.0,
    }
    result = spec.run(None, time_limit=2)
    assert result["time_limit"] == 2 and len(result["points"]) == 1
    assert result["points"].crs.to_epsg() == 4326
    problems = _problems(tmp_path, """
        region: {bundled: futian}
        services:
          charity:
            levels: district
            kind: fax
            points: [1, 2]
            shares: {city: half}
            limit: 2.5
    """)  # fmt: skip
    assert [line for line, _ in problems] == [4, 5, 6, 7, 8]
    assert [m.split(" must be ")[1] for _, m in problems] == [
        "a list of names; got the text 'district'",
        "one of 'post', 'telecom'; got the text 'fax'",
        "a vector file or null; got a list of 2",
        "a mapping of numbers or null; got a mapping ('city' is the text 'half')",
        "a whole number or null; got the number 2.5",
    ]


def test_a_pair_names_the_item_that_does_not_fit(tmp_path):
    line, msg = _one(tmp_path, """
        region: {bundled: futian}
        services:
          centers: {people_per_center: [15000, lots]}
    """)  # fmt: skip
    assert msg.endswith("must be a list of 2 numbers; got a list of 2 (item 2 is the text 'lots')")


def test_merge_keys_share_parameters(tmp_path):
    scenario = load_scenario(_write(tmp_path, """
        region: {bundled: futian}
        services:
          centers:
            <<: {walk_minutes: 15, time_limit: 30}
            walk_minutes: 12
    """))  # fmt: skip
    parameters = dict(scenario.services["centers"].parameters)
    assert parameters == {"walk_minutes": 12.0, "time_limit": 30.0}


def test_service_spec_runs_its_planner_with_the_time_limit_it_takes():
    calls = []

    def planner(region, *, n=1, time_limit=10.0):
        calls.append((region, n, time_limit))
        return "plan"

    spec = ServiceSpec("x", planner, {"n": 2})
    assert spec.run("region", time_limit=3) == "plan" and calls == [("region", 2, 3)]
    no_limit = ServiceSpec("y", lambda region, *, n=1: (region, n), {"n": 4})
    assert no_limit.run("r", time_limit=3) == ("r", 4)  # a planner without one: left out
    scenario = Scenario(Path("s.yaml"), "s", load_scenario(EXAMPLES / "futian_centers.yaml").region,
                        {"x": spec})  # fmt: skip
    assert repr(scenario) == "Scenario('s', region='futian', services=['x'])"


# =========================================================================================
# the examples
# =========================================================================================
@pytest.mark.parametrize("name", ["futian_centers.yaml", "shenzhen_city.yaml"])
def test_the_examples_load(name):
    scenario = load_scenario(EXAMPLES / name)
    assert "centers" in scenario.services and scenario.region.bundled in ("futian", "shenzhen")


def test_the_futian_example_runs_through_the_cli(tmp_path, capsys):
    out = tmp_path / "futian"
    args = ["plan", str(EXAMPLES / "futian_centers.yaml"), "--out", str(out), "--time-limit", "5"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "centers: community service centers in Futian" in printed
    assert "people within 10 min:" in printed and "solver gap" in printed
    assert (out / "centers_report.html").stat().st_size > 10_000
    summary = pd.read_csv(out / "centers" / "community_service_centers_summary.csv")
    assert summary.loc[summary["unit"] == "total", "pop"].item() == 1_553_225
