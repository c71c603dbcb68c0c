"""The models plugin: weight file nodes ``ModelLoader`` and ``ModelSaver`` (nodes.md §2.22)."""

from __future__ import annotations

from nodeloom.kernel import hookimpl

from . import checkpoints as _checkpoints
from . import nodes as _nodes


@hookimpl
def register_nodes(register):
    register([
        _nodes.model_loader,
        _nodes.model_saver,
        _checkpoints.checkpoint_loader,
        _checkpoints.checkpoint_saver,
    ])
