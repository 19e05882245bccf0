"""The bed planners' wording and the checks on their arguments: sizes, speed, tolerances."""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

from svcnet import standards
from svcnet.errors import InputError

__all__ = [
    "TOL",
    "DRIVE_SPEED",
    "Wording",
    "ELDERCARE",
    "CHILD_WELFARE",
    "positive",
    "check_sizes",
    "travel_speed",
]

#: Driving speed (m/min, 24 km/h) assumed when ``mode="drive"`` and no speed is given.
DRIVE_SPEED = 400.0
TOL = 1e-9  # slack in comparisons of beds and blocks


@dataclass(frozen=True)
class Wording:
    """What a bed planner is called and whom it serves."""

    service: str  # "eldercare beds"
    people: str  # "elderly"
    facilities: tuple[str, ...]  # region facility services counted as existing
    facility_noun: str  # "eldercare facilities"


ELDERCARE = Wording("eldercare beds", "elderly", ("eldercare",), "eldercare facilities")
CHILD_WELFARE = Wording(
    "child-welfare beds", "children", ("child_welfare",), "child-welfare facilities"
)


def positive(value: object, name: str) -> float:
    """``value`` as a float, if it is a finite positive number (``name`` in the message)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
        raise InputError(f"{name} must be a positive number; got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite; got {value!r}")
    return float(value)


def _whole(value: object, name: str) -> int:
    whole = isinstance(value, Real) and math.isfinite(value) and value == int(value)
    if isinstance(value, bool) or not whole or value < 0:
        raise InputError(f"{name} must be a whole number of beds; got {value!r}")
    return int(value)


def check_sizes(block: object, least: object, most: object) -> tuple[int, int, int]:
    """Block, least and most beds per site: whole, positive, least and most in whole blocks."""
    block = _whole(block, "block")
    if block < 1:
        raise InputError(f"block must be at least 1 bed; got {block}")
    least, most = _whole(least, "min_beds_per_site"), _whole(most, "max_beds_per_site")
    for name, value in (("min_beds_per_site", least), ("max_beds_per_site", most)):
        if value % block:
            lower, upper = value // block * block, (value // block + 1) * block
            msg = (
                f"{name} ({value}) is not a whole number of blocks of {block} beds; use "
                f"{name}={max(lower, block)} or {upper}, or a block dividing {value}"
            )
            raise InputError(msg)
    if most < max(least, block):
        msg = f"max_beds_per_site ({most}) must be at least min_beds_per_site ({least}) and block"
        raise InputError(msg)
    return block, least, most


def travel_speed(mode: str, speed: object) -> tuple[float, Any]:
    """Metres per minute for ``mode``, and the norm it comes from (None when driving)."""
    if mode == "walk":
        norm = standards.resolve("walking_speed", speed)
        return float(norm.value), norm
    if speed is None:
        return DRIVE_SPEED, None
    value = speed.value if isinstance(speed, standards.Norm) else speed
    return positive(value, "speed"), None
