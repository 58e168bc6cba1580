"""Ingest over HTTP against the session's real Kafka: 202 only when stored, clear 4xx otherwise, 503 when down."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient

from services.common.config import Settings
from services.ingest.app import create_app
from tests.conftest import bearer
from tests.kafka_utils import read_topic

pytestmark = pytest.mark.kafka


def body(report_id: str | None = None, **changes) -> dict:
    return {
        "report_id": report_id or str(uuid.uuid4()),
        "submitted_at": "2018-09-29T14:05:00+08:00",
        "reporter": {"id": "vol-7", "name": "Budi", "phone": "+628111"},
        "location": {"lat": -0.9405, "lon": 119.8946},
        "hazard": "gempa",
        "figures": {"affected": 10},
        **changes,
    }


@pytest.fixture(scope="module")
def client(kafka: str, auth_file) -> TestClient:  # noqa: ANN001
    app = create_app(Settings(kafka=kafka, auth_file=str(auth_file), max_body_bytes=64 * 1024))
    with TestClient(app) as c:
        yield c


def test_accepted_report_is_on_the_topic_keyed_by_report_id(client: TestClient, kafka: str) -> None:
    rid = f"t-{uuid.uuid4()}"
    r = client.post("/v1/reports", json=body(rid), headers=bearer("volunteer"))
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "accepted", "report_id": rid}
    mine = [rec for rec in read_topic(kafka, "reports.raw", 1) if rec.key == rid.encode()]
    assert len(mine) == 1
    stored = json.loads(mine[0].value)
    assert stored["hazard"] == "earthquake" and stored["figures"] == {"affected": 10}


def test_invalid_report_gets_422_naming_fields(client: TestClient) -> None:
    r = client.post("/v1/reports", json=body(hazard="meteor", location={"lat": 200, "lon": 0}),
                    headers=bearer("volunteer"))
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"hazard", "location.lat"} <= fields


def test_auth_is_required_and_roles_checked(client: TestClient) -> None:
    assert client.post("/v1/reports", json=body()).status_code == 401
    assert client.post("/v1/reports", json=body(), headers={"Authorization": "Bearer nope"}).status_code == 401
    r = client.post("/v1/reports", json=body(), headers=bearer("comms"))
    assert r.status_code == 403 and "comms" in r.json()["detail"]


def test_oversize_body_gets_413(client: TestClient) -> None:
    big = body(notes="x" * 3000)
    r = client.post("/v1/reports/batch", json=[big] * 30, headers=bearer("volunteer"))
    assert r.status_code == 413


def test_batch_has_per_item_results(client: TestClient, kafka: str) -> None:
    good = [body(f"b-{uuid.uuid4()}") for _ in range(3)]
    bad = body("bad-1", figures={"dead": -3})
    r = client.post("/v1/reports/batch", json={"reports": [good[0], bad, good[1], good[2]]},
                    headers=bearer("volunteer"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["invalid"], out["retry"]) == (3, 1, 0)
    assert out["results"][1]["status"] == "invalid" and out["results"][1]["errors"][0]["field"] == "figures.dead"
    keys = {rec.key for rec in read_topic(kafka, "reports.raw", 3)}
    assert {g["report_id"].encode() for g in good} <= keys
    assert b"bad-1" not in keys


def test_kafka_down_means_503_never_202(auth_file) -> None:  # noqa: ANN001
    from local_kafka import free_port

    cfg = Settings(kafka=f"127.0.0.1:{free_port()}", auth_file=str(auth_file), produce_timeout_s=1.5)
    with TestClient(create_app(cfg)) as c:
        r = c.post("/v1/reports", json=body(), headers=bearer("volunteer"))
        assert r.status_code == 503
        assert r.headers["Retry-After"]
        rb = c.post("/v1/reports/batch", json=[body()], headers=bearer("volunteer"))
        assert rb.status_code == 503 and rb.json()["results"][0]["status"] == "retry"


def test_health_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    text = client.get("/metrics").text
    assert 'siaga_ingest_reports_total{outcome="accepted",reason=""}' in text


def test_mention_authors_are_pseudonymised_before_kafka(client: TestClient, kafka: str) -> None:
    mid = f"x:{uuid.uuid4().int % 10**12}"
    m = {"id": mid, "platform": "x", "author": "@budi_palu", "text": "Banjir di Kelurahan Cawang",
         "created_at": "2017-02-21T08:00:00+07:00"}
    r = client.post("/v1/mentions", json=m, headers=bearer("coordinator"))
    assert r.status_code == 202, r.text
    stored = [rec for rec in read_topic(kafka, "mentions.raw", 1) if rec.key == mid.encode()]
    assert len(stored) == 1 and b"budi" not in stored[0].value
    assert json.loads(stored[0].value)["author"].startswith("a:")


def counter(client: TestClient, outcome: str, reason: str) -> float:
    line = f'siaga_ingest_reports_total{{outcome="{outcome}",reason="{reason}"}} '
    found = [ln for ln in client.get("/metrics").text.splitlines() if ln.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def test_body_that_is_not_json_gets_400_after_auth(client: TestClient) -> None:
    for path in ("/v1/reports", "/v1/reports/batch"):
        r = client.post(path, content=b"{not json", headers={**bearer("volunteer"), "Content-Type": "application/json"})
        assert r.status_code == 400 and "not valid JSON" in r.json()["detail"], r.text
        assert client.post(path, content=b"{not json").status_code == 401  # auth is checked before the body


def test_batch_counts_every_item_in_metrics(client: TestClient) -> None:
    accepted, invalid = counter(client, "accepted", ""), counter(client, "rejected", "invalid")
    items = [body(f"m-{uuid.uuid4()}") for _ in range(4)] + [body("bad-2", hazard="meteor")] * 2
    r = client.post("/v1/reports/batch", json=items, headers=bearer("volunteer"))
    assert r.status_code == 200 and (r.json()["accepted"], r.json()["invalid"]) == (4, 2)
    assert counter(client, "accepted", "") == accepted + 4
    assert counter(client, "rejected", "invalid") == invalid + 2
    http = [ln for ln in client.get("/metrics").text.splitlines()
            if ln.startswith("siaga_http_requests_total{") and 'route="/v1/reports/batch"' in ln
            and 'status="200"' in ln]
    assert http, "the batch route is counted by its template"


def test_report_routes_are_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["paths"]["/v1/reports"]["post"]["operationId"] == "post_report_v1_reports_post"
    assert set(spec["paths"]["/v1/reports"]["post"]["responses"]) == {"202", "413", "422", "503"}
    assert spec["paths"]["/v1/reports/batch"]["post"]["operationId"] == "post_batch_v1_reports_batch_post"
    assert "Resubmitting the same report_id is safe" in spec["paths"]["/v1/reports"]["post"]["description"]
    assert client.get("/v1/reports", headers=bearer("volunteer")).status_code == 405


def test_tune_gc_freezes_startup_objects_and_raises_gen0_only_when_asked() -> None:
    import gc

    from services.common.gc_tuning import tune_gc_for_streaming as tune_gc

    before = gc.get_threshold()
    try:
        tune_gc(0)
        assert gc.get_threshold() == before
        tune_gc(50_000)
        assert gc.get_threshold() == (50_000, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_an_all_valid_batch_in_either_form_is_stored_whole_and_answered_per_item(client: TestClient,
                                                                                kafka: str) -> None:
    """The one-pass path (every report valid) answers exactly like the per-item one."""
    as_list = [body(f"l-{uuid.uuid4()}") for _ in range(3)]
    wrapped = {"device": "hp-volunteer-7", "reports": [body(f"w-{uuid.uuid4()}") for _ in range(2)]}
    for payload, sent in ((as_list, as_list), (wrapped, wrapped["reports"])):
        r = client.post("/v1/reports/batch", json=payload, headers=bearer("volunteer"))
        assert r.status_code == 200, r.text
        out = r.json()
        assert (out["accepted"], out["invalid"], out["retry"]) == (len(sent), 0, 0)
        assert out["results"] == [{"index": i, "report_id": b["report_id"], "status": "accepted"}
                                  for i, b in enumerate(sent)]
    keys = {rec.key for rec in read_topic(kafka, "reports.raw", 5)}
    assert {b["report_id"].encode() for b in as_list + wrapped["reports"]} <= keys


def test_a_batch_over_the_item_limit_is_413_even_when_every_report_is_valid(kafka: str, auth_file) -> None:  # noqa: ANN001
    with TestClient(create_app(Settings(kafka=kafka, auth_file=str(auth_file), batch_max=2))) as c:
        r = c.post("/v1/reports/batch", json=[body() for _ in range(3)], headers=bearer("volunteer"))
        assert r.status_code == 413 and "at most 2" in r.json()["detail"]
        assert c.post("/v1/reports/batch", json=[body() for _ in range(2)],
                      headers=bearer("volunteer")).json()["accepted"] == 2


def test_the_producer_lingers_as_configured(kafka: str, auth_file) -> None:  # noqa: ANN001
    """The linger reaches kafka-python's producer (the default, 1 ms, is what bench/bench_ingest.py measured)."""
    assert Settings().ingest_linger_ms == 1
    app = create_app(Settings(kafka=kafka, auth_file=str(auth_file), ingest_linger_ms=7))
    with TestClient(app) as c:
        assert c.post("/v1/reports", json=body(), headers=bearer("volunteer")).status_code == 202
        assert app.state.producer._get().config["linger_ms"] == 7
