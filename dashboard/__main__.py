"""`python -m dashboard`: serve the dashboard with uvicorn (`make dashboard`)."""

from __future__ import annotations

import uvicorn

from dashboard.settings import DashboardSettings
from dashboard.web import create_app


def main() -> None:
    settings = DashboardSettings()
    print(f"dashboard on http://{settings.host}:{settings.port}/ reading {settings.api_url}", flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
