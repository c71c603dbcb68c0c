"""The run event model (api.md §3.4, §3.5; engine.md §4.7).

Events are plain dicts shaped as on the wire: ``type``, ``run_id``, ``seq`` and the event's fields.
``node_status`` events with status ``completed`` or ``cached`` also carry the raw node result under
``outputs`` (a mapping of live objects, not JSON): transports summarise it and drop it, and
:func:`wire_event` drops it for consumers that do not summarise.

:class:`EventSink` is the run-scoped sink: it numbers events (from any thread), stops accepting
anything after the terminal event, and fans events out to subscribers on the run's loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("nodeloom.engine")

EXECUTION_START = "execution_start"
NODE_STATUS = "node_status"
EXECUTION_COMPLETE = "execution_complete"
EXECUTION_ERROR = "execution_error"
EXECUTION_STOPPED = "execution_stopped"

TERMINAL_TYPES = frozenset({EXECUTION_COMPLETE, EXECUTION_ERROR, EXECUTION_STOPPED})

#: Run state after each terminal event type (api.md §3.2).
STATE_OF_TERMINAL = {
    EXECUTION_COMPLETE: "completed",
    EXECUTION_ERROR: "error",
    EXECUTION_STOPPED: "stopped",
}

NODE_STATUSES = ("running", "progress", "completed", "cached", "error", "skipped")

LOG_LIMIT = 65_536
_TRUNCATED = "…[truncated]"

#: Key under which ``completed``/``cached`` events carry the raw result (never sent as is).
OUTPUTS_KEY = "outputs"


def is_terminal(event: Mapping[str, Any]) -> bool:
    return event.get("type") in TERMINAL_TYPES


def truncate_log(text: str, limit: int = LOG_LIMIT) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending cut text with ``…[truncated]``."""
    if len(text) <= limit:
        return text
    return text[: limit - len(_TRUNCATED)] + _TRUNCATED


def result_log(result: Mapping[str, Any]) -> str | None:
    """The ``log`` extra of a node result: its ``__log__`` text, truncated; None when absent."""
    text = result.get("__log__")
    if text is None:
        return None
    return truncate_log(text if isinstance(text, str) else str(text))


def wire_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-safe shallow copy: the raw ``outputs`` mapping is dropped."""
    if OUTPUTS_KEY not in event:
        return dict(event)
    return {k: v for k, v in event.items() if k != OUTPUTS_KEY}


Subscriber = Callable[[dict[str, Any]], None]

#: How long events emitted by worker threads may wait to be delivered together.
FLUSH_WINDOW_S = 0.002


class EventSink:
    """Numbers the events of one run and delivers them; closed by the terminal event.

    ``emit`` is thread-safe: events get their ``seq`` under a lock, in the order they are
    produced. Delivery to subscribers and listeners happens on the event loop the sink is bound
    to (immediately when emitting on that loop's thread, else through ``call_soon_threadsafe``),
    always in ``seq`` order. Anything emitted after the terminal event is dropped, which is how
    late events of abandoned bodies are kept out of every stream.
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.events: list[dict[str, Any]] = []
        self.closed = False
        self._lock = threading.Lock()
        self._delivered = 0
        self._flush_pending = False
        self._flushing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._subscribers: list[Subscriber] = []
        self._listeners: list[Callable[[], None]] = []

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop``; call from the loop's thread."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    @property
    def last_seq(self) -> int:
        return len(self.events)

    @property
    def delivered(self) -> int:
        """How many events subscribers have been handed so far."""
        return self._delivered

    @property
    def terminal(self) -> dict[str, Any] | None:
        if self.closed and self.events:
            return self.events[-1]
        return None

    def emit(self, type_: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Append an event (``fields`` is taken over, not copied); None when the sink is closed."""
        with self._lock:
            if self.closed:
                return None
            event = {"type": type_, "run_id": self.run_id, "seq": len(self.events) + 1}
            event.update(fields)
            self.events.append(event)
            if type_ in TERMINAL_TYPES:
                self.closed = True
            post = not self._flush_pending
            self._flush_pending = True
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            self.flush()
        elif post:
            try:
                loop.call_soon_threadsafe(self._flush_soon, type_ in TERMINAL_TYPES)
            except RuntimeError:
                pass  # the loop is closed: nobody is listening any more
        return event

    def _flush_soon(self, now: bool) -> None:
        # Waking the loop for every event of a fast chain costs more than the nodes themselves
        # (each wake-up competes with the worker for the GIL); a short window batches them.
        if now or self._loop is None:
            self.flush()
        else:
            self._loop.call_later(FLUSH_WINDOW_S, self.flush)

    def flush(self) -> None:
        """Hand undelivered events to subscribers, in order (loop thread only)."""
        if self._flushing:
            return  # an emit from inside a subscriber: the running flush picks it up
        self._flushing = True
        try:
            while True:
                with self._lock:
                    if self._delivered >= len(self.events):
                        self._flush_pending = False
                        return
                    event = self.events[self._delivered]
                    self._delivered += 1
                for callback in tuple(self._subscribers):
                    try:
                        callback(event)
                    except Exception:  # one broken consumer must not break the run or others
                        log.exception("run event subscriber failed (run %s)", self.run_id)
                for wake in tuple(self._listeners):
                    wake()
        finally:
            self._flushing = False

    def subscribe(self, callback: Subscriber, *, after_seq: int = 0) -> None:
        """Deliver events with ``seq > after_seq`` already delivered, then every new one."""
        for event in self.events[max(after_seq, 0) : self._delivered]:
            callback(event)
        if not (self.closed and self._delivered == len(self.events)):
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Subscriber) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def add_listener(self, wake: Callable[[], None]) -> None:
        """``wake()`` runs after each delivered event (the async iterators of a run wait on it)."""
        self._listeners.append(wake)

    def remove_listener(self, wake: Callable[[], None]) -> None:
        if wake in self._listeners:
            self._listeners.remove(wake)
