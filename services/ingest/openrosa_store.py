"""Ingest's memory of OpenRosa instances: instanceID -> hash of its XML, report_id, state. A small sqlite file.

It answers three questions the OpenRosa protocol asks of a server and Kafka cannot answer cheaply at the edge:
is this POST a resubmit (same instanceID, same XML: 202, nothing produced), a conflicting reuse of an
instanceID (different XML: 409), or the next part of a split submission? And for an edit (`deprecatedID`):
which report_id and submitted_at did the replaced instance get?

One row per instance, a few hundred bytes: a large disaster's hundred thousand submissions make tens of MB.
Rows are written only after Kafka acknowledged (state `produced`), or for a part of a split submission
(state `partial`); a crash in between costs at most one extra copy on `reports.raw`, which enrich's version
judgement sees as a duplicate (same report_id, same content).

This file is local to one ingest process. With several ingest replicas it must become a shared store (a
small PostgreSQL table with the same schema, or a compacted Kafka topic read into each replica), or the
load balancer must route `/openrosa/` by user name (sticky), so that all POSTs of one instance meet here.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PARTIAL, PRODUCED = "partial", "produced"


@dataclass(frozen=True)
class InstanceRecord:
    instance_id: str
    xml_sha256: str
    report_id: str
    submitted_at: datetime | None
    state: str


class InstanceStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS instances (instance_id TEXT PRIMARY KEY, xml_sha256 TEXT NOT NULL,"
            " report_id TEXT NOT NULL, submitted_at TEXT, state TEXT NOT NULL, updated_at TEXT NOT NULL)"
        )

    def get(self, instance_id: str) -> InstanceRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT instance_id, xml_sha256, report_id, submitted_at, state FROM instances WHERE instance_id = ?",
                (instance_id,),
            ).fetchone()
        if row is None:
            return None
        at = datetime.fromisoformat(row[3]) if row[3] else None
        return InstanceRecord(row[0], row[1], row[2], at, row[4])

    def put(self, record: InstanceRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO instances (instance_id, xml_sha256, report_id, submitted_at, state, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(instance_id) DO UPDATE SET xml_sha256 = excluded.xml_sha256,"
                " report_id = excluded.report_id, submitted_at = excluded.submitted_at, state = excluded.state,"
                " updated_at = excluded.updated_at",
                (record.instance_id, record.xml_sha256, record.report_id,
                 record.submitted_at.isoformat() if record.submitted_at else None, record.state,
                 datetime.now(UTC).isoformat()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
