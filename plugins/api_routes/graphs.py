"""Graph routes (api.md §2.4): validate, save, load, list and export."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from quart import Blueprint, Response, current_app

from nodeloom.api import ApiError, Fields, current_kernel, read_json_object
from nodeloom.kernel.prepare import validate_graph
from nodeloom.kernel.prepared import Issue, ValidationReport

from ._graph_schema import check_graph, without_nulls
from ._graph_store import list_graphs, read_graph, save_graph
from ._schemas import INTEGER, NULLABLE_STRING, STRING, documented, obj, ref

blueprint = Blueprint("api_graphs", __name__)

EXPORT_MODES = ("auto", "standalone", "runner")
MAX_SEED = 2**63 - 1
_ISSUE_SUBJECTS = ("node_id", "edge_id", "port", "param")


def issue_wire(issue: Issue) -> dict[str, Any]:
    """An issue as §2.4.1 sends it: the four subject fields always present (null when unset)."""
    out = {"code": issue.code, "severity": issue.severity, "message": issue.message}
    for name in _ISSUE_SUBJECTS:
        out[name] = getattr(issue, name)
    out["draft"] = issue.draft
    return out


def report_wire(report: ValidationReport) -> dict[str, Any]:
    return {
        "valid": report.valid,
        "errors": report.errors,
        "warnings": report.warnings,
        "issues": [issue_wire(i) for i in report.issues],
    }


async def read_graph_body(*, name_required: bool = False, extra: Any = None) -> dict[str, Any]:
    """The body as a Graph (§4.4), null optionals dropped; 422 lists every schema problem.

    ``extra(fields)`` reads the route's own keys, so their problems land in the same 422.
    """
    body = await read_json_object()
    fields = Fields(body)
    check_graph(fields, name_required=name_required)
    if extra is not None:
        extra(fields)
    fields.raise_if_problems()
    return without_nulls(body)


def _graphs_folder() -> Any:
    return current_kernel().data_dir.area("graphs")


@blueprint.post("/api/graph/validate")
@documented(ref("ValidationReport"), body=ref("Graph"))
async def validate() -> dict[str, Any]:
    """Validate a graph with exactly the rules a run applies; always 200 once the schema passes."""
    body = await read_graph_body()
    report = await asyncio.to_thread(validate_graph, body, current_kernel().snapshot)
    return report_wire(report)


@blueprint.post("/api/graph/save")
@documented(
    obj({"message": STRING, "name": STRING, "file": STRING, "path": STRING, "modified": STRING},
        "message", "name", "file", "path", "modified"),
    body={"allOf": [ref("Graph"), {"required": ["name"]}]},
)
async def save() -> dict[str, Any]:
    """Save a graph as graphs/<name>.json (secrets blanked, unknown keys kept)."""
    body = await read_graph_body(name_required=True)
    saved = await asyncio.to_thread(save_graph, _graphs_folder(), body["name"], body, current_kernel().snapshot)
    return saved.wire()


@blueprint.get("/api/graph/load/<name>")
@documented(ref("Graph"))
async def load(name: str) -> Response:
    """A saved graph exactly as it is stored."""
    stored = await asyncio.to_thread(read_graph, _graphs_folder(), name)
    if isinstance(stored, bytes):
        return current_app.response_class(stored, mimetype="application/json")
    return current_app.json.response(stored)


@blueprint.get("/api/graph/list")
@documented({"type": "array", "items": obj(
    {"name": STRING, "file": STRING, "modified": STRING, "nodes": {"type": ["integer", "null"]},
     "edges": {"type": ["integer", "null"]}, "error": NULLABLE_STRING},
    "name", "file", "modified", "nodes", "edges", "error")})
async def list_saved() -> list[dict[str, Any]]:
    """Saved graphs with their node and edge counts; unreadable files are listed with their error."""
    return await asyncio.to_thread(list_graphs, _graphs_folder())


# ---------------------------------------------------------------------------- export


def _exporter() -> Any:
    """``nodeloom.kernel.export`` (imported on first use: it pulls in the code generators)."""
    try:
        return importlib.import_module("nodeloom.kernel.export")
    except ImportError:
        raise ApiError(503, "export_unavailable", "Graph export is not available in this build") from None


def _issues_wire(issues: Any) -> list[dict[str, Any]]:
    """Issues as §2.4.1 sends them, from Issue objects or their (sparse) wire dicts."""
    out = []
    for issue in issues:
        if isinstance(issue, Issue):
            out.append(issue_wire(issue))
        else:
            item = dict(issue)
            out.append({**{k: item.get(k) for k in ("code", "severity", "message", *_ISSUE_SUBJECTS)},
                        "draft": bool(item.get("draft", False))})
    return out


@blueprint.post("/api/graph/export")
@documented(
    obj({"script": STRING, "mode": {"type": "string", "enum": ["standalone", "runner"]}, "filename": STRING,
         "seed": INTEGER, "omitted_nodes": {"type": "array"}, "unsupported_nodes": {"type": "array"}},
        "script", "mode", "filename", "seed", "omitted_nodes", "unsupported_nodes"),
    body={"allOf": [ref("Graph"), obj({"mode": {"type": "string", "enum": list(EXPORT_MODES)},
                                       "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED}})]},
)
async def export() -> dict[str, Any]:
    """Turn a graph into one Python script: standalone PyTorch code, or a runner script."""
    options: dict[str, Any] = {}

    def read_options(fields: Fields) -> None:
        options["mode"] = fields.choice("mode", EXPORT_MODES, default="auto")
        options["seed"] = fields.integer("seed", default=0, ge=0, le=MAX_SEED)

    body = await read_graph_body(extra=read_options)
    exporter = _exporter()
    kernel = current_kernel()
    snapshot = kernel.snapshot
    try:
        result = await asyncio.to_thread(
            exporter.export_graph,
            body,
            snapshot,
            seed=options["seed"],
            module_mode="train",
            data_dir=kernel.data_dir,
            mode=options["mode"],
        )
    except exporter.ExportValidationError as exc:
        messages = list(exc.messages)
        issues = getattr(exc, "issues", None)
        if not issues:  # the exporter did not say; the validation it ran is this one
            issues = (await asyncio.to_thread(validate_graph, body, snapshot)).issues
        raise ApiError(400, "invalid_graph", "; ".join(messages), errors=messages, issues=_issues_wire(issues)) from None
    except exporter.CodegenUnavailableError as exc:
        raise ApiError(400, "codegen_unavailable", str(exc), unsupported_nodes=list(exc.unsupported_nodes)) from None
    return {
        "script": result.script,
        "mode": result.mode,
        "filename": result.filename,
        "seed": result.seed,
        "omitted_nodes": [dict(o) for o in result.omitted_nodes],
        "unsupported_nodes": [dict(u) for u in result.unsupported_nodes],
    }
