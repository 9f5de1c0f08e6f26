"""Per-client rate limiting: a token bucket for each client key.

A client (a signed-in user, else an IP address) starts with ``burst`` tokens;
each request takes one, and tokens come back at ``rate_per_minute``.  The clock
is injectable so tests can move time instead of sleeping.  Buckets live in
process memory: a limit per server process, which is what one self-hosted
instance needs (a shared deployment would put this in front of the app).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Buckets kept before idle full ones are dropped (bounds memory under many distinct clients).
_MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``allow(key)`` is ``(True, 0)`` or ``(False, seconds until the next token)``."""

    def __init__(
        self, rate_per_minute: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = max(rate_per_minute, 0.0) / 60.0
        self.burst = max(burst, 1)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, int]:
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True, 0
            if self.rate <= 0:
                return False, 3600
            return False, max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def _prune(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= _MAX_BUCKETS:  # all busy: forget the oldest half rather than grow
            for k in sorted(self._buckets, key=lambda k: self._buckets[k].updated)[: _MAX_BUCKETS // 2]:
                del self._buckets[k]
