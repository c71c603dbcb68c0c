"""Load and latency of a real ``nodeloom serve`` process.

    python benchmarks/api_load.py [--seconds 10] [--clients 16] [--starts 3]

Prints, against a server started here on a free loopback port with a temporary data dir:
- cold start: spawn of ``nodeloom serve`` to the first healthy ``GET /api/health`` (median of N);
- requests/s and p50/p99 latency of ``GET /api/health`` and ``GET /api/nodes`` with C concurrent
  clients for S seconds each;
- fetch of a recorded 1000x1000 float32 tensor as JSON and as ``.npy`` (median of 5), against
  the in-process baseline of serialising the same tensor with ``json.dumps``/``numpy.save``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets
from _server import TOKEN, free_port, start_server, stop, wait_healthy

async def hammer(url: str, clients: int, seconds: float) -> tuple[float, float, float, int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(timeout=10) as http:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                response = await http.get(url)
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    errors += 1

    t_start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - t_start
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, p50, p99, errors


async def record_big_tensor(port: int) -> str:
    graph = {
        "action": "execute", "record_outputs": True, "seed": 0,
        "nodes": [{"id": "s", "type": "Start"},
                  {"id": "t", "type": "TensorCreate", "data": {"params": {"shape": "1000,1000", "fill": "randn"}}}],
        "edges": [{"source": "s", "sourceHandle": "trigger", "target": "t", "targetHandle": "", "type": "trigger"}],
    }
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/execution?token={TOKEN}", max_size=None) as ws:
        await ws.send(json.dumps(graph))
        while True:
            event = json.loads(await ws.recv())
            if event.get("type") in ("execution_complete", "execution_error", "execution_stopped"):
                if event["type"] != "execution_complete":
                    raise SystemExit(f"run failed: {event}")
                return event["run_id"]


def fetch_times(port: int, run_id: str) -> dict[str, float]:
    base = f"http://127.0.0.1:{port}/api/execution/outputs/{run_id}/t/tensor"
    out: dict[str, list[float]] = {"json": [], "npy": []}
    with httpx.Client(timeout=60) as http:
        for _ in range(5):
            t0 = time.perf_counter()
            r = http.get(base, params={"max_elements": 1_000_000})
            out["json"].append(time.perf_counter() - t0)
            assert r.status_code == 200 and len(r.json()["values"]) == 1000, r.text[:200]
            t0 = time.perf_counter()
            r = http.get(base, params={"format": "npy"})
            out["npy"].append(time.perf_counter() - t0)
            assert np.load(io.BytesIO(r.content)).shape == (1000, 1000)
    return {k: statistics.median(v) for k, v in out.items()}


def baseline_serialise() -> dict[str, float]:
    arr = np.random.default_rng(0).standard_normal((1000, 1000)).astype(np.float32)
    t_json, t_npy = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        json.dumps(arr.tolist())
        t_json.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        buf = io.BytesIO()
        np.save(buf, arr)
        t_npy.append(time.perf_counter() - t0)
    return {"json": statistics.median(t_json), "npy": statistics.median(t_npy)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--starts", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        starts = []
        for i in range(args.starts):
            port = free_port()
            proc = start_server(Path(tmp) / f"cold{i}", port)
            try:
                starts.append(wait_healthy(port))
            finally:
                stop(proc)
        print(f"cold start to healthy /api/health: median {statistics.median(starts) * 1e3:.0f} ms "
              f"(runs: {', '.join(f'{s * 1e3:.0f}' for s in starts)} ms)")

        port = free_port()
        proc = start_server(Path(tmp) / "load", port)
        try:
            wait_healthy(port)
            for path in ("/api/health", "/api/nodes"):
                rps, p50, p99, errors = asyncio.run(
                    hammer(f"http://127.0.0.1:{port}{path}", args.clients, args.seconds))
                print(f"GET {path:<12} {args.clients} clients {args.seconds:.0f} s: {rps:8.0f} req/s  "
                      f"p50 {p50 * 1e3:6.1f} ms  p99 {p99 * 1e3:6.1f} ms  errors {errors}")
            run_id = asyncio.run(record_big_tensor(port))
            fetched = fetch_times(port, run_id)
            base = baseline_serialise()
            for fmt in ("json", "npy"):
                print(f"fetch 1000x1000 float32 as {fmt:<4}: median {fetched[fmt] * 1e3:7.1f} ms  "
                      f"(in-process serialisation alone {base[fmt] * 1e3:6.1f} ms, ratio "
                      f"{fetched[fmt] / base[fmt]:.1f}x)")
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
