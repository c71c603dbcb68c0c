"""Custom-node files: fresh modules, collection rules, errors with lines, last good (engine.md §8.5)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from nodeloom.kernel.custom_nodes import custom_files, load_custom_file, module_name_for
from nodeloom.kernel.host import Kernel

from .test_plugins import site  # noqa: F401 - ``site`` is a fixture

DOUBLER = """\
from nodeloom.kernel.api import node, In, Out, Param

@node(name="Doubler", category="Custom", inputs=[In("x", "SCALAR")], outputs=[Out("x", "SCALAR")],
      params=[Param.float("factor", {factor})])
def doubler(call):
    return {{"x": call.inputs["x"] * call.params["factor"]}}
"""


@pytest.fixture
def k(tmp_path) -> Kernel:
    kern = Kernel(tmp_path / "data", entry_points=lambda: [], env={})
    kern.data_dir.ensure()
    return kern


def write(k: Kernel, name: str, text: str) -> Path:
    path = k.data_dir.area("custom_nodes") / name
    path.write_text(text, encoding="utf-8")
    return path


def test_file_becomes_a_fresh_module_per_content(tmp_path, k):
    path = write(k, "my-nodes.py", DOUBLER.format(factor=2.0))
    k.start()
    entry = k.snapshot.nodes["Doubler"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    name = f"nodeloom_custom.my_nodes_{digest[:8]}"
    assert entry.provider == "custom" and entry.pack_id == "custom:my-nodes.py"
    assert entry.pack_version == f"custom-{digest[:12]}" and entry.code_digest == digest
    assert entry.spec.execute.__module__ == name and name in sys.modules
    assert entry.spec.execute(type("C", (), {"inputs": {"x": 3}, "params": {"factor": 2.0}})()) == {"x": 6.0}

    with k.holder.pinned() as pinned:
        write(k, "my-nodes.py", DOUBLER.format(factor=3.0))
        k.reload()
        new = k.snapshot.nodes["Doubler"]
        assert new.spec.execute.__module__ != name
        assert new.spec.params[0].default == 3.0
        # The pinned snapshot still runs the old code, whose module stays alive meanwhile.
        assert pinned.nodes["Doubler"].spec.params[0].default == 2.0
        assert name in sys.modules
    assert name not in sys.modules  # released: the retired module is dropped


def test_same_content_keeps_its_module(k):
    write(k, "a.py", DOUBLER.format(factor=2.0))
    k.start()
    first = k.snapshot.nodes["Doubler"].spec
    k.reload()
    assert k.snapshot.nodes["Doubler"].spec is first


def test_module_name_sanitising():
    digest = "0123456789abcdef" * 4
    assert module_name_for("my-nodes.v2.py", digest) == "nodeloom_custom.my_nodes_v2_01234567"
    assert module_name_for("1st.py", digest) == "nodeloom_custom._1st_01234567"


def test_only_enabled_visible_files_are_loaded(k):
    write(k, "a.py", DOUBLER.format(factor=2.0))
    write(k, "b.py.disabled", "raise SystemExit")
    write(k, "_private.py", "raise SystemExit")
    write(k, ".hidden.py", "raise SystemExit")
    write(k, "notes.txt", "hello")
    assert [p.name for p in custom_files(k.data_dir.area("custom_nodes"))] == ["a.py"]
    k.start()
    assert set(k.snapshot.nodes) == {"Doubler"} and k.snapshot.errors == ()
    assert k.custom_node_files() == [
        {"filename": "a.py", "enabled": True, "nodes": ["Doubler"], "error": None},
        {"filename": "b.py.disabled", "enabled": False, "nodes": [], "error": None},
    ]


def test_module_level_specs_are_collected_but_imported_ones_are_not(k):
    write(
        k,
        "mixed.py",
        """\
import operator
from nodeloom.kernel import NodeSpec
from tests.kernel.support import CONST, ADD          # imported: not this file's nodes

OWN = NodeSpec(name="Own", category="C", execute=lambda call: {})
NEG = NodeSpec(name="Neg", category="C", execute=operator.neg)   # defined here, execute from elsewhere
ALIAS = OWN                                                      # one node, however many names
""",
    )
    k.start()
    assert set(k.snapshot.nodes) == {"Own", "Neg"}


def test_hookimpl_file_uses_its_hook(k):
    write(
        k,
        "hooked.py",
        """\
from nodeloom.kernel import hookimpl, NodeSpec

UNREGISTERED = NodeSpec(name="Unregistered", category="C", execute=lambda c: {})

@hookimpl
def register_nodes(register):
    register([NodeSpec(name=f"Gen{i}", category="C", execute=lambda c: {}) for i in range(2)])
