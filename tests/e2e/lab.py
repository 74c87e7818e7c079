"""What the end-to-end tests of the lab app share: starting the app (app/, from its own
app/.venv) as a subprocess pointed at the real service, signing in and posting its forms, and a
gate in front of the service that the tests can hold or take down.

The gate is a plain TCP forwarder on 127.0.0.1: the app only knows the gate's address, so
closing the gate is, for the app, the service going down (connections refused, the ones open
cut), and opening it again on the same port is the service coming back. It lets the tests stop
"the service" mid-session without stopping the session's one Ray cluster."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "app"
APP_PY = APP_DIR / ".venv" / "bin" / "python"
OPERATOR = [str(ROOT / ".venv" / "bin" / "python"), "-m", "serve.auth"]
PASSWORD = "an end-to-end test passphrase"
ACCESS_TTL_S = 3  # the service's access tokens, in these tests
CLIENT_ID = "pathlab-e2e"  # the app's client
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Gate:
    """A TCP forwarder to `upstream` (host, port). `close()` refuses new connections and cuts the
    open ones (and ends a hold); `open()` listens again on the same port; `hold()` accepts
    connections and keeps what is sent on the open ones until `release()` (a service that takes
    its time)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self.open()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="gate-accept").start()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()
        self._released.set()  # down is not held: once open again, the gate forwards at once

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._forward, args=(client,), daemon=True, name="gate-conn").start()

    def _forward(self, client: socket.socket) -> None:
        with self._lock:
            self._open.add(client)
        self._released.wait()
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            client.close()
            return
        with self._lock:
            self._open.add(upstream)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True, name="gate-pump").start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._released.wait()  # held: open connections carry nothing either
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with self._lock:
                    self._open.discard(s)


def create_client(config_path: Path, client_id: str, scopes: str) -> str:
    """A client of the service, made as the operator does (`make client`); returns its secret."""
    done = subprocess.run(
        [*OPERATOR, "--config", str(config_path), "create-client", client_id, "--scopes", scopes],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def operator(config_path: Path, *args: str) -> None:
    done = subprocess.run(
        [*OPERATOR, "--config", str(config_path), *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


@dataclass
class LabApp:
    url: str
    folder: Path
    db_path: Path
    log_path: Path

    def sign_in(self, username: str = "lab") -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=60)
        token = CSRF.search(client.get("/login").text)
        assert token
        signed = client.post("/login", data={"csrf_token": token.group(1), "username": username, "password": PASSWORD})
        assert signed.status_code == 303, signed.text
        return client


@contextlib.contextmanager
def lab_app(folder: Path, *, base_url: str, client_id: str, secret: str, **model_api: object) -> Iterator[LabApp]:
    """The lab app, served from app/.venv with its own database and one account `lab`."""
    assert APP_PY.exists(), "the lab app's environment is missing: run `make app-setup`"
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "enabled": True,
        "base_url": base_url,
        "client_id": client_id,
        "renew_before_s": 1.0,
        "timeout_s": 15.0,
        "outbox_interval_s": 1.0,
        **model_api,
    }
    db_path = folder / "lab.sqlite3"
    lines = [
        '[server]\nhost = "127.0.0.1"\nport = 0',
        f'[database]\npath = "{db_path}"',
        f'[cases]\nseed_file = "{APP_DIR / "data" / "holding_cases.json"}"',
        "[model_api]",
        *(f"{k} = {_toml(v)}" for k, v in settings.items()),
    ]
    (folder / "settings.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "PATHLAB_SETTINGS": str(folder / "settings.toml"), "PATHLAB_MODEL_API_SECRET": secret}
    for args, stdin in ((["init-db"], ""), (["create-user", "lab", "--password-stdin"], PASSWORD + "\n")):
        done = subprocess.run(
            [str(APP_PY), "-m", "pathlab", *args], input=stdin, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    log_path = folder / "app.log"
    log = open(log_path, "w+", encoding="utf-8")
    process = subprocess.Popen([str(APP_PY), "-m", "pathlab", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        found = None
        deadline = time.monotonic() + 30
        while found is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
            log.seek(0)
            found = re.search(r"listening on (http://\S+?)/?$", log.read(), re.M)
        assert found, "the lab app did not start"
        yield LabApp(found.group(1), folder, db_path, log_path)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.seek(0)
        assert secret not in log.read(), "the client secret reached the app's log"
        log.close()


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def post(client: httpx.Client, path: str, page: str, **fields: str) -> httpx.Response:
    """Submit a form as a browser would: the CSRF token read from the page that shows it."""
    token = CSRF.search(client.get(page).text)
    assert token, f"no form on {page}"
    return client.post(path, data={"csrf_token": token.group(1), **fields})


def untouched(db_path: Path, n: int, *, skip: int = 0) -> list[str]:
    """Cases no test has touched yet (no assessment, no diagnosis, in no batch), from the end of
    the list, so that tests reading the first page are not disturbed."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT accession FROM cases WHERE id NOT IN (SELECT case_id FROM assessments) "
            "AND id NOT IN (SELECT case_id FROM diagnoses) AND id NOT IN (SELECT case_id FROM batch_items) "
            "ORDER BY accession DESC"
        ).fetchall()
    found = [r[0] for r in rows][skip : skip + n]
    assert len(found) == n, "the holding file has too few untouched cases left for this test"
    return found


def case_ids(client: httpx.Client, page: str = "/cases") -> list[str]:
    return re.findall(r'href="/cases/(FNA-\d+)"', client.get(page).text)


def wait_for(predicate, timeout_s: float = 20.0, every_s: float = 0.25):  # type: ignore[no-untyped-def]
    """Poll until `predicate()` is truthy; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)


def read_prediction(base_url: str, client_id: str, secret: str, prediction_id: str) -> dict[str, object]:
    """GET /v1/predictions/{id} with the app's own client (its tokens live 3 s: one asked each time)."""
    answer = httpx.post(
        base_url + "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    stored = httpx.get(
        f"{base_url}/v1/predictions/{prediction_id}",
        headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
        timeout=30,
    )
    assert stored.status_code == 200, stored.text
    body: dict[str, object] = stored.json()
    return body
