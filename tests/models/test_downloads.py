"""Registry downloads (api.md §2.8.6) and their jobs (§2.8.7), against a loopback HTTP server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nodeloom.kernel.host import Kernel
from tests.api.support import client_for
from tests.models.support import (
    TOKEN,
    FakeRemote,
    job_status,
    sha256,
    start_download,
    wait_for_job,
)

DATA = os.urandom(300_000)


def register(kernel: Kernel, models: Path, *entries: dict[str, Any]) -> None:
    (models / "registry.json").write_text(json.dumps(list(entries)), encoding="utf-8")
    report = kernel.reload()
    assert not [e for e in report.errors if e.kind == "model_registry"], report.errors


def url_entry(model_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": model_id, "category": "Cat", "source": {"type": "url", "url": url}, **extra}


def temp_files(models: Path) -> list[str]:
    return [p.relative_to(models).as_posix() for p in models.rglob(".*")]


async def listed(client: Any, model_id: str) -> dict[str, Any]:
    items = await (await client.get("/api/models")).get_json()
    return next(item for item in items if item["id"] == model_id)


async def download(client: Any, model_id: str) -> dict[str, Any]:
    status, body = await start_download(client, model_id)
    assert status == 200, body
    return await wait_for_job(client, body["job_id"])


# ---------------------------------------------------------------------------- url source


async def test_url_download_completes_and_installs(
    client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote
) -> None:
    url = remote.serve("/files/tiny.pt", DATA)
    register(kernel, models_dir, url_entry("tiny", url, sha256=sha256(DATA).upper()))
    assert (await listed(client, "tiny"))["installed"] is False
    status, started = await start_download(client, "tiny")
    assert status == 200
    assert started["success"] is True and started["model_id"] == "tiny" and started["status"] == "running"
    assert re.fullmatch(r"[0-9a-f]{32}", started["job_id"])
    assert set(started) == {"success", "job_id", "model_id", "status"}
    job = await wait_for_job(client, started["job_id"])
    assert job == {
        "success": True, "job_id": started["job_id"], "model_id": "tiny", "status": "completed", "progress": 100,
        "message": "Completed", "bytes_done": len(DATA), "bytes_total": len(DATA), "filename": "Cat/tiny.pt",
    }
    assert (models_dir / "Cat" / "tiny.pt").read_bytes() == DATA
    assert temp_files(models_dir) == []
    item = await listed(client, "tiny")
    assert (item["installed"], item["filename"], item["size"]) == (True, "Cat/tiny.pt", len(DATA))


async def test_already_installed_gives_a_finished_job(
    client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote
) -> None:
    register(kernel, models_dir, url_entry("tiny", remote.url("/tiny.pt")))
    (models_dir / "Cat").mkdir()
    (models_dir / "Cat" / "tiny.pt").write_bytes(b"1234")
    status, started = await start_download(client, "tiny")
    assert status == 200
    job = (await job_status(client, started["job_id"]))[1]
    assert (job["status"], job["progress"], job["message"], job["filename"]) == (
        "completed", 100, "Already installed", "Cat/tiny.pt")
    assert remote.requests == []


async def test_http_404_ends_in_error(client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote) -> None:
    url = remote.url("/missing.pt")
    register(kernel, models_dir, url_entry("gone", url))
    job = await download(client, "gone")
    assert (job["status"], job["message"], job["filename"]) == ("error", f"HTTP 404 from {url}", None)
    assert job["progress"] < 100
    assert list(models_dir.glob("Cat/*")) == [] and temp_files(models_dir) == []
    assert (await listed(client, "gone"))["installed"] is False


async def test_redirects_are_followed(client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote) -> None:
    target = remote.serve("/real/w.bin", DATA)
    remote.serve("/hop2", status=307, location=target)
    first = remote.serve("/hop1/w.bin", status=302, location="/hop2")
    gone = remote.serve("/to-missing.pt", status=301, location=remote.url("/nothing-here.pt"))
    register(kernel, models_dir, url_entry("moved", first), url_entry("moved_gone", gone))
    job = await download(client, "moved")
    assert (job["status"], job["filename"]) == ("completed", "Cat/w.bin")
    assert (models_dir / "Cat" / "w.bin").read_bytes() == DATA
    job = await download(client, "moved_gone")
    assert (job["status"], job["message"]) == ("error", f"HTTP 404 from {remote.url('/nothing-here.pt')}")


async def test_redirect_to_another_scheme_is_refused(
    client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote
) -> None:
    url = remote.serve("/w.pt", status=302, location="file:///etc/passwd")
    register(kernel, models_dir, url_entry("sneaky", url))
    job = await download(client, "sneaky")
    assert job["status"] == "error" and "file:///etc/passwd" in job["message"]
    assert list(models_dir.glob("Cat/*")) == [] and temp_files(models_dir) == []


async def test_connection_closed_halfway_leaves_nothing(
    client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote
) -> None:
    url = remote.serve("/half.pt", DATA, cut_after=len(DATA) // 2)
    register(kernel, models_dir, url_entry("half", url))
    job = await download(client, "half")
    assert job["status"] == "error"
    assert job["message"].startswith(f"Incomplete download from {url}")
    assert job["bytes_total"] == len(DATA) and job["progress"] <= 99
    assert list(models_dir.glob("Cat/*")) == [] and temp_files(models_dir) == []


async def test_checksum_mismatch_leaves_nothing(
    client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote
) -> None:
    url = remote.serve("/w.pt", DATA)
    expected = "ab" * 32
    register(kernel, models_dir, url_entry("bad_sum", url, sha256=expected))
    job = await download(client, "bad_sum")
    assert (job["status"], job["message"]) == ("error", f"Checksum mismatch: expected {expected}, got {sha256(DATA)}")
    assert list(models_dir.glob("Cat/*")) == [] and temp_files(models_dir) == []


async def test_unreachable_host_ends_in_error(client: Any, kernel: Kernel, models_dir: Path) -> None:
    register(kernel, models_dir, url_entry("nowhere", "http://127.0.0.1:9/w.pt"))
    job = await download(client, "nowhere")
    assert job["status"] == "error" and job["message"].startswith("Cannot reach http://127.0.0.1:9/w.pt")
    assert temp_files(models_dir) == []


async def test_running_job_is_shared_and_reports_progress(
    client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote
) -> None:
    gate = threading.Event()
    url = remote.serve("/slow.pt", DATA, gate=gate)
    register(kernel, models_dir, url_entry("slow", url))
    first = (await start_download(client, "slow"))[1]
    deadline = time.monotonic() + 10
    while True:
        job = (await job_status(client, first["job_id"]))[1]
        if job["bytes_done"] >= len(DATA) // 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert job["status"] == "running" and job["bytes_total"] == len(DATA)
    assert job["progress"] == 100 * job["bytes_done"] // len(DATA) and 0 < job["progress"] <= 99
    assert job["message"] == f"Downloading... {job['progress']}%"
    assert job["filename"] is None
    # Partial bytes are in a hidden .part file only.
    assert [p.name.startswith(".slow.pt.") and p.name.endswith(".part") for p in (models_dir / "Cat").iterdir()] == [
        True]
    assert (await listed(client, "slow"))["installed"] is False
    second = (await start_download(client, "slow"))[1]
    assert second["job_id"] == first["job_id"] and second["status"] == "running"
    gate.set()
    job = await wait_for_job(client, first["job_id"])
    assert job["status"] == "completed"
    assert [r for r in remote.requests if r[1] == "/slow.pt"] == [("GET", "/slow.pt")]


async def test_a_new_post_after_an_error_starts_a_new_job(
    client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote
) -> None:
    url = remote.url("/later.pt")
    register(kernel, models_dir, url_entry("later", url))
    failed = await download(client, "later")
    assert failed["status"] == "error"
    remote.serve("/later.pt", DATA)
    done = await download(client, "later")
    assert done["job_id"] != failed["job_id"] and done["status"] == "completed"
    # The failed job is still known.
    assert (await job_status(client, failed["job_id"]))[1]["status"] == "error"


async def test_unknown_model_and_job_are_404_with_success_false(client: Any) -> None:
    status, body = await start_download(client, "nope")
    assert (status, body["code"], body["detail"]) == (404, "model_not_found", "Model 'nope' not found in the registry")
    assert body["success"] is False and body["error"] == body["detail"]
    status, body = await job_status(client, "0" * 32)
    assert (status, body["code"], body["detail"]) == (404, "job_not_found", f"Download job '{'0' * 32}' not found")
    assert body["success"] is False


async def test_start_needs_the_token(client: Any) -> None:
    response = await client.post("/api/models/download/anything")
    body = await response.get_json()
    assert (response.status_code, body["code"], body["success"]) == (403, "invalid_token", False)


async def test_download_target_cannot_be_the_upload_route(client: Any) -> None:
    response = await client.post("/api/models/upload", headers=TOKEN)
    assert response.status_code == 422  # the upload route, not a registry id


# ---------------------------------------------------------------------------- huggingface source


async def test_huggingface_download_through_hf_endpoint(
    client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", remote.base)
    remote.serve_hf("org/tiny-net", "weights/tiny.safetensors", DATA)
    register(kernel, models_dir, {
        "id": "tiny_hf", "name": "Tiny HF", "category": "HF",
        "source": {"type": "huggingface", "url": "org/tiny-net", "filename": "weights/tiny.safetensors"},
        "sha256": sha256(DATA),
    })
    job = await download(client, "tiny_hf")
    assert (job["status"], job["progress"], job["message"]) == ("completed", 100, "Completed"), job
    assert (job["filename"], job["bytes_done"], job["bytes_total"]) == ("HF/tiny.safetensors", len(DATA), len(DATA))
    assert (models_dir / "HF" / "tiny.safetensors").read_bytes() == DATA
    assert temp_files(models_dir) == []
    path = "/org/tiny-net/resolve/main/weights/tiny.safetensors"
    assert ("HEAD", path) in remote.requests and ("GET", path) in remote.requests
    item = await listed(client, "tiny_hf")
    assert (item["installed"], item["filename"], item["source"]["repo_id"]) == (
        True, "HF/tiny.safetensors", "org/tiny-net")


async def test_huggingface_missing_file_is_an_http_error(
    client: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", remote.base)
    register(kernel, models_dir, {
        "id": "absent", "category": "HF",
        "source": {"type": "huggingface", "repo_id": "org/none", "filename": "w.pt", "revision": "v2"},
    })
    job = await download(client, "absent")
    assert job["status"] == "error"
    assert job["message"] == f"HTTP 404 from {remote.url('/org/none/resolve/v2/w.pt')}"
    assert list((models_dir / "HF").iterdir()) == []


# ---------------------------------------------------------------------------- sources


class MemorySource:
    """A stand-in for a pack's source: writes fixed bytes in two steps, reporting progress."""

    def __init__(self, data: bytes, fail: BaseException | None = None) -> None:
        self.data = data
        self.fail = fail
        self.seen: list[dict[str, Any]] = []

    def fetch(self, source: dict[str, Any], dest: Path, progress: Any) -> None:
        self.seen.append(source)
        source["url"] = "mutated"  # must not leak into the registry
        with open(dest, "xb") as fh:
            half = len(self.data) // 2
            fh.write(self.data[:half])
            progress(half, len(self.data))
            if self.fail is not None:
                raise self.fail
            fh.write(self.data[half:])
            progress(len(self.data), len(self.data))


