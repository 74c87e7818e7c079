"""JSON Schema (as OpenAPI 3.1 holds it) to the rows of a field table.

`$ref` is followed, `allOf` merged, and an `anyOf`/`oneOf` with `null` read as a nullable value;
nested objects and arrays of objects are spelled out as `parent.child` and `items[].child`, so
one table shows every field a client sends or reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from docsite.md import code

Schema = dict[str, Any]

FIELD_HEADER = ("Field", "Type", "Required", "Range", "Length, pattern or values", "Default", "Description")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    range: str
    constraints: str
    default: str
    description: str

    def row(self) -> tuple[str, ...]:
        return (
            code(self.name),
            self.type,
            "yes" if self.required else "no",
            self.range,
            self.constraints,
            self.default,
            self.description,
        )


def ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def lookup(spec: Schema, ref: str) -> Schema:
    """The schema a local `$ref` (`#/components/schemas/X`) points to."""
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are read, not {ref!r}")
    node: Any = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"the reference {ref!r} points to nothing in the OpenAPI document")
        node = node[part]
    if not isinstance(node, dict):
        raise ValueError(f"the reference {ref!r} is not a schema")
    return node


def resolve(spec: Schema, schema: Schema) -> tuple[Schema, str]:
    """The schema with its `$ref` chain and `allOf` folded in, and the name of the first component it names.

    Keys written beside a `$ref` (a property's own description) win over the referenced schema's.
    """
    name = ""
    seen: set[str] = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:
            raise ValueError(f"the reference {ref!r} refers to itself")
        seen.add(ref)
        name = name or ref_name(ref)
        local = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**lookup(spec, ref), **local}
    if "allOf" in schema:
        merged: Schema = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            sub, sub_name = resolve(spec, part)
            name = name or sub_name
            for key, value in sub.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = sorted({*merged.get("required", []), *value})
                else:
                    merged.setdefault(key, value)
        schema = merged
    return schema, name


def alternatives(schema: Schema) -> list[Schema]:
    """The branches of an `anyOf`/`oneOf`, or the schema itself."""
    return list(schema.get("anyOf") or schema.get("oneOf") or [schema])


def without_null(spec: Schema, schema: Schema) -> tuple[list[tuple[Schema, str]], bool]:
    """The non-null branches (resolved) and whether null is allowed."""
    branches = [resolve(spec, b) for b in alternatives(schema)]
    nullable = any(b.get("type") == "null" for b, _ in branches)
    kept = [(b, n) for b, n in branches if b.get("type") != "null"]
    return kept, nullable


def number(value: float | int) -> str:
    """A bound as written in the contract: 50.0 as 50, 0.5 as 0.5."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def type_text(spec: Schema, schema: Schema) -> str:
    branches, nullable = without_null(spec, schema)
    names = []
    for branch, name in branches:
        kind = branch.get("type", "any")
        if kind == "array":
            item, item_name = resolve(spec, branch.get("items", {}))
            text = f"array of {item_name or type_text(spec, item)}"
        elif kind == "object" and name:
            text = f"object ({name})"
        elif kind == "object" and isinstance(branch.get("additionalProperties"), dict):
            text = f"object of {type_text(spec, branch['additionalProperties'])}"
        else:
            text = str(kind)
        unit = branch.get("x-unit")
        names.append(f"{text} ({unit})" if unit else text)
    return " or ".join(dict.fromkeys(names + (["null"] if nullable else [])))


def range_text(spec: Schema, schema: Schema) -> str:
    """Numeric bounds: ≥ and ≤ for inclusive ones, > and < for exclusive ones."""
    parts: list[str] = []
    for branch, _ in without_null(spec, schema)[0]:
        for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
            if isinstance(branch.get(key), int | float) and not isinstance(branch.get(key), bool):
                parts.append(f"{sign} {number(branch[key])}")
    return " and ".join(parts)


def literal(value: Any) -> str:
    """A value as code: strings bare, anything else as JSON."""
    return code(value if isinstance(value, str) else json.dumps(value))


def _span(low: Any, high: Any, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low} to {high} {unit}" if low != high else f"exactly {low} {unit}"
    if high is not None:
        return f"at most {high} {unit}"
    return f"at least {low} {unit}" if low else ""


def constraints_text(spec: Schema, schema: Schema) -> str:
    """Length, item count, pattern and allowed values, in words."""
    parts: list[str] = []
    for branch, _ in without_null(spec, schema)[0]:
        parts.append(_span(branch.get("minLength"), branch.get("maxLength"), "characters"))
        parts.append(_span(branch.get("minItems"), branch.get("maxItems"), "items"))
        if "pattern" in branch:
            parts.append("pattern " + code(branch["pattern"]))
        if "const" in branch:
            parts.append("always " + literal(branch["const"]))
        if "enum" in branch:
            parts.append("one of " + ", ".join(literal(v) for v in branch["enum"]))
    return "; ".join(p for p in parts if p)


def description_of(spec: Schema, schema: Schema) -> str:
    if schema.get("description"):
        return str(schema["description"])
    for branch, _ in without_null(spec, schema)[0]:
        if branch.get("description"):
            return str(branch["description"])
    return ""


def describe(spec: Schema, name: str, schema: Schema, required: bool) -> Field:
    resolved, _ = resolve(spec, schema)
    return Field(
        name=name,
        type=type_text(spec, schema),
        required=required,
        range=range_text(spec, resolved),
        constraints=constraints_text(spec, resolved),
        default=code(json.dumps(resolved["default"], ensure_ascii=False)) if "default" in resolved else "",
        description=description_of(spec, resolved),
    )


def object_of(spec: Schema, schema: Schema) -> Schema | None:
    """The object schema behind a value (itself, its non-null branch, or its array items), if there is one."""
    branches = without_null(spec, schema)[0]
    if len(branches) != 1:
        return None
    branch = branches[0][0]
    if branch.get("type") == "array":
        return object_of(spec, branch.get("items", {}))
    return branch if branch.get("properties") else None


def fields(spec: Schema, schema: Schema, prefix: str = "", depth: int = 0) -> list[Field]:
    """One Field per property, nested ones after their parent."""
    if depth > 8:
        raise ValueError(f"the schema nests deeper than 8 levels at {prefix!r}; is it recursive?")
    resolved, _ = resolve(spec, schema)
    required = list(resolved.get("required", []))
    properties = resolved.get("properties", {})
    # required ones first, in their listed order: for a record that is the data contract's order
    order = [k for k in required if k in properties] + [k for k in properties if k not in required]
    out: list[Field] = []
    for key in order:
        sub = properties[key]
        out.append(describe(spec, prefix + key, sub, key in required))
        nested = object_of(spec, sub)
        if nested is not None:
            is_array = any(b.get("type") == "array" for b, _ in without_null(spec, sub)[0])
            out.extend(fields(spec, nested, prefix + key + ("[]." if is_array else "."), depth + 1))
    return out
