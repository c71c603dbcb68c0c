"""nodeloom's microkernel: hook specs, the node contract, the registry, graphs and the engine.

This package is the stable public surface that plugins import. It imports neither torch nor any
web framework; framework behaviour arrives through plugins (see :mod:`.hookspecs`).
"""

from .call import NodeCall, NodeFailure, RunCancelled
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
