"""Building registry snapshots from their sources (engine.md §3.5, §7.1, §8).

Sources, in precedence order: first-party plugins, third-party plugins (by id), custom-node files
(by file name), user presets (``<data-dir>/presets/*.json``) and the user model registry
(``<data-dir>/models/registry.json``). Each source loads on its own; a failing source keeps its
*last good* contribution from the previous snapshot, marked with the new error. Cross-source rules
(namespacing, duplicate names, preset clashes and resolution, availability) are applied afresh on
every build, so a partial rebuild of one custom file still sees the whole registry.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pluggy

from . import custom_nodes as cn
from .paths import DataDir, PathError, check_relpath
from .plugins import PluginLoader, PluginRecord, call_hookimpl, hookimpls_of, one_line
from .registry import BuildError, ExampleEntry, NodeEntry, PackInfo, PresetEntry, RegistrySnapshot
from .spec import InvalidNodeSpec, NodeSpec, check_spec, spec_of

log = logging.getLogger(__name__)

#: Source groups a rebuild can be limited to.
GROUPS = frozenset({"plugins", "custom", "presets", "models"})
FIRST_PARTY_PACK = "nodeloom"  # NodeEntry.pack_id of nodes from nodeloom's own plugins
CUSTOM_PACK = "custom"
BUILD_HOOKS = ("register_nodes", "register_presets", "register_examples", "register_models")
_MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MODEL_EXTENSIONS = (".bin", ".ckpt", ".gguf", ".onnx", ".pt", ".pth", ".safetensors")


# -- per-source state ---------------------------------------------------------------------


@attrs.frozen
class SourceLoad:
    """What one source contributed in one successful load (items not yet cross-checked)."""

    specs: tuple[NodeSpec, ...] = ()
    presets: tuple[tuple[Mapping[str, Any], str], ...] = ()  # (definition, origin for errors)
    examples: tuple[tuple[str, Mapping[str, Any], str | None], ...] = ()  # (relpath, graph, file)
    models: tuple[Mapping[str, Any], ...] = ()
    item_errors: tuple[BuildError, ...] = ()
    version: str = ""
    code_digest: str = ""
    module_name: str | None = None  # custom files: the module this load executed


@attrs.frozen
class SourceState:
    """A source as of the latest build: its last good load and the latest failure, if any."""

    key: str  # plugin:<id> | custom:<file> | preset:<file> | models:registry.json
    kind: str  # BuildError kind: plugin | custom_node | preset | model_registry
    name: str  # plugin id or file name (BuildError.source)
    good: SourceLoad | None = None
    error: BuildError | None = None
    digest: str | None = None  # content digest of the latest attempt (files only)


def _failed(
    previous: SourceState | None, key: str, error: BuildError, digest: str | None = None
) -> SourceState:
    """A source whose latest load failed: it keeps its last good load, if it ever had one."""
    good = previous.good if previous is not None else None
    return SourceState(key, error.kind, error.source, good=good, error=error, digest=digest)


def _states_of(snapshot: RegistrySnapshot | None) -> dict[str, SourceState]:
    if snapshot is None:
        return {}
    states = snapshot.sources.get("states", {})
    return dict(states) if isinstance(states, Mapping) else {}


# -- registration callbacks ---------------------------------------------------------------


def _flatten(obj: Any) -> Iterable[Any]:
    """A registered object, or each element of an iterable of them (strings and mappings are atoms)."""
    if obj is None:
        return
    if spec_of(obj) is not None or isinstance(obj, (str, bytes, os.PathLike, Mapping)):
        yield obj
        return
    if isinstance(obj, Iterable):
        for item in obj:
            yield from _flatten(item)
        return
    yield obj


def check_node_object(obj: Any, kind: str, source: str) -> tuple[NodeSpec | None, BuildError | None]:
    """Validate one registered node object; a rejection names ``invalid_node_spec``."""
    spec = spec_of(obj)
    if spec is None:
        got = type(obj).__name__
        return None, BuildError(kind, source, f"invalid_node_spec: expected a NodeSpec, got {got}")
    try:
        check_spec(spec)
    except InvalidNodeSpec as exc:
        return None, BuildError(kind, source, f"invalid_node_spec: {exc}")
    except Exception as exc:  # noqa: BLE001 - a spec whose checks themselves crash is invalid too
        name = getattr(spec, "name", "?")
        return None, BuildError(kind, source, f"invalid_node_spec: {name}: {one_line(exc)}")
    return spec, None


def _preset_api() -> tuple[Callable[[Any], dict], Callable[..., PresetEntry]]:
    from .presets import normalize_preset, resolve_preset

    return normalize_preset, resolve_preset


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class _Collector:
    """The ``register`` callbacks handed to one plugin's hooks; gathers items and item errors."""

    def __init__(self, source: str, base_dir: Path | None) -> None:
        self.source = source
        self.base_dir = base_dir
        self.specs: list[NodeSpec] = []
        self.presets: list[tuple[Mapping[str, Any], str]] = []
        self.examples: list[tuple[str, Mapping[str, Any], str | None]] = []
        self.models: list[Mapping[str, Any]] = []
        self.errors: list[BuildError] = []

    def _path(self, value: Any) -> Path:
        path = Path(os.fspath(value))
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path

    def node(self, *objs: Any) -> None:
        for obj in _flatten(objs):
            spec, err = check_node_object(obj, "plugin", self.source)
            if err is not None:
                self.errors.append(err)
            else:
                assert spec is not None
                self.specs.append(spec)

    def preset(self, *objs: Any) -> None:
        normalize, _ = _preset_api()
        for obj in _flatten(objs):
            origin = self.source
            try:
                if isinstance(obj, (str, os.PathLike)):
                    path = self._path(obj)
                    origin = path.name
                    obj = _read_json(path)
                if not isinstance(obj, Mapping):
                    raise ValueError(f"expected a preset mapping, got {type(obj).__name__}")
                self.presets.append((normalize(obj), origin))
            except Exception as exc:  # noqa: BLE001 - one bad preset does not fail the pack
                self.errors.append(BuildError("preset", origin, one_line(exc)))

    def example(self, relpath: Any, graph: Any = None) -> None:
        if graph is None and isinstance(relpath, tuple) and len(relpath) == 2:
            relpath, graph = relpath
        try:
            rel = check_relpath(relpath)
            file: str | None = None
            if isinstance(graph, (str, os.PathLike)):
                path = self._path(graph)
                file = str(path)
                graph = _read_json(path)
            if not isinstance(graph, Mapping):
                raise ValueError(f"expected a graph mapping, got {type(graph).__name__}")
            self.examples.append((rel, graph, file))
        except PathError as exc:
            self.errors.append(BuildError("example", str(relpath), str(exc)))
        except Exception as exc:  # noqa: BLE001 - an unreadable example is left out and reported
            self.errors.append(BuildError("example", str(relpath), one_line(exc)))

    def model(self, *objs: Any) -> None:
        for obj in _flatten(objs):
            if isinstance(obj, Mapping):
                self.models.append(dict(obj))
            else:
                got = type(obj).__name__
                self.errors.append(
                    BuildError("model_registry", self.source, f"expected a model entry mapping, got {got}")
                )

    def callback(self, hook: str) -> Callable[..., None]:
        return {
            "register_nodes": self.node,
            "register_presets": self.preset,
            "register_examples": self.example,
            "register_models": self.model,
        }[hook]


