"""Hot reload with real files and real watchfiles; every wait is bounded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from watchfiles import Change

from nodeloom.kernel.host import Kernel
from nodeloom.kernel.watch import WatchRoot, Watcher, groups_for

NODE = "from nodeloom.kernel import NodeSpec\n{name} = NodeSpec(name={name!r}, category='C', execute=lambda c: {{}})\n"
# Generous bound for slow CI machines; the measured latency is checked against the target below.
DEADLINE = 5.0
TARGET = 0.5


def make_kernel(tmp_path: Path, **env: str) -> Kernel:
    k = Kernel(tmp_path / "data", entry_points=lambda: [], env=env)
    k.start()
    return k


async def wait_for(predicate, timeout: float = DEADLINE) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def custom(k: Kernel, name: str) -> Path:
    return k.data_dir.area("custom_nodes") / name


async def started(k: Kernel, **options) -> Watcher:
    watcher = k.watch(**options)
    assert await asyncio.to_thread(watcher.wait_ready, DEADLINE)
    # The start-up catch-up reload runs right after the watches exist; let it finish.
    await wait_for(lambda: watcher.last_report is not None)
    return watcher


async def test_new_and_changed_files_reach_the_live_registry(tmp_path):
    k = make_kernel(tmp_path)
    watcher = await started(k)
    try:
        gen = k.generation
        custom(k, "fresh.py").write_text(NODE.format(name="Fresh"))
        latency = await wait_for(lambda: "Fresh" in k.snapshot.nodes)
        assert latency < TARGET * 2, f"new file took {latency:.3f}s"
        assert k.generation == gen + 1
        old = k.snapshot.nodes["Fresh"].code_digest

        custom(k, "fresh.py").write_text(NODE.format(name="Fresh") + NODE.format(name="Second"))
        await wait_for(lambda: "Second" in k.snapshot.nodes)
        assert k.snapshot.nodes["Fresh"].code_digest != old

        custom(k, "fresh.py").rename(custom(k, "fresh.py.disabled"))
        await wait_for(lambda: "Fresh" not in k.snapshot.nodes)
        assert watcher.failures == []
    finally:
        await k.astop_watching()
    assert not watcher.running


async def test_broken_file_keeps_last_good_and_records_the_error(tmp_path):
    k = make_kernel(tmp_path)
    custom(k, "work.py").write_text(NODE.format(name="Work"))
    watcher = await started(k)
    try:
        await wait_for(lambda: "Work" in k.snapshot.nodes)
        custom(k, "work.py").write_text("def broken(:\n")
        await wait_for(lambda: any(e.source == "work.py" for e in k.snapshot.errors))
        assert "Work" in k.snapshot.nodes
        err = next(e for e in k.snapshot.errors if e.source == "work.py")
        assert err.line == 1 and err.message.startswith("SyntaxError")
        assert watcher.last_report.errors == k.snapshot.errors
    finally:
        await k.astop_watching()


async def test_burst_of_writes_is_coalesced(tmp_path):
    k = make_kernel(tmp_path)
    watcher = await started(k)
    try:
        before = watcher.reloads
        for i in range(5):
            custom(k, f"n{i}.py").write_text(NODE.format(name=f"N{i}"))
        await wait_for(lambda: all(f"N{i}" in k.snapshot.nodes for i in range(5)))
        await asyncio.sleep(0.2)
        assert 1 <= watcher.reloads - before <= 2
    finally:
        await k.astop_watching()


async def test_preset_folder_changes_reload_presets_only(tmp_path):
    k = make_kernel(tmp_path)
    custom(k, "c.py").write_text(NODE.format(name="C"))
    k.reload()
    watcher = await started(k)
    try:
        preset = {"preset_name": "Empty", "nodes": [{"id": "a", "type": "C"}], "edges": []}
        import json

        (k.data_dir.area("presets") / "empty.json").write_text(json.dumps(preset))
        await wait_for(lambda: "Empty" in k.snapshot.presets)
        assert k.snapshot.presets["Empty"].source == "user" and k.snapshot.presets["Empty"].available
        # Temp files of atomic writes (dot names) never trigger a reload.
        reloads = watcher.reloads
        (k.data_dir.area("presets") / ".x.json.abc.tmp").write_text("{")
        await asyncio.sleep(0.4)
        assert watcher.reloads == reloads
    finally:
        await k.astop_watching()


async def test_polling_mode(tmp_path):
    k = make_kernel(tmp_path, NODELOOM_WATCH_POLLING="1")
    watcher = await started(k)
    assert watcher.polling
    try:
        custom(k, "polled.py").write_text(NODE.format(name="Polled"))
        await wait_for(lambda: "Polled" in k.snapshot.nodes)
    finally:
        await k.astop_watching()


def test_thread_watcher_for_the_cli(tmp_path):
    k = make_kernel(tmp_path)
    watcher = k.watch()  # no running loop here: runs on its own thread
    try:
        assert watcher.wait_ready(DEADLINE) and watcher._thread is not None
        custom(k, "threaded.py").write_text(NODE.format(name="Threaded"))
        deadline = time.monotonic() + DEADLINE
        while "Threaded" not in k.snapshot.nodes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "Threaded" in k.snapshot.nodes
    finally:
        k.stop_watching()
    assert not watcher.running


def test_stop_right_after_start_does_not_hang(tmp_path):
    k = make_kernel(tmp_path)
    watcher = k.watch()
    t0 = time.monotonic()
    k.stop_watching()
    assert not watcher.running and time.monotonic() - t0 < DEADLINE


def test_changes_map_to_source_groups(tmp_path):
    roots = [
        WatchRoot(tmp_path / "custom_nodes", "custom"),
        WatchRoot(tmp_path / "presets", "presets"),
        WatchRoot(tmp_path / "site", "plugins", recursive=False),
    ]

    def groups(*paths: str) -> set[str]:
        return groups_for(roots, [(Change.modified, str(tmp_path / p)) for p in paths])

    assert groups("custom_nodes/a.py") == {"custom"}
    assert groups("custom_nodes/a.py.disabled", "presets/p.json") == {"custom", "presets"}
    assert groups("custom_nodes/_private.py", "custom_nodes/.a.py.1f.tmp", "custom_nodes/x.txt") == set()
    assert groups("presets/.p.json.abc.tmp") == set()
    assert groups("site/acme-1.0.dist-info", "site/random.py") == {"plugins"}
    assert groups("elsewhere/a.py") == set()


@pytest.mark.parametrize("dev", ["1", ""])
def test_dev_mode_watches_editable_plugin_sources(tmp_path, dev, monkeypatch):
    from .test_plugins import Site

    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    site = Site(root)
    site.node_pack("dev-pack", "devp", site.mod("devp"), "Dev")
    k = Kernel(tmp_path / "data", entry_points=site.entry_points(), env={"NODELOOM_DEV": dev})
    k.start()
    roots = Watcher(k).roots()
    plugin_roots = [r for r in roots if r.group == "plugins" and r.recursive]
    if dev:
        assert [r.path for r in plugin_roots] == [(root / site.mod("devp")).resolve()]
        assert any(not r.recursive for r in roots)  # site-packages metadata
    else:
        assert plugin_roots == [] and {r.group for r in roots} == {"custom", "presets"}
