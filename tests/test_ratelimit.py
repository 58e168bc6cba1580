"""Per-token rate limiting: the pure token bucket, and 429 + Retry-After from the ingest app.

No broker needed: the requests here are refused (429) or invalid (422) before anything is produced.
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from services.common.config import Settings
from services.common.ratelimit import RateLimiter, credential_key, retry_after
from services.ingest.app import create_app
from tests.conftest import bearer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_steady_rate() -> None:
    clock = Clock()
    rl = RateLimiter(rate=10, burst=5, clock=clock)
    assert [rl.acquire(b"a") for _ in range(5)] == [0.0] * 5
    wait = rl.acquire(b"a")
    assert wait > 0 and abs(wait - 0.1) < 1e-9  # one token comes back every 1/rate s
    clock.now += 0.1
    assert rl.acquire(b"a") == 0.0
    assert rl.acquire(b"a") > 0
    clock.now += 100  # refills up to the burst, never beyond
    assert [rl.acquire(b"a") for _ in range(6)].count(0.0) == 5


def test_tokens_are_limited_separately() -> None:
    clock = Clock()
    rl = RateLimiter(rate=1, burst=2, clock=clock)
    assert rl.acquire(b"a") == rl.acquire(b"a") == 0.0
    assert rl.acquire(b"a") > 0
    assert rl.acquire(b"b") == 0.0  # another phone is not held back by the first


def test_defaults_never_limit_an_outbox_sync_or_replay() -> None:
    """50/s with a burst of 200: a phone flushing 200 queued requests at once, then replay at 45 batches/s."""
    clock = Clock()
    cfg = Settings()
    rl = RateLimiter(cfg.rate_per_token, cfg.rate_burst, clock=clock)
    assert (cfg.rate_per_token, cfg.rate_burst) == (50, 200)
    assert all(rl.acquire(b"phone") == 0.0 for _ in range(200))
    clock.now += 5  # the phone goes quiet; its bucket refills
    for _ in range(45 * 60):  # a minute of `siaga replay` sending 45 batches (of up to 500 reports) a second
        clock.now += 1 / 45
        assert rl.acquire(b"replay") == 0.0
    # A client stuck in a tight retry loop is held to the rate.
    limited = sum(1 for _ in range(1000) if rl.acquire(b"loop") > 0)
    assert limited == 800


def test_memory_is_bounded_under_many_tokens() -> None:
    clock = Clock()
    rl = RateLimiter(rate=1, burst=1, clock=clock, max_keys=100)
    for i in range(10_000):
        clock.now += 0.001
        rl.acquire(str(i).encode())
        assert len(rl) <= 100


def test_key_is_a_digest_of_the_authorization_header() -> None:
    headers = [(b"host", b"x"), (b"authorization", b"Bearer " + b"t" * 10_000)]
    key = credential_key(headers)
    assert key is not None and len(key) == 16
    assert credential_key([(b"host", b"x")]) is None
    assert credential_key([(b"authorization", b"Bearer other")]) != key
    assert retry_after(0.01) == "1" and retry_after(2.2) == "3"


def invalid_report() -> dict:
    # 422 before anything is produced: the limiter runs before validation either way.
    return {"report_id": "rl-1", "hazard": "meteor"}


def test_flood_from_one_token_gets_429_with_retry_after(auth_file) -> None:  # noqa: ANN001
    cfg = Settings(kafka="127.0.0.1:1", auth_file=str(auth_file), rate_per_token=5, rate_burst=10)
    with TestClient(create_app(cfg)) as c:
        before = _metric(c, 'siaga_ingest_reports_total{outcome="rejected",reason="rate_limited"}')
        statuses = [c.post("/v1/reports", json=invalid_report(), headers=bearer("volunteer")) for _ in range(30)]
        codes = [r.status_code for r in statuses]
        assert codes[:10] == [422] * 10, codes
        limited = [r for r in statuses if r.status_code == 429]
        assert len(limited) >= 15, codes  # at 5/s a few may refill while the loop runs
        assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
        assert "too many requests" in limited[0].json()["detail"]
        # Batches and mentions are behind the same limit; other tokens and the ops endpoints are not.
        assert c.post("/v1/reports/batch", json=[invalid_report()], headers=bearer("volunteer")).status_code == 429
        assert c.post("/v1/reports", json=invalid_report(), headers=bearer("coordinator")).status_code == 422
        assert c.get("/healthz").status_code == 200
        text = c.get("/metrics").text
        assert _metric(c, 'siaga_ingest_reports_total{outcome="rejected",reason="rate_limited"}') - before \
            == len(limited) + 1
        assert 'siaga_rate_limited_total{service="ingest"}' in text
        assert 'status="429"' in text  # the request metrics see the 429s too
        time.sleep(float(limited[-1].headers["Retry-After"]))
        assert c.post("/v1/reports", json=invalid_report(), headers=bearer("volunteer")).status_code == 422


def test_rate_limit_can_be_turned_off(auth_file) -> None:  # noqa: ANN001
    cfg = Settings(kafka="127.0.0.1:1", auth_file=str(auth_file), rate_per_token=0, rate_burst=1)
    with TestClient(create_app(cfg)) as c:
        codes = {c.post("/v1/reports", json=invalid_report(), headers=bearer("volunteer")).status_code
                 for _ in range(20)}
        assert codes == {422}


def _metric(c: TestClient, series: str) -> float:
    for line in c.get("/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
