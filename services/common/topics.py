"""Every Kafka topic, declared once: name, partitions, retention, compaction and what its key is.

Whichever service starts first creates what is missing, so `make run`, the tests and production agree.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    compacted: bool = False
    retention_ms: int = -1  # -1: keep forever; reports are the source of truth
    extra: dict[str, str] = field(default_factory=dict)

    def configs(self, min_insync: int) -> dict[str, str]:
        cfg = {
            "cleanup.policy": "compact" if self.compacted else "delete",
            "retention.ms": str(self.retention_ms),
            "min.insync.replicas": str(min_insync),
        }
        if self.compacted:
            cfg.update({"min.cleanable.dirty.ratio": "0.1", "segment.ms": str(DAY_MS)})
        cfg.update(self.extra)
        return cfg


# reports.enriched, sites and reviews share a partition count and a key (regency code) so that they are
# co-partitioned: the consolidation agent finds a site's reports and its reviews on the same partition.
REGION_PARTITIONS = 6

REPORTS_RAW = TopicSpec("reports.raw", 6, key="report_id")
REPORTS_ENRICHED = TopicSpec("reports.enriched", REGION_PARTITIONS, key="regency code (adm2)")
SITES = TopicSpec("sites", REGION_PARTITIONS, key="site_id", compacted=True)
MENTIONS_RAW = TopicSpec("mentions.raw", 6, key="mention id", retention_ms=30 * DAY_MS)
MENTIONS_ENRICHED = TopicSpec("mentions.enriched", REGION_PARTITIONS, key="regency code (adm2)",
                              retention_ms=30 * DAY_MS)
REVIEWS = TopicSpec("reviews", REGION_PARTITIONS, key="regency code of the site")
DEADLETTER = TopicSpec("deadletter", 3, key="source topic", retention_ms=90 * DAY_MS)

# Where each live platform client (services.ingest.live) has got to: since_id / update offset per source,
# written only after that page's mentions were acknowledged. Compacted: only the latest cursor per key matters,
# and it must outlive any retention (a client restarted after a month resumes, it does not start over).
MENTIONS_CURSORS = TopicSpec("mentions.cursors", 1, key="platform:source", compacted=True)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    REPORTS_RAW, REPORTS_ENRICHED, SITES, MENTIONS_RAW, MENTIONS_ENRICHED, REVIEWS, DEADLETTER, MENTIONS_CURSORS,
)


def ensure_topics(bootstrap: str, replication: int = 1, min_insync: int = 1, timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Safe to call from every service."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    deadline = time.monotonic() + timeout_s
    last_err: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="siaga-topics",
                                     bootstrap_timeout_ms=int(max(1.0, deadline - time.monotonic()) * 1000))
            break
        except Exception as err:  # broker not up yet
            last_err = err
            time.sleep(0.5)
    else:
        raise RuntimeError(f"Kafka at {bootstrap} unreachable: {last_err}")
    try:
        existing = set(admin.list_topics())
        missing = [t for t in ALL_TOPICS if t.name not in existing]
        created: list[str] = []
        for spec in missing:
            try:
                topic = NewTopic(spec.name, spec.partitions, replication, topic_configs=spec.configs(min_insync))
                admin.create_topics([topic])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("topics created", extra={"topics": created})
        return created
    finally:
        admin.close()


def ensure_topics_in_background(cfg) -> threading.Thread:  # noqa: ANN001 - services.common.config.Settings
    """Create missing topics without holding up start-up: a service must come up (and answer 503) even
    while Kafka is down."""

    def run() -> None:
        try:
            ensure_topics(cfg.kafka, cfg.replication, cfg.min_insync, timeout_s=60)
        except Exception as err:
            log.warning("could not ensure topics", extra={"error": str(err)})

    thread = threading.Thread(target=run, name="ensure-topics", daemon=True)
    thread.start()
    return thread
