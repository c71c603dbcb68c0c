"""Tier-2 IO node of ``core_nodes`` (nodes.md §3.11): ``FileReader``.

The image readers/writers are in the ``media`` plugin, checkpoints in ``models``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from nodeloom.kernel.api import Out, Param, node
from nodeloom.kernel.paths import paths_of, resolve_file
from nodeloom.torchkit import to_device

from .data import bundled_sample

CATEGORY = "IO"


def locate(call_or_paths: Any, path: str) -> Path:
    """nodes.md N8 for reading nodes: bundled samples first, then uploads / the libs folder."""
    bundled = bundled_sample(path)
    if bundled is not None:
        return bundled
    return resolve_file(call_or_paths, "libs", path, "FileReader")


def _fingerprint(params: Mapping[str, Any], env: Any) -> str | None:
    raw = params.get("path")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        resolved = bundled_sample(raw)
        if resolved is None:
            paths = paths_of(env)
            if paths is None:
                return None
            resolved = paths.resolve("libs", raw, node="FileReader")
        st = resolved.stat()
    except (OSError, ValueError):
        return None
    return f"{resolved}:{st.st_size}:{st.st_mtime_ns}"


def csv_matrix(text: str, header: bool) -> tuple[torch.Tensor, str | None]:
    """Numeric CSV text as float32 [rows, cols]; an empty tensor and the reason when it is not."""
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if header and rows:
        rows = rows[1:]
    try:
        values = [[float(cell) for cell in row] for row in rows]
    except ValueError as exc:
        return torch.tensor([]), f"FileReader: the CSV has a non-numeric cell ({exc}); tensor is empty"
    widths = {len(row) for row in values}
    if len(widths) > 1:
        return torch.tensor([]), (
            f"FileReader: the CSV rows have different lengths {sorted(widths)}; tensor is empty"
        )
    return torch.tensor(values, dtype=torch.float32), None


@node(
    name="FileReader",
    category=CATEGORY,
    outputs=[
        Out("text", "STRING", "The whole file as text."),
        Out("tensor", "TENSOR", "csv mode: the numbers as float32 [rows, cols]; else empty."),
    ],
    params=[
        Param.string("path", "", "File in the libs folder, an upload, or a bundled sample."),
        Param.select("mode", "text", ("text", "csv"), "csv also parses the numbers."),
        Param.string("encoding", "utf-8", "Text encoding of the file."),
        Param.bool("csv_header", True, "csv mode: the first row holds column names."),
    ],
    fingerprint=_fingerprint,
)
def file_reader(call: Any) -> dict[str, Any]:
    """Read a text file; in csv mode also parse its numeric cells into a tensor."""
    p = call.params
    path = p["path"]
    if not path:
        raise ValueError("File path is required")
    resolved = locate(call, path)
    if not resolved.is_file():
        raise FileNotFoundError(f"FileReader: file not found: {path}")
    try:
        text = resolved.read_text(encoding=p["encoding"])
    except LookupError:
        raise ValueError(f"FileReader: unknown encoding '{p['encoding']}'") from None
    result: dict[str, Any] = {"text": text}
    if p["mode"] == "csv":
        tensor, problem = csv_matrix(text, p["csv_header"])
        if problem:
            result["__log__"] = problem
    else:
        tensor = torch.tensor([])
    result["tensor"] = to_device(tensor, call.device)
    return result
