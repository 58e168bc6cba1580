"""Dedup and consolidation of enriched reports into sites: the state machine the faust worker, the API and
the offline CLI all share. Plain Python over pydantic models; no Kafka, no HTTP.

Order independence comes from keeping, per group (hazard + most specific admin code), only the *latest
version* of every report (a last-writer-wins register per report_id, retractions included) and recomputing
the group's clustering from that set whenever it changes. The same set gives the same sites whatever order
the messages came in, and applying a message twice changes nothing.

Ids carry their own routing: a group key is `hazard~partition~code` and a site id is `group_key~hash`, so a
review (which only names a site) finds its group and its regency partition without a lookup table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from schemas.common import Hazard, normalise_hazard
from schemas.enriched import EnrichedReport
from schemas.geo import GeoTag
from schemas.review import ReviewEvent
from schemas.site import MentionRef, Site, SiteReport
from services.core.clustering import (
    DEFAULT_RULES,
    ConsolidationRules,
    Entry,
    Member,
    build_site,
    cluster,
    entry_of,
    fingerprint,
    short_hash,
    site_mentions,
)

__all__ = [
    "ConsolidationRules",
    "Consolidator",
    "GroupState",
    "Outcome",
    "apply_mention",
    "apply_mentions",
    "apply_report",
    "apply_reports",
    "apply_review",
    "group_key",
    "group_regency",
    "rebuild_sites",
    "retraction",
    "site_id_to_group_key",
    "site_partition_key",
]

SEP = "~"  # unreserved in URLs and absent from admin codes and hazard names
UNLOCATED = "unlocated"

Status = Literal["new", "edit", "duplicate", "stale", "retracted"]


def group_key(geo: GeoTag, hazard: Hazard | str) -> str:
    """`hazard~regency~code`: the most specific admin code known (village, else district, regency, province).

    The regency part equals `geo.partition_key`, so a group never spans two partitions of `reports.enriched`.
    """
    code = geo.most_specific or UNLOCATED
    h = hazard.value if isinstance(hazard, Hazard) else Hazard(normalise_hazard(hazard)).value
    return f"{h}{SEP}{geo.partition_key}{SEP}{code}"


def site_id_to_group_key(site_id: str) -> str:
    gk, sep, _ = site_id.rpartition(SEP)
    if not sep or gk.count(SEP) != 2:
        raise ValueError(f"not a site id: {site_id!r}")
    return gk


def site_partition_key(site_id: str) -> str:
    """The regency code a site's reports and reviews are keyed by."""
    return group_regency(site_id_to_group_key(site_id))


def group_regency(gk: str) -> str:
    """The regency code of a group key (`hazard~regency~code`)."""
    return gk.split(SEP)[1]


def site_id_for(gk: str, first_report_id: str) -> str:
    return f"{gk}{SEP}{short_hash(gk, first_report_id)}"


class Tombstone(BaseModel):
    """A retracted report: remembered so an older version arriving late does not bring it back."""

    model_config = ConfigDict(extra="forbid")

    submitted_at: datetime
    content_hash: str


