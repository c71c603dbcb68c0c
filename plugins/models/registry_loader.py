"""``RegistryModelLoader``: ``ModelLoader`` that also takes a model registry id (api.md §2.8).

The file is picked either by ``model_id`` (a registry entry: its file ``<category>/<filename>``)
or by ``model_file`` (any installed file). ``model_file`` is a ``model_file`` param, so a UI shows
a picker over ``GET /api/models`` (registry entries with their install state plus the files on
disk); when the param's ``options`` name categories, the picker lists only
``GET /api/models/{category}`` for those. :func:`make_registry_loader` builds such
category-restricted loaders for packs.

The registry is read from the snapshot the run pinned (``call.extras["run"].snapshot``), so a run
sees one registry from start to end, like its node types.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.paths import file_fingerprint, resolve_file

from ._registry import RegistryEntry, view_of_snapshot
from .nodes import DEVICES, SAVE_MODES, load_weights

NAME = "RegistryModelLoader"


def _registry_entry(call: Any, model_id: str, node_name: str) -> RegistryEntry:
    snapshot = getattr(call.extras.get("run"), "snapshot", None)
    if snapshot is None:
        raise ValueError(f"{node_name}: the model registry is not available here; set model_file instead")
    entry = view_of_snapshot(snapshot).get(model_id)
    if entry is None:
        raise ValueError(f"{node_name}: model '{model_id}' not found in the registry")
    return entry


def _relpath(call: Any, node_name: str, categories: tuple[str, ...]) -> str:
    """The checked relpath to load: the registry entry's target, else ``model_file``."""
    model_id = call.params["model_id"].strip()
    if model_id:
        path = _registry_entry(call, model_id, node_name).target
        missing = (
            f"{node_name}: model '{model_id}' is not installed; download it first "
            f"(POST /api/models/download/{model_id})"
        )
    else:
        path = call.params["model_file"]
        if not path:
            raise ValueError(f"{node_name}: set model_id or model_file")
        missing = f"Weights file not found: {path}"
    if categories and PurePosixPath(path).parts[0] not in categories:
        raise ValueError(f"{node_name}: '{path}' is not in one of the categories {list(categories)}")
    if not resolve_file(call, "models", path, node_name).is_file():
        raise FileNotFoundError(missing)
    return path


def make_registry_loader(name: str = NAME, *, categories: Iterable[str] = (), category: str = "IO") -> Any:
    """A registry-aware loader node; ``categories`` restrict ``model_file`` (and its picker)."""
    allowed = tuple(categories)

    @node(
        name=name,
        category=category,
        description=(
            "Load weights from the models folder, chosen by registry id (`model_id`) or by file "
            "(`model_file`). Download registry models with `POST /api/models/download/<id>`."
        ),
        inputs=[In("model", "MODEL", "The module to load a state_dict into.", optional=True)],
        outputs=[Out("model", "MODEL", "The loaded model on the chosen device.")],
        params=[
            Param.string("model_id", "", "Registry id (GET /api/models); when set it wins over model_file."),
            Param.model_file(
                "model_file", "", "Installed weights file in the models folder.", options=allowed
            ),
            Param.select("load_mode", "state_dict", SAVE_MODES, "state_dict loads into the model input."),
            Param.select("device", "auto", DEVICES, "auto follows the run device."),
            Param.bool("strict", True, "Require the state_dict keys to match the model exactly."),
        ],
        cacheable=False,
        fingerprint=file_fingerprint("models", "model_file", name),
    )
    def registry_model_loader(call: Any) -> dict[str, Any]:
        return load_weights(call, resolve_file(call, "models", _relpath(call, name, allowed), name))

    return registry_model_loader


registry_model_loader = make_registry_loader()
