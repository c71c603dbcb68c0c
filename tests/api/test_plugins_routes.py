"""Plugin routes (api.md §2.7): list, generation, details, reload, enable and disable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeloom.api import create_app
from nodeloom.kernel.host import Kernel
from tests.api.routes_pack import make_routes_kernel
from tests.api.support import auth_headers, client_for, make_settings

TOKEN = auth_headers()
CUSTOM_NODE = (
    "from nodeloom.kernel.api import node, Out\n"
    "@node(name='Mine', category='Custom', outputs=[Out('value', 'SCALAR')])\n"
    "def mine(call):\n    return {'value': 1}\n"
)


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_routes_kernel(tmp_path)
    yield k
    k.close()


async def get_json(client: Any, path: str) -> tuple[int, Any]:
    response = await client.get(path)
    return response.status_code, await response.get_json()


async def post(client: Any, path: str) -> tuple[int, Any]:
    response = await client.post(path, headers=TOKEN)
    return response.status_code, await response.get_json()


# ---------------------------------------------------------------------------- list and details


async def test_list_every_plugin_sorted(client: Any, kernel: Kernel) -> None:
    status, body = await get_json(client, "/api/plugins")
    assert status == 200
    assert [p["id"] for p in body] == ["acme", "api", "custom", "demo", "geo", "maps", "sample", "sample_off",
                                       "ui_like"]
    by_id = {p["id"]: p for p in body}
    assert by_id["demo"] == {
        "id": "demo", "name": "demo", "version": "0.1.0", "description": "",
        "source": "builtin", "enabled": True,
        "hooks": ["register_examples", "register_nodes", "register_presets"],
        "nodes": ["Add", "Const", "GpuOnly", "Relu", "Remote", "Scale", "Split", "Start", "Trainer"],
        "presets": ["Broken Demo", "Double Scale"], "error": None,
    }
    assert by_id["geo"]["source"] == "entry-point" and by_id["geo"]["name"] == "acme-pack"
    assert by_id["geo"]["nodes"] == ["geo:Hull", "geo:KNN"] and by_id["geo"]["presets"] == ["geo/Nearest"]
    assert by_id["custom"] == {"id": "custom", "name": "Custom nodes", "version": None, "description": "",
                               "source": "custom", "enabled": True, "hooks": [], "nodes": [], "presets": [],
                               "error": None}
    assert by_id["api"]["hooks"] == ["register_routes"]


async def test_custom_plugin_lists_custom_nodes(client: Any, kernel: Kernel) -> None:
    (kernel.data_dir.area("custom_nodes") / "mine.py").write_text(CUSTOM_NODE, "utf-8")
    kernel.reload()
    _, body = await get_json(client, "/api/plugins/custom")
    assert body["nodes"] == ["Mine"]
    assert body["manifest"]["distribution"] is None and body["readme"] == ""


async def test_generation_route_wins_over_plugin_id(client: Any, kernel: Kernel) -> None:
    status, body = await get_json(client, "/api/plugins/generation")
    assert status == 200 and body == {"generation": kernel.generation}
    kernel.reload()
    assert (await get_json(client, "/api/plugins/generation"))[1] == {"generation": kernel.generation}


async def test_details_add_manifest_and_readme(client: Any) -> None:
    status, body = await get_json(client, "/api/plugins/geo")
    assert status == 200
    listed = {p["id"]: p for p in (await get_json(client, "/api/plugins"))[1]}["geo"]
    assert {k: body[k] for k in listed} == listed
    manifest = body["manifest"]
    assert manifest["distribution"] == "acme-pack" and manifest["version"] == "0.1.0"
    assert manifest["entry_point"] == {"group": "nodeloom.plugins", "name": "geo",
                                       "value": "tests.api.routes_pack:geo"}
    assert set(manifest) == {"distribution", "version", "summary", "entry_point", "module", "requires_python",
                             "requires", "homepage", "license", "authors"}
    assert isinstance(body["readme"], str)


async def test_disabled_plugin_details_answer_200(client: Any, kernel: Kernel) -> None:
    kernel.set_enabled("geo", False)
    status, body = await get_json(client, "/api/plugins/geo")
    assert status == 200 and body["enabled"] is False and body["nodes"] == [] and body["error"] is None


@pytest.mark.parametrize("plugin_id", ["nope", "GEO", "geo%2Fx", "..", "reload"])
async def test_unknown_plugin_is_404(client: Any, plugin_id: str) -> None:
    status, body = await get_json(client, f"/api/plugins/{plugin_id}")
    assert status == 404 and body["code"] in ("plugin_not_found", "not_found")
    if "%2F" not in plugin_id:
        assert body["code"] == "plugin_not_found"
        assert body["detail"] == f"Plugin '{plugin_id}' not found"


# ---------------------------------------------------------------------------- reload


async def test_reload_is_the_nodes_reload(client: Any, kernel: Kernel) -> None:
    before = kernel.generation
    status, body = await post(client, "/api/plugins/reload")
    assert status == 200 and body["generation"] == before + 1
    assert set(body) == {"builtin", "custom", "plugins", "presets", "total", "generation", "errors"}
    _, nodes_reload = await post(client, "/api/nodes/reload")
    assert {k: v for k, v in nodes_reload.items() if k != "generation"} == {
        k: v for k, v in body.items() if k != "generation"}
    assert (await client.post("/api/plugins/reload")).status_code == 403


# ---------------------------------------------------------------------------- enable / disable


async def test_disable_and_enable_a_plugin(client: Any, kernel: Kernel) -> None:
    before = kernel.generation
    status, body = await post(client, "/api/plugins/geo/disable")
    assert status == 200
    assert body == {"id": "geo", "enabled": False, "generation": before + 1, "errors": body["errors"],
                    "restart_required": False}
    assert {"kind": "preset", "source": "Broken Demo", "message": "Unknown node type: Missing (node x)",
            "line": None} in body["errors"]
    state = json.loads((kernel.data_dir.area("state") / "plugins.json").read_text("utf-8"))
    assert state == {"disabled": ["geo"]}
    names = [d["node_name"] for d in (await get_json(client, "/api/nodes"))[1]]
    assert "geo:Hull" not in names and "maps:KNN" in names
    presets = [p["preset_name"] for p in (await get_json(client, "/api/presets"))[1]]
    assert "geo/Nearest" not in presets
    assert (await get_json(client, "/api/nodes/KNN"))[1]["node_name"] == "maps:KNN"  # no longer ambiguous

    # Already disabled: nothing rebuilt, the current generation.
    status, again = await post(client, "/api/plugins/geo/disable")
    assert status == 200 and again["generation"] == before + 1 and again["enabled"] is False

    status, body = await post(client, "/api/plugins/geo/enable")
    assert status == 200 and body["enabled"] is True and body["generation"] == before + 2
    assert json.loads((kernel.data_dir.area("state") / "plugins.json").read_text("utf-8")) == {"disabled": []}
    assert (await get_json(client, "/api/nodes/geo:Hull"))[0] == 200


async def test_disabling_custom_unloads_every_custom_file(client: Any, kernel: Kernel) -> None:
    path = kernel.data_dir.area("custom_nodes") / "mine.py"
    path.write_text(CUSTOM_NODE, "utf-8")
    kernel.reload()
    status, body = await post(client, "/api/plugins/custom/disable")
    assert status == 200 and body["enabled"] is False
    assert (await get_json(client, "/api/nodes/Mine"))[0] == 404
    assert path.exists()
    status, body = await post(client, "/api/plugins/custom/enable")
    assert status == 200 and (await get_json(client, "/api/nodes/Mine"))[0] == 200


async def test_startup_hooks_need_a_restart_and_disabled_routes_answer_404(client: Any) -> None:
    assert (await client.get("/api/sample-off/ping")).status_code == 200
    status, body = await post(client, "/api/plugins/sample_off/disable")
    assert status == 200 and body["restart_required"] is True
    response = await client.get("/api/sample-off/ping")
    assert response.status_code == 404 and (await response.get_json())["code"] == "plugin_disabled"


async def test_api_cannot_be_disabled(client: Any, kernel: Kernel) -> None:
    before = kernel.generation
    status, body = await post(client, "/api/plugins/api/disable")
    assert status == 409 and body["code"] == "plugin_required"
    assert body["detail"] == "Plugin 'api' is required and cannot be disabled"
    assert kernel.generation == before
    status, body = await post(client, "/api/plugins/api/enable")
    assert status == 200 and body["enabled"] is True and body["restart_required"] is True


@pytest.mark.parametrize("action", ["enable", "disable"])
async def test_unknown_plugin_cannot_be_switched(client: Any, action: str) -> None:
    status, body = await post(client, f"/api/plugins/nope/{action}")
    assert status == 404 and body["code"] == "plugin_not_found"


@pytest.mark.parametrize("action", ["enable", "disable"])
async def test_switching_needs_the_token(client: Any, kernel: Kernel, action: str) -> None:
    before = kernel.generation
    response = await client.post(f"/api/plugins/geo/{action}")
    assert response.status_code == 403 and kernel.generation == before


async def test_environment_excluded_plugin_cannot_be_enabled(tmp_path: Path) -> None:
    kernel = make_routes_kernel(tmp_path, env={"NODELOOM_DISABLE_PLUGINS": "maps", "NODELOOM_PLUGINS": "geo,maps"})
    try:
        app = create_app(kernel, make_settings(kernel.data_dir))
        async with app.test_app():
            client = client_for(app)
            _, listed = await get_json(client, "/api/plugins")
            by_id = {p["id"]: p for p in listed}
            assert by_id["maps"]["enabled"] is False and by_id["acme"]["enabled"] is False
            assert by_id["geo"]["enabled"] is True
            for plugin_id in ("maps", "acme"):
                status, body = await post(client, f"/api/plugins/{plugin_id}/enable")
                assert status == 409 and body["code"] == "plugin_excluded"
                assert body["detail"] == f"Plugin '{plugin_id}' is excluded by the server environment"
            # Disabling an excluded plugin changes nothing and is not an error.
            status, body = await post(client, "/api/plugins/maps/disable")
            assert status == 200 and body["enabled"] is False
    finally:
        kernel.close()
