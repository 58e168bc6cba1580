"""/v1/situation, /v1/situation.geojson, caching, freshness and /readyz."""

from __future__ import annotations

import gzip
import math
import time

import orjson
import pytest
import shapely.geometry

from services.api.app import create_app
from services.api.geo_layers import AreaShapes
from services.common.config import Settings
from services.core.admin_data import VILLAGE_POLYGONS, shared_data_dir, village_polygons_path
from tests._api_factory import build_app, client, make_site, put
from tests.conftest import bearer

MGR = bearer("manager")


@pytest.fixture()
def app(auth_file):  # noqa: ANN001, ANN201
    return build_app(auth_file)


def _area(body: dict, code: str) -> dict:
    return next(a for a in body["areas"] if a["code"] == code)


def test_situation_totals_ranges_and_counts(app) -> None:  # noqa: ANN001
    with client(app) as c:
        body = c.get("/v1/situation", params={"level": 2, "hazard": "earthquake"}, headers=MGR).json()
        palu = _area(body, "72.71")
        # rejected (99,999) left out; unverified and needs_review in: 1200 + 34 + 5000 + 777
        assert palu["figures"]["affected"] == 7011
        assert palu["sites"] == 4 and palu["reports"] == 2 + 3 + 2 + 2 and palu["reporters"] == 9
        assert palu["mentions"] == 0 and palu["name"] == "Kota Palu"  # no posts in the mention read model
        assert palu["figures_min"]["affected"] <= palu["figures"]["affected"] <= palu["figures_max"]["affected"]
        assert palu["last_update"].startswith("2018-09-29T06:00:00")
        assert body["as_of"].startswith("2018-09-29T06:00:00") and body["ready"] is True

        verified = c.get("/v1/situation", params={"level": 2, "status": "verified", "hazard": "earthquake"},
                         headers=MGR).json()
        assert _area(verified, "72.71")["figures"]["affected"] == 1234

        lvl1 = c.get("/v1/situation", params={"level": 1}, headers=MGR).json()
        assert {a["code"] for a in lvl1["areas"]} == {"31", "72", "91", "TL06"}
        assert sum(a["sites"] for a in lvl1["areas"]) == 7


@pytest.mark.parametrize(("area", "code"), [("72.71", "72.71"), ("ID7271", "72.71"), ("TL06", "TL06")])
def test_area_accepts_kemendagri_tl_and_hdx_codes(app, area: str, code: str) -> None:  # noqa: ANN001
    with client(app) as c:
        body = c.get("/v1/situation", params={"level": 2 if code == "72.71" else 1, "area": area}, headers=MGR).json()
        assert [a["code"] for a in body["areas"]] == [code]


def test_bad_queries_are_422(app) -> None:  # noqa: ANN001
    with client(app) as c:
        assert c.get("/v1/situation", params={"area": "99.99"}, headers=MGR).status_code == 422
        assert c.get("/v1/situation", params={"level": 5}, headers=MGR).status_code == 422
        assert c.get("/v1/situation", params={"hazard": "meteor"}, headers=MGR).status_code == 422
        assert c.get("/v1/situation", params={"since": "2018-09-29T00:00:00"}, headers=MGR).status_code == 422


def test_time_window(app) -> None:  # noqa: ANN001
    with client(app) as c:
        later = c.get("/v1/situation", params={"since": "2018-09-30T00:00:00Z"}, headers=MGR).json()
        assert later["areas"] == []
        assert later["as_of"]  # an empty answer still says when
        during = c.get("/v1/situation", params={"since": "2018-09-29T05:30:00Z", "until": "2018-09-29T06:00:00Z"},
                       headers=MGR).json()
        assert sum(a["sites"] for a in during["areas"]) == 7


def test_answers_are_cached_per_version_and_follow_changes(app) -> None:  # noqa: ANN001
    with client(app) as c:
        q = {"level": 2, "area": "31.71"}
        first = c.get("/v1/situation", params=q, headers=MGR)
        assert first.headers["x-siaga-cache"] == "miss"
        again = c.get("/v1/situation", params=q, headers=MGR)
        assert again.headers["x-siaga-cache"] == "hit" and again.content == first.content
        put(app, make_site(50, "31.71.01.1001", hazard="flood", figures={"affected": 1}, lat=-6.17, lon=106.82,
                           hours=1))
        deadline = time.monotonic() + 5
        while True:  # a stale answer may be served for a moment while it is recomputed in the background
            body = c.get("/v1/situation", params=q, headers=MGR)
            if _area(body.json(), "31.71")["sites"] == 2:
                break
            assert body.headers["x-siaga-cache"] in ("stale", "hit", "miss")
            assert time.monotonic() < deadline, "the cached answer never caught up"
            time.sleep(0.05)
        assert body.json()["as_of"].startswith("2018-09-29T07:00:00")
        assert body.headers["x-siaga-as-of"].startswith("2018-09-29T07:00:00")


