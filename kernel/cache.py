"""The output cache and its keys (engine.md §4.12.1).

A cache is an object the caller owns (the API keeps one per server) and passes to runs. Keys are
content hashes covering type, code version, params, wiring and device, so sharing one cache
between runs and clients is safe.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

DEFAULT_MAX_ENTRIES = 256
DEFAULT_MAX_BYTES = 1 << 30
KEY_VERSION = 1


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8. Raises TypeError/ValueError for non-JSON values."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def cache_key(
    *,
    type_key: str,
    pack: tuple[str, str, str],
    params: Mapping[str, Any],
    inputs: Iterable[tuple[str, str, str]],
    device: str,
    fingerprint: str | None = None,
) -> str | None:
    """Hex SHA-256 of the canonical key document, or None when the node cannot have a key.

    ``pack`` is ``(pack id, pack version, code digest)``; ``inputs`` holds
    ``(target port, upstream key, source port)`` for the winning edge of each fed port.
    Params that are not JSON-serialisable (or hold NaN/Inf) make the node ineligible instead of
    failing the run.
    """
    document = {
        "v": KEY_VERSION,
        "type": type_key,
        "pack": list(pack),
        "params": params,
        "inputs": sorted([list(item) for item in inputs]),
        "device": device,
        "fingerprint": fingerprint,
    }
    try:
        payload = canonical_json(document)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(payload).hexdigest()


@attrs.define
class _Entry:
    result: dict[str, Any]
    nbytes: int


class OutputCache:
    """Thread-safe LRU of node results, bounded by entry count and by bytes.

    Sizes come from the caller (the engine counts tensor storage through the run extensions),
    so the cache itself never needs to know what a tensor is.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> dict[str, Any] | None:
        """A copy of the stored result (so callers cannot alter the entry), refreshing its age."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return dict(entry.result)

    def put(self, key: str, result: Mapping[str, Any], nbytes: int = 0) -> bool:
        """Store ``result``; False when it alone exceeds the byte budget (nothing is evicted then)."""
        if nbytes > self.max_bytes or self.max_entries <= 0:
            return False
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[key] = _Entry(dict(result), nbytes)
            self._bytes += nbytes
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes
        return True

    def clear(self) -> int:
        """Drop every entry; returns how many there were."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._bytes = 0
            return count

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._bytes,
                "hits": self.hits,
                "misses": self.misses,
            }
