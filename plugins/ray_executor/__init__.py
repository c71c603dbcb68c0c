"""The ``ray`` plugin: an executor that runs graphs on a Ray cluster (optional extra ``ray``).

Whole runs go to warm Ray workers that run them with nodeloom's own engine; nodes that declare
resource hints (``NodeSpec.resources``, e.g. ``{"gpu": 1}``) run as Ray tasks holding those
resources. Events, recorded outputs, stop and attach behave as with the ``local`` executor.
See ``docs/distributed.md``.

The plugin loads without Ray installed; the executor then reports itself unavailable, naming
``pip install 'nodeloom[ray]'``.
"""

from __future__ import annotations

from typing import Any

from nodeloom.kernel import hookimpl

from .executor import RayExecutor

__all__ = ["RayExecutor"]


@hookimpl
def register_executors(register: Any) -> None:
    register("ray", RayExecutor())
