"""Poison messages: whatever lands on a topic the enrich worker consumes, it dead-letters (with the reason) what it
cannot process and goes on. Proven by valid records sent after the poison, on the same keys (so the same
partitions), being processed: the report reaches `sites`, the review verifies that site, the mention reaches
`mentions.enriched`.

Producers other than ingest write to these topics (the API writes `reviews`, other tools may write anything),
so the worker cannot count on ingest's validation.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from kafka import KafkaProducer

from services.devstack import Stack
from tests.kafka_utils import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.reliability]

PALU = "72.71"  # Kota Palu: the regency key of the valid report below


@pytest.fixture(scope="module")
def enrich_only(kafka: str, auth_file, tmp_path_factory) -> Stack:  # noqa: ANN001
    from local_kafka import free_port

    s = Stack(kafka=kafka, workdir=tmp_path_factory.mktemp("poison-stack"), auth_file=auth_file,
              ingest_port=free_port(), api_port=free_port(), enrich_port=free_port())
    try:
        s.start("enrich", timeout_s=120)
        yield s
    finally:
        s.stop()


def poisons(run: str) -> list[tuple[str, bytes | None]]:
    """(what, value): every kind of bad record, none of which a worker may crash on."""
    report_like = {"report_id": 42, "submitted_at": True, "reporter": "me", "location": {"lat": "far", "lon": []},
                   "hazard": ["gempa"], "figures": {"dead": "many", "affected": -3}, "needs": "water"}
    return [
        ("not json", b"this is not json {"),
        ("truncated json", b'{"report_id": "x", "submitted_at": '),
        ("json, wrong schema", json.dumps({"hello": "world", "run": run}).encode()),
        ("json array", b"[1, 2, 3]"),
        ("json string", b'"just a string"'),
        ("json number", b"12345"),
        ("json null", b"null"),
        ("wrong types", json.dumps(report_like).encode()),
        ("NaN and Infinity", b'{"lat": NaN, "lon": Infinity}'),
        ("deep nesting", b"[" * 5000 + b"]" * 5000),
        ("huge", json.dumps({"notes": "x" * 600_000, "run": run}).encode()),
        ("binary garbage", os.urandom(512) + b"\xff\xfe\x00"),
        ("invalid utf-8 in json", b'{"report_id": "\xff\xfe"}'),
        ("null value", None),
        ("empty value", b""),
    ]


def hostile_but_valid(run: str, keys: dict[str, bytes]) -> list[tuple[str, bytes, bytes]]:
    """Records that pass the schema yet probe the core: nowhere points, odd text, separators inside codes."""
    nowhere = {"report_id": f"edge-{run}", "submitted_at": "2018-09-29T14:05:00+08:00", "reporter": {"id": "v"},
               "location": {"lat": 90, "lon": 180}, "hazard": "lainnya"}
    text_only = {**nowhere, "report_id": f"edge2-{run}", "location": None,
                 "place_text": "\u0000\u202e\U0001f30b" * 100, "notes": "\x00" * 4000}
    geo = {"country": "ID", "adm1": "72", "adm2": "72.71~x", "adm4": "~", "geotag_method": "place_name"}
    enriched = {"report": nowhere, "geo": geo, "content_hash": "h"}
    retract = {**enriched, "action": "retract", "geo": {}}
    mention = {"id": f"x:edge{run}", "platform": "other", "created_at": "2018-09-29T15:00:00Z",
               "text": "\U0001f30a\u0000 banjir " * 900, "point": {"lat": -90, "lon": -180}, "raw": {"a": [None]}}
    return [("reports.raw", keys["reports.raw"], json.dumps(nowhere).encode()),
            ("reports.raw", keys["reports.raw"], json.dumps(text_only).encode()),
            ("reports.enriched", keys["reports.enriched"], json.dumps(enriched).encode()),
            ("reports.enriched", keys["reports.enriched"], json.dumps(retract).encode()),
            ("mentions.raw", keys["mentions.raw"], json.dumps(mention).encode())]


def send_all(kafka: str, records: list[tuple[str, bytes | None, bytes | None]]) -> list[tuple[str, int, int]]:
    """Produce (topic, key, value) in order; return where each landed (topic, partition, offset)."""
    producer = KafkaProducer(bootstrap_servers=kafka.split(","), acks="all", max_request_size=2_000_000)
    try:
        futures = [producer.send(topic, key=key, value=value) for topic, key, value in records]
        producer.flush(30)
        return [(m.topic, m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
    finally:
        producer.close()


def wait_for(predicate, timeout_s: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(1.0)
    raise AssertionError(f"{what}: not within {timeout_s}s")


def test_poison_is_dead_lettered_and_processing_continues(kafka: str, enrich_only: Stack) -> None:
    run = uuid.uuid4().hex[:10]
    rid = f"poison-{run}"
    mid = f"x:{int(run, 16)}"
    keys = {"reports.raw": rid.encode(), "reports.enriched": PALU.encode(), "reviews": PALU.encode(),
            "mentions.raw": mid.encode()}
    bad = [(topic, key, what, value) for topic, key in keys.items() for what, value in poisons(run)]
    bad += [(topic, b"\x00\xff garbage key", "garbage key", b"\x01\x02") for topic in keys]
    # Valid by schema, still unprocessable: a review of a site id that cannot exist.
    bad.append(("reviews", PALU.encode(), "review of a malformed site id", json.dumps(
        {"review_id": f"r-{run}", "site_id": "no-such-site", "decision": "verified", "reviewer": "c",
         "decided_at": "2018-09-30T10:00:00+08:00"}).encode()))
    landed = send_all(kafka, [(t, k, v) for t, k, _, v in bad] + hostile_but_valid(run, keys))
    expected = {where: what for where, (_, _, what, _) in zip(landed, bad, strict=False)}

    # Then valid records on the same keys: they can only be processed if the worker survived the poison.
    report = {"report_id": rid, "submitted_at": "2018-09-29T14:05:00+08:00", "reporter": {"id": "vol-poison"},
              "location": {"lat": -0.9347, "lon": 119.9203}, "hazard": "gempa", "figures": {"affected": 17}}
    mention = {"id": mid, "platform": "x", "created_at": "2018-09-29T15:00:00+08:00",
               "text": "Gempa di Petobo, Kota Palu, rumah roboh, warga mengungsi #gempapalu"}
    send_all(kafka, [("reports.raw", keys["reports.raw"], json.dumps(report).encode()),
                     ("mentions.raw", keys["mentions.raw"], json.dumps(mention).encode())])

    def my_site() -> dict | None:
        for rec in read_topic(kafka, "sites", timeout_s=5):
            if rec.value and rid.encode() in rec.value:
                return json.loads(rec.value)
        return None

    try:
        site = wait_for(my_site, 120, f"report {rid} on `sites` after the poison")
    except AssertionError as err:
        raise AssertionError(f"{err}\n--- enrich log ---\n{enrich_only.tail('enrich', 6000)}") from None
    assert site["geo"]["adm2"] == PALU and site["figures"]["affected"] == 17

    review = {"review_id": f"ok-{run}", "site_id": site["site_id"], "decision": "verified", "reviewer": "coord-1",
              "decided_at": "2018-09-30T10:00:00+08:00"}
    send_all(kafka, [("reviews", keys["reviews"], json.dumps(review).encode())])

    def verified() -> bool:
        return any(rec.value and json.loads(rec.value).get("site_id") == site["site_id"]
                   and json.loads(rec.value)["status"] == "verified"
                   for rec in read_topic(kafka, "sites", timeout_s=5) if rec.value and rid.encode() in rec.value)

    wait_for(verified, 60, "the review after the poison verifies the site")
    wait_for(lambda: any(rec.value and mid.encode() in rec.value
                         for rec in read_topic(kafka, "mentions.enriched", timeout_s=5)),
             60, "the mention after the poison on `mentions.enriched`")

    # Every poison record is on the dead-letter topic with its source, position, reason and payload.
    def dead_letters() -> dict | None:
        found = {}
        for rec in read_topic(kafka, "deadletter", timeout_s=5):
            dl = json.loads(rec.value)
            where = (dl["source"], dl["partition"], dl["offset"])
            if where in expected:  # at least once: a rebalance may dead-letter a record again
                assert rec.key == dl["source"].encode()
                found[where] = dl
        return found if len(found) == len(expected) else None

    try:
        found = wait_for(dead_letters, 60, "every poison record dead-lettered")
    except AssertionError:
        got = {(s, p, o) for s, p, o in (dead_letters() or {})}
        missing = sorted(f"{w[0]}: {what}" for w, what in expected.items() if w not in got)
        raise AssertionError(f"not dead-lettered: {missing}\n{enrich_only.tail('enrich')}") from None
    for where, dl in found.items():
        assert dl["reason"] and dl["stage"].startswith("enrich."), (expected[where], dl)
        assert dl["detail"], expected[where]
        assert len(dl["payload"]) <= 100_000
    huge = [dl for w, dl in found.items() if expected[w] == "huge"]
    assert huge and all(len(dl["payload"]) == 100_000 for dl in huge)  # kept, truncated, never dropped
    # The worker is still up and counted them.
    metrics = __import__("httpx").get(enrich_only.services["enrich"].url + "/metrics", timeout=10).text
    assert 'siaga_deadletter_total{reason="invalid_schema",source="reports.raw"}' in metrics
