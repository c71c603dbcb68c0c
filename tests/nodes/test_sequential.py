"""SequentialModel: the v2 DAG spec builder (engine.md §4.17) and the node around it."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from nodeloom.plugins.core_nodes.nodes.sequential import DEFAULT_LAYERS, SpecError, build_model
from nodeloom.plugins.core_nodes.nodes.training import sequential_model

from .helpers import call_node


def chain(*layers: tuple[str, str, dict | None], in_ports=("x",), out_ports=("y",)) -> dict:
    """A linear spec Input -> layers... -> Output (first ports only)."""
    nodes = [
        {"id": "in", "type": "Input", "ports": [{"id": f"p_{n}", "name": n} for n in in_ports]}
    ]
    for node_id, kind, params in layers:
        entry = {"id": node_id, "type": kind}
        if params is not None:
            entry["params"] = params
        nodes.append(entry)
    nodes.append(
        {"id": "out", "type": "Output", "ports": [{"id": f"q_{n}", "name": n} for n in out_ports]}
    )
    ids = [n["id"] for n in nodes]
    edges = []
    for i, (src, tgt) in enumerate(zip(ids, ids[1:])):
        edge = {"id": f"e{i}", "source": src, "target": tgt}
        if src == "in":
            edge["sourceHandle"] = f"p_{in_ports[0]}"
        if tgt == "out":
            edge["targetHandle"] = f"q_{out_ports[0]}"
        edges.append(edge)
    return {"version": 2, "nodes": nodes, "edges": edges}


RESIDUAL = {
    "version": 2,
    "nodes": [
        {"id": "in", "type": "Input", "ports": [{"id": "p_img", "name": "img"}]},
        {
            "id": "c",
            "type": "Conv2d",
            "params": {"in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding": 1},
        },
        {"id": "a", "type": "GELU"},
        {
            "id": "skip",
            "type": "Conv2d",
            "params": {"in_channels": 3, "out_channels": 8, "kernel_size": 1},
        },
        {"id": "sum", "type": "Add"},
        {"id": "gap", "type": "AdaptiveAvgPool2d", "params": {"output_size": 1}},
        {"id": "fl", "type": "Flatten"},
        {"id": "out", "type": "Output", "ports": [{"id": "p_logits", "name": "logits"}]},
    ],
    "edges": [
        {"id": "e1", "source": "in", "sourceHandle": "p_img", "target": "c"},
        {"id": "e2", "source": "in", "sourceHandle": "p_img", "target": "skip"},
        {"id": "e3", "source": "c", "target": "a"},
        {"id": "e4", "source": "a", "target": "sum"},
        {"id": "e5", "source": "skip", "target": "sum"},
        {"id": "e6", "source": "sum", "target": "gap"},
        {"id": "e7", "source": "gap", "target": "fl"},
        {"id": "e8", "source": "fl", "target": "out", "targetHandle": "p_logits"},
    ],
}


def test_default_spec_is_the_mnist_cnn():
    model = call_node(sequential_model)["model"]
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    n_params = sum(p.numel() for p in model.parameters())
    expected = (1 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (3136 * 128 + 128) + (128 * 10 + 10)
    assert n_params == expected


def test_construction_is_seeded_by_the_node_seed():
    a = call_node(sequential_model, seed=7)["model"].state_dict()
    b = call_node(sequential_model, seed=7)["model"].state_dict()
    c = call_node(sequential_model, seed=8)["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["layers.fc2.weight"], c["layers.fc2.weight"])


def test_construction_restores_the_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    call_node(sequential_model, seed=3)
    assert torch.equal(torch.rand(3), expected)


def test_residual_dag_matches_a_hand_computation():
    torch.manual_seed(0)
    model = build_model(json.dumps(RESIDUAL))
    x = torch.randn(2, 3, 6, 6)
    layers = model.layers
    expected = (nn.functional.gelu(layers["c"](x)) + layers["skip"](x)).mean(dim=(2, 3))
    assert torch.allclose(model(x), expected, atol=1e-6)
    assert torch.allclose(model(img=x), expected, atol=1e-6)


def test_activations_are_not_in_place():
    spec = chain(
        ("r", "ReLU", None), ("l", "LeakyReLU", None), ("s", "SiLU", None), ("e", "ELU", None)
    )
    model = build_model(spec)
    for layer in model.layers.values():
        assert getattr(layer, "inplace", False) is False
    x = torch.randn(4, 5)
    before = x.clone()
    model(x)
    assert torch.equal(x, before)


def test_merge_nodes_fold_in_edge_order():
    nodes = [
        {
            "id": "in",
            "type": "Input",
            "ports": [{"id": "a", "name": "a"}, {"id": "b", "name": "b"}],
        },
        {"id": "sub", "type": "Subtract"},
        {"id": "cat", "type": "Concat", "params": {"dim": 1}},
        {"id": "mean", "type": "Mean"},
        {
            "id": "out",
            "type": "Output",
            "ports": [
                {"id": "o1", "name": "diff"},
                {"id": "o2", "name": "cat"},
                {"id": "o3", "name": "mean"},
            ],
        },
    ]
    edges = [
        {"source": "in", "sourceHandle": "b", "target": "sub"},
        {"source": "in", "sourceHandle": "a", "target": "sub"},
        {"source": "in", "sourceHandle": "a", "target": "cat"},
        {"source": "in", "sourceHandle": "b", "target": "cat"},
        {"source": "in", "sourceHandle": "a", "target": "mean"},
        {"source": "in", "sourceHandle": "b", "target": "mean"},
        {"source": "sub", "target": "out", "targetHandle": "o1"},
        # sourceHandle on a non-Input edge is ignored (CodefyUI rejected it).
        {"source": "cat", "sourceHandle": "whatever", "target": "out", "targetHandle": "o2"},
        {"source": "mean", "target": "out", "targetHandle": "o3"},
    ]
    model = build_model({"version": 2, "nodes": nodes, "edges": edges})
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    out = model(a, b)
    assert list(out) == ["diff", "cat", "mean"]
    assert torch.equal(out["diff"], b - a)
    assert torch.equal(out["cat"], torch.cat([a, b], dim=1))
    assert torch.allclose(out["mean"], (a + b) / 2)
    with pytest.raises(TypeError):
        model(a)
    with pytest.raises(TypeError):
        model(a=a, c=b)


def test_wrappers_build_and_run():
    spec = chain(
        ("lin", "Linear", {"in_features": 8, "out_features": 12}),
        ("rs", "Reshape", {"shape": "3,4"}),
        ("enc", "TransformerEncoder", {"d_model": 4, "nhead": 2, "dim_feedforward": 8}),
        ("dec", "TransformerDecoder", {"d_model": 4, "nhead": 2, "dim_feedforward": 8}),
        ("att", "MultiHeadAttention", {"embed_dim": 4, "num_heads": 2}),
        ("rnn", "LSTM", {"input_size": 4, "hidden_size": 6}),
        ("gru", "GRU", {"input_size": 6, "hidden_size": 5}),
        ("sel", "SelectIndex", {"dim": 1, "index": -1}),
        ("sm", "Softmax", None),
    )
    model = build_model(spec).eval()
    y = model(torch.randn(2, 8))
    assert y.shape == (2, 5)
    assert torch.allclose(y.sum(-1), torch.ones(2))


def _error(spec) -> str:
    with pytest.raises(SpecError) as info:
        build_model(spec)
    return str(info.value)


def test_version_rules():
    assert _error({"version": 1, "nodes": [], "edges": []}) == "Unsupported graph spec version: 1"
    assert _error({"nodes": []}) == "Unsupported graph spec version: None"
    assert _error([{"type": "Linear"}]).startswith("Unsupported graph spec version: ")


def test_boundary_node_rules():
    spec = chain(("r", "ReLU", None))
    two_inputs = copy.deepcopy(spec)
    two_inputs["nodes"].append({"id": "in2", "type": "Input", "ports": [{"id": "z", "name": "z"}]})
    assert _error(two_inputs) == "Graph must have exactly one Input node, found 2"
    no_output = copy.deepcopy(spec)
    no_output["nodes"] = [n for n in no_output["nodes"] if n["type"] != "Output"]
    assert _error(no_output) == "Graph must have exactly one Output node, found 0"
    no_ports = copy.deepcopy(spec)
    no_ports["nodes"][0]["ports"] = []
    assert _error(no_ports) == "Input node must have at least one port"
    no_out_ports = copy.deepcopy(spec)
    no_out_ports["nodes"][-1]["ports"] = []
    assert _error(no_out_ports) == "Output node must have at least one port"
    dup = chain(("r", "ReLU", None), in_ports=("x", "x"))
    assert _error(dup) == "Input port names must be unique"
    dup_out = chain(("r", "ReLU", None), out_ports=("y", "y"))
    assert _error(dup_out) == "Output port names must be unique"


def test_edge_rules():
    spec = chain(("r", "ReLU", None))
    unknown = copy.deepcopy(spec)
    unknown["edges"].append({"source": "r", "target": "ghost"})
    assert _error(unknown) == "Edge references unknown node: r -> ghost"
    bad_source = copy.deepcopy(spec)
    bad_source["edges"][0]["sourceHandle"] = "nope"
    assert _error(bad_source) == "Edge from Input references unknown port id: nope"
    bad_target = copy.deepcopy(spec)
    bad_target["edges"][-1]["targetHandle"] = "nope"
    assert _error(bad_target) == "Edge into Output references unknown port id: nope"
    double = copy.deepcopy(spec)
    double["edges"].append(
        {"source": "in", "sourceHandle": "p_x", "target": "out", "targetHandle": "q_y"}
    )
    assert _error(double) == "Output port 'y' must have exactly one incoming edge, got 2"
    unfed = chain(("r", "ReLU", None), out_ports=("y", "z"))
    assert _error(unfed) == "Output port 'z' must have exactly one incoming edge, got 0"
    unused = chain(("r", "ReLU", None), in_ports=("x", "w"))
    assert _error(unused) == "Input port 'w' is unused"


def test_layer_rules():
    spec = chain(("r", "ReLU", None), ("t", "Tanh", None))
    two_in = copy.deepcopy(spec)
    two_in["edges"].append({"source": "in", "sourceHandle": "p_x", "target": "t"})
    assert _error(two_in) == "Plain layer 't' (Tanh) must have exactly 1 incoming edge, got 2"
    cyclic = chain(("r", "ReLU", None), ("t", "Tanh", None), ("s", "Add", None))
    cyclic["edges"].append({"source": "s", "target": "r"})
    cyclic["edges"] = [e for e in cyclic["edges"] if e["source"] != "in"]
    cyclic["edges"].append({"source": "in", "sourceHandle": "p_x", "target": "s"})
    assert _error(cyclic) == "Graph contains a cycle"
    unknown = chain(("w", "Wobble", None))
    assert _error(unknown) == "SequentialModel: unknown layer type 'Wobble'"


def test_merge_arity_rules():
    spec = chain(("s", "Add", None))
    assert _error(spec) == "Add requires 2+ inputs"
    sub = chain(("s", "Subtract", None))
    assert _error(sub) == "Subtract requires exactly 2 inputs"
    mul = chain(("s", "Multiply", None))
    assert _error(mul) == "Multiply requires 2+ inputs"


def test_bad_json_and_bad_layer_params_are_reported():
    assert "not valid JSON" in _error("{not json")
    bad = chain(("lin", "Linear", {"in_features": 4, "bogus": 1}))
    assert _error(bad).startswith("SequentialModel: cannot build layer 'lin' (Linear):")


def test_node_reports_spec_errors():
    with pytest.raises(SpecError, match="exactly one Input node"):
        call_node(sequential_model, layers=json.dumps({"version": 2, "nodes": [], "edges": []}))


def test_default_layers_is_valid_json_text():
    spec = json.loads(DEFAULT_LAYERS)
    assert spec["version"] == 2
    assert [n["type"] for n in spec["nodes"]][0] == "Input"
