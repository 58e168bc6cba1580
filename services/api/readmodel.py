"""The API's read model: every live site, rebuilt by replaying the compacted `sites` topic.

Any replica can be thrown away and rebuilt from Kafka; nothing here is the source of truth.

Per site it keeps the parsed Site and, extracted once on apply, the flat `SiteRow` aggregation needs plus the
site's point, so that requests never walk pydantic models. Once caught up, the rows also live as numpy
columns (services.core.area_index), updated per change, from which area totals are computed in milliseconds.
Personal-data-free views are cached per site and dropped when the site changes. A bounded log of recent
changes (version -> site id) lets a live-stream client resume after a reconnect (`Last-Event-ID`).
"""

from __future__ import annotations

import bisect
import gc
import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from pydantic import ValidationError

from schemas import Site
from services.api.privacy import strip_personal_data
from services.common.metrics import API_SITES, READMODEL_LAG
from services.core.aggregate import SiteRow, aggregate_dicts, select, site_row
from services.core.area_index import AreaIndex

log = logging.getLogger("siaga.api.readmodel")

# Listener(site_id, new site or None when removed, previous site or None when new). Called on the thread that
# applies records (the Kafka follower): listeners must be quick and thread-safe.
Listener = Callable[[str, Site | None, Site | None], None]


class Point(NamedTuple):
    lat: float | None
    lon: float | None


class ReadModel:
    CHANGE_LOG = 50_000

    def __init__(self) -> None:
        self.sites: dict[str, Site] = {}
        self.rows: dict[str, SiteRow] = {}
        self.points: dict[str, Point] = {}
        self.version = 0  # bumps on every change: cache key for aggregated answers
        self.ready = False
        self.newest: datetime | None = None
        self.invalid = 0
        self.changes: deque[tuple[int, str]] = deque(maxlen=self.CHANGE_LOG)
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._public: dict[str, Site] = {}
        self._sorted: tuple[int, list[str]] = (-1, [])
        self.index: AreaIndex | None = None  # running area totals, built once caught up

    # ------------------------------------------------------------------ writes (follower thread)
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
        self.put(site_id, site)

    def put(self, site_id: str, site: Site | None) -> None:
        row = site_row(site) if site is not None else None
        with self._lock:
            prev = self.sites.get(site_id)
            if self.index is not None:
                self.index.replace(self.rows.get(site_id), row)
            if site is None:
                self.sites.pop(site_id, None)
                self.rows.pop(site_id, None)
                self.points.pop(site_id, None)
            else:
                self.sites[site_id] = site
                self.rows[site_id] = row
                self.points[site_id] = Point(site.lat, site.lon)
                stamp = site.updated_at or site.last_seen
                if self.newest is None or stamp > self.newest:
                    self.newest = stamp
            self._public.pop(site_id, None)
            self.version += 1
            self.changes.append((self.version, site_id))
        API_SITES.set(len(self.sites))
        if self.newest is not None:
            READMODEL_LAG.set(max(0.0, (datetime.now(UTC) - self.newest).total_seconds()))
        if prev is None and site is None:
            return
        for listener in list(self._listeners):
            try:
                listener(site_id, site, prev)
            except Exception:  # a broken listener must never stop the read model
                log.exception("read model listener failed")

    def __len__(self) -> int:
        return len(self.sites)

    def mark_ready(self) -> None:
        """Caught up with the topic: build the running area totals, then freeze what was loaded out of the GC's
        way (100,000 sites are millions of objects that a full collection would otherwise walk, stalling
        requests). Called on the applying thread, so no change can slip between the two."""
        self.build_index()
        gc.freeze()
        self.ready = True

    def build_index(self) -> AreaIndex:
        with self._lock:
            if self.index is None:
                # Millions of live objects and a burst of allocations: the cyclic GC would rescan them all
                # repeatedly (10 s instead of under 1 s at 100,000 sites).
                paused = gc.isenabled()
                gc.disable()
                try:
                    self.index = AreaIndex(self.rows.values())
                finally:
                    if paused:
                        gc.enable()
            return self.index

    def area_totals(self, level: int, hazard: str | None = None, since: datetime | None = None,
                    until: datetime | None = None, status: str = "all",
                    area_prefix: str | None = None) -> list[dict]:
        """`aggregate_dicts(select(...))` over the live sites: from the column index once caught up (vectorised,
        milliseconds at 100,000 sites), by a scan of the pre-extracted rows while still replaying."""
        if self.ready:
            index = self.index or self.build_index()
            with self._lock:
                return index.areas(level, hazard, status, area_prefix, since, until)
        _, rows = self.row_snapshot()
        return aggregate_dicts(select(rows, hazard, since, until, status, area_prefix), level)

    # ------------------------------------------------------------------ reads (request handlers)
    def snapshot(self) -> list[Site]:
        with self._lock:
            return list(self.sites.values())

    def row_snapshot(self) -> tuple[int, list[SiteRow]]:
        with self._lock:
            return self.version, list(self.rows.values())

    def get(self, site_id: str) -> Site | None:
        return self.sites.get(site_id)

    def public(self, site_id: str) -> Site | None:
        """The site without personal data, cached until it changes."""
        site = self.sites.get(site_id)
        if site is None:
            return None
        cached = self._public.get(site_id)
        if cached is None:
            cached = strip_personal_data(site)
            with self._lock:
                if self.sites.get(site_id) is site:
                    self._public[site_id] = cached
        return cached

    def sorted_ids(self) -> list[str]:
        """Every site id in ascending order (the stable order of lists and exports), cached per version."""
        version, ids = self._sorted
        if version == self.version:
            return ids
        with self._lock:
            version = self.version
            ids = sorted(self.sites)
        self._sorted = (version, ids)
        return ids

    def changes_since(self, version: int) -> list[str] | None:
        """Site ids changed after `version`, oldest first; None when the log no longer reaches back that far."""
        with self._lock:
            log_ = list(self.changes)
        if not log_:
            return [] if version >= self.version else None
        if version < log_[0][0] - 1:
            return None
        i = bisect.bisect_right([v for v, _ in log_], version)
        seen: dict[str, None] = {}
        for _, sid in log_[i:]:
            seen.pop(sid, None)
            seen[sid] = None
        return list(seen)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None
