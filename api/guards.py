"""Request guards and the order of checks (api.md §1.5–§1.8).

One ``before_request`` and one ``before_websocket`` function apply the checks in the order §1.7
fixes; the first failure answers. An ``after_request`` function adds the headers every ``/api/``
response carries and the CORS headers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from quart import Quart, Response, current_app, request, websocket
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule

from nodeloom.api import auth
from nodeloom.api.bodylimit import LimitedBody, LimitedRequest, body_limit, resolve_body_limit
from nodeloom.api.errors import ApiError
from nodeloom.api.netaddr import (
    HostPort,
    bind_host_name,
    interface_addresses,
    is_loopback_name,
    is_wildcard_bind,
    parse_host_port,
    parse_origin,
)
from nodeloom.api.state import AppState, current_state

if TYPE_CHECKING:
    from nodeloom.api.settings import Settings

__all__ = [
    "CorsPolicy",
    "HostGuard",
    "LimitedRequest",
    "body_limit",
    "check_request",
    "check_websocket",
    "finish_response",
    "install_guards",
    "websocket_origin_allowed",
]

API_PREFIXES = ("/api/", "/ws/")
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
CORS_EXPOSE = "Content-Disposition, X-Nodeloom-Dtype, X-Nodeloom-Full-Shape"
CORS_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_HEADERS = "Content-Type, X-Nodeloom-Token, Authorization"
CORS_MAX_AGE = "600"


def host_not_allowed() -> ApiError:
    return ApiError(421, "host_not_allowed", "Host not allowed")


def invalid_token() -> ApiError:
    return ApiError(403, "invalid_token", "Missing or invalid session token")


# ---------------------------------------------------------------------------- Host guard


@attrs.frozen
class HostGuard:
    """The Host allow-list of §1.5, fixed at startup."""

    bind_name: str | None = None  # a concrete non-loopback bind address, normalised
    interfaces: frozenset[str] = frozenset()  # interface addresses, when bound to a wildcard
    extra: tuple[HostPort, ...] = ()  # NODELOOM_ALLOWED_HOSTS

    @classmethod
    def from_settings(
        cls, settings: Settings, interfaces: Callable[[], frozenset[str]] = interface_addresses
    ) -> HostGuard:
        extra = tuple(hp for hp in map(parse_host_port, settings.allowed_hosts) if hp is not None)
        if is_wildcard_bind(settings.host):
            return cls(interfaces=interfaces(), extra=extra)
        name = bind_host_name(settings.host)
        if name is None or is_loopback_name(name):
            return cls(extra=extra)
        return cls(bind_name=name, extra=extra)

    def allows(self, host_header: str | None) -> bool:
        parsed = parse_host_port(host_header)
        if parsed is None:
            return False
        if is_loopback_name(parsed.name):
            return True
        if parsed.name == self.bind_name or parsed.name in self.interfaces:
            return True
        return any(
            entry.name == parsed.name and (entry.port is None or entry.port == parsed.port)
            for entry in self.extra
        )


# ---------------------------------------------------------------------------- CORS


@attrs.frozen
class CorsPolicy:
    """``NODELOOM_CORS_ORIGINS`` (§1.6); empty means CORS is off."""

    origins: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> CorsPolicy:
        parsed = (parse_origin(o) for o in settings.cors_origins)
        return cls(frozenset(o.serialize() for o in parsed if o is not None))

    def allows(self, origin_header: str | None) -> bool:
        origin = parse_origin(origin_header)
        return origin is not None and origin.serialize() in self.origins


def websocket_origin_allowed(origin_header: str | None, host_header: str | None, cors: CorsPolicy) -> bool:
    """§1.6: no Origin passes; otherwise same origin as the Host header, or a CORS origin."""
    if origin_header is None:
        return True
    origin = parse_origin(origin_header)
    if origin is None:
        return False
    if cors.allows(origin_header):
        return True
    host = parse_host_port(host_header)
    if host is None:
        return False
    host_port = None if host.port == _default_port(origin.scheme) else host.port
    return (origin.name, origin.port) == (host.name, host_port)


def _default_port(scheme: str) -> int:
    return 443 if scheme in ("https", "wss") else 80


# ---------------------------------------------------------------------------- routing helpers


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/api", "/ws")


def _api_map(app: Quart, state: AppState) -> Map:
    """A map of only the ``/api/`` and ``/ws/`` rules, so a catch-all UI route never answers them."""
    # Built on first use: every blueprint is mounted by then (routes are fixed at startup).
    if state.api_map is None:
        rules = [
            Rule(r.rule, endpoint=r.endpoint, methods=r.methods, websocket=r.websocket, strict_slashes=r.strict_slashes)
            for r in app.url_map.iter_rules()
            if r.rule.startswith(API_PREFIXES)
        ]
        state.api_map = Map(
            rules,
            strict_slashes=app.url_map.strict_slashes,
            merge_slashes=False,
            converters=app.url_map.converters,
        )
    return state.api_map


def allowed_methods(path: str) -> list[str]:
    """The methods the route at ``path`` accepts (empty when no route matches)."""
    url_map = _api_map(current_app, current_state()) if is_api_path(path) else current_app.url_map
    return sorted(url_map.bind("localhost").allowed_methods(path))


def _is_api_rule(rule: Rule | None) -> bool:
    return rule is not None and rule.rule.startswith(API_PREFIXES)


def _routing_error(exc: HTTPException | None, path: str) -> HTTPException | None:
    """Normalise a routing failure: no redirects, WebSocket mismatches and UI catch-alls are 404."""
    if exc is None:
        return None
    if isinstance(exc, MethodNotAllowed):
        if is_api_path(path):
            methods = allowed_methods(path)
            return MethodNotAllowed(valid_methods=methods) if methods else NotFound()
        return exc
    return NotFound() if exc.code in (None, 301, 302, 307, 308, 400) else exc


def _check_plugin_enabled(state: AppState, blueprint: str | None) -> None:
    if not blueprint:
        return
    plugin_id = state.plugin_of_blueprint.get(blueprint.split(".", 1)[0])
    if plugin_id is None:
        return
    route_enabled = getattr(state.kernel, "plugin_route_enabled", None)
    if route_enabled is not None:
        enabled = route_enabled(plugin_id)
    else:
        packs: Mapping[str, Any] = getattr(getattr(state.kernel, "snapshot", None), "packs", {}) or {}
        enabled = getattr(packs.get(plugin_id), "enabled", True)
    if not enabled:
        raise ApiError(404, "plugin_disabled", f"Plugin '{plugin_id}' is disabled")


# ---------------------------------------------------------------------------- the chains


async def check_request() -> Response | None:
    """§1.7: Host → preflight/OPTIONS → token → routing → body size."""
    state = current_state()
    if not state.host_guard.allows(_host_header(request.headers)):
        raise host_not_allowed()
    if request.method == "OPTIONS":
        return _options_response(state)
    if auth.needs_token(request.method, request.path):
        if not auth.tokens_match(state.settings.token, auth.token_from_headers(request.headers)):
            raise invalid_token()
    error = _routing_error(request.routing_exception, request.path)
    if error is not None:
        raise error
    if is_api_path(request.path) and not _is_api_rule(request.url_rule):
        raise NotFound()
    _check_plugin_enabled(state, request.blueprint)
    _apply_body_limit(state)
    return None


async def check_websocket() -> None:
    """§1.7 for upgrades: Host (421) → Origin (403) → token (403) → routing."""
    state = current_state()
    host = _host_header(websocket.headers)
    if not state.host_guard.allows(host):
        raise host_not_allowed()
    if not websocket_origin_allowed(websocket.headers.get("Origin"), host, state.cors):
        raise ApiError(403, "origin_not_allowed", "Origin not allowed")
    given = auth.token_from_websocket(websocket.headers, websocket.args)
    if not auth.tokens_match(state.settings.token, given):
        raise invalid_token()
    error = _routing_error(websocket.routing_exception, websocket.path)
    if error is not None:
        raise error
    _check_plugin_enabled(state, websocket.blueprint)


def _host_header(headers: Mapping[str, str]) -> str | None:
    # HTTP/2 and HTTP/3 carry the host as the :authority pseudo-header.
    return headers.get("Host") or headers.get(":authority")


def _options_response(state: AppState) -> Response:
    response = current_app.response_class("", status=200)
    methods = allowed_methods(request.path)
    if methods:
        response.headers["Allow"] = ", ".join(methods)
    if request.headers.get("Access-Control-Request-Method") and state.cors.allows(request.headers.get("Origin")):
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    return response


def _apply_body_limit(state: AppState) -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    limit = resolve_body_limit(view, state.settings.limits)
    request.body_limit = limit
    request.max_content_length = limit
    body = request.body
    if isinstance(body, LimitedBody):
        body.set_limit(limit)
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()


async def finish_response(response: Response) -> Response:
    """Headers for every ``/api/`` response, and the CORS headers (errors included)."""
    if is_api_path(request.path):
        for name, value in API_HEADERS.items():
            response.headers[name] = value
    origin = request.headers.get("Origin")
    if current_state().cors.allows(origin):
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        response.vary.add("Origin")
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE
    return response


def install_guards(app: Quart) -> None:
    app.before_request(check_request)
    app.before_websocket(check_websocket)
    app.after_request(finish_response)
