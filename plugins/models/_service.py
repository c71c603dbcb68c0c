"""Per-app state of the models routes: the models folder, the download jobs, the registry view.

It lives in ``app.extensions`` rather than in module globals, so several apps (tests) can share
this module; the plugin's ``shutdown`` hook closes it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from quart import current_app

from nodeloom.api import current_kernel, current_settings

from ._jobs import JobManager
from ._registry import RegistryView, view_of_snapshot

log = logging.getLogger("nodeloom.models")

EXTENSION_KEY = "nodeloom.models"


class ModelsService:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs = JobManager()
        self._lock = threading.Lock()
        self._snapshot: Any = None
        self._view = RegistryView()

    def registry(self, kernel: Any) -> RegistryView:
        """The registry of the kernel's current snapshot, built (and its problems logged) once per swap."""
        snapshot = kernel.snapshot
        with self._lock:
            if snapshot is self._snapshot:
                return self._view
        view = view_of_snapshot(snapshot, getattr(kernel, "model_sources", None))
        for problem in view.problems:
            log.warning("model registry: %s", problem)
        with self._lock:
            self._snapshot, self._view = snapshot, view
        return view

    def source_for(self, kernel: Any, source_type: str) -> Any:
        return (getattr(kernel, "model_sources", None) or {}).get(source_type)

    def close(self) -> None:
        self.jobs.close()


def current_service() -> ModelsService:
    extensions = current_app.extensions
    service = extensions.get(EXTENSION_KEY)
    if service is None:
        service = ModelsService(current_settings().data_dir.area("models"))
        extensions[EXTENSION_KEY] = service
    return service


def current_registry() -> RegistryView:
    return current_service().registry(current_kernel())


def close_service(app: Any) -> None:
    service = getattr(app, "extensions", {}).pop(EXTENSION_KEY, None)
    if service is not None:
        service.close()
