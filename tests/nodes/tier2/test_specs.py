"""Every Tier-2 declaration against nodes.md §3: names, ports, params, bounds, options, flags."""

from __future__ import annotations

import importlib.util

import pytest

from nodeloom.kernel import check_spec, spec_of
from nodeloom.plugins.core_nodes import collect_specs
from nodeloom.plugins.core_nodes.nodes import (
    classical_models,
    cnn_extra,
    data_extra,
    data_flow,
    diffusion_extra,
    hub_datasets,
    io_extra,
    llm_chat,
    llm_extra,
    normalization_extra,
    plots,
    synthetic,
    tensor_ops_extra,
    training_extra,
    utility_extra,
)
from nodeloom.plugins.media import image_nodes
from nodeloom.plugins.models import checkpoints
from nodeloom.testing import make_kernel

CORE_MODULES = (
    classical_models, cnn_extra, data_extra, data_flow, diffusion_extra, hub_datasets, io_extra,
    llm_chat, llm_extra, normalization_extra, plots, synthetic, tensor_ops_extra, training_extra,
    utility_extra,
)
OTHER_MODULES = (image_nodes, checkpoints)

# name: (category, inputs, outputs, params). Inputs "name:TYPE" with "?" for optional; params
# (name, type, default, min, max, options).
EXPECTED = {
    "AvgPool2d": ("CNN", "tensor:TENSOR", "tensor:TENSOR", [
        ("kernel_size", "int", 2, None, None, ()), ("stride", "int", 2, None, None, ()),
        ("padding", "int", 0, None, None, ())]),
    "Conv1d": ("CNN", "tensor:TENSOR", "tensor:TENSOR", [
        ("in_channels", "int", 1, None, None, ()), ("out_channels", "int", 32, None, None, ()),
        ("kernel_size", "int", 3, None, None, ()), ("stride", "int", 1, None, None, ()),
        ("padding", "int", 1, None, None, ())]),
    "Conv2dExplicit": ("CNN", "tensor:TENSOR,kernel:TENSOR", "tensor:TENSOR", [
        ("stride", "int", 1, 1, None, ()), ("padding", "int", 1, 0, None, ())]),
    "Conv2dKernel": ("CNN", "", "tensor:TENSOR", [
        ("preset", "select", "EdgeDetection3x3", None, None,
         ("EdgeDetection3x3", "Sharpen3x3", "VerticalEdge3x3", "Custom")),
        ("kernel_size", "int", 3, 1, 15, ()),
        ("weights", "tensor_grid", [[0, 0, 0], [0, 1, 0], [0, 0, 0]], None, None, ())]),
    "BatchNorm1d": ("Normalization", "tensor:TENSOR", "tensor:TENSOR", [
        ("num_features", "int", 128, None, None, ())]),
    "GroupNorm": ("Normalization", "tensor:TENSOR", "tensor:TENSOR", [
        ("num_groups", "int", 32, None, None, ()), ("num_channels", "int", 256, None, None, ())]),
    "InstanceNorm2d": ("Normalization", "tensor:TENSOR", "tensor:TENSOR", [
        ("num_features", "int", 64, None, None, ()), ("affine", "bool", False, None, None, ())]),
    "Argmax": ("Tensor Operations", "tensor:TENSOR", "tensor:TENSOR", [
        ("dim", "int", -1, None, None, ()), ("keepdim", "bool", False, None, None, ())]),
    "MatMul": ("Tensor Operations", "tensor_a:TENSOR,tensor_b:TENSOR", "tensor:TENSOR", []),
    "Split": ("Tensor Operations", "tensor:TENSOR", "chunk_0:TENSOR,chunk_1:TENSOR", [
        ("chunks", "int", 2, 1, 32, ()), ("dim", "int", 0, None, None, ())]),
    "Squeeze": ("Tensor Operations", "tensor:TENSOR", "tensor:TENSOR", [
        ("dim", "int", -1, None, None, ())]),
    "Stack": ("Tensor Operations", "tensor_a:TENSOR,tensor_b:TENSOR", "tensor:TENSOR", [
        ("dim", "int", 0, None, None, ())]),
    "Embedding": ("Utility", "tensor:TENSOR", "tensor:TENSOR", [
        ("num_embeddings", "int", 10000, None, None, ()),
        ("embedding_dim", "int", 256, None, None, ()), ("padding_idx", "int", -1, None, None, ())]),
    "DecisionBoundary": ("Utility", "model:MODEL,x_train:TENSOR,y_train:LIST", "image:STRING", [
        ("grid_steps", "int", 200, 20, 500, ()), ("show_support_vectors", "bool", False, None, None, ()),
        ("title", "string", "", None, None, ())]),
    "ScatterPlot2D": ("Utility", "points:TENSOR,labels:LIST?", "image:STRING", [
        ("title", "string", "", None, None, ())]),
    "DatasetBatch": ("Data", "dataset:DATASET", "images:TENSOR,labels:TENSOR", [
        ("batch_size", "int", 1, 1, None, ()), ("start_index", "int", 0, 0, None, ())]),
    "HuggingFaceDataset": ("Data", "", "dataset:DATASET", [
        ("dataset_name", "string", "ylecun/mnist", None, None, ()),
        ("subset", "string", "", None, None, ()), ("split", "string", "train", None, None, ()),
        ("image_column", "string", "image", None, None, ()),
        ("label_column", "string", "label", None, None, ()),
        ("cache_dir", "string", "", None, None, ())]),
    "KaggleDataset": ("Data", "", "dataset:DATASET", [
        ("dataset_slug", "string", "", None, None, ()), ("subdir", "string", "", None, None, ()),
        ("cache_dir", "string", "", None, None, ())]),
    "RowSelector": ("Data", "tensor:TENSOR,labels:LIST?", "tensor:TENSOR", [
        ("indices", "string", "0", None, None, ()), ("names", "string", "", None, None, ())]),
    "SyntheticDataset": ("Data", "", "tensor:TENSOR,labels:LIST,columns:LIST", [
        ("kind", "select", "circles", None, None, ("circles", "moons", "blobs", "classification")),
        ("n_samples", "int", 200, 10, None, ()), ("noise", "float", 0.1, 0, None, ()),
        ("factor", "float", 0.5, 0, None, ()), ("centers", "int", 3, 2, None, ()),
        ("seed", "int", 42, None, None, ())]),
    "SyntheticSegmentation": ("Data", "", "dataset:DATASET", [
        ("image_size", "int", 64, 16, None, ()), ("n_samples", "int", 200, 4, None, ()),
        ("noise", "float", 0.05, 0, None, ()), ("seed", "int", 42, None, None, ())]),
    "SyntheticShapes": ("Data", "", "dataset:DATASET", [
        ("image_size", "int", 24, 8, None, ()), ("n_samples", "int", 384, 8, None, ()),
        ("seed", "int", 0, None, None, ())]),
    "TextInput": ("Data", "", "text:STRING", [
        ("value", "string", "The quick brown fox jumps over the lazy dog.", None, None, ())]),
    "Transform": ("Data", "dataset:DATASET", "dataset:DATASET", [
        ("resize", "int", 0, 0, None, ()), ("normalize", "bool", True, None, None, ()),
        ("to_tensor", "bool", True, None, None, ())]),
    "Map": ("Data Flow", "items:LIST", "results:LIST,count:SCALAR", [
        ("subgraph", "string", "", None, None, ())]),
    "Reduce": ("Data Flow", "items:LIST", "result:ANY,count:SCALAR", [
        ("operation", "select", "mean", None, None,
         ("sum", "mean", "min", "max", "concat", "stack", "first", "last")),
        ("dim", "int", 0, None, None, ())]),
    "Switch": ("Data Flow", "selector:SCALAR,input_0:ANY,input_1:ANY?,input_2:ANY?,input_3:ANY?",
               "output:ANY", []),
    "Accuracy": ("Classical", "predictions:LIST,labels:LIST", "accuracy:SCALAR,correct:SCALAR,total:SCALAR", []),
    "DecisionTreeClassifier": ("Classical", "x_train:TENSOR,y_train:LIST,x_query:TENSOR",
        "predictions:LIST,feature_importances:TENSOR,tree_text:STRING,classes:LIST,model:MODEL", [
        ("max_depth", "int", 5, 0, None, ()),
        ("criterion", "select", "gini", None, None, ("gini", "entropy", "log_loss")),
        ("random_state", "int", 42, None, None, ())]),
    "LinearRegression": ("Classical", "x_train:TENSOR,y_train:TENSOR,x_query:TENSOR",
        "predictions:TENSOR,coef:TENSOR,intercept:SCALAR", [
        ("fit_intercept", "bool", True, None, None, ())]),
    "LogisticRegression": ("Classical", "x_train:TENSOR,y_train:LIST,x_query:TENSOR",
        "predictions:LIST,probabilities:TENSOR,classes:LIST,coef:TENSOR,model:MODEL", [
        ("C", "float", 1.0, None, None, ()), ("max_iter", "int", 200, 1, None, ()),
        ("penalty", "select", "l2", None, None, ("l2", "l1", "none"))]),
    "MLPClassifier": ("Classical", "x_train:TENSOR,y_train:LIST,x_query:TENSOR",
        "predictions:LIST,probabilities:TENSOR,classes:LIST,train_loss:SCALAR,model:MODEL", [
        ("hidden_sizes", "string", "16,16", None, None, ()),
        ("activation", "select", "relu", None, None, ("relu", "tanh", "logistic", "identity")),
        ("max_iter", "int", 500, 1, None, ()), ("learning_rate_init", "float", 0.01, 0, None, ()),
        ("seed", "int", 42, None, None, ())]),
    "RandomForestClassifier": ("Classical", "x_train:TENSOR,y_train:LIST,x_query:TENSOR",
        "predictions:LIST,probabilities:TENSOR,classes:LIST,model:MODEL", [
        ("n_estimators", "int", 100, 1, None, ()), ("max_depth", "int", 0, 0, None, ()),
        ("seed", "int", 0, None, None, ())]),
    "SVMClassifier": ("Classical", "x_train:TENSOR,y_train:LIST,x_query:TENSOR",
        "predictions:LIST,support_vectors:TENSOR,classes:LIST,model:MODEL", [
        ("C", "float", 1.0, None, None, ()),
        ("kernel", "select", "rbf", None, None, ("linear", "rbf", "poly", "sigmoid")),
        ("gamma", "string", "scale", None, None, ())]),
    "DiffusionTrainingLoop": ("Diffusion", "model:MODEL,dataset:DATASET", "model:MODEL,losses:TENSOR", [
        ("epochs", "int", 200, 1, None, ()), ("batch_size", "int", 32, 1, None, ()),
        ("lr", "float", 0.002, 0, None, ()), ("num_timesteps", "int", 160, 2, None, ()),
        ("schedule", "select", "linear", None, None, ("linear", "cosine")),
        ("beta_start", "float", 0.0001, 0, None, ()), ("beta_end", "float", 0.05, 0, None, ()),
        ("device", "select", "cpu", None, None, ("cpu", "cuda")), ("seed", "int", 0, None, None, ())]),
    "Upsample": ("Diffusion", "tensor:TENSOR", "tensor:TENSOR", [
        ("mode", "select", "nearest", None, None, ("nearest", "bilinear", "area")),
        ("scale_factor", "float", 2.0, 0.1, None, ())]),
    "AttentionHeatmap": ("LLM", "weights:TENSOR,labels:LIST?", "weights:TENSOR,labels:LIST", [
        ("head_index", "int", -1, None, None, ()),
        ("colormap", "select", "viridis", None, None, ("viridis", "blues", "RdBu"))]),
    "AttentionMask": ("LLM", "tensor:TENSOR?,tokens:LIST?", "mask:TENSOR", [
        ("mode", "select", "causal", None, None, ("causal", "padding")),
        ("pad_token", "string", "<pad>", None, None, ())]),
    "LLMChat": ("LLM", "text:STRING?,image:IMAGE?,array:LIST?", "text:STRING", [
        ("provider", "select", "ChatGPT API", None, None, ("ChatGPT API", "Codex", "Claude API", "Ollama")),
        ("model", "string", "gpt-5.2", None, None, ()),
        ("prompt", "string", "Summarize the provided input.", None, None, ()),
        ("system_prompt", "string", "You are a helpful assistant.", None, None, ()),
        ("openai_api_key", "secret", "", None, None, ()),
        ("anthropic_api_key", "secret", "", None, None, ()),
        ("ollama_base_url", "string", "http://127.0.0.1:11434/v1", None, None, ()),
        ("max_tokens", "int", 1024, 1, 200000, ()), ("temperature", "float", 0.7, 0, 2, ())]),
    "PositionalEncoding": ("LLM", "tensor:TENSOR", "tensor:TENSOR,pe:TENSOR", [
        ("mode", "select", "sinusoidal", None, None, ("sinusoidal", "learnable")),
        ("max_len", "int", 512, 1, None, ()), ("seed", "int", 42, None, None, ())]),
    "Tokenizer": ("LLM", "text:STRING?", "tokens:LIST,token_ids:LIST,offsets:LIST", [
        ("family", "select", "cl100k_base", None, None,
         ("cl100k_base", "o200k_base", "p50k_base", "gpt2", "bert-base-uncased", "Llama-3", "T5")),
        ("text", "string", "The quick brown fox jumps over the lazy dog.", None, None, ()),
        ("show_special_tokens", "bool", False, None, None, ())]),
    "BackwardOnce": ("Training", "tensor:TENSOR", "tensor:TENSOR", []),
    "EvaluateModel": ("Training", "model:MODEL,dataset:DATASET", "accuracy:SCALAR,correct:SCALAR,total:SCALAR", [
        ("batch_size", "int", 256, 1, None, ()), ("device", "select", "cpu", None, None, ("cpu", "cuda"))]),
    "LRScheduler": ("Training", "optimizer:OPTIMIZER", "scheduler:ANY", [
        ("type", "select", "StepLR", None, None, ("StepLR", "CosineAnnealingLR", "ExponentialLR",
         "ReduceLROnPlateau", "CosineAnnealingWarmRestarts", "MultiStepLR", "OneCycleLR")),
        ("step_size", "int", 10, None, None, ()), ("gamma", "float", 0.1, None, None, ()),
        ("T_max", "int", 50, None, None, ()), ("max_lr", "float", 0.01, None, None, ()),
        ("total_steps", "int", 1000, None, None, ())]),
    "FileReader": ("IO", "", "text:STRING,tensor:TENSOR", [
        ("path", "string", "", None, None, ()), ("mode", "select", "text", None, None, ("text", "csv")),
        ("encoding", "string", "utf-8", None, None, ()), ("csv_header", "bool", True, None, None, ())]),
    "ImageBatchReader": ("IO", "", "images:TENSOR,count:SCALAR", [
        ("directory", "string", "", None, None, ()), ("pattern", "string", "*.png", None, None, ()),
        ("resize", "int", 224, 1, None, ()), ("max_images", "int", 0, 0, None, ()),
        ("mode", "select", "RGB", None, None, ("RGB", "L", "RGBA"))]),
    "ImageWriter": ("IO", "image:IMAGE", "path:STRING", [
        ("path", "string", "output.png", None, None, ()),
        ("format", "select", "PNG", None, None, ("PNG", "JPEG", "BMP", "TIFF"))]),
    "CheckpointLoader": ("IO", "model:MODEL,optimizer:OPTIMIZER",
        "model:MODEL,optimizer:OPTIMIZER,epoch:SCALAR,losses:TENSOR", [
        ("path", "model_file", "", None, None, ()),
        ("device", "select", "auto", None, None, ("auto", "cpu", "cuda", "mps"))]),
    "CheckpointSaver": ("IO", "model:MODEL,optimizer:OPTIMIZER,losses:TENSOR?", "path:STRING,model:MODEL", [
        ("path", "string", "checkpoint.pt", None, None, ()), ("epoch", "int", 0, None, None, ())]),
}

