"""Server messages of the execution WebSocket as encoded frames (api.md §3.4, §3.5).

A :class:`Frame` is one JSON text frame, encoded once and shared by every subscriber of a run.
Engine events become frames here: ``completed``/``cached`` node events get their
``output_summary`` and ``image`` extras (§4.6) and lose the raw ``outputs``; anything a node
reported freely (progress payloads) is made JSON-safe, so no frame ever carries NaN or Infinity.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from nodeloom.kernel.events import NODE_STATUS, OUTPUTS_KEY, TERMINAL_TYPES

from .values import find_image, jsonable, needs_thread, summarize_outputs

PROTOCOL = 1

#: Progress ``event`` values that slow subscribers may see merged (§3.5); ``text`` payloads too.
COALESCIBLE_EVENTS = frozenset({"batch", "step", "map"})


@attrs.frozen
class Frame:
    """One outgoing text frame.

    ``run_id``/``seq`` are set for run events; ``merge_key`` for coalescible progress events
    (two frames with the same key may be merged, the newer kept).
    """

    text: str
    type: str
    run_id: str | None = None
    seq: int | None = None
    merge_key: tuple[str, str, str] | None = None

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_TYPES


def encode(message: Mapping[str, Any]) -> str:
    """Compact JSON text; non-ASCII kept unless the text cannot be sent as UTF-8."""
    text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a node's output: escape, never crash the socket
        text = json.dumps(message, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text


def frame(message: Mapping[str, Any]) -> Frame:
    """A frame for a message that is not a run event (``connected``, ``pong``, ``error``...)."""
    return Frame(text=encode(message), type=str(message.get("type")))


def connected(version: str, generation: int) -> Frame:
    return frame({"type": "connected", "protocol": PROTOCOL, "version": version, "generation": generation})


def registry_changed(generation: int) -> Frame:
    return frame({"type": "registry_changed", "generation": generation})


def error(
    code: str,
    message: str,
    action: str | None,
    run_id: Any = None,
    details: list[dict[str, Any]] | None = None,
) -> Frame:
    """An ``error`` event (§3.4): ``run_id`` only when the message carried a string one."""
    body: dict[str, Any] = {"type": "error", "code": code, "error": message, "action": action}
    if isinstance(run_id, str):
        body["run_id"] = run_id
    if details is not None:
        body["details"] = jsonable(details)
    return frame(body)


def not_running(run_id: str | None) -> Frame:
    """The reply to a ``stop`` that found no active run (no ``seq``: not part of any stream)."""
    return frame({"type": "execution_stopped", "run_id": run_id, "reason": "not_running"})


def merge_key(event: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``(run_id, node_id, kind)`` for a coalescible progress event, else None."""
    if event.get("type") != NODE_STATUS or event.get("status") != "progress":
        return None
    progress = event.get("progress")
    if not isinstance(progress, Mapping):
        return None
    kind = progress.get("event")
    if kind in COALESCIBLE_EVENTS:
        label = str(kind)
    elif "text" in progress:
        label = "text"
    else:
        return None
    return (str(event.get("run_id")), str(event.get("node_id")), label)


def is_heavy(event: Mapping[str, Any]) -> bool:
    """Whether converting the event may be slow (tensor statistics, file checks, big strings)."""
    outputs = event.get(OUTPUTS_KEY)
    return isinstance(outputs, Mapping) and needs_thread(outputs)


def run_event_frame(event: Mapping[str, Any], models_dir: Path | None = None) -> Frame:
    """The frame of one engine run event (synchronous; heavy events belong in a worker thread)."""
    message = {k: v for k, v in event.items() if k != OUTPUTS_KEY}
    outputs = event.get(OUTPUTS_KEY)
    if isinstance(outputs, Mapping):
        summary = summarize_outputs(outputs, models_dir)
        if summary:
            message["output_summary"] = summary
        image = find_image(outputs)
        if image is not None:
            message["image"] = image
    if "progress" in message:
        message["progress"] = jsonable(message["progress"])
    message = jsonable(message)
    return Frame(
        text=encode(message),
        type=str(event.get("type")),
        run_id=str(event.get("run_id")),
        seq=int(event["seq"]),
        merge_key=merge_key(event),
    )
