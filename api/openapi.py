"""``GET /api/openapi.json``: an OpenAPI 3.1 document generated from the route table (api.md §2.1.3).

Every mounted rule becomes an operation with its summary (the view's docstring), its auth
(``x-nodeloom-auth``, by method as §1.4 says) and the plugin that registered it. Routes refine their
entry with :func:`route_doc`; plugins add component schemas with :func:`add_schema`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from quart import Quart

from nodeloom.api import auth
from nodeloom.api.state import state_of
from nodeloom.api.wire_models import ERROR_SCHEMAS

DOC_ATTR = "__nodeloom_openapi__"
_VARIABLE = re.compile(r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_HIDDEN_METHODS = {"HEAD", "OPTIONS"}
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_GENERIC_OBJECT = {"type": "object", "additionalProperties": True}

SECURITY_SCHEMES = {
    "nodeloomToken": {"type": "apiKey", "in": "header", "name": auth.TOKEN_HEADER},
    "bearer": {"type": "http", "scheme": "bearer"},
}


def route_doc(**fields: Any) -> Callable[[Any], Any]:
    """Merge OpenAPI operation fields into a view's generated entry.

    Example: ``@route_doc(responses={"200": {...}}, requestBody={...})``. On a WebSocket view the
    fields go into its ``x-websockets`` entry (client actions, server events).
    """

    def mark(view: Any) -> Any:
        setattr(view, DOC_ATTR, {**getattr(view, DOC_ATTR, {}), **fields})
        return view

    return mark


def add_schema(app: Quart, name: str, schema: dict[str, Any]) -> None:
    """Publish a component schema (referenced as ``#/components/schemas/<name>``)."""
    state = state_of(app)
    state.openapi_schemas[name] = schema
    state.openapi_cache = None


def openapi_document(app: Quart) -> dict[str, Any]:
    """The document for ``app``; built once (the route table is fixed at startup) and cached."""
    state = state_of(app)
    if state.openapi_cache is None:
        state.openapi_cache = _build(app)
    return state.openapi_cache


def _build(app: Quart) -> dict[str, Any]:
    from nodeloom import __version__

    state = state_of(app)
    paths: dict[str, dict[str, Any]] = {}
    websockets: dict[str, dict[str, Any]] = {}
    seen_ids: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        view = app.view_functions.get(rule.endpoint)
        path, parameters = _path_and_parameters(rule.rule)
        plugin = state.plugin_of_blueprint.get(rule.endpoint.split(".", 1)[0]) if "." in rule.endpoint else None
        summary, description = _docstring(view)
        extra = dict(getattr(view, DOC_ATTR, {}))
        if rule.websocket:
            websockets[path] = {"summary": summary, "x-nodeloom-auth": "token", "x-nodeloom-plugin": plugin, **extra}
            continue
        for method in sorted((rule.methods or set()) - _HIDDEN_METHODS):
            needs = auth.needs_token(method, _sample_path(rule.rule))
            operation: dict[str, Any] = {
                "operationId": _unique(seen_ids, f"{rule.endpoint}.{method.lower()}"),
                "summary": summary,
                "tags": [plugin or rule.endpoint.split(".", 1)[0]],
                "parameters": parameters,
                "security": [{"nodeloomToken": []}, {"bearer": []}] if needs else [],
                "x-nodeloom-auth": "token" if needs else "open",
                "x-nodeloom-plugin": plugin,
                "responses": {
                    "200": {"description": "Success", "content": {"application/json": {"schema": _GENERIC_OBJECT}}},
                    "default": {
                        "description": "Error",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                    },
                },
            }
            if description:
                operation["description"] = description
            if method in _BODY_METHODS:
                operation["requestBody"] = {"content": {"application/json": {"schema": _GENERIC_OBJECT}}}
            operation.update(extra)
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "nodeloom", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "schemas": {**ERROR_SCHEMAS, **state.openapi_schemas},
        },
        "x-websockets": websockets,
    }


def _path_and_parameters(rule: str) -> tuple[str, list[dict[str, Any]]]:
    parameters: list[dict[str, Any]] = []

    def replace(match: re.Match[str]) -> str:
        converter = match.group("converter") or "default"
        schema: dict[str, Any] = {"type": "integer"} if converter == "int" else {"type": "string"}
        param = {"name": match.group("name"), "in": "path", "required": True, "schema": schema}
        if converter == "path":
            param["x-nodeloom-path"] = True  # may contain '/'
        parameters.append(param)
        return "{" + match.group("name") + "}"

    return _VARIABLE.sub(replace, rule), parameters


def _unique(seen: set[str], candidate: str) -> str:
    # One view may serve several rules (e.g. "/" and "/<path:path>"); operation ids must differ.
    name, n = candidate, 1
    while name in seen:
        n += 1
        name = f"{candidate}.{n}"
    seen.add(name)
    return name


def _sample_path(rule: str) -> str:
    # Only the bootstrap path is exempt from the token, and it has no variables.
    return _VARIABLE.sub("x", rule)


def _docstring(view: Any) -> tuple[str, str]:
    doc = inspect.getdoc(view) if view is not None else None
    if not doc:
        return "", ""
    first, _, rest = doc.partition("\n")
    return first.strip(), rest.strip()
