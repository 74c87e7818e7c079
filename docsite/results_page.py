"""docs/test-results.qmd, generated from the latest test run's snapshot in docs/results/.

`page(root)` reads three committed files: junit.xml and coverage.json, written by `make test`
(docsite/results_snapshot.py), and reading.yaml, the reviewed prose that says, for each part of
the system the tests name, what its passing tests prove and what they do not. A part of the run
without a reading, or an omitted coverage pattern without a reason, stops the page with the list
of what is missing: the page never publishes figures without their reading.

    python -m docsite.results_page                          # print the page
    python -m docsite.results_page --out docs/test-results.qmd
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from docsite.results_snapshot import COVERAGE, JUNIT, SNAPSHOT, count_ranges

READING = "reading.yaml"
LEAST_COVERED = 10
NO_PART = "No part (the test was not collected)"
REQUIREMENT_ID = re.compile(r"C(\d+)\.(\d+)")
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


# --- formatting ---------------------------------------------------------------------------------


def _cell(text: object) -> str:
    """Plain text safe in a Markdown table cell: no markup, no HTML, no column break."""
    out = " ".join(str(text).split())
    out = re.sub(r"([\\`*_\[\]{}#|~$])", r"\\\1", out)
    return out.replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else _cell(text)


def _table(head: list[str], rows: list[list[str]], caption: str) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out) + f"\n\n: {caption}\n"


def _n(value: int) -> str:
    return f"{value:,}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{_n(n)} {one if n == 1 else (many or one + 's')}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.1f} s"


def _date(stamp: str) -> str:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp or "unknown"
    return moment.astimezone(UTC).strftime("%-d %B %Y, %H:%M UTC")


def percent(counts: dict[str, int]) -> float | None:
    """coverage.py's figure: lines and branches that ran over lines and branches; None without code."""
    whole = counts["statements"] + counts["branches"]
    if not whole:
        return None
    ran = counts["statements"] - counts["missing"] + counts["branches"] - counts["missing_branches"]
    return 100 * ran / whole


def _pct(value: float | None) -> str:
    return "no code" if value is None else f"{value:.1f}%"


def _req_key(rid: str) -> tuple[int, ...]:
    m = REQUIREMENT_ID.fullmatch(rid)
    return (int(m[1]), int(m[2])) if m else (10**6,)


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


# --- sections -----------------------------------------------------------------------------------

HEADER = """---
title: "Test results"
subtitle: "What the latest test run passed, what that proves and what it does not"
lang: en
toc: true
toc-depth: 2
---

<!-- Generated by docsite/results_page.py from docs/results/ (written by `make test`); do not edit by hand. -->

This page reads the latest committed test run for the reader. `make test` writes the run's JUnit
XML and coverage figures to `docs/results/`; the page is generated from them when the site is
built, and the reading of each part comes from `docs/results/reading.yaml`, which is reviewed
like code. How to run the tests yourself is on the [tests page](testing.qmd); what each test is
and which requirement it serves is in the [test catalogue](test-catalogue.qmd).
"""


def _summary(run: Run, coverage: dict[str, Any]) -> str:
    passed, failed, errors, skipped = (run.count(o) for o in ("passed", "failed", "error", "skipped"))
    props = run.properties
    commit = props.get("git_commit", "unknown")
    short = commit[:12] if commit != "unknown" else commit
    dirty = props.get("git_dirty") == "true"
    args = props.get("pytest_args", "")
    chosen = [_code(c) for c in selection(args)]
    if props.get("deselected", "0") != "0":
        chosen.append(f"{_cell(props['deselected'])} collected tests deselected")
    total = percent(coverage["totals"])
    lines = [
        "\n## Summary\n",
        f"\nThe run of {_date(run.timestamp)} tested commit `{short}`"
        + (" with uncommitted changes" if dirty else "")
        + f". It ran {_plural(len(run.cases), 'test case')} in {_duration(run.seconds)}: "
        f"{_n(passed)} passed, {_n(failed)} failed, {_plural(errors, 'error')} and {_n(skipped)} skipped.",
    ]
    if failed or errors:
        lines.append(
            f" {_plural(failed + errors, 'test')} did not pass ([failures and errors](#failures-and-errors)): "
            "the reading of their parts holds only once they pass."
        )
    else:
        lines.append(" Every test that ran passed.")
    if chosen:
        lines.append(
            "\n\nThis run selected part of the suite (" + ", ".join(chosen) + "), so it does not "
            "show the state of the whole project: `make test` runs every test and replaces this snapshot."
        )
    if dirty:
        lines.append(
            "\n\nThe working tree differed from the commit when the tests ran: the figures describe that tree, "
            "not exactly the commit."
        )
    rows = [
        ["Date", _cell(_date(run.timestamp))],
        ["Commit", _code(commit) + (" (with uncommitted changes)" if dirty else "")],
        ["pytest arguments", _code(args) if args else "none recorded"],
        ["pytest exit status", _cell(props.get("exit_status", "not recorded"))],
        ["Test cases", _n(len(run.cases))],
        ["Passed", _n(passed)],
        ["Failed", _n(failed)],
        ["Errors", _n(errors)],
        ["Skipped", _n(skipped)],
        ["Duration", _duration(run.seconds)],
        ["Coverage (lines and branches)", _pct(total)],
    ]
    lines.append("\n\n" + _table(["Measure", "Value"], rows, "The run at a glance"))
    return "".join(lines)


