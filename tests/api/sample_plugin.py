"""Route plugins used only by the API tests (loaded through a fake ``nodeloom`` distribution).

``sample`` exercises parsing, errors and limits; ``sample_off`` is disabled at run time;
``acme`` is third-party (its routes live under ``/api/ext/acme``); ``ui_like`` mimics the web UI's
catch-all route, which must never answer ``/api/`` paths.
"""

from __future__ import annotations

import math
from typing import Any

from quart import Blueprint, request, websocket

from nodeloom.api import ApiError, Fields, QueryFields, body_limit, current_kernel, read_json_object, route_doc
from nodeloom.kernel import hookimpl

sample_bp = Blueprint("sample", __name__)


@sample_bp.post("/api/sample/echo")
@route_doc(**{"x-sample": True, "description": "Documented by the route."})
async def echo() -> dict[str, Any]:
    """Echo typed fields back."""
    body = Fields(await read_json_object())
    result = {
        "name": body.string("name", min_length=1, max_length=8),
        "count": body.integer("count", default=1, ge=0, le=10),
        "ratio": body.number("ratio", default=0.5),
        "flag": body.boolean("flag", default=False),
        "mode": body.choice("mode", ("a", "b"), default="a"),
        "tags": body.array("tags", default=[]),
    }
    for _index, item in body.items("items", default=[]):
        item.string("id")
    body.raise_if_problems()
    return result


@sample_bp.get("/api/sample/query")
async def query() -> dict[str, Any]:
    """Read typed query parameters."""
    args = QueryFields(request.args)
    n = args.integer("n", default=1, ge=1, le=100)
    verbose = args.boolean("verbose", default=False)
    args.raise_if_problems()
    return {"n": n, "verbose": verbose}


@sample_bp.get("/api/sample/boom")
async def boom() -> dict[str, Any]:
    """Fail with a bug."""
    raise RuntimeError("secret internal detail")


@sample_bp.get("/api/sample/nan")
async def not_finite() -> dict[str, Any]:
    """Return non-finite numbers."""
    return {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "ok": 1.5, "nested": [{"x": math.nan}]}


@sample_bp.post("/api/sample/size")
async def size() -> dict[str, Any]:
    """Count the body (default JSON limit)."""
    return {"size": len(await request.get_data())}


@sample_bp.post("/api/sample/small")
@body_limit(100)
async def small() -> dict[str, Any]:
    """Count the body (100-byte limit)."""
    return {"size": len(await request.get_data())}


@sample_bp.post("/api/sample/stream")
@body_limit(1000)
async def stream() -> dict[str, Any]:
    """Count the body while streaming it."""
    total = 0
    async for chunk in request.body:
        total += len(chunk)
    return {"size": total}


@sample_bp.route("/api/sample/things/<name>", methods=["GET", "DELETE"])
async def thing(name: str) -> dict[str, Any]:
    """A thing by name."""
    return {"name": name, "generation": current_kernel().snapshot.generation}


@sample_bp.get("/api/files/probe")
async def blobit_probe() -> dict[str, Any]:
    """A Blobit-style path that fails."""
    raise ApiError(404, "file_not_found", "File not found: probe")


@sample_bp.websocket("/ws/sample")
async def ws_sample() -> None:
    """Say hello."""
    await websocket.accept()
    await websocket.send("hello")


off_bp = Blueprint("sample_off", __name__)


@off_bp.get("/api/sample-off/ping")
async def off_ping() -> dict[str, Any]:
    """Answer while the plugin is enabled."""
    return {"pong": True}


acme_bp = Blueprint("acme", __name__)


@acme_bp.get("/ping")
async def acme_ping() -> dict[str, Any]:
    """A third-party route."""
    return {"acme": True}


ui_bp = Blueprint("ui_like", __name__)


@ui_bp.get("/", defaults={"path": ""})
@ui_bp.get("/<path:path>")
async def spa(path: str) -> tuple[str, int, dict[str, str]]:
    """The SPA fallback."""
    return "<html>ui</html>", 200, {"Content-Type": "text/html"}


class _Routes:
    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint

    @hookimpl
    def register_routes(self, register: Any) -> None:
        register(self.blueprint)


class _SampleRoutes(_Routes):
    @hookimpl
    def startup(self, app: Any) -> None:
        app.config["SAMPLE_STARTED"] = app.config.get("SAMPLE_STARTED", 0) + 1

    @hookimpl
    def shutdown(self, app: Any) -> None:
        app.config["SAMPLE_STOPPED"] = app.config.get("SAMPLE_STOPPED", 0) + 1


sample = _SampleRoutes(sample_bp)
sample_off = _Routes(off_bp)
acme = _Routes(acme_bp)
ui_like = _Routes(ui_bp)
