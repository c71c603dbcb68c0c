"""OpenAPI component schemas of the shared shapes (api.md §4.1 to §4.5) and response helpers.

Registered once per app by :func:`register_schemas` (called when the nodes route group mounts);
routes describe their bodies and responses with :func:`documented`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quart import Quart

from nodeloom.api import add_schema, route_doc

__all__ = ["BOOL", "INTEGER", "NULLABLE_STRING", "SCHEMAS", "STRING", "documented", "list_of", "obj", "ref",
           "register_schemas"]

_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_NULLABLE_STRING = {"type": ["string", "null"]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), extra: bool = True) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": extra}


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def list_of(name: str) -> dict[str, Any]:
    """An array of a named component schema."""
    return _list(ref(name))


PORT = _object({"name": _STRING, "data_type": _STRING, "description": _STRING, "optional": _BOOL},
               ("name", "data_type", "description", "optional"), extra=False)
PARAM = _object(
    {
        "name": _STRING,
        "param_type": {"type": "string", "enum": ["int", "float", "string", "bool", "select", "model_file",
                                                  "image_file", "tensor_grid", "secret", "upload"]},
        "default": {},
        "description": _STRING,
        "options": _list(_STRING),
        "min_value": {"type": ["number", "null"]},
        "max_value": {"type": ["number", "null"]},
        "visible_when": {"type": ["object", "null"]},
    },
    ("name", "param_type", "default", "description", "options", "min_value", "max_value", "visible_when"),
    extra=False,
)
FLAGS = ("deterministic", "random", "stateful", "display_only", "dynamic_outputs", "exportable")
NODE = _object(
    {
        "node_name": _STRING,
        "category": _STRING,
        "description": _STRING,
        "provider": _STRING,
        "version": _STRING,
        "cacheable": _BOOL,
        "available": _BOOL,
        "unavailable_reason": _NULLABLE_STRING,
        "flags": _object({f: _BOOL for f in FLAGS}, FLAGS, extra=False),
        "inputs": _list(ref("PortDefinition")),
        "outputs": _list(ref("PortDefinition")),
        "params": _list(ref("ParamDefinition")),
    },
    ("node_name", "category", "description", "provider", "version", "cacheable", "available",
     "unavailable_reason", "flags", "inputs", "outputs", "params"),
    extra=False,
)
GRAPH_NODE = _object(
    {
        "id": {"type": "string", "minLength": 1},
        "type": {"type": "string", "minLength": 1},
        "position": _object({"x": {"type": "number"}, "y": {"type": "number"}}, ("x", "y")),
        "data": _object({"params": {"type": "object"}, "internalParams": {"type": "object"}}),
    },
    ("id", "type"),
)
GRAPH_EDGE = _object(
    {
        "id": _STRING,
        "source": _STRING,
        "target": _STRING,
        "sourceHandle": _STRING,
        "targetHandle": _STRING,
        "type": {"type": "string", "enum": ["data", "trigger"]},
    },
    ("source", "target"),
)
EXPOSED_PORT = _object({"name": _STRING, "internal_node": _STRING, "internal_port": _STRING, "data_type": _STRING,
                        "description": _STRING}, ("name", "internal_node", "internal_port"))
EXPOSED_PARAM = _object({"internal_node": _STRING, "param_name": _STRING, "display_name": _STRING, "group": _STRING,
                         "param_def": {"oneOf": [ref("ParamDefinition"), {"type": "null"}]}},
                        ("internal_node", "param_name", "display_name"))
PRESET = _object(
    {
        "preset_name": _STRING,
        "category": _STRING,
        "description": _STRING,
        "tags": _list(_STRING),
        "source": _STRING,
        "available": _BOOL,
        "error": _NULLABLE_STRING,
        "nodes": _list(_object({"id": _STRING, "type": _STRING, "params": {"type": "object"},
                                "internalParams": {"type": "object"}}, ("id", "type"))),
        "edges": _list(_object({"source": _STRING, "sourceHandle": _STRING, "target": _STRING,
                                "targetHandle": _STRING}, ("source", "sourceHandle", "target", "targetHandle"))),
        "exposed_inputs": _list(EXPOSED_PORT),
        "exposed_outputs": _list(EXPOSED_PORT),
        "exposed_params": _list(EXPOSED_PARAM),
    },
    ("preset_name", "nodes", "edges"),
)
GRAPH = _object(
    {
        "name": _STRING,
        "description": _STRING,
        "nodes": _list(ref("GraphNode")),
        "edges": _list(ref("GraphEdge")),
        "presets": _list(ref("PresetDefinition")),
        "segmentGroups": _list(_object({"id": _STRING, "headNodeId": _STRING, "tailNodeId": _STRING},
                                       ("id", "headNodeId", "tailNodeId"))),
        "format_version": {"type": "integer", "minimum": 1},
        "nodeloom": {"type": "object"},
    },
    ("nodes", "edges"),
)
ISSUE = _object(
    {
        "code": _STRING,
        "severity": {"type": "string", "enum": ["error", "warning"]},
        "message": _STRING,
        "node_id": _NULLABLE_STRING,
        "edge_id": _NULLABLE_STRING,
        "port": _NULLABLE_STRING,
        "param": _NULLABLE_STRING,
        "draft": _BOOL,
    },
    ("code", "severity", "message", "node_id", "edge_id", "port", "param", "draft"),
    extra=False,
)
BUILD_ERROR = _object(
    {"kind": {"type": "string", "enum": ["plugin", "custom_node", "preset", "example", "model_registry"]},
     "source": _STRING, "message": _STRING, "line": {"type": ["integer", "null"]}},
    ("kind", "source", "message", "line"),
    extra=False,
)

RELOAD_REPORT = _object(
    {"builtin": {"type": "integer"}, "custom": {"type": "integer"}, "plugins": {"type": "integer"},
     "presets": {"type": "integer"}, "total": {"type": "integer"}, "generation": {"type": "integer"},
     "errors": _list(ref("BuildError"))},
    ("builtin", "custom", "plugins", "presets", "total", "generation", "errors"),
    extra=False,
)
VALIDATION_REPORT = _object(
    {"valid": _BOOL, "errors": _list(_STRING), "warnings": _list(_STRING), "issues": _list(ref("ValidationIssue"))},
    ("valid", "errors", "warnings", "issues"),
    extra=False,
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "NodeDefinition": NODE,
    "PortDefinition": PORT,
    "ParamDefinition": PARAM,
    "Graph": GRAPH,
    "GraphNode": GRAPH_NODE,
    "GraphEdge": GRAPH_EDGE,
    "PresetDefinition": PRESET,
    "ExposedPort": EXPOSED_PORT,
    "ExposedParam": EXPOSED_PARAM,
    "ValidationIssue": ISSUE,
    "BuildError": BUILD_ERROR,
    "ReloadReport": RELOAD_REPORT,
    "ValidationReport": VALIDATION_REPORT,
}


def obj(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    """An inline object schema for a route's own request or response."""
    return _object(properties, required)


STRING, BOOL, INTEGER, NULLABLE_STRING = _STRING, _BOOL, {"type": "integer"}, _NULLABLE_STRING


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
