"""Hot reload: follow the custom-node and preset folders and rebuild what changed (engine.md §8.5).

``watchfiles.awatch`` groups changes (a batch is yielded after ``step_ms`` without new changes, at
most ``debounce_ms`` after the first); each batch becomes one ``kernel.reload(sources=...,
explicit=False)`` limited to the affected source groups. A broken file leaves the last good
registry in place (the build carries it over) and the error shows up in the snapshot's errors.

The watcher runs as an asyncio task inside a running loop (the server) or on its own thread with
a private loop (the CLI). In dev mode (``NODELOOM_DEV=1``) it also follows the source folders of
plugins installed from a working tree and the ``*.dist-info`` entries of site-packages, so editing
a pack or pip-installing one rebuilds the plugins.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import watchfiles

from .custom_nodes import DISABLED_SUFFIX, is_ignored_name
from .plugins import _site_dirs, is_editable_source, module_files

log = logging.getLogger(__name__)

DEBOUNCE_MS = 300
STEP_MS = 50
POLL_DELAY_MS = 100


@attrs.frozen
class WatchRoot:
    """A folder the watcher follows and the source group its changes rebuild."""

    path: Path
    group: str
    recursive: bool = True


def _relevant(root: WatchRoot, path: Path) -> bool:
    name = path.name
    if root.group == "custom":
        return not is_ignored_name(name) and (name.endswith(".py") or name.endswith(DISABLED_SUFFIX))
    if root.group == "presets":
        return name.endswith(".json") and not name.startswith(".")
    if not root.recursive:  # site-packages: installs and uninstalls show up as metadata folders
        return name.endswith((".dist-info", ".egg-link", ".pth"))
    return name.endswith(".py") and "__pycache__" not in path.parts


def groups_for(roots: Iterable[WatchRoot], changes: Iterable[tuple[Any, str]]) -> set[str]:
    """The source groups a batch of ``(change, path)`` pairs touches."""
    roots = list(roots)
    out: set[str] = set()
    for _change, raw in changes:
        path = Path(raw)
        for root in roots:
            if (path == root.path or root.path in path.parents) and _relevant(root, path):
                out.add(root.group)
                break
    return out


class Watcher:
    """Watches a kernel's data dir (and, in dev mode, plugin sources) and reloads on change."""

    def __init__(
        self,
        kernel: Any,
        *,
        debounce_ms: int = DEBOUNCE_MS,
        step_ms: int = STEP_MS,
        polling: bool | None = None,
        dev: bool | None = None,
        on_reload: Callable[[Any], None] | None = None,
    ) -> None:
        self.kernel = kernel
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        env = getattr(kernel, "env", {})
        self.polling = env.get("NODELOOM_WATCH_POLLING", "") == "1" if polling is None else polling
        self.dev = env.get("NODELOOM_DEV", "") == "1" if dev is None else dev
        self.on_reload = on_reload
        #: Set once the file system watches are in place (tests wait on it before writing files).
        self.ready = threading.Event()
        self.last_report: Any = None
        self.reloads = 0  # published reloads
        self.failures: list[str] = []  # reloads that raised (a bug, not a broken file)
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None
        self._reload_lock: asyncio.Lock | None = None
        self._want_stop = threading.Event()

    # -- what to watch ----------------------------------------------------------------------

    def roots(self) -> list[WatchRoot]:
        data_dir = self.kernel.data_dir
        roots = [
            WatchRoot(data_dir.area("custom_nodes").resolve(), "custom"),
            WatchRoot(data_dir.area("presets").resolve(), "presets"),
        ]
        if self.dev:
            roots.extend(self._dev_roots())
        return roots

    def _dev_roots(self) -> list[WatchRoot]:
        roots: list[WatchRoot] = []
        seen: set[Path] = set()
        for record in self.kernel.loader.records.values():
            if not record.root or not record.active:
                continue
            try:
                folder, _files = module_files(record.root)
            except Exception:  # noqa: BLE001 - an unlocatable pack has nothing to watch
                continue
            folder = folder.resolve()
            if folder not in seen and folder.is_dir() and is_editable_source(folder):
                seen.add(folder)
                roots.append(WatchRoot(folder, "plugins"))
        for site_dir in _site_dirs():
            if site_dir.is_dir() and site_dir not in seen:
                seen.add(site_dir)
                roots.append(WatchRoot(site_dir, "plugins", recursive=False))
        return roots

    # -- running ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        if self._task is not None:
            return not self._task.done()
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Watcher:
        """Start inside the running event loop, or on a background thread when there is none."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self.start_thread()
        self._loop = loop
        self._task = loop.create_task(self._main(), name="nodeloom-watcher")
        return self

    def start_thread(self) -> Watcher:
        def target() -> None:
            asyncio.run(self._main())

        self._thread = threading.Thread(target=target, name="nodeloom-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the watcher to stop; a thread watcher is joined (up to ``timeout`` seconds)."""
        self._want_stop.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # loop already closed in between
                pass
        elif self._task is not None:
            self._task.cancel()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    async def aclose(self) -> None:
        """Stop and wait for a task watcher (a thread watcher is joined without blocking the loop)."""
        if self._thread is not None:
            await asyncio.to_thread(self.stop)
            return
        self._want_stop.set()
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self.ready.wait(timeout)

    async def _main(self) -> None:
        # _stop before _loop, then the flag: a stop() racing with start-up is never lost.
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._reload_lock = asyncio.Lock()
        if self._want_stop.is_set():
            return
        roots = self.roots()
        for root in roots:
            if root.group in ("custom", "presets"):
                root.path.mkdir(parents=True, exist_ok=True)
        recursive = [r for r in roots if r.recursive]
        flat = [r for r in roots if not r.recursive]
        batches = [self._follow(recursive, True)]
        if flat:
            batches.append(self._follow(flat, False))
        tasks = [asyncio.ensure_future(b) for b in batches]
        try:
            # The watches exist once each awatch generator has run its first step (creating the
            # notifier is synchronous); then catch up on anything written before they existed.
            for _ in range(3):
                await asyncio.sleep(0)
            self.ready.set()
            await self._reload({"custom", "presets"})
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.ready.clear()

    async def _follow(self, roots: list[WatchRoot], recursive: bool) -> None:
        assert self._stop is not None
        paths = [r.path for r in roots]
        async for changes in watchfiles.awatch(
            *paths,
            watch_filter=None,
            debounce=self.debounce_ms,
            step=self.step_ms,
            stop_event=self._stop,
            force_polling=self.polling,
            poll_delay_ms=POLL_DELAY_MS,
            recursive=recursive,
            ignore_permission_denied=True,
        ):
            groups = groups_for(roots, changes)
            if groups:
                await self._reload(groups)

    async def _reload(self, groups: set[str]) -> None:
        assert self._reload_lock is not None
        async with self._reload_lock:
            try:
                report = await asyncio.to_thread(self.kernel.reload, sources=groups, explicit=False)
            except Exception as exc:  # noqa: BLE001 - keep watching; the next change may fix it
                log.exception("watcher reload failed")
                self.failures.append(f"{type(exc).__name__}: {exc}")
                return
        self.last_report = report
        if getattr(report, "published", False):
            self.reloads += 1
            for err in getattr(report, "errors", ()):
                log.info("reload error in %s: %s", err.source, err.message)
        if self.on_reload is not None:
            try:
                self.on_reload(report)
            except Exception:  # noqa: BLE001
                log.exception("watcher on_reload callback failed")
