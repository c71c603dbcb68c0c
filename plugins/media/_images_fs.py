"""File-system helpers shared by the images and libs routes: confinement and stat that never 500.

``nodeloom.api.files.confined`` covers the textual rules of api.md §1.12, but two things a client
can still provoke reach the route as plain exceptions: pathlib reports a symlink loop as
``RuntimeError``, and a path of many multi-byte characters can pass the 1024-character rule yet
exceed the OS path limit (``ENAMETOOLONG`` on the first ``stat``). Both are the client's path, so
both become 400 ``invalid_path`` here.
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod
from collections.abc import Iterator
from pathlib import Path

from nodeloom.api import ApiError
from nodeloom.api.files import confined
from nodeloom.kernel.paths import PathError, check_relpath

__all__ = [
    "bad_path",
    "is_addressable",
    "is_directory",
    "is_regular",
    "resolve_in",
    "stat_of",
    "walk_files",
]


def bad_path(relpath: str, reason: str) -> ApiError:
    return ApiError(400, "invalid_path", f"Invalid path '{relpath}': {reason}")


def resolve_in(root: str | os.PathLike[str], relpath: str, **rules: bool) -> Path:
    """``root/relpath`` checked by api.md §1.12, or a 400 ``invalid_path`` ApiError."""
    try:
        return confined(root, relpath, **rules)
    except RuntimeError:
        raise bad_path(relpath, "contains a symlink loop") from None
    except OSError as exc:
        raise _os_path_error(relpath, exc) from None


def _os_path_error(relpath: str, exc: OSError) -> Exception:
    if exc.errno == errno.ELOOP:
        return bad_path(relpath, "contains a symlink loop")
    if exc.errno == errno.ENAMETOOLONG:
        return bad_path(relpath, "too long for the file system")
    return exc


def stat_of(path: Path, relpath: str) -> os.stat_result | None:
    """``os.stat`` (symlinks followed), or None when nothing is there."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _os_path_error(relpath, exc) from None


def is_regular(st: os.stat_result | None) -> bool:
    return st is not None and stat_mod.S_ISREG(st.st_mode)


def is_directory(st: os.stat_result | None) -> bool:
    return st is not None and stat_mod.S_ISDIR(st.st_mode)


def is_addressable(relpath: str) -> bool:
    """Whether the API could address ``relpath`` (§1.12 text rules, UTF-8 encodable).

    Listings leave out what no route could fetch, and names that cannot travel as JSON.
    """
    try:
        check_relpath(relpath)
        relpath.encode("utf-8")
    except (PathError, UnicodeEncodeError):
        return False
    return True


def walk_files(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """``(relpath, stat)`` of every regular file under ``root``, at any depth.

    Dot names are skipped (the server's temp files). Symlinks are followed only while they stay
    inside ``root``; a folder link is not entered when it leads back to one of its own ancestors, so
    links cannot loop the walk, while a link to a sibling folder lists that folder under both names
    (both are valid relpaths for download and delete).
    """
    base = root.resolve()

    def inside(real: Path) -> bool:
        return real == base or base in real.parents

    def visit(folder: Path, prefix: str, ancestors: frozenset[Path]) -> Iterator[tuple[str, os.stat_result]]:
        real = folder.resolve()
        if real in ancestors or not inside(real):
            return
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relpath = f"{prefix}{entry.name}"
            try:
                st = os.stat(entry.path)
                if entry.is_symlink() and not inside(Path(entry.path).resolve()):
                    continue
            except (OSError, RuntimeError):  # dangling link, symlink loop, vanished entry
                continue
            if stat_mod.S_ISDIR(st.st_mode):
                yield from visit(Path(entry.path), relpath + "/", ancestors | {real})
            elif stat_mod.S_ISREG(st.st_mode):
                yield relpath, st

    if root.is_dir():
        yield from visit(root, "", frozenset())
