"""Assemble a runner script: the graph as JSON data, run by the installed nodeloom (engine.md §6.3).

The normalised graph (drafts removed, secrets blanked, used presets embedded) becomes one JSON
string literal that the script parses with ``json.loads``; graph data never becomes code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .codegen import py_literal
from .export_preamble import COERCE_SOURCE, JSONABLE_SOURCE
from .export_standalone import ScriptInfo, header_lines

__all__ = ["runner_script"]

RUNNER_MAIN = '''
def log_text(text):
    print(text, file=sys.stderr if GRAPH_OUTPUTS else sys.stdout, flush=True)


def inject_inputs(graph, values):
    """Place caller values where the engine expects them: the GraphInput node's param 'value'."""
    for node in graph["nodes"]:
        name = GRAPH_INPUT_NAMES.get(node.get("id"))
        if name in values:
            data = node.setdefault("data", {})
            data["params"] = {**(data.get("params") or {}), "value": values[name]}


def on_event(event):
    if event.get("type") != "node_status":
        return
    if event.get("status") == "error":
        print(f"error in {event.get('node_id')}: {event.get('error')}", file=sys.stderr)
    elif event.get("log"):
        log_text(event["log"])


def dump_tensors(results, path):
    """Save every node output tensor as {"<node id>/<port>": tensor} with torch.save (atomically)."""
    import torch

    tensors = {f"{node_id}/{port}": value.detach().cpu()
               for node_id, ports in results.items() for port, value in ports.items()
               if isinstance(value, torch.Tensor) and not port.startswith("__")}
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        torch.save(tensors, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=f"Run the nodeloom graph {GRAPH_NAME!r} with nodeloom.")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="run seed (default %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--inputs-json", default=None, help="graph inputs as a JSON object")
    source.add_argument("--inputs-file", default=None, help="file holding the graph inputs as JSON")
    parser.add_argument("--data-dir", default=DATA_DIR, help="nodeloom data directory (default: nodeloom's)")
    parser.add_argument("--dump", default=None, help="save every output tensor to this file (torch.save)")
    parser.add_argument("--module-mode", choices=("train", "eval"), default=MODULE_MODE)
    args = parser.parse_args(argv)
    if not 0 <= args.seed < 2**63:
        parser.error("--seed must be in [0, 2**63)")
    try:
        import nodeloom
        from nodeloom import config
        from nodeloom.kernel import DataDir, NodePaths
        from nodeloom.kernel.engine import RunEnvironment, run_graph
        from nodeloom.kernel.host import Kernel
        from nodeloom.kernel.options import InvalidRunOption, parse_run_options
        from nodeloom.kernel.outputs import RunOutputStore
        from nodeloom.kernel.prepare import validate_graph
        from nodeloom.kernel.state import ModuleStore
        from nodeloom.kernel.validation import installed_version
    except ImportError as exc:
        print(f"error: this script runs the graph with nodeloom, which cannot be imported: {exc}",
              file=sys.stderr)
        return 2
    if nodeloom.__version__ != NODELOOM_VERSION:
        print(f"warning: exported with nodeloom {NODELOOM_VERSION}; installed is {nodeloom.__version__}",
              file=sys.stderr)
    graph = json.loads(GRAPH_JSON)
    try:
        inject_inputs(graph, check_inputs(read_inputs(args.inputs_json, args.inputs_file)))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data_dir = DataDir(args.data_dir).ensure() if args.data_dir else config.data_dir(None)
    kernel = Kernel(data_dir)
    kernel.start()
    snapshot = kernel.snapshot
    for pack, version in PACK_LOCK.items():
        installed = installed_version(snapshot, pack)
        if installed is None:
            print(f"warning: pack {pack} {version} is not installed", file=sys.stderr)
        elif installed != version:
            print(f"warning: exported with {pack} {version}; installed is {installed}", file=sys.stderr)
    report = validate_graph(graph, snapshot)
    if not report.valid:
        for message in report.errors:
            print(f"error: {message}", file=sys.stderr)
        return 2
    try:
        options = parse_run_options({
            "seed": args.seed, "device": args.device, "module_mode": args.module_mode,
            "graph_id": f"export:{GRAPH_NAME}", "weights_persistent": False, "error_mode": "fail_fast",
        })
    except InvalidRunOption as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env = RunEnvironment(cache=None, outputs=RunOutputStore(), modules=ModuleStore(),
                         extensions=list(kernel.run_extensions), paths=NodePaths(kernel.data_dir))
    with kernel.holder.pinned() as pinned:
        result = run_graph(graph, pinned, options, env=env, on_event=on_event)
    terminal = result.terminal
    if terminal.get("type") != "execution_complete" or terminal.get("failed_nodes"):
        print(f"error: {terminal.get('error') or terminal.get('reason') or 'run failed'}", file=sys.stderr)
        return 2 if terminal.get("errors") else 1
    if args.dump:
        dump_tensors(result.results, args.dump)
    if GRAPH_OUTPUTS:
        values = {name: result.results[node_id]["value"] for node_id, name in GRAPH_OUTPUTS.items()
                  if "value" in result.results.get(node_id, {})}
        try:
            text = json.dumps(to_jsonable(values), sort_keys=True, ensure_ascii=False, allow_nan=False)
        except OutputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(text, flush=True)
    device = next((e.get("device") for e in result.events if e.get("type") == "execution_start"), args.device)
    print(f"nodeloom graph '{GRAPH_NAME}' completed on {device} ({len(result.results)} node results).",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def runner_script(
    info: ScriptInfo,
    graph: Mapping[str, Any],
    graph_input_nodes: Mapping[str, list[str]],
) -> str:
    """The runner script for a normalised graph mapping (already stripped, blanked and pruned).

    ``graph_input_nodes`` maps each GraphInput name to the top-level node ids that declare it.
    """
    names = {node_id: name for name, ids in graph_input_nodes.items() for node_id in ids}
    parts = header_lines(info, "Runner script (runs the graph with the installed nodeloom)")
    parts += [
        "",
        "from __future__ import annotations",
        "",
        "import argparse",
        "import json",
        "import math",
        "import os",
        "import sys",
        "",
        f"GRAPH_NAME = {py_literal(info.name)}",
        f"NODELOOM_VERSION = {info.nodeloom_version!r}",
        f"DEFAULT_SEED = {info.seed!r}",
        f"MODULE_MODE = {info.module_mode!r}",
        f"DATA_DIR = {py_literal(info.data_dir)}",
        f"PACK_LOCK = {py_literal(dict(info.packs))}",
        f"GRAPH_INPUTS = {py_literal(dict(info.graph_inputs))}",
        "# GraphInput node id -> input name (caller values are injected as the node's 'value').",
        f"GRAPH_INPUT_NAMES = {py_literal(names)}",
        f"GRAPH_OUTPUTS = {py_literal(dict(info.graph_outputs))}",
        "# The normalised graph (nodes, edges, used presets) as JSON text, parsed in main().",
        f"GRAPH_JSON = {json.dumps(graph, ensure_ascii=True, sort_keys=False)!r}",
    ]
    text = "\n".join(parts) + "\n\n\n"
    text += "\n".join(p.strip("\n") + "\n\n" for p in (COERCE_SOURCE, JSONABLE_SOURCE))
    text += RUNNER_MAIN
    return text
