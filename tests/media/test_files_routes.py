"""Files API (api.md §2.11): save, read and list UTF-8 files under ``libs/`` (Blobit-style errors)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from nodeloom.api.files import iso_mtime
from nodeloom.kernel.host import Kernel
from tests.api.support import auth_headers

TOKEN = auth_headers()
LIMIT = 16 * 1024 * 1024
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def libs(kernel: Kernel) -> Path:
    return kernel.data_dir.area("libs")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


async def save(client: Any, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, (bytes, str)) else {"json": body}
    response = await client.post("/api/files/save", headers=TOKEN if headers is None else headers, **kwargs)
    return response.status_code, await response.get_json()


async def read(client: Any, path: str | None) -> tuple[int, Any]:
    url = "/api/files/read" if path is None else f"/api/files/read?path={quote(path, safe='')}"
    response = await client.get(url)
    return response.status_code, await response.get_json()


async def listing(client: Any, path: str | None = None) -> tuple[int, Any]:
    url = "/api/files/list" if path is None else f"/api/files/list?path={quote(path, safe='')}"
    response = await client.get(url)
    return response.status_code, await response.get_json()


def assert_error(status: int, body: Any, expected_status: int, code: str) -> None:
    assert status == expected_status and body["code"] == code, body
    # Blobit-style routes (api.md §1.2): every error also carries success/error.
    assert body["success"] is False
    assert body["error"] == (body["detail"] if isinstance(body["detail"], str)
                             else "; ".join(item["msg"] for item in body["detail"]))


# ---------------------------------------------------------------------------- save


async def test_save_a_string_exactly_and_read_it_back(client: Any, kernel: Kernel) -> None:
    text = "line one\r\nligne deux é ✓\n\ttabbed"
    status, body = await save(client, {"path": "my_node/notes.txt", "content": text})
    assert status == 200 and body == {"success": True, "path": "my_node/notes.txt", "size": len(text.encode())}
    target = libs(kernel) / "my_node" / "notes.txt"
    assert target.read_bytes() == text.encode("utf-8")
    status, body = await read(client, "my_node/notes.txt")
    assert status == 200
    assert body == {"success": True, "path": "my_node/notes.txt", "content": text, "format": "text",
                    "size": len(text.encode()), "modified": iso_mtime(target)}
    assert TIMESTAMP.match(body["modified"])


@pytest.mark.parametrize("content", [{"key": "value", "nested": {"list": [1, 2.5, None, True]}, "é": "ü"},
                                     [1, "two", {"three": 3}], 42, -1.5, True, False, None, [], {}])
async def test_save_json_values_with_the_server_layout(client: Any, kernel: Kernel, content: Any) -> None:
    status, body = await save(client, {"path": "cfg/value.json", "content": content})
    assert status == 200, body
    written = (libs(kernel) / "cfg" / "value.json").read_bytes()
    # api.md §1.11: UTF-8, indent 2, non-ASCII kept, final newline.
    assert written == (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    assert body["size"] == len(written)
    status, body = await read(client, "cfg/value.json")
    assert status == 200 and body["format"] == "json" and body["content"] == content


async def test_null_content_counts_as_present(client: Any, kernel: Kernel) -> None:
    status, body = await save(client, {"path": "n.json", "content": None})
    assert status == 200 and body["size"] == 5
    assert (libs(kernel) / "n.json").read_text("utf-8") == "null\n"


async def test_a_json_value_under_a_text_name_is_still_json_text(client: Any, kernel: Kernel) -> None:
    assert (await save(client, {"path": "obj.txt", "content": {"a": 1}}))[0] == 200
    status, body = await read(client, "obj.txt")
    assert body["format"] == "text" and body["content"] == '{\n  "a": 1\n}\n'


async def test_save_replaces_atomically_and_leaves_no_temp_files(client: Any, kernel: Kernel) -> None:
    target = libs(kernel) / "a" / "b" / "c" / "x.txt"
    assert (await save(client, {"path": "a/b/c/x.txt", "content": "first"}))[0] == 200
    assert (await save(client, {"path": "a/b/c/x.txt", "content": "second"}))[0] == 200
    assert target.read_text("utf-8") == "second"
    assert (await save(client, {"path": "a/b/c/x.txt", "content": ""}))[0] == 200
    assert target.read_bytes() == b""
    assert leftovers(libs(kernel)) == []
    status, body = await read(client, "a/b/c/x.txt")
    assert status == 200 and body["content"] == "" and body["size"] == 0 and body["format"] == "text"


async def test_save_schema_errors(client: Any) -> None:
    status, body = await save(client, {"content": "x"})
    assert_error(status, body, 422, "validation_error")
    assert {"loc": ["body", "path"], "msg": "Field required", "type": "missing"} in body["detail"]
    status, body = await save(client, {"path": "x.txt"})
    assert_error(status, body, 422, "validation_error")
    assert {"loc": ["body", "content"], "msg": "Field required", "type": "missing"} in body["detail"]
    status, body = await save(client, {})
    locs = {tuple(item["loc"]) for item in body["detail"]}
    assert status == 422 and {("body", "path"), ("body", "content")} <= locs
    assert body["error"] == "Field required; Field required"
    for bad_path in (None, 3, ["a"], {"a": 1}, True):
        status, body = await save(client, {"path": bad_path, "content": "x"})
        assert_error(status, body, 422, "validation_error")
        assert body["detail"][0]["loc"] == ["body", "path"] and body["detail"][0]["type"] == "wrong_type"
    for raw, kind in ((b"", "json_invalid"), (b"{bad", "json_invalid"), (b'{"path":"x","content":NaN}', "json_invalid"),
                      (b"[1]", "wrong_type"), (b'"text"', "wrong_type")):
        status, body = await save(client, raw)
        assert_error(status, body, 422, "validation_error")
        assert body["detail"][0]["loc"] == ["body"] and body["detail"][0]["type"] == kind


async def test_save_needs_the_token(client: Any, kernel: Kernel) -> None:
    status, body = await save(client, {"path": "x.txt", "content": "x"}, headers={})
    assert_error(status, body, 403, "invalid_token")
    assert list(libs(kernel).iterdir()) == []


async def test_save_not_a_file(client: Any, kernel: Kernel) -> None:
    (libs(kernel) / "folder").mkdir()
    (libs(kernel) / "file.txt").write_text("keep")
    status, body = await save(client, {"path": "folder", "content": "x"})
    assert_error(status, body, 400, "not_a_file")
    assert body["detail"] == "Not a file: folder"
    for path in ("file.txt/child.txt", "file.txt/deeper/child.txt"):
        status, body = await save(client, {"path": path, "content": "x"})
        assert_error(status, body, 400, "not_a_file")
        assert body["detail"] == f"Not a file: {path}"
    assert (libs(kernel) / "folder").is_dir() and (libs(kernel) / "file.txt").read_text() == "keep"
    assert leftovers(libs(kernel)) == []


async def test_save_over_16_mib_is_413(client: Any, kernel: Kernel) -> None:
    status, body = await save(client, {"path": "big.txt", "content": "x" * (LIMIT + 1)})
    assert_error(status, body, 413, "payload_too_large")
    # The limit is on the encoded bytes: 2-byte characters reach it with half as many characters.
    status, body = await save(client, {"path": "big.txt", "content": "é" * (LIMIT // 2 + 1)})
    assert_error(status, body, 413, "payload_too_large")
    assert list(libs(kernel).iterdir()) == []
    status, body = await save(client, {"path": "edge.txt", "content": "x" * LIMIT})
    assert status == 200 and body["size"] == LIMIT
    status, body = await read(client, "edge.txt")
    assert status == 200 and body["size"] == LIMIT


async def test_deeply_nested_content_never_500s(client: Any, kernel: Kernel) -> None:
    depth = 900
    raw = ('{"path":"deep.json","content":' + "[" * depth + "]" * depth + "}").encode()
    response = await client.post("/api/files/save", data=raw, headers=TOKEN)
    assert response.status_code in (200, 422), await response.get_json()
    (libs(kernel) / "deep2.json").write_text("[" * depth + "]" * depth)
    status, body = await read(client, "deep2.json")
    assert status == 200 and body["success"] is True
    if body["format"] == "text":  # nested deeper than the response encoder goes
        assert body["content"] == "[" * depth + "]" * depth


# ---------------------------------------------------------------------------- read


@pytest.mark.parametrize(("name", "text", "fmt", "content"), [
    ("a.json", '{"key": "value"}', "json", {"key": "value"}),
    ("UPPER.JSON", "[1, 2]", "json", [1, 2]),
    ("num.json", "3.5", "json", 3.5),
    ("bad.json", "{not json", "text", "{not json"),
    ("empty.json", "", "text", ""),
    ("nan.json", '{"x": NaN}', "text", '{"x": NaN}'),
    ("inf.json", "[Infinity]", "text", "[Infinity]"),
    ("surrogate.json", '["\\ud800"]', "text", '["\\ud800"]'),
    ("bom.json", "\ufeff{}", "text", "\ufeff{}"),
    ("plain.txt", '{"key": "value"}', "text", '{"key": "value"}'),
    ("json.json.txt", "{}", "text", "{}"),
])
async def test_read_parses_valid_json_files_only(client: Any, kernel: Kernel, name: str, text: str, fmt: str,
                                                 content: Any) -> None:
    (libs(kernel) / name).write_bytes(text.encode("utf-8"))
    status, body = await read(client, name)
    assert status == 200, body
    assert body["format"] == fmt and body["content"] == content
    assert body["size"] == len(text.encode("utf-8"))


async def test_read_errors(client: Any, kernel: Kernel) -> None:
    (libs(kernel) / "folder").mkdir()
    (libs(kernel) / "latin.txt").write_bytes("café".encode("latin-1"))
    (libs(kernel) / "surrogate.txt").write_bytes(b"\xed\xa0\x80")  # UTF-8-encoded lone surrogate
    os.mkfifo(libs(kernel) / "pipe.txt")
    with open(libs(kernel) / "huge.txt", "wb") as fh:
        fh.truncate(LIMIT + 1)
    status, body = await read(client, None)
    assert_error(status, body, 422, "validation_error")
    assert body["detail"] == [{"loc": ["query", "path"], "msg": "Field required", "type": "missing"}]
    status, body = await read(client, "")
    assert_error(status, body, 400, "invalid_path")
    status, body = await read(client, "missing.txt")
    assert_error(status, body, 404, "file_not_found")
    assert body["detail"] == "File not found: missing.txt"
    status, body = await read(client, "folder/missing.txt")
    assert_error(status, body, 404, "file_not_found")
    for path in ("folder", "pipe.txt"):
        status, body = await read(client, path)
        assert_error(status, body, 400, "not_a_file")
    status, body = await read(client, "huge.txt")
    assert_error(status, body, 413, "payload_too_large")
    for path in ("latin.txt", "surrogate.txt"):
        status, body = await read(client, path)
        assert_error(status, body, 400, "not_text")
        assert body["detail"] == f"File is not UTF-8 text: {path}"


async def test_read_takes_the_first_query_value(client: Any, kernel: Kernel) -> None:
    (libs(kernel) / "a.txt").write_text("A")
    response = await client.get("/api/files/read?path=a.txt&path=../b.txt")
    assert response.status_code == 200 and (await response.get_json())["content"] == "A"


# ---------------------------------------------------------------------------- list


async def test_list_root_is_created_and_listed(client: Any, kernel: Kernel) -> None:
    os.rmdir(libs(kernel))
    for path in (None, ""):
        status, body = await listing(client, path)
        assert status == 200 and body == {"success": True, "path": "", "entries": []}
    assert libs(kernel).is_dir()


async def test_list_entries(client: Any, kernel: Kernel, tmp_path: Path) -> None:
    root = libs(kernel)
    (root / "my_node").mkdir()
    (root / "my_node" / "config.json").write_text('{"key":"value"}')
    (root / "my_node" / "shaders").mkdir()
    (root / "my_node" / "shaders" / "deep.txt").write_text("not listed: not recursive")
    (root / "my_node" / "B.txt").write_text("b")
    (root / "my_node" / ".hidden").write_text("x")
    (root / "my_node" / ".x.txt.0123.tmp").write_text("x")
    (root / "my_node" / ".cache").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "my_node" / "leak").symlink_to(outside)
    (root / "my_node" / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "my_node" / "alias.json").symlink_to(root / "my_node" / "config.json")
    (root / "my_node" / "dangling.txt").symlink_to(root / "nowhere.txt")
    os.mkfifo(root / "my_node" / "pipe")
    status, body = await listing(client, "my_node")
    assert status == 200 and body["success"] is True and body["path"] == "my_node"
    entries = body["entries"]
    assert [e["name"] for e in entries] == ["B.txt", "alias.json", "config.json", "shaders"]
    by_name = {e["name"]: e for e in entries}
    assert by_name["config.json"] == {"name": "config.json", "type": "file", "size": 15,
                                      "modified": iso_mtime(root / "my_node" / "config.json")}
    assert by_name["shaders"] == {"name": "shaders", "type": "dir", "size": None,
                                  "modified": iso_mtime(root / "my_node" / "shaders")}
    assert by_name["alias.json"]["type"] == "file" and by_name["alias.json"]["size"] == 15
    status, body = await listing(client)
    assert status == 200 and [e["name"] for e in body["entries"]] == ["my_node"]


async def test_list_errors(client: Any, kernel: Kernel) -> None:
    (libs(kernel) / "file.txt").write_text("x")
    status, body = await listing(client, "missing")
    assert_error(status, body, 404, "file_not_found")
    assert body["detail"] == "Folder not found: missing"
    status, body = await listing(client, "file.txt")
    assert_error(status, body, 400, "not_a_directory")
    assert body["detail"] == "Not a folder: file.txt"
    status, body = await listing(client, "file.txt/sub")
    assert_error(status, body, 404, "file_not_found")
    status, body = await listing(client, "a/")
    assert_error(status, body, 400, "invalid_path")


# ---------------------------------------------------------------------------- confinement

TRAVERSALS = ["../x.txt", "/etc/passwd", "a/../../b.txt", "a/./b.txt", "..", ".", ".hidden.txt", "sub/.hidden",
              "a//b.txt", "..\\x.txt", "a\\b.txt", "nul\x00.txt", "tab\t.txt", "esc\x1b", "C:x.txt", "sub/c:x.txt",
              "x" * 256, "a/", "/"]


@pytest.fixture
def outside_files(kernel: Kernel, tmp_path: Path) -> list[Path]:
    data = kernel.data_dir.root
    victims = [data / "x.txt", data / "b.txt", tmp_path / "x.txt", data / "images" / "x.txt"]
    for victim in victims:
        victim.write_text("keep")
    (libs(kernel) / ".hidden.txt").write_text("keep")
    (libs(kernel) / "sub").mkdir()
    (libs(kernel) / "sub" / ".hidden").write_text("keep")
    return [*victims, libs(kernel) / ".hidden.txt", libs(kernel) / "sub" / ".hidden"]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_traversal_is_refused_everywhere(client: Any, outside_files: list[Path], path: str) -> None:
    status, body = await save(client, {"path": path, "content": "evil"})
    assert_error(status, body, 400, "invalid_path")
    status, body = await read(client, path)
    assert_error(status, body, 400, "invalid_path")
    status, body = await listing(client, path)
    assert_error(status, body, 400, "invalid_path")
    assert all(p.read_text() == "keep" for p in outside_files)


async def test_percent_encoded_traversal_in_the_query_is_refused(client: Any, outside_files: list[Path]) -> None:
    for url in ("/api/files/read?path=%2e%2e%2fx.txt", "/api/files/list?path=%2e%2e",
                "/api/files/read?path=%2Fetc%2Fpasswd", "/api/files/read?path=a%5cb.txt",
                "/api/files/read?path=nul%00.txt"):
        response = await client.get(url)
        body = await response.get_json()
        assert_error(response.status_code, body, 400, "invalid_path")


async def test_symlinks_leading_outside_are_refused(client: Any, kernel: Kernel, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("keep")
    (libs(kernel) / "link").symlink_to(outside)
    (libs(kernel) / "file_link.txt").symlink_to(outside / "x.txt")
    for path in ("link/x.txt", "link/new.txt", "link/sub/new.txt", "file_link.txt"):
        status, body = await save(client, {"path": path, "content": "evil"})
        assert_error(status, body, 400, "invalid_path")
        status, body = await read(client, path)
        assert_error(status, body, 400, "invalid_path")
    status, body = await listing(client, "link")
    assert_error(status, body, 400, "invalid_path")
    assert (outside / "x.txt").read_text() == "keep" and sorted(os.listdir(outside)) == ["x.txt"]
    # Inside the folder a link is fine.
    (libs(kernel) / "real").mkdir()
    (libs(kernel) / "alias").symlink_to(libs(kernel) / "real")
    assert (await save(client, {"path": "alias/in.txt", "content": "in"}))[0] == 200
    assert (libs(kernel) / "real" / "in.txt").read_text() == "in"
    status, body = await listing(client, "alias")
    assert status == 200 and [e["name"] for e in body["entries"]] == ["in.txt"]


async def test_symlink_loops_and_over_long_paths_are_400(client: Any, kernel: Kernel) -> None:
    (libs(kernel) / "a").symlink_to(libs(kernel) / "b")
    (libs(kernel) / "b").symlink_to(libs(kernel) / "a")
    long_path = "/".join(["\U0001F600" * 63] * 16)
    for path in ("a", "a/x.txt", long_path):
        status, body = await save(client, {"path": path, "content": "x"})
        assert_error(status, body, 400, "invalid_path")
        status, body = await read(client, path)
        assert_error(status, body, 400, "invalid_path")
        status, body = await listing(client, path)
        assert_error(status, body, 400, "invalid_path")
    # Each segment is within 255 bytes, but the atomic write's temp name would not be.
    status, body = await save(client, {"path": "x" * 250, "content": "x"})
    assert_error(status, body, 400, "invalid_path")
    status, body = await listing(client)
    assert status == 200 and body["entries"] == []
    assert sorted(os.listdir(libs(kernel))) == ["a", "b"]  # no folder was made for the long paths
