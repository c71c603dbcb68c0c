"""Build the web UI bundle when its sources changed: ``python -m nodeloom.plugins.ui.build``.

Installs dependencies with ``npm ci`` only when ``node_modules`` is missing or ``package-lock.json``
changed since the last install, and runs ``npm run build`` only when ``dist/`` is older than the
sources. Without npm it warns and exits 0, because the server still works (it then explains how to
build on ``/``). Exit status: 0 built or up to date or skipped, 1 a build step failed.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

WEB = Path(__file__).resolve().parent / "web"
SOURCE_FILES = ("index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json")
SOURCE_DIRS = ("src", "public")
LOCK_STAMP = ".nodeloom-lock.sha256"


def _say(message: str) -> None:
    print(f"[nodeloom ui] {message}", file=sys.stderr, flush=True)


def _lock_hash(web: Path) -> str:
    lock = web / "package-lock.json"
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else ""


def needs_install(web: Path) -> bool:
    stamp = web / "node_modules" / LOCK_STAMP
    if not (web / "node_modules").is_dir() or not stamp.is_file():
        return True
    return stamp.read_text(encoding="utf-8").strip() != _lock_hash(web)


def _source_paths(web: Path) -> Iterable[Path]:
    for name in SOURCE_FILES:
        path = web / name
        if path.is_file():
            yield path
    for name in SOURCE_DIRS:
        folder = web / name
        if folder.is_dir():
            # Test files never reach the bundle; editing one must not force a rebuild.
            yield from (p for p in folder.rglob("*") if p.is_file() and ".test." not in p.name)


def needs_build(web: Path) -> bool:
    index = web / "dist" / "index.html"
    if not index.is_file():
        return True
    built = index.stat().st_mtime
    return any(p.stat().st_mtime > built for p in _source_paths(web))


def _run(npm: str, args: Sequence[str], web: Path) -> bool:
    _say(f"running npm {' '.join(args)} in {web}")
    return subprocess.run([npm, *args], cwd=web, check=False).returncode == 0


def build(web: Path = WEB, *, force: bool = False) -> int:
    if not (web / "package.json").is_file():
        # An installed wheel ships only dist/; there is nothing to build there.
        _say(f"no web sources in {web}; nothing to build")
        return 0
    npm = shutil.which("npm")
    if npm is None:
        _say("WARNING: npm not found; the web UI is not built. Install Node.js 20+ and npm, "
             "then run: cd plugins/ui/web && npm ci && npm run build")
        return 0
    if needs_install(web):
        # npm 11 may write a lock without other platforms' optional packages (rollup's native
        # builds) and then refuse it in ``npm ci``; ``npm install --no-save`` still installs the
        # locked versions and leaves the lock file alone.
        if not _run(npm, ["ci", "--no-audit", "--no-fund"], web) and not _run(
            npm, ["install", "--no-save", "--no-audit", "--no-fund"], web
        ):
            _say("ERROR: npm ci and npm install failed")
            return 1
        (web / "node_modules" / LOCK_STAMP).write_text(_lock_hash(web), encoding="utf-8")
    if not force and not needs_build(web):
        _say("web UI bundle is up to date")
        return 0
    if not _run(npm, ["run", "build"], web):
        _say("ERROR: npm run build failed")
        return 1
    # vite keeps file times of copied files; touching index.html marks the build time for needs_build.
    (web / "dist" / "index.html").touch()
    _say(f"web UI built into {web / 'dist'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodeloom.plugins.ui.build", description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when dist/ is up to date")
    parser.add_argument("--web", type=Path, default=WEB, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return build(args.web, force=args.force)


if __name__ == "__main__":
    raise SystemExit(main())
