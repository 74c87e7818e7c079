"""Request examples of an OpenAPI operation, in curl and in Python (httpx).

The body comes from the spec's own example when it has one, else from a file the project keeps
(the predict request), else it is built from the schema: the required fields, plus the few
optional ones a working call needs (client credentials, the version to activate). Values a
reader must supply (secrets, tokens) are shell variables in curl and environment variables in
Python, never literal secrets.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docsite.schema_fields import Schema, resolve, without_null

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
ACCESS_TOKEN = "ACCESS_TOKEN"

# Bodies the project keeps as files, relative to the repository root.
EXAMPLE_FILES = {("post", "/v1/predict"): "examples/predict-request.json"}

# Values by field name. `$NAME` is a variable the reader sets (see docs/auth.qmd for where each comes from).
SAMPLE_VALUES: dict[str, Any] = {
    "client_id": "clinic-app",
    "client_secret": "$CLIENT_SECRET",
    "refresh_token": "$REFRESH_TOKEN",
    "token": "$REFRESH_TOKEN",
    "username": "pathologist",
    "password": "$PASSWORD",
    "prediction_id": "d846e521d43e42c7ba0fac514b410b23",
    "version": "v0002",
    "reason": "better recall on the last audit",
}
# Optional fields the example still sends, because the call does not work, or says less, without them.
SHOWN_OPTIONAL = {"client_id", "client_secret", "version", "reason"}


def placeholder(value: Any) -> str | None:
    """The variable name when a value is `$NAME`."""
    if isinstance(value, str) and re.fullmatch(r"\$[A-Z_]+", value):
        return value[1:]
    return None


# --------------------------------------------------------------------------- values from a schema


def sample_pattern(pattern: str) -> str:
    """The shortest string a simple regular expression (anchors, literals, classes, counts) matches."""
    out: list[str] = []
    i, text = 0, pattern.removeprefix("^").removesuffix("$")
    while i < len(text):
        char = text[i]
        if char == "[":
            end = text.index("]", i + 1)
            body = text[i + 1 : end]
            if body.startswith("^"):
                raise ValueError(f"cannot build an example for the pattern {pattern!r}: add it to SAMPLE_VALUES")
            atom, i = body[0], end + 1
        elif char == "\\":
            atom = {"d": "0", "w": "a", "s": " "}.get(text[i + 1], text[i + 1])
            i += 2
        elif char in "()|.*+?{}":
            raise ValueError(f"cannot build an example for the pattern {pattern!r}: add it to SAMPLE_VALUES")
        else:
            atom, i = char, i + 1
        count = 1
        if i < len(text) and text[i] in "?*+{":
            if text[i] == "{":
                end = text.index("}", i)
                count = int(text[i + 1 : end].split(",")[0])
                i = end + 1
            else:
                count = 1 if text[i] == "+" else 0
                i += 1
        out.append(atom * count)
    return "".join(out)


def sample(spec: Schema, schema: Schema, name: str = "") -> Any:
    """A value the schema accepts."""
    if name in SAMPLE_VALUES:
        return SAMPLE_VALUES[name]
    schema, _ = resolve(spec, schema)
    for key in ("examples", "example", "const", "default", "enum"):
        if key in schema and schema[key] is not None:
            value = schema[key]
            return value[0] if key in ("examples", "enum") else value
    branches = without_null(spec, schema)[0]
    if not branches:
        return None
    schema = branches[0][0]
    kind = schema.get("type")
    if kind in ("number", "integer"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        value = (low + high) / 2 if low is not None and high is not None else low if low is not None else high or 0
        return int(value) if kind == "integer" else value
    if kind == "string":
        if "pattern" in schema:
            return sample_pattern(schema["pattern"])
        return "example".ljust(schema.get("minLength", 0), "x")[: schema.get("maxLength", 7)]
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(spec, schema.get("items", {}))] * max(1, schema.get("minItems", 1))
    if kind == "object" or "properties" in schema:
        return sample_object(spec, schema)
    return None


def sample_object(spec: Schema, schema: Schema) -> dict[str, Any]:
    schema, _ = resolve(spec, schema)
    required = list(schema.get("required", []))
    properties = schema.get("properties", {})
    shown = [k for k in required if k in properties] + [k for k in properties if k in SHOWN_OPTIONAL - set(required)]
    return {key: sample(spec, properties[key], key) for key in shown}


# --------------------------------------------------------------------------- the request of an operation


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    content_type: str | None  # None: no body
    body: Any
    authorised: bool  # sends the access token


def media_example(media: Schema) -> Any:
    if "example" in media:
        return media["example"]
    for example in (media.get("examples") or {}).values():
        if isinstance(example, dict) and "value" in example:
            return example["value"]
    return None


def request_of(spec: Schema, method: str, path: str, op: Schema, base_url: str, root: Path) -> Request:
    """The example request of one operation: a form when the operation takes one, else JSON."""
    url = path
    for param in op.get("parameters", []):
        if param.get("in") == "path":
            value = param.get("example", sample(spec, param.get("schema", {}), param["name"]))
            url = url.replace("{" + param["name"] + "}", str(value))
    content = (op.get("requestBody") or {}).get("content") or {}
    content_type = FORM if FORM in content else JSON if JSON in content else None
    body: Any = None
    if content_type is not None:
        media = content[content_type]
        body = media_example(media)
        if body is None and (method, path) in EXAMPLE_FILES:
            body = json.loads((root / EXAMPLE_FILES[(method, path)]).read_text(encoding="utf-8"))
        if body is None:
            body = sample_object(spec, media.get("schema", {}))
    return Request(method, base_url + url, content_type, body, authorised=bool(op.get("security")))


# --------------------------------------------------------------------------- curl and Python


def curl(request: Request) -> str:
    """A curl command; a JSON body is a here-document, so it reads as the JSON it is."""
    words = ["curl -s"]
    if request.method != "get":
        words.append(f"-X {request.method.upper()}")
    words.append(shlex.quote(request.url))
    lines = [" ".join(words)]
    if request.authorised:
        lines.append(f'-H "Authorization: Bearer ${ACCESS_TOKEN}"')
    if request.content_type == FORM:
        for key, value in request.body.items():
            var = placeholder(value)
            lines.append(f'-d {key}="${var}"' if var else f"-d {shlex.quote(f'{key}={value}')}")
    elif request.content_type == JSON:
        lines.append(f'-H "Content-Type: {JSON}"')
        lines.append("--data-binary @- <<'JSON'")
    text = " \\\n  ".join(lines)
    if request.content_type == JSON:
        text += "\n" + json.dumps(request.body, indent=2, ensure_ascii=False) + "\nJSON"
    return text


def python_literal(value: Any, indent: int = 4, level: int = 1) -> str:
    """Python source of a JSON-like value; `$NAME` becomes os.environ["NAME"]."""
    pad, inner = " " * indent * (level - 1), " " * indent * level
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {python_literal(v, indent, level + 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + "\n".join(f"{inner}{python_literal(v, indent, level + 1)}," for v in value) + f"\n{pad}]"
    var = placeholder(value)
    if var:
        return f'os.environ["{var}"]'
    if value is None or isinstance(value, bool):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def python(request: Request) -> str:
    """The same request with httpx; an error answer is a problem document, whose `detail` says what to fix."""
    uses_env = request.authorised or "os.environ" in python_literal(request.body)
    lines = (["import os", ""] if uses_env else []) + ["import httpx", "", f"response = httpx.{request.method}("]
    lines.append(f"    {json.dumps(request.url)},")
    if request.authorised:
        lines.append(f'    headers={{"Authorization": f"Bearer {{os.environ[\'{ACCESS_TOKEN}\']}}"}},')
    if request.content_type is not None:
        keyword = "data" if request.content_type == FORM else "json"
        lines.append(f"    {keyword}={python_literal(request.body, level=2)},")
    lines += [
        ")",
        "if response.is_error:  # application/problem+json",
        "    problem = response.json()",
        "    raise SystemExit(f\"{response.status_code} {problem['title']}: {problem['detail']}\")",
        "print(response.json())",
    ]
    return "\n".join(lines)
