"""Weight files: ``ModelLoader`` and ``ModelSaver`` (nodes.md §2.13, note 2.22).

Files live under ``<data-dir>/models/`` (nodes.md N8). Writes go to a temp file in the target folder
that is renamed into place, so a crash never leaves a half-written weights file under the final name.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any

import torch

from nodeloom.kernel import CodeFragment
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import CodegenUnsupported
from nodeloom.kernel.fsutil import atomic_write_bytes, temp_path_for
from nodeloom.kernel.paths import file_fingerprint, resolve_file
from nodeloom.torchkit import resolve_node_device, to_device

CATEGORY = "IO"
DEVICES = ("auto", "cpu", "cuda", "mps")
SAVE_MODES = ("state_dict", "full_model")

ALLOW_PICKLE_ENV = "NODELOOM_ALLOW_PICKLE"
FULL_MODEL_SAFETENSORS = "safetensors format only supports state_dict mode, not full_model"
PICKLE_DISABLED = (
    "ModelLoader: full_model files need pickle loading, which is disabled; save the model as a "
    f"state_dict or set {ALLOW_PICKLE_ENV}=1"
)
NEEDS_MODEL = (
    "state_dict mode requires a model input. Connect a SequentialModel or other model node, "
    "or use full_model mode."
)


def _is_safetensors(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(".safetensors")


def load_state_dict_file(path: os.PathLike[str], device: str) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a weights-only torch file, on ``device``."""
    if _is_safetensors(path):
        from safetensors.torch import load_file

        return load_file(str(path), device=device)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several unpickling error types
        raise ValueError(
            f"ModelLoader: {os.fspath(path)!s} is not a weights-only state_dict file ({exc})"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"ModelLoader: expected a state_dict, found {type(state).__name__}")
    return state


# Script helpers: the same loading and writing steps as the nodes, on paths under --data-dir.
LOAD_STATE_DICT = '''
def load_state_dict(path, device):
    """ModelLoader: a weights-only torch state_dict file, loaded on ``device``."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise ValueError(f"ModelLoader: {path} is not a weights-only state_dict file ({exc})") from None
    if not isinstance(state, dict):
        raise ValueError(f"ModelLoader: expected a state_dict, found {type(state).__name__}")
    return state
'''

SAVE_TORCH = '''
def save_torch(obj, final):
    """ModelSaver: torch.save to a temp file in the target folder, renamed into place."""
    os.makedirs(os.path.dirname(final), exist_ok=True)
    tmp = f"{final}.{os.getpid()}.tmp"
    try:
        with open(tmp, "xb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
'''


def model_loader_codegen(gen: Any) -> CodeFragment:
    """``.pt`` state dicts export standalone; safetensors and pickled models need the runner."""
    path = gen.params["path"]
    if not path:
        raise ValueError("ModelLoader: set path to a file in the models directory")
    if gen.params["load_mode"] == "full_model":
        raise CodegenUnsupported("ModelLoader full_model mode unpickles a module, which needs the runner")
    if _is_safetensors(path):
        raise CodegenUnsupported("ModelLoader reads .safetensors files with the safetensors package")
    gen.helper("load_state_dict", LOAD_STATE_DICT)
    file, dev, load_dev, model = gen.tmp("file"), gen.tmp("device"), gen.tmp("load_device"), gen.var("model")
    return gen.fragment(
        f"{file} = data_path('models', {path!r}, data_dir)",
        f"if not os.path.isfile({file}):",
        f"    raise FileNotFoundError({f'Weights file not found: {path}'!r})",
        f"{dev} = node_device({gen.param('device')}, device)",
        f"{load_dev} = 'cpu' if {dev}.startswith('mps') else {dev}",
        f"{model} = {gen.input('model')}",
        f"{model}.load_state_dict(load_state_dict({file}, {load_dev}), strict={gen.param('strict')})",
        f"{model} = to_device({model}, {dev})",
    )


