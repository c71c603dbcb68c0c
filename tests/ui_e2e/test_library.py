"""Library views against the real data dir: saved graphs, images and the audio trimmer."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.ui_e2e.support import UI, edge, node, trigger


def test_save_reload_and_load_graph(editor: UI, tmp_path: Path) -> None:
    name = f"e2e-saved-{uuid.uuid4().hex[:6]}"
    graph = {
        "name": "to-save",
        "nodes": [node("s", "Start", 0, 0), node("t", "TensorInput", 220, 0, shape="3,1"),
                  node("m", "ScalarMultiply", 480, 0, scalar=2.5), node("p", "Print", 740, 0)],
        "edges": [trigger("s", "t"), edge("t", "tensor", "m", "tensor"), edge("m", "tensor", "p", "value")],
    }
    editor.import_graph(graph, tmp_path)
    editor.page.locator('[data-type="ScalarMultiply"]').wait_for()

    view = editor.nav("graphs")
    view.get_by_test_id("graph-save-name").fill(name)
    view.get_by_test_id("graph-save").click()
    view.get_by_test_id(f"graph-list-item-{name}").wait_for()
    saved = editor.server.get(f"/api/graph/load/{name}")
    assert sorted(n["type"] for n in saved["nodes"]) == ["Print", "ScalarMultiply", "Start", "TensorInput"]

    # A fresh page load (new socket, nothing in memory) and the graph comes back from the server.
    editor.page.reload()
    view = editor.nav("graphs")
    view.get_by_test_id(f"graph-load-{name}").click()
    editor.tid("canvas").wait_for(state="visible")
    editor.page.locator('[data-type="ScalarMultiply"]').first.wait_for()
    for node_type in ("Start", "TensorInput", "ScalarMultiply", "Print"):
        assert editor.node_ids(node_type), f"{node_type} missing after loading {name}"
    multiply = editor.node_ids("ScalarMultiply")[-1]
    editor.select_node(multiply)
    field = editor.tid("params-panel").get_by_test_id("param-scalar")
    value = field.input_value() if field.evaluate("e => 'value' in e") else field.locator("input").first.input_value()
    assert float(value) == 2.5
    assert editor.page.locator(".react-flow__edge").count() >= 3


def _png(path: Path, colour: tuple[int, int, int] = (200, 40, 90)) -> Path:
    from PIL import Image

    Image.new("RGB", (48, 32), colour).save(path)
    return path


def test_upload_preview_and_delete_image(ui: UI, tmp_path: Path) -> None:
    filename = f"e2e_{uuid.uuid4().hex[:6]}.png"
    ui.open()
    view = ui.nav("images")
    view.get_by_test_id("image-upload-input").set_input_files(str(_png(tmp_path / filename)))
    item = view.get_by_test_id(f"image-item-{filename}")
    item.wait_for()
    preview = item.locator("img").first
    preview.wait_for()
    ui.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [48, 32]
    assert filename in [i["filename"] for i in ui.server.get("/api/images")]

    view.get_by_test_id(f"image-delete-{filename}").click()
    item.wait_for(state="detached")
    assert filename not in [i["filename"] for i in ui.server.get("/api/images")]


def _tone(path: Path, seconds: float = 3.0) -> Path:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"sine=frequency=440:duration={seconds}", "-ac", "1", "-ar", "16000", str(path)],
                   check=True, timeout=60)
    return path


def test_trim_uploaded_audio(ui: UI, tmp_path: Path) -> None:
    tone = _tone(tmp_path / "tone.wav")
    ui.open()
    view = ui.nav("audio")
    view.get_by_test_id("audio-upload-input").set_input_files(str(tone))
    view.get_by_test_id("audio-waveform").wait_for(state="visible")
    start, end = view.get_by_test_id("audio-start"), view.get_by_test_id("audio-end")
    # The end field is filled with the decoded duration once the file is known.
    ui.page.wait_for_function("e => parseFloat(e.value) > 2.9", arg=end.element_handle())
    start.fill("0.5")
    end.fill("1.75")
    view.get_by_test_id("audio-trim-button").click()
    result = view.get_by_test_id("audio-result")
    result.wait_for()
    text = result.inner_text()
    assert "/temp/AudioTrim/tone_trimmed_" in text, text
    assert "1.25" in text, text
    path = re.search(r"/temp/AudioTrim/\S+", text).group(0)
    response = httpx.get(ui.server.url + path, timeout=10)
    assert response.status_code == 200 and len(response.content) > 1000
    assert not view.get_by_test_id("audio-error").is_visible()
