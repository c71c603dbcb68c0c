"""Registry download routes (api.md §2.8.6, §2.8.7): start a background download, poll its job.

Both paths are Blobit-style (§1.2): their JSON objects carry ``"success": true``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint

from nodeloom.api import ApiError, current_kernel

from . import _docs
from ._service import current_registry, current_service

blueprint = Blueprint("models_downloads", __name__)


@blueprint.post("/api/models/download/<model_id>")
@_docs.json_response(_docs.JOB_STARTED)
async def start_download(model_id: str) -> dict[str, Any]:
    """Start downloading a registry entry in the background (or return its running job). No body."""
    entry = current_registry().get(model_id)
    if entry is None:
        raise ApiError(404, "model_not_found", f"Model '{model_id}' not found in the registry")
    service = current_service()
    source = service.source_for(current_kernel(), entry.source_type)
    job = await asyncio.to_thread(service.jobs.start, service.root, entry, source)
    return {key: job[key] for key in ("success", "job_id", "model_id", "status")}


@blueprint.get("/api/downloads/status/<job_id>")
@_docs.json_response(_docs.JOB_STATUS)
async def job_status(job_id: str) -> dict[str, Any]:
    """The state of one download job (kept for an hour after it finished)."""
    job = current_service().jobs.status(job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"Download job '{job_id}' not found")
    return job