def _register_returned(collector: _Collector, hook: str, returned: Any) -> None:
    # A hook may return what it would otherwise register.
    if returned is None:
        return
    if hook == "register_examples":
        items = returned.items() if isinstance(returned, Mapping) else returned
        for rel, graph in items:
            collector.example(rel, graph)
    else:
        collector.callback(hook)(returned)


def load_plugin(pm: pluggy.PluginManager, record: PluginRecord) -> SourceLoad:
    """Run one plugin's registration hooks; any exception fails the whole plugin (quarantine)."""
    module_file = getattr(record.module, "__file__", None)
    collector = _Collector(record.id, Path(module_file).parent if module_file else None)
    for hook in BUILD_HOOKS:
        for impl in hookimpls_of(pm, hook, record.id):
            returned = call_hookimpl(impl, register=collector.callback(hook))
            _register_returned(collector, hook, returned)
    return SourceLoad(
        specs=tuple(collector.specs),
        presets=tuple(collector.presets),
        examples=tuple(collector.examples),
        models=tuple(collector.models),
        item_errors=tuple(collector.errors),
        version=record.version or "",
        code_digest=record.code_digest,
    )


# -- loading each group -------------------------------------------------------------------


def _plugin_states(
    pm: pluggy.PluginManager, loader: PluginLoader, previous: Mapping[str, SourceState]
) -> dict[str, SourceState]:
    states: dict[str, SourceState] = {}
    for rec in loader.ordered():
        key = f"plugin:{rec.id}"
        prev = previous.get(key)
        if not rec.enabled and rec.error is None:
            continue  # disabled: its nodes disappear
        if rec.error is not None:
            err = BuildError("plugin", rec.id, rec.error)
            # Refused at discovery (enabled False): never loaded, so nothing to carry over.
            states[key] = _failed(prev if rec.enabled else None, key, err)
            continue
        try:
            load = load_plugin(pm, rec)
        except Exception as exc:  # noqa: BLE001 - quarantine: nothing from this build is kept
            message = one_line(exc)
            log.warning("plugin %s failed to register: %s", rec.id, message)
            states[key] = _failed(prev, key, BuildError("plugin", rec.id, message))
            continue
        states[key] = SourceState(key, "plugin", rec.id, good=load)
    return states


