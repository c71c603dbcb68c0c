"""Plugin discovery, pack ids, env filters, enable state and quarantine (engine.md §3.2, §8.1-8.4).

Packs are real modules on a temporary ``sys.path`` entry, described by real ``*.dist-info``
folders, so entry points carry their distribution exactly as installed ones do. Nothing is
pip-installed.
"""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import importlib_metadata
import pytest

from nodeloom.kernel.host import Kernel, PluginExcluded, PluginNotFound, PluginRequired
from nodeloom.kernel.plugins import GROUP, PluginEnv, code_digest, normalize_pack_id, package_digest

PACKS = Path(__file__).resolve().parents[1] / "packs"

NODE_MODULE = '''
from nodeloom.kernel import hookimpl
from nodeloom.kernel.api import node, Out, Param

@node(name="{name}", category="Test", outputs=[Out("value", "SCALAR")], params=[Param.float("value", {value})])
def _make(call):
    return {{"value": call.params["value"]}}

@hookimpl
def register_nodes(register):
    register(_make)
'''


class Site:
    """A throw-away site dir: distributions (dist-info) and their modules."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tag = uuid.uuid4().hex[:8]

    def mod(self, base: str) -> str:
        """A module name unique to this test, so sys.modules never mixes tests."""
        return f"{base}_{self.tag}"

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def dist(
        self,
        name: str,
        entry_points: Mapping[str, str],
        *,
        version: str = "1.0.0",
        summary: str = "",
        description: str = "",
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        folder = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        folder.mkdir(parents=True, exist_ok=True)
        headers = {"Metadata-Version": "2.1", "Name": name, "Version": version}
        if summary:
            headers["Summary"] = summary
        headers.update(extra_headers or {})
        lines = [f"{k}: {v}" for k, v in headers.items()]
        body = "\n".join(lines) + "\n"
        if description:
            body += "\n" + description
        (folder / "METADATA").write_text(body, encoding="utf-8")
        eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (folder / "entry_points.txt").write_text(f"[{GROUP}]\n{eps}\n", encoding="utf-8")

    def remove_dist(self, name: str, version: str = "1.0.0") -> None:
        import shutil

        shutil.rmtree(self.root / f"{name.replace('-', '_')}-{version}.dist-info")

    def entry_points(self) -> Callable[[], list[importlib_metadata.EntryPoint]]:
        def source() -> list[importlib_metadata.EntryPoint]:
            return [
                ep
                for dist in importlib_metadata.distributions(path=[str(self.root)])
                for ep in dist.entry_points.select(group=GROUP)
            ]

        return source

    def node_module(self, module: str, node: str) -> str:
        """A package ``module`` whose ``plugin`` registers one node; returns the entry-point value."""
        self.write(f"{module}/__init__.py", '"""pack"""\n')
        self.write(f"{module}/plugin.py", NODE_MODULE.format(name=node, value=1.0))
        return f"{module}.plugin"

    def node_pack(self, dist: str, ep_name: str, module: str, node: str, **kw: object) -> None:
        self.dist(dist, {ep_name: self.node_module(module, node)}, **kw)


def purge(prefix_dir: Path) -> None:
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None) or ""
        if file.startswith(str(prefix_dir)):
            sys.modules.pop(name, None)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield Site(root)
    purge(root)


@pytest.fixture
def example_packs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The two packs under tests/packs, importable in-process."""
    for folder in ("example_pack", "broken_pack"):
        monkeypatch.syspath_prepend(str(PACKS / folder))
    yield
    for name in list(sys.modules):
        if name.split(".")[0] in ("nodeloom_example_pack", "nodeloom_broken_pack"):
            sys.modules.pop(name, None)


def plain_eps(**targets: str) -> Callable[[], list[importlib_metadata.EntryPoint]]:
    eps = [importlib_metadata.EntryPoint(name, value, GROUP) for name, value in targets.items()]
    return lambda: list(eps)


def kernel(tmp_path: Path, entry_points, env: Mapping[str, str] | None = None) -> Kernel:
    k = Kernel(tmp_path / "data", entry_points=entry_points, env=dict(env or {}))
    k.start()
    return k


