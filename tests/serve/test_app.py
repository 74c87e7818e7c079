"""serve/app.py: the Ray Serve application object, built without Ray running (C9.2, C9.3, C9.10).

Building the deployment graph does not start Ray; what runs in Ray's processes is covered by
the live suite (tests/live), not by coverage.
"""

from __future__ import annotations

import pytest
import yaml
from api_support import ROOT
from pydantic import ValidationError

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3", "C9.10"),
    pytest.mark.catalogue(
        part="Ray deployment: the application object and its serve config",
        scope="unit",
        strategy="example-based",
        tool="pytest, in-process (no Ray)",
    ),
]


def test_the_application_is_one_deployment_holding_the_model():
    from serve.app import Ingress, build

    app = build({})
    assert app._bound_deployment.name == "Ingress"
    assert app._bound_deployment.func_or_class is Ingress.func_or_class
    # No handle argument: the model is in the replica, not in another deployment.
    assert not any(hasattr(a, "_bound_deployment") for a in app._bound_deployment.init_args)


def test_the_application_refuses_invalid_settings_before_deploying():
    from serve.app import build

    with pytest.raises(ValidationError):
        build({"topology": "split"})


@pytest.mark.requirement("C9.1")
@pytest.mark.catalogue(part="API security: OWASP API Security Top 10 (2023), API4", strategy="inspection")
def test_api4_overload_settings_are_in_the_serve_config():
    config = yaml.safe_load((ROOT / "serve" / "config.yaml").read_text())
    assert config["http_options"]["request_timeout_s"] > 0
    for dep in config["applications"][0]["deployments"]:
        assert dep["max_queued_requests"] > 0 and dep["max_ongoing_requests"] > 0, dep["name"]