def _custom_states(
    folder: Path, previous: Mapping[str, SourceState], *, force: bool
) -> dict[str, SourceState]:
    states: dict[str, SourceState] = {}
    for path in cn.custom_files(folder):
        key = f"custom:{path.name}"
        prev = previous.get(key)
        try:
            data = path.read_bytes()
        except OSError as exc:
            states[key] = _failed(prev, key, BuildError("custom_node", path.name, one_line(exc)))
            continue
        digest = cn.file_digest(data)
        if prev is not None and prev.digest == digest and (prev.error is None or not force):
            states[key] = prev  # unchanged content: keep the module that is already loaded
            continue
        result = cn.load_custom_file(path, data)
        if result.ok:
            load = _custom_load(result)
            states[key] = SourceState(key, "custom_node", path.name, good=load, digest=digest)
        else:
            err = BuildError("custom_node", path.name, result.error or "load failed", result.line)
            states[key] = _failed(prev, key, err, digest)
    return states


def _custom_load(result: cn.CustomLoad) -> SourceLoad:
    specs: list[NodeSpec] = []
    errors: list[BuildError] = []
    for obj in _flatten(result.registered):
        spec, err = check_node_object(obj, "custom_node", result.filename)
        if err is not None:
            errors.append(attrs.evolve(err, message=f"{err.message} ({result.filename})"))
        else:
            assert spec is not None
            specs.append(spec)
    return SourceLoad(
        specs=tuple(specs),
        item_errors=tuple(errors),
        version=result.version,
        code_digest=result.digest,
        module_name=result.module_name,
    )


def preset_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".") and p.is_file()),
        key=lambda p: p.name,
    )


def _user_preset_states(folder: Path, previous: Mapping[str, SourceState]) -> dict[str, SourceState]:
    normalize, _ = _preset_api()
    states: dict[str, SourceState] = {}
    for path in preset_files(folder):
        key = f"preset:{path.name}"
        prev = previous.get(key)
        try:
            definition = normalize(_read_json(path))
        except Exception as exc:  # noqa: BLE001 - a bad file is reported; its last good version stays
            states[key] = _failed(prev, key, BuildError("preset", path.name, one_line(exc)))
            continue
        load = SourceLoad(presets=((definition, path.name),))
        states[key] = SourceState(key, "preset", path.name, good=load)
    return states


def _model_registry_state(path: Path, previous: Mapping[str, SourceState]) -> dict[str, SourceState]:
    key = f"models:{path.name}"
    if not path.is_file():
        return {}
    prev = previous.get(key)
    try:
        data = _read_json(path)
        if isinstance(data, Mapping):
            data = data.get("models")
        if not isinstance(data, list):
            raise ValueError('expected a JSON list of entries or {"models": [entries]}')
    except Exception as exc:  # noqa: BLE001
        return {key: _failed(prev, key, BuildError("model_registry", path.name, one_line(exc)))}
    return {key: SourceState(key, "model_registry", path.name, good=SourceLoad(models=tuple(data)))}


