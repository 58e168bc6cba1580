"""`POST /v1/mentions`: social media posts into `mentions.raw` (one or a batch)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from schemas import SocialMention
from services.common.auth import Principal, require
from services.common.metrics import MENTIONS
from services.ingest.bodies import read_json_body
from services.ingest.errors import field_errors, unavailable
from services.ingest.mentions_produce import produce_mentions

router = APIRouter(tags=["mentions"])


@router.post("/v1/mentions", status_code=202,
             responses={422: {"description": "Invalid mention(s); nothing stored"},
                        503: {"description": "Kafka unavailable; nothing stored; retry"}})
async def post_mentions(request: Request, principal: Principal = Depends(require("coordinator", "manager"))):
    """Submit one SocialMention or a list of them. All-or-nothing: any invalid item rejects the request.
    An `author` that is not already a Siaga pseudonym is replaced by one before anything is stored."""
    app = request.app
    body = await read_json_body(request, app.state.cfg.max_body_bytes)
    items = body if isinstance(body, list) else [body]
    if len(items) > 5000:
        return JSONResponse({"detail": "at most 5000 mentions per request"}, status_code=413)
    mentions: list[SocialMention] = []
    for i, item in enumerate(items):
        try:
            mentions.append(SocialMention.model_validate(item))
        except ValidationError as err:
            MENTIONS.labels("rejected").inc()
            return JSONResponse({"detail": f"invalid mention at index {i}", "errors": field_errors(err)},
                                status_code=422)
    # The path the live platform clients take too: authors pseudonymised there, records keyed by mention id.
    errors = await produce_mentions(app.state.producer, mentions)
    failed = [e for e in errors if e is not None]
    if failed:
        return unavailable(str(failed[0]))
    return {"status": "accepted", "count": len(mentions)}
