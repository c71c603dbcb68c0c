"""Example routes (api.md §2.5): read-only graphs contributed by plugins (``register_examples``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from quart import Blueprint, request

from nodeloom.api import ApiError, QueryFields, current_kernel
from nodeloom.kernel.paths import PathError, check_relpath
from nodeloom.kernel.registry import ExampleEntry, RegistrySnapshot

from nodeloom.api.files import invalid_path
from ._schemas import INTEGER, STRING, documented, obj, ref

blueprint = Blueprint("api_examples", __name__)

PLUGIN_PREFIX = "plugin:"


def example_graph(entry: ExampleEntry) -> Mapping[str, Any] | None:
    """The example's graph: registered inline, or read from its file (blocking)."""
    if entry.graph is not None:
        return entry.graph
    if entry.file is None:
        return None
    try:
        with open(entry.file, encoding="utf-8") as fh:
            value = json.load(fh)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, Mapping) else None


def _relative(path: str) -> str:
    """The example's own relative path (without the ``plugin:<id>/`` prefix)."""
    if path.startswith(PLUGIN_PREFIX):
        return path.partition("/")[2]
    return path


def list_item(entry: ExampleEntry, graph: Mapping[str, Any]) -> dict[str, Any]:
    relative = _relative(entry.path)
    name = graph.get("name")
    description = graph.get("description")
    nodes, edges = graph.get("nodes"), graph.get("edges")
    return {
        "name": name if isinstance(name, str) and name else relative.rsplit("/", 1)[-1],
        "description": description if isinstance(description, str) else "",
        "category": relative.split("/", 1)[0],
        "path": entry.path,
        "source": entry.source,
        "node_count": len(nodes) if isinstance(nodes, list) else 0,
        "edge_count": len(edges) if isinstance(edges, list) else 0,
    }


def list_examples(snapshot: RegistrySnapshot) -> list[dict[str, Any]]:
    items = []
    for path in sorted(snapshot.examples):
        entry = snapshot.examples[path]
        graph = example_graph(entry)
        if graph is not None:  # an unreadable example is left out (the build reported it)
            items.append(list_item(entry, graph))
    return items


def check_example_path(snapshot: RegistrySnapshot, path: str) -> None:
    """§2.5.2 checks in order: the path (400 ``invalid_path``), then the named plugin (404)."""
    relative = path
    plugin_id = None
    if path.startswith(PLUGIN_PREFIX):
        plugin_id, _, relative = path[len(PLUGIN_PREFIX) :].partition("/")
    try:
        check_relpath(relative)
    except PathError as exc:
        raise invalid_path(PathError(path, exc.reason)) from None
    if plugin_id is not None:
        pack = snapshot.packs.get(plugin_id)
        if pack is None or not pack.enabled:
            raise ApiError(404, "plugin_not_found", f"Plugin '{plugin_id}' is not installed or not enabled")


@blueprint.get("/api/examples/list")
@documented({"type": "array", "items": obj(
    {"name": STRING, "description": STRING, "category": STRING, "path": STRING, "source": STRING,
     "node_count": INTEGER, "edge_count": INTEGER},
    "name", "description", "category", "path", "source", "node_count", "edge_count")})
async def list_all() -> list[dict[str, Any]]:
    """Examples of the enabled plugins, sorted by path."""
    return await asyncio.to_thread(list_examples, current_kernel().snapshot)


@blueprint.get("/api/examples/load")
@documented(ref("Graph"))
async def load() -> Any:
    """One example's graph JSON, unchanged."""
    args = QueryFields(request.args)
    path = args.string("path")
    args.raise_if_problems()
    snapshot = current_kernel().snapshot
    check_example_path(snapshot, path)
    entry = snapshot.examples.get(path)
    graph = await asyncio.to_thread(example_graph, entry) if entry is not None else None
    if graph is None:
        raise ApiError(404, "example_not_found", f"Example not found: {path}")
    return dict(graph)
