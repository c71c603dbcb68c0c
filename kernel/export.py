"""Export a graph as one Python script (engine.md §6, api.md §2.4.5).

:func:`export_graph` drops notes, blanks secrets and prepares the graph exactly as a run would
(preset expansion, executable set, validation, effective params, node seeds). It then tries the
standalone mode: every node of the executable set either has a ``codegen`` that succeeds or is a
display-only node nothing else consumes (omitted). Any other node, a generator that raises or code
that does not compile makes the export fall back to the runner mode, with the reasons listed in
``unsupported_nodes``; that fallback never raises.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any

import attrs

from .codegen import CodegenContext, CodegenUnsupported, import_statement
from .export_runner import runner_script
from .export_standalone import GeneratedNode, ScriptInfo, standalone_script
from .graph import Graph, blank_secrets, graph_pack_versions, graph_to_dict, preset_name_of
from .paths import DataDir
from .prepare import normalise, prepare
from .prepared import PreparedGraph, PreparedNode, ValidationReport
from .presets import PresetError, normalize_preset
from .registry import RegistrySnapshot
from .seeds import check_run_seed
from .spec import CodeFragment

__all__ = [
    "EXPORT_MODES",
    "CodegenUnavailableError",
    "ExportResult",
    "ExportValidationError",
    "export_filename",
    "export_graph",
]

EXPORT_MODES = ("auto", "standalone", "runner")
MODULE_MODES = ("train", "eval")
GRAPH_INPUT, GRAPH_OUTPUT = "GraphInput", "GraphOutput"


class ExportValidationError(ValueError):
    """The graph does not validate; ``messages`` are the error texts, ``issues`` the wire issues."""

    def __init__(self, messages: Sequence[str], issues: Sequence[Mapping[str, Any]] = ()) -> None:
        self.messages = list(messages)
        self.issues = [dict(i) for i in issues]
        super().__init__("; ".join(self.messages) or "invalid graph")

    @classmethod
    def of(cls, report: ValidationReport) -> ExportValidationError:
        return cls(report.errors, [i.wire() for i in report.issues])


class CodegenUnavailableError(ValueError):
    """``mode="standalone"`` asked for a graph that needs the runner (api.md: 400 ``codegen_unavailable``)."""

    def __init__(self, unsupported: Sequence[Mapping[str, Any]]) -> None:
        self.unsupported_nodes = [dict(u) for u in unsupported]
        types = sorted({str(u.get("type")) for u in unsupported if u.get("type")})
        super().__init__(f"Node types without standalone code generation: {', '.join(types) or '(script)'}")


@attrs.frozen
class ExportResult:
    """An exported script and what the export decided (api.md §2.4.5 response fields)."""

    script: str
    mode: str  # "standalone" | "runner"
    filename: str
    seed: int
    omitted_nodes: tuple[Mapping[str, str], ...] = ()
    unsupported_nodes: tuple[Mapping[str, str], ...] = ()
    warnings: tuple[str, ...] = ()  # validation warnings (drafts etc.)

    def wire(self) -> dict[str, Any]:
        return {
            "script": self.script,
            "mode": self.mode,
            "filename": self.filename,
            "seed": self.seed,
            "omitted_nodes": [dict(o) for o in self.omitted_nodes],
            "unsupported_nodes": [dict(u) for u in self.unsupported_nodes],
        }


def export_filename(name: Any) -> str:
    """The suggested file name: the graph name with characters outside ``[A-Za-z0-9_-]`` as ``_``."""
    if not isinstance(name, str) or not name:
        return "graph.py"
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) + ".py"


# -- standalone generation -------------------------------------------------------------------------


@attrs.define
class _Generation:
    nodes: list[GeneratedNode] = attrs.field(factory=list)
    imports: set[str] = attrs.field(factory=set)
    helpers: dict[str, str] = attrs.field(factory=dict)
    helper_owner: dict[str, str] = attrs.field(factory=dict)
    omitted: list[dict[str, str]] = attrs.field(factory=list)
    unsupported: list[dict[str, str]] = attrs.field(factory=list)


def _unsupported(node: PreparedNode, reason: str) -> dict[str, str]:
    return {"node_id": node.id, "type": node.type, "reason": reason}


def _compiles(source: str, label: str) -> str | None:
    """None when ``source`` compiles, else the error text."""
    try:
        compile(source, label, "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes
        return f"{type(exc).__name__}: {exc}"
    return None


def _consumers(prepared: PreparedGraph) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for edge in prepared.edges:
        out.setdefault(edge.source, set()).add(edge.target)
    return out


def _no_codegen_reason(node: PreparedNode) -> str:
    spec = node.entry.spec
    needs = sorted({r.distribution for r in spec.requires})
    suffix = f" (it uses {', '.join(needs)})" if needs else ""
    return f"{node.entry.key} has no standalone code generator{suffix}"


def _inputs_of(
    node: PreparedNode, prepared: PreparedGraph, produced: Mapping[tuple[str, str], str]
) -> dict[str, str]:
    # Same rule as the engine: edges in expanded order, a port the upstream does not produce is
    # skipped, the last producing edge into a port wins.
    inputs: dict[str, str] = {}
    for edge in prepared.edges:
        if edge.target == node.id:
            var = produced.get((edge.source, edge.source_handle))
            if var is not None:
                inputs[edge.target_handle] = var
    return inputs


def _run_codegen(gen: CodegenContext, codegen: Any) -> CodeFragment:
    fragment = codegen(gen)
    if not isinstance(fragment, CodeFragment):
        raise TypeError(f"codegen returned {type(fragment).__name__}, not a CodeFragment")
    return fragment


def _accept(out: _Generation, node: PreparedNode, gen: CodegenContext, fragment: CodeFragment) -> str | None:
    """Merge one node's code into the generation; returns a reason when it must be refused."""
    body = textwrap.dedent(fragment.body)
    problem = _compiles("def _node():\n" + textwrap.indent(body, "    ") + "\n    pass\n", f"<{node.id}>")
    if problem is not None:
        return f"generated code does not compile: {problem}"
    imports = set(gen.imports) | set(fragment.imports)
    try:
        for entry in imports:
            import_statement(entry)
    except ValueError as exc:
        return str(exc)
    helpers = {**gen.helpers, **dict(fragment.helpers)}
    for name, source in helpers.items():
        known = out.helpers.get(name)
        if known is not None and known != source:
            return f"helper '{name}' differs from the one node {out.helper_owner[name]} uses"
        problem = _compiles(textwrap.dedent(source), f"<helper {name}>")
        if problem is not None:
            return f"helper '{name}' does not compile: {problem}"
    for name, source in helpers.items():
        out.helpers.setdefault(name, source)
        out.helper_owner.setdefault(name, node.id)
    out.imports |= imports
    out.nodes.append(GeneratedNode(node.id, node.type, node.level, body, dict(gen.outputs)))
    return None


