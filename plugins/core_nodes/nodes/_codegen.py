"""Shared pieces of the built-in nodes' code generators (engine.md §6.2, nodes.md N12).

Standalone scripts must reproduce the engine's numbers bitwise, so wherever a node builds a module
or runs a non-trivial computation through a self-contained function or class of its own module,
the generator copies that very source into the script (:func:`use`) instead of re-implementing
it. Functions that need nodeloom at run time (``seeded``, ``module_for``, the step recorder) are
replaced by the script's own preamble (``seeded``, ``to_device``...), listed in
:mod:`nodeloom.kernel.codegen`.

This module starts with ``_`` so the plugin does not collect it as a node module.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from nodeloom.kernel import CodeFragment
from nodeloom.kernel.codegen import CodegenContext, py_literal

__all__ = [
    "params_literal",
    "seeded_module",
    "simple",
    "source_of",
    "use",
]


def source_of(obj: Any) -> str:
    """The dedented source of a function or class of a node module."""
    return textwrap.dedent(inspect.getsource(obj))


def use(gen: CodegenContext, *objs: Any) -> None:
    """Copy module-level functions/classes into the script as helpers (each once per script)."""
    for obj in objs:
        gen.helper(obj.__name__, source_of(obj))


def params_literal(gen: CodegenContext, names: Iterable[str] | None = None) -> str:
    """A dict literal of the given (default: all declared) effective params, for ``build_*(params)``."""
    chosen = list(names) if names is not None else [n for n in gen.params]
    return py_literal({n: gen.params[n] for n in chosen})


def simple(gen: CodegenContext, port: str, expr: str) -> CodeFragment:
    """A one-statement node: ``<var(port)> = <expr>``."""
    return gen.fragment(f"{gen.var(port)} = {expr}")


def seeded_module(gen: CodegenContext, build: str, forward: Sequence[str]) -> list[str]:
    """Lines for a stateful node (nodes.md N4), in the engine's order inside one seeded block.

    The module is built fresh on the CPU under ``torch.manual_seed(node seed)``, moved to the run
    device, put in the module mode, then ``forward`` runs (``{m}`` names the module).
    """
    m = gen.tmp("m")
    lines = [
        f"with seeded({gen.seed_expr}):",
        f"    {m} = to_device({build}, device)",
        f"    {m}.train(module_mode != 'eval')",
    ]
    lines += ["    " + line.replace("{m}", m) for line in forward]
    return lines


def module_codegen(build_fn: Callable[[Mapping[str, Any]], Any], names: Iterable[str] | None = None):
    """Codegen of a stateful tensor -> tensor layer built by ``build_fn(params)`` (copied verbatim).

    ``names`` limits the params passed to ``build_fn`` (default: every declared param).
    """

    def codegen(gen: CodegenContext) -> CodeFragment:
        use(gen, build_fn)
        build = f"{build_fn.__name__}({params_literal(gen, names)})"
        forward = f"{gen.var('tensor')} = {{m}}({gen.input('tensor')})"
        return gen.fragment(*seeded_module(gen, build, [forward]))

    return codegen
