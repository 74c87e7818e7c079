"""`python -m docsite build`: render the site with Quarto where it is installed, else smalldocs.

smalldocs builds the same `_quarto.yml` offline but drops what it cannot render and says so only
in warnings (an unknown key, a literal `@tbl-` reference, a broken link): here every warning and
every `smalldocs check` finding fails the build, so nothing is lost silently."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from docsite.captions import lost_captions

CONFIG = "_quarto.yml"
OUTPUT = "_site"  # project.output-dir


class BuildFailed(Exception):
    pass


@dataclass
class BuildResult:
    renderer: str
    seconds: float
    output: str


def smalldocs_command() -> list[str]:
    """smalldocs from the environment this Python runs in (the project's .venv)."""
    return [sys.executable, "-c", "import sys; from smalldocs.cli import main; sys.exit(main())"]


def run(command: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QUARTO_PYTHON": os.environ.get("QUARTO_PYTHON", sys.executable)}
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)


def findings(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of a smalldocs run that name a problem, not its progress."""
    lines = [line.strip() for line in (proc.stdout + "\n" + proc.stderr).splitlines() if line.strip()]
    progress = ("pre-render:", "post-render:", "wrote ")
    return [line for line in lines if not line.startswith(progress) and "thing(s) to look at" not in line]


def build_with_smalldocs(root: Path) -> str:
    check = run([*smalldocs_command(), "check", str(root)], root)
    problems = findings(check)
    if check.returncode or problems:
        raise BuildFailed("smalldocs check found:\n  " + "\n  ".join(problems or [check.stderr.strip()]))
    render = run([*smalldocs_command(), "render", "--strict", str(root)], root)
    warnings = [line for line in findings(render) if line.startswith(("warning:", "smalldocs:"))]
    if render.returncode or warnings:
        raise BuildFailed("smalldocs render failed:\n  " + "\n  ".join(warnings or findings(render)))
    return render.stderr


def build_with_quarto(quarto: str, root: Path) -> str:
    proc = run([quarto, "render", str(root)], root)
    if proc.returncode:
        raise BuildFailed(f"quarto render failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stderr


def check_captions(root: Path) -> None:
    lost = lost_captions(root, root / OUTPUT)
    if lost:
        raise BuildFailed("captions lost:\n  " + "\n  ".join(lost))


def build(root: Path) -> BuildResult:
    if not (root / CONFIG).is_file():
        raise BuildFailed(f"{root} has no {CONFIG}")
    started = time.perf_counter()
    quarto = shutil.which("quarto")
    if quarto:
        renderer, output = "quarto", build_with_quarto(quarto, root)
    else:
        renderer, output = "smalldocs", build_with_smalldocs(root)
    check_captions(root)
    return BuildResult(renderer, time.perf_counter() - started, output)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m docsite", description="Build the documentation site.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="render the site into _site: Quarto when installed, else smalldocs")
    b.add_argument("--root", type=Path, default=Path("."), help="the project folder holding _quarto.yml")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # bad arguments: argparse prints usage and exits 2
    root = args.root.resolve()
    if not (root / CONFIG).is_file():
        print(f"docsite: {args.root} is not a project folder (no {CONFIG} in it)", file=sys.stderr)
        return 2
    renderer = "quarto" if shutil.which("quarto") else "smalldocs"
    print(f"docsite: building {root} with {renderer}", file=sys.stderr)
    try:
        result = build(root)
    except BuildFailed as e:
        print(f"docsite: the build failed.\n{e}", file=sys.stderr)
        return 1
    print(result.output.strip(), file=sys.stderr)
    print(f"docsite: built {root / OUTPUT} with {result.renderer} in {result.seconds:.1f} s", file=sys.stderr)
    return 0
