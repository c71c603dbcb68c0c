"""The three built-in presets of engine.md §7.2, loaded through the real registry build."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nodeloom.kernel import validate_graph
from nodeloom.kernel.prepare import analyse
from nodeloom.testing import run_graph
from tests.examples.support import missing_modules, node_errors

# engine.md §7.2, table by table: (internal id, type, params).
STRUCTURE = {
    "Training Pipeline": [
        ("dataset", "Dataset", {"name": "MNIST", "split": "train", "data_dir": "./data"}),
        ("dataloader", "DataLoader", {"batch_size": 32, "shuffle": True, "num_workers": 0}),
        ("loss", "Loss", {"type": "CrossEntropyLoss"}),
        ("optimizer", "Optimizer", {"type": "Adam", "lr": 0.001, "weight_decay": 0.0}),
        ("train_loop", "TrainingLoop", {"epochs": 5, "device": "cpu"}),
    ],
    "Simple CNN Classifier": [
        ("conv1", "Conv2d", {"in_channels": 1, "out_channels": 32, "kernel_size": 3, "stride": 1, "padding": 1}),
        ("act1", "Activation", {"function": "relu"}),
        ("pool1", "MaxPool2d", {"kernel_size": 2, "stride": 2}),
        ("conv2", "Conv2d", {"in_channels": 32, "out_channels": 64, "kernel_size": 3, "stride": 1, "padding": 1}),
        ("act2", "Activation", {"function": "relu"}),
        ("pool2", "MaxPool2d", {"kernel_size": 2, "stride": 2}),
    ],
    "LSTM Sequence": [
        ("lstm", "LSTM", {"input_size": 128, "hidden_size": 256, "num_layers": 1, "batch_first": True,
                          "bidirectional": False}),
        ("act", "Activation", {"function": "tanh"}),
    ],
}
EDGES = {
    "Training Pipeline": [
        ("dataset", "dataset", "dataloader", "dataset"),
        ("dataloader", "dataloader", "train_loop", "dataloader"),
        ("loss", "loss_fn", "train_loop", "loss_fn"),
        ("optimizer", "optimizer", "train_loop", "optimizer"),
    ],
    "Simple CNN Classifier": [
        (a, "tensor", b, "tensor")
        for a, b in (("conv1", "act1"), ("act1", "pool1"), ("pool1", "conv2"), ("conv2", "act2"), ("act2", "pool2"))
    ],
    "LSTM Sequence": [("lstm", "output", "act", "tensor")],
}
# (name, internal node, internal port, resolved data_type[, description])
INPUTS = {
    "Training Pipeline": [("model", "train_loop", "model", "MODEL", "Model to train"),
                          ("model_for_opt", "optimizer", "model", "MODEL", "Model for optimizer (connect same model)")],
    "Simple CNN Classifier": [("tensor", "conv1", "tensor", "TENSOR")],
    "LSTM Sequence": [("tensor", "lstm", "tensor", "TENSOR")],
}
OUTPUTS = {
    "Training Pipeline": [("model", "train_loop", "model", "MODEL", "Trained model"),
                          ("losses", "train_loop", "losses", "TENSOR", "Loss history")],
    "Simple CNN Classifier": [("tensor", "pool2", "tensor", "TENSOR")],
    "LSTM Sequence": [("output", "act", "tensor", "TENSOR"), ("hidden", "lstm", "hidden", "TENSOR")],
}
# (internal node, param, display name, group, resolved param_type)
PARAMS = {
    "Training Pipeline": [
        ("dataset", "name", "Dataset", "Data", "select"),
        ("dataset", "split", "Split", "Data", "select"),
        ("dataloader", "batch_size", "Batch Size", "Data", "int"),
        ("dataloader", "shuffle", "Shuffle", "Data", "bool"),
        ("loss", "type", "Loss Function", "Training", "select"),
        ("optimizer", "type", "Optimizer", "Training", "select"),
        ("optimizer", "lr", "Learning Rate", "Training", "float"),
        ("train_loop", "epochs", "Epochs", "Training", "int"),
        ("train_loop", "device", "Device", "Training", "select"),
    ],
    "Simple CNN Classifier": [
        ("conv1", "in_channels", "Input Channels", "Layer 1", "int"),
        ("conv1", "out_channels", "Conv1 Output Channels", "Layer 1", "int"),
        ("act1", "function", "Activation 1", "Layer 1", "select"),
        ("conv2", "out_channels", "Conv2 Output Channels", "Layer 2", "int"),
        ("act2", "function", "Activation 2", "Layer 2", "select"),
        ("pool1", "kernel_size", "Pool1 Kernel Size", "Pooling", "int"),
        ("pool2", "kernel_size", "Pool2 Kernel Size", "Pooling", "int"),
    ],
    "LSTM Sequence": [
        ("lstm", "input_size", "Input Size", "LSTM", "int"), ("lstm", "hidden_size", "Hidden Size", "LSTM", "int"),
        ("lstm", "num_layers", "Num Layers", "LSTM", "int"), ("lstm", "bidirectional", "Bidirectional", "LSTM", "bool"),
        ("act", "function", "Activation", "Output", "select"),
    ],
}
META = {
    "Training Pipeline": ("Training", ["beginner", "training", "pipeline"]),
    "Simple CNN Classifier": ("CNN", ["beginner", "cnn", "classification", "image"]),
    "LSTM Sequence": ("RNN", ["intermediate", "rnn", "lstm", "sequence"]),
}


def _ports(items: list[dict[str, Any]], with_description: bool) -> list[tuple]:
    out = []
    for p in items:
        row = (p["name"], p["internal_node"], p["internal_port"], p["data_type"])
        out.append(row + (p["description"],) if with_description else row)
    return out


@pytest.mark.parametrize("name", sorted(STRUCTURE))
def test_builtin_preset_matches_the_spec(snapshot, name):
    entry = snapshot.presets[name]
    assert entry.source == "builtin" and entry.available and entry.error is None
    d = entry.definition
    assert (d["category"], d["tags"]) == META[name]
    assert len(d["description"]) > 40
    assert [(n["id"], n["type"], n["params"]) for n in d["nodes"]] == STRUCTURE[name]
    assert [(e["source"], e["sourceHandle"], e["target"], e["targetHandle"]) for e in d["edges"]] == EDGES[name]
    described = name == "Training Pipeline"  # the spec fixes only these descriptions
    assert _ports(d["exposed_inputs"], described) == INPUTS[name]
    assert _ports(d["exposed_outputs"], described) == OUTPUTS[name]
    params = [(p["internal_node"], p["param_name"], p["display_name"], p["group"], p["param_def"]["param_type"])
              for p in d["exposed_params"]]
    assert params == PARAMS[name]


def test_param_defs_carry_the_internal_param_spec(snapshot):
    defs = {(p["internal_node"], p["param_name"]): p["param_def"]
            for name in STRUCTURE for p in snapshot.presets[name].definition["exposed_params"]}
    assert defs[("dataset", "name")]["options"] == ["MNIST", "CIFAR10", "FashionMNIST"]
    assert "prelu" in defs[("act1", "function")]["options"]
    assert defs[("dataloader", "batch_size")]["min_value"] == 1
    assert defs[("conv1", "in_channels")]["default"] == 1  # the node's default, not the preset's value
    assert defs[("lstm", "hidden_size")]["default"] == 256


def test_presets_are_listed_by_the_core_nodes_pack(snapshot):
    assert set(snapshot.packs["core_nodes"].presets) == set(STRUCTURE)


# -- running the presets inside graphs ------------------------------------------------------------


def _start() -> dict[str, Any]:
    return {"id": "start", "type": "Start"}


def _trigger(target: str) -> dict[str, Any]:
    return {"source": "start", "sourceHandle": "trigger", "target": target, "type": "trigger"}


def _edge(src: str, sport: str, dst: str, dport: str) -> dict[str, Any]:
    return {"source": src, "sourceHandle": sport, "target": dst, "targetHandle": dport}


def _tensor(node_id: str, shape: str) -> dict[str, Any]:
    return {"id": node_id, "type": "TensorCreate", "data": {"params": {"shape": shape, "fill": "randn"}}}


def _flattened(snapshot, name: str, instance: str, overrides: dict[str, dict[str, Any]]):
    """The preset's members as ordinary nodes named like their expansion (same ids, so same seeds)."""
    d = snapshot.presets[name].definition
    nodes = [{"id": f"{instance}__{n['id']}", "type": n["type"],
              "data": {"params": {**n["params"], **overrides.get(n["id"], {})}}} for n in d["nodes"]]
    edges = [_edge(f"{instance}__{e['source']}", e["sourceHandle"], f"{instance}__{e['target']}", e["targetHandle"])
             for e in d["edges"]]
    return nodes, edges


