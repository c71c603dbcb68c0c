"""IO nodes: graph-as-a-function boundaries and inference (nodes.md §2.13, engine.md §4.18)."""

from __future__ import annotations

import base64
import binascii
import io as _io
import json
import math
import re
from collections.abc import Callable
from typing import Any

import torch

from nodeloom.kernel import CodeFragment
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import CodegenUnsupported, py_literal
from nodeloom.torchkit import resolve_node_device, to_device

CATEGORY = "IO"

INPUT_TYPES = ("string", "number", "integer", "boolean", "json", "image")
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Caller images above this many pixels are refused before they are decoded.
MAX_IMAGE_PIXELS = 25_000_000

_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")


# -- GraphInput coercion (engine.md §4.18) ----------------------------------------------------------


class InputCoercionError(ValueError):
    """A caller value or default string that does not fit the declared GraphInput type."""


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def decode_image(data: Any) -> torch.Tensor:
    """Base64 image text (optional ``data:`` prefix, whitespace tolerated) -> RGB (3, H, W) in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    from nodeloom.torchkit.images import pil_to_tensor

    if not isinstance(data, str):
        raise InputCoercionError(f"expected image (base64 text), got {_shown(data)}")
    text = data.strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputCoercionError("expected image, got text that is not valid base64") from None
    try:
        with Image.open(_io.BytesIO(raw)) as img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InputCoercionError(
                    f"image is {width}x{height}, above the {MAX_IMAGE_PIXELS} pixel limit"
                )
            return pil_to_tensor(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputCoercionError(f"expected image, could not decode it: {exc}") from None


def coerce_value(kind: str, value: Any) -> Any:
    """Strict coercion of a caller's JSON value to a GraphInput type (raises InputCoercionError)."""
    if kind == "string":
        if isinstance(value, str):
            return value
    elif kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
    elif kind == "json":
        return value
    elif kind == "image":
        return decode_image(value)
    else:
        raise InputCoercionError(f"unknown input type '{kind}'")
    raise InputCoercionError(f"expected {kind}, got {_shown(value)}")


def parse_default(
    kind: str, text: str, load_image: Callable[[str], torch.Tensor] | None = None
) -> Any:
    """Parse a GraphInput ``default`` string (canvas runs); ``load_image`` reads image paths."""
    try:
        if kind == "string":
            return text
        if kind == "number":
            return float(text)
        if kind == "integer":
            try:
                return int(text)
            except ValueError:
                number = float(text)
                if not number.is_integer():
                    raise
                return int(number)
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            raise ValueError(text)
        if kind == "json":
            return json.loads(text)
    except (ValueError, OverflowError):
        raise InputCoercionError(f"default {_shown(text)} is not a valid {kind}") from None
    if kind == "image":
        if not text:
            raise InputCoercionError("an image input needs a value (its default path is empty)")
        if load_image is None:
            raise InputCoercionError("no image loader is available for the default path")
        return load_image(text)
    raise InputCoercionError(f"unknown input type '{kind}'")


def is_valid_input_name(name: Any) -> bool:
    """Whether ``name`` is a valid GraphInput/GraphOutput name (engine.md §4.18)."""
    return isinstance(name, str) and bool(_NAME_RE.match(name))


def graph_input_codegen(gen: Any) -> CodeFragment:
    """Caller values come from ``inputs`` (coerced by the script); the default is parsed now."""
    kind, name = gen.params["type"], gen.params["name"]
    if kind == "image":
        raise CodegenUnsupported("image graph inputs are decoded with Pillow, which standalone scripts do not use")
    out = gen.var("value")
    try:
        if "value" in gen.params:
            fallback = f"{out} = {py_literal(coerce_value(kind, gen.params['value']))}"
        else:
            fallback = f"{out} = {py_literal(parse_default(kind, gen.params['default']))}"
    except InputCoercionError as exc:
        fallback = f"raise InputError({f'GraphInput {name!r}: {exc}'!r})"
    if not gen.is_top_level:  # only top-level inputs belong to the graph's contract
        return gen.fragment(fallback)
    return gen.fragment(
        f"if {name!r} in inputs:",
        f"    {out} = inputs[{name!r}]",
        "else:",
        "    " + fallback,
    )


