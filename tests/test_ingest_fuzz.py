"""HTTP bad input against ingest with a real broker behind it: no generated request gets a 5xx, and bodies over
the limit get 413 whether or not they declare their length.

The ingest routes read their bodies themselves (to cap the size before parsing), so FastAPI's spec has no
request bodies; the test adds them from the contracts so that schemathesis generates reports, batches and
mentions, valid and invalid, rather than only empty posts.
"""

from __future__ import annotations

import copy
import uuid

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from schemas import FieldReport, SocialMention
from services.common.config import Settings
from services.ingest.app import create_app
from tests.conftest import bearer

pytestmark = [pytest.mark.kafka, pytest.mark.reliability]

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def ingest_app(kafka: str, auth_file):  # noqa: ANN001, ANN201
    # Rate limit off: schemathesis sends hundreds of requests with one token as fast as it can.
    cfg = Settings(kafka=kafka, auth_file=str(auth_file), max_body_bytes=LIMIT, produce_timeout_s=5,
                   rate_per_token=0)
    app = create_app(cfg)
    with TestClient(app):  # runs the lifespan: topics ensured, producer closed at the end
        yield app


def with_request_bodies(spec: dict) -> dict:
    """The ingest spec plus the bodies the report and mention routes read."""
    spec = copy.deepcopy(spec)
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    ref = "#/components/schemas/{model}"
    for model in (FieldReport, SocialMention):
        schema = model.model_json_schema(ref_template=ref)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    report = {"$ref": ref.format(model="FieldReport")}
    mention = {"$ref": ref.format(model="SocialMention")}
    bodies = {
        "/v1/reports": report,
        "/v1/reports/batch": {"anyOf": [{"type": "array", "items": report, "maxItems": 20},
                                        {"type": "object", "properties": {"reports": {"type": "array",
                                                                                      "items": report}}}]},
        "/v1/mentions": {"anyOf": [mention, {"type": "array", "items": mention, "maxItems": 20}]},
    }
    for path, body in bodies.items():
        spec["paths"][path]["post"]["requestBody"] = {"required": True,
                                                      "content": {"application/json": {"schema": body}}}
    return spec


# The spec does not depend on the broker: load it once, at collection, to parametrize by operation.
SPEC = with_request_bodies(create_app(Settings(kafka="127.0.0.1:1")).openapi())
SCHEMA = schemathesis.openapi.from_dict(SPEC)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def breakable(op) -> bool:  # noqa: ANN001
    """Negative examples need something that can be made invalid: a body or a query parameter (any string is a
    valid path segment)."""
    definition = SPEC["paths"][op.path][op.method]
    return "requestBody" in definition or any(p["in"] == "query" for p in definition.get("parameters", []))


CASES = [(op, mode) for op in OPERATIONS for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or breakable(op)]
AUTH = bearer("admin")  # may call every route
EXAMPLES = 40


@pytest.mark.parametrize(("operation", "mode"), CASES, ids=[f"{op.label} {mode}" for op, mode in CASES])
def test_no_generated_request_gets_a_5xx(ingest_app, operation, mode) -> None:  # noqa: ANN001
    operation.schema.app = ingest_app  # calls go in-process to the app with the real broker behind it
    seen: list[int] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:  # noqa: ANN001
        response = case.call(headers={**(case.headers or {}), **AUTH}, app=ingest_app)
        seen.append(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
            f"{case.as_curl_command()}")
        if response.status_code in (429, 503):
            assert response.headers.get("retry-after")

    run()
    assert seen, "no request was generated"
    # Valid examples really go through to the broker (the added request bodies are the contracts).
    expected_ok = {"/v1/reports": 202, "/v1/reports/batch": 200, "/v1/mentions": 202}.get(operation.path)
    if mode is GenerationMode.POSITIVE and expected_ok:
        assert expected_ok in seen, f"no {expected_ok} among {sorted(set(seen))}"


@pytest.fixture(scope="module")
def client(ingest_app) -> TestClient:  # noqa: ANN001
    return TestClient(ingest_app)


def chunks(total: int, size: int = 8192):  # noqa: ANN201
    """A generator body: httpx sends it chunked, with no Content-Length header."""
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b" " * n


@pytest.mark.parametrize(("path", "role"), [("/v1/reports", "volunteer"), ("/v1/reports/batch", "volunteer"),
                                            ("/v1/mentions", "coordinator")])
def test_oversize_bodies_get_413_with_or_without_content_length(client: TestClient, path: str, role: str) -> None:
    declared = client.post(path, content=b" " * (LIMIT + 1), headers={**bearer(role),
                                                                       "Content-Type": "application/json"})
    assert declared.status_code == 413, declared.text
    chunked = client.post(path, content=chunks(LIMIT * 4), headers={**bearer(role),
                                                                       "Content-Type": "application/json"})
    assert chunked.status_code == 413, chunked.text
    assert "limit" in chunked.json()["detail"]
    # Just under the limit is read (and then judged on its content, here: not JSON).
    under = client.post(path, content=chunks(LIMIT - 10), headers={**bearer(role),
                                                                      "Content-Type": "application/json"})
    assert under.status_code == 400


def test_chunked_valid_report_is_accepted(client: TestClient) -> None:
    import orjson

    body = orjson.dumps({"report_id": f"chunked-{uuid.uuid4()}", "submitted_at": "2018-09-29T14:05:00+08:00",
                         "reporter": {"id": "v"}, "location": {"lat": -0.9, "lon": 119.9}, "hazard": "gempa"})
    r = client.post("/v1/reports", content=iter([body[:20], body[20:]]),
                    headers={**bearer("volunteer"), "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
