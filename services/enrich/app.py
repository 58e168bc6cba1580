"""Enrich: the faust-streaming worker. It only wires Kafka to the pure core (services.core.*).

Two stages, each keyed so that the state one decision needs sits on one partition:

1. `reports.raw` (key report_id): parse, judge the version (resubmit / edit / stale), geotag in batches,
   and forward to `reports.enriched` keyed by regency. An edit that moved to another regency first sends a
   retraction to the old one.
2. `reports.enriched` + `reviews` (both keyed by regency, co-partitioned): consolidate into sites and put
   every changed site on the compacted `sites` topic (tombstones for sites that dissolved).

Delivery is at least once. Duplicates are forwarded again on purpose (a crash between the table write and
the send must not lose a report); the consolidation core makes them harmless.
"""

from __future__ import annotations

import importlib.util
import logging
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

import faust
from pydantic import ValidationError

from schemas import EnrichedReport, FieldReport, ReviewEvent, Site
from schemas.enriched import parse_enriched
from schemas.mention import MentionEnriched, SocialMention
from schemas.site import MentionRef
from services.common.config import settings
from services.common.metrics import ENRICH_REPORTS, GEOTAG, GEOTAG_FAILURES, MENTIONS
from services.common.topics import (
    DEADLETTER,
    MENTIONS_ENRICHED,
    MENTIONS_RAW,
    REGION_PARTITIONS,
    REPORTS_ENRICHED,
    REPORTS_RAW,
    REVIEWS,
    SITES,
)
from services.core.attach import RegencyMentions, area_mention, groups_for
from services.core.consolidate import (
    ConsolidationRules,
    GroupState,
    Outcome,
    apply_mentions,
    apply_reports,
    apply_review,
    group_key,
    group_regency,
    retraction,
    site_id_to_group_key,
)
from services.core.geotag import get_geotagger
from services.core.mentions.enrich import enrich_mentions
from services.core.versions import Placement, VersionRecord, decide, retraction_target
from services.enrich.batching import batches, forget_positions
from services.enrich.bulk import BulkWriter
from services.enrich.deadletters import dead_letter_record
from services.enrich.envelopes import EnvelopePacker
from services.enrich.event_context import current_event
from services.enrich.faust_races import install as fix_faust_races
from services.enrich.health import install_pages
from services.enrich.stream_settings import BATCH, STREAM_SETTINGS

log = logging.getLogger("siaga.enrich")
cfg = settings()
fix_faust_races()  # before the app exists: faust otherwise loses input messages around table recovery
RULES = ConsolidationRules()
MENTION_BATCH = 1000


def _store_url() -> str:
    """Tables on RocksDB (through rocksdict) where installed: restarts then recover from disk, not the changelog."""
    if importlib.util.find_spec("rocksdict") is not None:
        return "rocksdb://"  # files under `datadir`, one RocksDB per table and partition
    return "memory://"


app = faust.App(
    "siaga-enrich",
    broker=[f"kafka://{h}" for h in cfg.kafka.split(",")],
    store=_store_url(),
    datadir=str(cfg.state_dir / "faust"),
    topic_replication_factor=cfg.replication,
    web_port=cfg.enrich_web_port,
    web_host=cfg.enrich_web_host,
    # A killed worker's partitions move to the survivors after this long: short, because reports wait meanwhile.
    broker_session_timeout=cfg.enrich_session_timeout_s,
    broker_heartbeat_interval=max(1.0, cfg.enrich_session_timeout_s / 4),
    table_standby_replicas=cfg.enrich_standby_replicas,
    **STREAM_SETTINGS,
)

raw_topic = app.topic(REPORTS_RAW.name, partitions=REPORTS_RAW.partitions, internal=False)
# One stream over both topics: faust needs them co-partitioned, which topics.py guarantees.
consolidation_topic = app.topic(REPORTS_ENRICHED.name, REVIEWS.name, MENTIONS_ENRICHED.name,
                                partitions=REGION_PARTITIONS, internal=False)
mentions_raw_topic = app.topic(MENTIONS_RAW.name, partitions=MENTIONS_RAW.partitions, internal=False)

