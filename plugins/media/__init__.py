"""The media plugin: image file nodes (nodes.md §2.13; Tier-2 readers and writers come later)."""

from __future__ import annotations

from nodeloom.kernel import hookimpl

from . import image_nodes as _image_nodes
from . import nodes as _nodes


@hookimpl
def register_nodes(register):
    register([_nodes.image_reader, _image_nodes.image_batch_reader, _image_nodes.image_writer])
