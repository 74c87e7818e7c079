"""An ASGI app under uvicorn in a thread of the test process, on 127.0.0.1 and a free port: the
dashboard's tests and the monitoring sandbox run the dashboard (and the tests an API) this way."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class ServerThread:
    """An ASGI app under uvicorn on 127.0.0.1 (a free port), in a thread of the test process."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
