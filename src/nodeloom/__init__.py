"""nodeloom: a plugin-first node-graph platform for PyTorch and media."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nodeloom")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
