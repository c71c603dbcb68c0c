"""What the server benchmarks share: a real ``nodeloom serve`` process on a free loopback port.

Benchmarks run as scripts (``python benchmarks/x.py``), so this folder is on ``sys.path`` and they
import this module as ``_server``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TOKEN = "benchmark-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, **(env or {}), "NODELOOM_TOKEN": TOKEN, "NODELOOM_DATA_DIR": str(data_dir)}
    exe = shutil.which("nodeloom") or str(Path(sys.executable).with_name("nodeloom"))
    return subprocess.Popen([exe, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_healthy(port: int, timeout: float = 60.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise SystemExit("server did not become healthy")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
