"""Model file names (api.md §2.8): the model extensions and the reserved category.

Kept free of the HTTP layer so that nodes (``RegistryModelLoader``) can use it without Quart.
"""

from __future__ import annotations

from pathlib import PurePosixPath

MODEL_EXTENSIONS = (".bin", ".ckpt", ".gguf", ".onnx", ".pt", ".pth", ".safetensors")
ALLOWED_TEXT = ", ".join(MODEL_EXTENSIONS)
#: The category §2.8.1 gives files at the top level of ``models/``.
UPLOADED = "Uploaded"
#: ``/api/models/download`` is a route, so no category may carry this name (any case).
RESERVED_CATEGORY = "download"


def is_model_name(name: str) -> bool:
    return name.lower().endswith(MODEL_EXTENSIONS)


def extension_of(name: str) -> str:
    """The lowercased final extension with its dot, ``""`` when there is none."""
    return PurePosixPath(name).suffix.lower()


def is_reserved_category(category: str) -> bool:
    return category.lower() == RESERVED_CATEGORY