versions = app.Table("report-versions", default=None, partitions=REPORTS_RAW.partitions)
# Group state as pydantic's own JSON bytes (raw serializer): faust's JSON codec over model_dump dicts cost more.
groups = app.Table("site-groups", default=None, partitions=REGION_PARTITIONS, value_type=bytes)
# Per regency: its groups' keys (to find the sites a mention corroborates) and its recent relevant mentions
# (so a site reported after people posted about it still gets those posts).
regency_groups = app.Table("regency-groups", default=None, partitions=REGION_PARTITIONS)
regency_mentions = app.Table("regency-mentions", default=None, partitions=REGION_PARTITIONS, value_type=bytes)
# One writer per agent: a flush must wait for exactly the records its own batch produced.
raw_out, consolidation_out, mentions_out = BulkWriter(app), BulkWriter(app), BulkWriter(app)
# Stage 1's reports leave as one array per regency and batch (services/enrich/envelopes.py).
enriched_out = EnvelopePacker(REPORTS_ENRICHED.name)

install_pages(app)


def send_dead_letter(out: BulkWriter, event: faust.EventT, stage: str, reason: str, detail: str,
                     payload: bytes | None = None) -> None:
    record = dead_letter_record(event.message, stage, reason, detail, payload)
    out.send(DEADLETTER.name, record.source.encode(), record.model_dump_json().encode())


@app.agent(raw_topic)
async def enrich_reports(stream: faust.StreamT) -> None:
    """Stage 1: version judgement and batched geotagging."""
    async for batch in batches(stream, BATCH):
        await process_raw_batch(batch)


async def process_raw_batch(batch: list[faust.EventT]) -> None:
    parsed: list[tuple[faust.EventT, FieldReport, str]] = []
    for event in batch:
        try:
            report = FieldReport.model_validate_json(event.message.value or b"")
        except ValidationError as err:
            send_dead_letter(raw_out, event, "enrich.parse", "invalid_schema", str(err))
            continue
        parsed.append((event, report, report.content_hash()))
    if parsed:
        judge_and_forward(parsed)
    enriched_out.send_to(raw_out)
    await raw_out.flush()


def judge_and_forward(parsed: list[tuple[faust.EventT, FieldReport, str]]) -> None:
    # Geotag the whole batch first (one vectorised query), so that version judgement below always knows
    # where the previous version of a report went, even when both versions arrive in the same batch.
    tags = get_geotagger().tag_reports([r for _, r, _ in parsed])
    now = datetime.now(UTC)
    for (event, report, digest), geo in zip(parsed, tags, strict=True):
        prev = _version(report.report_id, event)
        verdict = decide(prev, report.submitted_at, digest)
        ENRICH_REPORTS.labels(verdict).inc()
        if verdict == "stale":
            continue
        if geo.geotag_method == "none":  # failures are counted apart from successes (docs/metrics.md)
            GEOTAG_FAILURES.labels(geo.reason or "unknown").inc()
        else:
            GEOTAG.labels(geo.geotag_method).inc()
        placement = Placement(geo, report.hazard)
        er = EnrichedReport(report=report, geo=geo, content_hash=digest, received_at=now)
        moved_from = retraction_target(prev, verdict, placement)
        if moved_from is not None:
            retract = retraction(er, moved_from.geo, moved_from.hazard)
            enriched_out.add(moved_from.geo.partition_key.encode(), retract.model_dump_json().encode())
        raw_out.table_set(versions, report.report_id,
                          VersionRecord(digest, report.submitted_at.isoformat(), placement, moved_from).to_dict(),
                          event)
        enriched_out.add(geo.partition_key.encode(), er.model_dump_json().encode())


def _version(report_id: str, event: faust.EventT) -> VersionRecord | None:
    with current_event(event):  # the store then reads the event's partition only, not every partition's
        raw = versions.get(report_id)
    return VersionRecord.from_dict(raw) if raw else None


