"""Node routes (api.md §2.2): catalogue, lookup, reload, param-dependent ports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeloom.kernel.host import Kernel
from tests.api.routes_pack import fake_devices, make_routes_kernel, route_module
from tests.api.support import auth_headers

TOKEN = auth_headers()


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_routes_kernel(tmp_path)
    yield k
    k.close()


@pytest.fixture(autouse=True)
def no_gpu(kernel: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real probe imports torch; these tests only need to know which devices exist.
    monkeypatch.setattr(route_module("system"), "probe_devices", fake_devices())


# ---------------------------------------------------------------------------- GET /api/nodes


async def test_list_is_sorted_and_complete(client: Any, kernel: Kernel) -> None:
    response = await client.get("/api/nodes")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = await response.get_json()
    names = [d["node_name"] for d in body]
    assert names == sorted(kernel.snapshot.nodes)
    assert "geo:Hull" in names and "Scale" in names
    assert "Double Scale" not in names and not any(n.startswith("preset:") for n in names)
    scale = next(d for d in body if d["node_name"] == "Scale")
    assert scale["provider"] == "builtin" and scale["version"] == "0.1.0"
    assert scale["params"][0]["min_value"] == 0 and scale["params"][0]["max_value"] == 100
    assert scale["flags"]["dynamic_outputs"] is False
    hull = next(d for d in body if d["node_name"] == "geo:Hull")
    assert hull["provider"] == "plugin:geo"


async def test_list_body_is_encoded_once_per_generation(client: Any, kernel: Kernel,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = route_module("nodes")
    builds: list[int] = []
    original = nodes.build_catalogue

    def counting(snapshot: Any, dumps: Any) -> Any:
        builds.append(snapshot.generation)
        return original(snapshot, dumps)

    monkeypatch.setattr(nodes, "build_catalogue", counting)
    first = await (await client.get("/api/nodes")).get_data()
    second = await (await client.get("/api/nodes")).get_data()
    await client.get("/api/nodes/Scale")
    assert first == second and builds == [kernel.generation]

    kernel.reload()
    third = await (await client.get("/api/nodes")).get_data()
    assert builds == [kernel.generation - 1, kernel.generation]
    assert json.loads(third) == json.loads(first)


async def test_device_params_are_narrowed_to_available_devices(client: Any, kernel: Kernel,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    body = await (await client.get("/api/nodes")).get_json()
    trainer = next(d for d in body if d["node_name"] == "Trainer")
    gpu_only = next(d for d in body if d["node_name"] == "GpuOnly")
    assert trainer["params"][0]["options"] == ["auto", "cpu"] and trainer["params"][0]["default"] == "auto"
    assert gpu_only["params"][0]["options"] == ["cpu"] and gpu_only["params"][0]["default"] == "cpu"
    # The snapshot's own (shared) definitions are untouched.
    shared = {d["node_name"]: d for d in kernel.snapshot.node_definitions()}
    assert shared["Trainer"]["params"][0]["options"] == ["auto", "cpu", "cuda", "mps"]

    monkeypatch.setattr(route_module("system"), "probe_devices", fake_devices("cuda"))
    kernel.reload()
    single = await (await client.get("/api/nodes/GpuOnly")).get_json()
    assert single["params"][0] == {**single["params"][0], "options": ["cpu", "cuda"], "default": "cuda"}


# ---------------------------------------------------------------------------- GET /api/nodes/{name}


@pytest.mark.parametrize(("name", "key"), [("Scale", "Scale"), ("Hull", "geo:Hull"), ("geo:KNN", "geo:KNN")])
async def test_get_resolves_like_the_engine(client: Any, name: str, key: str) -> None:
    response = await client.get(f"/api/nodes/{name}")
    assert response.status_code == 200
    assert (await response.get_json())["node_name"] == key


async def test_get_ambiguous_bare_name_is_409_with_candidates(client: Any) -> None:
    response = await client.get("/api/nodes/KNN")
    body = await response.get_json()
    assert response.status_code == 409 and body["code"] == "ambiguous_node_type"
    assert body["candidates"] == ["geo:KNN", "maps:KNN"]
    assert "'KNN'" in body["detail"]


@pytest.mark.parametrize("name", ["Nope", "geo:Scale", "scale", "maps:Hull"])
async def test_get_unknown_is_404(client: Any, name: str) -> None:
    response = await client.get(f"/api/nodes/{name}")
    body = await response.get_json()
    assert response.status_code == 404 and body["code"] == "node_not_found"
    assert name in body["detail"]


async def test_get_name_is_one_segment(client: Any) -> None:
    response = await client.get("/api/nodes/geo%2FHull")
    assert response.status_code == 404
    assert (await response.get_json())["code"] == "not_found"


# ---------------------------------------------------------------------------- POST /api/nodes/reload


async def test_reload_reports_counts_generation_and_errors(client: Any, kernel: Kernel) -> None:
    before = kernel.generation
    response = await client.post("/api/nodes/reload", headers=TOKEN)
    body = await response.get_json()
    assert response.status_code == 200
    assert body["generation"] == before + 1 == kernel.generation
    assert (body["builtin"], body["plugins"], body["custom"]) == (9, 3, 0)
    assert body["total"] == 12 and body["presets"] == len(kernel.snapshot.presets)
    assert {"kind": "preset", "source": "Broken Demo", "message": "Unknown node type: Missing (node x)",
            "line": None} in body["errors"]
    again = await (await client.post("/api/nodes/reload", headers=TOKEN, data=b"ignored")).get_json()
    assert again["generation"] == before + 2


async def test_reload_needs_the_token(client: Any, kernel: Kernel) -> None:
    before = kernel.generation
    response = await client.post("/api/nodes/reload")
    assert response.status_code == 403
    assert (await response.get_json())["code"] == "invalid_token"
    assert kernel.generation == before


async def test_reload_picks_up_a_new_custom_file(client: Any, kernel: Kernel) -> None:
    folder = kernel.data_dir.area("custom_nodes")
    (folder / "twice.py").write_text(
        "from nodeloom.kernel.api import node, Out\n"
        "@node(name='Twice', category='Custom', outputs=[Out('value', 'SCALAR')])\n"
        "def twice(call):\n    return {'value': 2}\n",
        encoding="utf-8",
    )
    body = await (await client.post("/api/nodes/reload", headers=TOKEN)).get_json()
    assert body["custom"] == 1 and body["total"] == 13
    listed = [d["node_name"] for d in await (await client.get("/api/nodes")).get_json()]
    assert "Twice" in listed


# ---------------------------------------------------------------------------- POST .../ports


async def test_ports_follow_params(client: Any) -> None:
    response = await client.post("/api/nodes/Split/ports", json={"params": {"chunks": 4}}, headers=TOKEN)
    body = await response.get_json()
    assert response.status_code == 200 and body["node_name"] == "Split"
    assert [p["name"] for p in body["outputs"]] == ["chunk_0", "chunk_1", "chunk_2", "chunk_3"]
    assert body["inputs"] == [{"name": "value", "data_type": "SCALAR", "description": "input", "optional": False}]


async def test_ports_default_params_and_static_outputs(client: Any) -> None:
    split = await (await client.post("/api/nodes/Split/ports", json={}, headers=TOKEN)).get_json()
    assert [p["name"] for p in split["outputs"]] == ["chunk_0", "chunk_1"]
    add = await (await client.post("/api/nodes/Add/ports", json={"params": None, "x": 1}, headers=TOKEN)).get_json()
    assert [p["optional"] for p in add["inputs"]] == [False, True]
    assert [p["name"] for p in add["outputs"]] == ["value"]
    unknown_param = await client.post("/api/nodes/Hull/ports", json={"params": {"zzz": 1}}, headers=TOKEN)
    assert unknown_param.status_code == 200
    assert (await unknown_param.get_json())["node_name"] == "geo:Hull"


async def test_ports_invalid_params_are_400_with_every_message(client: Any) -> None:
    response = await client.post(
        "/api/nodes/Split/ports", json={"params": {"chunks": 0, "mode": "sideways"}}, headers=TOKEN
    )
    body = await response.get_json()
    assert response.status_code == 400 and body["code"] == "invalid_params"
    assert len(body["errors"]) == 2
    assert "below minimum" in body["errors"][0] and "chunks" in body["errors"][0]
    assert "sideways" in body["errors"][1]
    assert body["detail"] == "; ".join(body["errors"])
    wrong_type = await client.post("/api/nodes/Split/ports", json={"params": {"chunks": "3"}}, headers=TOKEN)
    assert (await wrong_type.get_json())["code"] == "invalid_params"


@pytest.mark.parametrize(
    ("data", "loc", "type_"),
    [
        (b"", ["body"], "json_invalid"),
        (b"[1]", ["body"], "wrong_type"),
        (b'{"params": [1]}', ["body", "params"], "wrong_type"),
        (b'{"params": "x"}', ["body", "params"], "wrong_type"),
    ],
)
async def test_ports_schema_errors(client: Any, data: bytes, loc: list[Any], type_: str) -> None:
    response = await client.post("/api/nodes/Split/ports", data=data, headers=TOKEN)
    body = await response.get_json()
    assert response.status_code == 422 and body["code"] == "validation_error"
    assert {"loc": loc, "type": type_} in [{"loc": i["loc"], "type": i["type"]} for i in body["detail"]]


@pytest.mark.parametrize(("name", "status", "code"), [("Nope", 404, "node_not_found"),
                                                      ("KNN", 409, "ambiguous_node_type")])
async def test_ports_resolve_like_get(client: Any, name: str, status: int, code: str) -> None:
    response = await client.post(f"/api/nodes/{name}/ports", json={}, headers=TOKEN)
    assert response.status_code == status
    assert (await response.get_json())["code"] == code


async def test_ports_needs_the_token(client: Any) -> None:
    response = await client.post("/api/nodes/Split/ports", json={})
    assert response.status_code == 403


# ---------------------------------------------------------------------------- OpenAPI


REGISTRY_ROUTES = {
    "/api/nodes": {"get"}, "/api/nodes/{node_name}": {"get"}, "/api/nodes/reload": {"post"},
    "/api/nodes/{node_name}/ports": {"post"}, "/api/presets": {"get"}, "/api/presets/{name}": {"get"},
    "/api/presets/create": {"post"}, "/api/graph/validate": {"post"}, "/api/graph/save": {"post"},
    "/api/graph/load/{name}": {"get"}, "/api/graph/list": {"get"}, "/api/graph/export": {"post"},
    "/api/examples/list": {"get"}, "/api/examples/load": {"get"}, "/api/custom-nodes": {"get"},
    "/api/custom-nodes/upload": {"post"}, "/api/custom-nodes/toggle": {"post"},
    "/api/custom-nodes/{filename}": {"delete"}, "/api/plugins": {"get"}, "/api/plugins/generation": {"get"},
    "/api/plugins/{plugin_id}": {"get"}, "/api/plugins/reload": {"post"},
    "/api/plugins/{plugin_id}/enable": {"post"}, "/api/plugins/{plugin_id}/disable": {"post"},
}


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield value["$ref"].rsplit("/", 1)[-1]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


async def test_openapi_documents_every_registry_route(client: Any) -> None:
    doc = await (await client.get("/api/openapi.json")).get_json()
    schemas = doc["components"]["schemas"]
    assert {"NodeDefinition", "PortDefinition", "ParamDefinition", "Graph", "GraphNode", "GraphEdge",
            "PresetDefinition"} <= set(schemas)
    for path, methods in REGISTRY_ROUTES.items():
        assert set(doc["paths"][path]) == methods, path
        for method in methods:
            operation = doc["paths"][path][method]
            assert operation["x-nodeloom-auth"] == ("open" if method == "get" else "token"), path
            assert operation["summary"], path
            assert "200" in operation["responses"] and "default" in operation["responses"], path
    listing = doc["paths"]["/api/nodes"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listing == {"type": "array", "items": {"$ref": "#/components/schemas/NodeDefinition"}}
    assert set(_refs(doc)) <= set(schemas)
