"""The running area totals answer exactly what the aggregation core's full scan answers."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from schemas.site import Site
from services.core.aggregate import aggregate_dicts, select, site_row
from services.core.area_index import AreaIndex, code_level
from services.core.synthetic import synthetic_site_dicts


@pytest.fixture(scope="module")
def sites() -> list[Site]:
    out = [Site.model_validate(d) for d in synthetic_site_dicts(1500, seed=11, prefixes=("72.71", "72.10", "TL06"))]
    # a few without codes below the province / at all
    g = out[0].geo.model_copy(update={"adm3": None, "adm3_name": None, "adm4": None, "adm4_name": None})
    out.append(out[0].model_copy(update={"site_id": out[0].site_id + "x", "geo": g}))
    blank = out[1].geo.model_copy(update={f"adm{i}{s}": None for i in range(1, 5) for s in ("", "_name")})
    out.append(out[1].model_copy(update={"site_id": out[1].site_id + "y", "geo": blank}))
    return out


T1 = datetime(2018, 10, 5, tzinfo=UTC)
T2 = datetime(2018, 10, 12, tzinfo=UTC)
QUERIES = [(lv, hz, st, area, since, until) for lv in (1, 2, 3, 4)
           for hz in (None, "flood", ("earthquake", "landslide"))
           for st in ("all", "verified", "any", "needs_review")
           for area in (None, "72", "72.71", "72.71.01", "TL06", "TL0601", "99.99")
           for since, until in ((None, None), (T1, None), (None, T2), (T1, T2))]


def test_code_levels() -> None:
    assert [code_level(c) for c in ("72", "72.71", "72.71.01", "72.71.01.1004")] == [1, 2, 3, 4]
    assert [code_level(c) for c in ("TL06", "TL0601", "TL060101")] == [1, 2, 3]


def test_index_equals_the_scan_after_random_updates_and_removals(sites: list[Site]) -> None:
    rng = random.Random(5)
    live = {s.site_id: site_row(s) for s in sites[:1000]}
    index = AreaIndex(live.values())
    # updates (status and figures change), removals, additions
    statuses = ("unverified", "verified", "needs_review", "rejected", "needs_info")
    for s in rng.sample(sites[:1000], 300):
        new = s.model_copy(update={"status": rng.choice(statuses),
                                   "figures": s.figures.model_copy(update={"affected": rng.randrange(0, 50)})})
        index.replace(live[s.site_id], site_row(new))
        live[s.site_id] = site_row(new)
    for s in rng.sample(sites[:1000], 200):
        if s.site_id in live:
            index.replace(live.pop(s.site_id), None)
    for s in sites[1000:]:
        index.replace(None, site_row(s))
        live[s.site_id] = site_row(s)
    rows = list(live.values())
    checked = 0
    for lv, hz, st, area, since, until in QUERIES:
        want = aggregate_dicts(select(rows, hz, since, until, st, area), lv)
        assert index.areas(lv, hz, st, area, since, until) == want, (lv, hz, st, area, since, until)
        checked += bool(want)
    assert checked > len(QUERIES) // 2  # most queries have answers: the comparison is not vacuous


def test_empty_and_bad_level() -> None:
    assert AreaIndex().areas(2) == []
    with pytest.raises(ValueError):
        AreaIndex().areas(5)
