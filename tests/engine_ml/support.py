"""Shared harness for the end-to-end ML tests: the real catalogue, the real engine, real torch.

Everything runs through ``nodeloom.kernel.engine.run_graph`` with the built-in plugins loaded by
``nodeloom.testing.make_kernel(builtin=True)`` and the kernel's own run extensions (the torch
extension included). The only additions are a few test-only node types registered in a private
copy of the snapshot (the way ``nodeloom.testing.run_node`` feeds values):

- ``TestDataset``: an in-memory ``TensorDataset`` (no built-in Tier-1 node makes a synthetic
  DATASET without torchvision), fed into the real ``DataLoader``;
- ``BackwardOnce``: an identity stand-in, only while the real Tier-2 node is not in the catalogue,
  so that the engine's loss choice for it (engine.md §4.15 step 3.1) is exercised either way;
- ``GradBomb``: identity forward whose backward raises, to provoke a ``backward_failed`` warning.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import torch
from torch.utils.data import TensorDataset

from nodeloom.kernel import NodeSpec, ParamSpec, PortSpec, RegistrySnapshot
from nodeloom.kernel.cache import OutputCache
from nodeloom.kernel.engine import RunEnvironment, RunResult, run_graph
from nodeloom.kernel.host import Kernel
from nodeloom.kernel.options import parse_run_options
from nodeloom.kernel.outputs import RunOutputStore
from nodeloom.kernel.registry import NodeEntry
from nodeloom.kernel.state import ModuleStore

# -- graphs ----------------------------------------------------------------------------------------

NodeDecl = tuple[str, str, Mapping[str, Any]]


def graph(nodes: Sequence[NodeDecl], links: Iterable[str] = ()) -> dict[str, Any]:
    """A graph from ``(id, type, params)`` triples and ``"src.port > dst.port"`` links.

    A ``Start`` node triggers every node without an incoming data link, so the whole graph is
    executable.
    """
    edges: list[dict[str, Any]] = []
    fed: set[str] = set()
    for link in links:
        src, dst = (part.strip() for part in link.split(">"))
        s_id, s_port = src.split(".")
        t_id, t_port = dst.split(".")
        edges.append({"source": s_id, "sourceHandle": s_port, "target": t_id, "targetHandle": t_port})
        fed.add(t_id)
    out_nodes: list[dict[str, Any]] = [{"id": "start", "type": "Start"}]
    for node_id, node_type, params in nodes:
        out_nodes.append({"id": node_id, "type": node_type, "data": {"params": dict(params)}})
        if node_id not in fed:
            edges.append(
                {"source": "start", "sourceHandle": "trigger", "target": node_id,
                 "targetHandle": "", "type": "trigger"}
            )
    return {"nodes": out_nodes, "edges": edges}


def mlp_layers(sizes: Sequence[int], activation: str = "ReLU") -> dict[str, Any]:
    """A v2 SequentialModel spec: Linear layers of ``sizes`` with an activation between them."""
    nodes: list[dict[str, Any]] = [{"id": "in", "type": "Input", "ports": [{"id": "p_x", "name": "x"}]}]
    chain: list[str] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        if i:
            nodes.append({"id": f"act{i}", "type": activation})
            chain.append(f"act{i}")
        nodes.append({"id": f"fc{i}", "type": "Linear", "params": {"in_features": a, "out_features": b}})
        chain.append(f"fc{i}")
    nodes.append({"id": "out", "type": "Output", "ports": [{"id": "p_y", "name": "y"}]})
    edges = [{"id": "e0", "source": "in", "sourceHandle": "p_x", "target": chain[0]}]
    for i, (a, b) in enumerate(zip(chain, chain[1:]), start=1):
        edges.append({"id": f"e{i}", "source": a, "target": b})
    edges.append({"id": "e_out", "source": chain[-1], "target": "out", "targetHandle": "p_y"})
    return {"version": 2, "nodes": nodes, "edges": edges}


# -- test-only node types --------------------------------------------------------------------------


def _test_dataset(call: Any) -> dict[str, Any]:
    p = call.params
    gen = torch.Generator().manual_seed(p["seed"])
    x = torch.randn(p["samples"], p["features"], generator=gen)
    y = torch.randint(0, p["classes"], (p["samples"],), generator=gen)
    return {"dataset": TensorDataset(x, y)}


class _Bomb(torch.autograd.Function):
    """Identity whose backward fails, like a custom op without a working gradient."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("GradBomb: no gradient here")


