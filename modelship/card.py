"""The model card: what a model is for, how it was made, how well it does."""

from __future__ import annotations

from typing import Any

from .contract import Contract
from .evaluate import METRIC_LABELS, BehaviourResult, GateDecision

_NO_DECISION_NOTE = "It supports, and does not replace, the judgement of a qualified professional."


def _who_decides(decision_note: str | None) -> str:
    return decision_note or _NO_DECISION_NOTE


def purpose(contract: Contract) -> str:
    """What the model is for and who decides, in the contract's own terms (for the reports)."""
    pos, neg = contract.target.positive, contract.target.negative
    return (
        f"**{contract.title or contract.name}**: the model estimates the probability that a case is "
        f"**{pos}** rather than {neg}. {_who_decides(contract.decision_note)} A missed {pos} case is "
        f"taken to cost far more than a false alarm, so **recall on {pos}** at the chosen threshold "
        "is the headline metric."
    )


def _metric_rows(metrics: dict[str, Any]) -> str:
    return "\n".join(f"| {label} | {metrics[key]:.4f} |" for key, label in METRIC_LABELS.items() if key in metrics)


def _behaviour_row(r: BehaviourResult) -> str:
    measured = "-" if r.measured is None else f"{r.measured:.4f}"
    return f"| {r.name} | {r.status} | {measured} | {r.limit} |"


def render_card(
    metadata: dict[str, Any],
    metrics: dict[str, Any],
    behaviour: list[BehaviourResult],
    decision: GateDecision,
    test_rows: int,
) -> str:
    contract = metadata["contract"]
    pos, neg = metadata["positive_label"], metadata["negative_label"]
    params = metadata["params"]
    libs = ", ".join(f"{k} {v}" for k, v in sorted(metadata["libraries"].items()))
    behaviour_rows = "\n".join(_behaviour_row(r) for r in behaviour)
    who_decides = _who_decides(contract.get("decision_note"))
    decision_lines = "\n".join(f"- {r}" for r in decision.reasons)
    return f"""# Model card: {contract.get("title") or contract["name"]} — {metadata["version"]}

## Intended use
Decision support: the model estimates the probability that a case is **{pos}** from
{len(metadata["features"])} features described in the data contract `{contract["name"]}` v{contract["version"]}.
{who_decides} A missed {pos} case is taken to cost far more than a false alarm,
so the decision threshold favours recall on {pos}.

## Model
- Estimator: {params["model"]} (C={params["regularization_C"]}, calibration: {params["calibration"]})
- Decision threshold: {metrics["threshold"]:.4f} (chosen on out-of-fold training predictions)
- Trained on {metadata["train_rows"]} rows; snapshot sha256 `{metadata["data_sha256"]}`
- Seed {params["seed"]}, {params["cv_folds"]}-fold stratified cross-validation
  (ROC AUC {metadata["cv"]["roc_auc_mean"]:.4f} ± {metadata["cv"]["roc_auc_std"]:.4f})
- Created {metadata["created_at"]} from commit `{metadata["git_commit"]}`
- Libraries: {libs}

## Performance on the held-out test set ({test_rows} rows)

| Metric | Value |
|---|---|
{_metric_rows(metrics)}

Confusion at the threshold: {metrics["tp"]} true {pos}, {metrics["fn"]} missed {pos},
{metrics["fp"]} false alarms, {metrics["tn"]} true {neg}.

## Behavioural tests

| Test | Status | Measured | Limit |
|---|---|---|---|
{behaviour_rows}

## Promotion decision: {"promoted" if decision.promote else "not promoted"}
{decision_lines}

## Limitations
- Trained on {metadata["train_rows"]} cases from one source; performance on other
  populations or measurement set-ups is unknown until monitored.
- Inputs outside the contract's ranges are refused rather than extrapolated.
- Probabilities are calibrated on this data; monitor calibration on live feedback.
"""


def demote_headings(markdown: str, levels: int = 1) -> str:
    """Shift every heading down, to embed the card inside a page that has its own title."""
    return "\n".join("#" * levels + line if line.startswith("#") else line for line in markdown.splitlines())
