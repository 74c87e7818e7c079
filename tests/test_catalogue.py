"""The test catalogue page lists and defines every test case, from pytest's collection. (C12.1)"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest

from support import ROOT

pytestmark = [
    pytest.mark.requirement("C12.1"),
    pytest.mark.catalogue(
        part="Docs: the test catalogue page and its generator (scripts/test_catalogue.py)",
        scope="unit",
        strategy="example-based",
        tool="pytest",
    ),
]
# A nested pytest run in this process would import the test modules a second time under the
# running session, so the tests that collect real modules run the collection in a subprocess.
COLLECTING = "pytest, its collection run in a subprocess"


def _load_script():
    spec = importlib.util.spec_from_file_location("catalogue_script", ROOT / "scripts" / "test_catalogue.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


catalogue = _load_script()


# Run in a subprocess, this collects the given paths and reports what the collection left running.
COLLECT = """
import json, sys
sys.path.insert(0, {scripts!r})
from dataclasses import asdict
import psutil
import test_catalogue
cases = test_catalogue.collect({paths!r})
ray = sys.modules.get("ray")
print(json.dumps({{"cases": [asdict(c) for c in cases],
                  "children": [p.name() for p in psutil.Process().children(recursive=True)],
                  "ray_started": bool(ray and ray.is_initialized())}}))
