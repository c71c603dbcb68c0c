"""Per-node engine overhead: a chain of N cheap nodes through the engine vs. a plain loop.

    python benchmarks/engine_overhead.py [--nodes 200] [--repeats 5] [--ops python|tensor]

``python`` chains pure-Python increment nodes; ``tensor`` chains the built-in ``ScalarMultiply``
node on a small tensor (what a real graph does). Runs are submitted to one long-lived local
executor on one event loop, as the server does; each run still prepares and validates its raw
graph. The baseline calls the same operation in a plain Python loop in the same process. Prints
medians over ``--repeats`` runs and the per-node overhead ``(engine - baseline) / N`` in µs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from nodeloom.kernel import NodeSpec, ParamSpec, PortSpec, RegistrySnapshot
from nodeloom.kernel.engine import LocalExecutor, RunEnvironment, RunSpec
from nodeloom.kernel.options import parse_run_options
from nodeloom.kernel.outputs import RunOutputStore
from nodeloom.kernel.registry import NodeEntry
from nodeloom.kernel.state import ModuleStore


def _entry(spec: NodeSpec) -> NodeEntry:
    return NodeEntry(spec=spec, key=spec.name, provider="builtin", pack_id="nodeloom",
                     pack_version="bench", code_digest="0" * 64)


def _python_snapshot() -> tuple[RegistrySnapshot, Any, Any]:
    start = NodeSpec(name="Start", category="Control", execute=lambda c: {},
                     outputs=(PortSpec("trigger", "TRIGGER"),))
    source = NodeSpec(name="Zero", category="Bench", execute=lambda c: {"value": 0},
                      outputs=(PortSpec("value", "SCALAR"),))
    inc = NodeSpec(name="Inc", category="Bench", execute=lambda c: {"value": c.inputs["value"] + 1},
                   inputs=(PortSpec("value", "SCALAR"),), outputs=(PortSpec("value", "SCALAR"),),
                   params=(ParamSpec("step", "int", 1),))
    snap = RegistrySnapshot(generation=1, nodes={s.name: _entry(s) for s in (start, source, inc)})
    return snap, ("Zero", "value", {}), ("Inc", "value", "value", {})


def _tensor_snapshot() -> tuple[RegistrySnapshot, Any, Any]:
    from nodeloom.testing import make_kernel

    snap = make_kernel(builtin=True).snapshot  # the installed built-in catalogue, nothing else
    source = ("TensorCreate", "tensor", {"shape": "8,8", "fill": "ones"})
    step = ("ScalarMultiply", "tensor", "tensor", {"scalar": 1.0001})
    return snap, source, step


def chain_graph(n: int, source: Any, step: Any) -> dict[str, Any]:
    src_type, src_port, src_params = source
    step_type, in_port, out_port, step_params = step
    nodes = [{"id": "s", "type": "Start"}, {"id": "n0", "type": src_type, "data": {"params": src_params}}]
    edges = [{"source": "s", "sourceHandle": "trigger", "target": "n0", "targetHandle": "", "type": "trigger"}]
    prev, prev_port = "n0", src_port
    for i in range(1, n):
        nodes.append({"id": f"n{i}", "type": step_type, "data": {"params": step_params}})
        edges.append({"source": prev, "sourceHandle": prev_port, "target": f"n{i}", "targetHandle": in_port})
        prev, prev_port = f"n{i}", out_port
    return {"nodes": nodes, "edges": edges}


def baseline(n: int, ops: str) -> float:
    t0 = time.perf_counter()
    if ops == "python":
        value = 0
        for _ in range(1, n):
            value = value + 1
    else:
        import torch

        x = torch.ones(8, 8)
        for _ in range(1, n):
            x = x * 1.0001
    return time.perf_counter() - t0


async def measure(graph, snap, options, env, args) -> tuple[list[float], list[float]]:
    """Runs submitted to one long-lived executor on one loop, as the server runs them."""
    executor = LocalExecutor(env)
    await (await executor.submit(RunSpec(graph, snap, options))).wait()  # warm-up: pool threads
    engine_times, base_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        terminal = await (await executor.submit(RunSpec(graph, snap, options))).wait()
        engine_times.append(time.perf_counter() - t0)
        assert terminal["type"] == "execution_complete", terminal
        base_times.append(baseline(args.nodes, args.ops))
    return engine_times, base_times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ops", choices=("python", "tensor"), default="python")
    args = ap.parse_args()

    snap, source, step = _python_snapshot() if args.ops == "python" else _tensor_snapshot()
    graph = chain_graph(args.nodes, source, step)
    options = parse_run_options({"max_workers": 1, "seed": 0})
    env = RunEnvironment(cache=None, outputs=RunOutputStore(), modules=ModuleStore(), extensions=[],
                         paths=None, debug=False)
    engine_times, base_times = asyncio.run(measure(graph, snap, options, env, args))

    eng, base = statistics.median(engine_times), statistics.median(base_times)
    per_node_us = (eng - base) / args.nodes * 1e6
    print(f"ops={args.ops} nodes={args.nodes} repeats={args.repeats}")
    print(f"engine run (median):   {eng * 1e3:9.2f} ms")
    print(f"plain loop (median):   {base * 1e3:9.2f} ms")
    print(f"ratio engine/plain:    {eng / base if base else float('inf'):9.1f}x")
    print(f"per-node overhead:     {per_node_us:9.1f} us  (target < 100 us)")


if __name__ == "__main__":
    main()
