"""Solvers behind the location models: HiGHS (exact MILP) and p-median heuristics with bounds."""

from svcnet.solvers.highs import MipResult, solve_mip

__all__ = ["MipResult", "solve_mip"]
