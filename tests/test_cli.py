"""The command line: the demo on the bundled data, and info on files."""

import pandas as pd
import pyogrio
import pytest

from svcnet.cli import main


def test_demo_writes_tables_layers_and_maps(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--time-limit", "10"]) == 0
    printed = capsys.readouterr().out
    assert "1553225" in printed and "17494398" in printed
    futian = pd.read_csv(out / "futian_summary.csv")
    assert futian.loc[futian.level == "total", "pop"].item() == 1_553_225
    shenzhen = pd.read_csv(out / "shenzhen_summary.csv")
    assert shenzhen.loc[shenzhen.level == "district", "pop"].sum() == 17_494_398
    layers = {name for name, _ in pyogrio.list_layers(out / "futian.gpkg")}
    assert layers == {"population", "district"}
    html = (out / "futian_map.html").read_text(encoding="utf-8")
    assert "leaflet" in html.lower() and "Boundaries: district" in html and "100m_E" in html
    assert not list(out.glob("*.tmp*")) and not list(out.glob(".*"))
    for service in ("centers", "eldercare", "shelters", "charity"):
        report = (out / f"futian_{service}_report.html").read_text(encoding="utf-8")
        assert "Futian" in report and "<svg" in report
        assert list((out / f"futian_{service}").glob("*.gpkg"))
    assert "community service centers" in printed
    city = (out / "shenzhen_centers_report.html").read_text(encoding="utf-8")
    assert "Shenzhen" in city and "<svg" in city
    assert "Shenzhen: community service centers" in printed
    # charity gets the center plan's service areas as communities: points at community level
    charity = printed.split("Futian: charity donation points")[1]
    sites_line = charity.split("sites:")[1].split("\n")[0]
    assert not sites_line.strip().startswith("0 new")


def test_info_describes_a_file(capsys):
    from svcnet.datasets import data_dir

    assert main(["info", str(data_dir() / "futian.gpkg")]) == 0
    text = capsys.readouterr().out
    assert "grid_100m" in text and "8,226 rows" in text and "EPSG:32650" in text
    assert "pop 1,553,225" in text
    assert main(["info", str(data_dir() / "futian_roads.graphml.gz")]) == 0
    assert "4,243 nodes" in capsys.readouterr().out


def test_errors_are_reported_without_a_traceback(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "nope.gpkg" in err and "Traceback" not in err
    bad = tmp_path / "bad.geojson"
    bad.write_text("this is not geojson")
    assert main(["info", str(bad)]) == 2


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2


def test_bad_input_is_one_line_unless_debug(tmp_path, capsys):
    from svcnet.errors import InputError

    missing = tmp_path / "missing.gpkg"
    assert main(["--quiet", "info", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("svcnet: error: ") and "missing.gpkg" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(InputError, match="no such file"):
        main(["--debug", "info", str(missing)])


def test_quiet_silences_progress_bars_only_within_the_command():
    from svcnet._progress import progress, quiet

    with quiet():
        assert progress(range(2)).disable
    assert not progress(range(2), disable=False).disable


@pytest.mark.parametrize("flags", [["--log-level", "LOUD"], ["--quiet", "--log-level"]])
def test_bad_flags_exit_with_usage(flags, capsys):
    with pytest.raises(SystemExit) as info:
        main([*flags, "info", "x.gpkg"])
    assert info.value.code == 2 and "usage: svcnet" in capsys.readouterr().err
