"""The data contract: one YAML file describing the target and every feature.

Everything that needs to know the shape of the data (checks, training, the
API schema, monitoring, docs) reads it through this module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import pandas as pd

FEATURE_TYPES = ("float", "int", "category")
# SimpleImputer strategies a contract may name; a category can only take its most frequent value
IMPUTE_NUMERIC = ("median", "mean", "most_frequent")
IMPUTE_CATEGORY = ("most_frequent",)


class ContractError(ValueError):
    """The contract file itself is malformed."""


@dataclass(frozen=True)
class Feature:
    name: str
    type: str
    description: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()
    monotonic: str | None = None  # "increasing" or "decreasing" w.r.t. the positive class
    impute: str | None = None  # set when the contract allows the feature to be missing

    @property
    def is_numeric(self) -> bool:
        return self.type in ("float", "int")

    @property
    def missing_allowed(self) -> bool:
        return self.impute is not None


@dataclass(frozen=True)
class Target:
    name: str
    classes: tuple[str, str]
    positive: str
    description: str = ""

    @property
    def negative(self) -> str:
        return next(c for c in self.classes if c != self.positive)


@dataclass(frozen=True)
class Contract:
    name: str
    version: int
    target: Target
    features: tuple[Feature, ...]
    title: str = ""
    description: str = ""
    decision_note: str = ""  # who decides and what the model must not replace, for reports and the card
    source_path: Path | None = field(default=None, compare=False)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.features if f.is_numeric]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.type == "category"]

    @property
    def columns(self) -> list[str]:
        return self.feature_names + [self.target.name]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"feature {name!r} is not in contract {self.name!r}")

    def encode_target(self, labels: Any) -> Any:
        """1 for the positive class, 0 for the other (works on a pandas Series)."""
        return (labels == self.target.positive).astype(int)

    def feature_table(self) -> "pd.DataFrame":
        """The feature dictionary, as the docs and reports show it."""
        import pandas as pd

        return pd.DataFrame([{"feature": f.name, "type": f.type, "unit": f.unit or "-",
                              "valid range": (f"[{f.min:g}, {f.max:g}]" if f.is_numeric and f.min is not None
                                              and f.max is not None else ", ".join(f.categories) or "-"),
                              "monotonic": f.monotonic or "-",
                              "missing": f"imputed ({f.impute})" if f.impute else "refused",
                              "description": f.description}
                             for f in self.features])

    def to_dict(self) -> dict[str, Any]:
        feats = []
        for f in self.features:
            d: dict[str, Any] = {"name": f.name, "type": f.type, "description": f.description}
            if f.unit:
                d["unit"] = f.unit
            if f.min is not None:
                d["min"] = f.min
            if f.max is not None:
                d["max"] = f.max
            if f.categories:
                d["categories"] = list(f.categories)
            if f.monotonic:
                d["monotonic"] = f.monotonic
            if f.impute:
                d["missing"] = {"allowed": True, "impute": f.impute}
            feats.append(d)
        return {
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "decision_note": self.decision_note,
            "target": {
                "name": self.target.name,
                "description": self.target.description,
                "classes": list(self.target.classes),
                "positive": self.target.positive,
            },
            "features": feats,
        }


def _require(mapping: dict, key: str, where: str) -> Any:
    if key not in mapping:
        raise ContractError(f"{where}: missing required key {key!r}")
    return mapping[key]


def _parse_missing(raw: Any, ftype: str, where: str) -> str | None:
    """`missing: {allowed: true, impute: median}` -> "median"; absent or not allowed -> None."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"allowed", "impute"}:
        raise ContractError(f"{where}: `missing` must be a mapping with `allowed` (true/false) and "
                            f"`impute`, e.g. missing: {{allowed: true, impute: median}}")
    allowed, impute = raw.get("allowed", False), raw.get("impute")
    if not isinstance(allowed, bool):
        raise ContractError(f"{where}: missing.allowed must be true or false, got {allowed!r}")
    if not allowed:
        if impute is not None:
            raise ContractError(f"{where}: missing.impute is set but missing.allowed is false")
        return None
    choices = IMPUTE_CATEGORY if ftype == "category" else IMPUTE_NUMERIC
    if impute not in choices:
        raise ContractError(f"{where}: missing.allowed is true, so missing.impute must say how the "
                            f"training pipeline fills a missing value: one of {choices}, got {impute!r}")
    return str(impute)


def _parse_feature(raw: dict, index: int) -> Feature:
    where = f"features[{index}]"
    name = _require(raw, "name", where)
    ftype = _require(raw, "type", f"{where} ({name})")
    if ftype not in FEATURE_TYPES:
        raise ContractError(f"{where} ({name}): type {ftype!r} is not one of {FEATURE_TYPES}")
    lo, hi = raw.get("min"), raw.get("max")
    if lo is not None and hi is not None and lo > hi:
        raise ContractError(f"{where} ({name}): min {lo} is greater than max {hi}")
    cats = tuple(str(c) for c in raw.get("categories", ()))
    if ftype == "category" and not cats:
        raise ContractError(f"{where} ({name}): a category feature needs a `categories` list")
    mono = raw.get("monotonic")
    if mono not in (None, "increasing", "decreasing"):
        raise ContractError(f"{where} ({name}): monotonic must be 'increasing' or 'decreasing'")
    return Feature(
        name=str(name),
        type=ftype,
        description=str(raw.get("description", "")),
        unit=str(raw.get("unit", "")),
        min=None if lo is None else float(lo),
        max=None if hi is None else float(hi),
        categories=cats,
        monotonic=mono,
        impute=_parse_missing(raw.get("missing"), ftype, f"{where} ({name})"),
    )


def parse_contract(doc: dict, source_path: Path | None = None) -> Contract:
    if not isinstance(doc, dict):
        raise ContractError("a contract must be a mapping")
    t = _require(doc, "target", "contract")
    classes = tuple(str(c) for c in _require(t, "classes", "target"))
    if len(classes) != 2 or classes[0] == classes[1]:
        raise ContractError(f"target: exactly two distinct classes are supported, got {list(classes)}")
    positive = str(_require(t, "positive", "target"))
    if positive not in classes:
        raise ContractError(f"target: positive class {positive!r} is not one of {list(classes)}")
    target = Target(name=str(_require(t, "name", "target")), classes=(classes[0], classes[1]),
                    positive=positive, description=str(t.get("description", "")))
    raw_features = _require(doc, "features", "contract")
    if not raw_features:
        raise ContractError("contract: `features` is empty")
    features = tuple(_parse_feature(f, i) for i, f in enumerate(raw_features))
    names = [f.name for f in features]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ContractError(f"contract: duplicated feature names {dupes}")
    if target.name in names:
        raise ContractError(f"contract: target {target.name!r} is also listed as a feature")
    return Contract(
        name=str(_require(doc, "name", "contract")),
        version=int(doc.get("version", 1)),
        title=str(doc.get("title", "")),
        description=str(doc.get("description", "")),
        decision_note=str(doc.get("decision_note", "")),
        target=target,
        features=features,
        source_path=source_path,
    )


def load_contract(path: str | Path) -> Contract:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(f"contract file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ContractError(f"contract file {path} is not valid YAML: {exc}") from None
    return parse_contract(doc, source_path=path)
