"""Hook specifications: the whole contract between nodeloom and its plugins (engine.md §8.3).

A plugin is a module named by an entry point in group ``nodeloom.plugins``. It implements any of
these hooks with the :data:`hookimpl` marker::

    from nodeloom.kernel import hookimpl

    @hookimpl
    def register_nodes(register):
        register(my_spec)

Registration hooks receive a ``register`` callback; the host validates, namespaces and de-duplicates
what is registered and attributes it to the calling plugin. A hook may return a value, a zero-argument
callable or an awaitable; the host resolves each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT_NAME = "nodeloom"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[..., None]

#: Hooks that only take effect when the server starts (enabling such a plugin needs a restart).
STARTUP_ONLY_HOOKS = frozenset(
    {"register_routes", "register_storage", "register_executors", "startup", "shutdown"}
)


@hookspec
def register_nodes(register: Register) -> None:
    """Register node types; called on every registry build.

    ``register(spec)`` accepts a :class:`NodeSpec`, an object carrying one as ``__nodeloom_spec__``
    (what :func:`nodeloom.kernel.api.node` produces), or an iterable of either.
    """


@hookspec
def register_presets(register: Register) -> None:
    """Register presets; called on every registry build.

    ``register(preset)`` accepts a preset definition mapping (engine.md §7.1) or a path to a preset
    JSON file.
    """


@hookspec
def register_examples(register: Register) -> None:
    """Register example graphs; called on every registry build.

    ``register(relative_path, graph)`` where ``graph`` is a graph mapping or a path to a graph JSON
    file, and ``relative_path`` names it in the examples listing (``<Category>/<Name>``).
    """


@hookspec
def register_storage(register: Register) -> None:
    """Register storage backends at startup: ``register(name, backend)``."""


@hookspec
def register_executors(register: Register) -> None:
    """Register executors at startup: ``register(name, executor)``.

    An executor offers ``async submit(run_spec) -> handle``, ``events(handle)`` (an async iterator
    of run events) and ``async cancel(handle, reason)``. ``local`` is always available.
    """


@hookspec
def register_routes(register: Register) -> None:
    """Register HTTP routes at startup: ``register(blueprint)`` with a Quart blueprint."""


@hookspec
def register_model_sources(register: Register) -> None:
    """Register model download source types (``huggingface``, ``url``): ``register(name, source)``."""


@hookspec
def register_models(register: Register) -> None:
    """Register model registry entries (mappings, api.md §2.8): ``register(entry)``."""


@hookspec
def register_run_extensions(register: Register) -> None:
    """Register run extensions: ``register(extension)``.

    A run extension adds framework-specific behaviour to every run without the kernel knowing the
    framework (the kernel never imports torch): device resolution, per-node context (grad mode),
    value sizes for the cache budget, and work after each node or after the whole run (gradient
    capture). See :class:`nodeloom.kernel.extensions.RunExtension` for the optional methods.
    """


@hookspec
def startup(app: Any) -> None:
    """Called once before the server starts serving, with the application object."""


@hookspec
def shutdown(app: Any) -> None:
    """Called once after the server stopped serving."""


HOOK_NAMES = tuple(
    name
    for name, obj in list(globals().items())
    if callable(obj) and getattr(obj, PROJECT_NAME + "_spec", None) is not None
)
