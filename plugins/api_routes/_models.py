"""Wire models of the shared shapes (api.md §4.1 to §4.5) and of the registry route responses.

The routes build these bodies as plain dicts (mostly through the kernel's ``wire()`` methods); the
attrs classes here state each shape once, with the wire's own field names, so that
:mod:`._schemas` can generate the OpenAPI components from them. Two kernel classes already are their
wire shape and are used as they are: :class:`~nodeloom.kernel.prepared.Issue` (component
``ValidationIssue``) and :class:`~nodeloom.kernel.registry.BuildError`.

Fields without a default are required; a default is what the server assumes when the key is absent.
Shapes the server only sends list every field as required (they are always present).
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from nodeloom.api.schema import ModelOptions, wire_field, wire_model
from nodeloom.kernel.prepared import Issue
from nodeloom.kernel.registry import BuildError

__all__ = [
    "KERNEL_MODELS",
    "MODELS",
    "ExposedParam",
    "ExposedPort",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "GraphNodeData",
    "GraphPosition",
    "NodeDefinition",
    "NodeFlags",
    "ParamDefinition",
    "ParamType",
    "PortDefinition",
    "PresetDefinition",
    "PresetEdge",
    "PresetNode",
    "ReloadReport",
    "SegmentGroup",
    "ValidationReport",
]

ParamType = Literal[
    "int", "float", "string", "bool", "select", "model_file", "image_file", "tensor_grid", "secret", "upload"
]

# -- node definitions (§4.1 to §4.3) ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PortDefinition:
    """An input or output port of a node type (api.md §4.2)."""

    name: str = wire_field("Port name (the edge's sourceHandle / targetHandle).")
    data_type: str = wire_field("TENSOR, MODEL, SCALAR, STRING, ANY, TRIGGER, ... or a type declared by a pack.")
    description: str = wire_field("Help text.")
    optional: bool = wire_field("An optional input may stay unconnected (always false for outputs).")


@attrs.frozen(kw_only=True)
class ParamDefinition:
    """A parameter of a node type (api.md §4.3)."""

    name: str = wire_field("Key in data.params.")
    param_type: ParamType = wire_field("Decides the accepted values and the widget.")
    default: Any = wire_field("Applied by the engine when the graph omits the param.")
    description: str = wire_field("Help text.")
    options: list[str] = wire_field(
        "Choices (select), model categories (model_file), extensions (upload); [] otherwise.")
    min_value: float | None = wire_field("Inclusive lower bound (numeric types).")
    max_value: float | None = wire_field("Inclusive upper bound (numeric types).")
    visible_when: dict[str, Any] | None = wire_field(
        "Shown only when every listed sibling param has the given value.")


@attrs.frozen(kw_only=True)
class NodeFlags:
    """Behaviour flags of a node type; a param-dependent flag shows its value for the default params."""

    deterministic: bool = wire_field("Same inputs and params give the same outputs.")
    random: bool = wire_field("Draws from the run's seeded random state.")
    stateful: bool = wire_field("Keeps state (e.g. weights) between runs.")
    display_only: bool = wire_field("Only displays its inputs.")
    dynamic_outputs: bool = wire_field("Output ports depend on params: ask POST /api/nodes/{node_name}/ports.")
    exportable: bool = wire_field("Can be exported to a Python script.")


@attrs.frozen(kw_only=True)
class NodeDefinition:
    """A node type of the registry (api.md §4.1)."""

    node_name: str = wire_field("Registry key: bare for built-in and custom nodes, <plugin id>:<NAME> for plugins.")
    category: str = wire_field("Palette group.")
    description: str = wire_field("Help text (may contain $...$ LaTeX).")
    provider: str = wire_field("builtin, custom or plugin:<plugin id>.")
    version: str = wire_field("Version of the providing pack (custom-<sha256 prefix> for custom nodes).")
    cacheable: bool = wire_field("The static cacheable flag (true when it depends on params).")
    available: bool = wire_field("False when an optional dependency is missing.")
    unavailable_reason: str | None = wire_field("Why the node is unavailable, e.g. which extra to install.")
    flags: NodeFlags = wire_field("Behaviour flags.")
    inputs: list[PortDefinition] = wire_field("Input ports.")
    outputs: list[PortDefinition] = wire_field("Static output ports (see flags.dynamic_outputs).")
    params: list[ParamDefinition] = wire_field("Parameters.")


# -- graphs (§4.4) ---------------------------------------------------------------------------------
# Unknown keys are allowed at every level and kept where the graph is stored.


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class GraphPosition:
    """Canvas position of a node (not used by the engine)."""

    x: float
    y: float


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class GraphNodeData:
    """A node's data: its params, preset overrides, note fields and other UI keys."""

    params: dict[str, Any] = wire_field("Param values by name.", factory=dict)
    internalParams: dict[str, dict[str, Any]] = wire_field(  # noqa: N815 - the wire name
        "Preset nodes: param overrides by internal node id.", required=False)


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class GraphNode:
    """A node of a graph (api.md §4.4)."""

    id: str = wire_field("Unique in the graph.", minLength=1)
    type: str = wire_field("Registry key, preset:<name>, Start, or note.", minLength=1)
    position: GraphPosition = wire_field("Canvas position.", factory=lambda: GraphPosition(x=0, y=0))
    data: GraphNodeData = wire_field("Params and UI data.", factory=dict)


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class GraphEdge:
    """A data or trigger edge of a graph (api.md §4.4)."""

    id: str = wire_field("Messages name an edge without id #<index>.", required=False)
    source: str = wire_field("Source node id.")
    target: str = wire_field("Target node id.")
    sourceHandle: str = wire_field("Source port name (trigger on trigger edges).", default="")  # noqa: N815
    targetHandle: str = wire_field("Target port name (empty on trigger edges).", default="")  # noqa: N815
    type: Literal["data", "trigger"] = wire_field("Edge kind.", default="data")


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class SegmentGroup:
    """A UI segment group of a graph."""

    id: str
    headNodeId: str  # noqa: N815 - the wire name
    tailNodeId: str  # noqa: N815 - the wire name


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class Graph:
    """A graph document (api.md §4.4); unknown keys are kept where it is stored."""

    name: str = wire_field("Graph name (required by POST /api/graph/save).", default="Untitled")
    description: str = wire_field("Free text.", default="")
    nodes: list[GraphNode] = wire_field("The nodes.")
    edges: list[GraphEdge] = wire_field("The edges.")
    presets: list[PresetDefinition] = wire_field("Embedded preset definitions.", factory=list)
    segmentGroups: list[SegmentGroup] = wire_field("UI segment groups.", factory=list)  # noqa: N815
    format_version: int = wire_field("Graph format version.", default=1, minimum=1)
    nodeloom: dict[str, Any] = wire_field("Metadata (e.g. packs), set when the graph is saved.", required=False)


