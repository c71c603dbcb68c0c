"""The generator object a node's ``codegen(gen)`` receives (engine.md §6.2).

A code generator turns one node of the executable set into plain PyTorch statements for a
standalone script. It reads the node's id, type, effective params and node seed from ``gen``, the
Python expressions of its inputs from ``gen.inputs``, names its outputs with ``gen.var(port)`` and
returns a :class:`~nodeloom.kernel.spec.CodeFragment` whose ``body`` binds those names. Imports and
shared helper sources are requested with ``gen.need(...)`` / ``gen.helper(...)`` (or returned in the
fragment); helpers are emitted once per script.

Names every generated body may use (the script preamble defines them): ``torch``, ``nn``, ``F``,
``seed`` (the run seed), ``device`` (the resolved run device string), ``module_mode``
(``"train"``/``"eval"``), ``data_dir`` (str or None), ``inputs`` (GraphInput values by name),
``node_seed(run_seed, node_id)``, ``seeded(seed)``, ``to_device(value, device)``,
``node_device(requested, device)``, ``data_path(area, path)``, ``log_text(text)`` and
``InputError``.

This module only builds text: it imports neither torch nor numpy.
"""

from __future__ import annotations

import math
import pprint
import re
import sys
from collections.abc import Mapping
from typing import Any

import attrs

from .export_preamble import PREAMBLE_NAMES
from .spec import CodeFragment

__all__ = [
    "ALLOWED_THIRD_PARTY",
    "CodegenContext",
    "CodegenUnsupported",
    "HelperConflict",
    "import_statement",
    "py_literal",
]

#: Third-party packages a standalone script may import (engine.md §6.2); the rest is stdlib.
ALLOWED_THIRD_PARTY = frozenset({"torch", "numpy"})

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class CodegenUnsupported(Exception):
    """Raised by a code generator that cannot produce standalone code for these params.

    The message is the reason shown in ``unsupported_nodes`` (e.g. "t-SNE needs scikit-learn").
    """


class HelperConflict(ValueError):
    """Two nodes asked for the same helper name with different sources."""


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Mapping):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_non_finite(v) for v in value)
    return False


