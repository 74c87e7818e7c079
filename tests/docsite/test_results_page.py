"""The test results page is generated from a real run, and reads it correctly (C9.7, C10.8).

The committed snapshot docs/results/ must be a whole, consistent run of the current tests and
sources (C12.1): it goes stale when a test or a source file is added, until `make test` runs
again. Inside the run `make test` makes, which is about to replace the snapshot, the same tests
check that run instead (every collected test selected, coverage of the configured sources), so
that the first `make test` after adding a test is not failed by the snapshot it is replacing.
The generator is checked on a real pytest run of a tiny generated project in tmp_path,
with failures, errors and skips, so its figures are compared with a run whose outcome is known.
The tests page says how to run the tests and where the results land (C12.6).
"""

from __future__ import annotations

import fnmatch
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import junit_catalogue
import pytest
import yaml

from docsite import results_data, results_page, results_snapshot
from docsite.results_data import ResultsError
from docsite.results_page import page
from support import ROOT

PART = "Docs: the test results page and its snapshot (docsite/results_page.py, docs/results/)"
pytestmark = [
    pytest.mark.requirement("C9.7", "C10.8"),
    pytest.mark.catalogue(part=PART, scope="unit", strategy="inspection", tool="pytest"),
]
SNAPSHOT = ROOT / "docs" / "results"
COLLECTING = "pytest, its collection run in a subprocess"
A_REAL_RUN = "pytest, a real pytest run of a generated project in a subprocess"
STALE = "docs/results/ is stale: run `make test` and commit docs/results/"


def _suite() -> ET.Element:
    return ET.parse(SNAPSHOT / "junit.xml").getroot().find("testsuite")


def _coverage() -> dict:
    return json.loads((SNAPSHOT / "coverage.json").read_text(encoding="utf-8"))


def _props(element: ET.Element) -> dict[str, str]:
    node = element.find("properties")
    return {} if node is None else {p.get("name"): p.get("value") for p in node.findall("property")}


# --- the committed snapshot -------------------------------------------------------------------------


def test_the_snapshots_junit_totals_equal_its_testcase_elements():
    suite = _suite()
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) > 0
    assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)
    assert int(suite.get("errors")) == sum(len(c.findall("error")) for c in cases)
    assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in cases)


def test_every_case_of_the_snapshot_carries_its_node_id_and_catalogue_properties():
    for case in _suite().findall("testcase"):
        props = _props(case)
        missing = [k for k in ("nodeid", "part", "scope", "strategy", "tool", "requirements") if not props.get(k)]
        assert not missing, f"{case.get('classname')}::{case.get('name')} lacks {missing}"


def test_the_snapshots_coverage_totals_equal_the_sums_of_its_files():
    coverage = _coverage()
    files, totals = coverage["files"], coverage["totals"]
    for key in ("statements", "missing", "excluded", "branches", "missing_branches", "partial_branches"):
        assert totals[key] == sum(f[key] for f in files.values()), key
    for name, data in files.items():
        assert results_snapshot.count_ranges(data["missing_lines"]) == data["missing"], name
    # the page's own formula gives coverage.py's figure
    assert results_data.percent(totals) == pytest.approx(totals["percent"], abs=1e-3)


def test_the_snapshot_holds_no_host_name_and_no_path_of_the_machine():
    text = (SNAPSHOT / "junit.xml").read_text(encoding="utf-8")
    assert "hostname=" not in text
    assert str(ROOT) not in text and "pytest-of-" not in text


@pytest.fixture(scope="session")
def writing_the_snapshot(pytestconfig) -> bool:
    """True in the run `make test` makes: its JUnit XML is about to become the committed snapshot."""
    xml = pytestconfig.option.xmlpath
    target = (ROOT / results_snapshot.RUN_DIR / results_snapshot.JUNIT).resolve()
    return bool(xml) and (pytestconfig.invocation_params.dir / xml).resolve() == target