def check_model_entry(entry: Any) -> str | None:
    """Why a model registry entry (api.md §2.8) is invalid, or None."""
    if not isinstance(entry, Mapping):
        return "entry is not an object"
    mid = entry.get("id")
    if not isinstance(mid, str) or not _MODEL_ID_RE.match(mid):
        return f"invalid id {mid!r}"
    category = entry.get("category")
    try:
        check_relpath(category, single_segment=True)
    except PathError:
        return f"{mid}: invalid category {category!r}"
    if category.lower() == "download":
        return f"{mid}: category 'download' is reserved"
    source = entry.get("source")
    if not isinstance(source, Mapping):
        return f"{mid}: source must be an object"
    if source.get("type") == "huggingface":
        repo = source.get("repo_id", source.get("url"))
        if not isinstance(repo, str) or not repo or not isinstance(source.get("filename"), str):
            return f"{mid}: a huggingface source needs repo_id and filename"
    elif source.get("type") == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return f"{mid}: a url source needs an http(s) url"
    elif not isinstance(source.get("type"), str) or not source.get("type"):
        # Other types belong to sources that packs register; a job fails if none is registered.
        return f"{mid}: source needs a type"
    filename = entry.get("filename")
    if filename is not None and (
        not isinstance(filename, str) or not filename.lower().endswith(_MODEL_EXTENSIONS)
    ):
        return f"{mid}: filename must carry a model extension"
    sha = entry.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha)):
        return f"{mid}: sha256 must be 64 hex digits"
    return None


# -- assembly -----------------------------------------------------------------------------


class _Availability:
    """``find_spec`` checks (no import), cached for one build."""

    def __init__(self) -> None:
        self._found: dict[str, bool] = {}

    def found(self, import_name: str) -> bool:
        if import_name not in self._found:
            try:
                self._found[import_name] = importlib.util.find_spec(import_name) is not None
            except (ImportError, ValueError):
                self._found[import_name] = False
        return self._found[import_name]

    def check(self, spec: NodeSpec) -> tuple[bool, str | None]:
        for req in spec.requires:
            if not self.found(req.import_name):
                return False, req.reason()
        return True, None


@attrs.define
class _Owner:
    """Who provides entries: the wire provider, NodeEntry.pack_id and the PackInfo id."""

    pack: str
    provider: str
    pack_id: str
    namespace: str | None  # third-party packs qualify their keys
    kind: str
    source: str
    preset_source: str


def _owner(state: SourceState, records: Mapping[str, PluginRecord]) -> _Owner:
    if state.kind == "plugin":
        rec = records.get(state.name)
        first = rec.first_party if rec is not None else False
        return _Owner(
            pack=state.name,
            provider="builtin" if first else f"plugin:{state.name}",
            pack_id=FIRST_PARTY_PACK if first else state.name,
            namespace=None if first else state.name,
            kind="plugin",
            source=state.name,
            preset_source="builtin" if first else f"plugin:{state.name}",
        )
    if state.kind == "custom_node":
        return _Owner(CUSTOM_PACK, "custom", f"custom:{state.name}", None, "custom_node", state.name, "user")
    return _Owner("", "user", "", None, state.kind, state.name, "user")


def _ordered_states(
    states: Mapping[str, SourceState], records: Mapping[str, PluginRecord]
) -> list[SourceState]:
    def order(state: SourceState) -> tuple:
        group = {"plugin": 0, "custom_node": 1, "preset": 2, "model_registry": 3}[state.kind]
        first = state.kind == "plugin" and (rec := records.get(state.name)) is not None and rec.first_party
        return (group, not first, state.name)

    return sorted(states.values(), key=order)


