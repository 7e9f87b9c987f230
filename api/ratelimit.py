"""Per-token rate limiting: an in-process token bucket for each API token.

Each token may make `burst` requests at once and `rate` requests per second on average; a request
beyond that is refused with 429 and `Retry-After` (whole seconds until a request would pass).
Buckets live in this process only: several `crossclient serve` processes each allow the full rate.
"""
from __future__ import annotations

import math
import threading
import time


class TokenBuckets:
    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[object, tuple[float, float]] = {}  # key -> (tokens, last refill)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key) -> int | None:
        """Spend one request of `key`'s bucket; None if allowed, else seconds to wait."""
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))