def _grad_bomb(call: Any) -> dict[str, Any]:
    return {"tensor": _Bomb.apply(call.inputs["tensor"])}


def _identity(call: Any) -> dict[str, Any]:
    return {"tensor": call.inputs["tensor"]}


def _extra_specs(snapshot: RegistrySnapshot) -> list[NodeSpec]:
    specs = [
        NodeSpec(
            name="TestDataset",
            category="Testing",
            execute=_test_dataset,
            outputs=(PortSpec("dataset", "DATASET"),),
            params=(
                ParamSpec("samples", "int", 64),
                ParamSpec("features", "int", 4),
                ParamSpec("classes", "int", 3),
                ParamSpec("seed", "int", 0),
            ),
            cacheable=False,
        ),
        NodeSpec(
            name="GradBomb",
            category="Testing",
            execute=_grad_bomb,
            inputs=(PortSpec("tensor", "TENSOR"),),
            outputs=(PortSpec("tensor", "TENSOR"),),
            cacheable=False,
        ),
    ]
    if "BackwardOnce" not in snapshot.nodes:
        specs.append(
            NodeSpec(
                name="BackwardOnce",
                category="Training",
                execute=_identity,
                inputs=(PortSpec("tensor", "TENSOR"),),
                outputs=(PortSpec("tensor", "TENSOR"),),
                cacheable=False,
            )
        )
    return specs


def with_test_nodes(snapshot: RegistrySnapshot) -> RegistrySnapshot:
    """A private copy of ``snapshot`` with the test-only node types added."""
    nodes = dict(snapshot.nodes)
    for spec in _extra_specs(snapshot):
        nodes[spec.name] = NodeEntry(
            spec=spec, key=spec.name, provider="builtin", pack_id="nodeloom",
            pack_version="testing", code_digest="0" * 64,
        )
    return attrs.evolve(snapshot, nodes=nodes)


# -- running ---------------------------------------------------------------------------------------


@attrs.define
class Harness:
    """The built-in catalogue plus the test nodes, and a way to run graphs through the engine."""

    kernel: Kernel
    snapshot: RegistrySnapshot

    @classmethod
    def create(cls, kernel: Kernel) -> Harness:
        return cls(kernel, with_test_nodes(kernel.snapshot))

    def env(self, *, cache: bool = False, modules: ModuleStore | None = None) -> RunEnvironment:
        """A fresh run environment with the kernel's run extensions (the torch one included)."""
        return RunEnvironment(
            cache=OutputCache() if cache else None,
            outputs=RunOutputStore(),
            modules=modules if modules is not None else ModuleStore(),
            extensions=list(self.kernel.run_extensions),
        )

    def run(
        self,
        g: Mapping[str, Any],
        env: RunEnvironment | None = None,
        *,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        cancel_event: threading.Event | None = None,
        **options: Any,
    ) -> RunResult:
        """Run ``g``; options use wire names (``seed`` defaults to 0 for reproducibility)."""
        opts = parse_run_options({"seed": 0, **options})
        return run_graph(
            dict(g), self.snapshot, opts, env=env if env is not None else self.env(),
            on_event=on_event, cancel_event=cancel_event,
        )

    def ok(self, g: Mapping[str, Any], env: RunEnvironment | None = None, **options: Any) -> RunResult:
        """Like :meth:`run`, asserting the run completed."""
        result = self.run(g, env, **options)
        assert result.ok, result.terminal
        return result


def progress_events(result: RunResult, node_id: str) -> list[dict[str, Any]]:
    return [e["progress"] for e in result.node_events(node_id) if e["status"] == "progress"]
