"""The persisted module store, state handles and the run output store (engine.md §4.13, §4.14)."""

from __future__ import annotations

import threading
import time

from nodeloom.kernel.outputs import RunOutputStore, flatten_steps, recordable
from nodeloom.kernel.state import ModuleStore, StateHandle


class Thing:
    """Stands in for a module: identity tells whether it was reused."""


def test_get_or_build_reuses_and_reports():
    store = ModuleStore()
    built = []

    def build():
        built.append(1)
        return Thing()

    a = store.get_or_build("g", "n", "h1", build, {"node_type": "Linear"})
    b = store.get_or_build("g", "n", "h1", build)
    assert a is b and len(built) == 1
    assert store.list() == [{"node_type": "Linear", "graph_id": "g", "node_id": "n", "structure_hash": "h1"}]


def test_a_new_structure_drops_the_old_entries_of_that_node_only():
    store = ModuleStore()
    store.get_or_build("g", "n", "h1", Thing)
    store.get_or_build("g", "other", "h1", Thing)
    store.get_or_build("g2", "n", "h1", Thing)
    store.get_or_build("g", "n", "h2", Thing)
    keys = {(r["graph_id"], r["node_id"], r["structure_hash"]) for r in store.list()}
    assert keys == {("g", "other", "h1"), ("g2", "n", "h1"), ("g", "n", "h2")}


def test_lru_limit():
    store = ModuleStore(max_entries=3)
    for i in range(3):
        store.get_or_build("g", f"n{i}", "h", Thing)
    store.get_or_build("g", "n0", "h", Thing)  # refresh n0
    store.get_or_build("g", "n3", "h", Thing)
    assert sorted(r["node_id"] for r in store.list()) == ["n0", "n2", "n3"]


def test_concurrent_callers_build_once():
    store = ModuleStore()
    count = 0
    gate = threading.Barrier(8)
    lock = threading.Lock()

    def build():
        nonlocal count
        with lock:
            count += 1
        time.sleep(0.05)  # long enough for every other thread to arrive meanwhile
        return Thing()

    got = []

    def worker():
        gate.wait()
        got.append(store.get_or_build("g", "n", "h", build))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count == 1
    assert len({id(x) for x in got}) == 1


def test_build_of_one_key_does_not_block_another_key():
    store = ModuleStore()
    started = threading.Event()
    release = threading.Event()

    def slow():
        started.set()
        release.wait(2)
        return Thing()

    t = threading.Thread(target=lambda: store.get_or_build("g", "slow", "h", slow))
    t.start()
    assert started.wait(2)
    t0 = time.monotonic()
    store.get_or_build("g", "fast", "h", Thing)
    assert time.monotonic() - t0 < 0.5
    release.set()
    t.join()
    assert store.count("g") == 2


def test_failed_build_stores_nothing_and_can_be_retried():
    store = ModuleStore()

    def broken():
        raise RuntimeError("no")

    try:
        store.get_or_build("g", "n", "h", broken)
    except RuntimeError:
        pass
    assert len(store) == 0
    assert isinstance(store.get_or_build("g", "n", "h", Thing), Thing)


def test_reset_scopes():
    store = ModuleStore()
    for g in ("g1", "g2"):
        for n in ("a", "b", "p__inner"):
            store.get_or_build(g, n, "h", Thing)
    assert store.reset("g1", node_id="a") == 1
    assert store.reset("g1", node_ids=["p"]) == 1  # a preset instance covers its members
    assert store.node_ids("g1") == ["b"]
    assert store.reset("g2") == 3
    assert store.count() == 1
    assert store.reset() == 1 and len(store) == 0
    assert store.reset("nothing") == 0


def test_modules_for_graph():
    store = ModuleStore()
    a = store.get_or_build("g", "a", "h", Thing)
    store.get_or_build("other", "b", "h", Thing)
    assert store.modules_for_graph("g") == [("a", a)]


def test_state_handle_persists_only_with_graph_id_and_flag():
    store = ModuleStore()
    persistent = StateHandle(store, "g", "n", True)
    assert persistent.get_or_build("h", Thing) is persistent.get_or_build("h", Thing)
    for handle in (StateHandle(store, "", "n", True), StateHandle(store, "g", "n", False)):
        assert not handle.active
        assert handle.get_or_build("h", Thing) is not handle.get_or_build("h", Thing)
    assert len(store) == 1


# -- run output store ------------------------------------------------------------------------------


def test_record_get_ports_and_clear():
    store = RunOutputStore()
    store.record("r1", "b", "x", 1)
    store.record("r1", "a", "y", 2)
    store.record("r1", "b", "z", 3)
    assert store.has_run("r1") and not store.has_run("r2")
    assert store.get("r1", "b", "z") == 3
    assert store.get("r1", "b", "missing") is None
    assert store.ports("r1") == {"b": ["x", "z"], "a": ["y"]}
    assert list(store.ports("r1")) == ["b", "a"]  # nodes by first write
    assert store.entries("r1") == [("b", "x", 1), ("b", "z", 3), ("a", "y", 2)]
    assert store.clear("r1") and not store.clear("r1")
    assert store.ports("r1") == {}


def test_oldest_run_by_first_write_is_evicted_and_reads_do_not_refresh():
    store = RunOutputStore(max_runs=2)
    store.record("r1", "n", "p", 1)
    store.record("r2", "n", "p", 2)
    store.get("r1", "n", "p")
    store.record("r1", "n", "q", 1)  # later writes do not refresh either
    store.record("r3", "n", "p", 3)
    assert store.run_ids() == ["r2", "r3"]


def test_recordable_skips_hidden_ports_and_flattens_steps():
    steps = [
        {"name": "qkv", "description": "project", "tensors": {"Q": "tq", "K": "tk"}, "scalars": {}},
        {"name": "scores", "description": "dot", "tensors": {"S": "ts"}, "scalars": {"d_k": 4.0}},
        "not a step",
    ]
    result = {"out": 1, "__log__": "text", "__steps__": steps}
    ports = dict(recordable(result))
    assert ports["out"] == 1 and "__log__" not in ports and "__steps__" not in ports
    assert ports["__step__0__Q"] == "tq" and ports["__step__0__K"] == "tk"
    assert ports["__step__1__S"] == "ts"
    assert ports["__step__0__meta"] == {
        "name": "qkv",
        "description": "project",
        "scalars": {},
        "tensor_keys": ["Q", "K"],
    }
    assert ports["__step__1__meta"]["scalars"] == {"d_k": 4.0}
    assert not any(p.startswith("__step__2") for p in ports)


def test_flatten_steps_tolerates_garbage():
    assert flatten_steps(None) == {}
    assert flatten_steps([{"tensors": "oops"}]) == {
        "__step__0__meta": {"name": None, "description": None, "scalars": {}, "tensor_keys": []}
    }
