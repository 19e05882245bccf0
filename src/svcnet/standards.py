"""Planning norms as data: every value with its unit, its source and how sure we are of it.

A :class:`Norm` is one planning figure (``40`` beds per 1,000 elderly, a
``500`` m walking radius, ``15,000``-``20,000`` people per community service
center ...) together with its unit, the :class:`Source` it was read in, the
clause, a confidence level and a one-sentence note. :data:`NORMS` is the
read-only registry of the defaults; planners never read it directly but go
through :func:`resolve`, which turns the caller's override (a number, a
``(low, high)`` tuple or a :class:`Norm`) into a Norm, so a report can always
say where each figure came from (:attr:`Norm.citation`, :func:`norms_table`).

Confidence levels
    ``high``: read in a text quoting the standard or plan directly;
    ``medium``: read in a secondary or damaged but legible text;
    ``unconfirmed``: no source seen, a placeholder to verify before use;
    ``derived``: computed from other norms; ``assumption``: svcnet's own
    choice where no norm was found; ``user``: set by the caller.

The norms (name: value, unit; source)
    Community service centers
        ``people_per_center``: 15,000-20,000 persons per center (SZ-PLAN);
        ``centers_planned``: 700 centers city-wide (SZ-PLAN);
        ``existing_workstations``: 632 community workstations (SZ-PLAN).
    Life circles (GB 50180-2018, TD/T 1062-2021)
        ``life_circle_5min_distance``: 300 m; ``life_circle_10min_distance``: 500 m;
        ``life_circle_15min_distance``: 800-1,000 m;
        ``life_circle_5min_population``: 5,000-12,000 persons (unconfirmed);
        ``life_circle_10min_population``: 15,000-25,000 persons;
        ``life_circle_15min_population``: 50,000-100,000 persons;
        ``walking_speed``: 60 m/min (medium).
    Eldercare
        ``eldercare_beds_per_1000_elderly``: 40 (GB 50437 §3.2.1);
        ``eldercare_beds_per_1000_registered_elderly``: 40 (SZ-PLAN);
        ``eldercare_beds_target``: 8,600 beds (SZ-PLAN);
        ``eldercare_min_beds_per_site``: 20 beds; ``eldercare_floor_area_per_bed``: 35 m2;
        ``eldercare_land_area_per_bed``: 18-44 m2 (GB 50437 Table 3.2.4);
        ``eldercare_private_share``: 0.5 of welfare institutions (SZ-PLAN);
        ``national_beds_per_1000_elderly_2015``: 30 (NAT-ELD).
    Child welfare
        ``child_welfare_beds_target``: 1,200 beds (SZ-PLAN).
    Shelters
        ``emergency_shelter_radius``: 500 m; ``emergency_shelter_area_per_person``: 1 m2
        (GB 50413 §8.2.10, §8.2.8); ``emergency_shelter_capacity_share``: 1.0 (assumption);
        ``fixed_shelter_radius``: 2,000-3,000 m; ``fixed_shelter_area_per_person``: 2 m2
        (GB 50413); ``fixed_shelter_capacity_share``: 0.2-0.3 and
        ``fixed_shelter_capacity_share_central``: 0.3 (GD-SHELTER);
        ``shelter_site_min_area``: 2,000 m2 and ``shelter_living_area_per_person``: 1.5 m2
        (GB 21734 §5.4); ``sphere_covered_area_per_person``: 3.5 m2 (Sphere, comparison only).
    Charity
        ``charity_levels``: 4 levels, :data:`CHARITY_LEVELS` (SZ-PLAN);
        ``charity_community_radius``: 500 m (assumption).

Examples
--------
>>> from svcnet.standards import resolve
>>> resolve("eldercare_beds_per_1000_elderly").citation
'GB 50437-2007 (2018 rev.) §3.2.1, 2018 (medium)'
>>> resolve("eldercare_beds_per_1000_elderly", 35).value
35.0
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Real
from types import MappingProxyType

import pandas as pd

from svcnet.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "Source",
    "Norm",
    "SOURCES",
    "NORMS",
    "UNITS",
    "CONFIDENCE_LEVELS",
    "CHARITY_LEVELS",
    "SHELTER_TYPES",
    "get_norm",
    "resolve",
    "norms_table",
    "shelter_norms",
]

UNITS: frozenset[str] = frozenset(
    {
        "persons",
        "centers",
        "stations",
        "beds",
        "beds/1000 elderly",
        "m",
        "min",
        "m/min",
        "m2",
        "m2/person",
        "m2/bed",
        "share",
        "levels",
    }
)
"""The canonical units a norm may have."""

CONFIDENCE_LEVELS: tuple[str, ...] = (
    "high",
    "medium",
    "unconfirmed",
    "derived",
    "assumption",
    "user",
)
"""How sure we are of a value, from a direct quotation to the caller's own choice."""

