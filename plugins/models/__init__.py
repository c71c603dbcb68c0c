"""The models plugin: model files, the model registry and its background downloads (api.md §2.8).

Nodes: ``ModelLoader``/``ModelSaver``, the checkpoint nodes (nodes.md §2.22) and
``RegistryModelLoader``. Route groups are the modules of this package that define a module-level
``blueprint`` (``model_routes``, ``download_routes``). The built-in download sources
``huggingface`` and ``url`` are registered like any pack's (``register_model_sources``).
"""

from __future__ import annotations

from typing import Any

from nodeloom.kernel import hookimpl

from . import checkpoints as _checkpoints
from . import nodes as _nodes
from . import registry_loader as _registry_loader


@hookimpl
def register_nodes(register):
    register([
        _nodes.model_loader,
        _nodes.model_saver,
        _checkpoints.checkpoint_loader,
        _checkpoints.checkpoint_saver,
        _registry_loader.registry_model_loader,
    ])


@hookimpl
def register_model_sources(register: Any) -> None:
    from ._hf_source import HuggingFaceSource
    from ._url_source import UrlSource

    register("huggingface", HuggingFaceSource())
    register("url", UrlSource())


@hookimpl
def register_routes(register: Any) -> None:
    from nodeloom.api import package_blueprints

    for blueprint in package_blueprints(__name__, __path__):
        register(blueprint)


@hookimpl
def shutdown(app: Any) -> None:
    # Running downloads stop at their next progress report; their jobs end in ``error``.
    from ._service import close_service

    close_service(app)