# -- quarantine ---------------------------------------------------------------------------


def test_pack_failing_on_import_is_quarantined_while_others_load(tmp_path, example_packs):
    k = kernel(
        tmp_path,
        plain_eps(broken="nodeloom_broken_pack.plugin", example="nodeloom_example_pack.plugin"),
    )
    snap = k.snapshot
    assert set(snap.nodes) == {"example:Greet", "example:Double"}
    assert snap.packs["example"].error is None
    broken = snap.packs["broken"]
    assert broken.nodes == () and broken.enabled is True
    assert broken.error == "RuntimeError: broken pack: this module always fails to import"
    assert [(e.kind, e.source) for e in snap.errors] == [("plugin", "broken")]
    assert k.plugin_manager.get_plugin("broken") is None
    assert "nodeloom_broken_pack.plugin" not in sys.modules
    # The example pack's node really runs.
    greet = snap.lookup("Greet").entry
    assert greet.spec.execute(type("C", (), {"params": {"name": "Ada"}})())["text"] == "Hello, Ada!"


def test_pack_implementing_an_unknown_hook_is_quarantined(tmp_path, site):
    good, odd = site.mod("good"), site.mod("odd")
    site.node_pack("good-pack", "good", good, "Good")
    site.write(
        f"{odd}/plugin.py",
        """
        from nodeloom.kernel import hookimpl

        @hookimpl
        def register_widgets(register):
            register("nope")
        """,
    )
    site.write(f"{odd}/__init__.py", "")
    site.dist("odd-pack", {"odd": f"{odd}.plugin"})
    k = kernel(tmp_path, site.entry_points())
    packs = k.snapshot.packs
    assert not k.restart_required("good")
    assert "unknown hook 'register_widgets'" in packs["odd"].error
    assert "\n" not in packs["odd"].error
    assert packs["odd"].nodes == ()
    assert packs["good"].nodes == ("good:Good",)
    assert k.plugin_manager.get_plugin("odd") is None


def test_pack_whose_register_hook_raises_contributes_nothing(tmp_path, site):
    mod = site.mod("half")
    site.write(f"{mod}/__init__.py", "")
    site.write(
        f"{mod}/plugin.py",
        """
        from nodeloom.kernel import hookimpl, NodeSpec

        A = NodeSpec(name="A", category="T", execute=lambda call: {})

        @hookimpl
        def register_nodes(register):
            register(A)          # registered, then the hook fails: A must be discarded
            raise ValueError("half-way failure")
        """,
    )
    site.dist("half-pack", {"half": f"{mod}.plugin"})
    k = kernel(tmp_path, site.entry_points())
    assert k.snapshot.nodes == {}
    assert k.snapshot.packs["half"].error == "ValueError: half-way failure"


# -- pack ids -----------------------------------------------------------------------------


def test_pack_id_normalisation():
    assert normalize_pack_id("Acme-Vision.Tools") == "acme_vision_tools"
    assert normalize_pack_id("foundations") == "foundations"


def test_invalid_reserved_and_duplicate_ids_are_listed_with_errors_and_not_loaded(tmp_path, site):
    fp, ok, bad, res, dup_a, dup_b, clash = (
        site.mod(x) for x in ("fp", "ok", "bad", "res", "dupa", "dupb", "clash")
    )
    site.node_pack("nodeloom", "core_stuff", fp, "Core")  # a first-party distribution
    site.node_pack("ok-pack", "Acme-Vision", ok, "Ok")
    site.node_pack("bad-pack", "9lives", bad, "Bad")
    site.node_pack("res-pack", "note", res, "Res")
    site.node_pack("dup-a", "twin", dup_a, "TwinA")
    site.node_pack("dup-b", "twin", dup_b, "TwinB")
    site.node_pack("clash-pack", "core-stuff", clash, "Clash")  # first-party id taken by a third party
    k = kernel(tmp_path, site.entry_points())
    packs = k.snapshot.packs
    assert packs["acme_vision"].nodes == ("acme_vision:Ok",)
    assert packs["core_stuff"].source == "builtin" and packs["core_stuff"].nodes == ("Core",)
    assert "must match" in packs["9lives"].error
    assert packs["note"].error == "plugin id 'note' is reserved"
    assert "declared by several entry points" in packs["twin"].error
    assert "dup-a" in packs["twin"].error and "dup-b" in packs["twin"].error
    assert packs["twin"].nodes == () and packs["note"].nodes == ()
    # The first-party id keeps its slot; the third party's refusal is reported.
    assert any(
        e.source == "core_stuff" and "reserved" in e.message for e in k.snapshot.errors
    )
    for module in (bad, res, dup_a, dup_b, clash):
        assert f"{module}.plugin" not in sys.modules
    assert set(k.snapshot.nodes) == {"Core", "acme_vision:Ok"}


