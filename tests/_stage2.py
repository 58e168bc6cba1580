"""Dict-backed stand-ins for what the enrich worker's stage 2 touches (its tables, its writer, faust events), so
its batch functions run in-process (tests/test_enrich_arrays.py, tests/test_enrich_mention_batches.py,
tests/test_enrich_report_batches.py)."""

from __future__ import annotations

import pytest

import services.enrich.app as worker


class Table:
    """What StateCache reads of a faust table."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}

    def get(self, key: str) -> object | None:
        return self.data.get(key)


class Writer:
    """What the batch hands to its BulkWriter: records to send and table values to write."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.tables: dict[tuple[int, str], object] = {}  # by (table, key): the tables share keys (regency codes)

    def send(self, topic: str, key: bytes, value: bytes | None) -> None:
        self.sent.append((topic, key, value))

    def table_set(self, table: Table, key: str, value: object, event: object) -> None:  # noqa: ARG002
        table.data[key] = value
        self.tables[(id(table), key)] = value

    async def flush(self) -> None:
        return None


class Message:
    def __init__(self, value: bytes, topic: str, offset: int) -> None:
        self.topic, self.key, self.value, self.partition, self.offset = topic, b"72.71", value, 3, offset


class Event:
    """Weak-referenceable, as faust's current-event context needs."""

    def __init__(self, value: bytes, topic: str = "reports.enriched", offset: int = 41) -> None:
        self.message = Message(value, topic, offset)


def use_fakes(monkeypatch: pytest.MonkeyPatch) -> Writer:
    """The worker's caches over empty tables, and a writer that records; returns the writer."""
    out = Writer()
    caches = (worker.StateCache(Table(), worker.GroupState.model_validate_json, lambda g: g.model_dump_json()),
              worker.StateCache(Table(), list, list),
              worker.StateCache(Table(), worker.RegencyMentions.model_validate_json, lambda r: r.model_dump_json()))
    monkeypatch.setattr(worker, "group_cache", caches[0])
    monkeypatch.setattr(worker, "regency_group_cache", caches[1])
    monkeypatch.setattr(worker, "regency_mention_cache", caches[2])
    monkeypatch.setattr(worker, "CACHES", caches)
    monkeypatch.setattr(worker, "consolidation_out", out)
    return out
