"""docs/data-contract.qmd: the feature dictionary, generated from the contract params.yaml names.

The contract is read with the project's own loaders (modelship.params, modelship.contract), so
the page shows what the data checks, the API and the model read, for whichever dataset the
params file points to.
"""

from __future__ import annotations

from pathlib import Path

from docsite.md import code, front_matter, table
from docsite.schema_fields import number
from modelship.contract import Contract, Feature, load_contract
from modelship.params import load_params

PARAMS = Path("params.yaml")
FEATURE_HEADER = ("Feature", "Type", "Unit", "Valid range", "Missing value", "Monotonic", "Description")


def valid_range(feature: Feature) -> str:
    if feature.categories:
        return "one of " + ", ".join(code(c) for c in feature.categories)
    low, high = feature.min, feature.max
    if low is not None and high is not None:
        return f"{number(low)} to {number(high)}"
    if low is not None:
        return f"≥ {number(low)}"
    if high is not None:
        return f"≤ {number(high)}"
    return "any"


def missing_policy(feature: Feature) -> str:
    if feature.impute:
        return f"allowed; training fills it with the {feature.impute.replace('_', ' ')} value"
    return "refused"


def monotonic(feature: Feature, positive: str) -> str:
    if feature.monotonic == "increasing":
        return f"increasing: a larger value never lowers the probability of {code(positive)}"
    if feature.monotonic == "decreasing":
        return f"decreasing: a larger value never raises the probability of {code(positive)}"
    return "none"


def feature_rows(contract: Contract) -> list[tuple[str, ...]]:
    positive = contract.target.positive
    return [
        (
            code(f.name),
            f.type,
            f.unit,
            valid_range(f),
            missing_policy(f),
            monotonic(f, positive),
            f.description,
        )
        for f in contract.features
    ]


def intro(contract_file: str) -> str:
    return "\n".join(
        [
            f"This page is generated from {code(contract_file)}, the data contract `params.yaml` names, "
            "each time the site is built. The contract is the one description of the data: everything "
            "that needs its shape reads it through `modelship.contract.load_contract`, so nothing restates "
            "the feature list by hand.\n",
            "- **Data checks** (notebook 01) validate the snapshot against every type, range, class and "
            "missing-value rule below ([Pipeline](pipeline.qmd)).",
            "- **The API's request schema** is generated from it: a record with a feature out of its range, "
            "of the wrong type, missing or unknown is answered `422` with the field and the broken bound "
            "([API reference](api-reference.qmd#post-v1-predict)).",
            "- **Monitoring** checks the live requests against the same types and ranges (data quality).",
            "- **The client application** labels its fields with the names, units and descriptions below.\n",
        ]
    )


def render(contract: Contract, contract_file: str) -> str:
    """The page for a contract; `contract_file` is how the page names its source."""
    target = contract.target
    title = contract.title or contract.name
    classes = [
        (code(c), "positive: the class the predicted probability refers to" if c == target.positive else "negative")
        for c in target.classes
    ]
    parts = [
        front_matter(title="Data contract", lang="en", toc=True),
        intro(contract_file),
        "## Dataset {#dataset}\n",
        f"**{title}** (contract {code(contract.name)}, version {contract.version}).\n",
    ]
    if contract.description:
        parts.append(contract.description + "\n")
    parts += [
        "## Target and classes {#target}\n",
        f"The target is {code(target.name)}" + (f": {target.description}" if target.description else ".") + "\n",
        table(("Class", "Role"), classes, f"Classes of {target.name}"),
        f"The positive class is {code(target.positive)}: the model gives the probability of "
        f"{code(target.positive)}, and the label at the model's threshold.\n",
        "## Decision {#decision}\n",
        (contract.decision_note or "The contract gives no decision note.") + "\n",
        "## Features {#features}\n",
        f"{len(contract.features)} features, in the order the model reads them. A range is inclusive; "
        "a missing value is refused unless the contract says how training fills it in.\n",
        table(FEATURE_HEADER, feature_rows(contract), f"The features of {title}"),
    ]
    return "\n".join(parts)


def page(root: Path) -> str:
    """docs/data-contract.qmd for the project at `root`: the contract its params.yaml names."""
    params = load_params(root / PARAMS)
    path = Path(params.contract)
    contract = load_contract(path if path.is_absolute() else root / path)
    shown = params.contract if not path.is_absolute() else path.name
    return render(contract, shown)
