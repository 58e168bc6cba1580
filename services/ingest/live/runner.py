"""Which live clients run (those with credentials), and running them side by side in one event loop."""

from __future__ import annotations

import asyncio
import logging

import httpx

from services.common.config import Settings
from services.common.kafka_io import AsyncProducer
from services.common.topics import ensure_topics_in_background
from services.ingest.live.backoff import Backoff
from services.ingest.live.cursors import CursorStore
from services.ingest.live.metrics import LIVE_ENABLED
from services.ingest.live.poller import Poller
from services.ingest.live.queries import mastodon_hashtags, x_search_query
from services.ingest.live.sources import MastodonTimeline, Source, TelegramUpdates, XRecentSearch
from services.ingest.live.web import Heartbeat

log = logging.getLogger("siaga.live")

PLATFORMS = ("x", "telegram", "mastodon")


def build_sources(cfg: Settings, only: set[str] | None = None) -> list[Source]:
    """The sources whose credentials are configured; each platform left out is logged as disabled, with the
    variable that would enable it (the usual reason a client "does nothing" is a missing variable)."""
    wanted = set(PLATFORMS) if only is None else only
    sources: list[Source] = []
    why_off: dict[str, str] = {}
    if "x" in wanted and cfg.x_bearer_token:
        query = cfg.x_query or x_search_query()
        sources.append(XRecentSearch(cfg.x_base_url, cfg.x_bearer_token, query, cfg.x_poll_s))
    else:
        why_off["x"] = "SIAGA_X_BEARER_TOKEN not set"
    if "telegram" in wanted and cfg.telegram_bot_token:
        sources.append(TelegramUpdates(cfg.telegram_base_url, cfg.telegram_bot_token, cfg.telegram_long_poll_s))
    else:
        why_off["telegram"] = "SIAGA_TELEGRAM_BOT_TOKEN not set"
    if "mastodon" in wanted and cfg.mastodon_base_url:
        if cfg.mastodon_hashtags is None:
            tags = mastodon_hashtags()
        else:
            tags = [t.strip().lstrip("#") for t in cfg.mastodon_hashtags.split(",") if t.strip().lstrip("#")]
        for tag in tags or [None]:
            sources.append(MastodonTimeline(cfg.mastodon_base_url, tag, cfg.mastodon_token, cfg.mastodon_poll_s))
    else:
        why_off["mastodon"] = "SIAGA_MASTODON_BASE_URL not set"
    for platform in PLATFORMS:
        enabled = any(s.platform == platform for s in sources)
        LIVE_ENABLED.labels(platform).set(1 if enabled else 0)
        if not enabled:
            reason = why_off[platform] if platform in wanted else "not selected"
            log.info("live client disabled", extra={"platform": platform, "reason": reason})
    return sources


class LiveClients:
    """The configured clients, sharing one HTTP client, one Kafka producer and one cursor store."""

    def __init__(self, cfg: Settings, only: set[str] | None = None, producer: AsyncProducer | None = None) -> None:
        # httpx logs every request URL at INFO, and a Telegram URL holds the bot token.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
        self.cfg = cfg
        self.sources = build_sources(cfg, only)
        self.stop_event = asyncio.Event()
        self._own_producer = producer is None
        self.producer = producer or AsyncProducer(cfg.kafka, timeout_s=cfg.produce_timeout_s, client_id="siaga-live")
        self.cursors = CursorStore(cfg.kafka, self.producer)
        self.pollers: list[Poller] = []

    def stop(self) -> None:
        self.stop_event.set()

    async def run(self) -> None:
        """Until `stop()`; returns at once when no client is configured."""
        if not self.sources:
            log.info("no live client configured: nothing to do (set SIAGA_X_BEARER_TOKEN, "
                     "SIAGA_TELEGRAM_BOT_TOKEN or SIAGA_MASTODON_BASE_URL)")
            return
        # In the background, like the other services: while Kafka is down the pollers wait (cursor read with
        # back-off), and a stop signal must not wait for topic creation to time out.
        ensure_topics_in_background(self.cfg)
        timeout = httpx.Timeout(30.0, connect=10.0)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            self.pollers = [Poller(s, self.producer, self.cursors, http,
                                   Backoff(self.cfg.live_backoff_base_s, self.cfg.live_backoff_max_s),
                                   self.stop_event) for s in self.sources]
            try:
                await asyncio.gather(*(p.run() for p in self.pollers))
            finally:
                if self._own_producer:
                    self.producer.close()


async def run(cfg: Settings, only: set[str] | None = None, *, keep_running: bool = False,
              heartbeat: Heartbeat | None = None) -> None:
    """Run the configured clients until SIGINT / SIGTERM. With none configured, return at once, unless
    `keep_running` (a supervisor that restarts whatever exits, as Kubernetes and compose do, would otherwise
    restart it in a loop): then stay up idle, metrics and /healthz served, until stopped. `heartbeat` is beaten
    from this event loop for /healthz."""
    import signal

    clients = LiveClients(cfg, only)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, clients.stop)
    beats = asyncio.create_task(heartbeat.run()) if heartbeat is not None else None
    try:
        await clients.run()
        if keep_running and not clients.stop_event.is_set():
            log.info("no live client running: staying up idle until stopped (--keep-running)")
            await clients.stop_event.wait()
    finally:
        if beats is not None:
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)
