"""Which sites a list or export request is about, in a stable order, and opaque page cursors.

Pure functions over the read model's pre-extracted rows (services.core.aggregate.SiteRow) and points.
Filters mean exactly what they mean for /v1/situation (same `select`), plus a bounding box over the site's
anchor point (sites without a point are outside every box) and `updated_since` for incremental syncs.
Order is ascending site id: ids never change, so keyset pages stay stable while sites are updated.
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.core.aggregate import SiteRow, select

BBox = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


def parse_bbox(text: str | None) -> BBox | None:
    """`min_lon,min_lat,max_lon,max_lat` (WGS84), as GeoJSON and OGC APIs write it."""
    if text is None or not text.strip():
        return None
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError("bbox needs four numbers: min_lon,min_lat,max_lon,max_lat")
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError as err:
        raise ValueError("bbox values must be numbers: min_lon,min_lat,max_lon,max_lat") from err
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        raise ValueError("bbox out of range or min_lat > max_lat")
    if w > e:
        raise ValueError("bbox min_lon > max_lon (boxes across the antimeridian are not supported)")
    return (w, s, e, n)


@dataclass(frozen=True)
class SiteFilter:
    hazard: str | None = None
    status: str = "all"
    since: datetime | None = None
    until: datetime | None = None
    area_prefix: str | None = None
    bbox: BBox | None = None
    updated_since: datetime | None = None

    def key(self) -> tuple:
        return (self.hazard, self.status, self.since and self.since.timestamp(),
                self.until and self.until.timestamp(), self.area_prefix, self.bbox,
                self.updated_since and self.updated_since.timestamp())


def matching_ids(rows: Iterable[SiteRow], points: Mapping[str, tuple[float | None, float | None]],
                 f: SiteFilter) -> list[str]:
    """Ids of the sites passing every filter, in ascending order."""
    chosen = select(rows, f.hazard, f.since, f.until, f.status, f.area_prefix)
    if f.bbox is not None:
        w, s, e, n = f.bbox
        kept = []
        for r in chosen:
            lat, lon = points.get(r.site_id, (None, None))
            if lat is not None and lon is not None and s <= lat <= n and w <= lon <= e:
                kept.append(r)
        chosen = kept
    if f.updated_since is not None:
        chosen = [r for r in chosen if r.last_update >= f.updated_since]
    return sorted(r.site_id for r in chosen)


def encode_cursor(site_id: str) -> str:
    return base64.urlsafe_b64encode(site_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as err:
        raise ValueError("invalid cursor: pass next_cursor from the previous page unchanged") from err
    if not raw:
        raise ValueError("invalid cursor: pass next_cursor from the previous page unchanged")
    return raw


def page(ids: Sequence[str], cursor: str | None, limit: int) -> tuple[list[str], str | None]:
    """The ids after the cursor (exclusive), at most `limit`, and the cursor of the next page if any."""
    start = bisect.bisect_right(ids, decode_cursor(cursor)) if cursor else 0
    chunk = list(ids[start:start + limit])
    more = start + limit < len(ids)
    return chunk, (encode_cursor(chunk[-1]) if more and chunk else None)