@node(
    name="GraphInput",
    category=CATEGORY,
    outputs=[Out("value", "ANY", "The caller's value, or the parsed default.")],
    params=[
        Param.string("name", "input", "Input name in the graph's function contract."),
        Param.select(
            "type", "string", INPUT_TYPES, "Declared type; caller values are coerced strictly."
        ),
        Param.bool("required", True, "Whether a function call must supply this input."),
        Param.string("default", "", "Value used when none is supplied, written as text."),
        Param.string("description", "", "Shown in the function contract."),
    ],
    codegen=graph_input_codegen,
)
def graph_input(call: Any) -> dict[str, Any]:
    """An input of the graph when it is called as a function (engine.md §4.18).

    A value injected by the caller (effective param `value`) is coerced strictly to `type`;
    otherwise `default` is parsed from its text (an image default is a path in the images folder).
    """
    kind = call.params["type"]
    name = call.params["name"]
    try:
        if "value" in call.params:
            value = coerce_value(kind, call.params["value"])
        else:
            value = parse_default(kind, call.params["default"], lambda p: _read_rgb(call, p))
    except InputCoercionError as exc:
        raise ValueError(f"GraphInput '{name}': {exc}") from None
    if isinstance(value, torch.Tensor):
        value = to_device(value, call.device)
    return {"value": value}


def _read_rgb(call: Any, path: str) -> torch.Tensor:
    from nodeloom.torchkit.images import read_image

    return read_image(call, path, "RGB", 0, node_name="GraphInput")


def graph_output_codegen(gen: Any) -> CodeFragment:
    return gen.fragment(f"{gen.var('value')} = {gen.input('value')}")


@node(
    name="GraphOutput",
    category=CATEGORY,
    inputs=[In("value", "ANY", "The value returned to the caller.")],
    params=[
        Param.string("name", "output", "Output name in the graph's function contract."),
        Param.string("description", "", "Shown in the function contract."),
    ],
    codegen=graph_output_codegen,
)
def graph_output(call: Any) -> dict[str, Any]:
    """An output of the graph when it is called as a function; the caller collects `value`."""
    return {"value": call.inputs.get("value")}


def inference_codegen(gen: Any) -> CodeFragment:
    dev, model, out = gen.tmp("device"), gen.var("model"), gen.var("output")
    return gen.fragment(
        f"{dev} = node_device({gen.param('device')}, device)",
        f"{model} = to_device({gen.input('model')}, {dev})",
        f"if hasattr({model}, 'eval'):",
        f"    {model}.eval()",
        f"{out} = {model}(to_device({gen.input('input')}, {dev}))",
    )


@node(
    name="Inference",
    category=CATEGORY,
    inputs=[In("model", "MODEL"), In("input", "TENSOR")],
    outputs=[
        Out("output", "TENSOR", "The model's output."),
        Out("model", "MODEL", "The same model object, now in eval mode."),
    ],
    params=[Param.select("device", "auto", DEVICES, "auto follows the run device.")],
    codegen=inference_codegen,
)
def inference(call: Any) -> dict[str, Any]:
    """Run a model in eval mode without gradients: `model.eval(); output = model(input)`."""
    model = call.inputs["model"]
    if not callable(model):
        raise ValueError(f"Inference: model input is not callable (got {type(model).__name__})")
    log: list[str] = []
    device = resolve_node_device(call, call.params["device"], log)
    model = to_device(model, device)
    x = to_device(call.inputs["input"], device)
    if hasattr(model, "eval"):
        model.eval()
    with torch.no_grad():
        output = model(x)
    result: dict[str, Any] = {"output": output, "model": model}
    if log:
        result["__log__"] = "\n".join(log)
    return result
