"""Beds before the plan and room for new ones: existing beds, the budget, candidates' caps.

Also the pairs of cells and sites within the catchment, the 2SFCA's reach.
"""

from __future__ import annotations

import math
from numbers import Real

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet.errors import InputError
from svcnet.services._eldercare_inputs import TOL, Wording

__all__ = ["facility_beds", "bed_budget", "candidate_caps", "within_catchment"]


def facility_beds(kept: gpd.GeoDataFrame, existing_beds: object, wording: Wording) -> np.ndarray:
    """The beds of each existing facility, from a column or one number."""
    if isinstance(existing_beds, Real) and not isinstance(existing_beds, bool):
        if not (math.isfinite(existing_beds) and existing_beds >= 0):
            raise InputError(f"existing_beds must be a non-negative number; got {existing_beds!r}")
        return np.full(len(kept), float(existing_beds))
    if existing_beds is not None and not isinstance(existing_beds, str):
        msg = f"existing_beds must be a column name, a number or None; got {existing_beds!r}"
        raise InputError(msg)
    if not len(kept):
        return np.zeros(0)
    column = existing_beds or "capacity"
    ids = kept["facility_id"].astype(str)
    if column not in kept.columns:
        msg = f"the existing {wording.facility_noun} have no column {column!r} with their beds"
        raise InputError(msg, layer="existing", column=column)
    beds = pd.to_numeric(kept[column], errors="coerce").to_numpy(dtype=float)
    missing = ~np.isfinite(beds)
    if missing.any():
        msg = (f"{int(missing.sum())} existing {wording.facility_noun} have no bed count in "
               f"column {column!r}; give their beds with existing_beds= (a column or a number "
               f"per facility) or plan without them (existing=False)")  # fmt: skip
        raise InputError(msg, layer="existing", column=column, rows=ids[missing].tolist())
    if (beds < 0).any():
        msg = f"existing {wording.facility_noun} have negative beds in column {column!r}"
        raise InputError(msg, layer="existing", column=column, rows=ids[beds < 0].tolist())
    return beds


def bed_budget(total, existing: float, need: float, block: int, wording, notes) -> int:
    """New beds allowed: the total less the existing beds, in whole blocks."""
    if total is None:
        new = max(math.ceil((need - existing) / block - TOL), 0) * block
        notes.append(
            f"No total was given: the budget is the norm's {need:,.0f} beds for the "
            f"{wording.people} of the region less {existing:,.0f} existing, {new:,} new beds "
            f"(rounded up to blocks of {block})."
        )
        return new
    if total < existing - TOL:
        msg = (f"total_beds ({total:,.0f}) is below the {existing:,.0f} beds the existing "
               f"{wording.facility_noun} already have; raise total_beds to at least "
               f"{existing:,.0f} or leave it None")  # fmt: skip
        raise InputError(msg)
    new = math.floor((total - existing) / block + TOL) * block
    notes.append(
        f"The budget is {total:,.0f} beds in all: {existing:,.0f} existing and up to {new:,} "
        f"new (in blocks of {block}); the norm asks for {need:,.0f} for the region's "
        f"{wording.people}."
    )
    return new


def candidate_caps(chosen, most, least, block, area_per_bed, notes):
    """Most beds per candidate: ``most``, and its floor area over the area per bed."""
    caps = np.full(len(chosen), float(most))
    if area_per_bed and "floor_area_m2" in chosen.columns:
        area = pd.to_numeric(chosen["floor_area_m2"], errors="coerce").to_numpy(dtype=float)
        by_area = np.floor(area / area_per_bed / block + TOL) * block
        known = np.isfinite(by_area)
        caps[known] = np.minimum(caps[known], by_area[known])
        small = caps < least
        if small.any():
            notes.append(
                f"{int(small.sum()):,} candidate sites have too little floor area for "
                f"{least:g} beds at {area_per_bed:g} m2 per bed and are left out."
            )
            chosen, caps = chosen[~small].reset_index(drop=True), caps[~small]
            if not len(chosen):
                msg = (
                    f"no candidate site has the floor area for {least:g} beds at "
                    f"{area_per_bed:g} m2 per bed (floor_area_per_bed=False ignores it)"
                )
                raise InputError(msg, layer="candidates", column="floor_area_m2")
    return chosen, caps


def within_catchment(matrix: sp.csr_matrix, minutes: float) -> sp.csr_matrix:
    """The pairs within ``minutes`` (explicit zeros kept: a zero is a real zero time)."""
    coo = matrix.tocoo()
    keep = coo.data <= minutes
    out = sp.csr_matrix(
        (coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape, dtype=float
    )
    out.sum_duplicates()
    out.sort_indices()
    return out