""",
    )
    k.start()
    assert set(k.snapshot.nodes) == {"Gen0", "Gen1"}


def test_syntax_error_reports_file_and_line(k):
    write(k, "broken.py", "x = 1\n\ndef f(:\n    pass\n")
    report = k.start()
    err = report.errors[0]
    assert (err.kind, err.source, err.line) == ("custom_node", "broken.py", 3)
    assert err.message == "SyntaxError: invalid syntax (broken.py, line 3)"


def test_runtime_error_reports_the_line_in_the_file(k):
    write(k, "broken.py", "import math\n\n\n\n\n\ny = torhc.zeros(3)\n")
    report = k.start()
    assert [e.wire() for e in report.errors] == [
        {
            "kind": "custom_node",
            "source": "broken.py",
            "message": "NameError: name 'torhc' is not defined (broken.py, line 7)",
            "line": 7,
        }
    ]
    assert k.custom_node_files()[0]["error"] == "NameError: name 'torhc' is not defined (broken.py, line 7)"
    assert not [m for m in sys.modules if m.startswith("nodeloom_custom.broken_")]


def test_error_inside_register_hook_points_at_the_hook_line(tmp_path):
    path = tmp_path / "h.py"
    path.write_text(
        "from nodeloom.kernel import hookimpl\n\n@hookimpl\ndef register_nodes(register):\n    raise KeyError('k')\n"
    )
    result = load_custom_file(path)
    assert not result.ok and result.line == 5
    assert result.error == "KeyError: 'k' (h.py, line 5)"


def test_breaking_a_loaded_file_keeps_its_last_good_nodes(k):
    path = write(k, "doubler.py", DOUBLER.format(factor=2.0))
    k.start()
    good = k.snapshot.nodes["Doubler"]
    path.write_text(DOUBLER.format(factor=2.0) + "\nraise ValueError('oops')\n")
    report = k.reload()
    assert k.snapshot.nodes["Doubler"].spec is good.spec
    assert report.custom == 1
    assert report.errors[0].message == "ValueError: oops (doubler.py, line 8)"
    assert k.custom_node_files() == [
        {
            "filename": "doubler.py",
            "enabled": True,
            "nodes": ["Doubler"],
            "error": "ValueError: oops (doubler.py, line 8)",
        }
    ]
    # Fixing it clears the error and loads the new version.
    path.write_text(DOUBLER.format(factor=5.0))
    report = k.reload()
    assert report.errors == () and k.snapshot.nodes["Doubler"].spec.params[0].default == 5.0


def test_deleted_file_disappears(k):
    path = write(k, "gone.py", DOUBLER.format(factor=2.0))
    k.start()
    path.unlink()
    k.reload(sources={"custom"})
    assert "Doubler" not in k.snapshot.nodes and k.custom_node_files() == []


def test_duplicate_custom_names_are_rejected_naming_both_providers(tmp_path, site):
    mod = site.mod("fp")
    site.write(f"{mod}/__init__.py", "")
    site.write(
        f"{mod}/plugin.py",
        "from nodeloom.kernel import hookimpl, NodeSpec\n"
        "@hookimpl\ndef register_nodes(register):\n"
        "    register(NodeSpec(name='Doubler', category='B', execute=lambda c: {}))\n",
    )
    site.dist("nodeloom", {"corefp": f"{mod}.plugin"})
    kern = Kernel(tmp_path / "data", entry_points=site.entry_points(), env={})
    kern.data_dir.ensure()
    write(kern, "a_shadow.py", DOUBLER.format(factor=2.0))
    write(kern, "b_other.py", "from nodeloom.kernel import NodeSpec\nX = NodeSpec(name='Mine', category='C', execute=lambda c: {})\n")
    write(kern, "c_copy.py", "from nodeloom.kernel import NodeSpec\nX = NodeSpec(name='Mine', category='C', execute=lambda c: {})\n")
    kern.start()
    snap = kern.snapshot
    assert snap.nodes["Doubler"].provider == "builtin" and snap.nodes["Doubler"].spec.category == "B"
    assert snap.nodes["Mine"].pack_id == "custom:b_other.py"
    errors = {e.source: e.message for e in snap.errors}
    assert errors["a_shadow.py"] == (
        "duplicate_node_name: node 'Doubler' from custom (a_shadow.py) is already provided by builtin (corefp)"
    )
    assert errors["c_copy.py"] == (
        "duplicate_node_name: node 'Mine' from custom (c_copy.py) is already provided by custom (b_other.py)"
    )
    files = {f["filename"]: f for f in kern.custom_node_files()}
    assert files["a_shadow.py"]["nodes"] == [] and files["a_shadow.py"]["error"].startswith("duplicate_node_name")
    assert files["b_other.py"]["error"] is None


def test_invalid_spec_in_custom_file_is_reported(k):
    write(
        k,
        "bad.py",
        "from nodeloom.kernel import NodeSpec\n"
        "A = NodeSpec(name='preset_x', category='C', execute=lambda c: {})\n"
        "B = NodeSpec(name='Fine', category='C', execute=lambda c: {})\n",
    )
    report = k.start()
    assert set(k.snapshot.nodes) == {"Fine"}
    assert report.errors[0].message.startswith("invalid_node_spec: node name 'preset_x' is reserved")


def test_explicit_reload_retries_an_unchanged_failing_file(k, tmp_path, monkeypatch):
    helper = tmp_path / "helpers"
    helper.mkdir()
    monkeypatch.syspath_prepend(str(helper))
    write(k, "needs.py", "import later_installed_helper_xyz\nfrom nodeloom.kernel import NodeSpec\nA = NodeSpec(name='Needs', category='C', execute=lambda c: {})\n")
    k.start()
    assert "ModuleNotFoundError" in k.snapshot.errors[0].message
    (helper / "later_installed_helper_xyz.py").write_text("")
    k.reload(sources={"custom"}, explicit=False)  # unchanged file: the watcher does not retry it
    assert "Needs" not in k.snapshot.nodes
    k.reload()
    assert "Needs" in k.snapshot.nodes
    sys.modules.pop("later_installed_helper_xyz", None)
