"""A first-party test plugin that registers model registry entries (``register_models`` hook)."""

from __future__ import annotations

from typing import Any

from nodeloom.kernel import hookimpl

ENTRIES: list[dict[str, Any]] = [
    {
        "id": "yolox_s",
        "name": "YOLOX S",
        "category": "Object Detection",
        "source": {"type": "huggingface", "repo_id": "Megvii/YOLOX", "filename": "weights/yolox_s.pth"},
        "description": "A detector.",
    },
    {
        "id": "tiny",
        "category": "classifiers",
        "source": {"type": "url", "url": "http://127.0.0.1:9/files/tiny%20net.PT?x=1"},
    },
    {
        "id": "replaced",
        "name": "From the plugin",
        "category": "Zoo",
        "filename": "replaced.pt",
        "source": {"type": "url", "url": "http://127.0.0.1:9/replaced.pt"},
    },
    # Accepted by the kernel, refused by the models plugin: the default target name is not a model file.
    {
        "id": "config_only",
        "category": "Zoo",
        "source": {"type": "huggingface", "url": "org/repo", "filename": "config.json", "revision": "v1"},
    },
]


@hookimpl
def register_models(register: Any) -> None:
    for entry in ENTRIES:
        register(entry)
