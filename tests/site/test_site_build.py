"""`python -m docsite build` with smalldocs: a lost cross-reference, a broken link or an unknown key
fails the build with a message naming it, and bad arguments exit 2 without a traceback.
(C9.11, C11.9, C12.7, C13.8)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from docsite.build import main

pytestmark = [
    pytest.mark.requirement("C9.11", "C11.9", "C12.7", "C13.8"),
    pytest.mark.catalogue(
        part="Docs site build: python -m docsite build (smalldocs when Quarto is absent)",
        scope="integration",
        strategy="fault injection",
        tool="pytest, smalldocs",
    ),
]


@pytest.fixture
def project(site_source: Path, tmp_path: Path) -> Path:
    """A buildable copy of the project, to break."""
    return Path(shutil.copytree(site_source, tmp_path / "project", ignore=shutil.ignore_patterns("_site")))


def add_page(project: Path, name: str, body: str) -> None:
    (project / "docs" / name).write_text(f'---\ntitle: "A page to break the build"\n---\n\n{body}\n', encoding="utf-8")


def test_the_copy_builds_and_says_which_renderer_it_used(project, capsys):
    assert main(["build", "--root", str(project)]) == 0
    err = capsys.readouterr().err
    assert "with smalldocs" in err and (project / "_site" / "index.html").is_file()


def test_a_lost_table_reference_fails_the_build_naming_the_page(project, capsys):
    add_page(project, "lost-reference.qmd", "The figures are in @tbl-missing.")
    assert main(["build", "--root", str(project)]) == 1
    err = capsys.readouterr().err
    assert "docs/lost-reference.qmd:5: a cross-reference" in err and "Traceback" not in err
    assert not (project / "_site").exists()  # the check runs before anything is rendered


def test_a_broken_link_fails_the_build_naming_it(project, capsys):
    add_page(project, "broken-link.qmd", "Read [the missing page](nowhere.qmd).")
    assert main(["build", "--root", str(project)]) == 1
    assert "docs/broken-link.qmd: broken link nowhere.qmd" in capsys.readouterr().err


def test_a_caption_quarto_would_not_read_fails_the_build_naming_the_cell(project, capsys):
    path = project / "reports" / "02_train.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    source = "# NBVAL_CHECK_OUTPUT\n#| tbl-cap: A caption under a marker\nsummary"
    notebook["cells"].append(
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    )
    path.write_text(json.dumps(notebook), encoding="utf-8")
    assert main(["build", "--root", str(project)]) == 1
    err = capsys.readouterr().err
    assert f"reports/02_train.ipynb: cell {len(notebook['cells'])}: tbl-cap 'A caption under a marker'" in err


def test_an_unknown_key_fails_the_build(project, capsys):
    config = project / "_quarto.yml"
    config.write_text(config.read_text(encoding="utf-8") + "\ncolour-scheme: midnight\n", encoding="utf-8")
    assert main(["build", "--root", str(project)]) == 1
    assert "unknown key colour-scheme" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["build", "--root", "no/such/folder"], ["build", "--rooot", "."], ["publish"], []])
def test_bad_arguments_exit_2_with_a_message_and_no_traceback(args, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "docsite", *args], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() and "Traceback" not in proc.stderr


def fake_quarto(folder: Path, exit_code: int) -> Path:
    """A `quarto` on PATH that records how it was called: Quarto itself cannot be installed here,
    and what is tested is the choice of renderer and the call, not Quarto's rendering."""
    folder.mkdir()
    script = folder / "quarto"
    script.write_text(
        f'#!/bin/sh\necho "$@" > "{folder}/args"\necho "$QUARTO_PYTHON" > "{folder}/python"\n'
        f'echo "ERROR: rendering stopped" >&2\nexit {exit_code}\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return folder


@pytest.mark.parametrize("exit_code", [0, 1])
def test_quarto_on_path_is_used_instead_of_smalldocs(tmp_path, monkeypatch, capsys, exit_code):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "_quarto.yml").write_text("project:\n  type: website\n", encoding="utf-8")
    bin_dir = fake_quarto(tmp_path / "bin", exit_code)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("QUARTO_PYTHON", raising=False)
    code = main(["build", "--root", str(tmp_path / "project")])
    err = capsys.readouterr().err
    assert (bin_dir / "args").read_text(encoding="utf-8").split() == ["render", str(tmp_path / "project")]
    assert (bin_dir / "python").read_text(encoding="utf-8").strip() == sys.executable  # runs the render scripts
    assert "with quarto" in err
    if exit_code:
        assert code == 1 and "quarto render failed (exit 1)" in err and "rendering stopped" in err
    else:
        assert code == 0
