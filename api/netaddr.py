"""Host, origin and address parsing shared by the Host guard, CORS and bootstrap (api.md §1.5, §1.6).

Host names are normalised once here so every comparison elsewhere is a plain string compare:
lower-case, IP addresses in their canonical form, IPv6 literals wrapped in brackets.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path

import attrs

WILDCARD_BINDS = frozenset({"0.0.0.0", "::", "[::]"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# RFC 3986 reg-name characters that can appear in a Host header, minus percent escapes.
_REG_NAME = re.compile(r"^[a-z0-9\-._~!$&'()*+,;=]+$")
_PORT = re.compile(r"^[0-9]{1,5}$")


@attrs.frozen
class HostPort:
    """A parsed ``host[:port]``: ``name`` is normalised (see module doc), ``port`` may be None."""

    name: str
    port: int | None = None


def normalize_host_name(name: str) -> str | None:
    """Canonical form of a bare host name, or None when it is not a usable name.

    IPv6 literals must already be bracketed; a bare IPv6 form is refused (api.md §1.5 rule 2).
    """
    name = name.strip().lower()
    if not name:
        return None
    if name.startswith("["):
        if not name.endswith("]"):
            return None
        try:
            return f"[{ipaddress.IPv6Address(name[1:-1]).compressed}]"
        except ValueError:
            return None
    if ":" in name:
        return None
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        pass
    return name if _REG_NAME.match(name) else None


def parse_host_port(value: str | None) -> HostPort | None:
    """Split a ``Host`` header (or an allow-list entry) into a normalised name and port."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    port: int | None = None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[: end + 1], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
        else:
            port_text = None
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    elif ":" in value:
        return None  # bare IPv6 literal, never accepted
    else:
        host, port_text = value, None
    if port_text is not None:
        if not _PORT.match(port_text) or int(port_text) > 65535:
            return None
        port = int(port_text)
    name = normalize_host_name(host)
    return HostPort(name, port) if name is not None else None


def bind_host_name(host: str) -> str | None:
    """The normalised name of a bind address, as it must appear in a Host header."""
    host = host.strip()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return normalize_host_name(host)


def is_loopback_name(name: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ``[::1]`` (a normalised name)."""
    if name == "localhost":
        return True
    if name.startswith("["):
        return name == "[::1]"
    try:
        return ipaddress.IPv4Address(name).is_loopback
    except ValueError:
        return False


def is_wildcard_bind(host: str) -> bool:
    return host.strip().lower() in WILDCARD_BINDS


def is_loopback_peer(address: str | None) -> bool:
    """Whether a peer address (``request.remote_addr``) is a loopback address."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def url_host(host: str) -> str:
    """A bind host as it appears in a URL (IPv6 bracketed)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@attrs.frozen
class Origin:
    """A parsed ``Origin``: scheme, normalised host name and port (None when it is the default)."""

    scheme: str
    name: str
    port: int | None

    def serialize(self) -> str:
        return f"{self.scheme}://{self.name}" + (f":{self.port}" if self.port is not None else "")


def parse_origin(value: str | None) -> Origin | None:
    """Parse ``scheme://host[:port]``; default ports (80/443) are dropped. None when malformed."""
    if not value:
        return None
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS or not rest or "/" in rest or "@" in rest:
        return None
    hostport = parse_host_port(rest)
    if hostport is None:
        return None
    port = hostport.port
    if port == DEFAULT_PORTS[scheme]:
        port = None
    return Origin(scheme, hostport.name, port)


def interface_addresses() -> frozenset[str]:
    """Best-effort set of this machine's interface addresses, normalised (for wildcard binds).

    The standard library has no portable interface listing, so several sources are combined:
    Linux's procfs tables, the addresses the host name resolves to, and the local end of a
    routing probe (a connected UDP socket sends nothing).
    """
    found: set[str] = set()
    found.update(_procfs_ipv4())
    found.update(_procfs_ipv6())
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]))
    except OSError:
        pass
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                found.add(str(sock.getsockname()[0]))
        except OSError:
            pass
    names = {bind_host_name(a.split("%", 1)[0]) for a in found}
    return frozenset(n for n in names if n)


def _procfs_ipv4() -> set[str]:
    # fib_trie lists every local address as a "/32 host LOCAL" leaf under the address line.
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        return set()
    out: set[str] = set()
    for previous, line in zip(lines, lines[1:]):
        if "/32 host LOCAL" in line:
            candidate = previous.strip().lstrip("|-+ ").strip()
            try:
                out.add(str(ipaddress.IPv4Address(candidate)))
            except ValueError:
                continue
    return out


def _procfs_ipv6() -> set[str]:
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return set()
    out: set[str] = set()
    for line in lines:
        raw = line.split()[0] if line.split() else ""
        if len(raw) == 32:
            try:
                out.add(str(ipaddress.IPv6Address(int(raw, 16))))
            except ValueError:
                continue
    return out
