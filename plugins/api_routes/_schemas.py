"""OpenAPI component schemas of the shared shapes (api.md §4.1 to §4.5) and response helpers.

Every component is generated from the attrs models of :mod:`._models` (see
:mod:`nodeloom.api.schema`). They are registered once per app by :func:`register_schemas` (called
when the nodes route group mounts); routes describe their bodies and responses with
:func:`documented`, pointing at components with :func:`ref` / :func:`list_of` and building small
route-local objects with :func:`obj`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quart import Quart

from nodeloom.api import add_schema, route_doc
from nodeloom.api.schema import REF_PREFIX, components_for, schema_of

from ._models import KERNEL_MODELS, MODELS

__all__ = ["BOOL", "INTEGER", "NULLABLE_STRING", "SCHEMAS", "STRING", "documented", "list_of", "obj", "ref",
           "register_schemas"]

#: Every component of :mod:`._models`, by name (NodeDefinition, Graph, PresetDefinition, ...).
SCHEMAS: dict[str, dict[str, Any]] = components_for(MODELS, KERNEL_MODELS)

# Property schemas for the route-local objects built with obj().
STRING = schema_of(str)
BOOL = schema_of(bool)
INTEGER = schema_of(int)
NULLABLE_STRING = schema_of(str | None)


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": REF_PREFIX + name}


def list_of(name: str) -> dict[str, Any]:
    """An array of a named component schema."""
    return {"type": "array", "items": ref(name)}


def obj(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    """An inline object schema for a route's own request or response."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": True}


def register_schemas(app: Quart) -> None:
    for name, schema in SCHEMAS.items():
        add_schema(app, name, schema)


_ERROR_RESPONSE = {
    "description": "Error",
    "content": {"application/json": {"schema": ref("ErrorResponse")}},
}


def documented(response: dict[str, Any] | None = None, body: dict[str, Any] | None = None) -> Callable[[Any], Any]:
    """``route_doc`` with a 200 response schema and/or a JSON request body schema."""
    fields: dict[str, Any] = {}
    if response is not None:
        fields["responses"] = {
            "200": {"description": "Success", "content": {"application/json": {"schema": response}}},
            "default": _ERROR_RESPONSE,
        }
    if body is not None:
        fields["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return route_doc(**fields)
