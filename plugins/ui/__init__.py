"""The web UI plugin: serves the single-page node editor built from ``web/`` (api.md §1.1).

The bundle is built by ``python -m nodeloom.plugins.ui.build`` into ``web/dist``; until then ``/``
answers a short page saying how to build it, so a fresh checkout still serves the API.
"""

from __future__ import annotations

from typing import Any

from nodeloom.kernel import hookimpl


@hookimpl
def register_routes(register: Any) -> None:
    # Imported here so loading the plugin for its metadata alone never pulls in Quart.
    from nodeloom.plugins.ui.spa_routes import blueprint

    register(blueprint)
