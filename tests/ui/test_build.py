"""The bundle build helper: installs only when needed, builds only when stale, never fails without npm."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from nodeloom.plugins.ui import build

FAKE_NPM = """#!/bin/sh
echo "$@" >> "$NPM_LOG"
case "$1" in
  ci) mkdir -p node_modules ;;
  run) mkdir -p dist/assets && echo '<html></html>' > dist/index.html ;;
esac
exit "${NPM_EXIT:-0}"
"""


@pytest.fixture
def web(tmp_path: Path) -> Path:
    folder = tmp_path / "web"
    (folder / "src").mkdir(parents=True)
    (folder / "package.json").write_text("{}", encoding="utf-8")
    (folder / "package-lock.json").write_text('{"lockfileVersion": 3}', encoding="utf-8")
    (folder / "index.html").write_text("<html></html>", encoding="utf-8")
    (folder / "src" / "main.tsx").write_text("export {};", encoding="utf-8")
    return folder


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM, encoding="utf-8")
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "npm.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("NPM_LOG", str(log))
    return log


def _calls(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_first_build_installs_then_builds(web: Path, fake_npm: Path) -> None:
    assert build.build(web) == 0
    assert _calls(fake_npm) == ["ci --no-audit --no-fund", "run build"]
    assert (web / "dist" / "index.html").is_file()


def test_up_to_date_bundle_is_left_alone(web: Path, fake_npm: Path) -> None:
    assert build.build(web) == 0
    assert build.build(web) == 0
    assert _calls(fake_npm) == ["ci --no-audit --no-fund", "run build"]


def test_source_change_rebuilds_without_reinstalling(web: Path, fake_npm: Path) -> None:
    build.build(web)
    _age(web / "dist" / "index.html", 60)
    (web / "src" / "main.tsx").write_text("export const x = 1;", encoding="utf-8")
    assert build.needs_build(web)
    assert build.build(web) == 0
    assert _calls(fake_npm) == ["ci --no-audit --no-fund", "run build", "run build"]


def test_test_files_do_not_make_the_bundle_stale(web: Path, fake_npm: Path) -> None:
    build.build(web)
    _age(web / "dist" / "index.html", 60)
    for path in web.rglob("*"):
        if path.is_file() and "dist" not in path.parts:
            _age(path, 120)
    (web / "src" / "main.test.tsx").write_text("test", encoding="utf-8")
    assert not build.needs_build(web)


def test_lock_change_reinstalls(web: Path, fake_npm: Path) -> None:
    build.build(web)
    (web / "package-lock.json").write_text('{"lockfileVersion": 3, "changed": true}', encoding="utf-8")
    assert build.needs_install(web)
    build.build(web)
    assert _calls(fake_npm).count("ci --no-audit --no-fund") == 2


def test_force_rebuilds(web: Path, fake_npm: Path) -> None:
    build.build(web)
    assert build.main(["--force", "--web", str(web)]) == 0
    assert _calls(fake_npm).count("run build") == 2


def test_failed_step_is_exit_1(web: Path, fake_npm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPM_EXIT", "3")
    assert build.build(web) == 1
    # npm ci first; when it refuses the lock, npm install --no-save is the fallback.
    assert _calls(fake_npm) == ["ci --no-audit --no-fund", "install --no-save --no-audit --no-fund"]


def test_missing_npm_warns_and_succeeds(web: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    assert build.build(web) == 0
    assert "npm not found" in capsys.readouterr().err
    assert not (web / "dist").exists()


def test_installed_wheel_without_sources_has_nothing_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build.build(tmp_path / "absent") == 0
    assert "nothing to build" in capsys.readouterr().err
