"""The media plugin: images, chunked uploads, ``/temp`` files and the libs files API (api.md §2.9, §2.11, §2.12).

Nodes: image readers and writers (nodes.md §2.13). Route groups are the modules of this package
that define a module-level ``blueprint``.
"""

from __future__ import annotations

from typing import Any

from nodeloom.kernel import hookimpl

from . import image_nodes as _image_nodes
from . import nodes as _nodes


@hookimpl
def register_nodes(register):
    register([_nodes.image_reader, _image_nodes.image_batch_reader, _image_nodes.image_writer])


@hookimpl
def register_routes(register: Any) -> None:
    from nodeloom.api import package_blueprints

    for blueprint in package_blueprints(__name__, __path__):
        register(blueprint)
