"""The models plugin: model files, the model registry and its background downloads (api.md §2.8).

Nodes: ``ModelLoader``/``ModelSaver`` and the checkpoint nodes (nodes.md §2.22). Route groups are
the modules of this package that define a module-level ``blueprint``.
"""

from __future__ import annotations

from typing import Any

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


@hookimpl
def register_routes(register: Any) -> None:
    from nodeloom.api import package_blueprints

    for blueprint in package_blueprints(__name__, __path__):
        register(blueprint)
