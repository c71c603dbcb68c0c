"""The ``api`` plugin: nodeloom's own system routes (api.md §2.1), mounted like any route plugin.

Other first-party route groups live in their own plugins; this one serves health, the token
bootstrap, the OpenAPI document and the device list. It cannot be disabled (api.md §2.7.5).
"""

from __future__ import annotations

from typing import Any

from nodeloom.kernel import hookimpl


@hookimpl
def register_routes(register: Any) -> None:
    # Imported here so merely listing plugins does not import Quart.
    from nodeloom.plugins.api_routes.system import blueprint

    register(blueprint)
