"""Example routes (api.md §2.5): list and load, with path confinement and plugin checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from nodeloom.kernel.host import Kernel
from tests.api.routes_pack import ADD_EXAMPLE, make_routes_kernel


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_routes_kernel(tmp_path)
    yield k
    k.close()


async def load(client: Any, path: str) -> tuple[int, Any]:
    response = await client.get(f"/api/examples/load?path={quote(path, safe='')}")
    return response.status_code, await response.get_json()


async def test_list_items_sorted_by_path(client: Any) -> None:
    response = await client.get("/api/examples/list")
    assert response.status_code == 200
    assert await response.get_json() == [
        {"name": "Add Two", "description": "Adds two constants.", "category": "Basics", "path": "Basics/Add Two",
         "source": "builtin", "node_count": 4, "edge_count": 4},
        {"name": "Nested", "description": "", "category": "Basics", "path": "Basics/Deep/Nested",
         "source": "builtin", "node_count": 0, "edge_count": 0},
        {"name": "Route", "description": "", "category": "Maps", "path": "plugin:geo/Maps/Route",
         "source": "plugin:geo", "node_count": 1, "edge_count": 0},
    ]


async def test_examples_of_disabled_plugins_disappear(client: Any, kernel: Kernel) -> None:
    kernel.set_enabled("geo", False)
    listed = await (await client.get("/api/examples/list")).get_json()
    assert [i["path"] for i in listed] == ["Basics/Add Two", "Basics/Deep/Nested"]
    status, body = await load(client, "plugin:geo/Maps/Route")
    assert status == 404 and body["code"] == "plugin_not_found"
    assert body["detail"] == "Plugin 'geo' is not installed or not enabled"


@pytest.mark.parametrize(("path", "name"), [("Basics/Add Two", "Add Two"), ("plugin:geo/Maps/Route", "Route"),
                                            ("Basics/Deep/Nested", None)])
async def test_load_returns_the_graph_unchanged(client: Any, path: str, name: str | None) -> None:
    status, body = await load(client, path)
    assert status == 200
    assert body.get("name") == name
    if path == "Basics/Add Two":
        assert body == ADD_EXAMPLE


async def test_load_needs_a_path(client: Any) -> None:
    response = await client.get("/api/examples/load")
    body = await response.get_json()
    assert response.status_code == 422 and body["code"] == "validation_error"
    assert body["detail"][0]["loc"] == ["query", "path"] and body["detail"][0]["type"] == "missing"


@pytest.mark.parametrize("path", ["", "..", "../Basics/Add Two", "Basics/../Basics/Add Two", "/Basics/Add Two",
                                  "Basics\\Add Two", "Basics/Add\x00Two", "Basics//Add Two", "Basics/Add Two/",
                                  ".hidden/x", "C:/x", "plugin:geo/../Maps/Route", "plugin:geo//etc/passwd",
                                  "plugin:geo/", "plugin:nope/../../x"])
async def test_load_rejects_paths_that_leave_the_examples(client: Any, path: str) -> None:
    status, body = await load(client, path)
    assert status == 400 and body["code"] == "invalid_path", body
    assert body["detail"].startswith("Invalid path")


async def test_percent_encoded_traversal_is_decoded_once_and_refused(client: Any) -> None:
    response = await client.get("/api/examples/load?path=..%2F..%2Fsession.token")
    assert response.status_code == 400
    assert (await response.get_json())["code"] == "invalid_path"
    # A double-encoded slash stays a literal '%2F' in one segment: no such example.
    response = await client.get("/api/examples/load?path=Basics%252FAdd%20Two")
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["plugin:nope/Maps/Route", "plugin:/Maps/Route"])
async def test_unknown_plugin(client: Any, path: str) -> None:
    status, body = await load(client, path)
    assert status == 404 and body["code"] == "plugin_not_found"


@pytest.mark.parametrize("path", ["Basics/Missing", "basics/add two", "plugin:geo/Maps/Nope", "plugin:demo/Basics/Add Two",
                                  "Maps/Route"])
async def test_unknown_example(client: Any, path: str) -> None:
    status, body = await load(client, path)
    assert status == 404 and body["code"] == "example_not_found"
    assert body["detail"] == f"Example not found: {path}"


async def test_first_query_occurrence_wins(client: Any) -> None:
    response = await client.get("/api/examples/load?path=Basics%2FAdd%20Two&path=..")
    assert response.status_code == 200
