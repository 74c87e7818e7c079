"""Validation rules for a dataset against its contract.

Each rule returns the findings it made (empty when the data passes). A finding
names the rule, the column and the offending rows or values, so that a failed
pipeline run says exactly what to fix.

Rows are named by the frame's index: for a snapshot read from its CSV file (and
for the split, which keeps that index) it is the 0-based data row, which sits
on file line row + 2 because the header takes line 1 and editors count from 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy import stats

from .contract import Contract
from .params import Params

_MAX_SHOWN = 5  # offending rows/values quoted in a message
_HEADER_LINES = 1


@dataclass(frozen=True)
class Finding:
    rule: str
    column: str | None
    message: str
    rows: tuple[Any, ...] = ()

    def __str__(self) -> str:
        where = f" [{self.column}]" if self.column else ""
        return f"{self.rule}{where}: {self.message}"


@dataclass
class CheckReport:
    results: dict[str, list[Finding]] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)  # a check that was skipped, and why

    def add(self, rule: str, findings: list[Finding]) -> None:
        self.results[rule] = findings

    def warn(self, check: str, message: str) -> None:
        self.warnings[check] = message

    @property
    def failures(self) -> list[Finding]:
        return [f for findings in self.results.values() for f in findings]

    @property
    def passed(self) -> bool:
        return not self.failures

    def table(self) -> pd.DataFrame:
        rows = [{"rule": check, "status": "WARNING", "findings": message}
                for check, message in self.warnings.items()]
        rows += [{"rule": rule, "status": "pass" if not findings else "FAIL",
                  "findings": "; ".join(str(f) for f in findings) or "-"}
                 for rule, findings in self.results.items()]
        return pd.DataFrame(rows, columns=["rule", "status", "findings"])

    def raise_for_failures(self) -> None:
        if self.failures:
            raise DataCheckError(self.failures)


class DataCheckError(RuntimeError):
    """At least one validation rule failed."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        lines = "\n".join(f"  - {f}" for f in findings)
        super().__init__(f"{len(findings)} data check(s) failed:\n{lines}")


def _quote(values: Any) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:_MAX_SHOWN])
    more = f" and {len(values) - _MAX_SHOWN} more" if len(values) > _MAX_SHOWN else ""
    return shown + more


def data_rows(index: Any) -> str:
    """'data row 12 (file line 14)', or the plural with the first few of each."""
    rows = [int(r) if isinstance(r, (int, np.integer)) else r for r in index]
    lines = ", ".join(str(_file_line(r)) for r in rows[:_MAX_SHOWN]) + (", …" if len(rows) > _MAX_SHOWN else "")
    if len(rows) == 1:
        return f"data row {rows[0]!r} (file line {lines})"
    return f"data rows {_quote(rows)} (file lines {lines})"


def _file_line(row: Any) -> Any:
    return row + _HEADER_LINES + 1 if isinstance(row, int) else "?"


def row_at_line(file_line: int) -> int:
    """The 0-based data row that a 1-based file line holds (no quoted line breaks)."""
    return file_line - _HEADER_LINES - 1


# -- rules on one frame ------------------------------------------------------

def check_schema(frame: pd.DataFrame, contract: Contract) -> list[Finding]:
    """Columns present, none unexpected, and each of the type the contract says."""
    findings = []
    missing = [c for c in contract.columns if c not in frame.columns]
    extra = [c for c in frame.columns if c not in contract.columns]
    if missing:
        findings.append(Finding("schema", None, f"missing columns {missing}"))
    if extra:
        findings.append(Finding("schema", None, f"columns not in the contract {extra}"))
    if frame.empty:  # no value to type-check: every column would look non-numeric
        findings.append(Finding("schema", None, "0 data rows: the file holds a header only; "
                                "re-export the snapshot with its rows"))
        return findings
    for feat in contract.features:
        if feat.name not in frame.columns:
            continue
        col = frame[feat.name]
        if feat.is_numeric and not pd.api.types.is_numeric_dtype(col):
            bad = col[pd.to_numeric(col, errors="coerce").isna() & col.notna()]
            findings.append(Finding("schema", feat.name,
                                    f"expected {feat.type}, found non-numeric values {_quote(bad.unique())} "
                                    f"in {data_rows(bad.index)}", tuple(bad.index)))
        elif feat.type == "int" and pd.api.types.is_float_dtype(col):
            frac = col[col.notna() & (col % 1 != 0)]
            if len(frac):
                findings.append(Finding("schema", feat.name,
                                        f"expected integers, found {_quote(frac.unique())} in "
                                        f"{data_rows(frac.index)}", tuple(frac.index)))
    return findings


