"""The dashboard's section of docs/monitoring.qmd says what the code does: every setting with its
default, the make target, the states the page can be in, and the failures it names (C11.8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboard import api_client
from dashboard.settings import ENV_PREFIX, DashboardSettings
from dashboard.view import STATUS_WORDS

pytestmark = [
    pytest.mark.requirement("C11.8"),
    pytest.mark.catalogue(
        part="Monitoring dashboard: its documentation against its code",
        scope="unit",
        strategy="inspection",
        tool="pytest",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "monitoring.qmd").read_text(encoding="utf-8")
SECTION = PAGE[PAGE.index("## Dashboard") : PAGE.index("## Tests")]


def table(caption: str) -> list[list[str]]:
    match = re.search(r"((?:^\|.*\|\n)+)\n: " + re.escape(caption), SECTION, re.M)
    assert match, f"no table captioned {caption!r}"
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in match.group(1).splitlines()[2:]]


def test_every_setting_is_documented_with_its_default():
    rows = {row[0]: row[1] for row in table("Settings of the dashboard")}
    named = " ".join(rows)
    defaults = " ".join(rows.values())
    for name, info in DashboardSettings.model_fields.items():
        assert f"`{name}`" in named, name
        if info.default is not None:
            assert (
                f"`{info.default:g}`" in defaults if isinstance(info.default, float) else str(info.default) in defaults
            )
    assert ENV_PREFIX + "<FIELD>" in SECTION and "make dashboard" in SECTION


def test_the_states_and_failures_are_the_ones_the_page_shows():
    states = [row[0] for row in table("The states of the dashboard")]
    assert sorted(states) == sorted(STATUS_WORDS.values())
    failures = " ".join(row[1] for row in table("How the dashboard reports the service's failures"))
    for error in (
        api_client.Unreachable,
        api_client.CredentialsRefused,
        api_client.ScopeMissing,
        api_client.SessionEnded,
        api_client.MonitoringOff,
        api_client.Busy,
    ):
        assert error.title in failures, error.title
    assert "SCOPES=monitor KIND=user" in SECTION
