"""Reports of one group within a batch rebuild its sites once, with the same result as a rebuild per report (a
village many volunteers assess, or a backlog after an outage, must not cost a rebuild of all its sites per
report: that was quadratic in the village's size). A report that breaks the group is still refused alone."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import services.core.consolidate as consolidate
import services.enrich.app as worker
from schemas import DeadLetter, Site
from schemas.mention import MentionEnriched, SocialMention
from services.core.consolidate import GroupState, apply_report, apply_reports, rebuild_sites
from tests._consolidate_factory import T0, district_only, refuse_sites_with, report, village
from tests._stage2 import Event, Writer, use_fakes


def volunteers(n: int) -> list:
    """n reports of one village: several sites (some 3 km apart), edits and a retraction among them."""
    out = [report(f"r{i}", geo=village(1), north_m=(i % 3) * 1500, hours=i / 4, reporter=f"vol-{i % 7}",
                  figures={"affected": 10 * i, "dead": i % 4}) for i in range(n)]
    out.append(report("r3", geo=village(1), north_m=1500, hours=3 / 4, sub_minutes=30, figures={"affected": 999}))
    out.append(report("r5", geo=village(1), north_m=1500, hours=5 / 4, sub_minutes=40, action="retract"))
    return out


def sites(state: GroupState) -> list[dict]:
    return [s.model_dump() for s in sorted(rebuild_sites(state), key=lambda s: s.site_id)]


def test_reports_applied_together_equal_reports_applied_one_by_one(rebuilds: list[int]) -> None:
    ers = volunteers(40)
    one_by_one: GroupState | None = None
    for er in ers:
        one_by_one = apply_report(one_by_one, er).state
    per_report = rebuilds[0]
    together, outcomes, refused = apply_reports(None, ers)

    assert refused == [] and len(outcomes) == 1
    assert rebuilds[0] - per_report == 1 and per_report == len(ers)
    assert sites(together) == sites(one_by_one)
    assert together.model_dump() == one_by_one.model_dump()
    assert {s.site_id for s in outcomes[0].changed} == {s["site_id"] for s in sites(together)}
    # Applied again (a redelivered batch): nothing changes, nothing is rebuilt.
    again, outcomes, refused = apply_reports(together, ers)
    assert (outcomes, refused) == ([], []) and again.model_dump() == one_by_one.model_dump()


def test_a_report_that_breaks_the_group_is_refused_alone_and_the_rest_count(
        monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_sites_with(monkeypatch, report_ids=("bad",))
    good = [report("a", geo=village(1)), report("b", geo=village(1), north_m=3000)]
    bad = report("bad", geo=village(1), north_m=3000, reporter="vol-9")
    state, outcomes, refused = apply_reports(None, [good[0], bad, good[1]])

    assert [i for i, _ in refused] == [1] and isinstance(refused[0][1], ValueError)
    assert set(state.members) == {"a", "b"}  # the bad one undone; the others kept, as one by one
    one_by_one = apply_report(apply_report(None, good[0]).state, good[1]).state
    assert sites(state) == sites(one_by_one)
    assert outcomes  # what the two good reports changed goes out


def test_a_report_of_another_group_is_refused_alone() -> None:
    ers = [report("a", geo=village(1)), report("x", geo=village(2)), report("b", geo=village(1), north_m=3000)]
    state, outcomes, refused = apply_reports(None, ers)
    assert [i for i, _ in refused] == [1] and isinstance(refused[0][1], ValueError)
    assert set(state.members) == {"a", "b"} and outcomes


def test_a_report_the_core_cannot_even_hold_is_refused_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure before the rebuild (taking the report in) undoes the reports taken in so far, then goes one by
    one like a failed rebuild: nothing half-applied stays in the group."""
    real = consolidate._member

    def member(er, state):  # noqa: ANN001, ANN202
        if er.report.report_id == "odd":
            raise TypeError("cannot hold this one")
        return real(er, state)

    monkeypatch.setattr(consolidate, "_member", member)
    ers = [report("a", geo=village(1)), report("a", geo=village(1), sub_minutes=20, figures={"affected": 7}),
           report("odd", geo=village(1)), report("b", geo=village(1), north_m=3000)]
    state, outcomes, refused = apply_reports(None, ers)
    assert [i for i, _ in refused] == [2] and isinstance(refused[0][1], TypeError)
    assert set(state.members) == {"a", "b"} and state.members["a"].report.figures.affected == 7
    expected = apply_report(apply_report(apply_report(None, ers[0]).state, ers[1]).state, ers[3]).state
    assert sites(state) == sites(expected)
    assert outcomes and all(o.status not in ("duplicate", "stale") for o in outcomes)


def sites_sent(out: Writer) -> dict[bytes, Site | None]:
    last = {key: value for topic, key, value in out.sent if topic == "sites"}
    return {key: None if value is None else Site.model_validate_json(value) for key, value in last.items()}


def test_the_worker_rebuilds_a_busy_village_once_per_batch_with_the_same_sites(
        monkeypatch: pytest.MonkeyPatch, rebuilds: list[int]) -> None:
    ers = volunteers(30)
    out = use_fakes(monkeypatch)
    events = [Event(er.model_dump_json().encode(), offset=i) for i, er in enumerate(ers)]
    asyncio.run(worker.process_consolidation_batch(events))
    batched = sites_sent(out)
    # The first report founds the group at once (posts arriving after it must find it); the rest go together.
    assert rebuilds[0] == 2

    single = use_fakes(monkeypatch)
    for event in events:
        asyncio.run(worker.process_consolidation_batch([event]))
    assert rebuilds[0] == 2 + len(ers)
    live = {k: v.model_dump(exclude={"updated_at"}) for k, v in sites_sent(single).items() if v is not None}
    assert {k: v.model_dump(exclude={"updated_at"}) for k, v in batched.items() if v is not None} == live