def test_first_party_plugins_register_bare_names_and_load_first(tmp_path, site):
    fp, third = site.mod("fp"), site.mod("third")
    site.node_pack("nodeloom", "zeta_builtin", fp, "Shared", version="0.1.0")
    site.node_pack("aaa-pack", "aaa", third, "Shared", version="2.3.4")
    k = kernel(tmp_path, site.entry_points())
    snap = k.snapshot
    assert snap.nodes["Shared"].provider == "builtin"
    assert snap.nodes["Shared"].pack_id == "nodeloom"
    assert snap.nodes["Shared"].pack_version == "0.1.0"
    third_entry = snap.nodes["aaa:Shared"]
    assert third_entry.provider == "plugin:aaa" and third_entry.pack_version == "2.3.4"
    assert third_entry.code_digest == package_digest(third)
    assert [r.id for r in k.loader.ordered()] == ["zeta_builtin", "aaa"]
    # Bare names resolve to the first-party node exactly; qualified keys never fall back.
    assert snap.lookup("Shared").entry.provider == "builtin"
    assert snap.lookup("aaa:Shared").entry is third_entry
    assert snap.lookup("zeta_builtin:Shared").error == "unknown_node_type"


def test_third_party_bare_name_fallback_and_ambiguity(tmp_path, site):
    a, b = site.mod("a"), site.mod("b")
    site.node_pack("pack-a", "alpha", a, "Blur")
    site.write(f"{b}/__init__.py", "")
    site.write(
        f"{b}/plugin.py",
        """
        from nodeloom.kernel import hookimpl, NodeSpec
        SPECS = [NodeSpec(name=n, category="T", execute=lambda call: {}) for n in ("Blur", "Sharpen")]

        @hookimpl
        def register_nodes(register):
            return SPECS          # a hook may return what it registers
        """,
    )
    site.dist("pack-b", {"beta": f"{b}.plugin"})
    snap = kernel(tmp_path, site.entry_points()).snapshot
    assert snap.lookup("Sharpen").entry.key == "beta:Sharpen"
    amb = snap.lookup("Blur")
    assert amb.entry is None and amb.error == "ambiguous_node_type"
    assert amb.candidates == ("alpha:Blur", "beta:Blur")


# -- environment and persistent state -----------------------------------------------------


def test_plugin_env_parsing():
    env = PluginEnv.from_env({"NODELOOM_PLUGINS": " a, ,B-c ", "NODELOOM_DISABLE_PLUGINS": "x,api"})
    assert env.only == frozenset({"a", "b_c"})
    assert env.disabled == frozenset({"x"})  # api can never be disabled
    assert env.excludes("z", first_party=False) and not env.excludes("z", first_party=True)
    assert env.excludes("x", first_party=True)
    assert PluginEnv.from_env({"NODELOOM_PLUGINS": ""}).only == frozenset()
    assert PluginEnv.from_env({}).only is None


