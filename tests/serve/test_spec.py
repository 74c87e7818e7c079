"""serve/spec.py: the OpenAPI document built and written without a model or a service (C9.10).

The served document and the committed snapshot: tests/serve/routes/test_openapi.py.
"""

from __future__ import annotations

import json

import pytest
from api_support import params_file as _params
from api_support import serve_config as _config
from api_support import settings_of

from serve.spec import openapi_document, render, write_openapi

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3", "C9.10"),
    pytest.mark.catalogue(
        part="Spec: the OpenAPI document without a model, and its export",
        scope="unit",
        strategy="example-based",
        tool="pytest, in-process (no Ray)",
    ),
]


def test_the_openapi_document_is_built_without_a_model_or_a_service(tmp_path):
    spec = openapi_document(settings_of(params=_params(tmp_path), max_batch_rows=4))
    assert spec["components"]["schemas"]["PredictRequest"]["properties"]["records"]["maxItems"] == 4


def test_write_openapi_writes_a_stable_sorted_document(tmp_path):
    config = _config(tmp_path / "c.yaml", {"paths": {"params": _params(tmp_path)}})
    out = tmp_path / "out" / "openapi.json"
    write_openapi(config, out)
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n") and text == render(json.loads(text))
