"""Helpers for the export tests: graph building, script runs, engine/script comparison."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import torch

from nodeloom.kernel.engine import RunResult

SCRIPT_TIMEOUT_S = 180


@attrs.define
class GraphBuilder:
    """Small graphs in the engine's JSON format; every root is triggered from one Start."""

    name: str = "export test"
    nodes: list[dict[str, Any]] = attrs.field(factory=lambda: [{"id": "start", "type": "Start"}])
    edges: list[dict[str, Any]] = attrs.field(factory=list)
    presets: list[dict[str, Any]] = attrs.field(factory=list)

    def add(self, node_id: str, node_type: str, inputs: Mapping[str, str] | None = None, **params: Any) -> str:
        """Add a node; ``inputs`` maps input port -> ``"<source id>.<port>"``; no inputs = triggered."""
        self.nodes.append({"id": node_id, "type": node_type, "data": {"params": params}})
        for port, source in (inputs or {}).items():
            src, _, sport = source.rpartition(".")
            self.edges.append({"source": src, "sourceHandle": sport, "target": node_id, "targetHandle": port})
        if not inputs:
            self.trigger(node_id)
        return node_id

    def trigger(self, node_id: str) -> None:
        self.edges.append(
            {"source": "start", "sourceHandle": "trigger", "target": node_id, "targetHandle": "", "type": "trigger"}
        )

    def graph(self) -> dict[str, Any]:
        return {"name": self.name, "nodes": self.nodes, "edges": self.edges, "presets": self.presets}


@attrs.frozen
class ScriptRun:
    returncode: int
    stdout: str
    stderr: str


def run_script(script: Path, *args: str) -> ScriptRun:
    """Run an exported script with this interpreter (nodeloom is importable for runner scripts)."""
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S
    )
    return ScriptRun(proc.returncode, proc.stdout, proc.stderr)


def run_in_process(script: Path, capsys: Any, *args: str) -> ScriptRun:
    """Load an exported script as a module and call its ``main(argv)`` here (no torch start-up cost).

    Only for checks after a subprocess run has shown the script works on its own.
    """
    spec = importlib.util.spec_from_file_location(f"exported_{script.stem}_{id(args)}", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    capsys.readouterr()
    try:
        code = module.main(list(args))
    except SystemExit as exc:  # argparse errors
        code = exc.code
    captured = capsys.readouterr()
    return ScriptRun(int(code or 0), captured.out, captured.err)


def tensor_outputs(result: RunResult) -> dict[str, torch.Tensor]:
    """Every non-hidden tensor output of an engine run, keyed like a script dump."""
    return {
        f"{node_id}/{port}": value
        for node_id, ports in result.results.items()
        for port, value in ports.items()
        if isinstance(value, torch.Tensor) and not port.startswith("__")
    }


def bitwise_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same dtype, shape and bytes (so NaN equals NaN and -0.0 differs from 0.0, unlike torch.equal)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8))


def dump_mismatches(dump: Path, result: RunResult) -> list[str]:
    """Keys whose dumped tensor is not bitwise equal to the engine's (dtype, shape and bytes)."""
    dumped: dict[str, torch.Tensor] = torch.load(dump, weights_only=True)
    expected = tensor_outputs(result)
    problems = [f"{key}: missing from the script dump" for key in sorted(set(expected) - set(dumped))]
    problems += [f"{key}: not produced by the engine" for key in sorted(set(dumped) - set(expected))]
    for key in sorted(set(expected) & set(dumped)):
        want, got = expected[key].detach().cpu(), dumped[key]
        if not bitwise_equal(want, got):
            problems.append(f"{key}: engine {want.dtype}{list(want.shape)} != script {got.dtype}{list(got.shape)}")
    return problems


def engine_logs(result: RunResult) -> list[str]:
    return [e["log"] for e in result.events if e.get("type") == "node_status" and e.get("log")]


def load_example(entry: Any) -> dict[str, Any]:
    """The graph of a registered example (parsed already, or read from its file)."""
    if entry.graph is not None:
        return json.loads(json.dumps(entry.graph))
    return json.loads(Path(entry.file).read_text(encoding="utf-8"))
