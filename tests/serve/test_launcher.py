"""serve/launcher.py: the environment the launcher prepares for Ray (C9.2, C9.3).

Checked in this process without starting Ray; the launcher itself runs the live suite's
service (tests/live), where its processes are checked.
"""

from __future__ import annotations

import os

import pytest

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3"),
    pytest.mark.catalogue(
        part="Launcher: every ingress replica on the service port, Ray's home and ports",
        scope="integration",
        strategy="example-based",
        tool="pytest, in-process (no Ray)",
    ),
]


def test_the_launcher_gives_every_ingress_replica_the_service_port(tmp_path):
    from serve.launcher import prepare_environment
    from serve.shared_port import ENV, shared_port

    saved = dict(os.environ)
    try:
        env = prepare_environment(tmp_path, tmp_path / "ray", throughput_optimized=True, service_port=18123)
        assert env[ENV] == "18123" and shared_port() == 18123
        assert env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"] == "18123"
        assert env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] == "18132"  # below Serve's proxy, port + 10
        assert env["RAY_SERVE_PORT_QUARANTINE_S"] == "0"
        assert (tmp_path / "ray" / "home" / "ray_bootstrap_config.yaml").exists()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert shared_port() is None or ENV in saved  # nothing leaks into the test process
