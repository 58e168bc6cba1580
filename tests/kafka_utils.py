"""Reading back what landed on a topic of the session's real broker."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition


def read_topic(bootstrap: str, topic: str, min_records: int = 0, timeout_s: float = 15.0) -> list:
    """All records of `topic` from the beginning, waiting until at least `min_records` arrived."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            ends = consumer.end_offsets(tps)
            if len(records) >= min_records and all(consumer.position(tp) >= ends[tp] for tp in tps):
                break
        return records
    finally:
        consumer.close()
