"""The OpenAPI document, built from the same app the service runs, without Ray or a model."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from modelship.contract import load_contract
from serve.settings import ServiceSettings

APP_NAME = "modelship"


def settings_from_config(config_path: Path, app_name: str = APP_NAME) -> ServiceSettings:
    """The ServiceSettings of application `app_name` in a Serve config file."""
    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    for app in config.get("applications", []):
        if app.get("name") == app_name:
            return ServiceSettings.model_validate(app.get("args") or {})
    raise KeyError(f"no application named {app_name!r} in {config_path}: check its `applications:` list")


def openapi_document(settings: ServiceSettings) -> dict[str, Any]:
    from serve.api import create_api  # imports FastAPI; kept out of the config helpers

    return create_api(settings, load_contract(settings.contract_path)).openapi()


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_openapi(config_path: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(openapi_document(settings_from_config(config_path))), encoding="utf-8")
