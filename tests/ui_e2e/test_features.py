"""Editor and library features that unit tests cover only against stubs: the canvas search, tabs,
undo/redo, connection type checks, validation markers, the live loss chart, and the examples,
presets, export, custom-node and model views against the real server."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from tests.ui_e2e.support import NODE_ROOT, UI, node, trigger


def _empty_canvas_point(ui: UI) -> dict[str, float]:
    """A spot on the pane away from the centred hint text and the corner controls."""
    box = ui.tid("canvas").bounding_box()
    assert box
    return {"x": box["width"] * 0.3, "y": box["height"] * 0.25}


def test_double_click_search_drops_a_node(editor: UI) -> None:
    editor.tid("canvas").dblclick(position=_empty_canvas_point(editor))
    search = editor.tid("canvas-search")
    search.wait_for(state="visible")
    search.fill("Softmax")
    editor.tid("canvas-search-item-Softmax").click()
    new = editor._new_node(set(), "Softmax")
    assert editor.node_ids() == [new]
    assert not search.is_visible(), "the search stays open after a pick"


def test_tabs_keep_separate_graphs(editor: UI) -> None:
    first = editor.drop_from_palette("Start", 120, 160)
    editor.tid("new-tab").click()
    editor.tid("tab-1").wait_for()
    editor.page.wait_for_function("() => !document.querySelector('[data-type=\"Start\"]')")
    second = editor.drop_from_palette("Softmax", 300, 200)
    assert editor.node_ids() == [second]

    editor.tid("tab-0").click()
    editor.node(first).wait_for()
    assert editor.node_ids() == [first]
    editor.tid("tab-1").click()
    editor.node(second).wait_for()
    assert editor.node_ids() == [second]


def test_undo_and_redo_a_node_add(editor: UI) -> None:
    added = editor.drop_from_palette("Softmax", 300, 200)
    # Shortcuts belong to the canvas, not to the palette search field that the drop may have filled.
    editor.tid("canvas").click(position=_empty_canvas_point(editor))
    editor.page.keyboard.press("Control+z")
    editor.node(added).wait_for(state="detached")
    assert editor.node_ids() == []
    editor.page.keyboard.press("Control+Shift+z")
    editor.node(added).wait_for()
    assert editor.node_ids("Softmax") == [added]


def test_type_incompatible_connection_is_refused(editor: UI, tmp_path: Path) -> None:
    graph = {"name": "mismatch", "nodes": [node("t", "TensorInput", 0, 0), node("o", "Optimizer", 320, 0)], "edges": []}
    editor.import_graph(graph, tmp_path)
    editor.node("o").wait_for()
    source = editor.handle("t", "tensor", "source").bounding_box()
    target = editor.handle("o", "model", "target").bounding_box()
    assert source and target
    mouse = editor.page.mouse
    mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    mouse.down()
    mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2, steps=8)
    mouse.up()
    editor.page.wait_for_timeout(300)
    assert editor.page.locator(".react-flow__edge").count() == 0, "a TENSOR output was wired into a MODEL input"


def test_validation_error_is_shown_on_its_node(editor: UI, tmp_path: Path) -> None:
    graph = {"name": "missing-input", "nodes": [node("s", "Start", 0, 0), node("m", "ScalarMultiply", 260, 0)],
             "edges": [trigger("s", "m")]}
    editor.import_graph(graph, tmp_path)
    editor.node("m").wait_for()
    editor.tid("validate-button").click()
    error = editor.tid("node-error-m")
    error.wait_for()
    assert "tensor" in error.inner_text(), error.inner_text()
    assert not editor.tid("node-error-s").count()


def test_example_loads_into_a_tab_and_training_draws_the_loss_chart(editor: UI) -> None:
    path = "Training/Token-Classifier"
    view = editor.nav("examples")
    view.get_by_test_id(f"example-load-{path}").click()
    editor.tid("canvas").wait_for(state="visible")
    editor.page.locator('[data-type="TrainingLoop"]').wait_for()
    assert "Token" in editor.tid("tab-0").inner_text() or "Token" in editor.page.locator('[role="tab"]').last.inner_text()

    editor.run()
    chart = editor.tid("loss-chart")
    # A path with at least one drawn segment, i.e. the epoch events reached the chart live.
    editor.page.wait_for_function(
        "el => { const p = el.querySelector('path[data-series=\"loss\"]');"
        " return p && /[0-9]/.test(p.getAttribute('d') || ''); }",
        arg=chart.element_handle(), timeout=60_000)
    assert editor.wait_run_finished(timeout_ms=60_000) == "completed", editor.log_text()[-2000:]
    assert re.search(r"epoch \d+", chart.inner_text()), chart.inner_text()


def test_preset_is_inserted_from_the_presets_view(editor: UI) -> None:
    presets = editor.server.get("/api/presets")
    name = next(p["preset_name"] for p in presets if p.get("available", True))
    view = editor.nav("presets")
    view.get_by_test_id(f"preset-insert-{name}").click()
    editor.tid("canvas").wait_for(state="visible")
    editor.page.locator(f'{NODE_ROOT}[data-type$="{name}"]').first.wait_for()


def test_export_view_shows_a_python_script(editor: UI, tmp_path: Path) -> None:
    graph = {"name": "to-export", "nodes": [node("s", "Start", 0, 0), node("t", "TensorInput", 220, 0, shape="2,2"),
                                            node("x", "Softmax", 480, 0)],
             "edges": [trigger("s", "t"), {"id": "e1", "source": "t", "target": "x", "sourceHandle": "tensor",
                                           "targetHandle": "tensor"}]}
    editor.import_graph(graph, tmp_path)
    editor.node("x").wait_for()
    view = editor.nav("export")
    view.get_by_test_id("export-python-button").click()
    code = view.get_by_test_id("export-python-code")
    code.wait_for()
    assert "import torch" in code.inner_text()


def test_custom_node_errors_show_their_line(ui: UI, tmp_path: Path) -> None:
    ui.open()
    view = ui.nav("custom-nodes")
    upload = view.get_by_test_id("custom-upload-input")

    # A file Python cannot parse is refused (api.md §2.6.2): the error names the line, nothing is stored.
    broken = tmp_path / f"e2e_syntax_{uuid.uuid4().hex[:6]}.py"
    broken.write_text("from nodeloom.kernel.api import node\n\ndef broken(:\n    pass\n", encoding="utf-8")
    upload.set_input_files(str(broken))
    view.get_by_test_id("custom-action-error").wait_for()
    assert "line 3" in view.get_by_test_id("custom-action-error").inner_text()
    assert view.get_by_test_id("custom-syntax-line").inner_text().strip() == "Line 3"
    assert not view.get_by_test_id(f"custom-item-{broken.name}").count()

    # A file that parses but fails on import is kept, listed with its error and the line it failed on.
    failing = tmp_path / f"e2e_import_{uuid.uuid4().hex[:6]}.py"
    failing.write_text("import math\n\nvalue = math.sqrt(4) + undefined_name\n", encoding="utf-8")
    upload.set_input_files(str(failing))
    error = view.get_by_test_id(f"custom-error-{failing.name}")
    error.wait_for()
    text = error.inner_text()
    assert "undefined_name" in text and re.search(r"[Ll]ine 3", text), text
    view.get_by_test_id(f"custom-delete-{failing.name}").click()
    view.get_by_test_id(f"custom-item-{failing.name}").wait_for(state="detached")


def test_upload_and_delete_a_model(ui: UI, tmp_path: Path) -> None:
    filename = f"e2e_{uuid.uuid4().hex[:6]}.pt"
    (tmp_path / filename).write_bytes(b"\x80\x02}q\x00." + bytes(range(64)))
    ui.open()
    view = ui.nav("models")
    view.get_by_test_id("model-upload-input").set_input_files(str(tmp_path / filename))
    # A file outside the registry is listed under its relpath (api.md §2.8.1).
    item = view.get_by_test_id(f"model-item-{filename}")
    item.wait_for()
    assert filename in [m["id"] for m in ui.server.get("/api/models")]
    view.get_by_test_id(f"model-delete-{filename}").click()
    item.wait_for(state="detached")
    assert filename not in [m["id"] for m in ui.server.get("/api/models")]


def test_less_used_toolbar_actions_sit_in_the_more_menu(editor: UI) -> None:
    toolbar = editor.page.get_by_role("toolbar")
    box = toolbar.bounding_box()
    assert box
    # Nothing in the toolbar is cut off at 1440 px: every control lies inside its box.
    for test_id in ("run-button", "validate-button", "save-graph-button", "toolbar-more"):
        control = editor.tid(test_id).bounding_box()
        assert control and control["x"] + control["width"] <= box["x"] + box["width"] + 0.5, test_id
    export = editor.tid("export-graph-button")
    assert not export.is_visible()
    editor.tid("toolbar-more").click()
    export.wait_for(state="visible")
    editor.tid("clear-cache-button").wait_for(state="visible")
    editor.page.keyboard.press("Escape")
    export.wait_for(state="hidden")


def test_right_panel_is_resizable(editor: UI) -> None:
    panel = editor.page.locator(".nl-right")
    before = panel.bounding_box()
    handle = editor.tid("right-panel-resizer").bounding_box()
    assert before and handle
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + 200
    editor.page.mouse.move(x, y)
    editor.page.mouse.down()
    editor.page.mouse.move(x - 120, y, steps=5)
    editor.page.mouse.up()
    after = panel.bounding_box()
    assert after and after["width"] > before["width"] + 100, (before, after)
    editor.tid("right-panel-resizer").dblclick()
    editor.page.wait_for_function("w => document.querySelector('.nl-right').getBoundingClientRect().width < w",
                                  arg=after["width"] - 50)


def test_plugin_descriptions_render_inline_code(ui: UI) -> None:
    ui.open()
    view = ui.nav("plugins")
    item = view.get_by_test_id("plugin-item-api")
    item.wait_for()
    assert "``" not in item.inner_text(), item.inner_text()
    assert item.locator("code").first.inner_text() == "api"
