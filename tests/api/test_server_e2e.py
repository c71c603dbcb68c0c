"""A real Hypercorn server over real HTTP (api.md §1.1, §1.4 storage, §1.10 ``state/server.json``)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import nodeloom
from nodeloom.api.server import run_server, serve
from tests.api.support import TOKEN, LiveServer, auth_headers, make_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_health_over_real_http(live_server: LiveServer, kernel: Any) -> None:
    with httpx.Client(base_url=live_server.url, timeout=5) as http:
        response = http.get("/api/health")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == nodeloom.__version__
    assert body["registry_generation"] == kernel.generation


def test_generation_follows_reloads(live_server: LiveServer, kernel: Any) -> None:
    with httpx.Client(base_url=live_server.url, timeout=5) as http:
        before = http.get("/api/health").json()["registry_generation"]
        kernel.reload()
        after = http.get("/api/health").json()["registry_generation"]
    assert after == before + 1


def test_token_file_and_server_json_lifecycle(kernel: Any) -> None:
    server = LiveServer(kernel, make_settings(kernel.data_dir)).start()
    info_path = server.data_dir / "state" / "server.json"
    try:
        token_path = server.data_dir / "session.token"
        assert token_path.read_bytes() == TOKEN.encode()
        if os.name != "nt":
            assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
        info = json.loads(info_path.read_text(encoding="utf-8"))
        assert set(info) == {"pid", "host", "port", "url", "version", "started_at"}
        assert info["pid"] == os.getpid()
        assert info["host"] == "127.0.0.1"
        assert info["url"] == f"http://127.0.0.1:{info['port']}" == server.url
        assert info["version"] == nodeloom.__version__
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", info["started_at"])
        # A local tool reads both files and talks to the server.
        token = token_path.read_text(encoding="utf-8")
        with httpx.Client(base_url=info["url"], timeout=5) as http:
            ok = http.post("/api/sample/echo", json={"name": "tool"}, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
    finally:
        server.stop()
    assert not info_path.exists()
    assert (server.data_dir / "session.token").exists()  # kept after shutdown


def test_body_limit_over_real_http(live_server: LiveServer) -> None:
    def chunks():
        for _ in range(30):
            yield b"z" * 64

    def post(content):
        # A fresh connection per request: after refusing a body the server may close the
        # connection, and a keep-alive reuse would race with that close.
        with httpx.Client(base_url=live_server.url, timeout=5, headers=auth_headers()) as http:
            return http.post("/api/sample/small", content=content)

    streamed = post(chunks())
    declared = post(b"z" * 500)
    fine = post(b"z" * 10)
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413 and streamed.json()["code"] == "payload_too_large"
    assert declared.status_code == 413
    assert fine.json() == {"size": 10}


def test_host_guard_over_real_http(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=5) as http:
        refused = http.get("/api/health", headers={"Host": "attacker.example"})
        allowed = http.get("/api/health", headers={"Host": "localhost:1234"})
    assert refused.status_code == 421 and refused.json()["code"] == "host_not_allowed"
    assert allowed.status_code == 200


async def test_port_in_use_fails_before_writing_server_json(kernel: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = make_settings(kernel.data_dir, port=taken.getsockname()[1])
        with pytest.raises(OSError):
            await run_server(kernel, settings, install_signals=False, watch=False)
    assert not (kernel.data_dir.root / "state" / "server.json").exists()


@pytest.mark.parametrize(
    "env", [{"NODELOOM_TOKEN": "too-short"}, {"NODELOOM_MAX_JSON_BYTES": "-1"}, {"NODELOOM_RUN_GRACE_S": "soon"}]
)
def test_serve_exits_2_on_bad_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any,
                                       env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as info:
        serve(host="127.0.0.1", port=0, data_dir=tmp_path / "data")
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly(tmp_path: Path, signum: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODELOOM_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.api.serve_main", str(tmp_path)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    info_path = tmp_path / "data" / "state" / "server.json"
    try:
        info = _wait_for_json(info_path, process)
        with httpx.Client(base_url=info["url"], timeout=5) as http:
            assert http.get("/api/health").status_code == 200
        process.send_signal(signum)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert not info_path.exists()
    assert f"UI: {info['url']}/#token={TOKEN}" in output


def _wait_for_json(path: Path, process: subprocess.Popen[str], timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.communicate()[0]}")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            time.sleep(0.05)
    raise AssertionError("server.json never appeared")


def test_hypercorn_pings_websockets_every_20_seconds(kernel: Any) -> None:
    from nodeloom.api.server import _hypercorn_config

    config = _hypercorn_config(make_settings(kernel.data_dir), 0)
    assert config.websocket_ping_interval == 20.0
    assert config.websocket_max_message_size == 64 * 1024 * 1024
