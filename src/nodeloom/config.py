"""Where nodeloom keeps its data, resolved the same way by the CLI and the server."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from nodeloom.kernel import DataDir


def default_data_dir() -> Path:
    """``NODELOOM_DATA_DIR``, else the platform's user data dir for app ``nodeloom``."""
    env = os.environ.get("NODELOOM_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("nodeloom", appauthor=False))


def data_dir(path: str | os.PathLike[str] | None = None) -> DataDir:
    """The data dir for ``path`` (a flag wins over the environment), created if missing."""
    return DataDir(Path(path) if path else default_data_dir()).ensure()
