"""Registry snapshots: immutable, generation-numbered, swapped atomically (engine.md §3).

Every consumer (validation, execution, export, the API) obtains one snapshot per request or run and
reads only from it. A run *pins* its snapshot; retired custom-node modules are dropped from
``sys.modules`` when the last holder releases a snapshot.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import attrs

from .spec import NodeSpec, node_definition


@attrs.frozen
class NodeEntry:
    spec: NodeSpec
    key: str
    provider: str  # "builtin" | "custom" | "plugin:<id>"
    pack_id: str  # "nodeloom" for first-party nodes, "custom:<file>" or the pack id
    pack_version: str
    code_digest: str
    available: bool = True
    unavailable_reason: str | None = None

    def definition(self) -> dict[str, Any]:
        return node_definition(
            self.spec,
            key=self.key,
            provider=self.provider,
            version=self.pack_version,
            available=self.available,
            unavailable_reason=self.unavailable_reason,
        )


@attrs.frozen
class PresetEntry:
    """A preset definition (wire form of api.md §4.5, ``data_type``/``param_def`` resolved)."""

    definition: Mapping[str, Any]
    source: str  # "builtin" | "plugin:<id>" | "user"
    available: bool = True
    error: str | None = None

    @property
    def name(self) -> str:
        return self.definition["preset_name"]

    def wire(self) -> dict[str, Any]:
        out = dict(self.definition)
        out.update(source=self.source, available=self.available, error=self.error)
        return out


@attrs.frozen
class ExampleEntry:
    path: str  # relative path, e.g. "CNN/MNIST/graph.json"
    graph: Mapping[str, Any] | None  # parsed graph, or None when ``file`` is to be read lazily
    file: str | None
    source: str


@attrs.frozen
class PackInfo:
    """A plugin (pack) as the build saw it; ``source`` is builtin, entry-point or custom."""

    id: str
    name: str
    version: str | None
    source: str
    enabled: bool = True
    hooks: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()
    error: str | None = None
    description: str = ""
    code_digest: str = ""
    distribution: str | None = None
    entry_point: Mapping[str, str] | None = None
    module: str | None = None


BuildErrorKind = Literal["plugin", "custom_node", "preset", "example", "model_registry"]


@attrs.frozen
class BuildError:
    """One problem of a registry build: what kind of source failed, which one and why."""

    kind: BuildErrorKind
    source: str
    message: str
    line: int | None = None

    def wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "message": self.message, "line": self.line}


@attrs.frozen
class Lookup:
    """Result of resolving a node type name: an entry, or an error code with candidates."""

    entry: NodeEntry | None
    error: str | None = None  # unknown_node_type | ambiguous_node_type
    candidates: tuple[str, ...] = ()


@attrs.define(eq=False)
class RegistrySnapshot:
    """One immutable registry state. Treat every field as read-only."""

    generation: int
    nodes: Mapping[str, NodeEntry] = attrs.field(factory=dict)
    presets: Mapping[str, PresetEntry] = attrs.field(factory=dict)
    packs: Mapping[str, PackInfo] = attrs.field(factory=dict)
    examples: Mapping[str, ExampleEntry] = attrs.field(factory=dict)
    models: tuple[Mapping[str, Any], ...] = ()
    errors: tuple[BuildError, ...] = ()
    # Module names of custom-node files this snapshot uses; dropped when no longer held.
    custom_modules: frozenset[str] = frozenset()
    # Arbitrary per-build material (e.g. the loaded plugin objects) for the builder's own use.
    sources: Mapping[str, Any] = attrs.field(factory=dict)
    _definitions: list[dict[str, Any]] | None = attrs.field(default=None, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def lookup(self, type_name: str) -> Lookup:
        """Resolve a node type (engine.md §3.3): exact key, then the unique ``*:<name>``."""
        entry = self.nodes.get(type_name)
        if entry is not None:
            return Lookup(entry)
        if ":" not in type_name:
            suffix = ":" + type_name
            matches = sorted(k for k in self.nodes if k.endswith(suffix))
            if len(matches) == 1:
                return Lookup(self.nodes[matches[0]])
            if len(matches) > 1:
                return Lookup(None, "ambiguous_node_type", tuple(matches))
        return Lookup(None, "unknown_node_type")

    def node_definitions(self) -> list[dict[str, Any]]:
        """Every NodeDefinition sorted by key; built once per snapshot and shared."""
        with self._lock:
            if self._definitions is None:
                self._definitions = [self.nodes[k].definition() for k in sorted(self.nodes)]
            return self._definitions

    def pack_lock(self) -> dict[str, str]:
        """``{pack id: version}`` of every loaded pack, for run specs and exports."""
        return {p.id: p.version or "" for p in self.packs.values() if p.error is None and p.enabled}


class RegistryHolder:
    """Holds the current snapshot; publishing is one reference swap under a lock.

    Pins count how many runs hold each snapshot so custom modules of retired snapshots can be
    removed from ``sys.modules`` once nothing uses them.
    """

    def __init__(self, initial: RegistrySnapshot | None = None) -> None:
        self._lock = threading.RLock()
        self._current = initial or RegistrySnapshot(generation=1)
        self._pins: dict[int, int] = {}
        self._retired: dict[int, RegistrySnapshot] = {}
        self._listeners: list[Any] = []

    @property
    def current(self) -> RegistrySnapshot:
        return self._current

    @property
    def generation(self) -> int:
        return self._current.generation

    def next_generation(self) -> int:
        return self._current.generation + 1

    def publish(self, snapshot: RegistrySnapshot) -> RegistrySnapshot:
        with self._lock:
            old = self._current
            self._current = snapshot
            self._retired[id(old)] = old
            self._collect()
        for listener in list(self._listeners):
            listener(snapshot)
        return snapshot

    def add_listener(self, fn: Any) -> None:
        """``fn(snapshot)`` is called after every publish (the API pushes ``registry_changed``)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Any) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    @contextmanager
    def pinned(self) -> Iterator[RegistrySnapshot]:
        """Pin the current snapshot for the duration of a run."""
        with self._lock:
            snap = self._current
            self._pins[id(snap)] = self._pins.get(id(snap), 0) + 1
        try:
            yield snap
        finally:
            with self._lock:
                left = self._pins[id(snap)] - 1
                if left:
                    self._pins[id(snap)] = left
                else:
                    del self._pins[id(snap)]
                self._collect()

    def _collect(self) -> None:
        live_modules: set[str] = set(self._current.custom_modules)
        for key, snap in list(self._retired.items()):
            if key in self._pins:
                live_modules |= snap.custom_modules
        for key, snap in list(self._retired.items()):
            if key not in self._pins:
                del self._retired[key]
                for name in snap.custom_modules - live_modules:
                    sys.modules.pop(name, None)
