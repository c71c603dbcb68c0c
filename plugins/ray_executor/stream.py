"""A run's stream on the worker: its events and recorded outputs, in order, for the server.

Items are tuples:

- ``("event", event)``: an engine event; a ``completed``/``cached`` event's raw ``outputs``
  travel packed (:func:`.shipping.pack`: inline, or an ``ObjectRef``);
- ``("record", node_id, port, packed)`` and ``("record_result", node_id, packed)``: writes to the
  run output store (recorded outputs, gradients), replayed into the server's store;
- ``("end", info)``: the last item; ``info["tainted"]`` says bodies outlived a stop and the
  worker should be retired.

Values are packed once per object, at the moment the engine records a
result or finishes a node (:class:`ShipOnCompletion`), before any later node can change it in
place (a model being trained): what travels is the value as its node produced it. A result that
is recorded and then reported by its ``completed`` event travels once.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from nodeloom.kernel.events import OUTPUTS_KEY, is_terminal
from nodeloom.kernel.extensions import mapping_nbytes
from nodeloom.kernel.outputs import RunOutputStore

from . import shipping

#: Items handed to the server per poll at most.
TAKE_LIMIT = 512


class RunStream:
    """Items of one run, pushed from any thread, taken by the server's polls on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, extensions: list[Any] | None = None) -> None:
        self.run: Any = None
        self._extensions = extensions if extensions is not None else []
        self._loop = loop
        self._items: deque[tuple[Any, ...]] = deque()
        self._lock = threading.Lock()
        self._wake = asyncio.Event()
        # id(value) -> (value, ref); the value is kept so its id cannot be reused meanwhile.
        self._refs: dict[int, tuple[Any, Any]] = {}
        self.ended = False

    def push(self, item: tuple[Any, ...]) -> None:
        with self._lock:
            self._items.append(item)
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:
            pass  # the worker is shutting down

    def on_event(self, event: dict[str, Any]) -> None:
        """The engine subscriber (on the worker's loop, in ``seq`` order)."""
        self.push(("event", event))
        if is_terminal(event):
            run = self.run
            self.push(("end", {"tainted": bool(run is not None and run.bodies_in_flight)}))

    async def take(self, wait_s: float) -> list[tuple[Any, ...]]:
        """Pending items (at most :data:`TAKE_LIMIT`), waiting up to ``wait_s`` for the first."""
        if not self._items:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait_s)
            except asyncio.TimeoutError:
                return []
        with self._lock:
            count = min(TAKE_LIMIT, len(self._items))
            return [self._items.popleft() for _ in range(count)]

    # -- shipping (worker thread) -----------------------------------------------------------

    def ref(self, value: Any) -> Any:
        """``value`` packed for the server (:func:`.shipping.pack`), on first use (any thread)."""
        with self._lock:
            known = self._refs.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        nbytes = mapping_nbytes(self._extensions, value) if isinstance(value, Mapping) else 0
        ref = shipping.pack(value, nbytes)
        with self._lock:
            known = self._refs.setdefault(id(value), (value, ref))
        return known[1] if known[0] is value else ref

    def ship(self, items: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The items with every value replaced by its ``ObjectRef``."""
        out = []
        for item in items:
            kind = item[0]
            if kind == "event" and isinstance(item[1].get(OUTPUTS_KEY), Mapping):
                event = dict(item[1])
                event[OUTPUTS_KEY] = self.ref(event[OUTPUTS_KEY])
                out.append(("event", event))
            elif kind == "record":
                out.append(("record", item[1], item[2], self.ref(item[3])))
            elif kind == "record_result":
                out.append(("record_result", item[1], self.ref(item[2])))
            else:
                if kind == "end":
                    self.ended = True
                out.append(item)
        if self.ended:
            with self._lock:
                self._refs.clear()  # the server holds its own references from here on
        return out


class StreamingOutputStore(RunOutputStore):
    """The worker's run output store: writes go to the run's stream, nothing stays here."""

    def __init__(self, streams: Mapping[str, RunStream]) -> None:
        super().__init__()
        self._streams = streams

    def record(self, run_id: str, node_id: str, port: str, value: Any) -> None:
        stream = self._streams.get(run_id)
        if stream is not None:
            stream.ref(value)
            stream.push(("record", node_id, port, value))

    def record_result(self, run_id: str, node_id: str, result: Mapping[str, Any]) -> None:
        stream = self._streams.get(run_id)
        if stream is not None:
            stream.ref(result)
            stream.push(("record_result", node_id, result))


class ShipOnCompletion:
    """A worker-side run extension: a finished node's result enters the object store at once.

    ``after_node`` runs before the node's successors are scheduled, so no consumer has touched
    the result yet. Results of preset members have no event of their own; they travel only when
    recorded.
    """

    name = "ray-shipping"

    def __init__(self, streams: Mapping[str, RunStream]) -> None:
        self._streams = streams

    def after_node(self, run: Any, node_id: str, result: Any) -> None:
        stream = self._streams.get(run.run_id)
        if stream is None or not isinstance(result, Mapping) or run.options.record_outputs:
            return  # recorded results were shipped by the store already
        if node_id not in _members(run):
            stream.ref(result)


def _members(run: Any) -> frozenset[str]:
    members = run.scratch.get(ShipOnCompletion.name)
    if members is None:
        prepared = run.prepared
        nodes = prepared.nodes if prepared is not None else ()
        members = run.scratch[ShipOnCompletion.name] = frozenset(n.id for n in nodes if n.instance is not None)
    return members
