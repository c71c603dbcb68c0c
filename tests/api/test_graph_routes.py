"""Graph routes (api.md §2.4): validate, save, load, list, export."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nodeloom.kernel.host import Kernel
from tests.api.routes_pack import make_routes_kernel
from tests.api.support import auth_headers

TOKEN = auth_headers()
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_routes_kernel(tmp_path)
    yield k
    k.close()


def graph(**extra: Any) -> dict[str, Any]:
    """Start triggers Const -> Scale; a draft Add misses its input; a note rides along."""
    return {
        "name": "demo",
        "nodes": [
            {"id": "s", "type": "Start", "position": {"x": 0, "y": 0}, "data": {"params": {}}},
            {"id": "c", "type": "Const", "position": {"x": 1.5, "y": 2}, "data": {"params": {"value": 3}}},
            {"id": "k", "type": "Scale", "data": {"params": {"factor": 2}}},
            {"id": "draft", "type": "Add"},
            {"id": "memo", "type": "note", "data": {"noteContent": "hello", "boundToNodeId": "k"}},
        ],
        "edges": [
            {"id": "t", "source": "s", "target": "c", "sourceHandle": "trigger", "type": "trigger"},
            {"id": "e", "source": "c", "sourceHandle": "value", "target": "k", "targetHandle": "value"},
        ],
        **extra,
    }


def issue_of(body: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for i in body["issues"] if i["code"] == code)


def has_item(body: dict[str, Any], loc: list[Any], type_: str) -> bool:
    return any(i["loc"] == loc and i["type"] == type_ for i in body["detail"])


async def post(client: Any, path: str, body: Any) -> tuple[int, Any]:
    response = await client.post(path, json=body, headers=TOKEN)
    return response.status_code, await response.get_json()


# ---------------------------------------------------------------------------- validate


async def test_validate_valid_graph_with_draft_warning(client: Any) -> None:
    status, body = await post(client, "/api/graph/validate", graph())
    assert status == 200
    assert body["valid"] is True and body["errors"] == []
    warning = issue_of(body, "missing_required_input")
    assert warning == {
        "code": "missing_required_input", "severity": "warning", "message": warning["message"],
        "node_id": "draft", "edge_id": None, "port": "a", "param": None, "draft": True,
    }
    assert body["warnings"] == [warning["message"]]


async def test_validate_reports_errors_with_every_subject_field(client: Any) -> None:
    bad = graph()
    bad["nodes"][2]["data"]["params"]["factor"] = 1000
    bad["edges"].append({"source": "c", "sourceHandle": "value", "target": "ghost", "targetHandle": "x"})
    bad["nodes"].append({"id": "c", "type": "Const"})
    status, body = await post(client, "/api/graph/validate", bad)
    assert status == 200 and body["valid"] is False
    assert body["errors"] == ["Duplicate node id: c"]  # phase 0 stops validation
    bad["nodes"].pop()
    status, body = await post(client, "/api/graph/validate", bad)
    assert status == 200 and body["valid"] is False
    above = issue_of(body, "param_above_max")
    assert (above["node_id"], above["param"], above["severity"]) == ("k", "factor", "error")
    assert set(above) == {"code", "severity", "message", "node_id", "edge_id", "port", "param", "draft"}
    assert issue_of(body, "edge_missing_node")["edge_id"] is None
    assert body["errors"] == [i["message"] for i in body["issues"] if i["severity"] == "error"]


async def test_validate_uses_embedded_presets(client: Any) -> None:
    embedded = {"preset_name": "Local", "nodes": [{"id": "x", "type": "Scale", "params": {}}], "edges": [],
                "exposed_inputs": [{"name": "in", "internal_node": "x", "internal_port": "value"}]}
    body = graph(presets=[embedded])
    body["nodes"].append({"id": "p", "type": "preset:Local"})
    body["edges"].append({"source": "k", "sourceHandle": "value", "target": "p", "targetHandle": "in"})
    status, report = await post(client, "/api/graph/validate", body)
    assert status == 200 and report["valid"] is True, report


@pytest.mark.parametrize(
    ("mutate", "loc", "type_"),
    [
        (lambda g: g.pop("nodes"), ["body", "nodes"], "missing"),
        (lambda g: g.update(edges={}), ["body", "edges"], "wrong_type"),
        (lambda g: g["nodes"][1].pop("id"), ["body", "nodes", 1, "id"], "missing"),
        (lambda g: g["nodes"][1].update(type=""), ["body", "nodes", 1, "type"], "out_of_range"),
        (lambda g: g["nodes"][1].update(position={"x": "1", "y": 0}), ["body", "nodes", 1, "position", "x"],
         "wrong_type"),
        (lambda g: g["nodes"][1]["data"].update(params=[]), ["body", "nodes", 1, "data", "params"], "wrong_type"),
        (lambda g: g["nodes"][1]["data"].update(internalParams={"a": 1}),
         ["body", "nodes", 1, "data", "internalParams", "a"], "wrong_type"),
        (lambda g: g["edges"][0].update(type="weird"), ["body", "edges", 0, "type"], "not_in_enum"),
        (lambda g: g["edges"][0].update(id=7), ["body", "edges", 0, "id"], "wrong_type"),
        (lambda g: g["edges"][1].pop("target"), ["body", "edges", 1, "target"], "missing"),
        (lambda g: g.update(format_version=0), ["body", "format_version"], "out_of_range"),
        (lambda g: g.update(format_version=1.5), ["body", "format_version"], "wrong_type"),
        (lambda g: g.update(segmentGroups=[{"id": "a", "headNodeId": 1, "tailNodeId": "b"}]),
         ["body", "segmentGroups", 0, "headNodeId"], "wrong_type"),
        (lambda g: g.update(presets=[{"nodes": [], "edges": []}]), ["body", "presets", 0, "preset_name"], "missing"),
        (lambda g: g.update(presets=[{"preset_name": "p", "nodes": [], "edges": [{"source": "a", "target": "b"}]}]),
         ["body", "presets", 0, "edges", 0, "sourceHandle"], "missing"),
        (lambda g: g.update(nodeloom=[]), ["body", "nodeloom"], "wrong_type"),
        (lambda g: g.update(name=5), ["body", "name"], "wrong_type"),
    ],
)
async def test_graph_schema_errors(client: Any, mutate: Any, loc: list[Any], type_: str) -> None:
    body = graph()
    mutate(body)
    for path in ("/api/graph/validate", "/api/graph/save", "/api/graph/export"):
        status, answer = await post(client, path, body)
        assert status == 422 and answer["code"] == "validation_error", path
        assert has_item(answer, loc, type_), (path, answer)


@pytest.mark.parametrize("path", ["/api/graph/validate", "/api/graph/save", "/api/graph/export"])
async def test_graph_routes_need_the_token(client: Any, path: str) -> None:
    response = await client.post(path, json=graph())
    assert response.status_code == 403


def nulls_graph() -> dict[str, Any]:
    """``graph()`` with null for every optional field (null means the default, api.md §1.3)."""
    body = graph(description=None, presets=None, segmentGroups=None, format_version=None, nodeloom=None)
    body["nodes"].append({"id": "n", "type": "Const", "position": None, "data": None})
    body["nodes"].append({"id": "m", "type": "Const", "data": {"params": None, "internalParams": None}})
    body["edges"].append({"source": "c", "target": "k", "id": None, "sourceHandle": None, "targetHandle": None,
                          "type": None})
    return body


async def test_null_optional_fields_mean_defaults(client: Any, kernel: Kernel) -> None:
    status, report = await post(client, "/api/graph/validate", nulls_graph())
    phase0 = {"invalid_graph", "invalid_node", "invalid_edge", "invalid_edge_type", "invalid_format_version"}
    assert status == 200 and not phase0 & {i["code"] for i in report["issues"]}, report
    status, _ = await post(client, "/api/graph/save", nulls_graph())
    assert status == 200
    stored = json.loads((kernel.data_dir.area("graphs") / "demo.json").read_text(encoding="utf-8"))
    assert (stored["description"], stored["presets"], stored["segmentGroups"], stored["format_version"]) == (
        "", [], [], 1)
    assert stored["edges"][-1] == {"source": "c", "target": "k", "sourceHandle": "", "targetHandle": "",
                                   "type": "data"}
    assert (await post(client, "/api/graph/export", nulls_graph()))[0] in (200, 400)


# ---------------------------------------------------------------------------- save


async def test_save_writes_the_document_with_defaults_and_unknown_keys(client: Any, kernel: Kernel) -> None:
    body = graph(custom_top={"kept": True}, nodeloom={"other": 1, "packs": {"stale": "0"}})
    body["nodes"][1]["ui"] = {"color": "red"}
    body["nodes"][1]["data"]["label"] = "C"
    body["nodes"].append({"id": "r", "type": "Remote", "data": {"params": {"api_key": "s3cret", "retries": 3}}})
    body["nodes"].append({"id": "h", "type": "geo:Hull"})
    body["edges"][1]["weight"] = 0.5
    status, answer = await post(client, "/api/graph/save", body)
    assert status == 200, answer
    path = kernel.data_dir.area("graphs") / "demo.json"
    assert answer == {"message": "Graph saved", "name": "demo", "file": "demo", "path": str(path.absolute()),
                      "modified": answer["modified"]}
    assert TIMESTAMP.match(answer["modified"])
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "\n  \"" in text
    stored = json.loads(text)
    assert stored["custom_top"] == {"kept": True}
    assert stored["description"] == "" and stored["presets"] == [] and stored["segmentGroups"] == []
    assert stored["format_version"] == 1
    assert stored["nodeloom"] == {"other": 1, "packs": {"geo": "0.1.0", "nodeloom": "0.1.0"}}
    by_id = {n["id"]: n for n in stored["nodes"]}
    assert by_id["c"]["ui"] == {"color": "red"} and by_id["c"]["data"]["label"] == "C"
    assert by_id["draft"] == {"id": "draft", "type": "Add", "position": {"x": 0, "y": 0}, "data": {}}
    assert by_id["memo"]["data"]["noteContent"] == "hello"  # notes are kept
    assert by_id["r"]["data"]["params"] == {"api_key": "", "retries": 3}
    assert "s3cret" not in text
    assert stored["edges"][0] == {"source": "s", "target": "c", "sourceHandle": "trigger", "targetHandle": "",
                                  "type": "trigger", "id": "t"}
    assert stored["edges"][1]["weight"] == 0.5 and stored["edges"][1]["type"] == "data"
    assert sorted(p.name for p in path.parent.iterdir()) == ["demo.json"]


async def test_save_blanks_secrets_inside_presets(client: Any, kernel: Kernel) -> None:
    embedded = {"preset_name": "Caller", "nodes": [{"id": "r", "type": "Remote", "params": {"api_key": "x1"}}],
                "edges": [], "exposed_outputs": [{"name": "o", "internal_node": "r", "internal_port": "reply"}]}
    body = graph(presets=[embedded])
    body["nodes"].append({"id": "p", "type": "preset:Caller", "data": {"internalParams": {"r": {"api_key": "x2"}}}})
    status, _ = await post(client, "/api/graph/save", body)
    assert status == 200
    stored = json.loads((kernel.data_dir.area("graphs") / "demo.json").read_text(encoding="utf-8"))
    assert stored["presets"][0]["nodes"][0]["params"]["api_key"] == ""
    assert stored["nodes"][-1]["data"]["internalParams"] == {"r": {"api_key": ""}}


async def test_save_accepts_drafts_with_errors_and_replaces_the_file(client: Any, kernel: Kernel) -> None:
    broken = graph()
    broken["nodes"].append({"id": "c", "type": "Unknown"})
    assert (await post(client, "/api/graph/save", broken))[0] == 200
    assert (await post(client, "/api/graph/save", graph(description="v2")))[0] == 200
    stored = json.loads((kernel.data_dir.area("graphs") / "demo.json").read_text(encoding="utf-8"))
    assert stored["description"] == "v2"


async def test_save_name_is_required(client: Any) -> None:
    body = graph()
    body.pop("name")
    status, answer = await post(client, "/api/graph/save", body)
    assert status == 422 and has_item(answer, ["body", "name"], "missing")
    status, answer = await post(client, "/api/graph/save", graph(name=None))
    assert status == 422 and has_item(answer, ["body", "name"], "wrong_type")


BAD_NAMES = ["", "..", ".", "../evil", "a/b", "/abs", "a\\b", "..\\evil", "nul\x00", "tab\tx", "CON", "lpt1.txt",
             ".hidden", "trailing.", " lead", "q?", "c:d", "é" * 120, "x" * 129]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_save_rejects_unsafe_names(client: Any, kernel: Kernel, name: str) -> None:
    status, answer = await post(client, "/api/graph/save", graph(name=name))
    assert status == 400 and answer["code"] == "invalid_name", answer
    assert list(kernel.data_dir.area("graphs").iterdir()) == []


async def test_save_through_a_symlink_leaving_the_folder_is_refused(client: Any, kernel: Kernel,
                                                                    tmp_path: Path) -> None:
    outside = tmp_path / "victim.json"
    outside.write_text("{}", encoding="utf-8")
    (kernel.data_dir.area("graphs") / "evil.json").symlink_to(outside)
    status, answer = await post(client, "/api/graph/save", graph(name="evil"))
    assert status == 400 and answer["code"] == "invalid_path"
    assert outside.read_text(encoding="utf-8") == "{}"


async def test_save_over_a_directory_is_a_conflict(client: Any, kernel: Kernel) -> None:
    (kernel.data_dir.area("graphs") / "demo.json").mkdir()
    status, answer = await post(client, "/api/graph/save", graph())
    assert status == 409 and answer["code"] == "conflict"


async def test_save_keeps_unicode_names_as_they_are(client: Any, kernel: Kernel) -> None:
    status, answer = await post(client, "/api/graph/save", graph(name="Graphe été v2.1"))
    assert status == 200 and answer["file"] == "Graphe été v2.1"
    assert (kernel.data_dir.area("graphs") / "Graphe été v2.1.json").is_file()


# ---------------------------------------------------------------------------- load


async def test_load_returns_the_file_exactly(client: Any, kernel: Kernel) -> None:
    raw = b'{"name": "hand",  "nodes": [], "edges": [], "x": 1.50, "u": "\xc3\xa9"}'
    (kernel.data_dir.area("graphs") / "hand.json").write_bytes(raw)
    response = await client.get("/api/graph/load/hand")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert await response.get_data() == raw


async def test_load_turns_non_finite_numbers_into_null(client: Any, kernel: Kernel) -> None:
    folder = kernel.data_dir.area("graphs")
    (folder / "nan.json").write_text('{"nodes": [], "edges": [], "v": NaN, "w": [-Infinity, 1e999]}', "utf-8")
    response = await client.get("/api/graph/load/nan")
    assert response.status_code == 200
    assert await response.get_json() == {"nodes": [], "edges": [], "v": None, "w": [None, None]}


async def test_load_missing_graph(client: Any) -> None:
    response = await client.get("/api/graph/load/nothing")
    body = await response.get_json()
    assert response.status_code == 404 and body["code"] == "graph_not_found"
    assert body["detail"] == "Graph 'nothing' not found"


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
async def test_load_corrupt_graph_is_422(client: Any, kernel: Kernel, content: bytes) -> None:
    (kernel.data_dir.area("graphs") / "bad.json").write_bytes(content)
    response = await client.get("/api/graph/load/bad")
    body = await response.get_json()
    assert response.status_code == 422 and body["code"] == "graph_unreadable"
    assert body["detail"].startswith("Graph file 'bad.json' is not valid JSON")


@pytest.mark.parametrize("name", ["..", "%2E%2E", "a%5Cb", "nul%00", ".hidden", "CON", "x.", "%20lead"])
async def test_load_rejects_unsafe_names(client: Any, name: str) -> None:
    response = await client.get(f"/api/graph/load/{name}")
    assert response.status_code == 400
    assert (await response.get_json())["code"] == "invalid_name"


@pytest.mark.parametrize("path", ["/api/graph/load/..%2F..%2Fsession.token", "/api/graph/load//etc/passwd",
                                  "/api/graph/load/a/b"])
async def test_load_names_are_one_segment(client: Any, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert (await response.get_json())["code"] == "not_found"


async def test_load_through_a_symlink_leaving_the_folder_is_refused(client: Any, kernel: Kernel,
                                                                    tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"nodes": [], "edges": [], "secret": 1}', encoding="utf-8")
    (kernel.data_dir.area("graphs") / "leak.json").symlink_to(secret)
    response = await client.get("/api/graph/load/leak")
    assert response.status_code == 400
    assert (await response.get_json())["code"] == "invalid_path"


async def test_load_directory_is_not_found(client: Any, kernel: Kernel) -> None:
    (kernel.data_dir.area("graphs") / "dir.json").mkdir()
    response = await client.get("/api/graph/load/dir")
    assert response.status_code == 404


# ---------------------------------------------------------------------------- list


async def test_list_items_sorted_with_errors(client: Any, kernel: Kernel, tmp_path: Path) -> None:
    folder = kernel.data_dir.area("graphs")
    (folder / "beta.json").write_text(json.dumps({"name": "Beta Graph", "nodes": [1, 2], "edges": [3]}), "utf-8")
    (folder / "Alpha.json").write_text(json.dumps({"name": "", "nodes": {}, "edges": []}), "utf-8")
    (folder / "alpha.json").write_text(json.dumps({"nodes": [], "edges": []}), "utf-8")
    (folder / "broken.json").write_text("{oops", "utf-8")
    (folder / "listy.json").write_text("[]", "utf-8")
    (folder / ".hidden.json").write_text("{}", "utf-8")
    (folder / "notes.txt").write_text("{}", "utf-8")
    (folder / "sub.json").mkdir()
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"name": "leak", "nodes": [], "edges": []}), "utf-8")
    (folder / "link.json").symlink_to(outside)
    response = await client.get("/api/graph/list")
    body = await response.get_json()
    assert response.status_code == 200
    assert [i["file"] for i in body] == ["Alpha", "alpha", "beta", "broken", "listy"]
    alpha_upper, alpha, beta, broken, listy = body
    assert alpha_upper == {"name": "Alpha", "file": "Alpha", "modified": alpha_upper["modified"], "nodes": None,
                           "edges": 0, "error": None}
    assert alpha["name"] == "alpha" and (alpha["nodes"], alpha["edges"]) == (0, 0)
    assert beta["name"] == "Beta Graph" and (beta["nodes"], beta["edges"]) == (2, 1)
    assert broken["error"] and (broken["nodes"], broken["edges"]) == (None, None)
    assert listy["error"] == "the root is not an object"
    assert all(TIMESTAMP.match(i["modified"]) for i in body)


async def test_list_empty(client: Any) -> None:
    response = await client.get("/api/graph/list")
    assert response.status_code == 200 and await response.get_json() == []


# ---------------------------------------------------------------------------- export


def runner_graph(**extra: Any) -> dict[str, Any]:
    """``graph()`` plus a triggered ``geo:Hull``, which has no code generator."""
    body = graph(**extra)
    body["nodes"].append({"id": "h", "type": "geo:Hull"})
    body["edges"].append({"id": "t2", "source": "s", "target": "h", "sourceHandle": "trigger", "type": "trigger"})
    return body


async def test_export_standalone(client: Any) -> None:
    status, body = await post(client, "/api/graph/export", graph(name="My demo/v2", seed=7))
    assert status == 200, body
    assert body["mode"] == "standalone" and body["seed"] == 7 and body["filename"] == "My_demo_v2.py"
    assert body["omitted_nodes"] == [] and body["unsupported_nodes"] == []
    assert body["script"].startswith("#!") and "3.0" in body["script"]
    compile(body["script"], body["filename"], "exec")
    assert set(body) == {"script", "mode", "filename", "seed", "omitted_nodes", "unsupported_nodes"}


async def test_export_blanks_secrets(client: Any) -> None:
    body = runner_graph()
    body["nodes"].append({"id": "r", "type": "Remote", "data": {"params": {"api_key": "s3cret-key"}}})
    body["edges"].append({"source": "s", "target": "r", "sourceHandle": "trigger", "type": "trigger"})
    status, answer = await post(client, "/api/graph/export", body)
    assert status == 200 and "s3cret-key" not in answer["script"]


@pytest.mark.parametrize(("name", "filename"), [("", "graph.py"), (None, "graph.py"), ("été", "_t_.py"),
                                                ("a-b_c", "a-b_c.py")])
async def test_export_filename(client: Any, name: Any, filename: str) -> None:
    body = graph()
    if name is None:
        body.pop("name")
    else:
        body["name"] = name
    status, answer = await post(client, "/api/graph/export", body)
    assert status == 200 and answer["filename"] == filename


async def test_export_falls_back_to_runner(client: Any) -> None:
    status, body = await post(client, "/api/graph/export", runner_graph())
    assert status == 200 and body["mode"] == "runner" and body["seed"] == 0
    assert [(u["node_id"], u["type"]) for u in body["unsupported_nodes"]] == [("h", "geo:Hull")]
    assert body["unsupported_nodes"][0]["reason"]
    compile(body["script"], body["filename"], "exec")
    status, body = await post(client, "/api/graph/export", graph(mode="runner"))
    assert status == 200 and body["mode"] == "runner" and body["unsupported_nodes"] == []


async def test_export_standalone_mode_refuses_fallback(client: Any) -> None:
    status, body = await post(client, "/api/graph/export", runner_graph(mode="standalone"))
    assert status == 400 and body["code"] == "codegen_unavailable"
    assert body["detail"] == "Node types without standalone code generation: geo:Hull"
    assert [(u["node_id"], u["type"]) for u in body["unsupported_nodes"]] == [("h", "geo:Hull")]


async def test_export_invalid_graph_is_400_with_issues(client: Any) -> None:
    bad = graph()
    bad["nodes"][2]["data"]["params"]["factor"] = -1
    status, body = await post(client, "/api/graph/export", bad)
    assert status == 400 and body["code"] == "invalid_graph"
    assert len(body["errors"]) == 1 and "below minimum" in body["errors"][0]
    assert body["detail"] == "; ".join(body["errors"])
    issue = issue_of(body, "param_below_min")
    assert (issue["node_id"], issue["param"], issue["edge_id"], issue["port"]) == ("k", "factor", None, None)
    warning = issue_of(body, "missing_required_input")  # drafts stay warnings
    assert warning["severity"] == "warning" and warning["draft"] is True


async def test_export_duplicate_ids_are_400(client: Any) -> None:
    bad = graph()
    bad["nodes"].append({"id": "k", "type": "Const"})
    status, body = await post(client, "/api/graph/export", bad)
    assert status == 400 and body["errors"] == ["Duplicate node id: k"]


@pytest.mark.parametrize(
    ("extra", "loc", "type_"),
    [
        ({"mode": "fast"}, ["body", "mode"], "not_in_enum"),
        ({"seed": -1}, ["body", "seed"], "out_of_range"),
        ({"seed": 2**63}, ["body", "seed"], "out_of_range"),
        ({"seed": 1.5}, ["body", "seed"], "wrong_type"),
        ({"seed": True}, ["body", "seed"], "wrong_type"),
    ],
)
async def test_export_option_errors(client: Any, extra: dict[str, Any], loc: list[Any], type_: str) -> None:
    status, body = await post(client, "/api/graph/export", graph(**extra))
    assert status == 422 and has_item(body, loc, type_)


async def test_export_largest_seed(client: Any) -> None:
    status, body = await post(client, "/api/graph/export", graph(seed=2**63 - 1))
    assert status == 200 and body["seed"] == 2**63 - 1


async def test_export_without_an_exporter_is_503(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nodeloom.kernel.export", None)  # makes the import fail
    status, body = await post(client, "/api/graph/export", graph())
    assert status == 503 and body["code"] == "export_unavailable"


# ---------------------------------------------------------------------------- end to end


async def test_save_load_list_round_trip_over_http(live_server: Any) -> None:
    headers = {"X-Nodeloom-Token": live_server.token}
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        saved = await http.post("/api/graph/save", json=graph(name="round trip", extra={"k": [1, 2]}),
                                headers=headers)
        assert saved.status_code == 200, saved.text
        loaded = await http.get("/api/graph/load/round trip")
        listed = await http.get("/api/graph/list")
        refused = await http.post("/api/graph/save", json=graph(name="../escape"), headers=headers)
    path = Path(saved.json()["path"])
    assert loaded.status_code == 200 and loaded.content == path.read_bytes()
    assert loaded.json()["extra"] == {"k": [1, 2]}
    assert listed.json() == [{"name": "round trip", "file": "round trip", "modified": saved.json()["modified"],
                              "nodes": 5, "edges": 2, "error": None}]
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_name"
