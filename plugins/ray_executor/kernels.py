"""The kernel a Ray worker process runs nodes with: built once per process and configuration.

Building one imports every plugin (torch included) and takes seconds, so run workers and task
processes keep theirs for as long as they live. A kernel whose packs differ from a run's lock is
reloaded once (the packs may have been upgraded since it was built) before the run is refused.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from nodeloom.kernel.host import Kernel
from nodeloom.kernel.paths import DataDir

from .config import WorkerConfig
from .lock import lock_problems

_lock = threading.Lock()
_kernels: dict[Any, Kernel] = {}


def _default_factory(data_dir: str, env: Mapping[str, str]) -> Kernel:
    return Kernel(DataDir(data_dir), env=env)


#: This plugin's id. Workers run graphs; they need no executor of their own, and loading this
#: plugin there would re-import (purge and reload) the very modules the worker is running.
PLUGIN_ID = "ray"


def _without_this_plugin(env: Mapping[str, str]) -> dict[str, str]:
    out = dict(env)
    disabled = [p for p in out.get("NODELOOM_DISABLE_PLUGINS", "").split(",") if p.strip()]
    out["NODELOOM_DISABLE_PLUGINS"] = ",".join([*disabled, PLUGIN_ID])
    return out


def worker_kernel(config: WorkerConfig) -> Kernel:
    """This process's started kernel for ``config``."""
    with _lock:
        kernel = _kernels.get(config.key)
        if kernel is None:
            env = _without_this_plugin({**os.environ, **config.env})
            factory = config.kernel_factory or _default_factory
            kernel = factory(config.data_dir, env)
            kernel.start()
            _kernels[config.key] = kernel
        return kernel


def reproduce(kernel: Kernel, lock: Mapping[str, tuple[str, str]]) -> list[str]:
    """Problems left after making ``kernel`` match ``lock`` (a reload when it does not yet)."""
    problems = lock_problems(lock, kernel.snapshot)
    if problems:
        with _lock:  # one reload at a time, and only while it is still needed
            if lock_problems(lock, kernel.snapshot):
                kernel.reload()
        problems = lock_problems(lock, kernel.snapshot)
    return problems
