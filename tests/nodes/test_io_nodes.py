"""IO nodes: GraphInput/GraphOutput (engine.md §4.18), Inference, ImageReader, ModelLoader/ModelSaver."""

from __future__ import annotations

import base64
import io
import os
import types
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

import nodeloom.plugins.core_nodes as core_nodes
import nodeloom.plugins.media as media_plugin
import nodeloom.plugins.models as models_plugin
from nodeloom.kernel import DataDir, NodePaths, check_spec, spec_of
from nodeloom.plugins.core_nodes.nodes.io import graph_input, graph_output, inference
from nodeloom.plugins.media.nodes import image_reader
from nodeloom.plugins.models.nodes import model_loader, model_saver

from .helpers import call_node

SAMPLES = Path(core_nodes.__file__).parent / "samples"


@pytest.fixture
def paths(tmp_path: Path) -> NodePaths:
    return NodePaths(DataDir(tmp_path / "data").ensure(), samples=(SAMPLES,))


def png_bytes(size=(3, 2), mode="RGB", color=(255, 0, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


# -- GraphInput / GraphOutput ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("string", "hi", "hi"),
        ("number", 3, 3.0),
        ("number", 2.5, 2.5),
        ("integer", 3, 3),
        ("integer", 3.0, 3),
        ("boolean", False, False),
        ("json", {"a": [1, None]}, {"a": [1, None]}),
    ],
)
def test_graph_input_accepts_matching_values(kind, value, expected):
    out = call_node(graph_input, type=kind, value=value)["value"]
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("string", 3),
        ("number", True),
        ("number", "3"),
        ("integer", 3.5),
        ("integer", False),
        ("boolean", "true"),
        ("boolean", 1),
        ("image", 42),
        ("image", "not base64 !!"),
    ],
)
def test_graph_input_rejects_other_values(kind, value):
    with pytest.raises(ValueError, match="^GraphInput 'x': "):
        call_node(graph_input, name="x", type=kind, value=value)


def test_graph_input_parses_defaults():
    assert call_node(graph_input, type="number", default="2.5")["value"] == 2.5
    assert call_node(graph_input, type="integer", default="4.0")["value"] == 4
    assert call_node(graph_input, type="boolean", default="TRUE")["value"] is True
    assert call_node(graph_input, type="json", default='{"k": 1}')["value"] == {"k": 1}
    assert call_node(graph_input, default="text")["value"] == "text"
    with pytest.raises(ValueError, match="not a valid integer"):
        call_node(graph_input, type="integer", default="4.5")
    with pytest.raises(ValueError, match="not a valid boolean"):
        call_node(graph_input, type="boolean", default="yes")


def test_graph_input_decodes_base64_images():
    data = base64.b64encode(png_bytes(size=(3, 2), mode="L", color=128)).decode()
    wrapped = "data:image/png;base64," + "\n".join(
        data[i : i + 10] for i in range(0, len(data), 10)
    )
    image = call_node(graph_input, type="image", value=wrapped)["value"]
    assert image.shape == (3, 2, 3) and image.dtype == torch.float32
    assert torch.allclose(image, torch.full((3, 2, 3), 128 / 255))


def test_graph_input_refuses_huge_images():
    buf = io.BytesIO()
    Image.new("1", (5001, 5000)).save(buf, format="PNG")
    with pytest.raises(ValueError, match="pixel limit"):
        call_node(graph_input, type="image", value=base64.b64encode(buf.getvalue()).decode())


def test_graph_input_image_default_reads_the_images_folder(paths):
    (paths.data_dir.area("images") / "p.png").write_bytes(png_bytes(color=(0, 255, 0)))
    image = call_node(graph_input, type="image", default="p.png", paths=paths)["value"]
    assert image.shape == (3, 2, 3) and image[1].min() == 1.0 and image[0].max() == 0.0
    with pytest.raises(ValueError, match="path '../p.png' must stay inside the images directory"):
        call_node(graph_input, type="image", default="../p.png", paths=paths)


def test_graph_output_passes_its_value_through():
    marker = object()
    assert call_node(graph_output, {"value": marker})["value"] is marker


# -- Inference ---------------------------------------------------------------------------------------


def test_inference_runs_in_eval_mode_without_grad():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.9))
    x = torch.randn(4, 3)
    out = call_node(inference, {"model": model, "input": x})
    assert out["model"] is model and not model.training
    assert not out["output"].requires_grad
    assert torch.allclose(out["output"], model[0](x))


# -- ImageReader -------------------------------------------------------------------------------------