def _generate(prepared: PreparedGraph) -> _Generation:
    out = _Generation()
    produced: dict[tuple[str, str], str] = {}
    consumers = _consumers(prepared)
    display = {n.id for n in prepared.nodes if n.entry.spec.display_only}
    for index, node in enumerate(prepared.nodes, start=1):
        spec = node.entry.spec
        fed = consumers.get(node.id, set())
        if node.id in display and fed <= display:
            out.omitted.append({"node_id": node.id, "type": node.type})
            continue
        gen = CodegenContext(
            node_id=node.id,
            node_type=node.entry.key,
            params=dict(node.params),
            node_seed=node.seed,
            inputs=_inputs_of(node, prepared, produced),
            index=index,
            instance=node.instance,
        )
        reason: str | None = None
        if spec.codegen is None:
            reason = _no_codegen_reason(node)
            if node.id in display:
                reason = f"display-only node feeding {', '.join(sorted(fed - display))}; {reason}"
        else:
            try:
                fragment = _run_codegen(gen, spec.codegen)
            except CodegenUnsupported as exc:
                reason = str(exc) or f"{node.entry.key} cannot be exported with these params"
            except Exception as exc:  # noqa: BLE001 - any generator failure means runner mode
                reason = f"code generation failed: {type(exc).__name__}: {exc}"
            else:
                reason = _accept(out, node, gen, fragment)
        if reason is not None:
            out.unsupported.append(_unsupported(node, reason))
            # Placeholders let downstream generators run, so every unsupported node is reported.
            for port in spec.output_ports(node.params):
                produced[(node.id, port.name)] = f"unsupported_{index}_{port.name}"
            continue
        for port, var in gen.outputs.items():
            produced[(node.id, port)] = var
    return out


# -- graph facts ------------------------------------------------------------------------------------


def _top_level(prepared: PreparedGraph) -> list[PreparedNode]:
    return [n for n in prepared.nodes if n.instance is None]


def _graph_inputs(prepared: PreparedGraph) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for node in _top_level(prepared):
        if node.entry.key == GRAPH_INPUT:
            found.setdefault(str(node.params.get("name", "input")), []).append(node.id)
    return found


def _graph_input_types(prepared: PreparedGraph) -> dict[str, str]:
    return {
        str(n.params.get("name", "input")): str(n.params.get("type", "string"))
        for n in _top_level(prepared)
        if n.entry.key == GRAPH_INPUT
    }


def _graph_outputs(prepared: PreparedGraph, omitted: Sequence[Mapping[str, str]] = ()) -> dict[str, str]:
    skip = {o["node_id"] for o in omitted}
    return {
        n.id: str(n.params.get("name", "output"))
        for n in _top_level(prepared)
        if n.entry.key == GRAPH_OUTPUT and n.id not in skip
    }


