"""Custom-node files: single ``.py`` files in ``<data-dir>/custom_nodes/`` (engine.md §8.5).

Each file is executed as a fresh module ``nodeloom_custom.<stem>_<8 hex of its SHA-256>`` straight
from its source, never through ``importlib.reload``: a new content version gets a new module while
runs pinned to an older snapshot keep using the old one. A file contributes nodes through a
``register_nodes`` hookimpl or, failing that, the NodeSpecs / decorated node functions it defines
at module level (objects merely imported into it are not collected).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import traceback
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from .plugins import call_hookimpl, hookimpls_of, new_plugin_manager
from .spec import NodeSpec, spec_of

PACKAGE = "nodeloom_custom"
SUFFIX = ".py"
DISABLED_SUFFIX = ".py.disabled"


def is_ignored_name(name: str) -> bool:
    return name.startswith(("_", "."))


def custom_files(folder: Path) -> list[Path]:
    """Enabled custom-node files (``*.py``, not ``_*``/``.*``) in sorted filename order."""
    if not folder.is_dir():
        return []
    wanted = (p for p in folder.iterdir() if p.name.endswith(SUFFIX) and not is_ignored_name(p.name))
    return sorted((p for p in wanted if p.is_file()), key=lambda p: p.name)


def listed_files(folder: Path) -> list[Path]:
    """Every ``*.py`` and ``*.py.disabled`` file the custom-nodes listing shows, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.name.endswith((SUFFIX, DISABLED_SUFFIX)) and not is_ignored_name(p.name) and p.is_file()
        ),
        key=lambda p: p.name,
    )


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def version_for(digest: str) -> str:
    """Wire ``version`` of a custom node: ``custom-`` plus 12 hex chars of the file's SHA-256."""
    return f"custom-{digest[:12]}"


def module_name_for(filename: str, digest: str) -> str:
    stem = filename[: -len(SUFFIX)] if filename.endswith(SUFFIX) else filename
    safe = re.sub(r"[^A-Za-z0-9_]", "_", stem) or "_"
    if safe[0].isdigit():
        safe = "_" + safe
    return f"{PACKAGE}.{safe}_{digest[:8]}"


@attrs.frozen
class CustomLoad:
    """The outcome of loading one custom file version.

    ``registered`` holds what the file offered as nodes, unchecked (the builder validates and
    de-duplicates); ``error``/``line`` describe a failure of the whole file.
    """

    filename: str
    digest: str
    module_name: str | None = None
    registered: tuple[Any, ...] = ()
    error: str | None = None
    line: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def version(self) -> str:
        return version_for(self.digest)


def _ensure_package() -> None:
    # Module names are dotted, so pickling and introspection expect the parent to exist.
    if PACKAGE not in sys.modules:
        pkg = types.ModuleType(PACKAGE, "Modules of custom-node files (one per content version).")
        pkg.__path__ = []  # a package that can import nothing from disk
        sys.modules[PACKAGE] = pkg


def format_error(exc: BaseException, filename: str, path: str) -> tuple[str, int | None]:
    """``<ExceptionType>: <message> (<file>, line <n>)`` with the line inside the file itself."""
    if isinstance(exc, SyntaxError) and (exc.filename in (path, None, "<unknown>")):
        line = exc.lineno
        message = exc.msg
    else:
        line = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == path:
                line = frame.lineno
        message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    text = " ".join(text.split())
    where = f"{filename}, line {line}" if line is not None else filename
    return f"{text} ({where})", line


def load_custom_file(path: Path, data: bytes | None = None) -> CustomLoad:
    """Execute one custom file as a fresh module and collect the node objects it offers.

    On success the module stays in ``sys.modules`` (the snapshot using it lists its name); on
    failure it is removed again.
    """
    filename = path.name
    if data is None:
        data = path.read_bytes()
    digest = file_digest(data)
    name = module_name_for(filename, digest)
    src = str(path)
    _ensure_package()
    try:
        code = compile(data, src, "exec", dont_inherit=True)
        spec = importlib.util.spec_from_file_location(name, src)
        if spec is None:
            raise ImportError(f"cannot import {filename}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        # Execute the bytes we hashed, not whatever is on disk a moment later.
        exec(code, module.__dict__)  # noqa: S102 - custom nodes are trusted code (api.md §2.6)
        registered = collect_nodes(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure belongs to this file
        sys.modules.pop(name, None)
        message, line = format_error(exc, filename, src)
        return CustomLoad(filename, digest, None, (), message, line)
    return CustomLoad(filename, digest, name, tuple(registered))


def collect_nodes(module: types.ModuleType) -> list[Any]:
    """What a loaded file provides: its ``register_nodes`` hook, else its own module-level nodes."""
    pm = new_plugin_manager()
    pm.register(module, name=module.__name__)
    try:
        pm.check_pending()
        impls = hookimpls_of(pm, "register_nodes", module.__name__)
        if not impls:
            return list(module_level_nodes(module))
        found: list[Any] = []
        for impl in impls:
            returned = call_hookimpl(impl, register=found.append)
            if returned is not None:
                found.append(returned)
        return found
    finally:
        pm.unregister(name=module.__name__)


def module_level_nodes(module: types.ModuleType) -> Iterable[Any]:
    """Node objects defined in ``module`` itself, in definition order."""
    seen: set[int] = set()
    for obj in list(vars(module).values()):
        spec = spec_of(obj)
        if spec is None or id(spec) in seen or not _defined_in(obj, spec, module):
            continue
        seen.add(id(spec))
        yield obj


def _defined_in(obj: Any, spec: NodeSpec, module: types.ModuleType) -> bool:
    if not isinstance(obj, NodeSpec):
        return getattr(obj, "__module__", None) == module.__name__
    home = getattr(spec.execute, "__module__", None)
    if home == module.__name__:
        return True
    # A bare NodeSpec whose execute lives elsewhere counts as this file's unless it was imported
    # from that other module.
    other = sys.modules.get(home or "")
    return other is None or not any(v is obj for v in vars(other).values())


__all__ = [
    "CustomLoad",
    "DISABLED_SUFFIX",
    "PACKAGE",
    "custom_files",
    "file_digest",
    "format_error",
    "is_ignored_name",
    "listed_files",
    "load_custom_file",
    "module_name_for",
    "version_for",
]
