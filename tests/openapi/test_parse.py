"""Parsing: every real-world fixture imports with the right operations and argument
schemas; hostile documents are refused clearly and quickly."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest

from app.integrations.openapi.load import SpecError, load_document
from app.integrations.openapi.parse import parse_spec
from tests.openapi.conftest import FIXTURES, REPO, fixture_bytes


def parse(raw: bytes | str, content_type: str | None = None, **limits: int):
    return parse_spec(load_document(raw, content_type, **limits))


def ops_by_id(spec):
    return {op.operation_id: op for op in spec.operations}


EXPECTED = {
    "swagger-petstore-3.0.yaml": ("Swagger Petstore - OpenAPI 3.0", "3.0.4", 19),
    "petstore-expanded-3.0.yaml": ("Swagger Petstore", "3.0.0", 4),
    "uspto-3.0.yaml": ("USPTO Data Set API", "3.0.1", 3),
    "callback-example-3.0.yaml": ("Callback Example", "3.0.0", 1),
    "webhook-example-3.1.yaml": ("Webhook Example", "3.1.0", 0),
    "non-oauth-scopes-3.1.yaml": ("Non-oAuth Scopes example", "3.1.0", 1),
    "petstore-swagger-2.0.yaml": ("Swagger Petstore", "2.0", 3),
}


def test_every_fixture_is_covered() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_imports(name: str) -> None:
    title, version, count = EXPECTED[name]
    spec = parse(fixture_bytes(name))
    assert (spec.title, spec.openapi_version, len(spec.operations)) == (title, version, count)
    ids = [op.operation_id for op in spec.operations]
    assert len(set(ids)) == len(ids)
    for op in spec.operations:
        # every argument schema is a valid, self-contained JSON schema
        jsonschema.Draft202012Validator.check_schema(op.args_schema)
        assert "$ref" not in json.dumps(op.args_schema)
        assert set(op.arg_locations) == set(op.args_schema["properties"])


def test_swagger_petstore_arguments() -> None:
    spec = parse(fixture_bytes("swagger-petstore-3.0.yaml"))
    ops = ops_by_id(spec)
    assert spec.base_url == "https://petstore3.swagger.io/api/v3"
    add = ops["addPet"]
    assert add.method == "POST" and add.body and add.body["content_type"] == "application/json"
    # the Pet body ($ref with nested $refs to Category and Tag) becomes one argument per property
    assert set(add.args_schema["properties"]) == {
        "id",
        "name",
        "category",
        "photoUrls",
        "tags",
        "status",
    }
    assert add.args_schema["required"] == ["name", "photoUrls"]
    assert add.args_schema["properties"]["category"]["properties"]["name"] == {"type": "string"}
    assert add.args_schema["properties"]["status"]["enum"] == ["available", "pending", "sold"]
    jsonschema.validate({"name": "Rex", "photoUrls": ["x"], "status": "sold"}, add.args_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "Rex"}, add.args_schema)
    login = ops["loginUser"]
    assert login.arg_locations == {"username": "query", "password": "query"}
    delete = ops["deletePet"]
    assert delete.arg_locations == {"api_key": "header", "petId": "path"}
    assert delete.args_schema["required"] == ["petId"]
    # updateUser's body has a `username` like the path parameter: the body stays one argument
    update_user = ops["updateUser"]
    assert update_user.body_arg == "body" and update_user.arg_locations["username"] == "path"
    assert ops["uploadFile"].body_arg == "body" and any(
        "octet-stream" in n for n in ops["uploadFile"].notes
    )


def test_petstore_expanded_allof_and_renamed_id() -> None:
    spec = parse(fixture_bytes("petstore-expanded-3.0.yaml"))
    ops = ops_by_id(spec)
    assert set(ops) == {"findPets", "addPet", "find_pet_by_id", "deletePet"}
    assert ops["find_pet_by_id"].original_operation_id == "find pet by id"
    assert ops["addPet"].args_schema["required"] == ["name"]
    assert ops["findPets"].args_schema["properties"]["tags"]["type"] == "array"


def test_uspto_server_variables_and_form_body() -> None:
    spec = parse(fixture_bytes("uspto-3.0.yaml"))
    assert spec.base_url == "https://developer.uspto.gov/ds-api"  # {scheme} -> its default
    search = ops_by_id(spec)["perform-search"]
    assert search.body["content_type"] == "application/x-www-form-urlencoded"
    assert {"dataset", "version", "criteria"} <= set(search.args_schema["properties"])


def test_callbacks_and_webhooks_are_not_tools() -> None:
    cb = parse(fixture_bytes("callback-example-3.0.yaml"))
    assert [(o.operation_id, o.method, o.path) for o in cb.operations] == [
        ("post_streams", "POST", "/streams")
    ]
    assert cb.callback_count == 1 and any("made up" in n for n in cb.operations[0].notes)
    wh = parse(fixture_bytes("webhook-example-3.1.yaml"))
    assert wh.operations == [] and wh.webhook_count == 1


def test_swagger_2_is_converted() -> None:
    spec = parse(fixture_bytes("petstore-swagger-2.0.yaml"))
    assert spec.base_url == "http://petstore.swagger.io/v1"
    assert spec.document["openapi"].startswith("3.0")
    ops = ops_by_id(spec)
    assert ops["showPetById"].arg_locations == {"petId": "path"}
    assert ops["listPets"].args_schema["properties"]["limit"] == {
        "type": "integer",
        "format": "int32",
        "description": "How many items to return at one time (max 100)",
    }


def test_swagger_2_body_and_form_parameters() -> None:
    doc = {
        "swagger": "2.0",
        "info": {"title": "T", "version": "1"},
        "host": "api.example.com",
        "paths": {
            "/pets": {
                "post": {
                    "operationId": "addPet",
                    "parameters": [
                        {
                            "in": "body",
                            "name": "pet",
                            "required": True,
                            "schema": {"$ref": "#/definitions/Pet"},
                        }
                    ],
                }
            },
            "/upload": {
                "post": {
                    "operationId": "upload",
                    "parameters": [
                        {"in": "formData", "name": "file", "type": "file", "required": True}
                    ],
                }
            },
        },
        "definitions": {
            "Pet": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}},
            }
        },
    }
    ops = ops_by_id(parse_spec(doc))
    assert ops["addPet"].args_schema["required"] == ["name"] and ops["addPet"].arg_locations == {
        "name": "body"
    }
    assert ops["upload"].body["content_type"] == "multipart/form-data"


def test_demo_shop_spec_parses_like_the_tool_layer_expects() -> None:
    spec = parse((REPO / "openapi_specs" / "demo_shop.yaml").read_bytes())
    cancel = ops_by_id(spec)["cancel_order"]
    # server-set headers (X-Customer-Id, Idempotency-Key) are never model arguments
    assert cancel.arg_locations == {"order_id": "path", "reason": "body"}


# --------------------------------------------------------------------------- hostile documents

CIRCULAR = """
openapi: 3.0.3
info: {title: Circular, version: "1"}
paths:
  /nodes:
    post:
      operationId: addNode
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Node"}
      responses: {"200": {description: ok}}
