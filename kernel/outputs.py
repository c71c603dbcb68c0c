"""The run output store (engine.md §4.13, api.md §2.10) and the step-trace flattening.

In memory, ``run_id -> node_id -> port -> value``, insertion ordered. It keeps the most recent
``max_runs`` runs; the run whose *first write* is oldest is evicted, and reading never refreshes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

DEFAULT_MAX_RUNS = 20

STEPS_KEY = "__steps__"


def is_hidden(port: str) -> bool:
    return port.startswith("__")


def step_port(index: int, key: str) -> str:
    return f"__step__{index}__{key}"


def flatten_steps(steps: Any) -> dict[str, Any]:
    """Ports for a ``__steps__`` trace: ``__step__<i>__<tensor key>`` and ``__step__<i>__meta``.

    Malformed steps (not mappings) are skipped rather than failing the run: a trace is a debugging
    aid, and a node that produced a result has succeeded.
    """
    out: dict[str, Any] = {}
    if not isinstance(steps, (list, tuple)):
        return out
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        tensors = step.get("tensors") or {}
        if not isinstance(tensors, Mapping):
            tensors = {}
        for key, value in tensors.items():
            out[step_port(i, str(key))] = value
        scalars = step.get("scalars") or {}
        out[step_port(i, "meta")] = {
            "name": step.get("name"),
            "description": step.get("description"),
            "scalars": dict(scalars) if isinstance(scalars, Mapping) else {},
            "tensor_keys": [str(k) for k in tensors],
        }
    return out


def recordable(result: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The ports a run records for one result: non-hidden outputs, then flattened step traces."""
    for port, value in result.items():
        if not is_hidden(port):
            yield port, value
    steps = result.get(STEPS_KEY)
    if steps is not None:
        yield from flatten_steps(steps).items()


class RunOutputStore:
    """Thread-safe store of recorded outputs for the most recent runs."""

    def __init__(self, max_runs: int = DEFAULT_MAX_RUNS) -> None:
        self.max_runs = max_runs
        self._runs: OrderedDict[str, OrderedDict[str, OrderedDict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, run_id: str, node_id: str, port: str, value: Any) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                run = self._runs[run_id] = OrderedDict()
                while len(self._runs) > max(self.max_runs, 1):
                    self._runs.popitem(last=False)
            node = run.get(node_id)
            if node is None:
                node = run[node_id] = OrderedDict()
            node[port] = value

    def record_result(self, run_id: str, node_id: str, result: Mapping[str, Any]) -> None:
        """Record every recordable port of one node result (see :func:`recordable`)."""
        for port, value in recordable(result):
            self.record(run_id, node_id, port, value)

    def has_run(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._runs

    def get(self, run_id: str, node_id: str, port: str, default: Any = None) -> Any:
        with self._lock:
            return self._runs.get(run_id, {}).get(node_id, {}).get(port, default)

    def ports(self, run_id: str) -> dict[str, list[str]]:
        """``{node_id: [ports]}`` in insertion order; ``{}`` for an unknown run."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return {}
            return {node_id: list(ports) for node_id, ports in run.items()}

    def entries(self, run_id: str) -> list[tuple[str, str, Any]]:
        """``(node_id, port, value)`` for every stored value of the run, in insertion order."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return []
            return [(n, p, v) for n, ports in run.items() for p, v in ports.items()]

    def node(self, run_id: str, node_id: str) -> dict[str, Any]:
        """``{port: value}`` of one node (a copy); ``{}`` when absent."""
        with self._lock:
            return dict(self._runs.get(run_id, {}).get(node_id, {}))

    def clear(self, run_id: str) -> bool:
        """Drop one run's outputs; False when there was nothing stored for it."""
        with self._lock:
            return self._runs.pop(run_id, None) is not None

    def run_ids(self) -> list[str]:
        with self._lock:
            return list(self._runs)
