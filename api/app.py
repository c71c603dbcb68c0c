"""The Quart application factory: guards, error handlers and the route plugins' blueprints.

``create_app(kernel, settings)`` mounts every blueprint the kernel collected through the
``register_routes`` hook. Route plugins reach the kernel and settings with
:func:`nodeloom.api.current_state` (or ``current_kernel()`` / ``current_settings()``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from quart import Quart, current_app

from nodeloom.api.errors import install_error_handlers
from nodeloom.api.guards import CorsPolicy, HostGuard, LimitedRequest, install_guards
from nodeloom.api.netaddr import interface_addresses
from nodeloom.api.parsing import FiniteJSONProvider
from nodeloom.api.settings import Settings
from nodeloom.api.state import EXTENSION_KEY, AppState, state_of

log = logging.getLogger("nodeloom.api")

#: Prefix for routes of plugins that nodeloom does not ship (engine.md §8.3: a stable per-plugin
#: prefix), so a third-party pack can never shadow a route of this API.
THIRD_PARTY_PREFIX = "/api/ext/{plugin}"


class NodeloomQuart(Quart):
    """Quart with nodeloom's JSON rules and body-limit aware requests."""

    json_provider_class = FiniteJSONProvider
    request_class = LimitedRequest


def create_app(kernel: Any, settings: Settings, *, interfaces: Any = interface_addresses) -> Quart:
    """Build the app for ``kernel`` (a started ``nodeloom.kernel.host.Kernel``) and ``settings``.

    ``interfaces`` returns the machine's addresses for a wildcard bind (injectable for tests).
    """
    app = NodeloomQuart("nodeloom.api", static_folder=None)
    app.config.update(
        # Body limits are per route and enforced by the guards (LimitedBody), not by Quart.
        MAX_CONTENT_LENGTH=None,
        # Downloads of multi-GB files must not be cut off by Quart's 60 s default.
        RESPONSE_TIMEOUT=None,
    )
    # §1.1: paths must match exactly; werkzeug would otherwise redirect "a//b" to "a/b".
    app.url_map.merge_slashes = False
    state = AppState(
        kernel=kernel,
        settings=settings,
        host_guard=HostGuard.from_settings(settings, interfaces),
        cors=CorsPolicy.from_settings(settings),
    )
    app.extensions[EXTENSION_KEY] = state
    install_error_handlers(app)
    install_guards(app)
    mount_routes(app, getattr(kernel, "routes", ()) or ())
    app.before_serving(_startup)
    app.after_serving(_shutdown)
    return app


def mount_routes(app: Quart, routes: Any) -> None:
    """Register route blueprints, remembering which plugin each came from.

    ``routes`` is what the kernel collected (``Kernel.routes``: ``(plugin id, blueprint)`` pairs);
    bare blueprints are accepted too and belong to no plugin. A blueprint that fails to mount is
    logged and skipped; the other plugins' routes still work.
    """
    state = state_of(app)
    for plugin_id, blueprint in _route_entries(routes):
        try:
            prefix = _prefix_for(state, plugin_id, blueprint)
            app.register_blueprint(blueprint, url_prefix=prefix)
        except Exception as exc:  # a broken plugin must not take the server down
            log.error("routes of plugin %r not mounted: %s", plugin_id, exc)
            state.route_errors.append((plugin_id, f"{type(exc).__name__}: {exc}"))
            continue
        state.plugin_of_blueprint[blueprint.name] = plugin_id
        state.api_map = None


def _route_entries(routes: Iterable[Any]) -> Iterator[tuple[str | None, Any]]:
    for entry in routes:
        if isinstance(entry, tuple) and len(entry) == 2:
            yield entry[0], entry[1]
        else:
            yield None, entry


def _prefix_for(state: AppState, plugin_id: str | None, blueprint: Any) -> str | None:
    packs = getattr(getattr(state.kernel, "snapshot", None), "packs", {}) or {}
    pack = packs.get(plugin_id) if plugin_id else None
    if pack is None or getattr(pack, "source", "builtin") == "builtin":
        return blueprint.url_prefix
    return THIRD_PARTY_PREFIX.format(plugin=plugin_id) + (blueprint.url_prefix or "")


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _startup() -> None:
    state = state_of(current_app)
    state.registry_events.bind_loop(asyncio.get_running_loop())
    holder = getattr(state.kernel, "holder", None)
    if holder is not None:
        holder.add_listener(state.registry_events.listener)
    await _lifecycle(state.kernel, "startup")


async def _shutdown() -> None:
    state = state_of(current_app)
    try:
        await _lifecycle(state.kernel, "shutdown")
    finally:
        holder = getattr(state.kernel, "holder", None)
        if holder is not None:
            holder.remove_listener(state.registry_events.listener)
        state.registry_events.bind_loop(None)


async def _lifecycle(kernel: Any, hook: str) -> None:
    """Run the plugins' ``startup``/``shutdown`` hooks; the async variant keeps coroutine hooks on our loop."""
    method = getattr(kernel, f"acall_{hook}", None) or getattr(kernel, f"call_{hook}", None)
    if method is None:
        return
    problems = await _maybe_await(method(current_app._get_current_object()))
    for problem in problems or ():
        log.error("plugin %s", getattr(problem, "message", problem))


def package_blueprints(package: str, path: Iterable[str]) -> list[Any]:
    """The module-level ``blueprint`` of every public module of a plugin package, by module name.

    A route plugin's ``register_routes`` hook can then mount one route group per module::

        @hookimpl
        def register_routes(register):
            from nodeloom.api import package_blueprints
            for bp in package_blueprints(__name__, __path__):
                register(bp)
    """
    import importlib
    import pkgutil

    found = []
    for info in sorted(pkgutil.iter_modules(list(path)), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        blueprint = getattr(importlib.import_module(f"{package}.{info.name}"), "blueprint", None)
        if blueprint is not None:
            found.append(blueprint)
    return found
