from __future__ import annotations

import pytest

from modelship.dataset import split
from modelship.registry import Registry
from modelship.train import train_candidate


@pytest.fixture(scope="session")
def wdbc_split(wdbc, contract, params):
    return split(wdbc, contract, params.test_size, params.seed)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, wdbc_split, contract, params):
    registry = Registry(tmp_path_factory.mktemp("registry"))
    return train_candidate(wdbc_split.train, contract, params, registry, "0" * 64, progress=False), registry
