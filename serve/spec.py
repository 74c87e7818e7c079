"""The OpenAPI document, built from the same app the service runs, without Ray or a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelship.contract import load_contract
from serve.settings import Settings


def openapi_document(settings: Settings) -> dict[str, Any]:
    from serve.api import create_api  # imports FastAPI; kept out of the config helpers

    return create_api(settings, load_contract(settings.paths.contract)).openapi()


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_openapi(config_path: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(openapi_document(Settings.from_config(config_path))), encoding="utf-8")
