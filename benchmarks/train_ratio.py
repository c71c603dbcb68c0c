"""Training through the engine vs the same hand-written PyTorch loop, same process, same seed.

    python benchmarks/train_ratio.py [--model mlp|cnn|both] [--repeats 5] [--epochs 2]
        [--batches 200] [--threads N] [--plain-thread fresh|main] [--aa] [--check]

For each model (an MLP and a small CNN) a fixed number of batches of synthetic data is trained
twice per repeat:

* **engine**: a graph run by the real engine with the built-in catalogue: ``SequentialModel`` ->
  ``Optimizer`` (Adam), ``Loss`` (CrossEntropyLoss), ``DataLoader`` (shuffled) over the synthetic
  dataset, and ``TrainingLoop``. No built-in Tier-1 node makes a synthetic DATASET without
  torchvision, so a benchmark-local node hands the prebuilt ``TensorDataset`` to ``DataLoader``.
* **plain**: the equivalent loop written by hand (``nn.Sequential`` of the same layers, seeded with
  the same node seeds, so weights, shuffling and every loss are bitwise identical; checked).

Both timings cover building the model, optimizer and loader, and the training itself (the
engine's also covers preparing and validating the graph, scheduling and events). The two are
interleaved, alternating which goes first, after one warm-up of each. Prints the wall-clock
medians, their ratio (target <= 1.05 on CPU), the median of the per-repeat ratios (steadier on a
busy machine) and the same for process CPU time. ``--aa`` also times the plain loop against
itself: the ratio that the machine's own noise produces, to read the others against.

The engine runs node bodies in a fresh worker thread per run, so by default the plain loop also
runs in a fresh thread (``--plain-thread fresh``): that isolates the engine's own cost. With
``--plain-thread main`` it runs in the main thread instead. On small, oversubscribed machines
libgomp's spin-waiting can make torch's intra-op parallelism far slower in the main thread than
in a fresh one (seen on a busy 2-vCPU VM: 5-20x more CPU for the MLP), which then swamps
anything the engine does; ``OMP_WAIT_POLICY=passive`` or ``--threads 1`` removes that effect.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nodeloom.kernel import NodeSpec, PortSpec, RegistrySnapshot
from nodeloom.kernel.engine import RunEnvironment, run_graph
from nodeloom.kernel.options import parse_run_options
from nodeloom.kernel.registry import NodeEntry
from nodeloom.kernel.seeds import node_seed

SEED = 20240
LR = 1e-3
TARGET = 1.05


@attrs.frozen
class Workload:
    """One model: its v2 spec, the equivalent ``nn.Sequential`` and the data shape."""

    name: str
    spec: dict[str, Any]
    build: Callable[[], nn.Module]
    sample_shape: tuple[int, ...]
    classes: int
    batch_size: int


def _chain_spec(layers: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A v2 SequentialModel spec that chains ``layers`` from Input ``x`` to Output ``y``."""
    nodes: list[dict[str, Any]] = [{"id": "in", "type": "Input", "ports": [{"id": "p_x", "name": "x"}]}]
    for i, (kind, params) in enumerate(layers):
        nodes.append({"id": f"l{i}", "type": kind, "params": params})
    nodes.append({"id": "out", "type": "Output", "ports": [{"id": "p_y", "name": "y"}]})
    ids = [f"l{i}" for i in range(len(layers))]
    edges = [{"id": "e_in", "source": "in", "sourceHandle": "p_x", "target": ids[0]}]
    edges += [{"id": f"e{i}", "source": a, "target": b} for i, (a, b) in enumerate(zip(ids, ids[1:]))]
    edges.append({"id": "e_out", "source": ids[-1], "target": "out", "targetHandle": "p_y"})
    return {"version": 2, "nodes": nodes, "edges": edges}


def mlp() -> Workload:
    layers = [
        ("Linear", {"in_features": 784, "out_features": 256}), ("ReLU", {}),
        ("Linear", {"in_features": 256, "out_features": 128}), ("ReLU", {}),
        ("Linear", {"in_features": 128, "out_features": 10}),
    ]

    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))

    return Workload("mlp", _chain_spec(layers), build, (784,), 10, 64)


def cnn() -> Workload:
    layers = [
        ("Conv2d", {"in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1}), ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2, "stride": 2}),
        ("Conv2d", {"in_channels": 8, "out_channels": 16, "kernel_size": 3, "padding": 1}), ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2, "stride": 2}),
        ("Flatten", {}),
        ("Linear", {"in_features": 16 * 7 * 7, "out_features": 10}),
    ]

    def build() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
        )

    return Workload("cnn", _chain_spec(layers), build, (1, 28, 28), 10, 32)


