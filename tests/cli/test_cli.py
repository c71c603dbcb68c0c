"""The nodeloom command line, driven in-process through click's runner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nodeloom.cli import main


def _graph(*nodes, edges=(), trigger=()):
    all_edges = [{"source": "s", "sourceHandle": "trigger", "target": t, "type": "trigger"} for t in trigger]
    return {"nodes": [{"id": "s", "type": "Start"}, *nodes], "edges": [*all_edges, *edges]}


@pytest.fixture
def cli(tmp_path):
    runner = CliRunner()

    def invoke(*args, graph=None):
        argv = list(args)
        if graph is not None:
            path = tmp_path / "graph.json"
            path.write_text(json.dumps(graph), encoding="utf-8")
            argv.insert(1, str(path))
        return runner.invoke(main, [*argv, "--data-dir", str(tmp_path / "data")], catch_exceptions=False)

    return invoke


def test_run_prints_print_output_and_exits_zero(cli):
    graph = _graph(
        {"id": "t", "type": "TensorCreate", "data": {"params": {"shape": "2", "fill": "ones"}}},
        {"id": "p", "type": "Print", "data": {"params": {"label": "ones"}}},
        edges=[{"source": "t", "sourceHandle": "tensor", "target": "p", "targetHandle": "value"}],
        trigger=["t"],
    )
    result = cli("run", "--seed", "3", graph=graph)
    assert result.exit_code == 0, result.output
    assert "[ones] tensor([1., 1.])" in result.output


def test_graph_outputs_go_to_stdout_as_json(cli):
    graph = _graph(
        {"id": "t", "type": "TensorCreate", "data": {"params": {"shape": "3", "fill": "arange"}}},
        {"id": "o", "type": "GraphOutput", "data": {"params": {"name": "xs"}}},
        edges=[{"source": "t", "sourceHandle": "tensor", "target": "o", "targetHandle": "value"}],
        trigger=["t"],
    )
    out = cli("run", graph=graph)
    assert out.exit_code == 0, out.output
    # stdout holds only the outputs; logs and the summary line went to stderr.
    assert json.loads(out.stdout)["xs"]["values"] == [0.0, 1.0, 2.0]
    assert "completed in" in out.stderr


def test_node_failure_exits_one(cli):
    graph = _graph(
        {"id": "r", "type": "Reshape", "data": {"params": {"shape": "5,5"}}},
        {"id": "t", "type": "TensorCreate", "data": {"params": {"shape": "2", "fill": "ones"}}},
        edges=[{"source": "t", "sourceHandle": "tensor", "target": "r", "targetHandle": "tensor"}],
        trigger=["t"],
    )
    result = cli("run", graph=graph)
    assert result.exit_code == 1
    assert "error" in result.output


def test_invalid_graph_exits_two_with_the_validation_message(cli):
    graph = _graph({"id": "x", "type": "NoSuchNode"}, trigger=["x"])
    result = cli("run", graph=graph)
    assert result.exit_code == 2
    assert "Unknown node type: NoSuchNode (node x)" in result.output
    assert cli("validate", graph=graph).exit_code == 2


def test_unreadable_graph_file_is_a_usage_error(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    result = cli("run", str(bad))
    assert result.exit_code == 2 and "is not valid JSON" in result.output
    missing = cli("run", str(tmp_path / "nope.json"))
    assert missing.exit_code == 2 and "not found" in missing.output


def test_validate_json_report_and_drafts_do_not_fail(cli):
    graph = _graph(
        {"id": "t", "type": "TensorCreate"},
        {"id": "draft", "type": "Linear"},
        trigger=["t"],
    )
    result = cli("validate", "--json", graph=graph)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["valid"] is True
    assert any(i["code"] == "missing_required_input" and i["draft"] for i in report["issues"])


def test_nodes_and_plugins_listings(cli):
    nodes = cli("nodes", "--category", "Control")
    assert nodes.exit_code == 0 and "Start" in nodes.output and "Conv2d" not in nodes.output
    plugins = json.loads(cli("plugins", "--json").output)
    assert {p["id"] for p in plugins} >= {"core_nodes", "api", "custom"}
