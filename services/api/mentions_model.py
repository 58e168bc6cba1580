"""The API's second read model: relevant, located social mentions from `mentions.enriched`, for distinct
mention counts per area and for signals. Rebuilt by replay like the sites; bounded in size."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from pydantic import ValidationError

from schemas.mention import MentionEnriched
from services.core.signals import MentionFact, mention_fact

log = logging.getLogger("siaga.api.mentions")


class MentionsModel:
    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self.facts: OrderedDict[str, MentionFact] = OrderedDict()
        self.version = 0
        self.ready = False
        self.newest: float | None = None
        self.invalid = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.facts)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            fact = mention_fact(MentionEnriched.model_validate_json(value))
        except ValidationError:
            self.invalid += 1
            return
        if fact is None:
            return
        with self._lock:
            if fact.mention_id in self.facts:
                return
            self.facts[fact.mention_id] = fact
            while len(self.facts) > self.limit:  # oldest arrivals go first
                self.facts.popitem(last=False)
            self.newest = fact.ts if self.newest is None else max(self.newest, fact.ts)
            self.version += 1

    def mark_ready(self) -> None:
        self.ready = True

    def snapshot(self) -> list[MentionFact]:
        with self._lock:
            return list(self.facts.values())
