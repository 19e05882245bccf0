"""The norms of a shelter kind: reach, area per person and share sheltered, with overrides."""

from __future__ import annotations

from dataclasses import dataclass

from svcnet import standards
from svcnet.errors import InputError


@dataclass(frozen=True)
class Norms:
    kind: str
    radius: standards.Norm
    reach_m: float
    area: standards.Norm
    share: standards.Norm
    share_used: float
    speed: standards.Norm
    min_area: standards.Norm

    @property
    def reach_minutes(self) -> float:
        return self.reach_m / self.speed.value


def resolve_norms(kind, radius_m, m2_per_person, capacity_share, walk_speed) -> Norms:
    defaults = standards.shelter_norms(kind)
    radius = standards.resolve(defaults["radius"].name, radius_m)
    area = standards.resolve(defaults["area_per_person"].name, m2_per_person)
    share = standards.resolve(defaults["capacity_share"].name, capacity_share)
    speed = standards.resolve("walking_speed", walk_speed)
    for norm, what in (
        (radius, "radius_m"),
        (area, "m2_per_person"),
        (share, "capacity_share"),
        (speed, "walk_speed"),
    ):
        if not norm.low > 0:
            raise InputError(f"{what} must be positive; got {norm.value!r}")
    if share.high > 1:
        raise InputError(f"capacity_share is a share of residents, at most 1; got {share.value!r}")
    return Norms(
        kind,
        radius,
        float(radius.high),
        area,
        share,
        float(share.high),
        speed,
        standards.resolve("shelter_site_min_area"),
    )