@pytest.fixture
def three_packs(site: Site) -> Site:
    site.dist(
        "nodeloom",
        {"fp": site.node_module(site.mod("fp"), "Core"), "api": site.node_module(site.mod("api"), "ApiNode")},
    )
    site.node_pack("pack-one", "one", site.mod("one"), "One")
    site.node_pack("pack-two", "two", site.mod("two"), "Two")
    return site


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {"Core", "ApiNode", "one:One", "two:Two"}),
        ({"NODELOOM_PLUGINS": ""}, {"Core", "ApiNode"}),
        ({"NODELOOM_PLUGINS": "two"}, {"Core", "ApiNode", "two:Two"}),
        ({"NODELOOM_DISABLE_PLUGINS": "fp,one,api"}, {"ApiNode", "two:Two"}),
    ],
)
def test_env_filters(tmp_path, three_packs, env, expected):
    k = kernel(tmp_path, three_packs.entry_points(), env)
    assert set(k.snapshot.nodes) == expected
    # Excluded plugins are still listed, as disabled and without nodes.
    assert [p.id for p in k.plugins()] == ["api", "custom", "fp", "one", "two"]
    for p in k.plugins():
        assert p.enabled == bool(p.nodes) or p.id == "custom"
        assert p.error is None


def test_enable_disable_is_persisted_and_rebuilds(tmp_path, three_packs):
    k = kernel(tmp_path, three_packs.entry_points())
    gen = k.generation
    changed, report = k.set_enabled("one", False)
    assert changed and report.generation == gen + 1 == k.generation
    assert "one:One" not in k.snapshot.nodes
    info = k.plugin("one")
    assert info.enabled is False and info.nodes == () and info.error is None
    state = json.loads((tmp_path / "data" / "state" / "plugins.json").read_text())
    assert state == {"disabled": ["one"]}
    # Same state again: nothing rebuilt, same generation.
    changed, report = k.set_enabled("one", False)
    assert not changed and report.generation == k.generation == gen + 1
    # A new process on the same data dir keeps the choice.
    k2 = kernel(tmp_path, three_packs.entry_points())
    assert "one:One" not in k2.snapshot.nodes and k2.plugin("one").enabled is False
    changed, _ = k2.set_enabled("one", True)
    assert changed and "one:One" in k2.snapshot.nodes
    assert json.loads((tmp_path / "data" / "state" / "plugins.json").read_text()) == {"disabled": []}
    # First-party plugins can be disabled too.
    k2.set_enabled("fp", False)
    assert "Core" not in k2.snapshot.nodes


def test_enable_disable_refusals(tmp_path, three_packs):
    k = kernel(tmp_path, three_packs.entry_points(), {"NODELOOM_PLUGINS": "one"})
    gen = k.generation
    with pytest.raises(PluginNotFound, match="Plugin 'nope' not found"):
        k.set_enabled("nope", False)
    with pytest.raises(PluginRequired, match="Plugin 'api' is required and cannot be disabled"):
        k.set_enabled("api", False)
    with pytest.raises(PluginExcluded, match="Plugin 'two' is excluded by the server environment") as info:
        k.set_enabled("two", True)
    assert info.value.code == "plugin_excluded"
    assert k.generation == gen
    assert not (tmp_path / "data" / "state" / "plugins.json").exists()


def test_state_file_disabling_api_is_ignored(tmp_path, three_packs):
    state = tmp_path / "data" / "state"
    state.mkdir(parents=True)
    (state / "plugins.json").write_text('{"disabled": ["api", "two"]}')
    k = kernel(tmp_path, three_packs.entry_points())
    assert "ApiNode" in k.snapshot.nodes and "two:Two" not in k.snapshot.nodes


def test_disabling_custom_unloads_custom_files(tmp_path, three_packs):
    k = Kernel(tmp_path / "data", entry_points=three_packs.entry_points(), env={})
    k.data_dir.ensure()
    (k.data_dir.area("custom_nodes") / "mine.py").write_text(
        "from nodeloom.kernel import NodeSpec\nX = NodeSpec(name='Mine', category='C', execute=lambda c: {})\n"
    )
    k.start()
    assert k.snapshot.nodes["Mine"].provider == "custom"
    k.set_enabled("custom", False)
    assert "Mine" not in k.snapshot.nodes and k.plugin("custom").enabled is False
    assert (k.data_dir.area("custom_nodes") / "mine.py").exists()
    k.set_enabled("custom", True)
    assert "Mine" in k.snapshot.nodes


