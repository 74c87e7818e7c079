"""Transitional: tests/api/test_sockets.py and tests/serve/api/test_hardening_*.py, written in
parallel with the new layout, import these names from here. The one source is
tests/api_support.py; remove this file once those modules have moved (tests/live, tests/serve)."""
from api_support import CLIENTS, CONTRACT, ROOT, build_registry, sample_records, training_data

__all__ = ["CLIENTS", "CONTRACT", "ROOT", "build_registry", "sample_records", "training_data"]
