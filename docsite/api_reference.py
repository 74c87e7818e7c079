"""docs/api-reference.qmd, generated from the committed OpenAPI document docs/api/openapi.json.

The document is the one source: every operation it holds gets a section (method and path as
an h3 with a stable id, `anchor()`), grouped by tag in the document's order, with its access
rule, parameters, request body, responses and examples. docs/api.qmd (architecture,
conventions) and docs/auth.qmd (tokens, scopes) are linked, not repeated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from docsite import api_examples
from docsite.md import code, fenced, front_matter, table
from docsite.schema_fields import FIELD_HEADER, Schema, describe, fields, resolve

SPEC = Path("docs/api/openapi.json")
SERVE_CONFIG = Path("serve/config.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# What a client should do on each error status; the spec says what it means.
ADVICE = {
    400: "Fix the request and send it again: `error` holds the OAuth 2 code, `detail` the field at fault.",
    401: "Get a new access token (renew it with the refresh token, or ask for a new pair), then retry once.",
    403: "Do not retry: the token lacks the scope the operation lists; ask the operator for a client that has it.",
    404: "Check the id: a prediction made by another client is not found either.",
    409: "Do not retry unchanged: `detail` says which state conflicts.",
    413: "Send a smaller body, for example fewer records per request.",
    415: "Send the body as `application/json` (the token endpoints also take a form), without `Content-Encoding`.",
    422: "Fix each field `invalid_params` names, within the constraint it states, and send again.",
    429: "Wait the seconds the `Retry-After` header gives, then retry.",
    503: "Wait the seconds the `Retry-After` header gives, then retry; the model is starting or overloaded.",
}
# A public operation's 401 is about the client's own credentials, not an access token.
PUBLIC_ADVICE = {401: "Check the client id and secret (`invalid_client`): the answer does not say which is wrong."}


def anchor(method: str, path: str) -> str:
    """The id of an operation's heading: `post-v1-predict`, `get-v1-predictions-prediction-id`."""
    return re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")


def operations(spec: Schema) -> Iterator[tuple[str, str, Schema]]:
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                op = item[method]
                # an operation without its own `security` inherits the document's (OpenAPI 3.1, 4.8.10)
                yield method, path, {**op, "security": op.get("security", spec.get("security", []))}


def scopes(op: Schema) -> list[list[str]]:
    """The alternatives of an operation's security: each is the scopes one token must hold together."""
    return [sorted({s for scheme in req.values() for s in scheme}) for req in op.get("security") or []]


def scope_list(op: Schema) -> str:
    """The scopes an operation accepts, as `a`, `b` or `c`; empty for a public one."""
    named = [" and ".join(code(s) for s in alt) or "any scope" for alt in scopes(op)]
    return ", ".join(named[:-1]) + f" or {named[-1]}" if len(named) > 1 else "".join(named)


def access(op: Schema) -> str:
    """The access rule in words; a public operation needs no access token."""
    if not scopes(op):
        return "public (no access token)"
    plural = "one of the scopes" if len(scopes(op)) > 1 else "the scope"
    return f"an access token with {plural} {scope_list(op)}"


def advice(status: str, op: Schema) -> str:
    if not status.isdigit() or int(status) < 400:
        return ""
    code_ = int(status)
    if not op.get("security") and code_ in PUBLIC_ADVICE:
        return PUBLIC_ADVICE[code_]
    if code_ in ADVICE:
        return ADVICE[code_]
    return "Read `detail`: it says what to fix." if code_ < 500 else "Retry later; tell the operator if it persists."


def groups(spec: Schema) -> list[tuple[str, list[tuple[str, str, Schema]]]]:
    """Operations by tag: the document's tag order, then tags it does not list, then untagged ones."""
    order = [t["name"] for t in spec.get("tags", [])]
    by_tag: dict[str, list[tuple[str, str, Schema]]] = {}
    for method, path, op in operations(spec):
        tag = (op.get("tags") or ["other"])[0]
        by_tag.setdefault(tag, []).append((method, path, op))
        if tag not in order:
            order.append(tag)
    return [(tag, by_tag[tag]) for tag in order if tag in by_tag]


def schema_label(spec: Schema, schema: Schema) -> str:
    resolved, name = resolve(spec, schema)
    return name or resolved.get("title") or resolved.get("type", "any")


# --------------------------------------------------------------------------- sections


