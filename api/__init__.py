"""nodeloom's HTTP layer: the Quart app factory and what every route plugin shares.

The route groups themselves are plugins (``register_routes`` hook). A route plugin uses::

    from nodeloom.api import ApiError, Fields, current_kernel, read_json_object

    @bp.post("/api/things/create")
    async def create_thing():
        \"\"\"Create a thing (the first docstring line is the OpenAPI summary).\"\"\"
        body = Fields(await read_json_object())
        name = body.string("name", min_length=1)
        body.raise_if_problems()                      # 422 validation_error
        if exists(name):
            raise ApiError(409, "thing_exists", f"Thing '{name}' already exists")
        return {"name": name, "generation": current_kernel().snapshot.generation}
"""

from nodeloom.api.app import create_app, package_blueprints
from nodeloom.api.errors import ApiError, error_response, is_blobit_path
from nodeloom.api.guards import body_limit
from nodeloom.api.openapi import add_schema, route_doc
from nodeloom.api.parsing import (
    REQUIRED,
    Fields,
    FormFields,
    Problem,
    QueryFields,
    finite,
    invalid,
    read_json_object,
    require_multipart,
    validation_error,
)
from nodeloom.api.settings import Limits, Settings, SettingsError
from nodeloom.api.state import AppState, current_kernel, current_settings, current_state

__all__ = [
    "REQUIRED",
    "ApiError",
    "AppState",
    "Fields",
    "FormFields",
    "Limits",
    "Problem",
    "QueryFields",
    "Settings",
    "SettingsError",
    "add_schema",
    "body_limit",
    "create_app",
    "current_kernel",
    "current_settings",
    "current_state",
    "error_response",
    "finite",
    "invalid",
    "is_blobit_path",
    "package_blueprints",
    "read_json_object",
    "require_multipart",
    "route_doc",
    "validation_error",
]
