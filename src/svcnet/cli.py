"""The ``svcnet`` command line.

``svcnet demo --out DIR`` runs the main job on the bundled Shenzhen data;
``svcnet info FILE`` shows what svcnet sees in a data file.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from svcnet.errors import SvcnetError

logger = logging.getLogger(__name__)

__all__ = ["main"]


def _demo(out: Path) -> int:
    from svcnet import datasets
    from svcnet.io import write_table, write_vector
    from svcnet.viz import save_map

    started = time.perf_counter()
    written = []
    for loader in (datasets.load_futian, datasets.load_shenzhen):
        region = loader()
        stem = region.name.lower()
        logger.info("loaded %r", region)
        summary = region.summary()
        protected = region.sources
        write_table(summary, out / f"{stem}_summary.csv", protected=protected)
        write_vector(region.population, out / f"{stem}.gpkg", layer="population",
                     protected=protected)  # fmt: skip
        for level, units in region.boundaries.items():
            write_vector(units, out / f"{stem}.gpkg", layer=level, protected=protected)
        save_map(region.explore(), out / f"{stem}_map.html", protected=protected)
        written += [f"{stem}_summary.csv", f"{stem}.gpkg", f"{stem}_map.html"]
        _print_summary(region.name, summary)
    elapsed = time.perf_counter() - started
    sys.stdout.write(f"\nWrote {', '.join(written)} to {out} in {elapsed:.1f} s\n")
    return 0


def _print_summary(name: str, summary: pd.DataFrame) -> None:
    columns = [c for c in ("level", "unit", "pop", "pop_0_14", "pop_60plus", "pop_65plus",
                           "area_km2", "density_per_km2") if c in summary.columns]  # fmt: skip
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        text = summary[columns].to_string(index=False, float_format=lambda v: f"{v:,.1f}")
    sys.stdout.write(f"\n{name}\n{text}\n")


def _info(path: Path) -> int:
    from svcnet._info import describe_file

    sys.stdout.write(describe_file(path) + "\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="svcnet", description="Plan where public services go, on real population grids."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job on the bundled Shenzhen data")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
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
        The exit status: 0 on success, 2 on bad input.

    Examples
    --------
    >>> from svcnet.datasets import data_dir
    >>> main(["info", str(data_dir() / "futian_roads.graphml.gz")])  # doctest: +ELLIPSIS
    /.../futian_roads.graphml.gz: road network
    4,243 nodes, 8,581 edges, ... km of edges; CRS epsg:4326
    0
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    try:
        if args.command == "demo":
            return _demo(args.out)
        return _info(args.file)
    except SvcnetError as exc:
        sys.stderr.write(f"svcnet: error: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
