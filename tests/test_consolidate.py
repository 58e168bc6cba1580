"""Consolidation rules of issue 4: dedup, edits, 1 km / 72 h sites, retractions, reviews, order invariance."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.enriched import EnrichedReport
from schemas.site import Site
from services.core.aggregate import aggregate
from services.core.consolidate import (
    ConsolidationRules,
    Consolidator,
    GroupState,
    apply_report,
    apply_review,
    group_key,
    rebuild_sites,
    retraction,
    site_id_to_group_key,
    site_partition_key,
)
from tests._consolidate_factory import district_only, report, review, village


def only_site(c: Consolidator) -> Site:
    sites = c.sites()
    assert len(sites) == 1, [s.site_id for s in sites]
    return sites[0]


def run(messages: list[EnrichedReport], rules: ConsolidationRules | None = None) -> Consolidator:
    c = Consolidator(rules)
    for m in messages:
        c.add(m)
    return c


def dump(c: Consolidator) -> list[dict]:
    return [s.model_dump(mode="json") for s in c.sites()]


# --- keys -------------------------------------------------------------------------------------------------

def test_group_key_is_hazard_regency_and_most_specific_code():
    assert group_key(village(3), "gempa") == "earthquake~72.71~72.71.01.1003"
    assert group_key(district_only(2), "earthquake") == "earthquake~72.71~72.71.02"


def test_site_id_carries_its_group_and_partition():
    er = report(geo=village(7, regency="72.10"))
    site = only_site(run([er]))
    assert site_id_to_group_key(site.site_id) == group_key(er.geo, er.report.hazard)
    assert site_partition_key(site.site_id) == er.geo.partition_key == "72.10"
    with pytest.raises(ValueError):
        site_id_to_group_key("no-separator-here")


def test_timor_leste_codes_route_too():
    from schemas.geo import GeoTag

    geo = GeoTag(country="TL", adm1="TL01", adm2="TL0101", adm3="TL010101", geotag_method="village_polygon")
    site = only_site(run([report(geo=geo)]))
    assert site_partition_key(site.site_id) == "TL0101"


# --- rule 1: resubmits ------------------------------------------------------------------------------------

def test_resubmit_has_no_effect_and_is_counted_once():
    c = Consolidator()
    first = c.add(report("r1"))
    again = c.add(report("r1"))
    assert first.status == "new" and len(first.changed) == 1
    assert again.status == "duplicate" and again.changed == [] and again.removed == []
    assert c.counts["duplicate"] == 1 and c.counts["new"] == 1
    assert only_site(c).reports == 1


# --- rule 2: edits ----------------------------------------------------------------------------------------

def test_edit_later_submitted_at_wins_in_either_order():
    old = report("r1", sub_minutes=10, figures={"affected": 100})
    new = report("r1", sub_minutes=50, figures={"affected": 250})
    c1, c2 = Consolidator(), Consolidator()
    assert [c1.add(old).status, c1.add(new).status] == ["new", "edit"]
    assert [c2.add(new).status, c2.add(old).status] == ["new", "stale"]
    assert only_site(c1).figures.affected == only_site(c2).figures.affected == 250
    assert dump(c1) == dump(c2)


def test_edit_tie_on_submitted_at_breaks_by_content_hash():
    a = report("r1", figures={"affected": 1})
    b = report("r1", figures={"affected": 2})
    assert a.report.submitted_at == b.report.submitted_at
    winner = max((a, b), key=lambda e: e.content_hash)
    for order in ([a, b], [b, a]):
        assert only_site(run(order)).figures == winner.report.figures


def test_edit_moving_a_report_to_another_village_leaves_the_old_one():
    v1 = report("r1", sub_minutes=10, geo=village(1))
    v2 = report("r1", sub_minutes=30, geo=village(2))
    for order in ([v1, v2], [v2, v1]):
        site = only_site(run(order))
        assert site.geo.adm4 == village(2).adm4


def test_a_move_reports_both_groups_in_one_outcome():
    c = Consolidator()
    old_id = c.add(report("r1", sub_minutes=10, geo=village(1))).changed[0].site_id
    out = c.add(report("r1", sub_minutes=30, geo=village(2)))
    assert out.status == "edit" and out.removed == [old_id]
    assert [s.geo.adm4 for s in out.changed] == [village(2).adm4]


@pytest.mark.parametrize("new_geo,new_hazard", [(village(9, regency="72.10"), "earthquake"),
                                                 (village(2), "earthquake"), (village(1), "landslide")])
def test_retraction_finds_the_old_group_per_group_state(new_geo, new_hazard):
    """The faust path: one GroupState per group, no report index; enrich sends `retraction(...)`."""
    v1 = report("r1", sub_minutes=10, geo=village(1), hazard="earthquake")
    v2 = report("r1", sub_minutes=30, geo=new_geo, hazard=new_hazard)
    messages = [v1, v2, retraction(v2, v1.geo, v1.report.hazard)]
    for order in (messages, messages[::-1], [messages[1], messages[2], messages[0]]):
        groups: dict[str, GroupState] = {}
        topic: dict[str, Site] = {}
        for m in order:
            gk = group_key(m.geo, m.report.hazard)
            out = apply_report(groups.get(gk), m)
            groups[gk] = out.state
            topic.update({s.site_id: s for s in out.changed})
            for sid in out.removed:
                topic.pop(sid)
        assert [(s.geo.adm4, s.hazard) for s in topic.values()] == [(new_geo.adm4, new_hazard)]


def test_edit_changing_hazard_moves_the_report_between_sites():
    v1 = report("r1", sub_minutes=10, hazard="earthquake")
    v2 = report("r1", sub_minutes=30, hazard="landslide")
    for order in ([v1, v2], [v2, v1]):
        assert only_site(run(order)).hazard == "landslide"


# --- rule 3: what a site is -------------------------------------------------------------------------------

@pytest.mark.parametrize(("north_m", "sites"), [(999.0, 1), (999.99, 1), (1000.01, 2), (1001.0, 2)])
def test_one_km_from_the_first_report(north_m, sites):
    c = run([report("a"), report("b", hours=1, north_m=north_m)])
    assert len(c.sites()) == sites


def test_distance_is_from_the_first_report_not_the_latest():
    c = run([report("a"), report("b", hours=1, north_m=900), report("c", hours=2, north_m=1800)])
    assert sorted(s.reports for s in c.sites()) == [1, 2]


@pytest.mark.parametrize(("gap_h", "sites"), [(71.9, 1), (72.0, 1), (72.01, 2)])
def test_72_hours_from_the_latest_report(gap_h, sites):
    assert len(run([report("a"), report("b", hours=gap_h)]).sites()) == sites


def test_window_chains_from_the_latest_report():
    c = run([report("a"), report("b", hours=60), report("c", hours=120)])
    assert only_site(c).reports == 3


def test_thresholds_are_configurable():
    rules = ConsolidationRules(site_radius_m=200, site_window_h=6)
    assert len(run([report("a"), report("b", hours=1, north_m=300)], rules).sites()) == 2
    assert len(run([report("a"), report("b", hours=7)], rules).sites()) == 2


def test_different_hazards_are_different_sites():
    c = run([report("a", hazard="earthquake"), report("b", hazard="tsunami")])
    assert sorted(s.hazard for s in c.sites()) == ["earthquake", "tsunami"]


def test_different_villages_are_different_sites_even_when_close():
    c = run([report("a", geo=village(1)), report("b", north_m=10, geo=village(2))])
    assert len(c.sites()) == 2


def test_place_name_only_report_joins_its_village_site():
    c = run([report("a"), report("b", hours=5, point=False)])
    site = only_site(c)
    assert site.reports == 2 and site.lat is not None


def test_site_anchor_is_first_report_with_a_point():
    c = run([report("a", point=False), report("b", hours=1, north_m=500), report("c", hours=2, north_m=1400)])
    # b anchors the site; c is 900 m from b, so it joins although it is 1.4 km from nothing measurable.
    assert only_site(c).reports == 3


def test_district_level_reports_form_their_own_group():
    c = run([report("a"), report("b", geo=district_only())])
    assert len(c.sites()) == 2


# --- rule 4: site figures ---------------------------------------------------------------------------------

def test_site_figures_from_most_recent_report_with_ranges_and_counts():
    c = run([
        report("a", hours=0, figures={"affected": 100, "dead": 2}, reporter="v1", needs=["water"]),
        report("b", hours=5, figures={"affected": 300}, reporter="v2", needs=["shelter", "water"]),
        report("c", hours=3, figures={"affected": 200, "dead": 5}, reporter="v1", needs=["food"]),
    ])
    s = only_site(c)
    assert s.figures.affected == 300 and s.figures.dead is None  # latest report left dead blank
    assert (s.figures_min.affected, s.figures_max.affected) == (100, 300)
    assert (s.figures_min.dead, s.figures_max.dead) == (2, 5)
    assert (s.reports, s.reporters) == (3, 2)
    assert s.first_seen == report("a").report.observed_at
    assert s.last_seen == report("b", hours=5).report.observed_at
    assert s.needs == ["food", "water", "shelter"]  # union, in Need order
    assert [r.report_id for r in s.timeline] == ["a", "c", "b"]
    assert all(r.reporter.name is None and r.reporter.phone is None for r in s.timeline)


def test_latest_per_figure_rule_keeps_known_values():
    rules = ConsolidationRules(figures_from="latest_per_figure")
    msgs = [report("a", figures={"affected": 100, "dead": 2}),
            report("b", hours=5, figures={"affected": 300})]
    c = run(msgs, rules)
    assert only_site(c).figures.model_dump(exclude_none=True) == {"affected": 300, "dead": 2}


def test_ties_on_event_time_break_by_report_id():
    c = run([report("b", figures={"affected": 2}), report("a", figures={"affected": 1})])
    assert only_site(c).figures.affected == 2


# --- retractions ------------------------------------------------------------------------------------------

def test_retract_removes_the_report_and_tombstones_the_site():
    c = Consolidator()
    site_id = c.add(report("r1")).changed[0].site_id
    out = c.add(report("r1", action="retract"))
    assert out.status == "retracted" and out.removed == [site_id] and c.sites() == []


def test_older_version_after_retract_stays_out():
    older = report("r1", sub_minutes=5)
    retract = report("r1", sub_minutes=30, action="retract")
    for order in ([older, retract], [retract, older]):
        assert run(order).sites() == []
    newer = report("r1", sub_minutes=60)
    assert only_site(run([retract, newer])).reports == 1


def test_retract_of_one_report_keeps_the_rest_of_the_site():
    c = run([report("a"), report("b", hours=1), report("b", hours=1, action="retract")])
    assert only_site(c).reports == 1


# --- reviews ----------------------------------------------------------------------------------------------

def test_review_is_idempotent_and_every_decision_is_kept():
    c = Consolidator()
    sid = c.add(report("a")).changed[0].site_id
    first = c.add_review(review(sid, "rev1", "needs_info", minutes=60, note="cek lagi"))
    again = c.add_review(review(sid, "rev1", "needs_info", minutes=60, note="cek lagi"))
    assert first.status == "new" and again.status == "duplicate" and again.changed == []
    c.add_review(review(sid, "rev2", "verified", minutes=120))
    s = only_site(c)
    assert [r.review_id for r in s.reviews] == ["rev1", "rev2"] and s.status == "verified"


def test_latest_decision_wins_whatever_the_order_of_application():
    c1, c2 = run([report("a")]), run([report("a")])
    sid = c1.sites()[0].site_id
    early = review(sid, "x", "verified", minutes=60)
    late = review(sid, "y", "rejected", minutes=90, note="hoax")
    c1.add_review(early)
    c1.add_review(late)
    c2.add_review(late)
    c2.add_review(early)
    assert dump(c1) == dump(c2)
    assert only_site(c1).status == "rejected" and only_site(c1).status_reason == "hoax"


def test_verified_site_goes_to_needs_review_when_figures_change():
    c = run([report("a", figures={"affected": 100})])
    s = only_site(c)
    c.add_review(review(s.site_id, figures_version=s.figures_version))
    assert only_site(c).status == "verified"
    c.add(report("b", hours=2, figures={"affected": 100}))  # same figures: verification still holds
    assert only_site(c).status == "verified"
    out = c.add(report("c", hours=3, figures={"affected": 900}))
    s2 = only_site(c)
    assert s2.status == "needs_review" and s.figures_version in s2.status_reason
    assert s2.figures_version in s2.status_reason and out.changed[0].status == "needs_review"
    c.add_review(review(s.site_id, "rev2", minutes=60 * 24 * 11, figures_version=s2.figures_version))
    assert only_site(c).status == "verified"


def test_review_without_version_is_stamped_with_the_current_figures():
    c = run([report("a", figures={"affected": 100})])
    c.add_review(review(c.sites()[0].site_id))
    c.add(report("b", hours=1, figures={"affected": 50}))
    assert only_site(c).status == "needs_review"


def test_review_survives_reclustering_while_the_site_id_survives():
    c = run([report("a")])
    sid = c.sites()[0].site_id
    c.add_review(review(sid, note="ok"))
    c.add(report("b", hours=1, north_m=5000))  # another site in the same group
    assert {s.site_id: s.status for s in c.sites()}[sid] == "verified"
    # An earlier report becomes the site's first: the id changes and the old one is tombstoned ...
    out = c.add(report("0", hours=-1))
    assert sid in out.removed and all(s.site_id != sid for s in c.sites())
    # ... and when that report goes away again the old id, and its review, come back.
    c.add(report("0", hours=-1, action="retract"))
    assert {s.site_id: s.status for s in c.sites()}[sid] == "verified"


def test_review_for_a_site_not_seen_yet_applies_when_it_appears():
    probe = run([report("a")])
    sid = probe.sites()[0].site_id
    c = Consolidator()
    c.add_review(review(sid, decision="rejected"))
    c.add(report("a"))
    assert only_site(c).status == "rejected"


# --- state as a faust table would keep it -----------------------------------------------------------------

def test_group_state_round_trips_through_json_mid_stream():
    msgs = [report("a"), report("b", hours=2, north_m=300),
            report("a", sub_minutes=40, figures={"affected": 7})]
    state = None
    emitted: dict[str, Site] = {}
    for m in msgs:
        if state is not None:
            state = GroupState.model_validate(state.model_dump(mode="json"))
        out = apply_report(state, m)
        state = out.state
        emitted.update({s.site_id: s for s in out.changed})
    sid = next(iter(emitted))
    state = GroupState.model_validate(state.model_dump(mode="json"))
    out = apply_review(state, review(sid))
    emitted.update({s.site_id: s for s in out.changed})
    rebuilt = rebuild_sites(out.state)
    assert [s.model_dump() for s in rebuilt] == [emitted[s.site_id].model_dump() for s in rebuilt]


def test_apply_report_refuses_a_foreign_group():
    state = apply_report(None, report("a")).state
    with pytest.raises(ValueError):
        apply_report(state, report("b", geo=village(2)))


# --- rule 6: order independence, as a property ------------------------------------------------------------

_message = st.tuples(
    st.sampled_from(["r1", "r2", "r3", "r4", "r5", "r6"]),
    st.integers(0, 3),  # version: later versions have later submitted_at
    st.sampled_from([0.0, 30.0, 70.0, 73.0, 150.0]),  # observed hours
    st.sampled_from([0.0, 400.0, 990.0, 1010.0, 2500.0]),  # metres north
    st.sampled_from(["earthquake", "landslide"]),
    st.integers(1, 2),  # village
    st.integers(0, 500),  # affected
    st.booleans(),  # point
    st.integers(0, 9),  # retract when 0
)


def _build(m) -> EnrichedReport:
    rid, ver, hours, north, hazard, vil, affected, point, retract = m
    return report(rid, hours=hours, sub_minutes=10 + ver * 30, north_m=north, point=point, hazard=hazard,
                  geo=village(vil), figures={"affected": affected}, reporter=f"v{affected % 3}",
                  action="retract" if retract == 0 else "upsert")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_permutation_and_duplication_gives_identical_sites_and_totals(data):
    messages = [_build(m) for m in data.draw(st.lists(_message, min_size=1, max_size=14))]
    # Versions of one report may tie on submitted_at, hop between villages and hazards, or retract:
    # the latest version by (submitted_at, content_hash) must win however they arrive.
    unique = list({(m.report.report_id, m.content_hash, m.action): m for m in messages}.values())
    baseline = run(unique)
    # Reviews of the final sites, some of the figures the site ends with and some of older ones.
    reviews = []
    for i, s in enumerate(baseline.sites()[:3]):
        version = s.figures_version if data.draw(st.booleans()) else "seen-before"
        decision = data.draw(st.sampled_from(["verified", "rejected", "needs_info"]))
        reviews.append(review(s.site_id, f"rev{i}", decision, minutes=data.draw(st.integers(0, 5)),
                              figures_version=version))
    for rev in reviews:
        baseline.add_review(rev)
    shuffled = data.draw(st.permutations(unique + reviews))
    dupes = data.draw(st.lists(st.sampled_from(unique + reviews), max_size=6))
    stream = list(shuffled)
    for d in dupes:
        stream.insert(data.draw(st.integers(0, len(stream))), d)
    other = Consolidator()
    topic: dict[str, Site] = {}  # what a compacted `sites` topic holds, from the outcomes alone
    for m in stream:
        out = other.add(m) if isinstance(m, EnrichedReport) else other.add_review(m)
        topic.update({s.site_id: s for s in out.changed})
        for sid in out.removed:
            topic.pop(sid, None)
    assert [topic[k].model_dump() for k in sorted(topic)] == [s.model_dump() for s in other.sites()]
    assert dump(other) == dump(baseline)
    for level in (1, 2, 3, 4):
        assert aggregate(other.sites(), level) == aggregate(baseline.sites(), level)
    # The view a compacted `sites` topic holds equals a from-scratch rebuild of every group.
    rebuilt = sorted((s for g in other.groups.values() for s in rebuild_sites(g)), key=lambda s: s.site_id)
    assert [s.model_dump() for s in rebuilt] == [s.model_dump() for s in other.sites()]
