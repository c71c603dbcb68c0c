"""Hook implementations of the example pack: two nodes and one preset."""

from __future__ import annotations

from nodeloom.kernel import hookimpl
from nodeloom.kernel.api import In, Out, Param, node


@node(
    name="Greet",
    category="Utility",
    outputs=[Out("text", "STRING", "The greeting")],
    params=[Param.string("name", "world", "Who to greet")],
)
def greet(call):
    """Say hello to ``name``."""
    return {"text": f"Hello, {call.params['name']}!"}


@node(
    name="Double",
    category="Utility",
    inputs=[In("value", "SCALAR", "A number")],
    outputs=[Out("value", "SCALAR", "Twice the number")],
)
def double(call):
    """Multiply the input by two."""
    return {"value": call.inputs["value"] * 2}


DOUBLE_TWICE = {
    "preset_name": "Double Twice",
    "category": "Utility",
    "description": "Two Double nodes in a row.",
    "tags": ["example"],
    "nodes": [
        {"id": "first", "type": "Double", "params": {}},
        {"id": "second", "type": "Double", "params": {}},
    ],
    "edges": [{"source": "first", "sourceHandle": "value", "target": "second", "targetHandle": "value"}],
    "exposed_inputs": [{"name": "value", "internal_node": "first", "internal_port": "value"}],
    "exposed_outputs": [{"name": "value", "internal_node": "second", "internal_port": "value"}],
    "exposed_params": [],
}


@hookimpl
def register_nodes(register):
    register([greet, double])


@hookimpl
def register_presets(register):
    register(DOUBLE_TWICE)