def test_the_snapshot_comes_from_a_complete_run_of_the_whole_suite(writing_the_snapshot, pytestconfig):
    if writing_the_snapshot:
        chosen = results_data.selection(shlex.join(pytestconfig.invocation_params.args))
        dropped = junit_catalogue.deselected(pytestconfig)
        assert chosen == [] and dropped == 0, (
            f"this run selects {chosen} and deselects {dropped} tests: the snapshot it writes would be partial"
        )
        return
    props = _props(_suite())
    assert props["exit_status"] in ("0", "1"), props
    chosen, dropped = results_data.selection(props["pytest_args"]), props.get("deselected", "an unrecorded number of")
    assert chosen == [] and dropped == "0", (
        f"the snapshot's run selected {chosen} and deselected {dropped} tests; {STALE}"
    )


@pytest.fixture(scope="module")
def collected(writing_the_snapshot, request) -> list[dict]:
    """Every test pytest collects now, with its part.

    The run `make test` makes selects the whole suite (the test above fails otherwise), so its own
    items are the collection; any other run collects the whole suite in a subprocess.
    """
    if writing_the_snapshot:
        return [{"nodeid": i.nodeid, "part": dict(i.user_properties).get("part")} for i in request.session.items]
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(ROOT / "scripts")!r})
        import test_catalogue
        print(json.dumps([{{"nodeid": c.nodeid, "part": c.fields.get("part")}} for c in test_catalogue.collect()]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.requirement("C12.1")
@pytest.mark.catalogue(scope="integration", tool=COLLECTING)
def test_the_snapshot_lists_exactly_the_tests_pytest_collects_now(collected, writing_the_snapshot, request):
    if writing_the_snapshot:
        # this run is the collection (see above): what it writes lists exactly its items, with their parts
        for item in request.session.items:
            props = dict(item.user_properties)
            assert props.get("nodeid") == item.nodeid and props.get("part"), item.nodeid
        return
    now = {c["nodeid"] for c in collected}
    ran = {_props(c).get("nodeid") for c in _suite().findall("testcase")}
    new, gone = sorted(now - ran), sorted(ran - now)
    assert not new and not gone, (
        f"{len(new)} tests collected now are not in the last run (first: {new[:3]}), and {len(gone)} tests of "
        f"the run no longer exist (first: {gone[:3]}); {STALE}"
    )


@pytest.mark.requirement("C12.1")
@pytest.mark.catalogue(scope="integration", tool=COLLECTING)
def test_every_collected_part_has_a_reading_and_every_reading_names_a_collected_part(collected):
    readings = yaml.safe_load((SNAPSHOT / "reading.yaml").read_text(encoding="utf-8"))["parts"]
    parts = {c["part"] for c in collected}
    assert sorted(parts - set(readings)) == [], "add these parts to docs/results/reading.yaml"
    assert sorted(set(readings) - parts) == [], "these readings name no part of any test: renamed?"
    assert results_data.missing_readings(sorted(parts), {"parts": readings}) == []


def _source_files() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["coverage"]["run"]
    found = {p.relative_to(ROOT).as_posix() for src in config["source"] for p in (ROOT / src).rglob("*.py")}
    return {f for f in found if not any(fnmatch.fnmatch(f, pattern) for pattern in config.get("omit", []))}


def test_the_snapshots_coverage_files_are_the_current_source_files(writing_the_snapshot, pytestconfig):
    current = _source_files()
    assert current, "no source file found"
    if writing_the_snapshot:
        # bare --cov: the configured sources, every file of which coverage.py reports, run or not
        assert pytestconfig.option.cov_source == [True], "this run does not measure the configured sources"
        return
    measured = set(_coverage()["files"])
    assert sorted(current - measured) == [] and sorted(measured - current) == [], STALE


def _headings(text: str) -> list[int]:
    body = text.split("\n---\n", 1)[1]
    return [len(m[1]) for m in re.finditer(r"^(#+) ", body, flags=re.M)]


def _assert_well_formed(text: str) -> None:
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["title"] == "Test results" and front["lang"] == "en"
    levels = _headings(text)
    assert levels[0] == 2 and all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(r"\|(---\|)+", line):
            head = lines[i - 1]
            assert head.startswith("| ") and head.count("|") == line.count("|"), head
            assert lines[i - 2] == "", f"a table must follow a blank line: {lines[i - 2]!r}"


def test_the_page_builds_from_the_committed_snapshot_with_its_title_headings_and_table_headers():
    text = page(ROOT)
    _assert_well_formed(text)
    assert f"### {PART}" in text.replace("\\", "")


# --- a real run of a generated project ------------------------------------------------------------

TOY_TESTS = """
import pytest

pytestmark = [pytest.mark.requirement("C1.1"),
              pytest.mark.catalogue(part="Toy: calc", scope="unit", strategy="example-based", tool="pytest")]

from toy.calc import add, div


@pytest.mark.parametrize("a", [1, 2])
def test_add(a):
    assert add(a, 0) == a


def test_add_is_wrong():
    assert add(1, 1) == 3


@pytest.mark.skip(reason="needs a GPU")
def test_on_gpu():
    pass


@pytest.mark.xfail(reason="division by zero is not handled yet", strict=True)
def test_div_by_zero():
    assert div(1, 0) == 0


@pytest.fixture
def broken():
    raise RuntimeError("the fixture broke")


def test_with_a_broken_fixture(broken):
    pass


@pytest.mark.requirement("C1.2")
@pytest.mark.catalogue(part="Toy: other")
def test_div():
    assert div(4, 2) == 2
"""
TOY_CALC = """
def add(a, b):
    return a + b


def div(a, b):
    if b == 0:
        raise ZeroDivisionError("b is zero")
    return a / b


def unused(x):
    if x:
        return 1
    return 2
"""
TOY_PYPROJECT = """
[tool.pytest.ini_options]
testpaths = ["tests"]
markers = ["requirement(*ids): requirement ids", "catalogue(part, scope, strategy, tool): catalogue"]

[tool.coverage.run]
source = ["toy"]
branch = true
omit = ["toy/generated.py"]
"""
TOY_READING = {
    "parts": {
        "Toy: calc": {"proves": "Adding works.", "does_not_prove": "That division works."},
        "Toy: other": {"proves": "Division of 4 by 2 works.", "does_not_prove": "Division by zero."},
    },
    "coverage": "Lines that ran are not lines that were checked.",
    "omitted": {"toy/generated.py": "Generated code, checked by its generator."},
    "gaps": ["Nothing ran on a GPU."],
}
GIT = ["git", "-c", "user.name=tests", "-c", "user.email=tests@example.org"]


def _make_toy(project: Path) -> None:
    (project / "toy").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "toy" / "__init__.py").write_text("")
    (project / "toy" / "calc.py").write_text(TOY_CALC)
    (project / "toy" / "generated.py").write_text("VALUE = 1\n")
    (project / "tests" / "test_toy.py").write_text(TOY_TESTS)
    (project / "pyproject.toml").write_text(TOY_PYPROJECT)
    (project / ".gitignore").write_text("run/\n.coverage\n__pycache__/\n")
    (project / "docs" / "results").mkdir(parents=True)
    (project / "docs" / "results" / "reading.yaml").write_text(yaml.safe_dump(TOY_READING))
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "toy"]):
        subprocess.run([*GIT, *args], cwd=project, check=True, capture_output=True)


