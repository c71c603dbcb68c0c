"""The built-in deep-learning node catalogue (nodes.md), registered like any third-party pack."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from nodeloom.kernel import hookimpl, spec_of

from . import nodes as _nodes_pkg

EXAMPLES_DIR = Path(__file__).parent / "examples"


def _node_modules():
    for info in sorted(pkgutil.iter_modules(_nodes_pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{_nodes_pkg.__name__}.{info.name}")


def collect_specs(module) -> list:
    """Specs defined in ``module`` itself (imported helpers are not collected twice)."""
    found = []
    for obj in vars(module).values():
        spec = spec_of(obj)
        if spec is not None and getattr(spec.execute, "__module__", None) == module.__name__:
            found.append(spec)
    return found


@hookimpl
def register_nodes(register):
    for module in _node_modules():
        for spec in collect_specs(module):
            register(spec)


@hookimpl
def register_run_extensions(register):
    # Lazy: importing the plugin module itself stays torch-free until a hook runs.
    from nodeloom.torchkit import TorchRunExtension

    register(TorchRunExtension())