def test_a_refused_report_in_a_busy_village_is_dead_lettered_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    out = use_fakes(monkeypatch)
    refuse_sites_with(monkeypatch, report_ids=("bad",))
    first = report("a", geo=village(1))
    rest = [report(f"b{i}", geo=village(1), hours=i / 10, reporter=f"vol-{i}") for i in range(5)]
    bad = report("bad", geo=village(1), hours=0.3, reporter="vol-9")
    asyncio.run(worker.process_consolidation_batch(
        [Event(er.model_dump_json().encode(), offset=i) for i, er in enumerate([first, *rest[:2], bad, *rest[2:]])]))

    letters = [DeadLetter.model_validate_json(v) for topic, _, v in out.sent if topic == "deadletter"]
    assert [(d.reason, d.offset) for d in letters] == [("not_applied", 3)]
    (site,) = [s for s in sites_sent(out).values() if s is not None]
    assert site.reports == 6  # a and b0..b4: every good report counted once
    held = GroupState.model_validate_json(worker.group_cache.table.data[site.site_id.rsplit("~", 1)[0]])
    assert "bad" not in held.members and len(held.members) == 6


def _post_event(mid: str, hours: float, offset: int) -> Event:
    m = SocialMention(id=mid, platform="x", text=f"gempa {mid}", created_at=T0 + timedelta(hours=hours))
    me = MentionEnriched(mention=m, normalised_text=m.text, hazard="earthquake", hazards=["earthquake"],
                         relevant=True, relevance_score=0.6, relevance_method="rules", geo=village(1),
                         geo_source="text", geoparse_confidence=0.8)
    return Event(me.model_dump_json().encode(), topic="mentions.enriched", offset=offset)


@pytest.mark.parametrize("one_by_one", [True, False])
def test_a_post_refused_by_one_group_is_not_copied_into_a_group_founded_later_in_the_batch(
        monkeypatch: pytest.MonkeyPatch, one_by_one: bool) -> None:
    """The regency forgets a refused post; a group it founds later in the same batch must not get it from the
    regency first (it would sit there, in no site, until a later report's site took it in and was refused)."""
    out = use_fakes(monkeypatch)
    refuse_sites_with(monkeypatch, mention_ids=("x:bad",))
    asyncio.run(worker.process_consolidation_batch([Event(report("a", geo=village(1)).model_dump_json().encode(),
                                                          offset=0)]))
    batch = [_post_event("x:bad", 0, offset=1),  # reaches the village's group, which refuses it
             Event(report("d", geo=district_only(1), hours=200).model_dump_json().encode(), offset=2)]
    for b in ([[e] for e in batch] if one_by_one else [batch]):
        asyncio.run(worker.process_consolidation_batch(b))
    later = report("e", geo=district_only(1), north_m=30)  # near the post's time: its site would take it in
    asyncio.run(worker.process_consolidation_batch([Event(later.model_dump_json().encode(), offset=3)]))

    district = GroupState.model_validate_json(worker.group_cache.table.data["earthquake~72.71~72.71.01"])
    assert sorted(district.members) == ["d", "e"] and "x:bad" not in district.mentions
    letters = [DeadLetter.model_validate_json(v) for topic, _, v in out.sent if topic == "deadletter"]
    assert [(d.reason, d.offset) for d in letters] == [("not_applied", 1)]


_version_of_report = st.tuples(
    st.sampled_from(["r0", "r1", "r2", "bad"]),  # report id; "bad" breaks any site holding it
    st.integers(0, 3),  # version: submitted 10 + 30 * v minutes after observation
    st.sampled_from([0.0, 1.0, 100.0]),  # hours
    st.sampled_from([0.0, 400.0, 3000.0]),  # metres north
    st.integers(0, 6),  # retract when 0
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(_version_of_report, max_size=4), run=st.lists(_version_of_report, min_size=1, max_size=10))
def test_apply_reports_keeps_what_one_by_one_keeps(before: list, run: list) -> None:
    """Any run (repeated ids, older versions, retractions, a breaking report) on any group: the same group as
    apply_report one by one, each refusal there undone; refused only ever the breaking report."""
    with pytest.MonkeyPatch.context() as mp:
        refuse_sites_with(mp, report_ids=("bad",))
        _check_against_one_by_one(before, run)


def _check_against_one_by_one(before: list, run: list) -> None:

    def build(m: tuple) -> object:
        rid, ver, hours, north, retract = m
        return report(rid, geo=village(1), sub_minutes=10 + 30 * ver, hours=hours, north_m=north,
                      figures={"affected": ver}, action="retract" if retract == 0 else "upsert")

    def one_by_one(state: GroupState | None, ers: list) -> GroupState | None:
        for er in ers:
            try:
                state = apply_report(state, er).state
            except ValueError:
                if state is None:  # the report that would have founded the group broke it
                    state = GroupState(group_key=consolidate.group_key(er.geo, er.report.hazard),
                                       hazard=er.report.hazard)
        return state

    start = [build(m) for m in before if m[0] != "bad"]
    ers = [build(m) for m in run]
    expected = one_by_one(one_by_one(None, start), ers)
    state, _, refused = apply_reports(one_by_one(None, start), ers)
    assert state.model_dump() == expected.model_dump()
    assert sites(state) == sites(expected)
    assert all(ers[i].report.report_id == "bad" for i, _ in refused)
