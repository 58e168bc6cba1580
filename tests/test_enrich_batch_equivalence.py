"""Stage 2 gives the same sites and the same group states whether a mix of reports, retractions, reviews and
posts arrives as one batch or one message per batch, also when some of them break their group's sites (a
report or a post the core refuses) and the mention cap pushes posts out. Random mixes, fixed seeds."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta

import pytest

import services.enrich.app as worker
from schemas.mention import MentionEnriched, SocialMention
from services.core.clustering import ConsolidationRules
from services.core.consolidate import group_key, site_id_for
from tests._consolidate_factory import T0, refuse_sites_with, report, review, village
from tests._stage2 import Event, use_fakes

Message = tuple[str, bytes]


def _post(rng: random.Random) -> Message:
    """A post of a small set, redelivered now and then; one id is always the same post (a platform's id)."""
    n = rng.randint(0, 8)
    mid = f"x:{n}" if n < 8 else "x:bad"
    geo = village(1 + n % 2)
    if n % 3 == 0:  # names only the regency: corroborates every group of the hazard there
        geo = geo.model_copy(update={"adm3": None, "adm3_name": None, "adm4": None, "adm4_name": None})
    m = SocialMention(id=mid, platform="x", text=f"gempa {mid}", created_at=T0 + timedelta(hours=n % 7))
    me = MentionEnriched(mention=m, normalised_text=m.text, hazard="earthquake", hazards=["earthquake"],
                         relevant=True, relevance_score=0.5 + (n % 3) / 10, relevance_method="rules",
                         geo=geo, geo_source="text", geoparse_confidence=0.8)
    return "mentions.enriched", me.model_dump_json().encode()


def messages(rng: random.Random, n: int) -> list[Message]:
    out: list[Message] = []
    for _ in range(n):
        k = rng.random()
        rid = rng.choice(["r0", "r1", "r2", "bad"])
        if k < 0.45:
            er = report(rid, geo=village(rng.choice([1, 1, 2])), north_m=rng.choice([0, 50, 3000]),
                        sub_minutes=rng.choice([10, 20]), hours=rng.choice([0, 1, 100]),
                        action=rng.choice(["upsert"] * 4 + ["retract"]))
            out.append(("reports.enriched", er.model_dump_json().encode()))
        elif k < 0.55:
            sid = site_id_for(group_key(village(rng.choice([1, 2])), "earthquake"), rid)
            rv = review(sid, review_id=f"rev{rng.randint(0, 2)}", decision=rng.choice(["verified", "rejected"]))
            out.append(("reviews", rv.model_dump_json().encode()))
        else:
            out.append(_post(rng))
    return out


def run(first: list[Message], rest: list[Message], one_by_one: bool) -> tuple[dict, dict]:
    mp = pytest.MonkeyPatch()
    try:
        out = use_fakes(mp)
        mp.setattr(worker, "RULES", ConsolidationRules(group_mentions_cap=3))
        refuse_sites_with(mp, report_ids=("bad",), mention_ids=("x:bad",))
        events = [Event(value, topic=topic, offset=i) for i, (topic, value) in enumerate(first + rest)]
        asyncio.run(worker.process_consolidation_batch(events[:len(first)]))
        for batch in ([[e] for e in events[len(first):]] if one_by_one else [events[len(first):]]):
            asyncio.run(worker.process_consolidation_batch(batch))
        # What the compacted topic ends up holding: each site's last record, tombstones dropping it. A batch
        # may never send a site that was born and removed within it, where one message per batch sends it and
        # then its tombstone; a site sent before and removed since must be tombstoned either way.
        last = {key: value for topic, key, value in out.sent if topic == "sites"}
        sites = {key: json.loads(value) for key, value in last.items() if value is not None}
        groups = {key: json.loads(value) for key, value in worker.group_cache.table.data.items()}
        return sites, groups
    finally:
        mp.undo()


@pytest.mark.parametrize("seed", range(400))
def test_one_batch_and_one_message_per_batch_agree(seed: int) -> None:
    rng = random.Random(seed)
    first, rest = messages(rng, rng.randint(0, 6)), messages(rng, rng.randint(1, 14))
    batched, single = run(first, rest, one_by_one=False), run(first, rest, one_by_one=True)
    assert batched[0] == single[0], "the sites the topic ends up with differ"
    assert batched[1] == single[1], "the group states written differ"
