"""The building blocks of the generated pages, on schemas the committed spec does not use (yet):
`allOf`, exclusive bounds, unions, cycles, the spec's own examples, inherited security, half-open
contract ranges. Every generated example value is checked against its schema with jsonschema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from docsite import api_examples, api_reference, contract_page, md
from docsite.schema_fields import fields, resolve
from modelship.contract import parse_contract

pytestmark = [
    pytest.mark.requirement("C9.8", "C9.10"),
    pytest.mark.catalogue(
        part="Docs: schema-to-table, example values and Markdown helpers of the generated pages",
        scope="unit",
        strategy="example-based, property-based",
        tool="pytest, jsonschema",
    ),
]

ROOT = Path(__file__).resolve().parents[2]

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "toy", "version": "0"},
    "security": [{"oauth2": ["read"]}],
    "components": {
        "schemas": {
            "Base": {"type": "object", "properties": {"id": {"type": "string", "pattern": "^id-[a-c]{3}[0-9]+$"}}},
            "Dose": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {
                        "type": "object",
                        "required": ["amount", "id"],
                        "properties": {
                            "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 2.5},
                            "count": {"type": "integer", "minimum": 1, "exclusiveMaximum": 10},
                            "flag": {"type": "boolean"},
                            "either": {"anyOf": [{"type": "string", "minLength": 2}, {"type": "integer"}]},
                            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 3},
                            "note": {"type": "string", "minLength": 3, "maxLength": 3},
                        },
                    },
                ]
            },
            "Loop": {"$ref": "#/components/schemas/Loop"},
        },
        "securitySchemes": {"oauth2": {"type": "oauth2", "flows": {}}},
    },
    "paths": {
        "/doses/{dose_id}": {
            "post": {
                "operationId": "make_dose",
                "summary": "Make a dose",
                "parameters": [{"name": "dose_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/Dose"},
                            "examples": {"first": {"value": {"amount": 1.5, "id": "id-abc1"}}},
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "Made",
                        "links": {"Again": {"operationId": "make_dose", "description": "Once more."}},
                    },
                    "418": {"description": "A teapot"},
                    "507": {"description": "Full"},
                },
            }
        }
    },
}


def dose_fields() -> dict[str, tuple[str, ...]]:
    return {f.name: f.row() for f in fields(SPEC, {"$ref": "#/components/schemas/Dose"})}


def test_all_of_is_merged_and_bounds_say_whether_they_are_exclusive() -> None:
    rows = dose_fields()
    assert list(rows) == ["amount", "id", "count", "flag", "either", "tags", "note"]
    assert rows["amount"][2:4] == ("yes", "> 0 and ≤ 2.5")
    assert rows["count"][3] == "≥ 1 and < 10"
    assert rows["id"][4] == "pattern `^id-[a-c]{3}[0-9]+$`"
    assert rows["either"][1] == "string or integer" and rows["either"][4] == "at least 2 characters"
    assert rows["tags"][1] == "array of string" and rows["note"][4] == "exactly 3 characters"


def test_a_reference_cycle_or_a_remote_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="refers to itself"):
        resolve(SPEC, {"$ref": "#/components/schemas/Loop"})
    with pytest.raises(ValueError, match="only local references"):
        resolve(SPEC, {"$ref": "https://example.invalid/schema.json"})


@pytest.mark.parametrize("name", ["Dose", "Base"])
def test_sampled_objects_validate_against_their_schema(name) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    full = {k: api_examples.sample(SPEC, s, k) for k, s in resolve(SPEC, schema)[0]["properties"].items()}
    Draft202012Validator(schema).validate(full)


def test_every_schema_of_the_committed_spec_gets_a_valid_sample() -> None:
    spec = json.loads((ROOT / "docs" / "api" / "openapi.json").read_text(encoding="utf-8"))
    for name in spec["components"]["schemas"]:
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        value = api_examples.sample(spec, schema)
        if not isinstance(value, str) or not api_examples.placeholder(value):
            Draft202012Validator(schema).validate(value)


def test_patterns_beyond_the_simple_subset_ask_for_a_sample_value() -> None:
    assert api_examples.sample_pattern(r"^v\d{4,}x?$") == "v0000"
    for pattern in ("^(a|b)$", "^[^x]+$", "^a.b$"):
        with pytest.raises(ValueError, match="add it to SAMPLE_VALUES"):
            api_examples.sample_pattern(pattern)


def test_the_spec_s_own_example_and_security_are_used(tmp_path) -> None:
    method, path, op = next(api_reference.operations(SPEC))
    assert op["security"] == [{"oauth2": ["read"]}]  # inherited from the document
    request = api_examples.request_of(SPEC, method, path, op, "http://h:1", tmp_path)
    assert request.url == "http://h:1/doses/0" and request.body == {"amount": 1.5, "id": "id-abc1"}
    text = api_reference.render(SPEC, "http://h:1", tmp_path)
    assert "Access: an access token with the scope `read` ([what each scope allows](auth.qmd#scopes))." in text
    assert "| `418` | A teapot | none | Read `detail`: it says what to fix. |" in text
    assert "| `507` | Full | none | Retry later; tell the operator if it persists. |" in text
    assert "- `Again`: Once more. ([`POST /doses/{dose_id}`](#post-doses-dose-id))" in text
    assert "## Other {#tag-other}" in text


def test_markdown_helpers_keep_cells_and_code_intact() -> None:
    assert md.cell("a | b\nc") == "a \\| b c"
    assert md.code("x`y") == "``x`y``" and md.code("`x") == "`` `x ``"
    assert md.fenced("bash", "echo ```").startswith("````bash\n")
    with pytest.raises(ValueError, match="a row of 1 cells under a header of 2"):
        md.table(("a", "b"), [("only",)])


def test_contract_ranges_open_on_one_side_and_decreasing_features() -> None:
    contract = parse_contract(
        {
            "name": "toy",
            "target": {"name": "y", "classes": ["yes", "no"], "positive": "yes"},
            "features": [
                {"name": "low", "type": "float", "min": 0.25, "description": "at least"},
                {"name": "high", "type": "int", "max": 9, "monotonic": "decreasing", "description": "at most"},
                {"name": "free", "type": "float", "description": "unbounded"},
            ],
        }
    )
    rows = {row[0]: row for row in contract_page.feature_rows(contract)}
    assert rows["`low`"][3] == "≥ 0.25" and rows["`high`"][3] == "≤ 9" and rows["`free`"][3] == "any"
    assert rows["`high`"][5] == "decreasing: a larger value never raises the probability of `yes`"
    assert "**toy** (contract `toy`, version 1)" in contract_page.render(contract, "toy.yaml")
