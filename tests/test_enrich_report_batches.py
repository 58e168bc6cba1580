"""Reports of one group within a batch rebuild its sites once, with the same result as a rebuild per report (a
village many volunteers assess, or a backlog after an outage, must not cost a rebuild of all its sites per
report: that was quadratic in the village's size). A report that breaks the group is still refused alone."""

from __future__ import annotations

import asyncio

import pytest

import services.core.consolidate as consolidate
import services.enrich.app as worker
from schemas import DeadLetter, Site
from services.core.consolidate import GroupState, apply_report, apply_reports, rebuild_sites
from tests._consolidate_factory import refuse_sites_with, report, village
from tests._stage2 import Event, Writer, use_fakes


@pytest.fixture
def rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the core's site rebuilds (every apply_* goes through `_recompute`)."""
    count = [0]
    real = consolidate._recompute

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(consolidate, "_recompute", counted)
    return count


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
