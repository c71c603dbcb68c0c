"""The per-run replay buffer for ``attach`` (api.md §3.6).

It keeps the last ``capacity`` frames of a run. When full, the oldest coalescible progress frame
goes first; if there is none, the oldest frame other than ``execution_start``. Dropped ``seq``
values are remembered as one number (the highest), which is all ``gap`` needs: a replay from
``after_seq`` misses something exactly when a frame newer than ``after_seq`` was dropped.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator

from nodeloom.kernel.events import EXECUTION_START

from .wire import Frame

CAPACITY = 10_000


class EventBuffer:
    """Frames of one run by ``seq``, bounded; O(1) per append."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = max(capacity, 2)
        self._frames: OrderedDict[int, Frame] = OrderedDict()
        self._coalescible: deque[int] = deque()  # seqs of coalescible frames, oldest first
        self.last_seq = 0
        self.max_dropped = 0
        self.terminal: Frame | None = None

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def first_seq(self) -> int:
        """The oldest buffered ``seq`` (0 while the run has produced nothing)."""
        return next(iter(self._frames), 0)

    def append(self, frame: Frame) -> None:
        assert frame.seq is not None
        self._frames[frame.seq] = frame
        self.last_seq = frame.seq
        if frame.merge_key is not None:
            self._coalescible.append(frame.seq)
        if frame.terminal:
            self.terminal = frame
        while len(self._frames) > self.capacity:
            self._drop_one()

    def _drop_one(self) -> None:
        while self._coalescible:
            seq = self._coalescible.popleft()
            if seq in self._frames:
                self._forget(seq)
                return
        keys = iter(self._frames)
        seq = next(keys)
        if self._frames[seq].type == EXECUTION_START:
            seq = next(keys)
        self._forget(seq)

    def _forget(self, seq: int) -> None:
        del self._frames[seq]
        self.max_dropped = max(self.max_dropped, seq)

    def gap_after(self, after_seq: int) -> bool:
        """Whether frames with ``seq > after_seq`` were dropped."""
        return self.max_dropped > after_seq

    def after(self, after_seq: int) -> Iterator[Frame]:
        """Buffered frames with ``seq > after_seq``, in order."""
        if after_seq <= 0:
            yield from list(self._frames.values())
            return
        for seq, frame in list(self._frames.items()):
            if seq > after_seq:
                yield frame
