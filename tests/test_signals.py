"""Signals (posts but no field report) and distinct mention counts per area, pure and through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.geo import GeoTag
from schemas.mention import MentionEnriched, SocialMention
from services.core.signals import counts_by_area, mention_fact, signals
from tests._api_factory import build_app, client, make_site, put
from tests.conftest import bearer

T0 = datetime(2017, 2, 21, 9, 0, tzinfo=UTC)


def enriched(mid: str, geo: GeoTag, hours: float = 0.0, relevant: bool = True, hazard: str = "flood",
             score: float = 0.8) -> MentionEnriched:
    m = SocialMention(id=mid, platform="x", text=f"banjir {mid}", created_at=T0 + timedelta(hours=hours))
    return MentionEnriched(mention=m, normalised_text=m.text, hazard=hazard, hazards=[hazard], relevant=relevant,
                           relevance_score=score, relevance_method="rules", geo=geo, geo_source="text",
                           geoparse_confidence=0.7)


CAWANG = GeoTag(country="ID", adm1="31", adm2="31.75", adm2_name="Kota Adm. Jakarta Timur", adm3="31.75.04",
                adm3_name="Kramat Jati", adm4="31.75.04.1007", adm4_name="Cawang")
BUKIT_DURI = GeoTag(country="ID", adm1="31", adm2="31.74", adm3="31.74.01", adm3_name="Tebet", adm4="31.74.01.1005")
JAKTIM = GeoTag(country="ID", adm1="31", adm2="31.75")


def facts(*items: MentionEnriched) -> list:
    return [f for f in (mention_fact(m) for m in items) if f is not None]


def test_irrelevant_or_placeless_posts_do_not_count() -> None:
    assert mention_fact(enriched("a", CAWANG, relevant=False)) is None
    assert mention_fact(enriched("b", GeoTag())) is None


def test_distinct_counts_per_level_and_filters() -> None:
    fs = facts(enriched("1", CAWANG), enriched("2", CAWANG, hours=5), enriched("3", JAKTIM),
               enriched("4", BUKIT_DURI, hazard="fire"))
    assert counts_by_area(fs, 2) == {"31.75": 3, "31.74": 1}
    assert counts_by_area(fs, 3) == {"31.75.04": 2, "31.74.01": 1}  # the regency-only post names no district
    assert counts_by_area(fs, 2, hazard="flood") == {"31.75": 3}
    assert counts_by_area(fs, 3, since=(T0 + timedelta(hours=1)).timestamp()) == {"31.75.04": 1}


def test_signals_rank_unreported_areas_within_the_window() -> None:
    fs = facts(*[enriched(f"c{i}", CAWANG, hours=i) for i in range(4)],
               *[enriched(f"b{i}", BUKIT_DURI, hours=i) for i in range(2)],
               enriched("old", CAWANG, hours=-30))
    now = (T0 + timedelta(hours=3)).timestamp()
    found = signals(fs, reported=set(), level=4, min_mentions=2, hours=24, now=now)
    assert [(s["code"], s["mentions"]) for s in found] == [("31.75.04.1007", 4), ("31.74.01.1005", 2)]
    assert found[0]["name"] == "Cawang" and len(found[0]["top"]) == 4
    # An area with a field report is no signal; fewer than K posts is none either.
    assert [s["code"] for s in signals(fs, {"31.75.04.1007"}, 4, 2, 24, now)] == ["31.74.01.1005"]
    assert signals(fs, set(), 4, 5, 24, now) == []


def test_signals_endpoint_and_distinct_counts_in_situation(auth_file) -> None:  # noqa: ANN001
    app = build_app(auth_file)
    mentions = app.state.mentions
    for m in [enriched(f"c{i}", CAWANG, hours=i) for i in range(3)] + [enriched("p", JAKTIM)]:
        mentions.apply(m.mention.id.encode(), m.model_dump_json().encode())
    mentions.mark_ready()
    with client(app) as c:
        r = c.get("/v1/signals", params={"level": 4, "min_mentions": 3}, headers=bearer("manager"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert [s["code"] for s in body["signals"]] == ["31.75.04.1007"]
        assert body["as_of"].startswith("2017-02-21T11:00:00")
        assert c.get("/v1/signals", headers=bearer("comms")).status_code == 403
        assert c.get("/v1/signals").status_code == 401
        # A site at Cawang makes it a reported area: no signal any more.
        put(app, make_site(900, hazard="flood", geo=CAWANG))
        assert c.get("/v1/signals", params={"level": 4, "min_mentions": 3}, headers=bearer("manager")).json()[
            "signals"] == []
        body = c.get("/v1/situation", params={"level": 2, "hazard": "flood"}, headers=bearer("manager")).json()
        jaktim = next(a for a in body["areas"] if a["code"] == "31.75")
        assert jaktim["mentions"] == 4  # distinct posts, whatever the number of sites they corroborate
