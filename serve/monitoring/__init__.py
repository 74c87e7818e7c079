"""Monitoring of the served traffic, off the request path.

replica: Buffer (lists, O(1) per request) ──hand-off every handoff_s, not awaited──►
collector (one per application: a detached Ray actor, or a thread in this process)
    profiles per window (whylogs via modelship.profiling), writes them atomically,
    computes the metrics (modelship.monitoring) and serves them to GET /v1/monitoring/*.
"""
