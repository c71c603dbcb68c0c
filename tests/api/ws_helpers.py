"""Helpers for the execution WebSocket and output route tests.

Graph nodes come from a custom-node file written into the test kernel's ``custom_nodes/`` (so
the real registry build, pinning and hot reload are exercised): ``Start``, a tensor source,
values with NaN/Inf, a cooperative slow node and a failing one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nodeloom.kernel.host import Kernel

NODES_FILE = "ws_test_nodes.py"

NODES_SOURCE = '''
import math
import time

import numpy as np
import torch

from nodeloom.kernel import NodeSpec, PortSpec
from nodeloom.kernel.api import In, Out, Param, node

START = NodeSpec(name="Start", category="Control", execute=lambda call: {},
                 outputs=(PortSpec("trigger", "TRIGGER"),))


@node(name="Arange", category="Test", outputs=[Out("tensor", "TENSOR")],
      params=[Param.string("shape", "2,3,4"), Param.string("dtype", "float32")])
def arange(call):
    """0, 1, 2, ... in the given shape and dtype."""
    shape = [int(p) for p in call.params["shape"].split(",") if p.strip()]
    n = math.prod(shape)
    t = torch.arange(n, dtype=torch.float64).reshape(shape)
    return {"tensor": t.to(getattr(torch, call.params["dtype"]))}


@node(name="Weird", category="Test",
      outputs=[Out("tensor", "TENSOR"), Out("ratio", "SCALAR"), Out("inf", "SCALAR"),
               Out("count", "SCALAR"), Out("label", "STRING"), Out("pairs", "LIST"),
               Out("array", "ANY"), Out("model", "MODEL"), Out("blob", "STRING")])
def weird(call):
    """Values with NaN and Inf, and one of each summary kind."""
    t = torch.tensor([[1.0, float("nan")], [float("inf"), -2.5]])
    png = "iVBORw0KGgoAAAANSUhEUg" + "A" * 300
    return {
        "tensor": t,
        "ratio": float("nan"),
        "inf": float("-inf"),
        "count": 7,
        "label": "hello",
        "pairs": [(1, 2.5), (3, 4)],
        "array": np.array([1, 2, 3], dtype=np.int16),
        "model": torch.nn.Linear(3, 2),
        "blob": png,
        "__log__": "line one\\nline two",
    }


@node(name="Slow", category="Test", inputs=[In("value", "ANY", optional=True)],
      outputs=[Out("value", "SCALAR")],
      params=[Param.float("seconds", 1.0), Param.int("version", 1)], cacheable=False)
def slow(call):
    """Waits cooperatively (progress every step), then returns its version."""
    deadline = time.monotonic() + call.params["seconds"]
    step = 0
    while time.monotonic() < deadline:
        call.check_cancelled()
        step += 1
        call.progress({"event": "step", "current": step, "total": None, "message": None})
        time.sleep(0.02)
    return {"value": call.params["version"]}


@node(name="Fail", category="Test", outputs=[Out("value", "SCALAR")])
def fail(call):
    """Always raises."""
    raise ValueError("boom")
'''


def install_nodes(kernel: Kernel, source: str = NODES_SOURCE, name: str = NODES_FILE) -> None:
    """Write the test nodes into ``custom_nodes/`` and reload the registry."""
    path = kernel.data_dir.area("custom_nodes") / name
    path.write_text(source, encoding="utf-8")
    report = kernel.reload()
    assert not report.errors, report.errors


def graph(*nodes: tuple[str, str, Mapping[str, Any]], links: Iterable[tuple[str, str, str, str]] = ()) -> dict[str, Any]:
    """A graph: a Start node triggering every given node, plus data links (src, sport, dst, dport)."""
    out_nodes = [{"id": "s", "type": "Start", "position": {"x": 0, "y": 0}, "data": {"params": {}}}]
    edges: list[dict[str, Any]] = []
    for node_id, node_type, params in nodes:
        out_nodes.append({"id": node_id, "type": node_type, "data": {"params": dict(params)}})
        edges.append({"source": "s", "target": node_id, "sourceHandle": "trigger", "targetHandle": "", "type": "trigger"})
    for src, sport, dst, dport in links:
        edges.append({"source": src, "target": dst, "sourceHandle": sport, "targetHandle": dport})
    return {"nodes": out_nodes, "edges": edges}


def execute(graph_body: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    return {"action": "execute", **graph_body, **options}


class WsClient:
    """A thin async wrapper over a ``websockets`` connection with JSON helpers."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def send(self, message: Any) -> None:
        await self.conn.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def _recv_raw(self) -> Any:
        return await self.conn.recv()

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        text = await asyncio.wait_for(self._recv_raw(), timeout)
        assert isinstance(text, str), "server frames are text"
        return json.loads(text)

    async def until(self, predicate: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Receive messages until one satisfies ``predicate``; returns all of them."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out; got {[m.get('type') for m in seen]}"
            message = await self.recv(remaining)
            seen.append(message)
            if predicate(message):
                return seen

    async def run_events(self, run_id: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Messages up to this run's terminal event, keeping only that run's events."""
        seen = await self.until(lambda m: m.get("run_id") == run_id and is_terminal(m), timeout)
        return [m for m in seen if m.get("run_id") == run_id and "seq" in m]


class QuartWsClient(WsClient):
    """The same helpers over Quart's in-process test WebSocket."""

    async def _recv_raw(self) -> Any:
        return await self.conn.receive()


def is_terminal(message: Mapping[str, Any]) -> bool:
    return message.get("type") in ("execution_complete", "execution_error", "execution_stopped") and "seq" in message


def ws_url(http_url: str, token: str) -> str:
    return http_url.replace("http://", "ws://", 1) + f"/ws/execution?token={token}"


def node_events(events: Iterable[Mapping[str, Any]], node_id: str) -> list[Mapping[str, Any]]:
    return [e for e in events if e.get("type") == "node_status" and e.get("node_id") == node_id]


def data_dir(kernel: Kernel) -> Path:
    return kernel.data_dir.root
