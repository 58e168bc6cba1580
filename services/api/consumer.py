"""Feeds the read model from Kafka in a background thread: replay from the start, then follow.

No consumer group: every API replica reads every partition of `sites` itself, because each holds the
whole read model. `ready` turns true once the end offsets seen at start have been reached.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from services.api.mentions_model import MentionsModel
from services.api.readmodel import ReadModel
from services.common.metrics import CONSUMER_LAG
from services.common.topics import SITES

log = logging.getLogger("siaga.api.consumer")


class SitesFollower(threading.Thread):
    def __init__(self, bootstrap: str, model: ReadModel | MentionsModel, topic: str = SITES.name) -> None:
        super().__init__(name="sites-follower", daemon=True)
        self.bootstrap = bootstrap
        self.model = model
        self.topic = topic
        self._stopping = threading.Event()
        self.error: str | None = None

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._follow()
            except Exception as err:  # broker gone: keep serving what we have, retry
                self.error = f"{type(err).__name__}: {err}"
                log.warning("sites follower error; retrying", extra={"error": self.error})
                time.sleep(1.0)

    def _follow(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap.split(","), enable_auto_commit=False,
                                 group_id=None, client_id="siaga-api", fetch_max_bytes=64 * 1024 * 1024,
                                 max_partition_fetch_bytes=16 * 1024 * 1024)
        try:
            parts = None
            while parts is None and not self._stopping.is_set():
                parts = consumer.partitions_for_topic(self.topic)
                if parts is None:
                    time.sleep(0.5)
            if parts is None:
                return
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            # A replay restarts from scratch: compaction guarantees the latest value per key survives.
            targets = consumer.end_offsets(tps)
            self.error = None
            last_lag = 0.0
            # Replaying 100,000 sites allocates millions of long-lived objects: with the cyclic GC on, its
            # repeated full collections cost more than the parsing itself. Off until caught up.
            paused_gc = not self.model.ready and gc.isenabled()
            if paused_gc:
                gc.disable()
            try:
                self._consume(consumer, tps, targets, last_lag)
            finally:
                if paused_gc:
                    gc.enable()
        finally:
            consumer.close()

    def _consume(self, consumer, tps: list, targets: dict, last_lag: float) -> None:  # noqa: ANN001
        while not self._stopping.is_set():
            batches = consumer.poll(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for rec in records:
                    self.model.apply(rec.key, rec.value)
            if not self.model.ready and all(consumer.position(tp) >= targets[tp] for tp in tps):
                gc.enable()
                self.model.mark_ready()
                log.info("read model caught up", extra={"topic": self.topic, "records": len(self.model)})
            now = time.monotonic()
            if now - last_lag > 5:
                last_lag = now
                ends = consumer.end_offsets(tps)
                for tp in tps:
                    CONSUMER_LAG.labels("api", tp.topic, str(tp.partition)).set(ends[tp] - consumer.position(tp))
