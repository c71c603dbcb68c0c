"""The built-in deep-learning node catalogue (nodes.md), registered like any third-party pack."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from nodeloom.kernel import hookimpl, spec_of

from . import nodes as _nodes_pkg

EXAMPLES_DIR = Path(__file__).parent / "examples"
PRESETS_DIR = Path(__file__).parent / "presets"


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


@hookimpl
def register_presets(register):
    # The built-in presets of engine.md §7.2, one JSON file each (the user-preset format).
    for path in sorted(PRESETS_DIR.glob("*.json")):
        register(path)


@hookimpl
def register_examples(register):
    # ``examples/<Category>/<Name>/graph.json`` is listed as ``<Category>/<Name>`` (api.md §2.5).
    for path in sorted(EXAMPLES_DIR.glob("*/*/**/graph.json")):
        register(path.parent.relative_to(EXAMPLES_DIR).as_posix(), path)
