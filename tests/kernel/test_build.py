"""Snapshot building: validation, namespacing, presets, last good per source, partial rebuilds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nodeloom.kernel.build import build_snapshot, check_model_entry, snapshot_signature
from nodeloom.kernel.paths import DataDir

from .test_plugins import Site, kernel, plain_eps, site  # noqa: F401 - ``site`` is a fixture

PRESET = {
    "preset_name": "Twice",
    "nodes": [{"id": "a", "type": "Double", "params": {}}, {"id": "b", "type": "Double", "params": {}}],
    "edges": [{"source": "a", "sourceHandle": "value", "target": "b", "targetHandle": "value"}],
    "exposed_inputs": [{"name": "x", "internal_node": "a", "internal_port": "value"}],
    "exposed_outputs": [{"name": "y", "internal_node": "b", "internal_port": "value"}],
}


def write_pack(site: Site, dist: str, ep: str, body: str, *, first_party: bool = False) -> str:
    mod = site.mod(ep)
    site.write(f"{mod}/__init__.py", "")
    site.write(f"{mod}/plugin.py", body)
    site.dist("nodeloom" if first_party else dist, {ep: f"{mod}.plugin"})
    return mod


DOUBLE_PACK = """
from nodeloom.kernel import hookimpl, NodeSpec, PortSpec, ParamSpec, Requirement

DOUBLE = NodeSpec(name="Double", category="T", execute=lambda c: {"value": c.inputs["value"] * 2},
                  inputs=[PortSpec("value", "SCALAR")], outputs=[PortSpec("value", "SCALAR")])
BAD = NodeSpec(name="Bad", category="T", execute=lambda c: {},
               params=[ParamSpec("n", "int", 500, max_value=10)])
NEEDY = NodeSpec(name="Needy", category="T", execute=lambda c: {},
                 requires=[Requirement("surely_not_installed_mod", "surely-not", "extra1")])
CALLS = []

@hookimpl
def register_nodes(register):
    CALLS.append(1)
    register(DOUBLE)
    register(BAD)
    register("not a spec")
    register(NEEDY)

@hookimpl
def register_presets(register):
    register(PRESET)

