"""The kernel host: one object that owns plugins, the registry and the watcher.

The CLI, the API and tests create a :class:`Kernel` for a data dir, call :meth:`Kernel.start`, and
then read :attr:`Kernel.snapshot` (or pin one through :attr:`Kernel.holder`). Everything lives on
the instance; there is no module-level state, so several kernels can coexist in one process.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import attrs

from . import build as _build
from .custom_nodes import DISABLED_SUFFIX, listed_files
from .hookspecs import STARTUP_ONLY_HOOKS
from .paths import DataDir
from .plugins import (
    REQUIRED_IDS,
    EntryPointSource,
    PluginEnv,
    PluginLoader,
    PluginRecord,
    default_entry_points,
    hookimpls_of,
    new_plugin_manager,
    normalize_pack_id,
    one_line,
    plugin_manifest,
    plugin_readme,
    read_disabled_state,
    resolve_result,
    write_disabled_state,
)
from .registry import BuildError, PackInfo, RegistryHolder, RegistrySnapshot

log = logging.getLogger(__name__)

CUSTOM_PLUGIN_ID = _build.CUSTOM_PACK


# -- errors the API maps to status codes ---------------------------------------------------


class PluginError(Exception):
    """Base of the enable/disable refusals; ``code`` is the API error code."""

    code = "plugin_error"

    def __init__(self, plugin_id: str, message: str) -> None:
        super().__init__(message)
        self.plugin_id = plugin_id
        self.message = message


class PluginNotFound(PluginError):
    code = "plugin_not_found"

    def __init__(self, plugin_id: str) -> None:
        super().__init__(plugin_id, f"Plugin '{plugin_id}' not found")


class PluginRequired(PluginError):
    code = "plugin_required"

    def __init__(self, plugin_id: str) -> None:
        super().__init__(plugin_id, f"Plugin '{plugin_id}' is required and cannot be disabled")


class PluginExcluded(PluginError):
    code = "plugin_excluded"

    def __init__(self, plugin_id: str) -> None:
        super().__init__(plugin_id, f"Plugin '{plugin_id}' is excluded by the server environment")


# -- reload report --------------------------------------------------------------------------


@attrs.frozen
class ReloadReport:
    """The response of a registry reload (api.md §2.2.3)."""

    builtin: int
    custom: int
    plugins: int
    presets: int
    total: int
    generation: int
    errors: tuple[BuildError, ...] = ()
    published: bool = True  # False when a watcher rebuild changed nothing and was dropped

    @classmethod
    def of(cls, snapshot: RegistrySnapshot, *, published: bool = True) -> ReloadReport:
        providers = [e.provider for e in snapshot.nodes.values()]
        builtin = providers.count("builtin")
        custom = providers.count("custom")
        plugins = sum(1 for p in providers if p.startswith("plugin:"))
        return cls(
            builtin=builtin,
            custom=custom,
            plugins=plugins,
            presets=len(snapshot.presets),
            total=builtin + custom + plugins,
            generation=snapshot.generation,
            errors=tuple(snapshot.errors),
            published=published,
        )

    def wire(self) -> dict[str, Any]:
        return {
            "builtin": self.builtin,
            "custom": self.custom,
            "plugins": self.plugins,
            "presets": self.presets,
            "total": self.total,
            "generation": self.generation,
            "errors": [e.wire() for e in self.errors],
        }


# -- the kernel -----------------------------------------------------------------------------


class Kernel:
    """Plugins, registry snapshots, startup registrations and hot reload for one data dir."""

    def __init__(
        self,
        data_dir: DataDir | str | os.PathLike[str],
        *,
        entry_points: EntryPointSource | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir if isinstance(data_dir, DataDir) else DataDir(data_dir)
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.plugin_env = PluginEnv.from_env(self.env)
        self.plugin_manager = new_plugin_manager()
        self.loader = PluginLoader(
            self.plugin_manager,
            entry_points=entry_points or default_entry_points,
            env=self.plugin_env,
            state_path=self.state_path,
        )
        self.holder = RegistryHolder()
        # Registry swaps are serialised (api.md §1.11); reentrant so set_enabled can reload.
        self._lock = threading.RLock()
        self._started = False
        self._startup = _build.StartupCollection()
        # Shared, updated in place: executors created earlier see later reloads' extensions.
        self.run_extensions: list[Any] = []
        self.model_sources: dict[str, Any] = {}
        self.storage: dict[str, Any] = {}
        self.routes: list[tuple[str, Any]] = []
        self._plugin_executors: dict[str, Any] = {}
        self._executors: dict[str, Any] | None = None
        self._run_env: Any = None
        self._lifecycle: dict[str, list[tuple[str, Any]]] = {}
        self._watcher: Any = None

    # -- basic views ------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.data_dir.area("state") / "plugins.json"

    @property
    def snapshot(self) -> RegistrySnapshot:
        return self.holder.current

    @property
    def generation(self) -> int:
        return self.holder.generation

    @property
    def started(self) -> bool:
        return self._started

    @property
    def dev_mode(self) -> bool:
        return self.env.get("NODELOOM_DEV", "") == "1"

    def custom_enabled(self) -> bool:
        return not self.plugin_env.excludes(CUSTOM_PLUGIN_ID, first_party=True) and (
            CUSTOM_PLUGIN_ID not in read_disabled_state(self.state_path)
        )

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> ReloadReport:
        """Load plugins, collect startup registrations and publish generation 1. Idempotent."""
        with self._lock:
            if self._started:
                return ReloadReport.of(self.snapshot, published=False)
            self.data_dir.ensure()
            self.loader.scan()
            collection = _build.collect_startup(self.plugin_manager, self.loader.active())
            for pid, message in collection.failed.items():
                self.loader.quarantine(pid, message)
            snapshot = _build.build_snapshot(
                generation=1,
                data_dir=self.data_dir,
                loader=self.loader,
                custom_enabled=self.custom_enabled(),
            )
            # A plugin whose registration hooks failed is quarantined: its startup work is dropped.
            failed = {p.id for p in snapshot.packs.values() if p.error is not None}
            self._startup = collection
            started = [pid for pid in collection.by_plugin if pid not in failed]
            # Captured now: shutdown must reach plugins that were disabled or re-imported since.
            pm = self.plugin_manager
            self._lifecycle = {
                hook: [(pid, impl) for pid in started for impl in hookimpls_of(pm, hook, pid)]
                for hook in ("startup", "shutdown")
            }
            self._apply_startup(collection.combined(exclude=failed))
            self.holder.publish(snapshot)
            self._started = True
            return ReloadReport.of(snapshot)

    def reload(self, *, sources: Collection[str] | None = None, explicit: bool = True) -> ReloadReport:
        """Rebuild the registry from ``sources`` (groups of :data:`nodeloom.kernel.build.GROUPS`;
        default all) and publish it.

        An explicit reload always publishes generation + 1. A watcher reload (``explicit=False``)
        publishes only when the result differs from the current snapshot.
        """
        with self._lock:
            if not self._started:
                self.start()
            groups = _build.GROUPS if sources is None else frozenset(sources)
            if "plugins" in groups:
                self.loader.scan()
                self._refresh_reloadable()
            current = self.snapshot
            snapshot = _build.build_snapshot(
                generation=self.holder.next_generation(),
                data_dir=self.data_dir,
                loader=self.loader,
                previous=current,
                groups=groups,
                custom_enabled=self.custom_enabled(),
                force=explicit,
            )
            if not explicit and _build.snapshot_signature(snapshot) == _build.snapshot_signature(current):
                self._discard(snapshot, current)
                return ReloadReport.of(current, published=False)
            self.holder.publish(snapshot)
            return ReloadReport.of(snapshot)

    def _discard(self, snapshot: RegistrySnapshot, current: RegistrySnapshot) -> None:
        """Drop the modules a dropped (unpublished) build loaded; nothing else references them."""
        for name in snapshot.custom_modules - current.custom_modules:
            sys.modules.pop(name, None)

    def _apply_startup(self, regs: _build.StartupRegistrations) -> None:
        self.run_extensions[:] = regs.run_extensions
        self.model_sources.clear()
        self.model_sources.update(regs.model_sources)
        self.storage.clear()
        self.storage.update(regs.storage)
        self.routes[:] = regs.routes
        self._plugin_executors = dict(regs.executors)
        self._executors = None

    def _refresh_reloadable(self) -> None:
        """Run extensions and model sources are not startup-only: collect them again."""
        collection = _build.collect_startup(
            self.plugin_manager, self.loader.active(), hooks=_build.RELOADABLE_HOOKS
        )
        for pid, message in collection.failed.items():
            self.loader.quarantine(pid, message)
        regs = collection.combined()
        self.run_extensions[:] = regs.run_extensions
        self.model_sources.clear()
        self.model_sources.update(regs.model_sources)

    # -- executors ----------------------------------------------------------------------------

    @property
    def executors(self) -> dict[str, Any]:
        """Executors by name: what plugins registered, plus the engine's ``local`` one.

        Plugin executors that offer ``bind(kernel)`` are bound once, here (see
        :mod:`nodeloom.kernel.executors`); one whose ``bind`` fails is left out and logged.
        """
        with self._lock:
            if self._executors is None:
                executors: dict[str, Any] = {}
                for name, executor in self._plugin_executors.items():
                    bind = getattr(executor, "bind", None)
                    if callable(bind):
                        try:
                            bind(self)
                        except Exception:  # noqa: BLE001 - one executor must not cost the others
                            log.exception("executor %s could not be bound to the kernel", name)
                            continue
                    executors[name] = executor
                local = self._make_local_executor()
                if local is not None:
                    executors["local"] = local
                self._executors = executors
            return self._executors

    @property
    def run_environment(self) -> Any:
        """The engine's process-level services shared by every run of this kernel.

        Created on first use (the engine is imported late: registry-only users never load it).
        Its ``extensions`` list is :attr:`run_extensions` itself, so reloads reach it.
        """
        with self._lock:
            if self._run_env is None:
                from .cache import OutputCache
                from .engine import RunEnvironment
                from .paths import NodePaths

                self._run_env = RunEnvironment(
                    cache=OutputCache(),
                    extensions=self.run_extensions,
                    paths=NodePaths(self.data_dir),
                    debug=self.env.get("NODELOOM_DEBUG", "") == "1",
                )
            return self._run_env

    def _make_local_executor(self) -> Any:
        try:
            from .engine import LocalExecutor
        except ImportError as exc:  # the engine module is optional for registry-only use
            log.debug("no local executor: %s", exc)
            return None
        return LocalExecutor(self.run_environment)

    # -- plugins ------------------------------------------------------------------------------

    def plugins(self) -> list[PackInfo]:
        """Every plugin, disabled and quarantined ones included, plus ``custom``; sorted by id."""
        return sorted(self.snapshot.packs.values(), key=lambda p: p.id)

    def plugin(self, plugin_id: str) -> PackInfo | None:
        return self.snapshot.packs.get(plugin_id)

    def plugin_record(self, plugin_id: str) -> PluginRecord | None:
        return self.loader.records.get(plugin_id)

    def plugin_details(self, plugin_id: str) -> dict[str, Any]:
        """``manifest`` and ``readme`` for ``GET /api/plugins/{id}`` (api.md §2.7.3)."""
        info = self.plugin(plugin_id)
        if info is None:
            raise PluginNotFound(plugin_id)
        record = self.plugin_record(plugin_id)
        if record is None:  # the custom-nodes folder
            manifest = {
                "distribution": None,
                "version": None,
                "summary": "",
                "entry_point": None,
                "module": None,
                "requires_python": None,
                "requires": [],
                "homepage": None,
                "license": None,
                "authors": [],
            }
            return {"manifest": manifest, "readme": ""}
        return {"manifest": plugin_manifest(record), "readme": plugin_readme(record)}

    def restart_required(self, plugin_id: str) -> bool:
        """Whether the plugin implements hooks that only take effect at startup."""
        info = self.plugin(plugin_id)
        return info is not None and bool(set(info.hooks) & STARTUP_ONLY_HOOKS)

    def plugin_route_enabled(self, plugin_id: str) -> bool:
        """Whether routes a plugin registered at startup should still answer (else ``plugin_disabled``)."""
        info = self.plugin(plugin_id)
        return info is not None and info.enabled

    def set_enabled(self, plugin_id: str, enabled: bool) -> tuple[bool, ReloadReport]:
        """Persist a plugin's enable state and rebuild when it changed.

        Returns ``(changed, report)``; an unchanged state returns the current generation without a
        rebuild. Raises :class:`PluginNotFound`, :class:`PluginRequired` or :class:`PluginExcluded`.
        """
        with self._lock:
            if not self._started:
                self.start()
            pid = plugin_id
            if pid not in self.snapshot.packs and normalize_pack_id(pid) in self.snapshot.packs:
                pid = normalize_pack_id(pid)
            if pid not in self.snapshot.packs:
                raise PluginNotFound(plugin_id)
            if not enabled and pid in REQUIRED_IDS:
                raise PluginRequired(pid)
            record = self.plugin_record(pid)
            if pid == CUSTOM_PLUGIN_ID and record is None:
                excluded = self.plugin_env.excludes(pid, first_party=True)
                current = self.custom_enabled()
            else:
                assert record is not None
                excluded = record.excluded
                current = record.enabled
            if enabled and excluded:
                raise PluginExcluded(pid)
            if enabled == current:
                return False, ReloadReport.of(self.snapshot, published=False)
            disabled = read_disabled_state(self.state_path)
            if enabled:
                disabled.discard(pid)
            else:
                disabled.add(pid)
            write_disabled_state(self.state_path, disabled)
            return True, self.reload(explicit=True)

    # -- custom nodes -------------------------------------------------------------------------

    def custom_node_files(self) -> list[dict[str, Any]]:
        """Items of ``GET /api/custom-nodes`` (api.md §2.6.1) for the current registry."""
        snapshot = self.snapshot
        errors = _build.custom_file_errors(snapshot)
        by_file: dict[str, list[str]] = {}
        for key, entry in snapshot.nodes.items():
            if entry.provider == "custom":
                by_file.setdefault(entry.pack_id.partition(":")[2], []).append(key)
        items = []
        for path in listed_files(self.data_dir.area("custom_nodes")):
            enabled = not path.name.endswith(DISABLED_SUFFIX)
            items.append(
                {
                    "filename": path.name,
                    "enabled": enabled,
                    "nodes": sorted(by_file.get(path.name, [])) if enabled else [],
                    "error": errors.get(path.name) if enabled else None,
                }
            )
        return items

    # -- startup / shutdown hooks -------------------------------------------------------------

    def _call_lifecycle(self, hook: str, app: Any) -> list[BuildError]:
        problems: list[BuildError] = []
        for pid, impl in self._lifecycle.get(hook, []):
            try:
                resolve_result(impl.function(*[{"app": app}[a] for a in impl.argnames]))
            except Exception as exc:  # noqa: BLE001 - one plugin's failure must not stop the rest
                problems.append(BuildError("plugin", pid, f"{hook} failed: {one_line(exc)}"))
                log.exception("plugin %s: %s hook failed", pid, hook)
        return problems

    async def _acall_lifecycle(self, hook: str, app: Any) -> list[BuildError]:
        import inspect

        problems: list[BuildError] = []
        for pid, impl in self._lifecycle.get(hook, []):
            try:
                value = impl.function(*[{"app": app}[a] for a in impl.argnames])
                while inspect.isawaitable(value):
                    value = await value
                resolve_result(value)
            except Exception as exc:  # noqa: BLE001
                problems.append(BuildError("plugin", pid, f"{hook} failed: {one_line(exc)}"))
                log.exception("plugin %s: %s hook failed", pid, hook)
        return problems

    def call_startup(self, app: Any) -> list[BuildError]:
        """Call every started plugin's ``startup(app)``; failures are returned, not raised."""
        return self._call_lifecycle("startup", app)

    def call_shutdown(self, app: Any) -> list[BuildError]:
        """Call every started plugin's ``shutdown(app)`` (also for plugins disabled since)."""
        return self._call_lifecycle("shutdown", app)

    async def acall_startup(self, app: Any) -> list[BuildError]:
        """:meth:`call_startup` for async hosts: coroutine hooks run on the caller's loop."""
        return await self._acall_lifecycle("startup", app)

    async def acall_shutdown(self, app: Any) -> list[BuildError]:
        return await self._acall_lifecycle("shutdown", app)

    # -- hot reload ---------------------------------------------------------------------------

    def watch(self, **options: Any) -> Any:
        """Start the file watcher (an asyncio task inside a running loop, else a thread)."""
        from .watch import Watcher

        if self._watcher is not None and self._watcher.running:
            return self._watcher
        self._watcher = Watcher(self, **options)
        self._watcher.start()
        return self._watcher

    @property
    def watcher(self) -> Any:
        return self._watcher

    def stop_watching(self, timeout: float | None = 5.0) -> None:
        """Stop the watcher; waits for a thread watcher, signals a task watcher."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop(timeout=timeout)

    async def astop_watching(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await watcher.aclose()

    def close(self) -> None:
        """Stop watching and let executors that hold resources (``close()``) release them."""
        self.stop_watching()
        with self._lock:
            executors, self._executors = self._executors, None
        for name, executor in (executors or {}).items():
            close = getattr(executor, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001
                    log.exception("executor %s did not close cleanly", name)