def assemble(
    states: Mapping[str, SourceState],
    *,
    generation: int,
    loader: PluginLoader | None,
    custom_enabled: bool,
    extra_errors: Iterable[BuildError] = (),
) -> RegistrySnapshot:
    """Apply the cross-source rules to the per-source loads and make the snapshot."""
    records = dict(loader.records) if loader is not None else {}
    ordered = _ordered_states(states, records)
    errors: list[BuildError] = list(extra_errors)
    avail = _Availability()
    nodes: dict[str, NodeEntry] = {}
    node_owner: dict[str, _Owner] = {}
    pack_nodes: dict[str, list[str]] = {}
    pack_presets: dict[str, list[str]] = {}
    raw_presets: list[tuple[Mapping[str, Any], str, _Owner, str]] = []
    examples: dict[str, ExampleEntry] = {}
    models: dict[str, Mapping[str, Any]] = {}
    model_owner: dict[str, str] = {}
    custom_modules: set[str] = set()

    for state in ordered:
        if state.error is not None:
            errors.append(state.error)
        load = state.good
        if load is None:
            continue
        owner = _owner(state, records)
        errors.extend(load.item_errors)
        if load.module_name:
            custom_modules.add(load.module_name)
        for spec in load.specs:
            key = f"{owner.namespace}:{spec.name}" if owner.namespace else spec.name
            if key in nodes:
                errors.append(
                    BuildError(
                        owner.kind,
                        owner.source,
                        f"duplicate_node_name: node '{key}' from {_describe(owner)} is already provided by "
                        f"{_describe(node_owner[key])}",
                    )
                )
                continue
            ok, reason = avail.check(spec)
            nodes[key] = NodeEntry(
                spec=spec,
                key=key,
                provider=owner.provider,
                pack_id=owner.pack_id,
                pack_version=load.version,
                code_digest=load.code_digest,
                available=ok,
                unavailable_reason=reason,
            )
            node_owner[key] = owner
            pack_nodes.setdefault(owner.pack, []).append(key)
        for definition, origin in load.presets:
            raw_presets.append((definition, origin, owner, state.kind))
        for rel, graph, file in load.examples:
            path = rel if owner.namespace is None else f"plugin:{owner.pack}/{rel}"
            if path in examples:
                errors.append(
                    BuildError(
                        "example",
                        path,
                        f"example '{path}' from {_describe(owner)} clashes with the one from "
                        f"{examples[path].source}",
                    )
                )
                continue
            examples[path] = ExampleEntry(path=path, graph=graph, file=file, source=owner.preset_source)
        for entry in load.models:
            problem = check_model_entry(entry)
            if problem is not None:
                errors.append(BuildError("model_registry", owner.source, problem))
                continue
            mid = entry["id"]
            if mid in models:
                errors.append(
                    BuildError(
                        "model_registry",
                        mid,
                        f"model '{mid}' from {owner.source} replaces the one from {model_owner[mid]}",
                    )
                )
            models[mid] = entry
            model_owner[mid] = owner.source

    presets = _resolve_presets(raw_presets, nodes, generation, errors, pack_presets)
    packs = _packs(loader, states, pack_nodes, pack_presets, custom_enabled)
    return RegistrySnapshot(
        generation=generation,
        nodes=nodes,
        presets=presets,
        packs=packs,
        examples=dict(sorted(examples.items())),
        models=tuple(models.values()),
        errors=tuple(errors),
        custom_modules=frozenset(custom_modules),
        sources={"states": dict(states)},
    )


def _describe(owner: _Owner) -> str:
    if owner.kind == "custom_node":
        return f"custom ({owner.source})"
    return owner.provider if owner.provider != "builtin" else f"builtin ({owner.source})"


def _resolve_presets(
    raw: list[tuple[Mapping[str, Any], str, _Owner, str]],
    nodes: Mapping[str, NodeEntry],
    generation: int,
    errors: list[BuildError],
    pack_presets: dict[str, list[str]],
) -> dict[str, PresetEntry]:
    _, resolve = _preset_api()
    accepted: dict[str, tuple[Mapping[str, Any], _Owner]] = {}
    for definition, origin, owner, _kind in raw:
        name = definition["preset_name"]
        if name in accepted:
            first = accepted[name][1]
            errors.append(
                BuildError(
                    "preset",
                    name,
                    f"preset_name_clash: preset '{name}' from {owner.preset_source} ({origin}) is already "
                    f"defined by {first.preset_source}",
                )
            )
            continue
        accepted[name] = (definition, owner)
    # Nested presets resolve against the whole set, so every name is visible during resolution.
    interim = RegistrySnapshot(
        generation=generation,
        nodes=nodes,
        presets={n: PresetEntry(definition=d, source=o.preset_source) for n, (d, o) in accepted.items()},
    )
    out: dict[str, PresetEntry] = {}
    for name, (definition, owner) in accepted.items():
        try:
            entry = resolve(definition, interim, owner.preset_source)
        except Exception as exc:  # noqa: BLE001 - an unresolvable preset stays listed as unavailable
            entry = PresetEntry(
                definition=definition, source=owner.preset_source, available=False, error=one_line(exc)
            )
        if not entry.available:
            errors.append(BuildError("preset", name, entry.error or "preset is unavailable"))
        out[name] = entry
        if owner.pack:
            pack_presets.setdefault(owner.pack, []).append(name)
    return out


