"""Execution outputs and persisted state over REST (api.md §2.10, §4.7, §4.8).

Most tests write to the server's run output store directly (it is the one the engine records
into); a real run over the WebSocket checks the ``run_active`` rule, and ``test_ws_e2e.py``
fetches outputs of real runs over real HTTP.
"""

from __future__ import annotations

import io
import math
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
import torch

from nodeloom.kernel.host import Kernel
from tests.api.support import auth_headers, client_for
from tests.api.ws_helpers import QuartWsClient, execute, graph, install_nodes, is_terminal

BASE = "/api/execution/outputs"


@pytest.fixture
async def served(kernel: Kernel, make_app: Callable[..., Any]) -> AsyncIterator[Any]:
    app = make_app()
    async with app.test_app():
        yield client_for(app)


@pytest.fixture
def store(kernel: Kernel) -> Any:
    return kernel.run_environment.outputs


def record(store: Any, run_id: str, node_id: str, **ports: Any) -> None:
    for port, value in ports.items():
        store.record(run_id, node_id, port, value)


async def get_json(client: Any, path: str, **params: Any) -> tuple[int, Any]:
    response = await client.get(path, query_string=params or None)
    return response.status_code, await response.get_json()


# -- list and delete ---------------------------------------------------------------------------------------


async def test_list_in_insertion_order_with_types(served: Any, store: Any) -> None:
    record(store, "r1", "conv", tensor=torch.zeros(1, 8, 28, 28))
    record(store, "r1", "tok", tokens=["a", "b"])
    record(store, "r1", "conv", __step__0__meta={"name": "x"}, count=3, model=torch.nn.Linear(2, 2))
    status, body = await get_json(served, f"{BASE}/r1")
    assert status == 200
    assert body == [
        {"node_id": "conv", "port": "tensor", "type": "tensor", "full_shape": [1, 8, 28, 28]},
        {"node_id": "conv", "port": "__step__0__meta", "type": "dict", "full_shape": None},
        {"node_id": "conv", "port": "count", "type": "scalar", "full_shape": None},
        {"node_id": "conv", "port": "model", "type": "model", "full_shape": None},
        {"node_id": "tok", "port": "tokens", "type": "list", "full_shape": None},
    ]
    status, body = await get_json(served, f"{BASE}/nope")
    assert status == 404 and body == {"detail": "run 'nope' not found", "code": "run_not_found"}


async def test_delete_a_run(served: Any, store: Any) -> None:
    record(store, "gone", "n", x=1)
    no_token = await served.delete(f"{BASE}/gone")
    assert no_token.status_code == 403
    response = await served.delete(f"{BASE}/gone", headers=auth_headers())
    assert response.status_code == 200 and await response.get_json() == {"run_id": "gone", "deleted": True}
    again = await served.delete(f"{BASE}/gone", headers=auth_headers())
    assert again.status_code == 404 and (await again.get_json())["code"] == "run_not_found"
    assert (await served.get(f"{BASE}/gone")).status_code == 404


async def test_a_run_that_is_still_executing(kernel: Kernel, make_app: Callable[..., Any]) -> None:
    install_nodes(kernel)
    app = make_app()
    async with app.test_app():
        client = client_for(app)
        async with client.websocket("/ws/execution", headers=auth_headers()) as conn:
            ws = QuartWsClient(conn)
            await ws.recv()
            await ws.send(execute(graph(("a", "Arange", {}), ("z", "Slow", {"seconds": 10})),
                                  run_id="live", record_outputs=True))
            await ws.until(lambda m: m.get("node_id") == "a" and m.get("status") == "completed")
            status, listing = await get_json(client, f"{BASE}/live")
            assert status == 200 and [(e["node_id"], e["port"]) for e in listing] == [("a", "tensor")]
            busy = await client.delete(f"{BASE}/live", headers=auth_headers())
            assert busy.status_code == 409
            assert await busy.get_json() == {"detail": "Run 'live' is still executing; stop it first", "code": "run_active"}
            await ws.send({"action": "stop"})
            await ws.until(is_terminal)
        done = await client.delete(f"{BASE}/live", headers=auth_headers())
        assert done.status_code == 200


# -- fetch --------------------------------------------------------------------------------------------------


async def test_fetch_a_tensor_slice_as_json(served: Any, store: Any) -> None:
    t = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    t[0, 0, 2] = math.nan
    record(store, "r1", "n1", tensor=t)
    status, body = await get_json(served, f"{BASE}/r1/n1/tensor", slice="0,:,:")
    assert status == 200
    assert body == {
        "run_id": "r1", "node_id": "n1", "port": "tensor", "type": "tensor", "dtype": "torch.float32",
        "full_shape": [2, 3, 4], "slice": "0,:,:", "sliced_shape": [3, 4],
        "values": [[0.0, 1.0, None, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0]],
        "truncated": False, "min": 0.0, "max": 11.0, "mean": 5.81818, "nan_count": 1, "inf_count": 0,
    }
    status, whole = await get_json(served, f"{BASE}/r1/n1/tensor", max_elements="24")
    assert status == 200 and whole["sliced_shape"] == [2, 3, 4] and whole["slice"] == ""
    status, spaced = await get_json(served, f"{BASE}/r1/n1/tensor", slice=" 1 , -1 ")
    assert spaced["slice"] == " 1 , -1 " and spaced["values"] == [20.0, 21.0, 22.0, 23.0]


