"""Report versions: tell a resubmit from an edit from a stale late arrival, by report_id.

Phones retry from their offline outbox (same id, same content: a resubmit) and coordinators correct typos
(same id, new content: an edit). The later `submitted_at` wins whatever order Kafka delivers them in; ties
are broken by content hash so every replica decides the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Verdict = Literal["new", "edit", "duplicate", "stale"]


@dataclass(frozen=True)
class VersionRecord:
    """What the enrich stage remembers per report_id (stored as a plain dict in a changelogged table)."""

    content_hash: str
    submitted_at: str  # ISO 8601 with offset
    partition_key: str
    prev_partition_key: str | None = None

    def to_dict(self) -> dict:
        return {"h": self.content_hash, "t": self.submitted_at, "p": self.partition_key, "pp": self.prev_partition_key}

    @classmethod
    def from_dict(cls, d: dict) -> VersionRecord:
        return cls(d["h"], d["t"], d["p"], d.get("pp"))


def _order(submitted_at: datetime | str, content_hash: str) -> tuple[datetime, str]:
    t = datetime.fromisoformat(submitted_at) if isinstance(submitted_at, str) else submitted_at
    return t, content_hash


def decide(prev: VersionRecord | None, submitted_at: datetime, content_hash: str) -> Verdict:
    """Judge an incoming version of a report against the newest version seen so far."""
    if prev is None:
        return "new"
    if prev.content_hash == content_hash:
        return "duplicate"
    if _order(submitted_at, content_hash) > _order(prev.submitted_at, prev.content_hash):
        return "edit"
    return "stale"


def retraction_target(prev: VersionRecord | None, verdict: str, key: str) -> str | None:
    """The regency an earlier version of this report lives in, when it is not `key` (so it must be retracted).

    A duplicate repeats its version's retraction too: the first attempt may have died with a crashed worker.
    """
    if prev is None:
        return None
    old = prev.prev_partition_key if verdict == "duplicate" else prev.partition_key
    return old if old and old != key else None