# Flags (nodes.md N12) that differ from the NodeSpec defaults.
NO_CACHE = {"Map", "DiffusionTrainingLoop", "LLMChat", "BackwardOnce", "LRScheduler",
            "CheckpointLoader", "CheckpointSaver", "ImageWriter"}
STATEFUL = {"Conv1d", "BatchNorm1d", "GroupNorm", "InstanceNorm2d", "Embedding"}
DISPLAY = {"DecisionBoundary", "ScatterPlot2D"}
FINGERPRINTED = {"HuggingFaceDataset", "FileReader", "ImageBatchReader", "CheckpointLoader"}
EXTRAS = {
    "DecisionBoundary": {"plot"}, "ScatterPlot2D": {"plot"}, "HuggingFaceDataset": {"hub"},
    "KaggleDataset": {"hub", "vision"}, "SyntheticDataset": {"classical"}, "Transform": {"vision"},
    "DecisionTreeClassifier": {"classical"}, "LinearRegression": {"classical"},
    "LogisticRegression": {"classical"}, "MLPClassifier": {"classical"},
    "RandomForestClassifier": {"classical"}, "SVMClassifier": {"classical"}, "LLMChat": {"llm"},
    "Tokenizer": {"text"},
}


def _all_specs() -> dict:
    specs = {}
    for module in CORE_MODULES + OTHER_MODULES:
        for spec in collect_specs(module):
            assert spec.name not in specs, f"{spec.name} is declared twice"
            specs[spec.name] = spec
    return specs


