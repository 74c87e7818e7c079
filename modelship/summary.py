"""The evaluation gate as Markdown: what a CI job summary shows when the chain stops or goes on."""

from __future__ import annotations

from .params import Params
from .registry import Registry, RegistryError

# metric -> (params key of its gate, whether the metric must stay at least or at most that)
GATED = {
    "roc_auc": ("gate_min_roc_auc", "min"),
    "recall": ("gate_min_recall", "min"),
    "precision": ("gate_min_precision", "min"),
    "brier": ("gate_max_brier", "max"),
}
SHOWN = ("roc_auc", "recall", "precision", "brier", "f1", "accuracy")


def gate_markdown(registry: Registry, version: str, params: Params, source: str = "params.yaml") -> tuple[str, bool]:
    """(Markdown, passed) for an evaluated version: its metrics against the gate, then the reasons.

    The limits shown are those of `params` (read from `source`), the file the evaluation ran with."""
    meta = registry.metadata(version)
    gate = meta.get("gate")
    if not gate:
        raise RegistryError(f"{version} has not been evaluated: run `make evaluate` first")
    passed = bool(gate["promote"])
    metrics = meta.get("metrics", {})
    rows = ["| Metric | Value | Gate | Within the gate |", "|---|---:|---:|---|"]
    for name in SHOWN:
        value = metrics.get(name)
        shown = "-" if value is None else f"{value:.4f}"
        if name in GATED:
            key, side = GATED[name]
            limit = float(getattr(params, key))
            ok = value is not None and (value >= limit if side == "min" else value <= limit)
            rows.append(f"| {name} | {shown} | {'≥' if side == 'min' else '≤'} {limit:.4f} | {'yes' if ok else 'NO'} |")
        else:
            rows.append(f"| {name} | {shown} | - | - |")
    threshold = meta.get("threshold")
    verdict = "passed" if passed else "refused"
    lines = [
        f"## Evaluation gate: {version} {verdict}",
        "",
        (f"Decision threshold {threshold:.4f}; " if isinstance(threshold, (int, float)) else "")
        + f"production is {registry.production() or 'none'}; gate limits from `{source}`.",
        "",
        *rows,
        "",
    ]
    reasons = gate.get("reasons") or []
    if reasons:
        lines += ["### Reasons", "", *(f"- {r}" for r in reasons), ""]
    elif not passed:
        lines += ["The gate refused the candidate without recording a reason.", ""]
    if not passed:
        lines += ["The chain stops here: nothing is packaged or published.", ""]
    return "\n".join(lines), passed
