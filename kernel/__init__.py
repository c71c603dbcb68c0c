"""nodeloom's microkernel: hook specs, the node contract, the registry, graphs and the engine.

This package is the stable public surface that plugins import. It imports neither torch nor any
web framework; framework behaviour arrives through plugins (see :mod:`.hookspecs`).
"""

from .call import NodeCall, NodeFailure, RunCancelled
from .engine import LocalExecutor, RunEnvironment, RunResult, RunSpec, run_graph
from .graph import Graph, GraphSchemaError, graph_from_dict, graph_to_dict
from .host import Kernel, ReloadReport
from .options import InvalidRunOption, RunOptions, parse_run_options
from .prepare import prepare, validate_graph
from .hookspecs import hookimpl, hookspec
from .paths import DataDir, NodePaths, PathError, check_relpath, confine
from .ports import types_compatible
from .prepared import Issue, PreparedGraph, ValidationReport
from .registry import NodeEntry, PackInfo, PresetEntry, RegistryHolder, RegistrySnapshot
from .spec import (
    CodeFragment,
    InvalidNodeSpec,
    NodeSpec,
    ParamSpec,
    PortSpec,
    Requirement,
    StatefulSpec,
    check_spec,
    spec_of,
)

__all__ = [
    "Graph",
    "GraphSchemaError",
    "InvalidRunOption",
    "Kernel",
    "LocalExecutor",
    "ReloadReport",
    "RunEnvironment",
    "RunOptions",
    "RunResult",
    "RunSpec",
    "graph_from_dict",
    "graph_to_dict",
    "parse_run_options",
    "prepare",
    "run_graph",
    "validate_graph",
    "CodeFragment",
    "DataDir",
    "InvalidNodeSpec",
    "Issue",
    "NodeCall",
    "NodeEntry",
    "NodeFailure",
    "NodePaths",
    "NodeSpec",
    "PackInfo",
    "ParamSpec",
    "PathError",
    "PortSpec",
    "PreparedGraph",
    "PresetEntry",
    "RegistryHolder",
    "RegistrySnapshot",
    "Requirement",
    "RunCancelled",
    "StatefulSpec",
    "ValidationReport",
    "check_relpath",
    "check_spec",
    "confine",
    "hookimpl",
    "hookspec",
    "spec_of",
    "types_compatible",
]
