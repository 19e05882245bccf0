"""Planning norms: values as read in standards.md, sources, overrides, immutability."""

import dataclasses

import pandas as pd
import pytest

from svcnet.errors import InputError
from svcnet.standards import (
    CHARITY_LEVELS,
    CONFIDENCE_LEVELS,
    NORMS,
    SHELTER_TYPES,
    SOURCES,
    UNITS,
    Norm,
    Source,
    get_norm,
    norms_table,
    resolve,
    shelter_norms,
)

# name: (value, unit, source key, clause, confidence), copied by hand from standards.md
EXPECTED = {
    "people_per_center": ((15_000, 20_000), "persons", "SZ-PLAN", "", "high"),
    "centers_planned": (700, "centers", "SZ-PLAN", "", "high"),
    "existing_workstations": (632, "stations", "SZ-PLAN", "", "high"),
    "life_circle_5min_distance": (300, "m", "GB50180", "Table 3.0.4", "medium"),
    "life_circle_10min_distance": (500, "m", "GB50180", "", "high"),
    "life_circle_15min_distance": ((800, 1000), "m", "TDT1062", "", "medium"),
    "life_circle_5min_population": ((5_000, 12_000), "persons", "GB50180", "Table 3.0.4",
                                    "unconfirmed"),
    "life_circle_10min_population": ((15_000, 25_000), "persons", "GB50180", "", "high"),
    "life_circle_15min_population": ((50_000, 100_000), "persons", "GB50180",
                                     "§2.0.2 / Table 3.0.4", "high"),
    "walking_speed": (60, "m/min", "SECONDARY", "", "medium"),
    "eldercare_beds_per_1000_elderly": (40, "beds/1000 elderly", "GB50437", "§3.2.1", "medium"),
    "eldercare_beds_per_1000_registered_elderly": (40, "beds/1000 elderly", "SZ-PLAN", "",
                                                   "high"),
    "eldercare_beds_target": (8_600, "beds", "SZ-PLAN", "", "high"),
    "eldercare_min_beds_per_site": (20, "beds", "GB50437", "Table 3.2.4", "medium"),
    "eldercare_floor_area_per_bed": (35, "m2/bed", "GB50437", "Table 3.2.4", "medium"),
    "eldercare_private_share": (0.5, "share", "SZ-PLAN", "", "high"),
    "national_beds_per_1000_elderly_2015": (30, "beds/1000 elderly", "NAT-ELD", "", "high"),
    "child_welfare_beds_target": (1_200, "beds", "SZ-PLAN", "", "high"),
    "emergency_shelter_radius": (500, "m", "GB50413", "§8.2.10", "medium"),
    "emergency_shelter_area_per_person": (1, "m2/person", "GB50413", "§8.2.8", "medium"),
    "fixed_shelter_radius": ((2_000, 3_000), "m", "GB50413", "§8.2.10", "medium"),
    "fixed_shelter_area_per_person": (2, "m2/person", "GB50413", "§8.2.8", "medium"),
    "fixed_shelter_capacity_share": ((0.2, 0.3), "share", "GD-SHELTER", "", "high"),
    "fixed_shelter_capacity_share_central": (0.3, "share", "GD-SHELTER", "", "high"),
    "shelter_site_min_area": (2_000, "m2", "GB21734", "§5.4", "high"),
    "shelter_living_area_per_person": (1.5, "m2/person", "GB21734", "§5.4", "high"),
    "charity_levels": (4, "levels", "SZ-PLAN", "", "high"),
    "charity_community_radius": (500, "m", "SVCNET", "", "assumption"),
    "sphere_covered_area_per_person": (3.5, "m2/person", "SPHERE", "standard 3", "high"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_values_as_in_standards_md(name):
    value, unit, source, clause, confidence = EXPECTED[name]
    norm = NORMS[name]
    expected = tuple(map(float, value)) if isinstance(value, tuple) else float(value)
    assert norm.value == expected
    assert (norm.unit, norm.source.key, norm.clause, norm.confidence) == (
        unit,
        source,
        clause,
        confidence,
    )


def test_every_norm_has_a_source_a_known_unit_and_a_note():
    assert len(NORMS) >= len(EXPECTED)
    for name, norm in NORMS.items():
        assert norm.name == name
        assert norm.source.key in SOURCES and norm.source is SOURCES[norm.source.key]
        assert norm.source.title and norm.source.url
        assert norm.unit in UNITS
        assert norm.confidence in CONFIDENCE_LEVELS and norm.confidence != "user"
        assert norm.note.endswith(".") and len(norm.note) < 120


def test_unconfirmed_and_assumed_values_are_flagged():
    flagged = {name for name, norm in NORMS.items() if not norm.confirmed}
    assert flagged == {
        "life_circle_5min_population",
        "charity_community_radius",
        "emergency_shelter_capacity_share",
    }
    assert NORMS["people_per_center"].confirmed


def test_ranges_and_scalars():
    centers = get_norm("people_per_center")
    assert centers.is_range and (centers.low, centers.high) == (15_000.0, 20_000.0)
    beds = get_norm("eldercare_beds_per_1000_elderly")
    assert not beds.is_range and beds.low == beds.high == 40.0
    assert centers.value_text == "15,000–20,000" and beds.value_text == "40"


def test_citation_strings():
    assert (
        get_norm("eldercare_beds_per_1000_elderly").citation
        == "GB 50437-2007 (2018 rev.) §3.2.1, 2018 (medium)"
    )
    assert get_norm("emergency_shelter_radius").citation == "GB 50413-2007 §8.2.10, 2007 (medium)"
    assert get_norm("charity_community_radius").citation == "svcnet assumption (assumption)"
    assert "GB 50413-2007 §8.2.10" in str(get_norm("fixed_shelter_radius"))


def test_override_makes_a_user_norm_and_keeps_the_default():
    default = get_norm("people_per_center")
    user = default.override((12_000, 18_000))
    assert user.value == (12_000.0, 18_000.0) and user.unit == "persons"
    assert user.confidence == "user" and user.source.key == "user"
    assert user.confirmed and "15,000–20,000" in user.note
    assert NORMS["people_per_center"] is default and default.value == (15_000.0, 20_000.0)
    assert default.override(18_000, unit="persons").value == 18_000.0


def test_override_unit_mismatch_names_norm_and_units():
    with pytest.raises(InputError) as info:
        get_norm("emergency_shelter_radius").override(0.5, unit="km")
    message = str(info.value)
    assert "emergency_shelter_radius" in message and "'m'" in message and "'km'" in message


@pytest.mark.parametrize(
    "value", [-1, float("nan"), float("inf"), (3, 2), (1, 2, 3), "500", True, None]
)
def test_override_rejects_bad_values(value):
    with pytest.raises(InputError, match="walking_speed"):
        get_norm("walking_speed").override(value)


def test_share_must_be_at_most_one():
    with pytest.raises(InputError, match="share"):
        resolve("fixed_shelter_capacity_share", 30)


def test_resolve_none_number_tuple_norm():
    assert resolve("walking_speed") is NORMS["walking_speed"]
    assert resolve("walking_speed", 70).value == 70.0
    assert resolve("walking_speed", 70, unit="m/min").confidence == "user"
    assert resolve("fixed_shelter_radius", (1_000, 1_500)).high == 1_500.0
    custom = Norm("my_speed", 50, "m/min", SOURCES["SVCNET"], confidence="assumption")
    assert resolve("walking_speed", custom) is custom


def test_resolve_rejects_a_norm_or_value_in_another_unit():
    wrong = Norm("radius", 500, "m", SOURCES["GB50413"])
    with pytest.raises(InputError, match=r"walking_speed.*'m/min'.*'m'"):
        resolve("walking_speed", wrong)
    with pytest.raises(InputError, match="km/h"):
        resolve("walking_speed", 4.5, unit="km/h")
    with pytest.raises(InputError, match="km/h"):
        resolve("walking_speed", unit="km/h")


def test_unknown_name_lists_close_matches():
    with pytest.raises(InputError, match="people_per_center") as info:
        get_norm("people_per_centre")
    assert "no norm called 'people_per_centre'" in str(info.value)
    with pytest.raises(InputError, match="no norm called"):
        resolve("zzz")


def test_registry_and_norms_are_immutable():
    with pytest.raises(TypeError):
        NORMS["walking_speed"] = NORMS["centers_planned"]
    with pytest.raises(TypeError):
        del NORMS["walking_speed"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        NORMS["walking_speed"].value = 80.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        SOURCES["GB50437"].year = "2007"
    with pytest.raises(TypeError):
        SHELTER_TYPES["fixed"]["radius"] = "x"


def test_norm_validation_at_construction():
    source = Source("K", "题 (title)", "2020", "example.org")
    assert source.label == "K"
    with pytest.raises(InputError, match="unit"):
        Norm("x", 1, "furlongs", source)
    with pytest.raises(InputError, match="confidence"):
        Norm("x", 1, "m", source, confidence="sure")
    with pytest.raises(InputError, match="Source"):
        Norm("x", 1, "m", "GB50180")


def test_norms_table_columns_and_rows():
    table = norms_table()
    assert isinstance(table, pd.DataFrame)
    for column in ("name", "value", "unit", "source", "clause", "year", "confidence", "note"):
        assert column in table.columns
    assert list(table["name"]) == list(NORMS)
    row = table.set_index("name").loc["people_per_center"]
    assert (row["value"], row["low"], row["high"]) == ("15,000–20,000", 15_000.0, 20_000.0)
    assert row["year"] == "2011–2015" and row["confidence"] == "high"
    user = resolve("walking_speed", 75)
    small = norms_table(["walking_speed", user])
    assert small["value"].tolist() == ["60", "75"]
    assert small["confidence"].tolist() == ["medium", "user"]


def test_shelter_norms():
    fixed = shelter_norms("fixed")
    assert fixed["radius"].value == (2_000.0, 3_000.0)
    assert fixed["area_per_person"].value == 2.0
    assert fixed["capacity_share"].value == (0.2, 0.3)
    emergency = shelter_norms("emergency")
    assert emergency["radius"].value == 500.0 and emergency["area_per_person"].value == 1.0
    assert emergency["capacity_share"].confidence == "assumption"
    with pytest.raises(InputError, match="'emergency', 'fixed'"):
        shelter_norms("central")


def test_charity_levels():
    assert CHARITY_LEVELS == ("city", "district", "subdistrict", "community")
    assert NORMS["charity_levels"].value == len(CHARITY_LEVELS)
