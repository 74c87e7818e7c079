"""The docs site as a fresh clone builds it: the git-known files copied to a temporary folder, the
notebooks of a small pipeline run in its reports/, `python -m docsite build` run there, and `_site`
served on 127.0.0.1 for the browser."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_support import serve_folder

from support import tracked_copy


@dataclass
class BuiltSite:
    source: Path  # the project copy the site was built from
    out: Path  # its _site
    log: str  # what the build printed
    seconds: float


def build_site(source: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # run from the copy, so that `-m docsite` and the render scripts are the copy's own
    return subprocess.run(
        [sys.executable, "-m", "docsite", "build", "--root", str(source)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def site_source(
    tmp_path_factory: pytest.TempPathFactory, executed_notebooks: Path, executed_monitoring_report: Path
) -> Path:
    source = tracked_copy(tmp_path_factory.mktemp("site") / "project")
    (source / "reports").mkdir(exist_ok=True)
    for notebook in [*sorted(executed_notebooks.glob("*.ipynb")), executed_monitoring_report]:
        shutil.copy2(notebook, source / "reports" / notebook.name)
    return source


@pytest.fixture(scope="session")
def built_site(site_source: Path) -> BuiltSite:
    started = time.perf_counter()
    proc = build_site(site_source)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, f"the site did not build:\n{proc.stderr[-6000:]}"
    return BuiltSite(site_source, site_source / "_site", proc.stderr, seconds)


@pytest.fixture(scope="session")
def site_url(built_site: BuiltSite) -> Iterator[str]:
    with serve_folder(built_site.out) as url:
        yield url
