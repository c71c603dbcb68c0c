"""The run manager of the execution WebSocket (api.md §3.2, §3.3, §3.6; one per app).

It owns what outlives a single socket: the runs started through ``/ws/execution``, their replay
buffers, subscribers and owners, the disconnect grace timers and the retention of finished runs.
Each run goes to the executor its ``executor`` option names (default: the server's default
executor, ``local`` unless configured otherwise), looked up by name in ``Kernel.executors``; every
executor hands back a handle with the same event stream (see :mod:`nodeloom.kernel.executors`).
Local runs share one :class:`OutputCache`, one output store and one module store with every
other run of the server; other executors write recorded outputs to the same store. Each run pins
the registry snapshot it started with and releases it when it ends.

Engine events reach subscribers through one pump task per run: events are converted to frames in
``seq`` order (tensor summaries in a worker thread), appended to the run's buffer and queued on
every subscriber's :class:`~.outbox.Outbox`. Everything here runs on the server's event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nodeloom.kernel.cache import OutputCache
from nodeloom.kernel.engine import LocalExecutor, RunEnvironment, RunIdInUse, RunSpec
from nodeloom.kernel.events import STATE_OF_TERMINAL, wire_event
from nodeloom.kernel.executors import DEFAULT_EXECUTOR, RunHandle, executor_problem

from . import wire
from .event_buffer import EventBuffer
from .outbox import Outbox
from .ws_messages import Execute

log = logging.getLogger("nodeloom.api.runs")

EXTENSION_KEY = "nodeloom.runs"
#: Finished runs kept for ``attach`` (api.md §1.8), besides the time limit.
MAX_RETAINED_RUNS = 50
#: Engine events converted per step of a run's pump (one worker-thread hop for a heavy batch).
PUMP_BATCH = 256
#: How long shutdown waits for cancelled runs to report ``execution_stopped``.
SHUTDOWN_RUN_WAIT_S = 10.0
#: How long shutdown waits for sockets to flush their last frames and the 1001 close.
SHUTDOWN_FLUSH_S = 3.0
CLOSE_GOING_AWAY = 1001


class Client:
    """One WebSocket connection as the run manager sees it."""

    _ids = itertools.count(1)

    def __init__(self) -> None:
        self.id = next(self._ids)
        self.outbox = Outbox()
        self.connected = True
        #: The active run this socket owns (at most one, api.md §3.2).
        self.owned: TrackedRun | None = None
        self.subscriptions: dict[str, TrackedRun] = {}

    def send(self, frame: wire.Frame) -> None:
        self.outbox.put(frame)

    def __repr__(self) -> str:
        return f"Client({self.id})"


class TrackedRun:
    """A run started over the WebSocket: its buffer, subscribers, owner and timers."""

    def __init__(self, run: RunHandle, buffer_capacity: int | None = None) -> None:
        #: The executor's run handle; dropped once finished, because it holds every node result
        #: (tensors, models) and a finished run stays attachable for minutes.
        self.run: RunHandle | None = run
        self.run_id = run.run_id
        self.buffer = EventBuffer() if buffer_capacity is None else EventBuffer(buffer_capacity)
        #: Subscribers in attach order (the earliest one inherits ownership first).
        self.subscribers: dict[Client, None] = {}
        self.owner: Client | None = None
        self.finished = asyncio.Event()
        self.pending: deque[dict[str, Any]] = deque()
        self.wake = asyncio.Event()
        self.pump: asyncio.Task | None = None
        self.grace: asyncio.TimerHandle | None = None
        self.expiry: asyncio.TimerHandle | None = None

    @property
    def active(self) -> bool:
        """Running until its terminal frame has gone to the subscribers."""
        return not self.finished.is_set()

    @property
    def state(self) -> str:
        terminal = self.buffer.terminal
        return "running" if terminal is None else STATE_OF_TERMINAL[terminal.type]

    def cancel(self, reason: str) -> None:
        """Ask the engine to stop the run (no-op once it has finished)."""
        if self.run is not None:
            self.run.request_cancel(reason)

    def on_engine_event(self, event: dict[str, Any]) -> None:
        """The engine's subscriber (called on the loop, in ``seq`` order): queue for the pump."""
        self.pending.append(event)
        self.wake.set()


def _convert(events: list[dict[str, Any]], models_dir: Path | None) -> list[wire.Frame]:
    """Frames for engine events; a conversion bug degrades one event instead of losing it
    (a lost terminal event would leave every subscriber waiting)."""
    frames = []
    for event in events:
        try:
            frames.append(wire.run_event_frame(event, models_dir))
            continue
        except Exception:
            log.exception("run %s: event %s could not be converted", event.get("run_id"), event.get("seq"))
        try:
            frames.append(wire.run_event_frame(wire_event(event)))
        except Exception:
            bare = {k: event.get(k) for k in ("type", "run_id", "seq", "node_id", "status", "reason") if k in event}
            frames.append(wire.run_event_frame(bare))
    return frames


