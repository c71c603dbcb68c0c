"""Assemble a runner script: the graph as JSON data, run by the installed nodeloom (engine.md §6.3).

The normalised graph (drafts removed, secrets blanked, used presets embedded) becomes one JSON
string literal that the script parses with ``json.loads``; graph data never becomes code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from .codegen import py_literal
from .export_preamble import COERCE_SOURCE, JSONABLE_SOURCE
from .export_standalone import ScriptInfo, header_lines

__all__ = ["runner_script"]

# The script's main() is kept as a text file: it is code of the generated script (which imports
# torch), not code of the kernel.
RUNNER_MAIN = (files(__package__) / "templates" / "runner_main.py.txt").read_text(encoding="utf-8")


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
