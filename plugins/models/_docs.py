"""OpenAPI schemas of the models routes (served by ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from nodeloom.api import route_doc
from nodeloom.api.schema import schema_of

STRING = schema_of(str)
INTEGER = schema_of(int)
BOOL = schema_of(bool)
NULLABLE_STRING = schema_of(str | None)
NULLABLE_INTEGER = schema_of(int | None)


def obj(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": True}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


MODEL_ITEM = obj(
    {
        "id": STRING,
        "name": STRING,
        "category": STRING,
        "source": {"type": "object", "additionalProperties": True},
        "installed": BOOL,
        "filename": NULLABLE_STRING,
        "size": NULLABLE_INTEGER,
    },
    "id", "name", "category", "source", "installed", "filename", "size",
)
CATEGORY_ITEM = obj({"name": STRING, "path": STRING}, "name", "path")
UPLOAD_RESULT = obj({"filename": STRING, "size": INTEGER}, "filename", "size")
MESSAGE = obj({"message": STRING}, "message")
JOB_STARTED = obj(
    {"success": BOOL, "job_id": STRING, "model_id": STRING, "status": STRING},
    "success", "job_id", "model_id", "status",
)
JOB_STATUS = obj(
    {
        "success": BOOL,
        "job_id": STRING,
        "model_id": STRING,
        "status": {"type": "string", "enum": ["running", "completed", "error"]},
        "progress": INTEGER,
        "message": STRING,
        "bytes_done": INTEGER,
        "bytes_total": NULLABLE_INTEGER,
        "filename": NULLABLE_STRING,
    },
    "success", "job_id", "model_id", "status", "progress", "message", "bytes_done", "bytes_total", "filename",
)
UPLOAD_FORM = obj(
    {"file": {"type": "string", "format": "binary"}, "category": STRING, "overwrite": BOOL},
    "file",
)


def json_response(schema: dict[str, Any]) -> Any:
    return route_doc(responses={"200": {"description": "Success", "content": {"application/json": {"schema": schema}}}})


def binary_response() -> Any:
    return route_doc(responses={"200": {
        "description": "The file",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }})


def multipart_body(schema: dict[str, Any]) -> Any:
    return route_doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": schema}}})
