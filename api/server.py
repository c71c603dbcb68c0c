"""Run the app under Hypercorn (api.md §1.1, §1.4, §1.10): token file, ``state/server.json``, signals.

:func:`serve` is what ``nodeloom serve`` calls (blocking, exits 2 on bad settings).
:func:`run_server` is the coroutine underneath; tests run it in a thread with their own kernel and
a ``shutdown`` event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from nodeloom.api import auth
from nodeloom.api.app import create_app
from nodeloom.api.netaddr import url_host
from nodeloom.api.settings import Settings, SettingsError
from nodeloom.api.state import EXTENSION_KEY
from nodeloom.kernel.executors import DEFAULT_EXECUTOR, executor_problem
from nodeloom.kernel.fsutil import atomic_write_json
from nodeloom.kernel.paths import DataDir

log = logging.getLogger("nodeloom.api")

SERVER_FILE = ("state", "server.json")
# Runs are stopped and sockets closed (1001) by our own shutdown hooks before Hypercorn's grace
# period starts, so the period only bounds what is left: idle keep-alive connections and the
# WebSocket ping tasks, which sleep a whole ping interval before they notice a closed socket.
GRACEFUL_TIMEOUT_S = 2.0
#: api.md §3.1: protocol-level pings every 20 s (they also reveal dead peers for the run grace).
WS_PING_INTERVAL_S = 20.0


@attrs.frozen
class ServerInfo:
    """The running server, as written to ``state/server.json``."""

    pid: int
    host: str
    port: int
    url: str
    version: str
    started_at: str

    def wire(self) -> dict[str, Any]:
        return attrs.asdict(self)


def server_file(data_dir: DataDir) -> Path:
    return data_dir.root.joinpath(*SERVER_FILE)


def serve(
    host: str,
    port: int,
    data_dir: DataDir | str | os.PathLike[str],
    dev_reload: bool = False,
    *,
    executor: str | None = None,
    executor_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; used by ``nodeloom serve``.

    Bad settings (an unknown or unavailable executor included) print a message and exit with
    status 2; a port that cannot be bound exits 1.
    """
    _configure_logging()
    try:
        settings = Settings.load(
            host=host, port=port, data_dir=data_dir, executor=executor, executor_options=executor_options
        )
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    from nodeloom.kernel.host import Kernel

    settings.data_dir.ensure()
    # The token is on disk before the (possibly slow) registry build, so tools can read it early.
    auth.write_token_file(settings.data_dir.root, settings.token)
    kernel = Kernel(settings.data_dir)
    try:
        kernel.start()
        asyncio.run(run_server(kernel, settings, dev_reload=dev_reload))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"error: cannot serve on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:  # Ctrl+C before the signal handlers were installed
        raise SystemExit(130) from None
    finally:
        kernel.close()


async def run_server(
    kernel: Any,
    settings: Settings,
    *,
    shutdown: asyncio.Event | None = None,
    install_signals: bool = True,
    on_ready: Callable[[ServerInfo], None] | None = None,
    dev_reload: bool = False,
    watch: bool = True,
    app: Any = None,
) -> None:
    """Serve ``kernel`` until ``shutdown`` is set (or a signal arrives).

    ``on_ready`` is called with the bound address once connections are being queued; the app's
    startup hooks run before the first one is answered.
    """
    prepare_executors(kernel, settings)
    await asyncio.to_thread(settings.data_dir.ensure)
    await asyncio.to_thread(auth.write_token_file, settings.data_dir.root, settings.token)
    sock = bind_socket(settings.host, settings.port)
    hypercorn_fd = os.dup(sock.fileno())
    stop = shutdown or asyncio.Event()
    restore_signals = _install_signal_handlers(stop) if install_signals else (lambda: None)
    info_path = server_file(settings.data_dir)
    watcher: Any = None
    try:
        info = _server_info(settings, sock.getsockname()[1])
        app = app if app is not None else create_app(kernel, settings)
        await asyncio.to_thread(atomic_write_json, info_path, info.wire())
        _log_startup(settings, info)
        watcher = _start_watcher(kernel, dev_reload) if watch else None
        if on_ready is not None:
            on_ready(info)
        await hypercorn_serve(
            app, _hypercorn_config(settings, hypercorn_fd), shutdown_trigger=_draining(stop, app)
        )
    finally:
        await _stop_watcher(kernel, watcher)
        restore_signals()
        _close_unadopted(hypercorn_fd, sock)
        sock.close()
        await asyncio.to_thread(_remove_server_file, info_path)
        log.info("nodeloom server stopped")


