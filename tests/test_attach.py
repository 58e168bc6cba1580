"""Mentions corroborate sites: the right sites, inside their time window, never changing a figure."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.geo import GeoTag
from schemas.mention import MentionEnriched, SocialMention
from services.core.attach import RegencyMentions, area_mention, groups_for, matches_group
from services.core.clustering import ConsolidationRules
from services.core.consolidate import GroupState, apply_mention, apply_mentions, apply_report, group_key
from tests._consolidate_factory import T0, district_only, refuse_sites_with, report, village


def mention(mid: str, geo: GeoTag, hours: float = 1.0, hazards: tuple[str, ...] = ("earthquake",),
            relevant: bool = True, score: float = 0.9) -> MentionEnriched:
    m = SocialMention(id=mid, platform="x", text=f"post {mid}", created_at=T0 + timedelta(hours=hours))
    return MentionEnriched(mention=m, normalised_text=m.text, hazard=hazards[0] if hazards else None,
                           hazards=list(hazards), relevant=relevant, relevance_score=score,
                           relevance_method="rules", geo=geo, geo_source="text", geoparse_confidence=0.8)


def regency_geo(regency: str = "72.71") -> GeoTag:
    return GeoTag(country="ID", adm1=regency[:2], adm2=regency)


def test_area_and_hazard_matching() -> None:
    gk_village = group_key(village(3), "earthquake")
    gk_district = group_key(district_only(1), "earthquake")
    in_regency = area_mention(mention("m1", regency_geo()))
    assert matches_group(gk_village, in_regency) and matches_group(gk_district, in_regency)
    naming_village = area_mention(mention("m2", village(3)))
    assert matches_group(gk_village, naming_village)
    assert matches_group(gk_district, naming_village)  # the village lies in the district-only group's area
    assert not matches_group(group_key(village(4), "earthquake"), naming_village)
    assert not matches_group(group_key(village(3), "flood"), naming_village)
    other_regency = area_mention(mention("m3", regency_geo("72.10")))
    assert not matches_group(gk_village, other_regency)
    assert groups_for(naming_village, [gk_village, gk_district, group_key(village(4), "earthquake")]) == sorted(
        [gk_village, gk_district])


def test_only_relevant_located_hazard_mentions_can_attach() -> None:
    assert area_mention(mention("a", regency_geo(), relevant=False)) is None
    assert area_mention(mention("b", regency_geo(), hazards=())) is None
    assert area_mention(mention("c", GeoTag(country="ID", adm1="72"))) is None  # province only: too vague


def test_mentions_join_sites_in_their_window_and_never_change_figures() -> None:
    rules = ConsolidationRules(mention_window_h=48)
    out = apply_report(None, report("r1", hours=0), rules)
    state: GroupState = out.state
    before = out.changed[0]
    inside = area_mention(mention("in", village(), hours=30)).ref
    late = area_mention(mention("late", village(), hours=49)).ref
    res = apply_mention(state, inside, rules)
    assert len(res.changed) == 1
    site = res.changed[0]
    assert site.mention_count == 1 and site.mentions[0].mention_id == "in"
    assert site.figures == before.figures and site.reports == before.reports
    res = apply_mention(state, late, rules)
    assert res.changed == []  # outside the window: remembered, but no site changes
    assert apply_mention(state, inside, rules).status == "duplicate"
    # A later report widens the window: the late mention now corroborates the site too.
    res = apply_report(state, report("r2", hours=10, reporter="vol-2"), rules)
    assert {m.mention_id for m in res.changed[0].mentions} == {"in", "late"}


def test_sites_keep_top_n_by_relevance_but_count_all() -> None:
    rules = ConsolidationRules(site_mentions_top=2)
    state = apply_report(None, report("r1"), rules).state
    for i, score in enumerate([0.5, 0.9, 0.7]):
        ref = area_mention(mention(f"m{i}", village(), score=score)).ref
        site = apply_mention(state, ref, rules).changed[0]
    assert site.mention_count == 3
    assert [m.mention_id for m in site.mentions] == ["m1", "m2"]


def test_regency_memory_seeds_groups_reported_later() -> None:
    known = RegencyMentions()
    assert known.add(area_mention(mention("early", regency_geo(), hours=-5)))
    assert not known.add(area_mention(mention("early", regency_geo(), hours=-5)))
    gk = group_key(village(), "earthquake")
    assert [m.mention_id for m in known.for_group(gk)] == ["early"]
    assert known.for_group(group_key(village(), "flood")) == []


def test_a_new_group_gets_the_posts_its_regency_saw_in_one_rebuild() -> None:
    known = RegencyMentions()
    known.add(area_mention(mention("early", regency_geo(), hours=-5)))
    known.add(area_mention(mention("other", regency_geo("72.10"), hours=-5)))
    gk = group_key(village(), "earthquake")
    state = apply_report(None, report("r1")).state
    outcomes, refused = apply_mentions(state, known.for_group(gk))
    assert refused == [] and len(outcomes) == 1
    assert [m.mention_id for m in outcomes[0].changed[0].mentions] == ["early"]
    assert known.forget("early") and not known.forget("early") and known.for_group(gk) == []


def test_posts_applied_together_equal_posts_applied_one_by_one_and_a_failing_one_is_refused_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:

    rules = ConsolidationRules(group_mentions_cap=3)
    refs = [area_mention(mention(f"m{i}", village(), hours=i / 4, score=0.5 + i / 20)).ref for i in range(6)]
    one_by_one = apply_report(None, report("r1")).state
    for ref in refs:
        apply_mention(one_by_one, ref, rules)
    together = apply_report(None, report("r1")).state
    assert len(apply_mentions(together, refs + refs[:2], rules)[0]) == 1  # one rebuild, redeliveries included
    assert together.model_dump_json() == one_by_one.model_dump_json()

    refuse_sites_with(monkeypatch, mention_ids=("m4",))
    state = apply_report(None, report("r1")).state
    outcomes, refused = apply_mentions(state, refs, rules)
    assert [i for i, _ in refused] == [4]
    assert sorted(state.mentions) == ["m2", "m3", "m5"]  # the cap of 3 over the five accepted, as one by one
