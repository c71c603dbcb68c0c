"""Per-route request body limits (api.md §1.8): declared length and streamed byte counting.

Quart's own limit is fixed when the request object is created, before routing, and counts only
the bytes still buffered. nodeloom's limit depends on the route (uploads allow gigabytes, JSON
routes 64 MiB), so the guards set it after routing on a body that counts every received byte.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from quart.wrappers.request import Body, Request
from werkzeug.exceptions import RequestEntityTooLarge

if TYPE_CHECKING:
    from nodeloom.api.settings import Limits

LIMIT_ATTR = "__nodeloom_body_limit__"


class LimitedBody(Body):
    """Quart's request body, counting every received byte against a limit set after routing.

    Quart's own check counts only the bytes still buffered, which a streaming reader keeps
    draining; counting the total makes the limit hold for streamed uploads too.
    """

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, None)
        self.received = 0
        self.limit: int | None = None

    def set_limit(self, limit: int | None) -> None:
        self.limit = limit
        if limit is not None and self.received > limit:
            self._overflow()

    def append(self, data: bytes) -> None:
        if not data or self._must_raise is not None:
            return
        self.received += len(data)
        if self.limit is not None and self.received > self.limit:
            self._overflow()
            return
        super().append(data)

    async def __anext__(self) -> bytes:
        # Quart re-checks for an error only before waiting; an overflow during the wait would
        # otherwise look like the end of the body to a streaming reader.
        try:
            data = await super().__anext__()
        except StopAsyncIteration:
            if self._must_raise is not None:
                raise self._must_raise from None
            raise
        if self._must_raise is not None:
            raise self._must_raise
        return data

    def _overflow(self) -> None:
        # Drop what was buffered: the request is refused, and the rest of it is ignored as it arrives.
        self._must_raise = RequestEntityTooLarge()
        self.clear()
        self.set_complete()


class LimitedRequest(Request):
    body_class = LimitedBody
    #: The body limit in force for this request (bytes), used in the 413 message.
    body_limit: int | None = None


LimitSpec = int | str | Callable[["Limits"], int | None] | None


def body_limit(limit: LimitSpec, *, slack: int = 0) -> Callable[[Any], Any]:
    """Give a view its own body limit instead of ``max_json_bytes``.

    ``limit`` is a byte count, the name of a :class:`~nodeloom.api.settings.Limits` field, a
    function of the limits, or None for no limit. ``slack`` is added (multipart framing).
    Example: ``@body_limit("max_model_bytes", slack=MULTIPART_SLACK_BYTES)``.
    """

    def mark(view: Any) -> Any:
        setattr(view, LIMIT_ATTR, (limit, slack))
        return view

    return mark


def resolve_body_limit(view: Any, limits: Limits) -> int | None:
    spec, slack = getattr(view, LIMIT_ATTR, ("max_json_bytes", 0))
    value = spec(limits) if callable(spec) else getattr(limits, spec) if isinstance(spec, str) else spec
    return None if value is None else int(value) + slack
