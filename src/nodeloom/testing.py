"""Test helpers for node-pack authors.

Use it as a pytest plugin (``pytest_plugins = ["nodeloom.testing"]`` in your ``conftest.py``) or
import the functions directly::

    from nodeloom.testing import run_node

    def test_double(nodeloom_registry):
        snapshot = nodeloom_registry("my_pack.plugin", pack_id="mypack")
        assert run_node(snapshot, "mypack:Double", {"value": 2}) == {"value": 4}

Everything runs through the real registry build and the real engine, exactly as in the server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import importlib_metadata
import pytest

from nodeloom.kernel import DataDir, NodePaths, NodeSpec, PortSpec, RegistrySnapshot
from nodeloom.kernel.engine import RunEnvironment, RunResult
from nodeloom.kernel.engine import run_graph as _run_graph
from nodeloom.kernel.host import Kernel
from nodeloom.kernel.options import parse_run_options
from nodeloom.kernel.plugins import GROUP, default_entry_points
from nodeloom.kernel.registry import NodeEntry

__all__ = [
    "NodeRunFailed",
    "make_kernel",
    "nodeloom_data_dir",
    "nodeloom_kernel",
    "nodeloom_registry",
    "run_graph",
    "run_node",
]

_FEEDER = "NodeloomTestingValue"


class NodeRunFailed(AssertionError):
    """The node (or graph) did not complete; the message carries the engine's error."""


def _module_name(plugin: str | ModuleType) -> str:
    return plugin if isinstance(plugin, str) else plugin.__name__


def make_kernel(
    *plugins: str | ModuleType,
    pack_id: str | None = None,
    builtin: bool = False,
    data_dir: str | Path | DataDir | None = None,
) -> Kernel:
    """A started :class:`Kernel` holding only ``plugins`` (module objects or dotted names).

    Each plugin loads like an installed third-party pack, so its nodes are namespaced
    ``<pack_id>:<Name>``; ``pack_id`` defaults to the module's top-level package name. With
    ``builtin=True`` nodeloom's own plugins load too (the built-in catalogue).
    """
    names = [_module_name(p) for p in plugins]
    if pack_id is not None and len(names) != 1:
        raise ValueError("pack_id can only be given for a single plugin")
    ids = [pack_id or n.split(".")[0] for n in names]

    def entry_points() -> list[importlib_metadata.EntryPoint]:
        eps = [importlib_metadata.EntryPoint(i, n, GROUP) for i, n in zip(ids, names, strict=True)]
        if builtin:
            eps += [ep for ep in default_entry_points() if ep.dist is not None and ep.dist.name == "nodeloom"]
        return eps

    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="nodeloom-test-"))
    kernel = Kernel(data_dir if isinstance(data_dir, DataDir) else DataDir(data_dir), entry_points=entry_points,
                    env={})
    kernel.start()
    failed = [p for p in kernel.plugins() if p.error and p.id in ids]
    if failed:
        raise NodeRunFailed("; ".join(f"plugin {p.id} failed to load: {p.error}" for p in failed))
    return kernel


def run_graph(
    snapshot: RegistrySnapshot | Kernel,
    graph: Mapping[str, Any],
    *,
    data_dir: DataDir | None = None,
    **options: Any,
) -> RunResult:
    """Run ``graph`` through the engine (options as on the wire: ``seed``, ``device``...)."""
    kernel = snapshot if isinstance(snapshot, Kernel) else None
    return _run(kernel, kernel.snapshot if kernel else snapshot, graph, options, data_dir)


def _run(
    kernel: Kernel | None,
    snapshot: RegistrySnapshot,
    graph: Mapping[str, Any],
    options: Mapping[str, Any],
    data_dir: DataDir | None = None,
) -> RunResult:
    data_dir = data_dir or (kernel.data_dir if kernel else None)
    env = RunEnvironment(
        extensions=list(kernel.run_extensions) if kernel else [],
        paths=NodePaths(data_dir) if data_dir else None,
    )
    return _run_graph(dict(graph), snapshot, parse_run_options({"seed": 0, **options}), env=env)


def _feeder(value: Any) -> NodeSpec:
    return NodeSpec(
        name=_FEEDER,
        category="Testing",
        execute=lambda call: {"value": value},
        outputs=(PortSpec("value", "ANY"),),
        cacheable=False,
    )


