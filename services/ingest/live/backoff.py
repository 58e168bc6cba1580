"""When to try again: exponential back-off with jitter, and the platforms' own rate-limit answers.

Jitter because several clients (or several hashtags of one instance) that failed together must not retry in
lockstep. A 429 is not guessed at: each platform says when its window resets, and asking earlier only
earns another 429 (and, on X, can get an app suspended).
"""

from __future__ import annotations

import random
import time
from datetime import datetime


class Backoff:
    """Delay after the n-th consecutive failure: half of min(cap, base * 2**n) fixed, half random ("equal
    jitter"), so the wait grows every time yet two clients never retry at the same instant."""

    def __init__(self, base_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.base_s * (2 ** min(self.failures, 30)))
        self.failures += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.failures = 0


class RateLimited(Exception):
    """The platform said 429; `delay_s` is how long it asked us to wait (None: it did not say)."""

    def __init__(self, delay_s: float | None, detail: str = "") -> None:
        super().__init__(detail or "rate limited")
        self.delay_s = delay_s


def until_reset(value: str | None, now: float | None = None) -> float | None:
    """Seconds from now until a rate-limit reset header's time: epoch seconds (X's `x-rate-limit-reset`) or an
    ISO 8601 timestamp (Mastodon's `X-RateLimit-Reset`). None when absent or unreadable."""
    if not value:
        return None
    now = time.time() if now is None else now
    value = value.strip()
    try:
        at = float(value)
    except ValueError:
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return max(0.0, at - now)
