"""Hand-built reports and GeoTags for the consolidation tests: no geotagger, no Kafka."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from schemas.enriched import EnrichedReport
from schemas.geo import GeoTag
from schemas.report import FieldReport
from schemas.review import ReviewEvent

T0 = datetime(2018, 9, 28, 18, 0, tzinfo=UTC)
LAT0, LON0 = -0.8917, 119.8707  # Kota Palu
M_PER_DEG_LAT = 6_371_008.8 * math.pi / 180  # matches the core's haversine radius exactly along a meridian


def village(n: int = 1, district: int = 1, regency: str = "72.71") -> GeoTag:
    d = f"{regency}.{district:02d}"
    return GeoTag(country="ID", adm1=regency[:2], adm1_name="Sulawesi Tengah", adm2=regency,
                  adm2_name=f"Regency {regency}", adm3=d, adm3_name=f"District {d}",
                  adm4=f"{d}.{1000 + n}", adm4_name=f"Village {n}", geotag_method="village_polygon")


def district_only(district: int = 1, regency: str = "72.71") -> GeoTag:
    return village(1, district, regency).model_copy(update={"adm4": None, "adm4_name": None,
                                                            "geotag_method": "district_polygon"})


def report(rid: str = "r1", *, hours: float = 0.0, sub_minutes: float = 10.0, north_m: float = 0.0,
           point: bool = True, hazard: str = "earthquake", figures: dict | None = None,
           reporter: str = "vol-1", needs: list[str] | None = None, notes: str | None = None,
           geo: GeoTag | None = None,
           action: str = "upsert") -> EnrichedReport:
    """A report observed `hours` after T0, submitted `sub_minutes` later, `north_m` north of the anchor."""
    observed = T0 + timedelta(hours=hours)
    body: dict = {
        "report_id": rid,
        "submitted_at": (observed + timedelta(minutes=sub_minutes)).isoformat(),
        "observed_at": observed.isoformat(),
        "reporter": {"id": reporter, "org": "PMI Kota Palu", "name": "Budi", "phone": "+62811000"},
        "hazard": hazard,
        "figures": figures if figures is not None else {"affected": 100, "dead": 1},
        "needs": needs or [],
        "notes": notes,
    }
    if point:
        body["location"] = {"lat": LAT0 + north_m / M_PER_DEG_LAT, "lon": LON0}
    else:
        body["place_text"] = "Desa Village, Kec. District, Kota Palu"
    fr = FieldReport.model_validate(body)
    return EnrichedReport(action=action, report=fr, geo=geo or village(), content_hash=fr.content_hash())


def review(site_id: str, review_id: str = "rev1", decision: str = "verified", minutes: float = 60 * 24 * 10,
           figures_version: str | None = None, reviewer: str = "coord-a",
           note: str | None = None) -> ReviewEvent:
    return ReviewEvent(review_id=review_id, site_id=site_id, decision=decision, note=note, reviewer=reviewer,
                       decided_at=T0 + timedelta(minutes=minutes), figures_version=figures_version)


def refuse_sites_with(monkeypatch, report_ids: tuple[str, ...] = (), mention_ids: tuple[str, ...] = ()) -> None:  # noqa: ANN001
    """Make the core's site building fail for any site holding one of these reports or posts: a refusal from
    inside the core, after the message already joined its group (what its all-or-nothing undo is for)."""
    import services.core.consolidate as consolidate
    from services.core.clustering import DEFAULT_RULES

    real = consolidate.build_site

    def build(site_id, hazard, entries, reviews, rules=DEFAULT_RULES, mentions=()):  # noqa: ANN001, ANN202
        if any(e.report_id in report_ids for e in entries) or any(m.mention_id in mention_ids for m in mentions):
            raise ValueError("refused for the test")
        return real(site_id, hazard, entries, reviews, rules, mentions)

    monkeypatch.setattr(consolidate, "build_site", build)
