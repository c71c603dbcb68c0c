"""Screenshots of the main views for the docs, at 1440x900.

Only with ``NODELOOM_SCREENSHOTS=1`` (so ordinary and CI runs never rewrite tracked images):

    NODELOOM_SCREENSHOTS=1 scripts/dev.sh test tests/ui_e2e/test_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ui_e2e.support import UI, edge, node, trigger
from tests.ui_e2e.test_library import _png, _tone

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(os.environ.get("NODELOOM_SCREENSHOTS") != "1",
                                reason="set NODELOOM_SCREENSHOTS=1 to write docs/screenshots/")

DEMO = {
    "name": "demo",
    "nodes": [node("start", "Start", 0, 120), node("x", "TensorInput", 220, 80, shape="4,4", value_mode="random"),
              node("scale", "ScalarMultiply", 520, 40, scalar=0.5), node("sm", "Softmax", 800, 80),
              node("show", "Print", 1080, 120, label="probabilities")],
    "edges": [trigger("start", "x"), edge("x", "tensor", "scale", "tensor"), edge("scale", "tensor", "sm", "tensor"),
              edge("sm", "tensor", "show", "value")],
}


def _fit(ui: UI) -> None:
    ui.page.locator(".react-flow__controls-fitview").click()


def _shot(ui: UI, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ui.page.wait_for_timeout(300)  # let transitions and fitView settle
    ui.page.screenshot(path=str(OUT / f"{name}.png"))


def test_screenshots(editor: UI, tmp_path: Path) -> None:
    editor.import_graph(DEMO, tmp_path)
    editor.page.locator('[data-type="Softmax"]').wait_for()
    record = editor.tid("record-outputs")
    if record.count():
        record.set_checked(True)
    editor.run()
    editor.wait_status(editor.only("Print"), ("completed", "cached"))
    _fit(editor)
    _shot(editor, "editor")

    editor.select_node(editor.only("Softmax"))
    editor.tid("inspector-open").click()
    editor.tid("inspector").get_by_test_id("tensor-shape").wait_for()
    _shot(editor, "inspector")
    editor.page.keyboard.press("Escape")

    editor.nav("models")
    _shot(editor, "models")

    view = editor.nav("images")
    colours = [(220, 60, 60), (60, 160, 90), (70, 110, 220)]
    files = [str(_png(tmp_path / f"sample_{i}.png", c)) for i, c in enumerate(colours)]
    view.get_by_test_id("image-upload-input").set_input_files(files)
    view.get_by_test_id("image-item-sample_2.png").wait_for()
    _shot(editor, "images")

    view = editor.nav("audio")
    view.get_by_test_id("audio-upload-input").set_input_files(str(_tone(tmp_path / "tone.wav")))
    view.get_by_test_id("audio-waveform").wait_for()
    view.get_by_test_id("audio-start").fill("0.5")
    view.get_by_test_id("audio-end").fill("2")
    view.get_by_test_id("audio-trim-button").click()
    view.get_by_test_id("audio-result").wait_for()
    _shot(editor, "audio-trim")

    editor.nav("plugins")
    editor.page.locator('[data-testid^="plugin-item-"]').first.wait_for()
    _shot(editor, "plugins")

    # A training example mid-way or done: the live loss chart under the canvas.
    view = editor.nav("examples")
    view.get_by_test_id("example-load-Training/Token-Classifier").click()
    editor.page.locator('[data-type="TrainingLoop"]').wait_for()
    editor.run()
    editor.wait_run_finished(timeout_ms=60_000)
    editor.tid("loss-chart").locator('path[data-series="loss"]').wait_for()
    _fit(editor)
    _shot(editor, "training")
