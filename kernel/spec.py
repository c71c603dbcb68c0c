"""The node contract: NodeSpec, PortSpec, ParamSpec and friends (engine.md §2.4).

These attrs classes and their import path (``nodeloom.kernel``) are the stable public surface that
packs and custom-node files build on. Sugar lives in :mod:`nodeloom.kernel.api`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from . import params as _params
from .ports import is_valid_port_type

Flag = bool | Callable[[Mapping[str, Any]], bool]

_NODE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_PORT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _tuple(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        raise TypeError("expected a sequence, got a string")
    return tuple(value)


@attrs.frozen
class PortSpec:
    """An input or output port. ``optional`` only matters for inputs."""

    name: str
    type: str
    description: str = ""
    optional: bool = False

    def wire(self, *, output: bool = False) -> dict[str, Any]:
        return {
            "name": self.name,
            "data_type": self.type,
            "description": self.description,
            "optional": False if output else bool(self.optional),
        }


@attrs.frozen
class ParamSpec:
    """A node parameter; see engine.md §2.3 for the types and what each accepts."""

    name: str
    param_type: str
    default: Any = None
    description: str = ""
    options: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    min_value: float | int | None = None
    max_value: float | int | None = None
    visible_when: Mapping[str, Any] | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "param_type": self.param_type,
            "default": self.default,
            "description": self.description,
            "options": list(self.options),
            "min_value": self.min_value,
            "max_value": self.max_value,
            "visible_when": dict(self.visible_when) if self.visible_when is not None else None,
        }


@attrs.frozen
class Requirement:
    """An optional dependency: checked with ``find_spec(import_name)`` at snapshot build."""

    import_name: str
    distribution: str
    extra: str

    def reason(self) -> str:
        return f"needs {self.distribution} (pip install 'nodeloom[{self.extra}]')"


@attrs.frozen
class StatefulSpec:
    """Declares that a node wraps a persisted module (engine.md §4.14).

    ``structural_params`` name the params whose change rebuilds the module (empty: all declared
    params). ``build(call)`` constructs the module; ``normalize(params)`` may canonicalise the
    structural params before hashing.
    """

    build: Callable[[Any], Any]
    structural_params: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@attrs.frozen
class CodeFragment:
    """What a node's ``codegen`` returns for the standalone export (engine.md §6.2)."""

    body: str
    imports: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    helpers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class NodeSpec:
    """The declaration of one node type. See engine.md §2.4 for every field."""

    name: str
    category: str
    execute: Callable[[Any], Any]
    description: str = ""
    inputs: tuple[PortSpec, ...] = attrs.field(default=(), converter=_tuple)
    outputs: tuple[PortSpec, ...] = attrs.field(default=(), converter=_tuple)
    params: tuple[ParamSpec, ...] = attrs.field(default=(), converter=_tuple)
    dynamic_outputs: Callable[[Mapping[str, Any]], tuple[PortSpec, ...]] | None = None
    cacheable: Flag = True
    deterministic: Flag = True
    random: Flag = False
    stateful: StatefulSpec | None = None
    requires: tuple[Requirement, ...] = attrs.field(default=(), converter=_tuple)
    fingerprint: Callable[[Mapping[str, Any], Any], str | None] | None = None
    display_only: bool = False
    codegen: Callable[[Any], CodeFragment] | None = None
    # Scheduling hints for executors that place nodes on workers, e.g. {"gpu": 1}.
    resources: Mapping[str, float] | None = None

    # -- derived views -------------------------------------------------------------------

    def param(self, name: str) -> ParamSpec | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def input(self, name: str) -> PortSpec | None:
        for p in self.inputs:
            if p.name == name:
                return p
        return None

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def output_ports(self, effective_params: Mapping[str, Any]) -> tuple[PortSpec, ...]:
        """Output ports for one instance: the dynamic ones when declared, else the static ones."""
        if self.dynamic_outputs is None:
            return self.outputs
        return tuple(self.dynamic_outputs(effective_params))

    def flag(self, name: str, effective_params: Mapping[str, Any]) -> bool:
        value = getattr(self, name)
        return bool(value(effective_params)) if callable(value) else bool(value)

    def cache_eligible(self, effective_params: Mapping[str, Any]) -> bool:
        return (
            self.stateful is None
            and self.flag("cacheable", effective_params)
            and self.flag("deterministic", effective_params)
            and not self.flag("random", effective_params)
        )


