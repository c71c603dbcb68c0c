"""The kernel stays small: no torch, no web framework, no plugin named in it."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import nodeloom.kernel

KERNEL_DIR = Path(nodeloom.kernel.__file__).parent
HEAVY = ("torch", "numpy", "quart", "hypercorn", "werkzeug")


def test_importing_every_kernel_module_loads_no_heavy_library():
    modules = [f"nodeloom.kernel.{m.name}" for m in pkgutil.iter_modules([str(KERNEL_DIR)])]
    assert "nodeloom.kernel.engine" in modules and "nodeloom.kernel.host" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"kernel imported: {out.stdout.strip()}"


def test_kernel_source_names_no_plugin():
    pattern = re.compile(r"plugins\.(core_nodes|media|models|audio|ui|api_routes)\b|\bcore_nodes\b")
    offenders = [
        f"{path.name}:{i}"
        for path in KERNEL_DIR.glob("*.py")
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
