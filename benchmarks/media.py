"""Uploads and audio trim against a real ``nodeloom serve`` process.

    python benchmarks/media.py [--mb 100] [--chunk-mb 5] [--repeats 3] [--audio-s 60]

Prints, with medians over the repeats and a baseline measured in the same run:
- model upload: a file of ``--mb`` MB streamed to ``POST /api/models/upload``: MB/s, against a
  plain local copy of the same file (``shutil.copyfile`` + fsync), and the server's resident memory
  during the upload above its idle level (sampled every 10 ms from /proc). The upload is streamed
  to disk, so the growth must stay flat: far below the file size;
- chunked upload: the same file in ``--chunk-mb`` MB chunks to ``POST /api/upload``: MB/s and the
  memory growth;
- audio trim: ``POST /api/audio/trim`` of 30 s out of a ``--audio-s`` s file, against the bare
  ffmpeg command doing the same cut (ratio of medians).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from _server import TOKEN, free_port, start_server, stop, wait_healthy

HEADERS = {"X-Nodeloom-Token": TOKEN}
MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakSampler:
    """Samples a process's resident memory in a thread; ``peak`` is the largest value seen."""

    def __init__(self, pid: int, every_s: float = 0.01) -> None:
        self.pid, self.every_s, self.peak = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(self.every_s)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MB)
    with open(path, "wb") as fh:
        for _ in range(size // MB):
            fh.write(block)
        fh.write(block[: size % MB])


def baseline_copy(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    shutil.copyfile(src, dst)
    with open(dst, "rb+") as fh:
        os.fsync(fh.fileno())
    elapsed = time.perf_counter() - t0
    dst.unlink()
    return elapsed


def timed_with_memory(pid: int, action: Callable[[], None]) -> tuple[float, int]:
    """Seconds taken by ``action`` and the server's peak RSS growth over its idle level."""
    idle = rss_bytes(pid)
    with PeakSampler(pid) as sampler:
        t0 = time.perf_counter()
        action()
        elapsed = time.perf_counter() - t0
    return elapsed, max(0, sampler.peak - idle)


def model_upload(base: str, src: Path) -> None:
    with open(src, "rb") as fh:
        response = httpx.post(f"{base}/api/models/upload", headers=HEADERS, timeout=600,
                              files={"file": ("bench.safetensors", fh, "application/octet-stream")},
                              data={"overwrite": "true"})
    response.raise_for_status()


def chunks(src: Path, chunk: int) -> Iterator[tuple[int, bytes]]:
    with open(src, "rb") as fh:
        index = 0
        while data := fh.read(chunk):
            yield index, data
            index += 1


def chunked_upload(base: str, src: Path, chunk: int, session: str) -> None:
    total = -(-src.stat().st_size // chunk)
    with httpx.Client(timeout=600, headers=HEADERS) as http:
        for index, data in chunks(src, chunk):
            response = http.post(f"{base}/api/upload", files={"file": ("bench.bin", data)}, data={
                "filename": "bench.bin", "chunkIndex": str(index), "totalChunks": str(total),
                "sessionId": session, "nodeId": "n1", "nodeName": "Bench"})
            response.raise_for_status()
    if not response.json().get("completed"):
        raise SystemExit(f"chunked upload did not complete: {response.text}")


def ffmpeg_exe() -> str:
    """The binary the server uses (api.md §2.13): NODELOOM_FFMPEG, then PATH, then imageio-ffmpeg."""
    explicit = os.environ.get("NODELOOM_FFMPEG")
    if explicit:
        return explicit
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_tone(ffmpeg: str, path: Path, seconds: int) -> None:
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={seconds}", "-ar", "44100", "-ac", "2", str(path)], check=True)


def trim_route(base: str, file_path: str, start: float, end: float) -> None:
    response = httpx.post(f"{base}/api/audio/trim", headers=HEADERS, timeout=600,
                          json={"filePath": file_path, "start": start, "end": end})
    response.raise_for_status()


def trim_bare(ffmpeg: str, src: Path, out: Path, start: float, end: float) -> None:
    # The route's own cut (a re-encode keeping audio only), without its probe, HTTP and rename.
    subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(src), "-ss", str(start),
                    "-to", str(end), "-vn", "-sn", "-dn", str(out)], check=True)
    out.unlink()


def mbps(size: int, seconds: float) -> float:
    return size / MB / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--chunk-mb", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--audio-s", type=int, default=60)
    args = parser.parse_args()
    size = args.mb * MB
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "payload.bin"
        make_file(src, size)
        port = free_port()
        proc = start_server(root / "data", port)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(port)
            copies, uploads, upload_mem, chunked, chunked_mem = [], [], [], [], []
            for i in range(args.repeats):
                copies.append(baseline_copy(src, root / "copy.bin"))
                seconds, grown = timed_with_memory(proc.pid, lambda: model_upload(base, src))
                uploads.append(seconds)
                upload_mem.append(grown)
                seconds, grown = timed_with_memory(
                    proc.pid, lambda i=i: chunked_upload(base, src, args.chunk_mb * MB, f"bench{i}"))
                chunked.append(seconds)
                chunked_mem.append(grown)

            ffmpeg = ffmpeg_exe()
            uploads_dir = root / "data" / "temp" / "uploads" / "bench" / "Audio_a1"
            uploads_dir.mkdir(parents=True, exist_ok=True)
            tone = uploads_dir / "tone.wav"
            make_tone(ffmpeg, tone, args.audio_s)
            start, end = 10.0, 40.0
            route_times, bare_times = [], []
            for _ in range(max(args.repeats, 5)):
                t0 = time.perf_counter()
                trim_route(base, "/temp/uploads/bench/Audio_a1/tone.wav", start, end)
                route_times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                trim_bare(ffmpeg, tone, root / "bare.wav", start, end)
                bare_times.append(time.perf_counter() - t0)
        finally:
            stop(proc)

    med = statistics.median
    copy_mbps = mbps(size, med(copies))
    print(f"payload {args.mb} MB, {args.repeats} repeats, medians")
    print(f"baseline local copy+fsync     {copy_mbps:8.1f} MB/s")
    up = mbps(size, med(uploads))
    print(f"model upload (streamed)       {up:8.1f} MB/s   ratio to copy {up / copy_mbps:.3f}   "
          f"server RSS growth {med(upload_mem) / MB:6.1f} MB (max {max(upload_mem) / MB:.1f} MB)")
    ch = mbps(size, med(chunked))
    print(f"chunked upload ({args.chunk_mb} MB chunks)  {ch:8.1f} MB/s   ratio to copy {ch / copy_mbps:.3f}   "
          f"server RSS growth {med(chunked_mem) / MB:6.1f} MB (max {max(chunked_mem) / MB:.1f} MB)")
    r, b = med(route_times), med(bare_times)
    print(f"audio trim {end - start:.0f} s of {args.audio_s} s: route {r * 1000:7.1f} ms   bare ffmpeg "
          f"{b * 1000:7.1f} ms   ratio {r / b:.3f}   ({ffmpeg})")


if __name__ == "__main__":
    main()
