"""Step traces of instrumented nodes (engine.md §4.13, nodes.md N7)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


class StepRecorder:
    """Collects ``__steps__`` for one node call, only when the run is verbose.

    Node bodies test :attr:`enabled` before computing anything that exists only for the trace, and
    call :meth:`attach` on their result at the end::

        rec = StepRecorder(call)
        if rec.enabled:
            rec.add("input", "The input tensor.", tensors={"input": x})
        return rec.attach({"tensor": y})
    """

    def __init__(self, call: Any) -> None:
        options = getattr(call, "options", None) or {}
        self.enabled: bool = bool(options.get("verbose", False))
        self.steps: list[dict[str, Any]] = []

    def add(
        self,
        name: str,
        description: str,
        tensors: Mapping[str, Any] | None = None,
        scalars: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one step; tensors are detached so traces never keep autograd graphs alive."""
        if not self.enabled:
            return
        self.steps.append(
            {
                "name": name,
                "description": description,
                "tensors": {
                    k: (v.detach() if isinstance(v, torch.Tensor) else v)
                    for k, v in (tensors or {}).items()
                },
                "scalars": {k: float(v) for k, v in (scalars or {}).items()},
            }
        )

    def attach(self, result: dict[str, Any]) -> dict[str, Any]:
        """Return ``result`` with ``__steps__`` added when recording."""
        if self.enabled:
            result["__steps__"] = self.steps
        return result
