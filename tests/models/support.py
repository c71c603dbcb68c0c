"""Test helpers: a loopback HTTP server that plays a model host and a Hugging Face endpoint,
multipart bodies, and polling of download jobs.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import attrs

from tests.api.support import auth_headers

TOKEN = auth_headers()
HF_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@attrs.define
class Route:
    """What the fake server answers on one path."""

    body: bytes = b""
    status: int = 200
    location: str | None = None
    #: Bytes sent before the connection is dropped (Content-Length still announces the whole body).
    cut_after: int | None = None
    #: When set, the response stops halfway until the event is set.
    gate: threading.Event | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)


class FakeRemote:
    """A ThreadingHTTPServer on 127.0.0.1 with an ephemeral port, serving :class:`Route` objects."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # Tests drop connections on purpose (a download cut halfway); the client side asserts on
        # that, so the server's traceback on stderr is only noise in the test log.
        self._server.handle_error = lambda request, client_address: None
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-remote", daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> FakeRemote:
        self._thread.start()
        return self

    def stop(self) -> None:
        for route in self.routes.values():
            if route.gate is not None:
                route.gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def serve(self, path: str, body: bytes = b"", **options: Any) -> str:
        self.routes[path] = Route(body=body, **options)
        return self.url(path)

    def serve_hf(self, repo_id: str, filename: str, body: bytes, revision: str = "main") -> None:
        """The Hub's file-resolve endpoint: HEAD gives the metadata huggingface_hub needs, GET the bytes."""
        path = f"/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"
        headers = {"ETag": f'"{sha256(body)}"', "X-Repo-Commit": HF_COMMIT}
        self.routes[path] = Route(body=body, headers=headers)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        remote = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(send_body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(send_body=True)

            def _answer(self, send_body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                remote.requests.append((self.command, path))
                route = remote.routes.get(path) or remote.routes.get(urlsplit(self.path).path)
                if route is None:
                    route = Route(body=b"not found", status=404)
                self.send_response(route.status)
                if route.location is not None:
                    self.send_header("Location", route.location)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(route.body)))
                if route.cut_after is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                if not send_body:
                    return
                body = route.body
                if route.cut_after is not None:
                    self.wfile.write(body[: route.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if route.gate is not None:
                    half = len(body) // 2
                    self.wfile.write(body[:half])
                    self.wfile.flush()
                    route.gate.wait(30)
                    body = body[half:]
                self.wfile.write(body)

        return Handler


def multipart(
    files: Mapping[str, tuple[str, bytes]] = (),  # type: ignore[assignment]
    fields: Mapping[str, str] | None = None,
    *,
    fields_first: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body and its headers (token included), file parts first by default.

    ``fields_first=False`` puts text fields after the file part, which the upload route must accept
    (api.md §2.8.3: the 409 check comes last because form fields may follow the file part).
    """
    boundary = "----nodeloom" + secrets.token_hex(8)
    chunks: list[bytes] = []

    def field_parts() -> None:
        for name, value in (fields or {}).items():
            chunks.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )

    if fields_first:
        field_parts()
    for name, (filename, data) in dict(files).items():
        quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{quoted}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        chunks.append(head.encode() + data + b"\r\n")
    if not fields_first:
        field_parts()
    chunks.append(f"--{boundary}--\r\n".encode())
    headers = {**TOKEN, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return b"".join(chunks), headers


async def upload(client: Any, filename: str, data: bytes, **fields: str) -> tuple[int, Any]:
    body, headers = multipart({"file": (filename, data)}, fields)
    response = await client.post("/api/models/upload", data=body, headers=headers)
    return response.status_code, await response.get_json()


async def start_download(client: Any, model_id: str) -> tuple[int, Any]:
    response = await client.post(f"/api/models/download/{model_id}", headers=TOKEN)
    return response.status_code, await response.get_json()


async def job_status(client: Any, job_id: str) -> tuple[int, Any]:
    response = await client.get(f"/api/downloads/status/{job_id}")
    return response.status_code, await response.get_json()


async def wait_for_job(client: Any, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the status route until the job is no longer running."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await job_status(client, job_id)
        assert status == 200, body
        if body["status"] != "running":
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job still running: {body}")
        await asyncio.sleep(0.02)