def synthetic(work: Workload, batches_per_epoch: int) -> TensorDataset:
    """Gaussian inputs and random labels, ``batches_per_epoch`` full batches (made once)."""
    n = batches_per_epoch * work.batch_size
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, *work.sample_shape, generator=gen)
    y = torch.randint(0, work.classes, (n,), generator=gen)
    return TensorDataset(x, y)


# -- the engine side -------------------------------------------------------------------------------


def bench_snapshot(base: RegistrySnapshot, dataset: TensorDataset) -> RegistrySnapshot:
    """The built-in catalogue plus ``BenchDataset``, which hands out the prebuilt dataset."""
    spec = NodeSpec(
        name="BenchDataset", category="Bench", execute=lambda call: {"dataset": dataset},
        outputs=(PortSpec("dataset", "DATASET"),), cacheable=False,
    )
    entry = NodeEntry(spec=spec, key=spec.name, provider="builtin", pack_id="nodeloom",
                      pack_version="bench", code_digest="0" * 64)
    return attrs.evolve(base, nodes={**base.nodes, spec.name: entry})


def training_graph(work: Workload, epochs: int) -> dict[str, Any]:
    nodes = [
        ("start", "Start", {}),
        ("data", "BenchDataset", {}),
        ("loader", "DataLoader", {"batch_size": work.batch_size, "shuffle": True}),
        ("model", "SequentialModel", {"layers": json.dumps(work.spec)}),
        ("opt", "Optimizer", {"type": "Adam", "lr": LR}),
        ("loss", "Loss", {"type": "CrossEntropyLoss"}),
        ("train", "TrainingLoop", {"epochs": epochs, "device": "cpu"}),
    ]
    data_edges = [
        ("data", "dataset", "loader", "dataset"),
        ("model", "model", "opt", "model"),
        ("model", "model", "train", "model"),
        ("loader", "dataloader", "train", "dataloader"),
        ("opt", "optimizer", "train", "optimizer"),
        ("loss", "loss_fn", "train", "loss_fn"),
    ]
    edges = [{"source": "start", "sourceHandle": "trigger", "target": t, "targetHandle": "",
              "type": "trigger"} for t in ("data", "model", "loss")]
    edges += [{"source": s, "sourceHandle": sp, "target": t, "targetHandle": tp}
              for s, sp, t, tp in data_edges]
    return {"nodes": [{"id": i, "type": t, "data": {"params": p}} for i, t, p in nodes],
            "edges": edges}


def engine_run(graph: dict[str, Any], snapshot: RegistrySnapshot, env: RunEnvironment
               ) -> tuple[torch.Tensor, nn.Module]:
    result = run_graph(graph, snapshot, parse_run_options({"seed": SEED}), env=env)
    if not result.ok:
        raise SystemExit(f"engine run failed: {result.terminal}")
    out = result.results["train"]
    return out["losses"], out["model"]


# -- the hand-written side -------------------------------------------------------------------------


def plain_run(work: Workload, dataset: TensorDataset, epochs: int) -> tuple[torch.Tensor, nn.Module]:
    """What a user would write, with the node seeds the engine derives for the same ids."""
    torch.manual_seed(node_seed(SEED, "model"))
    model = work.build()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(dataset, batch_size=work.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(node_seed(SEED, "loader")))
    torch.manual_seed(node_seed(SEED, "train"))
    losses = []
    for _ in range(epochs):
        model.train()
        total, count = 0.0, 0
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            count += 1
        losses.append(total / count)
    return torch.tensor(losses, dtype=torch.float32), model


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    pa, pb = list(a.parameters()), list(b.parameters())
    return len(pa) == len(pb) and all(torch.equal(x, y) for x, y in zip(pa, pb))


# -- measuring -------------------------------------------------------------------------------------


def in_fresh_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a new thread, as the engine runs a node body, and return its result."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="plain-loop")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@attrs.define
class Timings:
    """Wall-clock and process CPU seconds of repeated calls."""

    wall: list[float] = attrs.field(factory=list)
    cpu: list[float] = attrs.field(factory=list)

    def time(self, fn: Callable[[], Any]) -> None:
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        self.wall.append(time.perf_counter() - w0)
        self.cpu.append(time.process_time() - c0)


def _ratios(a: list[float], b: list[float]) -> tuple[float, float]:
    """Ratio of the medians, and the median of the per-repeat ratios."""
    return (statistics.median(a) / statistics.median(b),
            statistics.median(x / y for x, y in zip(a, b)))


