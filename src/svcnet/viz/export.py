"""Self-contained HTML pages of folium maps, for reviewers without network.

Folium's pages load Leaflet, jQuery, Bootstrap, Font Awesome and more from
CDNs, so offline they are blank. :func:`to_html` renders a map and

* embeds Leaflet's script and stylesheet (read from an installed package,
  see :mod:`svcnet.viz._assets`), with the stylesheet's images as ``data:`` URIs;
* leaves out the libraries folium's map template always links but the map does
  not use (jQuery, Bootstrap, Font Awesome, awesome-markers ...);
* refuses (offline) a map that needs a script it cannot embed, naming it,
  rather than writing a page that would be blank or broken.

Only basemap tiles then need the network; a map made with ``tiles=None`` needs
none at all. svcnet's own layers need nothing but Leaflet.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator

import folium
from branca.element import CssLink, Element, Figure, JavascriptLink

from svcnet.errors import InputError
from svcnet.io import write_text
from svcnet.viz._assets import leaflet_assets
from svcnet.viz._layers import js_literal

logger = logging.getLogger(__name__)

__all__ = ["to_html", "save_map"]

PathLike = str | os.PathLike[str]

_LEAFLET_JS = "leaflet"
_LEAFLET_CSS = "leaflet_css"
# What folium elements use from the map template's links without declaring it.
_AWESOME = ("awesome_markers", "awesome_markers_css", "awesome_markers_font_css",
            "awesome_rotate_css", "glyphicons_css", "bootstrap_css")  # fmt: skip
_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)
_REMOTE_STYLESHEET = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style>", re.IGNORECASE | re.DOTALL)
_REMOTE_CSS_URL = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])(?:https?:)?//", re.IGNORECASE)


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _needed_links(figure: Figure) -> set[str]:
    """Names of the header links that some element of the page uses."""
    needed = {_LEAFLET_JS, _LEAFLET_CSS}
    for element in _walk(figure):
        if isinstance(element, folium.Map):
            if getattr(element, "objects_to_stay_in_front", None):
                needed.add("jquery")  # folium calls $(document).ready for them
            continue  # the map's own list links far more than a map uses
        for name, _ in [*getattr(element, "default_js", ()), *getattr(element, "default_css", ())]:
            needed.add(name)
        if isinstance(element, folium.Popup):
            needed.add("jquery")  # folium builds popup content with $(...)
        if isinstance(element, folium.Icon):
            needed.update(_AWESOME)
    return needed


def _map_template_links() -> set[str]:
    return {name for name, _ in [*folium.Map.default_js, *folium.Map.default_css]}


def _script_tag(code: str) -> str:
    return "<script>" + re.sub(r"</(script)", r"<\\/\1", code, flags=re.IGNORECASE) + "</script>"


def _style_tag(css: str) -> str:
    return "<style>" + re.sub(r"</(style)", r"<\\/\1", css, flags=re.IGNORECASE) + "</style>"


def _check_offline(html: str) -> None:
    remote = [
        m.group(0) for m in (*_REMOTE_SCRIPT.finditer(html), *_REMOTE_STYLESHEET.finditer(html))
    ]
    for block in _STYLE_BLOCK.findall(html):
        remote += [m.group(0) for m in _REMOTE_CSS_URL.finditer(block)]
    if remote:
        msg = (
            "the page would still load files from the network: "
            + "; ".join(sorted(set(remote))[:5])
            + " (remove the elements that add them, or pass offline=False)"
        )
        raise InputError(msg)


def to_html(m: folium.Map | Figure, *, offline: bool = True) -> str:
    """The HTML page of a folium map, self-contained when ``offline``.

    Parameters
    ----------
    m
        A :class:`folium.Map` (or the :class:`branca.element.Figure` holding it).
        It is rendered as folium renders it (which adds folium's links to its
        page header, as ``m.save`` does); nothing else about it changes.
    offline
        Embed Leaflet and refuse anything else from the network except basemap
        tiles. With False, the libraries the map uses stay links to their CDNs
        (a smaller page that needs the network); unused ones are still left out.

    Returns
    -------
    str
        The page (UTF-8 text).

    Raises
    ------
    InputError
        ``m`` is not a folium map, or (offline) the map uses a script or
        stylesheet that cannot be embedded: folium's ``Popup`` and ``Icon``
        (jQuery, Font Awesome), branca colour-map legends (d3), plugins. The
        message names the files.

    Examples
    --------
    >>> import folium
    >>> page = to_html(folium.Map(tiles=None))
    >>> "cdn.jsdelivr.net" in page, "<script src=" in page, page.count("L.map(")
    (False, False, 1)
    """
    if isinstance(m, folium.Map):
        figure = m.get_root()
    elif isinstance(m, Figure):
        figure = m
    else:
        msg = f"to_html needs a folium.Map, got {type(m).__name__}"
        raise InputError(msg)
    if not isinstance(figure, Figure):
        msg = "the map is not in a page (folium.Figure); make it with folium.Map(...)"
        raise InputError(msg)
    html = figure.render()
    links = {
        name: child
        for name, child in figure.header._children.items()
        if isinstance(child, (JavascriptLink, CssLink))
    }
    needed = _needed_links(figure)
    unused = _map_template_links() - needed
    assets = leaflet_assets() if offline else None
    missing = []
    for name, link in links.items():
        tag = link.render()
        if name in unused:
            replacement = ""
        elif not offline:
            continue
        elif name == _LEAFLET_JS:
            icons = js_literal(assets.icons)
            replacement = _script_tag(
                assets.js
                + f"\nL.Icon.Default.imagePath = '';\nL.Icon.Default.mergeOptions({icons});\n"
            )
        elif name == _LEAFLET_CSS:
            replacement = _style_tag(assets.css)
        else:
            missing.append(f"{name} ({link.url})")
            continue
        if tag not in html:
            msg = f"cannot find the {name} link in the rendered page"
            raise InputError(msg)
        html = html.replace(tag, replacement, 1)
    if missing:
        msg = (
            "the map uses scripts or stylesheets that cannot be embedded for offline use: "
            + ", ".join(missing)
            + ". svcnet's own layers need only Leaflet; remove folium Popups/Icons, branca "
            "colour-map legends or plugins, or pass offline=False (the page then needs the network)"
        )
        raise InputError(msg)
    if offline:
        _check_offline(html)
        logger.debug("embedded Leaflet %s from %s", assets.version, assets.source)
    return html


def save_map(
    m: folium.Map | Figure,
    path: PathLike,
    *,
    protected: Iterable[PathLike] | PathLike = (),
    offline: bool = True,
) -> None:
    """Write a map's page atomically (see :func:`to_html`); it opens without network.

    Parameters
    ----------
    m
        The folium map.
    path
        The output ``.html`` file; its parent directories are created.
    protected
        The caller's input files, which must not be overwritten.
    offline
        Embed everything the page needs (see :func:`to_html`).

    Raises
    ------
    InputError
        As :func:`to_html`, or the target is protected.

    Examples
    --------
    >>> import folium, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "map.html"
    >>> save_map(folium.Map(tiles=None), path)
    >>> "leaflet" in path.read_text(encoding="utf-8")
    True
    """
    write_text(to_html(m, offline=offline), path, protected=protected)
