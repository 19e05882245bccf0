"""Maps of svcnet objects (folium), in the manner of geopandas' ``explore()``.

Every function returns a :class:`folium.Map` and takes ``m=`` to add its
layers to an existing map.
"""

from svcnet.viz.maps import explore_region

__all__ = ["explore_region"]
