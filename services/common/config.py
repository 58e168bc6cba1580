"""Configuration from environment variables, with the defaults `make run` uses."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    kafka: str = field(default_factory=lambda: _env("SIAGA_KAFKA", "127.0.0.1:9092"))
    replication: int = field(default_factory=lambda: int(_env("SIAGA_TOPIC_REPLICATION", "1")))
    min_insync: int = field(default_factory=lambda: int(_env("SIAGA_MIN_INSYNC", "1")))
    auth_file: str | None = field(default_factory=lambda: os.environ.get("SIAGA_AUTH_FILE") or None)
    data_dir: Path = field(default_factory=lambda: Path(_env("SIAGA_DATA_DIR", str(REPO_ROOT / "data"))))
    state_dir: Path = field(default_factory=lambda: Path(_env("SIAGA_STATE_DIR", str(REPO_ROOT / "var" / "state"))))
    max_body_bytes: int = field(default_factory=lambda: int(_env("SIAGA_MAX_BODY_BYTES", str(2 * 1024 * 1024))))
    produce_timeout_s: float = field(default_factory=lambda: float(_env("SIAGA_PRODUCE_TIMEOUT_S", "10")))
    batch_max: int = field(default_factory=lambda: int(_env("SIAGA_BATCH_MAX", "500")))
    # How long ingest's producer holds a Kafka batch open for more records (services.ingest.app).
    ingest_linger_ms: int = field(default_factory=lambda: int(_env("SIAGA_INGEST_LINGER_MS", "1")))
    # Per bearer token: requests per second and burst (services.common.ratelimit); 0 turns limiting off.
    rate_per_token: float = field(default_factory=lambda: float(_env("SIAGA_RATE_PER_TOKEN", "50")))
    rate_burst: float = field(default_factory=lambda: float(_env("SIAGA_RATE_BURST", "200")))
    # The API's answer cache (services.api.cache): an answer is kept 10x its cost, between these two.
    api_cache_min_ttl_s: float = field(default_factory=lambda: float(_env("SIAGA_API_CACHE_MIN_TTL_S", "0.2")))
    api_cache_ttl_s: float = field(default_factory=lambda: float(_env("SIAGA_API_CACHE_TTL_S", "2")))
    enrich_web_host: str = field(default_factory=lambda: _env("SIAGA_ENRICH_WEB_HOST", "127.0.0.1"))
    enrich_session_timeout_s: float = field(default_factory=lambda: float(_env("SIAGA_ENRICH_SESSION_TIMEOUT_S", "10")))
    enrich_web_port: int = field(default_factory=lambda: int(_env("SIAGA_ENRICH_WEB_PORT", "6066")))
    # Each table partition also kept warm on this many other workers: a failover then needs no changelog replay,
    # but every worker replays its peers' changelogs all the time (docs/operations.md, "Partitions and workers").
    enrich_standby_replicas: int = field(default_factory=lambda: int(_env("SIAGA_ENRICH_STANDBY_REPLICAS", "1")))
    # Live social media clients (services.ingest.live). Each runs only when its credential is set.
    x_bearer_token: str | None = field(default_factory=lambda: os.environ.get("SIAGA_X_BEARER_TOKEN") or None)
    x_base_url: str = field(default_factory=lambda: _env("SIAGA_X_BASE_URL", "https://api.x.com"))
    # None: from the mention lexicon's search seeds (services.ingest.live.queries).
    x_query: str | None = field(default_factory=lambda: os.environ.get("SIAGA_X_QUERY") or None)
    x_poll_s: float = field(default_factory=lambda: float(_env("SIAGA_X_POLL_S", "60")))
    telegram_bot_token: str | None = field(
        default_factory=lambda: os.environ.get("SIAGA_TELEGRAM_BOT_TOKEN") or None)
    telegram_base_url: str = field(default_factory=lambda: _env("SIAGA_TELEGRAM_BASE_URL", "https://api.telegram.org"))
    telegram_long_poll_s: int = field(default_factory=lambda: int(_env("SIAGA_TELEGRAM_LONG_POLL_S", "30")))
    mastodon_base_url: str | None = field(default_factory=lambda: os.environ.get("SIAGA_MASTODON_BASE_URL") or None)
    mastodon_token: str | None = field(default_factory=lambda: os.environ.get("SIAGA_MASTODON_TOKEN") or None)
    # Comma-separated, without '#'; empty means the instance's public timeline; None: the lexicon's seeds.
    mastodon_hashtags: str | None = field(default_factory=lambda: os.environ.get("SIAGA_MASTODON_HASHTAGS"))
    mastodon_poll_s: float = field(default_factory=lambda: float(_env("SIAGA_MASTODON_POLL_S", "60")))
    live_backoff_base_s: float = field(default_factory=lambda: float(_env("SIAGA_LIVE_BACKOFF_BASE_S", "1")))
    live_backoff_max_s: float = field(default_factory=lambda: float(_env("SIAGA_LIVE_BACKOFF_MAX_S", "900")))
    live_metrics_port: int = field(default_factory=lambda: int(_env("SIAGA_LIVE_METRICS_PORT", "6067")))


def settings() -> Settings:
    """Read the environment now (tests change it between app instances)."""
    return Settings()
