"""The "model" page: the served model's card (GET /v1/model) in plain language for lab staff."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pathlab import model_api
from pathlab.web import Ctx

# Each metric the card may carry, in words; others are listed by name.
METRIC_WORDS = {
    "recall": "Of the malignant cases of its test set, the share it flagged as malignant (sensitivity)",
    "precision": "Of the cases it flagged as malignant, the share that were malignant",
    "roc_auc": "How well it ranks a malignant case above a benign one (1 is perfect, 0.5 is chance)",
    "f1": "The balance of the two shares above (1 is perfect)",
    "brier": "How far its probabilities were from what happened (0 is perfect)",
    "accuracy": "The share of its test cases it got right at its threshold",
    "specificity": "Of the benign cases of its test set, the share it left unflagged",
}
SHARES = {"recall", "precision", "accuracy", "specificity"}


def _metrics(card: dict[str, Any]) -> list[tuple[str, str, str]]:
    raw = card.get("metrics")
    if not isinstance(raw, dict):
        return []
    rows = []
    for name, value in sorted(raw.items(), key=lambda kv: (kv[0] not in METRIC_WORDS, kv[0])):
        if not isinstance(value, int | float):
            continue
        shown = f"{value * 100:.1f}%" if name in SHARES else f"{value:.3f}"
        rows.append((name.replace("_", " "), METRIC_WORDS.get(name, ""), shown))
    return rows


def model_page(ctx: Ctx) -> Response:
    try:
        card: dict[str, Any] = ctx.model.call(lambda api: api.model_card)
    except model_api.ModelApiError as exc:
        return ctx.render(
            "model.html",
            status=503 if exc.transient else 502,
            headers={"Retry-After": str(exc.retry_after)} if exc.retry_after else None,
            title="Error: The model",
            nav="model",
            card=None,
            api_error=exc,
        )
    return ctx.render("model.html", title="The model", nav="model", card=card, metrics=_metrics(card), api_error=None)
