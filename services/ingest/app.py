"""Ingest: the HTTP edge where volunteers' reports enter Kafka.

The one promise made here: a 202 means the broker acknowledged the write (acks=all, idempotent producer).
Anything else is an explicit 4xx (fix your input) or a 503 with Retry-After (try again; nothing was stored).
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from schemas import FieldReport
from services.common.auth import Principal, TokenStore, require
from services.common.config import Settings, settings
from services.common.kafka_io import AsyncProducer, KafkaUnavailable, Message
from services.common.logs import setup_logging
from services.common.metrics import INGEST_REPORTS, instrument, metrics_response
from services.common.ratelimit import install as install_rate_limit
from services.common.topics import REPORTS_RAW, ensure_topics_in_background
from services.ingest.bodies import BodyTooLarge, read_json_body
from services.ingest.errors import RETRY_AFTER_S, field_errors, unavailable

log = logging.getLogger("siaga.ingest")
SUBMITTERS = ("volunteer", "coordinator")


def report_message(report: FieldReport, principal: Principal) -> Message:
    """The record on `reports.raw`: keyed by report_id so every version of one report meets on one partition."""
    received = datetime.now(UTC).isoformat().encode()
    return Message(
        topic=REPORTS_RAW.name,
        key=report.report_id.encode(),
        value=orjson.dumps(report.model_dump(mode="json", exclude_none=True)),
        headers=(("received_at", received), ("submitted_by", principal.name.encode()), ("source", b"json")),
    )


def create_app(cfg: Settings | None = None) -> FastAPI:
    cfg = cfg or settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        ensure_topics_in_background(cfg)
        yield
        app.state.producer.close()

    app = FastAPI(title="Siaga ingest", version="1", lifespan=lifespan,
                  description="Where volunteers' rapid assessments enter Siaga. 202 = stored in Kafka.")
    app.state.cfg = cfg
    app.state.tokens = TokenStore.from_file(cfg.auth_file)
    app.state.producer = AsyncProducer(cfg.kafka, timeout_s=cfg.produce_timeout_s, client_id="siaga-ingest")
    install_rate_limit(app, cfg, "ingest")  # 429 per token; inside `instrument`, so 429s are counted
    instrument(app, "ingest")

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        INGEST_REPORTS.labels("rejected", "too_large").inc()
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, Any]:
        p = app.state.producer
        return {"status": "ok", "kafka_connected": p.connected, "kafka_last_error": p.last_error}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics():  # noqa: ANN202
        return metrics_response()

    @app.post("/v1/reports", status_code=202, tags=["reports"],
              responses={202: {"description": "Stored in Kafka"}, 413: {"description": "Body too large"},
                         422: {"description": "Invalid report; field errors listed"},
                         503: {"description": "Kafka unavailable; nothing stored; retry"}})
    async def post_report(request: Request, principal: Principal = Depends(require(*SUBMITTERS))):
        """Submit one rapid assessment (FieldReport v1). Resubmitting the same report_id is safe."""
        body = await read_json_body(request, cfg.max_body_bytes)
        try:
            report = FieldReport.model_validate(body)
        except ValidationError as err:
            INGEST_REPORTS.labels("rejected", "invalid").inc()
            return JSONResponse({"detail": "invalid report", "errors": field_errors(err)}, status_code=422)
        try:
            await app.state.producer.send(report_message(report, principal))
        except KafkaUnavailable as err:
            INGEST_REPORTS.labels("unavailable", "kafka").inc()
            return unavailable(str(err))
        INGEST_REPORTS.labels("accepted", "").inc()
        return {"status": "accepted", "report_id": report.report_id}

    @app.post("/v1/reports/batch", tags=["reports"],
              responses={200: {"description": "Per-item results"}, 413: {"description": "Body too large"},
                         503: {"description": "Kafka unavailable for every item; nothing stored"}})
    async def post_batch(request: Request, principal: Principal = Depends(require(*SUBMITTERS))):
        """Sync an offline outbox: up to SIAGA_BATCH_MAX reports, with a result per item.

        Items marked `accepted` are stored; `invalid` items need fixing; `retry` items were not stored.
        The answer is 207-like but sent as 200 (or 503 when nothing could be stored), which phones handle.
        """
        body = await read_json_body(request, cfg.max_body_bytes)
        items = body.get("reports") if isinstance(body, dict) else body
        if not isinstance(items, list):
            return JSONResponse({"detail": "expected a JSON list of reports or {\"reports\": [...]}"},
                                status_code=422)
        if len(items) > cfg.batch_max:
            INGEST_REPORTS.labels("rejected", "batch_too_large").inc(len(items))
            return JSONResponse({"detail": f"at most {cfg.batch_max} reports per batch, got {len(items)}"},
                                status_code=413)
        results: list[dict[str, Any]] = [{} for _ in items]
        valid: list[tuple[int, FieldReport]] = []
        for i, item in enumerate(items):
            try:
                valid.append((i, FieldReport.model_validate(item)))
            except ValidationError as err:
                rid = item.get("report_id") if isinstance(item, dict) else None
                results[i] = {"index": i, "report_id": rid, "status": "invalid", "errors": field_errors(err)}
                INGEST_REPORTS.labels("rejected", "invalid").inc()
        errors = await app.state.producer.send_many([report_message(r, principal) for _, r in valid])
        for (i, report), err in zip(valid, errors, strict=True):
            if err is None:
                results[i] = {"index": i, "report_id": report.report_id, "status": "accepted"}
                INGEST_REPORTS.labels("accepted", "").inc()
            else:
                results[i] = {"index": i, "report_id": report.report_id, "status": "retry", "error": str(err)}
                INGEST_REPORTS.labels("unavailable", "kafka").inc()
        counts = {s: sum(1 for r in results if r["status"] == s) for s in ("accepted", "invalid", "retry")}
        status = 503 if counts["retry"] and not counts["accepted"] else 200
        headers = {"Retry-After": RETRY_AFTER_S} if counts["retry"] else None
        return JSONResponse({**counts, "results": results}, status_code=status, headers=headers)

    from services.ingest.mentions_routes import router as mentions_router
    from services.ingest.openrosa import router as openrosa_router

    app.include_router(mentions_router)
    app.include_router(openrosa_router)
    return app


def build() -> FastAPI:
    """Entry point for `uvicorn --factory services.ingest.app:build` (and `python -m services.ingest`)."""
    setup_logging("ingest")
    return create_app()