@node(
    name="ModelLoader",
    category=CATEGORY,
    inputs=[In("model", "MODEL", "The module to load a state_dict into.", optional=True)],
    outputs=[Out("model", "MODEL", "The loaded model on the chosen device.")],
    params=[
        Param.model_file(
            "path", "", "Weights file in the models folder (.pt, .pth or .safetensors)."
        ),
        Param.select(
            "load_mode", "state_dict", SAVE_MODES, "state_dict loads into the model input."
        ),
        Param.select("device", "auto", DEVICES, "auto follows the run device."),
        Param.bool("strict", True, "Require the state_dict keys to match the model exactly."),
    ],
    cacheable=False,
    fingerprint=file_fingerprint("models", "path", "ModelLoader"),
    codegen=model_loader_codegen,
)
def model_loader(call: Any) -> dict[str, Any]:
    """Load weights from the models folder into a model (or unpickle a full model when allowed)."""
    path = call.params["path"]
    if not path:
        raise ValueError("ModelLoader: set path to a file in the models directory")
    resolved = resolve_file(call, "models", path, "ModelLoader")
    if not resolved.is_file():
        raise FileNotFoundError(f"Weights file not found: {path}")
    return load_weights(call, resolved)


def load_weights(call: Any, resolved: os.PathLike[str]) -> dict[str, Any]:
    """ModelLoader's loading step for a checked file; ``RegistryModelLoader`` shares it."""
    log: list[str] = []
    device = resolve_node_device(call, call.params["device"], log)
    # MPS cannot be a map_location for every stored dtype; load on the CPU and move afterwards.
    load_device = "cpu" if device.startswith("mps") else device
    if call.params["load_mode"] == "full_model":
        model = _load_full_model(resolved, load_device)
    else:
        model = call.inputs.get("model")
        if model is None:
            raise ValueError(NEEDS_MODEL)
        state = load_state_dict_file(resolved, load_device)
        model.load_state_dict(state, strict=call.params["strict"])
    model = to_device(model, device)
    result: dict[str, Any] = {"model": model}
    if log:
        result["__log__"] = "\n".join(log)
    return result


def _load_full_model(resolved: os.PathLike[str], load_device: str) -> Any:
    if _is_safetensors(resolved):
        raise ValueError(FULL_MODEL_SAFETENSORS)
    if os.environ.get(ALLOW_PICKLE_ENV) != "1":
        raise PermissionError(PICKLE_DISABLED)
    return torch.load(resolved, map_location=load_device, weights_only=False)


def _write_torch(final: os.PathLike[str], obj: Any) -> None:
    tmp = temp_path_for(final)
    try:
        with open(tmp, "xb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_safetensors(final: os.PathLike[str], model: Any) -> None:
    from safetensors.torch import save

    # safetensors stores dense, contiguous CPU buffers only.
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write_bytes(final, save(tensors))


def model_saver_codegen(gen: Any) -> CodeFragment:
    """The pytorch format exports standalone; safetensors needs the safetensors package."""
    path, mode = gen.params["path"], gen.params["save_mode"]
    if gen.params["format"] == "safetensors":
        raise CodegenUnsupported("ModelSaver writes .safetensors files with the safetensors package")
    if not path:
        raise ValueError("ModelSaver: set path to a file name in the models directory")
    gen.helper("save_torch", SAVE_TORCH)
    model = gen.var("model")
    saved = f"{model}.state_dict()" if mode == "state_dict" else model
    return gen.fragment(
        f"{model} = {gen.input('model')}",
        f"save_torch({saved}, data_path('models', {path!r}, data_dir))",
        f"{gen.var('path')} = {path!r}",
    )


@node(
    name="ModelSaver",
    category=CATEGORY,
    inputs=[In("model", "MODEL", "The model to save.")],
    outputs=[
        Out("path", "STRING", "The written file, relative to the models folder."),
        Out("model", "MODEL", "The same model object."),
    ],
    params=[
        Param.string("path", "model_weights.pt", "Target file in the models folder."),
        Param.select("save_mode", "state_dict", SAVE_MODES, "Weights only, or the pickled module."),
        Param.select("format", "pytorch", ("pytorch", "safetensors"), "File format."),
    ],
    cacheable=False,
    codegen=model_saver_codegen,
)
def model_saver(call: Any) -> dict[str, Any]:
    """Save a model's weights (or the whole pickled module) under the models folder."""
    model = call.inputs["model"]
    path = call.params["path"]
    fmt, mode = call.params["format"], call.params["save_mode"]
    if fmt == "safetensors":
        if mode == "full_model":
            raise ValueError(FULL_MODEL_SAFETENSORS)
        if path and not _is_safetensors(path):
            path = str(PurePosixPath(path).with_suffix(".safetensors"))
    if not path:
        raise ValueError("ModelSaver: set path to a file name in the models directory")
    final = resolve_file(call, "models", path, "ModelSaver")
    final.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "safetensors":
        _write_safetensors(final, model)
    else:
        _write_torch(final, model.state_dict() if mode == "state_dict" else model)
    return {"path": path, "model": model}
