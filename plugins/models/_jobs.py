"""Background registry downloads (api.md §2.8.6, §2.8.7): one thread per job, jobs in memory.

At most one job runs per model id. Finished jobs are kept for an hour, at most 100 of them
(§1.8); older ones are forgotten and their ids answer 404. Downloads block on sockets and disk, so
each runs in a daemon thread; at shutdown :meth:`JobManager.close` makes every running download
stop at its next progress report.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ._files import installed_size
from ._install import download_entry
from ._registry import RegistryEntry
from ._sources import DownloadCancelled, DownloadError

log = logging.getLogger("nodeloom.models")

RETAIN_FINISHED_S = 3600.0
MAX_FINISHED = 100
#: How long :meth:`JobManager.close` waits for the download threads to notice.
CLOSE_WAIT_S = 5.0
SHUTTING_DOWN = "Cancelled: the server is shutting down"


@attrs.define
class Job:
    job_id: str
    model_id: str
    status: str = "running"  # running | completed | error
    progress: int = 0
    message: str = "Starting"
    bytes_done: int = 0
    bytes_total: int | None = None
    filename: str | None = None
    finished_at: float | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "success": True,
            "job_id": self.job_id,
            "model_id": self.model_id,
            "status": self.status,
            "progress": self.progress,
            "message": self.message,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "filename": self.filename,
        }


def running_progress(done: int, total: int | None) -> int:
    """``floor(100 × done / total)``, at most 99 until the job completes; 0 while the total is unknown."""
    if not total or total <= 0:
        return 0
    return min(99, math.floor(100 * done / total))


class JobManager:
    """The download jobs of one app."""

    def __init__(
        self,
        *,
        retain_s: float = RETAIN_FINISHED_S,
        max_finished: int = MAX_FINISHED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retain_s = retain_s
        self.max_finished = max_finished
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._running: dict[str, str] = {}  # model id -> job id
        self._threads: dict[str, threading.Thread] = {}
        self._closing = threading.Event()

    # -- queries ------------------------------------------------------------------------------

    def status(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            self._prune()
            job = self._jobs.get(job_id)
            return None if job is None else job.wire()

    # -- starting -----------------------------------------------------------------------------

    def start(self, root: Path, entry: RegistryEntry, source: Any) -> dict[str, Any]:
        """The running job of ``entry``, or a new one (already finished when nothing is to do)."""
        with self._lock:
            self._prune()
            running = self._running.get(entry.id)
            if running is not None:
                return self._jobs[running].wire()
            job = Job(job_id=uuid.uuid4().hex, model_id=entry.id)
            self._jobs[job.job_id] = job
            size = installed_size(root, entry.target)
            if size is not None:
                self._finish(job, "completed", "Already installed", filename=entry.target, size=size)
            elif self._closing.is_set():
                self._finish(job, "error", SHUTTING_DOWN)
            elif source is None:
                self._finish(job, "error", f"No download source is registered for type '{entry.source_type}'")
            else:
                self._running[entry.id] = job.job_id
                thread = threading.Thread(
                    target=self._run,
                    args=(job, root, entry, source),
                    name=f"nodeloom-download-{entry.id}",
                    daemon=True,
                )
                self._threads[job.job_id] = thread
                thread.start()
            return job.wire()

    def _run(self, job: Job, root: Path, entry: RegistryEntry, source: Any) -> None:
        try:
            relpath = download_entry(root, entry, source, self._reporter(job))
        except DownloadError as exc:
            self._end(job, "error", str(exc) or type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a third-party source's bug ends its job, not the server
            log.exception("download of model %s failed", entry.id)
            self._end(job, "error", " ".join(f"{type(exc).__name__}: {exc}".split()))
        else:
            self._end(job, "completed", "Completed", filename=relpath, size=installed_size(root, relpath))

    def _reporter(self, job: Job) -> Callable[[int, int | None], None]:
        def report(done: int, total: int | None) -> None:
            if self._closing.is_set():
                raise DownloadCancelled(SHUTTING_DOWN)
            with self._lock:
                if job.status != "running":
                    return
                job.bytes_done = done
                job.bytes_total = total
                job.progress = running_progress(done, total)
                job.message = f"Downloading... {job.progress}%"

        return report

    # -- finishing ----------------------------------------------------------------------------

    def _end(self, job: Job, status: str, message: str, *, filename: str | None = None,
             size: int | None = None) -> None:
        with self._lock:
            self._finish(job, status, message, filename=filename, size=size)
            if self._running.get(job.model_id) == job.job_id:
                del self._running[job.model_id]
            self._threads.pop(job.job_id, None)

    def _finish(self, job: Job, status: str, message: str, *, filename: str | None = None,
                size: int | None = None) -> None:
        job.status = status
        job.message = message
        job.finished_at = self._clock()
        if status == "completed":
            job.progress = 100
            job.filename = filename
            if size is not None:
                job.bytes_done = size
                job.bytes_total = size

    def _prune(self) -> None:
        """Forget finished jobs older than the retention time, then the oldest beyond the cap."""
        horizon = self._clock() - self.retain_s
        finished = [j for j in self._jobs.values() if j.finished_at is not None]
        expired = [j for j in finished if j.finished_at is not None and j.finished_at < horizon]
        kept = [j for j in finished if j not in expired]
        excess = max(0, len(kept) - self.max_finished)
        kept.sort(key=lambda j: j.finished_at or 0.0)
        for job in expired + kept[:excess]:
            self._jobs.pop(job.job_id, None)

    # -- shutdown -----------------------------------------------------------------------------

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Stop running downloads (their jobs end in ``error``) and wait a little for the threads."""
        self._closing.set()
        with self._lock:
            threads = list(self._threads.values())
        deadline = time.monotonic() + wait_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
