"""The faust settings that shape how the enrich worker streams, shared with `bench/faust_ceiling.py` so that the
ceiling it measures is the same plumbing the worker runs on (a copy had already drifted once)."""

from __future__ import annotations

from typing import Any

from services.common.topics import REGION_PARTITIONS

# Under a backlog a batch fills up to this; a quiet stream hands over single events at once (batching.py).
# Large batches amortise the per-group table write and the vectorised geotag query.
BATCH = 5000

STREAM_SETTINGS: dict[str, Any] = {
    "topic_partitions": REGION_PARTITIONS,
    "key_serializer": "raw",
    "value_serializer": "raw",
    "producer_acks": -1,
    # Batch outgoing records (a produce request per record cost a tenth of the worker's time in socket writes).
    "producer_linger": 0.005,
    "producer_max_batch_size": 512 * 1024,
    "producer_compression_type": "zstd",
    "stream_buffer_maxsize": 16384,
    "consumer_auto_offset_reset": "earliest",
    "broker_commit_interval": 1.0,
}