class GroupState(BaseModel):
    """Everything one group needs, JSON-serialisable for a faust table (`model_dump(mode="json")`)."""

    model_config = ConfigDict(extra="forbid")

    group_key: str
    hazard: Hazard
    members: dict[str, Member] = Field(default_factory=dict, description="report_id -> latest version")
    retracted: dict[str, Tombstone] = Field(default_factory=dict,
                                            description="report_id -> the version that retracted it")
    reviews: dict[str, ReviewEvent] = Field(default_factory=dict, description="review_id -> review")
    emitted: dict[str, str] = Field(default_factory=dict, description="site_id -> fingerprint last emitted")
    mentions: dict[str, MentionRef] = Field(default_factory=dict,
                                           description="mention_id -> relevant mention naming this group's area")
    # report_id -> clustering entry of the member held; a cache, rebuilt lazily after a reload from JSON.
    _entries: dict[str, Entry] = PrivateAttr(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    """What one message did: the shell upserts `changed` and tombstones `removed` on the `sites` topic."""

    state: GroupState
    status: Status
    changed: list[Site] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _version(submitted_at: datetime, content_hash: str, retract: bool) -> tuple[float, str, bool]:
    # A retraction of the very same version wins over its upsert, so (upsert, retract) in either order agree.
    return (submitted_at.timestamp(), content_hash, retract)


def _held(state: GroupState, report_id: str) -> tuple[float, str, bool] | None:
    m = state.members.get(report_id)
    if m is not None:
        return _version(m.report.submitted_at, m.report.content_hash, False)
    t = state.retracted.get(report_id)
    if t is not None:
        return _version(t.submitted_at, t.content_hash, True)
    return None


def _member(er: EnrichedReport, state: GroupState) -> Member:
    r = er.report
    geo = er.geo
    # Members of one group nearly always share one GeoTag: share the object too (memory, GC scans).
    other = next(iter(state.members.values()), None)
    if other is not None and other.geo == geo:
        geo = other.geo
    loc = r.location
    reporter = r.reporter if r.reporter.name is None and r.reporter.phone is None else r.reporter.public()
    return Member(
        report=SiteReport(
            report_id=r.report_id,
            content_hash=er.content_hash,
            submitted_at=r.submitted_at,
            observed_at=r.observed_at,
            reporter=reporter,  # sites are widely shared: never a reporter's name or phone number
            lat=loc.lat if loc else None,
            lon=loc.lon if loc else None,
            figures=r.figures,
            needs=list(r.needs),
            notes=r.notes,
            geotag_method=er.geo.geotag_method,
        ),
        geo=geo,
    )


def _reviews_by_site(state: GroupState) -> dict[str, list[ReviewEvent]]:
    by_site: dict[str, list[ReviewEvent]] = {}
    if not state.reviews:
        return by_site
    for rev in state.reviews.values():
        by_site.setdefault(rev.site_id, []).append(rev)
    for revs in by_site.values():
        revs.sort(key=lambda r: (r.decided_at.timestamp(), r.review_id))
    return by_site


def _entries(state: GroupState) -> list[Entry]:
    cache = state._entries
    out = []
    for rid, m in state.members.items():
        e = cache.get(rid)
        if e is None or e.member is not m:
            e = cache[rid] = entry_of(m)
        out.append(e)
    if len(cache) > len(out):
        for rid in [r for r in cache if r not in state.members]:
            del cache[rid]
    return out


def _clusters(state: GroupState, rules: ConsolidationRules) -> list[tuple[str, list[Entry]]]:
    entries = _entries(state)
    return [(site_id_for(state.group_key, c[0].report_id), c) for c in cluster(entries, rules)]


def _recompute(state: GroupState, status: Status, rules: ConsolidationRules) -> Outcome:
    """Recluster the group; build only the sites whose inputs changed; tombstone the ids that vanished."""
    reviews = _reviews_by_site(state)
    changed: list[Site] = []
    emitted: dict[str, str] = {}
    for sid, entries in _clusters(state, rules):
        revs = reviews.get(sid, [])
        mentions = site_mentions(entries, state.mentions.values(), rules) if state.mentions else []
        fp = fingerprint(entries, revs, mentions)
        emitted[sid] = fp
        if state.emitted.get(sid) != fp:
            changed.append(build_site(sid, state.hazard, entries, revs, rules, mentions))
    removed = sorted(sid for sid in state.emitted if sid not in emitted)
    state.emitted = emitted
    return Outcome(state=state, status=status, changed=changed, removed=removed)


def apply_report(state: GroupState | None, er: EnrichedReport,
                 rules: ConsolidationRules | None = None) -> Outcome:
    """Apply one enriched report (upsert or retract) to its group. Mutates and returns the state.

    Per report_id the newest version by (submitted_at, content_hash) wins; an equal version is a duplicate
    (a resubmit), an older one is stale. Both leave the state untouched and emit nothing. A retraction is a
    version too: it removes the report, and versions older than it stay out.
    """
    state, status, before = _take_in(state, er)
    return _rebuilt(state, status, er.report.report_id, before, rules or DEFAULT_RULES)


def apply_reports(state: GroupState | None, ers: Sequence[EnrichedReport], rules: ConsolidationRules | None = None,
                  ) -> tuple[GroupState | None, list[Outcome], list[tuple[int, Exception]]]:
    """Several reports of one group with a single rebuild: a village many volunteers assess costs one rebuild of
    its sites per batch, not one per report (each rebuild reclusters all of the group's reports, so a backlog on
    a busy village was quadratic in its size).

    The same final state as `apply_report` report by report. If anything fails, the reports are undone and
    applied one by one, so that only those that break the group (or belong to another) are refused. (The
    refusals themselves can differ: a breaking version that a newer one of the same report supersedes within
    the run is never tried on its own, so it is not refused.) Returns the group (founded by its first report
    when `state` is None; None only if nothing founded it), the outcomes, and the refused reports as
    (index in ers, error).
    """
    rules = rules or DEFAULT_RULES
    undo: list[tuple[str, Member | None, Tombstone | None]] = []
    status: Status = "duplicate"
    try:
        for er in ers:
            state, taken, before = _take_in(state, er)
            if before is not None:
                status = taken
                undo.append((er.report.report_id, *before))
        if state is None or not undo:
            return state, [], []
        return state, [_recompute(state, status, rules)], []
    except Exception:
        for rid, member, tombstone in reversed(undo):
            _restore(state, rid, member, tombstone)
    outcomes: list[Outcome] = []
    refused: list[tuple[int, Exception]] = []
    for i, er in enumerate(ers):
        try:
            outcome = apply_report(state, er, rules)
        except Exception as err:  # noqa: BLE001 - this report is refused; apply_report undid it
            refused.append((i, err))
            continue
        state = outcome.state  # the same group, or the one this report founded
        if outcome.status not in ("duplicate", "stale"):
            outcomes.append(outcome)
    return state, outcomes, refused


def _take_in(state: GroupState | None, er: EnrichedReport,
             ) -> tuple[GroupState, Status, tuple[Member | None, Tombstone | None] | None]:
    """Hold a report's version in its group (founded when `state` is None) without rebuilding the sites; as
    `_set_version`. Raises ValueError for a report of another group."""
    gk = group_key(er.geo, er.report.hazard)
    if state is None:
        state = GroupState(group_key=gk, hazard=er.report.hazard)
    elif state.group_key != gk:
        raise ValueError(f"report {er.report.report_id} belongs to group {gk}, not {state.group_key}")
    member = None if er.action == "retract" else _member(er, state)
    return (state, *_set_version(state, er.report.report_id, er.report.submitted_at, er.content_hash, member))


def _set_version(state: GroupState, rid: str, submitted_at: datetime, content_hash: str, member: Member | None,
                 ) -> tuple[Status, tuple[Member | None, Tombstone | None] | None]:
    """Hold this version of a report if it is the newest, without rebuilding the sites: its status and what the
    group held before (to undo it); None for that when the version is a duplicate or stale (nothing changed)."""
    incoming = _version(submitted_at, content_hash, member is None)
    held = _held(state, rid)
    if held is not None and incoming <= held:
        return ("duplicate" if incoming == held else "stale"), None
    before = (state.members.get(rid), state.retracted.get(rid))
    if member is None:
        state.members.pop(rid, None)
        state.retracted[rid] = Tombstone(submitted_at=submitted_at, content_hash=content_hash)
        status: Status = "retracted"
    else:
        state.retracted.pop(rid, None)
        state.members[rid] = member
        status = "new" if held is None else "edit"
    return status, before


def _apply_version(state: GroupState, rid: str, submitted_at: datetime, content_hash: str,
                   member: Member | None, rules: ConsolidationRules) -> Outcome:
    status, before = _set_version(state, rid, submitted_at, content_hash, member)
    return _rebuilt(state, status, rid, before, rules)


def _rebuilt(state: GroupState, status: Status, rid: str, before: tuple[Member | None, Tombstone | None] | None,
             rules: ConsolidationRules) -> Outcome:
    """The outcome of a version just held (`before` is what it replaced; None when nothing changed)."""
    if before is None:
        return Outcome(state=state, status=status)
    try:
        return _recompute(state, status, rules)
    except Exception:
        # All or nothing: a report whose sites cannot be built must not stay in the group unseen (the caller
        # dead-letters it; the group then still matches the sites last emitted).
        _restore(state, rid, *before)
        raise


def _restore(state: GroupState, rid: str, member: Member | None, tombstone: Tombstone | None) -> None:
    for held, current in ((member, state.members), (tombstone, state.retracted)):
        if held is None:
            current.pop(rid, None)
        else:
            current[rid] = held


def apply_mention(state: GroupState, ref: MentionRef, rules: ConsolidationRules | None = None) -> Outcome:
    """Attach a relevant mention to a group (the caller decided it names the group's area and hazard).

    Corroboration only: figures never change. Idempotent by mention_id. A group remembers at most
    `group_mentions_cap` mentions; past that the least relevant (then oldest) is forgotten, so counts above
    the cap are a floor.
    """
    rules = rules or DEFAULT_RULES
    before = dict(state.mentions)
    status = _add_mention(state, ref, rules)
    if status != "new":
        return Outcome(state=state, status=status)
    try:
        return _recompute(state, status, rules)
    except Exception:
        state.mentions = before  # all or nothing, as for reports and reviews (a cap eviction included)
        raise


def apply_mentions(state: GroupState, refs: Sequence[MentionRef],
                   rules: ConsolidationRules | None = None) -> tuple[list[Outcome], list[tuple[int, Exception]]]:
    """Several posts attached to one group with a single rebuild: a town everyone posts about costs one rebuild
    of its sites per batch of posts, not one per post (each rebuild reclusters all of the group's reports).

    The same final state as `apply_mention` post by post. If the rebuild fails, the posts are undone and applied
    one by one, so that only those that break the group are refused: (outcomes, [(index in refs, error)]).
    """
    rules = rules or DEFAULT_RULES
    before = dict(state.mentions)
    if "new" not in [_add_mention(state, ref, rules) for ref in refs]:  # a list: every post is added
        return [], []
    try:
        return [_recompute(state, "new", rules)], []
    except Exception:
        state.mentions = before
    outcomes: list[Outcome] = []
    refused: list[tuple[int, Exception]] = []
    for i, ref in enumerate(refs):
        try:
            outcomes.append(apply_mention(state, ref, rules))
        except Exception as err:  # noqa: BLE001 - this post is refused; apply_mention undid it
            refused.append((i, err))
    return outcomes, refused


def _add_mention(state: GroupState, ref: MentionRef, rules: ConsolidationRules) -> Status:
    """Add a post to a group without rebuilding its sites: "new" when the group changed."""
    if ref.mention_id in state.mentions:
        return "duplicate"
    state.mentions[ref.mention_id] = ref
    if len(state.mentions) > rules.group_mentions_cap:
        worst = min(state.mentions.values(), key=lambda m: (m.relevance, m.created_at.timestamp(), m.mention_id))
        del state.mentions[worst.mention_id]
        if worst is ref:
            return "stale"
    return "new"


def retraction(er: EnrichedReport, old_geo: GeoTag, old_hazard: Hazard | str) -> EnrichedReport:
    """The retract that takes a report out of the group its previous version went to.

    For enrich, when an edit changes the report's group (`group_key(old_geo, old_hazard)` differs from the new
    one: another village, or another hazard, even within one regency). Send it keyed by
    `old_geo.partition_key`. It must carry the *old* geo and hazard, which is how it finds the old group, and
    the *new* version (submitted_at, content_hash), which is why it outranks every older version there.
    """
    old_report = er.report if er.report.hazard == old_hazard else er.report.model_copy(
        update={"hazard": Hazard(normalise_hazard(old_hazard))})
    return EnrichedReport(action="retract", report=old_report, geo=old_geo, content_hash=er.content_hash,
                          received_at=er.received_at, source_offset=er.source_offset)


def apply_review(state: GroupState | None, review: ReviewEvent,
                 rules: ConsolidationRules | None = None) -> Outcome:
    """Record a coordinator's decision on a site. Idempotent by review_id; every decision is kept.

    A review without `figures_version` is stamped with the site's current one when applied, so a later
    change of figures can still flag the verification as stale. (The API should always send the version
    the reviewer saw: stamping at apply time depends on when the review is processed.) A review for a site id
    that does not exist (yet, or any more) is kept and takes effect if that id appears.
    """
    rules = rules or DEFAULT_RULES
    gk = site_id_to_group_key(review.site_id)
    if state is None:
        state = GroupState(group_key=gk, hazard=Hazard(gk.split(SEP)[0]))
    elif state.group_key != gk:
        raise ValueError(f"review {review.review_id} is for group {gk}, not {state.group_key}")
    if review.review_id in state.reviews:
        return Outcome(state=state, status="duplicate")
    if review.figures_version is None:
        for sid, entries in _clusters(state, rules):
            if sid == review.site_id:
                current = build_site(sid, state.hazard, entries, [], rules).figures_version
                review = review.model_copy(update={"figures_version": current})
                break
    state.reviews[review.review_id] = review
    try:
        return _recompute(state, "new", rules)
    except Exception:
        del state.reviews[review.review_id]  # all or nothing, as for reports
        raise


def rebuild_sites(state: GroupState, rules: ConsolidationRules | None = None) -> list[Site]:
    """Every site of a group built from scratch (no emitted-state shortcut): for restores and checks."""
    rules = rules or DEFAULT_RULES
    reviews = _reviews_by_site(state)
    return [build_site(sid, state.hazard, entries, reviews.get(sid, []), rules,
                       site_mentions(entries, state.mentions.values(), rules))
            for sid, entries in _clusters(state, rules)]


class Consolidator:
    """In-memory consolidation over many groups: the offline CLI, tests and benchmarks.

    Besides the groups it keeps a report_id index (latest version and its group), so that an edit which moves
    a report to another group (other village or hazard) retracts it from the old one, whatever the order in
    which the versions arrive. The faust worker needs the same index as a table keyed by report_id when
    enrich does not emit retractions for such moves.
    """

    def __init__(self, rules: ConsolidationRules | None = None) -> None:
        self.rules = rules or DEFAULT_RULES
        self.groups: dict[str, GroupState] = {}
        self.index: dict[str, tuple[tuple[float, str, bool], str]] = {}
        self._sites: dict[str, Site] = {}
        self.counts: Counter[str] = Counter()

    def _apply(self, gk: str, out: Outcome) -> Outcome:
        self.groups[gk] = out.state
        for s in out.changed:
            self._sites[s.site_id] = s
        for sid in out.removed:
            self._sites.pop(sid, None)
        return out

    def add(self, er: EnrichedReport) -> Outcome:
        rid = er.report.report_id
        gk = group_key(er.geo, er.report.hazard)
        incoming = _version(er.report.submitted_at, er.content_hash, er.action == "retract")
        prev = self.index.get(rid)
        if prev is not None and incoming <= prev[0]:
            # Judged against the newest version anywhere, not only in this group: a resubmit geotagged
            # differently must not put the report into a second group.
            status: Status = "duplicate" if incoming == prev[0] else "stale"
            self.counts[status] += 1
            state = self.groups.get(gk) or GroupState(group_key=gk, hazard=er.report.hazard)
            return Outcome(state=state, status=status)
        moved: Outcome | None = None
        if prev is not None and prev[1] != gk and prev[1] in self.groups:
            # The report moved (other village or hazard): forget it where it was, as of the new version.
            moved = self._apply(prev[1], _apply_version(self.groups[prev[1]], rid, er.report.submitted_at,
                                                        er.content_hash, None, self.rules))
        out = self._apply(gk, apply_report(self.groups.get(gk), er, self.rules))
        if moved is not None:
            # One outcome for the caller: both groups' site changes; a known report is an edit, not new.
            out = Outcome(state=out.state, status="edit" if out.status == "new" else out.status,
                          changed=moved.changed + out.changed, removed=moved.removed + out.removed)
        self.index[rid] = (incoming, gk)
        self.counts[out.status] += 1
        return out

    def add_review(self, review: ReviewEvent) -> Outcome:
        gk = site_id_to_group_key(review.site_id)
        out = self._apply(gk, apply_review(self.groups.get(gk), review, self.rules))
        self.counts["review_" + out.status] += 1
        return out

    def sites(self) -> list[Site]:
        """Current sites, as the compacted `sites` topic would hold them, sorted by site id."""
        return [self._sites[k] for k in sorted(self._sites)]