def _packs(
    loader: PluginLoader | None,
    states: Mapping[str, SourceState],
    pack_nodes: Mapping[str, list[str]],
    pack_presets: Mapping[str, list[str]],
    custom_enabled: bool,
) -> dict[str, PackInfo]:
    packs: dict[str, PackInfo] = {}
    for rec in loader.ordered() if loader is not None else []:
        state = states.get(f"plugin:{rec.id}")
        error = rec.error or (state.error.message if state is not None and state.error is not None else None)
        dist = getattr(rec.entry_point, "dist", None)
        packs[rec.id] = PackInfo(
            id=rec.id,
            name=rec.display_name,
            version=rec.version,
            source=rec.source,
            enabled=rec.enabled,
            hooks=rec.hooks,
            nodes=tuple(sorted(pack_nodes.get(rec.id, ()))),
            presets=tuple(sorted(pack_presets.get(rec.id, ()))),
            error=error,
            description=rec.description(),
            code_digest=rec.code_digest,
            distribution=dist.name if dist is not None else None,
            entry_point=(
                {"group": rec.entry_point.group, "name": rec.entry_point.name, "value": rec.entry_point.value}
                if rec.entry_point is not None
                else None
            ),
            module=rec.entry_point.module if rec.entry_point is not None else None,
        )
    if CUSTOM_PACK not in packs:
        packs[CUSTOM_PACK] = PackInfo(
            id=CUSTOM_PACK,
            name="Custom nodes",
            version=None,
            source="custom",
            enabled=custom_enabled,
            nodes=tuple(sorted(pack_nodes.get(CUSTOM_PACK, ()))),
        )
    return dict(sorted(packs.items()))


# -- the build ----------------------------------------------------------------------------


def build_snapshot(
    *,
    generation: int,
    data_dir: DataDir,
    loader: PluginLoader | None,
    previous: RegistrySnapshot | None = None,
    groups: Collection[str] | None = None,
    custom_enabled: bool = True,
    force: bool = False,
) -> RegistrySnapshot:
    """Build a snapshot; only ``groups`` (default: all of :data:`GROUPS`) are reloaded.

    Groups not rebuilt reuse their per-source states from ``previous``. Within the ``custom``
    group, files whose content did not change keep their loaded module; ``force`` re-executes
    unchanged files whose latest load failed (an explicit reload may succeed where the last failed,
    e.g. after installing a missing dependency).
    """
    wanted = GROUPS if groups is None else frozenset(groups)
    unknown = wanted - GROUPS
    if unknown:
        raise ValueError(f"unknown source groups: {sorted(unknown)}")
    prev_states = _states_of(previous)

    def reuse(prefix: str) -> dict[str, SourceState]:
        return {k: v for k, v in prev_states.items() if k.startswith(prefix)}

    states: dict[str, SourceState] = {}
    if "plugins" in wanted and loader is not None:
        states.update(_plugin_states(loader.pm, loader, prev_states))
    else:
        states.update(reuse("plugin:"))
    if not custom_enabled:
        pass  # a disabled custom pack unloads every file
    elif "custom" in wanted:
        importlib.invalidate_caches()  # a custom file may import a module installed since
        states.update(_custom_states(data_dir.area("custom_nodes"), prev_states, force=force))
    else:
        states.update(reuse("custom:"))
    if "presets" in wanted:
        states.update(_user_preset_states(data_dir.area("presets"), prev_states))
    else:
        states.update(reuse("preset:"))
    if "models" in wanted:
        states.update(_model_registry_state(data_dir.area("models") / "registry.json", prev_states))
    else:
        states.update(reuse("models:"))

    extra = _discovery_errors(loader)
    return assemble(
        states, generation=generation, loader=loader, custom_enabled=custom_enabled, extra_errors=extra
    )


def _discovery_errors(loader: PluginLoader | None) -> list[BuildError]:
    """Entry points refused at discovery whose id slot belongs to another (valid) plugin."""
    if loader is None:
        return []
    out = []
    for pid, message in loader.discovery_errors:
        rec = loader.records.get(pid)
        if rec is None or rec.error != message:
            out.append(BuildError("plugin", pid, message))
    return out


