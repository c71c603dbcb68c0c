"""Call one node body directly, the way the engine would, for unit tests of node code."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from nodeloom.kernel import NodeCall, spec_of
from nodeloom.kernel.params import normalize


def call_node(node: Any, inputs: dict[str, Any] | None = None, *, seed: int = 1234,
              device: str = "cpu", options: dict[str, Any] | None = None, paths: Any = None,
              node_id: str = "n1",
              on_progress: Callable[[Mapping[str, Any]], None] | None = None,
              cancel_event: threading.Event | None = None,
              node_params: Mapping[str, Any] | None = None,
              **params: Any) -> dict[str, Any]:
    """Run ``node`` (a NodeSpec or decorated function) with its defaults overlaid by ``params``.

    ``on_progress`` receives every ``call.progress`` event; setting ``cancel_event`` cancels the call.
    ``node_params`` passes params whose names clash with this function's keywords (``seed``,
    ``device``, ...).
    """
    params = {**params, **(node_params or {})}
    spec = spec_of(node)
    assert spec is not None, f"{node!r} carries no NodeSpec"
    effective = {p.name: normalize(p.param_type, params.get(p.name, p.default)) for p in spec.params}
    effective.update({k: v for k, v in params.items() if spec.param(k) is None})
    call = NodeCall(
        node_id=node_id,
        node_type=spec.name,
        inputs=inputs or {},
        params=effective,
        device=device,
        seed=seed,
        options={"module_mode": "train", "verbose": False, "backward_mode": False, **(options or {})},
        paths=paths,
        extras={"spec": spec, "type_key": spec.name, "code_digest": "0" * 64, "pack_version": "test"},
        emit_progress=on_progress,
        cancel_event=cancel_event if cancel_event is not None else threading.Event(),
    )
    return dict(spec.execute(call))