def _plain(value: Any) -> Any:
    """JSON-shaped copy: any mapping becomes a dict, tuples become lists (registry data may be frozen)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _used_presets(graph: Graph, kept: set[str], snapshot: RegistrySnapshot) -> list[Any]:
    """Definitions of the presets the kept nodes use (registry copy first), nested ones included."""
    embedded: dict[str, Any] = {}
    for raw in graph.presets:
        try:
            embedded.setdefault(normalize_preset(raw)["preset_name"], raw)
        except PresetError:
            continue
    chosen: dict[str, Any] = {}
    pending = [preset_name_of(n.type) for n in graph.nodes if n.id in kept]
    while pending:
        name = pending.pop(0)
        if name is None or name in chosen:
            continue
        entry = snapshot.presets.get(name)
        definition = entry.definition if entry is not None else embedded.get(name)
        if definition is None:
            continue
        chosen[name] = _plain(definition)
        members = [m for m in definition.get("nodes", []) if isinstance(m, Mapping)]
        pending += [preset_name_of(m.get("type")) for m in members]
    return list(chosen.values())


def _runner_graph(graph: Graph, prepared: PreparedGraph, snapshot: RegistrySnapshot) -> dict[str, Any]:
    """The normalised graph without drafts, with the used presets embedded (engine.md §6.3)."""
    kept = {n.instance or n.id for n in prepared.nodes}
    pruned = attrs.evolve(
        graph,
        nodes=[n for n in graph.nodes if n.id in kept],
        edges=[e for e in graph.edges if e.source in kept and e.target in kept],
        presets=_used_presets(graph, kept, snapshot),
    )
    return graph_to_dict(pruned)


def _data_dir_text(data_dir: Any) -> str | None:
    if data_dir is None:
        return None
    root = data_dir.root if isinstance(data_dir, DataDir) else data_dir
    if not isinstance(root, (str, PathLike)):
        raise TypeError(f"data_dir must be a path, got {type(data_dir).__name__}")
    return str(Path(root).expanduser().resolve())


# -- entry point ----------------------------------------------------------------------------------


def export_graph(
    raw_graph: Any,
    snapshot: RegistrySnapshot,
    *,
    seed: int = 0,
    module_mode: str = "train",
    data_dir: str | PathLike[str] | DataDir | None = None,
    nodeloom_version: str | None = None,
    mode: str = "auto",
    exported_at: datetime | None = None,
) -> ExportResult:
    """Export ``raw_graph`` (a graph mapping or :class:`Graph`) as one Python script.

    ``seed`` is the default run seed written into the script, ``module_mode`` the default module
    mode, ``data_dir`` the default ``--data-dir``. ``mode`` is ``auto`` (standalone when possible,
    else runner), ``standalone`` (raise :class:`CodegenUnavailableError` instead of falling back)
    or ``runner``. Raises :class:`ExportValidationError` when the graph does not validate and
    ``ValueError`` for bad arguments.
    """
    seed = check_run_seed(seed)
    if module_mode not in MODULE_MODES:
        raise ValueError(f"module_mode must be 'train' or 'eval', got {module_mode!r}")
    if mode not in EXPORT_MODES:
        raise ValueError(f"mode must be one of {', '.join(EXPORT_MODES)}, got {mode!r}")
    if nodeloom_version is None:
        from nodeloom import __version__ as nodeloom_version
    graph, report = normalise(raw_graph)
    if graph is None:
        raise ExportValidationError.of(report)
    graph = blank_secrets(graph, snapshot)
    prepared = prepare(graph, snapshot, run_seed=seed)
    if not prepared.report.valid:
        raise ExportValidationError.of(prepared.report)

    name = graph.name if isinstance(graph.name, str) else ""
    when = (exported_at or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    base = ScriptInfo(
        name=graph.display_name,
        nodeloom_version=str(nodeloom_version),
        exported_at=when,
        packs=graph_pack_versions(graph, snapshot),
        seed=seed,
        module_mode=module_mode,
        data_dir=_data_dir_text(data_dir),
        graph_inputs=_graph_input_types(prepared),
    )
    common = {"filename": export_filename(name), "seed": seed, "warnings": tuple(prepared.report.warnings)}

    unsupported: list[dict[str, str]] = []
    if mode != "runner":
        generation = _generate(prepared)
        unsupported = generation.unsupported
        if not unsupported:
            omitted = tuple(generation.omitted)
            notes = tuple(f"Omitted display-only node {o['node_id']!r} ({o['type']})" for o in omitted)
            info = attrs.evolve(base, graph_outputs=_graph_outputs(prepared, generation.omitted), notes=notes)
            script = standalone_script(info, generation.nodes, sorted(generation.imports), generation.helpers)
            problem = _compiles(script, export_filename(name))
            if problem is None:
                return ExportResult(script=script, mode="standalone", omitted_nodes=omitted, **common)
            reason = f"the generated script does not compile: {problem}"
            unsupported = [{"node_id": "", "type": "", "reason": reason}]
        if mode == "standalone":
            raise CodegenUnavailableError(unsupported)

    notes = tuple(f"Runner mode: {u['node_id']!r} ({u['type']}): {u['reason']}" for u in unsupported)
    info = attrs.evolve(base, graph_outputs=_graph_outputs(prepared), notes=notes)
    script = runner_script(info, _runner_graph(graph, prepared, snapshot), _graph_inputs(prepared))
    return ExportResult(script=script, mode="runner", unsupported_nodes=tuple(unsupported), **common)
