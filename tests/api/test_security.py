"""Session token, Host guard, CORS, WebSocket checks and bootstrap (api.md §1.4–§1.7, §2.1.2)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from quart.testing.connections import WebsocketResponseError

from nodeloom.api import SettingsError, auth
from tests.api.support import TOKEN, auth_headers, client_for

MUTATING = ["POST", "PUT", "PATCH", "DELETE"]


async def _json(response: Any) -> Any:
    return await response.get_json()


# ---------------------------------------------------------------------------- token


@pytest.mark.parametrize("method", MUTATING)
@pytest.mark.parametrize("path", ["/api/nope", "/api/sample/echo", "/api/sample/things/x", "/not-api/thing"])
async def test_mutating_requests_need_the_token_on_every_path(client: Any, method: str, path: str) -> None:
    response = await client.open(path, method=method, data=b"{}")
    assert response.status_code == 403
    assert await _json(response) == {"detail": "Missing or invalid session token", "code": "invalid_token"}

    wrong = await client.open(path, method=method, data=b"{}", headers=auth_headers("x" * 26))
    assert wrong.status_code == 403


async def test_token_is_checked_before_routing(client: Any) -> None:
    assert (await client.post("/api/nope")).status_code == 403
    with_token = await client.post("/api/nope", headers=auth_headers())
    assert with_token.status_code == 404
    assert (await _json(with_token))["code"] == "not_found"


@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ({"X-Nodeloom-Token": TOKEN}, True),
        ({"x-nodeloom-token": TOKEN}, True),
        ({"Authorization": f"Bearer {TOKEN}"}, True),
        ({"Authorization": f"bEaReR {TOKEN}"}, True),
        ({"X-Nodeloom-Token": "", "Authorization": f"Bearer {TOKEN}"}, True),
        # A non-empty X-Nodeloom-Token is checked alone, even when Authorization is right.
        ({"X-Nodeloom-Token": "nope", "Authorization": f"Bearer {TOKEN}"}, False),
        ({"Authorization": TOKEN}, False),
        ({"Authorization": f"Basic {TOKEN}"}, False),
        ({"Authorization": "Bearer "}, False),
        ({"X-Nodeloom-Token": TOKEN[:-1]}, False),
        ({"X-Nodeloom-Token": TOKEN + "x"}, False),
    ],
)
async def test_token_header_rules(client: Any, headers: dict[str, str], accepted: bool) -> None:
    response = await client.post("/api/sample/echo", json={"name": "a"}, headers=headers)
    assert response.status_code == (200 if accepted else 403)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
async def test_safe_methods_never_need_the_token(client: Any, method: str) -> None:
    response = await client.open("/api/health", method=method)
    assert response.status_code == 200


async def test_graph_routes_need_the_token_by_method_even_when_unknown(client: Any) -> None:
    # The rule is by method only, so a POST to a route that changes nothing still needs it.
    response = await client.post("/api/graph/validate", json={})
    assert response.status_code == 403


def test_tokens_match_is_exact_and_rejects_empty() -> None:
    assert auth.tokens_match(TOKEN, TOKEN)
    assert not auth.tokens_match(TOKEN, "")
    assert not auth.tokens_match(TOKEN, None)
    assert not auth.tokens_match("", "")
    assert not auth.tokens_match("tökén-0123456789", "token-0123456789")
    assert auth.tokens_match("tökén-0123456789", "tökén-0123456789")


def test_generated_token_shape() -> None:
    tokens = {auth.generate_token() for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        assert len(token) == 43
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("bad", ["short", "x" * 15, "has space inside-0123", "tab\tinside-0123456", "é" * 20])
def test_configured_token_is_validated(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SettingsError):
        make_settings_env(tmp_path, {"NODELOOM_TOKEN": bad})


def test_configured_token_is_used_and_absent_one_is_random(tmp_path: Path) -> None:
    assert make_settings_env(tmp_path, {"NODELOOM_TOKEN": "z" * 16}).token == "z" * 16
    first = make_settings_env(tmp_path, {}).token
    second = make_settings_env(tmp_path, {}).token
    assert len(first) == 43 and first != second


def make_settings_env(tmp_path: Path, env: dict[str, str]) -> Any:
    from nodeloom.api import Settings

    return Settings.load(data_dir=tmp_path, environ=env)


# ---------------------------------------------------------------------------- token file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_token_file_is_0600_bare_and_replaced_atomically(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        path = auth.write_token_file(tmp_path, "first-token-0123456789")
        assert path == tmp_path / "session.token"
        assert _mode(path) == 0o600
        assert path.read_bytes() == b"first-token-0123456789"
        auth.write_token_file(tmp_path, "second-token-0123456789")
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    assert auth.read_token_file(tmp_path) == "second-token-0123456789"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.token"]  # no temp file left


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_token_file_temp_is_private_from_creation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        seen.append(_mode(Path(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    auth.write_token_file(tmp_path, TOKEN)
    assert seen == [0o600]


# ---------------------------------------------------------------------------- Host guard


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST:8000", "localhost:1", "127.0.0.1", "127.0.0.1:8000", "127.5.6.7:9",
     "[::1]", "[::1]:8000", "[0:0:0:0:0:0:0:1]:8000"],
)
async def test_loopback_hosts_are_allowed_on_any_port(client: Any, host: str) -> None:
    response = await client.get("/api/health", headers={"Host": host})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8000", "", "   ", "::1", "[::2]:8000", "localhost.evil.example",
     "127.0.0.1.nip.io", "[::1", "localhost:99999", "localhost:abc", "0.0.0.0:8000", "192.168.7.7:8000",
     "user@localhost", "localhost/", "127.1"],
)
async def test_other_hosts_get_421(client: Any, host: str) -> None:
    response = await client.get("/api/health", headers={"Host": host})
    assert response.status_code == 421
    assert await _json(response) == {"detail": "Host not allowed", "code": "host_not_allowed"}


async def test_dns_rebinding_is_refused_before_anything_else(client: Any) -> None:
    # An attacker's name resolving to 127.0.0.1: the browser sends the attacker's Host.
    rebound = {"Host": "rebind.attacker.example:8000"}
    for response in (
        await client.get("/api/auth/bootstrap", headers=rebound),
        await client.post("/api/sample/echo", json={"name": "a"}, headers={**rebound, **auth_headers()}),
        await client.post("/api/nope", headers=rebound),  # 421 before 403 and 404
        await client.get("/", headers=rebound),  # the UI files too
        await client.options("/api/health", headers=rebound),
    ):
        assert response.status_code == 421
        assert (await _json(response))["code"] == "host_not_allowed"


async def test_concrete_bind_address_is_allowed(make_app: Any) -> None:
    app = make_app(host="192.168.1.20")
    client = client_for(app)
    assert (await client.get("/api/health", headers={"Host": "192.168.1.20:8000"})).status_code == 200
    assert (await client.get("/api/health", headers={"Host": "192.168.1.20"})).status_code == 200
    assert (await client.get("/api/health", headers={"Host": "192.168.1.21:8000"})).status_code == 421


async def test_ipv6_bind_address_must_be_bracketed(make_app: Any) -> None:
    app = make_app(host="2001:db8::5")
    client = client_for(app)
    assert (await client.get("/api/health", headers={"Host": "[2001:db8::5]:8000"})).status_code == 200
    assert (await client.get("/api/health", headers={"Host": "[2001:DB8:0::5]"})).status_code == 200
    assert (await client.get("/api/health", headers={"Host": "2001:db8::5"})).status_code == 421


async def test_wildcard_bind_allows_interface_addresses(make_app: Any) -> None:
    app = make_app(host="0.0.0.0", interfaces=lambda: frozenset({"192.168.7.7", "[fd00::7]"}))
    client = client_for(app)
    assert (await client.get("/api/health", headers={"Host": "192.168.7.7:8000"})).status_code == 200
    assert (await client.get("/api/health", headers={"Host": "[fd00::7]:8000"})).status_code == 200
    assert (await client.get("/api/health", headers={"Host": "10.9.9.9:8000"})).status_code == 421
    assert (await client.get("/api/health", headers={"Host": "0.0.0.0:8000"})).status_code == 421


async def test_allowed_hosts_entries_with_and_without_port(make_app: Any) -> None:
    app = make_app(env={"NODELOOM_ALLOWED_HOSTS": " myhost.lan , ,proxy.example:8443,"})
    client = client_for(app)
    expectations = {
        "myhost.lan": 200,
        "MyHost.lan:1234": 200,
        "proxy.example:8443": 200,
        "proxy.example:8444": 421,
        "proxy.example": 421,
        "other.lan": 421,
    }
    for host, status in expectations.items():
        assert (await client.get("/api/health", headers={"Host": host})).status_code == status, host


async def test_cors_origins_do_not_admit_their_hosts(make_app: Any) -> None:
    app = make_app(env={"NODELOOM_CORS_ORIGINS": "http://app.example:3000"})
    response = await client_for(app).get("/api/health", headers={"Host": "app.example:3000"})
    assert response.status_code == 421


@pytest.mark.parametrize(
    "env",
    [{"NODELOOM_ALLOWED_HOSTS": "bad host"}, {"NODELOOM_ALLOWED_HOSTS": "::1"},
     {"NODELOOM_CORS_ORIGINS": "app.example"}, {"NODELOOM_CORS_ORIGINS": "ftp://app.example"}],
)
def test_invalid_host_and_origin_lists_stop_startup(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        make_settings_env(tmp_path, env)


# ---------------------------------------------------------------------------- CORS

ORIGIN = "http://localhost:5173"
CORS_ENV = {"NODELOOM_CORS_ORIGINS": f"{ORIGIN}, https://App.Example"}


async def test_cors_is_off_by_default(client: Any) -> None:
    response = await client.get("/api/health", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert not [h for h in response.headers.keys() if h.lower().startswith("access-control-")]
    preflight = await client.options(
        "/api/sample/echo", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200
    assert not [h for h in preflight.headers.keys() if h.lower().startswith("access-control-")]


async def test_cors_headers_on_success_and_on_errors(make_app: Any) -> None:
    client = client_for(make_app(env=CORS_ENV))
    requests = [
        ("GET", "/api/health", {}, 200),
        ("POST", "/api/sample/echo", {}, 403),
        ("GET", "/api/nope", {}, 404),
        ("GET", "/api/health", {"Host": "evil.example"}, 421),
        ("POST", "/api/sample/echo", auth_headers(), 422),
        ("GET", "/api/sample/boom", {}, 500),
    ]
    for method, path, headers, status in requests:
        response = await client.open(path, method=method, headers={"Origin": ORIGIN, **headers}, data=b"[]")
        assert response.status_code == status, path
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Origin" in response.headers["Vary"]
        assert "X-Nodeloom-Full-Shape" in response.headers["Access-Control-Expose-Headers"]
        assert "Access-Control-Allow-Credentials" not in response.headers


async def test_cors_preflight_for_a_listed_origin(make_app: Any) -> None:
    client = client_for(make_app(env=CORS_ENV))
    response = await client.options(
        "/api/sample/echo",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "x-nodeloom-token, content-type"},
    )
    assert response.status_code == 200
    assert await response.get_data() == b""
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Nodeloom-Token, Authorization"
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_cors_origin_matching_is_exact_after_normalisation(make_app: Any) -> None:
    client = client_for(make_app(env=CORS_ENV))
    allowed = ["https://app.example", "HTTPS://APP.EXAMPLE:443", "http://LOCALHOST:5173"]
    refused = ["http://app.example", "https://app.example:8443", "http://localhost:5174", "null",
               "https://app.example.evil.com", "http://localhost:5173/path"]
    for origin in allowed:
        response = await client.get("/api/health", headers={"Origin": origin})
        assert response.headers.get("Access-Control-Allow-Origin") == origin, origin
    for origin in refused:
        response = await client.get("/api/health", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in response.headers, origin
        preflight = await client.options(
            "/api/health", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code == 200
        assert "Access-Control-Allow-Methods" not in preflight.headers


# ---------------------------------------------------------------------------- WebSocket upgrade


async def _ws_refusal(client: Any, path: str, **kwargs: Any) -> tuple[int, Any]:
    with pytest.raises(WebsocketResponseError) as info:
        async with client.websocket(path, **kwargs) as ws:
            await ws.receive()
    response = info.value.response
    return response.status_code, await response.get_json()


async def test_websocket_checks_in_order(make_app: Any) -> None:
    client = client_for(make_app(env={"NODELOOM_CORS_ORIGINS": ORIGIN}))
    # Host first: a bad Host with a bad Origin and no token is still 421.
    status, body = await _ws_refusal(client, "/ws/sample", headers={"Host": "evil.example", "Origin": "http://evil.example"})
    assert (status, body["code"]) == (421, "host_not_allowed")
    # Origin next: refused even with a valid token.
    status, body = await _ws_refusal(client, "/ws/sample", headers={"Origin": "http://evil.example", **auth_headers()})
    assert (status, body) == (403, {"detail": "Origin not allowed", "code": "origin_not_allowed"})
    # Then the token.
    status, body = await _ws_refusal(client, "/ws/sample")
    assert (status, body["code"]) == (403, "invalid_token")
    # Unknown WebSocket paths are JSON 404s once the checks pass.
    status, body = await _ws_refusal(client, "/ws/nope", headers=auth_headers())
    assert (status, body["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": {"X-Nodeloom-Token": TOKEN}},
        {"headers": {"Authorization": f"Bearer {TOKEN}"}},
        {"query_string": {"token": TOKEN}},
        {"headers": {"Origin": "http://localhost:8000", "Host": "localhost:8000"}, "query_string": {"token": TOKEN}},
        {"headers": {"Origin": "http://localhost", "Host": "localhost:80"}, "query_string": {"token": TOKEN}},
        {"headers": {"Origin": ORIGIN}, "query_string": {"token": TOKEN}},
    ],
)
async def test_websocket_accepted(make_app: Any, kwargs: dict[str, Any]) -> None:
    client = client_for(make_app(env={"NODELOOM_CORS_ORIGINS": ORIGIN}))
    async with client.websocket("/ws/sample", **kwargs) as ws:
        assert await ws.receive() == "hello"


async def test_websocket_headers_win_over_query(client: Any) -> None:
    status, body = await _ws_refusal(
        client, "/ws/sample", headers={"X-Nodeloom-Token": "wrong-token-123456"}, query_string={"token": TOKEN}
    )
    assert (status, body["code"]) == (403, "invalid_token")


async def test_websocket_same_origin_needs_matching_port(client: Any) -> None:
    status, body = await _ws_refusal(
        client, "/ws/sample", headers={"Origin": "http://localhost:8001", "Host": "localhost:8000", **auth_headers()}
    )
    assert (status, body["code"]) == (403, "origin_not_allowed")


# ---------------------------------------------------------------------------- bootstrap


async def test_bootstrap_on_loopback_bind(client: Any) -> None:
    response = await client.get("/api/auth/bootstrap", scope_base={"client": ("10.0.0.9", 40000)})
    assert response.status_code == 200
    assert await _json(response) == {"token": TOKEN}
    assert response.headers["Cache-Control"] == "no-store"


async def test_bootstrap_needs_no_token_but_only_answers_get(client: Any) -> None:
    response = await client.post("/api/auth/bootstrap")
    assert response.status_code == 405  # exempt from the token, so routing answers
    assert (await _json(response))["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("peer", "status"),
    [("10.0.0.9", 403), ("192.168.7.7", 403), ("127.0.0.1", 200), ("127.9.9.9", 200), ("::1", 200),
     ("::ffff:127.0.0.1", 200)],
)
async def test_bootstrap_beyond_loopback_is_local_only(make_app: Any, peer: str, status: int) -> None:
    app = make_app(host="0.0.0.0")
    response = await client_for(app).get("/api/auth/bootstrap", scope_base={"client": (peer, 40000)})
    assert response.status_code == status
    body = await _json(response)
    if status == 403:
        assert body["code"] == "bootstrap_local_only"
        assert "session.token" in body["detail"]
        assert TOKEN not in str(body)
    else:
        assert body == {"token": TOKEN}


# ---------------------------------------------------------------------------- plugins and routing


async def test_routes_of_a_disabled_plugin_answer_plugin_disabled(client: Any, kernel: Any) -> None:
    assert (await client.get("/api/sample-off/ping")).status_code == 200
    kernel.set_enabled("sample_off", False)
    response = await client.get("/api/sample-off/ping")
    assert response.status_code == 404
    assert await _json(response) == {"detail": "Plugin 'sample_off' is disabled", "code": "plugin_disabled"}
    kernel.set_enabled("sample_off", True)
    assert (await client.get("/api/sample-off/ping")).status_code == 200


async def test_third_party_routes_live_under_their_prefix(client: Any) -> None:
    response = await client.get("/api/ext/acme/ping")
    assert response.status_code == 200
    assert await _json(response) == {"acme": True}


async def test_ui_catch_all_never_answers_api_or_ws_paths(client: Any) -> None:
    assert (await client.get("/some/page")).status_code == 200  # the UI's fallback works elsewhere
    for path in ("/api/nope", "/api/", "/api", "/ws/nope", "/api/health/"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"] == "application/json"
        assert (await _json(response))["code"] == "not_found"
    # The UI rule accepts only GET: a POST under /api/ is a 404, not that rule's 405.
    response = await client.post("/api/nope", headers=auth_headers())
    assert response.status_code == 404
