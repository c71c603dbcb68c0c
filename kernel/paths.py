"""Data-dir layout and path confinement (api.md §1.10, §1.12; nodes.md N8).

Every path a client or a graph sends for a data-dir folder goes through :func:`confine`; nothing
else in nodeloom joins user strings onto folders.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

AREAS = ("graphs", "presets", "custom_nodes", "models", "images", "libs", "temp", "state")

_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PathError(ValueError):
    """A client path that breaks the confinement rules; ``str()`` is the user-facing reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"Invalid path '{path}': {reason}")
        self.path = path
        self.reason = reason


def check_relpath(path: object, *, allow_empty: bool = False, single_segment: bool = False) -> str:
    """Check the textual rules 1–4 of api.md §1.12 and return the path."""
    if not isinstance(path, str):
        raise PathError(str(path), "must be a string")
    if path == "":
        if allow_empty:
            return path
        raise PathError(path, "must not be empty")
    if len(path) > 1024:
        raise PathError(path, "longer than 1024 characters")
    if _CONTROL.search(path):
        raise PathError(path, "contains a control character")
    if "\\" in path:
        raise PathError(path, "contains a backslash")
    if path.startswith("/"):
        raise PathError(path, "must be relative")
    segments = path.split("/")
    if single_segment and len(segments) > 1:
        raise PathError(path, "must be a file name, not a path")
    for seg in segments:
        if seg == "":
            raise PathError(path, "contains an empty segment")
        if seg in (".", ".."):
            raise PathError(path, f"contains a '{seg}' segment")
        if seg.startswith("."):
            raise PathError(path, "a segment starts with '.'")
        if ":" in seg:
            raise PathError(path, "a segment contains ':'")
        if len(seg.encode("utf-8")) > 255:
            raise PathError(path, "a segment is longer than 255 bytes")
    return path


def confine(root: str | os.PathLike[str], path: str, **rules: bool) -> Path:
    """Join a checked relpath onto ``root`` and make sure symlinks do not lead outside it."""
    check_relpath(path, **rules)
    base = Path(root).resolve()
    target = (base / path) if path else base
    try:
        resolved = target.resolve()
    except (RuntimeError, OSError) as exc:
        # A symlink loop (RuntimeError before Python 3.13) or a name the OS refuses (too long).
        raise PathError(path, "cannot be resolved: " + ("symlink loop" if isinstance(exc, RuntimeError) else exc.strerror or "invalid")) from None
    if resolved != base and base not in resolved.parents:
        raise PathError(path, "leaves its folder")
    return target


def check_safe_name(name: object) -> str:
    """Graph names become file names as they are (api.md §1.12 name rules)."""
    if not isinstance(name, str) or not name:
        raise NameError_(str(name), "must be a non-empty string")
    if len(name) > 128:
        raise NameError_(name, "longer than 128 characters")
    if _CONTROL.search(name) or any(c in name for c in '/\\:*?"<>|'):
        raise NameError_(name, "contains a forbidden character")
    if name.startswith(".") or name[0].isspace() or name.endswith(".") or name[-1].isspace():
        raise NameError_(name, "starts or ends with '.' or whitespace")
    if _WINDOWS_DEVICES.match(name):
        raise NameError_(name, "is a reserved device name")
    return name


class NameError_(ValueError):  # noqa: N801 - avoids shadowing the builtin NameError
    """An invalid graph name; ``str()`` is the user-facing message."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"Invalid name '{name}': {reason}")
        self.name = name
        self.reason = reason


@attrs.frozen
class DataDir:
    """The server's data dir and its areas."""

    root: Path = attrs.field(converter=lambda p: Path(p).expanduser())

    def area(self, name: str) -> Path:
        return self.root / name

    def ensure(self) -> DataDir:
        """Create the layout (the root with mode 0700 when we create it)."""
        if not self.root.exists():
            self.root.mkdir(parents=True, mode=0o700)
        for name in AREAS:
            self.area(name).mkdir(exist_ok=True)
        (self.root / "temp" / "uploads").mkdir(exist_ok=True)
        return self

    def resolve(self, area: str, path: str, **rules: bool) -> Path:
        return confine(self.area(area), path, **rules)


@attrs.frozen
class NodePaths:
    """What ``NodeCall.paths`` offers node bodies: confined lookups under the data dir.

    ``samples`` are extra folders searched first for ``data/samples/...`` paths (packs add theirs).
    """

    data_dir: DataDir | None
    samples: tuple[Path, ...] = ()

    def resolve(self, area: str, path: str, node: str = "node") -> Path:
        """Resolve a param path for reading or writing under ``area`` (models, images, libs...).

        ``/temp/...`` paths (the form the upload API returns) resolve read-only under ``temp``.
        Any confinement failure raises ``ValueError`` with nodes.md N8's message.
        """
        if self.data_dir is None:
            raise ValueError(f"{node}: no data directory is configured for reading '{path}'")
        try:
            if path.startswith("/temp/"):
                return self.data_dir.resolve("temp", path[len("/temp/") :])
            if path.startswith("data/samples/"):
                rest = path[len("data/samples/") :]
                for folder in self.samples:
                    candidate = confine(folder, rest)
                    if candidate.exists():
                        return candidate
            return self.data_dir.resolve(area, path)
        except PathError:
            raise ValueError(
                f"{node}: path '{path}' must stay inside the {area} directory"
            ) from None


# -- helpers for file params of nodes (nodes.md N8) ---------------------------------------------

def resolve_file(call: Any, area: str, path: str, node_name: str) -> Path:
    """Resolve a path param under a data-dir area (or the bundled samples / uploads)."""
    paths = getattr(call, "paths", None)
    if paths is None:
        raise ValueError(f"{node_name}: no data directory is available to resolve '{path}'")
    return paths.resolve(area, path, node=node_name)


def paths_of(env: Any) -> NodePaths | None:
    """The NodePaths in a fingerprint's ``env``: a NodePaths, a DataDir, or an object carrying one."""
    if isinstance(env, NodePaths):
        return env
    if isinstance(env, DataDir):
        return NodePaths(env)
    carried = getattr(env, "paths", None)
    return carried if isinstance(carried, NodePaths) else None


def file_fingerprint(
    area: str, param: str, node_name: str
) -> Callable[[Mapping[str, Any], Any], str | None]:
    """A NodeSpec ``fingerprint``: the resolved file's path, size and mtime_ns (None when absent)."""

    def fingerprint(params: Mapping[str, Any], env: Any) -> str | None:
        paths = paths_of(env)
        raw = params.get(param)
        if paths is None or not isinstance(raw, str) or not raw:
            return None
        try:
            resolved = paths.resolve(area, raw, node=node_name)
            st = resolved.stat()
        except (OSError, ValueError):
            return None
        return f"{resolved}:{st.st_size}:{st.st_mtime_ns}"

    return fingerprint
