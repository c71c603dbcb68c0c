"""The run workers the server keeps warm: a fixed number of slots, each holding one actor.

A worker is created on first use and kept: building its kernel takes seconds, a run on a warm
worker only milliseconds. Runs of the same ``graph_id`` (an editor tab) always go to the same
slot so that persisted layer weights carry over from run to run; other runs go to the least busy
slot. A dead worker is replaced on the next run; a *tainted* one (node bodies kept running after
a stop) takes no new run and is killed once its last run has ended.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Mapping
from typing import Any

import ray

from .config import RayConfig, Resources, WorkerConfig
from .worker import RunWorker

log = logging.getLogger("nodeloom.ray")

#: Concurrent method calls per worker: runs, their polls and cancels.
MAX_CONCURRENCY = 1000


class Slot:
    """One worker actor and the runs it hosts (touched on the server's loop)."""

    def __init__(self, index: int, handle: Any) -> None:
        self.index = index
        self.handle = handle
        self.runs: set[str] = set()
        self.tainted = False
        self.dead = False

    def __repr__(self) -> str:
        return f"Slot({self.index}, runs={len(self.runs)}, tainted={self.tainted}, dead={self.dead})"


class ActorPool:
    def __init__(self, config: RayConfig, worker: WorkerConfig, node_resources: Mapping[str, Resources]) -> None:
        self._slots: list[Slot | None] = [None] * config.workers
        self._lock = threading.Lock()
        self._worker = worker
        self._node_resources = dict(node_resources)
        self._actor = ray.remote(RunWorker).options(
            num_cpus=config.worker_cpus,
            num_gpus=config.worker_gpus,
            max_restarts=0,
            max_concurrency=MAX_CONCURRENCY,
        )

    def acquire(self, run_id: str, graph_id: str) -> Slot:
        with self._lock:
            slots = self._slots
            if graph_id:
                index = zlib.crc32(graph_id.encode("utf-8")) % len(slots)
            else:
                index = min(range(len(slots)), key=lambda i: (len(slots[i].runs) if slots[i] else 0, i))
            slot = slots[index]
            if slot is None or slot.dead or slot.tainted:
                slot = slots[index] = Slot(index, self._actor.remote(self._worker, self._node_resources))
            slot.runs.add(run_id)
            return slot

    def release(self, slot: Slot, run_id: str) -> None:
        with self._lock:
            slot.runs.discard(run_id)
            retire = slot.tainted and not slot.runs and not slot.dead
        if retire:
            self._kill(slot)

    def taint(self, slot: Slot) -> None:
        """Send no more runs to ``slot``; it is killed when its last run ends."""
        with self._lock:
            slot.tainted = True
            retire = not slot.runs and not slot.dead
        if retire:
            self._kill(slot)

    def discard(self, slot: Slot) -> None:
        """The worker died (or must): forget it and make sure it is gone."""
        self._kill(slot)

    def workers(self) -> dict[int, Any]:
        """Slot index -> actor handle of every live worker."""
        with self._lock:
            return {s.index: s.handle for s in self._slots if s is not None and not s.dead}

    def close(self) -> None:
        with self._lock:
            slots = [s for s in self._slots if s is not None]
            self._slots = [None] * len(self._slots)
        for slot in slots:
            self._kill(slot)

    def _kill(self, slot: Slot) -> None:
        with self._lock:
            if slot.dead:
                return
            slot.dead = True
            if self._slots[slot.index] is slot:
                self._slots[slot.index] = None
        try:
            ray.kill(slot.handle, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone, or the cluster is
            log.debug("killing Ray worker %s failed", slot, exc_info=True)
