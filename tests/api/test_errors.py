"""Error bodies, limits, parsing and the headers of every response (api.md §1.1–§1.3, §1.8)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import httpx
import pytest

from nodeloom.api.errors import is_blobit_path
from tests.api.support import auth_headers, client_for

TOKEN_HEADERS = auth_headers()


async def _json(response: Any) -> Any:
    return await response.get_json()


def _has_item(body: dict[str, Any], loc: list[Any], type_: str) -> bool:
    return any(item["loc"] == loc and item["type"] == type_ for item in body["detail"])


def _assert_api_headers(response: Any) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# ---------------------------------------------------------------------------- 404 / 405


async def test_unknown_api_path_is_json_404(client: Any) -> None:
    response = await client.get("/api/does/not/exist")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert await _json(response) == {"detail": "Not Found", "code": "not_found"}
    _assert_api_headers(response)


@pytest.mark.parametrize("path", ["/api//health", "/api/health/", "/api/health//", "/api/sample/things/a%2Fb"])
async def test_paths_match_exactly_without_redirects(client: Any, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "Location" not in response.headers


async def test_percent_decoded_path_parameter(client: Any) -> None:
    response = await client.get("/api/sample/things/a%20b%C3%A9")
    assert response.status_code == 200
    assert (await _json(response))["name"] == "a bé"


async def test_405_lists_allowed_methods(client: Any) -> None:
    response = await client.post("/api/health", headers=TOKEN_HEADERS)
    assert response.status_code == 405
    assert await _json(response) == {"detail": "Method Not Allowed", "code": "method_not_allowed"}
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    _assert_api_headers(response)

    response = await client.put("/api/sample/things/x", headers=TOKEN_HEADERS)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "DELETE", "OPTIONS"}


# ---------------------------------------------------------------------------- 413


async def test_413_by_content_length(client: Any) -> None:
    response = await client.post("/api/sample/small", data=b"x" * 101, headers=TOKEN_HEADERS)
    assert response.status_code == 413
    body = await _json(response)
    assert body["code"] == "payload_too_large"
    assert "100" in body["detail"]
    ok = await client.post("/api/sample/small", data=b"x" * 100, headers=TOKEN_HEADERS)
    assert (await _json(ok)) == {"size": 100}


async def test_413_is_decided_from_content_length_before_reading(client: Any) -> None:
    # The declared length alone is enough: no body is ever sent, so awaiting it would hang.
    headers = {**TOKEN_HEADERS, "Content-Length": str(10**12)}
    async with client.request("/api/sample/small", method="POST", headers=headers) as conn:
        pass
    assert _result(conn) == (413, {"detail": "Request body too large (limit 100 bytes)", "code": "payload_too_large"})


async def test_413_counted_while_streaming(client: Any) -> None:
    # No Content-Length: the limit holds for a route that awaits the body and one that streams it.
    for path in ("/api/sample/small", "/api/sample/stream"):
        async with client.request(path, method="POST", headers=TOKEN_HEADERS) as conn:
            for _ in range(20):
                await conn.send(b"y" * 64)
            await conn.send_complete()
        status, body = _result(conn)
        assert status == 413, path
        assert body["code"] == "payload_too_large"


async def test_streamed_body_within_the_limit(client: Any) -> None:
    async with client.request("/api/sample/stream", method="POST", headers=TOKEN_HEADERS) as conn:
        for _ in range(10):
            await conn.send(b"y" * 100)
        await conn.send_complete()
    assert _result(conn) == (200, {"size": 1000})


def _result(conn: Any) -> tuple[int, Any]:
    return conn.status_code, json.loads(bytes(conn.response_data))


async def test_json_limit_comes_from_settings(make_app: Any) -> None:
    client = client_for(make_app(env={"NODELOOM_MAX_JSON_BYTES": "64"}))
    big = json.dumps({"name": "a", "tags": ["x" * 80]}).encode()
    response = await client.post("/api/sample/echo", data=big, headers=TOKEN_HEADERS)
    assert response.status_code == 413
    assert "64" in (await _json(response))["detail"]


async def test_order_token_then_routing_then_size(client: Any) -> None:
    big = b"x" * 5000
    assert (await client.post("/api/sample/small", data=big)).status_code == 403
    assert (await client.post("/api/nope", data=big, headers=TOKEN_HEADERS)).status_code == 404
    assert (await client.post("/api/sample/small", data=big, headers=TOKEN_HEADERS)).status_code == 413


# ---------------------------------------------------------------------------- 422


@pytest.mark.parametrize(
    ("raw", "type_"),
    [
        (b"", "json_invalid"),
        (b"   ", "json_invalid"),
        (b"{bad", "json_invalid"),
        (b'{"name": NaN}', "json_invalid"),
        (b'{"name": "a", "ratio": Infinity}', "json_invalid"),
        (b'{"name": "a", "tags": [-Infinity]}', "json_invalid"),
        (b'{"name": "a", "ratio": 1e999}', "json_invalid"),
        (b'{"name": "\xff"}', "json_invalid"),
        (b'{"name": "\\ud800"}', "json_invalid"),
        (b"[" * 100_000 + b"]" * 100_000, "json_invalid"),
        (b"[]", "wrong_type"),
        (b'"text"', "wrong_type"),
        (b"null", "wrong_type"),
        (b"42", "wrong_type"),
    ],
)
async def test_body_root_errors(client: Any, raw: bytes, type_: str) -> None:
    response = await client.post("/api/sample/echo", data=raw, headers=TOKEN_HEADERS)
    assert response.status_code == 422
    body = await _json(response)
    assert body["code"] == "validation_error"
    assert _has_item(body, ["body"], type_)


async def test_multipart_sent_to_a_json_route(client: Any) -> None:
    response = await client.post("/api/sample/echo", form={"name": "a"}, files={}, headers=TOKEN_HEADERS)
    body = await _json(response)
    assert response.status_code == 422
    assert body["detail"] == [{"loc": ["body"], "msg": "Expected a JSON object", "type": "wrong_type"}]


@pytest.mark.parametrize(
    ("payload", "loc", "type_"),
    [
        ({}, ["body", "name"], "missing"),
        ({"name": None}, ["body", "name"], "wrong_type"),
        ({"name": 5}, ["body", "name"], "wrong_type"),
        ({"name": ""}, ["body", "name"], "out_of_range"),
        ({"name": "123456789"}, ["body", "name"], "out_of_range"),
        ({"name": "a", "count": "3"}, ["body", "count"], "wrong_type"),
        ({"name": "a", "count": 2.0}, ["body", "count"], "wrong_type"),
        ({"name": "a", "count": True}, ["body", "count"], "wrong_type"),
        ({"name": "a", "count": 11}, ["body", "count"], "out_of_range"),
        ({"name": "a", "count": -1}, ["body", "count"], "out_of_range"),
        ({"name": "a", "ratio": False}, ["body", "ratio"], "wrong_type"),
        ({"name": "a", "flag": "false"}, ["body", "flag"], "wrong_type"),
        ({"name": "a", "flag": 0}, ["body", "flag"], "wrong_type"),
        ({"name": "a", "mode": "c"}, ["body", "mode"], "not_in_enum"),
        ({"name": "a", "tags": {}}, ["body", "tags"], "wrong_type"),
        ({"name": "a", "items": [{"id": "x"}, {}]}, ["body", "items", 1, "id"], "missing"),
        ({"name": "a", "items": [7]}, ["body", "items", 0], "wrong_type"),
    ],
)
async def test_field_errors(client: Any, payload: dict[str, Any], loc: list[Any], type_: str) -> None:
    response = await client.post("/api/sample/echo", json=payload, headers=TOKEN_HEADERS)
    assert response.status_code == 422
    body = await _json(response)
    assert body["code"] == "validation_error"
    assert _has_item(body, loc, type_), body
    _assert_api_headers(response)


async def test_every_problem_is_reported(client: Any) -> None:
    response = await client.post(
        "/api/sample/echo", json={"count": "x", "flag": 1, "mode": "z"}, headers=TOKEN_HEADERS
    )
    body = await _json(response)
    for loc, type_ in ((["body", "name"], "missing"), (["body", "count"], "wrong_type"),
                       (["body", "flag"], "wrong_type"), (["body", "mode"], "not_in_enum")):
        assert _has_item(body, loc, type_)
    assert all(set(item) == {"loc", "msg", "type"} and item["msg"] for item in body["detail"])


async def test_lenient_parts_of_the_parsing_rules(client: Any) -> None:
    # Content-Type is not checked, unknown keys are ignored, null means default, last key wins.
    raw = b'{"name": "first", "name": "h\xc3\xa9llo", "count": null, "extra": {"x": 1}, "ratio": 2}'
    response = await client.post(
        "/api/sample/echo", data=raw, headers={**TOKEN_HEADERS, "Content-Type": "text/plain"}
    )
    assert response.status_code == 200
    assert await _json(response) == {
        "name": "héllo", "count": 1, "ratio": 2, "flag": False, "mode": "a", "tags": []
    }
    # Non-ASCII characters are kept in responses, not escaped.
    assert "héllo".encode() in await response.get_data()


@pytest.mark.parametrize(
    ("query", "status", "expected"),
    [
        ("n=5&n=7", 200, {"n": 5, "verbose": False}),
        ("n=-0&verbose=TRUE", 422, (["query", "n"], "out_of_range")),
        ("n=12&verbose=1", 200, {"n": 12, "verbose": True}),
        ("n=abc", 422, (["query", "n"], "wrong_type")),
        ("n=2.0", 422, (["query", "n"], "wrong_type")),
        ("n=0", 422, (["query", "n"], "out_of_range")),
        ("verbose=maybe", 422, (["query", "verbose"], "wrong_type")),
    ],
)
async def test_query_parameters(client: Any, query: str, status: int, expected: Any) -> None:
    response = await client.get(f"/api/sample/query?{query}")
    assert response.status_code == status
    body = await _json(response)
    if status == 200:
        assert body == expected
    else:
        assert _has_item(body, *expected)


# ---------------------------------------------------------------------------- 500


async def test_unexpected_exception_is_json_500_with_error_id(client: Any, caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="nodeloom.api"):
        response = await client.get("/api/sample/boom")
    assert response.status_code == 500
    body = await _json(response)
    assert set(body) == {"detail", "code", "error_id"}
    assert body["code"] == "internal_error"
    assert body["detail"] == "Internal server error"
    assert re.fullmatch(r"[0-9a-f]{12}", body["error_id"])
    raw = await response.get_data(as_text=True)
    assert "secret internal detail" not in raw and "Traceback" not in raw
    _assert_api_headers(response)
    logged = [r for r in caplog.records if body["error_id"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "secret internal detail" in caplog.text  # the traceback is in the log, not the body


async def test_error_ids_differ(client: Any) -> None:
    first = (await _json(await client.get("/api/sample/boom")))["error_id"]
    second = (await _json(await client.get("/api/sample/boom")))["error_id"]
    assert first != second


# ---------------------------------------------------------------------------- OPTIONS, HEAD, headers


async def test_options_on_any_path(client: Any) -> None:
    response = await client.options("/api/sample/echo")  # a POST route, no token needed
    assert response.status_code == 200
    assert await response.get_data() == b""
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}

    unknown = await client.options("/api/nowhere")
    assert unknown.status_code == 200
    assert await unknown.get_data() == b""
    assert "Allow" not in unknown.headers


async def test_head_answers_like_get_without_body(live_server: Any) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        get = await http.get("/api/health")
        head = await http.head("/api/health")
        missing = await http.head("/api/nope")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"] == "application/json"
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["Cache-Control"] == "no-store"
    assert missing.status_code == 404 and missing.content == b""


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/api/health", {}),
        ("GET", "/api/nope", {}),
        ("POST", "/api/sample/echo", {}),
        ("POST", "/api/sample/echo", TOKEN_HEADERS),
        ("GET", "/api/sample/boom", {}),
        ("GET", "/api/health", {"Host": "evil.example"}),
        ("OPTIONS", "/api/health", {}),
    ],
)
async def test_every_api_response_carries_the_two_headers(client: Any, method: str, path: str,
                                                          headers: dict[str, str]) -> None:
    response = await client.open(path, method=method, headers=headers, data=b"[]")
    _assert_api_headers(response)


async def test_non_finite_numbers_become_null(client: Any) -> None:
    response = await client.get("/api/sample/nan")
    raw = await response.get_data(as_text=True)
    assert "NaN" not in raw and "Infinity" not in raw
    assert json.loads(raw) == {"nan": None, "inf": None, "ninf": None, "ok": 1.5, "nested": [{"x": None}]}


# ---------------------------------------------------------------------------- Blobit-style paths


async def test_blobit_paths_add_success_and_error(client: Any) -> None:
    route_error = await _json(await client.get("/api/files/probe"))
    assert route_error == {
        "detail": "File not found: probe", "code": "file_not_found", "success": False, "error": "File not found: probe"
    }
    # Also for errors produced before any route runs.
    for response in (await client.post("/api/files/save"), await client.post("/api/upload"),
                     await client.get("/api/files/missing"), await client.get("/temp/x.wav", headers={"Host": "evil"})):
        body = await _json(response)
        assert body["success"] is False and body["error"] == body["detail"], body
    plain = await _json(await client.get("/api/nope"))
    assert "success" not in plain and "error" not in plain


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/models/checkpoints", True),
        ("HEAD", "/api/models/checkpoints", True),
        ("DELETE", "/api/models/checkpoints", False),
        ("GET", "/api/models/a/b.pt", False),
        ("GET", "/api/models", False),
        ("POST", "/api/models/download/resnet18", True),
        ("GET", "/api/models/download/dir/file.pt", False),
        ("POST", "/api/models/upload", False),
        ("GET", "/api/downloads/status/abc", True),
        ("POST", "/api/files/save", True),
        ("GET", "/api/files/read", True),
        ("POST", "/api/upload", True),
        ("POST", "/api/audio/trim", True),
        ("GET", "/temp/uploads/a.png", True),
        ("GET", "/api/images", False),
        ("GET", "/api/uploadx", False),
    ],
)
def test_blobit_path_table(method: str, path: str, expected: bool) -> None:
    assert is_blobit_path(path, method) is expected
