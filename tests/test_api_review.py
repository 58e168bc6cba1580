"""Reviews: onto the `reviews` topic (real broker), idempotent, 409 on stale figures, 503 without Kafka, and
end to end: API review -> Kafka -> consolidation core -> `sites` -> read model -> needs_review after a change."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest
from fastapi.testclient import TestClient

from schemas.review import ReviewEvent
from services.api.app import create_app
from services.common.config import Settings
from services.core.consolidate import Consolidator, site_partition_key
from tests._api_factory import _shapes, build_app, make_site
from tests._consolidate_factory import report
from tests.conftest import bearer
from tests.kafka_utils import read_topic

COORD = bearer("coordinator")


def test_review_without_kafka_is_503_with_retry_after(auth_file) -> None:  # noqa: ANN001
    app = build_app(auth_file, kafka="127.0.0.1:1", produce_timeout_s=1.0)
    sid = "earthquake~72.71~72.71.01.1004~0000000001"
    with TestClient(app) as c:
        r = c.post(f"/v1/sites/{sid}/review", json={"decision": "verified"}, headers=COORD)
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert "nothing was recorded" in r.json()["detail"]
        r = c.post("/v1/reviews", json={"reviews": [{"site_id": sid, "decision": "rejected"}]}, headers=COORD)
        assert r.status_code == 503 and r.json()["retry"] == 1 and r.headers["retry-after"] == "5"


def test_verifying_figures_that_changed_is_409(auth_file) -> None:  # noqa: ANN001
    app = build_app(auth_file, kafka="127.0.0.1:1", produce_timeout_s=1.0)
    sid = "earthquake~72.71~72.71.04.1001~0000000003"
    with TestClient(app) as c:
        r = c.post(f"/v1/sites/{sid}/review", json={"decision": "verified", "figures_version": "0000"},
                   headers=COORD)
        assert r.status_code == 409 and "changed since you looked" in r.json()["detail"]
        r = c.post("/v1/reviews", json={"reviews": [{"site_id": sid, "decision": "verified",
                                                     "figures_version": "0000"}]}, headers=COORD)
        assert r.json()["results"][0]["status"] == "conflict"
        assert c.post(f"/v1/sites/{sid}/review", json={"decision": "maybe"}, headers=COORD).status_code == 422


def _review_id(value: bytes | None) -> str | None:
    """The review id of a record; None for what other tests put on the shared broker's topic (test_poison)."""
    try:
        return orjson.loads(value or b"null")["review_id"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return None


def _reviews_with(kafka: str, review_id: str, n: int = 1) -> list:
    deadline = time.monotonic() + 20
    while True:
        recs = [r for r in read_topic(kafka, "reviews", timeout_s=5) if _review_id(r.value) == review_id]
        if len(recs) >= n or time.monotonic() > deadline:
            return recs


@pytest.mark.kafka
def test_review_is_produced_keyed_by_regency_and_idempotent(kafka: str, auth_file) -> None:  # noqa: ANN001
    site = make_site(301, "72.71.03.1001")
    app = build_app(auth_file, sites=[site], kafka=kafka)
    key = uuid.uuid4().hex
    with TestClient(app) as c:
        body = {"decision": "verified", "note": "Dicek via telepon", "figures_version": site.figures_version}
        r = c.post(f"/v1/sites/{site.site_id}/review", json=body, headers={**COORD, "Idempotency-Key": key})
        assert r.status_code == 202, r.text
        first = r.json()
        assert first["status"] == "accepted" and first["reviewer"] == "coord-1"
        assert first["figures_version"] == site.figures_version
        again = c.post(f"/v1/sites/{site.site_id}/review", json=body, headers={**COORD, "Idempotency-Key": key})
        assert again.status_code == 202 and again.json() == first  # same review_id, same decided_at
        other = c.post(f"/v1/sites/{site.site_id}/review", json={"decision": "rejected"},
                       headers={**COORD, "Idempotency-Key": key})
        assert other.status_code == 409
        # batch, with ids derived from the header key and the position
        batch = {"reviews": [{"site_id": site.site_id, "decision": "needs_info", "note": "Jumlah pengungsi?"},
                             {"site_id": "flood~31.71~31.71.01.1001~nope", "decision": "rejected"}]}
        b1 = c.post("/v1/reviews", json=batch, headers={**COORD, "Idempotency-Key": key + "-b"}).json()
        b2 = c.post("/v1/reviews", json=batch, headers={**COORD, "Idempotency-Key": key + "-b"}).json()
        assert b1["accepted"] == 1 and b1["not_found"] == 1
        assert b1["results"][0]["review_id"] == b2["results"][0]["review_id"] != first["review_id"]

    recs = _reviews_with(kafka, first["review_id"], 2)
    assert len(recs) == 2  # the retry was written again: consolidation applies a review_id once
    for rec in recs:
        assert rec.key == site_partition_key(site.site_id).encode() == b"72.71"
        ev = ReviewEvent.model_validate_json(rec.value)
        assert ev.site_id == site.site_id and ev.decision == "verified" and ev.reviewer == "coord-1"
        assert ev.figures_version == site.figures_version and ev.note == "Dicek via telepon"
    assert _reviews_with(kafka, b1["results"][0]["review_id"])[0].key == b"72.71"


def _produce_sites(kafka: str, sites: list) -> None:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=kafka, acks="all")
    for s in sites:
        p.send("sites", key=s.site_id.encode(), value=s.model_dump_json().encode())
    p.flush(timeout=20)
    p.close()


