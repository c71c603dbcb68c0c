"""Editor flows: building a graph by hand, running it, inspecting outputs, stopping, re-attaching
after a reload, and the palette following a registry hot reload."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from tests.ui_e2e.support import UI, edge, node, trigger


def build_tensor_print(ui: UI, label: str) -> dict[str, str]:
    """Start -> TensorInput(2,3) -> Print(label), built with the mouse the way a person does it."""
    ids = {
        "start": ui.drop_from_palette("Start", 80, 200),
        "tensor": ui.drop_from_palette("TensorInput", 330, 200),
        "print": ui.drop_from_palette("Print", 600, 200),
    }
    ui.connect_trigger(ids["start"], ids["tensor"])
    ui.connect(ids["tensor"], "tensor", ids["print"], "value")
    ui.set_param(ids["tensor"], "shape", "2,3")
    ui.set_param(ids["print"], "label", label)
    return ids


def test_build_connect_run_and_log(editor: UI) -> None:
    label = f"e2e-{uuid.uuid4().hex[:6]}"
    ids = build_tensor_print(editor, label)
    assert editor.page.locator(".react-flow__edge").count() == 2

    editor.run()
    for key in ("tensor", "print"):
        assert editor.wait_status(ids[key], ("completed", "cached")) in ("completed", "cached")
    editor.tid("log-panel").get_by_test_id("log-line").filter(has_text=f"[{label}]").first.wait_for()
    # The Print output is the 2x3 tensor: two rows of three numbers under the label.
    log = editor.log_text()
    assert "tensor(" in log, log


def test_inspector_shows_recorded_tensor(editor: UI) -> None:
    ids = build_tensor_print(editor, "inspect")
    record = editor.tid("record-outputs")
    record.set_checked(True) if record.evaluate("e => e.type === 'checkbox'") else record.click()
    editor.run()
    editor.wait_status(ids["print"], "completed")

    editor.select_node(ids["tensor"])
    editor.tid("inspector-open").click()
    inspector = editor.tid("inspector")
    inspector.wait_for(state="visible")
    # The port entry turns clickable once the run's output listing has arrived.
    inspector.get_by_test_id("inspector-port-tensor").click()
    shape = inspector.get_by_test_id("tensor-shape")
    shape.wait_for(state="visible")
    assert re.search(r"2\D+3", shape.inner_text()), shape.inner_text()
    assert "float32" in inspector.get_by_test_id("tensor-dtype").inner_text()
    inspector.get_by_test_id("tensor-stats").wait_for(state="visible")


def slow_graph(slow_type: str, seconds: float, label: str) -> dict:
    return {
        "name": f"slow-{label}",
        "nodes": [node("s", "Start", 0, 0), node("t", "TensorInput", 220, 0, shape="2,2"),
                  node("slow", slow_type, 480, 0, seconds=seconds), node("p", "Print", 740, 0, label=label)],
        "edges": [trigger("s", "t"), edge("t", "tensor", "slow", "value"), edge("slow", "value", "p", "value")],
    }


def test_stop_cancels_a_running_graph(editor: UI, slow_node: str, tmp_path: Path) -> None:
    editor.import_graph(slow_graph(slow_node, 30, "stopme"), tmp_path)
    editor.page.locator(f'[data-type="{slow_node}"]').wait_for()
    slow, printer = editor.only(slow_node), editor.only("Print")
    editor.run()
    editor.wait_status(slow, "running")
    editor.tid("stop-button").click()
    # The run ends within cancellation's polling interval, far sooner than the node's 30 s.
    editor.page.wait_for_function(
        "id => document.querySelector(`[data-testid=\"node-${id}\"]`)?.dataset.status !== 'running'",
        arg=slow, timeout=10_000)
    assert editor.node(printer).get_attribute("data-status") != "completed"
    assert editor.tid("run-button").is_enabled()


def test_reload_reattaches_to_a_running_graph(editor: UI, slow_node: str, tmp_path: Path) -> None:
    editor.import_graph(slow_graph(slow_node, 4, "reattach"), tmp_path)
    editor.page.locator(f'[data-type="{slow_node}"]').wait_for()
    slow, printer = editor.only(slow_node), editor.only("Print")
    editor.run()
    editor.wait_status(slow, "running")

    editor.page.reload()
    editor.tid("palette").wait_for(state="visible", timeout=15_000)
    # The tab (graph and run id) survives the reload, the socket re-attaches and replays, and the
    # rest of the run arrives live.
    editor.node(slow).wait_for(timeout=5_000)
    assert editor.wait_status(printer, "completed", timeout_ms=20_000) == "completed"
    assert editor.node(slow).get_attribute("data-status") == "completed"
    editor.tid("log-panel").get_by_test_id("log-line").filter(has_text="[reattach]").first.wait_for()


def test_palette_follows_custom_node_upload(editor: UI) -> None:
    start = editor.drop_from_palette("Start", 200, 200)
    name = f"E2EHot{uuid.uuid4().hex[:6]}"
    source = f'''
from nodeloom.kernel.api import node, In, Out, Param

@node(name="{name}", category="Custom", inputs=[In("tensor", "TENSOR")],
      outputs=[Out("tensor", "TENSOR")], params=[Param.float("value", 1.0)])
def hot(call):
    """Adds a constant to a tensor."""
    return {{"tensor": call.inputs["tensor"] + call.params["value"]}}
'''
    body = editor.server.upload_custom_node(f"{name.lower()}.py", source)
    assert body["nodes"] == [name], body
    # registry_changed over the socket makes the palette refetch; no page reload.
    editor.palette_item(name).wait_for(state="visible", timeout=10_000)
    assert start in editor.node_ids("Start"), "the canvas lost its nodes on the registry swap"
    dropped = editor.drop_from_palette(name, 500, 300)
    assert editor.node(dropped).get_attribute("data-type") == name


def test_imported_graph_is_fitted_into_view(editor: UI, tmp_path: Path) -> None:
    # Five nodes spread over 1300 flow units: opening the graph must show all of them.
    graph = {
        "name": "wide",
        "nodes": [node("s", "Start", 0, 120), node("t", "TensorInput", 300, 80), node("m", "ScalarMultiply", 600, 40),
                  node("x", "Softmax", 900, 80), node("p", "Print", 1200, 120)],
        "edges": [trigger("s", "t"), edge("t", "tensor", "m", "tensor"), edge("m", "tensor", "x", "tensor"),
                  edge("x", "tensor", "p", "value")],
    }
    editor.import_graph(graph, tmp_path)
    editor.node("p").wait_for(state="attached")
    editor.page.wait_for_timeout(500)  # fitView runs once the nodes are measured
    canvas = editor.tid("canvas").bounding_box()
    outside = []
    for node_id in ("s", "t", "m", "x", "p"):
        box = editor.node(node_id).bounding_box()
        if not (box and box["x"] >= canvas["x"] and box["x"] + box["width"] <= canvas["x"] + canvas["width"]
                and box["y"] >= canvas["y"] and box["y"] + box["height"] <= canvas["y"] + canvas["height"]):
            outside.append(node_id)
    transform = editor.page.evaluate("() => document.querySelector('.react-flow__viewport').style.transform")
    assert not outside, f"nodes {outside} are outside the canvas after import (viewport {transform})"
