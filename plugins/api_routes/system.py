"""System routes (api.md §2.1): health, auth bootstrap, OpenAPI document, compute devices."""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

from quart import Blueprint, current_app, request

from nodeloom.api import ApiError, current_kernel, current_settings
from nodeloom.api.netaddr import is_loopback_peer
from nodeloom.api.openapi import openapi_document

blueprint = Blueprint("api_system", __name__)


@blueprint.get("/api/health")
async def health() -> dict[str, Any]:
    """Server status, version and registry counts."""
    from nodeloom import __version__

    kernel = current_kernel()
    snapshot = kernel.snapshot
    packs = kernel.plugins() if hasattr(kernel, "plugins") else list(snapshot.packs.values())
    return {
        "status": "ok",
        "version": __version__,
        "nodes_loaded": len(snapshot.nodes),
        "presets_loaded": len(snapshot.presets),
        "plugins_loaded": sum(1 for p in packs if p.enabled and p.error is None),
        "registry_generation": snapshot.generation,
    }


@blueprint.get("/api/auth/bootstrap")
async def bootstrap() -> dict[str, str]:
    """Hand the session token to the browser UI (local clients only when bound beyond loopback)."""
    settings = current_settings()
    if not settings.bind_is_loopback and not is_loopback_peer(request.remote_addr):
        where = settings.data_dir.root / "session.token"
        raise ApiError(
            403,
            "bootstrap_local_only",
            f"The session token is only given to local clients; read it from {where}",
        )
    return {"token": settings.token}


@blueprint.get("/api/openapi.json")
async def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route, plugin routes included."""
    return openapi_document(current_app)


@blueprint.get("/api/system/devices")
async def devices() -> dict[str, Any]:
    """Compute devices a run can use (cpu, cuda, mps) and the best default."""
    # Importing torch takes seconds the first time; keep it off the event loop.
    return await asyncio.to_thread(probe_devices)


@functools.cache
def _probe() -> tuple[tuple[str, str, str, bool], ...]:
    try:
        import torch
    except ImportError:
        missing = "torch not installed"
        return (
            ("cpu", "CPU", f"{os.cpu_count() or 1} threads ({missing})", True),
            ("cuda", "NVIDIA CUDA", missing, False),
            ("mps", "Apple MPS", missing, False),
        )
    rocm = getattr(torch.version, "hip", None) is not None
    cuda_label = "AMD ROCm" if rocm else "NVIDIA CUDA"
    try:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        names = sorted({torch.cuda.get_device_name(i) for i in range(count)})
    except Exception:  # a broken driver reads as "no GPU", never as a failed request
        count, names = 0, []
    cuda_detail = f"{', '.join(names)} ({count} device{'s' if count != 1 else ''})" if count else "not available"
    mps_backend = getattr(torch.backends, "mps", None)
    try:
        mps = bool(mps_backend is not None and mps_backend.is_available())
    except Exception:
        mps = False
    return (
        ("cpu", "CPU", f"{torch.get_num_threads()} threads", True),
        ("cuda", cuda_label, cuda_detail, count > 0),
        ("mps", "Apple MPS", "available" if mps else "not available", mps),
    )


def probe_devices() -> dict[str, Any]:
    """The §2.1.4 body; the hardware probe runs once per process."""
    rows = _probe()
    available = {value for value, _, _, ok in rows if ok}
    default = "cuda" if "cuda" in available else "mps" if "mps" in available else "cpu"
    return {
        "default": default,
        "devices": [
            {"value": value, "label": label, "detail": detail, "available": ok}
            for value, label, detail, ok in rows
        ],
    }