_UNCONFIRMED = frozenset({"unconfirmed", "assumption"})

CHARITY_LEVELS: tuple[str, ...] = ("city", "district", "subdistrict", "community")
"""The four levels of Shenzhen's charity donation network (SZ-PLAN), coarsest first."""


@dataclass(frozen=True)
class Source:
    """A standard, plan or text a norm was read in.

    Parameters
    ----------
    key
        Short key, e.g. ``"GB50437"``.
    title
        Chinese title with an English gloss.
    year
        Year (or years) of the text as printed, e.g. ``"2018"`` or ``"2011–2015"``.
    url
        Where it was read (an address or a read-via note).
    label
        The designation used in citations, e.g. ``"GB 50437-2007 (2018 rev.)"``;
        defaults to ``key``.

    Examples
    --------
    >>> Source("X", "例 (example)", "2020", "example.org").label
    'X'
    """

    key: str
    title: str
    year: str
    url: str
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.key)


def _source(key: str, label: str, title: str, year: str, url: str) -> Source:
    return Source(key=key, title=title, year=year, url=url, label=label)


_SOURCE_LIST = (
    _source(
        "GB50180",
        "GB 50180-2018",
        "城市居住区规划设计标准 (Standard for planning and design of urban residential areas)",
        "2018",
        "read via ccprjournal.com.cn/news/9923.htm, zgbk.com/ecph/words?ID=491601 and quotations",
    ),
    _source(
        "TDT1062",
        "TD/T 1062-2021",
        "社区生活圈规划技术指南 (Technical guide for community life-circle planning)",
        "2021",
        "read via upi-planning.org.cn (gwcg202205007) and a quoting module docstring",
    ),
    _source(
        "GB50437",
        "GB 50437-2007 (2018 rev.)",
        "城镇老年人设施规划规范 (Code for planning of urban facilities for the elderly)",
        "2018",
        "jz.720ku.net/guojiaguifan/206363.html (OCR-damaged excerpt)",
    ),
    _source(
        "GB21734",
        "GB 21734-2008",
        "地震应急避难场所 场址及配套设施 (Earthquake emergency shelters: site and facilities)",
        "2008",
        "§4 via lnky.gov.cn; §5.4 via gf.cabr-fire.com/article-50452.htm",
    ),
    _source(
        "GB50413",
        "GB 50413-2007",
        "城市抗震防灾规划标准 (Standard for urban planning on earthquake resistance)",
        "2007",
        "§8.2.8 and §8.2.10 as quoted at tihaiku.com/jzgc/2505841.html",
    ),
    _source(
        "GD-SHELTER",
        "粤府办〔2013〕44号",
        "广东省应急避护场所建设规划纲要(2013–2020年) (Guangdong emergency shelter plan outline)",
        "2013",
        "read via gdzjdaily.com.cn/shizheng/p/2660954.html and whgsj.com",
    ),
    _source(
        "NAT-ELD",
        "社会养老服务体系建设规划(2011–2015年)",
        "社会养老服务体系建设规划(2011–2015年) (National plan for the social eldercare system)",
        "2011",
        "jingji.cntv.cn/20111227/117721.shtml",
    ),
    _source(
        "SZ-PLAN",
        "Shenzhen civil-affairs 12th FYP",
        "深圳市民政事业发展第十二个五年规划 (Shenzhen Civil Affairs 12th Five-Year Plan)",
        "2011–2015",
        "key points published 2013-10-25; full text in the project's shared plan folder",
    ),
    _source(
        "SPHERE",
        "Sphere Handbook",
        "Sphere Handbook, shelter and settlement standard 3 (环球计划手册 住所标准3)",
        "2018",
        "spherehandbook.org/en/shelter-and-settlement-standard-3-covered-living-space/",
    ),
    _source(
        "SECONDARY",
        "secondary source",
        "二手资料 (secondary source: a code docstring quoting life-circle norms; no standard seen)",
        "",
        "a GitHub module docstring, not a standard's text",
    ),
    _source(
        "SVCNET",
        "svcnet assumption",
        "svcnet 默认假设 (svcnet's own default where no published norm was found)",
        "",
        "see the note of each norm",
    ),
)

