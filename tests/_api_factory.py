"""Hand-built Sites for the API tests (personal data included on purpose) and an app with tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from schemas.common import Figures
from schemas.geo import GeoTag
from schemas.site import Site
from services.api.app import create_app
from services.common.config import Settings
from services.core.clustering import figures_version
from services.core.scenario import village_geotag

T0 = datetime(2018, 9, 29, 6, 0, tzinfo=UTC)  # 14.00 WITA
SECRET_NAME = "Siti Rahmawati"
SECRET_PHONE = "+6281234567890"
SECRET_REVIEWER = "coord-1"  # the coordinator token's name in tests/conftest.py


def tl_geo() -> GeoTag:
    return GeoTag(country="TL", adm1="TL06", adm1_name="Dili", adm2="TL0601", adm2_name="Vera Cruz",
                  adm3="TL060101", adm3_name="Lahane Ocidental", geotag_method="village_polygon")


def make_site(n: int, code: str = "72.71.01.1004", hazard: str = "earthquake", status: str = "unverified",
              figures: dict | None = None, reports: int = 2, lat: float = -0.89, lon: float = 119.87,
              hours: float = 0.0, geo: GeoTag | None = None, personal: bool = True) -> Site:
    geo = geo or village_geotag(code)
    figs = figures if figures is not None else {"affected": 1000 + n, "dead": 1, "displaced": 10}
    gk = f"{hazard}~{geo.partition_key}~{geo.most_specific}"
    t = T0 + timedelta(hours=hours)
    timeline = [{
        "report_id": f"r-{n}-{i}", "content_hash": f"h{n}{i}", "submitted_at": t - timedelta(minutes=10 * i),
        "reporter": {"id": f"vol-{n}-{i}", "org": "PMI Kota Palu",
                     **({"name": SECRET_NAME, "phone": SECRET_PHONE} if personal else {})},
        "lat": lat, "lon": lon, "figures": figs, "needs": ["shelter"],
        "notes": f"Hubungi {SECRET_NAME} di 0812-3456-7890" if personal else None,
    } for i in range(reports)]
    reviews = []
    if status != "unverified":
        reviews = [{"review_id": f"rev-{n}", "decision": "verified" if status == "needs_review" else status,
                    "note": f"ditelepon {SECRET_PHONE}" if personal else "ok", "reviewer": SECRET_REVIEWER,
                    "decided_at": t}]
    return Site.model_validate({
        "site_id": f"{gk}~{n:010x}", "hazard": hazard, "geo": geo.model_dump(), "lat": lat, "lon": lon,
        "figures": figs, "figures_min": figs, "figures_max": figs,
        "figures_version": figures_version(Figures(**figs)), "needs": ["shelter"], "reports": reports,
        "reporters": reports, "first_seen": t - timedelta(hours=1), "last_seen": t, "updated_at": t,
        "status": status,
        "status_reason": f"figures changed after {SECRET_REVIEWER} verified them" if status == "needs_review" else None,
        "reviews": reviews, "timeline": timeline,
        "mentions": [{"mention_id": f"m-{n}", "platform": "twitter", "text": "Gempa Palu, rumah roboh",
                      "created_at": t, "relevance": 0.9}], "mention_count": 1,
    })


def put(app, *sites: Site) -> None:  # noqa: ANN001
    for s in sites:
        app.state.model.apply(s.site_id.encode(), orjson.dumps(s.model_dump(mode="json")))


def standard_sites() -> list[Site]:
    """Palu (WITA, two verified), Jakarta (WIB), Jayapura (WIT), Dili (TL), one rejected, one needs_review."""
    return [
        make_site(1, "72.71.01.1004", status="verified", figures={"affected": 1200, "dead": 4, "injured": 21}),
        make_site(2, "72.71.03.1001", status="verified", figures={"affected": 34, "displaced": 120}, reports=3),
        make_site(3, "72.71.04.1001", status="unverified", figures={"affected": 5000, "dead": 50}),
        make_site(4, "72.71.05.1001", status="rejected", figures={"affected": 99999}),
        make_site(5, "72.71.01.1006", status="needs_review", figures={"affected": 777}),
        make_site(6, "31.71.01.1001", hazard="flood", status="verified", figures={"affected": 2500},
                  lat=-6.17, lon=106.82),
        make_site(7, "91.71.01.1001", hazard="flood", status="verified", figures={"affected": 40},
                  lat=-2.53, lon=140.71),
        make_site(8, hazard="flood", status="verified", figures={"affected": 7, "houses_damaged": 3},
                  geo=tl_geo(), lat=-8.58, lon=125.58),
    ]


def build_app(auth_file: Path, sites: list[Site] | None = None, ready: bool = True, **cfg):  # noqa: ANN001, ANN201
    app = create_app(Settings(auth_file=str(auth_file), **cfg), follow=False, shapes=_shapes())
    put(app, *(standard_sites() if sites is None else sites))
    app.state.model.ready = ready
    return app


_SHAPES = None


def _shapes():  # noqa: ANN202 - one polygon store for the whole session: loading is the slow part
    global _SHAPES
    from services.api.geo_layers import AreaShapes

    if _SHAPES is None:
        _SHAPES = AreaShapes(village_polygons=None)
    return _SHAPES


def client(app) -> TestClient:  # noqa: ANN001
    return TestClient(app)
