"""Executors (engine.md §8.3): the contract behind ``register_executors`` and worker threads.

An executor offers ``async submit(run_spec) -> handle``, ``events(handle, after_seq=0)`` (an async
iterator of run events) and ``async cancel(handle, reason)``. ``local``
(:class:`nodeloom.kernel.engine.LocalExecutor`) is always available; plugins may add others.

The handle ``submit`` returns is what transports follow, whatever the executor. It has
``run_id``, ``done``, ``state``, ``terminal``, ``event_log``, ``results``, ``subscribe(callback,
after_seq=0)``, ``unsubscribe(callback)``, ``async wait()`` and ``request_cancel(reason)`` (see
:class:`RunHandle`), and numbers its events itself, ``seq`` 1 for ``execution_start``: every
executor's stream therefore looks the same to a socket, to ``attach`` and to replay.

Optional members a host or transport uses when present:

``bind(kernel)``
    Called once when the kernel assembles its executors, so an executor can reach the data dir,
    the environment and the shared :attr:`~nodeloom.kernel.host.Kernel.run_environment` (whose
    output store serves recorded outputs for every executor).
``configure(options)``
    Settings given by the server or the CLI (a mapping, usually of strings); raises
    ``ValueError`` with a message for the user when they are wrong.
``unavailable_reason``
    None when the executor can run; else why not (e.g. a missing optional dependency).
``get(run_id)`` / ``active_runs()``
    The active handle with an id, and every active handle.
``async shutdown(reason)`` / ``close()``
    Cancel every active run; release what the executor holds when the kernel closes.

An executor that places single nodes elsewhere installs a :class:`NodeRunner` on the
:class:`~nodeloom.kernel.engine.RunEnvironment` of the runs it drives.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from .events import STATE_OF_TERMINAL, EventSink

log = logging.getLogger("nodeloom.engine")

DEFAULT_EXECUTOR = "local"


@runtime_checkable
class Executor(Protocol):
    """The executor contract; ``spec`` is a :class:`nodeloom.kernel.engine.RunSpec`."""

    async def submit(self, spec: Any) -> Any: ...

    def events(self, run: Any, after_seq: int = 0) -> AsyncIterator[dict[str, Any]]: ...

    async def cancel(self, run: Any, reason: str = "stop") -> Any: ...


@runtime_checkable
class RunHandle(Protocol):
    """What ``submit`` returns: one run as transports follow it, whatever runs it."""

    run_id: str

    @property
    def done(self) -> bool: ...

    @property
    def state(self) -> str: ...

    def subscribe(self, callback: Callable[[dict[str, Any]], None], *, after_seq: int = 0) -> None: ...

    def unsubscribe(self, callback: Callable[[dict[str, Any]], None]) -> None: ...

    async def wait(self) -> dict[str, Any]: ...

    def request_cancel(self, reason: str = "stop") -> None: ...


@runtime_checkable
class NodeRunner(Protocol):
    """Runs chosen node bodies somewhere else than the run's worker threads.

    ``takes(entry)`` is asked once per node of a run, with its registry entry: True hands every
    attempt of that node to ``run(call, entry, run)``, which is called in a worker thread of the
    run, blocks until the body has finished elsewhere and returns its result mapping (or raises
    what the body raised). It must watch ``call.cancel_event`` and stop the remote work when it
    is set. The engine still does everything else: inputs, cache, events, retries, recording.
    """

    def takes(self, entry: Any) -> bool: ...

    def run(self, call: Any, entry: Any, run: Any) -> Mapping[str, Any]: ...


def executor_problem(executors: Mapping[str, Any], name: str) -> str | None:
    """Why ``name`` cannot run a run (unknown, or unavailable and why); None when it can."""
    executor = executors.get(name)
    if executor is None:
        known = ", ".join(sorted(executors)) or "none"
        return f"unknown executor '{name}' (available: {known})"
    reason = getattr(executor, "unavailable_reason", None)
    if reason:
        return f"executor '{name}' is unavailable: {reason}"
    return None


async def follow(sink: EventSink, after_seq: int = 0) -> AsyncIterator[dict[str, Any]]:
    """The events of a run's :class:`~.events.EventSink` with ``seq > after_seq``, as they are
    delivered, ending after the terminal event (call on the loop the sink delivers on)."""
    index = max(after_seq, 0)
    loop = asyncio.get_running_loop()
    waiter: list[asyncio.Future] = []

    def wake() -> None:
        if waiter and not waiter[0].done():
            waiter[0].set_result(None)

    sink.add_listener(wake)
    try:
        while True:
            while index < sink.delivered:
                event = sink.events[index]
                index += 1
                yield event
            if sink.closed and index >= len(sink.events):
                return
            waiter[:] = [loop.create_future()]
            if index < sink.delivered:  # delivered while we were yielding
                continue
            await waiter[0]
    finally:
        sink.remove_listener(wake)


class SinkRunView:
    """The consumer side of a run handle, derived from its :class:`~.events.EventSink`.

    Every executor's handle numbers and stores its events in a sink; what a transport reads
    (state, terminal event, log, subscriptions) follows from it alone, so the local engine's
    ``Run`` and plugin handles share this instead of each restating it. Subclasses set ``sink``.
    """

    sink: EventSink
    #: Resolved with the terminal event; created when the run starts on its loop.
    _terminal: asyncio.Future | None = None

    @property
    def state(self) -> str:
        terminal = self.sink.terminal
        return "running" if terminal is None else STATE_OF_TERMINAL[terminal["type"]]

    @property
    def done(self) -> bool:
        return self.sink.closed

    @property
    def terminal(self) -> dict[str, Any] | None:
        return self.sink.terminal

    @property
    def event_log(self) -> list[dict[str, Any]]:
        """Every event so far, from seq 1 (a live list; copy it to keep a snapshot)."""
        return self.sink.events

    def events(self, after_seq: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Every event with ``seq > after_seq`` in order, ending after the terminal event."""
        return follow(self.sink, after_seq)

    def subscribe(self, callback: Callable[[dict[str, Any]], None], *, after_seq: int = 0) -> None:
        """Push delivery on the loop thread: past events with ``seq > after_seq``, then live ones."""
        self.sink.subscribe(callback, after_seq=after_seq)

    def unsubscribe(self, callback: Callable[[dict[str, Any]], None]) -> None:
        self.sink.unsubscribe(callback)

    async def wait(self) -> dict[str, Any]:
        """The terminal event, once emitted."""
        if self._terminal is None:
            raise RuntimeError("run not started")
        return await asyncio.shield(self._terminal)

    async def cancel(self, reason: str = "stop") -> dict[str, Any]:
        """Cancel the run (no-op once finished) and return its terminal event."""
        self.request_cancel(reason)
        return await self.wait()

    def request_cancel(self, reason: str = "stop") -> None:
        """Ask the run to stop; every handle implements this its own way."""
        raise NotImplementedError

    def cancel_threadsafe(self, reason: str = "stop") -> None:
        """Alias of ``request_cancel``, named for callers outside the loop (signal handlers)."""
        self.request_cancel(reason)


