"""Prometheus's side of the alerts (serve.monitoring.promrules; C11.6, C11.7): the committed
rules file is the one the alert rules generate, promtool accepts it and the scrape config, and
promtool's own rule tests (monitoring/prometheus-rules.test.yml) show the drift alert pending,
then firing, then resolved on synthetic series, and still firing across a window too small to
judge. promtool comes with Debian's prometheus package
(`make system-deps`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from serve.monitoring import promrules
from serve.settings import Settings

pytestmark = [
    pytest.mark.requirement("C11.6", "C11.7"),
    pytest.mark.catalogue(
        part="Monitoring: Prometheus rules and scrape config (serve.monitoring.promrules, promtool)",
        scope="unit",
        strategy="snapshot",
        tool="pytest, promtool (Debian's prometheus package)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "monitoring"


def promtool(*args: str, cwd: Path = FOLDER) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: run `make system-deps` (Debian's prometheus package)"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_the_committed_prometheus_rules_are_the_generated_ones():
    settings = Settings.from_config(ROOT / "serve/config.yaml")
    committed = (FOLDER / "prometheus-rules.yml").read_text(encoding="utf-8")
    assert committed == promrules.generate(settings), "run: python -m serve.monitoring.promrules"
    assert promrules.main(["--check"]) == 0


def test_the_check_fails_on_a_stale_file_and_a_bad_rules_file_is_refused(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "rules.yml"
    stale.write_text("groups: []\n", encoding="utf-8")
    assert promrules.main(["--check", "--out", str(stale)]) == 1
    assert "is stale" in capsys.readouterr().err
    bad = tmp_path / "alerts.yaml"
    bad.write_text("rules:\n  - id: drift\n", encoding="utf-8")
    monkeypatch.setenv("MODELSHIP_MONITORING__ALERT_RULES", str(bad))
    assert promrules.main(["--out", str(tmp_path / "out.yml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"promrules: {bad}: rule 1: missing metric") and not (tmp_path / "out.yml").exists()


def test_a_sandbox_window_length_scales_the_for_durations(tmp_path):
    settings = Settings.from_config(ROOT / "serve/config.yaml")
    text = promrules.generate(settings, window_s=1.5)
    assert "for: 1500ms" in text and "for: 60s" not in text
    (tmp_path / "rules.yml").write_text(text, encoding="utf-8")
    done = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_rules():
    done = promtool("check", "rules", "prometheus-rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout


def test_promtool_accepts_the_scrape_config_with_its_token_file(tmp_path):
    for name in ("prometheus.yml", "prometheus-rules.yml"):
        shutil.copy(FOLDER / name, tmp_path / name)
    missing = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert missing.returncode != 0 and "prometheus.token" in missing.stdout + missing.stderr
    (tmp_path / "prometheus.token").write_text("an-access-token\n", encoding="utf-8")
    done = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_rule_tests_show_drift_pending_then_firing_then_resolved():
    done = promtool("test", "rules", "prometheus-rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
