"""GET /v1/signals: areas where people post about a disaster but no volunteer has reported yet."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from schemas import Hazard
from services.api.deps import model_of
from services.common.auth import Principal, require
from services.core.signals import signals

router = APIRouter(tags=["situation"])


class SignalMention(BaseModel):
    mention_id: str
    platform: str
    text: str
    url: str | None = None
    created_at: datetime
    relevance: float


class Signal(BaseModel):
    code: str
    name: str | None = None
    level: int
    mentions: int = Field(description="Relevant posts naming this area in the window")
    hazards: list[str]
    first_at: datetime
    last_at: datetime
    top: list[SignalMention] = Field(description="The most relevant posts, newest first among equals")


class SignalsResponse(BaseModel):
    as_of: datetime | None = Field(description="Newest mention seen: the window ends here (replays stay true)")
    level: int
    hours: float
    min_mentions: int
    ready: bool
    signals: list[Signal]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@router.get("/v1/signals", response_model=SignalsResponse)
async def get_signals(
        request: Request,
        level: Annotated[int, Query(ge=1, le=4, description="Admin level of the areas", examples=[3])] = 3,
        min_mentions: Annotated[int, Query(ge=1, le=10_000, description="K: relevant posts at least")] = 3,
        hours: Annotated[float, Query(gt=0, le=24 * 30, description="H: the window, ending at as_of")] = 24,
        hazard: Annotated[Hazard | None, Query(description="Only posts about this hazard")] = None,
        principal: Principal = Depends(require("manager", "coordinator"))) -> SignalsResponse:
    """Areas with at least `min_mentions` relevant posts in the last `hours` and no field-report site yet,
    most mentioned first, with the posts behind each: where to send assessors next. Posts are early warning,
    never figures."""
    mentions = request.app.state.mentions
    reported = {code for site in model_of(request).snapshot() if (code := site.geo.code(level)) is not None}
    now = mentions.newest
    found = [] if now is None else signals(mentions.snapshot(), reported, level, min_mentions, hours, now,
                                           hazard.value if hazard else None)
    out = [Signal(**{**s, "first_at": _dt(s["first_at"]), "last_at": _dt(s["last_at"]),
                     "top": [SignalMention(**{**m, "created_at": _dt(m["created_at"])}) for m in s["top"]]})
           for s in found]
    return SignalsResponse(as_of=_dt(now) if now is not None else None, level=level, hours=hours,
                           min_mentions=min_mentions, ready=mentions.ready, signals=out)
