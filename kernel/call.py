"""What a node's ``execute`` receives: one :class:`NodeCall` per call, never shared."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs


class RunCancelled(Exception):
    """Raised by :meth:`NodeCall.check_cancelled` once the run has been cancelled."""


class NodeFailure(Exception):
    """A node failure with an explicit error code (``input_not_produced``, ``dependency_missing``)."""

    def __init__(self, message: str, code: str = "node_error") -> None:
        super().__init__(message)
        self.code = code


def _readonly(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@attrs.define(frozen=True)
class NodeCall:
    """The context of one node body call (engine.md §2.4).

    ``node_id`` is passed per call: there is no shared "current node" anywhere, so parallel
    nodes never see each other's ids.
    """

    node_id: str
    node_type: str
    inputs: Mapping[str, Any] = attrs.field(converter=_readonly, factory=dict)
    params: Mapping[str, Any] = attrs.field(converter=_readonly, factory=dict)
    device: str = "cpu"
    seed: int = 0
    options: Mapping[str, Any] = attrs.field(converter=_readonly, factory=dict)
    paths: Any = None
    state: Any = None
    cancel_event: threading.Event = attrs.field(factory=threading.Event)
    emit_progress: Callable[[Mapping[str, Any]], None] | None = None
    # Extra material framework extensions attach per call (e.g. the code digest for state keys).
    extras: Mapping[str, Any] = attrs.field(converter=_readonly, factory=dict)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`RunCancelled` if the run was cancelled; call once per batch or step."""
        if self.cancel_event.is_set():
            raise RunCancelled(f"run cancelled while {self.node_id} was running")

    def progress(self, data: Mapping[str, Any]) -> None:
        """Report progress (a JSON-serialisable mapping). Thread-safe and non-blocking."""
        if self.emit_progress is not None:
            self.emit_progress(dict(data))
