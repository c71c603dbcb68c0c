"""A third-party pack for the Ray tests: slow, placed and process-revealing nodes."""

from __future__ import annotations

import os
import time

import torch

from nodeloom.kernel import NodeSpec, PortSpec, RunCancelled, hookimpl
from nodeloom.kernel.api import In, Out, Param, node

START = NodeSpec(name="Start", category="Control", execute=lambda call: {}, outputs=(PortSpec("trigger", "TRIGGER"),))


@node(name="Ones", category="Test", outputs=[Out("tensor", "TENSOR")], params=[Param.int("size", 4)])
def ones(call):
    """A vector of ones."""
    return {"tensor": torch.ones(call.params["size"])}


@node(name="Slow", category="Test", inputs=[In("value", "ANY", optional=True)], outputs=[Out("value", "ANY")],
      params=[Param.float("seconds", 1.0), Param.string("marker", "")], cacheable=False)
def slow(call):
    """Waits cooperatively with progress; writes ``marker`` under temp/ when told to stop."""
    deadline = time.monotonic() + call.params["seconds"]
    step = 0
    try:
        while time.monotonic() < deadline:
            call.check_cancelled()
            step += 1
            call.progress({"event": "step", "current": step})
            time.sleep(0.02)
    except RunCancelled:
        if call.params["marker"]:
            call.paths.resolve("temp", call.params["marker"]).write_text(str(os.getpid()), encoding="utf-8")
        raise
    return {"value": call.inputs.get("value", step)}


def _where(call):
    """Doubles its input and reports the process it ran in."""
    call.progress({"event": "placed", "pid": os.getpid()})
    return {"tensor": call.inputs["tensor"] * 2, "pid": os.getpid(), "grad": torch.is_grad_enabled()}


PLACED = NodeSpec(
    name="Placed", category="Test", execute=_where, cacheable=False,
    inputs=(PortSpec("tensor", "TENSOR"),),
    outputs=(PortSpec("tensor", "TENSOR"), PortSpec("pid", "SCALAR"), PortSpec("grad", "ANY")),
    resources={"nodeloom_test": 1},
)
NEEDS_GPU = NodeSpec(
    name="NeedsGpu", category="Test", execute=_where, cacheable=False,
    inputs=(PortSpec("tensor", "TENSOR"),), outputs=(PortSpec("tensor", "TENSOR"),),
    resources={"gpu": 1},
)
PLACED_SLOW = NodeSpec(
    name="PlacedSlow", category="Test", execute=slow, cacheable=False,
    inputs=(PortSpec("value", "ANY", optional=True),), outputs=(PortSpec("value", "ANY"),),
    params=slow.__nodeloom_spec__.params, resources={"nodeloom_test": 1},
)


@node(name="Stubborn", category="Test", outputs=[Out("value", "SCALAR")], params=[Param.float("seconds", 30.0)],
      cacheable=False)
def stubborn(call):
    """Ignores cancellation: reports progress and sleeps, never looking at the flag."""
    deadline = time.monotonic() + call.params["seconds"]
    while time.monotonic() < deadline:
        call.progress({"event": "step"})
        time.sleep(0.05)
    return {"value": 1}


@node(name="Pid", category="Test", outputs=[Out("pid", "SCALAR")], cacheable=False)
def pid(call):
    """The process id of the body."""
    return {"pid": os.getpid()}


@hookimpl
def register_nodes(register):
    register([START, ones, slow, stubborn, PLACED, NEEDS_GPU, PLACED_SLOW, pid])
