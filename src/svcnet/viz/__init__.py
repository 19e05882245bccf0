"""Maps of svcnet objects (folium), in the manner of geopandas' ``explore()``.

Every map function returns a :class:`folium.Map` and takes ``m=`` to add its
layers to an existing map. :func:`to_html` and :func:`save_map` turn a map into
a self-contained page that a reviewer opens without network.

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
from svcnet.viz.static import cjk_font, plot_region

__all__ = ["explore_region", "class_breaks", "to_html", "save_map", "plot_region", "cjk_font"]
