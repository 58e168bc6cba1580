"""POST /v1/sites/{site_id}/review and POST /v1/reviews: coordinators' decisions onto the `reviews` topic."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from schemas.api import BatchReviewRequest, BatchReviewResponse, ReviewAccepted, ReviewRequest
from services.api.deps import COMMON_RESPONSES, model_of, review_access
from services.api.reviews import ReviewConflict, build_event, review_id_for, review_message
from services.common.auth import Principal
from services.common.kafka_io import KafkaUnavailable

router = APIRouter(tags=["review"])
RETRY_AFTER_S = "5"

IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200,
                                       description="Any unique string per decision: a retry with the same key "
                                                   "gets the same review_id and is applied once")]


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse({"detail": f"Kafka cannot take the review right now; nothing was recorded. Retry with "
                                   f"the same Idempotency-Key. ({detail})"},
                        status_code=503, headers={"Retry-After": RETRY_AFTER_S})


def _accepted(ev) -> dict:  # noqa: ANN001
    return {"status": "accepted", "review_id": ev.review_id, "site_id": ev.site_id, "decision": ev.decision,
            "figures_version": ev.figures_version, "reviewer": ev.reviewer, "decided_at": ev.decided_at.isoformat()}


@router.post("/v1/sites/{site_id}/review", status_code=202, response_model=ReviewAccepted, responses={
    **COMMON_RESPONSES, 404: {"description": "No such site in the read model"},
    409: {"description": "Figures changed since the reviewer looked, or the idempotency key was reused for a "
                         "different decision"},
    503: {"description": "Kafka did not acknowledge; nothing recorded; retry (Retry-After)"}})
async def review_site(request: Request, site_id: str,
                      body: Annotated[ReviewRequest, Body(openapi_examples={
                          "verify": {"summary": "Verify the figures seen",
                                     "value": {"decision": "verified", "note": "Dicek via telepon dengan Kades",
                                               "figures_version": "9f1c0a7e3b2d4c11"}},
                          "needs_info": {"summary": "Ask the branch for more",
                                         "value": {"decision": "needs_info", "note": "Jumlah pengungsi?"}}})],
                      idempotency_key: IdemKey = None,
                      principal: Principal = Depends(review_access)):  # noqa: ANN201
    """Record a decision (`verified`, `rejected`, `needs_info`) about a site. 202 means the decision is stored on
    Kafka (acks=all) and will be applied by the stream processor; the site's `status`, `reviews` (who and when)
    follow in the read model shortly. If the site's figures change after it was verified, it goes back to
    `needs_review` by itself."""
    site = model_of(request).get(site_id)
    if site is None:
        raise HTTPException(404, f"no site {site_id!r} (if it is brand new, retry in a few seconds)")
    review_id = body.review_id or review_id_for(principal.name, site_id, idempotency_key)
    memory = request.app.state.idempotency
    try:
        event = build_event(site, body, principal.name, review_id, memory)
    except ReviewConflict as err:
        raise HTTPException(409, str(err)) from err
    try:
        await request.app.state.producer.send(review_message(event))
    except KafkaUnavailable as err:
        memory.forget(review_id)
        return _unavailable(str(err))
    return JSONResponse(_accepted(event), status_code=202)


@router.post("/v1/reviews", response_model=BatchReviewResponse, responses={
    **COMMON_RESPONSES, 413: {"description": "More reviews than SIAGA_BATCH_MAX"},
    503: {"description": "Kafka took none of them; retry (Retry-After)"}})
async def review_batch(request: Request, body: BatchReviewRequest, idempotency_key: IdemKey = None,
                       principal: Principal = Depends(review_access)):  # noqa: ANN201
    """Several decisions at once (e.g. a coordinator's offline queue), with a result per item: `accepted`
    (stored on Kafka), `not_found`, `conflict` (stale figures or reused key) or `retry` (not stored). With an
    `Idempotency-Key` header each item's review_id derives from the key and its position, so resending the
    same batch with the same key is safe."""
    cfg = request.app.state.cfg
    if len(body.reviews) > cfg.batch_max:
        return JSONResponse({"detail": f"at most {cfg.batch_max} reviews per batch, got {len(body.reviews)}"},
                            status_code=413)
    model = model_of(request)
    memory = request.app.state.idempotency
    results: list[dict] = []
    pending = []
    for i, item in enumerate(body.reviews):
        site = model.get(item.site_id)
        if site is None:
            results.append({"index": i, "site_id": item.site_id, "status": "not_found",
                            "detail": "no such site in the read model"})
            continue
        rid = item.review_id or review_id_for(principal.name, item.site_id, idempotency_key, i)
        try:
            event = build_event(site, item, principal.name, rid, memory)
        except ReviewConflict as err:
            results.append({"index": i, "site_id": item.site_id, "status": "conflict", "review_id": rid,
                            "detail": str(err)})
            continue
        results.append({"index": i, "site_id": item.site_id, "status": "accepted", "review_id": rid})
        pending.append((len(results) - 1, event))
    errors = await request.app.state.producer.send_many([review_message(ev) for _, ev in pending]) if pending else []
    for (pos, ev), err in zip(pending, errors, strict=True):
        if err is not None:
            memory.forget(ev.review_id)
            results[pos].update(status="retry", detail=str(err))
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("accepted", "not_found", "conflict", "retry")}
    status = 503 if counts["retry"] and not counts["accepted"] else 200
    headers = {"Retry-After": RETRY_AFTER_S} if counts["retry"] else None
    return JSONResponse({**counts, "results": results}, status_code=status, headers=headers)
