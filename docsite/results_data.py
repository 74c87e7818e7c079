"""The latest test run, as the committed snapshot docs/results/ holds it, and its reviewed reading.

docsite/results_snapshot.py writes junit.xml and coverage.json from a `make test` run; reading.yaml
is written by hand. This module reads the three for docsite/results_page.py, and says plainly what
is missing or malformed: ResultsError's message names the file and what to do.
"""

from __future__ import annotations

import json
import shlex
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from docsite.results_snapshot import COVERAGE, JUNIT, SNAPSHOT

READING = "reading.yaml"
NO_PART = "No part (the test was not collected)"
# pytest options that select a subset of the suite (a positional path or node id does too)
SELECTING_WITH_VALUE = {"-k", "-m", "--deselect", "--ignore", "--ignore-glob"}
SELECTING_FLAGS = {"--lf", "--last-failed", "-x", "--exitfirst", "--sw", "--stepwise"}
SELECTING_PREFIXES = ("--maxfail=", "--deselect=", "--ignore=", "--ignore-glob=")
# options whose value is the next argument, which is not a path to select
OPTIONS_WITH_VALUE = {"-p", "-c", "-o", "-W", "--rootdir", "--basetemp", "--confcutdir", "--cov", "--junit-prefix"}


class ResultsError(Exception):
    """The snapshot or its reading is missing, malformed or incomplete; the message says what to do."""


@dataclass(frozen=True)
class Case:
    """One <testcase> of the run, with the catalogue properties tests/junit_catalogue.py gave it."""

    nodeid: str
    part: str
    scope: str
    strategy: str
    tool: str
    requirements: tuple[str, ...]
    outcome: str  # passed, failed, error or skipped
    message: str
    seconds: float


@dataclass
class Run:
    """The testsuite's own figures and the cases under it."""

    cases: list[Case]
    declared: dict[str, int]  # the testsuite's tests, failures, errors, skipped attributes
    seconds: float
    timestamp: str
    properties: dict[str, str] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return sum(c.outcome == outcome for c in self.cases)


def _props(element: ET.Element) -> dict[str, str]:
    node = element.find("properties")
    if node is None:
        return {}
    return {p.get("name", ""): p.get("value", "") for p in node.findall("property")}


def _first_line(text: str | None) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def case_of(element: ET.Element) -> Case:
    props = _props(element)
    error, failure, skipped = (element.find(tag) for tag in ("error", "failure", "skipped"))
    if error is not None:
        outcome, detail = "error", error
    elif failure is not None:
        outcome, detail = "failed", failure
    elif skipped is not None:
        outcome, detail = "skipped", skipped
    else:
        outcome, detail = "passed", None
    message = ""
    if detail is not None:
        message = _first_line(detail.get("message")) or _first_line(detail.text)
        if outcome == "skipped" and detail.get("type") == "pytest.xfail":
            message = f"expected to fail: {message}"
    nodeid = props.get("nodeid") or "::".join(filter(None, (element.get("classname"), element.get("name"))))
    return Case(
        nodeid=nodeid,
        part=props.get("part") or NO_PART,
        scope=props.get("scope", ""),
        strategy=props.get("strategy", ""),
        tool=props.get("tool", ""),
        requirements=tuple(props.get("requirements", "").split()),
        outcome=outcome,
        message=message,
        seconds=float(element.get("time") or 0),
    )


def _snapshot_file(root: Path, name: str) -> Path:
    path = root / SNAPSHOT / name
    if not path.is_file():
        raise ResultsError(
            f"{SNAPSHOT / name} is missing: the test results page is built from the snapshot of a real run; "
            "run `make test` (it writes docs/results/) and commit the snapshot"
        )
    return path


def load_run(root: Path) -> Run:
    path = _snapshot_file(root, JUNIT)
    try:
        top = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ResultsError(f"{SNAPSHOT / JUNIT} is not XML ({exc}): run `make test` again") from exc
    suite = top.find("testsuite") if top.tag == "testsuites" else top
    if suite is None or suite.tag != "testsuite":
        raise ResultsError(f"{SNAPSHOT / JUNIT} has no <testsuite>: run `make test` again")
    declared = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    return Run(
        cases=[case_of(e) for e in suite.findall("testcase")],
        declared=declared,
        seconds=float(suite.get("time") or 0),
        timestamp=suite.get("timestamp", ""),
        properties=_props(suite),
    )


def load_coverage(root: Path) -> dict[str, Any]:
    path = _snapshot_file(root, COVERAGE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ResultsError(f"{SNAPSHOT / COVERAGE} is not JSON ({exc}): run `make test` again") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), dict) for k in ("totals", "files")):
        raise ResultsError(f"{SNAPSHOT / COVERAGE} has no totals and files: run `make test` again")
    return data


def load_reading(root: Path) -> dict[str, Any]:
    path = root / SNAPSHOT / READING
    if not path.is_file():
        raise ResultsError(f"{SNAPSHOT / READING} is missing: it holds the reviewed reading of each part's results")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ResultsError(f"{SNAPSHOT / READING} is not YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("parts"), dict):
        raise ResultsError(f"{SNAPSHOT / READING} must map `parts` to a reading per part")
    return data


def omitted_patterns(root: Path) -> list[str]:
    """pyproject.toml's [tool.coverage.run] omit: files coverage never measures."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return []
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    return list(config.get("tool", {}).get("coverage", {}).get("run", {}).get("omit", []))


def missing_readings(parts: list[str], reading: dict[str, Any]) -> list[str]:
    """One message per part without a complete reading."""
    found = []
    for part in parts:
        entry = reading["parts"].get(part)
        if not isinstance(entry, dict):
            found.append(f"{part!r} has no reading")
            continue
        for key in ("proves", "does_not_prove"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                found.append(f"{part!r} has no {key!r}")
    return found


def percent(counts: dict[str, int]) -> float | None:
    """coverage.py's figure: lines and branches that ran over lines and branches; None without code."""
    whole = counts["statements"] + counts["branches"]
    if not whole:
        return None
    ran = counts["statements"] - counts["missing"] + counts["branches"] - counts["missing_branches"]
    return 100 * ran / whole


def selection(args: str) -> list[str]:
    """The arguments of a pytest command line that select part of the suite (empty: the whole suite)."""
    try:
        tokens = shlex.split(args)
    except ValueError:
        tokens = args.split()
    chosen: list[str] = []
    rest = iter(tokens)
    for token in rest:
        if token in SELECTING_WITH_VALUE:
            chosen.append(f"{token} {next(rest, '')}".strip())
        elif token in SELECTING_FLAGS or token.startswith(SELECTING_PREFIXES):
            chosen.append(token)
        elif token in OPTIONS_WITH_VALUE:
            value = next(rest, "")
            if value.startswith("-"):  # --cov's value is optional: this is the next option
                chosen += selection(value)
        elif not token.startswith("-"):
            chosen.append(token)  # a path or node id
    return chosen
