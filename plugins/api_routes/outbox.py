"""The outgoing queue of one WebSocket (api.md §3.5 ordering and coalescing, §3.6 shutdown).

Producers (the run manager, on the event loop) put frames; the socket's sender task takes them
in order. A subscriber more than :data:`LAG_LIMIT` frames behind gets consecutive coalescible
progress frames of the same node merged (the newest kept): a browser tab that cannot keep up
with a training loop's batch events then still sees every status change, just fewer batches.
"""

from __future__ import annotations

import asyncio
from collections import deque

from .wire import Frame

LAG_LIMIT = 1_000


class Outbox:
    """Frames waiting to be sent on one socket, then (optionally) a close code."""

    def __init__(self, lag_limit: int = LAG_LIMIT) -> None:
        self.lag_limit = lag_limit
        self._frames: deque[Frame] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self.close_code: int | None = None
        #: Set by the sender when it has sent everything it will ever send.
        self.done = asyncio.Event()
        self.merged = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def closing(self) -> bool:
        return self._closing

    def put(self, frame: Frame) -> None:
        """Queue a frame (ignored once the outbox is closing)."""
        if self._closing:
            return
        frames = self._frames
        if (
            frame.merge_key is not None
            and len(frames) > self.lag_limit
            and frames[-1].merge_key == frame.merge_key
        ):
            frames[-1] = frame
            self.merged += 1
        else:
            frames.append(frame)
        self._wake.set()

    def purge_run(self, run_id: str) -> None:
        """Drop queued events of one run (a new ``attach`` replaces the earlier subscription)."""
        if any(f.run_id == run_id and f.seq is not None for f in self._frames):
            self._frames = deque(f for f in self._frames if not (f.run_id == run_id and f.seq is not None))

    def close(self, code: int | None) -> None:
        """Send what is queued, then close with ``code`` (None: the peer is gone, just stop)."""
        if self._closing:
            return
        self._closing = True
        self.close_code = code
        if code is None:
            self._frames.clear()
        self._wake.set()

    async def next(self) -> Frame | None:
        """The next frame to send; None once closing and empty."""
        while not self._frames:
            if self._closing:
                return None
            self._wake.clear()
            await self._wake.wait()
        return self._frames.popleft()
