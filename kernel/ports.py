"""Port types and the edge compatibility rule (engine.md §2.1, §2.2)."""

from __future__ import annotations

import re

BUILTIN_PORT_TYPES = (
    "TENSOR",
    "MODEL",
    "DATASET",
    "DATALOADER",
    "OPTIMIZER",
    "LOSS_FN",
    "SCALAR",
    "STRING",
    "IMAGE",
    "LIST",
    "ANY",
    "TRIGGER",
)

# Packs may add upper-case types (AUDIO) or pack-qualified ones (mypack:MESH).
_PORT_TYPE_RE = re.compile(r"^(?:[a-z][a-z0-9_]{0,63}:)?[A-Z][A-Z0-9_]{0,63}$")


def is_valid_port_type(port_type: str) -> bool:
    return isinstance(port_type, str) and bool(_PORT_TYPE_RE.match(port_type))


def types_compatible(source: str, target: str) -> bool:
    """Whether a data edge from a port of type ``source`` may feed a port of type ``target``."""
    if source == "TRIGGER" or target == "TRIGGER":
        return source == target
    if source == "ANY" or target == "ANY":
        return True
    if source == target:
        return True
    return source == "IMAGE" and target == "TENSOR"
