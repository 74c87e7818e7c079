"""`make run`, after the pipeline: the API service and the lab app together, on 127.0.0.1.

Once, and only once (the state it makes is git-ignored and found again on the next run):
- the lab app's API client, made the operator's way (`python -m serve.auth create-client`), its
  secret written to app/var/model_api_secret (mode 600) and its id to app/var/model_api_client;
- the app's database and a first lab account, `lab`, whose password is read from
  PATHLAB_FIRST_PASSWORD or, when that is unset, generated and printed here once.

Then the service starts, the app starts once the service is ready, and Ctrl-C (SIGINT or
SIGTERM) stops both: the service by SIGINT to its launcher, which shuts Serve and Ray down.
If either stops by itself, the other is stopped too and the exit status is non-zero.

The app is driven only through its command line (`python -m pathlab ...` from app/.venv), as an
operator would; nothing of it is imported here."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
PY = ROOT / ".venv" / "bin" / "python"
APP_DIR = ROOT / "app"
APP_PY = APP_DIR / ".venv" / "bin" / "python"
APP_STATE = APP_DIR / "var"
SECRET_FILE = APP_STATE / "model_api_secret"
CLIENT_FILE = APP_STATE / "model_api_client"
USER_FILE = APP_STATE / "first_user"
FIRST_USER = "lab"
PASSWORD_ENV = "PATHLAB_FIRST_PASSWORD"
READY_TIMEOUT_S = 300
# Ray's dashboard agent listens here whatever the launcher asks; a second Ray on the machine
# (another `make serve`) holds it, and Ray then fails its start with a time-out that names nothing.
RAY_AGENT_PORT = 52365


class StackError(RuntimeError):
    """A step of the start-up failed; the message says which and what to do."""


def _run(cmd: list[str], *, stdin: str = "", cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        raise StackError(f"{' '.join(cmd[1:4])} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def ensure_client(config: Path) -> str:
    """The app's API client id; made once. A client whose secret file was lost cannot be
    recovered (only its hash is kept): a new id is made, and the old one is disabled."""
    if SECRET_FILE.is_file() and CLIENT_FILE.is_file():
        return CLIENT_FILE.read_text(encoding="utf-8").strip()
    APP_STATE.mkdir(parents=True, exist_ok=True)
    listed = _run([str(PY), "-m", "serve.auth", "--config", str(config), "list-clients"])
    known = {line.split("\t")[0] for line in listed.splitlines() if "\t" in line}
    client_id = "pathlab"
    if client_id in known:
        _run([str(PY), "-m", "serve.auth", "--config", str(config), "disable-client", client_id])
        client_id = f"pathlab-{secrets.token_hex(3)}"
    secret = _run(
        [
            str(PY),
            "-m",
            "serve.auth",
            "--config",
            str(config),
            "create-client",
            client_id,
            "--scopes",
            "predict,feedback",
        ]
    ).strip()
    fd = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    CLIENT_FILE.write_text(client_id + "\n", encoding="utf-8")
    print(f"made the lab app's API client {client_id!r}; its secret is in {SECRET_FILE.relative_to(ROOT)}")
    return client_id


def ensure_lab_user() -> None:
    """The app's database, and its first account once."""
    _run([str(APP_PY), "-m", "pathlab", "init-db"], cwd=APP_DIR)
    if USER_FILE.is_file():
        return
    password = os.environ.get(PASSWORD_ENV, "")
    generated = not password
    if generated:
        password = secrets.token_urlsafe(15)
    _run(
        [str(APP_PY), "-m", "pathlab", "create-user", FIRST_USER, "--name", "Lab user", "--password-stdin"],
        stdin=password + "\n",
        cwd=APP_DIR,
    )
    USER_FILE.write_text(FIRST_USER + "\n", encoding="utf-8")  # the name only, never the password
    if generated:
        print(
            f"\n  The lab app's first account: user {FIRST_USER!r}, password {password}\n"
            "  (shown this once; make more accounts with `make app-user NAME=...`)\n",
            flush=True,
        )
    else:
        print(f"the lab app's first account {FIRST_USER!r} has the password from {PASSWORD_ENV}")


def _check_ray_can_start() -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", RAY_AGENT_PORT))
        except OSError:
            raise StackError(
                f"port {RAY_AGENT_PORT} (Ray's dashboard agent) is taken: another Ray runs on this machine "
                "(a `make serve` or `make run` elsewhere?); stop it, then run this again"
            ) from None


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"the service stopped while starting (exit {process.returncode}); see its output above")
        try:
            with urlopen(url, timeout=5) as answer:  # noqa: S310 - the local service
                if answer.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(1)
    raise StackError(f"the service was not ready after {timeout_s:.0f} s ({url})")


def _stop(process: subprocess.Popen[bytes], sig: int, timeout_s: float) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path("serve/config.yaml"), help="the service's Serve config")
    parser.add_argument("--api-url", default="http://127.0.0.1:8000", help="where that config serves the API")
    args = parser.parse_args(argv)
    stopping = False

    def _interrupt(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts this in the background leaves SIGINT ignored, and Python
    # then never turns it into KeyboardInterrupt
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    service: subprocess.Popen[bytes] | None = None
    app: subprocess.Popen[bytes] | None = None
    try:
        client_id = ensure_client(args.config)
        ensure_lab_user()
        _check_ray_can_start()
        # Own sessions: Ctrl-C reaches this script only, which stops the two in order.
        service = subprocess.Popen(
            [str(PY), "-m", "serve", "run", "--config", str(args.config)], cwd=ROOT, start_new_session=True
        )
        print(f"starting the API at {args.api_url} (Ray takes a little while) ...", flush=True)
        _wait_ready(args.api_url + "/health/ready", service, READY_TIMEOUT_S)
        env = {
            **os.environ,
            "PATHLAB_MODEL_API__ENABLED": "true",
            "PATHLAB_MODEL_API__BASE_URL": args.api_url,
            "PATHLAB_MODEL_API__CLIENT_ID": client_id,
        }
        env.pop(PASSWORD_ENV, None)
        app = subprocess.Popen([str(APP_PY), "-m", "pathlab", "serve"], cwd=APP_DIR, env=env, start_new_session=True)
        print(
            f"the API is ready at {args.api_url} (docs: {args.api_url}/openapi.json); the lab app starts: open the "
            f"address it prints and sign in as {FIRST_USER!r}. Ctrl-C stops both.",
            flush=True,
        )
        while service.poll() is None and app.poll() is None:
            time.sleep(0.5)
        which = "the service" if service.poll() is not None else "the lab app"
        print(f"{which} stopped by itself; stopping the other", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        stopping = True
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if stopping:
            print("stopping the lab app and the service ...", flush=True)
        if app is not None:
            _stop(app, signal.SIGTERM, 20)
        if service is not None:
            _stop(service, signal.SIGINT, 90)


if __name__ == "__main__":
    sys.exit(main())
