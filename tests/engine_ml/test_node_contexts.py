"""Node contexts around bodies: the torch grad mode alone and composed with another extension."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch

from nodeloom.torchkit import TorchRunExtension

from .support import Harness, graph

GRAPH = graph(
    [
        ("x", "TensorCreate", {"shape": "2,3", "fill": "ones", "requires_grad": True}),
        ("lin", "Linear", {"in_features": 3, "out_features": 2}),
    ],
    ["x.tensor > lin.tensor"],
)


class Tracer:
    """A second extension with a node context: records entries and the grad mode it sees."""

    name = "tracer"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool]] = []
        self.lock = threading.Lock()

    @contextmanager
    def _ctx(self, node_id: str):
        with self.lock:
            self.seen.append(("enter", node_id, torch.is_grad_enabled()))
        yield
        with self.lock:
            self.seen.append(("exit", node_id, torch.is_grad_enabled()))

    def node_context(self, call, run):
        return self._ctx(call.node_id)


def test_two_node_contexts_are_both_entered_in_registration_order(harness: Harness):
    tracer = Tracer()
    env = harness.env()
    env.extensions.append(tracer)  # after the torch extension, so entered inside its grad mode
    off = harness.ok(GRAPH, env)
    assert ("enter", "lin", False) in tracer.seen and ("exit", "lin", False) in tracer.seen
    assert off.results["lin"]["tensor"].grad_fn is None
    tracer.seen.clear()
    on = harness.ok(GRAPH, env, backward_mode=True)
    assert ("enter", "lin", True) in tracer.seen
    assert on.results["lin"]["tensor"].grad_fn is not None


def test_the_torch_extension_alone_sets_grad_mode_per_node(harness: Harness):
    env = harness.env()
    # Only the torch extension: the engine's single-context fast path.
    env.extensions[:] = [e for e in env.extensions if isinstance(e, TorchRunExtension)]
    assert len(env.extensions) == 1
    assert harness.ok(GRAPH, env).results["lin"]["tensor"].grad_fn is None
    assert harness.ok(GRAPH, env, backward_mode=True).results["lin"]["tensor"].grad_fn is not None
