"""Recording an evaluation in the registry and acting on the gate's decision."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .card import render_card
from .evaluate import BehaviourResult, GateDecision
from .registry import Registry


def record_and_decide(registry: Registry, version: str, metrics: dict[str, Any],
                      behaviour: list[BehaviourResult], decision: GateDecision, test_rows: int,
                      actor: str = "pipeline") -> str:
    """Store metrics, threshold and model card with the version; promote it if the gate says so.

    Returns the production version after the decision.
    """
    meta = registry.update_metadata(
        version,
        threshold=metrics["threshold"],
        metrics={k: metrics[k] for k in ("roc_auc", "recall", "precision", "f1", "brier", "accuracy")},
        confusion={k: metrics[k] for k in ("tp", "fp", "tn", "fn")},
        behaviour=[asdict(r) for r in behaviour],
        gate={"promote": decision.promote, "reasons": decision.reasons},
    )
    registry.write_card(version, render_card(meta, metrics, behaviour, decision, test_rows))
    # An identical rerun evaluates the production version again: promoting it once more
    # would only add a no-op entry to the history.
    if decision.promote and registry.production() != version:
        registry.promote(version, actor=actor, reason="passed the evaluation gate")
    current = registry.production()
    return current if current is not None else "none"
