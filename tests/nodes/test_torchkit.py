"""nodeloom.torchkit: seeded sections, generators, devices, persisted modules, step traces."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from nodeloom.kernel import NodeCall, StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import (
    RNG_LOCK,
    StepRecorder,
    TorchRunExtension,
    as_float32,
    generator,
    grad_health,
    in_seeded_block,
    int_list,
    module_for,
    resolve_device,
    resolve_node_device,
    seeded,
    structure_hash,
    to_device,
    value_nbytes,
)
from nodeloom.torchkit import devices as devices_mod
from torch import nn


class FakeState:
    """Minimal stand-in for the kernel's StateHandle: one dict keyed by structure hash."""

    def __init__(self) -> None:
        self.modules: dict[str, object] = {}
        self.builds = 0
        self.infos: list[object] = []

    def get_or_build(self, structure_hash, build, info=None):
        self.infos.append(info)
        if structure_hash not in self.modules:
            self.builds += 1
            self.modules[structure_hash] = build()
        return self.modules[structure_hash]


def _normalize(params):
    return {**params, "width": abs(params["width"])}


@node(
    name="Toy",
    category="Test",
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.int("width", 3), Param.string("label", "x")],
    stateful=StatefulSpec(
        build=lambda call: nn.Linear(2, abs(call.params["width"])),
        structural_params=("width",),
        normalize=_normalize,
    ),
)
def toy(call):
    with seeded(call):
        return {"tensor": module_for(call)(call.inputs["tensor"])}


def make_call(seed=7, state=None, options=None, device="cpu", **params):
    spec = toy.__nodeloom_spec__
    effective = {**spec.default_params(), **params}
    return NodeCall(
        node_id="n1",
        node_type="Toy",
        params=effective,
        seed=seed,
        device=device,
        state=state,
        options={
            "module_mode": "train",
            "verbose": False,
            "backward_mode": False,
            **(options or {}),
        },
        extras={"spec": spec, "type_key": "Toy", "code_digest": "ab" * 32},
    )


# -- seeded / generator -------------------------------------------------------------------------


def test_seeded_restores_global_rng_state():
    torch.manual_seed(99)
    before = torch.get_rng_state()
    expected_next = torch.rand(3)
    torch.set_rng_state(before)
    with seeded(5):
        torch.rand(10)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(torch.rand(3), expected_next)


def test_seeded_restores_state_on_error():
    before = torch.get_rng_state()
    with pytest.raises(RuntimeError, match="boom"), seeded(1):
        torch.rand(2)
        raise RuntimeError("boom")
    assert torch.equal(torch.get_rng_state(), before)
    assert not in_seeded_block()


def test_seeded_equals_manual_seed_and_accepts_a_call():
    torch.manual_seed(42)
    reference = torch.randn(4)
    with seeded(42):
        a = torch.randn(4)
    with seeded(make_call(seed=42)):
        b = torch.randn(4)
    with seeded(43):
        c = torch.randn(4)
    assert torch.equal(a, reference) and torch.equal(b, reference)
    assert not torch.equal(a, c)


def test_seeded_is_reentrant_and_holds_the_process_lock():
    seen = {}

    def probe():
        seen["free"] = RNG_LOCK.acquire(blocking=False)
        if seen["free"]:
            RNG_LOCK.release()

    with seeded(1):
        with seeded(2):  # re-entrant: must not deadlock
            assert in_seeded_block()
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join(5)
    assert seen["free"] is False
    assert not in_seeded_block()


def test_seeded_rejects_bools_and_strings():
    with pytest.raises(TypeError), seeded(True):
        pass
    with pytest.raises(TypeError), seeded("3"):
        pass


def test_generator_is_private_and_reproducible():
    before = torch.get_rng_state()
    a = torch.randn(5, generator=generator(11))
    b = torch.randn(5, generator=generator(make_call(seed=11)))
    c = torch.randn(5, generator=generator(12))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), before)


def test_large_node_seeds_are_accepted():
    seed = 2**63 - 1
    with seeded(seed):
        a = torch.rand(2)
    assert torch.equal(a, torch.rand(2, generator=generator(seed)))


# -- values -------------------------------------------------------------------------------------


def test_int_list_parses_n1_lists():
    assert int_list("Reshape", "shape", " -1, 784 ") == [-1, 784]
    assert int_list("Mean", "dim", "1,,2,") == [1, 2]
    assert int_list("Mean", "dim", "") == []
    assert int_list("LayerNorm", "normalized_shape", 512) == [512]


