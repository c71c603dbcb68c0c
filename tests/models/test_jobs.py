"""The download job manager on its own: retention (1 h, at most 100 finished jobs) and progress."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def jobs_module() -> Any:
    return importlib.import_module("nodeloom.plugins.models._jobs")


@pytest.fixture
def entry() -> Any:
    registry = importlib.import_module("nodeloom.plugins.models._registry")
    return registry.parse_entry({"id": "m", "category": "Cat", "source": {"type": "url", "url": "http://x/m.pt"}})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def installed(tmp_path: Path) -> Path:
    (tmp_path / "Cat").mkdir()
    (tmp_path / "Cat" / "m.pt").write_bytes(b"1234")
    return tmp_path


def test_finished_jobs_are_forgotten_after_an_hour(jobs_module: Any, entry: Any, tmp_path: Path) -> None:
    clock = Clock()
    manager = jobs_module.JobManager(clock=clock)
    job = manager.start(installed(tmp_path), entry, source=None)
    assert manager.status(job["job_id"])["message"] == "Already installed"
    assert manager.status(job["job_id"])["bytes_done"] == 4
    clock.now += 3600
    assert manager.status(job["job_id"]) is not None
    clock.now += 1
    assert manager.status(job["job_id"]) is None


def test_at_most_100_finished_jobs_are_kept(jobs_module: Any, entry: Any, tmp_path: Path) -> None:
    clock = Clock()
    manager = jobs_module.JobManager(clock=clock)
    root = installed(tmp_path)
    ids = []
    for _ in range(105):
        clock.now += 1
        ids.append(manager.start(root, entry, source=None)["job_id"])
    assert [manager.status(i) is None for i in ids[:5]] == [True] * 5
    assert all(manager.status(i) is not None for i in ids[5:])


def test_error_job_without_source(jobs_module: Any, entry: Any, tmp_path: Path) -> None:
    manager = jobs_module.JobManager()
    job = manager.status(manager.start(tmp_path, entry, source=None)["job_id"])
    assert (job["status"], job["message"], job["progress"]) == (
        "error", "No download source is registered for type 'url'", 0)


def test_closed_manager_starts_nothing(jobs_module: Any, entry: Any, tmp_path: Path) -> None:
    manager = jobs_module.JobManager()
    manager.close()
    job = manager.status(manager.start(tmp_path, entry, source=object())["job_id"])
    assert (job["status"], job["message"]) == ("error", "Cancelled: the server is shutting down")


@pytest.mark.parametrize(
    ("done", "total", "expected"),
    [(0, 100, 0), (1, 3, 33), (2, 3, 66), (999, 1000, 99), (1000, 1000, 99), (5, None, 0), (0, 0, 0)],
)
def test_running_progress_is_floored_and_below_100(
    jobs_module: Any, done: int, total: int | None, expected: int
) -> None:
    assert jobs_module.running_progress(done, total) == expected
