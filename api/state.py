"""What route plugins reach through ``current_app``: the kernel, the settings and shared services.

A route reads them with :func:`current_state` (or the :func:`current_kernel` /
:func:`current_settings` shortcuts); nothing here is a module-level global, so several apps (tests)
can live in one process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
from quart import Quart, current_app

from nodeloom.api.settings import Settings

if TYPE_CHECKING:
    from nodeloom.api.guards import CorsPolicy, HostGuard

log = logging.getLogger("nodeloom.api")

EXTENSION_KEY = "nodeloom"

RegistrySubscriber = Callable[[Any], None]


class RegistryEvents:
    """Relays registry swaps to subscribers on the server's event loop.

    Kernel listeners run on whatever thread published the snapshot (a reload request, the file
    watcher); subscribers (the WebSocket hub's ``registry_changed`` push) are called on the loop
    so they may touch asyncio objects directly.
    """

    def __init__(self) -> None:
        self._subscribers: list[RegistrySubscriber] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def subscribe(self, fn: RegistrySubscriber) -> Callable[[], None]:
        """Call ``fn(snapshot)`` after every registry swap; returns the unsubscribe function."""
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def bind_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop

    def listener(self, snapshot: Any) -> None:
        """The callback registered with ``RegistryHolder.add_listener``."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._dispatch, snapshot)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    def _dispatch(self, snapshot: Any) -> None:
        for fn in list(self._subscribers):
            try:
                fn(snapshot)
            except Exception:
                log.exception("registry subscriber %r failed", fn)


@attrs.define(eq=False)
class AppState:
    """Per-app state, stored in ``app.extensions["nodeloom"]``."""

    kernel: Any
    settings: Settings
    host_guard: HostGuard
    cors: CorsPolicy
    registry_events: RegistryEvents = attrs.field(factory=RegistryEvents)
    #: Top-level blueprint name -> id of the plugin that registered it (None: registered directly).
    plugin_of_blueprint: dict[str, str | None] = attrs.field(factory=dict)
    #: Blueprints that failed to mount: ``(plugin id, message)``.
    route_errors: list[tuple[str | None, str]] = attrs.field(factory=list)
    #: OpenAPI component schemas by name; route plugins may add theirs.
    openapi_schemas: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    openapi_cache: dict[str, Any] | None = None
    #: werkzeug Map of the /api/ and /ws/ rules only (see nodeloom.api.guards).
    api_map: Any = None
    #: Coroutine functions awaited when a server shutdown begins, before the server stops
    #: waiting for open connections (the execution WebSocket stops its runs and closes with 1001).
    shutdown_hooks: list[Callable[[], Awaitable[None]]] = attrs.field(factory=list)


def state_of(app: Quart) -> AppState:
    return app.extensions[EXTENSION_KEY]


def current_state() -> AppState:
    """The :class:`AppState` of the app handling the current request."""
    return state_of(current_app)


def current_kernel() -> Any:
    """The kernel host (``snapshot``, ``holder``, ``plugins()``, ...)."""
    return current_state().kernel


def current_settings() -> Settings:
    return current_state().settings
