"""The run worker: a Ray actor that runs whole graphs with nodeloom's own local engine.

It builds its kernel from the entry points installed where it runs (see :mod:`.kernels`),
refuses a run whose pack lock it cannot reproduce, and otherwise runs it exactly as the server's
``local`` executor would: same preparation, scheduling, seeds, cache rules and events. The server
polls each run's :class:`~.stream.RunStream` and re-emits what it gets.

The actor is asynchronous: runs are scheduled on its event loop and their bodies run in the
engine's worker threads, so one worker serves several runs at a time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

import attrs

from nodeloom.kernel.cache import OutputCache
from nodeloom.kernel.engine import LocalExecutor, RunEnvironment, RunSpec
from nodeloom.kernel.options import parse_run_options
from nodeloom.kernel.state import ModuleStore

from .config import Resources, WorkerConfig
from .kernels import reproduce, worker_kernel
from .lock import lock_problems
from .placement import RemoteNodeRunner
from .stream import RunStream, ShipOnCompletion, StreamingOutputStore

REFUSAL = "The Ray worker cannot reproduce this run's packs: "


class RunWorker:
    """One long-lived worker process: a kernel, a cache, a module store and the runs it hosts."""

    def __init__(self, config: WorkerConfig, node_resources: Mapping[str, Resources]) -> None:
        self.config = config
        self.kernel = worker_kernel(config)
        self.streams: dict[str, RunStream] = {}
        self._matched: set[tuple[Any, ...]] = set()
        shared = self.kernel.run_environment
        self.shipper = ShipOnCompletion(self.streams)
        self.env = RunEnvironment(
            cache=OutputCache(),
            outputs=StreamingOutputStore(self.streams),
            modules=ModuleStore(),
            extensions=[*shared.extensions, self.shipper],
            paths=shared.paths,
            debug=shared.debug,
            node_runner=RemoteNodeRunner(config, node_resources),
        )
        self.executor = LocalExecutor(self.env)

    async def pid(self) -> int:
        return os.getpid()

    async def start(self, payload: Mapping[str, Any]) -> str | None:
        """Start a run; returns why it was refused, or None when it runs."""
        lock = payload["lock"]
        if not self._reproduces(lock):
            problems = await asyncio.to_thread(reproduce, self.kernel, lock)
            if problems:
                return REFUSAL + "; ".join(problems)
        wanted = [*self.kernel.run_extensions, self.shipper]
        if self.env.extensions != wanted:  # a reload replaced the kernel's run extensions
            self.env.extensions[:] = wanted
        options = attrs.evolve(parse_run_options(payload["options"]), executor=None)
        stream = RunStream(asyncio.get_running_loop(), self.env.extensions)
        self.streams[options.run_id] = stream
        pin = self.kernel.holder.pinned()
        snapshot = pin.__enter__()
        spec = RunSpec(payload["graph"], snapshot, options, release=lambda: pin.__exit__(None, None, None))
        try:
            run = await self.executor.submit(spec)
        except BaseException:
            pin.__exit__(None, None, None)
            self.streams.pop(options.run_id, None)
            raise
        stream.run = run
        run.subscribe(stream.on_event)
        return None

    async def poll(self, run_id: str, wait_s: float) -> list[tuple[Any, ...]]:
        """The run's next items (long poll); ``[("unknown",)]`` for a run this worker lacks."""
        stream = self.streams.get(run_id)
        if stream is None:
            return [("unknown",)]
        items = await stream.take(wait_s)
        if not items:
            return []
        # Values were packed when their nodes finished; this only looks them up.
        shipped = stream.ship(items)
        if stream.ended:
            self.streams.pop(run_id, None)
        return shipped

    def _reproduces(self, lock: Mapping[str, tuple[str, str]]) -> bool:
        """Whether the current snapshot already matched this lock (checked once per snapshot)."""
        snapshot = self.kernel.snapshot
        key = (snapshot.generation, tuple(sorted((k, tuple(v)) for k, v in lock.items())))
        if key in self._matched:
            return True
        if lock_problems(lock, snapshot):
            return False
        if len(self._matched) > 1024:
            self._matched.clear()
        self._matched.add(key)
        return True

    async def cancel(self, run_id: str, reason: str) -> None:
        stream = self.streams.get(run_id)
        if stream is not None and stream.run is not None:
            stream.run.request_cancel(reason)