class ExecutorRegistry:
    """Named executors; ``register`` is the callback handed to the ``register_executors`` hook."""

    def __init__(self) -> None:
        self._executors: dict[str, Any] = {}

    def register(self, name: str, executor: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("executor name must be a non-empty string")
        if not isinstance(executor, Executor):
            raise TypeError(f"executor {name!r} lacks submit/events/cancel")
        if name in self._executors:
            raise ValueError(f"executor {name!r} is already registered")
        self._executors[name] = executor

    def get(self, name: str = DEFAULT_EXECUTOR) -> Any:
        try:
            return self._executors[name]
        except KeyError:
            raise KeyError(f"unknown executor {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._executors)

    def __contains__(self, name: object) -> bool:
        return name in self._executors


class WorkerPool:
    """Daemon worker threads, created lazily up to ``size``.

    Not a ThreadPoolExecutor: its threads are joined at interpreter exit, so one body that
    ignores cancellation would keep a finished CLI process alive forever. Abandoned bodies here
    die with the process.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = max(1, size)
        self._name = name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        # threads without a job minus jobs nobody has taken yet; negative means "spawn one"
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], Any], done: Callable[[Any], None] | None = None) -> None:
        """Run ``job()`` in a worker, then ``done(outcome)`` (if given) in the same thread."""
        self._jobs.put((job, done))
        with self._lock:
            self._idle -= 1
            if self._idle < 0 and len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                self._idle += 1
                thread.start()

    @property
    def threads(self) -> int:
        return len(self._threads)

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, done = item
            try:
                outcome = job()
            except BaseException:  # noqa: BLE001 - a job's own bug must not kill the worker
                log.exception("worker job failed")
                outcome = None
            with self._lock:
                self._idle += 1
            if done is not None:
                try:
                    done(outcome)
                except Exception:  # pragma: no cover - done() only posts to the loop
                    log.exception("worker completion callback failed")

    def shutdown(self) -> None:
        """Let every worker exit once its current job (if any) returns."""
        for _ in self._threads:
            self._jobs.put(None)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds in all for shut-down workers to finish.

        A process about to exit (the CLI) joins them first: a worker still unwinding while the
        interpreter finalises can abort the process inside torch's thread teardown.
        """
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