async def test_lookup_errors_in_order(served: Any, store: Any) -> None:
    record(store, "r1", "n1", text="hello", empty=None)
    status, body = await get_json(served, f"{BASE}/ghost/n1/text", format="npy", slice="zz")
    assert status == 404 and body["code"] == "run_not_found"
    for path in ("n1/nothing", "other/text", "n1/empty"):
        status, body = await get_json(served, f"{BASE}/r1/{path}", format="npy")
        assert status == 404 and body["code"] == "output_not_found"
    status, body = await get_json(served, f"{BASE}/r1/n1/empty")
    assert body["detail"] == "output 'n1.empty' not found in run 'r1'"
    status, body = await get_json(served, f"{BASE}/r1/n1/text", format="npy")
    assert status == 400 and body == {
        "detail": "format=npy is only available for tensors; 'n1.text' is a string", "code": "not_a_tensor"}
    status, body = await get_json(served, f"{BASE}/r1/n1/text", slice="not a slice")
    assert status == 200 and body["value"] == "hello"  # slices only apply to tensors


@pytest.mark.parametrize("bad", ["::0", "::-1", "5", "0,0,0,0", "a", "1.5", "...", "None", "1:2:3:4"])
async def test_invalid_slices_are_400(served: Any, store: Any, bad: str) -> None:
    record(store, "r1", "n1", tensor=torch.zeros(2, 3, 4))
    for fmt in ("json", "npy"):
        status, body = await get_json(served, f"{BASE}/r1/n1/tensor", slice=bad, format=fmt)
        assert status == 400 and body["code"] == "invalid_slice" and body["detail"].startswith("invalid slice: ")


async def test_element_cap(served: Any, store: Any) -> None:
    record(store, "r1", "n1", tensor=torch.zeros(2, 3, 4))
    assert (await served.get(f"{BASE}/r1/n1/tensor", query_string={"max_elements": "24"})).status_code == 200
    status, body = await get_json(served, f"{BASE}/r1/n1/tensor", max_elements="23")
    assert status == 413 and body["code"] == "output_too_large"
    assert (body["shape"], body["full_shape"], body["numel"], body["max_elements"]) == ([2, 3, 4], [2, 3, 4], 24, 23)
    assert body["detail"].startswith("output has 24 elements (max 23)")
    status, body = await get_json(served, f"{BASE}/r1/n1/tensor", slice="0", max_elements="11", format="npy")
    assert status == 413 and body["shape"] == [3, 4] and body["numel"] == 12


async def test_default_caps_differ_by_format(served: Any, store: Any) -> None:
    record(store, "r1", "n1", tensor=torch.zeros(4097))
    status, body = await get_json(served, f"{BASE}/r1/n1/tensor")
    assert status == 413 and body["max_elements"] == 4096
    assert (await served.get(f"{BASE}/r1/n1/tensor", query_string={"format": "npy"})).status_code == 200


@pytest.mark.parametrize(
    ("params", "loc", "type_"),
    [
        ({"format": "xml"}, ["query", "format"], "not_in_enum"),
        ({"max_elements": "0"}, ["query", "max_elements"], "out_of_range"),
        ({"max_elements": "1000001"}, ["query", "max_elements"], "out_of_range"),
        ({"max_elements": "1073741825", "format": "npy"}, ["query", "max_elements"], "out_of_range"),
        ({"max_elements": "ten"}, ["query", "max_elements"], "wrong_type"),
        ({"max_elements": "2.0"}, ["query", "max_elements"], "wrong_type"),
    ],
)
async def test_query_validation(served: Any, store: Any, params: dict[str, str], loc: list[str], type_: str) -> None:
    record(store, "r1", "n1", tensor=torch.zeros(2))
    status, body = await get_json(served, f"{BASE}/r1/n1/tensor", **params)
    assert status == 422 and body["code"] == "validation_error"
    assert {"loc": loc, "type": type_} in [{"loc": d["loc"], "type": d["type"]} for d in body["detail"]]


