"""Server settings from flags, the environment and defaults (api.md §1.8, §1.9).

Flags win over environment variables, which win over defaults. Every invalid value raises
:class:`SettingsError`; the server turns it into a message and exit status 2.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from nodeloom.api import auth
from nodeloom.api.netaddr import bind_host_name, is_loopback_name, is_wildcard_bind, parse_host_port, parse_origin
from nodeloom.kernel.paths import DataDir

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: Fixed limits of §1.8 (no setting changes them).
CUSTOM_NODE_SOURCE_BYTES = 1 * MiB
LIBS_FILE_BYTES = 16 * MiB
MAX_TOTAL_CHUNKS = 10_000
MULTIPART_SLACK_BYTES = 1 * MiB

_INT = re.compile(r"^[+-]?[0-9]+$")


class SettingsError(ValueError):
    """An invalid flag or environment value; ``str()`` is the message shown before exiting with 2."""


@attrs.frozen
class Limits:
    """The configurable limits of §1.8. Sizes are bytes, durations seconds."""

    max_json_bytes: int = 64 * MiB
    max_model_bytes: int = 8 * GiB
    max_image_bytes: int = 256 * MiB
    max_chunk_bytes: int = 64 * MiB
    max_upload_bytes: int = 8 * GiB
    max_ws_message_bytes: int = 64 * MiB
    max_recorded_runs: int = 20
    run_retain_s: float = 300.0
    run_grace_s: float = 60.0
    upload_ttl_s: float = 24 * 3600.0


#: Limits field -> environment variable.
LIMIT_ENV: Mapping[str, str] = {
    field.name: "NODELOOM_" + field.name.upper() for field in attrs.fields(Limits)
}


@attrs.frozen
class Settings:
    """Everything the app factory and the server need to know about their configuration."""

    data_dir: DataDir
    token: str
    host: str = "127.0.0.1"
    port: int = 8000
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    limits: Limits = Limits()
    debug: bool = False
    #: Executor of runs whose ``execute`` names none (a name of ``Kernel.executors``).
    executor: str = "local"
    #: Settings handed to executors' ``configure`` at startup: ``{executor name: {option: value}}``.
    executor_options: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)

    @property
    def bind_is_loopback(self) -> bool:
        name = bind_host_name(self.host)
        return name is not None and is_loopback_name(name)

    @property
    def bind_is_wildcard(self) -> bool:
        return is_wildcard_bind(self.host)

    @classmethod
    def load(
        cls,
        *,
        host: str | None = None,
        port: int | None = None,
        data_dir: DataDir | str | os.PathLike[str] | None = None,
        token: str | None = None,
        environ: Mapping[str, str] | None = None,
        executor: str | None = None,
        executor_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Settings:
        """Build settings: explicit arguments (flags) win over ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        host = host if host is not None else env.get("NODELOOM_HOST", "").strip() or "127.0.0.1"
        if port is None:
            port = _port(env.get("NODELOOM_PORT", "").strip() or "8000")
        elif not 0 <= port <= 65535:
            raise SettingsError(f"invalid port {port}: must be between 0 and 65535")
        raw_token = token if token is not None else env.get("NODELOOM_TOKEN")
        try:
            resolved_token = auth.token_from_env(raw_token)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        return cls(
            data_dir=_data_dir(data_dir, env),
            token=resolved_token,
            host=_host(host),
            port=port,
            allowed_hosts=_allowed_hosts(env.get("NODELOOM_ALLOWED_HOSTS", "")),
            cors_origins=_cors_origins(env.get("NODELOOM_CORS_ORIGINS", "")),
            limits=_limits(env),
            debug=env.get("NODELOOM_DEBUG", "0").strip() == "1",
            executor=_executor(executor if executor is not None else env.get("NODELOOM_EXECUTOR", "")),
            executor_options={k: dict(v) for k, v in (executor_options or {}).items()},
        )


def split_list(value: str | None) -> list[str]:
    """Comma-separated list: entries trimmed, empty ones dropped (§1.9)."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _executor(name: str) -> str:
    # Whether an executor of that name exists is checked against the kernel when serving starts.
    return name.strip() or "local"


def _port(text: str) -> int:
    if not _INT.match(text) or not 0 <= int(text) <= 65535:
        raise SettingsError(f"invalid NODELOOM_PORT {text!r}: must be an integer between 0 and 65535")
    return int(text)


def _host(host: str) -> str:
    host = host.strip()
    if is_wildcard_bind(host):
        return host.strip("[]")
    if bind_host_name(host) is None:
        raise SettingsError(f"invalid host {host!r}: expected an IP address or a host name")
    return host.strip("[]")


def _data_dir(value: DataDir | str | os.PathLike[str] | None, env: Mapping[str, str]) -> DataDir:
    if isinstance(value, DataDir):
        return value
    if value is not None:
        return DataDir(Path(value))
    from_env = env.get("NODELOOM_DATA_DIR", "").strip()
    if from_env:
        return DataDir(Path(from_env))
    from nodeloom.config import default_data_dir

    return DataDir(default_data_dir())


def _allowed_hosts(value: str) -> tuple[str, ...]:
    entries = []
    for entry in split_list(value):
        if parse_host_port(entry) is None:
            raise SettingsError(f"invalid NODELOOM_ALLOWED_HOSTS entry {entry!r}: expected host[:port]")
        entries.append(entry)
    return tuple(entries)


def _cors_origins(value: str) -> tuple[str, ...]:
    entries = []
    for entry in split_list(value):
        origin = parse_origin(entry)
        if origin is None or origin.scheme not in ("http", "https"):
            raise SettingsError(
                f"invalid NODELOOM_CORS_ORIGINS entry {entry!r}: expected scheme://host[:port]"
            )
        entries.append(entry)
    return tuple(entries)


def _limits(env: Mapping[str, str]) -> Limits:
    values: dict[str, Any] = {}
    for field in attrs.fields(Limits):
        name = LIMIT_ENV[field.name]
        text = env.get(name, "").strip()
        if not text:
            continue
        if field.type in (float, "float"):
            values[field.name] = _seconds(name, text)
        else:
            values[field.name] = _positive_int(name, text)
    return Limits(**values)


def _positive_int(name: str, text: str) -> int:
    if not _INT.match(text) or int(text) < 1:
        raise SettingsError(f"invalid {name} {text!r}: must be a positive integer")
    return int(text)


def _seconds(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise SettingsError(f"invalid {name} {text!r}: must be a non-negative number of seconds")
    return value