class StateCache:
    """Deserialised table values of this worker's partitions, so a busy key is not re-read from its JSON on
    every message. The table stays the source of truth: the caches are dropped at every rebalance."""

    def __init__(self, table: faust.Table, load: Callable[[object], object], dump: Callable[[object], object],
                 limit: int = 50_000) -> None:
        self.table, self.load, self.dump, self.limit = table, load, dump, limit
        self.values: OrderedDict[str, object] = OrderedDict()
        self.dirty: dict[str, faust.EventT] = {}

    def get(self, key: str, event: faust.EventT) -> object | None:
        """`event`: the message being applied, whose partition holds `key`. The RocksDB store reads only the
        partition of faust's *current* event, which after a batch was collected is the batch's last one: without
        this, a key of another partition reads as absent and its group would start over after every restart."""
        value = self.values.get(key)
        if value is not None:
            self.values.move_to_end(key)
            return value
        with current_event(event):
            raw = self.table.get(key)
        if raw is None:
            return None
        value = self.load(raw)
        self.values[key] = value
        self._trim()
        return value

    def put(self, key: str, value: object, event: faust.EventT) -> None:
        """Keep `value` and write it to the table at the end of the batch (with the event that last touched it,
        whose partition is the key's)."""
        self.values[key] = value
        self.values.move_to_end(key)
        self.dirty[key] = event
        self._trim()

    def flush(self, out: BulkWriter) -> None:
        for key, event in self.dirty.items():
            value = self.values.get(key)
            if value is None:  # trimmed before the flush: re-derive nothing, the table write is what matters
                continue
            out.table_set(self.table, key, self.dump(value), event)
        self.dirty.clear()

    def _trim(self) -> None:
        while len(self.values) > self.limit:
            key, _ = next(iter(self.values.items()))
            if key in self.dirty:  # never drop an unwritten value
                break
            self.values.popitem(last=False)

    def clear(self) -> None:
        self.values.clear()
        self.dirty.clear()


group_cache = StateCache(groups, GroupState.model_validate_json, lambda g: g.model_dump_json().encode())
regency_group_cache = StateCache(regency_groups, list, list)
regency_mention_cache = StateCache(regency_mentions, RegencyMentions.model_validate_json,
                                   lambda r: r.model_dump_json().encode())
CACHES = (group_cache, regency_group_cache, regency_mention_cache)


@app.on_partitions_revoked.connect
async def _forget_caches(app: faust.App, revoked: set, **kwargs: object) -> None:  # noqa: ARG001
    for cache in CACHES:
        cache.clear()
    forget_positions()


@app.agent(consolidation_topic)
async def consolidate(stream: faust.StreamT) -> None:
    """Stage 2: sites from reports, reviews and mentions; changed sites out on the compacted `sites` topic.

    Batched: each key touched by a batch is written to its table once, and each changed site sent once with
    its final state, however many of the batch's messages touched it.
    """
    async for batch in batches(stream, BATCH):
        await process_consolidation_batch(batch)


class Pending:
    """Per group, what the current batch brought and has not applied yet, with the events that brought it: a run
    of posts or a run of reports, never both. A run is applied with one rebuild of the group's sites
    (consolidate.apply_mentions / apply_reports) when something else reaches the group (a report after posts,
    a post after reports, a review) and at the batch's end, so the group sees everything in the order an
    unbatched stream would have applied it, and a message that breaks it is refused alone.
    """

    def __init__(self) -> None:
        self.posts: dict[str, list[tuple[faust.EventT, MentionRef]]] = {}
        self.post_groups: dict[str, set[str]] = {}  # mention id -> the groups it waits on
        # (event, report, whether it was its record's only report: then the dead letter carries the record)
        self.reports: dict[str, list[tuple[faust.EventT, EnrichedReport, bool]]] = {}

    def add_post(self, key: str, event: faust.EventT, ref: MentionRef) -> None:
        self.posts.setdefault(key, []).append((event, ref))
        self.post_groups.setdefault(ref.mention_id, set()).add(key)

    def take_posts(self, key: str) -> list[tuple[faust.EventT, MentionRef]]:
        posts = self.posts.pop(key, None) or []
        for _, ref in posts:
            waiting = self.post_groups.get(ref.mention_id)
            if waiting is not None:
                waiting.discard(key)
                if not waiting:
                    del self.post_groups[ref.mention_id]
        return posts


async def process_consolidation_batch(batch: list[faust.EventT]) -> None:
    out: dict[str, Site | None] = {}
    pending = Pending()
    for event in batch:
        try:
            outcomes = consolidate_one(event, pending)
        except ValidationError as err:
            send_dead_letter(consolidation_out, event, "enrich.consolidate", "invalid_schema", str(err))
            continue
        except (ValueError, KeyError) as err:  # refusals are dead-lettered where they happen; a safety net
            refuse(event, err)
            continue
        _collect(out, outcomes)
    for key in [*pending.reports, *pending.posts]:  # settle() leaves nothing pending on its group
        _collect(out, settle(key, pending))
    for cache in CACHES:
        cache.flush(consolidation_out)
    for site_id, site in out.items():
        consolidation_out.send(SITES.name, site_id.encode(), site.model_dump_json().encode() if site else None)
    await consolidation_out.flush()


