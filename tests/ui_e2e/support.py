"""Helpers shared by the browser tests: the server handle, API calls with the token, and the
editor gestures (palette drops, handle connections, params) written against the UI's data-testids."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

TOKEN = "e2e-token-0123456789abcdef"
NODE_ROOT = '[data-testid^="node-"][data-type]'
# Trigger edges are written with targetHandle "" (api.md §3.3); on the canvas the node's trigger input
# is a handle of its own with this id.
TRIGGER_TARGET = '.react-flow__handle.target[data-handleid="__trigger"]'


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    startup_s: float = 0.0
    _log_file: IO[bytes] | None = None

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Nodeloom-Token": TOKEN}, timeout=30)

    def get(self, path: str) -> Any:
        with self.api() as http:
            response = http.get(path)
        response.raise_for_status()
        return response.json()

    def upload_custom_node(self, filename: str, source: str) -> dict[str, Any]:
        with self.api() as http:
            response = http.post("/api/custom-nodes/upload",
                                 files={"file": (filename, source.encode(), "text/x-python")})
        assert response.status_code == 200, response.text
        return response.json()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()


@dataclass
class UI:
    page: Any
    server: Server
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------------------ navigation

    @property
    def entry_url(self) -> str:
        return f"{self.server.url}/#token={TOKEN}"

    def open(self) -> None:
        self.page.goto(self.entry_url)

    def tid(self, test_id: str) -> Any:
        return self.page.get_by_test_id(test_id)

    def nav(self, view: str) -> Any:
        """Switch to a view through its nav entry and return the view's root."""
        self.tid(f"nav-{view}").click()
        root = self.tid("canvas") if view == "editor" else self.tid(f"view-{view}")
        root.wait_for(state="visible")
        return root

    # ------------------------------------------------------------------------------ canvas

    def node(self, node_id: str) -> Any:
        return self.tid(f"node-{node_id}")

    def node_ids(self, node_type: str | None = None) -> list[str]:
        selector = NODE_ROOT if node_type is None else f'{NODE_ROOT}[data-type="{node_type}"]'
        ids = self.page.locator(selector).evaluate_all("els => els.map(e => e.dataset.testid)")
        return [i.removeprefix("node-") for i in ids if not i.startswith("node-error-")]

    def palette_item(self, node_type: str) -> Any:
        item = self.tid(f"palette-item-{node_type}")
        if not item.is_visible():
            # Long palettes collapse categories or scroll; the search narrows to the one entry.
            search = self.tid("palette-search")
            search.fill(node_type)
            item.wait_for(state="visible")
        return item

    def drop_from_palette(self, node_type: str, x: float, y: float) -> str:
        """Drag a palette entry onto the canvas at (x, y) relative to the canvas; returns the new node id."""
        before = set(self.node_ids())
        item = self.palette_item(node_type)
        canvas = self.tid("canvas")
        item.drag_to(canvas, target_position={"x": x, "y": y})
        return self._new_node(before, node_type)

    def _new_node(self, before: set[str], node_type: str, timeout_s: float = 5.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            new = [i for i in self.node_ids(node_type) if i not in before]
            if new:
                return new[0]
            self.page.wait_for_timeout(50)
        raise AssertionError(f"no new {node_type} node appeared on the canvas "
                             f"(nodes now: {self.node_ids()})")

    def handle(self, node_id: str, port: str, kind: str) -> Any:
        """A React Flow handle: outputs are source handles, inputs target handles."""
        return self.node(node_id).locator(f'.react-flow__handle.{kind}[data-handleid="{port}"]')

    def connect(self, src: str, src_port: str, dst: str, dst_port: str) -> None:
        self._drag_connect(self.handle(src, src_port, "source"), self.handle(dst, dst_port, "target"),
                           f"{src}.{src_port} -> {dst}.{dst_port}")

    def _drag_connect(self, source: Any, target: Any, what: str) -> None:
        edges_before = self.page.locator(".react-flow__edge").count()
        a = source.bounding_box()
        b = target.bounding_box()
        assert a and b, f"handles not on screen: {what}"
        mouse = self.page.mouse
        mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
        mouse.down()
        mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=8)
        mouse.up()
        self.page.wait_for_function(
            "n => document.querySelectorAll('.react-flow__edge').length > n", arg=edges_before, timeout=5_000)

    def connect_trigger(self, start: str, dst: str) -> None:
        """Start's trigger output onto the target's trigger input (the edge's targetHandle is "")."""
        self._drag_connect(self.handle(start, "trigger", "source"), self.trigger_handle(dst), f"{start} -> {dst}")

    def trigger_handle(self, node_id: str) -> Any:
        return self.node(node_id).locator(TRIGGER_TARGET).first

    def only(self, node_type: str) -> str:
        ids = self.node_ids(node_type)
        assert len(ids) == 1, f"expected one {node_type} on the canvas, found {ids}"
        return ids[0]

    def select_node(self, node_id: str) -> None:
        # The node's top edge is its header on every node layout; the middle may be a widget.
        self.node(node_id).click(position={"x": 20, "y": 8})

    def set_param(self, node_id: str, name: str, value: str | bool) -> None:
        self.select_node(node_id)
        field_ = self.tid("params-panel").get_by_test_id(f"param-{name}")
        field_.wait_for(state="visible")
        control = field_
        tag = field_.evaluate("e => e.tagName.toLowerCase()")
        if tag not in ("input", "select", "textarea"):
            control = field_.locator("input, select, textarea").first
            tag = control.evaluate("e => e.tagName.toLowerCase()")
        if tag == "select":
            control.select_option(str(value))
        elif isinstance(value, bool):
            control.set_checked(value)
        else:
            control.fill(str(value))
            control.press("Tab")

    # ------------------------------------------------------------------------------ runs

    def run(self) -> None:
        self.tid("run-button").click()

    def wait_status(self, node_id: str, statuses: str | tuple[str, ...], timeout_ms: int = 20_000) -> str:
        wanted = (statuses,) if isinstance(statuses, str) else statuses
        self.page.wait_for_function(
            "([id, wanted]) => { const el = document.querySelector(`[data-testid=\"node-${id}\"]`);"
            " return el && wanted.includes(el.dataset.status); }",
            arg=[node_id, list(wanted)], timeout=timeout_ms)
        return self.node(node_id).get_attribute("data-status")

    def wait_run_finished(self, timeout_ms: int = 30_000) -> str:
        """The log header's phase badge, once the run has ended."""
        phase = self.tid("run-phase")
        self.page.wait_for_function(
            "el => ['completed', 'error', 'stopped'].includes(el.textContent.trim())",
            arg=phase.element_handle(), timeout=timeout_ms)
        return phase.inner_text().strip()

    def log_text(self) -> str:
        return "\n".join(self.tid("log-panel").get_by_test_id("log-line").all_inner_texts())

    def import_graph(self, graph: dict[str, Any], tmp_dir: Path, name: str = "graph.json") -> None:
        path = tmp_dir / name
        path.write_text(json.dumps(graph), encoding="utf-8")
        self.tid("import-graph-input").set_input_files(str(path))