def _failures(run: Run) -> str:
    bad = [c for c in run.cases if c.outcome in ("failed", "error")]
    out = "\n## Failures and errors\n\n"
    if not bad:
        return out + "No test failed, and none ended in an error.\n"
    rows = [[_code(c.nodeid), _cell(c.part), c.outcome, _cell(c.message or "no message")] for c in bad]
    return (
        out + f"{_plural(len(bad), 'test')} did not pass. A failure is an assertion that did not hold; an error "
        "is a test that could not run to its assertions (its set-up or tear-down failed). The full reports are "
        f"in `{SNAPSHOT / JUNIT}`.\n\n"
        + _table(["Test", "Part", "Outcome", "Message"], rows, "Tests that did not pass")
    )


def _skips(run: Run) -> str:
    skipped = [c for c in run.cases if c.outcome == "skipped"]
    out = "\n## Skipped tests\n\n"
    if not skipped:
        return out + "No test was skipped.\n"
    rows = [[_code(c.nodeid), _cell(c.message or "no reason given")] for c in skipped]
    xfail = sum(c.message.startswith("expected to fail") for c in skipped)
    marked = f" ({_n(xfail)} of them marked as expected to fail)" if xfail else ""
    return (
        out + f"{_plural(len(skipped), 'test was', 'tests were')} skipped{marked}: none of them proves anything in "
        "this run.\n\n" + _table(["Test", "Reason"], rows, "Skipped tests and their reasons")
    )


def _outcome_sentence(cases: list[Case]) -> str:
    counts = Counter(c.outcome for c in cases)
    if counts["passed"] == len(cases):
        return "All passed."
    parts = [
        f"{_n(counts[o])} {label}"
        for o, label in (
            ("passed", "passed"),
            ("failed", "failed"),
            ("error", "ended in an error"),
            ("skipped", "skipped"),
        )
        if counts[o]
    ]
    note = " The reading below holds only once they all pass." if counts["failed"] or counts["error"] else ""
    return ", ".join(parts) + "." + note


def _joined(values: list[str]) -> str:
    return ", ".join(sorted({v for v in values if v})) or "not recorded"


def _parts(run: Run, reading: dict[str, Any]) -> str:
    by_part: dict[str, list[Case]] = {}
    for case in run.cases:
        by_part.setdefault(case.part, []).append(case)
    rows = []
    for part, cases in by_part.items():
        counts = Counter(c.outcome for c in cases)
        rows.append(
            [
                _cell(part),
                _n(len(cases)),
                _n(counts["passed"]),
                _n(counts["failed"] + counts["error"]),
                _n(counts["skipped"]),
                f"{sum(c.seconds for c in cases):.1f}",
            ]
        )
    out = [
        "\n## Results per part\n\n"
        "Each test names the part of the system it targets. For each part: its cases and their outcome, then "
        "what its passing tests prove and what they do not prove.\n\n",
        _table(
            ["Part", "Cases", "Passed", "Failed or error", "Skipped", "Seconds"], rows, "Outcome of the run per part"
        ),
    ]
    for part, cases in by_part.items():
        out.append(f"\n### {_cell(part)}\n\n")
        reqs = sorted({r for c in cases for r in c.requirements}, key=_req_key)
        scopes, strategies, tools = (
            _cell(_joined([getattr(c, k) for c in cases])) for k in ("scope", "strategy", "tool")
        )
        out.append(
            f"{_plural(len(cases), 'case')}; scope: {scopes}; strategy: {strategies}; tools: {tools}; "
            f"requirements: {', '.join(reqs) or 'none'}. {_outcome_sentence(cases)}\n"
        )
        entry = reading["parts"].get(part)
        if part == NO_PART and not entry:
            out.append("\nThese tests could not even be collected: nothing about them is proven.\n")
            continue
        out.append(f"\n**What passing proves.** {' '.join(entry['proves'].split())}\n")
        out.append(f"\n**What it does not prove.** {' '.join(entry['does_not_prove'].split())}\n")
    return "".join(out)