def test_builtin_sources_are_registered_through_the_hook(kernel: Kernel) -> None:
    assert set(kernel.model_sources) >= {"huggingface", "url"}
    assert all(callable(getattr(s, "fetch", None)) for s in kernel.model_sources.values())


async def test_registered_source_object_is_used(client: Any, kernel: Kernel, models_dir: Path) -> None:
    register(kernel, models_dir, url_entry("mem", "http://127.0.0.1:9/mem.pth"))
    source = MemorySource(b"memory bytes")
    kernel.model_sources["url"] = source
    job = await download(client, "mem")
    assert (job["status"], job["filename"]) == ("completed", "Cat/mem.pth")
    assert (models_dir / "Cat" / "mem.pth").read_bytes() == b"memory bytes"
    await download(client, "mem")  # already installed: no second fetch
    assert source.seen == [{"type": "url", "url": "mutated"}]
    assert (await listed(client, "mem"))["source"]["url"] == "http://127.0.0.1:9/mem.pth"


async def test_a_crashing_source_ends_its_job_only(client: Any, kernel: Kernel, models_dir: Path) -> None:
    register(kernel, models_dir, url_entry("crash", "http://127.0.0.1:9/crash.pt"))
    kernel.model_sources["url"] = MemorySource(b"0123456789", fail=RuntimeError("disk on fire"))
    job = await download(client, "crash")
    assert (job["status"], job["message"]) == ("error", "RuntimeError: disk on fire")
    assert (job["bytes_done"], job["progress"]) == (5, 50)
    assert temp_files(models_dir) == [] and list((models_dir / "Cat").iterdir()) == []


