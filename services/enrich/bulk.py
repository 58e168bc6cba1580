"""One batch's output, produced as one Kafka record batch per topic partition.

Why: faust's `topic.send()` and table `__setitem__` each run a per-record path (future message, producer
buffer, sensors, a changelog send per table write) that cost the enrich worker more CPU than the consolidation
itself (profiled in docs/operations.md). Here a processing batch collects its records (outputs, dead letters
and table changelog entries), then `flush()` appends them to aiokafka record batches, hands those to the
producer with `send_batch`, and waits for the broker's acks.

Delivery stays at least once: `batching.batches` acknowledges the input events only after the batch was
processed, and processing ends with `flush()`, so an input offset is never committed before everything it
caused is on the broker. Table writes keep faust's semantics: the local store (RocksDB) is written at once,
the changelog record goes to the table's changelog topic on the source event's partition, and the store's
persisted offset is advanced after the ack, exactly what faust does per record in `Table.on_key_set`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from faust.types import TP

from services.enrich.event_context import current_event


@dataclass
class _Pending:
    records: list[tuple[bytes | None, bytes | None]] = field(default_factory=list)
    tables: set[faust.Table] = field(default_factory=set)


class BulkWriter:
    """Collects records during a batch; `flush()` produces them and waits for the acks."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._pending: dict[tuple[str, int], _Pending] = defaultdict(_Pending)
        self._partitions: dict[str, int] = {}
        self._key_partition: dict[tuple[str, bytes], int] = {}

    async def _partition_count(self, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is None:
            producer = self.app.producer._ensure_producer()
            # Tracked for good, every topic we write (outputs and changelogs): a topic the client only saw in an
            # all-topics answer drops out of its metadata at the next refresh, and a batch for a partition without
            # a known leader then waits (20 min in faust's settings) for a refresh that never asks for it. Seen as
            # a worker that hung on its first dead letter, and on a changelog after a restart.
            await producer.client.add_topic(topic)
            await producer.client._wait_on_metadata(topic)
            n = self._partitions[topic] = len(producer.client.cluster.partitions_for_topic(topic) or ())
            if n == 0:
                raise RuntimeError(f"topic {topic} has no partitions in the metadata")
        return n

    def send(self, topic: str, key: bytes, value: bytes | None) -> None:
        """Queue a keyed record; its partition is chosen at flush like Kafka's default partitioner (murmur2),
        so consumers keyed the same way elsewhere (kafka-python in ingest and API) agree on co-partitioning."""
        self._pending[(topic, -1)].records.append((key, value))

    def table_set(self, table: faust.Table, key: str, value: Any, event: faust.EventT) -> None:
        """Write `table[key] = value` to the local store now and queue its changelog record on the partition
        of `event` (the source event, whose partition the key belongs to)."""
        serializers = self.app.serializers
        key_bytes = serializers.dumps_key(table.key_type, key, serializer=table.key_serializer)
        value_bytes = serializers.dumps_value(table.value_type, value, serializer=table.value_serializer)
        with current_event(event):
            table.data[key] = value
        pending = self._pending[(table.changelog_topic.get_topic_name(), event.message.partition)]
        pending.records.append((key_bytes, value_bytes))
        pending.tables.add(table)

    async def flush(self) -> int:
        """Produce everything queued and wait for the acks; the number of records sent."""
        if not self._pending:
            return 0
        pending, self._pending = self._pending, defaultdict(_Pending)
        by_tp: dict[tuple[str, int], _Pending] = {}
        for (topic, partition), p in pending.items():
            if partition >= 0:
                await self._partition_count(topic)  # tracks the topic (a table's changelog) in the metadata
                by_tp[(topic, partition)] = p
                continue
            n = await self._partition_count(topic)
            for key, value in p.records:
                part = self._key_partition.get((topic, key)) if key is not None else None
                if part is None:
                    part = (murmur2(key) & 0x7FFFFFFF) % n
                    if len(self._key_partition) < 200_000:
                        self._key_partition[(topic, key)] = part
                by_tp.setdefault((topic, part), _Pending()).records.append((key, value))
        producer = self.app.producer._ensure_producer()
        sends: list[tuple[tuple[str, int], _Pending, int, asyncio.Future]] = []
        total = 0
        for (topic, partition), p in by_tp.items():
            batch = producer.create_batch()
            for key, value in p.records:
                while batch.append(key=key, value=value, timestamp=None) is None:
                    if batch.record_count() == 0:
                        raise ValueError(f"a record for {topic} is larger than a whole record batch")
                    batch.close()  # closed: the producer's own send() must not add records we do not count
                    sends.append(((topic, partition), p, batch.record_count(),
                                  await producer.send_batch(batch, topic, partition=partition)))
                    batch = producer.create_batch()
                total += 1
            if batch.record_count():
                batch.close()
                sends.append(((topic, partition), p, batch.record_count(),
                              await producer.send_batch(batch, topic, partition=partition)))
        last: dict[tuple[str, int], int] = {}
        for (tp, _, count, fut) in sends:
            meta = await fut
            last[tp] = max(last.get(tp, -1), meta.offset + count - 1)
        for tp, p in by_tp.items():
            for table in p.tables:  # what faust's Table._on_changelog_sent does, once per partition and batch
                table.data.set_persisted_offset(TP(*tp), last[tp])
        return total
