"""Executors (engine.md §8.3): the registry behind ``register_executors`` and worker threads.

An executor offers ``async submit(run_spec) -> run``, ``events(run)`` (an async iterator of run
events) and ``async cancel(run, reason)``. ``local`` (:class:`nodeloom.kernel.engine.LocalExecutor`)
is always available; plugins may add others (a Ray executor, for instance).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger("nodeloom.engine")

DEFAULT_EXECUTOR = "local"


@runtime_checkable
class Executor(Protocol):
    """The executor contract; ``spec`` is a :class:`nodeloom.kernel.engine.RunSpec`."""

    async def submit(self, spec: Any) -> Any: ...

    def events(self, run: Any, after_seq: int = 0) -> AsyncIterator[dict[str, Any]]: ...

    async def cancel(self, run: Any, reason: str = "stop") -> Any: ...


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