components:
  schemas:
    Node:
      type: object
      properties:
        name: {type: string}
        children: {type: array, items: {$ref: "#/components/schemas/Node"}}
        partner: {$ref: "#/components/schemas/Partner"}
    Partner:
      type: object
      properties:
        node: {$ref: "#/components/schemas/Node"}
"""


def test_circular_schema_refs_are_cut_not_followed() -> None:
    start = time.perf_counter()
    op = parse(CIRCULAR).operations[0]
    assert time.perf_counter() - start < 1
    props = op.args_schema["properties"]
    assert props["name"] == {"type": "string"}
    assert "recursive reference" in props["children"]["items"]["description"]
    assert "recursive reference" in props["partner"]["properties"]["node"]["description"]
    jsonschema.Draft202012Validator.check_schema(op.args_schema)


def test_ref_chain_loop_in_parameters_is_refused() -> None:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "T", "version": "1"},
        "paths": {"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/A"}]}}},
        "components": {
            "parameters": {
                "A": {"$ref": "#/components/parameters/B"},
                "B": {"$ref": "#/components/parameters/A"},
            }
        },
    }
    with pytest.raises(SpecError, match="never reaches an object"):
        parse_spec(doc)


def test_exponential_refs_hit_the_schema_budget_fast() -> None:
    # S0 -> 2x S1 -> 4x S2 ... -> 2^40 leaves if expanded naively
    schemas = {
        f"S{i}": {
            "type": "object",
            "properties": {
                "a": {"$ref": f"#/components/schemas/S{i + 1}"},
                "b": {"$ref": f"#/components/schemas/S{i + 1}"},
            },
        }
        for i in range(40)
    }
    schemas["S40"] = {"type": "string"}
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/x": {
                "post": {
                    "operationId": "x",
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/S0"}}
                        }
                    },
                }
            }
        },
        "components": {"schemas": schemas},
    }
    start = time.perf_counter()
    op = parse_spec(doc).operations[0]
    assert time.perf_counter() - start < 2
    assert len(json.dumps(op.args_schema)) < 2_000_000
    assert "truncated" in json.dumps(op.args_schema)


def test_external_refs_are_refused_not_fetched() -> None:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "T", "version": "1"},
        "paths": {"/a": {"get": {"parameters": [{"$ref": "https://evil.example/params.yaml#/A"}]}}},
    }
    with pytest.raises(SpecError, match=r"outside this document.*Bundle"):
        parse_spec(doc)


BILLION_LAUGHS = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
openapi: 3.0.0
"""


def test_yaml_alias_bomb_is_refused_fast() -> None:
    start = time.perf_counter()
    with pytest.raises(SpecError, match="alias bomb"):
        load_document(BILLION_LAUGHS, "application/yaml")
    assert time.perf_counter() - start < 1


def test_recursive_yaml_alias_is_refused() -> None:
    with pytest.raises(SpecError, match="recursive alias"):
        load_document("a: &x [1, *x]\n", "application/yaml")


