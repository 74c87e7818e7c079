"""Transitional: tests/api/test_sockets.py imports problem_of from here; its fixture `served` is
in tests/conftest.py. The one source is tests/api_support.py; remove this file once the modules
left in tests/api have moved to tests/live."""
from api_support import ALLOWED_ORIGIN, problem_of

__all__ = ["ALLOWED_ORIGIN", "problem_of"]


def pytest_collection_modifyitems(items) -> None:
    # The modules here run against the live service too: `-m "not live"` leaves them out.
    import pytest

    for item in items:
        if item.path.is_relative_to(__file__.rsplit("/", 1)[0]) and "served" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.live)
