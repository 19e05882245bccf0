"""Progress bars (``tqdm.auto``) that a caller can silence for a block of work.

The command line's ``--quiet`` runs its work inside :func:`quiet`; library
calls show their bars as usual. The switch is a context variable, so it holds
for the block (and its thread) only.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

__all__ = ["progress", "quiet"]

_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("svcnet_quiet", default=False)


def progress(iterable: Any = None, **kwargs: Any) -> Any:
    """A ``tqdm.auto`` bar, off inside :func:`quiet` (else as ``disable=`` says).

    Examples
    --------
    >>> with quiet():
    ...     bar = progress(range(3), desc="work")
    >>> bar.disable, sum(bar)
    (True, 3)
    """
    from tqdm.auto import tqdm

    if _QUIET.get():
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence svcnet's progress bars within the block (when ``enabled``).

    Examples
    --------
    >>> with quiet():
    ...     progress(total=2).disable
    True
    """
    token = _QUIET.set(bool(enabled))
    try:
        yield
    finally:
        _QUIET.reset(token)
