"""The pack lock of a run: which code the server would run each node with, and the worker's check.

A lock maps a *source* to ``(version, code digest)``. The source is the plugin that registered the
node (``core_nodes``, ``acme``...) or, for single-file custom nodes, their pack id
(``custom:<file>``). First-party nodes all carry pack id ``nodeloom``, so the plugin id is what
tells their code apart.

Only the sources of the node types a graph uses (presets included) are locked: a worker need not
carry every plugin the server happens to have, and a plugin being edited elsewhere must not
refuse runs that never touch it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodeloom.kernel.graph import NOTE_TYPE, GraphSchemaError, graph_from_dict, preset_name_of
from nodeloom.kernel.registry import NodeEntry, RegistrySnapshot

#: ``{source: (version, code digest)}``.
PackLock = dict[str, tuple[str, str]]

#: How many hex digits of a digest messages show.
DIGEST_SHOWN = 12


def _source_index(snapshot: RegistrySnapshot) -> dict[str, str]:
    """Node key -> id of the plugin that registered it."""
    index: dict[str, str] = {}
    for pack in snapshot.packs.values():
        for key in pack.nodes:
            index[key] = pack.id
    return index


def source_of(entry: NodeEntry, index: Mapping[str, str]) -> str:
    return index.get(entry.key, entry.pack_id)


def used_entries(graph: Mapping[str, Any], snapshot: RegistrySnapshot) -> list[NodeEntry]:
    """The registry entries of every node type the graph uses, presets expanded; unknown skipped."""
    try:
        parsed = graph_from_dict(graph)
    except GraphSchemaError:
        return []  # the worker reports the schema errors as any run would
    embedded = {
        p["preset_name"]: p
        for p in parsed.presets
        if isinstance(p, Mapping) and isinstance(p.get("preset_name"), str)
    }
    found: dict[str, NodeEntry] = {}
    seen_presets: set[str] = set()

    def visit(node_type: Any, depth: int) -> None:
        preset = preset_name_of(node_type)
        if preset is not None:
            if preset in seen_presets or depth > 10:
                return
            seen_presets.add(preset)
            registered = snapshot.presets.get(preset)
            definition = registered.definition if registered is not None else embedded.get(preset)
            for member in (definition or {}).get("nodes", ()):
                if isinstance(member, Mapping):
                    visit(member.get("type"), depth + 1)
            return
        if not isinstance(node_type, str) or node_type == NOTE_TYPE:
            return
        entry = snapshot.lookup(node_type).entry
        if entry is not None:
            found[entry.key] = entry

    for node in parsed.nodes:
        visit(node.type, 0)
    return [found[key] for key in sorted(found)]


def pack_lock(graph: Mapping[str, Any], snapshot: RegistrySnapshot) -> PackLock:
    """The lock of the sources the graph's node types come from, sorted by source."""
    index = _source_index(snapshot)
    lock: PackLock = {}
    for entry in used_entries(graph, snapshot):
        lock[source_of(entry, index)] = (entry.pack_version, entry.code_digest)
    return dict(sorted(lock.items()))


def entry_lock(entry: NodeEntry, snapshot: RegistrySnapshot) -> PackLock:
    """The lock of one node's source (what a task placed on another process checks)."""
    return {source_of(entry, _source_index(snapshot)): (entry.pack_version, entry.code_digest)}


def available_sources(snapshot: RegistrySnapshot) -> PackLock:
    """Every source this snapshot can run nodes from, with its version and digest."""
    index = _source_index(snapshot)
    out: PackLock = {}
    for entry in snapshot.nodes.values():
        out.setdefault(source_of(entry, index), (entry.pack_version, entry.code_digest))
    return out


def _describe(version: str, digest: str) -> str:
    return f"version {version or '?'} (code digest {digest[:DIGEST_SHOWN] or '?'})"


def lock_problems(lock: Mapping[str, tuple[str, str]], snapshot: RegistrySnapshot) -> list[str]:
    """Why ``snapshot`` cannot reproduce ``lock``, one message per source; empty when it can."""
    mine = available_sources(snapshot)
    problems = []
    for source, (version, digest) in sorted(lock.items()):
        have = mine.get(source)
        if have is None:
            problems.append(
                f"pack '{source}' is not available on the Ray worker (not installed, disabled or "
                f"failing to load; the server runs {_describe(version, digest)})"
            )
        elif have != (version, digest):
            problems.append(
                f"pack '{source}' differs: the server runs {_describe(version, digest)}, "
                f"the Ray worker has {_describe(*have)}"
            )
    return problems
