"""The JWT signing key ring: per-kid random HS256 secrets, their storage and rotation."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelship.fileio import write_atomic

from .settings import ENV_PREFIX, AuthConfigError, AuthSettings

try:  # advisory file lock so that two operators cannot rotate at the same moment
    import fcntl
except ImportError:  # pragma: no cover - not on Windows; rotation there is single-process
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

KEY_BYTES = 64  # generated keys: twice the HS256 minimum, costs nothing
FILE_FORMAT = 1

# Values that appear in tutorials and templates. A key equal to one of them, or
# containing an obvious placeholder word, is treated as public knowledge.
KNOWN_DEFAULTS = frozenset(
    {
        "secret", "secretkey", "secret-key", "secret_key", "jwt-secret", "jwt_secret", "jwtsecret",
        "changeme", "change-me", "change_me", "changethis", "change-this", "password", "default",
        "your-256-bit-secret", "your-secret-key", "your_secret_key", "supersecret", "mysecret",
        "test", "testing", "dev", "development", "example", "placeholder", "xxx", "todo",
    }
)
PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "changethis", "change-this",
                     "replace-me", "replaceme", "your-secret", "your_secret", "placeholder")
MIN_DISTINCT_BYTES = 8  # "aaaa…" is long but guessable; random keys have ~30 distinct bytes


@dataclass(frozen=True)
class SigningKey:
    """One HS256 secret and its life: active while retired_at is None."""

    kid: str
    secret: bytes = field(repr=False)
    created_at: int
    retired_at: int | None = None


def key_problem(secret: bytes, min_bytes: int) -> str | None:
    """Say why a secret must not sign tokens, or None when it is acceptable."""
    folded = secret.strip().lower().decode("utf-8", "replace")
    if folded in KNOWN_DEFAULTS or any(word in folded for word in PLACEHOLDER_WORDS):
        return "is a known placeholder value"
    if len(secret) < min_bytes:
        return f"is {len(secret)} bytes; at least {min_bytes} are required"
    if len(set(secret)) < MIN_DISTINCT_BYTES:
        return "is too repetitive to be random"
    return None


def new_kid(now: float) -> str:
    """A sortable, readable key id: the UTC date plus random hex."""
    return time.strftime("%Y%m%d", time.gmtime(now)) + "-" + secrets.token_hex(4)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeyRing:
    """Keys by kid. Reads the operator's env keys, or the key file it creates on first run."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._clock = settings.clock
        self._lock = threading.Lock()
        self._file_stamp: tuple[int, int, int] | None = None
        self._next_check = 0.0
        if settings.jwt_keys and settings.jwt_secret:
            raise AuthConfigError(
                f"both {ENV_PREFIX}JWT_KEYS and {ENV_PREFIX}JWT_SECRET are set: keep only one"
            )
        if settings.jwt_keys:
            self.source = "env"
            self._ring = self._parse(settings.jwt_keys, f"{ENV_PREFIX}JWT_KEYS")
        elif settings.jwt_secret:
            self.source = "env"
            secret = settings.jwt_secret.encode("utf-8")
            self._check(secret, f"{ENV_PREFIX}JWT_SECRET", self._env_remedy())
            # The kid is derived from the secret so that every replica agrees on it.
            kid = "env-" + hashlib.sha256(b"modelship kid\x00" + secret).hexdigest()[:12]
            self._ring = ({kid: SigningKey(kid, secret, 0)}, kid)
        else:
            self.source = "file"
            self._load_or_create()

    # -- reading ---------------------------------------------------------------------------

    # The keys and the active kid are swapped together, as one tuple, so that a reader in
    # another thread never sees a new key set with an old active kid.
    _ring: tuple[dict[str, SigningKey], str]

    @property
    def active(self) -> SigningKey:
        keys, active = self._ring
        return keys[active]

    def kids(self) -> list[str]:
        return sorted(self._ring[0])

    def get(self, kid: str, lifetime_s: int, now: float) -> SigningKey | None:
        """The key for kid if it may still verify tokens living lifetime_s, else None."""
        key = self._ring[0].get(kid)
        if key is None and self.source == "file":
            # Another process may have rotated: look at the file before refusing.
            self.refresh(force=True)
            key = self._ring[0].get(kid)
        if key is None:
            return None
        if key.retired_at is not None and now > key.retired_at + lifetime_s + self._settings.leeway_s:
            return None
        return key

    def refresh(self, force: bool = False) -> None:
        """Reload the key file if another process changed it (checked every key_reload_s)."""
        if self.source != "file":
            return
        now = self._clock()
        if not force and now < self._next_check:
            return
        self._next_check = now + self._settings.key_reload_s
        try:
            stamp = self._stamp(self._settings.keys_path)
        except FileNotFoundError:
            return  # keep the keys we have rather than stop serving
        if stamp != self._file_stamp:
            with self._lock:
                try:
                    self._read_file()
                except AuthConfigError as exc:
                    # A bad edit while running must not take the API down: keep serving with the
                    # keys already loaded, and say so until the file is fixed.
                    log.error("keeping the loaded signing keys: %s", exc)

    # -- rotation --------------------------------------------------------------------------

    def rotate(self, drop_previous: bool = False) -> str:
        """Make a new active key; previous keys retire (or go at once when drop_previous)."""
        if self.source != "file":
            raise AuthConfigError(
                f"the signing keys come from {ENV_PREFIX}JWT_KEYS or {ENV_PREFIX}JWT_SECRET, so they "
                f"cannot be rotated here: add a new key to {ENV_PREFIX}JWT_KEYS, make it \"active\", "
                "set \"retired_at\" on the old one, and restart the service (see docs/auth.qmd)"
            )
        with self._lock, self._file_lock():
            self._read_file()  # start from what is on disk, not from our possibly stale copy
            now = int(self._clock())
            keep = max(self._settings.access_ttl_s, self._settings.refresh_ttl_s) + self._settings.leeway_s
            keys: dict[str, SigningKey] = {}
            if not drop_previous:
                for kid, key in self._ring[0].items():
                    if key.retired_at is None:
                        key = replace(key, retired_at=now)
                    if now <= key.retired_at + keep:  # type: ignore[operator]
                        keys[kid] = key
            kid = new_kid(now)
            keys[kid] = SigningKey(kid, secrets.token_bytes(KEY_BYTES), now)
            self._write_file(keys, kid)
            self._ring = (keys, kid)
            return kid

    # -- storage ---------------------------------------------------------------------------

    def _env_remedy(self) -> str:
        return (
            f"set {ENV_PREFIX}JWT_SECRET to a random value, for example the output of "
            "`python -c \"import secrets; print(secrets.token_urlsafe(48))\"`"
        )

    def _file_remedy(self) -> str:
        return (
            f"delete the file to have a new one generated, or set {ENV_PREFIX}JWT_SECRET "
            "(every token signed with the old key stops working either way)"
        )

    def _check(self, secret: bytes, where: str, remedy: str) -> None:
        problem = key_problem(secret, self._settings.min_key_bytes)
        if problem:
            raise AuthConfigError(f"JWT signing key in {where} {problem}: {remedy}")

    def _parse(self, text: str, where: str) -> tuple[dict[str, SigningKey], str]:
        """Read the key-ring JSON (the file and MODELSHIP_JWT_KEYS share one format)."""
        remedy = self._file_remedy() if where != f"{ENV_PREFIX}JWT_KEYS" else (
            f"fix {ENV_PREFIX}JWT_KEYS (format in docs/auth.qmd) or unset it to use the key file"
        )
        try:
            doc = json.loads(text)
            entries = doc["keys"]
            keys: dict[str, SigningKey] = {}
            for entry in entries:
                kid = str(entry["kid"])
                retired = entry.get("retired_at")
                keys[kid] = SigningKey(
                    kid=kid,
                    secret=_unb64(str(entry["secret"])),
                    created_at=int(entry.get("created_at", 0)),
                    retired_at=None if retired is None else int(retired),
                )
            active = doc.get("active")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise AuthConfigError(f"JWT key ring in {where} cannot be read ({exc.__class__.__name__}): {remedy}") from None
        if not keys:
            raise AuthConfigError(f"JWT key ring in {where} holds no key: {remedy}")
        if active is None:
            live = [k for k in keys.values() if k.retired_at is None]
            active = max(live, key=lambda k: k.created_at).kid if live else None
        if active not in keys or keys[active].retired_at is not None:
            raise AuthConfigError(f"JWT key ring in {where} has no active key: {remedy}")
        for key in keys.values():
            self._check(key.secret, f"{where} (kid {key.kid!r})", remedy)
        return keys, active

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int, int]:
        st = path.stat()
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _load_or_create(self) -> None:
        path = self._settings.keys_path
        if not path.exists():
            self._create_first_key(path)
        self._read_file()

    def _read_file(self) -> None:
        path = self._settings.keys_path
        try:
            st = path.stat()
            if st.st_mode & 0o077:
                raise AuthConfigError(
                    f"JWT key file {path} can be read by other users (mode {stat.filemode(st.st_mode)}): "
                    f"run `chmod 600 {path}`"
                )
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise AuthConfigError(
                f"JWT key file {path} is missing: start the service once to have it generated, "
                f"or set {ENV_PREFIX}JWT_SECRET"
            ) from None
        self._ring = self._parse(text, str(path))
        self._file_stamp = (st.st_ino, st.st_mtime_ns, st.st_size)

    def _serialise(self, keys: dict[str, SigningKey], active: str) -> str:
        doc: dict[str, Any] = {
            "format": FILE_FORMAT,
            "active": active,
            "keys": [
                {"kid": k.kid, "secret": _b64(k.secret), "created_at": k.created_at, "retired_at": k.retired_at}
                for k in sorted(keys.values(), key=lambda k: k.created_at)
            ],
        }
        return json.dumps(doc, indent=2) + "\n"

    def _create_first_key(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        now = int(self._clock())
        kid = new_kid(now)
        text = self._serialise({kid: SigningKey(kid, secrets.token_bytes(KEY_BYTES), now)}, kid)
        # Exclusive: when replicas start together, the first one wins and the others read
        # its key instead of overwriting it with their own.
        write_atomic(path, text, mode=0o600, exclusive=True)

    def _write_file(self, keys: dict[str, SigningKey], active: str) -> None:
        write_atomic(self._settings.keys_path, self._serialise(keys, active), mode=0o600)
        self._file_stamp = self._stamp(self._settings.keys_path)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        lock_path = self._settings.keys_path.with_name(self._settings.keys_path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
