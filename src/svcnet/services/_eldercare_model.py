"""The bed-allocation MILP: its 2SFCA objective, reductions, greedy start, solve and check.

The formulation is in the docstring of :mod:`svcnet.services.eldercare`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from svcnet.access import two_step_fca
from svcnet.models.solution import VerificationError, relative_gap
from svcnet.services._eldercare_inputs import TOL

logger = logging.getLogger(__name__)

__all__ = ["UNIT_WEIGHT", "UNIT_TIERS", "BedProblem", "no_solve_record"]

#: Weight of a bed missing for a unit to reach the norm, when the unit is at none of it.
UNIT_WEIGHT = 20.0
#: Tiers of the unit penalty: a missing bed weighs UNIT_WEIGHT x (tiers below the unit's level) / K.
UNIT_TIERS = 10
_BED_COST = 1e-3  # per bed: no bed that closes no shortfall
_MINUTE_COST = 1e-4  # per bed, times the catchment's mean minutes over the catchment time


def _eye(n: int) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(n), (np.arange(n), np.arange(n))), shape=(n, n))


def no_solve_record(problem: BedProblem) -> dict[str, Any]:
    """The solver record of a plan with no new beds to place."""
    return {"model": "BedAllocation", "status": "not solved (no new beds)", "objective": math.nan,
            "bound": math.nan, "gap": math.nan, "seconds": 0.0, "method": "none", "sites": 0,
            "rows": 0, "columns": 0}  # fmt: skip


@dataclass(frozen=True, eq=False)
class BedProblem:
    """The bed-allocation MILP over the raw cells, with its reductions and its checker."""

    people: np.ndarray  # elderly per cell
    unit_codes: np.ndarray  # unit of each cell, as codes into unit_names
    unit_names: np.ndarray
    reach: sp.csr_matrix  # cells x sites, minutes of the pairs within the catchment
    catchment: np.ndarray  # D_j: elderly in reach of each site
    mean_minutes: np.ndarray  # m_j: elderly-weighted mean minutes over the catchment
    fixed: np.ndarray  # existing beds per site (0 for candidates)
    variable: np.ndarray  # sites that may take new beds
    least_blocks: np.ndarray  # per variable site
    most_blocks: np.ndarray  # per variable site
    rate: float
    block: int
    budget: int
    minutes: float

    @classmethod
    def build(cls, *, people, units, reach, fixed, caps, n_kept, expand_existing, rate, block,
              least, most, budget, minutes) -> BedProblem:  # fmt: skip
        """The problem for the cells and sites, with each site's least and most blocks."""
        n_sites = reach.shape[1]
        codes, names = pd.factorize(pd.Series(units, dtype=object), sort=True)
        pattern = reach.copy()
        pattern.data = np.ones_like(pattern.data)
        catchment = np.asarray(pattern.T @ people).ravel()
        weighted = np.asarray(reach.T @ people).ravel()
        mean_minutes = np.divide(weighted, catchment, out=np.zeros(n_sites), where=catchment > 0)
        all_fixed = np.zeros(n_sites)
        all_fixed[:n_kept] = fixed
        useful = np.ceil(rate * catchment / 1000.0 / block - TOL) * block
        if expand_existing:
            room = np.full(n_sites, float(most))
            room[:n_kept] = np.floor(np.maximum(most - fixed, 0) / block) * block
            least_beds = np.full(n_sites, float(least))
            least_beds[:n_kept] = 0.0
            candidates = np.arange(n_sites)
        else:
            room = np.zeros(n_sites)
            least_beds = np.full(n_sites, float(least))
            candidates = np.arange(n_kept, n_sites)
        room[n_kept:] = caps
        cap = np.minimum(room, np.maximum(useful - all_fixed, least_beds))
        ok = (catchment[candidates] > 0) & (cap[candidates] >= np.maximum(least_beds[candidates],
                                                                            block))  # fmt: skip
        variable = candidates[ok]
        return cls(
            people=people, unit_codes=codes, unit_names=np.asarray(names, dtype=object),
            reach=reach, catchment=catchment, mean_minutes=mean_minutes, fixed=all_fixed,
            variable=variable, least_blocks=(least_beds[variable] // block).astype(int),
            most_blocks=(cap[variable] // block).astype(int), rate=float(rate), block=block,
            budget=int(budget), minutes=float(minutes),
        )  # fmt: skip

    @property
    def n_variable(self) -> int:
        """How many sites may take new beds."""
        return len(self.variable)

    # -- the objective, from the raw cells (the checker) ------------------------------------
    def access(self, beds: np.ndarray) -> np.ndarray:
        """2SFCA access per cell (beds per person), by :func:`svcnet.access.two_step_fca`."""
        if not self.reach.nnz:
            return np.zeros(len(self.people))
        return np.asarray(two_step_fca(self.reach, self.people, beds, max_cost=self.minutes))

    def objective(self, beds: np.ndarray) -> dict[str, float]:
        """The model's objective for ``beds`` per site, recomputed from the raw cells."""
        cover = self.people * self.access(beds)
        need = self.rate * self.people / 1000.0
        cells = float(np.maximum(need - cover, 0.0).sum())
        unit_need = np.bincount(self.unit_codes, need, minlength=len(self.unit_names))
        unit_cover = np.bincount(self.unit_codes, cover, minlength=len(self.unit_names))
        tiers = sum(
            np.maximum((1 - q / UNIT_TIERS) * unit_need - unit_cover, 0.0).sum()
            for q in range(UNIT_TIERS)
        )
        new = beds - self.fixed
        ties = float(new @ (_BED_COST + _MINUTE_COST * self.mean_minutes / self.minutes))
        units = float(UNIT_WEIGHT / UNIT_TIERS * tiers)
        return {"objective": units + cells + ties, "units": units, "cells": cells, "ties": ties}

    # -- the MILP ---------------------------------------------------------------------------
    def _groups(self) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
        """Cells of one unit with the same sites in reach, merged: (weights, unit, pattern)."""
        reach = self.reach
        keys: dict[tuple[int, bytes], int] = {}
        group = np.empty(len(self.people), dtype=np.int64)
        for i in range(len(self.people)):
            cols = reach.indices[reach.indptr[i] : reach.indptr[i + 1]]
            key = (int(self.unit_codes[i]), np.sort(cols).tobytes())
            group[i] = keys.setdefault(key, len(keys))
        n_groups = len(keys)
        merge = sp.csr_matrix(
            (np.ones(len(group)), (group, np.arange(len(group)))), shape=(n_groups, len(group))
        )
        weights = np.asarray(merge @ self.people).ravel()
        unit = np.zeros(n_groups, dtype=np.int64)
        unit[group] = self.unit_codes
        pattern = reach.copy()
        pattern.data = np.ones_like(pattern.data)
        pattern = (merge @ pattern).tocsr()
        pattern.data = np.ones_like(pattern.data)
        return weights, unit, pattern

    def matrices(self, start: np.ndarray | None = None) -> dict[str, Any]:
        """The MILP in matrix form (columns: blocks, open, cell and unit shortfalls).

        ``start`` (blocks per variable site, e.g. from :meth:`greedy`) becomes a
        complete starting solution; without it, no new beds at all.
        """
        weights, unit, pattern = self._groups()
        inv = np.divide(1.0, self.catchment, out=np.zeros_like(self.catchment),
                        where=self.catchment > 0)  # fmt: skip
        per_person = pattern @ sp.diags(inv)  # groups x sites: 1 / D_j in reach
        fixed_access = np.asarray(per_person @ self.fixed).ravel()
        cover = sp.diags(weights) @ per_person[:, self.variable] * self.block  # per block
        need = self.rate * weights / 1000.0
        rhs = need - weights * fixed_access
        rows = np.flatnonzero(rhs > TOL)
        n_units = len(self.unit_names)
        to_unit = sp.csr_matrix((np.ones(len(unit)), (unit, np.arange(len(unit)))),
                                shape=(n_units, len(unit)))  # fmt: skip
        unit_cover = (to_unit @ cover).tocsr()
        unit_fixed = to_unit @ (weights * fixed_access)
        unit_need = to_unit @ need
        tier_rows, tier_rhs = [], []
        for q in range(UNIT_TIERS):
            level = (1 - q / UNIT_TIERS) * unit_need - unit_fixed
            for u in np.flatnonzero(level > TOL):
                tier_rows.append(u)
                tier_rhs.append(level[u])
        tier_rows = np.asarray(tier_rows, dtype=np.int64)
        v, c, t = self.n_variable, len(rows), len(tier_rows)
        eye_v = sp.identity(v, format="csr")
        has_least = self.least_blocks > 0

        def pad(part: sp.spmatrix, left: int, right: int) -> sp.csr_matrix:
            height = part.shape[0]
            return sp.hstack([sp.csr_matrix((height, left)), part,
                              sp.csr_matrix((height, right))]).tocsr()  # fmt: skip

        cell_block = sp.hstack([cover[rows], sp.csr_matrix((c, v)), _eye(c),
                                sp.csr_matrix((c, t))])  # fmt: skip
        tier_block = sp.hstack([unit_cover[tier_rows], sp.csr_matrix((t, v + c)), _eye(t)])
        least_block = sp.hstack([eye_v, -sp.diags(self.least_blocks.astype(float))]).tocsr()
        least_block = least_block[np.flatnonzero(has_least)]
        most_block = sp.hstack([-eye_v, sp.diags(self.most_blocks.astype(float))])
        budget_block = sp.csr_matrix(np.full((1, v), float(self.block)))
        matrix = sp.vstack([
            cell_block, tier_block, pad(least_block, 0, c + t), pad(most_block, 0, c + t),
            pad(budget_block, 0, v + c + t),
        ]).tocsr()  # fmt: skip
        n_least = int(has_least.sum())
        row_lower = np.concatenate([rhs[rows], tier_rhs, np.zeros(n_least + v), [-np.inf]])
        row_upper = np.concatenate([np.full(c + t + n_least + v, np.inf), [float(self.budget)]])
        minutes = self.mean_minutes[self.variable]
        cost = np.concatenate([
            self.block * (_BED_COST + _MINUTE_COST * minutes / self.minutes), np.zeros(v),
            np.ones(c), np.full(t, UNIT_WEIGHT / UNIT_TIERS),
        ])  # fmt: skip
        col_upper = np.concatenate([self.most_blocks.astype(float), np.ones(v),
                                    np.full(c + t, np.inf)])  # fmt: skip
        integer = np.concatenate([np.ones(2 * v, bool), np.zeros(c + t, bool)])
        blocks = np.zeros(v) if start is None else np.asarray(start, dtype=float)
        short = np.maximum(rhs[rows] - cover[rows] @ blocks, 0.0)
        tier_short = np.maximum(np.asarray(tier_rhs) - unit_cover[tier_rows] @ blocks, 0.0)
        start = np.concatenate([blocks, (blocks > 0).astype(float), short, tier_short])
        return {"cost": cost, "matrix": matrix, "row_lower": row_lower, "row_upper": row_upper,
                "col_lower": np.zeros(len(cost)), "col_upper": col_upper, "integer": integer,
                "start": start, "groups": len(weights)}  # fmt: skip

    def solve(self, *, time_limit, mip_gap, seed) -> tuple[np.ndarray, dict[str, Any]]:
        """Solve with HiGHS, check the solution, and return new beds per site and the record."""
        from svcnet.solvers.highs import solve_mip

        started = time.perf_counter()
        greedy = self.greedy()
        greedy_new = np.zeros(len(self.fixed))
        greedy_new[self.variable] = greedy * self.block
        greedy_objective = self.objective(self.fixed + greedy_new)["objective"]
        greedy_seconds = time.perf_counter() - started
        logger.info("bed allocation: greedy start %.6g in %.2f s", greedy_objective,
                    greedy_seconds)  # fmt: skip
        model = self.matrices(greedy)
        groups = model.pop("groups")
        logger.info(
            "bed allocation: %d cells in %d groups, %d sites, %d rows, %d nonzeros",
            len(self.people), groups, self.n_variable, model["matrix"].shape[0],
            model["matrix"].nnz,
        )  # fmt: skip
        if time_limit is not None:
            time_limit = max(time_limit - greedy_seconds, 0.01)
        result = solve_mip(**model, time_limit=time_limit, mip_gap=mip_gap, seed=seed,
                           what="bed allocation")  # fmt: skip
        blocks = np.round(result.x[: self.n_variable]).astype(np.int64)
        new = np.zeros(len(self.fixed))
        new[self.variable] = blocks * self.block
        checked = self.check(new, result.objective, result.bound)
        gap = relative_gap(checked["objective"], result.bound, maximize=False)
        status = "optimal" if gap == 0 else ("within_gap" if result.status == "optimal"
                                             else "time_limit")  # fmt: skip
        record = {
            "model": "BedAllocation", "status": status, "objective": checked["objective"],
            "bound": result.bound, "gap": gap, "seconds": result.seconds + greedy_seconds,
            "method": "greedy start + mip (HiGHS)", "start_objective": greedy_objective,
            "sites": int((new > 0).sum()), "rows": model["matrix"].shape[0],
            "columns": model["matrix"].shape[1], "cell_groups": groups,
            "unit_shortfall_term": checked["units"], "cell_shortfall_beds": checked["cells"],
        }  # fmt: skip
        return new, record

    def greedy(self) -> np.ndarray:
        """Blocks per variable site by a lazy greedy on the objective: a start for the MILP.

        Each step adds to the site whose next step (its least size when closed,
        one block when open) lowers the objective most per bed, within its cap
        and the budget, until no step lowers it. The objective is convex in the
        beds, so a site's gain per bed only falls as beds are added anywhere, and
        a gain computed earlier is an upper bound (lazy evaluation).
        """
        import heapq

        v = self.n_variable
        pattern = self.reach[:, self.variable].tocsc()
        pattern.sort_indices()
        cells = pattern.indices
        share = self.people[cells] / np.repeat(self.catchment[self.variable],
                                                np.diff(pattern.indptr))  # fmt: skip
        n_units = len(self.unit_names)
        site_of = np.repeat(np.arange(v), np.diff(pattern.indptr))
        site_units = sp.csr_matrix((share, (site_of, self.unit_codes[cells])), shape=(v, n_units))
        site_units.sum_duplicates()
        need = self.rate * self.people / 1000.0
        cover = self.people * self.access(self.fixed)
        unit_need = np.bincount(self.unit_codes, need, minlength=n_units)
        unit_cover = np.bincount(self.unit_codes, cover, minlength=n_units)
        tiers = 1.0 - np.arange(UNIT_TIERS) / UNIT_TIERS
        per_bed = _BED_COST + _MINUTE_COST * self.mean_minutes[self.variable] / self.minutes
        blocks = np.zeros(v, dtype=np.int64)
        left = self.budget

        def penalty(units: np.ndarray, covered: np.ndarray) -> float:
            levels = tiers[None, :] * unit_need[units, None] - covered[:, None]
            return UNIT_WEIGHT / UNIT_TIERS * float(np.maximum(levels, 0.0).sum())

        def step_of(k: int) -> int:
            step = max(int(self.least_blocks[k]), 1) if blocks[k] == 0 else 1
            fits = blocks[k] + step <= self.most_blocks[k] and step * self.block <= left
            return step if fits else 0

        def gain(k: int, step: int) -> float:
            beds = step * self.block
            lo, hi = pattern.indptr[k], pattern.indptr[k + 1]
            idx, added = cells[lo:hi], share[lo:hi] * beds
            short = np.maximum(need[idx] - cover[idx], 0.0)
            total = float(np.minimum(short, added).sum())
            ulo, uhi = site_units.indptr[k], site_units.indptr[k + 1]
            units, more = site_units.indices[ulo:uhi], site_units.data[ulo:uhi] * beds
            total += penalty(units, unit_cover[units]) - penalty(units, unit_cover[units] + more)
            return total / beds - per_bed[k]

        heap = [(-gain(k, s), k) for k in range(v) if (s := step_of(k))]
        heapq.heapify(heap)
        while heap and left >= self.block:
            _, k = heapq.heappop(heap)
            step = step_of(k)
            if not step:
                continue
            value = gain(k, step)
            if value <= 0:
                continue
            if heap and value < -heap[0][0] - 1e-12:
                heapq.heappush(heap, (-value, k))
                continue
            beds = step * self.block
            lo, hi = pattern.indptr[k], pattern.indptr[k + 1]
            cover[cells[lo:hi]] += share[lo:hi] * beds
            ulo, uhi = site_units.indptr[k], site_units.indptr[k + 1]
            unit_cover[site_units.indices[ulo:uhi]] += site_units.data[ulo:uhi] * beds
            blocks[k] += step
            left -= beds
            heapq.heappush(heap, (-value, k))
        return blocks

    def check(self, new: np.ndarray, objective: float, bound: float) -> dict[str, float]:
        """Recompute feasibility and the objective of ``new`` beds from the raw cells."""
        others = np.setdiff1d(np.arange(len(new)), self.variable)
        if np.any(new[others] != 0):
            raise VerificationError("beds were given to sites the model may not change")
        blocks = new[self.variable] / self.block
        if np.any(blocks != np.round(blocks)) or np.any(blocks < 0):
            raise VerificationError(f"new beds are not whole blocks of {self.block}")
        opened = blocks > 0
        if np.any(blocks[opened] < self.least_blocks[opened]):
            raise VerificationError("a site has fewer beds than the least size")
        if np.any(blocks > self.most_blocks):
            raise VerificationError("a site has more beds than it may hold")
        if new.sum() > self.budget + TOL:
            raise VerificationError(f"{new.sum():,.0f} new beds exceed the {self.budget:,} budget")
        checked = self.objective(self.fixed + new)
        scale = max(1.0, abs(checked["objective"]))
        if checked["objective"] > objective + 1e-6 * scale:
            msg = (f"the solver's objective {objective!r} is below the recomputed "
                   f"{checked['objective']!r}")  # fmt: skip
            raise VerificationError(msg)
        if bound > checked["objective"] + 1e-6 * scale:
            msg = f"the bound {bound!r} is above the recomputed objective {checked['objective']!r}"
            raise VerificationError(msg)
        return checked
