"""Node routes (api.md §2.2): the catalogue, one definition, registry reload, param-dependent ports."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import attrs
from quart import Blueprint, Response, current_app

from nodeloom.api import ApiError, Fields, current_kernel, read_json_object
from nodeloom.kernel.params import check_value, describe_problem
from nodeloom.kernel.registry import NodeEntry, RegistrySnapshot
from nodeloom.kernel.validation import effective_params, output_ports

from ._schemas import STRING, documented, list_of, obj, ref, register_schemas

blueprint = Blueprint("api_nodes", __name__)
# The shared shapes of §4 are published once per app, by this group (every other one uses them).
blueprint.record_once(lambda state: register_schemas(state.app))

DEVICE_PARAM = "device"


# ---------------------------------------------------------------------------- the catalogue


@attrs.frozen
class Catalogue:
    """The NodeDefinitions of one snapshot as the API serves them, encoded once."""

    body: bytes  # the JSON list of GET /api/nodes
    by_key: Mapping[str, dict[str, Any]]


_catalogues: weakref.WeakKeyDictionary[RegistrySnapshot, Catalogue] = weakref.WeakKeyDictionary()
_catalogue_lock = threading.Lock()


def narrow_devices(definition: dict[str, Any], available: frozenset[str]) -> dict[str, Any]:
    """§4.3 device params: options cut to ``auto`` plus the available devices, default to ``cpu``.

    Returns ``definition`` itself when it has no device param; otherwise a copy (the snapshot's
    definitions are shared and must not change).
    """
    params = definition["params"]
    if not any(p["name"] == DEVICE_PARAM and p["param_type"] == "select" for p in params):
        return definition
    narrowed = []
    for param in params:
        if param["name"] == DEVICE_PARAM and param["param_type"] == "select":
            # Only options the node itself accepts are kept: offering "auto" to a node whose
            # validation rejects it would make the UI produce invalid graphs.
            options = [o for o in param["options"] if o == "auto" or o in available] or ["cpu"]
            default = param["default"]
            if default != "auto" and default not in available:
                default = "cpu"
            param = {**param, "options": options, "default": default}
        narrowed.append(param)
    return {**definition, "params": narrowed}


def _available_devices() -> frozenset[str]:
    # Through the module attribute so tests can replace the (torch-importing) probe.
    from nodeloom.plugins.api_routes import system

    probe = system.probe_devices()
    return frozenset(d["value"] for d in probe["devices"] if d["available"])


def build_catalogue(snapshot: RegistrySnapshot, dumps: Any) -> Catalogue:
    """Serialise the snapshot's definitions (blocking: may probe devices, encodes the JSON)."""
    definitions = snapshot.node_definitions()
    needs_probe = any(
        p["name"] == DEVICE_PARAM and p["param_type"] == "select" for d in definitions for p in d["params"]
    )
    if needs_probe:
        available = _available_devices()
        definitions = [narrow_devices(d, available) for d in definitions]
    return Catalogue(
        body=dumps(definitions).encode("utf-8"),
        by_key={d["node_name"]: d for d in definitions},
    )


async def catalogue_of(snapshot: RegistrySnapshot) -> Catalogue:
    """The snapshot's catalogue, built on first use and reused for the snapshot's lifetime."""
    cached = _catalogues.get(snapshot)
    if cached is not None:
        return cached
    dumps = current_app.json.dumps

    def build() -> Catalogue:
        # One build per snapshot even when many requests arrive right after a swap.
        with _catalogue_lock:
            found = _catalogues.get(snapshot)
            if found is None:
                found = build_catalogue(snapshot, dumps)
                _catalogues[snapshot] = found
            return found

    return await asyncio.to_thread(build)


# ---------------------------------------------------------------------------- lookups


def resolve_node(snapshot: RegistrySnapshot, node_name: str) -> NodeEntry:
    """§2.2.2 lookup: exact key, else the single ``*:<name>`` key; 404 or 409 otherwise."""
    found = snapshot.lookup(node_name)
    if found.entry is not None:
        return found.entry
    if found.error == "ambiguous_node_type":
        raise ApiError(
            409,
            "ambiguous_node_type",
            f"Node name '{node_name}' is ambiguous",
            candidates=sorted(found.candidates),
        )
    raise ApiError(404, "node_not_found", f"Node '{node_name}' not found")


def param_problems(entry: NodeEntry, params: Mapping[str, Any]) -> list[str]:
    """Messages of validation rule 4 (4.1 to 4.4) for the declared params present in ``params``."""
    problems = []
    for spec in entry.spec.params:
        if spec.name not in params:
            continue
        value = params[spec.name]
        found = check_value(spec, value)
        if found is not None:
            code, details = found
            problems.append(describe_problem(spec, value, code, details, f"of {entry.key}"))
    return problems


# ---------------------------------------------------------------------------- routes


@blueprint.get("/api/nodes")
@documented(list_of("NodeDefinition"))
async def list_nodes() -> Response:
    """Every node type of the current registry, sorted by name."""
    catalogue = await catalogue_of(current_kernel().snapshot)
    return current_app.response_class(catalogue.body, mimetype="application/json")


@blueprint.get("/api/nodes/<node_name>")
@documented(ref("NodeDefinition"))
async def get_node(node_name: str) -> dict[str, Any]:
    """One NodeDefinition; a bare name finds the single plugin-qualified key ending in it."""
    snapshot = current_kernel().snapshot
    entry = resolve_node(snapshot, node_name)
    catalogue = await catalogue_of(snapshot)
    return catalogue.by_key[entry.key]


@blueprint.post("/api/nodes/reload")
@documented(ref("ReloadReport"))
async def reload_nodes() -> dict[str, Any]:
    """Rediscover plugins, custom nodes, presets and models; publish a new registry generation."""
    return await reload_registry()


@blueprint.post("/api/nodes/<node_name>/ports")
@documented(
    obj({"node_name": STRING, "inputs": list_of("PortDefinition"), "outputs": list_of("PortDefinition")},
        "node_name", "inputs", "outputs"),
    body=obj({"params": {"type": "object"}}),
)
async def node_ports(node_name: str) -> dict[str, Any]:
    """A node's input and output ports for given params (dynamic outputs such as ``chunk_<i>``)."""
    body = Fields(await read_json_object())
    params = body.mapping("params", default={})
    body.raise_if_problems()
    entry = resolve_node(current_kernel().snapshot, node_name)
    problems = param_problems(entry, params)
    if problems:
        raise ApiError(400, "invalid_params", "; ".join(problems), errors=problems)
    effective = effective_params(entry.spec, params)
    return {
        "node_name": entry.key,
        "inputs": [p.wire() for p in entry.spec.inputs],
        "outputs": [p.wire(output=True) for p in output_ports(entry.spec, effective)],
    }


async def reload_registry() -> dict[str, Any]:
    """Full rebuild (§2.2.3), shared with ``POST /api/plugins/reload``; the response of both."""
    report = await asyncio.to_thread(current_kernel().reload)
    return report.wire()