# -- metadata, digests and re-imports ------------------------------------------------------


def test_plugin_metadata_and_manifest(tmp_path, site):
    mod = site.mod("meta")
    site.node_pack(
        "acme-vision",
        "acme",
        mod,
        "Blur",
        version="3.1.4",
        summary="Vision nodes.",
        description="# Acme\n\nLong description.\n",
        extra_headers={
            "Requires-Dist": "numpy>=1",
            "Requires-Python": ">=3.11",
            "License": "MIT",
            "Author": "Ada Lovelace",
            "Project-URL": "Homepage, https://example.org/acme",
        },
    )
    k = kernel(tmp_path, site.entry_points())
    info = k.plugin("acme")
    assert (info.name, info.version, info.description, info.source) == ("acme-vision", "3.1.4", "Vision nodes.", "entry-point")
    assert info.hooks == ("register_nodes",)
    details = k.plugin_details("acme")
    manifest = details["manifest"]
    assert manifest["distribution"] == "acme-vision"
    assert manifest["entry_point"] == {"group": GROUP, "name": "acme", "value": f"{mod}.plugin"}
    assert manifest["module"] == f"{mod}.plugin"
    assert manifest["requires"] == ["numpy>=1"]
    assert manifest["requires_python"] == ">=3.11"
    assert manifest["homepage"] == "https://example.org/acme"
    assert manifest["license"] == "MIT" and manifest["authors"] == ["Ada Lovelace"]
    assert details["readme"].startswith("# Acme")
    custom = k.plugin_details("custom")
    assert custom["manifest"]["distribution"] is None and custom["readme"] == ""
    with pytest.raises(PluginNotFound):
        k.plugin_details("nope")


def test_readme_falls_back_to_file_next_to_module(tmp_path, site):
    mod = site.mod("nodist")
    site.write(f"{mod}/__init__.py", "")
    site.write(f"{mod}/plugin.py", NODE_MODULE.format(name="N", value=1.0))
    k = kernel(tmp_path, plain_eps(nodist=f"{mod}.plugin"))
    assert k.plugin_details("nodist")["readme"] == ""
    site.write(f"{mod}/README.md", "# Local readme\n")
    assert k.plugin_details("nodist")["readme"] == "# Local readme\n"
    info = k.plugin("nodist")
    assert (info.name, info.version, info.distribution) == ("nodist", None, None)


def test_code_digest_is_order_independent_and_framed():
    a = code_digest([("a.py", b"x"), ("b.py", b"y")])
    assert a == code_digest([("b.py", b"y"), ("a.py", b"x")])
    assert a != code_digest([("a.py", b"xb.py"), ("", b"y")])
    assert len(a) == 64


def test_changed_pack_is_reimported_on_reload_and_unchanged_one_is_kept(tmp_path, site):
    changing, stable = site.mod("changing"), site.mod("stable")
    site.node_pack("changing-pack", "changing", changing, "Before")
    site.node_pack("stable-pack", "stable", stable, "Same")
    k = kernel(tmp_path, site.entry_points())
    stable_module = sys.modules[f"{stable}.plugin"]
    old_digest = k.plugin("changing").code_digest
    site.write(f"{changing}/plugin.py", NODE_MODULE.format(name="After", value=2.0))
    report = k.reload()
    assert "changing:After" in k.snapshot.nodes and "changing:Before" not in k.snapshot.nodes
    assert k.plugin("changing").code_digest != old_digest
    assert sys.modules[f"{stable}.plugin"] is stable_module
    assert report.plugins == 2 and report.generation == 2


