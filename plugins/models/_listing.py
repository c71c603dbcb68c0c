"""The two model listings: registry plus disk (§2.8.1) and one category's files (§2.8.2)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from ._files import installed_size, walk_model_files
from ._names import UPLOADED
from ._registry import RegistryView


def _sort_key(item: dict[str, Any]) -> tuple[str, str, str]:
    return (item["category"].casefold(), item["name"].casefold(), item["id"])


def list_models(root: Path, view: RegistryView) -> list[dict[str, Any]]:
    """Every registry entry with its install state, then every other model file on disk."""
    items: list[dict[str, Any]] = []
    targets: set[str] = set()
    for entry in view.entries.values():
        size = installed_size(root, entry.target)
        installed = size is not None
        if installed:
            targets.add(entry.target)
        items.append({
            "id": entry.id,
            "name": entry.name,
            "category": entry.category,
            "source": dict(entry.source),
            "installed": installed,
            "filename": entry.target if installed else None,
            "size": size,
        })
    for file in walk_model_files(root):
        if file.relpath in targets:
            continue
        parts = PurePosixPath(file.relpath).parts
        items.append({
            "id": file.relpath,
            "name": parts[-1],
            "category": parts[0] if len(parts) > 1 else UPLOADED,
            "source": {"type": "upload"},
            "installed": True,
            "filename": file.relpath,
            "size": file.size,
        })
    items.sort(key=_sort_key)
    return items


def list_category(root: Path, category: str) -> list[dict[str, str]]:
    """Installed files under ``models/<category>/`` at any depth; a missing folder gives ``[]``."""
    if not (root / category).is_dir():
        return []
    files = walk_model_files(root, category)
    items = [{"name": PurePosixPath(f.relpath).stem, "path": f.relpath} for f in files]
    items.sort(key=lambda item: item["path"])
    return items
