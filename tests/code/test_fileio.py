"""The one atomic file write, shared by the registry and the JWT key file. (C12.5, C9.3)"""

from __future__ import annotations

import os

import pytest

from modelship.fileio import write_atomic

pytestmark = [
    pytest.mark.requirement("C12.5", "C9.3"),
    pytest.mark.catalogue(
        part="Package: atomic file writes (modelship.fileio)",
        scope="unit",
        strategy="example-based, fault injection",
        tool="pytest",
    ),
]


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_write_replaces_the_content_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "pointer.json"
    path.write_text("old")
    assert write_atomic(path, "new") is True
    assert path.read_text() == "new" and leftovers(tmp_path) == []


def test_a_secret_file_is_created_with_its_mode(tmp_path):
    path = tmp_path / "keys.json"
    write_atomic(path, "secret", mode=0o600)
    assert path.stat().st_mode & 0o777 == 0o600


def test_without_a_mode_the_file_gets_what_the_umask_allows(tmp_path):
    previous = os.umask(0o022)
    try:
        write_atomic(tmp_path / "card.md", "text")
    finally:
        os.umask(previous)
    assert (tmp_path / "card.md").stat().st_mode & 0o777 == 0o644


def test_an_exclusive_write_keeps_the_file_already_there(tmp_path):
    path = tmp_path / "keys.json"
    assert write_atomic(path, "first", mode=0o600, exclusive=True) is True
    assert write_atomic(path, "second", mode=0o600, exclusive=True) is False
    assert path.read_text() == "first" and leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_old_content_and_no_temporary_file(tmp_path):
    path = tmp_path / "metadata.json"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "half \ud800 written")
    assert path.read_text() == "old" and leftovers(tmp_path) == []
