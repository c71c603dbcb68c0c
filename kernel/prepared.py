"""The shapes that pass between preparation (normalise, expand, validate) and execution.

``nodeloom.kernel.prepare.prepare()`` produces a :class:`PreparedGraph`; executors consume it.
Validation, export and contract derivation use the same preparation, so they always agree with
what a run would do (engine.md §4.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .registry import NodeEntry, RegistrySnapshot

Severity = Literal["error", "warning"]


@attrs.frozen
class Issue:
    """One validation finding (engine.md §5)."""

    code: str
    severity: Severity
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    port: str | None = None
    param: str | None = None
    draft: bool = False

    def wire(self) -> dict[str, Any]:
        # api.md §2.4.1: the four subject fields are always present, null when they do not apply.
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "node_id": self.node_id,
            "edge_id": self.edge_id,
            "port": self.port,
            "param": self.param,
            "draft": self.draft,
        }


@attrs.frozen
class ValidationReport:
    issues: tuple[Issue, ...] = ()

    @property
    def valid(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)

    @property
    def errors(self) -> list[str]:
        return [i.message for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[str]:
        return [i.message for i in self.issues if i.severity == "warning"]

    def wire(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": self.errors,
            "warnings": self.warnings,
            "issues": [i.wire() for i in self.issues],
        }


@attrs.frozen
class PreparedNode:
    """A node of the executable set, after preset expansion, ready to run."""

    id: str  # expanded id (``<instance>__<member>`` for preset members)
    type: str  # the type as written in the graph
    entry: NodeEntry  # resolved through the pinned snapshot
    params: Mapping[str, Any]  # effective params (defaults applied, values normalised)
    seed: int  # node seed (engine.md §4.10)
    level: int
    instance: str | None = None  # top-level preset instance id, for event aggregation
    member: str | None = None  # member path inside that instance (joined with "__")


@attrs.frozen
class PreparedEdge:
    """A data edge among executable nodes, in expanded edge order."""

    source: str
    source_handle: str
    target: str
    target_handle: str
    id: str | None = None


@attrs.frozen
class PreparedGraph:
    """Everything a run needs; ``report.valid`` is False when the graph must not run."""

    snapshot: RegistrySnapshot
    report: ValidationReport
    nodes: tuple[PreparedNode, ...] = ()  # executable set E in (level, expanded) order
    edges: tuple[PreparedEdge, ...] = ()
    levels: tuple[tuple[str, ...], ...] = ()
    # expanded id -> (top-level instance id, member path); only preset members appear here
    expansion: Mapping[str, tuple[str, str]] = attrs.field(factory=dict)
    graph: Any = None  # the normalised, expanded kernel.graph.Graph
    name: str = "Untitled"
    run_seed: int | None = None  # the run seed the node seeds were derived from (engine.md §4.10)

    def node(self, node_id: str) -> PreparedNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)