def overview(spec: Schema) -> str:
    rows = [
        (
            f"[{code(method.upper() + ' ' + path)}](#{anchor(method, path)})",
            scope_list(op) or "public",
            op.get("summary", ""),
        )
        for _, ops in groups(spec)
        for method, path, op in ops
    ]
    return "## Operations {#operations}\n\n" + table(
        ("Operation", "Scope", "Summary"), rows, "Every operation and the scope it needs"
    )


def errors(spec: Schema) -> str:
    meaning: dict[str, str] = {}
    for _, _, op in operations(spec):
        for status, response in op.get("responses", {}).items():
            if status.isdigit() and int(status) >= 400:
                meaning.setdefault(status, response.get("description", ""))
    problem = spec.get("components", {}).get("schemas", {}).get("Problem")
    parts = [
        "## Errors {#errors}\n",
        "Every error answer is `application/problem+json` (RFC 9457), never a stack trace. The statuses "
        "the operations declare, what they mean and what a client should do (each operation lists its own "
        "below; [the API guide](api.qmd#conventions) lists every problem type, and "
        "[Authentication: errors](auth.qmd#errors) each `error` code of `400`, `401` and `403`):\n",
        table(
            ("Status", "Meaning", "What the client should do"),
            [(code(s), meaning[s], advice(s, {"security": [{}]})) for s in sorted(meaning)],
            "Error statuses",
        ),
    ]
    if problem is not None:
        rows = [f.row() for f in fields(spec, problem)]
        parts += ["\nThe fields of a problem document:\n", table(FIELD_HEADER, rows, "Fields of a problem document")]
    return "\n".join(parts)


def parameters(spec: Schema, op: Schema, ident: str, name: str) -> str:
    params = op.get("parameters") or []
    if not params:
        return ""
    rows = []
    for param in params:
        param, _ = resolve(spec, param)
        f = describe(spec, param["name"], param.get("schema", {}), bool(param.get("required")))
        text = param.get("description") or f.description
        rows.append((code(f.name), param.get("in", ""), f.type, f.row()[2], f.range, f.constraints, text))
    header = ("Name", "In", "Type", "Required", "Range", "Length, pattern or values", "Description")
    return f"#### Parameters {{#{ident}-parameters}}\n\n" + table(header, rows, f"Parameters of {name}")


def request_body(spec: Schema, op: Schema, ident: str, name: str) -> str:
    body = op.get("requestBody")
    if not body:
        return ""
    body, _ = resolve(spec, body)
    content: dict[str, Schema] = body.get("content", {})
    by_schema: dict[str, list[str]] = {}
    for media_type, media in content.items():
        by_schema.setdefault(json.dumps(media.get("schema", {}), sort_keys=True), []).append(media_type)
    parts = [f"#### Request body {{#{ident}-request}}\n"]
    if body.get("description"):
        parts.append(body["description"] + "\n")
    for key, media_types in by_schema.items():
        schema = json.loads(key)
        kinds = " or ".join(code(m) for m in media_types)
        required = "required" if body.get("required") else "optional"
        parts.append(f"A body is {required}, sent as {kinds}: {code(schema_label(spec, schema))}.\n")
        rows = [f.row() for f in fields(spec, schema)]
        if rows:
            caption = f"Fields of the {schema_label(spec, schema)} body of {name}"
            parts.append(table(FIELD_HEADER, rows, caption))
    return "\n".join(parts)


def link_target(spec: Schema, link: Schema) -> str:
    """Where an OpenAPI link leads, as a link to that operation's section, with the values it carries."""
    ref = str(link.get("operationRef", ""))
    target = ""
    if ref.startswith("#/paths/"):
        path, _, method = ref.removeprefix("#/paths/").rpartition("/")
        path = path.replace("~1", "/").replace("~0", "~")
        target = f"[{code(method.upper() + ' ' + path)}](#{anchor(method, path)})"
    else:
        for method, path, op in operations(spec):
            if op.get("operationId") == link.get("operationId"):
                target = f"[{code(method.upper() + ' ' + path)}](#{anchor(method, path)})"
    values = ", ".join(f"{code(k)} from {code(v)}" for k, v in (link.get("parameters") or {}).items())
    return f"({target}" + (f", with {values})" if values else ")") if target else ""