def test_uninstalled_pack_disappears_and_new_one_appears_on_reload(tmp_path, site):
    first, later = site.mod("first"), site.mod("later")
    site.node_pack("first-pack", "first", first, "A")
    k = kernel(tmp_path, site.entry_points())
    assert "first:A" in k.snapshot.nodes
    site.remove_dist("first-pack")
    site.node_pack("later-pack", "later", later, "B")
    k.reload()
    assert set(k.snapshot.nodes) == {"later:B"}
    assert "first" not in k.snapshot.packs
    assert k.plugin_manager.get_plugin("first") is None


def test_fixed_pack_recovers_on_reload(tmp_path, site):
    mod = site.mod("flaky")
    site.write(f"{mod}/__init__.py", "")
    site.write(f"{mod}/plugin.py", "raise ImportError('missing dependency')\n")
    site.dist("flaky-pack", {"flaky": f"{mod}.plugin"})
    k = kernel(tmp_path, site.entry_points())
    assert k.plugin("flaky").error == "ImportError: missing dependency"
    site.write(f"{mod}/plugin.py", NODE_MODULE.format(name="Fixed", value=1.0))
    k.reload()
    assert k.plugin("flaky").error is None and "flaky:Fixed" in k.snapshot.nodes


# -- startup registrations and lifecycle hooks ---------------------------------------------


def test_startup_registrations_lifecycle_and_restart_required(tmp_path, site):
    mod, bad = site.mod("svc"), site.mod("badsvc")
    site.write(f"{mod}/__init__.py", "")
    site.write(
        f"{mod}/plugin.py",
        """
        import asyncio
        from nodeloom.kernel import hookimpl

        CALLS = []

        class Ext:
            def value_nbytes(self, value):
                return None

        class Exec:
            pass

        BLUEPRINT = object()

        @hookimpl
        def register_run_extensions(register):
            register(Ext())

        @hookimpl
        def register_executors(register):
            register("ray", Exec())

        @hookimpl
        def register_routes(register):
            register(BLUEPRINT)

        @hookimpl
        def register_model_sources(register):
            register("url", "url-source")

        @hookimpl
        def startup(app):
            async def later():
                await asyncio.sleep(0)
                CALLS.append(("startup", app))
            return later()

        @hookimpl
        def shutdown(app):
            CALLS.append(("shutdown", app))
        """,
    )
    site.write(f"{bad}/__init__.py", "")
    site.write(
        f"{bad}/plugin.py",
        """
        from nodeloom.kernel import hookimpl, NodeSpec

        @hookimpl
        def register_nodes(register):
            register(NodeSpec(name="Never", category="T", execute=lambda c: {}))

        @hookimpl
        def register_executors(register):
            raise RuntimeError("no cluster")
        """,
    )
    site.dist("svc-pack", {"svc": f"{mod}.plugin"})
    site.dist("bad-svc", {"badsvc": f"{bad}.plugin"})
    k = kernel(tmp_path, site.entry_points())
    plugin = sys.modules[f"{mod}.plugin"]
    assert k.routes == [("svc", plugin.BLUEPRINT)]
    assert type(k.run_extensions[0]).__name__ == "Ext"
    assert k.model_sources == {"url": "url-source"}
    assert "ray" in k.executors
    assert k.plugin("badsvc").error == "RuntimeError: no cluster"
    assert "badsvc:Never" not in k.snapshot.nodes
    assert k.restart_required("svc") and k.restart_required("badsvc")
    assert k.call_startup("APP") == []
    k.call_shutdown("APP")
    assert plugin.CALLS == [("startup", "APP"), ("shutdown", "APP")]


async def test_async_startup_runs_on_the_callers_loop(tmp_path, site):
    import asyncio

    mod = site.mod("asvc")
    site.write(f"{mod}/__init__.py", "")
    site.write(
        f"{mod}/plugin.py",
        """
        import asyncio
        from nodeloom.kernel import hookimpl
        LOOPS = []

        @hookimpl
        async def startup(app):
            LOOPS.append(asyncio.get_running_loop())
        """,
    )
    site.dist("asvc-pack", {"asvc": f"{mod}.plugin"})
    k = kernel(tmp_path, site.entry_points())
    assert await k.acall_startup(None) == []
    assert sys.modules[f"{mod}.plugin"].LOOPS == [asyncio.get_running_loop()]


