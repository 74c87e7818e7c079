"""Turn one test run's JUnit XML and coverage JSON into the committed snapshot docs/results/.

`make test` runs pytest with `--junitxml` and `--cov-report=json` into a scratch folder, then

    python -m docsite.results_snapshot var/test-run --exit-status $status

writes docs/results/junit.xml and docs/results/coverage.json, which docsite/results_page.py reads.
The JUnit file keeps every test case and its properties (tests/junit_catalogue.py); it gains the
run's git commit and exit status, and loses what only adds noise to a committed file: the host
name, and this machine's paths in failure texts. The coverage file keeps, per source file, the
counts and the missing lines, not coverage.py's full line-by-line report.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SNAPSHOT = Path("docs/results")
RUN_DIR = Path("var/test-run")  # where `make test` has pytest write the run (TEST_RUN in the Makefile)
JUNIT = "junit.xml"
COVERAGE = "coverage.json"
# pytest's exit codes: 0 all passed, 1 some failed (or the coverage gate); the others mean the run
# did not happen as a whole (interrupted, internal or usage error, nothing collected)
RECORDED_EXIT = {0, 1}
TEXT_LIMIT = 4000
PYTEST_TMP = re.compile(r"/\S*?/pytest-of-[^/\s]+/pytest-\d+")


class SnapshotError(Exception):
    """The run's files are missing or unreadable."""


def missing_ranges(lines: list[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9': consecutive line numbers only, so the ranges count the lines exactly."""
    runs: list[list[int]] = []
    for n in sorted(lines):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in runs)


def count_ranges(text: str) -> int:
    """The number of lines '3-5, 9' names (4)."""
    total = 0
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        total += int(high or low) - int(low) + 1
    return total


def _counts(summary: dict[str, Any]) -> dict[str, int]:
    return {
        "statements": summary["num_statements"],
        "missing": summary["missing_lines"],
        "excluded": summary["excluded_lines"],
        "branches": summary.get("num_branches", 0),
        "missing_branches": summary.get("missing_branches", 0),
        "partial_branches": summary.get("num_partial_branches", 0),
    }


def compact_coverage(report: dict[str, Any]) -> dict[str, Any]:
    """coverage.py's JSON report (format 3) reduced to counts and missing lines per file."""
    try:
        files = {
            name: {**_counts(data["summary"]), "missing_lines": missing_ranges(data["missing_lines"])}
            for name, data in sorted(report["files"].items())
        }
        totals = {**_counts(report["totals"]), "percent": round(report["totals"]["percent_covered"], 4)}
        meta = report["meta"]
    except (KeyError, TypeError) as exc:
        raise SnapshotError(f"not a coverage.py JSON report (missing {exc})") from exc
    return {
        "coverage_version": meta.get("version"),
        "branch": meta.get("branch_coverage"),
        "totals": totals,
        "files": files,
    }


def dump_coverage(coverage: dict[str, Any]) -> str:
    """JSON with one line per source file, so that a new run's diff shows the files whose figures moved."""
    head = {k: v for k, v in coverage.items() if k != "files"}
    lines = [f"  {json.dumps(name)}: {json.dumps(data)}" for name, data in coverage["files"].items()]
    return json.dumps(head, indent=1)[:-2] + ',\n "files": {\n' + ",\n".join(lines) + "\n }\n}\n"


def _clean_text(text: str, root: Path) -> str:
    text = PYTEST_TMP.sub("<tmp>", text.replace(f"{root}/", "").replace(str(root), "."))
    if len(text) > TEXT_LIMIT:
        text = "[… start cut; the end of the report follows]\n" + text[-TEXT_LIMIT:]
    return text


def clean_junit(suites: ET.Element, root: Path, commit: str, dirty: bool, exit_status: int) -> None:
    """Strip the JUnit tree of host name and machine paths; add the run's commit and exit status."""
    suite = suites.find("testsuite") if suites.tag == "testsuites" else suites
    if suite is None:
        raise SnapshotError("the JUnit file has no <testsuite>")
    suite.attrib.pop("hostname", None)
    stamp = suite.get("timestamp")
    if stamp:
        suite.set("timestamp", datetime.fromisoformat(stamp).astimezone(UTC).isoformat(timespec="seconds"))
    props = suite.find("properties")
    if props is None:
        props = ET.Element("properties")
        suite.insert(0, props)
    for name, value in (("git_commit", commit), ("git_dirty", str(dirty).lower()), ("exit_status", str(exit_status))):
        props.append(ET.Element("property", name=name, value=value))
    for element in suites.iter():
        for key, value in element.attrib.items():
            element.set(key, _clean_text(value, root))
        if element.text and element.text.strip():
            element.text = _clean_text(element.text, root)
    ET.indent(suites, space=" ")


def git_state(root: Path) -> tuple[str, bool]:
    """The checked-out commit, and whether the tree differs from it (the snapshot folder aside)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", f":!{SNAPSHOT.as_posix()}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(status.strip())


def write(run_dir: Path, out_dir: Path, root: Path, exit_status: int) -> list[Path]:
    """Write the snapshot from a run folder holding junit.xml and coverage.json; returns the files written."""
    junit_in, coverage_in = run_dir / JUNIT, run_dir / COVERAGE
    for path in (junit_in, coverage_in):
        if not path.is_file():
            raise SnapshotError(
                f"{path} is missing: run pytest with --junitxml={junit_in} --cov-report=json:{coverage_in}"
            )
    try:
        suites = ET.parse(junit_in).getroot()
    except ET.ParseError as exc:
        raise SnapshotError(f"{junit_in} is not XML: {exc}") from exc
    try:
        report = json.loads(coverage_in.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{coverage_in} is not JSON: {exc}") from exc
    commit, dirty = git_state(root)
    coverage = compact_coverage(report)
    if suites is None:
        raise SnapshotError(f"{junit_in} is empty")
    clean_junit(suites, root.resolve(), commit, dirty, exit_status)
    out_dir.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(out_dir / JUNIT, encoding="utf-8", xml_declaration=True)
    (out_dir / COVERAGE).write_text(dump_coverage(coverage), encoding="utf-8")
    return [out_dir / JUNIT, out_dir / COVERAGE]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docsite.results_snapshot", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="folder holding the run's junit.xml and coverage.json")
    parser.add_argument("--out", type=Path, default=SNAPSHOT, help="snapshot folder (default: %(default)s)")
    parser.add_argument("--root", type=Path, default=Path("."), help="the project's root (default: .)")
    parser.add_argument("--exit-status", type=int, default=0, help="pytest's exit status for this run")
    args = parser.parse_args(argv)
    if args.exit_status not in RECORDED_EXIT:
        print(
            f"pytest ended with exit status {args.exit_status} (not a complete run): {args.out} is left as it was",
            file=sys.stderr,
        )
        return 0
    try:
        written = write(args.run_dir, args.out, args.root, args.exit_status)
    except SnapshotError as exc:
        print(f"cannot write the test results snapshot: {exc}", file=sys.stderr)
        return 1
    print("test results snapshot: " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
