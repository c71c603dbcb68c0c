"""A run on a Ray worker, as the server follows it: the same handle a local run offers.

The handle numbers events with its own :class:`~nodeloom.kernel.events.EventSink`, so ``seq``
numbers, replay and ``attach`` work exactly as for local runs. One task per run polls the
worker and re-emits the worker's events in order; recorded outputs are written to the server's
run output store as they arrive, before the events that follow them.

The server keeps the last word on how a run ends, as the local engine does:

- after a cancellation request no node event is passed on, and the terminal event is
  ``execution_stopped`` with the request's reason even if the worker finished first;
- a worker that dies ends the run with ``execution_error`` naming the node(s) it was running;
- a worker that does not confirm a stop within ``cancel_grace_s`` plus a margin is killed and
  the run ends ``execution_stopped`` all the same.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import RayActorError

from nodeloom.kernel.engine import RunSpec
from nodeloom.kernel.events import (
    EXECUTION_ERROR,
    EXECUTION_START,
    EXECUTION_STOPPED,
    NODE_STATUS,
    OUTPUTS_KEY,
    TERMINAL_TYPES,
    EventSink,
)
from nodeloom.kernel.executors import SinkRunView

from .pool import Slot
from .shipping import Inline, is_packed

if TYPE_CHECKING:
    from .executor import RayExecutor

log = logging.getLogger("nodeloom.ray")

#: How long one poll may wait on the worker for the run's next items.
POLL_WAIT_S = 5.0
#: Extra time a stopping worker gets beyond the run's ``cancel_grace_s`` before it is killed.
STOP_MARGIN_S = 5.0
_ENDED = ("completed", "cached", "error", "skipped")


class WorkerLost(Exception):
    """The worker can no longer report on the run."""


class RemoteRun(SinkRunView):
    """One run executing on a Ray worker (created by :class:`~.executor.RayExecutor`)."""

    def __init__(self, spec: RunSpec, executor: RayExecutor, payload: Callable[[], dict[str, Any]]) -> None:
        self.spec = spec
        self.options = spec.options
        self.run_id = spec.options.run_id
        self.sink = EventSink(self.run_id)
        #: Results of top-level nodes as reported (preset members stay on the worker).
        self.results: dict[str, Mapping[str, Any]] = {}
        self._executor = executor
        self._payload = payload
        self._slot: Slot | None = None
        self._accepted = False
        self._ended = False
        self._cancel_reason: str | None = None
        self._running: dict[str, None] = {}  # client ids of nodes between running and their end
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task | None = None
        self._terminal: asyncio.Future | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._released = False
        # One value per ObjectRef, so a result recorded and reported is one object here too.
        self._values: dict[Any, Any] = {}

    # -- consumer API (as nodeloom.kernel.engine.Run) ------------------------------------------

    @property
    def bodies_in_flight(self) -> int:
        return 0  # bodies left running on a worker are the worker's, which is then retired

    def join_workers(self, timeout: float) -> None:
        """Nothing runs in this process's threads."""

    def request_cancel(self, reason: str = "stop") -> None:
        """Ask the worker to stop the run (any thread); the first reason wins."""
        if self._loop is None:
            return
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.request_cancel, reason)
            return
        if self.sink.closed or self._cancel_reason is not None:
            return
        self._cancel_reason = reason
        if self._accepted:
            self._tell_worker_to_stop()
        grace = self.options.cancel_grace_s + STOP_MARGIN_S
        self._timers.append(self._loop.call_later(grace, self._force_stop))

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self.sink.bind(loop)
        self._terminal = loop.create_future()
        if self.options.timeout_s is not None:  # also when the cluster never answers
            self._timers.append(loop.call_later(self.options.timeout_s, self.request_cancel, "timeout"))
        self._task = loop.create_task(self._main(), name=f"nodeloom-ray-run-{self.run_id}")

    async def _main(self) -> None:
        try:
            await self._drive()
        except RayActorError as exc:
            self._worker_died(exc)
        except WorkerLost as exc:
            self._worker_died(exc)
        except asyncio.CancelledError:
            pass  # force-stopped or the loop is going down: the terminal is written below
        except Exception as exc:  # the cluster is unreachable, a payload broke...
            log.exception("run %s failed in the ray executor", self.run_id)
            self._end_with_error(f"Ray executor error: {_one_line(exc)}", None)
        finally:
            if not self.sink.closed:
                self._emit_start_if_missing()
                self._emit(EXECUTION_STOPPED, {"reason": self._cancel_reason or "shutdown", "warnings": []})
            self.sink.flush()
            for timer in self._timers:
                timer.cancel()
            self._finish()

    async def _drive(self) -> None:
        slot = self._slot = await self._executor.acquire(self)
        if self._cancel_reason is not None:
            return  # stopped before the worker got it: the finally above reports it
        payload = await asyncio.to_thread(self._payload)
        refusal = await slot.handle.start.remote(payload)
        if refusal is not None:
            self._end_with_error(refusal, None, errors=[refusal])
            return
        self._accepted = True
        if self._cancel_reason is not None:
            self._tell_worker_to_stop()
        # Until the worker's last item, which follows the terminal event (maybe in a later poll).
        while not self._ended:
            items = await slot.handle.poll.remote(self.run_id, POLL_WAIT_S)
            if items:
                await self._apply(items)

    def _tell_worker_to_stop(self) -> None:
        if self._slot is not None:
            # Fire and forget: a dead worker shows up in the poll. Reading the outcome keeps Ray
            # from reporting a failed request as an unhandled error.
            ref = self._slot.handle.cancel.remote(self.run_id, self._cancel_reason or "stop")
            ref.future().add_done_callback(lambda f: f.exception())

    def _force_stop(self) -> None:
        if self.sink.closed:
            return
        log.warning("run %s: the Ray worker did not stop within the grace period; killing it", self.run_id)
        if self._slot is not None:
            self._executor.pool_discard(self._slot)
        if self._task is not None:
            self._task.cancel()

    def _finish(self) -> None:
        self._values.clear()
        if self._slot is not None:
            self._executor.pool_release(self._slot, self.run_id)
        if not self._released and self.spec.release is not None:
            self._released = True
            try:
                self.spec.release()
            except Exception:
                log.exception("run %s: release callback failed", self.run_id)
        if self._terminal is not None and not self._terminal.done():
            self._terminal.set_result(self.sink.terminal)

    # -- what the worker sent ------------------------------------------------------------------

    async def _apply(self, items: list[tuple[Any, ...]]) -> None:
        values = self._values
        missing = list(dict.fromkeys(r for item in items for r in _packed_in(item) if r not in values))
        refs = [r for r in missing if isinstance(r, ray.ObjectRef)]
        if refs:  # big values: fetched and unpickled off the loop
            values.update(zip(refs, await asyncio.to_thread(ray.get, refs)))
        for small in missing:
            if isinstance(small, Inline):
                values[small] = small.load()
        outputs = self._executor.env.outputs
        for item in items:
            kind = item[0]
            if kind == "event":
                self._relay(item[1], values)
            elif kind == "record":
                outputs.record(self.run_id, item[1], item[2], values[item[3]])
            elif kind == "record_result":
                outputs.record_result(self.run_id, item[1], values[item[2]])
            elif kind == "end":
                self._ended = True
                if item[1].get("tainted") and self._slot is not None:
                    self._executor.pool_taint(self._slot)
            elif kind == "unknown":
                raise WorkerLost("the Ray worker no longer knows this run")

    def _relay(self, event: dict[str, Any], values: Mapping[Any, Any]) -> None:
        type_ = event["type"]
        fields = {k: v for k, v in event.items() if k not in ("type", "run_id", "seq")}
        if type_ == EXECUTION_START:
            fields["generation"] = self.spec.generation  # the server's registry, not the worker's
        elif type_ == NODE_STATUS:
            if self._cancel_reason is not None:
                return  # no node event after a stop request (engine.md §4.9)
            self._track(fields)
            if OUTPUTS_KEY in fields:
                fields[OUTPUTS_KEY] = values[fields[OUTPUTS_KEY]]
                if fields.get("status") in ("completed", "cached") and "member" not in fields:
                    self.results[fields["node_id"]] = fields[OUTPUTS_KEY]
        elif type_ in TERMINAL_TYPES and self._cancel_reason is not None and type_ != EXECUTION_STOPPED:
            type_, fields = EXECUTION_STOPPED, {"reason": self._cancel_reason, "warnings": fields.get("warnings", [])}
        self._emit(type_, fields)

    def _track(self, fields: Mapping[str, Any]) -> None:
        node_id, status = fields.get("node_id"), fields.get("status")
        if status == "running":
            self._running[node_id] = None
        elif status in _ENDED and (status != "error" or "member" not in fields):
            self._running.pop(node_id, None)

    # -- endings ---------------------------------------------------------------------------------

    def _worker_died(self, exc: BaseException) -> None:
        if self._slot is not None:
            self._executor.pool_discard(self._slot)
        if self.sink.closed or self._cancel_reason is not None:
            return  # a stop wins; the finally of _main reports it
        cause = _one_line(exc)
        if not self._accepted:
            self._end_with_error(f"The Ray worker could not take the run: {cause}", None)
            return
        victims = list(self._running)
        where = f"while node {', '.join(victims)} was running" if victims else "between nodes"
        message = f"The Ray worker running this graph died {where}: {cause}"
        self._emit_start_if_missing()
        for node_id in victims:
            self._emit(
                NODE_STATUS,
                {"node_id": node_id, "status": "error", "error": message, "error_type": "WorkerDied",
                 "code": "node_error", "attempts": 1},
            )
        self._end_with_error(message, victims[0] if victims else None)

    def _end_with_error(self, message: str, node_id: str | None, errors: list[str] | None = None) -> None:
        if self.sink.closed or self._cancel_reason is not None:
            return  # a stop wins; the finally of _main reports it
        self._emit_start_if_missing()
        self._emit(EXECUTION_ERROR, {"error": message, "node_id": node_id, "errors": errors or [], "warnings": []})

    def _emit_start_if_missing(self) -> None:
        if self.sink.events:
            return
        self._emit(
            EXECUTION_START,
            {
                "generation": self.spec.generation,
                "device": self.options.device if self.options.device != "auto" else "cpu",
                "seed": self.options.seed,
                "graph_id": self.options.graph_id,
                "record_outputs": self.options.record_outputs,
                "warnings": [],
            },
        )

    def _emit(self, type_: str, fields: dict[str, Any]) -> None:
        self.sink.emit(type_, fields)


def _packed_in(item: tuple[Any, ...]) -> list[Any]:
    kind = item[0]
    if kind == "event":
        packed = item[1].get(OUTPUTS_KEY)
        return [packed] if is_packed(packed) else []
    if kind == "record":
        return [item[3]]
    if kind == "record_result":
        return [item[2]]
    return []


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if not text:
        return type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."
