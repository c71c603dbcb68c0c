"""Terminal reporting of run events for the CLI: node progress bar, training epochs, Print logs."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

from tqdm import tqdm

_DONE = frozenset({"completed", "cached", "skipped", "error"})


class RunReporter:
    """An ``on_event`` callback that draws bars on stderr and writes node logs to ``log_stream``.

    Bars are drawn only when stderr is a terminal (or ``force_bar``), so piped output stays clean.
    """

    def __init__(
        self,
        *,
        verbose: bool = False,
        progress_bar: bool = True,
        log_stream: TextIO | None = None,
        err: TextIO | None = None,
        force_bar: bool = False,
    ) -> None:
        self.verbose = verbose
        self.err = err or sys.stderr
        self.log_stream = log_stream or sys.stdout
        self.show_bar = progress_bar and (force_bar or self.err.isatty())
        self.bar: tqdm | None = None
        self.training: dict[str, tqdm] = {}
        self.done: set[str] = set()

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "execution_start":
            self._start(event)
        elif kind == "node_status":
            self._node(event)
        elif kind in ("execution_complete", "execution_error", "execution_stopped"):
            self._end(event)

    def _write(self, text: str, stream: TextIO | None = None) -> None:
        stream = stream or self.err
        if self.bar is not None or self.training:
            tqdm.write(text, file=stream)
        else:
            stream.write(text + "\n")
            stream.flush()

    def _start(self, event: Mapping[str, Any]) -> None:
        for warning in event.get("warnings", []):
            self._write(f"warning: {warning}")
        total = event.get("node_count")
        if self.show_bar:
            self.bar = tqdm(total=total, desc="nodes", unit="node", file=self.err, leave=False)
        if self.verbose:
            self._write(f"run {event.get('run_id')} on {event.get('device')} (seed {event.get('seed')})")

    def _node(self, event: Mapping[str, Any]) -> None:
        node_id = str(event.get("node_id"))
        status = event.get("status")
        if status == "progress":
            self._progress(node_id, event.get("progress") or {})
            return
        if self.verbose:
            extra = f": {event['error']}" if status == "error" else ""
            self._write(f"[{status}] {node_id}{extra}")
        elif status == "error":
            self._write(f"error in {node_id}: {event.get('error')}")
        log = event.get("log")
        if log:
            self._write(str(log), self.log_stream)
        if status in _DONE and node_id not in self.done and event.get("member") is None:
            self.done.add(node_id)
            if self.bar is not None:
                self.bar.update(1)
            bar = self.training.pop(node_id, None)
            if bar is not None:
                bar.close()

    def _progress(self, node_id: str, data: Mapping[str, Any]) -> None:
        kind = data.get("event")
        if kind == "epoch":
            total = data.get("total_epochs")
            line = f"{node_id}: epoch {data.get('epoch')}/{total} loss {data.get('loss')}"
            if "val_loss" in data:
                line += f" val_loss {data.get('val_loss')}"
            if self.show_bar:
                bar = self.training.get(node_id)
                if bar is None:
                    bar = self.training[node_id] = tqdm(total=total, desc=node_id, unit="epoch", file=self.err)
                bar.n = int(data.get("epoch") or 0)
                bar.set_postfix(loss=data.get("loss"))
            else:
                self._write(line)
        elif kind == "config" and self.verbose:
            self._write(f"{node_id}: training config {dict(data.get('config') or {})}")
        elif kind == "retry":
            self._write(f"{node_id}: retry {data.get('attempt')}/{data.get('max_attempts')}: {data.get('error')}")
        elif self.verbose:
            self._write(f"{node_id}: {dict(data)}")

    def _end(self, event: Mapping[str, Any]) -> None:
        self.close()
        kind = event.get("type")
        for warning in event.get("warnings", []) or []:
            self._write(f"warning: {warning}")
        if kind == "execution_complete":
            failed = event.get("failed_nodes") or []
            suffix = f", failed: {', '.join(failed)}" if failed else ""
            self._write(f"completed in {event.get('elapsed_ms')} ms{suffix}")
        elif kind == "execution_error":
            self._write(f"error: {event.get('error')}")
        else:
            self._write(f"stopped: {event.get('reason')}")

    def close(self) -> None:
        for bar in self.training.values():
            bar.close()
        self.training.clear()
        if self.bar is not None:
            self.bar.close()
            self.bar = None