def snapshot_signature(snapshot: RegistrySnapshot) -> tuple:
    """What a watcher compares to decide whether a rebuild changed anything visible."""
    return (
        tuple(sorted((k, e.pack_id, e.code_digest, e.available) for k, e in snapshot.nodes.items())),
        tuple(
            sorted(
                (n, p.source, p.available, p.error, json.dumps(p.definition, sort_keys=True, default=repr))
                for n, p in snapshot.presets.items()
            )
        ),
        tuple(
            sorted(
                (p.id, p.enabled, p.nodes, p.presets, p.error, p.version, p.code_digest)
                for p in snapshot.packs.values()
            )
        ),
        tuple(sorted(snapshot.examples)),
        tuple(json.dumps(m, sort_keys=True, default=repr) for m in snapshot.models),
        tuple(sorted((e.kind, e.source, e.message, e.line or 0) for e in snapshot.errors)),
    )


def custom_file_errors(snapshot: RegistrySnapshot) -> dict[str, str]:
    """The first error of each custom file's latest load, including rejected node specs."""
    out: dict[str, str] = {}
    for err in snapshot.errors:
        if err.kind == "custom_node" and err.source not in out:
            out[err.source] = err.message
    return out


# -- startup-only registrations -----------------------------------------------------------


#: Hooks collected once at startup (plus the two that a full reload refreshes).
STARTUP_HOOKS = (
    "register_run_extensions",
    "register_executors",
    "register_routes",
    "register_storage",
    "register_model_sources",
)
#: Startup registrations that are not startup-only: a full reload collects them again.
RELOADABLE_HOOKS = ("register_run_extensions", "register_model_sources")


@attrs.define
class StartupRegistrations:
    """What plugins registered through the startup hooks (for one plugin, or combined)."""

    run_extensions: list[Any] = attrs.field(factory=list)
    executors: dict[str, Any] = attrs.field(factory=dict)
    routes: list[tuple[str, Any]] = attrs.field(factory=list)  # (plugin id, blueprint)
    storage: dict[str, Any] = attrs.field(factory=dict)
    model_sources: dict[str, Any] = attrs.field(factory=dict)

    def merge(self, other: StartupRegistrations) -> None:
        self.run_extensions.extend(other.run_extensions)
        self.executors.update(other.executors)
        self.routes.extend(other.routes)
        self.storage.update(other.storage)
        self.model_sources.update(other.model_sources)


@attrs.define
class StartupCollection:
    """Per-plugin startup registrations, in load order, and the plugins whose hooks failed."""

    by_plugin: dict[str, StartupRegistrations] = attrs.field(factory=dict)
    failed: dict[str, str] = attrs.field(factory=dict)  # plugin id -> one-line error

    def combined(self, exclude: Collection[str] = ()) -> StartupRegistrations:
        out = StartupRegistrations()
        for pid, regs in self.by_plugin.items():
            if pid not in exclude:
                out.merge(regs)
        return out


def _named(target: dict[str, Any]) -> Callable[..., None]:
    def register(name: str, obj: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"registered name must be a non-empty string, got {name!r}")
        target[name] = obj

    return register


def collect_startup(
    pm: pluggy.PluginManager,
    records: Iterable[PluginRecord],
    hooks: Collection[str] = STARTUP_HOOKS,
) -> StartupCollection:
    """Call the startup registration hooks plugin by plugin; a failing plugin contributes nothing."""
    out = StartupCollection()
    for rec in records:
        if not rec.active:
            continue
        mine = StartupRegistrations()
        callbacks: dict[str, Callable[..., None]] = {
            "register_run_extensions": lambda *objs, _m=mine: _m.run_extensions.extend(_flatten(objs)),
            "register_executors": _named(mine.executors),
            "register_routes": lambda *objs, _m=mine, _id=rec.id: _m.routes.extend((_id, o) for o in objs),
            "register_storage": _named(mine.storage),
            "register_model_sources": _named(mine.model_sources),
        }
        try:
            for hook in STARTUP_HOOKS:
                if hook not in hooks:
                    continue
                for impl in hookimpls_of(pm, hook, rec.id):
                    returned = call_hookimpl(impl, register=callbacks[hook])
                    if returned is not None and hook in ("register_run_extensions", "register_routes"):
                        callbacks[hook](returned)
        except Exception as exc:  # noqa: BLE001 - quarantine this plugin only
            out.failed[rec.id] = one_line(exc)
            log.warning("plugin %s failed at startup registration: %s", rec.id, out.failed[rec.id])
            continue
        out.by_plugin[rec.id] = mine
    return out
