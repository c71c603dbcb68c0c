"""Helpers shared by the example, preset and fixture tests."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodeloom.kernel.engine import RunResult


def missing_modules(*names: str) -> list[str]:
    """The import names among ``names`` that are not installed (checked without importing)."""
    return [n for n in names if importlib.util.find_spec(n) is None]


def unavailable_only(report: Any) -> str | None:
    """The skip reason when every validation error is ``node_unavailable`` (a missing extra), else None.

    A report with no errors, or with any other error, gives None: the caller then asserts validity.
    """
    errors = [i for i in report.issues if i.severity == "error"]
    if not errors or any(i.code != "node_unavailable" for i in errors):
        return None
    return "; ".join(sorted({i.message.split(" is unavailable: ", 1)[-1] for i in errors}))


_SHAPE_IN_LABEL = re.compile(r"\((\d+(?:, \d+)*)\)$")


def label_shape(label: str) -> tuple[int, ...] | None:
    """The shape a Print label announces at its end, ``"logits (2, 10)"`` -> ``(2, 10)``."""
    found = _SHAPE_IN_LABEL.search(label)
    return tuple(int(d) for d in found.group(1).split(", ")) if found else None


def node_errors(result: RunResult) -> list[Mapping[str, Any]]:
    """Every node ``error`` event of a run (with its message), for assertion messages."""
    return [e for e in result.events if e.get("status") == "error"]


def write_tiny_mnist(root: Path, count: int = 16) -> None:
    """A tiny MNIST (train and test) in torchvision's raw idx format, so no download is attempted."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        header = (0x803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (count, 28, 28))
        pixels = bytes((i * 31) % 256 for i in range(count * 28 * 28))
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + pixels)
        labels = bytes(i % 10 for i in range(count))
        header = (0x801).to_bytes(4, "big") + count.to_bytes(4, "big")
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels)