def prepare_executors(kernel: Any, settings: Settings) -> None:
    """Configure the executors named in the settings and check the default one can run.

    Raises :class:`SettingsError` (exit status 2) for an unknown or unavailable executor or
    options an executor refuses.
    """
    executors: Mapping[str, Any] = getattr(kernel, "executors", None) or {}
    if not executors and settings.executor == DEFAULT_EXECUTOR and not settings.executor_options:
        return  # a bare kernel (tests): the run manager brings its own local executor
    for name, options in settings.executor_options.items():
        problem = executor_problem(executors, name)
        if problem is not None:
            raise SettingsError(problem)
        configure = getattr(executors[name], "configure", None)
        if not callable(configure):
            raise SettingsError(f"executor '{name}' takes no options")
        try:
            configure(options)
        except ValueError as exc:
            raise SettingsError(f"executor '{name}': {exc}") from None
    problem = executor_problem(executors, settings.executor)
    if problem is not None:
        raise SettingsError(problem)


def _draining(stop: asyncio.Event, app: Any) -> Callable[[], Any]:
    """Hypercorn's shutdown trigger: wait for ``stop``, then run the app's shutdown hooks.

    Hypercorn gives open connections only a grace period before dropping them, and runs the
    app's own shutdown after that; hooks that must still talk to clients (end runs, close
    WebSockets with 1001) therefore run here, first.
    """

    async def trigger() -> None:
        await stop.wait()
        state = getattr(app, "extensions", {}).get(EXTENSION_KEY)
        for hook in list(getattr(state, "shutdown_hooks", ())):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook %r failed", hook)

    return trigger


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen before serving, so the actual port is known (``port=0``) and early clients wait."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    # Prefer IPv4 for names like "localhost": clients commonly try 127.0.0.1 first.
    family, type_, proto, _, address = sorted(infos, key=lambda i: i[0] != socket.AF_INET)[0]
    sock = socket.socket(family, type_, proto)
    try:
        if os.name == "nt":
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_EXCLUSIVEADDRUSE", socket.SO_REUSEADDR), 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


def _hypercorn_config(settings: Settings, fd: int) -> Config:
    config = Config()
    config.bind = [f"fd://{fd}"]
    config.websocket_max_message_size = settings.limits.max_ws_message_bytes
    config.graceful_timeout = GRACEFUL_TIMEOUT_S
    config.websocket_ping_interval = WS_PING_INTERVAL_S
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.include_server_header = False
    return config


def _server_info(settings: Settings, port: int) -> ServerInfo:
    from nodeloom import __version__

    host = settings.host
    url_name = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    now = datetime.now(timezone.utc)
    return ServerInfo(
        pid=os.getpid(),
        host=host,
        port=port,
        url=f"http://{url_host(url_name)}:{port}",
        version=__version__,
        started_at=now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
    )


def _log_startup(settings: Settings, info: ServerInfo) -> None:
    log.info("nodeloom %s serving %s (data dir %s)", info.version, info.url, settings.data_dir.root)
    log.info("UI: %s/#token=%s", info.url, settings.token)
    if not settings.bind_is_loopback:
        allowed = ", ".join(settings.allowed_hosts) or "none"
        log.warning(
            "Bound to %s, beyond loopback. Allowed Host values: loopback names, %s, "
            "and NODELOOM_ALLOWED_HOSTS (%s). Anyone who can reach this port and holds the token "
            "can run code on this machine.",
            settings.host,
            "the machine's interface addresses" if settings.bind_is_wildcard else settings.host,
            allowed,
        )


def _install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    """SIGINT/SIGTERM trigger a graceful shutdown; returns a function that restores the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    names = [s for s in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, s)]
    restores: list[Callable[[], None]] = []
    for name in names:
        signum = getattr(signal, name)
        try:
            loop.add_signal_handler(signum, stop.set)
            restores.append(lambda s=signum: loop.remove_signal_handler(s))
        except (NotImplementedError, RuntimeError):  # Windows event loops
            previous = signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))
            restores.append(lambda s=signum, p=previous: signal.signal(s, p))

    def restore_all() -> None:
        for restore in restores:
            restore()

    return restore_all


def _start_watcher(kernel: Any, dev: bool) -> Any:
    """Start the kernel's file watcher (custom nodes, presets; plugin sources with ``dev``)."""
    watch = getattr(kernel, "watch", None)
    if watch is None:
        return None
    try:
        # Without --reload the kernel's own NODELOOM_DEV setting decides about plugin sources.
        return watch(dev=True) if dev else watch()
    except Exception:
        log.exception("file watcher did not start; hot reload is off")
        return None


async def _stop_watcher(kernel: Any, watcher: Any) -> None:
    if watcher is None:
        return
    try:
        stop = getattr(kernel, "astop_watching", None)
        if stop is not None:
            await stop()
        elif hasattr(watcher, "aclose"):
            await watcher.aclose()
    except Exception:
        log.exception("file watcher did not stop cleanly")


def _close_unadopted(fd: int, sock: socket.socket) -> None:
    # Hypercorn closes the descriptor it adopted; if startup failed before it did, the
    # duplicate still refers to our socket (same inode) and must be closed here.
    try:
        if os.fstat(fd).st_ino == os.fstat(sock.fileno()).st_ino:
            os.close(fd)
    except OSError:
        pass


def _remove_server_file(path: Path) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    # Another server on the same data dir may have replaced it; only remove our own.
    if isinstance(data, dict) and data.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("nodeloom").setLevel(logging.INFO)

