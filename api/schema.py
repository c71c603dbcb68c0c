"""JSON Schema (OpenAPI 3.1 components) generated from attrs classes.

The OpenAPI document (api.md §2.1.3) describes request and response bodies with component schemas.
They are derived here from attrs classes, never written by hand: each field becomes a property whose
schema follows from its type annotation, and a few attrs field ``metadata`` keys add what a type
cannot say.

Annotations: ``str``, ``int``, ``float``, ``bool``, ``None``, unions (``X | None`` included),
``list``/``tuple``/``set`` and their ``collections.abc`` forms, ``dict[str, X]``/``Mapping[str, X]``,
``Literal[...]`` and ``enum.Enum`` (an ``enum``), ``Any`` (``{}``) and nested attrs classes (a
``$ref`` to their own component, generated too). ``Annotated`` extras are ignored.

Field metadata keys (plain strings, so a module can describe its fields without importing this one):

* ``description``: the property's description;
* ``wire_name``: the JSON key, when it differs from the Python name;
* ``required``: overrides the rule "required when the field has no default";
* ``read_only``: output-only (``readOnly``; never required);
* ``json_schema``: extra keywords for the property (``minLength``, ``minimum``, ``pattern``...).

Class-level choices (component name, whether unknown keys are allowed, whether every field is always
present) come from :func:`wire_model` on classes this code base owns, or from a :class:`ModelOptions`
mapping for classes it reuses from elsewhere (the kernel knows nothing of the API).

cattrs (26.x) has no JSON-schema generation of its own, and its renames live in converter hooks
rather than on the classes, so this module reads ``attrs.fields`` (types resolved by
``attrs.resolve_types``, i.e. ``typing.get_type_hints``) and ``typing.get_origin``/``get_args``.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, MutableSequence, Sequence
from collections.abc import Set as AbstractSet
from typing import Annotated, Any, Literal, TypeVar, Union

import attrs

__all__ = [
    "DESCRIPTION",
    "JSON_SCHEMA",
    "READ_ONLY",
    "REF_PREFIX",
    "REQUIRED",
    "WIRE_NAME",
    "ModelOptions",
    "SchemaBuilder",
    "components_for",
    "schema_of",
    "wire_field",
    "wire_model",
    "wire_name",
]

DESCRIPTION = "description"
WIRE_NAME = "wire_name"
REQUIRED = "required"
READ_ONLY = "read_only"
JSON_SCHEMA = "json_schema"

REF_PREFIX = "#/components/schemas/"
_OPTIONS_ATTR = "__wire_schema__"
_PRIMITIVES: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}
_ARRAYS = (list, tuple, set, frozenset, Sequence, MutableSequence, AbstractSet)
_OBJECTS = (dict, Mapping)
# Keywords that constrain one JSON type only, so "X or null" can merge into one schema.
_TYPED_KEYWORDS = frozenset({
    "type", "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "properties", "required",
    "additionalProperties", "minLength", "maxLength", "pattern", "minimum", "maximum", "format",
})

C = TypeVar("C", bound=type)


@attrs.frozen
class ModelOptions:
    """How one attrs class becomes a component."""

    name: str | None = None  # component name; the class name when None
    extra: bool = False  # additionalProperties: may the object carry keys the class does not list?
    all_required: bool = False  # every field is always on the wire, defaults or not (response shapes)


def wire_model(name: str | None = None, *, extra: bool = False, all_required: bool = False) -> Callable[[C], C]:
    """Class decorator recording :class:`ModelOptions` on an attrs class (apply it above ``@attrs``)."""

    def mark(cls: C) -> C:
        setattr(cls, _OPTIONS_ATTR, ModelOptions(name=name, extra=extra, all_required=all_required))
        return cls

    return mark


def wire_field(
    description: str = "",
    *,
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | None = None,
    wire_name: str | None = None,
    required: bool | None = None,
    read_only: bool = False,
    **json_schema: Any,
) -> Any:
    """``attrs.field`` carrying the metadata above; extra keyword arguments are JSON Schema keywords."""
    metadata: dict[str, Any] = {}
    if description:
        metadata[DESCRIPTION] = description
    if wire_name is not None:
        metadata[WIRE_NAME] = wire_name
    if required is not None:
        metadata[REQUIRED] = required
    if read_only:
        metadata[READ_ONLY] = True
    if json_schema:
        metadata[JSON_SCHEMA] = json_schema
    return attrs.field(default=default, factory=factory, metadata=metadata)


def wire_name(field: attrs.Attribute[Any]) -> str:
    """The JSON key of an attrs field."""
    return str(field.metadata.get(WIRE_NAME, field.name))


class SchemaBuilder:
    """Collects component schemas; nested attrs classes are generated once and referenced by name.

    ``options`` configures classes that cannot carry :func:`wire_model` themselves.
    """

    def __init__(self, options: Mapping[type, ModelOptions] | None = None) -> None:
        self._options = dict(options or {})
        self._names: dict[str, type] = {}
        self.components: dict[str, dict[str, Any]] = {}

    def options_of(self, cls: type) -> ModelOptions:
        # Read the class's own __dict__: a subclass must not inherit its parent's component name.
        found = self._options.get(cls) or cls.__dict__.get(_OPTIONS_ATTR)
        return found if isinstance(found, ModelOptions) else ModelOptions()

    def name_of(self, cls: type) -> str:
        return self.options_of(cls).name or cls.__name__

    def ref(self, cls: type) -> dict[str, Any]:
        """``{"$ref": ...}`` to ``cls``'s component, generating it (and what it nests) on first use."""
        if not attrs.has(cls):
            raise TypeError(f"{cls!r} is not an attrs class")
        name = self.name_of(cls)
        owner = self._names.get(name)
        if owner is None:
            # Claimed before the fields are walked, so a class that nests itself ends in a $ref
            # (the placeholder also keeps components in the order they were asked for).
            self._names[name] = cls
            self.components[name] = {}
            self.components[name] = self._object(cls)
        elif owner is not cls:
            raise ValueError(f"component name {name!r} is used by both {owner.__qualname__} and {cls.__qualname__}")
        return {"$ref": REF_PREFIX + name}

    def schema(self, annotation: Any) -> dict[str, Any]:
        """The schema of a type annotation (attrs classes become ``$ref``)."""
        if annotation is Any or annotation is object:
            return {}
        if annotation in _PRIMITIVES:
            return {"type": _PRIMITIVES[annotation]}
        if isinstance(annotation, type) and attrs.has(annotation):
            return self.ref(annotation)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return _enum([member.value for member in annotation])
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is Annotated:
            return self.schema(args[0])  # extras are for other tools; metadata describes fields here
        if origin is Literal:
            return _enum(list(args))
        if origin is Union or origin is types.UnionType:
            return self._union(args)
        container = origin or annotation
        if container in _ARRAYS:
            return self._array(container, args)
        if container in _OBJECTS:
            return self._mapping(args)
        raise TypeError(f"no JSON schema for annotation {annotation!r}")

    def _object(self, cls: type) -> dict[str, Any]:
        options = self.options_of(cls)
        # attrs resolves string annotations once per class and keeps the result, so a caller whose
        # class cannot be resolved from its module can call attrs.resolve_types with namespaces first.
        attrs.resolve_types(cls)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in attrs.fields(cls):
            key = wire_name(field)
            is_required = options.all_required or _is_required(field)
            properties[key] = self._property(field, field.type, is_required)
            if is_required:
                required.append(key)
        out: dict[str, Any] = {"type": "object"}
        if cls.__doc__:  # the class's own docstring only (inspect.getdoc would fall back to a base's)
            out["description"] = inspect.cleandoc(cls.__doc__)
        out.update(properties=properties, required=required, additionalProperties=options.extra)
        return out

    def _property(self, field: attrs.Attribute[Any], annotation: Any, required: bool) -> dict[str, Any]:
        out = dict(self.schema(annotation))
        meta = field.metadata
        if meta.get(DESCRIPTION):
            out["description"] = meta[DESCRIPTION]
        if meta.get(READ_ONLY):
            out["readOnly"] = True
        found, value = _json_default(field) if not required else (False, None)
        if found:  # what the server assumes when the key is absent
            out["default"] = value
        out.update(meta.get(JSON_SCHEMA, {}))
        return out

    def _union(self, args: tuple[Any, ...]) -> dict[str, Any]:
        nullable = type(None) in args
        arms = [self.schema(a) for a in args if a is not type(None)]
        if any(arm == {} for arm in arms):
            return {}  # Any absorbs the other arms, null included
        if len(arms) == 1:
            merged = arms[0]
        elif all(set(arm) == {"type"} for arm in arms):
            merged = {"type": _type_list([arm["type"] for arm in arms])}
        else:
            merged = {"anyOf": arms}
        return _or_null(merged) if nullable else merged

    def _array(self, container: Any, args: tuple[Any, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array"}
        if container is tuple and args and args[-1] is not Ellipsis:
            # A fixed-length tuple: one schema per position.
            out.update(prefixItems=[self.schema(a) for a in args], items=False,
                       minItems=len(args), maxItems=len(args))
            return out
        if args:
            out["items"] = self.schema(args[0])
        if container in (set, frozenset, AbstractSet):
            out["uniqueItems"] = True
        return out

    def _mapping(self, args: tuple[Any, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if args:
            if args[0] is not str:
                raise TypeError(f"JSON object keys are strings, not {args[0]!r}")
            values = self.schema(args[1])
            if values:
                out["additionalProperties"] = values
        return out


def components_for(classes: Iterable[type], options: Mapping[type, ModelOptions] | None = None) -> dict[str, Any]:
    """The component schemas of ``classes`` and of every attrs class they nest, by component name."""
    builder = SchemaBuilder(options)
    for cls in classes:
        builder.ref(cls)
    return builder.components


def schema_of(annotation: Any) -> dict[str, Any]:
    """The inline schema of an annotation that nests no attrs class (e.g. ``str | None``)."""
    builder = SchemaBuilder()
    out = builder.schema(annotation)
    if builder.components:
        raise TypeError(f"{annotation!r} nests attrs classes; use components_for and a $ref")
    return out


# -- helpers -------------------------------------------------------------------------------------


def _is_required(field: attrs.Attribute[Any]) -> bool:
    if field.metadata.get(READ_ONLY):
        return False
    explicit = field.metadata.get(REQUIRED)
    return bool(explicit) if explicit is not None else field.default is attrs.NOTHING


def _enum(values: list[Any]) -> dict[str, Any]:
    kinds = {_PRIMITIVES.get(type(v)) for v in values}
    if None in kinds:  # a value JSON Schema has no type name for: the enum alone says it
        return {"enum": values}
    return {"type": _type_list(sorted(kinds, key=[*_PRIMITIVES.values()].index)), "enum": values}


def _type_list(types_: Iterable[str | list[str]]) -> str | list[str]:
    flat: list[str] = []
    for t in types_:
        for one in [t] if isinstance(t, str) else t:
            if one not in flat:
                flat.append(one)
    if "number" in flat and "integer" in flat:
        flat.remove("integer")  # every integer is a number
    return flat[0] if len(flat) == 1 else flat


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also accepts null: merged into ``type`` where that is exact, else ``anyOf``."""
    if "type" in schema and set(schema) <= _TYPED_KEYWORDS | {"enum"}:
        out = dict(schema, type=_type_list([schema["type"], "null"]))
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def _json_default(field: attrs.Attribute[Any]) -> tuple[bool, Any]:
    """The field's default as JSON, when it has one that JSON can carry."""
    default = field.default
    if default is attrs.NOTHING:
        return False, None
    if isinstance(default, attrs.Factory):
        if default.takes_self:
            return False, None
        default = default.factory()
    return _to_json(default)


def _to_json(value: Any) -> tuple[bool, Any]:
    if value is None or isinstance(value, (str, bool, int, float)):
        return True, value
    if isinstance(value, enum.Enum):
        return _to_json(value.value)
    if attrs.has(type(value)):
        value = {wire_name(f): getattr(value, f.name) for f in attrs.fields(type(value))}
    if isinstance(value, Mapping):
        items = {k: _to_json(v) for k, v in value.items()}
        ok = all(isinstance(k, str) and found for k, (found, _) in items.items())
        return ok, {k: v for k, (_, v) in items.items()} if ok else None
    if isinstance(value, (list, tuple, set, frozenset)):
        converted = [_to_json(v) for v in value]
        ok = all(found for found, _ in converted)
        return ok, [v for _, v in converted] if ok else None
    return False, None
