"""Torch helpers for node authors (engine.md §2.4, §4.10, §4.11, §4.13, §4.14).

The public, stable surface that built-in and third-party packs import::

    from nodeloom.torchkit import seeded, generator, module_for, StepRecorder
"""

from .devices import mps_available, resolve_device, resolve_node_device, to_device
from .extension import TorchRunExtension
from .grads import grad_health
from .modules import canonical_json, module_for, structural_params, structure_hash
from .rng import RNG_LOCK, generator, in_seeded_block, seed_of, seeded
from .steps import StepRecorder
from .values import as_float32, int_list, is_floating, value_nbytes

__all__ = [
    "RNG_LOCK",
    "StepRecorder",
    "TorchRunExtension",
    "as_float32",
    "canonical_json",
    "generator",
    "grad_health",
    "in_seeded_block",
    "int_list",
    "is_floating",
    "module_for",
    "mps_available",
    "resolve_device",
    "resolve_node_device",
    "seed_of",
    "seeded",
    "structural_params",
    "structure_hash",
    "to_device",
    "value_nbytes",
]
