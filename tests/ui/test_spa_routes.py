"""The UI plugin's routes: bundle files, the SPA fallback and what it must never answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.support import auth_headers
from tests.ui.support import ASSET_CSS, ASSET_JS, INDEX_HTML


async def test_root_serves_index_without_caching(client: Any, dist: Path) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "Expires" not in response.headers
    assert (await response.get_data(as_text=True)) == INDEX_HTML


async def test_hashed_assets_are_long_cached_with_their_mime_type(client: Any, dist: Path) -> None:
    js = await client.get("/assets/index-abc123.js")
    assert js.status_code == 200
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "immutable" in js.headers["Cache-Control"]
    assert "max-age=31536000" in js.headers["Cache-Control"]
    assert (await js.get_data(as_text=True)) == ASSET_JS
    css = await client.get("/assets/index-abc123.css")
    assert css.headers["Content-Type"].startswith("text/css")
    assert (await css.get_data(as_text=True)) == ASSET_CSS


async def test_root_level_files_are_served_but_revalidated(client: Any, dist: Path) -> None:
    response = await client.get("/favicon.svg")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("path", ["/editor", "/views/models/list", "/graph.v2", "/index.html"])
async def test_client_routes_fall_back_to_index(client: Any, dist: Path, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-cache"
    assert (await response.get_data(as_text=True)) == INDEX_HTML


async def test_missing_asset_is_404_not_html(client: Any, dist: Path) -> None:
    response = await client.get("/assets/index-gone.js")
    assert response.status_code == 404
    assert (await response.get_json())["code"] == "not_found"


async def test_head_answers_like_get(client: Any, dist: Path) -> None:
    response = await client.head("/assets/index-abc123.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")


async def test_conditional_get_revalidates_index(client: Any, dist: Path) -> None:
    first = await client.get("/")
    etag = first.headers.get("ETag")
    assert etag
    again = await client.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/api/nope", "/api/nodes/", "/api", "/ws/nope", "/temp/nope.txt", "/temp"])
async def test_reserved_prefixes_stay_json_404(client: Any, dist: Path, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert (await response.get_json())["code"] == "not_found"


async def test_api_routes_still_answer(client: Any, dist: Path) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert (await response.get_json())["status"] == "ok"


@pytest.mark.parametrize(
    "path",
    ["/..%2Fsecret.txt", "/assets/..%2F..%2Fsecret.txt", "/%2E%2E/secret.txt", "/assets/.hidden.js", "/a%5C..%5Csecret.txt"],
)
async def test_traversal_is_refused(client: Any, dist: Path, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "do not serve" not in (await response.get_data(as_text=True))


async def test_symlink_out_of_the_bundle_is_not_followed(client: Any, dist: Path) -> None:
    (dist / "assets" / "leak.js").symlink_to(dist.parent / "secret.txt")
    response = await client.get("/assets/leak.js")
    assert response.status_code == 404
    assert "do not serve" not in (await response.get_data(as_text=True))


async def test_missing_bundle_explains_how_to_build(client: Any, missing_dist: Path) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    text = await response.get_data(as_text=True)
    assert "npm ci" in text and "npm run build" in text
    assert "scripts/dev.sh serve" in text
    fallback = await client.get("/some/route")
    assert fallback.status_code == 200
    assert "npm run build" in (await fallback.get_data(as_text=True))
    asset = await client.get("/assets/index-abc123.js")
    assert asset.status_code == 404


async def test_mutating_methods_still_need_the_token(client: Any, dist: Path) -> None:
    refused = await client.post("/")
    assert refused.status_code == 403
    with_token = await client.post("/", headers=auth_headers())
    assert with_token.status_code == 405


async def test_ui_blueprint_belongs_to_the_ui_plugin(client: Any, dist: Path) -> None:
    plugins = await (await client.get("/api/plugins")).get_json()
    ids = {p["id"] for p in plugins}
    assert "ui" in ids
