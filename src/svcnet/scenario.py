r"""Scenario files: the region, the services and their parameters for a batch of plans.

A scenario file (YAML) names the region to plan, either a bundled dataset or
the planner's own files with the datum of their coordinates; the services to
plan with their parameters; and the outputs to write. :func:`load_scenario`
checks all of it before any work is done and reports every mistake with its
line in the file; :func:`run_scenario` builds the region, runs each service's
planner and writes its plan and review report. ``svcnet plan SCENARIO.yaml
--out DIR`` runs it from the command line.

Every key of the format (paths are relative to the scenario file's folder)::

    name: Futian community centers     # optional; default the file's name
    region:
      bundled: futian                  # futian | shenzhen, or else the files below
      population: data/grid.gpkg       # a vector grid or a population raster (.tif)
      boundaries: {district: data/districts.geojson}
      facilities: data/facilities.csv
      candidates: data/candidates.gpkg
      network: data/roads.graphml.gz
      datum: {facilities: gcj02}       # wgs84 | gcj02 | bd09: for all files or by layer
      columns: {population: {POP2020: pop}}
      ids: {population: GRID_ID}
      layers: {population: grid_100m}
      cell_size: 250                   # population rasters only: cell size in metres
      crs: EPSG:32650                  # the metric CRS; default the local UTM zone
      name: Futian                     # the region's name; default the population file's
      repair: false                    # repair invalid geometries
    services:                          # service: parameters of its planner
      centers: {people_per_center: [15000, 20000], walk_minutes: 10, time_limit: 120}
    outputs: {files: true, report: true}
    scheduler: tcp://10.0.0.5:8786     # optional: plan on this Dask cluster

The region keys are the arguments of :meth:`svcnet.Region.from_files`. The
services are those of :data:`SERVICES`; the parameters of each are the
keyword arguments of its planner (``centers`` is
:func:`svcnet.services.plan_centers`), checked against the planner's
signature and type hints. A parameter that takes a GeoDataFrame (or any
object) can be given a vector file: ``candidates: {file: data/sites.gpkg,
layer: sites, datum: gcj02, crs: EPSG:4326}`` (only ``file`` is required).
YAML anchors and merge keys (``<<: *defaults``) work as usual.

``scheduler`` is the address of a running Dask scheduler (or ``local`` for a
cluster started on this machine for the run): the planners that take
``client=`` (all of :data:`SERVICES`) compute their travel costs on its
workers, with the same results (``centers`` also solves its districts' models
there; ``eldercare``, ``child_welfare``, ``shelters`` and ``charity`` solve
theirs here, and ``charity`` walks each unit's few candidate points here too).
``svcnet plan --scheduler ADDRESS`` overrides it. A scheduler that does not
answer within 10 s stops the run before any work, with an error naming it.

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "plan.yaml"
>>> _ = path.write_text("region: {bundled: futian}\nservices:\n  centers: {walk_minute: 10}")
>>> load_scenario(path)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
svcnet.scenario.ScenarioError: .../plan.yaml, line 3: unknown parameter 'walk_minute' ...
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import inspect
import logging
import math
import os
import types
import typing
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Union, get_args, get_origin

from svcnet.errors import InputError

if typing.TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import yaml

    from svcnet.plan import Plan
    from svcnet.region import Region

logger = logging.getLogger(__name__)

__all__ = [
    "SERVICES",
    "BUNDLED",
    "Scenario",
    "RegionSpec",
    "ServiceSpec",
    "LayerFile",
    "ScenarioError",
    "load_scenario",
    "plan_scenario",
    "run_scenario",
]

PathLike = str | os.PathLike[str]

#: The services a scenario can plan: name in the file -> planner in :mod:`svcnet.services`.
SERVICES: Mapping[str, str] = MappingProxyType(
    {
        "centers": "plan_centers",
        "eldercare": "plan_eldercare",
        "child_welfare": "plan_child_welfare",
        "shelters": "plan_shelters",
        "charity": "plan_charity",
    }
)
#: The bundled datasets: name in the file -> loader in :mod:`svcnet.datasets`.
BUNDLED: Mapping[str, str] = MappingProxyType(
    {"futian": "load_futian", "shenzhen": "load_shenzhen"}
)

_TOP_KEYS = ("name", "region", "services", "outputs", "scheduler")
_FILE_KEYS = ("population", "boundaries", "facilities", "candidates", "network")
_REGION_KEYS = (
    "bundled", *_FILE_KEYS, "datum", "columns", "ids", "layers", "cell_size", "crs", "name",
    "repair",
)  # fmt: skip
_LAYER_KEYS = ("datum", "columns", "ids", "layers")  # region keys mapping layer names
_OUTPUT_KEYS = ("files", "report")
_LAYER_FILE_KEYS = ("file", "layer", "datum", "crs")
_RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img")
_INVALID = object()  # a value that could not be read (already reported)


# =========================================================================================
# the error
# =========================================================================================
class ScenarioError(InputError):
    """Mistakes in a scenario file, each with its line.

    Parameters
    ----------
    problems
        ``(line, message)`` pairs: the 1-based line in the file (None for the
        file as a whole) and what is wrong there. They are shown sorted by line.
    file
        The scenario file, as the caller named it.

    Attributes
    ----------
    problems : tuple of (int or None, str)
        Every mistake found.
    line : int or None
        The line of the first mistake.

    Examples
    --------
    >>> err = ScenarioError([(7, "unknown key 'servces'")], file="scenario.yaml")
    >>> str(err)
    "scenario.yaml, line 7: unknown key 'servces'"
    >>> err.line, isinstance(err, ValueError)
    (7, True)
    >>> print(ScenarioError([(9, "b"), (3, "a")], file="s.yaml"))
    s.yaml: 2 mistakes:
      line 3: a
      line 9: b
    """

    def __init__(self, problems: Iterable[tuple[int | None, str]], *, file: PathLike) -> None:
        self.problems = tuple(
            sorted(problems, key=lambda p: (p[0] is not None, p[0] if p[0] is not None else 0))
        )
        self.line = self.problems[0][0] if self.problems else None
        text = "; ".join(f"{_at(line)}{message}" for line, message in self.problems)
        super().__init__(text, file=file)

    def _compose(self) -> str:
        if len(self.problems) == 1:
            line, message = self.problems[0]
            return f"{self.file}, line {line}: {message}" if line else f"{self.file}: {message}"
        lines = "".join(f"\n  {_at(line)}{message}" for line, message in self.problems)
        return f"{self.file}: {len(self.problems)} mistakes:{lines}"

    def __reduce__(self):  # keep the problems through pickling
        return (_rebuild_scenario_error, (self.problems, self.file))


def _rebuild_scenario_error(problems, file):
    return ScenarioError(problems, file=file)


def _at(line: int | None) -> str:
    return "" if line is None else f"line {line}: "


# =========================================================================================
# the scenario
# =========================================================================================
@dataclass(frozen=True)
class LayerFile:
    """A vector file given for a planner parameter, read when the plan runs.

    Parameters
    ----------
    path
        The file (absolute).
    layer
        The layer of a multi-layer file.
    datum
        The datum of its lon/lat (``wgs84``, ``gcj02`` or ``bd09``); default
        ``wgs84`` for files without a CRS, as :meth:`svcnet.Region.from_files`.
    crs
        The CRS of a file that has none.

    Examples
    --------
    >>> LayerFile(Path("/data/sites.gpkg"), layer="sites").layer
    'sites'
    """

    path: Path
    layer: str | None = None
    datum: str | None = None
    crs: str | None = None

    def read(self) -> gpd.GeoDataFrame:
        """Read the file with :func:`svcnet.io.read_vector`.

        Returns
        -------
        geopandas.GeoDataFrame
        """
        from svcnet.io import read_vector

        datum = self.datum if self.datum or self.crs else "wgs84"
        return read_vector(self.path, layer=self.layer, datum=datum, crs=self.crs)


@dataclass(frozen=True)
class RegionSpec:
    """Where a scenario's region comes from: a bundled dataset or the caller's files.

    Parameters
    ----------
    bundled
        The bundled dataset (a key of :data:`BUNDLED`), or None for files.
    population, boundaries, facilities, candidates, network
        The files (absolute paths), as :meth:`svcnet.Region.from_files` takes them.
    options
        The other keyword arguments of :meth:`svcnet.Region.from_files`
        (``datum``, ``columns``, ``ids``, ``layers``, ``cell_size``, ``crs``,
        ``name``, ``repair``).

    Examples
    --------
    >>> RegionSpec(bundled="futian").files
    ()
    """

    bundled: str | None = None
    population: Path | None = None
    boundaries: Mapping[str, Path] = field(default_factory=lambda: MappingProxyType({}))
    facilities: Path | None = None
    candidates: Path | None = None
    network: Path | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def files(self) -> tuple[Path, ...]:
        """The input files the region is read from (none for a bundled dataset)."""
        given = [self.population, *self.boundaries.values(), self.facilities, self.candidates,
                 self.network]  # fmt: skip
        return tuple(p for p in given if p is not None)

    def build(self) -> Region:
        """Load the bundled dataset or read the files into a :class:`svcnet.Region`.

        Returns
        -------
        Region
        """
        if self.bundled is not None:
            from svcnet import datasets

            return getattr(datasets, BUNDLED[self.bundled])()
        from svcnet.region import Region

        if self.population is None:  # pragma: no cover - load_scenario never makes one
            raise InputError("the region has neither a bundled dataset nor a population file")
        return Region.from_files(
            self.population,
            boundaries=dict(self.boundaries),
            facilities=self.facilities,
            candidates=self.candidates,
            network=self.network,
            **_plain(self.options),
        )


@dataclass(frozen=True)
class ServiceSpec:
    """One service of a scenario: its planner and the parameters to call it with.

    Parameters
    ----------
    name
        The service's name in the file (a key of :data:`SERVICES`).
    planner
        The planner function (e.g. :func:`svcnet.services.plan_centers`).
    parameters
        Keyword arguments for the planner, checked against its signature;
        :class:`LayerFile` values are read when the plan runs.
    line
        The service's line in the scenario file.

    Examples
    --------
    >>> from svcnet.services import plan_centers
    >>> ServiceSpec("centers", plan_centers, {"walk_minutes": 15.0}, line=4).parameters
    {'walk_minutes': 15.0}
    """

    name: str
    planner: Callable[..., Plan]
    parameters: Mapping[str, Any]
    line: int | None = None

    @property
    def files(self) -> tuple[Path, ...]:
        """The files its parameters name."""
        return tuple(v.path for v in self.parameters.values() if isinstance(v, LayerFile))

    def run(
        self,
        region: Region,
        *,
        time_limit: float | None = None,
        file: PathLike = "",
        client: Any = None,
    ) -> Plan:
        """Run the planner on ``region``.

        Parameters
        ----------
        region
            The region to plan.
        time_limit
            Overrides the ``time_limit`` parameter, when the planner has one.
        file
            The scenario file, named in the errors the planner raises about its input.
        client
            A ``dask.distributed.Client``, passed to a planner that takes
            ``client=``; a planner that does not runs in this process.

        Returns
        -------
        Plan

        Raises
        ------
        ScenarioError
            The planner refused its input (the original error is the cause).
        """
        accepted = inspect.signature(self.planner).parameters
        kwargs = {
            key: value.read() if isinstance(value, LayerFile) else copy.deepcopy(value)
            for key, value in self.parameters.items()
        }
        if time_limit is not None:
            if "time_limit" in accepted or any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
                kwargs["time_limit"] = time_limit
            else:
                logger.debug("%s takes no time_limit; ignoring it", self.planner.__name__)
        if client is not None:
            if "client" in accepted:
                kwargs["client"] = client
            else:
                logger.info("%s takes no client: %s is planned in this process",
                            self.planner.__name__, self.name)  # fmt: skip
        logger.info("planning %s with %s(%s)", self.name, self.planner.__name__,
                    ", ".join(f"{k}={v!r}" for k, v in kwargs.items()))  # fmt: skip
        try:
            return self.planner(region, **kwargs)
        except InputError as exc:
            if isinstance(exc, ScenarioError):
                raise
            msg = f"service {self.name!r}: {exc}"
            raise ScenarioError([(self.line, msg)], file=file or "scenario") from exc


@dataclass(frozen=True)
class Scenario:
    """A checked scenario file: made by :func:`load_scenario`, run by :func:`run_scenario`.

    Parameters
    ----------
    path
        The scenario file.
    name
        The scenario's name.
    region
        Where the region comes from.
    services
        The services to plan, by name, in the file's order.
    write_files
        Write each plan's GeoPackage and tables (``outputs: {files: ...}``).
    write_report
        Write each plan's HTML review page (``outputs: {report: ...}``).
    scheduler
        The Dask scheduler to plan on (``scheduler: ...``): an address such as
        ``tcp://10.0.0.5:8786``, ``local``, or None for this process.

    Examples
    --------
    >>> scenario = Scenario(Path("s.yaml"), "test", RegionSpec(bundled="futian"), {})
    >>> scenario
    Scenario('test', region='futian', services=[])
    """

    path: Path
    name: str
    region: RegionSpec
    services: Mapping[str, ServiceSpec]
    write_files: bool = True
    write_report: bool = True
    scheduler: str | None = None

    @property
    def inputs(self) -> tuple[Path, ...]:
        """Every input file: the scenario, the region's files and those of parameters."""
        files = [self.path, *self.region.files]
        for spec in self.services.values():
            files += spec.files
        return tuple(dict.fromkeys(Path(f).resolve() for f in files))

    def __repr__(self) -> str:
        region = self.region.bundled or str(self.region.population)
        return f"Scenario({self.name!r}, region={region!r}, services={list(self.services)})"


