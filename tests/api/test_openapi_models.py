"""OpenAPI components generated from attrs models (api.md §2.1.3, §4): the generator and the document.

``jsonschema`` is not a dependency of the project, so real responses are checked with the small
validator at the end of this file; it refuses any schema keyword it does not implement, so a schema
cannot pass by being misunderstood.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest

from nodeloom.api.fields import Problem
from nodeloom.api.schema import ModelOptions, components_for, schema_of, wire_field, wire_model
from nodeloom.kernel.host import Kernel
from nodeloom.kernel.params import PARAM_TYPES
from nodeloom.kernel.prepared import Issue
from nodeloom.kernel.registry import BuildError
from tests.api.routes_pack import ADD_EXAMPLE, fake_devices, make_routes_kernel, route_module
from tests.api.support import auth_headers

TOKEN = auth_headers()
REF = "#/components/schemas/"

# ============================================================================ the generator


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen(kw_only=True)
class Owner:
    """Who owns a pet."""

    name: str


@attrs.frozen(kw_only=True)
class Point:
    x: int = 0
    y: int = wire_field(wire_name="Y", default=0)


@wire_model("Pet", extra=True)
@attrs.frozen(kw_only=True)
class PetModel:
    """A pet."""

    name: str = wire_field("The pet's name.", minLength=1)
    kind: Literal["cat", "dog"] = "cat"
    owner: Owner | None = None
    tags: list[str] = attrs.field(factory=list)
    nick_name: str = wire_field("Shown name.", wire_name="nickName", required=False)
    id: int = wire_field("Assigned by the server.", read_only=True)
    where: Point = wire_field(factory=lambda: Point(x=1, y=2))
    token: object = attrs.field(factory=object)  # no JSON form: no default is published

    @property
    def label(self) -> str:  # properties are not fields: not on the wire
        return self.name


@attrs.frozen
class Tree:
    """A recursive shape."""

    children: list[Tree] = attrs.field(factory=list)


# Starting a test kernel drops the ``tests`` package from sys.modules (its plugins live there), so
# these classes' string annotations are resolved now, while this module's namespace can be found.
for _model in (PetModel, Owner, Point, Tree):
    attrs.resolve_types(_model)


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (type(None), {"type": "null"}),
        (Any, {}),
        (str | None, {"type": ["string", "null"]}),
        (int | float, {"type": "number"}),
        (str | int, {"type": ["string", "integer"]}),
        (Any | None, {}),
        (list[str], {"type": "array", "items": {"type": "string"}}),
        (list, {"type": "array"}),
        (Sequence[int], {"type": "array", "items": {"type": "integer"}}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (tuple[str, int], {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}],
                           "items": False, "minItems": 2, "maxItems": 2}),
        (frozenset[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
        (list[str] | None, {"type": ["array", "null"], "items": {"type": "string"}}),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (dict[str, Any], {"type": "object"}),
        (Mapping[str, list[bool]], {"type": "object", "additionalProperties": {"type": "array",
                                                                                "items": {"type": "boolean"}}}),
        (dict[str, Any] | None, {"type": ["object", "null"]}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal["a", "b"] | None, {"type": ["string", "null"], "enum": ["a", "b", None]}),
        (Literal[1, "x", True], {"type": ["string", "boolean", "integer"], "enum": [1, "x", True]}),
        (Colour, {"type": "string", "enum": ["red", "blue"]}),
        (str | list[int], {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "integer"}}]}),
    ],
)
def test_annotation_schemas(annotation: Any, expected: dict[str, Any]) -> None:
    assert schema_of(annotation) == expected


@pytest.mark.parametrize("annotation", [bytes, complex, dict[int, str], Owner])
def test_annotations_without_a_json_schema_are_refused(annotation: Any) -> None:
    with pytest.raises(TypeError):
        schema_of(annotation)  # Owner: an attrs class needs components_for (it becomes a $ref)


def test_attrs_class_becomes_a_component_with_nested_refs() -> None:
    components = components_for([PetModel])
    assert list(components) == ["Pet", "Owner", "Point"]
    assert components["Pet"] == {
        "type": "object",
        "description": "A pet.",
        "properties": {
            "name": {"type": "string", "description": "The pet's name.", "minLength": 1},
            "kind": {"type": "string", "enum": ["cat", "dog"], "default": "cat"},
            "owner": {"anyOf": [{"$ref": REF + "Owner"}, {"type": "null"}], "default": None},
            "tags": {"type": "array", "items": {"type": "string"}, "default": []},
            "nickName": {"type": "string", "description": "Shown name."},
            "id": {"type": "integer", "description": "Assigned by the server.", "readOnly": True},
            "where": {"$ref": REF + "Point", "default": {"x": 1, "Y": 2}},
            "token": {},
        },
        "required": ["name"],  # no default; nickName is optional by metadata, id is read-only
        "additionalProperties": True,
    }
    assert components["Owner"] == {"type": "object", "description": "Who owns a pet.",
                                   "properties": {"name": {"type": "string"}}, "required": ["name"],
                                   "additionalProperties": False}
    # A class without a docstring gets no description; the renamed field keeps its wire name.
    assert components["Point"] == {"type": "object", "properties": {"x": {"type": "integer", "default": 0},
                                                                    "Y": {"type": "integer", "default": 0}},
                                   "required": [], "additionalProperties": False}


def test_recursive_class_refers_to_itself() -> None:
    tree = components_for([Tree])["Tree"]
    assert tree["properties"]["children"] == {"type": "array", "items": {"$ref": REF + "Tree"}, "default": []}


def test_options_configure_a_class_that_cannot_be_decorated() -> None:
    components = components_for([Point], {Point: ModelOptions(name="Spot", extra=True, all_required=True)})
    spot = components["Spot"]
    # Every field always on the wire: all required, and no defaults are published.
    assert spot["required"] == ["x", "Y"] and spot["additionalProperties"] is True
    assert spot["properties"] == {"x": {"type": "integer"}, "Y": {"type": "integer"}}


def test_component_names_must_be_unique() -> None:
    @wire_model("Owner")
    @attrs.frozen
    class Impostor:
        name: str

    @attrs.frozen
    class Both:
        first: Owner
        second: Impostor

    attrs.resolve_types(Impostor, globals(), locals())
    attrs.resolve_types(Both, globals(), locals())
    with pytest.raises(ValueError, match="Owner"):
        components_for([Both])


def test_a_subclass_does_not_inherit_the_component_name() -> None:
    @attrs.frozen(kw_only=True)
    class Puppy(PetModel):
        pass

    attrs.resolve_types(Puppy, globals(), locals())
    assert set(components_for([Puppy])) == {"Puppy", "Owner", "Point"}


# ============================================================================ the models and the kernel


def test_reused_kernel_classes_match_their_wire_form() -> None:
    components = components_for([Issue, BuildError], route_module("_models").KERNEL_MODELS)
    issue = Issue(code="c", severity="warning", message="m")
    assert list(components["ValidationIssue"]["properties"]) == list(issue.wire())
    assert components["ValidationIssue"]["required"] == list(issue.wire())
    error = BuildError("preset", "p.json", "boom")
    assert list(components["BuildError"]["properties"]) == list(error.wire())
    assert components["BuildError"]["required"] == list(error.wire())
    problem = Problem(("body", 0), "Field required", "missing")
    assert list(components_for([Problem])["ValidationErrorItem"]["properties"]) == list(problem.wire())


def test_param_type_enum_is_the_kernels_list() -> None:
    schemas = route_module("_schemas").SCHEMAS
    assert schemas["ParamDefinition"]["properties"]["param_type"]["enum"] == list(PARAM_TYPES)


# ============================================================================ the document


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_routes_kernel(tmp_path)
    yield k
    k.close()


@pytest.fixture
def no_gpu(kernel: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    # Listing nodes narrows device params; the real probe would import torch.
    monkeypatch.setattr(route_module("system"), "probe_devices", fake_devices())


@pytest.fixture
async def doc(client: Any, no_gpu: None) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    return await response.get_json()


_RULE_VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _template(rule: str) -> str:
    return _RULE_VARIABLE.sub(lambda m: "{" + m.group(2) + "}", rule)


def _sample(rule: str) -> str:
    return _RULE_VARIABLE.sub(lambda m: "1" if m.group(1) == "int" else "x", rule)


async def test_every_registered_route_is_listed_with_its_methods_and_auth(doc: dict[str, Any], app: Any,
                                                                         client: Any) -> None:
    expected: dict[str, set[str]] = {}
    sockets: set[str] = set()
    samples: dict[tuple[str, str], str] = {}
    for rule in app.url_map.iter_rules():
        if rule.websocket:
            sockets.add(_template(rule.rule))
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            expected.setdefault(_template(rule.rule), set()).add(method.lower())
            samples[(_template(rule.rule), method.lower())] = _sample(rule.rule)
    assert {path: set(ops) for path, ops in doc["paths"].items()} == expected
    assert set(doc["x-websockets"]) == sockets and "/ws/execution" in sockets

    for (path, method), sample in sorted(samples.items()):
        operation = doc["paths"][path][method]
        needs_token = method in ("post", "put", "patch", "delete")  # api.md §1.4: by method only
        assert operation["x-nodeloom-auth"] == ("token" if needs_token else "open"), (method, path)
        assert bool(operation["security"]) is needs_token, (method, path)
        if needs_token:  # and the server agrees: no token, no entry
            response = await client.open(sample, method=method.upper())
            assert response.status_code == 403, (method, path)
            assert (await response.get_json())["code"] == "invalid_token"


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if "$ref" in value:
            yield value["$ref"]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


async def test_every_ref_resolves_to_a_component(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    refs = set(_refs(doc))
    assert refs and all(r.startswith(REF) for r in refs)
    assert {r.removeprefix(REF) for r in refs} <= set(schemas)
    # The shared shapes of §4 and the error bodies of §1.2, under the names api.md uses.
    assert {"NodeDefinition", "PortDefinition", "ParamDefinition", "Graph", "GraphNode", "GraphEdge",
            "PresetDefinition", "ExposedPort", "ExposedParam", "ValidationReport", "ValidationIssue",
            "ReloadReport", "BuildError", "ErrorResponse", "ValidationErrorItem"} <= set(schemas)


async def test_components_are_the_generated_ones(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for name, schema in route_module("_schemas").SCHEMAS.items():
        assert schemas[name] == schema, name


NODE_DEFINITION_FIELDS = ["node_name", "category", "description", "provider", "version", "cacheable", "available",
                          "unavailable_reason", "flags", "inputs", "outputs", "params"]  # api.md §4.1


async def test_node_definition_has_exactly_the_fields_of_the_spec(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    node = schemas["NodeDefinition"]
    assert list(node["properties"]) == NODE_DEFINITION_FIELDS
    assert node["required"] == NODE_DEFINITION_FIELDS and node["additionalProperties"] is False
    assert node["properties"]["unavailable_reason"]["type"] == ["string", "null"]
    assert node["properties"]["inputs"]["items"] == {"$ref": REF + "PortDefinition"}
    flags = _resolve(doc, node["properties"]["flags"])
    assert flags["required"] == ["deterministic", "random", "stateful", "display_only", "dynamic_outputs",
                                 "exportable"]
    assert schemas["PortDefinition"]["required"] == ["name", "data_type", "description", "optional"]
    assert schemas["ParamDefinition"]["required"] == ["name", "param_type", "default", "description", "options",
                                                      "min_value", "max_value", "visible_when"]


async def test_real_node_definitions_validate(client: Any, doc: dict[str, Any]) -> None:
    body = await (await client.get("/api/nodes")).get_json()
    assert len(body) > 5
    listing = _response_schema(doc, "/api/nodes", "get")
    assert listing == {"type": "array", "items": {"$ref": REF + "NodeDefinition"}}
    assert validate(doc, listing, body) == []
    one = await (await client.get("/api/nodes/Split")).get_json()
    assert one["flags"]["dynamic_outputs"] is True
    assert validate(doc, _response_schema(doc, "/api/nodes/{node_name}", "get"), one) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.pop("flags"), "$: missing 'flags'"),
        (lambda d: d.update(colour="red"), "$: unexpected 'colour'"),
        (lambda d: d.update(available="yes"), "$.available: expected boolean"),
        (lambda d: d["params"][0].update(param_type="colour"), "$.params[0].param_type: not in enum"),
        (lambda d: d["flags"].pop("random"), "$.flags: missing 'random'"),
    ],
)
async def test_node_definition_schema_rejects_wrong_items(client: Any, doc: dict[str, Any], change: Any,
                                                          problem: str) -> None:
    item = await (await client.get("/api/nodes/Scale")).get_json()
    change(item)
    assert problem in validate(doc, {"$ref": REF + "NodeDefinition"}, item)


async def test_real_registry_and_graph_responses_validate(client: Any, doc: dict[str, Any]) -> None:
    presets = await (await client.get("/api/presets")).get_json()
    assert any(p["available"] is False for p in presets)  # the broken preset carries its error
    assert validate(doc, _response_schema(doc, "/api/presets", "get"), presets) == []

    reload = await client.post("/api/nodes/reload", headers=TOKEN)
    report = await reload.get_json()
    assert report["errors"]  # the broken preset again, as a BuildError
    assert validate(doc, _response_schema(doc, "/api/nodes/reload", "post"), report) == []

    broken = {**ADD_EXAMPLE, "edges": [*ADD_EXAMPLE["edges"], {"source": "a", "target": "nowhere"}]}
    assert validate(doc, _request_schema(doc, "/api/graph/validate", "post"), broken) == []
    checked = await (await client.post("/api/graph/validate", json=broken, headers=TOKEN)).get_json()
    assert checked["valid"] is False and checked["issues"]
    assert validate(doc, _response_schema(doc, "/api/graph/validate", "post"), checked) == []

    loaded = await (await client.get("/api/examples/load?path=Basics%2FAdd%20Two")).get_json()
    assert validate(doc, _response_schema(doc, "/api/examples/load", "get"), loaded) == []


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        (lambda g: g["edges"][0].update(type="sideways"), ["body", "edges", 0, "type"]),
        (lambda g: g["nodes"][0].update(id=""), ["body", "nodes", 0, "id"]),
        (lambda g: g["nodes"][1].update(position={"x": 1}), ["body", "nodes", 1, "position", "y"]),
        (lambda g: g.update(format_version=0), ["body", "format_version"]),
        (lambda g: g.pop("edges"), ["body", "edges"]),
    ],
)
async def test_graph_schema_and_server_reject_the_same_bodies(client: Any, doc: dict[str, Any], change: Any,
                                                              loc: list[Any]) -> None:
    graph = {**ADD_EXAMPLE, "nodes": [dict(n) for n in ADD_EXAMPLE["nodes"]],
             "edges": [dict(e) for e in ADD_EXAMPLE["edges"]]}
    change(graph)
    assert validate(doc, _request_schema(doc, "/api/graph/validate", "post"), graph) != []
    response = await client.post("/api/graph/validate", json=graph, headers=TOKEN)
    body = await response.get_json()
    assert response.status_code == 422 and any(item["loc"] == loc for item in body["detail"])
    assert validate(doc, _error_schema(doc, "/api/graph/validate", "post"), body) == []


async def test_error_bodies_validate_against_error_response(client: Any, doc: dict[str, Any]) -> None:
    missing = await client.get("/api/nodes/Nope")
    ambiguous = await client.get("/api/nodes/KNN")
    for response in (missing, ambiguous):
        body = await response.get_json()
        assert response.status_code in (404, 409)
        assert validate(doc, _error_schema(doc, "/api/nodes/{node_name}", "get"), body) == []
    bad = {"detail": [{"loc": ["body"], "msg": "x", "type": "nonsense"}], "code": "validation_error"}
    assert "$.detail: no anyOf branch matches" in validate(doc, {"$ref": REF + "ErrorResponse"}, bad)


# ============================================================================ a small validator


def _operation(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return doc["paths"][path][method]


def _response_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return _operation(doc, path, method)["responses"]["200"]["content"]["application/json"]["schema"]


def _error_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return _operation(doc, path, method)["responses"]["default"]["content"]["application/json"]["schema"]


def _request_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return _operation(doc, path, method)["requestBody"]["content"]["application/json"]["schema"]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].removeprefix(REF)]
    return schema


_ANNOTATIONS = {"description", "default", "readOnly", "title", "$ref"}
_KEYWORDS = {"type", "enum", "anyOf", "oneOf", "allOf", "properties", "required", "additionalProperties", "items",
             "prefixItems", "minItems", "maxItems", "uniqueItems", "minLength", "pattern", "minimum"}
_JSON_TYPES: dict[str, Any] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def validate(doc: dict[str, Any], schema: dict[str, Any] | bool, value: Any, at: str = "$") -> list[str]:
    """Every problem of ``value`` against ``schema`` (JSON Schema 2020-12 subset, refs into ``doc``)."""
    if schema is True:
        return []
    if schema is False:
        return [f"{at}: not allowed"]
    unknown = set(schema) - _ANNOTATIONS - _KEYWORDS
    assert not unknown, f"validator does not implement {unknown} (at {at})"
    out: list[str] = []
    if "$ref" in schema:
        out += validate(doc, doc["components"]["schemas"][schema["$ref"].removeprefix(REF)], value, at)
    if "type" in schema:
        kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_JSON_TYPES[k](value) for k in kinds):
            return [*out, f"{at}: expected {' or '.join(kinds)}"]
    if "enum" in schema and not any(value == e and type(value) is type(e) for e in schema["enum"]):
        out.append(f"{at}: not in enum")
    if "anyOf" in schema and all(validate(doc, s, value, at) for s in schema["anyOf"]):
        out.append(f"{at}: no anyOf branch matches")
    if "oneOf" in schema and sum(not validate(doc, s, value, at) for s in schema["oneOf"]) != 1:
        out.append(f"{at}: not exactly one oneOf branch matches")
    for sub in schema.get("allOf", ()):
        out += validate(doc, sub, value, at)
    if isinstance(value, dict):
        out += _object_problems(doc, schema, value, at)
    if isinstance(value, list):
        out += _array_problems(doc, schema, value, at)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            out.append(f"{at}: too short")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{at}: does not match {schema['pattern']}")
    if _JSON_TYPES["number"](value) and "minimum" in schema and value < schema["minimum"]:
        out.append(f"{at}: below {schema['minimum']}")
    return out


def _object_problems(doc: dict[str, Any], schema: dict[str, Any], value: dict[str, Any], at: str) -> list[str]:
    out = [f"{at}: missing {key!r}" for key in schema.get("required", ()) if key not in value]
    properties = schema.get("properties", {})
    for key, item in value.items():
        if key in properties:
            out += validate(doc, properties[key], item, f"{at}.{key}")
        elif schema.get("additionalProperties") is False:
            out.append(f"{at}: unexpected {key!r}")
        elif isinstance(schema.get("additionalProperties"), dict):
            out += validate(doc, schema["additionalProperties"], item, f"{at}.{key}")
    return out


def _array_problems(doc: dict[str, Any], schema: dict[str, Any], value: list[Any], at: str) -> list[str]:
    out: list[str] = []
    prefix = schema.get("prefixItems", [])
    for index, item in enumerate(value):
        sub = prefix[index] if index < len(prefix) else schema.get("items", True)
        out += validate(doc, sub, item, f"{at}[{index}]")
    if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
        out.append(f"{at}: wrong length")
    if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
        out.append(f"{at}: items are not unique")
    return out