def responses(spec: Schema, op: Schema, ident: str, name: str) -> str:
    rows, tables, links = [], [], []
    for status, response in op.get("responses", {}).items():
        response, _ = resolve(spec, response)
        content: dict[str, Schema] = response.get("content", {})
        bodies = ", ".join(f"{code(schema_label(spec, m.get('schema', {})))} ({code(t)})" for t, m in content.items())
        rows.append((code(status), response.get("description", ""), bodies or "none", advice(status, op)))
        if status.startswith("2"):
            for media in content.values():
                found = [f.row() for f in fields(spec, media.get("schema", {}))]
                if found:
                    label = schema_label(spec, media.get("schema", {}))
                    tables.append(table(FIELD_HEADER, found, f"Fields of the {status} answer of {name} ({label})"))
            for link_name, link in (response.get("links") or {}).items():
                links.append(f"- {code(link_name)}: {link.get('description', '')} {link_target(spec, link)}")
    parts = [
        f"#### Responses {{#{ident}-responses}}\n",
        table(("Status", "Meaning", "Body", "What the client should do"), rows, f"Responses of {name}"),
    ]
    parts += ["\n" + t for t in tables]
    if links:
        parts.append("\nLinks from the answer to the next call:\n\n" + "\n".join(links) + "\n")
    return "\n".join(parts)


def examples(spec: Schema, method: str, path: str, op: Schema, base_url: str, root: Path) -> str:
    request = api_examples.request_of(spec, method, path, op, base_url, root)
    return "\n".join(
        [
            f"#### Examples {{#{anchor(method, path)}-examples}}\n",
            fenced("bash", api_examples.curl(request)),
            fenced("python", api_examples.python(request)),
        ]
    )


def operation(spec: Schema, method: str, path: str, op: Schema, base_url: str, root: Path) -> str:
    ident, name = anchor(method, path), f"{method.upper()} {path}"
    parts = [f"### {code(name)} {{#{ident}}}\n"]
    if op.get("summary"):
        parts.append(op["summary"].rstrip(".") + ".\n")
    if op.get("description"):
        parts.append(op["description"] + "\n")
    scope_link = " ([what each scope allows](auth.qmd#scopes))" if scopes(op) else ""
    parts.append(f"Access: {access(op)}{scope_link}.\n")
    for section in (
        parameters(spec, op, ident, name),
        request_body(spec, op, ident, name),
        responses(spec, op, ident, name),
        examples(spec, method, path, op, base_url, root),
    ):
        if section:
            parts.append(section)
    return "\n".join(parts)


def intro(spec: Schema, base_url: str) -> str:
    info = spec.get("info", {})
    return "\n".join(
        [
            f"{info.get('summary', '')}\n",
            f"{info.get('description', '')}\n",
            f"This page is generated, each time the site is built, from the committed OpenAPI "
            f"{spec.get('openapi', '')} document [`docs/api/openapi.json`](api/openapi.json) "
            f"({info.get('title', '')} {info.get('version', '')}), which `make openapi` regenerates from the "
            "service: it lists exactly the operations the service declares. For the architecture, the "
            "conventions every endpoint follows and the limits, read [the API guide](api.qmd); for getting, "
            "renewing and revoking tokens and what each scope allows, read [Authentication](auth.qmd).\n",
            f"The examples call `{base_url}` (the address in `serve/config.yaml`) and read the access token "
            f"from `{api_examples.ACCESS_TOKEN}`; the token endpoints' examples read `CLIENT_SECRET` and "
            "`REFRESH_TOKEN` ([Authentication: token lifecycle](auth.qmd#token-lifecycle)).\n",
        ]
    )


def render(spec: Schema, base_url: str, root: Path) -> str:
    """The page for an OpenAPI document; `root` holds the example files it names."""
    parts = [
        front_matter(title="API reference", lang="en", toc=True),
        "<!-- Generated by docsite/api_reference.py from docs/api/openapi.json at each build; do not edit. -->\n",
        intro(spec, base_url),
    ]
    parts += [overview(spec), errors(spec)]
    for tag, ops in groups(spec):
        description = next((t.get("description", "") for t in spec.get("tags", []) if t["name"] == tag), "")
        heading = f"## {tag.capitalize()} {{#tag-{anchor(tag, '')}}}\n"
        parts.append(heading + (f"\n{description}\n" if description else ""))
        parts += [operation(spec, method, path, op, base_url, root) for method, path, op in ops]
    return "\n".join(parts)


def base_url_of(root: Path) -> str:
    http: dict[str, Any] = (yaml.safe_load((root / SERVE_CONFIG).read_text(encoding="utf-8")) or {}).get(
        "http_options", {}
    )
    return f"http://{http.get('host', '127.0.0.1')}:{http.get('port', 8000)}"


def page(root: Path) -> str:
    """docs/api-reference.qmd for the project at `root`."""
    spec = json.loads((root / SPEC).read_text(encoding="utf-8"))
    return render(spec, base_url_of(root), root)
