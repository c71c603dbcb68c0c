"""Saved graphs in ``<data dir>/graphs/`` (api.md §2.4.2 to §2.4.4): names, save, load, list.

Blocking functions; the routes call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from nodeloom.api import ApiError
from nodeloom.kernel.fsutil import atomic_write_json
from nodeloom.kernel.graph import blank_secrets, graph_from_dict, graph_pack_versions, graph_to_dict
from nodeloom.kernel.paths import NameError_, check_safe_name
from nodeloom.kernel.registry import RegistrySnapshot

from nodeloom.api.files import confined, invalid_name, iso_mtime

__all__ = ["SavedGraph", "graph_path", "list_graphs", "read_graph", "save_graph", "stored_document"]

SUFFIX = ".json"
#: Bytes a file name may use: 255 on common file systems, less what the atomic write's temp name
#: adds (``.<name>.<16 hex>.tmp``) and the ``.json`` suffix.
MAX_NAME_BYTES = 255 - len(".") - len(".0123456789abcdef.tmp") - len(SUFFIX)


def graph_path(folder: Path, name: str) -> Path:
    """``graphs/<name>.json`` for a safe name (400 ``invalid_name``), confined (400 ``invalid_path``)."""
    try:
        check_safe_name(name)
    except NameError_ as exc:
        raise invalid_name(exc) from None
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise invalid_name(name, f"longer than {MAX_NAME_BYTES} bytes in UTF-8, too long for a file name")
    return confined(folder, name + SUFFIX, single_segment=True)


# ---------------------------------------------------------------------------- save


def stored_document(body: Mapping[str, Any], snapshot: RegistrySnapshot) -> dict[str, Any]:
    """The document §2.4.2 stores: the body with unknown keys kept, defaults filled, secrets blank.

    ``nodeloom.packs`` is set to the versions of the packs that provide the graph's node types.
    Duplicate node ids are kept (they are a validation error, not a reason to refuse a draft).
    """
    graph = blank_secrets(graph_from_dict(body, allow_duplicate_ids=True), snapshot)
    document = graph_to_dict(graph)
    meta = document.get("nodeloom")
    meta = dict(meta) if isinstance(meta, Mapping) else {}
    meta["packs"] = graph_pack_versions(graph, snapshot)
    document["nodeloom"] = meta
    return document


@attrs.frozen
class SavedGraph:
    name: str
    path: Path
    modified: str

    def wire(self) -> dict[str, Any]:
        return {
            "message": "Graph saved",
            "name": self.name,
            "file": self.name,
            "path": str(self.path.absolute()),
            "modified": self.modified,
        }


def save_graph(folder: Path, name: str, body: Mapping[str, Any], snapshot: RegistrySnapshot) -> SavedGraph:
    """Check the name, build the stored document and write it atomically (replacing any old file)."""
    path = graph_path(folder, name)
    if path.exists() and not path.is_file():
        raise ApiError(409, "conflict", f"Graph '{name}' cannot be saved: {path.name} is not a regular file")
    document = stored_document(body, snapshot)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, document)
    return SavedGraph(name=name, path=path, modified=iso_mtime(path))


# ---------------------------------------------------------------------------- load


class _NonFinite:
    """``json.loads`` hooks noting whether the file holds NaN, ±Infinity or a number like ``1e999``."""

    def __init__(self) -> None:
        self.seen = False

    def constant(self, token: str) -> float:
        self.seen = True
        return float(token)

    def number(self, text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            self.seen = True
        return value


def read_graph(folder: Path, name: str) -> bytes | dict[str, Any]:
    """The stored graph: the file's bytes as they are, or the parsed object when it holds non-finite numbers.

    JSON the server sends never carries non-finite numbers (§1.1), so such a file is re-encoded
    (they become null) instead of being passed through.
    """
    path = graph_path(folder, name)
    if not path.is_file():
        raise ApiError(404, "graph_not_found", f"Graph '{name}' not found")
    data = path.read_bytes()
    non_finite = _NonFinite()
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=non_finite.constant, parse_float=non_finite.number)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(
            422, "graph_unreadable", f"Graph file '{name}{SUFFIX}' is not valid JSON: {_reason(exc)}"
        ) from None
    if not isinstance(value, dict):
        raise ApiError(422, "graph_unreadable", f"Graph file '{name}{SUFFIX}' is not valid JSON: the root is not an object")
    return value if non_finite.seen else data


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "the file is not UTF-8"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


# ---------------------------------------------------------------------------- list


def _list_item(path: Path) -> dict[str, Any]:
    stem = path.name[: -len(SUFFIX)]
    item: dict[str, Any] = {"name": stem, "file": stem, "modified": iso_mtime(path), "nodes": None, "edges": None,
                            "error": None}
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        item["error"] = f"not valid JSON: {_reason(exc)}"
        return item
    except OSError as exc:
        item["error"] = f"cannot be read: {exc.strerror or exc}"
        return item
    if not isinstance(value, dict):
        item["error"] = "the root is not an object"
        return item
    if isinstance(value.get("name"), str) and value["name"]:
        item["name"] = value["name"]
    for key in ("nodes", "edges"):
        if isinstance(value.get(key), list):
            item[key] = len(value[key])
    return item


def list_graphs(folder: Path) -> list[dict[str, Any]]:
    """One item per regular ``*.json`` file at the top of ``folder``, sorted by casefolded stem."""
    if not folder.is_dir():
        return []
    root = folder.resolve()
    items = []
    for entry in os.scandir(folder):
        if entry.name.startswith(".") or not entry.name.endswith(SUFFIX) or entry.name == SUFFIX:
            continue
        path = Path(entry.path)
        try:
            # Regular files only, and a symlink must not lead out of the folder (§1.12 rule 5).
            if not path.is_file() or root not in path.resolve().parents:
                continue
            items.append(_list_item(path))
        except OSError:  # vanished or unreadable between the scan and the stat
            continue
    items.sort(key=lambda i: (i["file"].casefold(), i["file"]))
    return items
