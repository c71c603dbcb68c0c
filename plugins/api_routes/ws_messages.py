"""Client messages of the execution WebSocket, parsed strictly (api.md §3.3).

:func:`parse_message` turns one received frame into a command object or raises
:class:`BadMessage` carrying the ``error`` frame to send back. Nothing here touches a run: a
message that fails its checks has no effect at all (an invalid ``execute`` does not stop the run
in progress).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from nodeloom.api import Fields, Problem
from nodeloom.kernel.options import InvalidRunOption, RunOptions, parse_run_options

from . import wire
from ._graph_schema import check_edge, check_node

ACTIONS = ("execute", "stop", "cancel", "clear_cache", "attach", "ping")

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@attrs.frozen
class Execute:
    options: RunOptions
    graph: dict[str, Any]


@attrs.frozen
class Stop:
    run_id: str | None


@attrs.frozen
class Attach:
    run_id: str
    after_seq: int


@attrs.frozen
class ClearCache:
    pass


@attrs.frozen
class Ping:
    pass


Command = Execute | Stop | Attach | ClearCache | Ping

#: ``check(name)`` -> why executor ``name`` (None: the default one) cannot run a run, or None.
ExecutorCheck = Callable[[str | None], str | None]


class BadMessage(Exception):
    """A message answered with an ``error`` event; ``frame`` is that event."""

    def __init__(self, frame: wire.Frame) -> None:
        super().__init__(frame.text)
        self.frame = frame


def _invalid(text: str) -> BadMessage:
    return BadMessage(wire.error("invalid_message", text, None))


# -- JSON -------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard token {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _has_lone_surrogate(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if depth > 64:
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v, depth + 1) for v in value)
    return False


def decode(data: str | bytes | None) -> dict[str, Any]:
    """The JSON object of a text frame; :class:`BadMessage` for anything else."""
    if not isinstance(data, str):
        raise _invalid("Binary frames are not supported")
    try:
        value = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise _invalid(f"Message is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise _invalid(f"Message is not valid JSON: {exc or 'nested too deeply'}") from None
    # A lone surrogate could never be echoed back as UTF-8 (node ids end up in every event).
    if _SURROGATE_ESCAPE.search(data) and _has_lone_surrogate(value):
        raise _invalid("Message is not valid JSON: unpaired surrogate escape")
    if not isinstance(value, dict):
        raise _invalid("Message must be a JSON object")
    return value


# -- field checks -----------------------------------------------------------------------------------


def _fields(message: Mapping[str, Any], problems: list[Problem]) -> Fields:
    # loc is relative to the message (api.md §3.3): ["record_outputs"], not ["body", ...]
    return Fields(message, (), problems)


def check_graph(message: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """The graph part of an ``execute`` (GraphNode/GraphEdge of §4.4, PresetDefinition of §4.5)."""
    fields = _fields(message, problems)
    # The same GraphNode/GraphEdge rules as the REST graph routes.
    for _, node in fields.items("nodes", default=[]):
        check_node(node)
    for _, edge in fields.items("edges", default=[]):
        check_edge(edge)
    # Embedded presets: only what the engine needs to find them; deeper problems of a preset
    # that is used are validation errors of the run (execution_error), like for any graph.
    for _, preset in fields.items("presets", default=[]):
        preset.string("preset_name", min_length=1)
        preset.array("nodes")
        preset.array("edges")
    graph = {
        "nodes": message.get("nodes") or [],
        "edges": message.get("edges") or [],
        "presets": message.get("presets") or [],
    }
    return graph


# -- messages ----------------------------------------------------------------------------------------


def _field_error(action: str, message: Mapping[str, Any], code: str, problems: list[dict[str, Any]]) -> BadMessage:
    text = f"Invalid '{action}' message: {problems[0]['msg']}"
    return BadMessage(wire.error(code, text, action, message.get("run_id"), problems))


def _execute(action: str, message: Mapping[str, Any], check_executor: ExecutorCheck | None) -> Execute:
    option_problems: list[dict[str, Any]] = []
    try:
        options = parse_run_options(message)
    except InvalidRunOption as exc:
        option_problems = list(exc.problems)
        options = None
    if check_executor is not None and not any(p["loc"] == ["executor"] for p in option_problems):
        name = options.executor if options is not None else _executor_name(message)
        problem = check_executor(name)
        if problem is not None:
            option_problems.append({"loc": ["executor"], "msg": problem, "type": "invalid_value"})
    graph_problems: list[Problem] = []
    graph = check_graph(message, graph_problems)
    # Run options are checked before the graph (engine.md §5): their code wins.
    if option_problems:
        everything = option_problems + [p.wire() for p in graph_problems]
        raise _field_error(action, message, "invalid_run_option", everything)
    if graph_problems:
        raise _field_error(action, message, "invalid_message", [p.wire() for p in graph_problems])
    assert options is not None
    return Execute(options=options, graph=graph)


def _executor_name(message: Mapping[str, Any]) -> str | None:
    value = message.get("executor")
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _stop(action: str, message: Mapping[str, Any]) -> Stop:
    problems: list[Problem] = []
    run_id = _fields(message, problems).string("run_id", default=None)
    if problems:
        raise _field_error(action, message, "invalid_message", [p.wire() for p in problems])
    return Stop(run_id=run_id)


def _attach(action: str, message: Mapping[str, Any]) -> Attach:
    problems: list[Problem] = []
    fields = _fields(message, problems)
    run_id = fields.string("run_id")
    after_seq = fields.integer("after_seq", default=0, ge=0)
    if problems:
        raise _field_error(action, message, "invalid_message", [p.wire() for p in problems])
    return Attach(run_id=run_id, after_seq=after_seq)


def parse_message(data: str | bytes | None, check_executor: ExecutorCheck | None = None) -> Command:
    """One client frame as a command; raises :class:`BadMessage` with the reply to send.

    ``check_executor`` vets the ``executor`` run option against the executors the server has.
    """
    message = decode(data)
    action = message.get("action")
    if not isinstance(action, str):
        raise BadMessage(wire.error("invalid_message", "Message has no 'action' string", None, message.get("run_id")))
    if action == "execute":
        return _execute(action, message, check_executor)
    if action in ("stop", "cancel"):
        return _stop(action, message)
    if action == "attach":
        return _attach(action, message)
    if action == "clear_cache":
        return ClearCache()
    if action == "ping":
        return Ping()
    raise BadMessage(wire.error("unknown_action", f"Unknown action: {action}", action, message.get("run_id")))
