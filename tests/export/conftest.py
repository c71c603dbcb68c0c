"""Fixtures for the export tests: one data dir with test custom nodes and a kernel over it.

Exported scripts run in subprocesses (each pays for importing torch), so the tests batch many
nodes into one graph per script and share the kernel and data dir across the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nodeloom.kernel import DataDir
from nodeloom.testing import make_kernel

# Custom nodes that exercise the fallbacks. They live in the data dir, so a runner script started
# with --data-dir finds them too.
CUSTOM_NODES = '''
from nodeloom.kernel import CodeFragment, NodeSpec, ParamSpec, PortSpec
from nodeloom.kernel.codegen import CodegenUnsupported

VALUE_IN = (PortSpec("value", "ANY"),)
VALUE_OUT = (PortSpec("value", "ANY"),)


def _double(call):
    return {"value": call.inputs["value"] * 2}


def _raise(gen):
    raise RuntimeError("boom from the generator")


def _bad_syntax(gen):
    return CodeFragment(body=f"{gen.var('value')} = = 1")


def _unsupported(gen):
    raise CodegenUnsupported("needs a quantum computer")


def _bad_import(gen):
    gen.need("requests")
    return gen.fragment(f"{gen.var('value')} = {gen.input('value')}")


def _identity(gen):
    return gen.fragment(f"{gen.var('value')} = {gen.input('value')}")


NoGen = NodeSpec(name="NoGen", category="Custom", execute=_double, inputs=VALUE_IN, outputs=VALUE_OUT,
                 params=(ParamSpec("token", "secret", ""),))
BadGen = NodeSpec(name="BadGen", category="Custom", execute=_double, inputs=VALUE_IN, outputs=VALUE_OUT,
                  codegen=_raise)
BadSyntax = NodeSpec(name="BadSyntax", category="Custom", execute=_double, inputs=VALUE_IN,
                     outputs=VALUE_OUT, codegen=_bad_syntax)
NotHere = NodeSpec(name="NotHere", category="Custom", execute=_double, inputs=VALUE_IN, outputs=VALUE_OUT,
                   codegen=_unsupported)
BadImport = NodeSpec(name="BadImport", category="Custom", execute=_double, inputs=VALUE_IN,
                     outputs=VALUE_OUT, codegen=_bad_import)
Keep = NodeSpec(name="Keep", category="Custom", execute=lambda call: {"value": call.inputs["value"]},
                inputs=VALUE_IN, outputs=VALUE_OUT, codegen=_identity)
Plot = NodeSpec(name="Plot", category="Custom", execute=lambda call: {"image": "png-bytes"},
                inputs=(PortSpec("data", "ANY"),), outputs=(PortSpec("image", "STRING"),),
                display_only=True)
'''


@pytest.fixture(scope="module")
def export_data(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    data = DataDir(tmp_path_factory.mktemp("export-data")).ensure()
    (data.area("custom_nodes") / "export_custom.py").write_text(CUSTOM_NODES, encoding="utf-8")
    (data.area("libs") / "tiny.csv").write_text("a,b,label\n1,2,x\n3,,y\n5,6.5,x\n", encoding="utf-8")
    return data


@pytest.fixture(scope="module")
def kernel(export_data: DataDir) -> Iterator[Any]:
    k = make_kernel(builtin=True, data_dir=export_data)
    failed = [e.message for e in k.snapshot.errors]
    assert not failed, failed
    yield k
    k.close()
