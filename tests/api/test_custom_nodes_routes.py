"""Custom-node routes (api.md §2.6): list, upload, toggle, delete, each with hot reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from quart.datastructures import FileStorage

from nodeloom.kernel.host import Kernel
from tests.api.routes_pack import make_routes_kernel
from tests.api.support import auth_headers

TOKEN = auth_headers()

DOUBLER = """\
from nodeloom.kernel.api import In, Out, Param, node


@node(name="Doubler", category="Custom", inputs=[In("value", "SCALAR")], outputs=[Out("value", "SCALAR")])
def doubler(call):
    return {"value": call.inputs["value"] * 2}
"""

# Valid syntax, fails on import at line 6: the registry keeps the last good version.
BROKEN_IMPORT = """\
from nodeloom.kernel.api import In, Out, Param, node

X = 1


undefined_name_here
"""


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_routes_kernel(tmp_path)
    yield k
    k.close()


def folder(kernel: Kernel) -> Path:
    return kernel.data_dir.area("custom_nodes")


async def upload(client: Any, filename: str, content: bytes | str, **kwargs: Any) -> tuple[int, Any]:
    data = content.encode("utf-8") if isinstance(content, str) else content
    headers = kwargs.pop("headers", TOKEN)
    files = {"file": FileStorage(stream=_stream(data), filename=filename, content_type="text/x-python")}
    response = await client.post("/api/custom-nodes/upload", files=files, headers=headers, **kwargs)
    return response.status_code, await response.get_json()


def _stream(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


async def node_names(client: Any) -> list[str]:
    return [d["node_name"] for d in await (await client.get("/api/nodes")).get_json()]


async def toggle(client: Any, body: Any) -> tuple[int, Any]:
    response = await client.post("/api/custom-nodes/toggle", json=body, headers=TOKEN)
    return response.status_code, await response.get_json()


async def delete(client: Any, filename: str) -> tuple[int, Any]:
    response = await client.delete(f"/api/custom-nodes/{filename}", headers=TOKEN)
    return response.status_code, await response.get_json()


# ---------------------------------------------------------------------------- list


async def test_list_shows_py_and_disabled_files_only(client: Any, kernel: Kernel) -> None:
    (folder(kernel) / "b_nodes.py").write_text(DOUBLER, "utf-8")
    (folder(kernel) / "a_old.py.disabled").write_text(DOUBLER.replace("Doubler", "Old"), "utf-8")
    for ignored in ("_private.py", ".hidden.py", "notes.txt", "x.pyc"):
        (folder(kernel) / ignored).write_text("", "utf-8")
    (folder(kernel) / "dir.py").mkdir()
    kernel.reload()
    response = await client.get("/api/custom-nodes")
    assert response.status_code == 200
    assert await response.get_json() == [
        {"filename": "a_old.py.disabled", "enabled": False, "nodes": [], "error": None},
        {"filename": "b_nodes.py", "enabled": True, "nodes": ["Doubler"], "error": None},
    ]


# ---------------------------------------------------------------------------- upload


async def test_upload_loads_the_file_and_publishes_a_generation(client: Any, kernel: Kernel) -> None:
    (folder(kernel) / "my_nodes.py.disabled").write_text("", "utf-8")
    before = kernel.generation
    status, body = await upload(client, "my_nodes.py", DOUBLER)
    assert status == 200, body
    assert body == {"filename": "my_nodes.py", "message": "Uploaded successfully", "enabled": True,
                    "nodes": ["Doubler"], "error": None, "generation": before + 1}
    assert kernel.generation == before + 1
    assert (folder(kernel) / "my_nodes.py").read_text("utf-8") == DOUBLER
    assert not (folder(kernel) / "my_nodes.py.disabled").exists()
    assert sorted(p.name for p in folder(kernel).iterdir()) == ["my_nodes.py"]  # no temp file left
    assert "Doubler" in await node_names(client)
    definition = await (await client.get("/api/nodes/Doubler")).get_json()
    assert definition["provider"] == "custom" and definition["version"].startswith("custom-")


async def test_broken_upload_reports_its_line_and_keeps_the_last_good_version(client: Any, kernel: Kernel) -> None:
    assert (await upload(client, "my_nodes.py", DOUBLER))[0] == 200
    before = kernel.generation
    status, body = await upload(client, "my_nodes.py", BROKEN_IMPORT)
    assert status == 200
    assert body["generation"] == before + 1
    assert body["error"] == "NameError: name 'undefined_name_here' is not defined (my_nodes.py, line 6)"
    assert body["nodes"] == ["Doubler"]  # the earlier version stays in use
    assert "Doubler" in await node_names(client)
    listed = await (await client.get("/api/custom-nodes")).get_json()
    assert listed == [{"filename": "my_nodes.py", "enabled": True, "nodes": ["Doubler"], "error": body["error"]}]
    reload = await (await client.post("/api/nodes/reload", headers=TOKEN)).get_json()
    assert {"kind": "custom_node", "source": "my_nodes.py", "message": body["error"], "line": 6} in reload["errors"]
    assert reload["custom"] == 1


async def test_broken_first_upload_stays_on_disk_with_no_nodes(client: Any, kernel: Kernel) -> None:
    status, body = await upload(client, "fresh.py", BROKEN_IMPORT)
    assert status == 200 and body["nodes"] == [] and "line 6" in body["error"]
    assert (folder(kernel) / "fresh.py").exists()


async def test_syntax_error_is_400_with_line_and_nothing_written(client: Any, kernel: Kernel) -> None:
    assert (await upload(client, "my_nodes.py", DOUBLER))[0] == 200
    before = kernel.generation
    status, body = await upload(client, "my_nodes.py", "x = 1\n\ndef broken(:\n    pass\n")
    assert status == 400 and body["code"] == "syntax_error"
    assert body["line"] == 3 and isinstance(body["column"], int)
    assert body["detail"].startswith("Syntax error in my_nodes.py line 3: ")
    assert (folder(kernel) / "my_nodes.py").read_text("utf-8") == DOUBLER
    assert kernel.generation == before


async def test_nul_bytes_are_a_syntax_error(client: Any, kernel: Kernel) -> None:
    status, body = await upload(client, "nul.py", b"x = 1\ny = 2\x00\n")
    assert status == 400 and body["code"] == "syntax_error" and body["line"] == 2
    assert not (folder(kernel) / "nul.py").exists()


async def test_not_utf8_is_400(client: Any, kernel: Kernel) -> None:
    status, body = await upload(client, "latin.py", "x = 'é'\n".encode("latin-1"))
    assert status == 400 and body["code"] == "not_text" and body["detail"] == "File is not UTF-8 text"
    assert list(folder(kernel).iterdir()) == []


async def test_too_large_is_413(client: Any, kernel: Kernel) -> None:
    status, body = await upload(client, "big.py", b"#" * (1024 * 1024 + 1))
    assert status == 413 and body["code"] == "payload_too_large"
    assert body["detail"] == "File too large (limit 1048576 bytes)"
    assert list(folder(kernel).iterdir()) == []
    status, _ = await upload(client, "edge.py", b"#" * (1024 * 1024))
    assert status == 200


@pytest.mark.parametrize("filename", ["nodes.txt", "nodes.PY", "nodes.py.disabled", "nodes", ""])
async def test_only_py_files(client: Any, filename: str) -> None:
    status, body = await upload(client, filename, DOUBLER)
    assert status == 400 and body["code"] == "invalid_file_type" and body["detail"] == "Only .py files are accepted"


@pytest.mark.parametrize("filename", ["../evil.py", "..\\evil.py", "a/b.py", "/abs/x.py", "_private.py", ".hidden.py",
                                      "sp ace.py", "nul\x00.py", "C:evil.py", "x" * 101 + ".py", "-dash.py"])
async def test_upload_rejects_unsafe_names(client: Any, kernel: Kernel, filename: str) -> None:
    status, body = await upload(client, filename, DOUBLER)
    assert status == 400 and body["code"] == "invalid_name", body
    assert list(folder(kernel).iterdir()) == []
    assert not (kernel.data_dir.root / "evil.py").exists()


async def test_upload_through_a_symlink_leaving_the_folder_is_refused(client: Any, kernel: Kernel,
                                                                      tmp_path: Path) -> None:
    outside = tmp_path / "victim.py"
    outside.write_text("# keep\n", "utf-8")
    (folder(kernel) / "linked.py").symlink_to(outside)
    status, body = await upload(client, "linked.py", DOUBLER)
    assert status == 400 and body["code"] == "invalid_path"
    assert outside.read_text("utf-8") == "# keep\n"


async def test_upload_schema_errors(client: Any) -> None:
    other = {"other": FileStorage(stream=_stream(b"x"), filename="x.py")}
    response = await client.post("/api/custom-nodes/upload", files=other, headers=TOKEN)
    body = await response.get_json()
    assert response.status_code == 422 and body["detail"][0]["loc"] == ["form", "file"]
    assert body["detail"][0]["type"] == "missing"
    response = await client.post("/api/custom-nodes/upload", json={"file": "x"}, headers=TOKEN)
    body = await response.get_json()
    assert response.status_code == 422
    assert body["detail"] == [{"loc": ["body"], "msg": "Expected multipart/form-data", "type": "wrong_type"}]


async def test_upload_needs_the_token(client: Any, kernel: Kernel) -> None:
    status, body = await upload(client, "my_nodes.py", DOUBLER, headers={})
    assert status == 403 and body["code"] == "invalid_token"
    assert list(folder(kernel).iterdir()) == []


# ---------------------------------------------------------------------------- toggle


async def test_toggle_flips_and_sets(client: Any, kernel: Kernel) -> None:
    assert (await upload(client, "my_nodes.py", DOUBLER))[0] == 200
    generation = kernel.generation
    status, body = await toggle(client, {"filename": "my_nodes.py"})
    assert status == 200 and body == {"filename": "my_nodes.py.disabled", "enabled": False,
                                      "generation": generation + 1}
    assert "Doubler" not in await node_names(client)
    assert (folder(kernel) / "my_nodes.py.disabled").exists() and not (folder(kernel) / "my_nodes.py").exists()

    # Already disabled: no rename, no reload, same generation.
    status, body = await toggle(client, {"filename": "my_nodes.py", "enabled": False})
    assert status == 200 and body == {"filename": "my_nodes.py.disabled", "enabled": False,
                                      "generation": generation + 1}
    assert kernel.generation == generation + 1

    status, body = await toggle(client, {"filename": "my_nodes.py.disabled", "enabled": True})
    assert status == 200 and body == {"filename": "my_nodes.py", "enabled": True, "generation": generation + 2}
    assert "Doubler" in await node_names(client)
    status, body = await toggle(client, {"filename": "my_nodes.py.disabled"})
    assert body["enabled"] is False and body["generation"] == generation + 3


async def test_toggle_missing_file(client: Any) -> None:
    status, body = await toggle(client, {"filename": "ghost.py"})
    assert status == 404 and body["code"] == "file_not_found" and body["detail"] == "File not found: ghost.py"


async def test_toggle_conflict_when_both_forms_exist(client: Any, kernel: Kernel) -> None:
    (folder(kernel) / "x.py").write_text(DOUBLER, "utf-8")
    (folder(kernel) / "x.py.disabled").write_text(DOUBLER, "utf-8")
    status, body = await toggle(client, {"filename": "x.py.disabled", "enabled": True})
    assert status == 409 and body["code"] == "conflict"
    assert body["detail"] == "Both x.py and x.py.disabled exist; delete one of them"


@pytest.mark.parametrize("filename", ["../x.py", "x.txt", "_x.py", ".x.py", "x.py.bak", "a/x.py", "x\\y.py", "",
                                      "x.disabled", "x.py.disabled.disabled"])
async def test_toggle_invalid_names(client: Any, filename: str) -> None:
    status, body = await toggle(client, {"filename": filename})
    assert status == 400 and body["code"] == "invalid_name"


async def test_toggle_through_a_symlink_leaving_the_folder_is_refused(client: Any, kernel: Kernel,
                                                                      tmp_path: Path) -> None:
    outside = tmp_path / "victim.py"
    outside.write_text("# keep\n", "utf-8")
    (folder(kernel) / "linked.py").symlink_to(outside)
    status, body = await toggle(client, {"filename": "linked.py"})
    assert status == 400 and body["code"] == "invalid_path"
    assert (folder(kernel) / "linked.py").is_symlink()


@pytest.mark.parametrize(("body", "loc", "type_"), [({}, ["body", "filename"], "missing"),
                                                    ({"filename": 3}, ["body", "filename"], "wrong_type"),
                                                    ({"filename": "x.py", "enabled": "yes"}, ["body", "enabled"],
                                                     "wrong_type")])
async def test_toggle_schema_errors(client: Any, body: Any, loc: list[Any], type_: str) -> None:
    status, answer = await toggle(client, body)
    assert status == 422 and {"loc": loc, "type": type_} in [{"loc": i["loc"], "type": i["type"]}
                                                             for i in answer["detail"]]


# ---------------------------------------------------------------------------- delete


async def test_delete_removes_and_unloads(client: Any, kernel: Kernel) -> None:
    assert (await upload(client, "my_nodes.py", DOUBLER))[0] == 200
    generation = kernel.generation
    status, body = await delete(client, "my_nodes.py")
    assert status == 200 and body == {"message": "Deleted my_nodes.py", "generation": generation + 1}
    assert not (folder(kernel) / "my_nodes.py").exists()
    assert "Doubler" not in await node_names(client)
    assert await (await client.get("/api/custom-nodes")).get_json() == []


async def test_delete_disabled_file(client: Any, kernel: Kernel) -> None:
    (folder(kernel) / "old.py.disabled").write_text(DOUBLER, "utf-8")
    status, body = await delete(client, "old.py.disabled")
    assert status == 200 and body["message"] == "Deleted old.py.disabled"
    assert not (folder(kernel) / "old.py.disabled").exists()


async def test_delete_missing_file(client: Any) -> None:
    status, body = await delete(client, "ghost.py")
    assert status == 404 and body["code"] == "file_not_found" and body["detail"] == "File not found: ghost.py"


@pytest.mark.parametrize("filename", ["..", "_x.py", ".x.py", "x.txt", "x.py.bak", "x%5Cy.py", "nul%00.py",
                                      "%2E%2E", "C:x.py", "x%20y.py"])
async def test_delete_invalid_names(client: Any, kernel: Kernel, filename: str) -> None:
    (folder(kernel) / "_x.py").write_text("", "utf-8")
    status, body = await delete(client, filename)
    assert status == 400 and body["code"] == "invalid_name"
    assert (folder(kernel) / "_x.py").exists()


@pytest.mark.parametrize("path", ["/api/custom-nodes/..%2Fsession.token", "/api/custom-nodes/a/b.py",
                                  "/api/custom-nodes//etc/x.py"])
async def test_delete_filename_is_one_segment(client: Any, path: str) -> None:
    response = await client.delete(path, headers=TOKEN)
    assert response.status_code in (404, 405)
    assert (await response.get_json())["code"] in ("not_found", "method_not_allowed")


async def test_delete_symlink_leaving_the_folder_is_refused(client: Any, kernel: Kernel, tmp_path: Path) -> None:
    outside = tmp_path / "victim.py"
    outside.write_text("# keep\n", "utf-8")
    (folder(kernel) / "linked.py").symlink_to(outside)
    status, body = await delete(client, "linked.py")
    assert status == 400 and body["code"] == "invalid_path"
    assert outside.exists()


async def test_delete_needs_the_token(client: Any, kernel: Kernel) -> None:
    (folder(kernel) / "x.py").write_text(DOUBLER, "utf-8")
    response = await client.delete("/api/custom-nodes/x.py")
    assert response.status_code == 403
    assert (folder(kernel) / "x.py").exists()


# ---------------------------------------------------------------------------- generations


async def test_every_change_is_exactly_one_generation(client: Any, kernel: Kernel) -> None:
    start = kernel.generation
    seen = []
    seen.append((await upload(client, "a.py", DOUBLER))[1]["generation"])
    seen.append((await toggle(client, {"filename": "a.py"}))[1]["generation"])
    seen.append((await toggle(client, {"filename": "a.py"}))[1]["generation"])
    seen.append((await delete(client, "a.py"))[1]["generation"])
    assert seen == [start + 1, start + 2, start + 3, start + 4]
    health = await (await client.get("/api/plugins/generation")).get_json()
    assert health == {"generation": start + 4}
