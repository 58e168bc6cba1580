"""Cursors of the live clients in the compacted `mentions.cursors` topic: Kafka stays the only state.

A file or a database next to the poller would be one more thing to back up and to lose; the topic is
replicated like everything else, and compaction keeps it to one record per source. Records: key
`<platform>:<source>`, value `{"key", "cursor": {...}, "saved_at"}`; the cursor's content is the client's own
(X `since_id`, Telegram `offset`, Mastodon `min_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from services.common.kafka_io import AsyncProducer, KafkaUnavailable, Message
from services.common.topics import MENTIONS_CURSORS

log = logging.getLogger("siaga.live.cursors")

Cursor = dict[str, Any]
T = TypeVar("T")


class CursorStore:
    """Latest cursor per key: read once from the topic at start, written through the acks=all producer."""

    def __init__(self, bootstrap: str, producer: AsyncProducer, topic: str = MENTIONS_CURSORS.name) -> None:
        self.bootstrap = bootstrap
        self.producer = producer
        self.topic = topic
        self._loaded: dict[str, Cursor] | None = None
        self._lock = asyncio.Lock()

    async def get(self, key: str) -> Cursor | None:
        """The last cursor saved under `key`, None for a source never polled. Reads the topic on first use
        (raises when Kafka cannot be read: a client must not start from scratch because Kafka was slow)."""
        async with self._lock:
            if self._loaded is None:
                self._loaded = await _in_daemon_thread(self._read_all)
        return self._loaded.get(key)

    async def save(self, key: str, cursor: Cursor) -> None:
        """Write a cursor and wait for the broker's acknowledgement; raises KafkaUnavailable otherwise."""
        value = {"key": key, "cursor": cursor, "saved_at": datetime.now(UTC).isoformat()}
        await self.producer.send(Message(self.topic, key.encode(), orjson.dumps(value)))
        if self._loaded is not None:
            self._loaded[key] = cursor

    def _read_all(self, timeout_s: float = 15.0) -> dict[str, Cursor]:
        try:
            return self._read_all_raising(timeout_s)
        except KafkaUnavailable:
            raise
        except Exception as err:  # metadata or fetch timeouts of kafka-python: Kafka is not answering
            raise KafkaUnavailable(f"cannot read {self.topic}: {type(err).__name__}: {err}") from err

    def _read_all_raising(self, timeout_s: float) -> dict[str, Cursor]:
        from kafka import KafkaConsumer, TopicPartition

        try:
            # No auto-creation: a broker that auto-creates would make this a plain, uncompacted topic before
            # ensure_topics gets to create it properly.
            consumer = KafkaConsumer(bootstrap_servers=self.bootstrap.split(","), group_id=None,
                                     enable_auto_commit=False, client_id="siaga-live-cursors",
                                     allow_auto_create_topics=False, bootstrap_timeout_ms=int(timeout_s * 1000),
                                     request_timeout_ms=int(timeout_s * 1000) + 1000)
        except Exception as err:
            raise KafkaUnavailable(f"cannot read {self.topic}: {type(err).__name__}: {err}") from err
        try:
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                raise KafkaUnavailable(f"topic {self.topic} does not exist (yet)")
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            latest: dict[str, Cursor] = {}
            deadline = time.monotonic() + timeout_s
            while any(consumer.position(tp) < ends[tp] for tp in tps):
                if time.monotonic() > deadline:
                    raise KafkaUnavailable(f"{self.topic} not read to its end in {timeout_s:.0f}s")
                for records in consumer.poll(timeout_ms=200).values():
                    for rec in records:
                        if rec.key is None:
                            continue
                        key = rec.key.decode()
                        if rec.value is None:  # a tombstone: the source was reset on purpose
                            latest.pop(key, None)
                            continue
                        try:
                            latest[key] = orjson.loads(rec.value)["cursor"]
                        except (orjson.JSONDecodeError, KeyError, TypeError):
                            log.warning("unreadable cursor record skipped", extra={"key": key, "offset": rec.offset})
            log.info("cursors loaded", extra={"topic": self.topic, "sources": sorted(latest)})
            return latest
        finally:
            consumer.close()


def _in_daemon_thread(fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run a blocking call in a daemon thread: unlike the loop's default executor, a shutdown (SIGTERM while
    Kafka is unreachable) does not wait for kafka-python's bootstrap timeout to pass."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result, error = fn(), None
        except BaseException as err:
            result, error = None, err
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=target, name="siaga-live-cursors", daemon=True).start()
    return fut