def check_missing(frame: pd.DataFrame, contract: Contract, max_fraction: float = 0.0) -> list[Finding]:
    """A label is never missing; a feature only where the contract allows it, up to max_fraction."""
    findings = []
    label = contract.target.name
    if label in frame.columns:
        nulls = frame.index[frame[label].isna()]
        if len(nulls):  # a case without a label can be neither trained on nor scored
            findings.append(Finding("missing_values", label,
                                    f"{len(nulls)} missing label(s) in {data_rows(nulls)}: a label is "
                                    "never optional; fill in these rows or drop them from the snapshot",
                                    tuple(nulls)))
    for feat in contract.features:
        if feat.name not in frame.columns:
            continue
        nulls = frame.index[frame[feat.name].isna()]
        if not len(nulls):
            continue
        if not feat.missing_allowed:  # training could only fail on it, or impute it silently
            where = contract.source_path or "the contract"
            fill = "median" if feat.is_numeric else "most_frequent"
            findings.append(Finding("missing_values", feat.name,
                                    f"{len(nulls)} missing value(s) in {data_rows(nulls)}, and the contract "
                                    f"does not allow this feature to be missing: fix these rows, or set "
                                    f"`missing: {{allowed: true, impute: {fill}}}` on {feat.name} in {where}",
                                    tuple(nulls)))
        elif len(nulls) / max(len(frame), 1) > max_fraction:
            findings.append(Finding("missing_values", feat.name,
                                    f"{len(nulls)} missing value(s), {len(nulls) / len(frame):.1%} of rows "
                                    f"(allowed share {max_fraction:.0%}, params max_missing_fraction) in "
                                    f"{data_rows(nulls)}", tuple(nulls)))
    return findings


def check_ranges(frame: pd.DataFrame, contract: Contract) -> list[Finding]:
    """Numeric values inside the contract's plausible bounds; categories from the list."""
    findings = []
    for feat in contract.features:
        if feat.name not in frame.columns:
            continue
        col = frame[feat.name]
        if feat.is_numeric:
            if not pd.api.types.is_numeric_dtype(col):
                continue  # reported by the schema rule
            low = col < feat.min if feat.min is not None else pd.Series(False, index=col.index)
            high = col > feat.max if feat.max is not None else pd.Series(False, index=col.index)
            bad = col[low | high]
            if len(bad):
                findings.append(Finding("ranges", feat.name,
                                        f"{len(bad)} value(s) outside [{feat.min}, {feat.max}]: "
                                        f"{_quote(bad.tolist())} in {data_rows(bad.index)}",
                                        tuple(bad.index)))
        else:
            bad = col[col.notna() & ~col.astype("string").isin(feat.categories)]
            if len(bad):
                findings.append(Finding("ranges", feat.name,
                                        f"{len(bad)} value(s) not among {list(feat.categories)}: "
                                        f"{_quote(bad.unique())} in {data_rows(bad.index)}",
                                        tuple(bad.index)))
    return findings


def check_labels(frame: pd.DataFrame, contract: Contract) -> list[Finding]:
    name = contract.target.name
    if name not in frame.columns:
        return []
    col = frame[name]
    bad = col[col.notna() & ~col.isin(contract.target.classes)]
    if len(bad):
        return [Finding("labels", name, f"labels not among {list(contract.target.classes)}: "
                        f"{_quote(bad.unique())} in {data_rows(bad.index)}", tuple(bad.index))]
    return []


def check_duplicates(frame: pd.DataFrame, contract: Contract, max_rows: int = 0) -> list[Finding]:
    """Repeated feature vectors; with different labels they are also contradictory."""
    cols = [c for c in contract.feature_names if c in frame.columns]
    if not cols:
        return []  # no feature to compare: the schema rule reports the missing columns
    dup = frame.duplicated(subset=cols, keep=False)
    n_extra = int(frame.duplicated(subset=cols).sum())
    if n_extra > max_rows:
        rows = frame.index[dup]
        return [Finding("duplicates", None, f"{n_extra} duplicated row(s) (allowed {max_rows}), "
                        f"{data_rows(rows)}", tuple(rows))]
    return []


def check_class_balance(frame: pd.DataFrame, contract: Contract, min_fraction: float) -> list[Finding]:
    name = contract.target.name
    if name not in frame.columns or frame.empty:
        return []
    shares = frame[name].value_counts(normalize=True)
    findings = []
    for cls in contract.target.classes:
        share = float(shares.get(cls, 0.0))
        if share < min_fraction:
            findings.append(Finding("class_balance", name, f"class {cls!r} holds {share:.1%} of rows, "
                                    f"below the minimum {min_fraction:.1%}"))
    return findings


