"""Test helpers: a settings file in a temporary folder, accounts, and the app served for real
(`python -m pathlab serve` in its own process, on 127.0.0.1 and a free port)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pathlab import accounts, db, seed
from pathlab.settings import PROJECT_DIR, Settings, load_settings

PASSWORD = "a long test passphrase"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def write_settings(folder: Path, **sections: dict[str, object]) -> Path:
    """A settings file for a test: its own database; the real seed file; sections override defaults."""
    values: dict[str, dict[str, object]] = {
        "server": {"host": "127.0.0.1", "port": 0},
        "database": {"path": str(folder / "pathlab.sqlite3")},
        "cases": {"seed_file": str(PROJECT_DIR / "data" / "holding_cases.json"), "page_size": 20},
        "login": {"window_minutes": 15, "max_failures_per_user": 5, "max_failures_per_address": 1000},
    }
    for name, overrides in sections.items():
        values.setdefault(name, {}).update(overrides)
    lines = []
    for name, section in values.items():
        lines.append(f"[{name}]")
        for key, value in section.items():
            lines.append(f"{key} = {_toml(value)}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "settings.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def cli(settings_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATHLAB_SETTINGS": str(settings_path)}
    return subprocess.run(
        [sys.executable, "-m", "pathlab", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def init_db(settings_path: Path) -> Settings:
    """What `python -m pathlab init-db` does (tests/test_cli.py runs the command itself)."""
    settings = load_settings(settings_path)
    conn = db.connect(settings.database.path)
    try:
        db.migrate(conn)
        seed.load_holding_file(conn, settings.cases.seed_file)
    finally:
        conn.close()
    return settings


def add_user(settings: Settings, username: str, name: str | None = None) -> accounts.User:
    conn = db.open_database(settings.database.path)
    try:
        return accounts.create_user(conn, username, name or username.title(), PASSWORD)
    finally:
        conn.close()


@dataclass
class LiveApp:
    url: str
    settings: Settings
    settings_path: Path
    process: subprocess.Popen[str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Client:
        """A client with a signed-in session, through the real sign-in form."""
        client = self.client()
        response = post_form(client, "/login", {"username": username, "password": password})
        assert response.status_code == 303, response.text
        return client


def csrf_token(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    match = _CSRF.search(page.text)
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def post_form(client: httpx.Client, path: str, fields: dict[str, str], token_from: str | None = None) -> httpx.Response:
    """Submit a form as a browser would: token read from the page that shows the form."""
    token = csrf_token(client, token_from or path)
    return client.post(path, data={"csrf_token": token, **fields})


@contextmanager
def serve(settings_path: Path) -> Iterator[LiveApp]:
    env = {**os.environ, "PATHLAB_SETTINGS": str(settings_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pathlab", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+?)/?$", line.strip())
        assert match, f"the server did not start: {line}{process.stdout.read() if process.poll() is not None else ''}"
        url = match.group(1)
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/login", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield LiveApp(url, load_settings(settings_path), settings_path, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
