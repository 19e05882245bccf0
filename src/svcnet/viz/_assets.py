"""Leaflet's script and stylesheet, read from an installed package, to embed in a page.

Maps exported by :func:`svcnet.viz.to_html` carry Leaflet inline, so a reviewer's
browser needs no network to show them. The files come from a package installed
with svcnet (``django-leaflet``, a dependency; ``XStatic-Leaflet`` and
``django-js-lib-leaflet`` ship the same files and are used when present). Only
the files are read: no Django code is imported. The images the stylesheet
refers to (the layer-control icon) are embedded as ``data:`` URIs.
"""

from __future__ import annotations

import base64
import importlib.metadata
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from svcnet.errors import SvcnetError

logger = logging.getLogger(__name__)

__all__ = ["LeafletAssets", "leaflet_assets"]

# (distribution, folder inside it holding leaflet.js, leaflet.css and images/)
_PROVIDERS = (
    ("django-leaflet", "leaflet/static/leaflet"),
    ("XStatic-Leaflet", "xstatic/pkg/leaflet/data"),
    ("django-js-lib-leaflet", "js_lib_leaflet/static/js_lib_leaflet"),
)
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}
_CSS_URL = re.compile(r"""url\((['"]?)([^'")]+)\1\)""")
_VERSION = re.compile(r"Leaflet (\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class LeafletAssets:
    """Leaflet's files, ready to inline.

    Attributes
    ----------
    version
        Leaflet's version, as its script says (e.g. ``"1.9.3"``).
    js
        The minified script.
    css
        The stylesheet, its images embedded as ``data:`` URIs.
    icons
        ``data:`` URIs of the default marker images: ``iconUrl``,
        ``iconRetinaUrl`` and ``shadowUrl``.
    source
        The distribution the files were read from.
    """

    version: str
    js: str
    css: str
    icons: dict[str, str]
    source: str


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline_css_urls(css: str, folder: Path) -> str:
    def replace(match: re.Match[str]) -> str:
        url = match.group(2).strip()
        if url.startswith(("data:", "#")) or "://" in url or url.startswith("//"):
            return match.group(0)
        path = folder / url
        if not path.is_file():
            logger.debug("leaflet.css refers to %s, which is not in %s", url, folder)
            return match.group(0)
        return f'url("{_data_uri(path)}")'

    return _CSS_URL.sub(replace, css)


def _folder_of(distribution: str, folder: str) -> Path | None:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(folder)))
    if (path / "leaflet.js").is_file() and (path / "leaflet.css").is_file():
        return path
    return None


def leaflet_assets() -> LeafletAssets:
    """Read Leaflet's script and stylesheet from the first package that has them.

    Returns
    -------
    LeafletAssets

    Raises
    ------
    SvcnetError
        No installed package ships Leaflet.

    Examples
    --------
    >>> assets = leaflet_assets()
    >>> assets.version.startswith("1."), "data:image/png;base64," in assets.css
    (True, True)
    """
    for distribution, folder in _PROVIDERS:
        path = _folder_of(distribution, folder)
        if path is None:
            continue
        js = (path / "leaflet.js").read_text(encoding="utf-8")
        css = _inline_css_urls((path / "leaflet.css").read_text(encoding="utf-8"), path)
        found = _VERSION.search(js[:500])
        images = path / "images"
        icons = {
            option: _data_uri(images / name)
            for option, name in (
                ("iconUrl", "marker-icon.png"),
                ("iconRetinaUrl", "marker-icon-2x.png"),
                ("shadowUrl", "marker-shadow.png"),
            )
            if (images / name).is_file()
        }
        version = found.group(1) if found else "unknown"
        logger.debug("Leaflet %s from %s (%s)", version, distribution, path)
        return LeafletAssets(version, js, css, icons, distribution)
    names = ", ".join(name for name, _ in _PROVIDERS)
    msg = (
        f"no installed package ships Leaflet's files (looked for {names}); "
        "install svcnet with its dependencies (pip install svcnet) or pip install django-leaflet"
    )
    raise SvcnetError(msg)
