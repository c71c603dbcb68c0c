"""Run entry marker and the log printer (nodes.md §2.1)."""

from __future__ import annotations

from typing import Any

from nodeloom.kernel import CodeFragment
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import py_literal

from ._codegen import use


def start_codegen(gen: Any) -> CodeFragment:
    """Start emits no code (nodes.md §2.1: export "no code")."""
    return gen.fragment("")


@node(
    name="Start",
    category="Control",
    outputs=[Out("trigger", "TRIGGER", "Connect to the nodes this run should start from.")],
    codegen=start_codegen,
)
def start(call: Any) -> dict[str, Any]:
    """Entry marker of a run: nodes reachable from a Start node are the ones that run."""
    return {}


def print_text(value: Any, label: str) -> str:
    """The log line of ``Print``: ``[label] value`` or just ``value``."""
    text = str(value)
    return f"[{label}] {text}" if label else text


def print_codegen(gen: Any) -> CodeFragment:
    """Pass the value through and write its text where the script writes logs."""
    use(gen, print_text)
    out = gen.var("value")
    label = py_literal(gen.params.get("label", ""))
    return gen.fragment(f"{out} = {gen.input('value')}", gen.log(f"print_text({out}, {label})"))


@node(
    name="Print",
    category="Utility",
    inputs=[In("value", "ANY", "Any value to show in the run log.")],
    outputs=[Out("value", "ANY", "The same value, passed through unchanged.")],
    params=[Param.string("label", "", "Optional prefix shown in brackets.")],
    codegen=print_codegen,
)
def print_node(call: Any) -> dict[str, Any]:
    """Write a value to the run log (optionally prefixed with `[label]`) and pass it through."""
    value = call.inputs.get("value")
    return {"value": value, "__log__": print_text(value, call.params.get("label", ""))}