def run_node(
    snapshot: RegistrySnapshot | Kernel,
    node_type: str,
    inputs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    hidden: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Run one node with the given input values and params; return its outputs.

    Input values are fed by throw-away source nodes, so the node runs exactly as inside a graph
    (defaults applied, params validated, run extensions active). Hidden ``__`` outputs are dropped
    unless ``hidden=True``. Raises :class:`NodeRunFailed` when validation or the node fails.
    """
    kernel = snapshot if isinstance(snapshot, Kernel) else None
    base = kernel.snapshot if kernel else snapshot
    nodes: dict[str, NodeEntry] = dict(base.nodes)
    graph_nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "Start"},
        {"id": "node", "type": node_type, "data": {"params": dict(params or {})}},
    ]
    edges: list[dict[str, Any]] = []
    # Each feeder is its own node type holding one value, added to a private copy of the snapshot.
    for i, (port, value) in enumerate((inputs or {}).items()):
        key = f"{_FEEDER}{i}"
        nodes[key] = NodeEntry(spec=attrs.evolve(_feeder(value), name=key), key=key, provider="builtin",
                               pack_id="nodeloom", pack_version="testing", code_digest="0" * 64)
        graph_nodes.append({"id": f"in_{i}", "type": key})
        edges.append({"source": f"in_{i}", "sourceHandle": "value", "target": "node", "targetHandle": port})
        edges.append(_trigger(f"in_{i}"))
    if not inputs:
        edges.append(_trigger("node"))
    if "Start" not in nodes:
        nodes["Start"] = NodeEntry(
            spec=NodeSpec(name="Start", category="Control", execute=lambda call: {},
                          outputs=(PortSpec("trigger", "TRIGGER"),)),
            key="Start", provider="builtin", pack_id="nodeloom", pack_version="testing", code_digest="0" * 64)
    private = attrs.evolve(base, nodes=nodes)
    result = _run(kernel, private, {"nodes": graph_nodes, "edges": edges}, options)
    if not result.ok:
        raise NodeRunFailed(result.terminal.get("error") or str(result.terminal))
    if node_type.startswith("preset:"):
        return _preset_outputs(private, node_type[len("preset:") :], result)
    outputs = dict(result.results.get("node", {}))
    return outputs if hidden else {k: v for k, v in outputs.items() if not k.startswith("__")}


def _preset_outputs(snapshot: RegistrySnapshot, name: str, result: RunResult) -> dict[str, Any]:
    """A preset instance's outputs under its exposed names (members ran as ``node__<id>``)."""
    definition = snapshot.presets[name].definition
    out = {}
    for port in definition.get("exposed_outputs", []):
        member = result.results.get(f"node__{port['internal_node']}", {})
        if port["internal_port"] in member:
            out[port["name"]] = member[port["internal_port"]]
    return out


def _trigger(target: str) -> dict[str, Any]:
    return {"source": "start", "sourceHandle": "trigger", "target": target, "targetHandle": "", "type": "trigger"}


# -- pytest fixtures ------------------------------------------------------------------------------


@pytest.fixture
def nodeloom_data_dir(tmp_path: Path) -> DataDir:
    """A fresh data dir with nodeloom's layout."""
    return DataDir(tmp_path / "nodeloom-data").ensure()


@pytest.fixture
def nodeloom_kernel(nodeloom_data_dir: DataDir) -> Iterator[Any]:
    """A factory: ``nodeloom_kernel("my_pack.plugin", builtin=False) -> Kernel``."""
    made: list[Kernel] = []

    def factory(*plugins: str | ModuleType, **kw: Any) -> Kernel:
        kernel = make_kernel(*plugins, data_dir=kw.pop("data_dir", nodeloom_data_dir), **kw)
        made.append(kernel)
        return kernel

    yield factory
    for kernel in made:
        kernel.stop_watching()


@pytest.fixture
def nodeloom_registry(nodeloom_kernel: Any) -> Any:
    """A factory: ``nodeloom_registry("my_pack.plugin") -> RegistrySnapshot`` with just that pack."""

    def factory(*plugins: str | ModuleType, **kw: Any) -> RegistrySnapshot:
        return nodeloom_kernel(*plugins, **kw).snapshot

    return factory


def registered_keys(snapshot: RegistrySnapshot, pack_id: str) -> list[str]:
    """Node keys a pack contributed, sorted (handy in assertions)."""
    return sorted(k for k in snapshot.nodes if k.startswith(f"{pack_id}:"))