def _literal_exact(value: Any) -> str:
    """Recursive literal writer used when a value holds NaN or infinities."""
    if isinstance(value, float) and not math.isfinite(value):
        return "float('nan')" if value != value else ("float('inf')" if value > 0 else "-float('inf')")
    if isinstance(value, Mapping):
        items = ", ".join(f"{_literal_exact(k)}: {_literal_exact(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_literal_exact(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_literal_exact(v) for v in value)
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _check_literal(value: Any, depth: int = 0) -> None:
    if depth > 100:
        raise ValueError("value is nested too deeply to be written as a literal")
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_literal(k, depth + 1)
            _check_literal(v, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_literal(v, depth + 1)
        return
    raise TypeError(f"cannot write a {type(value).__name__} as a Python literal")


def py_literal(value: Any, *, width: int = 96) -> str:
    """Python source for a JSON-shaped value (dicts, lists, tuples, str, numbers, bools, None).

    Graph data always reaches scripts this way, never as code evaluated from a string. NaN and
    infinities become ``float('nan')`` / ``float('inf')`` expressions; other objects raise
    ``TypeError``.
    """
    _check_literal(value)
    if _has_non_finite(value):
        return _literal_exact(value)
    return pprint.pformat(value, width=width, sort_dicts=False)


def import_statement(entry: str) -> str:
    """The import statement for a requested import, checked against the allowed packages.

    ``entry`` is a module name (``"math"``), ``"module as alias"`` or a full ``from``/``import``
    statement. Raises ``ValueError`` for malformed entries or third-party packages other than
    torch and numpy.
    """
    text = " ".join(str(entry).split())
    if text.startswith("from "):
        match = re.match(r"^from ([\w.]+) import ([\w, ]+?)( as \w+)?$", text)
        if not match or not _DOTTED.match(match.group(1)):
            raise ValueError(f"malformed import {entry!r}")
        module, statement = match.group(1), text
    elif text.startswith("import "):
        module = text[len("import ") :].split(" as ")[0]
        statement = text
    else:
        module = text.split(" as ")[0]
        statement = f"import {text}"
    if not _DOTTED.match(module) or not re.match(r"^import [\w.]+( as \w+)?$|^from ", statement):
        raise ValueError(f"malformed import {entry!r}")
    top = module.split(".")[0]
    if top not in ALLOWED_THIRD_PARTY and top not in sys.stdlib_module_names:
        raise ValueError(
            f"standalone scripts may only import torch, numpy and the standard library, not {top!r}"
        )
    return statement


@attrs.define(eq=False)
class CodegenContext:
    """What ``codegen(gen)`` receives for one node (engine.md §6.2 "generator contract").

    ``params`` are the effective params, ``node_seed`` the node seed for the export's default run
    seed (the script recomputes it for ``--seed``; use :attr:`seed_expr` in code), ``inputs`` maps
    each fed input port to a Python expression. ``instance`` is the top-level preset instance id
    for preset members (None for top-level nodes).
    """

    node_id: str
    node_type: str  # the resolved registry key
    params: Mapping[str, Any]
    node_seed: int
    inputs: Mapping[str, str]
    index: int  # position in level order (1-based); keeps generated names unique
    instance: str | None = None
    outputs: dict[str, str] = attrs.field(factory=dict)
    imports: set[str] = attrs.field(factory=set)
    helpers: dict[str, str] = attrs.field(factory=dict)
    _temps: set[str] = attrs.field(factory=set)

    # -- names ---------------------------------------------------------------------------------

    @property
    def seed_expr(self) -> str:
        """The expression of this node's seed in the script: ``node_seed(seed, '<id>')``."""
        return f"node_seed(seed, {self.node_id!r})"

    @property
    def is_top_level(self) -> bool:
        return self.instance is None

    def var(self, port: str) -> str:
        """The variable that holds output ``port``; every port the body binds must be named here."""
        if not isinstance(port, str) or not _IDENT.match(port):
            raise ValueError(f"output port {port!r} is not an identifier")
        name = self.outputs.get(port)
        if name is None:
            name = self.outputs[port] = f"v{self.index}_{port}"
        return name

    def tmp(self, name: str) -> str:
        """A temporary variable name private to this node (never clashes with other nodes)."""
        if not _IDENT.match(name):
            raise ValueError(f"temporary name {name!r} is not an identifier")
        self._temps.add(name)
        return f"t{self.index}_{name}"

    # -- inputs and params ---------------------------------------------------------------------

    def has_input(self, port: str) -> bool:
        return port in self.inputs

    def input(self, port: str) -> str:
        """The expression of input ``port``; raises :class:`CodegenUnsupported` when not fed."""
        try:
            return self.inputs[port]
        except KeyError:
            raise CodegenUnsupported(f"input '{port}' receives no value from an exported node") from None

    def param(self, name: str) -> str:
        """The literal source of effective param ``name``."""
        return py_literal(self.params[name])

    @staticmethod
    def literal(value: Any) -> str:
        return py_literal(value)

    # -- imports and helpers -------------------------------------------------------------------

    def need(self, *imports: str) -> None:
        """Request imports (module names, ``"x as y"`` or full import statements)."""
        for entry in imports:
            import_statement(entry)  # fail early, inside the node's codegen call
            self.imports.add(entry)

    def helper(self, name: str, source: str) -> str:
        """Add a top-level helper (function/class source defining ``name``); returns ``name``."""
        if not _IDENT.match(name):
            raise ValueError(f"helper name {name!r} is not an identifier")
        if name in PREAMBLE_NAMES:
            raise HelperConflict(f"helper name {name!r} is already defined by the script itself")
        known = self.helpers.get(name)
        if known is not None and known != source:
            raise HelperConflict(f"helper {name!r} requested twice with different sources")
        self.helpers[name] = source
        return name

    def log(self, text_expr: str) -> str:
        """A statement that writes ``text_expr`` where the script writes node logs (Print)."""
        return f"log_text({text_expr})"

    def fragment(self, *lines: str) -> CodeFragment:
        """A CodeFragment from body lines (each may hold several lines), with this gen's requests."""
        body = "\n".join(lines)
        return CodeFragment(body=body, imports=frozenset(self.imports), helpers=dict(self.helpers))
