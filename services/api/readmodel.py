"""The API's read model: every live site, rebuilt by replaying the compacted `sites` topic.

Any replica can be thrown away and rebuilt from Kafka; nothing here is the source of truth.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas import Site
from services.common.metrics import API_SITES, READMODEL_LAG

log = logging.getLogger("siaga.api.readmodel")


class ReadModel:
    def __init__(self) -> None:
        self.sites: dict[str, Site] = {}
        self.version = 0  # bumps on every change: cache key for aggregated answers
        self.ready = False
        self.newest: datetime | None = None
        self.invalid = 0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str, Site | None], None]] = []

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record of the `sites` topic: a site's full state, or a tombstone (None)."""
        if key is None:
            return
        site_id = key.decode()
        site: Site | None = None
        if value is not None:
            try:
                site = Site.model_validate_json(value)
            except ValidationError as err:
                self.invalid += 1
                log.warning("invalid site record skipped", extra={"site_id": site_id, "error": str(err)[:500]})
                return
        with self._lock:
            if site is None:
                self.sites.pop(site_id, None)
            else:
                self.sites[site_id] = site
                stamp = site.updated_at or site.last_seen
                if self.newest is None or stamp > self.newest:
                    self.newest = stamp
            self.version += 1
        API_SITES.set(len(self.sites))
        if self.newest is not None:
            READMODEL_LAG.set(max(0.0, (datetime.now(UTC) - self.newest).total_seconds()))
        for listener in list(self._listeners):
            listener(site_id, site)

    def snapshot(self) -> list[Site]:
        with self._lock:
            return list(self.sites.values())

    def subscribe(self, listener: Callable[[str, Site | None], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
