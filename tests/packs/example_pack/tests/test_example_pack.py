"""The example pack's own tests, written the way docs/plugins.md teaches pack authors."""

import pytest

from nodeloom.testing import NodeRunFailed, registered_keys, run_graph, run_node


@pytest.fixture
def snapshot(nodeloom_registry):
    return nodeloom_registry("nodeloom_example_pack.plugin", pack_id="example")


def test_pack_registers_its_nodes_under_its_namespace(snapshot):
    assert registered_keys(snapshot, "example") == ["example:Double", "example:Greet"]
    assert snapshot.presets["Double Twice"].available


def test_greet_uses_its_param(snapshot):
    assert run_node(snapshot, "example:Greet", params={"name": "Ada"}) == {"text": "Hello, Ada!"}
    assert run_node(snapshot, "Greet") == {"text": "Hello, world!"}  # bare-name fallback


def test_double_doubles_its_input(snapshot):
    assert run_node(snapshot, "example:Double", {"value": 21}) == {"value": 42}


def test_missing_input_is_a_validation_error(snapshot):
    with pytest.raises(NodeRunFailed, match="Missing required input 'value'"):
        run_node(snapshot, "example:Double")


def test_preset_runs_through_the_engine(snapshot):
    assert run_node(snapshot, "preset:Double Twice", {"value": 5}) == {"value": 20}


def test_graph_with_a_pack_node_runs(nodeloom_kernel):
    kernel = nodeloom_kernel("nodeloom_example_pack.plugin", pack_id="example", builtin=True)
    graph = {
        "nodes": [
            {"id": "s", "type": "Start"},
            {"id": "g", "type": "example:Greet", "data": {"params": {"name": "pack"}}},
            {"id": "p", "type": "Print", "data": {"params": {"label": "greeting"}}},
        ],
        "edges": [
            {"source": "s", "sourceHandle": "trigger", "target": "g", "targetHandle": "", "type": "trigger"},
            {"source": "g", "sourceHandle": "text", "target": "p", "targetHandle": "value"},
        ],
    }
    result = run_graph(kernel, graph)
    assert result.ok, result.terminal
    assert result.results["p"]["__log__"] == "[greeting] Hello, pack!"