def _run_toy(project: Path, *pytest_args: str) -> int:
    """pytest, for real, with the project's JUnit plugin, as `make test` runs it; then the snapshot."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")}  # not this suite's coverage
    # only the plugins the run needs: the toy project has no use for the others, and loading them is slow
    env.update(PYTHONPATH=str(ROOT / "tests"), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    run = [sys.executable, "-m", "pytest", "-p", "pytest_cov.plugin", "-p", "junit_catalogue", "-p", "no:cacheprovider"]
    run += ["--cov"]
    run += ["--junitxml=run/junit.xml", "--cov-report=json:run/coverage.json", *pytest_args]
    proc = subprocess.run(run, cwd=project, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    out, status = str(project / "docs" / "results"), str(proc.returncode)
    assert (
        results_snapshot.main([str(project / "run"), "--out", out, "--root", str(project), "--exit-status", status])
        == 0
    )
    return proc.returncode


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("toy-project")
    _make_toy(project)
    assert _run_toy(project) == 1
    return project


@pytest.fixture(scope="module")
def toy_page(toy) -> str:
    return page(toy)


@pytest.mark.catalogue(scope="integration", strategy="example-based", tool=A_REAL_RUN)
def test_the_page_of_a_real_run_states_its_counts_commit_and_exit_status(toy, toy_page):
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=toy, capture_output=True, text=True).stdout.strip()
    assert f"tested commit `{commit[:12]}`. It ran 7 test cases in" in toy_page
    assert ": 3 passed, 1 failed, 1 error and 2 skipped. 2 tests did not pass" in toy_page
    assert f"| Commit | `{commit}` |" in toy_page and "| pytest exit status | 1 |" in toy_page
    assert "| Passed | 3 |" in toy_page and "| Skipped | 2 |" in toy_page
    assert "uncommitted changes" not in toy_page and "selected part of the suite" not in toy_page
    _assert_well_formed(toy_page)


@pytest.mark.catalogue(scope="integration", strategy="example-based", tool=A_REAL_RUN)
def test_the_page_lists_each_failure_and_error_with_its_part_and_message(toy_page):
    section = toy_page.split("## Failures and errors")[1].split("\n## ")[0]
    assert "| `tests/test_toy.py::test_add_is_wrong` | Toy: calc | failed | assert 2 == 3" in section
    assert "| `tests/test_toy.py::test_with_a_broken_fixture` | Toy: calc | error |" in section
    assert "the fixture broke" in section
    assert section.count("\n| `tests/") == 2


@pytest.mark.catalogue(scope="integration", strategy="example-based", tool=A_REAL_RUN)
def test_the_page_lists_each_skip_with_its_reason(toy_page):
    section = toy_page.split("## Skipped tests")[1].split("\n## ")[0]
    assert "| `tests/test_toy.py::test_on_gpu` | needs a GPU |" in section
    assert (
        "| `tests/test_toy.py::test_div_by_zero` | expected to fail: division by zero is not handled yet |" in section
    )
    assert section.count("\n| `tests/") == 2


@pytest.mark.catalogue(scope="integration", strategy="example-based", tool=A_REAL_RUN)
def test_each_part_gets_its_counts_requirements_and_reading(toy_page):
    assert "| Toy: calc | 6 | 2 | 2 | 2 |" in toy_page and "| Toy: other | 1 | 1 | 0 | 0 |" in toy_page
    calc = toy_page.split("### Toy: calc")[1].split("\n### ")[0]
    assert "6 cases; scope: unit; strategy: example-based; tools: pytest; requirements: C1.1." in calc
    assert "2 passed, 1 failed, 1 ended in an error, 2 skipped. The reading below holds only once" in calc
    assert "**What passing proves.** Adding works." in calc
    assert "**What it does not prove.** That division works." in calc
    other = toy_page.split("### Toy: other")[1].split("\n## ")[0]
    assert "requirements: C1.1, C1.2. All passed." in other
    assert "| C1.1 | 7 | 3 | 2 | 2 | Toy: calc; Toy: other |" in toy_page
    assert "| C1.2 | 1 | 1 | 0 | 0 | Toy: other |" in toy_page


@pytest.mark.catalogue(scope="integration", strategy="example-based", tool=A_REAL_RUN)
def test_coverage_is_read_per_package_least_covered_first_with_its_omissions(toy, toy_page):
    coverage = json.loads((toy / "docs" / "results" / "coverage.json").read_text())
    calc = coverage["files"]["toy/calc.py"]
    # add and both branches of div ran; unused never did
    assert calc["statements"] == 10 and "toy/generated.py" not in coverage["files"]
    assert calc["missing_lines"] == "13-15" and calc["missing"] == 3
    assert calc["branches"] == 4 and calc["missing_branches"] == 2
    expected = 100 * (10 - 3 + calc["branches"] - calc["missing_branches"]) / (10 + calc["branches"])
    assert f"| `toy` | 2 | 10 | 3 | {calc['branches']} | {calc['missing_branches']} | {expected:.1f}% |" in toy_page
    assert f"| `toy/calc.py` | 10 | 3 | {calc['missing_branches']} | {expected:.1f}% | 13-15 |" in toy_page
    assert "`toy/__init__.py`" not in toy_page.split("### Least-covered modules")[1].split("\n### ")[0]
    assert "| `toy/generated.py` | Generated code, checked by its generator. |" in toy_page
    assert "Lines that ran are not lines that were checked." in toy_page
    assert "- Nothing ran on a GPU." in toy_page


@pytest.mark.catalogue(scope="integration", strategy="example-based", tool=A_REAL_RUN)
def test_the_runs_snapshot_keeps_no_host_name_or_path_of_the_machine(toy):
    text = (toy / "docs" / "results" / "junit.xml").read_text()
    assert "hostname=" not in text and str(toy) not in text and "pytest-of-" not in text
    suite = ET.parse(toy / "docs" / "results" / "junit.xml").getroot().find("testsuite")
    assert suite.get("timestamp").endswith("+00:00")


@pytest.mark.catalogue(scope="integration", strategy="example-based", tool=A_REAL_RUN)
def test_a_partial_run_says_so_on_the_page(toy, tmp_path):
    project = tmp_path / "partial"
    shutil.copytree(toy, project)
    assert _run_toy(project, "-k", "test_add and not wrong") == 0
    text = page(project)
    assert "It ran 2 test cases" in text and "Every test that ran passed." in text
    assert "This run selected part of the suite (`-k test_add and not wrong`, 5 collected tests deselected)" in text
    assert "No test failed, and none ended in an error." in text and "No test was skipped." in text


@pytest.mark.catalogue(scope="integration", strategy="example-based", tool=A_REAL_RUN)
def test_a_part_without_a_reading_stops_the_page_naming_it(toy, tmp_path):
    project = tmp_path / "unread"
    shutil.copytree(toy, project)
    reading = {**TOY_READING, "parts": {"Toy: calc": {"proves": "Adding works.", "does_not_prove": " "}}}
    (project / "docs" / "results" / "reading.yaml").write_text(yaml.safe_dump(reading))
    with pytest.raises(ResultsError) as err:
        page(project)
    assert "'Toy: other' has no reading" in str(err.value)
    assert "'Toy: calc' has no 'does_not_prove'" in str(err.value)


@pytest.mark.catalogue(scope="integration", strategy="example-based", tool=A_REAL_RUN)
def test_an_omitted_pattern_without_a_reason_stops_the_page(toy, tmp_path):
    project = tmp_path / "omit"
    shutil.copytree(toy, project)
    (project / "docs" / "results" / "reading.yaml").write_text(yaml.safe_dump({**TOY_READING, "omitted": {}}))
    with pytest.raises(ResultsError, match="coverage omit pattern 'toy/generated.py' has no reason"):
        page(project)


@pytest.mark.parametrize("name", ["junit.xml", "coverage.json"])
def test_a_missing_snapshot_file_is_a_clear_error_naming_make_test(toy, tmp_path, name):
    project = tmp_path / "missing"
    shutil.copytree(toy / "docs", project / "docs")
    (project / "docs" / "results" / name).unlink()
    with pytest.raises(ResultsError, match=rf"docs/results/{re.escape(name)} is missing: .*run `make test`"):
        page(project)


def test_the_page_command_fails_with_a_message_and_no_traceback_without_a_snapshot(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "docsite.results_page", "--root", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("cannot build the test results page: docs/results/junit.xml is missing")
    assert "Traceback" not in proc.stderr


def test_an_interrupted_run_leaves_the_snapshot_as_it_was(tmp_path, capsys):
    out = tmp_path / "results"
    assert results_snapshot.main([str(tmp_path / "run"), "--out", str(out), "--exit-status", "2"]) == 0
    assert not out.exists() and "exit status 2 (not a complete run)" in capsys.readouterr().err


def test_a_run_folder_without_its_files_is_refused_with_the_options_to_use(tmp_path, capsys):
    assert results_snapshot.main([str(tmp_path), "--out", str(tmp_path / "o"), "--exit-status", "0"]) == 1
    err = capsys.readouterr().err
    assert "junit.xml is missing: run pytest with --junitxml=" in err and "--cov-report=json:" in err


@pytest.mark.catalogue(strategy="property-based")
def test_missing_line_ranges_name_exactly_the_missing_lines():
    rng = random.Random(8)
    for _ in range(300):
        lines = sorted(rng.sample(range(1, 200), rng.randint(0, 60)))
        text = results_snapshot.missing_ranges(lines)
        assert results_snapshot.count_ranges(text) == len(lines)
        named = [n for part in filter(None, text.split(", ")) for n in _expand(part)]
        assert named == lines


def _expand(part: str) -> list[int]:
    low, _, high = part.partition("-")
    return list(range(int(low), int(high or low) + 1))


@pytest.mark.parametrize(
    ("args", "chosen"),
    [
        ("--cov --cov-report=term --cov-fail-under=90 --junitxml=var/test-run/junit.xml", []),
        ("-p no:cacheprovider --cov --cov-report=json:x.json", []),
        ("tests/docsite -q", ["tests/docsite"]),
        ("-m 'not live' --cov", ["-m not live"]),
        ("--lf --deselect=tests/a.py::test_b", ["--lf", "--deselect=tests/a.py::test_b"]),
    ],
)
def test_a_selection_of_the_suite_is_recognised_in_pytests_arguments(args, chosen):
    assert results_data.selection(args) == chosen


def test_table_cells_carry_no_markup_and_no_column_break():
    assert results_page._cell("a | b <tmp> `x` *y*") == "a \\| b &lt;tmp&gt; \\`x\\` \\*y\\*"


# --- the tests page ------------------------------------------------------------------------------


@pytest.mark.requirement("C12.6")
@pytest.mark.catalogue(scope="integration", tool="pytest, GNU make")
def test_the_tests_page_says_where_make_test_writes_the_results_and_make_does_so():
    text = (ROOT / "docs" / "testing.qmd").read_text(encoding="utf-8")
    section = text.split("## The results of a run and the results page")[1].split("\n## ")[0]
    for named in ("make setup", "make test", "docs/results/junit.xml", "docs/results/coverage.json",
                  "docs/results/reading.yaml", "test-results.qmd", "python -m docsite.results_page"):  # fmt: skip
        assert named in section, named
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "-o", "setup", "-o", "system-deps", "-o", "lint", "test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert dry.returncode == 0, dry.stderr
    run = results_snapshot.RUN_DIR.as_posix()
    assert f"--junitxml={run}/junit.xml" in dry.stdout and f"--cov-report=json:{run}/coverage.json" in dry.stdout
    assert f"-m docsite.results_snapshot {run} " in dry.stdout
    assert results_snapshot.SNAPSHOT == Path("docs/results")


def test_the_least_covered_modules_come_lowest_first_then_most_missed_and_long_ranges_are_shortened():
    def counts(statements, missing, lines=""):
        return {
            "statements": statements,
            "missing": missing,
            "branches": 0,
            "missing_branches": 0,
            "missing_lines": lines,
        }

    files = {"a.py": counts(10, 5), "b.py": counts(40, 20), "c.py": counts(10, 0), "d.py": counts(0, 0)}
    assert [name for _, name, _ in results_page.least_covered(files)] == ["b.py", "a.py"]
    ranges = ", ".join(f"{n}-{n + 1}" for n in range(1, 40, 3))  # 13 ranges of 2 lines
    assert (
        results_page._shortened(ranges, keep=8) == "1-2, 4-5, 7-8, 10-11, 13-14, 16-17, 19-20, 22-23 and 10 more lines"
    )
    assert results_page._shortened("1-2, 5", keep=8) == "1-2, 5"
