"""Helpers for API tests: a real Kernel over fake entry points, settings, clients, a live server.

Plugins come from a throw-away ``nodeloom`` distribution (so they count as first-party) whose entry
points name the ``api`` plugin and the test plugins of :mod:`tests.api.sample_plugin`, plus one
third-party distribution. Nothing installed on the machine is loaded, which keeps these tests fast
and independent of torch. End-to-end tests of other route groups can reuse :class:`LiveServer`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import importlib_metadata

from nodeloom.api import Settings
from nodeloom.api.server import ServerInfo, run_server
from nodeloom.kernel.host import Kernel
from nodeloom.kernel.paths import DataDir

TOKEN = "test-token-0123456789abcdef"
GROUP = "nodeloom.plugins"

FIRST_PARTY = {
    "api": "nodeloom.plugins.api_routes",
    "sample": "tests.api.sample_plugin:sample",
    "sample_off": "tests.api.sample_plugin:sample_off",
    "ui_like": "tests.api.sample_plugin:ui_like",
}
THIRD_PARTY = {"acme": "tests.api.sample_plugin:acme"}


def write_dist(site: Path, name: str, entry_points: Mapping[str, str], version: str = "0.1.0") -> None:
    """A minimal installed distribution (dist-info) declaring ``entry_points`` in our group."""
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (folder / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}\n", encoding="utf-8")


def entry_point_source(site: Path) -> Callable[[], list[importlib_metadata.EntryPoint]]:
    def source() -> list[importlib_metadata.EntryPoint]:
        return [
            ep
            for dist in importlib_metadata.distributions(path=[str(site)])
            for ep in dist.entry_points.select(group=GROUP)
        ]

    return source


def make_kernel(root: Path, first_party: Mapping[str, str] | None = None,
                third_party: Mapping[str, str] | None = None) -> Kernel:
    """A started Kernel over ``root/data`` whose only plugins are the given entry points."""
    site = root / "site"
    write_dist(site, "nodeloom", FIRST_PARTY if first_party is None else first_party)
    write_dist(site, "acme-pack", THIRD_PARTY if third_party is None else third_party)
    kernel = Kernel(DataDir(root / "data"), entry_points=entry_point_source(site), env={})
    kernel.start()
    return kernel


def make_settings(data_dir: DataDir, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
    """Settings as the server would load them, from ``env`` only (never the real environment)."""
    flags.setdefault("host", "127.0.0.1")
    flags.setdefault("port", 0)
    return Settings.load(data_dir=data_dir, environ={"NODELOOM_TOKEN": TOKEN, **(env or {})}, **flags)


def auth_headers(token: str = TOKEN) -> dict[str, str]:
    return {"X-Nodeloom-Token": token}


def client_for(app: Any) -> Any:
    """A test client without a cookie jar (the jar cannot parse the malformed Host values we send)."""
    return app.test_client(use_cookies=False)


class LiveServer:
    """``run_server`` on a free 127.0.0.1 port in a background thread, stopped cleanly.

    Usable by any end-to-end test: ``server.url``, ``server.token``, ``server.data_dir``.
    """

    def __init__(self, kernel: Kernel, settings: Settings) -> None:
        self.kernel = kernel
        self.settings = settings
        self.info: ServerInfo | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="nodeloom-live-server", daemon=True)

    @property
    def url(self) -> str:
        assert self.info is not None
        return self.info.url

    @property
    def token(self) -> str:
        return self.settings.token

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.root

    def start(self, timeout: float = 15.0) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("server did not start")
        if self.error is not None:
            raise self.error
        return self

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("server did not stop")
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test thread
            self.error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def ready(info: ServerInfo) -> None:
            self.info = info
            self._ready.set()

        await run_server(self.kernel, self.settings, shutdown=self._stop, install_signals=False, on_ready=ready)
