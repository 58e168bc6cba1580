"""Pack one batch's `reports.enriched` records into one JSON array per regency (schemas.enriched).

Why: the consolidation stream pays faust's per-message cost (event, queue, sensors, ack: measured by
`bench/faust_ceiling.py` at about as much CPU as the rest of a report's handling) once per record. Under a
backlog a batch sends many reports to each regency, so one array per regency and batch divides that cost by
the batch's reports per regency; a quiet stream still sends arrays of one.

Arrays are capped in size so a record always fits in one producer batch (`BulkWriter`): a regency with more
reports than that gets several arrays, in order.
"""

from __future__ import annotations

from collections import defaultdict

from services.enrich.bulk import BulkWriter

MAX_BYTES = 256 * 1024  # well under the producer's 512 KiB record batch


class EnvelopePacker:
    """Collects a batch's reports per key in order; `send_to` queues them as arrays on a BulkWriter."""

    def __init__(self, topic: str, max_bytes: int = MAX_BYTES) -> None:
        self.topic, self.max_bytes = topic, max_bytes
        self._items: dict[bytes, list[bytes]] = defaultdict(list)

    def add(self, key: bytes, value: bytes) -> None:
        self._items[key].append(value)

    def send_to(self, out: BulkWriter) -> int:
        """Queue every key's reports as arrays (in the order added); the number of records queued."""
        records = 0
        for key, values in self._items.items():
            chunk: list[bytes] = []
            size = 2
            for value in values:
                if chunk and size + len(value) + 1 > self.max_bytes:
                    out.send(self.topic, key, b"[" + b",".join(chunk) + b"]")
                    records += 1
                    chunk, size = [], 2
                chunk.append(value)
                size += len(value) + 1
            if chunk:
                out.send(self.topic, key, b"[" + b",".join(chunk) + b"]")
                records += 1
        self._items.clear()
        return records
