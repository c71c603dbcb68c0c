"""A small node pack for the registry route tests (nodes, presets, examples, graphs), no torch.

``demo`` is first-party (bare keys, provider ``builtin``); ``geo`` and ``maps`` are third-party
packs that both define ``KNN``, so a bare ``KNN`` is ambiguous while ``Hull`` resolves to
``geo:Hull``. :func:`make_routes_kernel` builds a kernel over them plus the ``api`` plugin.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from nodeloom.kernel import hookimpl
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.host import Kernel
from nodeloom.kernel.paths import DataDir
from nodeloom.kernel.spec import CodeFragment, PortSpec
from tests.api.support import FIRST_PARTY, THIRD_PARTY, entry_point_source, make_kernel, write_dist


def _start_code(gen: Any) -> CodeFragment:
    return CodeFragment(body="")


def _const_code(gen: Any) -> CodeFragment:
    return CodeFragment(body=f"{gen.var('value')} = {float(gen.params['value'])!r}")


def _scale_code(gen: Any) -> CodeFragment:
    return CodeFragment(body=f"{gen.var('value')} = {gen.input('value')} * {float(gen.params['factor'])!r}")


@node(name="Start", category="Control", outputs=[Out("trigger", "TRIGGER", "Start signal")], codegen=_start_code)
def start(call: Any) -> dict[str, Any]:
    """Starts a run."""
    return {}


@node(name="Const", category="Values", outputs=[Out("value", "SCALAR", "The number")],
      params=[Param.float("value", 1.0, "The number")], codegen=_const_code)
def const(call: Any) -> dict[str, Any]:
    """A constant number."""
    return {"value": call.params["value"]}


@node(name="Scale", category="Values", inputs=[In("value", "SCALAR", "input")],
      outputs=[Out("value", "SCALAR", "output")],
      params=[Param.float("factor", 2.0, "Factor", min=0, max=100)], codegen=_scale_code)
def scale(call: Any) -> dict[str, Any]:
    """Multiplies a number."""
    return {"value": call.inputs["value"] * call.params["factor"]}


@node(name="Add", category="Values", inputs=[In("a", "SCALAR", "first"), In("b", "SCALAR", "second", optional=True)],
      outputs=[Out("value", "SCALAR", "sum")])
def add(call: Any) -> dict[str, Any]:
    """Adds two numbers."""
    return {"value": call.inputs["a"] + call.inputs.get("b", 0)}


def _chunks(params: Mapping[str, Any]) -> tuple[PortSpec, ...]:
    return tuple(PortSpec(f"chunk_{i}", "SCALAR", f"chunk {i}") for i in range(int(params["chunks"])))


@node(name="Split", category="Values", inputs=[In("value", "SCALAR", "input")],
      outputs=[Out("chunk_0", "SCALAR"), Out("chunk_1", "SCALAR")], dynamic_outputs=_chunks,
      params=[Param.int("chunks", 2, "How many", min=1, max=8), Param.select("mode", "even", ["even", "odd"])])
def split(call: Any) -> dict[str, Any]:
    """Splits a number into parts."""
    return {f"chunk_{i}": call.inputs["value"] for i in range(call.params["chunks"])}


@node(name="Relu", category="Tensor", inputs=[In("tensor", "TENSOR", "input")],
      outputs=[Out("tensor", "TENSOR", "output")])
def relu(call: Any) -> dict[str, Any]:
    """Clamps at zero."""
    return {"tensor": call.inputs["tensor"]}


@node(name="Remote", category="IO", inputs=[In("value", "ANY", "payload", optional=True)],
      outputs=[Out("reply", "STRING", "reply")],
      params=[Param.secret("api_key", "", "Key"), Param.int("retries", 1, "Retries", min=0)])
def remote(call: Any) -> dict[str, Any]:
    """Calls a remote service."""
    return {"reply": "ok"}


@node(name="Trainer", category="Training", outputs=[Out("value", "SCALAR")],
      params=[Param.select("device", "auto", ["auto", "cpu", "cuda", "mps"]),
              Param.int("epochs", 1, min=1)])
def trainer(call: Any) -> dict[str, Any]:
    """Trains on a device."""
    return {"value": 1}


@node(name="GpuOnly", category="Training", outputs=[Out("value", "SCALAR")],
      params=[Param.select("device", "cuda", ["cpu", "cuda"])])
def gpu_only(call: Any) -> dict[str, Any]:
    """Defaults to a GPU."""
    return {"value": 1}


DOUBLE_SCALE = {
    "preset_name": "Double Scale",
    "category": "Values",
    "description": "Two scales in a row.",
    "tags": ["demo"],
    "nodes": [{"id": "s1", "type": "Scale", "params": {"factor": 2.0}},
              {"id": "s2", "type": "Scale", "params": {"factor": 3.0}}],
    "edges": [{"source": "s1", "sourceHandle": "value", "target": "s2", "targetHandle": "value"}],
    "exposed_inputs": [{"name": "x", "internal_node": "s1", "internal_port": "value", "description": "in"}],
    "exposed_outputs": [{"name": "y", "internal_node": "s2", "internal_port": "value", "description": "out"}],
    "exposed_params": [{"internal_node": "s1", "param_name": "factor", "display_name": "First", "group": "G"}],
}

BROKEN_PRESET = {
    "preset_name": "Broken Demo",
    "nodes": [{"id": "x", "type": "Missing", "params": {}}],
    "edges": [],
    "exposed_outputs": [{"name": "y", "internal_node": "x", "internal_port": "value"}],
}

ADD_EXAMPLE = {
    "name": "Add Two",
    "description": "Adds two constants.",
    "nodes": [
        {"id": "s", "type": "Start"},
        {"id": "a", "type": "Const", "data": {"params": {"value": 2}}},
        {"id": "b", "type": "Const", "data": {"params": {"value": 3}}},
        {"id": "sum", "type": "Add"},
    ],
    "edges": [
        {"id": "t1", "source": "s", "target": "a", "sourceHandle": "trigger", "type": "trigger"},
        {"id": "t2", "source": "s", "target": "b", "sourceHandle": "trigger", "type": "trigger"},
        {"id": "e1", "source": "a", "sourceHandle": "value", "target": "sum", "targetHandle": "a"},
        {"id": "e2", "source": "b", "sourceHandle": "value", "target": "sum", "targetHandle": "b"},
    ],
}


class _Demo:
    @hookimpl
    def register_nodes(self, register: Any) -> None:
        register([start, const, scale, add, split, relu, remote, trainer, gpu_only])

    @hookimpl
    def register_presets(self, register: Any) -> None:
        register(DOUBLE_SCALE)
        register(BROKEN_PRESET)

    @hookimpl
    def register_examples(self, register: Any) -> None:
        register("Basics/Add Two", ADD_EXAMPLE)
        register("Basics/Deep/Nested", {"nodes": [], "edges": []})


@node(name="KNN", category="Geo", outputs=[Out("value", "SCALAR")])
def knn_geo(call: Any) -> dict[str, Any]:
    """Nearest neighbours (geo)."""
    return {"value": 1}


@node(name="Hull", category="Geo", outputs=[Out("value", "SCALAR")])
def hull(call: Any) -> dict[str, Any]:
    """Convex hull."""
    return {"value": 1}


@node(name="KNN", category="Maps", outputs=[Out("value", "SCALAR")])
def knn_maps(call: Any) -> dict[str, Any]:
    """Nearest neighbours (maps)."""
    return {"value": 2}


class _Geo:
    @hookimpl
    def register_nodes(self, register: Any) -> None:
        register([knn_geo, hull])

    @hookimpl
    def register_presets(self, register: Any) -> None:
        register({
            "preset_name": "geo/Nearest",
            "nodes": [{"id": "k", "type": "geo:KNN", "params": {}}],
            "edges": [],
            "exposed_outputs": [{"name": "value", "internal_node": "k", "internal_port": "value"}],
        })

    @hookimpl
    def register_examples(self, register: Any) -> None:
        register("Maps/Route", {"name": "Route", "nodes": [{"id": "h", "type": "geo:Hull"}], "edges": []})


class _Maps:
    @hookimpl
    def register_nodes(self, register: Any) -> None:
        register(knn_maps)


demo = _Demo()
geo = _Geo()
maps = _Maps()

PACK_FIRST_PARTY = {**FIRST_PARTY, "demo": "tests.api.routes_pack:demo"}
PACK_THIRD_PARTY = {**THIRD_PARTY, "geo": "tests.api.routes_pack:geo", "maps": "tests.api.routes_pack:maps"}


def make_routes_kernel(root: Path, env: Mapping[str, str] | None = None) -> Kernel:
    """A started kernel over ``root/data`` with the sample plugins and this pack.

    ``env`` is the kernel's environment (``NODELOOM_PLUGINS``, ``NODELOOM_DISABLE_PLUGINS``).
    """
    if env is None:
        return make_kernel(root, first_party=PACK_FIRST_PARTY, third_party=PACK_THIRD_PARTY)
    site = root / "site"
    write_dist(site, "nodeloom", PACK_FIRST_PARTY)
    write_dist(site, "acme-pack", PACK_THIRD_PARTY)
    kernel = Kernel(DataDir(root / "data"), entry_points=entry_point_source(site), env=dict(env))
    kernel.start()
    return kernel


def route_module(name: str) -> ModuleType:
    """The route module the app serves with.

    Starting a kernel re-imports the first-party ``api`` pack (its modules are purged and loaded
    afresh), so a module imported by a test file before the kernel started is a stale copy; patch
    the one this returns instead.
    """
    return importlib.import_module(f"nodeloom.plugins.api_routes.{name}")


def fake_devices(*available: str) -> Any:
    """A replacement for ``system.probe_devices`` reporting ``available`` (cpu is always there)."""
    names = {"cpu", *available}

    def probe() -> dict[str, Any]:
        return {
            "default": "cpu",
            "devices": [{"value": v, "label": v, "detail": "", "available": v in names} for v in ("cpu", "cuda", "mps")],
        }

    return probe
