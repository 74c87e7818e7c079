"""The in-process API's fixtures (tests/serve/conftest.py), for the retraining test: it scores and
labels cases through the real app. `registry_root`, which make_api serves, is the test module's own."""

from tests.serve.conftest import clients, contract_wdbc, make_api  # noqa: F401 (fixtures)
