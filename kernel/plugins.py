"""Plugin discovery and loading: entry points, pack ids, enable state, quarantine (engine.md §8.1-8.2).

The host iterates entry points of group ``nodeloom.plugins`` itself, one at a time, because pluggy's
bulk loader stops at the first broken pack. Each pack is imported and registered under its pack id
inside a try/except; a failure quarantines that pack only. Nothing here names a particular plugin:
first-party packs are recognised by their distribution (``nodeloom``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import re
import site
import sys
import sysconfig
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import importlib_metadata
import pluggy

from . import hookspecs
from .fsutil import atomic_write_json

log = logging.getLogger(__name__)

GROUP = "nodeloom.plugins"
FIRST_PARTY_DISTRIBUTION = "nodeloom"
#: Ids no third-party pack may take (first-party ids are added at discovery time).
RESERVED_IDS = frozenset({"builtin", "custom", "preset", "note", "nodeloom", "api", "ui"})
#: Ids that can never be disabled (the plugin that serves the API itself).
REQUIRED_IDS = frozenset({"api"})
PACK_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

EntryPointSource = Callable[[], Iterable[importlib_metadata.EntryPoint]]


def default_entry_points() -> list[importlib_metadata.EntryPoint]:
    """The installed entry points of group ``nodeloom.plugins`` (re-read on every call)."""
    return list(importlib_metadata.entry_points(group=GROUP))


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


# -- ids and environment ------------------------------------------------------------------


def normalize_pack_id(name: str) -> str:
    """Entry-point name -> pack id: lower-case, ``-`` and ``.`` become ``_`` (engine.md §3.2)."""
    return name.lower().replace("-", "_").replace(".", "_")


def _canonical_dist(name: str | None) -> str | None:
    return re.sub(r"[-_.]+", "-", name).lower() if name else None


def distribution_name(ep: importlib_metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else None


def is_first_party(ep: importlib_metadata.EntryPoint) -> bool:
    return _canonical_dist(distribution_name(ep)) == FIRST_PARTY_DISTRIBUTION


def split_list(value: str) -> list[str]:
    """Comma-separated env list: trimmed, empty entries dropped (api.md §1.9)."""
    return [part.strip() for part in value.split(",") if part.strip()]


@attrs.frozen
class PluginEnv:
    """The environment's say on plugins: ``NODELOOM_PLUGINS`` and ``NODELOOM_DISABLE_PLUGINS``."""

    only: frozenset[str] | None = None  # None: every third-party pack may load
    disabled: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PluginEnv:
        raw_only = env.get("NODELOOM_PLUGINS")
        only = (
            None
            if raw_only is None
            else frozenset(normalize_pack_id(x) for x in split_list(raw_only))
        )
        disabled = frozenset(
            normalize_pack_id(x) for x in split_list(env.get("NODELOOM_DISABLE_PLUGINS", ""))
        )
        return cls(only=only, disabled=disabled - REQUIRED_IDS)

    def excludes(self, pack_id: str, *, first_party: bool) -> bool:
        if pack_id in self.disabled:
            return True
        return not first_party and self.only is not None and pack_id not in self.only