def test_image_reader_modes_and_resize(paths):
    (paths.data_dir.area("images") / "sub").mkdir()
    (paths.data_dir.area("images") / "sub" / "a.png").write_bytes(
        png_bytes(size=(4, 2), color=(255, 0, 51))
    )
    rgb = call_node(image_reader, path="sub/a.png", paths=paths)
    assert rgb["image"] is rgb["tensor"] and rgb["image"].shape == (3, 2, 4)
    assert rgb["image"][:, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.2])
    assert call_node(image_reader, path="sub/a.png", mode="L", paths=paths)["tensor"].shape == (
        1,
        2,
        4,
    )
    rgba = call_node(image_reader, path="sub/a.png", mode="RGBA", resize=5, paths=paths)["tensor"]
    assert rgba.shape == (4, 5, 5) and torch.all(rgba[3] == 1.0)


def test_image_reader_errors(paths):
    with pytest.raises(ValueError, match="^Image path is required$"):
        call_node(image_reader, paths=paths)
    with pytest.raises(FileNotFoundError, match="^Image not found: none.png$"):
        call_node(image_reader, path="none.png", paths=paths)
    with pytest.raises(
        ValueError, match="^ImageReader: path '/etc/passwd' must stay inside the images directory$"
    ):
        call_node(image_reader, path="/etc/passwd", paths=paths)


def test_image_reader_reads_uploads_from_temp(paths):
    uploads = paths.data_dir.area("temp") / "uploads"
    (uploads / "u.png").write_bytes(png_bytes())
    assert call_node(image_reader, path="/temp/uploads/u.png", paths=paths)["tensor"].shape == (
        3,
        2,
        3,
    )


# -- ModelSaver / ModelLoader ----------------------------------------------------------------------


def fresh_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(
    ("fmt", "path", "written"),
    [
        ("pytorch", "runs/w.pt", "runs/w.pt"),
        ("safetensors", "runs/w.pt", "runs/w.safetensors"),
    ],
)
def test_state_dict_round_trip(paths, fmt, path, written):
    source = fresh_model(1)
    saved = call_node(model_saver, {"model": source}, path=path, format=fmt, paths=paths)
    assert saved["path"] == written and saved["model"] is source
    models_dir = paths.data_dir.area("models")
    assert (models_dir / written).is_file()
    assert [p.name for p in (models_dir / "runs").iterdir()] == [Path(written).name], (
        "no temp file left"
    )
    target = fresh_model(2)
    assert not same_weights(source, target)
    loaded = call_node(model_loader, {"model": target}, path=written, paths=paths)["model"]
    assert loaded is target and same_weights(source, target)


def test_full_model_needs_pickle_permission(paths, monkeypatch):
    source = fresh_model(1)
    call_node(model_saver, {"model": source}, path="full.pt", save_mode="full_model", paths=paths)
    monkeypatch.delenv("NODELOOM_ALLOW_PICKLE", raising=False)
    with pytest.raises(PermissionError) as info:
        call_node(model_loader, path="full.pt", load_mode="full_model", paths=paths)
    assert str(info.value) == (
        "ModelLoader: full_model files need pickle loading, which is disabled; save the model as a "
        "state_dict or set NODELOOM_ALLOW_PICKLE=1"
    )
    monkeypatch.setenv("NODELOOM_ALLOW_PICKLE", "1")
    loaded = call_node(model_loader, path="full.pt", load_mode="full_model", paths=paths)["model"]
    assert loaded is not source and same_weights(source, loaded)


def test_safetensors_refuses_full_models(paths):
    model = fresh_model(0)
    message = "safetensors format only supports state_dict mode, not full_model"
    with pytest.raises(ValueError, match=f"^{message}$"):
        call_node(
            model_saver, {"model": model}, format="safetensors", save_mode="full_model", paths=paths
        )
    call_node(
        model_saver, {"model": model}, path="m.safetensors", format="safetensors", paths=paths
    )
    with pytest.raises(ValueError, match=f"^{message}$"):
        call_node(model_loader, path="m.safetensors", load_mode="full_model", paths=paths)


def test_loader_errors(paths):
    with pytest.raises(
        ValueError, match="^ModelLoader: set path to a file in the models directory$"
    ):
        call_node(model_loader, paths=paths)
    with pytest.raises(FileNotFoundError, match="^Weights file not found: nope.pt$"):
        call_node(model_loader, {"model": fresh_model(0)}, path="nope.pt", paths=paths)
    call_node(model_saver, {"model": fresh_model(0)}, path="w.pt", paths=paths)
    with pytest.raises(ValueError, match="^state_dict mode requires a model input"):
        call_node(model_loader, path="w.pt", paths=paths)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        call_node(model_loader, {"model": nn.Sequential(nn.Linear(3, 4))}, path="w.pt", paths=paths)
    partial = nn.Sequential(nn.Linear(3, 4))
    call_node(model_loader, {"model": partial}, path="w.pt", strict=False, paths=paths)
    assert torch.equal(partial[0].weight, fresh_model(0)[0].weight)