SOURCES: Mapping[str, Source] = MappingProxyType({s.key: s for s in _SOURCE_LIST})
"""The sources the norms were read in, by key (read-only)."""

_USER_SOURCE = Source(
    key="user", title="set by the caller", year="", url="", label="set by the caller"
)


def _number_text(value: float) -> str:
    return f"{int(value):,}" if value.is_integer() else f"{value:,.6g}"


def _check_value(name: str, value: object, unit: str) -> float | tuple[float, float]:
    parts = value if isinstance(value, tuple | list) else (value,)
    if len(parts) not in (1, 2) or not all(
        isinstance(p, Real) and not isinstance(p, bool) for p in parts
    ):
        msg = f"norm {name!r} must be a number or a (low, high) pair of numbers; got {value!r}"
        raise InputError(msg)
    numbers = tuple(float(p) for p in parts)
    if not all(math.isfinite(p) and p >= 0 for p in numbers):
        msg = f"norm {name!r} must be finite and non-negative; got {value!r}"
        raise InputError(msg)
    if numbers[0] > numbers[-1]:
        msg = f"norm {name!r} must have low <= high; got {value!r}"
        raise InputError(msg)
    if unit == "share" and numbers[-1] > 1:
        msg = f"norm {name!r} is a share and must lie in [0, 1]; got {value!r}"
        raise InputError(msg)
    return numbers if len(numbers) == 2 else numbers[0]


@dataclass(frozen=True)
class Norm:
    """One planning norm: a value with its unit, source, clause and confidence.

    Parameters
    ----------
    name
        Registry name, snake_case (e.g. ``"people_per_center"``).
    value
        A number, or a ``(low, high)`` pair for a range. Stored as floats.
    unit
        One of :data:`UNITS`.
    source
        Where the value was read.
    clause
        Clause or table in the source (``"§3.2.1"``, ``"Table 3.2.4"``), or ``""``.
    confidence
        One of :data:`CONFIDENCE_LEVELS`.
    note
        One sentence on what the value means and how to use it.

    Examples
    --------
    >>> norm = Norm("radius", (2000, 3000), "m", SOURCES["GB50413"], "§8.2.10", "medium")
    >>> norm.low, norm.high, norm.is_range
    (2000.0, 3000.0, True)
    """

    name: str
    value: float | tuple[float, float]
    unit: str
    source: Source
    clause: str = ""
    confidence: str = "high"
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"a norm needs a non-empty name; got {self.name!r}")
        if self.unit not in UNITS:
            msg = f"norm {self.name!r} has unit {self.unit!r}; use one of {sorted(UNITS)}"
            raise InputError(msg)
        if self.confidence not in CONFIDENCE_LEVELS:
            msg = (
                f"norm {self.name!r} has confidence {self.confidence!r}; "
                f"use one of {', '.join(CONFIDENCE_LEVELS)}"
            )
            raise InputError(msg)
        if not isinstance(self.source, Source):
            raise InputError(f"norm {self.name!r} needs a Source; got {self.source!r}")
        object.__setattr__(self, "value", _check_value(self.name, self.value, self.unit))

    @property
    def is_range(self) -> bool:
        """Whether the value is a ``(low, high)`` range."""
        return isinstance(self.value, tuple)

    @property
    def low(self) -> float:
        """The lower end of the range (the value itself for a scalar)."""
        return self.value[0] if isinstance(self.value, tuple) else self.value

    @property
    def high(self) -> float:
        """The upper end of the range (the value itself for a scalar)."""
        return self.value[1] if isinstance(self.value, tuple) else self.value

    @property
    def confirmed(self) -> bool:
        """False for unconfirmed values and svcnet's own assumptions."""
        return self.confidence not in _UNCONFIRMED

    @property
    def value_text(self) -> str:
        """The value as printed in reports, e.g. ``'15,000–20,000'``."""
        if self.is_range:
            return f"{_number_text(self.low)}–{_number_text(self.high)}"
        return _number_text(self.low)

    @property
    def citation(self) -> str:
        """Source, clause, year and confidence, e.g. ``'GB 50413-2007 §8.2.10, 2007 (medium)'``."""
        head = " ".join(part for part in (self.source.label, self.clause) if part)
        year = f", {self.source.year}" if self.source.year else ""
        return f"{head}{year} ({self.confidence})"

    def override(self, value: object, unit: str | None = None) -> Norm:
        """A copy of this norm with the caller's value (confidence ``"user"``).

        Parameters
        ----------
        value
            A number or a ``(low, high)`` pair, finite and non-negative.
        unit
            The unit the caller's value is in; if given it must equal :attr:`unit`.

        Returns
        -------
        Norm

        Raises
        ------
        InputError
            If ``unit`` differs from this norm's unit, or the value is not valid.

        Examples
        --------
        >>> from svcnet.standards import get_norm
        >>> norm = get_norm("walking_speed").override(75)
        >>> norm.value, norm.confidence, norm.source.key
        (75.0, 'user', 'user')
        """
        if unit is not None and unit != self.unit:
            msg = f"norm {self.name!r} is in {self.unit!r}; the value given is in {unit!r}"
            raise InputError(msg)
        return dataclasses.replace(
            self,
            value=value,
            source=_USER_SOURCE,
            clause="",
            confidence="user",
            note=f"Set by the caller in place of {self.value_text} {self.unit} ({self.citation}).",
        )

    def __str__(self) -> str:
        return f"{self.name} = {self.value_text} {self.unit} [{self.citation}]"


