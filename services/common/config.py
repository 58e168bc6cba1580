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
    # Per bearer token: requests per second and burst (services.common.ratelimit); 0 turns limiting off.
    rate_per_token: float = field(default_factory=lambda: float(_env("SIAGA_RATE_PER_TOKEN", "50")))
    rate_burst: float = field(default_factory=lambda: float(_env("SIAGA_RATE_BURST", "200")))
    enrich_web_host: str = field(default_factory=lambda: _env("SIAGA_ENRICH_WEB_HOST", "127.0.0.1"))
    enrich_session_timeout_s: float = field(default_factory=lambda: float(_env("SIAGA_ENRICH_SESSION_TIMEOUT_S", "10")))
    enrich_web_port: int = field(default_factory=lambda: int(_env("SIAGA_ENRICH_WEB_PORT", "6066")))


def settings() -> Settings:
    """Read the environment now (tests change it between app instances)."""
    return Settings()
