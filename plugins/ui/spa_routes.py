"""Routes of the web UI: the bundle's files, and ``index.html`` for every other GET path.

``/api/`` and ``/ws/`` never get here (the guards answer them with JSON 404s); ``/temp/`` is refused
here too, because it belongs to the media plugin and must stay JSON even when that plugin is off.
"""

from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response, current_app, request, send_file
from werkzeug.exceptions import NotFound

from nodeloom.kernel.paths import PathError, confine
from nodeloom.plugins.ui import bundle, missing_page

blueprint = Blueprint("ui", __name__)

_RESERVED = ("api", "ws", "temp")
INDEX = "index.html"


@blueprint.get("/", defaults={"path": ""})
@blueprint.get("/<path:path>")
async def spa(path: str) -> Response:
    """The web UI (single-page app files, index.html fallback)."""
    if path.split("/", 1)[0] in _RESERVED:
        raise NotFound()
    dist = bundle.dist_dir()
    index = dist / INDEX
    if not index.is_file():
        return _missing_bundle(dist)
    if path and path != INDEX:
        target = _bundle_file(dist, path)
        if target is not None:
            return await _send(target, path)
        # A missing hashed asset is a stale page, not a client route: HTML there would be parsed as JS.
        if path.startswith("assets/"):
            raise NotFound()
    return await _send(index, INDEX)


def _bundle_file(dist: Path, path: str) -> Path | None:
    try:
        target = confine(dist, path)
    except PathError:
        # Traversal, dot segments and the like: refused outright rather than answered with the app.
        raise NotFound() from None
    return target if target.is_file() else None


async def _send(target: Path, relpath: str) -> Response:
    response = await send_file(target, mimetype=bundle.mime_type(target), conditional=True)
    # Cache-Control alone decides; send_file's default Expires would contradict no-cache.
    response.headers.pop("Expires", None)
    response.headers["Cache-Control"] = bundle.cache_control(relpath)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _missing_bundle(dist: Path) -> Response:
    if request.path.startswith("/assets/"):
        raise NotFound()
    response = current_app.response_class(missing_page.render(dist), status=200, mimetype="text/html")
    response.headers["Cache-Control"] = bundle.REVALIDATE
    return response