SPECS = _all_specs()


def _ports(text: str) -> list[tuple[str, str, bool]]:
    out = []
    for item in filter(None, text.split(",")):
        name, _, kind = item.partition(":")
        out.append((name, kind.rstrip("?"), kind.endswith("?")))
    return out


def test_every_tier2_node_is_declared_once():
    assert set(SPECS) == set(EXPECTED)
    assert len(SPECS) == 49  # the 51 Tier-2 nodes minus TensorInput and ScalarMultiply (Tier 1)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_declaration_matches_the_catalogue(name):
    spec = SPECS[name]
    check_spec(spec)
    category, inputs, outputs, params = EXPECTED[name]
    assert spec.category == category
    assert [(p.name, p.type, p.optional) for p in spec.inputs] == _ports(inputs)
    assert [(p.name, p.type) for p in spec.outputs] == [(n, t) for n, t, _ in _ports(outputs)]
    got = [(p.name, p.param_type, p.default, p.min_value, p.max_value, tuple(p.options))
           for p in spec.params]
    assert got == params
    assert spec.description, f"{name} has no description"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_flags_match_the_catalogue(name):
    spec = SPECS[name]
    defaults = spec.default_params()
    assert spec.flag("cacheable", defaults) == (name not in NO_CACHE)
    assert (spec.stateful is not None) == (name in STATEFUL)
    assert spec.display_only == (name in DISPLAY)
    assert (spec.fingerprint is not None) == (name in FINGERPRINTED)
    assert {r.extra for r in spec.requires} == EXTRAS.get(name, set())
    assert spec.flag("deterministic", defaults) == (name != "LLMChat")
    assert not spec.flag("random", defaults)