def _preset_graph(name: str, shape: str, overrides: dict[str, dict[str, Any]], outputs: list[str]):
    nodes = [_start(), _tensor("x", shape),
             {"id": "blk", "type": f"preset:{name}", "data": {"params": {}, "internalParams": overrides}}]
    edges = [_trigger("x"), _edge("x", "tensor", "blk", "tensor")]
    for port in outputs:
        nodes.append({"id": f"out_{port}", "type": "GraphOutput", "data": {"params": {"name": port}}})
        edges.append(_edge("blk", port, f"out_{port}", "value"))
    return {"nodes": nodes, "edges": edges}


def _manual_graph(snapshot, name: str, shape: str, overrides, ports: dict[str, tuple[str, str]]):
    """The same computation wired by hand: x -> members -> one GraphOutput per exposed output."""
    members, internal = _flattened(snapshot, name, "blk", overrides)
    entry = snapshot.presets[name].definition["exposed_inputs"][0]
    nodes = [_start(), _tensor("x", shape), *members]
    edges = [_trigger("x"), _edge("x", "tensor", f"blk__{entry['internal_node']}", entry["internal_port"]), *internal]
    for port, (member, member_port) in ports.items():
        nodes.append({"id": f"out_{port}", "type": "GraphOutput", "data": {"params": {"name": port}}})
        edges.append(_edge(f"blk__{member}", member_port, f"out_{port}", "value"))
    return {"nodes": nodes, "edges": edges}