"""


def _collect(paths: list[str]) -> dict:
    code = COLLECT.format(scripts=str(ROOT / "scripts"), paths=paths)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    out["cases"] = [
        catalogue.Case(**{**d, "requirements": tuple(d["requirements"]), "errors": tuple(d["errors"])})
        for d in out["cases"]
    ]
    return out


@pytest.fixture(scope="module")
def collected() -> dict:
    """Every test of the project as pytest collects it (collection only: no test or fixture runs)."""
    return _collect(["tests"])


@pytest.fixture(scope="module")
def cases(collected) -> list:
    return collected["cases"]


def _case(**changes):
    base = {
        "nodeid": "tests/x/test_m.py::test_f",
        "module": "tests/x/test_m.py",
        "function": "test_f",
        "requirements": ("C9.5",),
        "doc": "A module.",
        "fields": {"part": "API: GET /x", "scope": "unit", "strategy": "example-based", "tool": "pytest"},
    }
    return catalogue.Case(**{**base, **changes})


@pytest.mark.catalogue(scope="integration", strategy="snapshot", tool=COLLECTING)
def test_the_page_is_what_the_collected_markers_generate(cases):
    page = (ROOT / "docs" / "test-catalogue.qmd").read_text(encoding="utf-8")
    assert page == catalogue.render(cases), "run `.venv/bin/python scripts/test_catalogue.py` and commit the page"


@pytest.mark.catalogue(scope="integration", strategy="inspection", tool=COLLECTING)
def test_every_collected_test_carries_both_markers_with_well_formed_ids_and_fields(cases):
    assert len(cases) > 600
    assert catalogue.problems(cases) == []


@pytest.mark.catalogue(scope="integration", strategy="inspection", tool=COLLECTING)
def test_collecting_every_test_starts_no_process_and_no_ray(collected):
    assert collected["children"] == [] and collected["ray_started"] is False


@pytest.mark.catalogue(scope="integration", strategy="inspection", tool=COLLECTING)
def test_this_test_is_listed_on_the_page_with_its_requirement_id(cases):
    page = (ROOT / "docs" / "test-catalogue.qmd").read_text(encoding="utf-8")
    name = catalogue.sentence(test_this_test_is_listed_on_the_page_with_its_requirement_id.__name__)
    row = next(line for line in page.splitlines() if line.startswith(f"| {name} |"))
    assert row.endswith("| C12.1 |") and "| integration | inspection |" in row


def test_check_exits_1_on_a_stale_page_and_0_once_it_is_rewritten(tmp_path, capsys):
    page = tmp_path / "catalogue.qmd"
    page.write_text("old\n", encoding="utf-8")
    assert catalogue.write_or_check("new\n", page, check=True) == 1
    assert "out of date" in capsys.readouterr().err
    assert catalogue.write_or_check("new\n", page, check=False) == 0
    assert catalogue.write_or_check("new\n", page, check=True) == 0


def test_a_missing_page_is_stale(tmp_path):
    assert catalogue.write_or_check("new\n", tmp_path / "none.qmd", check=True) == 1


def test_a_test_without_a_requirement_or_with_a_malformed_id_is_reported():
    found = catalogue.problems([_case(requirements=()), _case(nodeid="n2", requirements=("C9", "9.5", "C9.5a"))])
    assert any("no requirement marker" in p for p in found)
    assert [p for p in found if p.startswith("n2:")] == [
        f"n2: requirement id {r!r} is not of the form C<n>.<n>" for r in ("C9", "9.5", "C9.5a")
    ]


def test_a_missing_or_empty_field_and_an_unknown_one_are_reported():
    fields = {"part": " ", "scope": "unit", "strategy": "example-based", "owner": "me"}
    found = catalogue.problems([_case(fields=fields)])
    assert any("'part' is missing or empty" in p for p in found)
    assert any("'tool' is missing or empty" in p for p in found)
    assert any("'owner' is unknown" in p for p in found)


def test_a_scope_or_strategy_outside_the_vocabulary_is_reported():
    fields = {"part": "p", "scope": "component", "strategy": "example-based, guesswork", "tool": "pytest"}
    found = catalogue.problems([_case(fields=fields)])
    assert any("scope 'component' is not one of unit" in p for p in found)
    assert any("strategy 'guesswork'" in p for p in found)
    assert not any("'example-based'" in p for p in found)


def test_a_docstring_naming_a_requirement_no_test_carries_is_reported():
    found = catalogue.problems([_case(doc="Predict (C9.2, C9.5).")])
    assert found == ["tests/x/test_m.py: the docstring names C9.2 but no test carries it"]


def test_parametrised_cases_are_grouped_into_one_row_with_their_count():
    page = catalogue.render([_case(nodeid=f"tests/x/test_m.py::test_f[{i}]") for i in range(3)])
    assert "| F (3 cases) | API: GET /x | unit | example-based | pytest | C9.5 |" in page
    assert "3 test cases (1 test functions" in page


def test_a_pipe_in_a_field_is_escaped_so_the_table_keeps_its_columns():
    fields = {"part": "CLI: a | b", "scope": "unit", "strategy": "example-based", "tool": "pytest"}
    assert "| CLI: a \\| b |" in catalogue.render([_case(fields=fields)])


def test_the_requirement_index_links_each_id_to_the_modules_carrying_it():
    page = catalogue.render(
        [_case(), _case(nodeid="tests/x/test_m.py::test_g", function="test_g", requirements=("C9.5", "C12.1"))]
    )
    assert "| C9.5 | 2 | [`tests/x/test_m.py`](#mod-x-test-m) (2) |" in page
    assert "| C12.1 | 1 | [`tests/x/test_m.py`](#mod-x-test-m) (1) |" in page
    assert page.index("| C9.5 |") < page.index("| C12.1 |")  # numeric order, not text order
    assert "### `test_m.py` {#mod-x-test-m}" in page


@pytest.mark.catalogue(scope="integration", strategy="example-based", tool=COLLECTING)
def test_a_tests_own_marker_adds_ids_and_overrides_single_module_fields(tmp_path):
    path = tmp_path / "test_sample.py"
    path.write_text(
        textwrap.dedent('''
        """Sample (C9.5)."""
        import pytest

        pytestmark = [pytest.mark.requirement("C9.5"),
                      pytest.mark.catalogue(part="P", scope="integration", strategy="example-based", tool="T")]

        def test_default():
            pass

        @pytest.mark.requirement("C12.1")
        @pytest.mark.catalogue(scope="unit")
        @pytest.mark.parametrize("n", [1, 2])
        def test_own(n):
            pass

        @pytest.mark.catalogue("system")
        def test_positional():
            pass
    '''),
        encoding="utf-8",
    )
    got = _collect([str(path)])["cases"]
    by_name = {c.nodeid.split("::")[-1]: c for c in got}
    assert set(by_name) == {"test_default", "test_own[1]", "test_own[2]", "test_positional"}
    assert by_name["test_default"].requirements == ("C9.5",)
    assert by_name["test_default"].fields == {
        "part": "P",
        "scope": "integration",
        "strategy": "example-based",
        "tool": "T",
    }
    assert by_name["test_own[1]"].requirements == ("C9.5", "C12.1")
    assert by_name["test_own[1]"].fields["scope"] == "unit" and by_name["test_own[1]"].fields["tool"] == "T"
    assert by_name["test_own[2]"].function == "test_own" and by_name["test_own[2]"].doc == "Sample (C9.5)."
    assert by_name["test_positional"].errors == (
        "catalogue takes keywords only (part, scope, strategy, tool), got ('system',)",
    )
