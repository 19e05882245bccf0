"""Maps of svcnet objects (folium), in the manner of geopandas' ``explore()``.

Every map function returns a :class:`folium.Map` and takes ``m=`` to add its
layers to an existing map. :func:`to_html` and :func:`save_map` turn a map into
a self-contained page that a reviewer opens without network;
:func:`explore_solution` maps a location model's solution,
:func:`explore_coverage` who is within a travel cost of a site and
:func:`isochrone_layer` the areas reached within some minutes;
:func:`plan_report` and :func:`save_report` make a plan's whole review page.

Examples
--------
>>> import svcnet
>>> region = svcnet.datasets.load_futian()
>>> m = explore_region(region, tiles=None)
>>> len(to_html(m)) < 2_000_000
True
"""

from svcnet.viz.coverage_maps import explore_coverage, isochrone_layer
from svcnet.viz.export import save_map, to_html
from svcnet.viz.maps import class_breaks, explore_region
from svcnet.viz.plan_maps import explore_plan
from svcnet.viz.report import plan_report, save_report
from svcnet.viz.solution_maps import explore_solution
from svcnet.viz.static import cjk_font, plot_region

__all__ = [
    "explore_region",
    "explore_plan",
    "explore_solution",
    "explore_coverage",
    "isochrone_layer",
    "class_breaks",
    "to_html",
    "save_map",
    "plan_report",
    "save_report",
    "plot_region",
    "cjk_font",
]