def test_gzip_when_accepted(app) -> None:  # noqa: ANN001
    with client(app) as c:
        r = c.get("/v1/situation.geojson", params={"level": 1}, headers={**MGR, "Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip"
        assert r.json()["type"] == "FeatureCollection"  # httpx decoded it
        raw = c.get("/v1/situation.geojson", params={"level": 1}, headers={**MGR, "Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers
        assert gzip.compress(raw.content) != raw.content  # sanity


def _valid_feature_collection(fc: dict) -> None:
    assert fc["type"] == "FeatureCollection" and isinstance(fc["features"], list)
    for f in fc["features"]:
        assert f["type"] == "Feature" and isinstance(f["properties"], dict) and f["id"] == f["properties"]["code"]
        g = f["geometry"]
        if g is None:
            assert f["properties"]["code"] == "unlocated"
            continue
        assert g["type"] in ("Polygon", "MultiPolygon", "Point")
        geom = shapely.geometry.shape(g)
        assert not geom.is_empty
        for x, y in _coords(g["coordinates"]):
            assert -180 <= x <= 180 and -90 <= y <= 90 and math.isfinite(x)
            assert round(x, 5) == x and round(y, 5) == y  # precision-rounded


def _coords(c):  # noqa: ANN001, ANN202
    if isinstance(c[0], (int, float)):
        yield c
    else:
        for part in c:
            yield from _coords(part)


def test_geojson_areas_with_totals(app) -> None:  # noqa: ANN001
    with client(app) as c:
        r = c.get("/v1/situation.geojson", params={"level": 2}, headers=MGR)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
        fc = r.json()
        _valid_feature_collection(fc)
        js = c.get("/v1/situation", params={"level": 2}, headers=MGR).json()
        assert {f["id"] for f in fc["features"]} == {a["code"] for a in js["areas"]}
        palu = next(f for f in fc["features"] if f["id"] == "72.71")
        assert palu["properties"]["affected"] == _area(js, "72.71")["figures"]["affected"]
        assert palu["properties"]["sites"] == 4 and palu["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert shapely.geometry.shape(palu["geometry"]).contains(shapely.geometry.Point(119.87, -0.89))
        assert fc["as_of"] == js["as_of"] and fc["level"] == 2
        dili = next(f for f in fc["features"] if f["id"] == "TL0601")
        assert dili["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_geojson_include_empty_gives_a_full_choropleth(app) -> None:  # noqa: ANN001
    with client(app) as c:
        fc = c.get("/v1/situation.geojson", params={"level": 2, "area": "72", "include_empty": True},
                   headers=MGR).json()
        _valid_feature_collection(fc)
        codes = {f["id"] for f in fc["features"]}
        assert len(codes) == 13 and "72.71" in codes and all(code.startswith("72.") for code in codes)
        empty = [f for f in fc["features"] if f["properties"]["sites"] == 0]
        assert len(empty) == 12 and all(f["properties"]["affected"] is None for f in empty)


def test_geojson_level4_points_without_village_polygons(app) -> None:  # noqa: ANN001
    with client(app) as c:
        assert c.get("/v1/situation.geojson", params={"level": 4}, headers=MGR).status_code == 422
        fc = c.get("/v1/situation.geojson", params={"level": 4, "area": "72.71"}, headers=MGR).json()
        _valid_feature_collection(fc)
        assert fc["village_geometry"] == "centroids"
        assert {f["geometry"]["type"] for f in fc["features"]} == {"Point"}
        assert len(fc["features"]) == 4


VILLAGES = village_polygons_path() or shared_data_dir() / "indonesia" / VILLAGE_POLYGONS


def test_geojson_level4_village_polygons(auth_file) -> None:  # noqa: ANN001
    assert VILLAGES.is_file(), f"village polygons expected at {VILLAGES}: `make data` copies them"
    app = create_app(Settings(auth_file=str(auth_file)), follow=False, shapes=AreaShapes(village_polygons=VILLAGES))
    put(app, make_site(1, "72.71.01.1004"))
    app.state.model.ready = True
    with client(app) as c:
        fc = c.get("/v1/situation.geojson", params={"level": 4, "area": "72.71"}, headers=MGR).json()
    _valid_feature_collection(fc)
    assert fc["village_geometry"] == "polygons"
    (f,) = fc["features"]
    assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_readyz_and_partial_answers_while_catching_up(auth_file) -> None:  # noqa: ANN001
    app = build_app(auth_file, ready=False)
    with client(app) as c:
        assert c.get("/readyz").status_code == 503 and c.get("/readyz").json()["ready"] is False
        r = c.get("/v1/situation", headers=MGR)
        assert r.status_code == 200 and r.json()["ready"] is False and r.headers["x-siaga-ready"] == "false"
        assert c.get("/v1/figures", headers=MGR).status_code == 503  # never publish a partial replay
        app.state.model.mark_ready()
        assert c.get("/readyz").status_code == 200
        r = c.get("/v1/situation", headers=MGR)
        assert r.json()["ready"] is True and r.headers["x-siaga-ready"] == "true"
        assert c.get("/v1/figures", headers=MGR).status_code == 200
        assert c.get("/healthz").json()["sites"] == 8


def test_openapi_is_documented(app) -> None:  # noqa: ANN001
    with client(app) as c:
        spec = c.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/situation", "/v1/situation.geojson", "/v1/sites", "/v1/sites/{site_id}", "/v1/figures",
                 "/v1/sites/{site_id}/review", "/v1/reviews", "/v1/stream", "/v1/export/sites.csv",
                 "/v1/export/sites.geojson", "/readyz"):
        for op in paths[path].values():
            assert op.get("description"), path
    sit = paths["/v1/situation"]["get"]
    assert sit["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("SituationResponse")
    assert all(p.get("description") for p in sit["parameters"])
    assert any("examples" in p["schema"] or "example" in p or "examples" in p for p in sit["parameters"])
    review = paths["/v1/sites/{site_id}/review"]["post"]
    assert review["requestBody"]["content"]["application/json"].get("examples")
    assert {"401", "403", "404", "409", "503"} <= set(review["responses"])
    assert orjson.dumps(spec)