@pytest.mark.parametrize("raw", ["1,a", "2.5", "1;2"])
def test_int_list_error_message(raw):
    with pytest.raises(ValueError) as err:
        int_list("Reshape", "shape", raw)
    assert (
        str(err.value)
        == f"Reshape: parameter 'shape' must be comma-separated integers, got '{raw}'"
    )


def test_as_float32():
    t = torch.tensor([1, 2], dtype=torch.int64)
    assert as_float32(t).dtype == torch.float32
    out = as_float32([[1, 2], [3, 4]])
    assert out.dtype == torch.float32 and out.shape == (2, 2)
    assert as_float32(2.5).item() == 2.5


def test_value_nbytes_counts_storage_once():
    t = torch.zeros(10, dtype=torch.float32)
    assert value_nbytes(t) == 40
    assert value_nbytes([t, t[2:5], {"k": t}]) == 40  # views share the storage
    lin = nn.Linear(3, 2)  # 6 weights + 2 biases
    assert value_nbytes({"model": lin, "x": torch.zeros(2, dtype=torch.float64)}) == 32 + 16
    assert value_nbytes(np.zeros(4, dtype=np.float64)) == 32
    assert value_nbytes("text") is None
    assert value_nbytes([1, 2.0]) is None


# -- devices ------------------------------------------------------------------------------------


def _no_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices_mod, "mps_available", lambda: False)


def test_resolve_device_without_accelerators(monkeypatch):
    _no_accelerators(monkeypatch)
    assert resolve_device("cpu") == ("cpu", None)
    assert resolve_device("") == ("cpu", None)
    assert resolve_device("auto") == ("cpu", None)
    for name in ("cuda", "cuda:1", "mps"):
        device, warning = resolve_device(name)
        assert device == "cpu"
        assert warning.startswith("device_fallback: ") and f"'{name}'" in warning
    assert resolve_device("tpu") is None
    assert resolve_device("cuda:x") is None


def test_resolve_device_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == ("cuda", None)
    assert resolve_device("cuda") == ("cuda", None)
    assert resolve_device("cuda:1") == ("cuda:1", None)
    device, warning = resolve_device("cuda:2")
    assert device == "cpu" and warning.startswith("device_fallback: device 'cuda:2'")


def test_resolve_device_prefers_mps_over_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices_mod, "mps_available", lambda: True)
    assert resolve_device("auto") == ("mps", None)
    assert resolve_device("mps") == ("mps", None)


def test_resolve_node_device_follows_run_device_or_falls_back(monkeypatch, caplog):
    _no_accelerators(monkeypatch)
    call = make_call(device="cpu")
    assert resolve_node_device(call, "auto") == "cpu"
    assert resolve_node_device(call, "") == "cpu"
    lines: list[str] = []
    with caplog.at_level(logging.WARNING, logger="nodeloom.torchkit"):
        assert resolve_node_device(call, "cuda", lines) == "cpu"
    assert len(lines) == 1 and lines[0].startswith("device_fallback: ")
    assert "device_fallback" in caplog.text


def test_to_device_moves_nested_values():
    value = {"a": [torch.ones(2), (torch.zeros(1), "s")], "m": nn.Linear(1, 1)}
    moved = to_device(value, "cpu")
    assert moved["a"][1][1] == "s" and isinstance(moved["a"][1], tuple)
    assert moved["a"][0].device.type == "cpu"
    assert moved["m"] is value["m"]


def test_mps_moves_narrow_float64_first(monkeypatch):
    # Simulate the MPS move on the CPU: only the dtype narrowing is under test.
    real_to = torch.Tensor.to
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *a, **k: real_to(self, "cpu"))
    t = to_device(torch.zeros(2, dtype=torch.float64), "mps")
    assert t.dtype == torch.float32
    ints = to_device(torch.zeros(2, dtype=torch.int64), "mps")
    assert ints.dtype == torch.int64


# -- module_for ---------------------------------------------------------------------------------


def test_module_for_builds_fresh_and_seeded_without_state():
    call = make_call(seed=3, width=4)
    with seeded(call):
        m1 = module_for(call)
    with seeded(call):
        m2 = module_for(call)
    torch.manual_seed(3)
    reference = nn.Linear(2, 4)
    assert m1 is not m2
    assert torch.equal(m1.weight, reference.weight) and torch.equal(m2.bias, reference.bias)
    with seeded(4):
        other = module_for(make_call(seed=4, width=4))
    assert not torch.equal(other.weight, m1.weight)