PRESET = %s
""" % json.dumps(PRESET)


def test_invalid_specs_are_rejected_and_the_pack_still_loads(tmp_path, site):
    write_pack(site, "d-pack", "dbl", DOUBLE_PACK, first_party=True)
    snap = kernel(tmp_path, site.entry_points()).snapshot
    assert set(snap.nodes) == {"Double", "Needy"}
    messages = [e.message for e in snap.errors if e.kind == "plugin"]
    assert len(messages) == 2 and all(m.startswith("invalid_node_spec: ") for m in messages)
    assert any("'n'" in m for m in messages) and any("got str" in m for m in messages)
    assert snap.packs["dbl"].error is None


def test_missing_requirement_marks_node_unavailable(tmp_path, site):
    write_pack(site, "d-pack", "dbl", DOUBLE_PACK, first_party=True)
    needy = kernel(tmp_path, site.entry_points()).snapshot.nodes["Needy"]
    assert needy.available is False
    assert needy.unavailable_reason == "needs surely-not (pip install 'nodeloom[extra1]')"
    assert needy.definition()["available"] is False


def test_presets_resolve_with_sources_and_clashes_name_both(tmp_path, site):
    write_pack(site, "d-pack", "dbl", DOUBLE_PACK)
    presets = tmp_path / "data" / "presets"
    presets.mkdir(parents=True)
    (presets / "twice.json").write_text(json.dumps(PRESET))
    (presets / "other.json").write_text(json.dumps({**PRESET, "preset_name": "Other"}))
    (presets / "ghost.json").write_text(json.dumps({**PRESET, "preset_name": "Ghost", "nodes": [{"id": "a", "type": "Nope"}], "edges": [], "exposed_inputs": [], "exposed_outputs": []}))
    snap = kernel(tmp_path, site.entry_points()).snapshot
    twice = snap.presets["Twice"]
    assert twice.source == "plugin:dbl" and twice.available
    assert twice.definition["exposed_inputs"][0]["data_type"] == "SCALAR"  # resolved through dbl:Double
    assert snap.presets["Other"].source == "user"
    clash = [e for e in snap.errors if e.kind == "preset" and e.source == "Twice"]
    assert len(clash) == 1 and "plugin:dbl" in clash[0].message and "user" in clash[0].message
    ghost = snap.presets["Ghost"]
    assert ghost.available is False and "Nope" in ghost.error
    assert any(e.source == "Ghost" and e.message == ghost.error for e in snap.errors)
    assert snap.packs["dbl"].presets == ("Twice",)


def test_broken_user_preset_keeps_its_last_good_version(tmp_path, site):
    write_pack(site, "d-pack", "dbl", DOUBLE_PACK)
    presets = tmp_path / "data" / "presets"
    presets.mkdir(parents=True)
    path = presets / "mine.json"
    path.write_text(json.dumps({**PRESET, "preset_name": "Mine"}))
    k = kernel(tmp_path, site.entry_points())
    assert k.snapshot.presets["Mine"].available
    path.write_text("{not json")
    report = k.reload()
    assert k.snapshot.presets["Mine"].available  # carried over
    err = [e for e in report.errors if e.source == "mine.json"]
    assert len(err) == 1 and err[0].kind == "preset" and err[0].message.startswith("JSONDecodeError")
    # A broken file that never loaded contributes nothing.
    (presets / "new.json").write_text('{"preset_name": 5}')
    k.reload()
    assert set(k.snapshot.presets) == {"Twice", "Mine"}


def test_failing_plugin_keeps_last_good_entries_marked_with_the_error(tmp_path, site):
    flag = tmp_path / "fail.flag"
    body = f"""
from pathlib import Path
from nodeloom.kernel import hookimpl, NodeSpec

@hookimpl
def register_nodes(register):
    if Path({str(flag)!r}).exists():
        raise RuntimeError("registry server down")
    register(NodeSpec(name="Stable", category="T", execute=lambda c: {{}}))
"""
    write_pack(site, "s-pack", "stab", body)
    k = kernel(tmp_path, site.entry_points())
    entry = k.snapshot.nodes["stab:Stable"]
    flag.write_text("1")
    report = k.reload()
    assert k.snapshot.nodes["stab:Stable"].spec is entry.spec
    assert k.plugin("stab").error == "RuntimeError: registry server down"
    assert k.plugin("stab").nodes == ("stab:Stable",)
    assert [e.wire() for e in report.errors] == [
        {"kind": "plugin", "source": "stab", "message": "RuntimeError: registry server down", "line": None}
    ]
    flag.unlink()
    k.reload()
    assert k.plugin("stab").error is None


def test_partial_rebuild_reuses_other_sources(tmp_path, site):
    mod = write_pack(site, "d-pack", "dbl", DOUBLE_PACK)
    k = kernel(tmp_path, site.entry_points())
    calls = sys.modules[f"{mod}.plugin"].CALLS
    assert len(calls) == 1
    custom = k.data_dir.area("custom_nodes") / "extra.py"
    custom.write_text("from nodeloom.kernel import NodeSpec\nE = NodeSpec(name='Extra', category='C', execute=lambda c: {})\n")
    k.reload(sources={"custom"})
    assert len(calls) == 1  # plugin hooks were not run again
    assert {"dbl:Double", "Extra"} <= set(k.snapshot.nodes)
    assert k.snapshot.presets["Twice"].available
    k.reload()
    assert len(calls) == 2


def test_each_explicit_reload_adds_exactly_one_generation(tmp_path, site):
    write_pack(site, "d-pack", "dbl", DOUBLE_PACK)
    k = kernel(tmp_path, site.entry_points())
    assert k.generation == 1
    seen = []
    k.holder.add_listener(lambda snap: seen.append(snap.generation))
    for expected in (2, 3, 4):
        assert k.reload().generation == expected == k.generation
    assert k.reload(sources={"presets"}).generation == 5
    assert seen == [2, 3, 4, 5]
    # A watcher-style reload that changes nothing publishes nothing.
    report = k.reload(sources={"custom", "presets"}, explicit=False)
    assert report.published is False and report.generation == 5 == k.generation
    (k.data_dir.area("custom_nodes") / "n.py").write_text(
        "from nodeloom.kernel import NodeSpec\nN = NodeSpec(name='N', category='C', execute=lambda c: {})\n"
    )
    report = k.reload(sources={"custom"}, explicit=False)
    assert report.published and report.generation == 6 and report.custom == 1
    assert seen == [2, 3, 4, 5, 6]


def test_reload_report_wire_shape(tmp_path, site):
    write_pack(site, "d-pack", "dbl", DOUBLE_PACK, first_party=True)
    wire = kernel(tmp_path, site.entry_points()).reload().wire()
    assert list(wire) == ["builtin", "custom", "plugins", "presets", "total", "generation", "errors"]
    assert (wire["builtin"], wire["custom"], wire["plugins"], wire["total"]) == (2, 0, 0, 2)
    assert wire["presets"] == 1 and wire["generation"] == 2
    assert all(set(e) == {"kind", "source", "message", "line"} for e in wire["errors"])


def test_examples_are_namespaced_and_first_party_clashes_reported(tmp_path, site):
    example_file = tmp_path / "ex.json"
    example_file.write_text(json.dumps({"name": "From file", "nodes": [], "edges": []}))
    fp_body = """
