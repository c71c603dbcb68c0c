"""Every package folder on disk is declared in pyproject, so wheels never silently miss code."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _declared() -> tuple[set[str], dict[str, str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    tool = data["tool"]["setuptools"]
    return set(tool["packages"]), tool["package-dir"]


def test_every_package_folder_is_listed():
    declared, mapping = _declared()
    on_disk = set()
    for name, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            if "node_modules" in rel.parts or "__pycache__" in rel.parts:
                continue
            on_disk.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert on_disk - declared == set(), "add these to [tool.setuptools] packages"
    assert declared - on_disk == set(), "listed packages without an __init__.py"


def test_no_bare_top_level_packages_are_installed():
    declared, mapping = _declared()
    assert all(p == "nodeloom" or p.startswith("nodeloom.") for p in declared)
    assert all(k == "nodeloom" or k.startswith("nodeloom.") for k in mapping)