def test_module_for_outside_seeded_block_is_still_seeded():
    before = torch.get_rng_state()
    m = module_for(make_call(seed=3, width=4))
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(3)
    assert torch.equal(m.weight, nn.Linear(2, 4).weight)


def test_module_for_persists_through_state_and_hashes_structural_params():
    state = FakeState()
    call = make_call(state=state, width=4, label="a")
    with seeded(call):
        m1 = module_for(call)
    # A different non-structural param and a different seed reuse the module.
    with seeded(9):
        m2 = module_for(make_call(seed=9, state=state, width=4, label="b"))
    # normalize() maps -4 to 4, so the hash is the same.
    m3 = module_for(make_call(state=state, width=-4))
    assert m1 is m2 is m3 and state.builds == 1
    m4 = module_for(make_call(state=state, width=5))
    assert m4 is not m1 and state.builds == 2

    payload = {"type": "Toy", "digest": "ab" * 32, "params": {"width": 4}}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    expected = hashlib.sha256(canonical).hexdigest()[:16]
    assert structure_hash("Toy", "ab" * 32, {"width": 4}) == expected
    assert expected in state.modules
    assert state.infos[0]["node_type"] == "Toy"


def test_module_for_sets_module_mode():
    state = FakeState()
    m = module_for(make_call(state=state, options={"module_mode": "eval"}))
    assert m.training is False
    m = module_for(make_call(state=state))
    assert m.training is True


def test_module_for_all_params_when_none_listed():
    @node(
        name="Toy2",
        category="Test",
        params=[Param.int("a", 1), Param.int("b", 2)],
        stateful=StatefulSpec(build=lambda call: nn.Linear(call.params["a"], call.params["b"])),
    )
    def toy2(call):
        return {}

    state = FakeState()
    spec = toy2.__nodeloom_spec__

    def call(**params):
        return NodeCall(
            node_id="n",
            node_type="Toy2",
            params={"a": 1, "b": 2, **params},
            state=state,
            extras={"spec": spec, "type_key": "Toy2", "code_digest": "d"},
        )

    module_for(call())
    module_for(call(b=3))
    assert state.builds == 2
    assert structure_hash("Toy2", "d", {"a": 1, "b": 3}) in state.modules


# -- steps and the run extension ----------------------------------------------------------------


def test_step_recorder_only_records_in_verbose_mode():
    x = torch.ones(2, requires_grad=True) * 2
    quiet = StepRecorder(make_call())
    quiet.add("input", "d", {"input": x})
    assert quiet.attach({"tensor": x}) == {"tensor": x}

    rec = StepRecorder(make_call(options={"verbose": True}))
    rec.add("input", "The input.", {"input": x}, {"eps": 1e-5})
    out = rec.attach({"tensor": x})
    step = out["__steps__"][0]
    assert step["name"] == "input" and step["description"] == "The input."
    assert step["scalars"] == {"eps": pytest.approx(1e-5)}
    assert not step["tensors"]["input"].requires_grad


def test_extension_grad_mode_and_sizes(monkeypatch):
    ext = TorchRunExtension()
    with ext.node_context(make_call(options={"backward_mode": True}), None):
        assert torch.is_grad_enabled()
    with ext.node_context(make_call(), None):
        assert not torch.is_grad_enabled()
    assert ext.value_nbytes(torch.zeros(3)) == 12
    _no_accelerators(monkeypatch)
    assert ext.resolve_device("cuda")[0] == "cpu"


# -- gradient capture ---------------------------------------------------------------------------


class FakeStore:
    def __init__(self, modules):
        self.modules = modules

    def modules_for_graph(self, graph_id):
        return list(self.modules.get(graph_id, {}).items())


class FakeRun:
    """The parts of the engine's RunContext the extension reads."""

    def __init__(self, order, modules=None, **options):
        defaults = {"backward_mode": True, "auto_backward": False, "grad_health": None}
        self.options = SimpleNamespace(**{**defaults, **options})
        self.graph_id = "g"
        self.modules = FakeStore({"g": modules or {}})
        self.prepared = SimpleNamespace(
            nodes=[SimpleNamespace(id=i, type=t, entry=SimpleNamespace(key=t)) for i, t in order]
        )
        self.executed: list[str] = []
        self.results: dict[str, dict] = {}
        self.scratch: dict = {}
        self.recorded: dict[tuple[str, str], object] = {}

    def record(self, node_id, port, value):
        self.recorded[(node_id, port)] = value

    def finish(self, ext, node_id, result):
        self.executed.append(node_id)
        self.results[node_id] = result
        ext.after_node(self, node_id, result)


