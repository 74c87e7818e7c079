"""pytest plugin: each test's catalogue markers as JUnit XML properties, for docs/test-results.qmd.

With `--junitxml`, every <testcase> carries its node id, the catalogue fields (part, scope,
strategy, tool) and its requirement ids, read as scripts/test_catalogue.py reads them, so the
results page can group the run by part without collecting the tests again. The suite records
pytest's arguments and how many collected tests were deselected, so a page built from a partial
run says so.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE_MODULE = "catalogue_script"  # the name tests/test_catalogue.py loads the script under
DESELECTED = pytest.StashKey[int]()


def _catalogue() -> ModuleType:
    """scripts/test_catalogue.py (not a package): the one reader of the markers."""
    if CATALOGUE_MODULE in sys.modules:
        return sys.modules[CATALOGUE_MODULE]
    spec = importlib.util.spec_from_file_location(CATALOGUE_MODULE, ROOT / "scripts" / "test_catalogue.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[CATALOGUE_MODULE] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def properties(item: pytest.Item) -> list[tuple[str, str]]:
    """The JUnit properties of one item: node id, catalogue fields, requirement ids (space-separated)."""
    catalogue = _catalogue()
    case = catalogue.case_of(item)
    fields = [(key, str(case.fields.get(key, ""))) for key in catalogue.FIELDS]
    return [("nodeid", item.nodeid), *fields, ("requirements", " ".join(case.requirements))]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # set at collection, so that a test failing in its set-up or skipped still carries them
    for item in items:
        item.user_properties.extend(properties(item))


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        stash = items[0].config.stash
        stash[DESELECTED] = stash.get(DESELECTED, 0) + len(items)


def deselected(config: pytest.Config) -> int:
    """How many collected tests this session deselected (-m, -k, --deselect or a plugin)."""
    return config.stash.get(DESELECTED, 0)


@pytest.fixture(scope="session", autouse=True)
def _record_the_selection(record_testsuite_property, pytestconfig: pytest.Config) -> None:
    record_testsuite_property("pytest_args", shlex.join(pytestconfig.invocation_params.args))
    record_testsuite_property("deselected", deselected(pytestconfig))