# -- rules on the split ------------------------------------------------------

def check_leakage(train: pd.DataFrame, test: pd.DataFrame, contract: Contract) -> list[Finding]:
    """No row (by index or by feature values) may sit in both train and test."""
    findings = []
    shared_index = train.index.intersection(test.index)
    if len(shared_index):
        findings.append(Finding("leakage", None, f"{len(shared_index)} row id(s) in both train and test: "
                                f"{data_rows(shared_index)}", tuple(shared_index)))
    cols = contract.feature_names
    merged = test.reset_index().merge(train[cols].drop_duplicates(), on=cols, how="inner")
    if len(merged):
        rows = merged.iloc[:, 0].tolist()
        findings.append(Finding("leakage", None, f"{len(merged)} test row(s) identical to a training row: "
                                f"{data_rows(rows)}", tuple(rows)))
    return findings


def similarity_table(train: pd.DataFrame, test: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Two-sample test per feature: Kolmogorov-Smirnov (numeric) or chi-square (categorical)."""
    rows = []
    for feat in contract.features:
        a, b = train[feat.name].dropna(), test[feat.name].dropna()
        if feat.is_numeric:
            res = stats.ks_2samp(a.to_numpy(float), b.to_numpy(float))
            rows.append({"feature": feat.name, "test": "KS", "statistic": float(res.statistic),
                         "p_value": float(res.pvalue)})
        else:
            table = pd.crosstab(pd.concat([a, b]), ["train"] * len(a) + ["test"] * len(b))
            if table.shape[0] < 2:
                p, stat = 1.0, 0.0
            else:
                stat, p, _, _ = stats.chi2_contingency(table)
            rows.append({"feature": feat.name, "test": "chi-square", "statistic": float(stat),
                         "p_value": float(p)})
    return pd.DataFrame(rows, columns=["feature", "test", "statistic", "p_value"])


def check_similarity(train: pd.DataFrame, test: pd.DataFrame, contract: Contract,
                     alpha: float, max_fraction: float) -> list[Finding]:
    table = similarity_table(train, test, contract)
    differ = table[table.p_value < alpha]
    if len(differ) / max(len(table), 1) > max_fraction:
        details = ", ".join(f"{r.feature} (p={r.p_value:.2g})" for r in differ.itertuples())
        return [Finding("similarity", None, f"{len(differ)} of {len(table)} features differ between train "
                        f"and test at alpha={alpha} (allowed share {max_fraction:.0%}): {details}")]
    return []


# -- all together -------------------------------------------------------------

def check_dataset(frame: pd.DataFrame, contract: Contract, params: Params) -> CheckReport:
    """Every rule that looks at the raw dataset on its own."""
    report = CheckReport()
    skipped = integrity_skipped(params)
    if skipped:
        report.warn("integrity", skipped)
    rules: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("schema", lambda: check_schema(frame, contract)),                       # wrong columns or types
        ("missing_values", lambda: check_missing(frame, contract, params.max_missing_fraction)),
        ("ranges", lambda: check_ranges(frame, contract)),                       # entry or unit errors
        ("labels", lambda: check_labels(frame, contract)),                       # unknown classes
        ("duplicates", lambda: check_duplicates(frame, contract, params.max_duplicate_rows)),
        ("class_balance", lambda: check_class_balance(frame, contract, params.min_class_fraction)),
    ]
    for name, rule in rules:
        report.add(name, rule())
    return report


def integrity_skipped(params: Params) -> str | None:
    """Why the snapshot's integrity was not checked, or None when it was."""
    if params.manifest is not None:
        return None
    return (f"not checked: `manifest: null` in the params file, so the sha256 and row count of "
            f"{params.snapshot} were not compared with a manifest; set `manifest:` to its manifest file")


def check_split(train: pd.DataFrame, test: pd.DataFrame, contract: Contract,
                params: Params) -> CheckReport:
    """Rules that compare the two sides of the split."""
    report = CheckReport()
    report.add("leakage", check_leakage(train, test, contract))
    report.add("similarity", check_similarity(train, test, contract, params.similarity_alpha,
                                              params.max_dissimilar_fraction))
    return report


def numeric_summary(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Observed min/max beside the contract's bounds, for the notebook."""
    rows = []
    for feat in contract.features:
        if not feat.is_numeric:
            continue
        col = frame[feat.name]
        rows.append({"feature": feat.name, "unit": feat.unit, "contract_min": feat.min,
                     "observed_min": float(np.nanmin(col)), "observed_max": float(np.nanmax(col)),
                     "contract_max": feat.max})
    return pd.DataFrame(rows)
