"""Report versions: tell a resubmit from an edit from a stale late arrival, by report_id, and know where the
previous version was counted so an edit that moves it can take it out there.

Phones retry from their offline outbox (same id, same content: a resubmit) and coordinators correct typos
(same id, new content: an edit). The later `submitted_at` wins whatever order Kafka delivers them in; ties
are broken by content hash so every replica decides the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from schemas.common import Hazard
from schemas.geo import GeoTag
from services.core.consolidate import group_key

Verdict = Literal["new", "edit", "duplicate", "stale"]


@dataclass(frozen=True)
class Placement:
    """Where one version of a report was counted: its area and hazard, which make its consolidation group."""

    geo: GeoTag
    hazard: Hazard

    @property
    def group(self) -> str:
        return group_key(self.geo, self.hazard)

    def to_dict(self) -> dict:
        return {"geo": self.geo.model_dump(mode="json", exclude_defaults=True), "hz": self.hazard.value}

    @classmethod
    def from_dict(cls, d: dict) -> Placement:
        return cls(GeoTag.model_validate(d["geo"]), Hazard(d["hz"]))


@dataclass(frozen=True)
class VersionRecord:
    """What the enrich stage remembers per report_id (a plain dict in a changelogged table).

    `moved_from` is where the version before this one was counted, when that was another group: kept so a
    redelivered copy of this version repeats the retraction (the first attempt may have died with a worker).
    """

    content_hash: str
    submitted_at: str  # ISO 8601 with offset
    placement: Placement
    moved_from: Placement | None = None

    def to_dict(self) -> dict:
        return {"h": self.content_hash, "t": self.submitted_at, "at": self.placement.to_dict(),
                "from": self.moved_from.to_dict() if self.moved_from else None}

    @classmethod
    def from_dict(cls, d: dict) -> VersionRecord:
        moved = d.get("from")
        return cls(d["h"], d["t"], Placement.from_dict(d["at"]), Placement.from_dict(moved) if moved else None)


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


def retraction_target(prev: VersionRecord | None, verdict: Verdict, now: Placement) -> Placement | None:
    """Where an earlier version of this report was counted, when that is another group than `now`'s.

    Another group means another village, district or regency, or another hazard: the earlier version must be
    retracted there, or the report is counted twice. A duplicate repeats its version's retraction.
    """
    if prev is None or verdict == "stale":
        return None
    old = prev.moved_from if verdict == "duplicate" else prev.placement
    return old if old is not None and old.group != now.group else None
