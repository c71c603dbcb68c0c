"""Node values across processes: pickled, never as JSON; big ones through Ray's object store.

A node result travels as *one* object so that values sharing state keep sharing it on the other
side (an optimizer and the model whose parameters it holds). Results holding more than
:data:`INLINE_LIMIT` bytes of tensors go through the object store (``ray.put``); smaller ones are
pickled into the message that carries them (:class:`Inline`), which spares a tiny run the object
store's fixed cost per object. A value that cannot be pickled (a lock, an open environment, a
generator) is replaced by an :class:`Unshippable` placeholder naming its type, so one odd output
never fails a whole run.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

import attrs
import ray
from ray import cloudpickle

#: Results up to this size (tensor bytes, then pickled bytes) travel inside messages.
INLINE_LIMIT = 64 * 1024

_keys = itertools.count(1)

log = logging.getLogger("nodeloom.ray")


@attrs.frozen
class Unshippable:
    """Stands in for a value that could not leave the process that produced it."""

    type_name: str
    reason: str

    def __str__(self) -> str:
        return f"<{self.type_name} not transferable from the Ray worker: {self.reason}>"


def _placeholder(value: Any, exc: BaseException) -> Unshippable:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return Unshippable(type(value).__name__, reason[:200])


def put(value: Any) -> ray.ObjectRef:
    """``ray.put(value)``; a mapping with unpicklable members gets placeholders for those."""
    try:
        return ray.put(value)
    except Exception as exc:  # noqa: BLE001 - Ray wraps pickling errors in several types
        if not isinstance(value, Mapping):
            return ray.put(_placeholder(value, exc))
        log.debug("result not picklable as a whole (%s); shipping port by port", exc)
    fixed: dict[Any, Any] = {}
    for key, item in value.items():
        try:
            ray.put(item)  # the probe's object is dropped at once; the real put follows below
            fixed[key] = item
        except Exception as exc:  # noqa: BLE001
            fixed[key] = _placeholder(item, exc)
    return ray.put(fixed)


@attrs.frozen(eq=False)
class Inline:
    """A small value pickled where it was produced; ``key`` identifies it within its run."""

    key: int
    data: bytes

    def __hash__(self) -> int:
        return hash(("inline", self.key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Inline) and other.key == self.key

    def load(self) -> Any:
        return cloudpickle.loads(self.data)


def pack(value: Any, nbytes: int = 0) -> Inline | ray.ObjectRef:
    """``value`` ready to travel: inline when small, else through the object store.

    ``nbytes`` is what the run extensions say the value holds (tensor storage); the pickled size
    decides for the rest.
    """
    if nbytes <= INLINE_LIMIT:
        try:
            data = cloudpickle.dumps(value)
        except Exception:  # noqa: BLE001 - put() knows how to ship what does not pickle
            return put(value)
        if len(data) <= INLINE_LIMIT:
            return Inline(next(_keys), data)
    return put(value)


def is_packed(value: Any) -> bool:
    return isinstance(value, (Inline, ray.ObjectRef))