def _value(result, port: str) -> torch.Tensor:
    assert result.ok, (result.terminal, node_errors(result))
    return result.results[f"out_{port}"]["value"]


@pytest.mark.parametrize(
    ("shape", "overrides", "expected"),
    [
        ("2,1,28,28", {}, (2, 64, 7, 7)),
        ("1,3,16,16", {"conv1": {"in_channels": 3}, "conv2": {"out_channels": 8}}, (1, 8, 4, 4)),
    ],
)
def test_simple_cnn_classifier_runs_in_a_graph(kernel, shape, overrides, expected):
    result = run_graph(kernel, _preset_graph("Simple CNN Classifier", shape, overrides, ["tensor"]), seed=0)
    out = _value(result, "tensor")
    assert tuple(out.shape) == expected
    assert float(out.min()) >= 0.0  # ReLU before the last pooling
    # The instance's events are reported under its id (engine.md §4.7).
    assert result.statuses("blk")[0] == "running" and result.statuses("blk")[-1] == "completed"
    manual = _manual_graph(kernel.snapshot, "Simple CNN Classifier", shape, overrides, {"tensor": ("pool2", "tensor")})
    assert torch.equal(out, _value(run_graph(kernel, manual, seed=0), "tensor"))


@pytest.mark.parametrize(
    ("shape", "overrides", "output_shape", "hidden_shape"),
    [
        ("2,5,128", {}, (2, 5, 256), (1, 2, 256)),
        ("3,4,6", {"lstm": {"input_size": 6, "hidden_size": 8, "num_layers": 2, "bidirectional": True}},
         (3, 4, 16), (4, 3, 8)),
    ],
)
def test_lstm_sequence_runs_in_a_graph(kernel, shape, overrides, output_shape, hidden_shape):
    result = run_graph(kernel, _preset_graph("LSTM Sequence", shape, overrides, ["output", "hidden"]), seed=0)
    output, hidden = _value(result, "output"), _value(result, "hidden")
    assert tuple(output.shape) == output_shape and tuple(hidden.shape) == hidden_shape
    assert float(output.abs().max()) < 1.0  # tanh of the LSTM output
    manual = _manual_graph(kernel.snapshot, "LSTM Sequence", shape, overrides,
                           {"raw": ("lstm", "output"), "hidden": ("lstm", "hidden")})
    reference = run_graph(kernel, manual, seed=0)
    assert torch.allclose(output, torch.tanh(_value(reference, "raw")))
    assert torch.equal(hidden, _value(reference, "hidden"))


def _pipeline_graph() -> dict[str, Any]:
    return {
        "nodes": [
            _start(),
            {"id": "model", "type": "SequentialModel", "data": {"params": {}}},
            {"id": "pipe", "type": "preset:Training Pipeline",
             "data": {"params": {}, "internalParams": {"train_loop": {"epochs": 1}}}},
            {"id": "show", "type": "Print", "data": {"params": {"label": "losses"}}},
        ],
        "edges": [
            _trigger("model"),
            _edge("model", "model", "pipe", "model"),
            _edge("model", "model", "pipe", "model_for_opt"),
            _edge("pipe", "losses", "show", "value"),
        ],
    }


def test_training_pipeline_expands_and_validates(snapshot):
    analysis = analyse(_pipeline_graph(), snapshot)
    members = [n.id for n in analysis.expansion.nodes if n.id.startswith("pipe__")]
    assert members == [f"pipe__{m}" for m in ("dataset", "dataloader", "loss", "optimizer", "train_loop")]
    # Members with no inputs (dataset, loss) join the executable set with their instance (§4.3).
    assert {"pipe__dataset", "pipe__loss", "pipe__train_loop", "show"} <= analysis.executable
    report = validate_graph(_pipeline_graph(), snapshot)
    errors = [(i.code, i.node_id) for i in report.issues if i.severity == "error"]
    if missing_modules("torchvision"):
        assert errors == [("node_unavailable", "pipe__dataset")]
        assert "torchvision" in report.errors[0]
    else:
        assert errors == []
    assert not [i for i in report.issues if i.severity == "warning"]
