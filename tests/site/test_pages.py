"""The table of generated pages: every generator runs before anything is written, pages are
replaced atomically, an unchanged page is left untouched. (C9.11, C12.7)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from docsite.footer import FOOTER_INCLUDE, footer_html, project_version
from docsite.pages import PAGES, write_all, write_atomic

pytestmark = [
    pytest.mark.requirement("C9.11", "C12.7"),
    pytest.mark.catalogue(
        part="Docs site generated pages (docsite/pages.py)", scope="unit", strategy="example-based", tool="pytest"
    ),
]


def version_page(root: Path) -> str:
    return "---\ntitle: Version\n---\n\n" + (root / "VERSION").read_text(encoding="utf-8")


def test_write_all_writes_each_page_from_its_generator(tmp_path):
    (tmp_path / "VERSION").write_text("1.2.3", encoding="utf-8")
    written = write_all(tmp_path, {"docs/version.qmd": version_page})
    assert written == [tmp_path / "docs/version.qmd"]
    assert (tmp_path / "docs/version.qmd").read_text(encoding="utf-8").endswith("1.2.3")
    assert [p.name for p in (tmp_path / "docs").iterdir()] == ["version.qmd"]  # no temporary file left
    assert oct((tmp_path / "docs/version.qmd").stat().st_mode & 0o777) != oct(0o600)


def test_an_unchanged_page_keeps_its_file_and_a_changed_one_is_replaced(tmp_path):
    page = tmp_path / "p.qmd"
    assert write_atomic(page, "a") is True
    os.utime(page, (1, 1))
    assert write_atomic(page, "a") is False and page.stat().st_mtime == 1
    assert write_atomic(page, "b") is True and page.read_text(encoding="utf-8") == "b"


def test_a_failing_generator_leaves_every_previous_page_in_place(tmp_path):
    (tmp_path / "VERSION").write_text("1", encoding="utf-8")
    write_all(tmp_path, {"a.qmd": version_page})

    def broken(root: Path) -> str:
        raise RuntimeError("the spec is missing")

    (tmp_path / "VERSION").write_text("2", encoding="utf-8")
    with pytest.raises(RuntimeError, match="spec is missing"):
        write_all(tmp_path, {"a.qmd": version_page, "b.qmd": broken})
    assert (tmp_path / "a.qmd").read_text(encoding="utf-8").endswith("1") and not (tmp_path / "b.qmd").exists()


@pytest.mark.parametrize("bad", ["../outside.qmd", "/abs.qmd"])
def test_a_page_outside_the_project_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="inside the project"):
        write_all(tmp_path, {bad: version_page})


def test_every_generated_file_is_git_ignored(repo_root):
    ignored = (repo_root / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert FOOTER_INCLUDE in ignored
    assert [rel for rel in PAGES if rel not in ignored] == []


def test_the_footer_carries_the_version_of_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2.0.1"\n', encoding="utf-8")
    assert project_version(tmp_path) == "2.0.1"
    assert footer_html(tmp_path).startswith('<footer class="footer ms-footer">') and "version 2.0.1" in footer_html(
        tmp_path
    )