async def test_missing_source_type_ends_in_error(client: Any, kernel: Kernel, models_dir: Path) -> None:
    register(kernel, models_dir, url_entry("orphan", "http://127.0.0.1:9/o.pt"))
    del kernel.model_sources["url"]
    job = await download(client, "orphan")
    assert (job["status"], job["message"]) == ("error", "No download source is registered for type 'url'")


# ---------------------------------------------------------------------------- shutdown


async def test_shutdown_stops_running_downloads_without_leftovers(
    app: Any, kernel: Kernel, models_dir: Path, remote: FakeRemote
) -> None:
    gate = threading.Event()
    url = remote.serve("/slow.pt", DATA, gate=gate)
    register(kernel, models_dir, url_entry("slow", url))
    async with app.test_app():
        client = client_for(app)
        started = (await start_download(client, "slow"))[1]
        deadline = time.monotonic() + 10
        while (await job_status(client, started["job_id"]))[1]["bytes_done"] == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        # Leaving the block runs the plugins' shutdown hooks; let the thread see the next bytes.
        threading.Timer(0.2, gate.set).start()
    deadline = time.monotonic() + 10
    while temp_files(models_dir):
        assert time.monotonic() < deadline, temp_files(models_dir)
        await asyncio.sleep(0.05)
    assert not (models_dir / "Cat" / "slow.pt").exists()
