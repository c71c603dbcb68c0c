"""A kernel with only the API and UI plugins, and an app whose UI bundle is a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.support import ASSET_CSS, ASSET_JS, INDEX_HTML


@pytest.fixture
def plugin_entry_points() -> dict[str, str]:
    return {"ui": "nodeloom.plugins.ui"}


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake built bundle, plus a secret file next to it that must never be served."""
    folder = tmp_path / "bundle" / "dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX_HTML, encoding="utf-8")
    (folder / "assets" / "index-abc123.js").write_text(ASSET_JS, encoding="utf-8")
    (folder / "assets" / "index-abc123.css").write_text(ASSET_CSS, encoding="utf-8")
    (folder / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    (tmp_path / "bundle" / "secret.txt").write_text("do not serve", encoding="utf-8")
    monkeypatch.setenv("NODELOOM_UI_DIST", str(folder))
    return folder


@pytest.fixture
def missing_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "no-bundle"
    monkeypatch.setenv("NODELOOM_UI_DIST", str(folder))
    return folder