def _norm(
    name: str,
    value: float | tuple[float, float],
    unit: str,
    source: str,
    clause: str,
    confidence: str,
    note: str,
) -> Norm:
    return Norm(name, value, unit, SOURCES[source], clause, confidence, note)


_CENTER_NORMS = (
    _norm(
        "people_per_center", (15_000, 20_000), "persons", "SZ-PLAN", "", "high",
        "Each community service center serves one base unit of this many residents.",
    ),
    _norm(
        "centers_planned", 700, "centers", "SZ-PLAN", "", "high",
        "Community service centers the city plans to have in all.",
    ),
    _norm(
        "existing_workstations", 632, "stations", "SZ-PLAN", "", "high",
        "Community workstations existing when the plan was written, the base to expand from.",
    ),
)  # fmt: skip

_LIFE_CIRCLE_NORMS = (
    _norm(
        "life_circle_5min_distance", 300, "m", "GB50180", "Table 3.0.4", "medium",
        "Walking distance of the 5-minute life circle, the reach of a community service station.",
    ),
    _norm(
        "life_circle_10min_distance", 500, "m", "GB50180", "", "high",
        "Walking distance of the 10-minute life circle, the default community-center reach.",
    ),
    _norm(
        "life_circle_15min_distance", (800, 1000), "m", "TDT1062", "", "medium",
        "Walking distance of the 15-minute life circle, the reach of subdistrict facilities.",
    ),
    _norm(
        "life_circle_5min_population", (5_000, 12_000), "persons", "GB50180", "Table 3.0.4",
        "unconfirmed",
        "Residents of one 5-minute life circle; no source confirmed it, verify before use.",
    ),
    _norm(
        "life_circle_10min_population", (15_000, 25_000), "persons", "GB50180", "", "high",
        "Residents of one 10-minute life circle, the band holding Shenzhen's base unit.",
    ),
    _norm(
        "life_circle_15min_population", (50_000, 100_000), "persons", "GB50180",
        "§2.0.2 / Table 3.0.4", "high",
        "Residents of one 15-minute life circle, the level of eldercare homes.",
    ),
    _norm(
        "walking_speed", 60, "m/min", "SECONDARY", "", "medium",
        "Planning walking speed that turns life-circle minutes into metres.",
    ),
)  # fmt: skip