def noise_floor(work: Workload, *, epochs: int, batches: int, repeats: int, plain_thread: str
                ) -> tuple[float, float]:
    """The same ratios for the plain loop against itself: what this machine can resolve."""
    dataset = synthetic(work, batches // epochs)

    def plain() -> Any:
        if plain_thread == "fresh":
            return in_fresh_thread(lambda: plain_run(work, dataset, epochs))
        return plain_run(work, dataset, epochs)

    plain()
    a, b = Timings(), Timings()
    for i in range(repeats):
        for timings in ((a, b) if i % 2 == 0 else (b, a)):
            timings.time(plain)
    return _ratios(a.wall, b.wall)


def measure(work: Workload, snapshot: RegistrySnapshot, env: RunEnvironment, *, epochs: int,
            batches: int, repeats: int, plain_thread: str) -> dict[str, Any]:
    dataset = synthetic(work, batches // epochs)
    snap = bench_snapshot(snapshot, dataset)
    graph = training_graph(work, epochs)

    def engine() -> tuple[torch.Tensor, nn.Module]:
        return engine_run(graph, snap, env)

    def plain() -> tuple[torch.Tensor, nn.Module]:
        if plain_thread == "fresh":
            return in_fresh_thread(lambda: plain_run(work, dataset, epochs))
        return plain_run(work, dataset, epochs)

    # Warm-up, and the equivalence check: same losses and weights, bit for bit.
    e_losses, e_model = engine()
    p_losses, p_model = plain()
    identical = torch.equal(e_losses, p_losses) and same_weights(e_model, p_model)

    eng, base = Timings(), Timings()
    for i in range(repeats):
        # Alternate the order so that drifting machine load does not favour one side.
        pair = ((eng, engine), (base, plain)) if i % 2 == 0 else ((base, plain), (eng, engine))
        for timings, fn in pair:
            timings.time(fn)
    return {"model": work.name, "batches": (batches // epochs) * epochs, "engine": eng,
            "plain": base, "wall": _ratios(eng.wall, base.wall), "cpu": _ratios(eng.cpu, base.cpu),
            "identical": identical}


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:9.1f} ms  [{', '.join(f'{v * 1e3:.0f}' for v in values)}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("mlp", "cnn", "both"), default="both")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batches", type=int, default=200, help="total batches per training run")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--plain-thread", choices=("fresh", "main"), default="fresh",
                    help="where the hand-written loop runs (the engine uses a fresh thread)")
    ap.add_argument("--aa", action="store_true",
                    help="also time the plain loop against itself (the noise floor of the ratio)")
    ap.add_argument("--check", action="store_true", help=f"exit 1 when a ratio exceeds {TARGET}")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    from nodeloom.testing import make_kernel

    kernel = make_kernel(builtin=True)  # the installed built-in catalogue
    env = RunEnvironment(extensions=list(kernel.run_extensions))
    works = {"mlp": [mlp()], "cnn": [cnn()], "both": [mlp(), cnn()]}[args.model]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, "
          f"{args.repeats} repeats, {args.epochs} epochs, plain loop in the {args.plain_thread} "
          f"thread, target ratio <= {TARGET}")
    worst = 0.0
    for work in works:
        r = measure(work, kernel.snapshot, env, epochs=args.epochs, batches=args.batches,
                    repeats=args.repeats, plain_thread=args.plain_thread)
        ratio, pair = r["wall"]
        worst = max(worst, ratio)
        print(f"[{r['model']}] {r['batches']} batches of {work.batch_size}; "
              f"results identical: {'yes' if r['identical'] else 'NO'}")
        print(f"  engine wall (median): {_ms(r['engine'].wall)}")
        print(f"  plain  wall (median): {_ms(r['plain'].wall)}")
        print(f"  ratio engine/plain: {ratio:.3f} (median of per-repeat ratios {pair:.3f})  "
              f"{'OK' if ratio <= TARGET else 'ABOVE TARGET'}")
        print(f"  process CPU ratio:  {r['cpu'][0]:.3f} (per-repeat {r['cpu'][1]:.3f}); "
              f"engine {statistics.median(r['engine'].cpu) * 1e3:.0f} ms, "
              f"plain {statistics.median(r['plain'].cpu) * 1e3:.0f} ms")
        if args.aa:
            aa, aa_pair = noise_floor(work, epochs=args.epochs, batches=args.batches,
                                      repeats=args.repeats, plain_thread=args.plain_thread)
            print(f"  noise floor (plain/plain): {aa:.3f} (per-repeat {aa_pair:.3f})")
        if not r["identical"]:
            return 2
    return 1 if args.check and worst > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
