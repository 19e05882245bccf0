"""A fast start for the bounded model: open, one by one, the site that can gather most.

The site search on the transportation LP finds good site sets but needs many
LP solves; on a large part under a short time limit it may stop with few sites
open and many rows left unserved. :func:`greedy_areas` builds a solution in
time linear in the pairs instead: the existing sites first, then repeatedly the
site that can still gather the most unserved load, which takes its cheapest
unserved rows up to its maximum. A site that cannot gather its minimum any more
is never opened. The result is made feasible by
:func:`~svcnet.solvers.bounded_search.greedy_repair` and is a start for the
local search, not an answer on its own.
"""

from __future__ import annotations

import numpy as np

from svcnet.solvers.bounded_instance import Part

__all__ = ["greedy_areas"]


def greedy_areas(part: Part) -> tuple[np.ndarray, np.ndarray] | None:
    """A feasible assignment built by opening the site that gathers most, one at a time.

    Parameters
    ----------
    part
        The problem (its pairs sorted by site and value give each site's rows,
        cheapest first).

    Returns
    -------
    (assignment, is_open), feasible, or None when the repair finds none.

    Examples
    --------
    >>> from svcnet.solvers.bounded_instance import Part
    >>> part = Part.build(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 1]),
    ...     np.array([1.0, 5.0, 2.0, 1.0, 3.0, 1.0]), load=np.ones(3), lo=np.full(2, 2.0),
    ...     hi=np.full(2, 2.0), fallback=np.full(3, 50.0), penalized=True,
    ...     existing=np.zeros(2, bool), p=None, row_ids=np.arange(3), site_ids=np.arange(2))
    >>> assignment, is_open = greedy_areas(part)
    >>> assignment.tolist(), is_open.tolist()  # site 0 first (a tie); site 1 is left 1 row
    ([0, 0, -1], [True, False])
    """
    from svcnet.solvers.bounded_search import greedy_repair

    assignment = np.full(part.n, -1, dtype=np.int64)
    is_open = part.existing.copy()
    gatherable = part.reach().copy()  # unserved load each site can still reach
    usable = ~part.existing & (gatherable >= part.lo - 1e-9)
    for site in np.flatnonzero(part.existing):
        _take_rows(part, site, assignment, gatherable)
    while usable.any():
        site = int(np.argmax(np.where(usable, gatherable, -np.inf)))
        if gatherable[site] < part.lo[site] - 1e-9:
            break  # no site can gather its minimum any more
        usable[site] = False
        if _take_rows(part, site, assignment, gatherable) >= part.lo[site] - 1e-9:
            is_open[site] = True
        else:  # rows of uneven load left it short: give them back
            _release(part, site, assignment, gatherable)
        usable &= gatherable >= part.lo - 1e-9
    return greedy_repair(part, assignment, is_open)


def _take_rows(part: Part, site: int, assignment: np.ndarray, gatherable: np.ndarray) -> float:
    """Give ``site`` its cheapest unserved rows up to its maximum; returns its load."""
    pairs = part.by_site[part.site_ptr[site] : part.site_ptr[site + 1]]
    rows = part.rows[pairs]
    rows = rows[assignment[rows] < 0]
    loads = part.load[rows]
    room = part.hi[site] if np.isfinite(part.hi[site]) else np.inf
    taken = np.zeros(len(rows), bool)
    total = 0.0
    for k, load in enumerate(loads):  # first fit, cheapest first: a row too big is skipped
        if total + load <= room + 1e-9:
            taken[k] = True
            total += load
    chosen = rows[taken]
    assignment[chosen] = site
    _withdraw(part, chosen, gatherable, sign=-1.0)
    return total


def _release(part: Part, site: int, assignment: np.ndarray, gatherable: np.ndarray) -> None:
    """Undo :func:`_take_rows` for ``site``."""
    rows = np.flatnonzero(assignment == site)
    assignment[rows] = -1
    _withdraw(part, rows, gatherable, sign=1.0)


def _withdraw(part: Part, rows: np.ndarray, gatherable: np.ndarray, *, sign: float) -> None:
    """Subtract (sign -1) or add back (+1) the rows' loads at every site that reaches them."""
    pairs = part.pairs_of_rows(rows)
    np.add.at(gatherable, part.cols[pairs], sign * part.load[part.rows[pairs]])
