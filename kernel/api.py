"""Friendly sugar for declaring nodes; everything here builds plain :class:`NodeSpec` objects.

    from nodeloom.kernel.api import node, In, Out, Param

    @node(name="ScalarMultiply", category="Tensor Operations",
          inputs=[In("tensor", "TENSOR")], outputs=[Out("tensor", "TENSOR")],
          params=[Param.float("scalar", 1.0)])
    def scalar_multiply(call):
        return {"tensor": call.inputs["tensor"] * call.params["scalar"]}

The decorated function stays an ordinary function and carries its spec as ``__nodeloom_spec__``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .spec import NodeSpec, ParamSpec, PortSpec


def In(name: str, type: str, description: str = "", optional: bool = False) -> PortSpec:  # noqa: N802
    return PortSpec(name, type, description, optional)


def Out(name: str, type: str, description: str = "") -> PortSpec:  # noqa: N802
    return PortSpec(name, type, description)


def _param(param_type: str) -> Callable[..., ParamSpec]:
    def make(
        name: str,
        default: Any = None,
        description: str = "",
        *,
        min: float | None = None,  # noqa: A002 - reads naturally at call sites
        max: float | None = None,  # noqa: A002
        options: Iterable[str] = (),
        visible_when: Mapping[str, Any] | None = None,
    ) -> ParamSpec:
        if default is None:
            default = _DEFAULTS[param_type]
        return ParamSpec(
            name=name,
            param_type=param_type,
            default=default,
            description=description,
            options=tuple(options),
            min_value=min,
            max_value=max,
            visible_when=visible_when,
        )

    make.__name__ = param_type
    return make


_DEFAULTS: dict[str, Any] = {
    "int": 0,
    "float": 0.0,
    "string": "",
    "bool": False,
    "model_file": "",
    "image_file": "",
    "tensor_grid": None,
    "secret": "",
    "upload": "",
}


class Param:
    """Constructors for each param type: ``Param.int("epochs", 5, min=1)``."""

    int = staticmethod(_param("int"))
    float = staticmethod(_param("float"))
    string = staticmethod(_param("string"))
    bool = staticmethod(_param("bool"))
    model_file = staticmethod(_param("model_file"))
    image_file = staticmethod(_param("image_file"))
    tensor_grid = staticmethod(_param("tensor_grid"))
    secret = staticmethod(_param("secret"))
    upload = staticmethod(_param("upload"))

    @staticmethod
    def select(
        name: str,
        default: str,
        options: Iterable[str],
        description: str = "",
        *,
        visible_when: Mapping[str, Any] | None = None,
    ) -> ParamSpec:
        return ParamSpec(
            name=name,
            param_type="select",
            default=default,
            description=description,
            options=tuple(options),
            visible_when=visible_when,
        )


def node(**fields: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate an execute function with its NodeSpec fields (all of NodeSpec's but ``execute``).

    ``description`` defaults to the function's docstring.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        values = dict(fields)
        if "description" not in values and fn.__doc__:
            values["description"] = _dedent(fn.__doc__)
        fn.__nodeloom_spec__ = NodeSpec(execute=fn, **values)  # type: ignore[attr-defined]
        return fn

    return decorate


def _dedent(text: str) -> str:
    import inspect

    return inspect.cleandoc(text)
