"""Persisted modules of stateful nodes (engine.md §4.14, nodes.md N4)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

from .devices import to_device
from .rng import in_seeded_block, seeded


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the canonical form every nodeloom hash is taken over."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True
    ).encode("utf-8")


def structural_params(spec: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The params whose change rebuilds the module, after the spec's ``normalize`` hook."""
    names = spec.stateful.structural_params or tuple(p.name for p in spec.params)
    chosen = {name: params.get(name) for name in names}
    if spec.stateful.normalize is not None:
        chosen = dict(spec.stateful.normalize(chosen))
    return chosen


def structure_hash(type_key: str, code_digest: str, params: Mapping[str, Any]) -> str:
    """First 16 hex chars of SHA-256 over the canonical JSON of type, digest and params."""
    payload = {"type": type_key, "digest": code_digest, "params": dict(params)}
    return hashlib.sha256(canonical_json(payload)).hexdigest()[:16]


def module_for(call: Any, build: Callable[[], Any] | None = None) -> Any:
    """The module of a stateful node for this call: persisted when the store has it, else built.

    Call it inside ``seeded(call)`` and run the forward pass in the same block. The module is
    built on the CPU (so initial weights do not depend on the device), then moved to
    ``call.device`` and put in ``call.options["module_mode"]`` (``train`` by default).
    ``build`` defaults to the node's ``StatefulSpec.build(call)``.
    """
    spec = call.extras["spec"]
    if spec.stateful is None and build is None:
        raise TypeError(f"{spec.name} is not stateful and no build function was given")
    type_key = call.extras.get("type_key", spec.name)
    digest = call.extras.get("code_digest", "")
    params = (
        structural_params(spec, call.params) if spec.stateful is not None else dict(call.params)
    )
    key = structure_hash(type_key, digest, params)
    build_fn = build if build is not None else (lambda: spec.stateful.build(call))
    # Outside a seeded block the whole lookup is wrapped (not just the build), so the RNG lock is
    # always taken before the store's per-key lock and the two can never deadlock.
    guard = nullcontext() if in_seeded_block() else seeded(call)
    with guard:
        if call.state is not None:
            info = {"node_type": type_key, "structure_hash": key, "params": params}
            module = call.state.get_or_build(key, build_fn, info)
        else:
            module = build_fn()
    module = to_device(module, call.device)
    mode = (call.options or {}).get("module_mode", "train")
    module.train(mode != "eval")
    return module
