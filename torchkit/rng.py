"""Seeded sections and private generators (engine.md §4.10, nodes.md N3).

All code that draws from torch's *global* generators (module constructors, dropout, third-party
shuffling) runs inside :func:`seeded`, which serialises those sections process-wide so that
concurrent nodes cannot interleave their draws: that is what makes outputs independent of
``max_workers``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from .devices import mps_available

#: The process-wide, re-entrant "RNG lock". Re-entrant so a seeded block may call helpers that
#: open their own seeded block (e.g. ``module_for`` used outside one).
RNG_LOCK = threading.RLock()

_depth = threading.local()


def seed_of(call_or_seed: Any) -> int:
    """The integer seed of a NodeCall (its node seed) or of an int."""
    if isinstance(call_or_seed, bool):
        raise TypeError("a seed must be an int or a NodeCall, not a bool")
    if isinstance(call_or_seed, int):
        return call_or_seed
    seed = getattr(call_or_seed, "seed", None)
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    raise TypeError(f"expected a NodeCall or an int seed, got {type(call_or_seed).__name__}")


def in_seeded_block() -> bool:
    """Whether the current thread is inside a :func:`seeded` block."""
    return getattr(_depth, "value", 0) > 0


def _cuda_devices() -> list[int]:
    # Only already-initialised CUDA state is saved: touching an uninitialised device here would
    # initialise CUDA (slow, and impossible in forked workers) just to save a state nobody used.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return list(range(torch.cuda.device_count()))
    return []


@contextmanager
def seeded(call_or_seed: Any) -> Iterator[None]:
    """Run a block under the RNG lock with ``torch.manual_seed(seed)``, restoring all states after.

    Accepts a :class:`~nodeloom.kernel.NodeCall` (its node seed) or an int seed.
    """
    seed = seed_of(call_or_seed)
    with RNG_LOCK, ExitStack() as stack:
        stack.enter_context(torch.random.fork_rng(devices=_cuda_devices(), device_type="cuda"))
        if mps_available():
            mps_state = torch.mps.get_rng_state()
            stack.callback(torch.mps.set_rng_state, mps_state)
        _depth.value = getattr(_depth, "value", 0) + 1
        try:
            torch.manual_seed(seed)
            yield
        finally:
            _depth.value -= 1


def generator(call_or_seed: Any) -> torch.Generator:
    """A fresh CPU generator seeded with the node seed (or the given int): "G(node)" in nodes.md."""
    return torch.Generator(device="cpu").manual_seed(seed_of(call_or_seed))
