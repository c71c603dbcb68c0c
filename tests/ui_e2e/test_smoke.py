"""The UI loads from the real server and shows its editor."""

from __future__ import annotations

from tests.ui_e2e.support import UI


def test_index_loads_and_palette_lists_nodes(ui: UI) -> None:
    ui.open()
    palette = ui.tid("palette")
    palette.wait_for(state="visible", timeout=15_000)
    ui.tid("canvas").wait_for(state="visible")
    # Start is in every registry (core nodes); the palette is fed by GET /api/nodes.
    ui.palette_item("Start").wait_for(state="visible")
    for control in ("run-button", "log-panel"):
        ui.tid(control).wait_for(state="visible")


def test_client_routes_fall_back_to_the_app(ui: UI) -> None:
    # A reload on a deep link must still get the SPA, not a 404.
    response = ui.page.goto(ui.server.url + "/some/client/route")
    assert response is not None and response.status == 200
    ui.page.locator("#root").wait_for(state="attached")


def test_every_view_opens_with_a_unique_root(ui: UI) -> None:
    ui.open()
    ui.tid("palette").wait_for(state="visible", timeout=15_000)
    views = ["graphs", "examples", "presets", "export", "custom-nodes", "plugins", "models", "images", "audio"]
    duplicated = []
    for view in views:
        ui.nav(view)
        if ui.tid(f"view-{view}").count() != 1:
            duplicated.append(f"view-{view}")
    ui.nav("editor")
    assert not duplicated, f"data-testid used more than once: {duplicated}"
