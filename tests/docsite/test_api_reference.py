"""docs/api-reference.qmd as docsite.api_reference generates it from the committed OpenAPI document.

The checks read the page as a reader would (its headings, tables and code blocks) and compare it
with the document itself, so an operation, a scope or a status the page drops is found, and the
same check run on a page made from a trimmed copy of the document proves it would be.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from docsite import api_reference
from docsite.api_reference import anchor, operations, page, render, scopes
from docsite.schema_fields import number
from modelship.contract import load_contract
from tests.docsite.tiny_site import broken_fragments, outline, render_alone

pytestmark = [
    pytest.mark.requirement("C9.8", "C9.10"),
    pytest.mark.catalogue(
        part="Docs: the API reference page generated from docs/api/openapi.json",
        scope="integration",
        strategy="example-based, inspection",
        tool="pytest, jsonschema, bash -n, smalldocs render",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
SPEC_FILE = ROOT / "docs" / "api" / "openapi.json"
HEADING = re.compile(r"^### `(?P<name>[A-Z]+ \S+)` \{#(?P<id>[a-z0-9-]+)\}$", re.M)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def text() -> str:
    return page(ROOT)


def sections(text: str) -> dict[str, str]:
    """Each operation's section of the page, by its heading's `METHOD path`."""
    found = list(HEADING.finditer(text))
    out = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        body = text[match.end() : end]
        out[match["name"]] = re.split(r"^## ", body, flags=re.M)[0]
    return out


def access_line(section: str) -> str:
    lines = [line for line in section.splitlines() if line.startswith("Access: ")]
    assert len(lines) == 1, section[:400]
    return lines[0]


def table_rows(section: str, caption_start: str) -> list[list[str]]:
    """The body rows of the table whose caption starts so, as cell texts."""
    match = re.search(r"((?:^\|.*\|\n)+)\n: " + re.escape(caption_start), section, re.M)
    assert match, f"no table captioned {caption_start!r}"
    lines = match.group(1).strip().splitlines()[2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def missing_from(text: str, spec: dict[str, Any]) -> list[str]:
    """What the page lacks of the document: operations, their ids, scopes, statuses."""
    found = sections(text)
    problems = []
    for method, path, op in operations(spec):
        name = f"{method.upper()} {path}"
        if name not in found:
            problems.append(f"{name}: no section")
            continue
        if f"{{#{anchor(method, path)}}}" not in text or f"](#{anchor(method, path)})" not in text:
            problems.append(f"{name}: no heading id or no link to it from the operations table")
        rule = access_line(found[name])
        wanted = sorted({s for alt in scopes(op) for s in alt})
        listed = [row for row in table_rows(text, "Every operation") if f"(#{anchor(method, path)})" in row[0]]
        if len(listed) != 1 or sorted(re.findall(r"`([^`]+)`", listed[0][1])) != wanted:
            problems.append(f"{name}: the operations table does not list it once with {wanted or 'public'}")
        named = re.findall(r"`([^`]+)`", rule)
        if wanted != sorted(named) or (not wanted and "public" not in rule):
            problems.append(f"{name}: access says {rule!r}, the document requires {wanted or 'nothing'}")
        statuses = [row[0].strip("`") for row in table_rows(found[name], f"Responses of {name}")]
        if statuses != list(op.get("responses", {})):
            problems.append(f"{name}: statuses {statuses}, the document has {list(op.get('responses', {}))}")
    return problems


def test_every_operation_appears_with_its_method_path_scopes_and_statuses(text, spec) -> None:
    # the walk over the document misses no operation, whatever their number
    methods = {"get", "put", "post", "patch", "delete"}
    listed = [(m, p) for p, item in spec["paths"].items() for m in item if m in methods]
    assert sorted((m, p) for m, p, _ in operations(spec)) == sorted(listed) and listed
    assert missing_from(text, spec) == []


def test_the_check_finds_a_missing_operation_or_scope(spec) -> None:
    trimmed = copy.deepcopy(spec)
    del trimmed["paths"]["/v1/feedback"]["post"]
    text = render(trimmed, "http://127.0.0.1:8000", ROOT)
    assert missing_from(text, spec) == ["POST /v1/feedback: no section"]

    rescoped = copy.deepcopy(spec)
    rescoped["paths"]["/v1/model"]["get"]["security"] = [{"oauth2": ["predict"]}]
    table_problem, problem = missing_from(render(rescoped, "http://127.0.0.1:8000", ROOT), spec)
    assert (
        table_problem
        == "GET /v1/model: the operations table does not list it once with ['admin', 'monitor', 'predict']"
    )
    assert problem.startswith("GET /v1/model: access says 'Access: an access token with the scope `predict` (")
    assert problem.endswith("the document requires ['admin', 'monitor', 'predict']")

    no_status = copy.deepcopy(spec)
    del no_status["paths"]["/v1/predict"]["post"]["responses"]["503"]
    assert len(missing_from(render(no_status, "http://127.0.0.1:8000", ROOT), spec)) == 1


def test_headings_are_in_order_with_groups_by_tag(text, spec) -> None:
    levels = [len(m.group(1)) for m in re.finditer(r"^(#{2,6}) ", text, re.M)]
    assert levels[0] == 2 and all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False))
    groups = re.findall(r"^## (\w+) \{#tag-(\w+)\}$", text, re.M)
    assert [g[1] for g in groups] == [t["name"] for t in spec["tags"]]
    # each operation sits under the h2 of its first tag
    for method, path, op in operations(spec):
        before = text[: text.index(f"{{#{anchor(method, path)}}}")]
        assert re.findall(r"^## \w+ \{#tag-(\w+)\}$", before, re.M)[-1] == op["tags"][0]


def test_the_predict_fields_show_the_contract_ranges(text) -> None:
    contract = load_contract(ROOT / "contracts" / "wdbc.yaml")
    rows = table_rows(sections(text)["POST /v1/predict"], "Fields of the PredictRequest body")
    by_name = {row[0].strip("`"): row for row in rows}
    assert by_name["records"][4] == "1 to 100 items"
    for feature in contract.features:
        row = by_name[f"records[].{feature.name}"]
        assert row[2] == "yes"
        assert row[3] == f"≥ {number(feature.min)} and ≤ {number(feature.max)}", row
        assert row[6] == feature.description
        assert feature.unit in row[1]
    assert len([n for n in by_name if n.startswith("records[].")]) == len(contract.features)


def test_every_error_status_says_what_it_means_and_what_to_do(text, spec) -> None:
    found = sections(text)
    for method, path, op in operations(spec):
        name = f"{method.upper()} {path}"
        rows = {row[0].strip("`"): row for row in table_rows(found[name], f"Responses of {name}")}
        for status, response in op["responses"].items():
            assert rows[status][1] == " ".join(response["description"].split())
            if int(status) >= 400:
                assert "Problem" in rows[status][2] and "application/problem+json" in rows[status][2]
                assert len(rows[status][3]) > 20, (name, status, rows[status])


def heredoc(command: str) -> Any:
    """The JSON a curl command sends on its standard input, or None."""
    body = command.partition("<<'JSON'\n")[2]
    return json.loads(body.rstrip().removesuffix("JSON")) if body else None


def blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", section, re.M | re.S)


def request_schema(spec: dict[str, Any], op: dict[str, Any], media_type: str) -> Draft202012Validator:
    schema = op["requestBody"]["content"][media_type]["schema"]
    return Draft202012Validator({**schema, "components": spec["components"]})


def path_pattern(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(path)) + "$")


def test_curl_examples_are_valid_shell_and_send_bodies_the_schema_accepts(text, spec) -> None:
    found = sections(text)
    checked_bodies = 0
    for method, path, op in operations(spec):
        name = f"{method.upper()} {path}"
        (command,) = blocks(found[name], "bash")
        subprocess.run(["bash", "-n"], input=command, text=True, check=True)
        head = command.partition("<<'JSON'\n")[0]
        words = shlex.split(head.replace("\\\n", " "))
        assert words[0] == "curl"
        url = next(w for w in words if w.startswith("http://"))
        assert path_pattern(path).search(url), (url, path)
        assert ("-X" not in words and method == "get") or words[words.index("-X") + 1] == method.upper()
        assert ("Authorization: Bearer $ACCESS_TOKEN" in words) == bool(op["security"])
        content = (op.get("requestBody") or {}).get("content", {})
        body = heredoc(command)
        if body is not None:
            request_schema(spec, op, "application/json").validate(body)
            checked_bodies += 1
        elif "-d" in words:
            form = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "-d")
            request_schema(spec, op, "application/x-www-form-urlencoded").validate(form)
            checked_bodies += 1
        else:
            assert not content, f"{name} takes a body but its example sends none"
    assert checked_bodies == 6


def test_the_token_endpoints_are_form_posts_and_predict_sends_the_example_file(text) -> None:
    found = sections(text)
    for name in ("POST /v1/auth/token", "POST /v1/auth/refresh", "POST /v1/auth/revoke"):
        (command,) = blocks(found[name], "bash")
        assert "-d " in command and "application/json" not in command
    (command,) = blocks(found["POST /v1/auth/token"], "bash")
    assert "-d grant_type=client_credentials" in command and '-d client_secret="$CLIENT_SECRET"' in command
    (command,) = blocks(found["POST /v1/predict"], "bash")
    sent = heredoc(command)
    assert sent == json.loads((ROOT / "examples" / "predict-request.json").read_text(encoding="utf-8"))


class EnvironmentToText(ast.NodeTransformer):
    """os.environ["X"] -> "x": the value a reader's environment would give, for literal_eval."""

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if ast.unparse(node.value) == "os.environ":
            return ast.Constant("from-the-environment")
        return self.generic_visit(node)