def read_disabled_state(path: Path) -> set[str]:
    """Ids listed in ``state/plugins.json``; a missing or unreadable file disables nothing."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable plugin state %s: %s", path, exc)
        return set()
    ids = data.get("disabled") if isinstance(data, dict) else None
    if not isinstance(ids, list):
        return set()
    return {x for x in ids if isinstance(x, str)} - REQUIRED_IDS


def write_disabled_state(path: Path, disabled: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"disabled": sorted(set(disabled))})


# -- code digests and module purging ------------------------------------------------------


def module_files(module_name: str) -> tuple[Path, list[Path]]:
    """The folder and ``.py`` files of a module (a package's whole tree), found without importing it.

    For a dotted name the parent packages are imported, as ``find_spec`` requires.
    """
    spec = importlib.util.find_spec(module_name)
    if spec is None:
        raise ModuleNotFoundError(f"No module named '{module_name}'")
    if spec.submodule_search_locations:
        roots = [Path(p) for p in spec.submodule_search_locations]
        files = sorted(
            {p for root in roots if root.is_dir() for p in root.rglob("*.py") if "__pycache__" not in p.parts}
        )
        return roots[0], files
    if spec.origin and spec.origin.endswith(".py"):
        origin = Path(spec.origin)
        return origin.parent, [origin]
    return Path(spec.origin or "."), []


def code_digest(files: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 over sorted ``(relative path, bytes)`` pairs, length-framed so pairs cannot blur."""
    h = hashlib.sha256()
    for rel, data in sorted(files):
        name = rel.encode("utf-8")
        h.update(len(name).to_bytes(8, "big") + name)
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def package_digest(module_name: str) -> str:
    """engine.md §8.4 ``code_digest`` of the package (or single module) ``module_name``."""
    root, files = module_files(module_name)
    pairs = []
    for path in files:
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            rel = path.name
        pairs.append((rel, path.read_bytes()))
    return code_digest(pairs)


def purge_modules(root: str) -> list[str]:
    """Remove ``root`` and its submodules from ``sys.modules`` so the next import re-reads them."""
    gone = [name for name in list(sys.modules) if name == root or name.startswith(root + ".")]
    for name in gone:
        sys.modules.pop(name, None)
    return gone


def pack_root(ep: importlib_metadata.EntryPoint, *, first_party: bool) -> str:
    """The package whose files make up the pack.

    A third-party pack is its top-level package. First-party packs all live inside the ``nodeloom``
    package, so theirs is the entry-point module's own package (``nodeloom.plugins.<name>``).
    """
    module = ep.module
    if not first_party:
        return module.split(".")[0]
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations:
        return module
    return module.rpartition(".")[0] or module


def _site_dirs() -> list[Path]:
    dirs = {sysconfig.get_paths().get(k) for k in ("purelib", "platlib")}
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:  # some virtualenv builds lack it
        pass
    return [Path(d).resolve() for d in dirs if d]


def is_editable_source(folder: Path) -> bool:
    """True when ``folder`` lies outside every site-packages dir (an editable or path install)."""
    folder = folder.resolve()
    return not any(folder == d or d in folder.parents for d in _site_dirs())


def one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return " ".join(text.split())


# -- records ------------------------------------------------------------------------------


@attrs.define
class PluginRecord:
    """One plugin as the loader knows it; mutable, owned by :class:`PluginLoader`."""

    id: str
    entry_point: importlib_metadata.EntryPoint | None
    first_party: bool
    distribution: str | None = None
    version: str | None = None
    enabled: bool = True  # as configured (state file and environment)
    excluded: bool = False  # by the environment; cannot be enabled at run time
    root: str | None = None
    code_digest: str = ""
    module: Any = None  # the registered object, when loaded
    hooks: tuple[str, ...] = ()
    error: str | None = None
    registered: bool = False

    @property
    def source(self) -> str:
        return "builtin" if self.first_party else "entry-point"

    @property
    def provider(self) -> str:
        return "builtin" if self.first_party else f"plugin:{self.id}"

    @property
    def active(self) -> bool:
        """Loaded, registered and not quarantined: its hooks take part in builds."""
        return self.enabled and self.registered and self.error is None

    @property
    def display_name(self) -> str:
        return self.id if self.first_party or not self.distribution else self.distribution

    def description(self) -> str:
        dist = getattr(self.entry_point, "dist", None)
        summary = _meta(dist, "Summary") or ""
        if self.first_party:
            # First-party plugins share nodeloom's distribution; their own docstring says more.
            doc = getattr(self.module, "__doc__", None)
            if doc and doc.strip():
                return doc.strip().splitlines()[0]
        return summary


def _meta(dist: Any, key: str) -> str | None:
    if dist is None:
        return None
    try:
        value = dist.metadata.get(key)
    except Exception:  # noqa: BLE001 - broken metadata must not break the listing
        return None
    return str(value) if value not in (None, "UNKNOWN") else None


def plugin_manifest(record: PluginRecord) -> dict[str, Any]:
    """The ``manifest`` object of ``GET /api/plugins/{id}`` (api.md §2.7.3)."""
    ep = record.entry_point
    dist = getattr(ep, "dist", None)
    homepage = _meta(dist, "Home-page")
    authors: list[str] = []
    if dist is not None:
        try:
            md = dist.metadata
            for url in md.get_all("Project-URL") or []:
                label, _, link = str(url).partition(",")
                if homepage is None and label.strip().lower() in ("homepage", "home", "source"):
                    homepage = link.strip()
            for key in ("Author", "Author-email", "Maintainer", "Maintainer-email"):
                value = md.get(key)
                if value and value != "UNKNOWN":
                    authors.extend(a.strip() for a in str(value).split(",") if a.strip())
        except Exception:  # noqa: BLE001
            pass
    return {
        "distribution": dist.name if dist is not None else None,
        "version": record.version,
        "summary": _meta(dist, "Summary") or "",
        "entry_point": (
            {"group": ep.group, "name": ep.name, "value": ep.value} if ep is not None else None
        ),
        "module": ep.module if ep is not None else None,
        "requires_python": _meta(dist, "Requires-Python"),
        "requires": list(dist.requires or []) if dist is not None else [],
        "homepage": homepage,
        "license": _meta(dist, "License-Expression") or _meta(dist, "License"),
        "authors": authors,
    }


def plugin_readme(record: PluginRecord) -> str:
    """Long description, else a ``README.md`` next to the plugin module, else ``""``."""
    dist = getattr(record.entry_point, "dist", None)
    if dist is not None:
        try:
            body = dist.metadata.json.get("description")
        except Exception:  # noqa: BLE001
            body = None
        if body and str(body).strip() and str(body).strip() != "UNKNOWN":
            return str(body)
    module_file = getattr(record.module, "__file__", None)
    if module_file:
        readme = Path(module_file).parent / "README.md"
        if readme.is_file():
            return readme.read_text(encoding="utf-8", errors="replace")
    return ""


def implemented_hooks(pm: pluggy.PluginManager, plugin: Any) -> tuple[str, ...]:
    callers = pm.get_hookcallers(plugin) or []
    return tuple(sorted({caller.name for caller in callers}))


# -- the loader ---------------------------------------------------------------------------


@attrs.define
class _Candidate:
    id: str
    ep: importlib_metadata.EntryPoint
    first_party: bool
    error: str | None = None


class PluginLoader:
    """Discovers, loads and tracks plugins for one plugin manager.

    :meth:`scan` is idempotent: unchanged packs stay registered, packs whose version or code digest
    changed are purged from ``sys.modules`` and re-imported, disabled ones are unregistered.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        *,
        entry_points: EntryPointSource = default_entry_points,
        env: PluginEnv | None = None,
        state_path: Path | None = None,
    ) -> None:
        self.pm = pm
        self._source = entry_points
        self.env = env or PluginEnv()
        self.state_path = state_path
        self.records: dict[str, PluginRecord] = {}
        # Entry points refused at discovery (bad, reserved or duplicate ids). Each is also listed in
        # ``records`` unless a loadable plugin holds that id; then only the build errors name it.
        self.discovery_errors: list[tuple[str, str]] = []

    # -- queries --------------------------------------------------------------------------

    def ordered(self) -> list[PluginRecord]:
        """Records in load order: first-party by id, then third-party by id."""
        return sorted(self.records.values(), key=lambda r: (not r.first_party, r.id))

    def active(self) -> list[PluginRecord]:
        return [r for r in self.ordered() if r.active]

    def disabled_state(self) -> set[str]:
        return read_disabled_state(self.state_path) if self.state_path is not None else set()

    # -- scanning -------------------------------------------------------------------------

    def scan(self) -> list[PluginRecord]:
        """(Re)discover entry points and bring the plugin manager in line with them."""
        importlib.invalidate_caches()
        candidates = self._candidates()
        disabled = self.disabled_state()
        new_records: dict[str, PluginRecord] = {}
        for cand in candidates:
            previous = self.records.get(cand.id)
            if cand.error is not None:
                if cand.id in new_records:
                    continue  # the valid holder of this id keeps the slot
                self._drop(previous)
                new_records[cand.id] = PluginRecord(
                    id=cand.id,
                    entry_point=cand.ep,
                    first_party=cand.first_party,
                    distribution=distribution_name(cand.ep),
                    version=getattr(getattr(cand.ep, "dist", None), "version", None),
                    enabled=False,
                    error=cand.error,
                )
                continue
            new_records[cand.id] = self._bring_up(cand, previous, disabled)
        for pid, old in self.records.items():
            if pid not in new_records:
                self._drop(old, purge=True)
        self.records = new_records
        self._check_pending()
        return self.ordered()

    def quarantine(self, pack_id: str, message: str) -> None:
        """Unregister a pack and record why; its modules stay for any snapshot still using them."""
        rec = self.records[pack_id]
        if rec.registered:
            self._unregister(rec)
        rec.error = message

    def _candidates(self) -> list[_Candidate]:
        self.discovery_errors = []
        cands: list[_Candidate] = []
        for ep in self._source():
            cands.append(_Candidate(normalize_pack_id(ep.name), ep, is_first_party(ep)))
        first_ids = {c.id for c in cands if c.first_party}
        by_id: dict[str, list[_Candidate]] = {}
        for c in cands:
            by_id.setdefault(c.id, []).append(c)
        for c in cands:
            if not PACK_ID_RE.match(c.id):
                c.error = (
                    f"invalid plugin id '{c.id}' (from entry point '{c.ep.name}'): "
                    "it must match ^[a-z][a-z0-9_]{0,63}$"
                )
            elif not c.first_party and (c.id in RESERVED_IDS or c.id in first_ids):
                c.error = f"plugin id '{c.id}' is reserved"
            else:
                rivals = [
                    o for o in by_id[c.id] if o is not c and o.first_party == c.first_party
                ]
                if rivals:
                    names = ", ".join(
                        sorted(f"{distribution_name(o.ep) or '?'} ({o.ep.value})" for o in by_id[c.id])
                    )
                    c.error = f"plugin id '{c.id}' is declared by several entry points: {names}"
            if c.error is not None:
                self.discovery_errors.append((c.id, c.error))
        # Valid candidates first so an invalid rival never takes the id's slot.
        return sorted(cands, key=lambda c: (c.error is not None, not c.first_party, c.id))

    def _bring_up(
        self, cand: _Candidate, previous: PluginRecord | None, disabled: set[str]
    ) -> PluginRecord:
        ep = cand.ep
        excluded = self.env.excludes(cand.id, first_party=cand.first_party)
        enabled = not excluded and (cand.id in REQUIRED_IDS or cand.id not in disabled)
        rec = PluginRecord(
            id=cand.id,
            entry_point=ep,
            first_party=cand.first_party,
            distribution=distribution_name(ep),
            version=getattr(getattr(ep, "dist", None), "version", None),
            enabled=enabled,
            excluded=excluded,
        )
        same_target = previous is not None and previous.entry_point is not None and (
            previous.entry_point.value == ep.value
        )
        if not enabled:
            if previous is not None:
                self._drop(previous)
                if same_target:
                    rec.module, rec.hooks = previous.module, previous.hooks
                    rec.root, rec.code_digest = previous.root, previous.code_digest
            return rec
        try:
            rec.root = pack_root(ep, first_party=cand.first_party)
            rec.code_digest = package_digest(rec.root)
        except Exception as exc:  # noqa: BLE001 - a pack that cannot even be located is quarantined
            self._drop(previous)
            rec.error = one_line(exc)
            return rec
        unchanged = (
            same_target
            and previous is not None
            and previous.active
            and previous.version == rec.version
            and previous.code_digest == rec.code_digest
        )
        if unchanged:
            assert previous is not None
            rec.module, rec.hooks, rec.registered = previous.module, previous.hooks, True
            return rec
        if previous is not None:
            self._drop(previous, purge=previous.root is not None)
        if previous is not None or rec.root in sys.modules:
            # A changed (or previously half-imported) pack must be read afresh from disk.
            purge_modules(rec.root)
        self._load(rec)
        return rec

    def _load(self, rec: PluginRecord) -> None:
        assert rec.entry_point is not None
        try:
            obj = rec.entry_point.load()
            self.pm.register(obj, name=rec.id)
        except Exception as exc:  # noqa: BLE001 - quarantine, whatever the pack did
            rec.error = one_line(exc)
            if self.pm.get_plugin(rec.id) is not None:
                self.pm.unregister(name=rec.id)
            if rec.root:
                purge_modules(rec.root)  # so a later retry starts clean
            log.warning("plugin %s quarantined: %s", rec.id, rec.error)
            return
        rec.module = obj
        rec.registered = True
        rec.hooks = implemented_hooks(self.pm, obj)

    def _check_pending(self) -> None:
        """Quarantine every pack implementing a hook nodeloom does not specify."""
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.pm.get_name(exc.plugin)
                if name is None or name not in self.records:
                    raise
                self.quarantine(name, one_line(exc))
                log.warning("plugin %s quarantined: %s", name, self.records[name].error)

    def _unregister(self, rec: PluginRecord) -> None:
        if self.pm.get_plugin(rec.id) is not None:
            self.pm.unregister(name=rec.id)
        rec.registered = False

    def _drop(self, rec: PluginRecord | None, *, purge: bool = False) -> None:
        if rec is None:
            return
        self._unregister(rec)
        if purge and rec.root:
            purge_modules(rec.root)


# -- calling hooks ------------------------------------------------------------------------


def resolve_result(value: Any) -> Any:
    """"Await me maybe": call zero-argument callables and await awaitables until a plain value.

    Builds run in worker threads or plain sync code; an awaitable is run on a private event loop
    (in a helper thread when this thread already runs one, since a loop cannot be re-entered).
    """
    import inspect

    for _ in range(16):  # a callable returning a callable returning ... is a bug past this depth
        if inspect.isawaitable(value):
            value = _run_awaitable(value)
        elif callable(value) and not isinstance(value, type) and _takes_no_args(value):
            value = value()
        else:
            return value
    raise RuntimeError("hook result did not resolve to a value")


def _takes_no_args(fn: Any) -> bool:
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in sig.parameters.values()
    )


def _run_awaitable(awaitable: Any) -> Any:
    import asyncio
    import threading

    async def wrap() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrap())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(wrap())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="nodeloom-hook-await")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def hookimpls_of(pm: pluggy.PluginManager, hook_name: str, plugin_name: str) -> list[Any]:
    """The implementations of ``hook_name`` that plugin ``plugin_name`` registered."""
    caller = getattr(pm.hook, hook_name, None)
    if caller is None:
        return []
    return [impl for impl in caller.get_hookimpls() if impl.plugin_name == plugin_name]


def call_hookimpl(impl: Any, **kwargs: Any) -> Any:
    """Call one hook implementation with the arguments it asks for; resolve its result."""
    args = [kwargs[name] for name in impl.argnames]
    return resolve_result(impl.function(*args))
