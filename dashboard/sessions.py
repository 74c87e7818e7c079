"""Server-side sessions: the browser holds a random id in a cookie, the dashboard everything else.

A session exists before sign-in (so that the sign-in form has a CSRF token) and is replaced at
sign-in, so an id planted before it opens nothing. The service's tokens stay in this process's
memory, in the session; they never reach the browser. One lock per session serialises its
renewals: the service treats a refresh token used twice as stolen (docs/auth.qmd).

Sessions live in memory: a restart of the dashboard signs everyone out, which is its only state.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from dashboard.api_client import Tokens

CSRF_FIELD = "csrf_token"
ANONYMOUS_S = 30 * 60
# A bound on the memory an anonymous flood can take; the oldest sessions go first.
MAX_SESSIONS = 10_000


@dataclass
class Session:
    csrf: str
    created: float
    last_seen: float
    tokens: Tokens | None = None
    principal: str = ""
    note: str | None = None  # a message shown once, on the next page
    card: dict[str, Any] | None = None  # the model card, read once per served version
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def signed_in(self) -> bool:
        return self.tokens is not None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, idle_s: float, clock: Any = time.time) -> None:
        self.idle_s = idle_s
        self.clock = clock
        self._by_digest: dict[str, Session] = {}

    def create(self) -> tuple[str, Session]:
        self._purge()
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(csrf=secrets.token_urlsafe(32), created=now, last_seen=now)
        self._by_digest[_digest(token)] = session
        return token, session

    def load(self, token: str | None) -> Session | None:
        if not token or len(token) > 100:
            return None
        session = self._by_digest.get(_digest(token))
        if session is None:
            return None
        now = self.clock()
        idle = self.idle_s if session.signed_in else ANONYMOUS_S
        if now - session.last_seen > idle:
            self.destroy(token)
            return None
        session.last_seen = now
        return session

    def destroy(self, token: str) -> None:
        self._by_digest.pop(_digest(token), None)

    def all(self) -> list[Session]:
        return list(self._by_digest.values())

    def _purge(self) -> None:
        now = self.clock()
        for key, s in list(self._by_digest.items()):
            if now - s.last_seen > (self.idle_s if s.signed_in else ANONYMOUS_S):
                del self._by_digest[key]
        while len(self._by_digest) >= MAX_SESSIONS:
            del self._by_digest[next(iter(self._by_digest))]


def csrf_valid(session: Session | None, submitted: str | None) -> bool:
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())
