"""A kernel with only the API and UI plugins, and an app whose UI bundle is a temp folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeloom.api import create_app
from nodeloom.kernel.host import Kernel
from tests.api.support import client_for, make_kernel, make_settings
from tests.ui.support import ASSET_CSS, ASSET_JS, INDEX_HTML, UI_PLUGINS


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_kernel(tmp_path, first_party=UI_PLUGINS, third_party={})
    yield k
    k.close()


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


@pytest.fixture
async def client(kernel: Kernel) -> AsyncIterator[Any]:
    app = create_app(kernel, make_settings(kernel.data_dir))
    async with app.test_app():
        yield client_for(app)
