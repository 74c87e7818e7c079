"""Transitional: tests/serve/api/test_hardening_*.py, written in parallel with the new layout,
import these names from here; their fixtures (`api`, `make_api`) are in tests/serve/conftest.py.
The one source is tests/api_support.py; remove this file once those modules have moved."""
from api_support import (ALLOWED_ORIGIN, CHEAP_ARGON2, CLIENT_LIMITS, GoneModel, SlowModel, problem,
                         settings_of)

__all__ = ["ALLOWED_ORIGIN", "CHEAP_ARGON2", "CLIENT_LIMITS", "GoneModel", "SlowModel", "problem", "settings_of"]
