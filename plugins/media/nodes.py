"""Tier-1 image file nodes (nodes.md §2.13): ``ImageReader``, with Pillow instead of torchvision."""

from __future__ import annotations

from typing import Any

from nodeloom.kernel.api import Out, Param, node
from nodeloom.kernel.paths import file_fingerprint
from nodeloom.torchkit import to_device
from nodeloom.torchkit.images import read_image

from nodeloom.torchkit.images import MODES


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
    tensor = read_image(call, call.params["path"], call.params["mode"], call.params["resize"])
    tensor = to_device(tensor, call.device)
    return {"image": tensor, "tensor": tensor}