def _collect(out: dict[str, Site | None], outcomes: list[tuple[str, Outcome]]) -> None:
    """The batch keeps each site's last state: one record per changed site, however often it changed."""
    for _key, outcome in outcomes:
        for site in outcome.changed:
            out[site.site_id] = site
        for site_id in outcome.removed:
            out[site_id] = None


def consolidate_one(event: faust.EventT, pending: Pending) -> list[tuple[str, Outcome]]:
    """Take one message in: reports and posts join their groups' pending runs; a review is applied at once,
    after what was pending on its group. The (group key, outcome) pairs of what was applied."""
    topic = event.message.topic
    if topic == MENTIONS_ENRICHED.name:
        return attach_mention(event, MentionEnriched.model_validate_json(event.message.value or b""), pending)
    if topic != REVIEWS.name:
        return queue_reports(event, pending)
    review = ReviewEvent.model_validate_json(event.message.value or b"")
    key = site_id_to_group_key(review.site_id)
    outcomes = settle(key, pending)
    try:
        outcomes.append(_keep(key, apply_review(group_cache.get(key, event), review, RULES), event))
    except Exception as err:  # noqa: BLE001 - any refusal of the core: this review only, and the core undid it
        refuse(event, err)
    return outcomes


def refuse(event: faust.EventT, err: Exception, payload: bytes | None = None, detail: str = "") -> None:
    """A message (or part of one) the consolidation core refused: dead-lettered; the core already undid it."""
    send_dead_letter(consolidation_out, event, "enrich.consolidate", "not_applied",
                     f"{type(err).__name__}: {err}{detail}", payload)


def settle(key: str, pending: Pending) -> list[tuple[str, Outcome]]:
    """Apply whatever is pending on a group: a run of posts, or a run of reports and then the posts its regency
    had seen, if those reports founded the group."""
    outcomes = settle_reports(key, pending)
    return outcomes + settle_posts(key, pending)


def settle_posts(key: str, pending: Pending) -> list[tuple[str, Outcome]]:
    """Apply the posts waiting on a group, with one rebuild: a post that breaks the group is refused on its own
    (and forgotten by its regency), never blamed on a report, never left in the group."""
    posts = pending.take_posts(key)
    if not posts:
        return []
    state = group_cache.get(key, posts[-1][0])
    if state is None:  # only groups that exist are offered posts (their regency lists them once founded)
        return []
    outcomes, refused = apply_mentions(state, [ref for _, ref in posts], RULES)
    if outcomes:
        group_cache.put(key, state, posts[-1][0])
    for i, err in refused:
        event, ref = posts[i]
        regency = group_regency(key)
        known = regency_mention_cache.get(regency, event)
        if known is not None and known.forget(ref.mention_id):
            regency_mention_cache.put(regency, known, event)
        refuse(event, err, ref.model_dump_json().encode(), f" (post {ref.mention_id}, group {key})")
    return [(key, outcome) for outcome in outcomes]


def settle_reports(key: str, pending: Pending) -> list[tuple[str, Outcome]]:
    """Apply the reports waiting on a group, with one rebuild of its sites (a backlog on a village many
    volunteers assess is no longer quadratic in its size). A report that breaks the group is refused alone:
    dead-lettered with its own JSON, or its record's bytes when it came alone. A group that holds its first
    report is listed under its regency, and gets the posts its regency saw before, like posts arriving now."""
    reports = pending.reports.pop(key, None)
    if not reports:
        return []
    last_event = reports[-1][0]
    state, outcomes, refused = apply_reports(group_cache.get(key, last_event), [er for _, er, _ in reports], RULES)
    for i, err in refused:
        event, er, alone = reports[i]
        refuse(event, err, None if alone else er.model_dump_json().encode())
    if state is None or not outcomes:
        return []
    group_cache.put(key, state, last_event)
    applied = [(key, outcome) for outcome in outcomes]
    if state.members and _list_in_regency(key, last_event):
        applied += _copy_known_posts(key, group_regency(key), last_event, pending)
    return applied