def test_python_examples_compile_and_send_bodies_the_schema_accepts(text, spec) -> None:
    found = sections(text)
    for method, path, op in operations(spec):
        name = f"{method.upper()} {path}"
        (source,) = blocks(found[name], "python")
        tree = ast.parse(source)
        compile(tree, name, "exec")
        call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == f"httpx.{method}")
        assert path_pattern(path).search(ast.literal_eval(call.args[0]))
        keywords = {k.arg: k.value for k in call.keywords}
        assert ("headers" in keywords) == bool(op["security"])
        for keyword, media_type in (("json", "application/json"), ("data", "application/x-www-form-urlencoded")):
            if keyword in keywords:
                body = ast.literal_eval(EnvironmentToText().visit(keywords[keyword]))
                request_schema(spec, op, media_type).validate(body)


def test_the_page_renders_with_smalldocs_without_warnings(tmp_path, text, spec) -> None:
    rendered = render_alone(
        tmp_path,
        "api-reference.qmd",
        text,
        stubs={"api.qmd": ["Conventions"], "auth.qmd": ["Scopes", "Token lifecycle", "Errors"]},
        files={"api/openapi.json": SPEC_FILE},
    )
    assert rendered.warnings == []
    found = outline(rendered.html)
    assert [h for h in found.headings if h[0] == 1] == [(1, "API reference")]
    assert all(b[0] <= a[0] + 1 for a, b in zip(found.headings, found.headings[1:], strict=False))
    for method, path, _ in operations(spec):
        assert anchor(method, path) in found.ids
        assert (3, f"{method.upper()} {path}") in found.headings
    assert found.tables > 20 and found.tables_with_header == found.tables
    assert '<script src="http' not in rendered.html


def test_links_to_the_guides_point_at_headings_they_have(text) -> None:
    assert "](api.qmd#conventions)" in text and "](auth.qmd#scopes)" in text
    assert broken_fragments(text, ROOT / "docs", {}) == []
    assert broken_fragments("[x](auth.qmd#no-such-heading)", ROOT / "docs", {}) == ["auth.qmd#no-such-heading"]


def test_a_broken_reference_in_the_document_is_a_clear_error(spec) -> None:
    broken = copy.deepcopy(spec)
    broken["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/Nowhere"
    }
    with pytest.raises(ValueError, match="Nowhere.*points to nothing"):
        api_reference.render(broken, "http://127.0.0.1:8000", ROOT)