from nodeloom.kernel import hookimpl

@hookimpl
def register_examples(register):
    register("Basics/XOR", {{"name": "XOR", "nodes": [], "edges": []}})
    register("Basics/File", {file!r})
    register("../escape", {{"nodes": []}})
""".format(file=str(example_file))
    site.write(f"{site.mod('fpa')}/__init__.py", "")
    site.write(f"{site.mod('fpa')}/plugin.py", fp_body)
    site.write(f"{site.mod('fpb')}/__init__.py", "")
    site.write(f"{site.mod('fpb')}/plugin.py", fp_body)
    site.dist("nodeloom", {"fpa": f"{site.mod('fpa')}.plugin", "fpb": f"{site.mod('fpb')}.plugin"})
    write_pack(site, "x-pack", "third", fp_body)
    snap = kernel(tmp_path, site.entry_points()).snapshot
    assert set(snap.examples) == {
        "Basics/XOR",
        "Basics/File",
        "plugin:third/Basics/XOR",
        "plugin:third/Basics/File",
    }
    assert snap.examples["Basics/XOR"].source == "builtin"
    assert snap.examples["plugin:third/Basics/File"].graph["name"] == "From file"
    assert snap.examples["plugin:third/Basics/File"].file == str(example_file)
    kinds = [(e.kind, e.source) for e in snap.errors]
    assert kinds.count(("example", "Basics/XOR")) == 1  # fpb's copy loses to fpa's
    assert kinds.count(("example", "../escape")) == 3


def test_model_registry_file_and_plugin_entries(tmp_path, site):
    body = """
from nodeloom.kernel import hookimpl

@hookimpl
def register_models(register):
    register({"id": "tiny", "category": "Classifiers", "source": {"type": "url", "url": "https://x.test/tiny.pt"}})
