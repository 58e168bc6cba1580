"""Site clustering and site building: pure functions over one group's latest report versions.

Kept apart from the state machine in `consolidate` so the rules (1 km / 72 h, figures of the most recent
report, review status) can be read and tested without thinking about arrival order: everything here is a
function of a *set* of reports and a *set* of reviews, which is what makes consolidation order-independent.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from schemas.common import FIGURE_NAMES, Figures, Hazard, Need
from schemas.geo import GeoTag
from schemas.review import ReviewEvent
from schemas.site import MentionRef, Site, SiteReport

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG); metres
_NEED_ORDER = {n: i for i, n in enumerate(Need)}


class ConsolidationRules(BaseModel):
    """Thresholds of issue 4. Frozen so one instance can be shared by every group safely."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site_radius_m: float = Field(default=1000.0, gt=0, description="Max distance from the site's anchor")
    site_window_h: float = Field(default=72.0, gt=0, description="Max gap after the site's latest report")
    figures_from: Literal["latest_report", "latest_per_figure"] = Field(
        default="latest_report",
        description="latest_report: figures of the most recent report, blanks included (issue 4). "
        "latest_per_figure: each figure from the most recent report that gives it.",
    )
    mention_window_h: float = Field(default=48.0, ge=0, description="A mention joins a site active within ± this")
    site_mentions_top: int = Field(default=20, ge=0, description="Mentions a site carries (best first)")
    group_mentions_cap: int = Field(default=500, ge=1, description="Mentions a group remembers at most")


DEFAULT_RULES = ConsolidationRules()


class Member(BaseModel):
    """One report's latest version as a group keeps it: the site-level view plus where it was geotagged."""

    model_config = ConfigDict(extra="forbid")

    report: SiteReport
    geo: GeoTag


@dataclass(frozen=True, slots=True)
class Entry:
    """A member reduced to what clustering sorts and measures; built once per recompute."""

    ts: float  # event time (observed_at else submitted_at), epoch seconds
    report_id: str
    lat: float | None
    lon: float | None
    member: Member


def event_ts(report: SiteReport) -> float:
    return (report.observed_at or report.submitted_at).timestamp()


def entry_of(member: Member) -> Entry:
    r = member.report
    return Entry(event_ts(r), r.report_id, r.lat, r.lon, member)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance; plenty for a 1 km rule and cheap in pure Python."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


class _Open:
    """A cluster while the greedy pass builds it."""

    __slots__ = ("entries", "anchor", "latest_ts", "order")

    def __init__(self, first: Entry, order: int) -> None:
        self.entries = [first]
        self.anchor = (first.lat, first.lon) if first.lat is not None and first.lon is not None else None
        self.latest_ts = first.ts
        self.order = order


def cluster(entries: Sequence[Entry], rules: ConsolidationRules = DEFAULT_RULES) -> list[list[Entry]]:
    """Greedy, deterministic clustering of one group's reports into sites.

    Entries are taken in (event time, report_id) order. A report joins an existing site when it is within
    `site_radius_m` of the site's anchor (its first report with a point) and within `site_window_h` of the
    site's latest report so far; otherwise it starts a new site. A report without a point (place-name-only)
    cannot be measured, so distance does not exclude it: its group already pins it to one village. Among
    several candidate sites the nearest anchor wins (unmeasurable distances rank last), then the oldest site.
    """
    ordered = sorted(entries, key=lambda e: (e.ts, e.report_id))
    window_s = rules.site_window_h * 3600.0
    radius = rules.site_radius_m
    sites: list[_Open] = []
    open_sites: list[_Open] = []  # sites whose window may still be open; sorted input lets us drop the rest
    for e in ordered:
        best: _Open | None = None
        best_d = math.inf
        still_open = []
        for s in open_sites:
            if e.ts - s.latest_ts > window_s:
                continue  # closed for good: later entries are later still
            still_open.append(s)
            if s.anchor is None or e.lat is None or e.lon is None:
                d = radius + 1.0  # unmeasurable: allowed, ranked after every measured candidate
            else:
                d = distance_m(s.anchor[0], s.anchor[1], e.lat, e.lon)
                if d > radius:
                    continue
            if d < best_d or (d == best_d and best is not None and s.order < best.order):
                best, best_d = s, d
        open_sites = still_open
        if best is None:
            s = _Open(e, len(sites))
            sites.append(s)
            open_sites.append(s)
        else:
            best.entries.append(e)
            best.latest_ts = max(best.latest_ts, e.ts)
            if best.anchor is None and e.lat is not None and e.lon is not None:
                best.anchor = (e.lat, e.lon)
    return [s.entries for s in sites]


def short_hash(*parts: str, n: int = 10) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p.encode())
        h.update(b"\x00")
    return h.hexdigest()[:n]


def figures_version(fig: Figures) -> str:
    """Hash of the figures a reviewer sees; a change of any figure (or a blank) changes it."""
    body = orjson.dumps([getattr(fig, n) for n in FIGURE_NAMES])
    return hashlib.blake2b(body, digest_size=8).hexdigest()