def test_model_paths_are_confined(paths, tmp_path):
    model = fresh_model(0)
    for bad in ("../escape.pt", "/abs.pt", "a/../../b.pt"):
        with pytest.raises(
            ValueError, match=f"^ModelSaver: path '{bad}' must stay inside the models directory$"
        ):
            call_node(model_saver, {"model": model}, path=bad, paths=paths)
    outside = tmp_path / "outside.pt"
    torch.save(model.state_dict(), outside)
    os.symlink(outside, paths.data_dir.area("models") / "link.pt")
    with pytest.raises(
        ValueError, match="^ModelLoader: path 'link.pt' must stay inside the models directory$"
    ):
        call_node(model_loader, {"model": model}, path="link.pt", paths=paths)
    assert not (tmp_path / "escape.pt").exists()


def test_loader_fingerprint_tracks_the_file(paths):
    fingerprint = spec_of(model_loader).fingerprint
    assert fingerprint({"path": "w.pt"}, paths) is None
    call_node(model_saver, {"model": fresh_model(0)}, path="w.pt", paths=paths)
    first = fingerprint({"path": "w.pt"}, paths)
    call_node(model_saver, {"model": fresh_model(0).append(nn.Tanh())}, path="w.pt", paths=paths)
    os.utime(paths.data_dir.area("models") / "w.pt", ns=(5, 6))
    assert first is not None and fingerprint({"path": "w.pt"}, paths) != first
    # The engine may hand over the data dir itself or a context object carrying the NodePaths.
    current = fingerprint({"path": "w.pt"}, paths)
    assert fingerprint({"path": "w.pt"}, paths.data_dir) == current
    assert fingerprint({"path": "w.pt"}, types.SimpleNamespace(paths=paths)) == current
    assert fingerprint({"path": "w.pt"}, None) is None


def test_plugins_register_their_specs():
    for plugin, names in (
        (media_plugin, ["ImageReader", "ImageBatchReader", "ImageWriter"]),
        (models_plugin, ["ModelLoader", "ModelSaver", "CheckpointLoader", "CheckpointSaver", "RegistryModelLoader"]),
    ):
        got: list = []
        plugin.register_nodes(got.extend)
        specs = [spec_of(s) for s in got]
        assert [s.name for s in specs] == names
        for spec in specs:
            check_spec(spec)
            assert spec.category == "IO"


# -- declarations of every node of this half of the catalogue ---------------------------------------

SECOND_HALF_MODULES = ("diffusion", "rl", "llm", "data", "classical", "training", "io")
NO_CACHE = {
    "DDPMSampler",
    "DQN",
    "PPO",
    "RewardModel",
    "EnvWrapper",
    "DataLoader",
    "Optimizer",
    "SequentialModel",
    "TrainingLoop",
    "ModelLoader",
    "ModelSaver",
}
RANDOM = {"DQN", "PPO", "EnvWrapper", "DataLoader", "SequentialModel", "TrainingLoop"}
EXTRAS = {
    "KNN": "classical",
    "TrainTestSplit": "classical",
    "Dataset": "vision",
    "EnvWrapper": "rl",
}
FINGERPRINTED = {"CSVReader", "Dataset", "ImageReader", "ModelLoader"}
STATEFUL = {"DiffusionUNet", "TimestepEmbedding"}


def second_half_specs():
    import importlib

    from nodeloom.plugins.core_nodes import collect_specs

    specs = []
    for name in SECOND_HALF_MODULES:
        specs += collect_specs(importlib.import_module(f"nodeloom.plugins.core_nodes.nodes.{name}"))
    return specs + [spec_of(image_reader), spec_of(model_loader), spec_of(model_saver)]


def test_second_half_specs_follow_the_catalogue_flags():
    specs = {s.name: s for s in second_half_specs()}
    assert len(specs) == 30
    for name, spec in specs.items():
        check_spec(spec)
        defaults = spec.default_params()
        assert spec.flag("cacheable", defaults) is (name not in NO_CACHE), name
        assert spec.flag("random", defaults) is (name in RANDOM), name
        assert (spec.fingerprint is not None) is (name in FINGERPRINTED), name
        assert (spec.stateful is not None) is (name in STATEFUL), name
        extras = [r.extra for r in spec.requires]
        assert extras == ([EXTRAS[name]] if name in EXTRAS else []), name
    assert specs["EnvWrapper"].deterministic is False
    assert {s.category for s in specs.values()} == {
        "Diffusion",
        "RL",
        "LLM",
        "Data",
        "Classical",
        "Training",
        "IO",
    }
