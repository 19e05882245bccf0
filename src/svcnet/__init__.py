"""svcnet: plan where public services go.

Population grids, travel costs and location models for city planners,
with GeoDataFrames in and out.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("svcnet")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