def test_conditional_params_are_shown_only_for_their_choice():
    kernel = {p.name: p.visible_when for p in SPECS["Conv2dKernel"].params}
    assert kernel == {"preset": None, "kernel_size": {"preset": "Custom"}, "weights": {"preset": "Custom"}}
    chat = {p.name: p.visible_when for p in SPECS["LLMChat"].params if p.visible_when}
    assert chat == {
        "openai_api_key": {"provider": "ChatGPT API"},
        "anthropic_api_key": {"provider": "Claude API"},
        "ollama_base_url": {"provider": "Ollama"},
    }


def test_core_tier2_nodes_register_with_the_builtin_catalogue():
    snapshot = make_kernel(builtin=True).snapshot
    core = {spec.name for module in CORE_MODULES for spec in collect_specs(module)}
    missing = core - set(snapshot.nodes)
    assert not missing
    for name in core:
        entry = snapshot.nodes[name]
        assert entry.provider == "builtin"
        wanted = [r for r in entry.spec.requires if importlib.util.find_spec(r.import_name) is None]
        assert entry.available == (not wanted)
        if wanted:
            assert f"pip install 'nodeloom[{wanted[0].extra}]'" in entry.unavailable_reason


def test_split_declares_one_output_per_chunk():
    spec = SPECS["Split"]
    assert [p.name for p in spec.output_ports({"chunks": 4, "dim": 0})] == [
        "chunk_0", "chunk_1", "chunk_2", "chunk_3"]
    assert len(spec.output_ports({"chunks": 99})) == 32
    assert len(spec.output_ports({"chunks": "x"})) == 2
    assert len(spec.output_ports({"chunks": 0})) == 1


def test_embedding_structure_treats_every_negative_padding_idx_alike():
    normalize = spec_of(utility_extra.embedding).stateful.normalize
    a = normalize({"num_embeddings": 5, "embedding_dim": 2, "padding_idx": -1})
    b = normalize({"num_embeddings": 5, "embedding_dim": 2, "padding_idx": -7})
    assert a == b and a["padding_idx"] is None
    assert normalize({"num_embeddings": 5, "embedding_dim": 2, "padding_idx": 3})["padding_idx"] == 3
