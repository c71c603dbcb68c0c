"""Tier-2 image file nodes (nodes.md §3.11): ``ImageBatchReader`` and ``ImageWriter``.

Pillow only (no torchvision). Both stay inside the images folder (nodes.md N8): the reader takes a
folder there (or an upload under ``/temp/``), the writer writes under ``images/output/``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import torch

from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.fsutil import atomic_write_bytes
from nodeloom.kernel.paths import paths_of, resolve_file
from nodeloom.torchkit import to_device
from nodeloom.torchkit.images import MODES, pil_to_tensor

CATEGORY = "IO"
#: At most this many files enter the listing fingerprint (a huge folder is still told apart).
_FINGERPRINT_FILES = 10_000


# -- ImageBatchReader ---------------------------------------------------------------------------


def check_pattern(pattern: str) -> str:
    """A plain glob for files directly inside the folder: no ``/``, ``\\`` or ``..``."""
    if not pattern or "/" in pattern or "\\" in pattern or ".." in pattern:
        raise ValueError(
            f"ImageBatchReader: pattern '{pattern}' must be a plain file-name glob such as *.png "
            "(no '/' or '..')"
        )
    return pattern


def matching_files(folder: Path, pattern: str, max_images: int) -> list[Path]:
    """Sorted files of ``folder`` matching ``pattern``; the first ``max_images`` when > 0.

    Entries whose real location is outside the folder (symlinks leading away) are left out.
    """
    base = folder.resolve()
    files = [
        f for f in sorted(folder.glob(check_pattern(pattern)))
        if f.is_file() and f.resolve().parent == base
    ]
    return files[:max_images] if max_images > 0 else files


def _listing_fingerprint(params: Mapping[str, Any], env: Any) -> str | None:
    paths = paths_of(env)
    directory = params.get("directory")
    if paths is None or not isinstance(directory, str) or not directory:
        return None
    try:
        folder = paths.resolve("images", directory, node="ImageBatchReader")
        files = matching_files(folder, str(params.get("pattern", "")), 0)
    except (OSError, ValueError):
        return None
    digest = hashlib.sha256(str(folder).encode())
    for f in files[:_FINGERPRINT_FILES]:
        try:
            st = f.stat()
        except OSError:
            continue
        digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_image(path: Path, mode: str, size: int) -> torch.Tensor:
    """One file as a (C, size, size) float32 tensor in [0, 1]."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        converted = img.convert(mode)
    return pil_to_tensor(converted.resize((size, size), Image.BILINEAR))


@node(
    name="ImageBatchReader",
    category=CATEGORY,
    outputs=[
        Out("images", "TENSOR", "The images stacked as (N, C, resize, resize) in [0, 1]."),
        Out("count", "SCALAR", "Number of images loaded."),
    ],
    params=[
        Param.string("directory", "", "Folder in the images folder."),
        Param.string("pattern", "*.png", "File-name glob, e.g. *.jpg."),
        Param.int("resize", 224, "Square side every image is resized to.", min=1),
        Param.int("max_images", 0, "Load at most this many (sorted by name); 0 = all.", min=0),
        Param.select("mode", "RGB", MODES, "Pillow mode: RGB (3 channels), L (1) or RGBA (4)."),
    ],
    fingerprint=_listing_fingerprint,
)
def image_batch_reader(call: Any) -> dict[str, Any]:
    """Load every matching image of a folder, resized to one size, as a batch tensor."""
    p = call.params
    directory = p["directory"]
    if not directory:
        raise ValueError("Directory path is required")
    folder = resolve_file(call, "images", directory, "ImageBatchReader")
    if not folder.is_dir():
        raise FileNotFoundError(f"ImageBatchReader: directory not found: {directory}")
    files = matching_files(folder, p["pattern"], p["max_images"])
    if not files:
        raise ValueError(f"No images found matching '{p['pattern']}' in {directory}")
    images, log = [], []
    for f in files:
        call.check_cancelled()
        try:
            images.append(load_image(f, p["mode"], p["resize"]))
        except (OSError, ValueError) as exc:  # Pillow raises these for unreadable files
            log.append(f"ImageBatchReader: skipped {f.name}: {exc}")
    if not images:
        raise ValueError(f"ImageBatchReader: none of the {len(files)} matching files could be read")
    result: dict[str, Any] = {
        "images": to_device(torch.stack(images), call.device),
        "count": len(images),
    }
    if log:
        result["__log__"] = "\n".join(log)
    return result


# -- ImageWriter --------------------------------------------------------------------------------

FORMATS = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "TIFF": ".tiff"}
OUTPUT_DIR = "output"


def target_name(path: str, fmt: str) -> str:
    """``path`` with its suffix replaced by the format's when it differs."""
    suffix = FORMATS[fmt]
    pure = PurePosixPath(path)
    return str(pure) if pure.suffix.lower() == suffix else str(pure.with_suffix(suffix))


def image_bytes(image: torch.Tensor, fmt: str) -> bytes:
    """Encode a (C, H, W) [0, 1] tensor like torchvision's ``save_image`` (4-D: first item)."""
    from PIL import Image

    t = image.detach().cpu()
    if t.dim() == 4:
        t = t[0]
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[0] not in (1, 3, 4):
        raise ValueError(
            f"ImageWriter: image must be (C, H, W) with 1, 3 or 4 channels; got {list(image.shape)}"
        )
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    arr = t.float().mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    pil = Image.fromarray(arr)
    if fmt == "JPEG" and pil.mode == "RGBA":  # JPEG has no alpha channel
        pil = pil.convert("RGB")
    buf = io.BytesIO()
    pil.save(buf, format=fmt)
    return buf.getvalue()


@node(
    name="ImageWriter",
    category=CATEGORY,
    inputs=[In("image", "IMAGE", "A (C, H, W) image in [0, 1]; a batch writes its first item.")],
    outputs=[Out("path", "STRING", "The written file, relative to the images folder.")],
    params=[
        Param.string("path", "output.png", "File name under images/output/."),
        Param.select("format", "PNG", tuple(FORMATS), "Image format (sets the suffix)."),
    ],
    cacheable=False,
)
def image_writer(call: Any) -> dict[str, Any]:
    """Save an image tensor as a PNG, JPEG, BMP or TIFF file under images/output/."""
    fmt = call.params["format"]
    if not call.params["path"]:
        raise ValueError("ImageWriter: path is required")
    image = call.inputs["image"]
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"ImageWriter: image must be a tensor, got {type(image).__name__}")
    relative = f"{OUTPUT_DIR}/{target_name(call.params['path'], fmt)}"
    try:
        final = resolve_file(call, "images", relative, "ImageWriter")
    except ValueError:
        # The message names the param as the user wrote it, not the output/ path built from it.
        raise ValueError(
            f"ImageWriter: path '{call.params['path']}' must stay inside the images directory"
        ) from None
    data = image_bytes(image, fmt)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(final, data)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise ValueError(
            f"ImageWriter: cannot write '{relative}': a file or folder of that name is in the way"
        ) from None
    return {"path": relative}
