"""Coordinators' decisions turned into ReviewEvents for the `reviews` topic. No HTTP here.

Idempotency: the client names a decision with `review_id` in the body, or an `Idempotency-Key` header from
which the review_id is derived deterministically (UUIDv5 of reviewer, site and key): a retry after a lost
answer carries the same review_id on every API replica, and consolidation applies a review_id once. Within
one replica, a retry also gets the original `decided_at` back (byte-identical event), and reusing a key for a
*different* decision is refused (409) instead of silently dropped downstream.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from schemas.api import ReviewRequest
from schemas.review import ReviewEvent
from schemas.site import Site
from services.common.kafka_io import Message
from services.common.topics import REVIEWS
from services.core.consolidate import site_partition_key

NAMESPACE = uuid.UUID("1f6b8a36-4a2e-5bb4-9d5e-2f1a6c0e7b11")


def review_id_for(reviewer: str, site_id: str, idempotency_key: str | None, index: int | None = None) -> str:
    if idempotency_key is None:
        return str(uuid.uuid4())
    name = "\x00".join([reviewer, site_id, idempotency_key] + ([str(index)] if index is not None else []))
    return str(uuid.uuid5(NAMESPACE, name))


class ReviewConflict(Exception):
    """409: the decision cannot be taken as sent (stale figures, or a reused idempotency key)."""


class IdempotencyMemory:
    """review_id -> (what was asked, the event built) for recent decisions of this replica."""

    def __init__(self, size: int = 20_000) -> None:
        self._seen: OrderedDict[str, tuple[tuple, ReviewEvent]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def event(self, review_id: str, fingerprint: tuple, make: Callable[[], ReviewEvent]) -> ReviewEvent:
        """The event of an earlier identical request (a retry), else a new one; a reused key for another
        decision is a ReviewConflict."""
        with self._lock:
            got = self._seen.get(review_id)
            if got is not None:
                if got[0] != fingerprint:
                    raise ReviewConflict(f"review_id / Idempotency-Key {review_id!r} was already used for a "
                                         "different decision; use a new key for a new decision")
                return got[1]
            event = make()
            self._seen[review_id] = (fingerprint, event)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return event

    def forget(self, review_id: str) -> None:
        """The write failed: let a retry start afresh."""
        with self._lock:
            self._seen.pop(review_id, None)


def build_event(site: Site, req: ReviewRequest, reviewer: str, review_id: str, memory: IdempotencyMemory,
                now: datetime | None = None) -> ReviewEvent:
    """The event for a decision about `site` as the read model holds it now.

    A verification must be of the figures the reviewer saw: when `figures_version` is sent and differs from the
    site's current one, it is refused (ReviewConflict) so the coordinator looks again. Other decisions are
    recorded with the version sent. Without `figures_version`, the current one is recorded (the read model's).
    A retry of an identical request gets the very same event back (same decided_at).
    """
    fingerprint = (site.site_id, req.decision, req.note, req.figures_version, reviewer)

    def make() -> ReviewEvent:
        if req.decision == "verified" and req.figures_version and req.figures_version != site.figures_version:
            raise ReviewConflict(f"the figures changed since you looked (figures_version {req.figures_version} "
                                 f"-> {site.figures_version}): reload the site and review it again")
        return ReviewEvent(review_id=review_id, site_id=site.site_id, decision=req.decision, note=req.note,
                           reviewer=reviewer, decided_at=now or datetime.now(UTC),
                           figures_version=req.figures_version or site.figures_version)

    return memory.event(review_id, fingerprint, make)


def review_message(event: ReviewEvent) -> Message:
    """The record on `reviews`: keyed by the site's regency, co-partitioned with its reports."""
    return Message(topic=REVIEWS.name, key=site_partition_key(event.site_id).encode(),
                   value=orjson.dumps(event.model_dump(mode="json")),
                   headers=(("source", b"api"), ("reviewer", event.reviewer.encode())))
