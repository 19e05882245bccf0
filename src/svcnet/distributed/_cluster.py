"""Reaching a Dask cluster, running tasks on it with a progress bar, and its memory.

svcnet never runs a process pool of its own: work beyond one process goes to
``dask.distributed`` (a :class:`~dask.distributed.Client` the caller gives, a
scheduler address, or a :class:`~dask.distributed.LocalCluster` started here).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from svcnet._progress import progress as progress_bar
from svcnet.errors import ClusterError, InputError

logger = logging.getLogger(__name__)

__all__ = ["connect", "local_client", "resolve_client", "run_tasks", "worker_memory",
           "check_memory"]  # fmt: skip

#: Seconds to wait for a scheduler given by its address.
CONNECT_TIMEOUT_S = 10.0
#: Share of a worker's memory limit one task may be estimated to take.
TASK_MEMORY_SHARE = 0.6
#: Origins above which a call with ``client=None`` starts a LocalCluster of its own.
AUTO_CLUSTER_ROWS = 2_000_000

_TASK_NUMBERS = itertools.count()  # makes task keys unique within the process


def _distributed() -> Any:
    try:
        import dask.distributed as distributed
    except ImportError as exc:  # pragma: no cover - dask is a dependency of the extra
        msg = ("running on a cluster needs dask.distributed: "
               "pip install 'svcnet[distributed]'")  # fmt: skip
        raise ClusterError(msg) from exc
    return distributed


def connect(address: str, *, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """A client of the Dask scheduler at ``address``, or a clear error within ``timeout``.

    Parameters
    ----------
    address
        The scheduler's address, such as ``"tcp://10.0.0.5:8786"``.
    timeout
        Seconds to wait for it to answer.

    Returns
    -------
    dask.distributed.Client

    Raises
    ------
    ClusterError
        The scheduler did not answer in time (or refused the connection).

    Examples
    --------
    >>> connect("tcp://127.0.0.1:9", timeout=1)  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    svcnet.errors.ClusterError: the Dask scheduler at tcp://127.0.0.1:9 did not answer ...
    """
    distributed = _distributed()
    if not isinstance(address, str) or not address.strip():
        msg = f"a scheduler address must be a string such as 'tcp://host:8786'; got {address!r}"
        raise InputError(msg)
    try:
        client = distributed.Client(address, timeout=f"{float(timeout)}s")
    except (OSError, TimeoutError, ValueError) as exc:
        msg = (
            f"the Dask scheduler at {address} did not answer within {timeout:g} s "
            f"({type(exc).__name__}: {exc}); is it running, and is the address right?"
        )
        raise ClusterError(msg) from exc
    _log_dashboard(client)
    return client


def local_client(n_workers: int | None = None, *, memory_limit: str | int = "auto") -> Any:
    """A client of a new :class:`~dask.distributed.LocalCluster`: one process per core.

    Parameters
    ----------
    n_workers
        Worker processes (default: the machine's cores), one thread each.
    memory_limit
        Per worker, as Dask takes it (``"4GiB"``, bytes, or ``"auto"``: the
        machine's memory shared evenly).

    Returns
    -------
    dask.distributed.Client
        Closing it (``client.close()``, or the end of a ``with`` block) closes
        its cluster too.

    Examples
    --------
    >>> client = local_client(2, memory_limit="2GiB")  # doctest: +SKIP
    >>> len(client.scheduler_info()["workers"])  # doctest: +SKIP
    2
    """
    distributed = _distributed()
    workers = n_workers or os.cpu_count() or 1
    # the client starts the cluster itself, so closing the client closes it too
    client = distributed.Client(
        n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory_limit,
        dashboard_address=":0",
    )  # fmt: skip
    _log_dashboard(client)
    return client


def _log_dashboard(client: Any) -> None:
    link = getattr(client, "dashboard_link", None)
    if link:
        logger.info("Dask dashboard: %s", link)


def resolve_client(client: Any, *, rows: int = 0) -> tuple[Any, bool]:
    """The client to run on (None: one machine) and whether it was started here.

    ``client`` is a :class:`~dask.distributed.Client`, a scheduler address,
    ``"local"`` (start a LocalCluster) or None: one machine, unless ``rows``
    exceeds :data:`AUTO_CLUSTER_ROWS`, when a LocalCluster is started (and
    closed after the call).

    Examples
    --------
    >>> resolve_client(None, rows=10)
    (None, False)
    """
    if client is None:
        if rows <= AUTO_CLUSTER_ROWS:
            return None, False
        logger.info("%d origins: starting a local Dask cluster (give client= to choose)", rows)
        return local_client(), True
    if isinstance(client, str):
        if client == "local":
            return local_client(), True
        return connect(client), True
    if not hasattr(client, "submit") or not hasattr(client, "scheduler_info"):
        msg = (f"client must be a dask.distributed.Client, a scheduler address or 'local'; "
               f"got {type(client).__name__}")  # fmt: skip
        raise InputError(msg)
    return client, False


@contextlib.contextmanager
def cluster_for(client: Any, *, rows: int = 0) -> Iterator[Any]:
    """:func:`resolve_client` as a context: a client started here is closed after the block."""
    resolved, owned = resolve_client(client, rows=rows)
    try:
        yield resolved
    finally:
        if owned and resolved is not None:
            resolved.close()  # a LocalCluster started by local_client closes with its client


def worker_memory(client: Any) -> int | None:
    """The smallest memory limit of the cluster's workers, in bytes (None: no limit set).

    Examples
    --------
    >>> worker_memory(client)  # doctest: +SKIP
    2147483648
    """
    workers = client.scheduler_info().get("workers", {})
    limits = [int(w.get("memory_limit") or 0) for w in workers.values()]
    limits = [m for m in limits if m > 0]
    return min(limits) if limits else None


def check_memory(client: Any, need_bytes: float, what: str) -> None:
    """Raise before any work when one task would not fit a worker's memory.

    Parameters
    ----------
    client
        The cluster's client.
    need_bytes
        The largest estimated memory of one task.
    what
        What the task is, for the message ("the costs of one tile").

    Raises
    ------
    ClusterError
        The estimate exceeds :data:`TASK_MEMORY_SHARE` of the smallest worker limit.

    Examples
    --------
    >>> check_memory(client, 64e9, "the costs of one tile")  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    svcnet.errors.ClusterError: the costs of one tile need about 64.0 GB ...
    """
    limit = worker_memory(client)
    if limit is None:
        return
    if need_bytes > TASK_MEMORY_SHARE * limit:
        msg = (f"{what} need about {need_bytes / 1e9:.1f} GB, more than "
               f"{TASK_MEMORY_SHARE:.0%} of a worker's {limit / 1e9:.1f} GB memory limit: "
               "use smaller tiles (tile_m=) or workers with more memory")  # fmt: skip
        raise ClusterError(msg)
    logger.info("%s: about %.0f MB per task (worker limit %.1f GB)",
                what, need_bytes / 1e6, limit / 1e9)  # fmt: skip


def run_tasks(
    client: Any,
    function: Callable[..., Any],
    arguments: Sequence[tuple[Any, ...]],
    *,
    desc: str,
    progress: bool = True,
) -> list[Any]:
    """Run ``function(*args)`` for every tuple of ``arguments`` on the cluster, in order.

    Each task has a key of its own; a worker lost mid-run has its tasks re-run
    elsewhere by the scheduler, and each result is taken once, by key. A
    progress bar counts the finished tasks.

    Returns
    -------
    list
        The results, in the order of ``arguments``.

    Examples
    --------
    >>> run_tasks(client, pow, [(2, 3), (3, 2)], desc="powers")  # doctest: +SKIP
    [8, 9]
    """
    import dask

    distributed = _distributed()
    batch = next(_TASK_NUMBERS)
    name = getattr(function, "__name__", "task").strip("_")
    # the data travels inside each task (not scattered ahead): the scheduler keeps it, so the
    # tasks of a lost worker can run again elsewhere; large tasks are meant, so no warning
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "4GB"}):
        futures = [
            client.submit(function, *args, key=f"svcnet-{name}-{os.getpid()}-{batch}-{i}",
                          pure=False, retries=2)
            for i, args in enumerate(arguments)
        ]  # fmt: skip
    position = {future.key: i for i, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    with progress_bar(total=len(futures), desc=desc, unit="task", disable=not progress) as bar:
        for future in distributed.as_completed(futures):
            results[position[future.key]] = future.result()
            future.release()
            bar.update(1)
    return results