def fingerprint(entries: Sequence[Entry], reviews: Sequence[ReviewEvent],
                mentions: Sequence[MentionRef] = ()) -> str:
    """Everything a built Site depends on, hashed: equal fingerprints mean an identical Site."""
    h = hashlib.blake2b(digest_size=12)
    for m in mentions:
        h.update(m.mention_id.encode())
        h.update(b";")
    h.update(b"|")
    for e in entries:
        h.update(e.report_id.encode())
        h.update(b"=")
        h.update(e.member.report.content_hash.encode())
        h.update(b";")
    h.update(b"|")
    for r in reviews:
        h.update(r.review_id.encode())
        h.update(b"=")
        h.update((r.figures_version or "").encode())
        h.update(b";")
    return h.hexdigest()


def _site_figures(entries: Sequence[Entry], rules: ConsolidationRules) -> Figures:
    latest = entries[-1].member.report.figures
    if rules.figures_from == "latest_report":
        return latest
    values: dict[str, int] = {}
    for name in FIGURE_NAMES:
        for e in reversed(entries):
            v = getattr(e.member.report.figures, name)
            if v is not None:
                values[name] = v
                break
    return Figures(**values)


def review_status(reviews: Sequence[ReviewEvent], current_version: str) -> tuple[str, str | None]:
    """Status from the latest decision (by decided_at, review_id); verified goes stale when figures move."""
    if not reviews:
        return "unverified", None
    last = reviews[-1]
    if last.decision == "verified":
        if last.figures_version is not None and last.figures_version != current_version:
            return "needs_review", (
                f"figures changed after {last.reviewer} verified them at {last.decided_at.isoformat()} "
                f"(figures_version {last.figures_version} -> {current_version})"
            )
        return "verified", last.note
    return last.decision, last.note


def site_mentions(entries: Sequence[Entry], pool: Iterable[MentionRef],
                  rules: ConsolidationRules = DEFAULT_RULES) -> list[MentionRef]:
    """The group's mentions that fall in this cluster's time window (± mention_window_h), best first:
    most relevant, then most recent, then by id so every replica orders them alike."""
    margin = rules.mention_window_h * 3600.0
    lo = min(e.ts for e in entries) - margin
    hi = max(e.ts for e in entries) + margin
    inside = [m for m in pool if lo <= m.created_at.timestamp() <= hi]
    inside.sort(key=lambda m: (-m.relevance, -m.created_at.timestamp(), m.mention_id))
    return inside


def build_site(site_id: str, hazard: Hazard, entries: Sequence[Entry], reviews: Sequence[ReviewEvent],
               rules: ConsolidationRules = DEFAULT_RULES, mentions: Sequence[MentionRef] = ()) -> Site:
    """Build the Site of one cluster. `entries` in clustering order, `reviews` sorted by (decided_at, id),
    `mentions` this site's mentions best first (`site_mentions`): the top ones travel with the site."""
    first = entries[0].member
    anchor = next(((e.lat, e.lon) for e in entries if e.lat is not None and e.lon is not None), (None, None))
    figs = _site_figures(entries, rules)
    version = figures_version(figs)
    lo: dict[str, int] = {}
    hi: dict[str, int] = {}
    needs: set[Need] = set()
    reporters: set[str] = set()
    first_ts = min(e.ts for e in entries)
    last_ts = max(e.ts for e in entries)
    first_dt: datetime | None = None
    last_dt: datetime | None = None
    updated: datetime | None = None
    for e in entries:
        r = e.member.report
        f = r.figures
        for name in FIGURE_NAMES:
            v = getattr(f, name)
            if v is not None:
                if name not in lo or v < lo[name]:
                    lo[name] = v
                if name not in hi or v > hi[name]:
                    hi[name] = v
        needs.update(r.needs)
        reporters.add(r.reporter.id)
        t = r.observed_at or r.submitted_at
        if e.ts == first_ts and first_dt is None:
            first_dt = t
        if e.ts == last_ts:
            last_dt = t
        if updated is None or r.submitted_at > updated:
            updated = r.submitted_at
    for rev in reviews:
        if updated is None or rev.decided_at > updated:
            updated = rev.decided_at
    status, reason = review_status(reviews, version)
    # Nested models are passed as instances, which pydantic does not re-validate; validating the rest in
    # pydantic-core is faster than model_construct's Python loop.
    return Site(
        schema_version=1,
        site_id=site_id,
        hazard=hazard,
        geo=first.geo,
        lat=anchor[0],
        lon=anchor[1],
        figures=figs,
        # One report: its figures are the range (no new model). Otherwise plain dicts, validated inside the
        # one Site validation call.
        figures_min=entries[0].member.report.figures if len(entries) == 1 else lo,
        figures_max=entries[0].member.report.figures if len(entries) == 1 else hi,
        figures_version=version,
        needs=sorted(needs, key=_NEED_ORDER.__getitem__),
        reports=len(entries),
        reporters=len(reporters),
        first_seen=first_dt,
        last_seen=last_dt,
        updated_at=updated,
        status=status,
        status_reason=reason,
        reviews=[
            {"review_id": r.review_id, "decision": r.decision, "note": r.note, "reviewer": r.reviewer,
             "decided_at": r.decided_at}
            for r in reviews
        ],
        timeline=[e.member.report for e in entries],
        mentions=list(mentions[: rules.site_mentions_top]),
        mention_count=len(mentions),
    )
