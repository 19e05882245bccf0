"""The ``svcnet`` command line.

``svcnet demo --out DIR`` runs the main job on the bundled Shenzhen data;
``svcnet plan SCENARIO.yaml --out DIR`` runs the plans of a scenario file
(:mod:`svcnet.scenario`); both run on a Dask cluster with ``--scheduler ADDRESS``.
``svcnet info FILE`` shows what svcnet sees in a data file.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from svcnet._progress import progress, quiet
from svcnet.errors import SvcnetError

logger = logging.getLogger(__name__)

__all__ = ["main"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _demo(out: Path, time_limit: float, scheduler: str | None = None) -> int:
    """The demo's regions and plans, written to ``out``; on the scheduler's cluster if given.

    The scheduler is reached before any work (one that does not answer stops
    the demo with a :class:`~svcnet.errors.ClusterError`).
    """
    started = time.perf_counter()
    if scheduler is not None:
        sys.stdout.write(f"svcnet demo: planning{_where(scheduler)}\n")
    with _client(scheduler) as client:
        written = _demo_outputs(out, time_limit, client)
    elapsed = time.perf_counter() - started
    sys.stdout.write(f"\nWrote {len(written)} files to {out} in {elapsed:.1f} s:\n")
    sys.stdout.write("".join(f"  {name}\n" for name in written))
    return 0


def _demo_outputs(out: Path, time_limit: float, client: Any = None) -> list[str]:
    """Load each bundled region, make its plans (on ``client``'s cluster when given)."""
    from svcnet import datasets

    written = []
    with progress(total=7, desc="demo", unit="step") as bar:
        for loader in (datasets.load_futian, datasets.load_shenzhen):
            region = loader()
            logger.info("loaded %r", region)
            bar.set_postfix_str(f"{region.name}: region")
            written += _region_outputs(region, out)
            plans: dict[str, Any] = {}
            for name, planner, limit in _demo_plans(region, time_limit):
                bar.set_postfix_str(f"{region.name}: {name}")
                extra = {}
                if name == "charity" and "centers" in plans:
                    # no community boundaries are bundled: the center plan's areas stand in
                    extra["communities"] = plans["centers"].areas
                if client is not None:  # every planner takes one
                    extra["client"] = client
                plans[name] = planner(region, time_limit=limit, **extra)
                written += _plan_outputs(region, name, plans[name], out)
                bar.update()
            bar.update()
    return written


def _region_outputs(region, out: Path) -> list[str]:
    from svcnet.io import write_table, write_vector
    from svcnet.viz import save_map

    stem = region.name.lower()
    summary = region.summary()
    protected = region.sources
    write_table(summary, out / f"{stem}_summary.csv", protected=protected)
    write_vector(region.population, out / f"{stem}.gpkg", layer="population",
                 protected=protected)  # fmt: skip
    for level, units in region.boundaries.items():
        write_vector(units, out / f"{stem}.gpkg", layer=level, protected=protected)
    save_map(region.explore(), out / f"{stem}_map.html", protected=protected)
    _print_summary(region.name, summary)
    return [f"{stem}_summary.csv", f"{stem}.gpkg", f"{stem}_map.html"]


def _demo_plans(region, time_limit: float) -> list[tuple[str, Any, float]]:
    """The plans the demo makes for a region: (name, planner, time limit).

    Futian gets all four planners on its street network (charity with the center
    plan's service areas standing in for communities); the whole city gets the
    city-wide community-center plan (straight-line walks on the 250 m grid), whose
    solver time is twice the per-plan limit and whose gap is reported.
    """
    import svcnet

    if region.name != "Futian":
        return [("centers", svcnet.plan_centers, 2 * time_limit)]
    return [
        ("centers", svcnet.plan_centers, time_limit),
        ("eldercare", svcnet.plan_eldercare, time_limit),
        ("shelters", svcnet.plan_shelters, time_limit),
        ("charity", svcnet.plan_charity, time_limit),
    ]


def _plan_outputs(region, name: str, plan, out: Path) -> list[str]:
    from svcnet.viz import save_report

    stem = f"{region.name.lower()}_{name}"
    folder = out / stem
    files = plan.to_files(folder, protected=region.sources)
    save_report(plan, out / f"{stem}_report.html", protected=region.sources)
    sys.stdout.write(_plan_text(f"{plan.region_name}: {plan.service}", plan))
    return [str(p.relative_to(out)) for p in files] + [f"{stem}_report.html"]


def _print_summary(name: str, summary: pd.DataFrame) -> None:
    columns = [c for c in ("level", "unit", "pop", "pop_0_14", "pop_60plus", "pop_65plus",
                           "area_km2", "density_per_km2") if c in summary.columns]  # fmt: skip
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        text = summary[columns].to_string(index=False, float_format=lambda v: f"{v:,.1f}")
    sys.stdout.write(f"\n{name}\n{text}\n")


def _plan(path: Path, out: Path, time_limit: float | None, scheduler: str | None = None) -> int:
    from svcnet.scenario import load_scenario, run_scenario

    started = time.perf_counter()
    scenario = load_scenario(path)
    chosen = scheduler or scenario.scheduler
    sys.stdout.write(f"{scenario.name}: planning {', '.join(scenario.services)}{_where(chosen)}\n")
    with _client(chosen) as client:
        written = run_scenario(scenario, out, time_limit=time_limit,
                               on_plan=_print_scenario_plan, scheduler=client)  # fmt: skip
    elapsed = time.perf_counter() - started
    sys.stdout.write(f"\nWrote {len(written)} files to {out} in {elapsed:.1f} s:\n")
    sys.stdout.write("".join(f"  {_relative(p, out)}\n" for p in written))
    return 0


@contextlib.contextmanager
def _client(scheduler: str | None) -> Iterator[Any]:
    """A client of the scheduler (or of a local cluster), its dashboard printed; None: here."""
    if scheduler is None:
        yield None
        return
    from svcnet.distributed import connect, local_client

    client = local_client() if scheduler == "local" else connect(scheduler)
    link = getattr(client, "dashboard_link", None)
    if link:
        sys.stdout.write(f"Dask dashboard: {link}\n")
    try:
        yield client
    finally:
        client.close()


def _where(scheduler: str | None) -> str:
    """Where the plans run, as ``svcnet plan`` and ``demo`` say it (nothing for this process)."""
    if scheduler is None:
        return ""
    if scheduler == "local":
        return " on a local Dask cluster"
    return f" on the Dask cluster at {scheduler}"


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def _print_scenario_plan(name: str, plan, files: list[Path]) -> None:
    """What ``svcnet plan`` prints for each plan as it is made."""
    sys.stdout.write(_plan_text(f"{name}: {plan.service} in {plan.region_name}", plan))


def _plan_text(heading: str, plan) -> str:
    """A plan's summary: sites new and kept, coverage before -> after, solver gap, notes."""
    status = plan.sites["status"]
    new = int((status == "new").sum())
    kept = int((status == "existing").sum())
    lines = [f"\n{heading}",
             f"  sites: {new} new, {kept} existing kept"]  # fmt: skip
    total = plan.summary().loc["total"]
    t = f"{plan.threshold_minutes:g}"
    shown = f"{plan.threshold_minutes:.1f}".removesuffix(".0")
    before, after = f"within_{t}min_before", f"within_{t}min_after"
    if before in total.index and after in total.index:
        unserved = f"; unserved {total['unserved']:,.0f}" if "unserved" in total.index else ""
        lines.append(f"  people within {shown} min: {total[before]:.1%} -> {total[after]:.1%}"
                     f"{unserved}")  # fmt: skip
    gap, seconds = plan.solver_gap, plan.solver_seconds
    if math.isfinite(gap):
        lines.append(f"  solver gap: {gap:.2%} in {seconds:.0f} s")
    else:
        lines.append(f"  solver gap: unknown (no lower bound) after {seconds:.0f} s")
    lines += [f"  - {note}" for note in plan.notes]
    return "\n".join(lines) + "\n"


def _info(path: Path) -> int:
    from svcnet._info import describe_file

    sys.stdout.write(describe_file(path) + "\n")
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def _address(text: str) -> str:
    if not text.strip() or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"not a scheduler address: {text!r}")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="svcnet", description="Plan where public services go, on real population grids."
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress details (same as --log-level DEBUG)")  # fmt: skip
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=None,
                        help="how much to log (default INFO; WARNING with --quiet)")  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars and only warnings in the log")  # fmt: skip
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job on the bundled Shenzhen data")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    demo.add_argument("--time-limit", type=float, default=60.0, metavar="SECONDS",
                      help="solver time per Futian plan (the city-wide plan gets 2x)")  # fmt: skip
    demo.add_argument("--scheduler", type=_address, default=None, metavar="ADDRESS",
                      help="plan on the Dask cluster whose scheduler is at ADDRESS (such as "
                           "tcp://10.0.0.5:8786; 'local' starts one on this machine): the "
                           "travel costs and the centers' models run on its workers")  # fmt: skip
    plan = sub.add_parser("plan", help="run the plans of a scenario file (YAML)")
    plan.add_argument("scenario", type=Path, help="the scenario file (see svcnet.scenario)")
    plan.add_argument("--out", type=Path, required=True, help="output folder")
    plan.add_argument("--time-limit", type=_seconds, default=None, metavar="SECONDS",
                      help="solver seconds per plan (overrides the scenario)")  # fmt: skip
    plan.add_argument("--scheduler", type=_address, default=None, metavar="ADDRESS",
                      help="plan on the Dask cluster whose scheduler is at ADDRESS (such as "
                           "tcp://10.0.0.5:8786; 'local' starts one on this machine): the "
                           "travel costs and the centers' models run on its workers "
                           "(overrides the scenario's scheduler)")  # fmt: skip
    info = sub.add_parser("info", help="what svcnet sees in a data file")
    info.add_argument("file", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 on bad input (a one-line message on
        standard error; the traceback only with ``--debug``).

    Examples
    --------
    >>> from svcnet.datasets import data_dir
    >>> main(["info", str(data_dir() / "futian_roads.graphml.gz")])  # doctest: +ELLIPSIS
    /.../futian_roads.graphml.gz: road network
    4,243 nodes, 8,581 edges, ... km of edges; CRS epsg:4326
    0
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=_log_level(args), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    try:
        with quiet(args.quiet):
            return _run(args)
    except (SvcnetError, OSError) as exc:
        if args.debug:
            raise
        sys.stderr.write(f"svcnet: error: {_one_line(exc)}\n")
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return _demo(args.out, args.time_limit, args.scheduler)
    if args.command == "plan":
        return _plan(args.scenario, args.out, args.time_limit, args.scheduler)
    return _info(args.file)


def _log_level(args: argparse.Namespace) -> int:
    if args.log_level is not None:
        return getattr(logging, args.log_level)
    if args.verbose:
        return logging.DEBUG
    return logging.WARNING if args.quiet else logging.INFO


def _one_line(exc: BaseException) -> str:
    """The error's message (a scenario's list of mistakes keeps one line per mistake)."""
    text = str(exc).strip()
    return text or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
