"""System routes (api.md §2.1), settings (§1.9), app lifecycle and registry events."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

import nodeloom
from nodeloom.api import Settings, SettingsError, add_schema
from nodeloom.api.settings import GiB, MiB
from nodeloom.api.state import state_of
from nodeloom.plugins.api_routes import system
from tests.api.support import client_for


async def test_health_counts(client: Any, kernel: Any) -> None:
    body = await (await client.get("/api/health")).get_json()
    enabled_ok = [p for p in kernel.plugins() if p.enabled and p.error is None]
    assert body == {
        "status": "ok",
        "version": nodeloom.__version__,
        "nodes_loaded": len(kernel.snapshot.nodes),
        "presets_loaded": len(kernel.snapshot.presets),
        "plugins_loaded": len(enabled_ok),
        "registry_generation": kernel.generation,
    }
    kernel.set_enabled("sample_off", False)
    after = await (await client.get("/api/health")).get_json()
    assert after["plugins_loaded"] == len(enabled_ok) - 1
    assert after["registry_generation"] == body["registry_generation"] + 1


async def test_openapi_document(client: Any, app: Any) -> None:
    add_schema(app, "Thing", {"type": "object", "properties": {"name": {"type": "string"}}})
    doc = await (await client.get("/api/openapi.json")).get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"] == {"title": "nodeloom", "version": nodeloom.__version__}
    assert set(doc["components"]["securitySchemes"]) == {"nodeloomToken", "bearer"}
    assert doc["components"]["securitySchemes"]["nodeloomToken"]["name"] == "X-Nodeloom-Token"
    assert {"ErrorResponse", "ValidationErrorItem", "Thing"} <= set(doc["components"]["schemas"])

    health = doc["paths"]["/api/health"]
    assert set(health) == {"get"}  # HEAD and OPTIONS are implied, not listed
    assert health["get"]["x-nodeloom-auth"] == "open" and health["get"]["security"] == []
    assert health["get"]["summary"] == "Server status, version and registry counts."
    assert health["get"]["x-nodeloom-plugin"] == "api"
    error = health["get"]["responses"]["default"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorResponse"}

    echo = doc["paths"]["/api/sample/echo"]["post"]
    assert echo["x-nodeloom-auth"] == "token"
    assert echo["security"] == [{"nodeloomToken": []}, {"bearer": []}]
    assert echo["x-sample"] is True and echo["description"] == "Documented by the route."
    assert "requestBody" in echo

    thing = doc["paths"]["/api/sample/things/{name}"]
    assert set(thing) == {"get", "delete"}
    assert thing["get"]["parameters"][0]["name"] == "name"
    assert thing["delete"]["x-nodeloom-auth"] == "token"

    assert doc["paths"]["/api/ext/acme/ping"]["get"]["x-nodeloom-plugin"] == "acme"
    assert doc["paths"]["/api/auth/bootstrap"]["get"]["x-nodeloom-auth"] == "open"
    assert doc["x-websockets"]["/ws/sample"]["x-nodeloom-auth"] == "token"
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


async def test_devices_route_shape(client: Any) -> None:
    body = await (await client.get("/api/system/devices")).get_json()
    assert [d["value"] for d in body["devices"]] == ["cpu", "cuda", "mps"]
    cpu, cuda, mps = body["devices"]
    assert cpu["label"] == "CPU" and cpu["available"] is True
    assert cuda["label"] in ("NVIDIA CUDA", "AMD ROCm")
    assert mps["label"] == "Apple MPS"
    available = [d["value"] for d in body["devices"] if d["available"]]
    assert body["default"] == ("cuda" if "cuda" in available else "mps" if "mps" in available else "cpu")
    for device in (cuda, mps):
        if not device["available"]:
            assert device["detail"] in ("not available", "torch not installed")


@pytest.mark.parametrize(
    ("rows", "default"),
    [
        ((("cpu", "CPU", "8 threads", True), ("cuda", "NVIDIA CUDA", "A (1 device)", True),
          ("mps", "Apple MPS", "not available", False)), "cuda"),
        ((("cpu", "CPU", "8 threads", True), ("cuda", "NVIDIA CUDA", "not available", False),
          ("mps", "Apple MPS", "available", True)), "mps"),
    ],
)
def test_device_default_prefers_cuda_then_mps(monkeypatch: pytest.MonkeyPatch, rows: Any, default: str) -> None:
    monkeypatch.setattr(system, "_probe", lambda: rows)
    assert system.probe_devices()["default"] == default


async def test_startup_and_shutdown_hooks_run_with_the_app(app: Any) -> None:
    async with app.test_app():
        assert app.config["SAMPLE_STARTED"] == 1
        assert "SAMPLE_STOPPED" not in app.config
    assert app.config["SAMPLE_STOPPED"] == 1


async def test_registry_swaps_reach_subscribers_on_the_loop(app: Any, kernel: Any) -> None:
    seen: list[tuple[int, int]] = []
    arrived = asyncio.Event()

    def on_swap(snapshot: Any) -> None:
        seen.append((snapshot.generation, threading.get_ident()))
        arrived.set()

    async with app.test_app():
        unsubscribe = state_of(app).registry_events.subscribe(on_swap)
        await asyncio.to_thread(kernel.reload)  # published from another thread
        await asyncio.wait_for(arrived.wait(), 5)
        unsubscribe()
        await asyncio.to_thread(kernel.reload)
        await asyncio.sleep(0.05)
    assert seen == [(2, threading.get_ident())]


async def test_failed_blueprint_is_reported_not_fatal(kernel: Any, make_app: Any) -> None:
    from quart import Blueprint

    clash = Blueprint("sample", __name__)  # same name as the sample plugin's blueprint
    kernel.routes.append(("clash", clash))
    kernel.routes.append(("junk", object()))  # not a blueprint at all
    app = make_app()
    assert [pid for pid, _ in state_of(app).route_errors] == ["clash", "junk"]
    assert (await client_for(app).get("/api/health")).status_code == 200


# ---------------------------------------------------------------------------- settings


def _load(tmp_path: Path, env: dict[str, str], **flags: Any) -> Settings:
    return Settings.load(data_dir=tmp_path, environ=env, **flags)


def test_settings_defaults(tmp_path: Path) -> None:
    settings = _load(tmp_path, {})
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.allowed_hosts == () and settings.cors_origins == ()
    assert settings.limits.max_json_bytes == 64 * MiB
    assert settings.limits.max_model_bytes == 8 * GiB
    assert settings.limits.max_ws_message_bytes == 64 * MiB
    assert settings.limits.run_grace_s == 60
    assert settings.bind_is_loopback and not settings.bind_is_wildcard
    assert settings.data_dir.root == tmp_path


def test_flags_win_over_environment(tmp_path: Path) -> None:
    env = {"NODELOOM_HOST": "0.0.0.0", "NODELOOM_PORT": "9001", "NODELOOM_DATA_DIR": str(tmp_path / "env")}
    from_env = Settings.load(environ=env)
    assert (from_env.host, from_env.port, from_env.data_dir.root) == ("0.0.0.0", 9001, tmp_path / "env")
    assert from_env.bind_is_wildcard and not from_env.bind_is_loopback
    flagged = Settings.load(host="localhost", port=7000, data_dir=tmp_path / "flag", environ=env)
    assert (flagged.host, flagged.port, flagged.data_dir.root) == ("localhost", 7000, tmp_path / "flag")
    assert flagged.bind_is_loopback


def test_environment_values_are_parsed(tmp_path: Path) -> None:
    settings = _load(tmp_path, {
        "NODELOOM_ALLOWED_HOSTS": " a.lan, ,b.lan:81 ",
        "NODELOOM_CORS_ORIGINS": "http://localhost:5173,",
        "NODELOOM_MAX_JSON_BYTES": "1024",
        "NODELOOM_MAX_RECORDED_RUNS": "3",
        "NODELOOM_RUN_GRACE_S": "0.5",
        "NODELOOM_DEBUG": "1",
    })
    assert settings.allowed_hosts == ("a.lan", "b.lan:81")
    assert settings.cors_origins == ("http://localhost:5173",)
    assert settings.limits.max_json_bytes == 1024
    assert settings.limits.max_recorded_runs == 3
    assert settings.limits.run_grace_s == 0.5
    assert settings.debug is True


@pytest.mark.parametrize(
    ("env", "flags"),
    [
        ({"NODELOOM_PORT": "http"}, {}),
        ({"NODELOOM_PORT": "70000"}, {}),
        ({}, {"port": -1}),
        ({"NODELOOM_HOST": "bad host"}, {}),
        ({"NODELOOM_MAX_JSON_BYTES": "-5"}, {}),
        ({"NODELOOM_MAX_JSON_BYTES": "0"}, {}),
        ({"NODELOOM_MAX_UPLOAD_BYTES": "1.5"}, {}),
        ({"NODELOOM_RUN_RETAIN_S": "-1"}, {}),
        ({"NODELOOM_UPLOAD_TTL_S": "nan"}, {}),
    ],
)
def test_invalid_values_stop_startup(tmp_path: Path, env: dict[str, str], flags: dict[str, Any]) -> None:
    with pytest.raises(SettingsError):
        _load(tmp_path, env, **flags)
