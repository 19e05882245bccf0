"""Static figures for documents (matplotlib): legend, scale bar, north arrow, Chinese names."""

from __future__ import annotations

import logging
import math
import warnings
from functools import lru_cache
from typing import Any

import numpy as np

from svcnet.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["plot_region", "cjk_font"]

_CJK_HINTS = ("cjk", "wqy", "wenquanyi", "sourcehan", "source han", "simhei", "simsun",
              "msyh", "yahei", "pingfang", "heiti", "droidsansfallback")  # fmt: skip


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of a font on this system that draws Chinese characters, or None.

    Looks through matplotlib's fonts, then the system's font files (Debian's
    ``fonts-noto-cjk`` puts Noto Sans CJK in ``/usr/share/fonts``).

    Returns
    -------
    str or None

    Examples
    --------
    >>> name = cjk_font()
    >>> name is None or isinstance(name, str)
    True
    """
    from matplotlib import font_manager

    for entry in font_manager.fontManager.ttflist:
        if any(h in entry.name.lower() for h in _CJK_HINTS):
            return entry.name
    candidates = sorted(
        path for path in font_manager.findSystemFonts()
        if any(h in path.lower().replace("_", "").replace("-", "") for h in _CJK_HINTS)
    )  # fmt: skip
    candidates.sort(key=lambda p: (("sans" not in p.lower()), ("bold" in p.lower()), p))
    for path in candidates:
        try:
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
        except (OSError, RuntimeError, ValueError):
            continue
    return None


def _scale_bar(ax: Any, crs_is_metric: bool) -> None:
    if not crs_is_metric:
        return
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    width = x1 - x0
    target = width / 5
    magnitude = 10 ** math.floor(math.log10(target))
    length = max(s * magnitude for s in (1, 2, 5) if s * magnitude <= target)
    left, bottom = x0 + width * 0.05, y0 + (y1 - y0) * 0.05
    ax.plot([left, left + length], [bottom, bottom], color="black", linewidth=3)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(left + length / 2, bottom + (y1 - y0) * 0.015, label, ha="center", va="bottom",
            fontsize=9)  # fmt: skip


def _north_arrow(ax: Any) -> None:
    ax.annotate("N", xy=(0.95, 0.93), xytext=(0.95, 0.83), xycoords="axes fraction",
                ha="center", va="center", fontsize=12, fontweight="bold",
                arrowprops={"facecolor": "black", "width": 4, "headwidth": 10})  # fmt: skip


def plot_region(
    region: Any,
    column: str = "pop",
    *,
    ax: Any = None,
    k: int = 7,
    cmap: str = "YlOrRd",
    labels: bool = True,
    figsize: tuple[float, float] = (8, 7),
) -> Any:
    """A static map of a Region: population classes, boundaries, legend, scale bar, north arrow.

    Unit names (e.g. 福田区) are drawn with a CJK font found on the system; when
    there is none, a warning says so and names may show as empty boxes.

    Parameters
    ----------
    region
        A :class:`svcnet.Region`.
    column
        The population group to map.
    ax
        Matplotlib axes to draw on; a new figure when None.
    k
        Number of colour classes (classes of about equal population).
    cmap
        Matplotlib colour map.
    labels
        Write each unit's name at its centre.
    figsize
        Size of a new figure, in inches.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import svcnet
    >>> ax = plot_region(svcnet.datasets.load_futian())
    >>> ax.get_title()
    'Futian: Population per cell'
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from svcnet.viz.maps import class_breaks

    grid = region.population
    if column not in grid.columns:
        msg = f"the population grid has no such group; it has {', '.join(region.groups)}"
        raise InputError(msg, layer="population", column=column)
    font = cjk_font()
    if font is None:
        warnings.warn(
            "no CJK font found (install fonts-noto-cjk): Chinese names may draw as empty boxes",
            stacklevel=2,
        )
    # every text object carries its font: it must still hold when the figure is drawn later
    family = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    populated = grid[grid[column] > 0]
    breaks = np.asarray(class_breaks(populated[column].to_numpy(), k=k), dtype=float)
    edges = np.unique(np.concatenate([[populated[column].min()], breaks]))
    colours = plt.get_cmap(cmap)(np.linspace(0.1, 0.95, max(len(edges) - 1, 1)))
    norm = BoundaryNorm(edges, len(colours)) if len(edges) > 1 else None
    populated.plot(ax=ax, column=column, cmap=ListedColormap(colours), norm=norm,
                   linewidth=0)  # fmt: skip
    for level, units in region.boundaries.items():
        units.boundary.plot(ax=ax, color="#333333", linewidth=1.2 if level == "district" else 2)
        if labels and level == list(region.boundaries)[-1]:
            for _, unit in units.iterrows():
                point = unit.geometry.representative_point()
                ax.annotate(str(unit[level]), (point.x, point.y), ha="center", fontsize=9,
                            color="#111111", fontfamily=family)  # fmt: skip
    handles = [
        Patch(color=colours[i], label=f"{edges[i]:,.0f} – {edges[i + 1]:,.0f}")
        for i in range(len(edges) - 1)
    ]
    label = {"pop": "Population", "pop_0_14": "Children 0-14", "pop_60plus": "Aged 60+",
             "pop_65plus": "Aged 65+"}.get(column, column)  # fmt: skip
    ax.legend(handles=handles, title=f"{label} per cell", loc="upper left",
              bbox_to_anchor=(1.0, 1.0), prop={"family": family, "size": 8}, title_fontsize=9,
              frameon=False)  # fmt: skip
    ax.set_title(f"{region.name}: {label} per cell", fontfamily=family)
    ax.set_axis_off()
    ax.figure.tight_layout()
    _scale_bar(ax, bool(region.crs.is_projected))
    _north_arrow(ax)
    attribution = " | ".join(region.attribution)
    if attribution:
        ax.figure.text(0.01, 0.01, attribution, fontsize=6, color="#555555", fontfamily=family)
    return ax