async def test_npy_allows_more_elements_than_json(served: Any, store: Any) -> None:
    record(store, "r1", "n1", tensor=torch.zeros(3))
    response = await served.get(f"{BASE}/r1/n1/tensor", query_string={"format": "npy", "max_elements": "1073741824"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("tensor", "descr", "dtype_header"),
    [
        (torch.tensor([[1.5, float("nan")]], dtype=torch.bfloat16), "<f4", "torch.bfloat16"),
        (torch.tensor([1, 2], dtype=torch.int64), "<i8", "torch.int64"),
        (torch.tensor([True]), "|b1", "torch.bool"),
        (torch.tensor([1 + 2j], dtype=torch.complex64), "<c8", "torch.complex64"),
    ],
)
async def test_npy_download(served: Any, store: Any, tensor: torch.Tensor, descr: str, dtype_header: str) -> None:
    record(store, "r1", "n1", tensor=tensor)
    response = await served.get(f"{BASE}/r1/n1/tensor", query_string={"format": "npy"})
    assert response.status_code == 200
    data = await response.get_data()
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["X-Nodeloom-Dtype"] == dtype_header
    assert response.headers["X-Nodeloom-Full-Shape"] == ",".join(str(d) for d in tensor.shape)
    assert response.headers["Cache-Control"] == "no-store"
    loaded = np.load(io.BytesIO(data), allow_pickle=False)
    assert loaded.dtype.str == descr
    expected = tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()
    np.testing.assert_array_equal(loaded, expected)


async def test_npy_of_a_zero_dim_tensor_and_unicode_names(served: Any, store: Any) -> None:
    record(store, "r1", "köln", **{"tensor.a[0]__grad": torch.tensor(2.0)})
    path = f"{BASE}/r1/{quote('köln')}/{quote('tensor.a[0]__grad')}"
    response = await served.get(path, query_string={"format": "npy"})
    assert response.status_code == 200
    assert response.headers["X-Nodeloom-Full-Shape"] == ""
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="k_ln.tensor.a[0]__grad.npy"')
    assert "filename*=UTF-8''k%C3%B6ln.tensor.a%5B0%5D__grad.npy" in disposition
    assert np.load(io.BytesIO(await response.get_data())).shape == ()
    status, body = await get_json(served, path)
    assert status == 200 and body["values"] == 2.0 and body["sliced_shape"] == []


async def test_values_that_are_not_tensors(served: Any, store: Any) -> None:
    record(store, "r1", "n", nan=math.nan, small=0.1, text="é" * 5000, items=[1, None, "x"],
           model=torch.nn.Linear(3, 1), mapping={"a": 1}, array=np.array([1, 2], dtype=np.uint8))
    _, nan = await get_json(served, f"{BASE}/r1/n/nan")
    assert nan == {"run_id": "r1", "node_id": "n", "port": "nan", "type": "scalar", "value": None, "nonfinite": "nan"}
    assert (await get_json(served, f"{BASE}/r1/n/small"))[1]["value"] == 0.1
    _, text = await get_json(served, f"{BASE}/r1/n/text")
    assert text["length"] == 5000 and text["value"] == "é" * 4000
    _, items = await get_json(served, f"{BASE}/r1/n/items")
    assert items["type"] == "list" and items["values"] == [1, None, "x"] and items["length"] == 3
    _, model = await get_json(served, f"{BASE}/r1/n/model")
    assert (model["type"], model["class"], model["params"], model["trainable"]) == ("model", "Linear", 4, 4)
    _, mapping = await get_json(served, f"{BASE}/r1/n/mapping")
    assert mapping["type"] == "dict" and mapping["repr"] == "{'a': 1}"
    _, array = await get_json(served, f"{BASE}/r1/n/array")
    assert array["dtype"] == "numpy.uint8" and array["values"] == [1, 2] and array["min"] == 1


async def test_head_and_literal_ports_win(served: Any, store: Any) -> None:
    record(store, "r1", "n", __steps_index="not the index")
    assert (await served.head(f"{BASE}/r1/n/x")).status_code == 404
    status, body = await get_json(served, f"{BASE}/r1/n/__steps_index")
    assert status == 200 and body == []  # the literal route answers, not the port lookup


# -- step traces and gradients --------------------------------------------------------------------------------


async def test_steps_index(served: Any, store: Any) -> None:
    record(store, "r1", "attn",
           __step__10__meta={"name": "late", "description": "", "scalars": {}, "tensor_keys": []},
           __step__0__meta={"name": "project_qkv", "description": "Project", "scalars": {},
                            "tensor_keys": ["Q", "K", "V"]},
           __step__0__Q=torch.zeros(2),
           __step__2__meta={"name": "scores", "description": "Scaled", "scalars": {"d_k": 4.0, "bad": math.inf},
                            "tensor_keys": ["scores"]},
           __step__3__meta="not an object")
    status, body = await get_json(served, f"{BASE}/r1/attn/__steps_index")
    assert status == 200
    assert [s["index"] for s in body] == [0, 2, 10]
    assert body[0] == {"index": 0, "name": "project_qkv", "description": "Project", "scalars": {},
                       "tensor_keys": ["Q", "K", "V"]}
    assert body[1]["scalars"] == {"d_k": 4.0, "bad": None}
    assert (await get_json(served, f"{BASE}/r1/other/__steps_index")) == (200, [])
    assert (await get_json(served, f"{BASE}/nope/attn/__steps_index"))[0] == 404


async def test_grad_index(served: Any, store: Any) -> None:
    healthy = {"status": "healthy", "norm": 1.41, "mean": 0.25, "max": math.nan}
    record(store, "r1", "lin",
           tensor=torch.ones(2),
           **{"tensor__grad": torch.ones(2), "tensor__grad__meta": healthy,
              "__weight_grad__weight": torch.ones(2, 2),
              "__weight_grad__weight__meta": {"status": "vanishing", "norm": 1e-9, "mean": 1e-10, "max": 1e-9},
              "out.a[0]__grad": torch.ones(1)})
    status, body = await get_json(served, f"{BASE}/r1/lin/__grad_index")
    assert status == 200
    assert body == [
        {"port": "tensor", "kind": "port", "has_grad": True,
         "health": {"status": "healthy", "norm": 1.41, "mean": 0.25, "max": None}},
        {"port": "weight", "kind": "weight", "has_grad": True,
         "health": {"status": "vanishing", "norm": 1e-9, "mean": 1e-10, "max": 1e-9}},
        {"port": "out.a[0]", "kind": "port", "has_grad": True, "health": None},
    ]
    assert (await get_json(served, f"{BASE}/r1/none/__grad_index")) == (200, [])
    assert (await get_json(served, f"{BASE}/nope/lin/__grad_index"))[0] == 404
    grad = await get_json(served, f"{BASE}/r1/lin/{quote('__weight_grad__weight')}")
    assert grad[0] == 200 and grad[1]["full_shape"] == [2, 2]


# -- persisted state ---------------------------------------------------------------------------------------------


@pytest.fixture
def modules(kernel: Kernel) -> Any:
    store = kernel.run_environment.modules
    for graph_id, node_id in [("g1", "a"), ("g1", "b"), ("g1", "p__inner"), ("g2", "a"), ("", "z")]:
        store.get_or_build(graph_id, node_id, "h", object)
    return store


async def test_state_list(served: Any, modules: Any) -> None:
    assert await get_json(served, "/api/execution/state/list") == (200, {"total": 5})
    assert await get_json(served, "/api/execution/state/list", graph_id="g1") == (
        200, {"graph_id": "g1", "count": 3, "node_ids": ["a", "b", "p__inner"]})
    assert await get_json(served, "/api/execution/state/list", graph_id="") == (
        200, {"graph_id": "", "count": 1, "node_ids": ["z"]})
    assert await get_json(served, "/api/execution/state/list", graph_id="none") == (
        200, {"graph_id": "none", "count": 0, "node_ids": []})


async def test_state_reset(served: Any, modules: Any) -> None:
    async def reset(body: Any) -> tuple[int, Any]:
        response = await served.post("/api/execution/state/reset", json=body, headers=auth_headers())
        return response.status_code, await response.get_json()

    assert (await served.post("/api/execution/state/reset", json={"graph_id": "g1"})).status_code == 403
    assert await reset({"graph_id": "g1", "node_ids": ["p"]}) == (200, {"graph_id": "g1", "scope": "nodes", "evicted": 1})
    assert await reset({"graph_id": "g1", "node_ids": []}) == (200, {"graph_id": "g1", "scope": "graph", "evicted": 2})
    assert await reset({"graph_id": "g1", "node_ids": None}) == (200, {"graph_id": "g1", "scope": "graph", "evicted": 0})
    assert await reset({"graph_id": ""}) == (200, {"graph_id": "", "scope": "graph", "evicted": 1})
    assert modules.count() == 1 and modules.node_ids("g2") == ["a"]


@pytest.mark.parametrize(
    ("body", "loc", "type_"),
    [
        ({}, ["body", "graph_id"], "missing"),
        ({"graph_id": None}, ["body", "graph_id"], "wrong_type"),
        ({"graph_id": 3}, ["body", "graph_id"], "wrong_type"),
        ({"graph_id": "g", "node_ids": "a"}, ["body", "node_ids"], "wrong_type"),
        ({"graph_id": "g", "node_ids": ["a", 1]}, ["body", "node_ids", 1], "wrong_type"),
    ],
)
async def test_state_reset_validation(served: Any, body: Any, loc: list[Any], type_: str) -> None:
    response = await served.post("/api/execution/state/reset", json=body, headers=auth_headers())
    assert response.status_code == 422
    detail = (await response.get_json())["detail"]
    assert any(d["loc"] == loc and d["type"] == type_ for d in detail), detail
