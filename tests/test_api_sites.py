"""/v1/sites (filters, cursor pages), /v1/sites/{id}, and the CSV (HXL) and GeoJSON exports."""

from __future__ import annotations

import csv
import io

import pytest
import shapely.geometry

from services.core.site_query import decode_cursor, encode_cursor, parse_bbox
from tests._api_factory import build_app, client, make_site, put
from tests.conftest import bearer

MGR = bearer("manager")


@pytest.fixture()
def app(auth_file):  # noqa: ANN001, ANN201
    return build_app(auth_file)


def _all_pages(c, limit: int, **params) -> tuple[list[str], list[int]]:  # noqa: ANN001
    ids: list[str] = []
    totals = []
    cursor = None
    while True:
        q = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        body = c.get("/v1/sites", params=q, headers=MGR).json()
        ids += [s["site_id"] for s in body["items"]]
        totals.append(body["total"])
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, totals


def test_pages_cover_every_site_once_in_a_stable_order(app) -> None:  # noqa: ANN001
    with client(app) as c:
        ids, totals = _all_pages(c, 3)
        assert len(ids) == 7 == len(set(ids)) and ids == sorted(ids)
        assert set(totals) == {7}
        # A new site between two page fetches lands in its place without repeating or skipping others.
        first = c.get("/v1/sites", params={"limit": 3}, headers=MGR).json()
        put(app, make_site(99, "72.71.01.1007"))
        cursor = first["next_cursor"]
        seen = [s["site_id"] for s in first["items"]]
        while cursor:
            body = c.get("/v1/sites", params={"limit": 3, "cursor": cursor}, headers=MGR).json()
            seen += [s["site_id"] for s in body["items"]]
            cursor = body["next_cursor"]
        assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
        assert c.get("/v1/sites", params={"cursor": "%%%"}, headers=MGR).status_code == 422


def test_list_items_are_summaries(app) -> None:  # noqa: ANN001
    with client(app) as c:
        item = c.get("/v1/sites", params={"limit": 1}, headers=MGR).json()["items"][0]
    assert "timeline" not in item and "mentions" not in item
    assert item["figures_version"] and item["geo"]["adm2"] and item["last_review"]["reviewer"] == "coordinator"


@pytest.mark.parametrize(("params", "expected"), [
    ({"bbox": "119.7,-1.1,120.1,-0.7"}, 4),
    ({"bbox": "106,-7,107,-6"}, 1),
    ({"hazard": "flood"}, 3),
    ({"status": "verified"}, 5),
    ({"status": "needs_review"}, 1),
    ({"status": "any"}, 8),
    ({"area": "72.71"}, 4),
    ({"area": "ID7271", "status": "any"}, 5),
    ({"area": "TL06"}, 1),
    ({"since": "2018-09-30T00:00:00Z"}, 0),
    ({"updated_since": "2018-09-29T05:59:00Z"}, 7),
    ({"updated_since": "2018-09-29T06:01:00Z"}, 0),
    ({"hazard": "flood", "bbox": "95,-11,130,6"}, 2),
])
def test_filters(app, params: dict, expected: int) -> None:  # noqa: ANN001
    with client(app) as c:
        body = c.get("/v1/sites", params=params, headers=MGR).json()
    assert body["total"] == expected == len(body["items"])


def test_bad_bbox_is_422(app) -> None:  # noqa: ANN001
    with client(app) as c:
        for bbox in ("1,2,3", "a,b,c,d", "120,-1,119,0", "0,10,1,5"):
            r = c.get("/v1/sites", params={"bbox": bbox}, headers=MGR)
            assert r.status_code == 422 and "bbox" in r.json()["detail"]


def test_site_detail_has_timeline_mentions_and_reviews(app) -> None:  # noqa: ANN001
    sid = "earthquake~72.71~72.71.03.1001~0000000002"
    with client(app) as c:
        r = c.get(f"/v1/sites/{sid}", headers=MGR)
        assert r.status_code == 200 and r.headers["x-siaga-as-of"]
        site = r.json()["site"]
        assert len(site["timeline"]) == 3 and site["timeline"][0]["report_id"] == "r-2-0"
        assert site["mentions"][0]["text"] == "Gempa Palu, rumah roboh"
        assert site["reviews"][0]["decision"] == "verified" and site["reviews"][0]["decided_at"]
        assert site["reviews"][0]["reviewer"] == "coordinator"  # who: coordinators only
        coord = c.get(f"/v1/sites/{sid}", headers=bearer("coordinator")).json()["site"]
        assert coord["reviews"][0]["reviewer"] == "coord-1"
        assert c.get("/v1/sites/nope~1~2~3", headers=MGR).status_code == 404


def test_csv_export_has_the_hxl_row(app) -> None:  # noqa: ANN001
    with client(app) as c:
        r = c.get("/v1/export/sites.csv", params={"area": "72.71", "status": "any"}, headers=MGR)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"] and r.headers["x-siaga-count"] == "5"
    rows = list(csv.reader(io.StringIO(r.text)))
    header, tags, data = rows[0], rows[1], rows[2:]
    assert len(header) == len(tags) and len(data) == 5
    assert all(t.startswith("#") for t in tags)
    tag = dict(zip(header, tags, strict=True))
    assert tag["adm1_code"] == "#adm1+code" and tag["adm2_name"] == "#adm2+name" and tag["adm4_code"] == "#adm4+code"
    assert tag["affected"] == "#affected" and tag["dead"] == "#affected+killed"
    assert tag["injured"] == "#affected+injured" and tag["missing"] == "#affected+missing"
    assert tag["displaced"] == "#affected+displaced" and tag["houses_damaged"] == "#affected+houses+damaged"
    assert tag["last_seen"] == "#date+reported" and tag["status"] == "#status"
    assert tag["lat"] == "#geo+lat" and tag["lon"] == "#geo+lon" and tag["needs"] == "#sector+list"
    first = dict(zip(header, data[0], strict=True))
    assert first["adm2_code"] == "72.71" and first["adm2_name"] == "Kota Palu" and first["affected"] == "1200"
    assert first["dead"] == "4" and first["missing"] == "" and float(first["lat"]) == -0.89


def test_csv_export_never_runs_formulas() -> None:
    from services.core.hxl import _cell

    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _cell(-0.5) == -0.5 and _cell(None) == ""


def test_geojson_export(app) -> None:  # noqa: ANN001
    with client(app) as c:
        r = c.get("/v1/export/sites.geojson", params={"hazard": "flood"}, headers=bearer("comms"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 3
    for f in fc["features"]:
        assert f["type"] == "Feature" and f["properties"]["status"] == "verified"
        assert shapely.geometry.shape(f["geometry"]).geom_type == "Point"
        assert "lat" not in f["properties"]


def test_cursor_roundtrip_and_bbox_parsing() -> None:
    assert decode_cursor(encode_cursor("flood~TL0601~TL060101~abc")) == "flood~TL0601~TL060101~abc"
    assert parse_bbox(" ") is None and parse_bbox("1,2,3,4") == (1.0, 2.0, 3.0, 4.0)
