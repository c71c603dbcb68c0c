"""The session token (api.md §1.4): creation, the ``session.token`` file, and request checks."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from nodeloom.kernel.fsutil import temp_path_for

TOKEN_FILE = "session.token"
TOKEN_HEADER = "X-Nodeloom-Token"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Mutating paths that never need the token (the bootstrap route hands it out).
TOKEN_EXEMPT_PATHS = frozenset({"/api/auth/bootstrap"})
MIN_TOKEN_LENGTH = 16


def generate_token() -> str:
    """32 CSPRNG bytes, URL-safe base64 without padding (43 characters)."""
    return secrets.token_urlsafe(32)


def check_token_value(token: str) -> str:
    """Validate a configured token (``NODELOOM_TOKEN``); raises ValueError with the reason."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"NODELOOM_TOKEN must be at least {MIN_TOKEN_LENGTH} characters long")
    if any(not 0x21 <= ord(c) <= 0x7E for c in token):
        raise ValueError("NODELOOM_TOKEN may only contain visible ASCII characters (0x21-0x7E)")
    return token


def token_from_env(value: str | None) -> str:
    """The configured token if any (validated), else a fresh random one."""
    return generate_token() if value is None or value == "" else check_token_value(value)


def token_path(data_dir_root: str | os.PathLike[str]) -> Path:
    return Path(data_dir_root) / TOKEN_FILE


def write_token_file(data_dir_root: str | os.PathLike[str], token: str) -> Path:
    """Write the bare token to ``<data dir>/session.token`` atomically with mode 0600.

    The temp file is created with 0600 (not chmod-ed later), so the token is never readable by
    others, not even for an instant.
    """
    final = token_path(data_dir_root)
    tmp = temp_path_for(final)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # the umask could only remove bits; make it exact
            os.write(fd, token.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def read_token_file(data_dir_root: str | os.PathLike[str]) -> str:
    """The token a running server wrote (for local tools)."""
    return token_path(data_dir_root).read_text(encoding="utf-8")


def tokens_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison over UTF-8 bytes; an empty value never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    """``X-Nodeloom-Token`` when present and non-empty, else an ``Authorization: Bearer`` value."""
    direct = headers.get(TOKEN_HEADER)
    if direct:
        return direct.strip()
    authorization = headers.get("Authorization") or ""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def token_from_websocket(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """Headers win over the ``?token=`` query parameter (browsers cannot set WebSocket headers)."""
    return token_from_headers(headers) or (query.get("token") or None)


def needs_token(method: str, path: str) -> bool:
    """The rule is by method only: every mutating request on any path, except bootstrap."""
    return method.upper() in MUTATING_METHODS and path not in TOKEN_EXEMPT_PATHS
