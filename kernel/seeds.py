"""Run seeds and per-node seeds (engine.md §4.10).

The derivation is part of the reproduction contract: exported scripts carry an identical
``node_seed`` function, so this formula must never change without a new version tag.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["SEED_MODULUS", "SEED_TAG", "check_run_seed", "draw_run_seed", "node_seed"]

SEED_MODULUS = 2**63
SEED_TAG = "nodeloom-seed-v1"


def node_seed(run_seed: int, node_id: str) -> int:
    """The seed of node ``node_id`` (its id in the run, expanded for preset members)."""
    material = f"{SEED_TAG}:{run_seed}:{node_id}".encode("utf-8")
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big") % SEED_MODULUS


def draw_run_seed() -> int:
    """A fresh run seed in ``[0, 2**63)`` from the OS CSPRNG."""
    return secrets.randbits(63)


def check_run_seed(value: object) -> int:
    """Return ``value`` when it is a valid run seed (int, not bool, in range), else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"seed must be an integer, got {value!r}")
    if not 0 <= value < SEED_MODULUS:
        raise ValueError(f"seed must be in [0, 2**63), got {value}")
    return value