def test_modest_aliases_are_fine() -> None:
    doc = load_document("x: &p {type: string}\ny: *p\nz: [*p, *p]\n", "application/yaml")
    assert doc["y"] == {"type": "string"} and doc["z"][1] == {"type": "string"}


def test_huge_document_is_refused_before_parsing() -> None:
    huge = b"openapi: 3.0.0\n" + b"#" * (6 * 1024 * 1024)
    start = time.perf_counter()
    with pytest.raises(SpecError, match="over the limit"):
        load_document(huge, max_bytes=5 * 1024 * 1024)
    assert time.perf_counter() - start < 0.5


def test_too_many_nodes_is_refused() -> None:
    doc = json.dumps({"openapi": "3.0.0", "x": list(range(5000))})
    with pytest.raises(SpecError, match="nodes"):
        load_document(doc, "application/json", max_nodes=1000)


BLOCK_NESTED = "".join(" " * i + f"k{i}:\n" for i in range(3000)) + " " * 3000 + "v: 1\n"
COMPACT_SEQ = "- " * 50_000 + "x\n"


# libyaml's composer would crash the process on these (it recurses in C without a
# limit); they must be routed to the pure-Python loader and refused.
@pytest.mark.parametrize(
    "text,ctype",
    [
        ("[" * 100_000 + "]" * 100_000, "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/yaml"),
        ("{a: " * 50_000 + "1" + "}" * 50_000, "application/yaml"),
        (BLOCK_NESTED, "application/yaml"),
        (COMPACT_SEQ, "application/yaml"),
        ("[" * 300 + "]" * 300, "application/json"),
        ("[" * 300 + "]" * 300, "application/yaml"),
    ],
)
def test_deep_nesting_is_refused(text: str, ctype: str) -> None:
    with pytest.raises(SpecError, match="nested"):
        load_document(text, ctype)


def test_python_yaml_tags_are_refused() -> None:
    with pytest.raises(SpecError, match="invalid YAML"):
        load_document("x: !!python/object/apply:os.system ['true']\n", "application/yaml")


@pytest.mark.parametrize(
    "doc,match",
    [
        (
            {"openapi": "4.0.0", "info": {"title": "T", "version": "1"}, "paths": {}},
            "unsupported OpenAPI version",
        ),
        ({"swagger": "1.2"}, "unsupported Swagger version"),
        ({"info": {"title": "T"}}, "no 'openapi' field"),
        ([1, 2], "expected a mapping"),
        ({"openapi": "3.0.0", "paths": {}}, "/info"),
        ({"openapi": "3.0.0", "info": {"title": "T", "version": "1"}}, "/paths: missing"),
        (
            {"openapi": "3.0.0", "info": {"title": "T", "version": "1"}, "paths": {"pets": {}}},
            "must start with '/'",
        ),
        (
            {
                "openapi": "3.0.0",
                "info": {"title": "T", "version": "1"},
                "paths": {"/a": {"get": {"parameters": [{"name": "x", "in": "body"}]}}},
            },
            "`in` one of",
        ),
    ],
)
def test_invalid_documents_say_why(doc: object, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        parse_spec(doc)


def test_invalid_json_names_the_position() -> None:
    with pytest.raises(SpecError, match="line 1, column"):
        load_document('{"openapi": ', "application/json")


def test_missing_ids_are_made_up_and_deduplicated() -> None:
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/orders/{id}": {"get": {}, "delete": {"operationId": "dup"}},
            "/orders": {"post": {"operationId": "dup"}},
        },
    }
    ops = parse_spec(doc).operations
    assert [o.operation_id for o in ops] == ["get_orders_id", "dup", "dup_2"]
    # an undeclared path parameter is still an argument
    assert ops[0].arg_locations == {"id": "path"}


def _string_bomb(chars: int = 4096, aliases: int = 100_000) -> str:
    """One long string, anchored once and aliased many times: few nodes, a huge expansion."""
    return "openapi: 3.0.0\ns: &s " + "x" * chars + "\nmany:\n" + "- *s\n" * aliases


def test_string_alias_bomb_is_refused_by_its_parsed_size() -> None:
    # 100,000 aliases of a 4 KB string: about 100k nodes (well under OPENAPI_MAX_NODES) in a
    # 500 KB file, but 400 MB once expanded, which storing or hashing the document would build.
    import tracemalloc

    bomb = _string_bomb()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SpecError, match="OPENAPI_MAX_PARSED_BYTES") as caught:
            load_document(bomb, "application/yaml", max_parsed_bytes=16 * 1024 * 1024)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "alias" in caught.value.message and "16,777,216" in caught.value.message
    assert elapsed < 5, elapsed
    assert peak < 200 * 1024 * 1024, peak


def test_parsed_size_counts_strings_once_per_expansion_only_past_the_cap() -> None:
    doc = load_document(_string_bomb(chars=100, aliases=100), "application/yaml", max_parsed_bytes=64 * 1024)
    assert len(doc["many"]) == 100 and doc["many"][0] == "x" * 100
    with pytest.raises(SpecError, match="OPENAPI_MAX_PARSED_BYTES"):
        load_document(_string_bomb(chars=100, aliases=1000), "application/yaml", max_parsed_bytes=64 * 1024)
