"""Preset routes (api.md §2.3): list, get by name, create from a canvas selection."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint

from nodeloom.api import ApiError, Fields, current_kernel, read_json_object

from ._presets_store import create_preset, read_request
from ._schemas import BOOL, STRING, documented, list_of, obj, ref

blueprint = Blueprint("api_presets", __name__)

EXPOSE_SPEC = obj({"node": STRING, "port": STRING, "name": STRING, "description": STRING}, "node", "port")


@blueprint.get("/api/presets")
@documented(list_of("PresetDefinition"))
async def list_presets() -> list[dict[str, Any]]:
    """Every preset in the registry (unavailable ones included), sorted by name."""
    presets = current_kernel().snapshot.presets
    return [presets[name].wire() for name in sorted(presets)]


@blueprint.get("/api/presets/<path:name>")
@documented(ref("PresetDefinition"))
async def get_preset(name: str) -> dict[str, Any]:
    """One preset by its exact, case-sensitive name (names may contain '/')."""
    entry = current_kernel().snapshot.presets.get(name)
    if entry is None:
        raise ApiError(404, "preset_not_found", f"Preset '{name}' not found")
    return entry.wire()


@blueprint.post("/api/presets/create")
@documented(ref("PresetDefinition"), body=obj({
    "name": STRING, "description": STRING, "category": STRING, "tags": {"type": "array", "items": STRING},
    "nodes": list_of("GraphNode"), "edges": list_of("GraphEdge"),
    "exposed_inputs": {"type": ["array", "null"], "items": EXPOSE_SPEC},
    "exposed_outputs": {"type": ["array", "null"], "items": EXPOSE_SPEC},
    "overwrite": BOOL,
}, "name", "nodes", "edges"))
async def create() -> dict[str, Any]:
    """Create a user preset from selected canvas nodes and store it in presets/."""
    request = read_request(Fields(await read_json_object()))
    return await asyncio.to_thread(create_preset, request, current_kernel())