_ELDERCARE_NORMS = (
    _norm(
        "eldercare_beds_per_1000_elderly", 40, "beds/1000 elderly", "GB50437", "§3.2.1", "medium",
        "Minimum eldercare beds per 1,000 elderly residents, sized on the planned population.",
    ),
    _norm(
        "eldercare_beds_per_1000_registered_elderly", 40, "beds/1000 elderly", "SZ-PLAN", "",
        "high",
        "Shenzhen's bed target, counted per 1,000 registered (hukou) elderly, not residents.",
    ),
    _norm(
        "eldercare_beds_target", 8_600, "beds", "SZ-PLAN", "", "high",
        "Total eldercare beds Shenzhen aims to have by 2015.",
    ),
    _norm(
        "eldercare_min_beds_per_site", 20, "beds", "GB50437", "Table 3.2.4", "medium",
        "A care home or nursing home should not have fewer beds than this.",
    ),
    _norm(
        "eldercare_floor_area_per_bed", 35, "m2/bed", "GB50437", "Table 3.2.4", "medium",
        "Minimum building floor area per bed in a care home or nursing home.",
    ),
    _norm(
        "eldercare_land_area_per_bed", (18, 44), "m2/bed", "GB50437", "Table 3.2.4", "medium",
        "Land area per bed of a care home or nursing home.",
    ),
    _norm(
        "eldercare_private_share", 0.5, "share", "SZ-PLAN", "", "high",
        "At least this share of welfare institutions is to be run privately.",
    ),
    _norm(
        "national_beds_per_1000_elderly_2015", 30, "beds/1000 elderly", "NAT-ELD", "", "high",
        "The national 2015 target, a benchmark below the 40 of the planning code.",
    ),
    _norm(
        "child_welfare_beds_target", 1_200, "beds", "SZ-PLAN", "", "high",
        "Total child-welfare beds in Shenzhen's plan.",
    ),
)  # fmt: skip

_SHELTER_NORMS = (
    _norm(
        "emergency_shelter_radius", 500, "m", "GB50413", "§8.2.10", "medium",
        "Service radius of an emergency shelter, about a 10-minute walk.",
    ),
    _norm(
        "emergency_shelter_area_per_person", 1.0, "m2/person", "GB50413", "§8.2.8", "medium",
        "Minimum effective area per sheltered person in an emergency shelter.",
    ),
    _norm(
        "emergency_shelter_capacity_share", 1.0, "share", "SVCNET", "", "assumption",
        "No share was found; svcnet assumes emergency shelters take every resident nearby.",
    ),
    _norm(
        "fixed_shelter_radius", (2_000, 3_000), "m", "GB50413", "§8.2.10", "medium",
        "Service radius of a fixed shelter, about an hour's walk.",
    ),
    _norm(
        "fixed_shelter_area_per_person", 2.0, "m2/person", "GB50413", "§8.2.8", "medium",
        "Minimum effective area per sheltered person in a fixed shelter.",
    ),
    _norm(
        "fixed_shelter_capacity_share", (0.2, 0.3), "share", "GD-SHELTER", "", "high",
        "Share of planned urban residents that fixed shelters must hold.",
    ),
    _norm(
        "fixed_shelter_capacity_share_central", 0.3, "share", "GD-SHELTER", "", "high",
        "Minimum fixed-shelter capacity share in central urban districts.",
    ),
    _norm(
        "shelter_site_min_area", 2_000, "m2", "GB21734", "§5.4", "high",
        "Recommended minimum effective area of one shelter site.",
    ),
    _norm(
        "shelter_living_area_per_person", 1.5, "m2/person", "GB21734", "§5.4", "high",
        "Mandatory minimum living area per person in an earthquake shelter.",
    ),
    _norm(
        "sphere_covered_area_per_person", 3.5, "m2/person", "SPHERE", "standard 3", "high",
        "International benchmark of covered floor area per person, for comparison only.",
    ),
)  # fmt: skip

_CHARITY_NORMS = (
    _norm(
        "charity_levels", len(CHARITY_LEVELS), "levels", "SZ-PLAN", "", "high",
        "Donation points at city, district, subdistrict and community level, in postal outlets.",
    ),
    _norm(
        "charity_community_radius", 500, "m", "SVCNET", "", "assumption",
        "No norm was found; svcnet borrows the 10-minute walk for community donation points.",
    ),
)  # fmt: skip

NORMS: Mapping[str, Norm] = MappingProxyType(
    {
        norm.name: norm
        for norm in (
            *_CENTER_NORMS,
            *_LIFE_CIRCLE_NORMS,
            *_ELDERCARE_NORMS,
            *_SHELTER_NORMS,
            *_CHARITY_NORMS,
        )
    }
)
"""The default norms by name (read-only); see the module docstring for the list."""

SHELTER_TYPES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "emergency": MappingProxyType(
            {
                "radius": "emergency_shelter_radius",
                "area_per_person": "emergency_shelter_area_per_person",
                "capacity_share": "emergency_shelter_capacity_share",
            }
        ),
        "fixed": MappingProxyType(
            {
                "radius": "fixed_shelter_radius",
                "area_per_person": "fixed_shelter_area_per_person",
                "capacity_share": "fixed_shelter_capacity_share",
            }
        ),
    }
)
"""For each shelter kind, the names of its radius, area-per-person and capacity-share norms."""