def _wait_site(c: TestClient, site_id: str, pred, headers=COORD, timeout_s: float = 30) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        r = c.get(f"/v1/sites/{site_id}", headers=headers)
        if r.status_code == 200:
            last = r.json()["site"]
            if pred(last):
                return last
        time.sleep(0.2)
    raise AssertionError(f"site never got there; last: {last}")


@pytest.mark.kafka
def test_review_end_to_end_and_back_to_needs_review(kafka: str, auth_file) -> None:  # noqa: ANN001
    run = uuid.uuid4().hex[:8]
    cons = Consolidator()  # the consolidation core, as the enrich stream runs it
    out = cons.add(report(f"{run}-a", figures={"affected": 100, "dead": 1}))
    (site,) = out.changed
    _produce_sites(kafka, [site])

    app = create_app(Settings(kafka=kafka, auth_file=str(auth_file)), follow=True, shapes=_shapes())
    with TestClient(app) as c:
        deadline = time.monotonic() + 30
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "read model never caught up"
            time.sleep(0.2)
        seen = _wait_site(c, site.site_id, lambda s: s["status"] == "unverified")
        r = c.post(f"/v1/sites/{site.site_id}/review", headers=COORD,
                   json={"decision": "verified", "figures_version": seen["figures_version"], "note": "Dicek"})
        assert r.status_code == 202
        review_id = r.json()["review_id"]

        (rec,) = _reviews_with(kafka, review_id)
        _produce_sites(kafka, cons.add_review(ReviewEvent.model_validate_json(rec.value)).changed)
        verified = _wait_site(c, site.site_id, lambda s: s["status"] == "verified")
        assert verified["reviews"][-1]["reviewer"] == "coord-1" and verified["reviews"][-1]["decided_at"]
        mgr = c.get(f"/v1/sites/{site.site_id}", headers=bearer("manager")).json()["site"]
        assert mgr["reviews"][-1]["reviewer"] == "coordinator" and mgr["reviews"][-1]["decision"] == "verified"
        assert c.get(f"/v1/sites/{site.site_id}", headers=bearer("comms")).status_code == 200

        # New figures for the same site after verification: back to review, and out of verified figures.
        out = cons.add(report(f"{run}-b", hours=2, figures={"affected": 180, "dead": 3}))
        _produce_sites(kafka, out.changed)
        again = _wait_site(c, site.site_id, lambda s: s["status"] == "needs_review")
        assert again["figures"]["affected"] == 180 and "figures changed" in again["status_reason"]
        assert again["figures_version"] != seen["figures_version"]
        assert c.get(f"/v1/sites/{site.site_id}", headers=bearer("comms")).status_code == 404
        stale = c.post(f"/v1/sites/{site.site_id}/review", headers=COORD,
                       json={"decision": "verified", "figures_version": seen["figures_version"]})
        assert stale.status_code == 409
        mgr = c.get(f"/v1/sites/{site.site_id}", headers=bearer("manager")).text
        assert "coord-1" not in mgr and "Budi" not in mgr