# -- presets (§4.5) --------------------------------------------------------------------------------


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class PresetNode:
    """An internal node of a preset (flat params)."""

    id: str
    type: str
    params: dict[str, Any] = wire_field("Param values by name.", factory=dict)
    internalParams: dict[str, dict[str, Any]] = wire_field(  # noqa: N815 - the wire name
        "A preset:<name> member's overrides by internal node id.", required=False)


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class PresetEdge:
    """An internal data edge of a preset."""

    source: str
    sourceHandle: str  # noqa: N815 - the wire name
    target: str
    targetHandle: str  # noqa: N815 - the wire name


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class ExposedPort:
    """An internal port shown as a port of the preset node."""

    name: str = wire_field("The handle on the preset node.")
    internal_node: str
    internal_port: str
    data_type: str = wire_field("Resolved from the internal port on load when empty (else ANY).", default="")
    description: str = wire_field("Help text.", default="")


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class ExposedParam:
    """An internal param shown on the preset node."""

    internal_node: str
    param_name: str
    display_name: str
    group: str = wire_field("UI group.", default="")
    param_def: ParamDefinition | None = wire_field("Filled from the node type on load.", default=None)


@wire_model(extra=True)
@attrs.frozen(kw_only=True)
class PresetDefinition:
    """A preset: a reusable sub-graph used as node type preset:<preset_name> (api.md §4.5)."""

    preset_name: str = wire_field("Name; instances use node type preset:<preset_name>.")
    category: str = wire_field("Palette group.", default="Preset")
    description: str = wire_field("Help text.", default="")
    tags: list[str] = wire_field("Tags.", factory=list)
    source: str = wire_field("builtin, plugin:<id> or user.", read_only=True)
    available: bool = wire_field("False when the preset failed its load checks.", read_only=True)
    error: str | None = wire_field("Why the preset is unavailable.", read_only=True)
    nodes: list[PresetNode] = wire_field("Internal nodes.")
    edges: list[PresetEdge] = wire_field("Internal data edges.")
    exposed_inputs: list[ExposedPort] = wire_field("Preset inputs.", factory=list)
    exposed_outputs: list[ExposedPort] = wire_field("Preset outputs.", factory=list)
    exposed_params: list[ExposedParam] = wire_field("Params shown on the preset node.", factory=list)


# -- registry and validation responses (§2.2.3, §2.4.1) --------------------------------------------


@attrs.frozen(kw_only=True)
class ReloadReport:
    """The result of a registry reload (api.md §2.2.3); 200 even when errors is not empty."""

    builtin: int = wire_field("Node types from plugins shipped with nodeloom.")
    custom: int = wire_field("Node types from custom_nodes/.")
    plugins: int = wire_field("Node types from third-party plugins.")
    presets: int = wire_field("Presets in the new registry.")
    total: int = wire_field("builtin + custom + plugins.")
    generation: int = wire_field("The new registry generation.")
    errors: list[BuildError] = wire_field("The build's errors, one per problem.")


@attrs.frozen(kw_only=True)
class ValidationReport:
    """The validation report of a graph (api.md §2.4.1, engine.md §5)."""

    valid: bool = wire_field("No issue of severity error.")
    errors: list[str] = wire_field("Messages of the error issues, in report order.")
    warnings: list[str] = wire_field("Messages of the warning issues.")
    issues: list[Issue] = wire_field("Every finding; the subject fields are null when they do not apply.")


#: Kernel classes published as they are: their ``wire()`` always writes every field.
KERNEL_MODELS: dict[type, ModelOptions] = {
    Issue: ModelOptions(name="ValidationIssue", all_required=True),
    BuildError: ModelOptions(all_required=True),
}

#: The classes whose components every app publishes (nested ones follow on their own).
MODELS: tuple[type, ...] = (NodeDefinition, Graph, PresetDefinition, ReloadReport, ValidationReport)
