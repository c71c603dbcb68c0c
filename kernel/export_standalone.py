"""Assemble a standalone PyTorch script from generated node fragments (engine.md §6.2).

Layout: header comment, imports, constants, the shared preamble (``node_seed``, ``seeded``,
devices, inputs), the nodes' helpers (each once), ``run()`` executing the nodes in level order
under ``torch.no_grad()``, output serialisation and ``main()`` with argparse.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import attrs

from .codegen import import_statement, py_literal
from .export_preamble import (
    COERCE_SOURCE,
    DEVICE_SOURCE,
    JSONABLE_SOURCE,
    NODE_SEED_SOURCE,
    SEEDED_SOURCE,
)

__all__ = ["GeneratedNode", "ScriptInfo", "standalone_script", "header_lines"]

# Imported by every standalone script: the preamble and most nodes use them.
BASE_IMPORTS = ("argparse", "contextlib", "hashlib", "json", "math", "os", "sys")
TORCH_IMPORTS = ("import torch", "import torch.nn.functional as F", "from torch import nn")


@attrs.frozen
class GeneratedNode:
    """One node's code in the script: its body and the output variables the body binds."""

    node_id: str
    type: str
    level: int
    body: str
    outputs: Mapping[str, str]


@attrs.frozen
class ScriptInfo:
    """Facts about the export that the script carries as constants and in its header."""

    name: str
    nodeloom_version: str
    exported_at: str
    packs: Mapping[str, str]
    seed: int
    module_mode: str
    data_dir: str | None
    graph_inputs: Mapping[str, str] = attrs.field(factory=dict)  # name -> GraphInput type
    graph_outputs: Mapping[str, str] = attrs.field(factory=dict)  # node id -> GraphOutput name
    notes: tuple[str, ...] = ()  # extra header lines (omitted nodes, runner reasons)


def _comment(text: str) -> str:
    # A graph name may hold any character; control characters must not end the comment line.
    return "".join(ch if ch.isprintable() else " " for ch in text)


def header_lines(info: ScriptInfo, kind: str) -> list[str]:
    """The header comment shared by both script kinds."""
    packs = ", ".join(f"{pid} {version or '?'}" for pid, version in info.packs.items()) or "none"
    lines = [
        "#!/usr/bin/env python3",
        f"# {kind} exported by nodeloom {_comment(info.nodeloom_version)} on {info.exported_at}.",
        f"# Graph: {_comment(info.name)}",
        f"# Packs: {_comment(packs)}",
        "# Usage: python <this file> [--seed N] [--device D] [--inputs-json JSON | --inputs-file PATH]",
        "#        [--data-dir PATH] [--dump PATH] [--module-mode train|eval]",
    ]
    lines += [f"# {_comment(note)}" for note in info.notes]
    return lines


def _imports(extra: Sequence[str]) -> list[str]:
    """Standard library first, then numpy, then torch (the base three, then extra torch modules)."""
    stdlib = {f"import {m}" for m in BASE_IMPORTS}
    numpy: set[str] = set()
    torch: set[str] = set()
    for entry in extra:
        statement = import_statement(entry)
        top = statement.split()[1].split(".")[0]
        {"numpy": numpy, "torch": torch}.get(top, stdlib).add(statement)
    torch -= set(TORCH_IMPORTS)
    return sorted(stdlib) + [""] + sorted(numpy) + list(TORCH_IMPORTS) + sorted(torch)


def _constants(info: ScriptInfo) -> list[str]:
    return [
        f"GRAPH_NAME = {py_literal(info.name)}",
        f"DEFAULT_SEED = {info.seed!r}",
        f"MODULE_MODE = {info.module_mode!r}",
        f"DATA_DIR = {py_literal(info.data_dir)}",
        f"GRAPH_INPUTS = {py_literal(dict(info.graph_inputs))}",
        f"GRAPH_OUTPUTS = {py_literal(dict(info.graph_outputs))}",
    ]


def _log_source(has_outputs: bool) -> str:
    stream = "sys.stderr" if has_outputs else "sys.stdout"
    why = "stdout carries the graph outputs" if has_outputs else "the graph has no GraphOutput"
    return (
        "\ndef log_text(text):\n"
        f'    """Node log text (Print): written to {stream.split(".")[1]}, because {why}."""\n'
        f"    print(text, file={stream}, flush=True)\n"
    )


