"""Preset routes (api.md §2.3): list, get, and create with every status of §2.3.3."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeloom.kernel.host import Kernel
from tests.api.routes_pack import make_routes_kernel
from tests.api.support import auth_headers

TOKEN = auth_headers()


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_routes_kernel(tmp_path)
    yield k
    k.close()


def node(node_id: str, node_type: str, **params: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": 1, "y": 2}, "data": {"params": params, "label": "x"}}


def edge(source: str, s_handle: str, target: str, t_handle: str, **extra: Any) -> dict[str, Any]:
    return {"source": source, "sourceHandle": s_handle, "target": target, "targetHandle": t_handle, **extra}


def selection(name: str = "My Chain", **extra: Any) -> dict[str, Any]:
    """Const -> Scale -> Add(a); Add.b stays open."""
    return {
        "name": name,
        "nodes": [node("c", "Const", value=4.0), node("s", "Scale", factor=3.0), node("a", "Add")],
        "edges": [edge("c", "value", "s", "value", id="e1"), edge("s", "value", "a", "a", id="e2")],
        **extra,
    }


async def create(client: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post("/api/presets/create", json=body, headers=TOKEN)
    return response.status_code, await response.get_json()


def preset_files(kernel: Kernel) -> list[str]:
    return sorted(p.name for p in kernel.data_dir.area("presets").iterdir())


# ---------------------------------------------------------------------------- list and get


async def test_list_is_sorted_and_shows_unavailable_presets(client: Any) -> None:
    body = await (await client.get("/api/presets")).get_json()
    assert [p["preset_name"] for p in body] == ["Broken Demo", "Double Scale", "geo/Nearest"]
    broken, double, nearest = body
    assert broken["available"] is False and "Missing" in broken["error"]
    assert double["available"] is True and double["error"] is None and double["source"] == "builtin"
    assert double["exposed_inputs"][0]["data_type"] == "SCALAR"
    assert double["exposed_params"][0]["param_def"]["name"] == "factor"
    assert nearest["source"] == "plugin:geo"


@pytest.mark.parametrize("name", ["Double Scale", "geo/Nearest"])
async def test_get_by_exact_name(client: Any, name: str) -> None:
    response = await client.get(f"/api/presets/{name}")
    assert response.status_code == 200
    assert (await response.get_json())["preset_name"] == name


@pytest.mark.parametrize("name", ["double scale", "Double%20Scale%20", "../Double Scale", "geo/../Double Scale",
                                  "geo%2F..%2FDouble Scale", "%2E%2E", "a%00b", "a%5Cb"])
async def test_get_unknown_or_traversal_name_is_404(client: Any, name: str) -> None:
    response = await client.get(f"/api/presets/{name}")
    body = await response.get_json()
    assert response.status_code == 404 and body["code"] == "preset_not_found"


# ---------------------------------------------------------------------------- create: success


async def test_create_stores_file_and_publishes_a_generation(client: Any, kernel: Kernel) -> None:
    before = kernel.generation
    status, body = await create(client, selection("  My Chain  ", description="d", category="Mine", tags=["t"]))
    assert status == 200, body
    assert kernel.generation == before + 1
    assert body["preset_name"] == "My Chain" and body["source"] == "user"
    assert body["available"] is True and body["error"] is None
    assert (body["category"], body["description"], body["tags"]) == ("Mine", "d", ["t"])
    assert body["nodes"] == [
        {"id": "node_0", "type": "Const", "params": {"value": 4.0}},
        {"id": "node_1", "type": "Scale", "params": {"factor": 3.0}},
        {"id": "node_2", "type": "Add", "params": {}},
    ]
    assert body["edges"] == [edge("node_0", "value", "node_1", "value"), edge("node_1", "value", "node_2", "a")]
    # Automatic exposure: open inputs (optional ones too) and outputs without an internal edge.
    assert body["exposed_inputs"] == [
        {"name": "node_2_b", "internal_node": "node_2", "internal_port": "b", "data_type": "SCALAR",
         "description": "Add: second"},
    ]
    assert [(p["name"], p["description"]) for p in body["exposed_outputs"]] == [("node_2_value", "Add: sum")]
    assert [(p["internal_node"], p["param_name"], p["display_name"], p["group"]) for p in body["exposed_params"]] == [
        ("node_0", "value", "Const - value", "Const"),
        ("node_1", "factor", "Scale - factor", "Scale"),
    ]
    assert body["exposed_params"][1]["param_def"]["max_value"] == 100

    path = kernel.data_dir.area("presets") / "my_chain.json"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and text.startswith('{\n  "preset_name": "My Chain"')
    assert preset_files(kernel) == ["my_chain.json"]  # no temp file left
    listed = await (await client.get("/api/presets/My Chain")).get_json()
    assert listed == body


async def test_create_explicit_exposure(client: Any) -> None:
    status, body = await create(client, selection(
        exposed_inputs=[{"node": "a", "port": "b", "name": "extra", "description": "second operand"}],
        exposed_outputs=[{"node": "s", "port": "value"}, {"node": "a", "port": "value", "name": "sum"}],
    ))
    assert status == 200, body
    assert body["exposed_inputs"] == [
        {"name": "extra", "internal_node": "node_2", "internal_port": "b", "data_type": "SCALAR",
         "description": "second operand"}
    ]
    assert [(p["name"], p["internal_node"]) for p in body["exposed_outputs"]] == [("node_1_value", "node_1"),
                                                                                ("sum", "node_2")]


async def test_create_empty_input_list_exposes_no_inputs(client: Any) -> None:
    status, body = await create(client, selection(exposed_inputs=[]))
    assert status == 200
    assert body["exposed_inputs"] == [] and len(body["exposed_outputs"]) == 1


async def test_create_drops_notes_trigger_edges_and_outside_edges(client: Any) -> None:
    body = selection()
    body["nodes"] += [{"id": "memo", "type": "note", "data": {"noteContent": "hi"}}]
    body["edges"] += [
        edge("memo", "", "c", "value"),
        edge("start", "trigger", "c", "", type="trigger"),
        edge("outside", "value", "a", "b"),
        edge("a", "value", "elsewhere", "value"),
    ]
    status, created = await create(client, body)
    assert status == 200, created
    assert len(created["nodes"]) == 3 and len(created["edges"]) == 2
    # The edge from outside did not count as internal: Add.b is still exposed.
    assert [p["internal_port"] for p in created["exposed_inputs"]] == ["b"]


async def test_create_blanks_secrets_and_does_not_expose_them(client: Any, kernel: Kernel) -> None:
    status, caller = await create(client, {"name": "Caller", "nodes": [node("r", "Remote", api_key="s3cret", retries=2)],
                                           "edges": []})
    assert status == 200, caller
    assert caller["nodes"][0]["params"] == {"api_key": "", "retries": 2}
    assert [p["param_name"] for p in caller["exposed_params"]] == ["retries"]
    assert "s3cret" not in (kernel.data_dir.area("presets") / "caller.json").read_text(encoding="utf-8")

    # A preset instance inside a new preset: secrets in its internalParams are blanked too.
    outer = {
        "name": "Outer",
        "nodes": [{"id": "p", "type": "preset:Caller",
                   "data": {"params": {}, "internalParams": {"node_0": {"api_key": "again", "retries": 5}}}}],
        "edges": [],
    }
    status, body = await create(client, outer)
    assert status == 200, body
    assert body["nodes"] == [{"id": "node_0", "type": "preset:Caller", "params": {},
                              "internalParams": {"node_0": {"api_key": "", "retries": 5}}}]
    assert body["exposed_outputs"][0]["name"] == "node_0_node_0_reply"
    assert body["exposed_params"] == []


async def test_create_with_overwrite_replaces_the_user_preset(client: Any, kernel: Kernel) -> None:
    assert (await create(client, selection()))[0] == 200
    before = kernel.generation
    status, body = await create(client, selection(description="second", overwrite=True))
    assert status == 200 and body["description"] == "second"
    assert kernel.generation == before + 1
    assert preset_files(kernel) == ["my_chain.json"]


async def test_overwrite_keeps_the_file_the_preset_lives_in(client: Any, kernel: Kernel) -> None:
    folder = kernel.data_dir.area("presets")
    definition = {"preset_name": "My Chain", "nodes": [{"id": "x", "type": "Const", "params": {}}], "edges": [],
                  "exposed_outputs": [{"name": "v", "internal_node": "x", "internal_port": "value"}]}
    (folder / "Hand Made.json").write_text(json.dumps(definition), encoding="utf-8")
    kernel.reload(sources={"presets"})
    status, body = await create(client, selection(overwrite=True))
    assert status == 200, body
    assert preset_files(kernel) == ["Hand Made.json"]
    assert json.loads((folder / "Hand Made.json").read_text(encoding="utf-8"))["nodes"][0]["id"] == "node_0"


# ---------------------------------------------------------------------------- create: errors


@pytest.mark.parametrize(
    ("body", "loc", "type_"),
    [
        ({"nodes": [], "edges": []}, ["body", "name"], "missing"),
        ({"name": "x", "edges": []}, ["body", "nodes"], "missing"),
        ({"name": "x", "nodes": []}, ["body", "edges"], "missing"),
        ({"name": "x", "nodes": [{"type": "Const"}], "edges": []}, ["body", "nodes", 0, "id"], "missing"),
        ({"name": "x", "nodes": [{"id": "a"}], "edges": []}, ["body", "nodes", 0, "type"], "missing"),
        ({"name": "x", "nodes": [{"id": "", "type": "Const"}], "edges": []}, ["body", "nodes", 0, "id"], "out_of_range"),
        ({"name": "x", "nodes": [], "edges": [{"source": "a"}]}, ["body", "edges", 0, "target"], "missing"),
        ({"name": "x", "nodes": [], "edges": [], "tags": ["a", 1]}, ["body", "tags", 1], "wrong_type"),
        ({"name": "x", "nodes": [], "edges": [], "overwrite": "yes"}, ["body", "overwrite"], "wrong_type"),
        ({"name": "x", "nodes": [], "edges": [], "exposed_inputs": [{"node": "a"}]},
         ["body", "exposed_inputs", 0, "port"], "missing"),
        ({"name": "x", "nodes": [], "edges": [], "exposed_outputs": {"node": "a"}}, ["body", "exposed_outputs"],
         "wrong_type"),
        ({"name": 3, "nodes": [], "edges": []}, ["body", "name"], "wrong_type"),
    ],
)
async def test_create_schema_errors(client: Any, kernel: Kernel, body: dict[str, Any], loc: list[Any],
                                    type_: str) -> None:
    status, answer = await create(client, body)
    assert status == 422 and answer["code"] == "validation_error"
    assert {"loc": loc, "type": type_} in [{"loc": i["loc"], "type": i["type"]} for i in answer["detail"]]
    assert preset_files(kernel) == []


async def test_no_node_left_after_dropping_notes(client: Any) -> None:
    status, body = await create(client, {"name": "x", "nodes": [{"id": "n", "type": "note"}], "edges": []})
    assert status == 400 and body["code"] == "invalid_preset"
    assert body["detail"] == "Graph must have at least one node"


async def test_duplicate_node_id(client: Any) -> None:
    status, body = await create(client, {"name": "x", "nodes": [node("a", "Const"), node("a", "Scale")], "edges": []})
    assert status == 400 and body["code"] == "invalid_preset" and body["detail"] == "Duplicate node id: a"


async def test_unknown_types_are_listed(client: Any, kernel: Kernel) -> None:
    body = {"name": "x", "edges": [], "nodes": [node("a", "Zeta"), node("b", "Const"), node("c", "KNN"),
                                                 node("d", "preset:Nope"), node("e", "Alpha")]}
    status, answer = await create(client, body)
    assert status == 400 and answer["code"] == "invalid_preset"
    assert answer["unknown_types"] == ["Alpha", "KNN", "Zeta", "preset:Nope"]
    assert answer["detail"].startswith("Unknown node type(s): Zeta (node a), KNN (node c)")
    assert preset_files(kernel) == []


async def test_unknown_types_answer_before_name_checks(client: Any) -> None:
    status, body = await create(client, {"name": "Double Scale", "nodes": [node("a", "Zeta")], "edges": []})
    assert (status, body["code"]) == (400, "invalid_preset")


@pytest.mark.parametrize("name", ["", "   ", "a/b", "a\\b", "../evil", "/abs", "tab\there", "nul\x00", "x" * 101,
                                  "c1\x85c1"])
async def test_invalid_names(client: Any, kernel: Kernel, name: str) -> None:
    status, body = await create(client, selection(name))
    assert status == 400 and body["code"] == "invalid_name", body
    assert preset_files(kernel) == []


@pytest.mark.parametrize(("name", "file"), [("..", "_.json"), ("%2F..%2F", "_2f_2f.json"),
                                            ("Ünïcode Name!", "_n_code_name_.json"), ("y" * 100, "y" * 100 + ".json")])
async def test_traversal_looking_names_stay_in_the_presets_folder(client: Any, kernel: Kernel, name: str,
                                                                  file: str) -> None:
    status, body = await create(client, selection(name))
    assert status == 200, body
    assert preset_files(kernel) == [file]
    assert not (kernel.data_dir.root / f"{name}.json").exists()


async def test_symlink_leaving_the_presets_folder_is_refused(client: Any, kernel: Kernel, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("keep", encoding="utf-8")
    (kernel.data_dir.area("presets") / "evil.json").symlink_to(outside)
    status, body = await create(client, selection("evil"))
    assert status == 400 and body["code"] == "invalid_path"
    assert outside.read_text(encoding="utf-8") == "keep"


async def test_directory_in_the_way_is_a_file_conflict(client: Any, kernel: Kernel) -> None:
    (kernel.data_dir.area("presets") / "my_chain.json").mkdir()
    status, body = await create(client, selection())
    assert status == 409 and body["code"] == "preset_file_conflict"


@pytest.mark.parametrize("overwrite", [False, True])
async def test_plugin_presets_are_read_only(client: Any, overwrite: bool) -> None:
    status, body = await create(client, selection("Double Scale", overwrite=overwrite))
    assert status == 409 and body["code"] == "preset_read_only"
    assert "'demo'" in body["detail"]
    status, body = await create(client, selection("geo/Nearest"))
    assert status == 400 and body["code"] == "invalid_name"  # '/' is never allowed in a new name


async def test_existing_user_preset_needs_overwrite(client: Any, kernel: Kernel) -> None:
    assert (await create(client, selection()))[0] == 200
    before = kernel.generation
    status, body = await create(client, selection())
    assert status == 409 and body["code"] == "preset_exists"
    assert body["detail"] == "Preset 'My Chain' already exists"
    assert kernel.generation == before


@pytest.mark.parametrize("overwrite", [False, True])
async def test_two_names_mapping_to_one_file(client: Any, kernel: Kernel, overwrite: bool) -> None:
    assert (await create(client, selection("My Chain")))[0] == 200
    status, body = await create(client, selection("my chain", overwrite=overwrite))
    assert status == 409 and body["code"] == "preset_file_conflict"
    assert "my_chain.json" in body["detail"] and "'My Chain'" in body["detail"]
    saved = json.loads((kernel.data_dir.area("presets") / "my_chain.json").read_text(encoding="utf-8"))
    assert saved["preset_name"] == "My Chain"


@pytest.mark.parametrize(
    ("edges", "fragment"),
    [
        ([edge("c", "nope", "s", "value", id="bad")], "Edge bad: 'nope' is not an output port of node c (Const)"),
        ([edge("c", "value", "s", "tensor")], "Edge #0: 'tensor' is not an input port of node s (Scale)"),
    ],
)
async def test_bad_internal_edges(client: Any, kernel: Kernel, edges: list[Any], fragment: str) -> None:
    status, body = await create(client, {"name": "x", "nodes": [node("c", "Const"), node("s", "Scale")],
                                         "edges": edges})
    assert status == 400 and body["code"] == "invalid_preset"
    assert fragment in body["detail"]
    assert preset_files(kernel) == []


async def test_edges_into_a_preset_instance_use_its_exposed_ports(client: Any) -> None:
    nodes = [node("c", "Const"), {"id": "p", "type": "preset:Double Scale"}]
    status, body = await create(client, {"name": "ok", "nodes": nodes, "edges": [edge("c", "value", "p", "x")]})
    assert status == 200, body
    assert body["nodes"][1] == {"id": "node_1", "type": "preset:Double Scale", "params": {}, "internalParams": {}}
    status, body = await create(client, {"name": "bad", "nodes": nodes, "edges": [edge("c", "value", "p", "value")]})
    assert status == 400 and "'value' is not an input port of node p" in body["detail"]


async def test_mismatched_port_types_are_refused(client: Any, kernel: Kernel) -> None:
    body = {"name": "x", "nodes": [node("c", "Const"), node("r", "Relu")], "edges": [edge("c", "value", "r", "tensor")]}
    status, answer = await create(client, body)
    assert status == 400 and answer["code"] == "invalid_preset" and "Type mismatch" in answer["detail"]
    assert preset_files(kernel) == []


@pytest.mark.parametrize(
    ("exposed", "fragment"),
    [
        ({"exposed_inputs": [{"node": "zz", "port": "b"}]}, "node 'zz' is not among the selected nodes"),
        ({"exposed_inputs": [{"node": "a", "port": "q"}]}, "has no input port 'q'"),
        ({"exposed_outputs": [{"node": "a", "port": "b"}]}, "has no output port 'b'"),
        ({"exposed_inputs": [{"node": "a", "port": "a"}]}, "already fed by an internal edge"),
        ({"exposed_outputs": [{"node": "a", "port": "value", "name": "o"}, {"node": "s", "port": "value", "name": "o"}]},
         "Duplicate exposed output name 'o'"),
        ({"exposed_inputs": [], "exposed_outputs": []}, "Subgraph has no unconnected ports"),
    ],
)
async def test_bad_exposure(client: Any, kernel: Kernel, exposed: dict[str, Any], fragment: str) -> None:
    status, body = await create(client, selection(**exposed))
    assert status == 400 and body["code"] == "invalid_preset"
    assert fragment in body["detail"]
    assert preset_files(kernel) == []


async def test_closed_subgraph_has_nothing_to_expose(client: Any) -> None:
    # Start's only output feeds nothing here, so make a loop-free graph whose ports are all wired.
    body = {"name": "x", "nodes": [node("s", "Scale"), node("t", "Scale")],
            "edges": [edge("s", "value", "t", "value")], "exposed_inputs": [], "exposed_outputs": None}
    status, answer = await create(client, body)
    assert status == 200  # t.value is still an open output
    body["exposed_outputs"] = []
    status, answer = await create(client, {**body, "name": "y"})
    assert status == 400 and answer["detail"].startswith("Subgraph has no unconnected ports")


async def test_create_needs_the_token(client: Any, kernel: Kernel) -> None:
    response = await client.post("/api/presets/create", json=selection())
    assert response.status_code == 403
    assert preset_files(kernel) == []


async def test_concurrent_creates_one_wins(client: Any, kernel: Kernel) -> None:
    before = kernel.generation
    results = await asyncio.gather(*(create(client, selection("Race")) for _ in range(4)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409, 409, 409]
    assert {body["code"] for status, body in results if status == 409} == {"preset_exists"}
    assert kernel.generation == before + 1
    assert preset_files(kernel) == ["race.json"]
