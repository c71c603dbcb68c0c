"""``/ws/execution``: run graphs and follow their events (api.md §3).

The Host, Origin and token checks run before this handler (``before_websocket`` guards), so a
refused upgrade never gets here. Each socket has two tasks: the receiver parses messages and
handles them one at a time, in order; the sender writes the socket's :class:`Outbox`. Bad input
is answered with an ``error`` event and never closes the socket.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from quart import Blueprint, current_app, websocket

from nodeloom.api import route_doc
from nodeloom.api.state import state_of

from . import runs, wire
from .outbox import Outbox
from .runs import Client, RunManager
from .ws_messages import Attach, BadMessage, ClearCache, Command, Execute, Ping, Stop, parse_message

log = logging.getLogger("nodeloom.api.ws")

blueprint = Blueprint("api_execution", __name__)

PONG = wire.frame({"type": "pong"})
#: Messages longer than this are parsed in a worker thread.
THREAD_PARSE_CHARS = 256 * 1024


@blueprint.before_app_serving
async def _install() -> None:
    """Create the run manager and wire it to registry swaps and server shutdown."""
    app = current_app._get_current_object()
    manager = runs.manager_of(app)
    state = state_of(app)
    unsubscribe = state.registry_events.subscribe(manager.registry_changed)
    app.extensions[runs.EXTENSION_KEY + ".unsubscribe"] = unsubscribe
    hooks = getattr(state, "shutdown_hooks", None)
    if hooks is not None:
        # Called when shutdown begins, before the server stops waiting for open sockets.
        hooks.append(manager.shutdown)


@blueprint.after_app_serving
async def _uninstall() -> None:
    """Stop the runs that are left (in-process servers without the early hook) and unhook."""
    app = current_app._get_current_object()
    manager = app.extensions.get(runs.EXTENSION_KEY)
    unsubscribe = app.extensions.pop(runs.EXTENSION_KEY + ".unsubscribe", None)
    if unsubscribe is not None:
        unsubscribe()
    if manager is not None:
        hooks = getattr(state_of(app), "shutdown_hooks", None)
        if hooks is not None and manager.shutdown in hooks:
            hooks.remove(manager.shutdown)
        await manager.shutdown()


@blueprint.websocket("/ws/execution")
@route_doc(
    **{
        "x-client-actions": ["execute", "stop", "cancel", "clear_cache", "attach", "ping"],
        "x-server-events": [
            "connected",
            "execution_start",
            "node_status",
            "execution_complete",
            "execution_error",
            "execution_stopped",
            "attached",
            "cache_cleared",
            "pong",
            "error",
            "registry_changed",
        ],
    }
)
async def execution_socket() -> None:
    """Run graphs and follow their events (execute, stop, attach, clear_cache, ping)."""
    manager = runs.current_runs()
    ws = websocket._get_current_object()
    await ws.accept()
    client = manager.connect()
    sender = asyncio.ensure_future(_send_loop(ws, client.outbox))
    receiver = asyncio.ensure_future(_receive_loop(ws, manager, client))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        manager.disconnect(client)
        for task in (sender, receiver):
            task.cancel()
            task.add_done_callback(_quiet)


def _quiet(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("websocket task ended with %r", task.exception())


async def _send_loop(ws: Any, outbox: Outbox) -> None:
    """Write queued frames in order; close with the outbox's code when it is closed."""
    try:
        while True:
            frame = await outbox.next()
            if frame is None:
                break
            await ws.send(frame.text)
        if outbox.close_code is not None:
            await ws.close(outbox.close_code)
    finally:
        outbox.done.set()


async def _receive_loop(ws: Any, manager: RunManager, client: Client) -> None:
    """Handle messages one at a time, in the order they arrive."""
    while True:
        data = await ws.receive()
        try:
            if isinstance(data, str) and len(data) > THREAD_PARSE_CHARS:
                # A graph of megabytes takes a while to parse and check: not on the event loop.
                command = await asyncio.to_thread(parse_message, data, manager.executor_problem)
            else:
                command = parse_message(data, manager.executor_problem)
        except BadMessage as bad:
            client.send(bad.frame)
            continue
        try:
            await _dispatch(manager, client, command)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not close the socket (api.md §3.1)
            log.exception("websocket message %s failed", type(command).__name__)


async def _dispatch(manager: RunManager, client: Client, command: Command) -> None:
    if isinstance(command, Execute):
        await manager.execute(client, command)
    elif isinstance(command, Stop):
        manager.stop(client, command.run_id)
    elif isinstance(command, Attach):
        manager.attach(client, command.run_id, command.after_seq)
    elif isinstance(command, ClearCache):
        manager.clear_cache(client)
    elif isinstance(command, Ping):
        client.send(PONG)