def test_grad_health_labels():
    assert grad_health(torch.full((4,), 0.5))["status"] == "healthy"
    health = grad_health(torch.tensor([3.0, -4.0]))
    assert health["norm"] == pytest.approx(5.0) and health["max"] == pytest.approx(4.0)
    assert health["mean"] == pytest.approx(3.5)
    assert grad_health(torch.full((4,), 1e-12))["status"] == "vanishing"
    assert grad_health(torch.tensor([500.0]))["status"] == "exploding"
    assert grad_health(torch.tensor([500.0]), {"explode_max": 1e4})["status"] == "healthy"
    assert grad_health(torch.tensor([float("nan")]))["status"] == "exploding"
    assert grad_health(torch.zeros(0))["status"] == "unknown"


def test_gradient_capture_with_backward_once():
    ext = TorchRunExtension()
    layer = nn.Linear(3, 2)
    layer.weight.grad = torch.ones_like(layer.weight)  # left over from an earlier run
    run = FakeRun([("x", "TensorInput"), ("lin", "Linear"), ("b", "BackwardOnce")], {"lin": layer})
    ext.before_run(run)
    assert layer.weight.grad is None
    with torch.enable_grad():
        x = torch.ones(4, 3, requires_grad=True)
        run.finish(ext, "x", {"tensor": x})
        y = layer(x)
        run.finish(ext, "lin", {"tensor": y, "__steps__": [{"tensors": {"w": y}}]})
        run.finish(ext, "b", {"tensor": y})
    assert ext.after_run(run) == []
    assert torch.equal(run.recorded[("x", "tensor__grad")], layer.weight.sum(0).expand(4, 3))
    assert torch.equal(run.recorded[("lin", "tensor__grad")], torch.ones(4, 2))
    assert run.recorded[("lin", "tensor__grad__meta")]["status"] == "healthy"
    assert torch.equal(run.recorded[("lin", "__weight_grad__bias")], torch.full((2,), 4.0))
    assert ("lin", "__weight_grad__weight__meta") in run.recorded
    assert not any(port.startswith("__steps__") for _, port in run.recorded)


def test_gradient_capture_auto_backward_picks_the_largest_output():
    ext = TorchRunExtension()
    run = FakeRun([("a", "X"), ("b", "X")], auto_backward=True)
    ext.before_run(run)
    with torch.enable_grad():
        a = torch.ones(2, requires_grad=True)
        b = torch.ones(5, requires_grad=True)
        run.finish(ext, "a", {"tensor": a})
        run.finish(ext, "b", {"out": {"list": [b * 3]}})
    assert ext.after_run(run) == []
    assert ("a", "tensor__grad") not in run.recorded
    assert torch.equal(run.recorded[("b", "out.list[0]__grad")], torch.ones(5))


def test_gradient_capture_skips_without_loss_or_after_training_loop():
    ext = TorchRunExtension()
    for order, options in (
        ([("a", "X")], {}),
        ([("a", "X"), ("t", "TrainingLoop")], {"auto_backward": True}),
    ):
        run = FakeRun(order, **options)
        ext.before_run(run)
        with torch.enable_grad():
            run.finish(ext, "a", {"tensor": torch.ones(2, requires_grad=True) * 2})
            if len(order) == 2:
                run.finish(ext, "t", {})
        assert ext.after_run(run) == [] and run.recorded == {}


def test_gradient_capture_failures_become_warnings():
    ext = TorchRunExtension()
    run = FakeRun([("a", "X")], auto_backward=True)
    ext.before_run(run)
    with torch.enable_grad():
        t = torch.ones(2, requires_grad=True) * 2
        run.finish(ext, "a", {"tensor": t})
        t.sum().backward()  # frees the graph, so the engine's backward pass fails
    warnings = ext.after_run(run)
    assert len(warnings) == 1 and warnings[0].startswith("backward_failed: ")


def test_gradient_capture_is_off_without_backward_mode():
    ext = TorchRunExtension()
    run = FakeRun([("a", "X")])
    run.options.backward_mode = False
    ext.before_run(run)
    run.finish(ext, "a", {"tensor": torch.ones(1, requires_grad=True)})
    assert ext.after_run(run) == [] and run.scratch == {}
