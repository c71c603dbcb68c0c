"""Helpers for the Ray executor tests: installed-like plugin sites, kernels, runs, comparisons.

The server kernel and the Ray workers load the same throw-away site: a ``nodeloom`` distribution
declaring the first-party plugins the tests need (``api``, ``core_nodes`` and ``ray``, whatever
nodeloom's own metadata declares) and the ``raytest-pack`` distribution, whose module is a copy
of :mod:`tests.ray.pack` at the top of the site (a third-party pack's code digest covers its whole
top-level package, and ``tests`` changes whenever any test does). Workers build their kernel with
:func:`site_kernel`, which Ray imports by name (the test set-up puts the repository and the site
on the workers' ``PYTHONPATH``).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import importlib_metadata

from nodeloom.kernel.engine import LocalExecutor, RunEnvironment, RunResult, RunSpec
from nodeloom.kernel.host import Kernel
from nodeloom.kernel.options import parse_run_options
from nodeloom.kernel.paths import DataDir
from nodeloom.plugins.core_nodes import EXAMPLES_DIR
from tests.api.support import entry_point_source, write_dist

FIRST_PARTY = {
    "api": "nodeloom.plugins.api_routes",
    "core_nodes": "nodeloom.plugins.core_nodes",
    "ray": "nodeloom.plugins.ray_executor",
}
PACK_MODULE = "nodeloom_raytest_pack"
TEST_PACK = {"raytest": PACK_MODULE}
NODELOOM_VERSION = importlib_metadata.version("nodeloom")


def make_site(root: Path, pack_version: str = "1.0") -> Path:
    """Dist-infos (and the test pack's module) for the kernels; put ``root`` on the path to import."""
    from tests.ray import pack

    write_dist(root, "nodeloom", FIRST_PARTY, version=NODELOOM_VERSION)
    write_dist(root, "raytest-pack", TEST_PACK, version=pack_version)
    (root / f"{PACK_MODULE}.py").write_text(Path(pack.__file__).read_text(encoding="utf-8"), encoding="utf-8")
    return root


def site_kernel(site: str, data_dir: str, env: Mapping[str, str]) -> Kernel:
    """The worker-side kernel factory: the same plugins as the test server kernel."""
    return Kernel(DataDir(data_dir), entry_points=entry_point_source(Path(site)), env=dict(env))


def worker_options(site: Path, **extra: Any) -> dict[str, Any]:
    """``configure`` options for a test executor: one worker, no CPU reserved, our site."""
    return {"kernel_factory": functools.partial(site_kernel, str(site)), "workers": 1, "worker_cpus": 0, **extra}


def example(path: str) -> dict[str, Any]:
    return json.loads((EXAMPLES_DIR / path / "graph.json").read_text(encoding="utf-8"))


def graph(*nodes: tuple[str, str, Mapping[str, Any]], links: tuple[tuple[str, str, str, str], ...] = ()) -> dict:
    """Start triggering every given node, plus data links ``(src, port, dst, port)``."""
    out = [{"id": "s", "type": "raytest:Start", "data": {"params": {}}}]
    edges = []
    for node_id, node_type, params in nodes:
        out.append({"id": node_id, "type": node_type, "data": {"params": dict(params)}})
        edges.append({"source": "s", "target": node_id, "sourceHandle": "trigger", "targetHandle": "", "type": "trigger"})
    for src, sport, dst, dport in links:
        edges.append({"source": src, "target": dst, "sourceHandle": sport, "targetHandle": dport})
    return {"nodes": out, "edges": edges}


async def run_on(executor: Any, kernel: Kernel, body: Mapping[str, Any], **options: Any) -> tuple[Any, RunResult]:
    """Submit to ``executor`` and wait; returns the handle and a RunResult of what it reported."""
    with kernel.holder.pinned() as snapshot:
        run = await executor.submit(RunSpec(dict(body), snapshot, parse_run_options(options)))
        terminal = await run.wait()
    return run, RunResult(run.run_id, list(run.event_log), dict(run.results), terminal)


def fresh_local(kernel: Kernel) -> LocalExecutor:
    """An in-process executor without a cache, on the kernel's extensions and paths."""
    shared = kernel.run_environment
    return LocalExecutor(RunEnvironment(cache=None, extensions=shared.extensions, paths=shared.paths))


async def until(predicate: Any, timeout: float = 30.0, step: float = 0.02) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(step)


def same_value(a: Any, b: Any, *, weights: bool = True) -> bool:
    """Tensors bitwise, modules by their state (or only its shapes), containers recursively,
    other values by type."""
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, torch.nn.Module):
        sa, sb = a.state_dict(), b.state_dict()
        same = (torch.equal if weights else lambda x, y: x.shape == y.shape)
        return type(a) is type(b) and sa.keys() == sb.keys() and all(same(sa[k], sb[k]) for k in sa)
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(
            same_value(a[k], b[k], weights=weights) for k in a
        )
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(
            same_value(x, y, weights=weights) for x, y in zip(a, b)
        )
    if isinstance(a, (str, int, float, bool, type(None))):
        return a == b or (a != a and b != b)  # NaN equals NaN here
    return type(a) is type(b)  # loaders, optimizers...: same kind of object
