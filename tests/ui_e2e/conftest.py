"""Fixtures for the browser end-to-end tests: a real ``nodeloom serve`` process, the built web UI
and Debian's chromium driven by Playwright.

Missing pieces (chromium, the playwright package, a UI bundle that cannot be built) skip these
tests with the reason, so a plain developer checkout still passes; CI sets
``NODELOOM_REQUIRE_BROWSER=1`` so that the same gaps fail instead of hiding the suite.
``scripts/ui_e2e_setup.sh`` installs chromium.

The UI bundle is built when ``plugins/ui/web/dist`` is missing or older than its sources;
``NODELOOM_UI_BUILD=never`` uses whatever is there (for runs beside someone rebuilding the UI), and
``NODELOOM_UI_DIST`` points at a prebuilt bundle instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui_e2e.support import TOKEN, UI, Server

REPO_ROOT = Path(__file__).resolve().parents[2]
UI_PLUGIN = REPO_ROOT / "plugins" / "ui"
WEB = UI_PLUGIN / "web"
CHROMIUM = Path(os.environ.get("NODELOOM_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("NODELOOM_E2E_ARTIFACTS", "/tmp/nodeloom-e2e"))
VIEWPORT = {"width": 1440, "height": 900}

# Debian's chromium on a box with no network: everything that phones home is switched off so the
# browser neither stalls on DNS nor adds noise to timings.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

BUILD_TIMEOUT_S = 600
SERVER_START_TIMEOUT_S = 60


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the web UI in a real browser against a real server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def unavailable(reason: str) -> None:
    """Skip, or fail when CI demands the browser suite (a silent skip there would hide a broken set-up)."""
    if os.environ.get("NODELOOM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser e2e unavailable and NODELOOM_REQUIRE_BROWSER=1: {reason}", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------------------------- bundle

def _source_files() -> Iterator[Path]:
    for name in ("index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json"):
        path = WEB / name
        if path.is_file():
            yield path
    for folder in ("src", "public"):
        root = WEB / folder
        if root.is_dir():
            yield from (p for p in root.rglob("*") if p.is_file())


def _bundle_is_stale(dist: Path) -> bool:
    index = dist / "index.html"
    if not index.is_file():
        return True
    built = index.stat().st_mtime
    return any(p.stat().st_mtime > built for p in _source_files())


def _build_commands() -> list[list[str]] | str:
    """The UI plugin's own build entry point when it has one, else the plain npm steps."""
    if importlib.util.find_spec("nodeloom.plugins.ui.build") is not None:
        return [[sys.executable, "-m", "nodeloom.plugins.ui.build"]]
    script = UI_PLUGIN / "build.sh"
    if script.is_file():
        return [["bash", str(script)]]
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed, so the UI bundle cannot be built"
    if not (WEB / "package.json").is_file():
        return f"no {WEB / 'package.json'}"
    commands = [] if (WEB / "node_modules").is_dir() else [[npm, "ci", "--no-audit", "--no-fund"]]
    return [*commands, [npm, "run", "build"]]