def get_norm(name: str) -> Norm:
    """The default norm called ``name``.

    Parameters
    ----------
    name
        A key of :data:`NORMS`.

    Returns
    -------
    Norm

    Raises
    ------
    InputError
        For an unknown name, listing the closest names.

    Examples
    --------
    >>> get_norm("people_per_center").value
    (15000.0, 20000.0)
    """
    try:
        return NORMS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(NORMS), n=5, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(NORMS)}"
        raise InputError(f"no norm called {name!r}; {hint}") from None


def resolve(name: str, value: object = None, *, unit: str | None = None) -> Norm:
    """Turn the caller's override of norm ``name`` into a :class:`Norm`.

    The one place planners take norms from: ``None`` gives the default, a
    number or ``(low, high)`` pair gives :meth:`Norm.override` of the default,
    and a Norm is accepted as is once its unit matches the default's.

    Parameters
    ----------
    name
        The norm's name in :data:`NORMS`.
    value
        None, a number, a ``(low, high)`` pair or a :class:`Norm`.
    unit
        The unit of ``value``; when given it must match the norm's unit.

    Returns
    -------
    Norm

    Raises
    ------
    InputError
        For an unknown name, a unit mismatch or an invalid value.

    Examples
    --------
    >>> resolve("fixed_shelter_capacity_share").value
    (0.2, 0.3)
    >>> resolve("fixed_shelter_capacity_share", 0.3).citation
    'set by the caller (user)'
    >>> resolve("walking_speed", 4.5, unit="km/h")
    Traceback (most recent call last):
    ...
    svcnet.errors.InputError: norm 'walking_speed' is in 'm/min'; the value given is in 'km/h'
    """
    default = get_norm(name)
    value_unit = value.unit if isinstance(value, Norm) else None
    for given in (unit, value_unit):
        if given is not None and given != default.unit:
            msg = f"norm {name!r} is in {default.unit!r}; the value given is in {given!r}"
            raise InputError(msg)
    if value is None:
        return default
    if isinstance(value, Norm):
        return value
    return default.override(value)


def norms_table(names: Iterable[str] | None = None) -> pd.DataFrame:
    """The norms as a table for reports.

    Parameters
    ----------
    names
        Norm names (or :class:`Norm` objects, e.g. overrides) to show; by default all of
        :data:`NORMS`.

    Returns
    -------
    pandas.DataFrame
        One row per norm with ``name``, ``value`` (as printed, e.g. ``"15,000–20,000"``),
        ``low``, ``high`` (floats), ``unit``, ``source`` (its citation label), ``clause``,
        ``year``, ``confidence`` and ``note``.

    Examples
    --------
    >>> norms_table(["walking_speed"])[["name", "value", "unit", "confidence"]].values.tolist()
    [['walking_speed', '60', 'm/min', 'medium']]
    """
    norms = [n if isinstance(n, Norm) else get_norm(n) for n in (names or list(NORMS))]
    rows = [
        {
            "name": n.name,
            "value": n.value_text,
            "low": n.low,
            "high": n.high,
            "unit": n.unit,
            "source": n.source.label,
            "clause": n.clause,
            "year": n.source.year,
            "confidence": n.confidence,
            "note": n.note,
        }
        for n in norms
    ]
    columns = ["name", "value", "low", "high", "unit", "source", "clause", "year"]
    return pd.DataFrame(rows, columns=[*columns, "confidence", "note"])


def shelter_norms(kind: str) -> dict[str, Norm]:
    """The radius, area-per-person and capacity-share norms of a shelter kind.

    Parameters
    ----------
    kind
        ``"emergency"`` or ``"fixed"``.

    Returns
    -------
    dict
        ``{"radius": Norm, "area_per_person": Norm, "capacity_share": Norm}``.

    Raises
    ------
    InputError
        For any other kind.

    Examples
    --------
    >>> {role: norm.value for role, norm in shelter_norms("emergency").items()}
    {'radius': 500.0, 'area_per_person': 1.0, 'capacity_share': 1.0}
    """
    if kind not in SHELTER_TYPES:
        msg = f"kind must be one of {', '.join(map(repr, SHELTER_TYPES))}; got {kind!r}"
        raise InputError(msg)
    return {role: get_norm(name) for role, name in SHELTER_TYPES[kind].items()}
