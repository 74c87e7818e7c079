"""The monitoring dashboard: a web client of the service's GET /v1/monitoring/summary (docs/monitoring.qmd)."""
