"""Tier-1 image file nodes (nodes.md §2.13): ``ImageReader``, with Pillow instead of torchvision."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch

from nodeloom.kernel.api import Out, Param, node
from nodeloom.kernel.paths import file_fingerprint, resolve_file
from nodeloom.torchkit import to_device
from nodeloom.torchkit.images import MODES, pil_to_tensor

#: Pillow's switch for truncated files is one process-wide flag; flipping it is serialised.
_TRUNCATED_LOCK = threading.Lock()


def _decode(path: Path, mode: str) -> Any:
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        return img.convert(mode)


def decode_image(path: Path, mode: str) -> Any:
    """Open, load and ``convert(mode)`` an image file; truncated files are tolerated (nodes.md §2.13).

    The strict read is tried first so that the common case never touches the global flag; only a
    file that fails is read again with ``LOAD_TRUNCATED_IMAGES`` switched on for that one read.
    """
    from PIL import ImageFile

    try:
        return _decode(path, mode)
    except (OSError, SyntaxError) as first:
        failure = first
    with _TRUNCATED_LOCK:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return _decode(path, mode)
        except (OSError, SyntaxError):
            raise failure from None
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def read_image_file(call: Any, path: str, mode: str, resize: int, node_name: str = "ImageReader") -> torch.Tensor:
    """An image param path (under ``images/``, or an upload's ``/temp/...`` path) as a CPU tensor."""
    from PIL import Image

    if not path:
        raise ValueError("Image path is required")
    resolved = resolve_file(call, "images", path, node_name)
    if not resolved.is_file():
        raise FileNotFoundError(f"Image not found: {path}")
    try:
        converted = decode_image(resolved, mode)
    except (OSError, SyntaxError) as exc:
        # Pillow's own message names the absolute path; the node reports the path it was given.
        reason = str(exc).replace(str(resolved), path) or type(exc).__name__
        raise ValueError(f"{node_name}: '{path}' is not a readable image: {reason}") from None
    if resize > 0:
        converted = converted.resize((resize, resize), Image.BILINEAR)
    return pil_to_tensor(converted)


@node(
    name="ImageReader",
    category="IO",
    outputs=[
        Out("image", "IMAGE", "The image as a (C, H, W) float tensor in [0, 1]."),
        Out("tensor", "TENSOR", "The same tensor."),
    ],
    params=[
        Param.image_file("path", "", "Image file in the images folder."),
        Param.select("mode", "RGB", MODES, "Pillow mode: RGB (3 channels), L (1) or RGBA (4)."),
        Param.int(
            "resize",
            0,
            "Square side to resize to with bilinear filtering; 0 keeps the size.",
            min=0,
        ),
    ],
    fingerprint=file_fingerprint("images", "path", "ImageReader"),
)
def image_reader(call: Any) -> dict[str, Any]:
    """Read an image file from the images folder as a (C, H, W) float32 tensor in [0, 1]."""
    tensor = read_image_file(call, call.params["path"], call.params["mode"], call.params["resize"])
    tensor = to_device(tensor, call.device)
    return {"image": tensor, "tensor": tensor}