def spec_of(obj: Any) -> NodeSpec | None:
    """The NodeSpec an object is or carries (``__nodeloom_spec__``), else None."""
    if isinstance(obj, NodeSpec):
        return obj
    carried = getattr(obj, "__nodeloom_spec__", None)
    return carried if isinstance(carried, NodeSpec) else None


class InvalidNodeSpec(ValueError):
    """A NodeSpec that breaks the declaration rules; reported as ``invalid_node_spec``."""


def check_spec(spec: NodeSpec) -> None:
    """Raise :class:`InvalidNodeSpec` when ``spec`` breaks a rule of engine.md §2.4."""
    name = spec.name
    if not isinstance(name, str) or not _NODE_NAME_RE.match(name):
        raise InvalidNodeSpec(f"invalid node name {name!r}")
    if name == "note" or name.startswith("preset"):
        raise InvalidNodeSpec(f"node name {name!r} is reserved")
    if not isinstance(spec.category, str) or not spec.category:
        raise InvalidNodeSpec(f"{name}: category must be a non-empty string")
    if not callable(spec.execute):
        raise InvalidNodeSpec(f"{name}: execute must be callable")
    for kind, ports in (("input", spec.inputs), ("output", spec.outputs)):
        seen: set[str] = set()
        for port in ports:
            if not isinstance(port, PortSpec):
                raise InvalidNodeSpec(f"{name}: {kind} ports must be PortSpec objects")
            if not _PORT_NAME_RE.match(port.name):
                raise InvalidNodeSpec(f"{name}: invalid {kind} port name {port.name!r}")
            if port.name in seen:
                raise InvalidNodeSpec(f"{name}: duplicate {kind} port {port.name!r}")
            if not is_valid_port_type(port.type):
                raise InvalidNodeSpec(f"{name}: invalid port type {port.type!r} on {port.name!r}")
            seen.add(port.name)
    seen = set()
    for p in spec.params:
        if not isinstance(p, ParamSpec):
            raise InvalidNodeSpec(f"{name}: params must be ParamSpec objects")
        if not isinstance(p.name, str) or not p.name:
            raise InvalidNodeSpec(f"{name}: a param has no name")
        if p.name in seen:
            raise InvalidNodeSpec(f"{name}: duplicate param {p.name!r}")
        seen.add(p.name)
        if p.param_type not in _params.PARAM_TYPES:
            raise InvalidNodeSpec(f"{name}: param {p.name!r} has unknown type {p.param_type!r}")
        if p.param_type == "select" and not p.options:
            raise InvalidNodeSpec(f"{name}: select param {p.name!r} has no options")
        if p.default is None and p.param_type != "tensor_grid":
            raise InvalidNodeSpec(f"{name}: param {p.name!r} has no default")
        problem = _params.check_value(p, p.default)
        if problem is not None:
            raise InvalidNodeSpec(
                f"{name}: default of param {p.name!r} is invalid ({problem[0]}: {p.default!r})"
            )


def node_definition(
    spec: NodeSpec,
    *,
    key: str,
    provider: str,
    version: str,
    available: bool = True,
    unavailable_reason: str | None = None,
) -> dict[str, Any]:
    """The NodeDefinition wire shape of api.md §4.1."""
    defaults = spec.default_params()

    def flag(name: str) -> bool:
        try:
            return spec.flag(name, defaults)
        except Exception:  # a flag callable that cannot read the defaults is reported as off
            return False

    return {
        "node_name": key,
        "category": spec.category,
        "description": spec.description,
        "provider": provider,
        "version": version,
        "cacheable": True if callable(spec.cacheable) else bool(spec.cacheable),
        "available": available,
        "unavailable_reason": unavailable_reason,
        "flags": {
            "deterministic": flag("deterministic"),
            "random": flag("random"),
            "stateful": spec.stateful is not None,
            "display_only": bool(spec.display_only),
            "dynamic_outputs": spec.dynamic_outputs is not None,
            "exportable": spec.codegen is not None or bool(spec.display_only),
        },
        "inputs": [p.wire() for p in spec.inputs],
        "outputs": [p.wire(output=True) for p in spec.outputs],
        "params": [p.wire() for p in spec.params],
    }
