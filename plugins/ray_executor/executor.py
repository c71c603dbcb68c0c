"""The ``ray`` executor as the server holds it: submit runs to a Ray cluster, follow them.

This module imports Ray only when a run is submitted, so the plugin loads (and reports itself
unavailable with the extra to install) where Ray is missing. Runs are placed whole on a worker
(:mod:`.worker`); nodes with resource hints are placed again, as tasks (:mod:`.placement`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any

from nodeloom.kernel.engine import RunEnvironment, RunIdInUse, RunSpec
from nodeloom.kernel.graph import GraphSchemaError, graph_from_dict, graph_to_dict, strip_notes

from .config import EXTRA_HINT, RayConfig, WorkerConfig, load_config, shipped_env
from .lock import pack_lock

log = logging.getLogger("nodeloom.ray")

NAMESPACE = "nodeloom"


def ray_missing() -> str | None:
    if importlib.util.find_spec("ray") is None:
        return f"Ray is not installed ({EXTRA_HINT})"
    return None


class RayExecutor:
    """Runs graphs on Ray workers; registered as ``ray`` by this plugin."""

    name = "ray"

    def __init__(self) -> None:
        self._kernel: Any = None
        self._options: dict[str, Any] = {}
        self._runs: dict[str, Any] = {}
        self._pool: Any = None
        self._connect_lock = threading.Lock()
        self._started_ray = False
        self._fallback_env: RunEnvironment | None = None

    # -- the optional executor members (nodeloom.kernel.executors) ---------------------------

    @property
    def unavailable_reason(self) -> str | None:
        return ray_missing()

    def bind(self, kernel: Any) -> None:
        self._kernel = kernel

    def configure(self, options: Mapping[str, Any]) -> None:
        """Merge settings (see :mod:`.config`); raises ValueError, keeping the old ones, when bad."""
        merged = {**self._options, **{k: v for k, v in options.items() if v is not None}}
        load_config(merged, self._env())
        if self._pool is not None and merged != self._options:
            raise ValueError("the ray executor is already running; configure it before the first run")
        self._options = merged

    @property
    def config(self) -> RayConfig:
        return load_config(self._options, self._env())

    @property
    def env(self) -> RunEnvironment:
        """The server's shared run environment: recorded outputs land in its store."""
        if self._kernel is not None:
            return self._kernel.run_environment
        if self._fallback_env is None:
            self._fallback_env = RunEnvironment()
        return self._fallback_env

    # -- runs ------------------------------------------------------------------------------------

    async def submit(self, spec: RunSpec) -> Any:
        """Start a run on a worker; raises RunIdInUse for an active id, RuntimeError without Ray."""
        reason = ray_missing()
        if reason is not None:
            raise RuntimeError(f"the ray executor is unavailable: {reason}")
        from .remote_run import RemoteRun

        run_id = spec.options.run_id
        current = self._runs.get(run_id)
        if current is not None and not current.done:
            raise RunIdInUse(f"Run '{run_id}' is already running")
        # A reused run_id starts from an empty output store entry, as with the local executor.
        self.env.outputs.clear(run_id)
        run = RemoteRun(spec, self, lambda: self._payload(spec))
        self._runs[run_id] = run
        run.start()
        run._terminal.add_done_callback(lambda _f: self._forget(run))
        return run

    def _forget(self, run: Any) -> None:
        if self._runs.get(run.run_id) is run:
            del self._runs[run.run_id]

    def events(self, run: Any, after_seq: int = 0) -> AsyncIterator[dict[str, Any]]:
        return run.events(after_seq)

    async def cancel(self, run: Any, reason: str = "stop") -> dict[str, Any] | None:
        target = self.get(run) if isinstance(run, str) else run
        if target is None:
            return None
        return await target.cancel(reason)

    def get(self, run_id: str) -> Any:
        run = self._runs.get(run_id)
        return run if run is not None and not run.done else None

    def active_runs(self) -> list[Any]:
        return [run for run in self._runs.values() if not run.done]

    async def shutdown(self, reason: str = "shutdown") -> None:
        runs = self.active_runs()
        for run in runs:
            run.request_cancel(reason)
        if runs:
            await asyncio.gather(*(run.wait() for run in runs))

    def close(self) -> None:
        """Kill the workers, and leave Ray if this executor joined it."""
        with self._connect_lock:
            pool, self._pool = self._pool, None
            started, self._started_ray = self._started_ray, False
        if pool is not None:
            pool.close()
        if started:
            import ray

            ray.shutdown()

    @property
    def pool(self) -> Any:
        """The worker pool (None before the first run)."""
        return self._pool

    # -- used by RemoteRun -------------------------------------------------------------------------

    async def acquire(self, run: Any) -> Any:
        pool = self._pool or await asyncio.to_thread(self._connect)
        return pool.acquire(run.run_id, run.options.graph_id)

    def pool_release(self, slot: Any, run_id: str) -> None:
        if self._pool is not None:
            self._pool.release(slot, run_id)

    def pool_taint(self, slot: Any) -> None:
        if self._pool is not None:
            self._pool.taint(slot)

    def pool_discard(self, slot: Any) -> None:
        if self._pool is not None:
            self._pool.discard(slot)

    def _connect(self) -> Any:
        """Join the cluster (once) and create the worker pool."""
        import ray

        from .pool import ActorPool

        with self._connect_lock:
            if self._pool is not None:
                return self._pool
            config = self.config
            if not ray.is_initialized():
                log.info("joining Ray at %s", config.address or "a local instance")
                ray.init(address=config.address, namespace=NAMESPACE)
                self._started_ray = True
            self._pool = ActorPool(config, self._worker_config(config), config.node_resources)
            return self._pool

    def _worker_config(self, config: RayConfig) -> WorkerConfig:
        kernel = self._kernel
        if config.data_dir is not None:
            data_dir = config.data_dir
        elif kernel is not None:
            data_dir = str(kernel.data_dir.root)
        else:
            raise RuntimeError("the ray executor needs a data dir: bind it to a kernel or set data_dir")
        env = shipped_env(kernel.env) if kernel is not None else {}
        return WorkerConfig(data_dir=data_dir, env=env, kernel_factory=config.kernel_factory)

    def _env(self) -> Mapping[str, str]:
        return self._kernel.env if self._kernel is not None else {}

    @staticmethod
    def _payload(spec: RunSpec) -> dict[str, Any]:
        """The run spec as it travels: normalised graph, options, generation and pack lock."""
        graph = spec.graph
        if not isinstance(graph, Mapping):
            raise TypeError("the ray executor runs graph mappings, not prepared graphs")
        try:
            graph = graph_to_dict(strip_notes(graph_from_dict(graph)))
        except GraphSchemaError:
            graph = dict(graph)  # the worker reports the schema errors like any run would
        return {
            "graph": graph,
            "options": spec.options.as_dict(),
            "generation": spec.generation,
            "lock": pack_lock(graph, spec.snapshot),
        }
