"""Per-client token buckets for the request rate (OWASP API4) and the row quota (API6).

In-process: each ingress replica keeps its own buckets, so with N ingress replicas a client
can get up to N times its limit. That is the documented trade-off for a hot path without a
network round trip; a shared store (Redis) is the upgrade when replicas multiply.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBuckets:
    """`limit` units per `window_s` seconds per key, refilled continuously."""

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()

    def take(self, key: str, cost: float, limit: int, window_s: float) -> float:
        """Spend `cost` units; return 0 if allowed, else the seconds to wait before retrying."""
        now = self._clock()
        rate = limit / window_s
        with self._lock:
            tokens, at = self._buckets.get(key, (float(limit), now))
            tokens = min(float(limit), tokens + (now - at) * rate)
            if cost > limit:
                return window_s  # can never fit in one window: the client must split the request
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                self._buckets.move_to_end(key)
                while len(self._buckets) > self._max_keys:  # memory stays bounded
                    self._buckets.popitem(last=False)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / rate


def retry_after_header(wait_s: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait_s)))}