def _node_block(node: GeneratedNode) -> list[str]:
    lines = [f"# {node.node_id!r} ({_comment(node.type)}), level {node.level}"]
    if node.body.strip():
        lines += node.body.rstrip("\n").splitlines()
    result = ", ".join(f"{port!r}: {var}" for port, var in node.outputs.items())
    lines.append(f"results[{node.node_id!r}] = {{{result}}}")
    return lines


def _run_source(nodes: Sequence[GeneratedNode], seed: int) -> str:
    body: list[str] = []
    for node in nodes:
        body += _node_block(node)
    inner = textwrap.indent("\n".join(body), " " * 8)
    return (
        f"def run(inputs=None, seed={seed!r}, device=\"cpu\", *, module_mode=MODULE_MODE, data_dir=DATA_DIR):\n"
        '    """Run the graph; returns {node id: {port: value}} for every exported node."""\n'
        "    inputs = check_inputs(inputs)\n"
        "    device, warning = resolve_device(device)\n"
        "    if warning:\n"
        '        print(f"warning: {warning}", file=sys.stderr)\n'
        "    results = {}\n"
        "    with torch.no_grad():\n"
        f"{inner}\n"
        "    return results\n"
    )


MAIN_SOURCE = '''
def graph_output_values(results):
    """{output name: value} of the graph's GraphOutput nodes."""
    return {name: results[node_id]["value"] for node_id, name in GRAPH_OUTPUTS.items()
            if "value" in results.get(node_id, {})}


def dump_tensors(results, path):
    """Save every node output tensor as {"<node id>/<port>": tensor} with torch.save (atomically)."""
    tensors = {f"{node_id}/{port}": value.detach().cpu()
               for node_id, ports in results.items() for port, value in ports.items()
               if isinstance(value, torch.Tensor)}
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        torch.save(tensors, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=f"Run the nodeloom graph {GRAPH_NAME!r} with PyTorch.")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="run seed (default %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--inputs-json", default=None, help="graph inputs as a JSON object")
    source.add_argument("--inputs-file", default=None, help="file holding the graph inputs as JSON")
    parser.add_argument("--data-dir", default=DATA_DIR, help="nodeloom data directory (models, images, libs)")
    parser.add_argument("--dump", default=None, help="save every output tensor to this file (torch.save)")
    parser.add_argument("--module-mode", choices=("train", "eval"), default=MODULE_MODE)
    args = parser.parse_args(argv)
    if not 0 <= args.seed < 2**63:
        parser.error("--seed must be in [0, 2**63)")
    try:
        inputs = check_inputs(read_inputs(args.inputs_json, args.inputs_file))
        device, _warning = resolve_device(args.device)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        results = run(inputs, seed=args.seed, device=args.device, module_mode=args.module_mode,
                      data_dir=args.data_dir)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a node failed: report it like nodeloom's runner does
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.dump:
        dump_tensors(results, args.dump)
    if GRAPH_OUTPUTS:
        try:
            text = json.dumps(to_jsonable(graph_output_values(results)), sort_keys=True,
                              ensure_ascii=False, allow_nan=False)
        except OutputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(text, flush=True)
    print(f"nodeloom graph '{GRAPH_NAME}' completed on {device} ({len(results)} node results).",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def standalone_script(
    info: ScriptInfo,
    nodes: Sequence[GeneratedNode],
    imports: Sequence[str],
    helpers: Mapping[str, str],
) -> str:
    """The complete standalone script text."""
    parts: list[str] = header_lines(info, "Standalone PyTorch script")
    parts += ["", "from __future__ import annotations", ""]
    parts += _imports(imports)
    parts += ["", ""] + _constants(info) + [""]
    preamble = [NODE_SEED_SOURCE, SEEDED_SOURCE, DEVICE_SOURCE, COERCE_SOURCE, JSONABLE_SOURCE]
    preamble.append(_log_source(bool(info.graph_outputs)))
    text = "\n".join(parts) + "\n\n" + "\n".join(p.strip("\n") + "\n\n" for p in preamble)
    if helpers:
        text += "\n# -- helpers of the exported nodes " + "-" * 60 + "\n\n"
        for source in helpers.values():
            text += "\n" + textwrap.dedent(source).strip("\n") + "\n\n"
    text += "\n# -- the graph " + "-" * 80 + "\n\n"
    text += _run_source(nodes, info.seed) + "\n"
    text += MAIN_SOURCE
    return text