def _requirements(run: Run) -> str:
    by_req: dict[str, list[Case]] = {}
    for case in run.cases:
        for rid in case.requirements:
            by_req.setdefault(rid, []).append(case)
    rows = []
    for rid in sorted(by_req, key=_req_key):
        cases = by_req[rid]
        counts = Counter(c.outcome for c in cases)
        parts = sorted({c.part for c in cases})
        rows.append(
            [
                rid,
                _n(len(cases)),
                _n(counts["passed"]),
                _n(counts["failed"] + counts["error"]),
                _n(counts["skipped"]),
                "; ".join(_cell(p) for p in parts),
            ]
        )
    return (
        "\n## Requirements and their evidence\n\n"
        "For each requirement id the tests carry: how many cases give evidence for it, how they ended, and the "
        "parts they test. A requirement with passing tests has evidence; whether that evidence covers all of "
        "the requirement is what the readings above say.\n\n"
        + _table(
            ["Requirement", "Cases", "Passed", "Failed or error", "Skipped", "Parts tested"],
            rows,
            "Evidence per requirement",
        )
    )


def _package(name: str) -> str:
    return str(Path(name).parent).replace("/", ".")


def _sum(files: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("statements", "missing", "branches", "missing_branches")
    return {k: sum(f[k] for f in files) for k in keys}


def least_covered(files: dict[str, dict[str, Any]]) -> list[tuple[float, str, dict[str, Any]]]:
    """The files with code that is not all covered: lowest figure first, then most lines missed."""
    found = [(pct, name, d) for name, d in files.items() if (pct := percent(d)) is not None and pct < 100]
    return sorted(found, key=lambda t: (t[0], -t[2]["missing"], t[1]))[:LEAST_COVERED]


def _shortened(ranges: str, keep: int = 8) -> str:
    """The first ranges of missing lines, and how many lines the rest hold (the snapshot has them all)."""
    parts = [p for p in ranges.split(", ") if p]
    if len(parts) <= keep:
        return ranges
    rest = count_ranges(", ".join(parts[keep:]))
    return ", ".join(parts[:keep]) + f" and {_plural(rest, 'more line')}"


def _coverage(coverage: dict[str, Any], reading: dict[str, Any], args: str) -> str:
    totals, files = coverage["totals"], coverage["files"]
    packages: dict[str, list[dict[str, Any]]] = {}
    for name, data in files.items():
        packages.setdefault(_package(name), []).append(data)
    rows = []
    for pkg in sorted(packages):
        sums = _sum(packages[pkg])
        rows.append(
            [
                f"`{pkg}`",
                _n(len(packages[pkg])),
                _n(sums["statements"]),
                _n(sums["missing"]),
                _n(sums["branches"]),
                _n(sums["missing_branches"]),
                _pct(percent(sums)),
            ]
        )
    gate = re.search(r"--cov-fail-under[= ](\d+(?:\.\d+)?)", args)
    total = percent(totals)
    gate_text = ""
    if gate and total is not None:
        met = "met" if total >= float(gate[1]) else "not met"
        gate_text = f" The gate of `make test` is {gate[1]}%: {met}."
    out = [
        "\n## Coverage\n\n",
        f"coverage.py {coverage.get('coverage_version') or ''} measured the code the tests ran, in the test "
        f"process, by line and by branch: {_pct(total)} of {_plural(totals['statements'], 'statement')} and "
        f"{_plural(totals['branches'], 'branch', 'branches')} ran ({_n(totals['missing'])} statements and "
        f"{_n(totals['missing_branches'])} branches never did).{gate_text}\n\n",
        _table(
            ["Package", "Files", "Statements", "Missed", "Branches", "Missed branches", "Coverage"],
            rows,
            "Coverage per package",
        ),
    ]
    ranked = least_covered(files)
    out.append("\n### Least-covered modules\n\n")
    if ranked:
        lines = [
            [
                f"`{name}`",
                _n(d["statements"]),
                _n(d["missing"]),
                _n(d["missing_branches"]),
                _pct(pct),
                _cell(_shortened(d["missing_lines"]) or "none (only branches)"),
            ]
            for pct, name, d in ranked
        ]
        out.append(
            f"The modules with the lowest coverage (at most {LEAST_COVERED}; fully covered modules and files "
            "without code are left out), and the lines no test ran:\n\n"
            + _table(
                ["Module", "Statements", "Missed", "Missed branches", "Coverage", "Lines never run"],
                lines,
                "Least-covered modules",
            )
        )
    else:
        out.append("Every measured module is fully covered.\n")
    out.append(f"\n### What coverage does not mean\n\n{reading_text(reading, 'coverage')}\n")
    return "".join(out)


def reading_text(reading: dict[str, Any], key: str) -> str:
    value = reading.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ResultsError(f"{SNAPSHOT / READING} has no {key!r} text")
    return value.strip()


def _gaps(run: Run, reading: dict[str, Any], omitted: list[str]) -> str:
    gaps = reading.get("gaps")
    if not isinstance(gaps, list) or not gaps:
        raise ResultsError(f"{SNAPSHOT / READING} has no 'gaps' list")
    out = ["\n## Known gaps\n\n### What this run cannot show\n\n"]
    out += [f"- {' '.join(str(g).split())}\n" for g in gaps]
    out.append("\n### Files outside coverage\n\n")
    if omitted:
        reasons = reading.get("omitted") or {}
        rows = [[f"`{p}`", _cell(" ".join(str(reasons[p]).split()))] for p in omitted]
        out.append(
            "`pyproject.toml` leaves these files out of coverage (`[tool.coverage.run] omit`): no coverage "
            "figure above includes them, and what tests them instead is said here.\n\n"
            + _table(["Files", "Why they are left out, and what tests them"], rows, "Files coverage does not measure")
        )
    else:
        out.append("Coverage leaves no file out.\n")
    skipped = run.count("skipped")
    out.append("\n### Tests that proved nothing in this run\n\n")
    if skipped or run.count("failed") or run.count("error"):
        out.append(
            f"{_plural(skipped, 'skipped test')} (see [skipped tests](#skipped-tests)) and "
            f"{_plural(run.count('failed') + run.count('error'), 'test')} that did not pass (see "
            "[failures and errors](#failures-and-errors)).\n"
        )
    else:
        out.append("None: every test that ran passed, and none was skipped.\n")
    return "".join(out)


def page(root: Path) -> str:
    """The whole page, from root/docs/results/ and root/pyproject.toml; ResultsError when incomplete."""
    run, coverage, reading = load_run(root), load_coverage(root), load_reading(root)
    parts = list(dict.fromkeys(c.part for c in run.cases if c.part != NO_PART))
    problems = missing_readings(parts, reading)
    omitted = omitted_patterns(root)
    reasons = reading.get("omitted") or {}
    problems += [f"coverage omit pattern {p!r} has no reason under 'omitted'" for p in omitted if not reasons.get(p)]
    if problems:
        raise ResultsError(
            f"{SNAPSHOT / READING} is incomplete for this run; add, for each part, `proves` and "
            "`does_not_prove`:\n  " + "\n  ".join(problems)
        )
    args = run.properties.get("pytest_args", "")
    return "".join(
        [
            HEADER,
            _summary(run, coverage),
            _failures(run),
            _skips(run),
            _parts(run, reading),
            _requirements(run),
            _coverage(coverage, reading, args),
            _gaps(run, reading, omitted),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docsite.results_page", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the project's root (default: .)")
    parser.add_argument("--out", type=Path, help="write the page here instead of printing it")
    args = parser.parse_args(argv)
    try:
        text = page(args.root)
    except ResultsError as exc:
        print(f"cannot build the test results page: {exc}", file=sys.stderr)
        return 1
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