# ---------------------------------------------------------------------------------- graph builders

def node(node_id: str, node_type: str, x: float, y: float, **params: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": x, "y": y}, "data": {"params": params}}


def edge(src: str, src_port: str, dst: str, dst_port: str) -> dict[str, Any]:
    return {"id": f"e-{src}-{src_port}-{dst}-{dst_port}", "source": src, "target": dst,
            "sourceHandle": src_port, "targetHandle": dst_port}


def trigger(src: str, dst: str) -> dict[str, Any]:
    return {"id": f"t-{src}-{dst}", "source": src, "target": dst, "sourceHandle": "trigger",
            "targetHandle": "", "type": "trigger"}


def fan_out_graph(pairs: int, columns: int = 10) -> dict[str, Any]:
    """Start -> N x (TensorInput -> Print): 2N+1 nodes, every Print logging one line."""
    nodes = [node("start", "Start", -300, 0)]
    edges = []
    for i in range(pairs):
        col, row = i % columns, i // columns
        x, y = col * 480, row * 160
        nodes.append(node(f"t{i}", "TensorInput", x, y, shape="2,2", seed=i))
        nodes.append(node(f"p{i}", "Print", x + 220, y, label=f"p{i}"))
        edges.append(trigger("start", f"t{i}"))
        edges.append(edge(f"t{i}", "tensor", f"p{i}", "value"))
    return {"name": f"fan-out-{pairs}", "nodes": nodes, "edges": edges}
