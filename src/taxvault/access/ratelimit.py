"""Per-principal rate limiting: a token bucket per caller, in memory."""

from __future__ import annotations

import os
import threading
import time


class RateLimiter:
    """``rate`` requests per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> RateLimiter:
        """``TAXVAULT_RATE_LIMIT`` (requests/s, default 50) and ``TAXVAULT_RATE_BURST`` (default 100)."""
        rate = float(os.environ.get("TAXVAULT_RATE_LIMIT", "50"))
        burst = int(os.environ.get("TAXVAULT_RATE_BURST", str(max(int(rate * 2), 1))))
        return cls(rate, burst)

    def take(self, key: str) -> float:
        """0.0 if the request may go ahead, else the seconds to wait before retrying."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
