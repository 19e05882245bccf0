"""svcnet's location models against a peer: PySAL spopt's, solved by CBC through PuLP.

On seeded random instances (Euclidean costs between random points, integer weights) both
libraries must reach the same OPTIMAL objective value: the number of sites (LSCP), the covered
weight (MCLP), the total weighted distance (p-median) and the largest distance (p-center).
Site sets are not compared, since ties are common. spopt's objective is recomputed here from the
sites it opened (its ``fac_vars``), not read from its attributes, and every svcnet solution goes
through :func:`svcnet.models.verify`.

Variants:
- ``dense``: a plain dense matrix on both sides.
- ``ties``: integer Manhattan costs on a small grid with unit weights, so many optima tie.
- ``sparse``: a cutoff matrix on our side (scipy.sparse, absent = beyond the cutoff, with explicit
  zero costs where a demand point sits on a site, and once wrapped in an object with ``.matrix``).
  spopt takes dense matrices only. Its LSCP and MCLP accept ``inf`` for a pair beyond the cutoff
  (``inf <= radius`` is false). Its PMedian and PCenter do not: PuLP refuses to multiply a
  variable by ``inf``. So those two get a large finite cost instead. That gives the same optimum
  because each instance is built so that p sites can serve every demand point within the cutoff,
  and the stand-in cost is larger than any such solution's objective.
- ``tight``: as ``sparse``, but the cutoff is the p-center optimum itself (found by spopt on
  the dense matrix, plus 0.01 %), as when a planner's walking limit is just achievable (this
  variant caught PCenter returning an infeasible start as "optimal").
- ``fixed``: sites that must stay open (spopt's ``predefined_facilities_arr``) and forbidden
  sites (columns dropped on spopt's side).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pulp
import pytest
import scipy.sparse as sp
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist
from spopt import locate as peer

from svcnet.models import LSCP, MCLP, PCenter, PMedian, verify

SEEDS = {
    "dense": range(8),
    "ties": range(4),
    "sparse": range(4),
    "tight": range(4),
    "fixed": range(3),
}
CASES = [(variant, seed) for variant, seeds in SEEDS.items() for seed in seeds]
SIDE = 100.0  # demand and sites are drawn in a SIDE x SIDE square
GRID = 12  # the ``ties`` variant draws integer points in a GRID x GRID square
REL = 1e-6

# spopt builds its models through PuLP's deprecated constructors; that is not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:.*PuLP 4.0:DeprecationWarning")


@dataclass(frozen=True)
class CostMatrixLike:
    """Any object with a ``.matrix`` attribute is accepted as costs (like svcnet's CostMatrix)."""

    matrix: object


@dataclass(frozen=True)
class Instance:
    """One random instance, in svcnet's form and in spopt's."""

    costs: np.ndarray  # full dense Euclidean costs, demand x sites
    ours: object  # what svcnet receives: dense, sparse or CostMatrixLike
    cutoff: float  # math.inf when there is none
    weights: np.ndarray
    p: int
    lscp_radius: float
    mclp_radius: float
    existing: np.ndarray  # svcnet site indices
    forbidden: np.ndarray
    peer_columns: np.ndarray  # svcnet site index of each of spopt's columns

    @property
    def allowed_costs(self) -> np.ndarray:
        """Dense costs with inf beyond the cutoff, spopt's columns only."""
        costs = np.where(self.costs <= self.cutoff, self.costs, np.inf)
        return costs[:, self.peer_columns]

    @property
    def peer_existing(self) -> np.ndarray | None:
        """spopt's predefined facilities: a 0/1 array over its columns, or None."""
        if not self.existing.size:
            return None
        return np.isin(self.peer_columns, self.existing).astype(int)


def _farthest_first(costs: np.ndarray, p: int) -> float:
    """Radius of a greedy farthest-first p-set: p sites can serve everyone within it."""
    nearest = np.full(costs.shape[0], np.inf)
    for _ in range(p):
        worst = int(np.argmax(nearest))
        site = int(np.argmin(costs[worst]))
        nearest = np.minimum(nearest, costs[:, site])
    return float(nearest.max())


@functools.cache
def make_instance(variant: str, seed: int) -> Instance:
    rng = np.random.default_rng([2024, seed, list(SEEDS).index(variant)])
    n = int(rng.integers(30, 61))
    m = int(rng.integers(10, 21))
    p = int(rng.integers(3, 7))
    if variant == "ties":
        demand = rng.integers(0, GRID, (n, 2)).astype(float)
        sites = rng.integers(0, GRID, (m, 2)).astype(float)
    else:
        demand = rng.uniform(0, SIDE, (n, 2))
        sites = rng.uniform(0, SIDE, (m, 2))
    sites[:3] = demand[:3]  # three demand points sit on sites: zero costs
    if variant == "ties":
        costs = cdist(demand, sites, "cityblock")
        weights = np.ones(n)
    else:
        costs = cdist(demand, sites)
        weights = rng.integers(1, 50, n).astype(float)
    existing = forbidden = np.zeros(0, dtype=np.int64)
    cutoff = math.inf
    ours: object = costs
    if variant == "fixed":
        existing = np.array([int(rng.integers(0, m))])
        forbidden = rng.choice(np.setdiff1d(np.arange(m), existing), size=2, replace=False)
        forbidden = np.sort(forbidden)
    peer_columns = np.setdiff1d(np.arange(m), forbidden)
    if variant == "sparse":
        cutoff = 1.05 * _farthest_first(costs, p)
    elif variant == "tight":
        cutoff = 1.0001 * _peer_pcenter_radius(costs, p)
    if variant in ("sparse", "tight"):
        tree_d, tree_s = cKDTree(demand), cKDTree(sites)
        matrix = tree_d.sparse_distance_matrix(tree_s, cutoff, output_type="coo_matrix").tocsr()
        assert (matrix.data == 0).sum() >= 3
        ours = CostMatrixLike(matrix) if seed == 0 else matrix
    within = np.where(costs <= cutoff, costs, np.inf)[:, peer_columns]
    reach = within.min(axis=1).max()  # every demand point has a site within this
    lscp_radius = float(reach * rng.uniform(1.0, 1.4))
    if variant in ("sparse", "tight"):
        lscp_radius = 1.3 * cutoff  # the cutoff binds, not the radius
    mclp_radius = float(rng.integers(2, 5)) if variant == "ties" else float(rng.uniform(15, 25))
    return Instance(
        costs, ours, cutoff, weights, p, lscp_radius, mclp_radius, existing, forbidden, peer_columns
    )


# ----------------------------------------------------------------------------- spopt's side


def _cbc():
    """spopt's documented default: CBC through PuLP (PuLP's wheel bundles CBC)."""
    solver = pulp.PULP_CBC_CMD(msg=False)
    if not solver.available():  # conda-forge's pulp has no bundled CBC; coincbc puts one on PATH
        solver = pulp.COIN_CMD(msg=False)
    return solver


def _peer_open(model) -> np.ndarray:
    """Indices (in spopt's columns) of the sites spopt opened."""
    return np.flatnonzero([var.value() > 0.5 for var in model.fac_vars])


def _finite_stand_in(costs: np.ndarray, scale: float) -> np.ndarray:
    """``inf`` replaced by a cost no optimal solution uses (for spopt's PMedian / PCenter)."""
    finite = costs[np.isfinite(costs)]
    big = 10.0 * (scale * float(finite.max()) + 1.0)
    return np.where(np.isfinite(costs), costs, big)


def _peer_pcenter_radius(costs: np.ndarray, p: int) -> float:
    """The optimal p-center radius by spopt (used to make the ``tight`` cutoff)."""
    model = peer.PCenter.from_cost_matrix(costs, p).solve(_cbc())
    return float(costs[:, _peer_open(model)].min(axis=1).max())


@functools.cache
def peer_lscp(variant: str, seed: int) -> float:
    inst = make_instance(variant, seed)
    costs = inst.allowed_costs
    model = peer.LSCP.from_cost_matrix(
        costs, inst.lscp_radius, predefined_facilities_arr=inst.peer_existing
    ).solve(_cbc())
    opened = _peer_open(model)
    assert (costs[:, opened].min(axis=1) <= inst.lscp_radius).all()
    return float(len(opened))


@functools.cache
def peer_mclp(variant: str, seed: int) -> float:
    inst = make_instance(variant, seed)
    costs = inst.allowed_costs
    model = peer.MCLP.from_cost_matrix(
        costs, inst.weights, inst.mclp_radius, inst.p, predefined_facilities_arr=inst.peer_existing
    ).solve(_cbc())
    opened = _peer_open(model)
    assert len(opened) == inst.p
    return float(inst.weights[costs[:, opened].min(axis=1) <= inst.mclp_radius].sum())


@functools.cache
def peer_pmedian(variant: str, seed: int) -> float:
    inst = make_instance(variant, seed)
    costs = inst.allowed_costs
    model = peer.PMedian.from_cost_matrix(
        _finite_stand_in(costs, inst.weights.sum()),
        inst.weights,
        inst.p,
        predefined_facilities_arr=inst.peer_existing,
    ).solve(_cbc())
    opened = _peer_open(model)
    assert len(opened) == inst.p
    nearest = costs[:, opened].min(axis=1)
    assert np.isfinite(nearest).all(), "spopt used a pair beyond the cutoff"
    return float((inst.weights * nearest).sum())


@functools.cache
def peer_pcenter(variant: str, seed: int) -> float:
    inst = make_instance(variant, seed)
    costs = inst.allowed_costs
    model = peer.PCenter.from_cost_matrix(
        _finite_stand_in(costs, 1.0), inst.p, predefined_facilities_arr=inst.peer_existing
    ).solve(_cbc())
    opened = _peer_open(model)
    assert len(opened) == inst.p
    nearest = costs[:, opened].min(axis=1)
    assert np.isfinite(nearest).all(), "spopt used a pair beyond the cutoff"
    return float(nearest.max())


# ------------------------------------------------------------------------------ svcnet's side


def _check(model, solution, expected: float, *, exact: bool = True) -> None:
    """Verify our solution and compare it with spopt's optimum.

    With ``exact`` it must be proven optimal and equal to the peer's value; otherwise (a
    heuristic) the peer's optimum must lie between our bound and our objective.
    """
    verify(solution, model)
    low, high = sorted([solution.bound, solution.objective])
    tol = REL * max(1.0, abs(expected))
    assert low - tol <= expected <= high + tol, (solution, expected)
    if exact:
        assert solution.status == "optimal", solution
        assert solution.gap <= 1e-9, solution
        assert solution.objective == pytest.approx(expected, rel=REL, abs=1e-9)
    elif solution.status == "optimal":
        assert solution.objective == pytest.approx(expected, rel=REL, abs=1e-9)


def _common(inst: Instance) -> dict:
    cutoff = None if math.isinf(inst.cutoff) else inst.cutoff
    # the sparse matrix is already cut; passing the cutoff again must change nothing
    return {"existing": inst.existing, "forbidden": inst.forbidden, "cutoff": cutoff}


@pytest.mark.parametrize(("variant", "seed"), CASES)
def test_lscp_matches_spopt(variant, seed):
    inst = make_instance(variant, seed)
    model = LSCP.from_cost_matrix(inst.ours, radius=inst.lscp_radius, **_common(inst))
    _check(model, model.solve(), peer_lscp(variant, seed))


@pytest.mark.parametrize(("variant", "seed"), CASES)
def test_mclp_matches_spopt(variant, seed):
    inst = make_instance(variant, seed)
    model = MCLP.from_cost_matrix(
        inst.ours, inst.weights, radius=inst.mclp_radius, p=inst.p, **_common(inst)
    )
    _check(model, model.solve(), peer_mclp(variant, seed))


@pytest.mark.parametrize("method", ["auto", "exact", "heuristic"])
@pytest.mark.parametrize(("variant", "seed"), CASES)
def test_pmedian_matches_spopt(variant, seed, method):
    inst = make_instance(variant, seed)
    model = PMedian.from_cost_matrix(inst.ours, inst.weights, p=inst.p, **_common(inst))
    solution = model.solve(method=method)
    _check(model, solution, peer_pmedian(variant, seed), exact=method != "heuristic")


@pytest.mark.parametrize(("variant", "seed"), CASES)
def test_pcenter_matches_spopt(variant, seed):
    inst = make_instance(variant, seed)
    model = PCenter.from_cost_matrix(inst.ours, p=inst.p, **_common(inst))
    _check(model, model.solve(), peer_pcenter(variant, seed))


def test_instances_exercise_what_they_claim():
    """The sparse variant really cuts pairs and keeps zeros; the fixed one really constrains."""
    for variant, seed in CASES:
        if variant not in ("sparse", "tight"):
            continue
        inst = make_instance(variant, seed)
        matrix = inst.ours.matrix if isinstance(inst.ours, CostMatrixLike) else inst.ours
        assert sp.issparse(matrix)
        assert matrix.nnz < 0.9 * inst.costs.size
        assert (matrix.data == 0).sum() >= 3
    for seed in SEEDS["fixed"]:
        inst = make_instance("fixed", seed)
        assert inst.existing.size == 1 and inst.forbidden.size == 2
        assert len(inst.peer_columns) == inst.costs.shape[1] - 2
