"""``RegistryModelLoader``: loads by registry id (through a real engine run) or by model file."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from nodeloom.kernel import NodePaths, check_spec, spec_of
from nodeloom.kernel.engine import run_graph
from nodeloom.kernel.host import Kernel
from tests.api.support import make_kernel
from tests.models.conftest import FIRST_PARTY
from tests.nodes.helpers import call_node

NAME = "RegistryModelLoader"


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    # ``demo`` brings a Start node, so a graph can trigger the loader.
    k = make_kernel(tmp_path, first_party={**FIRST_PARTY, "demo": "tests.api.routes_pack:demo"}, third_party={})
    yield k
    k.close()


@pytest.fixture
def loader_module() -> Any:
    return importlib.import_module("nodeloom.plugins.models.registry_loader")


def net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 2))


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def with_registry(kernel: Kernel, models: Path) -> None:
    entry = {"id": "tiny", "name": "Tiny", "category": "Classifiers", "filename": "tiny.pt",
             "source": {"type": "url", "url": "http://127.0.0.1:9/tiny.pt"}}
    (models / "registry.json").write_text(json.dumps([entry]), encoding="utf-8")
    kernel.reload()


def graph(**params: Any) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "Start", "position": {"x": 0, "y": 0}, "data": {"params": {}}},
            {"id": "load", "type": NAME, "position": {"x": 200, "y": 0}, "data": {"params": params}},
        ],
        "edges": [{"id": "t", "source": "start", "sourceHandle": "trigger", "target": "load", "targetHandle": "",
                   "type": "trigger"}],
    }


def run(kernel: Kernel, **params: Any) -> Any:
    return run_graph(graph(**params), kernel.snapshot, {"seed": 0}, env=kernel.run_environment)


def error_of(result: Any) -> str:
    return next(e["error"] for e in result.node_events("load") if e["status"] == "error")


def test_declaration(kernel: Kernel, loader_module: Any) -> None:
    spec = spec_of(kernel.snapshot.nodes[NAME].spec)
    check_spec(spec)
    assert spec.category == "IO" and spec.cacheable is False
    assert [(p.name, p.param_type, p.default) for p in spec.params] == [
        ("model_id", "string", ""), ("model_file", "model_file", ""), ("load_mode", "select", "state_dict"),
        ("device", "select", "auto"), ("strict", "bool", True),
    ]
    assert spec.param("model_file").options == ()
    restricted = spec_of(loader_module.make_registry_loader("DetectorLoader", categories=["Object Detection"]))
    check_spec(restricted)
    assert restricted.name == "DetectorLoader" and restricted.param("model_file").options == ("Object Detection",)


def test_loads_a_registry_entry_by_id_in_a_run(
    kernel: Kernel, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NODELOOM_ALLOW_PICKLE", "1")
    with_registry(kernel, models_dir)
    result = run(kernel, model_id="tiny", load_mode="full_model")
    assert not result.ok
    assert error_of(result) == (
        f"{NAME}: model 'tiny' is not installed; download it first (POST /api/models/download/tiny)"
    )
    source = net(1)
    (models_dir / "Classifiers").mkdir()
    torch.save(source, models_dir / "Classifiers" / "tiny.pt")
    result = run(kernel, model_id="tiny", load_mode="full_model")
    assert result.ok, result.terminal
    assert same_weights(result.results["load"]["model"], source)


def test_unknown_registry_id_fails_the_node(kernel: Kernel) -> None:
    result = run(kernel, model_id="nope", model_file="ignored.pt")
    assert error_of(result) == f"{NAME}: model 'nope' not found in the registry"


def test_loads_a_state_dict_by_file(tmp_path: Path, loader_module: Any) -> None:
    from nodeloom.kernel.paths import DataDir

    data_dir = DataDir(tmp_path / "data").ensure()
    source = net(2)
    (data_dir.area("models") / "Cls").mkdir()
    torch.save(source.state_dict(), data_dir.area("models") / "Cls" / "w.pth")
    target = net(3)
    out = call_node(loader_module.registry_model_loader, {"model": target}, model_file="Cls/w.pth",
                    paths=NodePaths(data_dir))
    assert out["model"] is target and same_weights(target, source)


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({}, ValueError, f"{NAME}: set model_id or model_file"),
        ({"model_file": "missing.pt"}, FileNotFoundError, "Weights file not found: missing.pt"),
        ({"model_file": "../x.pt"}, ValueError, f"{NAME}: path '../x.pt' must stay inside the models directory"),
        ({"model_id": "tiny"}, ValueError, f"{NAME}: the model registry is not available here; set model_file instead"),
    ],
)
def test_errors_outside_a_run(
    tmp_path: Path, loader_module: Any, params: dict[str, Any], error: type[Exception], message: str
) -> None:
    from nodeloom.kernel.paths import DataDir

    paths = NodePaths(DataDir(tmp_path / "data").ensure())
    with pytest.raises(error) as info:
        call_node(loader_module.registry_model_loader, {"model": net(0)}, paths=paths, **params)
    assert str(info.value) == message


def test_category_restricted_loader(tmp_path: Path, loader_module: Any) -> None:
    from nodeloom.kernel.paths import DataDir

    data_dir = DataDir(tmp_path / "data").ensure()
    torch.save(net(0).state_dict(), data_dir.area("models") / "top.pt")
    node = loader_module.make_registry_loader("DetectorLoader", categories=["Object Detection"])
    with pytest.raises(ValueError, match="is not in one of the categories"):
        call_node(node, {"model": net(0)}, model_file="top.pt", paths=NodePaths(data_dir))
