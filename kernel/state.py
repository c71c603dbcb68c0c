"""The persisted module store (engine.md §4.14), generic: it never looks inside what it holds.

Entries are keyed ``(graph_id, node_id, structure_hash)``. The torch helpers compute the hash and
build the module (``nodeloom.torchkit.module_for``); this module only guarantees the store rules:
LRU of at most 200 entries, one build per key at a time (building happens outside the global lock,
under a per-key lock), and on a miss every other entry of the same ``(graph_id, node_id)`` is
dropped before the new one is inserted, because a structure change makes old weights useless.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

DEFAULT_MAX_MODULES = 200

Key = tuple[str, str, str]


@attrs.define
class _Slot:
    value: Any
    info: dict[str, Any]


def _node_matches(node_id: str, wanted: set[str]) -> bool:
    # Resetting a preset instance id also resets its members (stored under expanded ids).
    if node_id in wanted:
        return True
    return any(node_id.startswith(w + "__") for w in wanted)


class ModuleStore:
    """Process-wide, thread-safe store of persisted objects (modules) for stateful nodes."""

    def __init__(self, max_entries: int = DEFAULT_MAX_MODULES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, _Slot] = OrderedDict()
        self._lock = threading.Lock()
        self._build_locks: dict[Key, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, graph_id: str, node_id: str, structure_hash: str) -> Any | None:
        with self._lock:
            slot = self._entries.get((graph_id, node_id, structure_hash))
            if slot is None:
                return None
            self._entries.move_to_end((graph_id, node_id, structure_hash))
            return slot.value

    def get_or_build(
        self,
        graph_id: str,
        node_id: str,
        structure_hash: str,
        build: Callable[[], Any],
        info: Mapping[str, Any] | None = None,
    ) -> Any:
        """The stored object for the key, building (once, even under concurrency) on a miss."""
        key = (graph_id, node_id, structure_hash)
        with self._lock:
            slot = self._entries.get(key)
            if slot is not None:
                self._entries.move_to_end(key)
                return slot.value
            build_lock = self._build_locks.setdefault(key, threading.Lock())
        with build_lock:
            with self._lock:
                slot = self._entries.get(key)
                if slot is not None:
                    self._entries.move_to_end(key)
                    return slot.value
            # On failure the per-key lock stays registered, so threads queued behind it still
            # build one at a time.
            value = build()
            with self._lock:
                for other in [k for k in self._entries if k[0] == graph_id and k[1] == node_id]:
                    del self._entries[other]
                self._entries[key] = _Slot(value, dict(info or {}))
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                if self._build_locks.get(key) is build_lock:
                    del self._build_locks[key]
            return value

    def reset(
        self,
        graph_id: str | None = None,
        node_id: str | None = None,
        node_ids: Iterable[str] | None = None,
    ) -> int:
        """Drop entries and return how many went.

        No arguments: everything. ``graph_id`` alone: that graph. With ``node_id``/``node_ids``:
        only those nodes of the graph (a preset instance id also covers its members).
        """
        wanted: set[str] = set(node_ids or ())
        if node_id is not None:
            wanted.add(node_id)
        with self._lock:
            doomed = [
                k
                for k in self._entries
                if (graph_id is None or k[0] == graph_id)
                and (not wanted or _node_matches(k[1], wanted))
            ]
            for k in doomed:
                del self._entries[k]
            return len(doomed)

    def list(self, graph_id: str | None = None) -> list[dict[str, Any]]:
        """One dict per entry (LRU order, oldest first): the key fields plus the build info."""
        with self._lock:
            items = list(self._entries.items())
        out = []
        for (g, n, h), slot in items:
            if graph_id is not None and g != graph_id:
                continue
            row = dict(slot.info)
            row.update(graph_id=g, node_id=n, structure_hash=h)
            out.append(row)
        return out

    def count(self, graph_id: str | None = None) -> int:
        with self._lock:
            if graph_id is None:
                return len(self._entries)
            return sum(1 for k in self._entries if k[0] == graph_id)

    def node_ids(self, graph_id: str) -> list[str]:
        """Sorted unique node ids holding an entry for ``graph_id`` (api.md §2.10.7)."""
        with self._lock:
            return sorted({k[1] for k in self._entries if k[0] == graph_id})

    def modules_for_graph(self, graph_id: str) -> list[tuple[str, Any]]:
        """``(node_id, object)`` for every entry of the graph (gradient capture walks these)."""
        with self._lock:
            return [(k[1], slot.value) for k, slot in self._entries.items() if k[0] == graph_id]


@attrs.frozen
class StateHandle:
    """What the engine puts on ``NodeCall.state``: the store seen from one node of one run.

    When persistence is off for the run (``weights_persistent`` false or an empty ``graph_id``)
    every call builds a fresh object and nothing is stored.
    """

    store: ModuleStore | None
    graph_id: str
    node_id: str
    persistent: bool = True

    @property
    def active(self) -> bool:
        return self.persistent and bool(self.graph_id) and self.store is not None

    def get_or_build(
        self,
        structure_hash: str,
        build: Callable[[], Any],
        info: Mapping[str, Any] | None = None,
    ) -> Any:
        if not self.active:
            return build()
        assert self.store is not None
        return self.store.get_or_build(self.graph_id, self.node_id, structure_hash, build, info)