class RunManager:
    """Runs, owners, subscribers, buffers, grace timers and retention for one app."""

    def __init__(
        self,
        kernel: Any,
        *,
        executor: LocalExecutor | None = None,
        executors: Mapping[str, Any] | None = None,
        default_executor: str = DEFAULT_EXECUTOR,
        grace_s: float = 60.0,
        retain_s: float = 300.0,
        max_recorded_runs: int | None = None,
        version: str = "",
        models_dir: Path | None = None,
        buffer_capacity: int | None = None,
    ) -> None:
        self.kernel = kernel
        #: The local executor: its environment holds the cache and stores every route reads.
        self.executor = executor if executor is not None else _local_executor(kernel)
        known = executors if executors is not None else getattr(kernel, "executors", None) or {}
        self.executors: dict[str, Any] = {**known, DEFAULT_EXECUTOR: self.executor}
        self.default_executor = default_executor
        if max_recorded_runs is not None:
            self.executor.env.outputs.max_runs = max_recorded_runs
        self.grace_s = grace_s
        self.retain_s = retain_s
        self.version = version
        self.models_dir = models_dir
        self.buffer_capacity = buffer_capacity
        self.records: dict[str, TrackedRun] = {}
        self.retained: OrderedDict[str, TrackedRun] = OrderedDict()
        self.clients: dict[Client, None] = {}
        self.closing = False

    # -- shared services -------------------------------------------------------------------

    @property
    def env(self) -> RunEnvironment:
        return self.executor.env

    @property
    def cache(self) -> OutputCache | None:
        return self.env.cache

    def generation(self) -> int:
        snapshot = getattr(self.kernel, "snapshot", None)
        return int(getattr(snapshot, "generation", 0))

    def is_executing(self, run_id: str) -> bool:
        """Whether a run with this id is still active (REST refuses to delete its outputs)."""
        record = self.records.get(run_id)
        if record is not None and record.active:
            return True
        return any(_lookup(executor, run_id) is not None for executor in self.executors.values())

    def executor_problem(self, name: str | None) -> str | None:
        """Why an ``execute`` naming executor ``name`` (None: the default) cannot run; None if it can."""
        return executor_problem(self.executors, name or self.default_executor)

    # -- connections -----------------------------------------------------------------------

    def connect(self) -> Client:
        """A new socket: it gets ``connected`` first (and a 1001 close right away when shutting down)."""
        client = Client()
        client.send(wire.connected(self.version, self.generation()))
        if self.closing:
            client.outbox.close(CLOSE_GOING_AWAY)
            client.connected = False
            return client
        self.clients[client] = None
        return client

    def disconnect(self, client: Client) -> None:
        """The socket is gone: unsubscribe it, hand its runs on, start grace timers."""
        if client in self.clients:
            del self.clients[client]
        client.connected = False
        client.outbox.close(None)
        for record in list(client.subscriptions.values()):
            record.subscribers.pop(client, None)
            if record.owner is client:
                record.owner = None
                self._transfer_ownership(record)
            if record.active and not record.subscribers:
                self._start_grace(record)
        client.subscriptions.clear()
        client.owned = None

    def _transfer_ownership(self, record: TrackedRun) -> None:
        """The earliest-attached subscriber that owns no other active run takes over (§3.2)."""
        for candidate in record.subscribers:
            if candidate.owned is None:
                self._set_owner(record, candidate)
                return

    def _set_owner(self, record: TrackedRun, client: Client) -> None:
        record.owner = client
        client.owned = record

    def _subscribe(self, record: TrackedRun, client: Client) -> None:
        record.subscribers.pop(client, None)  # re-attaching moves the socket to the end
        record.subscribers[client] = None
        client.subscriptions[record.run_id] = record
        self._stop_grace(record)

    # -- grace and retention -----------------------------------------------------------------

    def _start_grace(self, record: TrackedRun) -> None:
        self._stop_grace(record)
        if self.grace_s <= 0:
            record.cancel("disconnect")
            return
        loop = asyncio.get_running_loop()
        record.grace = loop.call_later(self.grace_s, self._grace_expired, record)

    def _stop_grace(self, record: TrackedRun) -> None:
        if record.grace is not None:
            record.grace.cancel()
            record.grace = None

    def _grace_expired(self, record: TrackedRun) -> None:
        record.grace = None
        if record.active and not record.subscribers:
            log.info("run %s: no subscriber came back within %ss; cancelling", record.run_id, self.grace_s)
            record.cancel("disconnect")

    def _retain(self, record: TrackedRun) -> None:
        self.retained.pop(record.run_id, None)
        self.retained[record.run_id] = record
        while len(self.retained) > MAX_RETAINED_RUNS:
            _, oldest = self.retained.popitem(last=False)
            self._forget(oldest)
        loop = asyncio.get_running_loop()
        record.expiry = loop.call_later(self.retain_s, self._forget, record)

    def _forget(self, record: TrackedRun) -> None:
        if record.expiry is not None:
            record.expiry.cancel()
            record.expiry = None
        if self.retained.get(record.run_id) is record:
            del self.retained[record.run_id]
        if self.records.get(record.run_id) is record:
            del self.records[record.run_id]

    # -- client actions ----------------------------------------------------------------------

    async def execute(self, client: Client, command: Execute) -> None:
        """§3.3 ``execute``: supersede the socket's own run, then start the new one."""
        run_id = command.options.run_id
        if self.closing:  # the server is going down: no new runs
            return
        problem = self.executor_problem(command.options.executor)
        if problem is not None:  # parse_message normally caught it; the executors may have changed
            client.send(_bad_executor(problem, run_id))
            return
        if self.is_executing(run_id):
            client.send(_run_id_in_use(run_id))
            return
        previous = client.owned
        if previous is not None and previous.active:
            previous.cancel("superseded")
            # Its execution_stopped must reach the socket before anything of the new run.
            await previous.finished.wait()
        if not client.connected or self.closing:
            return
        if self.is_executing(run_id):  # another socket took the id while we waited
            client.send(_run_id_in_use(run_id))
            return
        executor = self.executors.get(command.options.executor or self.default_executor, self.executor)
        snapshot, release = self._pin()
        spec = RunSpec(graph=command.graph, snapshot=snapshot, options=command.options, release=release)
        try:
            run = await executor.submit(spec)
        except RunIdInUse:
            if release is not None:
                release()
            client.send(_run_id_in_use(run_id))
            return
        except BaseException:
            if release is not None:
                release()
            raise
        self._track(run, client)

    def _pin(self) -> tuple[Any, Callable[[], None] | None]:
        """Pin the current registry snapshot; the run releases it when it ends."""
        holder = getattr(self.kernel, "holder", None)
        if holder is None:
            return self.kernel.snapshot, None
        pin = holder.pinned()
        snapshot = pin.__enter__()
        return snapshot, lambda: pin.__exit__(None, None, None)

    def _track(self, run: RunHandle, client: Client) -> TrackedRun:
        record = TrackedRun(run, self.buffer_capacity)
        replaced = self.records.get(run.run_id)
        if replaced is not None:  # a finished run whose id is reused: it is no longer attachable
            self._forget(replaced)
        self.records[run.run_id] = record
        self._subscribe(record, client)
        self._set_owner(record, client)
        run.subscribe(record.on_engine_event)
        record.pump = asyncio.get_running_loop().create_task(
            self._pump(record), name=f"nodeloom-run-pump-{run.run_id}"
        )
        return record

    def stop(self, client: Client, run_id: str | None) -> None:
        """§3.3 ``stop``: cancel the target run, or tell the sender nothing was running."""
        record = self.records.get(run_id) if run_id is not None else client.owned
        if record is None or not record.active:
            client.send(wire.not_running(run_id))
            return
        record.cancel("stop")

    def attach(self, client: Client, run_id: str, after_seq: int) -> None:
        """§3.3 ``attach``: ``attached``, the replay from ``after_seq``, then live events."""
        record = self.records.get(run_id)
        if record is None:
            client.send(wire.error("unknown_run", f"Unknown run '{run_id}'", "attach", run_id))
            return
        client.outbox.purge_run(run_id)
        if record.active:
            self._subscribe(record, client)
            if record.owner is None and client.owned is None:
                self._set_owner(record, client)
        buffer = record.buffer
        client.send(
            wire.frame(
                {
                    "type": "attached",
                    "run_id": run_id,
                    "state": record.state,
                    "first_seq": buffer.first_seq,
                    "last_seq": buffer.last_seq,
                    "gap": buffer.gap_after(after_seq),
                    "owner": record.owner is client,
                }
            )
        )
        for frame in buffer.after(after_seq):
            client.send(frame)

    def clear_cache(self, client: Client) -> None:
        if self.cache is not None:
            self.cache.clear()
        client.send(wire.frame({"type": "cache_cleared"}))

    def registry_changed(self, snapshot: Any) -> None:
        """Push ``registry_changed`` to every open socket (called on the loop after each swap)."""
        frame = wire.registry_changed(int(getattr(snapshot, "generation", self.generation())))
        for client in list(self.clients):
            client.send(frame)

    # -- the pump ------------------------------------------------------------------------------

    async def _pump(self, record: TrackedRun) -> None:
        """Convert and publish the run's events in order until its terminal event."""
        try:
            while record.buffer.terminal is None:
                if not record.pending:
                    record.wake.clear()
                    await record.wake.wait()
                    continue
                batch = [record.pending.popleft() for _ in range(min(PUMP_BATCH, len(record.pending)))]
                if any(wire.is_heavy(event) for event in batch):
                    frames = await asyncio.to_thread(_convert, batch, self.models_dir)
                else:
                    frames = _convert(batch, self.models_dir)
                for frame in frames:
                    self._publish(record, frame)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run %s: event pump failed", record.run_id)
        finally:
            self._finished(record)

    def _publish(self, record: TrackedRun, frame: wire.Frame) -> None:
        record.buffer.append(frame)
        for client in record.subscribers:
            client.send(frame)

    def _finished(self, record: TrackedRun) -> None:
        record.finished.set()
        if record.run is not None:
            record.run.unsubscribe(record.on_engine_event)
            record.run = None
        record.pending.clear()
        self._stop_grace(record)
        if record.owner is not None and record.owner.owned is record:
            record.owner.owned = None
        record.owner = None
        for client in record.subscribers:
            if client.subscriptions.get(record.run_id) is record:
                del client.subscriptions[record.run_id]
        record.subscribers.clear()
        if self.records.get(record.run_id) is record:
            self._retain(record)

    # -- shutdown --------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Cancel every active run (reason ``shutdown``), then close every socket with 1001."""
        self.closing = True
        active = [r for r in self.records.values() if r.active]
        for record in active:
            record.cancel("shutdown")
        for executor in self.executors.values():  # runs other code started on the executors
            active_runs = getattr(executor, "active_runs", None)
            for run in active_runs() if callable(active_runs) else ():
                run.request_cancel("shutdown")
        if active:
            waits = [asyncio.ensure_future(r.finished.wait()) for r in active]
            done, pending = await asyncio.wait(waits, timeout=SHUTDOWN_RUN_WAIT_S)
            for task in pending:
                task.cancel()
        clients = list(self.clients)
        for client in clients:
            client.outbox.close(CLOSE_GOING_AWAY)
        if clients:
            flushes = [asyncio.ensure_future(c.outbox.done.wait()) for c in clients]
            _, pending = await asyncio.wait(flushes, timeout=SHUTDOWN_FLUSH_S)
            for task in pending:
                task.cancel()
        for record in list(self.records.values()):
            if record.expiry is not None:
                record.expiry.cancel()


