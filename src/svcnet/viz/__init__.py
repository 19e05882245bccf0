"""Maps of svcnet objects (folium), in the manner of geopandas' ``explore()``.

Every map function returns a :class:`folium.Map` and takes ``m=`` to add its
layers to an existing map. :func:`to_html` and :func:`save_map` turn a map into
a self-contained page that a reviewer opens without network;
:func:`plan_report` and :func:`save_report` make a plan's whole review page.

Examples
--------
>>> import svcnet
>>> region = svcnet.datasets.load_futian()
>>> m = explore_region(region, tiles=None)
>>> len(to_html(m)) < 2_000_000
True
"""

from svcnet.viz.export import save_map, to_html
from svcnet.viz.maps import class_breaks, explore_region
from svcnet.viz.plan_maps import explore_plan
from svcnet.viz.report import plan_report, save_report
from svcnet.viz.static import cjk_font, plot_region

__all__ = [
    "explore_region",
    "explore_plan",
    "class_breaks",
    "to_html",
    "save_map",
    "plan_report",
    "save_report",
    "plot_region",
    "cjk_font",
]
