"""Where the built SPA lives and how its files are typed and cached."""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

DIST_ENV = "NODELOOM_UI_DIST"
PACKAGE_DIST = Path(__file__).resolve().parent / "web" / "dist"

# Vite fingerprints everything under assets/, so a name never changes content.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# The platform's mimetypes table varies (Windows registry, old /etc/mime.types); these must not.
# No charset here: the response class appends it to text types itself.
_MIME = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".wasm": "application/wasm",
    ".txt": "text/plain",
    ".webmanifest": "application/manifest+json",
}


def dist_dir() -> Path:
    """The bundle folder, read per request so tests (and packagers) can point elsewhere."""
    override = os.environ.get(DIST_ENV)
    return Path(override).expanduser() if override else PACKAGE_DIST


def mime_type(path: Path) -> str:
    known = _MIME.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def cache_control(relpath: str) -> str:
    return IMMUTABLE if relpath.startswith("assets/") else REVALIDATE
