"""Area totals: sums at every level, blanks, unlocated sites, filters, ranges, as_of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas.api import AreaSummary, SituationResponse
from schemas.common import Figures
from schemas.geo import GeoTag
from schemas.report import Reporter
from schemas.site import Site, SiteReport
from services.core.aggregate import UNLOCATED, aggregate, aggregate_dicts, site_row, situation
from tests._consolidate_factory import T0, district_only, village


def site(sid: str, geo: GeoTag, figures: dict, *, hazard: str = "earthquake", start_h: float = 0,
         end_h: float = 1, status: str = "unverified", reporters: tuple[str, ...] = ("v1",),
         lo: dict | None = None, hi: dict | None = None, mentions: int = 0) -> Site:
    first, last = T0 + timedelta(hours=start_h), T0 + timedelta(hours=end_h)
    timeline = [SiteReport(report_id=f"{sid}-{i}", content_hash="h", submitted_at=last,
                           reporter=Reporter(id=r), figures=Figures(**figures))
                for i, r in enumerate(reporters)]
    return Site(site_id=sid, hazard=hazard, geo=geo, figures=Figures(**figures),
                figures_min=Figures(**(lo or figures)), figures_max=Figures(**(hi or figures)),
                reports=len(reporters), reporters=len(set(reporters)), first_seen=first, last_seen=last,
                updated_at=last, status=status, timeline=timeline, mention_count=mentions)


def by_code(areas) -> dict:
    return {a.code: a for a in areas}


def test_sums_at_every_level_and_blank_only_when_no_site_has_the_figure():
    sites = [
        site("a", village(1, 1), {"affected": 10, "dead": 1}, reporters=("v1", "v2")),
        site("b", village(2, 1), {"affected": 5}, reporters=("v2",)),
        site("c", village(3, 2), {"displaced": 7}, reporters=("v3",), mentions=2),
    ]
    lvl2 = by_code(aggregate(sites, 2))["72.71"]
    assert lvl2.figures.model_dump() == {"affected": 15, "dead": 1, "injured": None, "missing": None,
                                         "displaced": 7, "houses_damaged": None}
    assert (lvl2.sites, lvl2.reports, lvl2.reporters, lvl2.mentions) == (3, 4, 3, 2)
    assert lvl2.name == "Regency 72.71" and lvl2.level == 2
    lvl3 = by_code(aggregate(sites, 3))
    assert lvl3["72.71.01"].figures.affected == 15 and lvl3["72.71.01"].figures.displaced is None
    assert lvl3["72.71.02"].figures.affected is None and lvl3["72.71.02"].figures.displaced == 7
    assert [a.code for a in aggregate(sites, 4)] == ["72.71.01.1001", "72.71.01.1002", "72.71.02.1003"]
    for level in (1, 2, 3, 4):
        assert sum(a.figures.affected or 0 for a in aggregate(sites, level)) == 15


def test_sites_without_a_code_at_the_level_go_to_unlocated_last():
    sites = [site("a", village(1), {"affected": 1}), site("b", district_only(), {"affected": 2}),
             site("c", GeoTag(), {"affected": 4})]
    lvl4 = aggregate(sites, 4)
    assert [a.code for a in lvl4] == ["72.71.01.1001", UNLOCATED]
    assert lvl4[-1].figures.affected == 6 and lvl4[-1].name is None
    assert [(a.code, a.figures.affected) for a in aggregate(sites, 3)] == [("72.71.01", 3), (UNLOCATED, 4)]


def test_ranges_are_sums_of_site_minima_and_maxima():
    sites = [site("a", village(1), {"affected": 10}, lo={"affected": 4}, hi={"affected": 12}),
             site("b", village(2), {"affected": 5}, lo={"affected": 5}, hi={"affected": 9})]
    a = aggregate(sites, 2)[0]
    assert (a.figures_min.affected, a.figures.affected, a.figures_max.affected) == (9, 15, 21)


def test_hazard_filter_accepts_local_words():
    sites = [site("a", village(1), {"affected": 1}), site("b", village(1), {"affected": 2}, hazard="flood")]
    assert aggregate(sites, 2, hazard="banjir")[0].figures.affected == 2
    assert aggregate(sites, 2, hazard=["flood", "gempa"])[0].figures.affected == 3


def test_time_window_selects_sites_active_in_it():
    sites = [site("early", village(1), {"affected": 1}, start_h=0, end_h=10),
             site("long", village(1), {"affected": 2}, start_h=0, end_h=100),
             site("late", village(1), {"affected": 4}, start_h=50, end_h=60)]

    def total(**kw):
        areas = aggregate(sites, 2, **kw)
        return areas[0].figures.affected if areas else 0

    assert total(since=T0 + timedelta(hours=20)) == 6  # long is still active, early is over
    assert total(until=T0 + timedelta(hours=20)) == 3  # late had not started
    assert total(since=T0 + timedelta(hours=20), until=T0 + timedelta(hours=40)) == 2
    assert total(since=T0 + timedelta(hours=10)) == 7  # boundaries are inclusive


def test_status_filter():
    sites = [site("u", village(1), {"affected": 1}),
             site("v", village(1), {"affected": 2}, status="verified"),
             site("x", village(1), {"affected": 4}, status="rejected"),
             site("n", village(1), {"affected": 8}, status="needs_review")]
    assert aggregate(sites, 2)[0].figures.affected == 11  # all but rejected
    assert aggregate(sites, 2, status="verified")[0].figures.affected == 2
    assert aggregate(sites, 2, status="any")[0].figures.affected == 15
    assert aggregate(sites, 2, status="needs_review")[0].figures.affected == 8


def test_area_prefix_is_an_admin_code_of_any_level():
    sites = [site("a", village(1, 1), {"affected": 1}), site("b", village(2, 2), {"affected": 2}),
             site("c", village(1, 1, regency="72.10"), {"affected": 4})]
    assert [a.code for a in aggregate(sites, 4, area_prefix="72.71.01")] == ["72.71.01.1001"]
    assert sum(a.figures.affected for a in aggregate(sites, 3, area_prefix="72.71")) == 3
    assert aggregate(sites, 1, area_prefix="72")[0].figures.affected == 7
    assert aggregate(sites, 1, area_prefix="72.7") == []  # not a code: no accidental prefix match


def test_rows_and_sites_give_the_same_answer():
    sites = [site("a", village(1), {"affected": 1}), site("b", village(2), {"dead": 2})]
    assert aggregate([site_row(s) for s in sites], 3) == aggregate(sites, 3)


def test_bad_level_is_refused():
    with pytest.raises(ValueError):
        aggregate([], 5)


def test_situation_as_of_is_the_newest_update_or_now():
    sites = [site("a", village(1), {"affected": 1}, end_h=3), site("b", village(2), {"affected": 1}, end_h=9)]
    resp = situation(sites, 2)
    assert resp.as_of == T0 + timedelta(hours=9) and resp.level == 2 and len(resp.areas) == 1
    assert resp.status == "all" and situation(sites, 2, status="verified").status == "verified"
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert situation([], 2, now=now).as_of == now
    assert situation([], 2).as_of.tzinfo is not None
    # the answer serialises the way the API will send it
    assert resp.model_dump(mode="json")["areas"][0]["figures"]["affected"] == 2


def test_area_models_are_ordinary_models_and_totals_may_pass_the_per_report_bound():
    sites = [site(f"s{i}", village(i), {"affected": 9_000_000, "dead": 1}) for i in range(3)]
    areas = aggregate(sites, 2)
    assert areas[0].figures.affected == 27_000_000
    resp = situation(sites, 4)
    for a in resp.areas:
        assert AreaSummary.model_validate(a.model_dump()) == a
    again = SituationResponse.model_validate_json(resp.model_dump_json())
    assert again.model_dump() == resp.model_dump()
    assert orjson.loads(orjson.dumps(aggregate_dicts([site_row(s) for s in sites], 1)))[0]["sites"] == 3
