"""Headless runs for the CLI (engine.md §4.19): the same pipeline as the server, no cache."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from nodeloom.kernel.engine import RunEnvironment, RunResult, RunSpec, run_graph
from nodeloom.kernel.executors import DEFAULT_EXECUTOR, executor_problem
from nodeloom.kernel.graph import GraphSchemaError, graph_from_dict, graph_to_dict, strip_notes
from nodeloom.kernel.host import Kernel
from nodeloom.kernel.options import InvalidRunOption, parse_run_options
from nodeloom.kernel.outputs import RunOutputStore
from nodeloom.kernel.paths import NodePaths
from nodeloom.kernel.prepare import validate_graph
from nodeloom.kernel.state import ModuleStore

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: the CLI prints it and exits with status 2."""


def read_graph_file(path: str | Path) -> dict[str, Any]:
    """Read and parse a graph file, with a clear message for every way it can be wrong."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"graph file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read graph file {p}: {exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{p} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{p} must hold a JSON object with 'nodes' and 'edges'")
    raw.setdefault("name", p.stem)
    return raw


def normalized_graph(raw: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return graph_to_dict(strip_notes(graph_from_dict(raw)))
    except GraphSchemaError as exc:
        raise UsageError("; ".join(i.message for i in exc.issues)) from None


@attrs.define
class HeadlessRun:
    """Outcome of :func:`run_file`: terminal event, all events and per-node results."""

    terminal: Mapping[str, Any]
    events: list[Mapping[str, Any]]
    results: Mapping[str, Mapping[str, Any]]
    graph: Mapping[str, Any]

    @property
    def exit_code(self) -> int:
        if self.terminal.get("type") == "execution_complete" and not self.terminal.get("failed_nodes"):
            return EXIT_OK
        if self.terminal.get("type") == "execution_error" and self.terminal.get("errors"):
            return EXIT_USAGE  # validation failed: nothing ran
        return EXIT_RUN_FAILED


def run_file(
    kernel: Kernel,
    path: str | Path,
    *,
    options: Mapping[str, Any] | None = None,
    on_event: Callable[[Mapping[str, Any]], None] | None = None,
    executor: str | None = None,
    executor_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> HeadlessRun:
    """Run a graph file; ``executor`` names one of ``kernel.executors`` (default: in-process).

    Raises :class:`UsageError` for a bad file, bad options or an unusable executor.
    """
    remote = _executor_for(kernel, executor, executor_options or {})
    raw = read_graph_file(path)
    graph = normalized_graph(raw)
    name = str(raw.get("name") or Path(path).stem)
    opts = {"graph_id": f"cli:{name}", "weights_persistent": False, **(options or {})}
    try:
        run_options = parse_run_options(opts)
    except InvalidRunOption as exc:
        raise UsageError(str(exc)) from None
    env = RunEnvironment(
        cache=None,
        outputs=RunOutputStore(),
        modules=ModuleStore(),
        extensions=list(kernel.run_extensions),
        paths=NodePaths(kernel.data_dir),
        debug=False,
    )
    with kernel.holder.pinned() as snapshot:
        if remote is not None:
            result = _run_on(remote, RunSpec(graph, snapshot, run_options), on_event)
        else:
            result = run_graph(graph, snapshot, run_options, env=env, on_event=on_event)
    return HeadlessRun(terminal=result.terminal, events=list(result.events), results=result.results, graph=graph)


def _executor_for(kernel: Kernel, name: str | None, options: Mapping[str, Mapping[str, Any]]) -> Any:
    """The executor to run on, configured; None for the in-process default (no cache, own stores)."""
    executors = kernel.executors
    for other, settings in options.items():
        problem = executor_problem(executors, other)
        if problem is not None:
            raise UsageError(problem)
        configure = getattr(executors[other], "configure", None)
        try:
            if callable(configure):
                configure(settings)
        except ValueError as exc:
            raise UsageError(f"executor '{other}': {exc}") from None
    if name is None or name == DEFAULT_EXECUTOR:
        return None
    problem = executor_problem(executors, name)
    if problem is not None:
        raise UsageError(problem)
    return executors[name]


def _run_on(executor: Any, spec: RunSpec, on_event: Callable[[Mapping[str, Any]], None] | None) -> RunResult:
    async def main() -> RunResult:
        run = await executor.submit(spec)
        if on_event is not None:
            run.subscribe(on_event)
        terminal = await run.wait()
        return RunResult(run.run_id, list(run.event_log), dict(run.results), terminal)

    return asyncio.run(main())


def validate_file(kernel: Kernel, path: str | Path):
    raw = read_graph_file(path)
    return validate_graph(normalized_graph(raw), kernel.snapshot)


def graph_outputs(run: HeadlessRun) -> dict[str, Any] | None:
    """``{name: value}`` of the graph's GraphOutput nodes, or None when it declares none."""
    names = {
        n["id"]: (n.get("data", {}).get("params", {}) or {}).get("name", "output")
        for n in run.graph.get("nodes", [])
        if n.get("type") == "GraphOutput"
    }
    if not names:
        return None
    out = {}
    for node_id, name in names.items():
        result = run.results.get(node_id)
        if result is not None and "value" in result:
            out[name] = result["value"]
    return out


def to_jsonable(value: Any) -> Any:
    """Serialise an output the way engine.md §4.18 describes, without importing torch here."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "shape"):
        shape = list(value.shape)
        dtype = str(getattr(value, "dtype", ""))
        data = value.detach().cpu().tolist() if hasattr(value, "detach") else value.tolist()
        return {"__type__": "tensor", "shape": shape, "dtype": dtype, "values": to_jsonable(data)}
    if hasattr(value, "item") and callable(value.item):
        return to_jsonable(value.item())
    raise UsageError(f"output of type {type(value).__name__} cannot be serialised")


def write_json(obj: Any, stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n")