"""
    write_pack(site, "m-pack", "mods", body)
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    (models / "registry.json").write_text(
        json.dumps(
            {
                "models": [
                    {"id": "tiny", "category": "Classifiers", "source": {"type": "url", "url": "https://y.test/t.pt"}},
                    {"id": "bad id!", "category": "X", "source": {"type": "url", "url": "https://y.test/t.pt"}},
                ]
            }
        )
    )
    snap = kernel(tmp_path, site.entry_points()).snapshot
    assert [m["source"]["url"] for m in snap.models] == ["https://y.test/t.pt"]
    messages = [e.message for e in snap.errors if e.kind == "model_registry"]
    assert any("replaces" in m for m in messages) and any("invalid id" in m for m in messages)


def test_check_model_entry_rules():
    good = {"id": "m1", "category": "Cat", "source": {"type": "huggingface", "repo_id": "o/r", "filename": "w.pt"}}
    assert check_model_entry(good) is None
    assert "reserved" in check_model_entry({**good, "category": "Download"})
    assert "category" in check_model_entry({**good, "category": "a/b"})
    assert "model extension" in check_model_entry({**good, "filename": "w.txt"})
    assert "sha256" in check_model_entry({**good, "sha256": "abc"})
    assert check_model_entry({**good, "filename": "w.pt", "source": {"type": "ftp", "host": "h"}}) is None
    assert "needs a type" in check_model_entry({**good, "source": {"repo_id": "o/r"}})


def test_build_without_plugins_is_a_pure_function_of_the_data_dir(tmp_path):
    data = DataDir(tmp_path / "d").ensure()
    (data.area("custom_nodes") / "a.py").write_text(
        "from nodeloom.kernel import NodeSpec\nA = NodeSpec(name='A', category='C', execute=lambda c: {})\n"
    )
    one = build_snapshot(generation=7, data_dir=data, loader=None)
    two = build_snapshot(generation=8, data_dir=data, loader=None, previous=one)
    assert one.generation == 7 and set(one.nodes) == {"A"}
    assert snapshot_signature(one) == snapshot_signature(two)
    assert two.nodes["A"].spec is one.nodes["A"].spec  # unchanged file: module reused
    assert one.packs["custom"].nodes == ("A",)
    with pytest.raises(ValueError, match="unknown source groups"):
        build_snapshot(generation=1, data_dir=data, loader=None, groups={"everything"})


def test_await_me_maybe_hook_results(tmp_path, site):
    body = """
from nodeloom.kernel import hookimpl, NodeSpec

@hookimpl
def register_nodes(register):
    async def later():
        register(NodeSpec(name="Async", category="T", execute=lambda c: {}))
    return later()

@hookimpl
def register_presets(register):
    return lambda: None
"""
    write_pack(site, "a-pack", "asy", body)
    assert "asy:Async" in kernel(tmp_path, site.entry_points()).snapshot.nodes


async def test_build_from_inside_a_running_loop_resolves_awaitables(tmp_path, site):
    body = """
import asyncio
from nodeloom.kernel import hookimpl, NodeSpec

@hookimpl
async def register_nodes(register):
    await asyncio.sleep(0)
    register(NodeSpec(name="Inside", category="T", execute=lambda c: {}))
"""
    write_pack(site, "i-pack", "ins", body)
    assert "ins:Inside" in kernel(tmp_path, site.entry_points()).snapshot.nodes


def test_example_pack_preset_resolves_through_bare_names(tmp_path, monkeypatch):
    from .test_plugins import PACKS

    monkeypatch.syspath_prepend(str(PACKS / "example_pack"))
    try:
        snap = kernel(tmp_path, plain_eps(example="nodeloom_example_pack.plugin")).snapshot
        preset = snap.presets["Double Twice"]
        assert preset.available and preset.source == "plugin:example"
        assert preset.definition["exposed_outputs"][0]["data_type"] == "SCALAR"
    finally:
        for name in [m for m in sys.modules if m.startswith("nodeloom_example_pack")]:
            sys.modules.pop(name)


def test_data_dir_layout_created_on_start(tmp_path):
    k = kernel(tmp_path, plain_eps())
    for area in ("custom_nodes", "presets", "state", "models"):
        assert (Path(k.data_dir.root) / area).is_dir()
    assert set(k.snapshot.packs) == {"custom"}
