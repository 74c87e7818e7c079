"""The app stands alone: no import of the surrounding project's packages, no read of its files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.requirement("C10.9"),
    pytest.mark.catalogue(
        part="Lab app: independence from modelship and serve", scope="unit", strategy="inspection", tool="pytest, ast"
    ),
]

APP_DIR = Path(__file__).resolve().parents[1]
FORBIDDEN = {"modelship", "serve", "bench", "docsite", "scripts"}
SOURCES = sorted(p for p in APP_DIR.rglob("*.py") if ".venv" not in p.parts)


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            roots.update(
                a.value.split(".")[0] for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
            )
    return roots


def test_the_sources_are_found() -> None:
    names = {p.relative_to(APP_DIR).as_posix() for p in SOURCES}
    assert {"pathlab/web.py", "pathlab/cli.py", "tests/test_independence.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(APP_DIR).as_posix())
def test_no_module_imports_the_surrounding_project(path: Path) -> None:
    assert not (_imported_roots(path) & FORBIDDEN)


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import serve.app\nfrom modelship import contract\nimport importlib\nimportlib.import_module('bench.run')\n",
        encoding="utf-8",
    )
    assert _imported_roots(sample) >= {"serve", "modelship", "bench"}


def test_nothing_outside_the_app_folder_is_referenced() -> None:
    for path in [*SOURCES, *APP_DIR.glob("pathlab/templates/*.html"), APP_DIR / "settings.toml"]:
        text = path.read_text(encoding="utf-8")
        if path.name == "test_independence.py":
            continue
        assert "contracts/" not in text and "../" not in text, path
