"""The loop around one source: fetch, produce, then (and only then) move the cursor; wait; never die.

Every failure becomes a wait: exponential back-off with jitter for network errors, 5xx, malformed answers and
Kafka refusing the page; the platform's own reset time for a 429. The loop leaves only when asked to stop,
and a stop interrupts a long poll or a wait at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import traceback
from collections.abc import Awaitable
from typing import TypeVar

import httpx

from services.common.kafka_io import AsyncProducer, KafkaUnavailable
from services.ingest.live.backoff import Backoff, RateLimited
from services.ingest.live.cursors import Cursor, CursorStore
from services.ingest.live.metrics import LIVE_BACKOFF, LIVE_ERRORS, LIVE_MENTIONS, LIVE_POLLS
from services.ingest.live.sources import PollError, Source
from services.ingest.mentions_produce import produce_mentions

log = logging.getLogger("siaga.live")

T = TypeVar("T")

# A platform's reset time is honoured, but a wait of more than a day means a clock or a header gone wrong.
MAX_RATE_LIMIT_WAIT_S = 24 * 3600.0


class _Stopped(Exception):
    pass


class Poller:
    """Runs one source until `stop` is set. Public counters (`requests`, `produced`, `errors`) and `cursor`
    are for tests and logs; Prometheus gets the same through services.ingest.live.metrics."""

    def __init__(self, source: Source, producer: AsyncProducer, cursors: CursorStore, http: httpx.AsyncClient,
                 backoff: Backoff, stop: asyncio.Event) -> None:
        self.source = source
        self.producer = producer
        self.cursors = cursors
        self.http = http
        self.backoff = backoff
        self.stop = stop
        self.cursor: Cursor | None = None
        self.requests = 0
        self.produced = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self._log = {"platform": source.platform, "source": source.key}

    async def run(self) -> None:
        """Until `stop` is set. Even a bug does not end it: logged, backed off, and the loop starts again
        from the last cursor (other platforms' clients must keep running whatever happens to this one)."""
        try:
            while not self.stop.is_set():
                try:
                    await self._run()
                except (_Stopped, asyncio.CancelledError):
                    raise
                except Exception as err:
                    self._log_unexpected("live client loop failed; restarting it")
                    await self._wait(self._failed("unexpected", self.source.redact(f"{type(err).__name__}: {err}")))
        except _Stopped:
            pass
        finally:
            LIVE_BACKOFF.labels(self.source.platform, self.source.key).set(0)
            log.info("live client stopped", extra={**self._log, "cursor": self.cursor, "requests": self.requests,
                                                    "produced": self.produced})

    async def _run(self) -> None:
        self.cursor = await self._load_cursor()
        log.info("live client started", extra={**self._log, "cursor": self.cursor})
        while not self.stop.is_set():
            await self._wait(await self.step())

    async def _load_cursor(self) -> Cursor | None:
        """The stored cursor, waiting (with back-off) for Kafka rather than starting over without it."""
        while True:
            try:
                cursor = await self._until_stopped(self.cursors.get(self.source.key))
            except KafkaUnavailable as err:
                await self._wait(self._failed("cursor_read", str(err)))
                continue
            self.backoff.reset()
            LIVE_BACKOFF.labels(self.source.platform, self.source.key).set(0)
            return cursor

    async def step(self) -> float:
        """One request and what follows from it; returns how long to wait before the next."""
        src = self.source
        self.requests += 1
        try:
            page = await self._until_stopped(src.fetch(self.http, self.cursor))
        except RateLimited as err:
            LIVE_POLLS.labels(src.platform, "rate_limited").inc()
            # At least what the platform asked for; more if it keeps refusing (its clock may be behind ours).
            asked = min(err.delay_s, MAX_RATE_LIMIT_WAIT_S) if err.delay_s is not None else 0.0
            return self._failed("rate_limited", str(err), at_least=asked)
        except PollError as err:
            LIVE_POLLS.labels(src.platform, "error").inc()
            return self._failed(err.reason, str(err))
        except _Stopped:
            raise
        except Exception as err:  # a bug or a shape nobody expected: log it fully, keep the loop alive
            LIVE_POLLS.labels(src.platform, "error").inc()
            self._log_unexpected("unexpected error in live client")
            return self._failed("unexpected", src.redact(f"{type(err).__name__}: {err}"))
        LIVE_POLLS.labels(src.platform, "ok").inc()
        if page.skipped:
            LIVE_ERRORS.labels(src.platform, "unparseable").inc(page.skipped)
            self.errors["unparseable"] += page.skipped
        if page.mentions:
            errors = await produce_mentions(self.producer, page.mentions)
            failed = [e for e in errors if e is not None]
            stored = len(errors) - len(failed)
            self.produced += stored
            LIVE_MENTIONS.labels(src.platform).inc(stored)
            if failed:  # the cursor stays: the same page is asked for again (stored ones are re-sent, harmless)
                return self._failed("kafka", str(failed[0]))
        delay = max(page.wait_s, 0.0 if page.more else src.interval_s)
        if page.cursor is not None and page.cursor != self.cursor:
            # The page is in Kafka, so moving on is right even if recording that fails; a restart before the
            # next successful save re-reads this page (at least once).
            self.cursor = page.cursor
            try:
                await self.cursors.save(src.key, page.cursor)
            except KafkaUnavailable as err:
                return max(delay, self._failed("cursor_write", str(err)))
        if page.mentions or page.cursor:
            log.info("page stored", extra={**self._log, "mentions": len(page.mentions), "cursor": self.cursor})
        self.backoff.reset()
        LIVE_BACKOFF.labels(src.platform, src.key).set(0)
        if page.wait_s:
            log.info("rate-limit window used up; waiting for its reset", extra={**self._log, "wait_s": page.wait_s})
        return delay

    def _log_unexpected(self, msg: str) -> None:
        """The traceback as text, redacted: a Telegram URL (with its bot token) can appear in an exception."""
        log.error(msg, extra={**self._log, "traceback": self.source.redact(traceback.format_exc())})

    def _failed(self, reason: str, detail: str, at_least: float = 0.0) -> float:
        delay = max(at_least, self.backoff.next_delay())
        self.errors[reason] += 1
        LIVE_ERRORS.labels(self.source.platform, reason).inc()
        LIVE_BACKOFF.labels(self.source.platform, self.source.key).set(delay)
        log.warning("live client backing off", extra={**self._log, "reason": reason, "error": detail,
                                                      "retry_in_s": round(delay, 3),
                                                      "consecutive_failures": self.backoff.failures})
        return delay

    async def _until_stopped(self, aw: Awaitable[T]) -> T:
        """Await `aw` unless `stop` is set first (then cancel it): a 30 s long poll must not delay a shutdown."""
        task = asyncio.ensure_future(aw)
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise _Stopped
        return task.result()

    async def _wait(self, seconds: float) -> None:
        """Sleep, but wake (and leave the loop) as soon as `stop` is set."""
        if seconds <= 0:
            await asyncio.sleep(0)  # let the other clients run between back-to-back pages
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        if self.stop.is_set():
            raise _Stopped