def _copy_known_posts(key: str, regency: str, event: faust.EventT, pending: Pending) -> list[tuple[str, Outcome]]:
    """A newly listed group gets the posts its regency saw before, like posts arriving now. A post still waiting
    on another group is settled there first, as an unbatched stream would have: if that group refuses it, the
    regency forgets it, and it is not copied here (where it could have sat and been blamed on a later report)."""
    known = regency_mention_cache.get(regency, event)
    if known is None:
        return []
    refs = known.for_group(key)
    others = sorted({k for ref in refs for k in pending.post_groups.get(ref.mention_id, ()) if k != key})
    applied: list[tuple[str, Outcome]] = []
    if others:
        for other in others:
            applied += settle_posts(other, pending)
        known = regency_mention_cache.get(regency, event)
        refs = known.for_group(key) if known is not None else []
    for ref in refs:
        pending.add_post(key, event, ref)
    return applied


def _regency_slot(key: str, event: faust.EventT) -> tuple[str, list[str], int, bool]:
    """Where a group sits in its regency's sorted list of groups (posts find groups through it): the regency,
    the list, the index it has or would have, and whether it is listed."""
    regency = group_regency(key)
    listed = regency_group_cache.get(regency, event) or []
    at = bisect_left(listed, key)
    return regency, listed, at, at < len(listed) and listed[at] == key


def _listed(key: str, event: faust.EventT) -> bool:
    return _regency_slot(key, event)[3]


def _list_in_regency(key: str, event: faust.EventT) -> bool:
    """List the group under its regency (from its first report on); False if it already was."""
    regency, listed, at, present = _regency_slot(key, event)
    if not present:
        regency_group_cache.put(regency, [*listed[:at], key, *listed[at:]], event)
    return not present


def queue_reports(event: faust.EventT, pending: Pending) -> list[tuple[str, Outcome]]:
    """The reports of one record join their groups' pending runs, after the posts pending there. A report for a
    group its regency does not list yet is applied at once: if it founds the group, posts arriving from now on
    must find it, as they would in an unbatched stream."""
    reports = parse_enriched(event.message.value or b"")  # validated whole before any is applied
    alone = len(reports) == 1
    outcomes: list[tuple[str, Outcome]] = []
    for er in reports:
        key = group_key(er.geo, er.report.hazard)
        outcomes += settle_posts(key, pending)
        pending.reports.setdefault(key, []).append((event, er, alone))
        if not _listed(key, event):
            outcomes += settle_reports(key, pending)
    return outcomes


def _keep(key: str, outcome: Outcome, event: faust.EventT) -> tuple[str, Outcome]:
    """Cache the group's new state for the batch's single table write; a duplicate or stale message changed
    nothing and writes nothing."""
    if outcome.status not in ("duplicate", "stale"):
        group_cache.put(key, outcome.state, event)
    return key, outcome


def attach_mention(event: faust.EventT, me: MentionEnriched, pending: Pending) -> list[tuple[str, Outcome]]:
    """A relevant post joins the pending runs of the groups it names, after the reports pending there."""
    am = area_mention(me)
    if am is None:
        return []
    regency = me.geo.partition_key
    known = regency_mention_cache.get(regency, event) or RegencyMentions()
    if known.add(am):
        regency_mention_cache.put(regency, known, event)
        MENTIONS.labels("attachable").inc()
    # Applied to the groups even when the regency knew it: a redelivery after a crash between the two writes
    # must still reach the groups (apply_mentions is idempotent by mention id).
    outcomes: list[tuple[str, Outcome]] = []
    for key in groups_for(am, regency_group_cache.get(regency, event) or []):
        outcomes += settle_reports(key, pending)
        pending.add_post(key, event, am.ref)
    return outcomes


@app.agent(mentions_raw_topic)
async def enrich_social_mentions(stream: faust.StreamT) -> None:
    """Mentions: hazard, relevance and places, in batches (the relevance model vectorises), keyed by regency."""
    async for batch in batches(stream, MENTION_BATCH):
        await process_mention_batch(batch)


async def process_mention_batch(batch: list[faust.EventT]) -> None:
    mentions: list[SocialMention] = []
    for event in batch:
        try:
            mentions.append(SocialMention.model_validate_json(event.message.value or b""))
        except ValidationError as err:
            MENTIONS.labels("deadletter").inc()
            send_dead_letter(mentions_out, event, "enrich.mentions", "invalid_schema", str(err))
    for me in enrich_mentions(mentions):
        MENTIONS.labels("relevant" if me.relevant else "irrelevant").inc()
        mentions_out.send(MENTIONS_ENRICHED.name, me.geo.partition_key.encode(), me.model_dump_json().encode())
    await mentions_out.flush()
