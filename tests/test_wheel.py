"""A wheel built from the repo works in a clean venv, with third-party packs beside it.

Slow (one venv for the module): builds three wheels, installs them with torch into a fresh
virtual environment and drives the installed ``nodeloom`` command from outside the repo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKS = ROOT / "tests" / "packs"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=800)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin dir, work dir, env) with nodeloom and both example packs installed from wheels."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    for project in (ROOT, PACKS / "example_pack", PACKS / "broken_pack"):
        _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(project)], tmp)
    wheels = sorted(dist.glob("*.whl"))
    assert len(wheels) == 3, wheels
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    torch_spec = os.environ.get("NODELOOM_TORCH_SPEC", "torch==2.13.0")
    # A clean environment for pip too: a PYTHONPATH left by an earlier test (Ray's driver sets one)
    # would make pip see the repo's editable nodeloom as already installed and skip the wheel.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "NODELOOM_", "VIRTUAL_ENV"))}
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", torch_spec, "pytest", *map(str, wheels)], tmp, env)
    work = tmp / "work"
    work.mkdir()
    env["NODELOOM_DATA_DIR"] = str(tmp / "data")
    return bin_dir, work, env


def test_installed_modules_come_from_the_venv_not_the_repo(installed):
    bin_dir, work, env = installed
    code = (
        "import importlib.util, json, nodeloom.kernel, nodeloom.plugins.core_nodes, nodeloom.torchkit\n"
        "print(json.dumps({'kernel': nodeloom.kernel.__file__,\n"
        "  'bare': [n for n in ('kernel', 'api', 'torchkit', 'plugins') if importlib.util.find_spec(n)]}))\n"
    )
    out = json.loads(_run([str(bin_dir / "python"), "-c", code], work, env).stdout)
    assert "site-packages" in out["kernel"] and str(ROOT) not in out["kernel"]
    assert out["bare"] == []


def test_package_data_is_in_the_wheel(installed):
    bin_dir, work, env = installed
    code = (
        "import json; from nodeloom.testing import make_kernel\n"
        "import nodeloom.kernel.export_runner  # reads its script template from package data\n"
        "snap = make_kernel(builtin=True).snapshot\n"
        "from importlib.resources import files\n"
        "iris = files('nodeloom.plugins.core_nodes').joinpath('samples/iris.csv').read_text().splitlines()\n"
        "print(json.dumps({'presets': sorted(snap.presets), 'examples': len(snap.examples), 'iris': len(iris)}))\n"
    )
    out = json.loads(_run([str(bin_dir / "python"), "-c", code], work, env).stdout)
    assert {"LSTM Sequence", "Simple CNN Classifier", "Training Pipeline"} <= set(out["presets"])
    assert out["examples"] >= 15
    assert out["iris"] == 151  # header + 150 rows


def test_nodes_lists_pack_nodes_namespaced(installed):
    bin_dir, work, env = installed
    out = _run([str(bin_dir / "nodeloom"), "nodes", "--json"], work, env).stdout
    keys = {d["node_name"]: d for d in json.loads(out)}
    assert keys["example:Greet"]["provider"] == "plugin:example"
    assert "example:Double" in keys
    assert keys["Conv2d"]["provider"] == "builtin"
    text = _run([str(bin_dir / "nodeloom"), "nodes"], work, env).stdout
    assert "example:Greet" in text


def test_broken_pack_is_quarantined_and_the_rest_load(installed):
    bin_dir, work, env = installed
    rows = {r["id"]: r for r in json.loads(_run([str(bin_dir / "nodeloom"), "plugins", "--json"], work, env).stdout)}
    assert rows["broken"]["error"] and rows["broken"]["nodes"] == 0
    assert rows["example"]["error"] is None and rows["example"]["nodes"] == 2
    assert rows["core_nodes"]["source"] == "builtin" and rows["core_nodes"]["nodes"] > 50


def test_headless_run_of_a_graph_with_pack_and_builtin_nodes(installed):
    bin_dir, work, env = installed
    graph = {
        "name": "wheel-smoke",
        "nodes": [
            {"id": "s", "type": "Start"},
            {"id": "g", "type": "Greet", "data": {"params": {"name": "wheel"}}},
            {"id": "p", "type": "Print", "data": {"params": {"label": "msg"}}},
            {"id": "t", "type": "TensorCreate", "data": {"params": {"shape": "2,3", "fill": "ones"}}},
            {"id": "m", "type": "Mean", "data": {"params": {"dim": "0,1"}}},
            {"id": "o", "type": "GraphOutput", "data": {"params": {"name": "mean"}}},
        ],
        "edges": [
            {"source": "s", "sourceHandle": "trigger", "target": "g", "type": "trigger"},
            {"source": "s", "sourceHandle": "trigger", "target": "t", "type": "trigger"},
            {"source": "g", "sourceHandle": "text", "target": "p", "targetHandle": "value"},
            {"source": "t", "sourceHandle": "tensor", "target": "m", "targetHandle": "tensor"},
            {"source": "m", "sourceHandle": "tensor", "target": "o", "targetHandle": "value"},
        ],
    }
    path = work / "graph.json"
    path.write_text(json.dumps(graph), encoding="utf-8")
    proc = _run([str(bin_dir / "nodeloom"), "run", str(path), "--seed", "1"], work, env)
    assert json.loads(proc.stdout)["mean"]["values"] == 1.0
    assert "[msg] Hello, wheel!" in proc.stderr
    bad = work / "bad.json"
    bad.write_text(json.dumps({"nodes": [{"id": "x", "type": "NoSuchNode"}], "edges": []}), encoding="utf-8")
    proc = _run([str(bin_dir / "nodeloom"), "run", str(bad)], work, env, check=False)
    assert proc.returncode == 2 and "Unknown node type: NoSuchNode" in proc.stderr


def test_example_pack_tests_pass_against_the_installed_nodeloom(installed):
    bin_dir, work, env = installed
    proc = _run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 str(PACKS / "example_pack" / "tests")], work, env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout
