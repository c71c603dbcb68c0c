"""The ``api`` plugin: nodeloom's own REST and WebSocket routes, mounted like any route plugin.

Each module of this package that defines a module-level ``blueprint`` is one route group (system,
nodes, presets, graphs, ...). The plugin cannot be disabled (api.md §2.7.5).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from nodeloom.kernel import hookimpl


@hookimpl
def register_routes(register: Any) -> None:
    # Imported here, not at module level, so merely listing plugins does not import Quart.
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        blueprint = getattr(module, "blueprint", None)
        if blueprint is not None:
            register(blueprint)
