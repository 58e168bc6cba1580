"""Per-token rate limiting: a token bucket for each credential, so one runaway client cannot crowd out the rest.

`RateLimiter` is pure (clock injected, no I/O): each credential may make `burst` requests at once and then
`rate` per second. The defaults (50/s, burst 200 per token) never touch a phone syncing its outbox or
`siaga replay` (both send batches, one request per up to 500 reports); they stop a client stuck in a tight
retry loop. Over the limit the answer is 429 with Retry-After, before the body is read or auth is checked.

`install(app, cfg)` registers it as a plain ASGI middleware (no task or stream per request, see
`services.common.metrics.instrument`). `SIAGA_RATE_PER_TOKEN=0` turns it off.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable

import orjson

from services.common.metrics import INGEST_REPORTS, RATE_LIMITED

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RateLimiter:
    """Token buckets keyed by an opaque string; memory bounded by `max_keys`."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[bytes, list[float]] = {}  # key -> [tokens, last refill time]

    def acquire(self, key: bytes) -> float:
        """Take one token: 0.0 when allowed, else the seconds until the next token (the request is refused)."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            bucket = self._buckets[key] = [self.burst, now]
        else:
            bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return 0.0
        return (1.0 - bucket[0]) / self.rate

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled (they equal a fresh one); if that is not enough, the oldest."""
        full = [k for k, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        excess = len(self._buckets) - self.max_keys // 2
        if excess > 0:
            for k in list(self._buckets)[:excess]:
                del self._buckets[k]

    def __len__(self) -> int:
        return len(self._buckets)


def credential_key(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """A fixed-size digest of the Authorization header (bearer token or basic credentials), None without one."""
    for name, value in headers:
        if name == b"authorization" and value.strip():
            return hashlib.blake2b(value.strip(), digest_size=16).digest()
    return None


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))


class RateLimitMiddleware:
    def __init__(self, app, limiter: RateLimiter, service: str, exempt: frozenset[str] = EXEMPT_PATHS) -> None:  # noqa: ANN001
        self.app = app
        self.limiter = limiter
        self.service = service
        self.exempt = exempt

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        key = credential_key(scope["headers"])
        wait = self.limiter.acquire(key) if key is not None else 0.0  # no credential: auth answers 401
        if not wait:
            await self.app(scope, receive, send)
            return
        RATE_LIMITED.labels(self.service).inc()
        if self.service == "ingest":
            INGEST_REPORTS.labels("rejected", "rate_limited").inc()
        body = orjson.dumps({"detail": f"too many requests for this token (limit {self.limiter.rate:g}/s, burst "
                                       f"{self.limiter.burst:g}); nothing was stored; retry after the delay"})
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", retry_after(wait).encode())]})
        await send({"type": "http.response.body", "body": body})


def install(app, cfg, service: str = "ingest") -> RateLimiter | None:  # noqa: ANN001 - FastAPI app, Settings
    """Limit every non-ops route of `app` per credential, from `cfg.rate_per_token` / `cfg.rate_burst`."""
    if cfg.rate_per_token <= 0:
        return None
    limiter = RateLimiter(cfg.rate_per_token, max(1.0, cfg.rate_burst))
    app.add_middleware(RateLimitMiddleware, limiter=limiter, service=service)
    return limiter
