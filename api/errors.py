"""JSON error bodies for every status (api.md §1.2) and the handlers that produce them.

Routes raise :class:`ApiError`; everything else (routing errors, oversized bodies, bugs) is turned
into the same ``{"detail", "code", ...}`` shape here, so no response is ever HTML or plain text.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any

from quart import Quart, Response, current_app, has_request_context, has_websocket_context, request, websocket
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

log = logging.getLogger("nodeloom.api")

#: Paths whose errors also carry ``success: false`` and ``error`` (the "Blobit-style" routes).
_BLOBIT_ANY_METHOD_PREFIXES = ("/api/downloads/", "/api/files/", "/temp/")
_BLOBIT_ANY_METHOD_PATHS = frozenset({"/api/upload", "/api/audio/trim"})
_MODEL_CATEGORY = re.compile(r"/api/models/[^/]+")
_MODEL_REGISTRY_DOWNLOAD = re.compile(r"/api/models/download/.+")

#: Stable codes for statuses produced outside the routes.
GENERIC_CODES: Mapping[int, tuple[str, str]] = {
    400: ("bad_request", "Bad Request"),
    404: ("not_found", "Not Found"),
    405: ("method_not_allowed", "Method Not Allowed"),
    408: ("request_timeout", "Request Timeout"),
    413: ("payload_too_large", "Request body too large"),
    421: ("host_not_allowed", "Host not allowed"),
    500: ("internal_error", "Internal server error"),
}


class ApiError(Exception):
    """An error response a route (or a guard) answers with.

    ``extra`` fields are added to the body (for example ``candidates``, ``line``); ``headers`` to
    the response.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | list[dict[str, Any]],
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else code)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


def current_path_and_method() -> tuple[str, str]:
    """The path and method of the current request or WebSocket upgrade."""
    if has_request_context():
        return request.path, request.method
    if has_websocket_context():
        return websocket.path, "GET"
    return "", ""


def is_blobit_path(path: str, method: str) -> bool:
    """Whether ``method path`` is one of the §1.2 routes whose errors carry ``success``/``error``."""
    if path in _BLOBIT_ANY_METHOD_PATHS or path.startswith(_BLOBIT_ANY_METHOD_PREFIXES):
        return True
    if method in ("GET", "HEAD") and _MODEL_CATEGORY.fullmatch(path):
        return True
    return method == "POST" and _MODEL_REGISTRY_DOWNLOAD.fullmatch(path) is not None


def error_body(status: int, code: str, detail: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The body of an error response for the current request."""
    body: dict[str, Any] = {"detail": detail, "code": code}
    if extra:
        body.update(extra)
    path, method = current_path_and_method()
    if path and is_blobit_path(path, method):
        body["success"] = False
        body["error"] = detail if isinstance(detail, str) else "; ".join(
            str(item.get("msg", "")) for item in detail if isinstance(item, Mapping)
        )
    return body


def error_response(
    status: int,
    code: str,
    detail: Any,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A JSON error response (used by guards that answer before routing)."""
    response = current_app.json.response(error_body(status, code, detail, extra))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


async def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.detail, headers=exc.headers, **exc.extra)


async def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    code, detail = GENERIC_CODES.get(status, (_code_for(exc), exc.name))
    headers: dict[str, str] = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    if isinstance(exc, RequestEntityTooLarge):
        limit = getattr(request, "body_limit", None) if has_request_context() else None
        if limit is not None:
            detail = f"Request body too large (limit {limit} bytes)"
    if status == 500:
        return await _handle_exception(exc)
    return error_response(status, code, detail, headers=headers)


async def _handle_exception(exc: BaseException) -> Response:
    error_id = secrets.token_hex(6)
    path, method = current_path_and_method()
    log.error("Unhandled error %s on %s %s", error_id, method, path, exc_info=exc)
    return error_response(500, "internal_error", "Internal server error", error_id=error_id)


def _code_for(exc: HTTPException) -> str:
    return re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_") or "error"


def install_error_handlers(app: Quart) -> None:
    """Register the JSON handlers; ApiError first so it never reaches the generic ones."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_exception)
