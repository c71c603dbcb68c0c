"""Image files as tensors for node authors (Pillow, no torchvision)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nodeloom.kernel.paths import resolve_file

MODES = ("RGB", "L", "RGBA")


def pil_to_tensor(img: Any) -> torch.Tensor:
    """A Pillow image as a (C, H, W) float32 tensor in [0, 1] (L gives 1 channel, RGBA 4)."""
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    # np.asarray may share Pillow's read-only buffer; torch needs its own writable copy.
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def read_image(
    call: Any, path: str, mode: str, resize: int, node_name: str = "ImageReader"
) -> torch.Tensor:
    """Load an image param path from the images folder (N8) as a CPU (C, H, W) float32 tensor."""
    from PIL import Image

    if not path:
        raise ValueError("Image path is required")
    resolved = resolve_file(call, "images", path, node_name)
    if not resolved.is_file():
        raise FileNotFoundError(f"Image not found: {path}")
    with Image.open(resolved) as img:
        img.load()
        converted = img.convert(mode)
    if resize > 0:
        converted = converted.resize((resize, resize), Image.BILINEAR)
    return pil_to_tensor(converted)
