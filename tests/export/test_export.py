"""Export (engine.md §6): standalone scripts reproduce the engine bitwise; runner fallback; CLI.

The reproduction checks run each exported script once in a subprocess with ``--dump`` and compare
every dumped tensor with the engine's output for the same seed using ``torch.equal`` (CPU). No
node needs a tolerance: the scripts build modules in the same order under the same seeds and call
the same torch ops, so the numbers are identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from nodeloom.cli import main as cli_main
from nodeloom.headless import to_jsonable
from nodeloom.kernel.codegen import CodegenContext, py_literal
from nodeloom.kernel.export import (
    CodegenUnavailableError,
    ExportValidationError,
    export_filename,
    export_graph,
)
from nodeloom.kernel.export_preamble import NODE_SEED_SOURCE
from nodeloom.kernel.seeds import node_seed
from nodeloom.testing import run_graph

from .support import (
    GraphBuilder,
    dump_mismatches,
    engine_logs,
    load_example,
    run_in_process,
    run_script,
    tensor_outputs,
)

SEED = 1234
# A label that would be code if the exporter ever pasted params into source text.
HOSTILE = '");import os;os.system("echo pwned")#\'\n'

TOKEN_PAIRS = json.dumps([[i % 12, (i % 12) // 4] for i in range(24)])

SEQ_SPEC = json.dumps(
    {
        "version": 2,
        "nodes": [
            {"id": "in", "type": "Input", "ports": [{"id": "p_tok", "name": "tokens"}]},
            {"id": "emb", "type": "Embedding", "params": {"num_embeddings": 12, "embedding_dim": 8}},
            {"id": "d", "type": "Dropout", "params": {"p": 0.1}},
            {"id": "fa", "type": "Linear", "params": {"in_features": 8, "out_features": 3}},
            {"id": "fb", "type": "Linear", "params": {"in_features": 8, "out_features": 3}},
            {"id": "sum", "type": "Add"},
            {"id": "out", "type": "Output", "ports": [{"id": "p_out", "name": "logits"}]},
        ],
        "edges": [
            {"source": "in", "sourceHandle": "p_tok", "target": "emb"},
            {"source": "emb", "target": "d"},
            {"source": "d", "target": "fa"},
            {"source": "d", "target": "fb"},
            {"source": "fa", "target": "sum"},
            {"source": "fb", "target": "sum"},
            {"source": "sum", "target": "out", "targetHandle": "p_out"},
        ],
    }
)

SCALE_PRESET = {
    "preset_name": "Export Scale Softmax",
    "category": "Custom",
    "description": "Multiply, then softmax.",
    "nodes": [
        {"id": "scale", "type": "ScalarMultiply", "params": {"scalar": 1.0}},
        {"id": "sm", "type": "Softmax", "params": {"dim": -1}},
    ],
    "edges": [{"source": "scale", "sourceHandle": "tensor", "target": "sm", "targetHandle": "tensor"}],
    "exposed_inputs": [
        {"name": "x", "internal_node": "scale", "internal_port": "tensor", "data_type": "TENSOR"}
    ],
    "exposed_outputs": [
        {"name": "probs", "internal_node": "sm", "internal_port": "tensor", "data_type": "TENSOR"}
    ],
    "exposed_params": [],
}


def synthetic_graph() -> dict[str, Any]:
    """One graph that uses every built-in node type with a code generator (56 types)."""
    g = GraphBuilder(name="every codegen node")
    # -- images, CNN, tensor ops
    g.add("img", "TensorCreate", shape="2,3,8,8", fill="randn")
    g.add("conv", "Conv2d", {"tensor": "img.tensor"}, in_channels=3, out_channels=4, kernel_size=3)
    g.add("bn", "BatchNorm2d", {"tensor": "conv.tensor"}, num_features=4)
    g.add("relu", "Activation", {"tensor": "bn.tensor"}, function="relu")
    g.add("pool", "MaxPool2d", {"tensor": "relu.tensor"}, kernel_size=2, stride=2)
    g.add("up", "ConvTranspose2d", {"tensor": "pool.tensor"}, in_channels=4, out_channels=2)
    g.add("gap", "AdaptiveAvgPool2d", {"tensor": "up.tensor"}, output_height=1, output_width=2)
    g.add("flat", "Flatten", {"tensor": "gap.tensor"}, start_dim=1)
    g.add("lin", "Linear", {"tensor": "flat.tensor"}, in_features=4, out_features=5)
    g.add("drop", "Dropout", {"tensor": "lin.tensor"}, p=0.3)
    g.add("prelu", "Activation", {"tensor": "drop.tensor"}, function="prelu")
    g.add("gelu", "Activation", {"tensor": "prelu.tensor"}, function="gelu")
    g.add("sm", "Softmax", {"tensor": "gelu.tensor"}, dim=-1)
    g.add("mean_keep", "Mean", {"tensor": "sm.tensor"}, dim="0", keepdim=True)
    g.add("mean_all", "Mean", {"tensor": "sm.tensor"}, dim="")
    g.add("mean_two", "Mean", {"tensor": "sm.tensor"}, dim="0, 1,")
    g.add("resh", "Reshape", {"tensor": "lin.tensor"}, shape="5,2")
    g.add("perm", "Permute", {"tensor": "resh.tensor"}, dims="1,0")
    g.add("unsq", "Unsqueeze", {"tensor": "perm.tensor"}, dim=0)
    g.add("cat", "Concat", {"tensor_a": "lin.tensor", "tensor_b": "perm.tensor"}, dim=0)
    g.add("sub", "Add", {"tensor_a": "lin.tensor", "tensor_b": "perm.tensor"}, alpha=-0.5)
    g.add("mul", "Multiply", {"tensor_a": "lin.tensor", "tensor_b": "sm.tensor"})
    g.add("smul", "ScalarMultiply", {"tensor": "mul.tensor"}, scalar=2.5)
    g.add("ln", "LayerNorm", {"tensor": "smul.tensor"}, normalized_shape="5")
    g.add("ones", "TensorCreate", shape="2,2", fill="full", value=3.0, requires_grad=True)
    g.add("rnd", "TensorCreate", shape="4", fill="rand")
    g.presets.append(SCALE_PRESET)
    g.nodes.append({"id": "blk", "type": "preset:Export Scale Softmax", "data": {"internalParams": {"scale": {"scalar": 0.5}}}})
    g.edges.append({"source": "lin", "sourceHandle": "tensor", "target": "blk", "targetHandle": "x"})
    # -- sequences, RNN, transformer
    g.add("seq", "TensorInput", shape="2,4,6", dtype="float32", value_mode="random", seed=3)
    g.add("step", "TensorInput", shape="2,6", value_mode="explicit", values=[[0.5, -1, 2, 0, 1.5, 3], [1, 1, 1, 1, 1, 1]])
    g.add("gru", "GRU", {"tensor": "seq.tensor"}, input_size=6, hidden_size=5, num_layers=2, bidirectional=True, dropout=0.2)
    g.add("lstm", "LSTM", {"tensor": "seq.tensor"}, input_size=6, hidden_size=5)
    g.add("cell", "RNNCell", {"tensor": "step.tensor"}, input_size=6, hidden_size=4, nonlinearity="relu")
    g.add("cell2", "RNNCell", {"tensor": "step.tensor", "hidden": "cell.hidden"}, input_size=6, hidden_size=4)
    g.add("seq_first", "Permute", {"tensor": "seq.tensor"}, dims="1,0,2")
    g.add("enc", "TransformerEncoder", {"tensor": "seq_first.tensor"}, d_model=6, nhead=2, num_layers=2, dim_feedforward=8)
    g.add("dec", "TransformerDecoder", {"tensor": "seq_first.tensor", "memory": "enc.tensor"}, d_model=6, nhead=2, num_layers=1, dim_feedforward=8)
    g.add("causal", "AttentionMask", {"tensor": "enc.tensor"}, mode="causal")
    g.add("mha", "MultiHeadAttention", {"query": "enc.tensor", "key": "dec.tensor", "value": "dec.tensor", "attn_mask": "causal.mask"}, embed_dim=6, num_heads=3, dropout=0.1)
    g.add("mha_bf", "MultiHeadAttention", {"query": "seq.tensor", "key": "seq.tensor", "value": "seq.tensor"}, embed_dim=6, num_heads=2, batch_first=True)
    g.add("moe", "MoELayer", {"x": "seq.tensor"}, num_experts=3, top_k=2, hidden_dim=6, expert_hidden_dim=8, seed=5)
    g.add("moe2d", "MoELayer", {"x": "step.tensor"}, num_experts=2, top_k=5, hidden_dim=6, expert_hidden_dim=4)
    # -- diffusion
    g.add("unet", "DiffusionUNet", in_channels=2, base_channels=4, channel_mult="1,2", time_emb_dim=8, num_groups=2, seed=3)
    g.add("noise", "GaussianNoise", shape="1,2,8,8", mean=0.1, std=0.5, seed=9)
    g.add("noise_ref", "GaussianNoise", {"shape_ref": "img.tensor"}, seed=2)
    g.add("steps", "TensorCreate", shape="3", fill="arange")
    g.add("temb", "TimestepEmbedding", {"timestep": "steps.tensor"}, embed_dim=8)
    g.add("lerp", "Lerp", {"tensor_a": "img.tensor", "tensor_b": "noise_ref.noise"}, alpha=0.3)
    g.add("weights", "TensorCreate", shape="8", fill="rand")
    g.add("lerp_in", "Lerp", {"tensor_a": "img.tensor", "tensor_b": "noise_ref.noise", "alpha": "weights.tensor"})
    g.add("ddpm", "DDPMSampler", {"model": "unet.model", "noise": "noise.noise"}, num_steps=2, schedule="cosine", seed=4)
    g.add("ddpm_lin", "DDPMSampler", {"model": "unet.model", "noise": "noise.noise"}, num_steps=1)
    # -- RL
    g.add("state", "TensorCreate", shape="3,4", fill="rand")
    g.add("dqn", "DQN", {"state": "state.tensor"}, hidden_dim=8)
    g.add("dqn0", "DQN", hidden_dim=8)
    g.add("ppo", "PPO", {"state": "state.tensor"}, hidden_dim=8)
    g.add("ppo0", "PPO", hidden_dim=8)
    g.add("rm", "RewardModel", {"hidden_states": "seq.tensor"}, input_dim=6, hidden_dim=4)
    g.add("rm0", "RewardModel", input_dim=6, hidden_dim=4)
    g.add("sm2", "Softmax", {"tensor": "perm.tensor"})
    g.add("kl", "KLDivergence", {"p": "lin.tensor", "q": "gelu.tensor"}, input_kind="logits")
    g.add("kl_none", "KLDivergence", {"p": "sm.tensor", "q": "sm2.tensor"}, reduction="none")
    # -- LLM
    g.add("wv", "WordVector", words="King, man woman queen xyzzy", keep_oov=True, normalize=True)
    g.add("wv2", "WordVector", {"tokens": "wv.labels"})
    g.add("cos", "CosineSimilarity", {"queries": "wv.embeddings", "keys": "wv2.embeddings", "key_labels": "wv2.labels"}, top_k=3, exclude_self_words="king")
    g.add("cos_nolabels", "CosineSimilarity", {"queries": "wv.embeddings", "keys": "wv2.embeddings"}, top_k=2)
    g.add("scatter", "EmbeddingScatter", {"embeddings": "wv.embeddings", "labels": "wv.labels"})
    # -- data
    g.add("iris", "CSVReader", target_column="species")
    g.add("tiny", "CSVReader", path="tiny.csv", target_column="label")
    g.add("cols", "ColumnSelector", {"tensor": "iris.tensor", "columns": "iris.columns"}, names="petal width (cm), sepal length (cm)")
    g.add("cols_idx", "ColumnSelector", {"tensor": "tiny.tensor"}, indices="1,0")
    g.add("zscore", "Normalize", {"tensor": "cols.tensor"})
    g.add("minmax", "Normalize", {"tensor": "iris.tensor"}, mode="minmax")
    g.add("unit", "Normalize", {"tensor": "cols_idx.tensor"}, mode="unit_norm", axis=1)
    # -- training
    g.add("samples", "GraphInput", name="samples", type="json", required=False, default=TOKEN_PAIRS)
    g.add("model", "SequentialModel", layers=SEQ_SPEC)
    g.add("loader", "DataLoader", {"dataset": "samples.value"}, batch_size=8)
    g.add("val_loader", "DataLoader", {"dataset": "samples.value"}, batch_size=16, shuffle=False)
    g.add("loss", "Loss", type="CrossEntropyLoss")
    g.add("opt", "Optimizer", {"model": "model.model"}, type="SGD", lr=0.1, weight_decay=0.01)
    g.add(
        "train", "TrainingLoop",
        {"model": "model.model", "dataloader": "loader.dataloader", "optimizer": "opt.optimizer",
         "loss_fn": "loss.loss_fn", "val_dataloader": "val_loader.dataloader"},
        epochs=3, device="cpu", early_stopping_patience=1, grad_clip_norm=1.0,
    )
    g.add("tokens", "TensorInput", shape="12", dtype="int64", value_mode="arange")
    g.add("infer", "Inference", {"model": "train.model", "input": "tokens.tensor"})
    g.add("saver", "ModelSaver", {"model": "train.model"}, path="sub/trained.pt")
    g.add("model2", "SequentialModel", layers=SEQ_SPEC)
    g.add("opt2", "Optimizer", {"model": "model2.model"}, type="Rprop", lr=0.01)
    g.add("loaded", "ModelLoader", {"model": "model2.model"}, path="pre.pt", strict=False)
    g.add("infer2", "Inference", {"model": "loaded.model", "input": "tokens.tensor"})
    # -- graph function boundaries and logs
    g.add("scale", "GraphInput", name="scale", type="number", default="1.5")
    g.add("out_scale", "GraphOutput", {"value": "scale.value"}, name="scale")
    g.add("out_losses", "GraphOutput", {"value": "train.losses"}, name="losses")
    g.add("out_labels", "GraphOutput", {"value": "cos.top_k_labels"}, name="labels")
    g.add("show", "Print", {"value": "mean_keep.tensor"}, label=HOSTILE)
    g.add("show_metrics", "Print", {"value": "train.metrics"})
    # A draft: never triggered, so never exported.
    g.nodes.append({"id": "draft_only", "type": "Linear", "data": {"params": {"in_features": 2}}})
    return g.graph()


def _write_pre_weights(data_dir: Any) -> None:
    # ModelLoader (strict=False) loads this into one layer of model2, in the engine and the script.
    torch.save({"layers.fa.weight": torch.arange(24.0).reshape(3, 8) / 10}, data_dir.area("models") / "pre.pt")


@pytest.fixture(scope="module")
def synthetic_export(kernel, export_data, tmp_path_factory):
    _write_pre_weights(export_data)
    graph = synthetic_graph()
    result = export_graph(graph, kernel.snapshot, seed=SEED, data_dir=export_data)
    folder = tmp_path_factory.mktemp("synthetic")
    script = folder / result.filename
    script.write_text(result.script, encoding="utf-8")
    return graph, result, script


# -- reproduction -----------------------------------------------------------------------------------


def test_every_codegen_node_reproduces_the_engine_bitwise(kernel, synthetic_export, tmp_path):
    graph, export, script = synthetic_export
    assert export.mode == "standalone", export.unsupported_nodes
    assert export.unsupported_nodes == ()
    assert "draft_only" not in export.script
    # Only torch, numpy and the standard library: nodeloom is not needed to run the script.
    imported = {line.split()[1].split(".")[0] for line in export.script.splitlines()
                if line.startswith(("import ", "from "))}
    assert imported - {"torch", "numpy", "__future__"} <= set(sys.stdlib_module_names)
    assert "import nodeloom" not in export.script and "from nodeloom" not in export.script
    engine = run_graph(kernel, graph, seed=SEED)
    assert engine.ok, engine.terminal
    dump = tmp_path / "out.pt"
    run = run_script(script, "--seed", str(SEED), "--dump", str(dump))
    assert run.returncode == 0, run.stderr
    assert dump_mismatches(dump, engine) == []
    # GraphOutputs: stdout is exactly one JSON object, serialised like the CLI does.
    expected = {"scale": 1.5, "losses": to_jsonable(engine.results["out_losses"]["value"]),
                "labels": engine.results["out_labels"]["value"]}
    assert json.loads(run.stdout) == expected
    # Print text went to stderr (the graph has outputs); the hostile label is data, never code.
    for text in engine_logs(engine):
        assert text in run.stderr
    assert f"[{HOSTILE}]" in run.stderr and "pwned" not in run.stdout
    assert "nodeloom graph 'every codegen node' completed on cpu" in run.stderr
    assert (kernel.data_dir.area("models") / "sub" / "trained.pt").is_file()


def test_eval_mode_seed_and_inputs_flags_match_the_engine(kernel, synthetic_export, tmp_path, capsys):
    graph, _export, script = synthetic_export
    injected = json.loads(json.dumps(graph))
    for node in injected["nodes"]:
        if node["id"] == "scale":
            node["data"]["params"]["value"] = 4  # what a function call injects
    engine = run_graph(kernel, injected, seed=SEED + 1, module_mode="eval")
    assert engine.ok, engine.terminal
    dump = tmp_path / "eval.pt"
    run = run_in_process(
        script, capsys, "--seed", str(SEED + 1), "--module-mode", "eval", "--inputs-json", '{"scale": 4}',
        "--dump", str(dump),
    )
    assert run.returncode == 0, run.stderr
    assert dump_mismatches(dump, engine) == []
    assert json.loads(run.stdout)["scale"] == 4.0  # strict coercion: number -> float


def test_bad_inputs_and_flags_exit_with_status_two(synthetic_export, capsys, tmp_path):
    _graph, _export, script = synthetic_export
    run = run_in_process(script, capsys, "--inputs-json", '{"scale": "high", "nope": 1}')
    assert run.returncode == 2
    assert "input 'scale': expected number" in run.stderr and "unknown input 'nope'" in run.stderr
    assert run.stdout == ""
    assert run_in_process(script, capsys, "--inputs-file", str(tmp_path / "missing.json")).returncode == 2
    assert run_in_process(script, capsys, "--device", "tpu").returncode == 2
    assert run_in_process(script, capsys, "--module-mode", "test").returncode == 2


def test_synthetic_graph_covers_every_node_with_codegen(kernel, synthetic_export):
    used = {n["type"] for n in synthetic_graph()["nodes"]} | {
        m["type"] for m in SCALE_PRESET["nodes"]
    }
    with_codegen = {k for k, e in kernel.snapshot.nodes.items() if e.spec.codegen and e.provider == "builtin"}
    missing = sorted(with_codegen - used)
    assert missing == [], f"add these node types to synthetic_graph() in {__file__}: {missing}"


def _example_paths() -> list[str]:
    from nodeloom.testing import make_kernel

    kernel = make_kernel(builtin=True)
    try:
        return sorted(kernel.snapshot.examples)
    finally:
        kernel.close()


EXAMPLES = _example_paths()


# CodefyUI's own graph files, when present, are checked the same way as the registered examples.
FIXTURES = Path(os.environ.get("NODELOOM_FIXTURES_DIR", "/work/shared/fixtures/graphs"))


@pytest.fixture(scope="module")
def example_exports(kernel):
    """Each registered example (and CodefyUI fixture) that validates here, exported in-process."""
    graphs = {path: load_example(kernel.snapshot.examples[path]) for path in EXAMPLES}
    for file in sorted(FIXTURES.glob("*.json")) if FIXTURES.is_dir() else ():
        graphs[f"fixture/{file.stem}"] = json.loads(file.read_text(encoding="utf-8"))
    out = {}
    for path, graph in graphs.items():
        try:
            out[path] = (graph, export_graph(graph, kernel.snapshot, seed=SEED, data_dir=kernel.data_dir))
        except ExportValidationError as exc:  # e.g. an optional dependency missing here
            out[path] = (graph, exc)
    return out


@pytest.mark.parametrize("path", EXAMPLES)
def test_example_exports_and_compiles(example_exports, path):
    _graph, export = example_exports[path]
    if isinstance(export, ExportValidationError):
        pytest.skip(f"does not validate in this environment: {export}")
    compile(export.script, export.filename, "exec")
    if export.mode == "runner":
        assert export.unsupported_nodes, "a runner export names the nodes that forced it"


def _merged(examples: dict[str, tuple[dict[str, Any], Any]]) -> dict[str, Any]:
    """All standalone examples as one graph (ids prefixed), so one subprocess checks them all."""
    nodes, edges, presets = [], [], {}
    for index, (path, (graph, _export)) in enumerate(sorted(examples.items())):
        prefix = f"x{index}_{path.replace('/', '_')}:"
        nodes += [{**n, "id": prefix + n["id"]} for n in graph["nodes"] if n.get("type") != "note"]
        edges += [{**e, "source": prefix + e["source"], "target": prefix + e["target"]} for e in graph["edges"]]
        for preset in graph.get("presets", []):
            presets.setdefault(preset["preset_name"], preset)
    return {"name": "merged examples", "nodes": nodes, "edges": edges, "presets": list(presets.values())}


def test_standalone_examples_reproduce_the_engine_bitwise(kernel, example_exports, tmp_path):
    standalone = {
        path: (graph, export)
        for path, (graph, export) in example_exports.items()
        if not isinstance(export, ExportValidationError) and export.mode == "standalone"
    }
    if not standalone:
        pytest.skip("no example exports standalone")
    merged = _merged(standalone)
    engine = run_graph(kernel, merged, seed=SEED)
    if not engine.ok:
        pytest.fail(f"engine run of the merged examples failed: {engine.terminal.get('error')}")
    export = export_graph(merged, kernel.snapshot, seed=SEED, data_dir=kernel.data_dir)
    assert export.mode == "standalone", export.unsupported_nodes
    script = tmp_path / export.filename
    script.write_text(export.script, encoding="utf-8")
    dump = tmp_path / "examples.pt"
    run = run_script(script, "--dump", str(dump))  # the default seed is the export's
    assert run.returncode == 0, run.stderr
    assert dump_mismatches(dump, engine) == []
    assert len(tensor_outputs(engine)) > 0


# -- runner mode and fallbacks ---------------------------------------------------------------------


def _runner_graph() -> dict[str, Any]:
    g = GraphBuilder(name="runner demo")
    g.add("x", "GraphInput", name="x", type="number", default="1.5")
    g.add("t", "TensorCreate", shape="2", fill="randn")
    g.add("twice", "NoGen", {"value": "t.tensor"}, token="hunter2-secret")
    g.add("show", "Print", {"value": "twice.value"}, label="doubled")
    g.add("out", "GraphOutput", {"value": "x.value"}, name="y")
    g.nodes.append({"id": "draft_only", "type": "Linear", "data": {"params": {}}})
    return g.graph()


def test_runner_fallback_runs_through_installed_nodeloom(kernel, export_data, tmp_path, capsys):
    graph = _runner_graph()
    export = export_graph(graph, kernel.snapshot, seed=SEED, data_dir=export_data)
    assert export.mode == "runner"
    assert export.unsupported_nodes == ({"node_id": "twice", "type": "NoGen",
                                         "reason": "NoGen has no standalone code generator"},)
    assert "hunter2-secret" not in export.script
    assert "draft_only" not in export.script
    script = tmp_path / export.filename
    script.write_text(export.script, encoding="utf-8")
    dump = tmp_path / "runner.pt"
    run = run_script(script, "--inputs-json", '{"x": 3}', "--dump", str(dump))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"y": 3.0}
    assert "[doubled] tensor(" in run.stderr
    assert run.stderr.rstrip().endswith("nodeloom graph 'runner demo' completed on cpu (6 node results).")
    engine = run_graph(kernel, graph, seed=SEED)
    assert dump_mismatches(dump, engine) == []

    # Without the custom node file the type is missing: setup error, status 2.
    empty = tmp_path / "empty-data"
    run = run_in_process(script, capsys, "--data-dir", str(empty))
    assert run.returncode == 2
    assert "Unknown node type: NoGen" in run.stderr

    # Installed pack versions that differ from the lock are warnings, not errors.
    anchor = "\nGRAPH_INPUTS = "
    assert export.script.count(anchor) == 1
    stale = "\nPACK_LOCK.update({'nodeloom': '0.0.1-old', 'gone': '1.0'})" + anchor
    old = tmp_path / "old_lock.py"
    old.write_text(export.script.replace(anchor, stale), encoding="utf-8")
    run = run_in_process(old, capsys, "--seed", str(SEED))
    assert run.returncode == 0, run.stderr
    assert "warning: exported with nodeloom 0.0.1-old; installed is" in run.stderr
    assert "warning: pack gone 1.0 is not installed" in run.stderr


@pytest.mark.parametrize(
    ("node_type", "reason"),
    [
        ("BadGen", "code generation failed: RuntimeError: boom from the generator"),
        ("BadSyntax", "generated code does not compile: SyntaxError"),
        ("NotHere", "needs a quantum computer"),
        ("BadImport", "code generation failed: ValueError: standalone scripts may only import torch, numpy"),
    ],
)
def test_generator_failures_fall_back_to_runner_with_the_reason(kernel, node_type, reason):
    g = GraphBuilder()
    g.add("t", "TensorCreate", shape="2")
    g.add("n", node_type, {"value": "t.tensor"})
    export = export_graph(g.graph(), kernel.snapshot)
    assert export.mode == "runner"
    [entry] = export.unsupported_nodes
    assert (entry["node_id"], entry["type"]) == ("n", node_type)
    assert entry["reason"].startswith(reason)
    compile(export.script, export.filename, "exec")


def test_standalone_mode_refuses_instead_of_falling_back(kernel):
    g = GraphBuilder()
    g.add("t", "TensorCreate", shape="2")
    g.add("a", "NoGen", {"value": "t.tensor"})
    g.add("b", "BadGen", {"value": "a.value"})
    with pytest.raises(CodegenUnavailableError) as info:
        export_graph(g.graph(), kernel.snapshot, mode="standalone")
    assert str(info.value) == "Node types without standalone code generation: BadGen, NoGen"
    assert [u["node_id"] for u in info.value.unsupported_nodes] == ["a", "b"]
    plain = GraphBuilder()
    plain.add("t", "TensorCreate", shape="2")
    forced = export_graph(plain.graph(), kernel.snapshot, mode="runner")
    assert forced.mode == "runner" and forced.unsupported_nodes == ()


def test_display_only_nodes_are_omitted_unless_consumed(kernel):
    g = GraphBuilder()
    g.add("t", "TensorCreate", shape="2")
    g.add("plot", "Plot", {"data": "t.tensor"})
    export = export_graph(g.graph(), kernel.snapshot)
    assert export.mode == "standalone"
    assert export.omitted_nodes == ({"node_id": "plot", "type": "Plot"},)
    assert "'plot'" not in export.script.split("def run(")[1]
    g.add("keep", "Keep", {"value": "plot.image"})
    export = export_graph(g.graph(), kernel.snapshot)
    assert export.mode == "runner"
    assert export.unsupported_nodes[0]["node_id"] == "plot"
    assert "feeding keep" in export.unsupported_nodes[0]["reason"]


def test_secrets_are_blanked_in_params_and_presets(kernel):
    preset = {
        "preset_name": "Secret Double",
        "nodes": [{"id": "d", "type": "NoGen", "params": {"token": "preset-secret"}}],
        "edges": [],
        "exposed_inputs": [{"name": "v", "internal_node": "d", "internal_port": "value"}],
        "exposed_outputs": [{"name": "v", "internal_node": "d", "internal_port": "value"}],
    }
    g = GraphBuilder()
    g.presets.append(preset)
    g.add("t", "TensorCreate", shape="2")
    g.nodes.append({"id": "p", "type": "preset:Secret Double",
                    "data": {"internalParams": {"d": {"token": "override-secret"}}}})
    g.edges.append({"source": "t", "sourceHandle": "tensor", "target": "p", "targetHandle": "v"})
    export = export_graph(g.graph(), kernel.snapshot)
    assert export.mode == "runner"
    assert "preset-secret" not in export.script and "override-secret" not in export.script
    assert "Secret Double" in export.script  # the used preset is embedded


def test_invalid_graph_raises_export_validation_error(kernel):
    g = GraphBuilder()
    g.add("t", "TensorCreate", shape="2")
    g.add("lin", "Linear", {"tensor": "t.tensor"}, in_features="four")
    with pytest.raises(ExportValidationError) as info:
        export_graph(g.graph(), kernel.snapshot)
    assert info.value.messages == [
        "Parameter 'in_features' on node lin (Linear): expected int, got \"four\""
    ]
    assert info.value.issues[0]["code"] == "param_type"
    with pytest.raises(ExportValidationError, match="no entry points"):
        export_graph({"nodes": [{"id": "a", "type": "TensorCreate"}], "edges": []}, kernel.snapshot)
    with pytest.raises(ExportValidationError, match="'nodes' and 'edges'"):
        export_graph({"nodes": "x"}, kernel.snapshot)
    with pytest.raises(ValueError, match="module_mode"):
        export_graph(g.graph(), kernel.snapshot, module_mode="test")


# -- pieces --------------------------------------------------------------------------------------------


def test_script_node_seed_is_the_engines():
    namespace: dict[str, Any] = {"hashlib": hashlib}
    exec(NODE_SEED_SOURCE, namespace)  # the exact text every script carries
    for run_seed, node_id in [(0, "a"), (2**63 - 1, "blk__sm"), (42, "ünï [0]__x")]:
        assert namespace["node_seed"](run_seed, node_id) == node_seed(run_seed, node_id)


def test_literals_round_trip_without_evaluating_code():
    value = {"a": [1, 2.5, None, True], "s": HOSTILE, "nan": float("nan"), "inf": [float("-inf")]}
    text = py_literal(value)
    back = eval(text, {"__builtins__": {"float": float}})  # only float() is needed for NaN/inf
    assert back["s"] == HOSTILE and back["a"] == [1, 2.5, None, True]
    assert back["nan"] != back["nan"] and back["inf"] == [float("-inf")]
    with pytest.raises(TypeError):
        py_literal({"x": object()})


def test_generator_names_and_inputs():
    gen = CodegenContext(node_id="n'1", node_type="X", params={}, node_seed=7, inputs={"a": "v1_x"}, index=3)
    assert gen.var("out") == "v3_out" and gen.tmp("m") == "t3_m"
    assert gen.seed_expr == "node_seed(seed, \"n'1\")"
    with pytest.raises(ValueError):
        gen.var("not a port")
    with pytest.raises(Exception, match="input 'b' receives no value"):
        gen.input("b")


def test_export_filename():
    assert export_filename("My Graph.v2") == "My_Graph_v2.py"
    assert export_filename("") == "graph.py" and export_filename(None) == "graph.py"


# -- CLI --------------------------------------------------------------------------------------------------


def test_cli_export_writes_the_script(export_data, tmp_path):
    g = GraphBuilder(name="cli demo")
    g.add("t", "TensorCreate", shape="2", fill="ones")
    g.add("p", "Plot", {"data": "t.tensor"})
    graph_file = tmp_path / "g.json"
    graph_file.write_text(json.dumps(g.graph()), encoding="utf-8")
    out = tmp_path / "demo.py"
    runner = CliRunner()
    result = runner.invoke(
        cli_main,
        ["export", str(graph_file), "-o", str(out), "--seed", "9", "--module-mode", "eval",
         "--data-dir", str(export_data.root)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "standalone" in result.stderr and "omitted: p (Plot)" in result.stderr
    text = out.read_text(encoding="utf-8")
    assert "DEFAULT_SEED = 9" in text and "MODULE_MODE = 'eval'" in text
    compile(text, str(out), "exec")


def test_cli_export_invalid_graph_exits_two(export_data, tmp_path):
    graph_file = tmp_path / "bad.json"
    graph_file.write_text(json.dumps({"nodes": [{"id": "a", "type": "Nope"}], "edges": [
        {"source": "a", "target": "a", "type": "trigger"}]}), encoding="utf-8")
    out = tmp_path / "never.py"
    result = CliRunner().invoke(
        cli_main, ["export", str(graph_file), "-o", str(out), "--data-dir", str(export_data.root)]
    )
    assert result.exit_code == 2
    assert "Unknown node type: Nope" in result.stderr
    assert not out.exists()
