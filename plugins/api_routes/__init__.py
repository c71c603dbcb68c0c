"""The ``api`` plugin: nodeloom's own REST and WebSocket routes, mounted like any route plugin.

Each module of this package that defines a module-level ``blueprint`` is one route group (system,
nodes, presets, graphs, ...). The plugin cannot be disabled (api.md §2.7.5).
"""

from __future__ import annotations

from typing import Any

from nodeloom.kernel import hookimpl


@hookimpl
def register_routes(register: Any) -> None:
    # Imported here, not at module level, so merely listing plugins does not import Quart.
    from nodeloom.api import package_blueprints

    for blueprint in package_blueprints(__name__, __path__):
        register(blueprint)
