"""The bundled real datasets: Shenzhen and its Futian district, offline.

The files live in ``data/geo/`` of the source tree (and inside the installed
package); ``scripts/build_data.py`` builds them from the raw files, and
``data/geo/SOURCES.md`` gives the origin, license, date, CRS and method of
every layer. The population grids are modelled (census totals spread by
building floor area), not observed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import geopandas as gpd

from svcnet.errors import InputError
from svcnet.region import Region

logger = logging.getLogger(__name__)

__all__ = ["data_dir", "load_futian", "load_shenzhen", "OSM_ATTRIBUTION"]

OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL 1.0)"
_CENSUS = "2020 (7th) census of China, by district (NBS, via tudigong, MIT)"
_BOUNDARIES = "District polygons: transbigdata (BSD-3-Clause)"
_METRIC_CRS = "EPSG:32650"
_FILES = ("futian.gpkg", "shenzhen.gpkg", "futian_roads.graphml.gz")


def data_dir() -> Path:
    """The folder holding the bundled data.

    The ``SVCNET_DATA`` environment variable wins; then the copy inside the
    installed package; then ``data/geo`` of the source tree.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> (data_dir() / "SOURCES.md").exists()
    True
    """
    candidates = []
    if os.environ.get("SVCNET_DATA"):
        candidates.append(Path(os.environ["SVCNET_DATA"]))
    here = Path(__file__).resolve().parent
    candidates += [here / "_bundled", here.parent.parent / "data" / "geo"]
    for folder in candidates:
        if all((folder / name).exists() for name in _FILES):
            return folder
    msg = (
        "the bundled data was not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); set SVCNET_DATA to the data/geo folder of a svcnet checkout"
    )
    raise InputError(msg)


def _layer(path: Path, layer: str) -> gpd.GeoDataFrame:
    from svcnet.io import read_vector

    return read_vector(path, layer=layer)


def load_futian() -> Region:
    """Futian district (福田区), Shenzhen: 100 m population grid and the OSM road network.

    The grid spreads the 2020 census (1,553,225 people; children and elderly
    from the census age pyramid) over 100 m cells by residential building floor
    area from OpenStreetMap. Candidates are non-residential buildings and
    street intersections; facilities are the named buildings whose name tells
    their service. The road network is OSM's drive network (2024-10-06), loaded
    on first use.

    Returns
    -------
    Region

    Examples
    --------
    >>> region = load_futian()
    >>> int(region.population["pop"].sum())
    1553225
    """
    folder = data_dir()
    path = folder / "futian.gpkg"
    district = _layer(path, "district")
    return Region(
        _layer(path, "grid_100m"),
        boundaries={"district": district},
        facilities=_layer(path, "facilities"),
        candidates=_layer(path, "candidates"),
        network=folder / "futian_roads.graphml.gz",
        name="Futian",
        crs=_METRIC_CRS,
        sources=[path, folder / "futian_roads.graphml.gz"],
        attribution=[OSM_ATTRIBUTION, _CENSUS, _BOUNDARIES],
    )


def load_shenzhen() -> Region:
    """Shenzhen (深圳市): 10 districts with the 2020 census and a 250 m population grid.

    The grid spreads each district's census counts over 250 m cells by
    residential building floor area from OpenStreetMap, blended with an even
    spread where buildings are under-mapped (see ``data/geo/SOURCES.md``).
    The city has no bundled road network (``region.network`` is None).

    Returns
    -------
    Region

    Examples
    --------
    >>> region = load_shenzhen()
    >>> int(region.population["pop"].sum())
    17494398
    """
    path = data_dir() / "shenzhen.gpkg"
    return Region(
        _layer(path, "grid_250m"),
        boundaries={"city": _layer(path, "city"), "district": _layer(path, "districts")},
        facilities=_layer(path, "facilities"),
        candidates=_layer(path, "candidates"),
        network=None,
        name="Shenzhen",
        crs=_METRIC_CRS,
        sources=[path],
        attribution=[OSM_ATTRIBUTION, _CENSUS, _BOUNDARIES],
    )
