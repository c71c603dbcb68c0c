"""``local`` vs ``ray``: a burst of small training runs, and the fixed cost of one tiny run.

    python benchmarks/executors.py [--runs 20] [--epochs 5] [--tiny 20] [--workers 2] [--address ADDR]
                                   [--torch-threads N]

Burst: ``--runs`` copies of the Token-Classifier example (``--epochs`` epochs each, seeds 0..n-1)
are submitted at once to one executor; prints the wall time of the whole burst and the per-run
latency (submit to terminal event) p50/p99. Tiny: a Start -> TensorCreate run submitted
``--tiny`` times one after the other; prints the median latency, the fixed cost per run.

Both executors are driven as the server drives them (one event loop, ``submit`` then the
terminal event). Every node is listed in ``changed_nodes``, so no run is served from a cache.
Without ``--address`` a local Ray instance is started on this machine (127.0.0.1, no dashboard);
its workers are warmed up first, and that cold start is printed on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

from nodeloom.kernel.engine import LocalExecutor, RunEnvironment, RunSpec
from nodeloom.kernel.options import parse_run_options
from nodeloom.plugins.core_nodes import EXAMPLES_DIR
from nodeloom.testing import make_kernel


def training_graph(epochs: int) -> dict[str, Any]:
    graph = json.loads((EXAMPLES_DIR / "Training" / "Token-Classifier" / "graph.json").read_text("utf-8"))
    for node in graph["nodes"]:
        if node["type"] == "TrainingLoop":
            node["data"]["params"]["epochs"] = epochs
    return graph


def tiny_graph() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "s", "type": "Start"},
            {"id": "t", "type": "TensorCreate", "data": {"params": {"shape": "4", "fill": "ones"}}},
        ],
        "edges": [{"source": "s", "sourceHandle": "trigger", "target": "t", "targetHandle": "", "type": "trigger"}],
    }


def options(graph: dict[str, Any], run_id: str, seed: int) -> Any:
    ids = [n["id"] for n in graph["nodes"] if n.get("type") != "note"]
    return parse_run_options({"run_id": run_id, "seed": seed, "changed_nodes": ids})


async def one(executor: Any, snapshot: Any, graph: dict[str, Any], run_id: str, seed: int) -> float:
    t0 = time.perf_counter()
    run = await executor.submit(RunSpec(graph, snapshot, options(graph, run_id, seed)))
    terminal = await run.wait()
    assert terminal["type"] == "execution_complete", terminal
    return time.perf_counter() - t0


async def burst(executor: Any, snapshot: Any, graph: dict[str, Any], n: int, tag: str) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    latencies = await asyncio.gather(*(one(executor, snapshot, graph, f"{tag}-{i}", i) for i in range(n)))
    return time.perf_counter() - t0, list(latencies)


async def tiny(executor: Any, snapshot: Any, n: int, tag: str) -> list[float]:
    graph = tiny_graph()
    await one(executor, snapshot, graph, f"{tag}-warm", 0)
    return [await one(executor, snapshot, graph, f"{tag}-{i}", i) for i in range(n)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(name: str, total: float, latencies: list[float], tiny_times: list[float]) -> dict[str, float]:
    row = {
        "total": total,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "tiny": statistics.median(tiny_times),
    }
    print(
        f"{name:<6} burst wall {row['total']:7.2f} s   latency p50 {row['p50']:7.2f} s  p99 {row['p99']:7.2f} s"
        f"   tiny run median {row['tiny'] * 1e3:8.1f} ms"
    )
    return row


def start_ray(address: str | None, cpus: int | None) -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if address:
        ray.init(address=address, namespace="nodeloom-bench")
    else:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback address
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 namespace="nodeloom-bench", log_to_driver=False)
    return ray


async def main_async(args: argparse.Namespace) -> None:
    from nodeloom.plugins.ray_executor import RayExecutor

    kernel = make_kernel(builtin=True)
    shared = kernel.run_environment
    local = LocalExecutor(RunEnvironment(cache=None, extensions=shared.extensions, paths=shared.paths))
    remote = RayExecutor()
    remote.bind(kernel)
    remote.configure({"workers": args.workers, "worker_cpus": args.worker_cpus})
    graph = training_graph(args.epochs)
    snapshot = kernel.snapshot

    t0 = time.perf_counter()
    await asyncio.gather(*(one(remote, snapshot, tiny_graph(), f"cold-{i}", i) for i in range(args.workers)))
    print(f"ray cold start ({args.workers} workers: join, start, build kernels): {time.perf_counter() - t0:.2f} s")
    await one(local, snapshot, graph, "warm-local", 0)  # imports and first-touch costs out of the way
    await burst(remote, snapshot, graph, args.workers, "warm-ray")

    print(f"burst: {args.runs} x Token-Classifier ({args.epochs} epochs), submitted at once; tiny: median of {args.tiny}")
    rows = {}
    for name, executor in (("local", local), ("ray", remote)):
        total, latencies = await burst(executor, snapshot, graph, args.runs, f"burst-{name}")
        rows[name] = report(name, total, latencies, await tiny(executor, snapshot, args.tiny, f"tiny-{name}"))
    loc, ray_ = rows["local"], rows["ray"]
    print(
        f"ratio ray/local: burst wall {ray_['total'] / loc['total']:.2f}x, p50 {ray_['p50'] / loc['p50']:.2f}x, "
        f"tiny {ray_['tiny'] / loc['tiny']:.1f}x (+{(ray_['tiny'] - loc['tiny']) * 1e3:.1f} ms per run)"
    )
    remote.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--tiny", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2, help="Ray run workers (actors)")
    ap.add_argument("--worker-cpus", type=float, default=1.0, help="CPUs each worker reserves")
    ap.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    ap.add_argument("--address", default=None, help="join this Ray cluster instead of starting one")
    ap.add_argument("--torch-threads", type=int, default=None,
                    help="torch intra-op threads of this process (local runs); Ray workers get theirs from Ray")
    args = ap.parse_args()
    if args.torch_threads is not None:
        import torch

        torch.set_num_threads(args.torch_threads)
    ray = start_ray(args.address, args.cpus)
    import torch

    print(
        f"machine: {os.cpu_count()} CPUs; Ray cluster: {ray.cluster_resources().get('CPU', 0):g} CPUs; "
        f"torch threads here: {torch.get_num_threads()}"
    )
    try:
        asyncio.run(main_async(args))
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
