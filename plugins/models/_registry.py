"""The model registry as the routes and nodes use it (api.md §2.8, "Model registry").

The kernel merges the entries (plugins first, then ``models/registry.json``; a later id replaces an
earlier one) and drops the ones its checks refuse, reporting them in the reload ``errors``. This
module adds what only the models plugin knows: the target file name each entry defaults to, and
whether that name can be a model file at all. Entries that fail here are skipped and listed in
:attr:`RegistryView.problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

from nodeloom.kernel.paths import PathError, check_relpath

from ._names import is_model_name


class EntryProblem(ValueError):
    """Why one registry entry cannot be used; ``str()`` is a one-line message naming the entry."""


@attrs.frozen
class RegistryEntry:
    id: str
    name: str
    category: str
    filename: str
    source: Mapping[str, Any]
    sha256: str | None = None
    description: str = ""

    @property
    def source_type(self) -> str:
        return str(self.source.get("type", ""))

    @property
    def target(self) -> str:
        """The relpath inside ``models/`` that the entry installs to."""
        return f"{self.category}/{self.filename}"


@attrs.frozen
class RegistryView:
    """Usable entries by id (registry order) and the problems of the ones skipped."""

    entries: Mapping[str, RegistryEntry] = attrs.field(factory=dict)
    problems: tuple[str, ...] = ()

    def get(self, model_id: str) -> RegistryEntry | None:
        return self.entries.get(model_id)


def _wire_source(source: Mapping[str, Any]) -> dict[str, Any]:
    kind = source.get("type")
    if kind == "huggingface":
        repo = source.get("repo_id", source.get("url"))
        return {
            "type": "huggingface",
            "repo_id": repo,
            "url": repo,
            "filename": source.get("filename"),
            "revision": source.get("revision") or "main",
        }
    if kind == "url":
        return {"type": "url", "url": source.get("url")}
    return dict(source)


def _default_filename(source: Mapping[str, Any], handler: Any) -> str:
    kind = source.get("type")
    if kind == "huggingface":
        return PurePosixPath(str(source.get("filename", ""))).name
    if kind == "url":
        return unquote(PurePosixPath(urlsplit(str(source.get("url", ""))).path).name)
    name = getattr(handler, "default_filename", None)
    return str(name(source) or "") if callable(name) else ""


def parse_entry(raw: Mapping[str, Any], sources: Mapping[str, Any] | None = None) -> RegistryEntry:
    """A usable entry from one (kernel-checked) mapping, or :class:`EntryProblem`."""
    model_id = raw.get("id")
    if not isinstance(model_id, str) or not model_id:
        raise EntryProblem(f"invalid id {model_id!r}")
    source = raw.get("source")
    category = raw.get("category")
    if not isinstance(source, Mapping) or not isinstance(category, str):
        raise EntryProblem(f"{model_id}: needs a category and a source object")
    source = _wire_source(source)
    handler = (sources or {}).get(source.get("type"))
    filename = raw.get("filename") or _default_filename(source, handler)
    if not isinstance(filename, str) or not filename:
        raise EntryProblem(f"{model_id}: no target file name (set 'filename')")
    try:
        check_relpath(filename, single_segment=True)
    except PathError as exc:
        raise EntryProblem(f"{model_id}: target file name: {exc}") from None
    if not is_model_name(filename):
        raise EntryProblem(f"{model_id}: target file name '{filename}' has no model extension")
    name = raw.get("name")
    sha = raw.get("sha256")
    description = raw.get("description")
    return RegistryEntry(
        id=model_id,
        name=name if isinstance(name, str) and name else model_id,
        category=category,
        filename=filename,
        source=source,
        sha256=sha.lower() if isinstance(sha, str) and sha else None,
        description=description if isinstance(description, str) else "",
    )


def build_view(
    raw_entries: Iterable[Mapping[str, Any]],
    sources: Mapping[str, Any] | None = None,
    kernel_problems: Iterable[str] = (),
) -> RegistryView:
    """The view over the kernel's merged entries; ``kernel_problems`` are kept in front."""
    entries: dict[str, RegistryEntry] = {}
    problems = list(kernel_problems)
    for raw in raw_entries:
        try:
            entry = parse_entry(raw, sources)
        except EntryProblem as exc:
            problems.append(str(exc))
            continue
        entries[entry.id] = entry
    return RegistryView(entries, tuple(problems))


def view_of_snapshot(snapshot: Any, sources: Mapping[str, Any] | None = None) -> RegistryView:
    """The registry of a kernel snapshot (``models`` and the ``model_registry`` reload errors)."""
    kernel_problems = [
        f"{err.source}: {err.message}"
        for err in getattr(snapshot, "errors", ())
        if getattr(err, "kind", None) == "model_registry"
    ]
    return build_view(getattr(snapshot, "models", ()), sources, kernel_problems)
