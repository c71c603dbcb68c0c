"""Where Ray is not installed, asking for the ``ray`` executor fails clearly, naming the extra.

These tests never need Ray: they hide it (``find_spec("ray")`` answers None), so they also run
where the extra is missing. The kernels see nodeloom's plugins through a throw-away site that declares
the executor plugin, so they hold whether or not the installed metadata declares it yet.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nodeloom.cli import main
from nodeloom.kernel import host
from tests.api.support import entry_point_source, write_dist
from tests.ray.support import FIRST_PARTY, NODELOOM_VERSION

HINT = "pip install 'nodeloom[ray]'"


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None if name == "ray" else real(name, *a, **k))
    site = tmp_path / "site"
    write_dist(site, "nodeloom", FIRST_PARTY, version=NODELOOM_VERSION)  # first-party, as once declared
    monkeypatch.setattr(host, "default_entry_points", entry_point_source(site))


def test_cli_run_with_the_ray_executor_exits_2_naming_the_extra(no_ray: None, tmp_path: Path) -> None:
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"nodes": [{"id": "s", "type": "Start"}], "edges": []}), encoding="utf-8")
    args = ["run", str(graph), "--executor", "ray", "--data-dir", str(tmp_path / "d")]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "executor 'ray' is unavailable" in result.output and HINT in result.output


def test_cli_serve_with_the_ray_executor_exits_2_naming_the_extra(no_ray: None, tmp_path: Path) -> None:
    args = ["serve", "--port", "0", "--executor", "ray", "--ray-address", "127.0.0.1:1", "--data-dir", str(tmp_path / "d")]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert HINT in result.output


def test_the_execute_option_is_refused_with_the_extra_named(no_ray: None, tmp_path: Path) -> None:
    from nodeloom.plugins.api_routes.ws_messages import BadMessage, parse_message
    from nodeloom.kernel.executors import executor_problem
    from nodeloom.plugins.ray_executor import RayExecutor

    executors = {"local": object(), "ray": RayExecutor()}
    message = json.dumps({"action": "execute", "run_id": "r1", "executor": "ray", "nodes": [], "edges": []})
    with pytest.raises(BadMessage) as refused:
        parse_message(message, lambda name: executor_problem(executors, name or "local"))
    frame = json.loads(refused.value.frame.text)
    assert frame["code"] == "invalid_run_option" and frame["run_id"] == "r1"
    assert HINT in frame["error"] and frame["details"][0]["loc"] == ["executor"]
