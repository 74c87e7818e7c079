"""The HTTP API as a FastAPI app (see app.py); the Ray deployment around it is serve/app.py."""

from serve.api.app import create_api

__all__ = ["create_api"]