def _run_id_in_use(run_id: str) -> wire.Frame:
    return wire.error("run_id_in_use", f"Run '{run_id}' is already running", "execute", run_id)


def _bad_executor(problem: str, run_id: str) -> wire.Frame:
    details = [{"loc": ["executor"], "msg": problem, "type": "invalid_value"}]
    return wire.error("invalid_run_option", f"Invalid 'execute' message: {problem}", "execute", run_id, details)


def _lookup(executor: Any, run_id: str) -> Any:
    get = getattr(executor, "get", None)
    return get(run_id) if callable(get) else None


def _local_executor(kernel: Any) -> LocalExecutor:
    """The kernel's ``local`` executor (shared cache and stores), or a private one."""
    executors: Mapping[str, Any] = getattr(kernel, "executors", None) or {}
    executor = executors.get("local")
    if isinstance(executor, LocalExecutor):
        return executor
    return LocalExecutor(RunEnvironment(cache=OutputCache()))


# -- one manager per app ---------------------------------------------------------------------------


def manager_of(app: Any) -> RunManager:
    """The app's run manager, created on first use from the app's kernel and settings."""
    manager = app.extensions.get(EXTENSION_KEY)
    if manager is None:
        from nodeloom import __version__
        from nodeloom.api.state import state_of

        state = state_of(app)
        limits = state.settings.limits
        data_dir = getattr(state.kernel, "data_dir", None) or state.settings.data_dir
        manager = RunManager(
            state.kernel,
            default_executor=state.settings.executor,
            grace_s=limits.run_grace_s,
            retain_s=limits.run_retain_s,
            max_recorded_runs=limits.max_recorded_runs,
            version=__version__,
            models_dir=data_dir.area("models"),
        )
        app.extensions[EXTENSION_KEY] = manager
    return manager


def current_runs() -> RunManager:
    """The run manager of the app handling the current request or socket."""
    from quart import current_app

    return manager_of(current_app)
