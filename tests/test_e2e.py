"""End to end through real processes and the real broker: HTTP → ingest → Kafka → enrich → Kafka → API."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from services.devstack import Stack
from tests.conftest import bearer

pytestmark = pytest.mark.kafka
# The first area-filtered query loads the gazetteer in the API process: allow for a loaded CI machine.
http = httpx.Client(timeout=30.0)


def free_ports(n: int) -> list[int]:
    from local_kafka import free_port

    return [free_port() for _ in range(n)]


@pytest.fixture(scope="module")
def stack(own_kafka, auth_file, tmp_path_factory) -> Stack:  # noqa: ANN001
    ingest, api, enrich = free_ports(3)
    s = Stack(kafka=own_kafka.bootstrap, workdir=tmp_path_factory.mktemp("stack"), auth_file=auth_file,
              ingest_port=ingest, api_port=api, enrich_port=enrich)
    try:
        s.start(timeout_s=120)
        yield s
    finally:
        s.stop()


def report(rid: str, lat: float, lon: float, hazard: str = "earthquake", **figures: int) -> dict:
    return {"report_id": rid, "submitted_at": "2018-09-29T14:05:00+08:00", "reporter": {"id": f"v-{rid}"},
            "location": {"lat": lat, "lon": lon}, "hazard": hazard, "figures": figures}


def wait_for(predicate, timeout_s: float = 60.0, every: float = 0.5):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met in {timeout_s}s; last value: {last!r}")


def test_reports_flow_to_the_situation_with_duplicates_counted_once(stack: Stack) -> None:
    ingest, api = stack.services["ingest"].url, stack.services["api"].url
    run = uuid.uuid4().hex[:8]
    # Two villages of Kota Palu (72.71) and one in Timor-Leste's Dili, by real coordinates.
    a = report(f"{run}-a", -0.9347, 119.9203, affected=100, dead=2)  # Petobo
    b = report(f"{run}-b", -0.8908, 119.8742, affected=40)  # Besusu Tengah
    tl = report(f"{run}-tl", -8.5569, 125.5603, hazard="flood", affected=7)
    h = bearer("volunteer")
    for body in (a, b, tl):
        assert http.post(f"{ingest}/v1/reports", json=body, headers=h).status_code == 202
    # The phone's outbox resends `a` (same content): must not be counted twice.
    assert http.post(f"{ingest}/v1/reports", json=a, headers=h).status_code == 202
    bad = http.post(f"{ingest}/v1/reports", json={**b, "figures": {"dead": -1}}, headers=h)
    assert bad.status_code == 422

    def palu(min_reports: int = 2) -> dict | None:
        r = http.get(f"{api}/v1/situation", params={"level": 2, "hazard": "earthquake", "area": "72.71"},
                      headers=bearer("manager"))
        assert r.status_code == 200, r.text
        areas = r.json()["areas"]
        return areas[0] if areas and areas[0]["reports"] >= min_reports else None

    area = wait_for(palu, timeout_s=90)
    assert area["code"] == "72.71" and area["name"] == "Kota Palu"
    assert area["reports"] == 2
    assert area["figures"]["affected"] == 140 and area["figures"]["dead"] == 2

    def dili() -> list:
        r = http.get(f"{api}/v1/situation", params={"level": 1, "hazard": "flood"}, headers=bearer("manager"))
        return [x for x in r.json()["areas"] if x["code"].startswith("TL")]

    tl_areas = wait_for(dili)
    assert tl_areas[0]["figures"]["affected"] == 7

    # An edit (same id, later submitted_at) replaces the figures instead of adding to them.
    edit = {**a, "submitted_at": "2018-09-29T15:00:00+08:00", "figures": {"affected": 120, "dead": 3}}
    assert http.post(f"{ingest}/v1/reports", json=edit, headers=h).status_code == 202
    area = wait_for(lambda: (x := palu()) and x["figures"]["affected"] == 160 and x)
    assert area["reports"] == 2 and area["figures"]["dead"] == 3

    # An edit that moves `b` to Sigi (another regency) takes it out of Kota Palu: counted once, in Sigi.
    moved = {**b, "submitted_at": "2018-09-29T15:30:00+08:00", "location": {"lat": -0.9667, "lon": 119.9389}}
    assert http.post(f"{ingest}/v1/reports", json=moved, headers=h).status_code == 202
    area = wait_for(lambda: (x := palu(1)) and x["reports"] == 1 and x)
    assert area["figures"]["affected"] == 120

    def sigi() -> dict | None:
        r = http.get(f"{api}/v1/situation", params={"level": 2, "hazard": "earthquake", "area": "72.10"},
                     headers=bearer("manager"))
        return next((x for x in r.json()["areas"] if x["reports"] >= 1), None)

    assert wait_for(sigi)["figures"]["affected"] == 40

    assert http.get(f"{api}/readyz").status_code == 200
    assert "siaga_enrich_reports_total" in http.get(stack.services["enrich"].url + "/metrics").text


def site_records(kafka: str, needle: str) -> list[dict]:
    from tests.kafka_utils import read_topic

    return [json.loads(r.value) for r in read_topic(kafka, "sites", 1, timeout_s=5)
            if r.value and needle.encode() in r.key]


def post_mention(ingest: str, text: str, when: str) -> str:
    mid = f"x:{uuid.uuid4().int % 10**18}"
    body = {"id": mid, "platform": "x", "text": text, "created_at": when}
    r = http.post(f"{ingest}/v1/mentions", json=[body], headers=bearer("coordinator"))
    assert r.status_code == 202, r.text
    return mid


def test_mentions_are_enriched_keyed_by_regency_and_attached_to_sites(stack: Stack, own_kafka) -> None:  # noqa: ANN001
    kafka = own_kafka.bootstrap
    from tests.kafka_utils import read_topic

    ingest = stack.services["ingest"].url
    # A post about Cawang arrives before any volunteer reported there ...
    early = post_mention(ingest, "Banjir 80 cm di Kelurahan Cawang, Jakarta Timur, warga butuh perahu karet",
                         "2017-02-21T07:00:00+07:00")
    run = uuid.uuid4().hex[:8]
    # ... then reports at Kampung Melayu and Cawang (real centroids, flood, 21 Feb 2017).
    for rid, lat, lon in ((f"{run}-km", -6.2182, 106.8631), (f"{run}-cw", -6.2509, 106.8669)):
        body = {"report_id": rid, "submitted_at": "2017-02-21T09:00:00+07:00", "reporter": {"id": "v-jkt"},
                "location": {"lat": lat, "lon": lon}, "hazard": "banjir", "figures": {"displaced": 30}}
        assert http.post(f"{ingest}/v1/reports", json=body, headers=bearer("volunteer")).status_code == 202
    late = post_mention(ingest, "Banjir setinggi 1 meter di Kelurahan Kampung Melayu, Jakarta Timur, warga "
                        "mengungsi ke masjid #banjirjakarta", "2017-02-21T10:00:00+07:00")

    def enriched() -> list:
        return [rec for rec in read_topic(kafka, "mentions.enriched", 1, timeout_s=5)
                if rec.value and late.encode() in rec.value]

    recs = wait_for(enriched, timeout_s=90)
    body = json.loads(recs[0].value)
    assert body["hazard"] == "flood" and body["relevant"] is True
    assert body["geo"]["adm2"] == "31.75"  # Jakarta Timur
    assert recs[0].key == b"31.75"

    def attached(village: str, mid: str):  # noqa: ANN202
        return lambda: [s for s in site_records(kafka, village) if any(m["mention_id"] == mid for m in s["mentions"])]

    km = wait_for(attached("31.75.03.1001", late), timeout_s=60)[-1]
    assert km["figures"]["displaced"] == 30  # corroboration never changes figures
    cw = wait_for(attached("31.75.04.1007", early), timeout_s=60)[-1]
    assert cw["mention_count"] >= 1