# -- the real installation ------------------------------------------------------------------


def test_installed_first_party_plugins_are_discovered_from_nodeloom_itself(tmp_path):
    """Default discovery reads the installed entry points: nodeloom's own are first-party."""
    import importlib_metadata as md

    k = Kernel(tmp_path / "data", env={})
    k.start()
    declared = {ep.name for ep in md.entry_points(group=GROUP) if ep.dist and ep.dist.name == "nodeloom"}
    assert declared, "nodeloom declares its plugins as entry points"
    version = md.version("nodeloom")
    for pid in declared:
        info = k.plugin(pid)
        assert info.source == "builtin" and info.version == version and info.name == pid
        assert info.error is None, info.error
        for key in info.nodes:
            assert ":" not in key and k.snapshot.nodes[key].provider == "builtin"
    assert k.reload().generation == 2


def test_local_executor_shares_the_kernels_run_extensions(tmp_path):
    from nodeloom.kernel.engine import LocalExecutor

    k = kernel(tmp_path, plain_eps())
    local = k.executors["local"]
    assert isinstance(local, LocalExecutor)
    assert local.env.extensions is k.run_extensions
    assert k.executors["local"] is local


def test_lifecycle_hooks_skip_quarantined_plugins_and_reach_disabled_ones(tmp_path, site):
    calls_mod = site.mod("calls")
    site.write(f"{calls_mod}.py", "CALLS = []\n")
    body = """
from nodeloom.kernel import hookimpl, NodeSpec
from {calls} import CALLS

@hookimpl
def register_nodes(register):
    if {fail}:
        raise RuntimeError("cannot register")
    register(NodeSpec(name="N", category="T", execute=lambda c: {{}}))

@hookimpl
def startup(app):
    CALLS.append(("startup", {name!r}))

@hookimpl
def shutdown(app):
    CALLS.append(("shutdown", {name!r}))

@hookimpl
def register_routes(register):
    register({name!r} + "-blueprint")
"""
    entry_points = {}
    for name, fail in (("fine", False), ("failing", True), ("dropped", False)):
        mod = site.mod(name)
        site.write(f"{mod}/__init__.py", "")
        site.write(f"{mod}/plugin.py", body.format(calls=calls_mod, fail=fail, name=name))
        entry_points[name] = f"{mod}.plugin"
    site.dist("life-pack", entry_points)
    k = kernel(tmp_path, site.entry_points())
    calls = sys.modules[calls_mod].CALLS
    assert k.routes == [("dropped", "dropped-blueprint"), ("fine", "fine-blueprint")]
    assert k.call_startup(None) == []
    assert sorted(calls) == [("startup", "dropped"), ("startup", "fine")]
    k.set_enabled("dropped", False)
    assert k.plugin_route_enabled("dropped") is False and k.plugin_route_enabled("fine") is True
    assert k.restart_required("dropped")
    calls.clear()
    k.call_shutdown(None)
    assert sorted(calls) == [("shutdown", "dropped"), ("shutdown", "fine")]


def test_failing_lifecycle_hook_is_reported_and_others_still_run(tmp_path, site):
    calls_mod = site.mod("calls2")
    site.write(f"{calls_mod}.py", "CALLS = []\n")
    for name, raising in (("aa", True), ("bb", False)):
        mod = site.mod(name)
        site.write(f"{mod}/__init__.py", "")
        site.write(
            f"{mod}/plugin.py",
            f"from nodeloom.kernel import hookimpl\nfrom {calls_mod} import CALLS\n"
            f"@hookimpl\ndef startup(app):\n    CALLS.append({name!r})\n"
            + ("    raise OSError('port busy')\n" if raising else ""),
        )
        site.dist(f"{name}-pack", {name: f"{mod}.plugin"})
    k = kernel(tmp_path, site.entry_points())
    problems = k.call_startup(None)
    assert [(p.source, p.message) for p in problems] == [("aa", "startup failed: OSError: port busy")]
    assert sys.modules[calls_mod].CALLS == ["aa", "bb"]