# =========================================================================================
# loading
# =========================================================================================
def load_scenario(path: PathLike) -> Scenario:
    r"""Read and check a scenario file, reporting every mistake with its line.

    Parameters
    ----------
    path
        The YAML file (see the module's documentation for the format).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        (an :class:`svcnet.errors.InputError`) naming each mistake and its
        line: YAML syntax, unknown keys, wrong types, missing files, unknown
        datums, bundled datasets or services, unknown or mistyped planner
        parameters, no services.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "futian.yaml"
    >>> _ = path.write_text('''
    ... name: Futian centers
    ... region: {bundled: futian}
    ... services:
    ...   centers: {people_per_center: [15000, 20000], walk_minutes: 10}
    ... ''')
    >>> scenario = load_scenario(path)
    >>> dict(scenario.services["centers"].parameters)
    {'people_per_center': (15000.0, 20000.0), 'walk_minutes': 10.0}
    >>> _ = path.write_text("region: {bundled: futian}\nservices: {centers: {walk_minutes: ten}}")
    >>> try:
    ...     load_scenario(path)
    ... except ScenarioError as exc:
    ...     print(exc.line, exc.problems[0][1])
    2 parameter 'walk_minutes' of service 'centers' must be a number; got the text 'ten'
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([(None, "no such scenario file")], file=path) from None
    except IsADirectoryError:
        raise ScenarioError([(None, "a folder, not a scenario file")], file=path) from None
    except UnicodeDecodeError:
        msg = "the scenario file is not UTF-8 text"
        raise ScenarioError([(None, msg)], file=path) from None
    except OSError as exc:
        msg = f"cannot read the scenario file ({exc.strerror})"
        raise ScenarioError([(None, msg)], file=path) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        line = None if mark is None else mark.line + 1
        hint = "; check the indentation" if "block" in problem or "not allowed" in problem else ""
        msg = f"not valid YAML: {problem}{context}{hint}"
        raise ScenarioError([(line, msg)], file=path) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML's errors carry marks
        raise ScenarioError([(None, f"not valid YAML: {exc}")], file=path) from None
    if root is None:
        msg = "the scenario file is empty; it needs at least 'region' and 'services'"
        raise ScenarioError([(None, msg)], file=path)
    reader = _Reader(path)
    scenario = reader.scenario(root)
    if reader.problems or scenario is None:
        raise ScenarioError(reader.problems or [(None, "unreadable scenario")], file=path)
    logger.debug("loaded %r", scenario)
    return scenario


class _Mismatch(Exception):
    """A YAML value does not fit a type; ``expected`` says what would."""

    def __init__(self, expected: str | None, detail: str | None = None) -> None:
        super().__init__(expected)
        self.expected = expected
        self.detail = detail  # which item does not fit, in a list or mapping


class _Reader:
    """Walks the composed YAML nodes, building the scenario and collecting problems."""

    def __init__(self, path: Path) -> None:
        import yaml

        self.yaml = yaml
        self.path = path
        self.folder = path.resolve().parent
        self.problems: list[tuple[int | None, str]] = []
        self.constructor = yaml.SafeLoader("")
        self.where = "file"  # what a file in a parameter is named as in messages

    # -- basics ----------------------------------------------------------------------------
    def error(self, node: yaml.Node | None, text: str) -> None:
        line = None if node is None else node.start_mark.line + 1
        self.problems.append((line, text))

    def value(self, node: yaml.Node) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except self.yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.error(node, f"cannot read this value: {problem}")
            return _INVALID

    def describe(self, node: yaml.Node) -> str:
        if isinstance(node, self.yaml.MappingNode):
            return "a mapping"
        if isinstance(node, self.yaml.SequenceNode):
            return f"a list of {len(node.value)}"
        value = self.value(node)
        if value is None:
            return "nothing (null)"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, int | float):
            return f"the number {value!r}"
        if isinstance(value, str):
            return f"the text {value!r}"
        return f"the {type(value).__name__} {node.value!r}"

    def is_null(self, node: yaml.Node) -> bool:
        return isinstance(node, self.yaml.ScalarNode) and self.value(node) is None

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[Any, Any]] | None:
        """The entries of a mapping node by key, or None (reported) for another node."""
        yaml = self.yaml
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping (key: value); got {self.describe(node)}")
            return None
        own = {id(k) for k, _ in node.value}
        try:
            self.constructor.flatten_mapping(node)  # merge keys (<<: *anchor)
        except yaml.YAMLError as exc:
            self.error(node, f"cannot merge into {what}: {getattr(exc, 'problem', exc)}")
        entries: dict[str, tuple[Any, Any]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or not key_node.value:
                self.error(key_node, f"the keys of {what} must be plain names")
                continue
            key = key_node.value
            if key in entries and id(key_node) in own and id(entries[key][0]) in own:
                first = entries[key][0].start_mark.line + 1
                self.error(key_node, f"{key!r} is given twice in {what} (first on line {first})")
                continue
            entries[key] = (key_node, value_node)
        return entries

    def check_keys(self, entries: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        for key, (key_node, _) in entries.items():
            if key not in allowed:
                self.error(key_node, f"unknown key {key!r}{where} ({_expected(key, allowed)})")

    def text(self, node: yaml.Node, what: str) -> str | None:
        """A plain scalar as written (so ``2020`` names a layer ``'2020'``), not null."""
        if isinstance(node, self.yaml.ScalarNode):
            value = self.value(node)
            if value is _INVALID:
                return None
            if value is not None:
                return str(node.value)
        self.error(node, f"{what} must be text; got {self.describe(node)}")
        return None

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        value = self.value(node) if isinstance(node, self.yaml.ScalarNode) else None
        if isinstance(value, bool):
            return value
        self.error(node, f"{what} must be true or false; got {self.describe(node)}")
        return None

    def positive(self, node: yaml.Node, what: str) -> float | None:
        value = self.value(node) if isinstance(node, self.yaml.ScalarNode) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value) and value > 0:
                return float(value)
        self.error(node, f"{what} must be a positive number; got {self.describe(node)}")
        return None

    def existing_file(self, node: yaml.Node, what: str) -> Path | None:
        text = self.text(node, what)
        if text is None:
            return None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = self.folder / path
        if not path.exists():
            where = "" if Path(text).is_absolute() else f" (looked for {path})"
            self.error(node, f"{what}: no such file {text!r}{where}")
            return None
        if path.is_dir():
            self.error(node, f"{what}: {text!r} is a folder, not a file")
            return None
        return path

    def datum(self, node: yaml.Node, what: str) -> str | None:
        from svcnet.crs import DATUMS

        text = self.text(node, what)
        if text is None:
            return None
        canonical = text.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
        if canonical not in DATUMS:
            self.error(node, f"unknown datum {text!r} for {what} ({_expected(text, DATUMS)})")
            return None
        return canonical

    def crs(self, node: yaml.Node, what: str, *, metric: bool) -> str | None:
        import pyproj

        text = self.text(node, what)
        if text is None:
            return None
        try:
            crs = pyproj.CRS.from_user_input(int(text) if text.isdigit() else text)
        except pyproj.exceptions.CRSError:
            self.error(node, f"{what}: {text!r} is not a CRS pyproj knows (try EPSG:32650)")
            return None
        if metric:
            from svcnet.crs import is_metric

            if not is_metric(crs):
                msg = f"{what}: {crs.name} is not a projected CRS in metres (try a UTM zone)"
                self.error(node, msg)
                return None
        return f"EPSG:{text}" if text.isdigit() else text

    # -- the scenario ----------------------------------------------------------------------
    def scenario(self, root: yaml.Node) -> Scenario | None:
        entries = self.mapping(root, "the scenario")
        if entries is None:
            return None
        self.check_keys(entries, _TOP_KEYS, "")
        name = self.path.stem
        if "name" in entries:
            name = self.text(entries["name"][1], "name") or name
        region = None
        if "region" in entries:
            region = self.region(entries["region"][1])
        else:
            msg = ("the scenario has no 'region' (expected 'bundled: futian' or "
                   "'bundled: shenzhen', or 'population' and the other files)")  # fmt: skip
            self.error(root, msg)
        services: dict[str, ServiceSpec] = {}
        if "services" in entries:
            services = self.services(entries["services"][1])
        else:
            self.error(root, f"the scenario has no 'services' ({_expected('', _known())})")
        outputs = {"files": True, "report": True}
        if "outputs" in entries:
            outputs.update(self.outputs(entries["outputs"][1]))
        scheduler = self.scheduler(entries["scheduler"][1]) if "scheduler" in entries else None
        if region is None or self.problems:
            return None
        return Scenario(
            path=self.path,
            name=name,
            region=region,
            services=MappingProxyType(services),
            write_files=outputs["files"],
            write_report=outputs["report"],
            scheduler=scheduler,
        )

    def outputs(self, node: yaml.Node) -> dict[str, bool]:
        entries = self.mapping(node, "outputs")
        if entries is None:
            return {}
        self.check_keys(entries, _OUTPUT_KEYS, " in outputs")
        found = {}
        for key in _OUTPUT_KEYS:
            if key in entries:
                value = self.boolean(entries[key][1], f"outputs: {key}")
                if value is not None:
                    found[key] = value
        return found

    def scheduler(self, node: yaml.Node) -> str | None:
        """A Dask scheduler's address (``tcp://host:8786``) or ``local``."""
        value = self.value(node) if isinstance(node, self.yaml.ScalarNode) else None
        if isinstance(value, str) and value.strip() and not any(c.isspace() for c in value):
            return value
        msg = (f"scheduler must be the address of a Dask scheduler, such as "
               f"'tcp://10.0.0.5:8786' (or 'local'); got {self.describe(node)}")  # fmt: skip
        self.error(node, msg)
        return None

    # -- the region ------------------------------------------------------------------------
    def region(self, node: yaml.Node) -> RegionSpec | None:
        entries = self.mapping(node, "region")
        if entries is None:
            return None
        self.check_keys(entries, _REGION_KEYS, " in region")
        if "bundled" in entries:
            return self.bundled(entries)
        if "population" not in entries:
            msg = ("the region needs 'population' (a population grid or raster file) or "
                   "'bundled' (futian or shenzhen)")  # fmt: skip
            self.error(node, msg)
            return None
        files: dict[str, Any] = {}
        for key in ("population", "facilities", "candidates", "network"):
            if key in entries:
                files[key] = self.existing_file(entries[key][1], key)
        boundaries: dict[str, Path | None] = {}
        if "boundaries" in entries:
            levels = self.mapping(entries["boundaries"][1], "boundaries") or {}
            for level, (_, value_node) in levels.items():
                boundaries[level] = self.existing_file(value_node, f"boundaries: {level}")
        layer_files = {
            "population": files.get("population"),
            **{k: files[k] for k in ("facilities", "candidates") if k in files},
            **boundaries,
        }
        options = self.region_options(entries, layer_files)
        if "cell_size" in options:
            population = files.get("population")
            if population is not None and not population.name.lower().endswith(_RASTER_SUFFIXES):
                msg = "cell_size applies to a population raster only (.tif); leave it out"
                self.error(entries["cell_size"][0], msg)
        if any(v is None for v in (*files.values(), *boundaries.values())):
            return None
        return RegionSpec(
            population=files["population"],
            boundaries=MappingProxyType(typing.cast(dict[str, Path], boundaries)),
            facilities=files.get("facilities"),
            candidates=files.get("candidates"),
            network=files.get("network"),
            options=MappingProxyType(options),
        )

    def bundled(self, entries: Mapping[str, tuple[Any, Any]]) -> RegionSpec | None:
        for key, (key_node, _) in entries.items():
            if key != "bundled" and key in _REGION_KEYS:
                msg = (f"'{key}' cannot be combined with 'bundled' (a bundled dataset brings "
                       "its own layers)")  # fmt: skip
                self.error(key_node, msg)
        node = entries["bundled"][1]
        name = self.text(node, "bundled")
        if name is None:
            return None
        if name.lower() not in BUNDLED:
            self.error(node, f"unknown bundled dataset {name!r} ({_expected(name, BUNDLED)})")
            return None
        return RegionSpec(bundled=name.lower())

    def region_options(
        self, entries: Mapping[str, tuple[Any, Any]], files: Mapping[str, Path | None]
    ) -> dict[str, Any]:
        options: dict[str, Any] = {}
        layer_names = tuple(files)
        layer_entries: dict[str, dict[str, tuple[Any, Any]]] = {}
        for key in _LAYER_KEYS:
            if key not in entries:
                continue
            node = entries[key][1]
            if key == "datum" and isinstance(node, self.yaml.ScalarNode):
                datum = self.datum(node, "all files")
                if datum is not None:
                    options["datum"] = datum
                continue
            by_layer = self.mapping(node, key)
            if by_layer is None:
                continue
            for layer, (layer_key, _) in by_layer.items():
                if layer not in layer_names:
                    msg = (f"{key}: unknown layer {layer!r} (the region's layers: "
                           f"{', '.join(layer_names)})")  # fmt: skip
                    hint = difflib.get_close_matches(layer, layer_names, n=1)
                    self.error(layer_key, msg + (f"; did you mean {hint[0]!r}?" if hint else ""))
            layer_entries[key] = {k: v for k, v in by_layer.items() if k in layer_names}
        if "datum" in layer_entries:
            datums = {
                layer: self.datum(v, layer) for layer, (_, v) in layer_entries["datum"].items()
            }
            options["datum"] = MappingProxyType({k: v for k, v in datums.items() if v})
        if "columns" in layer_entries:
            columns = {}
            for layer, (_, value_node) in layer_entries["columns"].items():
                renames = self.mapping(value_node, f"columns: {layer}") or {}
                columns[layer] = MappingProxyType({
                    old: new for old, (_, v) in renames.items()
                    if (new := self.text(v, f"columns: {layer}: {old}")) is not None
                })  # fmt: skip
            options["columns"] = MappingProxyType(columns)
        for key in ("ids", "layers"):
            if key in layer_entries:
                values = {
                    layer: self.text(v, f"{key}: {layer}")
                    for layer, (_, v) in layer_entries[key].items()
                }
                options[key] = MappingProxyType({k: v for k, v in values.items() if v})
        self.check_layers(entries, files, layer_entries.get("layers", {}))
        if "cell_size" in entries:
            size = self.positive(entries["cell_size"][1], "cell_size")
            if size is not None:
                options["cell_size"] = size
        if "crs" in entries:
            crs = self.crs(entries["crs"][1], "crs", metric=True)
            if crs is not None:
                options["crs"] = crs
        if "name" in entries:
            name = self.text(entries["name"][1], "the region's name")
            if name is not None:
                options["name"] = name
        if "repair" in entries:
            repair = self.boolean(entries["repair"][1], "repair")
            if repair is not None:
                options["repair"] = repair
        return options

    def check_layers(
        self,
        entries: Mapping[str, tuple[Any, Any]],
        files: Mapping[str, Path | None],
        chosen: Mapping[str, tuple[Any, Any]],
    ) -> None:
        """GeoPackage layers: the chosen one exists; a file with several has one chosen."""
        for layer, path in files.items():
            if path is None or path.suffix.lower() != ".gpkg":
                continue
            names = _gpkg_layers(path)
            if names is None:
                continue
            if layer in chosen:
                value_node = chosen[layer][1]
                wanted = value_node.value if isinstance(value_node, self.yaml.ScalarNode) else None
                if wanted is not None and wanted not in names:
                    msg = (f"layers: {layer}: {path.name} has no layer {wanted!r} (it has: "
                           f"{', '.join(names)})")  # fmt: skip
                    self.error(value_node, msg)
            elif len(names) > 1:
                key = layer if layer in entries else "boundaries"
                node = entries[key][1] if key in entries else None
                msg = (f"{path.name} has several layers ({', '.join(names)}): choose the "
                       f"{layer} layer with 'layers: {{{layer}: ...}}'")  # fmt: skip
                self.error(node, msg)

    # -- the services ----------------------------------------------------------------------
    def services(self, node: yaml.Node) -> dict[str, ServiceSpec]:
        if self.is_null(node) or (isinstance(node, self.yaml.MappingNode) and not node.value):
            self.error(node, f"no services to plan ({_expected('', _known())})")
            return {}
        entries = self.mapping(node, "services")
        if entries is None:
            return {}
        found = {}
        for name, (key_node, value_node) in entries.items():
            planner = self.planner(name, key_node)
            if planner is None:
                continue
            parameters = self.parameters(name, planner, key_node, value_node)
            if parameters is not None:
                found[name] = ServiceSpec(
                    name, planner, MappingProxyType(parameters), key_node.start_mark.line + 1
                )
        return found

    def planner(self, name: str, node: yaml.Node) -> Callable[..., Plan] | None:
        import svcnet.services

        function = getattr(svcnet.services, SERVICES.get(name, f"plan_{name}"), None)
        if name in SERVICES and not callable(function):
            available = ", ".join(_available()) or "none"
            msg = (f"service {name!r} is not available in this svcnet version "
                   f"(available: {available})")  # fmt: skip
            self.error(node, msg)
            return None
        if not callable(function) or name.startswith("_"):
            self.error(node, f"unknown service {name!r} ({_expected(name, _known())})")
            return None
        return function

    def parameters(
        self, service: str, planner: Callable[..., Any], key_node: yaml.Node, node: yaml.Node
    ) -> dict[str, Any] | None:
        if self.is_null(node):
            entries: dict[str, tuple[Any, Any]] | None = {}
        else:
            entries = self.mapping(node, f"the parameters of service {service!r}")
        if entries is None:
            return None
        signature = inspect.signature(planner)
        hints = _type_hints(planner)
        named = {
            p.name: p
            for p in list(signature.parameters.values())[1:]  # the first is the region
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        open_ended = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        values: dict[str, Any] = {}
        for key, (param_node, value_node) in entries.items():
            if key == "client":
                msg = (f"service {service!r}: the Dask cluster is chosen for the whole "
                       "scenario, with 'scheduler: tcp://host:8786' at the top level (or "
                       "svcnet plan --scheduler), not as a parameter")  # fmt: skip
                self.error(param_node, msg)
                continue
            if key not in named and not open_ended:
                msg = (f"unknown parameter {key!r} for service {service!r} "
                       f"({planner.__name__} takes: {', '.join(named)})")  # fmt: skip
                hint = difflib.get_close_matches(key, list(named), n=1)
                self.error(param_node, msg + (f"; did you mean {hint[0]!r}?" if hint else ""))
                continue
            kind = hints.get(key, named[key].annotation if key in named else Any)
            if isinstance(kind, str):  # an annotation that could not be evaluated
                kind = Any
            self.where = f"parameter {key!r} of service {service!r}"
            try:
                values[key] = self.convert(value_node, kind)
            except _Mismatch as exc:
                expected = exc.expected or f"{_type_name(kind)} (which a scenario cannot give)"
                detail = f" ({exc.detail})" if exc.detail else ""
                msg = (f"parameter {key!r} of service {service!r} must be {expected}; "
                       f"got {self.describe(value_node)}{detail}")  # fmt: skip
                self.error(value_node, msg)
        for name, parameter in named.items():
            if parameter.default is parameter.empty and name not in values:
                self.error(key_node, f"service {service!r} needs parameter {name!r}")
        return values

    # -- typed values ----------------------------------------------------------------------
    def convert(self, node: yaml.Node, kind: Any) -> Any:
        """The value of ``node`` as type ``kind``; raises _Mismatch when it does not fit."""
        yaml = self.yaml
        if kind is Any or kind is inspect.Parameter.empty or kind is object:
            return self.anything(node)
        origin = get_origin(kind)
        if origin is Union or origin is types.UnionType:
            return self.convert_union(node, get_args(kind))
        if origin is Literal:
            value = self.value(node) if isinstance(node, yaml.ScalarNode) else _INVALID
            if value in get_args(kind):
                return value
            raise _Mismatch(f"one of {', '.join(map(repr, get_args(kind)))}")
        if kind is type(None):
            if self.is_null(node):
                return None
            raise _Mismatch("null")
        if kind in (bool, int, float, str):
            return self.convert_scalar(node, kind)
        if origin is tuple or kind is tuple:
            return self.convert_tuple(node, kind)
        if origin in (list, Sequence, Iterable, Collection) or kind in (list, Sequence):
            if not isinstance(node, yaml.SequenceNode):
                raise _Mismatch(_type_name(kind))
            args = get_args(kind)
            items = self.convert_items(node.value, [args[0] if args else Any] * len(node.value),
                                       kind)  # fmt: skip
            return list(items) if (origin or kind) is list else items
        if origin in (dict, Mapping) or kind in (dict, Mapping):
            if not isinstance(node, yaml.MappingNode):
                raise _Mismatch(_type_name(kind))
            args = get_args(kind)
            entries = self.mapping(node, "the parameter") or {}
            values = self.convert_items([v for _, v in entries.values()],
                                        [args[1] if args else Any] * len(entries), kind,
                                        labels=[repr(k) for k in entries])  # fmt: skip
            return dict(zip(entries, values, strict=True))
        if isinstance(kind, type) and issubclass(kind, os.PathLike | Path):
            text = self.value(node) if isinstance(node, yaml.ScalarNode) else None
            if isinstance(text, str):
                path = Path(text).expanduser()
                return path if path.is_absolute() else self.folder / path
            raise _Mismatch("a path")
        if _is_frame_type(kind):
            if isinstance(node, yaml.ScalarNode) and isinstance(self.value(node), str):
                path = self.existing_file(node, self.where)
                return None if path is None else LayerFile(path)
            if self.is_layer_file(node):
                return self.layer_file(node)
            raise _Mismatch("a vector file: a path or {file: ..., layer: ..., datum: ...}")
        raise _Mismatch(None)

    def convert_union(self, node: yaml.Node, members: tuple[Any, ...]) -> Any:
        concrete = [m for m in members if m is not Any]
        detail = None
        for member in concrete:
            try:
                return self.convert(node, member)
            except _Mismatch as exc:
                detail = detail or exc.detail
        if len(concrete) < len(members) and self.is_layer_file(node):
            return self.layer_file(node)  # Any may be a GeoDataFrame
        names = dict.fromkeys(n for m in concrete if (n := _type_name(m)) is not None)
        raise _Mismatch(" or ".join(names) if names else None, detail)

    def convert_scalar(self, node: yaml.Node, kind: type) -> Any:
        value = self.value(node) if isinstance(node, self.yaml.ScalarNode) else _INVALID
        if kind is bool and isinstance(value, bool):
            return value
        if kind is str and isinstance(value, str):
            return value
        if kind in (int, float) and isinstance(value, int | float) and not isinstance(value, bool):
            if kind is int and isinstance(value, int):
                return value
            if kind is float:
                return float(value)
        raise _Mismatch(_type_name(kind))

    def convert_tuple(self, node: yaml.Node, kind: Any) -> tuple[Any, ...]:
        args = get_args(kind)
        if not isinstance(node, self.yaml.SequenceNode):
            raise _Mismatch(_type_name(kind))
        items = node.value
        if args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                raise _Mismatch(_type_name(kind))
            kinds = list(args)
        else:
            kinds = [args[0] if args else Any] * len(items)
        return self.convert_items(items, kinds, kind)

    def convert_items(
        self,
        items: Sequence[yaml.Node],
        kinds: Sequence[Any],
        kind: Any,
        labels: Sequence[str] | None = None,
    ) -> tuple[Any, ...]:
        """The items of a list or mapping; a misfit names the item (``item 2``, ``'city'``)."""
        converted = []
        for i, (item, item_kind) in enumerate(zip(items, kinds, strict=True)):
            try:
                converted.append(self.convert(item, item_kind))
            except _Mismatch:
                label = labels[i] if labels else f"item {i + 1}"
                detail = f"{label} is {self.describe(item)}"
                raise _Mismatch(_type_name(kind), detail) from None
        return tuple(converted)

    def anything(self, node: yaml.Node) -> Any:
        """A value for an untyped parameter: a file mapping, or plain YAML (lists as tuples)."""
        yaml = self.yaml
        if self.is_layer_file(node):
            return self.layer_file(node)
        if isinstance(node, yaml.SequenceNode):
            return tuple(self.anything(item) for item in node.value)
        if isinstance(node, yaml.MappingNode):
            entries = self.mapping(node, "the parameter") or {}
            return {key: self.anything(value) for key, (_, value) in entries.items()}
        value = self.value(node)
        if value is _INVALID:
            raise _Mismatch("a value")
        return value

    def is_layer_file(self, node: yaml.Node) -> bool:
        return isinstance(node, self.yaml.MappingNode) and any(
            isinstance(k, self.yaml.ScalarNode) and k.value == "file" for k, _ in node.value
        )

    def layer_file(self, node: yaml.Node) -> LayerFile | None:
        entries = self.mapping(node, "a file") or {}
        self.check_keys(entries, _LAYER_FILE_KEYS, " of a file")
        path = self.existing_file(entries["file"][1], f"{self.where}: file")
        layer = self.text(entries["layer"][1], "layer") if "layer" in entries else None
        datum = self.datum(entries["datum"][1], self.where) if "datum" in entries else None
        crs = self.crs(entries["crs"][1], "crs", metric=False) if "crs" in entries else None
        if path is None:
            return None
        if path.suffix.lower() == ".gpkg" and (names := _gpkg_layers(path)) is not None:
            if layer is not None and layer not in names:
                msg = f"{path.name} has no layer {layer!r} (it has: {', '.join(names)})"
                self.error(entries["layer"][1], msg)
            elif layer is None and len(names) > 1:
                msg = f"{path.name} has several layers ({', '.join(names)}): choose one with layer:"
                self.error(entries["file"][1], msg)
        return LayerFile(path, layer=layer, datum=datum, crs=crs)


# -- helpers ------------------------------------------------------------------------------
def _expected(given: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    text = f"expected one of: {', '.join(allowed)}"
    hint = difflib.get_close_matches(given, allowed, n=1) if given else []
    return text + (f"; did you mean {hint[0]!r}?" if hint else "")


def _known() -> list[str]:
    """Every service a scenario can name: the known ones and any other ``plan_*``."""
    import svcnet.services

    extra = [
        name.removeprefix("plan_")
        for name in getattr(svcnet.services, "__all__", ())
        if name.startswith("plan_") and name not in SERVICES.values()
    ]
    return [*SERVICES, *extra]


def _available() -> list[str]:
    import svcnet.services

    planners = {name: SERVICES.get(name, f"plan_{name}") for name in _known()}
    return [name for name, fn in planners.items() if callable(getattr(svcnet.services, fn, None))]


def _type_hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # an annotation that cannot be evaluated here: treat all as Any
        logger.debug("cannot evaluate the type hints of %r", function, exc_info=True)
        return {}


def _type_name(kind: Any) -> str | None:
    """How to write a value of ``kind`` in a scenario, or None when it cannot be written."""
    if kind in (Any, object, inspect.Parameter.empty):
        return "a value"
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text",
             type(None): "null"}  # fmt: skip
    if kind in names:
        return names[kind]
    origin, args = get_origin(kind), get_args(kind)
    if origin is Union or origin is types.UnionType:
        parts = [n for m in args if m is not Any and (n := _type_name(m)) is not None]
        return " or ".join(dict.fromkeys(parts)) or None
    if origin is tuple or kind is tuple:
        if args and args[-1] is not Ellipsis:
            inner = [_type_name(a) or "?" for a in args]
            if len(set(inner)) == 1:
                return f"a list of {len(args)} {_plural(args[0])}"
            return f"a list of {len(args)}: [{', '.join(inner)}]"
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin in (list, Sequence, Iterable, Collection) or kind in (list, Sequence):
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin in (dict, Mapping) or kind in (dict, Mapping):
        return f"a mapping of {_plural(args[1])}" if len(args) == 2 else "a mapping"
    if origin is Literal:
        return f"one of {', '.join(map(repr, args))}"
    if _is_frame_type(kind):
        return "a vector file"
    return None


def _plural(kind: Any) -> str:
    names = {bool: "true/false values", int: "whole numbers", float: "numbers", str: "names"}
    return names.get(kind, "values")


def _is_frame_type(kind: Any) -> bool:
    import pandas as pd

    return isinstance(kind, type) and issubclass(kind, pd.DataFrame)


def _gpkg_layers(path: Path) -> list[str] | None:
    """The layer names of a GeoPackage, or None when it cannot be listed (left to the reader)."""
    try:
        import pyogrio

        return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception:  # not readable here: the reader will say why
        logger.debug("cannot list the layers of %s", path, exc_info=True)
        return None


def _plain(value: Any) -> Any:
    """Read-only mappings back to dicts (for callers that copy with ``dict(...)``)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# =========================================================================================
# running
# =========================================================================================
def _as_scenario(scenario: Scenario | PathLike) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def _check_time_limit(time_limit: float | None) -> None:
    if time_limit is not None and not (
        isinstance(time_limit, int | float) and math.isfinite(time_limit) and time_limit > 0
    ):
        raise InputError(f"time_limit must be a positive number of seconds; got {time_limit!r}")


def _plans(
    scenario: Scenario, region: Region, time_limit: float | None, progress: bool,
    client: Any = None,
) -> Iterator[tuple[str, Plan]]:  # fmt: skip
    from svcnet._progress import progress as progress_bar

    specs = list(scenario.services.values())
    with progress_bar(specs, desc=scenario.name, unit="plan",
                      disable=None if progress else True) as bar:  # fmt: skip
        for spec in bar:
            bar.set_postfix_str(spec.name)
            yield spec.name, spec.run(region, time_limit=time_limit, file=scenario.path,
                                      client=client)  # fmt: skip


def _cluster(scenario: Scenario, scheduler: Any) -> contextlib.AbstractContextManager[Any]:
    """The client to plan with: ``scheduler`` (else the scenario's), connected for the run.

    None for this process. A client connected here is closed after the run; a
    given ``dask.distributed.Client`` is left open.
    """
    from svcnet.distributed._cluster import cluster_for

    chosen = scheduler if scheduler is not None else scenario.scheduler
    if chosen is not None:
        where = chosen if isinstance(chosen, str) else type(chosen).__name__
        logger.info("%s: planning on the Dask cluster %s", scenario.name, where)
    return cluster_for(chosen)


def plan_scenario(
    scenario: Scenario | PathLike,
    *,
    time_limit: float | None = None,
    progress: bool = True,
    scheduler: Any = None,
) -> dict[str, Plan]:
    """Run a scenario's plans without writing anything (for notebooks).

    Parameters
    ----------
    scenario
        A :class:`Scenario`, or the path of a scenario file to load.
    time_limit
        Solver seconds per plan, overriding the scenario's ``time_limit``.
    progress
        Show a progress bar over the services.
    scheduler
        The Dask cluster to plan on, overriding the scenario's ``scheduler``:
        a scheduler address, ``"local"``, or a ``dask.distributed.Client``
        (left open). The planners that take ``client=`` run on it.

    Returns
    -------
    dict of str to Plan
        The plans by service name, in the file's order.

    Examples
    --------
    >>> plans = plan_scenario("examples/futian_centers.yaml", time_limit=20)  # doctest: +SKIP
    >>> plans["centers"].summary()  # doctest: +SKIP
    """
    scenario = _as_scenario(scenario)
    _check_time_limit(time_limit)
    with _cluster(scenario, scheduler) as client:
        region = scenario.region.build()
        return dict(_plans(scenario, region, time_limit, progress, client))


def run_scenario(
    scenario: Scenario | PathLike,
    out: PathLike,
    *,
    time_limit: float | None = None,
    progress: bool = True,
    on_plan: Callable[[str, Plan, list[Path]], None] | None = None,
    scheduler: Any = None,
) -> list[Path]:
    """Run a scenario's plans and write each one's files and review report.

    Each service's plan goes to ``out/<service>/`` (:meth:`svcnet.Plan.to_files`:
    a GeoPackage of sites, areas and cells, and CSV tables) and its review page
    to ``out/<service>_report.html`` (:func:`svcnet.viz.save_report`), as the
    scenario's ``outputs`` ask. Files are written atomically as each plan is
    done; the input files are never written over.

    Parameters
    ----------
    scenario
        A :class:`Scenario`, or the path of a scenario file to load.
    out
        The output folder (created).
    time_limit
        Solver seconds per plan, overriding the scenario's ``time_limit``.
    progress
        Show a progress bar over the services.
    on_plan
        Called after each plan is written with the service's name, the plan
        and the files written for it (the command line prints its summary).
    scheduler
        The Dask cluster to plan on, overriding the scenario's ``scheduler``:
        a scheduler address (``"tcp://10.0.0.5:8786"``), ``"local"``, or a
        ``dask.distributed.Client`` (left open). It is reached before any work;
        the planners that take ``client=`` run on it.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    ScenarioError
        A mistake in the scenario file, or a planner refusing its input.
    InputError, InfeasibleError, SolverError
        From reading the region's files and from the planners.
    ClusterError
        The scheduler did not answer (within 10 s).

    Examples
    --------
    >>> import pathlib, tempfile, geopandas as gpd
    >>> from shapely.geometry import Point, box
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> gpd.GeoDataFrame({"cell_id": ["a", "b"], "pop": [900, 800]}, crs=32650,
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)]).to_file(folder / "grid.gpkg")
    >>> gpd.GeoDataFrame({"candidate_id": ["s1"]}, geometry=[Point(100, 50)],
    ...     crs=32650).to_file(folder / "sites.gpkg")
    >>> _ = (folder / "toy.yaml").write_text('''
    ... region: {population: grid.gpkg, candidates: sites.gpkg}
    ... services: {centers: {people_per_center: [1000, 2000]}}
    ... outputs: {report: false}
    ... ''')
    >>> files = run_scenario(folder / "toy.yaml", folder / "out", progress=False)
    >>> [str(f.relative_to(folder / "out")) for f in files][:2]
    ['centers/community_service_centers.gpkg', 'centers/community_service_centers_sites.csv']
    """
    scenario = _as_scenario(scenario)
    _check_time_limit(time_limit)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("the output folder is a file", file=out)
    save_report = None
    if scenario.write_report:
        from svcnet.viz import save_report
    with _cluster(scenario, scheduler) as client:
        region = scenario.region.build()
        protected = [*region.sources, *scenario.inputs]
        written: list[Path] = []
        for name, plan in _plans(scenario, region, time_limit, progress, client):
            files: list[Path] = []
            if scenario.write_files:
                files += plan.to_files(out / name, protected=protected)
            if save_report is not None:
                report = out / f"{name}_report.html"
                save_report(plan, report, protected=protected)
                files.append(report)
            logger.info("%s: %r; wrote %d files", name, plan, len(files))
            if on_plan is not None:
                on_plan(name, plan, files)
            written += files
    return written
