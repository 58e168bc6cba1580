"""Posts attached to one group within a batch rebuild its sites once, at the end of the batch, with the same
result as rebuilding after every post (everyone posts about the same town: that must not cost a rebuild of
the town's sites per post)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

import services.enrich.app as worker
from schemas import DeadLetter, Site
from schemas.mention import MentionEnriched, SocialMention
from services.core.attach import area_mention
from services.core.consolidate import GroupState, apply_mention, apply_report
from tests._consolidate_factory import T0, refuse_sites_with, report, village
from tests._stage2 import Event, Writer, use_fakes


def post(mid: str, hours: float) -> MentionEnriched:
    m = SocialMention(id=mid, platform="x", text=f"gempa di desa 1, {mid}", created_at=T0 + timedelta(hours=hours))
    return MentionEnriched(mention=m, normalised_text=m.text, hazard="earthquake", hazards=["earthquake"],
                           relevant=True, relevance_score=0.5 + hours / 100, relevance_method="rules",
                           geo=village(1), geo_source="text", geoparse_confidence=0.8)


def sites_sent(out: Writer) -> list[Site]:
    return [Site.model_validate_json(v) for topic, _, v in out.sent if topic == "sites" and v is not None]


def test_thirty_posts_in_a_batch_rebuild_their_site_once_and_match_a_rebuild_per_post(
        monkeypatch: pytest.MonkeyPatch, rebuilds: list[int]) -> None:
    out = use_fakes(monkeypatch)
    er = report("a", geo=village(1))
    posts = [post(f"x:{i}", hours=i / 10) for i in range(30)]
    batch = [Event(er.model_dump_json().encode(), offset=1)]
    batch += [Event(p.model_dump_json().encode(), topic="mentions.enriched", offset=2 + i) for i, p in enumerate(posts)]
    asyncio.run(worker.process_consolidation_batch(batch))

    assert rebuilds[0] == 2  # the report's, then one for all thirty posts (31 before)
    (site,) = sites_sent(out)  # one record for the site, in its final state
    # What the core gives rebuilding after every post:
    state = apply_report(None, er).state
    for p in posts:
        expected = apply_mention(state, area_mention(p).ref)
    (want,) = [s for s in expected.changed if s.site_id == site.site_id] or expected.changed
    assert site.model_dump(exclude={"updated_at"}) == want.model_dump(exclude={"updated_at"})
    assert site.mention_count == 30

    out.sent.clear()
    counted = rebuilds[0]
    asyncio.run(worker.process_consolidation_batch(batch[1:4]))  # redelivered posts: nothing changes
    assert sites_sent(out) == [] and rebuilds[0] == counted


def test_posts_waiting_on_a_group_are_rebuilt_before_a_report_reaches_it(
        monkeypatch: pytest.MonkeyPatch, rebuilds: list[int]) -> None:
    out = use_fakes(monkeypatch)
    first, second = report("a", geo=village(1)), report("b", geo=village(1), north_m=80, reporter="vol-2")
    asyncio.run(worker.process_consolidation_batch([Event(first.model_dump_json().encode(), offset=1)]))
    out.sent.clear()
    before = rebuilds[0]
    batch = [Event(post(f"x:{i}", hours=i / 10).model_dump_json().encode(), topic="mentions.enriched", offset=2 + i)
             for i in range(5)]
    batch.append(Event(second.model_dump_json().encode(), offset=9))
    asyncio.run(worker.process_consolidation_batch(batch))
    # The five posts once (so a post that breaks the group is refused on its own), then the report: nothing left
    # for the end of the batch.
    assert rebuilds[0] - before == 2
    (site,) = sites_sent(out)
    assert site.mention_count == 5 and site.reports == 2


def test_a_duplicate_report_after_the_posts_leaves_their_rebuild_for_the_end(
        monkeypatch: pytest.MonkeyPatch, rebuilds: list[int]) -> None:
    out = use_fakes(monkeypatch)
    er = report("a", geo=village(1))
    asyncio.run(worker.process_consolidation_batch([Event(er.model_dump_json().encode(), offset=1)]))
    out.sent.clear()
    batch = [Event(post(f"x:{i}", hours=i / 10).model_dump_json().encode(), topic="mentions.enriched", offset=2 + i)
             for i in range(3)]
    batch.append(Event(er.model_dump_json().encode(), offset=9))  # a resubmit: changes nothing, rebuilds nothing
    asyncio.run(worker.process_consolidation_batch(batch))
    (site,) = sites_sent(out)
    assert site.mention_count == 3


@pytest.fixture
def bad_post_breaks_sites(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_sites_with(monkeypatch, mention_ids=("x:bad",))


def test_a_post_that_breaks_its_group_is_refused_alone_and_blames_no_report(
        monkeypatch: pytest.MonkeyPatch, bad_post_breaks_sites: None) -> None:
    out = use_fakes(monkeypatch)
    first, second = report("a", geo=village(1)), report("b", geo=village(1), north_m=80, reporter="vol-2")
    asyncio.run(worker.process_consolidation_batch([Event(first.model_dump_json().encode(), offset=1)]))
    out.sent.clear()
    batch = [Event(post("x:bad", 0.1).model_dump_json().encode(), topic="mentions.enriched", offset=2),
             Event(post("x:1", 0.2).model_dump_json().encode(), topic="mentions.enriched", offset=3),
             Event(second.model_dump_json().encode(), offset=4),
             Event(post("x:2", 0.3).model_dump_json().encode(), topic="mentions.enriched", offset=5)]
    asyncio.run(worker.process_consolidation_batch(batch))

    letters = [DeadLetter.model_validate_json(v) for topic, _, v in out.sent if topic == "deadletter"]
    assert [(d.reason, d.offset) for d in letters] == [("not_applied", 2)]  # the bad post, and only it
    site = sites_sent(out)[-1]
    assert (site.reports, sorted(m.mention_id for m in site.mentions)) == (2, ["x:1", "x:2"])
    (group,) = [GroupState.model_validate_json(v) for v in out.tables.values() if '"members"' in str(v)]
    assert sorted(group.members) == ["a", "b"] and sorted(group.mentions) == ["x:1", "x:2"]


def test_a_bad_post_is_checked_even_when_a_retraction_empties_its_group_first(
        monkeypatch: pytest.MonkeyPatch, bad_post_breaks_sites: None) -> None:
    """The retraction's rebuild has no site to put the post in: the post must still be refused then, not left
    in the group to refuse the next report in its place."""
    out = use_fakes(monkeypatch)
    r0 = report("r0", geo=village(1))
    asyncio.run(worker.process_consolidation_batch([Event(r0.model_dump_json().encode(), offset=1)]))
    out.sent.clear()
    gone = report("r0", geo=village(1), sub_minutes=20, action="retract")
    r1 = report("r1", geo=village(1), reporter="vol-2")
    batch = [Event(post("x:bad", 0.1).model_dump_json().encode(), topic="mentions.enriched", offset=2),
             Event(gone.model_dump_json().encode(), offset=3), Event(r1.model_dump_json().encode(), offset=4)]
    asyncio.run(worker.process_consolidation_batch(batch))
    letters = [DeadLetter.model_validate_json(v) for topic, _, v in out.sent if topic == "deadletter"]
    assert [(d.reason, d.offset) for d in letters] == [("not_applied", 2)]  # the post, not r1
    assert [sorted(e.report_id for e in s.timeline) for s in sites_sent(out)] == [["r1"]]


def test_a_remembered_bad_post_does_not_stop_the_first_report_of_a_village(
        monkeypatch: pytest.MonkeyPatch, bad_post_breaks_sites: None) -> None:
    """Posts about a place with no site yet wait in their regency's memory and join its first site; one that
    breaks the site is refused and forgotten there, and the report founds its site without it."""
    out = use_fakes(monkeypatch)
    asyncio.run(worker.process_consolidation_batch(
        [Event(post("x:bad", 0.1).model_dump_json().encode(), topic="mentions.enriched", offset=1),
         Event(post("x:1", 0.2).model_dump_json().encode(), topic="mentions.enriched", offset=2)]))
    r0 = report("r0", geo=village(1))
    asyncio.run(worker.process_consolidation_batch([Event(r0.model_dump_json().encode(), offset=3)]))
    (site,) = sites_sent(out)
    assert [e.report_id for e in site.timeline] == ["r0"] and [m.mention_id for m in site.mentions] == ["x:1"]
    (letter,) = [DeadLetter.model_validate_json(v) for topic, _, v in out.sent if topic == "deadletter"]
    assert letter.reason == "not_applied" and json.loads(letter.payload)["mention_id"] == "x:bad"
    remembered = worker.regency_mention_cache.get("72.71", Event(b"", offset=4))
    assert "x:bad" not in remembered.mentions and "x:1" in remembered.mentions
