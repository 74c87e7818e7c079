"""serve/schemas.py: the request models generated from the data contract (C9.2, C9.3).

Unit tests on the real contract and on a toy one with int and category features.
"""

from __future__ import annotations

import pytest
from api_support import CONTRACT, sample_records
from api_support import TOY_CONTRACT as TOY
from pydantic import ValidationError

from modelship.contract import load_contract
from serve.schemas import contract_models, record_model

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3"),
    pytest.mark.catalogue(
        part="Schemas: the record and request models generated from the contract",
        scope="unit",
        strategy="example-based",
        tool="pytest, in-process (no Ray)",
    ),
]


def test_the_record_model_has_every_contract_feature_required_in_order():
    model = record_model(load_contract(CONTRACT))
    schema = model.model_json_schema()
    assert list(schema["properties"]) == load_contract(CONTRACT).feature_names == schema["required"]
    # The API reads a validated record's values in this order, whatever order the client sent.
    shuffled = dict(reversed(list(sample_records(1)[0].items())))
    assert list(model.model_validate(shuffled).__dict__) == load_contract(CONTRACT).feature_names


def test_int_and_category_features_are_typed_from_the_contract():
    model = record_model(TOY)
    assert model.model_validate({"count": 3, "colour": "red"})
    for bad in ({"count": 3.5, "colour": "red"}, {"count": 3, "colour": "green"}, {"count": 11, "colour": "red"}):
        with pytest.raises(ValidationError):
            model.model_validate(bad)


def test_the_batch_cap_becomes_max_items_in_the_schema():
    request = contract_models(load_contract(CONTRACT), max_rows=7).predict_request
    assert request.model_json_schema()["properties"]["records"]["maxItems"] == 7


def test_sample_records_fit_the_contract():
    record_model(load_contract(CONTRACT)).model_validate(sample_records(1)[0])
