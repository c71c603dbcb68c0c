"""Execution outputs and persisted state (api.md §2.10).

Recorded outputs live in the run environment's output store, shared with the WebSocket runs;
persisted layer modules in its module store. Serialising values (tensor slices, statistics,
``.npy``) happens in worker threads.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, current_app, request

from nodeloom.api import ApiError, Fields, Problem, QueryFields, read_json_object
from nodeloom.kernel.outputs import RunOutputStore

from . import runs, slices, values, wire

blueprint = Blueprint("api_execution_outputs", __name__)

JSON_MAX_ELEMENTS = (4096, 1_000_000)  # (default, allowed maximum)
NPY_MAX_ELEMENTS = (16_777_216, 1_073_741_824)
FORMATS = ("json", "npy")

_STEP_META = re.compile(r"^__step__(\d+)__meta$")
_WEIGHT_GRAD = "__weight_grad__"
_GRAD_SUFFIX = "__grad"
_META_SUFFIX = "__meta"


# -- lookups ----------------------------------------------------------------------------------------


def _store() -> RunOutputStore:
    return runs.current_runs().env.outputs


def _require_run(run_id: str) -> RunOutputStore:
    """The store, after checking the run is known (recorded something, or still executing)."""
    store = _store()
    if not store.has_run(run_id) and not runs.current_runs().is_executing(run_id):
        raise ApiError(404, "run_not_found", f"run '{run_id}' not found")
    return store


def _json(text: str) -> Response:
    """A JSON response from text already encoded (off the loop, by :func:`wire.encode`)."""
    return current_app.response_class(text, status=200, mimetype="application/json")


# -- routes ----------------------------------------------------------------------------------------


@blueprint.get("/api/execution/outputs/<run_id>")
async def list_outputs(run_id: str) -> Any:
    """Every stored (node, port) of a run with its type and tensor shape."""
    store = _require_run(run_id)
    entries = store.entries(run_id)

    def describe() -> list[dict[str, Any]]:
        return [
            {
                "node_id": node_id,
                "port": port,
                "type": values.kind_of(value),
                "full_shape": values.shape_of(value) if values.is_tensor(value) else None,
            }
            for node_id, port, value in entries
        ]

    return await asyncio.to_thread(describe)


@blueprint.delete("/api/execution/outputs/<run_id>")
async def delete_outputs(run_id: str) -> dict[str, Any]:
    """Forget a finished run's recorded outputs."""
    store = _require_run(run_id)
    if runs.current_runs().is_executing(run_id):
        raise ApiError(409, "run_active", f"Run '{run_id}' is still executing; stop it first")
    if not store.clear(run_id):
        raise ApiError(404, "run_not_found", f"run '{run_id}' not found")
    return {"run_id": run_id, "deleted": True}


@blueprint.get("/api/execution/outputs/<run_id>/<node_id>/__steps_index")
async def steps_index(run_id: str, node_id: str) -> Any:
    """The verbose-mode step trace of one node, by step index."""
    store = _require_run(run_id)
    steps = []
    for port, value in store.node(run_id, node_id).items():
        match = _STEP_META.match(port)
        if match and isinstance(value, dict):
            entry = {"index": int(match.group(1))}
            entry.update({str(k): v for k, v in value.items() if k != "index"})
            steps.append(entry)
    steps.sort(key=lambda s: s["index"])
    return values.jsonable(steps)


@blueprint.get("/api/execution/outputs/<run_id>/<node_id>/__grad_index")
async def grad_index(run_id: str, node_id: str) -> Any:
    """Gradients recorded for one node (forward ports and module weights) with their health."""
    store = _require_run(run_id)
    ports = store.node(run_id, node_id)
    entries = []
    for stored, _value in ports.items():
        if stored.endswith(_META_SUFFIX):
            continue
        if stored.startswith(_WEIGHT_GRAD):
            name, kind = stored[len(_WEIGHT_GRAD) :], "weight"
        elif stored.endswith(_GRAD_SUFFIX):
            name, kind = stored[: -len(_GRAD_SUFFIX)], "port"
        else:
            continue
        health = ports.get(stored + _META_SUFFIX)
        entries.append(
            {
                "port": name,
                "kind": kind,
                "has_grad": True,
                "health": values.jsonable(health) if isinstance(health, dict) else None,
            }
        )
    return entries


