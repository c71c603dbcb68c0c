"""The training benchmark's engine graph and hand-written loop compute the same thing, bit for bit.

A regression here means either the engine's TrainingLoop (or SequentialModel, DataLoader seeding)
no longer matches plain PyTorch, or the benchmark would compare two different computations.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from .support import Harness

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "train_ratio.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    if not BENCH.is_file():
        pytest.skip("benchmarks/ is not part of this checkout")
    spec = importlib.util.spec_from_file_location("nodeloom_bench_train_ratio", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_engine_training_equals_the_hand_written_loop(harness: Harness, bench: ModuleType, model: str):
    work = getattr(bench, model)()
    env = harness.env()
    result = bench.measure(work, harness.kernel.snapshot, env, epochs=2, batches=4, repeats=1,
                           plain_thread="fresh")
    assert result["identical"]
    assert result["batches"] == 4
    assert len(result["engine"].wall) == len(result["plain"].wall) == 1