def _build_bundle(log: Path) -> str | None:
    commands = _build_commands()
    if isinstance(commands, str):
        return commands
    with log.open("ab") as out:
        for cmd in commands:
            out.write(f"$ {' '.join(cmd)}\n".encode())
            out.flush()
            try:
                proc = subprocess.run(cmd, cwd=WEB if cmd[0].endswith("npm") else REPO_ROOT, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"UI build failed ({' '.join(cmd)}): {exc}"
            if proc.returncode != 0:
                tail = log.read_text(errors="replace")[-2000:]
                return f"UI build failed ({' '.join(cmd)}, exit {proc.returncode}); log {log}:\n{tail}"
    return None


@pytest.fixture(scope="session")
def ui_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the built SPA: the UI is rebuilt in place during development, and a
    build that empties ``dist/`` under a running test would show up as random 404s."""
    override = os.environ.get("NODELOOM_UI_DIST")
    if override:
        dist = Path(override)
        if not (dist / "index.html").is_file():
            unavailable(f"NODELOOM_UI_DIST={override} has no index.html")
        return dist
    dist = WEB / "dist"
    policy = os.environ.get("NODELOOM_UI_BUILD", "auto")
    if policy == "never":
        if not (dist / "index.html").is_file():
            unavailable(f"no UI bundle at {dist} and NODELOOM_UI_BUILD=never")
    elif _bundle_is_stale(dist):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        error = _build_bundle(ARTIFACTS / "ui-build.log")
        if error:
            unavailable(error)
        if not (dist / "index.html").is_file():
            unavailable(f"the UI build finished but wrote no {dist / 'index.html'}")
    snapshot = tmp_path_factory.mktemp("ui-dist") / "dist"
    shutil.copytree(dist, snapshot)
    return snapshot


# --------------------------------------------------------------------------------------------- server

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _nodeloom_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("nodeloom")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "nodeloom.cli"]


def start_server(data_dir: Path, bundle: Path, log_path: Path, extra_env: dict[str, str] | None = None) -> Server:
    port = _free_port()
    env = {**os.environ, "NODELOOM_TOKEN": TOKEN, "NODELOOM_UI_DIST": str(bundle), **(extra_env or {})}
    env.pop("NODELOOM_DEV", None)
    log = log_path.open("wb")
    proc = subprocess.Popen([*_nodeloom_cmd(), "serve", "--port", str(port), "--data-dir", str(data_dir)],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(url=f"http://127.0.0.1:{port}", proc=proc, data_dir=data_dir, log_path=log_path)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            log.close()
            pytest.fail(f"nodeloom serve exited with {proc.returncode}:\n{server.log_tail()}", pytrace=False)
        try:
            if httpx.get(f"{server.url}/api/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            log.close()
            pytest.fail(f"nodeloom serve did not answer /api/health within {SERVER_START_TIMEOUT_S} s:\n"
                        f"{server.log_tail()}", pytrace=False)
        time.sleep(0.1)
    server.startup_s = SERVER_START_TIMEOUT_S - (deadline - time.monotonic())
    server._log_file = log
    return server


@pytest.fixture(scope="session")
def ui_server(ui_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the whole suite (start-up costs seconds); tests use unique names for
    whatever they create so they do not depend on each other's leftovers."""
    root = tmp_path_factory.mktemp("nodeloom-e2e")
    server = start_server(root / "data", ui_bundle, root / "server.log")
    index = httpx.get(server.url + "/", timeout=10)
    if index.status_code != 200 or 'id="root"' not in index.text:
        server.stop()
        unavailable(f"the server does not serve the UI bundle at / (status {index.status_code})")
    yield server
    server.stop()


# --------------------------------------------------------------------------------------------- browser

@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing; run scripts/ui_e2e_setup.sh")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install playwright)")
    manager = sync_playwright().start()
    try:
        # Playwright gives every launch a fresh temporary profile (user-data dir) of its own.
        browser = manager.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                                          timeout=60_000)
    except Exception as exc:  # noqa: BLE001 - any launch failure means "no usable browser here"
        manager.stop()
        unavailable(f"chromium at {CHROMIUM} did not start under Playwright: {exc}")
    yield browser
    browser.close()
    manager.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# Chromium reports this benign layout notice as an uncaught error; it is no application fault.
_BENIGN_PAGE_ERRORS = re.compile(r"ResizeObserver loop")


@pytest.fixture
def ui(browser: Any, ui_server: Server, request: pytest.FixtureRequest) -> Iterator[UI]:
    """A fresh browser context (no storage carried between tests) on the running server."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    helper = UI(page=page, server=ui_server)
    page.on("console", lambda msg: helper.console.append(f"{msg.type}: {msg.text}")
            if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: helper.page_errors.append(str(exc))
            if not _BENIGN_PAGE_ERRORS.search(str(exc)) else None)
    # Confirmation prompts (delete buttons) are part of the flows under test: accept them.
    page.on("dialog", lambda dialog: dialog.accept())
    yield helper
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed or helper.page_errors:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid) + ".png")
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot: {shot}")
        except Exception as exc:  # noqa: BLE001 - a dead page must not hide the real failure
            print(f"\nscreenshot failed: {exc}")
    if helper.console:
        print("\nbrowser console:\n  " + "\n  ".join(helper.console[-50:]))
    context.close()
    if helper.page_errors:
        pytest.fail("uncaught errors in the page:\n  " + "\n  ".join(helper.page_errors), pytrace=False)


@pytest.fixture
def editor(ui: UI) -> UI:
    """The UI opened on the editor with the palette loaded."""
    ui.open()
    ui.page.get_by_test_id("palette").wait_for(state="visible", timeout=15_000)
    return ui


@pytest.fixture(scope="session")
def slow_node(ui_server: Server) -> str:
    """A custom node that takes a while (and can be stopped), for runs that must still be going
    when the test acts. Uploaded once; the registry swap this causes is part of what the UI handles."""
    name = "E2ESlow"
    source = f'''
import time
from nodeloom.kernel.api import node, In, Out, Param

@node(name="{name}", category="Custom", inputs=[In("value", "ANY")], outputs=[Out("value", "ANY")],
      params=[Param.float("seconds", 2.0)], cacheable=False)
def e2e_slow(call):
    """Passes its input through after sleeping, checking for cancellation."""
    end = time.monotonic() + call.params["seconds"]
    while time.monotonic() < end:
        call.check_cancelled()
        time.sleep(0.02)
    return {{"value": call.inputs["value"]}}
'''
    body = ui_server.upload_custom_node("e2e_slow.py", source)
    assert name in body["nodes"], body
    return name