@blueprint.get("/api/execution/outputs/<run_id>/<node_id>/<port>")
async def fetch_output(run_id: str, node_id: str, port: str) -> Any:
    """One recorded value as JSON (tensors sliced and capped) or as a ``.npy`` file."""
    query = QueryFields(request.args)
    fmt = query.choice("format", FORMATS, default="json")
    default, maximum = NPY_MAX_ELEMENTS if fmt == "npy" else JSON_MAX_ELEMENTS
    max_elements = query.integer("max_elements", default=default, ge=1, le=maximum)
    slice_text = query.string("slice", default="")
    query.raise_if_problems()

    store = _require_run(run_id)
    value = store.get(run_id, node_id, port)
    if value is None:
        raise ApiError(404, "output_not_found", f"output '{node_id}.{port}' not found in run '{run_id}'")
    is_tensor = values.is_tensor(value)
    if fmt == "npy" and not (is_tensor and slices.is_npy_capable(value)):
        kind = values.kind_of(value)
        raise ApiError(
            400,
            "not_a_tensor",
            f"format=npy is only available for tensors; '{node_id}.{port}' is a {kind}",
        )
    if fmt == "npy":
        return await _npy_response(value, node_id, port, slice_text, max_elements)

    def render() -> str:
        body: dict[str, Any] = {"run_id": run_id, "node_id": node_id, "port": port}
        if is_tensor:
            body.update(slices.tensor_body(value, slice_text, max_elements))
        else:
            body.update(values.rest_body(value))
        return wire.encode(body)

    try:
        text = await asyncio.to_thread(render)
    except (slices.SliceError, slices.TooLarge) as exc:
        raise _slice_error(exc) from None
    return _json(text)


def _slice_error(exc: Exception) -> ApiError:
    if isinstance(exc, slices.TooLarge):
        return ApiError(
            413,
            "output_too_large",
            f"output has {exc.numel} elements (max {exc.max_elements}); supply a narrower 'slice' "
            "or a larger 'max_elements'",
            shape=exc.shape,
            full_shape=exc.full_shape,
            numel=exc.numel,
            max_elements=exc.max_elements,
        )
    return ApiError(400, "invalid_slice", f"invalid slice: {exc}")


async def _npy_response(value: Any, node_id: str, port: str, slice_text: str, max_elements: int) -> Response:
    try:
        arr = await asyncio.to_thread(slices.npy_array, value, slice_text, max_elements)
    except (slices.SliceError, slices.TooLarge) as exc:
        raise _slice_error(exc) from None
    header = slices.npy_header(arr)

    async def body() -> AsyncIterator[bytes]:
        yield header
        for chunk in slices.npy_chunks(arr):
            yield chunk

    response = current_app.response_class(body(), status=200, mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(len(header) + arr.nbytes)
    response.headers["Content-Disposition"] = _attachment(f"{node_id}.{port}.npy")
    response.headers["X-Nodeloom-Dtype"] = values.dtype_name(value)
    response.headers["X-Nodeloom-Full-Shape"] = ",".join(str(d) for d in values.shape_of(value))
    return response


def _attachment(filename: str) -> str:
    """``attachment; filename="..."`` with an ASCII fallback and RFC 5987 ``filename*``."""
    from urllib.parse import quote

    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


@blueprint.post("/api/execution/state/reset")
async def reset_state() -> dict[str, Any]:
    """Drop persisted layer modules of a graph (or of some of its nodes)."""
    body = Fields(await read_json_object())
    graph_id = body.string("graph_id")
    node_ids = body.array("node_ids", default=None)
    for index, item in enumerate(node_ids or ()):
        if not isinstance(item, str):
            body.problems.append(Problem(("body", "node_ids", index), "Input should be a valid string", "wrong_type"))
    body.raise_if_problems()
    modules = runs.current_runs().env.modules
    scope = "nodes" if node_ids else "graph"
    evicted = modules.reset(graph_id=graph_id, node_ids=node_ids or None)
    return {"graph_id": graph_id, "scope": scope, "evicted": evicted}


@blueprint.get("/api/execution/state/list")
async def list_state() -> dict[str, Any]:
    """How many layer modules are persisted, overall or for one graph."""
    modules = runs.current_runs().env.modules
    graph_id = request.args.get("graph_id")
    if graph_id is None:
        return {"total": modules.count()}
    return {"graph_id": graph_id, "count": modules.count(graph_id), "node_ids": modules.node_ids(graph_id)}
