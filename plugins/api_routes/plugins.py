"""Plugin routes (api.md §2.7): list, generation, details, reload, enable and disable."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint

from nodeloom.api import ApiError, current_kernel
from nodeloom.kernel.host import PluginError
from nodeloom.kernel.plugins import normalize_pack_id
from nodeloom.kernel.registry import PackInfo

from ._schemas import BOOL, INTEGER, NULLABLE_STRING, STRING, documented, list_of, obj, ref
from .nodes import reload_registry

_STRINGS = {"type": "array", "items": STRING}
PLUGIN = obj({"id": STRING, "name": STRING, "version": NULLABLE_STRING, "description": STRING, "source": STRING,
              "enabled": BOOL, "hooks": _STRINGS, "nodes": _STRINGS, "presets": _STRINGS, "error": NULLABLE_STRING},
             "id", "name", "version", "description", "source", "enabled", "hooks", "nodes", "presets", "error")
SWITCHED = obj({"id": STRING, "enabled": BOOL, "generation": INTEGER, "errors": list_of("BuildError"),
                "restart_required": BOOL}, "id", "enabled", "generation", "errors", "restart_required")

blueprint = Blueprint("api_plugins", __name__)


def plugin_item(info: PackInfo) -> dict[str, Any]:
    """One item of ``GET /api/plugins``."""
    return {
        "id": info.id,
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "source": info.source,
        "enabled": info.enabled,
        "hooks": sorted(info.hooks),
        "nodes": sorted(info.nodes),
        "presets": sorted(info.presets),
        "error": info.error,
    }


@blueprint.get("/api/plugins")
@documented({"type": "array", "items": PLUGIN})
async def list_plugins() -> list[dict[str, Any]]:
    """Every plugin, disabled and failed ones included, plus the custom-nodes folder; sorted by id."""
    return [plugin_item(p) for p in current_kernel().plugins()]


@blueprint.get("/api/plugins/generation")
@documented(obj({"generation": INTEGER}, "generation"))
async def generation() -> dict[str, int]:
    """The registry generation (grows by one on every registry swap)."""
    return {"generation": current_kernel().generation}


@blueprint.get("/api/plugins/<plugin_id>")
@documented({"allOf": [PLUGIN, obj({"manifest": {"type": "object"}, "readme": STRING}, "manifest", "readme")]})
async def get_plugin(plugin_id: str) -> dict[str, Any]:
    """One plugin with its distribution manifest and README."""
    kernel = current_kernel()
    info = kernel.plugin(plugin_id)
    if info is None:
        raise ApiError(404, "plugin_not_found", f"Plugin '{plugin_id}' not found")
    try:
        # Reading distribution metadata and README files touches the disk.
        details = await asyncio.to_thread(kernel.plugin_details, plugin_id)
    except PluginError as exc:  # removed by a reload in the meantime
        raise ApiError(404, exc.code, exc.message) from None
    return {**plugin_item(info), "manifest": details["manifest"], "readme": details["readme"]}


@blueprint.post("/api/plugins/reload")
@documented(ref("ReloadReport"))
async def reload_plugins() -> dict[str, Any]:
    """Rediscover and reload every plugin (same as POST /api/nodes/reload)."""
    return await reload_registry()


async def _set_enabled(plugin_id: str, enabled: bool) -> dict[str, Any]:
    kernel = current_kernel()
    try:
        _changed, report = await asyncio.to_thread(kernel.set_enabled, plugin_id, enabled)
    except PluginError as exc:
        status = 404 if exc.code == "plugin_not_found" else 409
        raise ApiError(status, exc.code, exc.message) from None
    pid = canonical_id(kernel, plugin_id)
    return {
        "id": pid,
        "enabled": enabled,
        "generation": report.generation,
        "errors": [e.wire() for e in report.errors],
        "restart_required": kernel.restart_required(pid),
    }


def canonical_id(kernel: Any, plugin_id: str) -> str:
    """The id the kernel matched: it also accepts the entry-point spelling (``My-Pack`` -> ``my_pack``)."""
    if kernel.plugin(plugin_id) is not None:
        return plugin_id
    normalized = normalize_pack_id(plugin_id)
    return normalized if kernel.plugin(normalized) is not None else plugin_id


@blueprint.post("/api/plugins/<plugin_id>/enable")
@documented(SWITCHED)
async def enable(plugin_id: str) -> dict[str, Any]:
    """Enable a plugin (saved in state/plugins.json); rebuilds the registry when the state changes."""
    return await _set_enabled(plugin_id, True)


@blueprint.post("/api/plugins/<plugin_id>/disable")
@documented(SWITCHED)
async def disable(plugin_id: str) -> dict[str, Any]:
    """Disable a plugin (saved in state/plugins.json); its nodes, presets and examples disappear."""
    return await _set_enabled(plugin_id, False)
